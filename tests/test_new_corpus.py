"""Adapting the recipe to a new corpus: egs/template's layout (metadata.csv + wavs/) through run.sh."""
import numpy as np
import soundfile as sf
from lhotse import load_manifest

from conftest import recipe_dirs, run_recipe

SPEAKERS = ("amy", "bob", "cat")


def make_csv_corpus(root, parts=("train", "dev", "test"), per_part=4):
    """A corpus in the template's layout; sample rates and channels vary, as in the wild."""
    rng = np.random.default_rng(0)
    rows = {}
    for p_i, part in enumerate(parts):
        (root / part / "wavs").mkdir(parents=True)
        lines = []
        for i in range(per_part):
            utt, spk = f"{part}_{i:03d}", SPEAKERS[i % len(SPEAKERS)]
            sr = (16000, 22050, 44100)[i % 3]
            seconds = 0.5 + 0.25 * i
            t = np.arange(int(sr * seconds)) / sr
            audio = 0.3 * np.sin(2 * np.pi * (150 + 40 * i) * t) + 0.01 * rng.normal(size=t.shape)
            if i % 2:
                audio = np.stack([audio, audio], axis=1)  # stereo
            sf.write(root / part / "wavs" / f"{utt}.wav", audio.astype(np.float32), sr)
            text = f"Utterance number {i} of the {part} set."
            lines.append(f"{utt}|{spk}|{text}")
            rows[utt] = (spk, text, seconds, sr)
        (root / part / "metadata.csv").write_text("\n".join(lines) + "\n")
    return rows


def test_template_recipe_stage_0_1(tmp_path):
    rows = make_csv_corpus(tmp_path / "dl" / "mycorpus")
    args = ["--recipe", "template", "--dl-dir", tmp_path / "dl", *recipe_dirs(tmp_path)]
    out = run_recipe("--stage", 0, "--stop-stage", 1, *args).stdout
    assert "mycorpus: all parts present" in out
    manifests = tmp_path / "data" / "manifests"
    assert (manifests / ".done").is_file()
    for part in ("train", "dev", "test"):
        cuts = load_manifest(manifests / f"cuts_{part}.jsonl.gz")
        assert len(cuts) == 4
        for cut in cuts:
            spk, text, seconds, sr = rows[cut.id]
            (sup,) = cut.supervisions
            assert (sup.speaker, sup.text) == (spk, text)
            assert cut.duration == sup.duration == sf.info(cut.recording.sources[0].source).duration
            assert cut.sampling_rate == sr
    assert "mycorpus     train" in out  # summary row


def test_template_recipe_missing_corpus_says_where_to_put_it(tmp_path):
    p = run_recipe("--recipe", "template", "--stage", 0, "--stop-stage", 0, "--dl-dir", tmp_path / "dl",
                   *recipe_dirs(tmp_path), check=False)
    assert p.returncode != 0
    assert f"no audio found for parts ['train', 'dev', 'test'] under {tmp_path / 'dl' / 'mycorpus'}" in p.stdout
    assert "Traceback" not in p.stdout
    assert not (tmp_path / "dl" / ".done").exists()


def test_template_recipe_malformed_metadata_names_file_and_line(tmp_path):
    make_csv_corpus(tmp_path / "dl" / "mycorpus")
    meta = tmp_path / "dl" / "mycorpus" / "dev" / "metadata.csv"
    meta.write_text(meta.read_text() + "dev_999 has no separators\n")
    p = run_recipe("--recipe", "template", "--stage", 0, "--stop-stage", 1, "--dl-dir", tmp_path / "dl",
                   *recipe_dirs(tmp_path), check=False)
    assert p.returncode != 0
    assert f"{meta}:5: expected 'id|speaker|text'" in p.stdout
    assert not (tmp_path / "data" / "manifests" / ".done").exists()
