"""Adapting the recipe to a new corpus: egs/template's layout (metadata.csv + wavs/) through run.sh."""
import numpy as np
import soundfile as sf
from lhotse import load_manifest

import pytest

from conftest import recipe_dirs, run_recipe

pytestmark = pytest.mark.e2e  # runs run.sh / the stage scripts on the tiny corpus

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


def test_template_recipe_malformed_metadata_line_is_skipped_and_named(tmp_path):
    """A malformed line of a corpus added from egs/template is listed with its file and line; the rest of its
    part is prepared (it used to stop stage 1)."""
    make_csv_corpus(tmp_path / "dl" / "mycorpus")
    meta = tmp_path / "dl" / "mycorpus" / "dev" / "metadata.csv"
    meta.write_text(meta.read_text() + "dev_999 has no separators\n")
    out = run_recipe("--recipe", "template", "--stage", 0, "--stop-stage", 1, "--dl-dir", tmp_path / "dl",
                     *recipe_dirs(tmp_path)).stdout
    manifests = tmp_path / "data" / "manifests"
    skipped = (manifests / "skipped_mycorpus.tsv").read_text().splitlines()
    assert skipped == [f"{meta}:5\t1 field(s), expected 3 (id|speaker|text)"]
    assert len(load_manifest(manifests / "cuts_dev.jsonl.gz")) == 4
    assert "skipped audio files of mycorpus: 0, transcript lines: 1" in out
    assert (manifests / ".done").is_file()


def test_template_recipe_stages_2_3_arpabet(tmp_path):
    """CMUdict phones, 22.05/44.1 kHz and stereo audio resampled for the aligner, too-short audio listed."""
    make_csv_corpus(tmp_path / "dl" / "mycorpus", per_part=6)
    conf = tmp_path / "small.sh"
    conf.write_text("gmm_num_iters=4\ngmm_total_gauss=50\ndnn_epochs=1\n")
    args = ["--recipe", "template", "--dl-dir", tmp_path / "dl", "--conf", conf, *recipe_dirs(tmp_path)]
    run_recipe("--stage", 0, "--stop-stage", 3, *args)
    lexicon = (tmp_path / "data" / "lang" / "lexicon.txt").read_text()
    assert "UTTERANCE AH T ER AH N S" in lexicon
    failed = (tmp_path / "exp" / "align" / "ali" / "failed_train.tsv").read_text().splitlines()[1:]
    assert failed and all("\ttoo short: " in line for line in failed)  # 0.5 s for seven words
    cuts = load_manifest(tmp_path / "data" / "aligned" / "cuts_train.jsonl.gz")
    assert len(cuts) == 6 - len(failed)
    arpabet = set(lexicon.split()) | {"SIL", "SPN"}
    for cut in cuts:
        (sup,) = cut.supervisions
        assert {a.symbol for a in sup.alignment["phone"]} <= arpabet
        assert [w.symbol for w in sup.alignment["word"]] == sup.text.split()
