"""Adapting the recipe to a new corpus through run.sh: egs/template's layout (metadata.csv + wavs/ per part),
and flat corpora (LJSpeech's, VCTK's, and one invented here) divided by a split rule."""
import numpy as np
import pytest
import soundfile as sf
from lhotse import load_manifest

from conftest import recipe_dirs, run_recipe
from valle.text.normalize import to_transcript

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
    assert not (tmp_path / "dl" / ".done").exists() and not (tmp_path / "data" / ".corpora.done").exists()


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


def test_template_recipe_stage_2_arpabet(tmp_path):
    """The template's corpus through stage 2: CMUdict's ARPAbet lexicon. (Its stage 3 used to run here too; the
    flat-layout tests below align ARPAbet at 22.05 and 48 kHz, test_bad_input.py stereo 44.1 kHz audio, and
    test_stage23.py lists too-short audio.)"""
    make_csv_corpus(tmp_path / "dl" / "mycorpus", per_part=6)
    run_recipe("--recipe", "template", "--stage", 0, "--stop-stage", 2, "--dl-dir", tmp_path / "dl",
               *recipe_dirs(tmp_path))
    lang = tmp_path / "data" / "lang"
    lexicon = (lang / "lexicon.txt").read_text()
    assert "UTTERANCE AH T ER AH N S" in lexicon
    assert (lang / "text" / "train.txt").read_text().splitlines()[0] == "train_000 UTTERANCE NUMBER ZERO OF THE TRAIN SET"


# Stages 3-4 made quick: the tests are about the corpus layouts, not the models.
QUICK_STAGES_3_4 = ("gmm_num_iters=4\ngmm_total_gauss=50\ndnn_epochs=1\nalign_num_inspect=0\ncodec=mel_rvq\n"
                    "codec_fit_frames=8192\n")


@pytest.mark.parametrize("layout", ["ljspeech", "vctk", "clips"])
def test_flat_corpus_layouts_reach_stage_4_with_only_their_recipe_files(layout, tiny_corpus, tmp_path):
    """LJSpeech's and VCTK's layouts with their egs/ recipes as shipped, and a layout invented here with a
    recipe kept outside the repository (--recipe PATH: a conf.sh and a prepare.py): stages 0-4, no library
    change. The only conf added is QUICK_STAGES_3_4 and, for a 38-clip LJSpeech, a split rule that leaves it a
    test part."""
    from corpus_layouts import JSONL_CONF, JSONL_PREPARE, make_jsonl_style, make_ljspeech_style, make_vctk_style

    dl = tmp_path / "dl"
    extra = QUICK_STAGES_3_4
    if layout == "ljspeech":
        rows = make_ljspeech_style(tiny_corpus, dl / "LJSpeech-1.1")
        recipe = "ljspeech"
        extra += 'ljspeech_split="test_every=10 dev_every=8"\n'
    elif layout == "vctk":
        rows = make_vctk_style(tiny_corpus, dl / "VCTK-Corpus")
        recipe = "vctk"
        extra += 'vctk_split="test_speakers=2 dev_every=8"\n'  # 4 of this corpus's 11 speakers is a lot
    else:
        rows = make_jsonl_style(tiny_corpus, dl / "clips")
        recipe = tmp_path / "egs" / "clips"
        recipe.mkdir(parents=True)
        (recipe / "conf.sh").write_text(JSONL_CONF)
        (recipe / "prepare.py").write_text(JSONL_PREPARE)
    conf = tmp_path / "quick.sh"
    conf.write_text(extra)
    out = run_recipe("--recipe", recipe, "--stage", 0, "--stop-stage", 4, "--dl-dir", dl, "--conf", conf,
                     *recipe_dirs(tmp_path)).stdout
    data = tmp_path / "data"
    assert (data / ".corpora.done").is_file() and not any(dl.rglob(".done"))
    corpus_dir = {"ljspeech": dl / "LJSpeech-1.1", "vctk": dl / "VCTK-Corpus", "clips": dl / "clips"}[layout]
    assert f"{layout}: present in {corpus_dir}" in out  # stage 0: there already, so not downloaded
    aligned, tokens = set(), set()
    for part in ("train", "dev", "test"):
        aligned |= {c.supervisions[0].id for c in load_manifest(data / "aligned" / f"cuts_{part}.jsonl.gz")}
        tokens |= {c.id for c in load_manifest(data / "tokens" / f"cuts_{part}.jsonl.gz")}
    assert aligned == tokens == set(rows)  # every utterance of the corpus, aligned and tokenized
    cuts = {c.supervisions[0].id: c for p in ("train", "dev", "test")
            for c in load_manifest(data / "aligned" / f"cuts_{p}.jsonl.gz")}
    rate = {"ljspeech": 22050, "vctk": 48000, "clips": 16000}[layout]
    for uid, (speaker, text) in rows.items():
        assert cuts[uid].sampling_rate == rate  # the corpus's own rate; stages 3-4 resample
        sup = cuts[uid].supervisions[0]
        assert [w.symbol for w in sup.alignment["word"]] == to_transcript(text).split()
        assert sup.speaker == (speaker or "LJ")
    if layout == "vctk":
        assert "skipped audio files of vctk: 1, transcript lines: 1" in out
    if layout == "clips":
        assert "clips: no transcript layout declared" in out  # it declared none: said, not silent


def test_ljspeech_with_lhotse_parser_by_name_in_a_nine_line_recipe(tiny_corpus, tmp_path):
    """The shortest adaptation: LJSpeech's layout, lhotse's own parser named in the conf, nothing else."""
    from corpus_layouts import LJSPEECH_LHOTSE_CONF, make_ljspeech_style

    rows = make_ljspeech_style(tiny_corpus, tmp_path / "dl" / "LJSpeech-1.1")
    recipe = tmp_path / "my_lj"
    recipe.mkdir()
    (recipe / "conf.sh").write_text(LJSPEECH_LHOTSE_CONF)
    assert len(LJSPEECH_LHOTSE_CONF.splitlines()) == 9
    out = run_recipe("--recipe", recipe, "--stage", 0, "--stop-stage", 2, "--dl-dir", tmp_path / "dl",
                     *recipe_dirs(tmp_path)).stdout
    assert "38 of 38 supervisions have no speaker id; they are all one speaker, 'ljspeech'" in out
    sups = {s.id: s for p in ("train", "dev", "test")
            for s in load_manifest(tmp_path / "data" / "manifests" / f"ljspeech_supervisions_{p}.jsonl.gz")}
    assert set(sups) == set(rows)
    # lhotse gives the raw column ("... 200."); stage 2 spells its digits as they were said.
    lang_text = dict(line.split(" ", 1) for line in
                     (tmp_path / "data" / "lang" / "text" / "train.txt").read_text().splitlines())
    for sid, text in lang_text.items():
        assert sups[sid].text.endswith(" 200.") and text == to_transcript(rows[sid][1])
