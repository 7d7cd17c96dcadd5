"""Adapting the recipe to a new corpus, unit by unit: split rules for flat corpora, prepare functions of any
signature (lhotse's own by name), one-utterance-per-file transcripts, speakerless corpora, number reading by
locale, and the model-size warning. The layouts through run.sh are in test_new_corpus.py."""
import pytest
from lhotse import load_manifest

from corpus_layouts import make_jsonl_style, make_ljspeech_style, make_vctk_style
from valle.corpus.base import CorpusError
from valle.corpus.known import call_prepare, load_corpus_info
from valle.corpus.manifests import prepare_corpus
from valle.corpus.split import SplitError, assign_parts, parse_split
from valle.corpus.transcripts import LineFormat, check_transcripts


# ------------------------------------------------------------------------------------------------ split rules
def test_split_rule_parsing_and_its_errors():
    rule = parse_split("test_speakers=2 dev_every=50")
    assert rule.test.num_speakers == 2 and rule.dev.every == 50 and rule.parts == ("train", "dev", "test")
    assert parse_split("test_speakers=p225,p226").test.speakers == ("p225", "p226")
    assert parse_split("test_fraction=0.02").parts == ("train", "test")
    assert parse_split("") is None and parse_split("  ") is None
    for bad, match in [("test_speakers", "cannot read"), ("train_every=3", "cannot read"),
                       ("test_every=1", "bad value"), ("dev_fraction=1.5", "bad value"),
                       ("test_every=5 test_fraction=0.1", "given twice"), ("test_speakers=0", "holds out nothing")]:
        with pytest.raises(SplitError, match=match):
            parse_split(bad)


def _utts(speakers=6, per=10):
    return [(f"s{s}_{u:03d}", f"s{s}") for s in range(speakers) for u in range(per)]


def test_held_out_speakers_do_not_depend_on_order_and_keep_their_utterances_together():
    utts = _utts()
    rule = parse_split("test_speakers=2 dev_every=5")
    parts = assign_parts(utts, rule)
    assert parts == assign_parts(list(reversed(utts)), rule)  # file order does not matter
    test_speakers = {spk for u, spk in utts if parts[u] == "test"}
    assert len(test_speakers) == 2
    assert all(parts[u] == "test" for u, spk in utts if spk in test_speakers)
    dev = sorted(u for u in parts if parts[u] == "dev")
    assert len(dev) == 8 and not {u.split("_")[0] for u in dev} & test_speakers  # every 5th of the 40 left
    # Named speakers; and a rule that leaves nothing for training, or asks for speakers that are not there.
    named = assign_parts(utts, parse_split("test_speakers=s1,s4"))
    assert {u.split("_")[0] for u in named if named[u] == "test"} == {"s1", "s4"}
    with pytest.raises(SplitError, match="only 6 speaker"):
        assign_parts(utts, parse_split("test_speakers=6"))
    with pytest.raises(SplitError, match=r"no utterances of \['s9'\]"):
        assign_parts(utts, parse_split("test_speakers=s9"))
    with pytest.raises(SplitError, match="no speaker id"):
        assign_parts([("a", None), ("b", None)], parse_split("test_speakers=1"))


def test_a_held_out_fraction_stays_put_when_the_corpus_grows():
    small = _utts(speakers=1, per=200)
    big = _utts(speakers=1, per=400)
    rule = parse_split("test_fraction=0.1")
    before, after = assign_parts(small, rule), assign_parts(big, rule)
    assert all(after[u] == p for u, p in before.items())
    share = sum(p == "test" for p in after.values()) / len(after)
    assert 0.05 < share < 0.15


# ------------------------------------------------------------------------------------------- prepare functions
def test_call_prepare_adapts_per_part_and_single_set_functions(tmp_path):
    calls = []

    def per_part(corpus_dir, dataset_parts, output_dir=None, num_jobs=1):
        calls.append((dataset_parts, output_dir, num_jobs))
        return {p: {"recordings": [], "supervisions": []} for p in dataset_parts}

    def single_set(corpus_dir, output_dir=None, other_option=False):
        return {"recordings": ["r"], "supervisions": ["s"]}

    def needs_more(corpus_dir, output_dir, api_key):
        return {}

    assert set(call_prepare(per_part, tmp_path, ["a", "b"], num_jobs=3)) == {"a", "b"}
    assert calls == [(["a", "b"], None, 3)]
    assert call_prepare(single_set, tmp_path, None) == {"": {"recordings": ["r"], "supervisions": ["s"]}}
    with pytest.raises(CorpusError, match="returns one set for the whole corpus.*_split"):
        call_prepare(single_set, tmp_path, ["train", "dev"])
    with pytest.raises(CorpusError, match=r"needs argument\(s\) \['api_key'\]"):
        call_prepare(needs_more, tmp_path, None)
    with pytest.raises(CorpusError, match="prepares named parts"):
        call_prepare(per_part, tmp_path, None)


def test_lhotse_recipes_by_name(tmp_path):
    info = load_corpus_info("lhotse:prepare_ljspeech")
    from lhotse.recipes import prepare_ljspeech

    assert info.prepare is prepare_ljspeech
    assert info.transcripts and info.transcripts[0].files == "metadata.csv"  # our layout check goes first
    with pytest.raises(AttributeError, match="lhotse has no recipe function 'prepare_nope'"):
        load_corpus_info("lhotse:prepare_nope")


@pytest.fixture(scope="module")
def layouts(tiny_corpus, tmp_path_factory):
    root = tmp_path_factory.mktemp("layouts")
    return root, {
        "ljspeech": make_ljspeech_style(tiny_corpus, root / "LJSpeech-1.1"),
        "vctk": make_vctk_style(tiny_corpus, root / "VCTK-Corpus"),
        "clips": make_jsonl_style(tiny_corpus, root / "clips"),
    }


def _supervisions(out, corpus, parts=("train", "dev", "test")):
    return {s.id: s for p in parts for s in load_manifest(out / f"{corpus}_supervisions_{p}.jsonl.gz")}


def test_ljspeech_layout_normalized_text_one_speaker_and_a_split(layouts, tmp_path):
    root, rows = layouts[0], layouts[1]["ljspeech"]
    stats = prepare_corpus("ljspeech", root / "LJSpeech-1.1", ["train", "dev", "test"], tmp_path,
                           split=parse_split("test_every=10 dev_every=8"))
    assert (stats["test"].recordings, stats["dev"].recordings, stats["train"].recordings) == (3, 4, 31)
    sups = _supervisions(tmp_path, "ljspeech")
    assert set(sups) == set(rows)
    for sid, sup in sups.items():
        assert sup.text == rows[sid][1] and sup.text.endswith("two hundred.")  # the normalized column
        assert sup.custom["original_text"].endswith(" 200.") and sup.speaker == "LJ"
    # Every 10th clip in id order is test: the same clips on every machine.
    ids = sorted(rows)
    assert {s.id for s in load_manifest(tmp_path / "ljspeech_supervisions_test.jsonl.gz")} == set(ids[9::10])


def test_speakerless_corpus_gets_a_stated_fallback(layouts, tmp_path, caplog):
    """lhotse's own LJSpeech parser names no speaker: one speaker for the corpus by default, or each utterance
    its own; either way said in the log."""
    root = layouts[0]
    info = load_corpus_info("lhotse:prepare_ljspeech")
    split = parse_split("test_every=10 dev_every=8")
    prepare_corpus("ljspeech", root / "LJSpeech-1.1", ["train", "dev", "test"], tmp_path / "a", info.prepare,
                   transcripts=info.transcripts, split=split)
    assert {s.speaker for s in _supervisions(tmp_path / "a", "ljspeech").values()} == {"ljspeech"}
    assert "38 of 38 supervisions have no speaker id; they are all one speaker, 'ljspeech'" in caplog.text
    assert next(iter(_supervisions(tmp_path / "a", "ljspeech").values())).text.endswith(" 200.")  # lhotse: raw
    prepare_corpus("ljspeech", root / "LJSpeech-1.1", ["train", "dev", "test"], tmp_path / "b", info.prepare,
                   transcripts=info.transcripts, split=split, unknown_speaker="utterance")
    assert all(s.speaker == s.id for s in _supervisions(tmp_path / "b", "ljspeech").values())
    assert "each is its own speaker" in caplog.text
    with pytest.raises(CorpusError, match="only 1 speaker"):
        prepare_corpus("ljspeech", root / "LJSpeech-1.1", ["train", "test"], tmp_path / "c", info.prepare,
                       transcripts=info.transcripts, split=parse_split("test_speakers=1"))


def test_vctk_layout_transcript_without_audio_is_listed_not_fatal(layouts, tmp_path):
    root, rows = layouts[0], layouts[1]["vctk"]
    corpus = root / "VCTK-Corpus"
    stats = prepare_corpus("vctk", corpus, ["train", "dev", "test"], tmp_path,
                           split=parse_split("test_speakers=2 dev_every=8"))
    sups = _supervisions(tmp_path, "vctk")
    assert set(sups) == set(rows)  # p225_999 (no audio) and p315 (no transcripts) left out
    assert all(sups[k].text == rows[k][1] and sups[k].speaker == rows[k][0] for k in rows)
    assert {s.gender for s in sups.values()} == {"F"}  # from speaker-info.txt
    assert len({s.speaker for s in load_manifest(tmp_path / "vctk_supervisions_test.jsonl.gz")}) == 2
    assert stats["test"].speakers == 2
    skipped = (tmp_path / "skipped_vctk.tsv").read_text().splitlines()
    assert skipped == [f"{corpus}/txt/p225/p225_999.txt:1\tno audio file {corpus}/wav48/p225/p225_999.wav",
                       f"{corpus}/wav48/p315/p315_001.wav\tnot in the corpus's transcripts/metadata (no supervision)"]
    # lhotse's own parser stops the whole corpus at such a transcript; through stage 1's check it gets the
    # corpus without it, and works.
    from lhotse.recipes import prepare_vctk as lhotse_vctk

    with pytest.raises(StopIteration):  # lhotse 1.33
        lhotse_vctk(corpus)
    info = load_corpus_info("lhotse:prepare_vctk")
    prepare_corpus("vctk", corpus, ["train", "dev", "test"], tmp_path / "lhotse", info.prepare,
                   transcripts=info.transcripts, split=parse_split("test_speakers=2 dev_every=8"))
    assert set(_supervisions(tmp_path / "lhotse", "vctk")) == set(rows)


def test_one_utterance_per_file_transcripts_are_checked(tmp_path):
    (tmp_path / "txt" / "p1").mkdir(parents=True)
    (tmp_path / "wav" / "p1").mkdir(parents=True)
    for name, content in [("p1_001", b"Hello there.\n"), ("p1_002", b"\xef\xbb\xbfSecond one,\r\n  on two lines.\r\n"),
                          ("p1_003", b"   \n"), ("p1_004", b"No audio.\n"), ("p1_005", b"Bell \x07 here.\n")]:
        (tmp_path / "txt" / "p1" / f"{name}.txt").write_bytes(content)
        if name != "p1_004":
            (tmp_path / "wav" / "p1" / f"{name}.wav").write_bytes(b"x")
    fmt = LineFormat("txt/*/*.txt", ("text",), whole_file=True, audio=("../../flac/{parent}/{id}.flac",
                                                                         "../../wav/{parent}/{id}.wav"))
    result = check_transcripts(tmp_path, [""], [fmt])
    txt = tmp_path / "txt" / "p1"
    assert result.dropped == {txt / "p1_003.txt", txt / "p1_004.txt", txt / "p1_005.txt"}
    assert result.cleaned == {txt / "p1_002.txt": "Second one, on two lines.\n"}
    assert [(w.split("/")[-1], r) for w, r in result.skipped] == [
        ("p1_003.txt:1", "no text"), ("p1_004.txt:1", f"no audio file {tmp_path}/flac/p1/p1_004.flac"),
        ("p1_005.txt:1", "stray character U+0007 at column 13")]


def test_invented_layout_through_a_prepare_function_of_its_own(layouts, tmp_path):
    from corpus_layouts import JSONL_PREPARE

    root, rows = layouts[0], layouts[1]["clips"]
    (tmp_path / "prepare.py").write_text(JSONL_PREPARE)
    info = load_corpus_info(f"{tmp_path}/prepare.py:prepare_clips")
    prepare_corpus("clips", root / "clips", ["train", "dev", "test"], tmp_path / "out", info.prepare,
                   split=parse_split("test_speakers=2 dev_every=8"))
    sups = _supervisions(tmp_path / "out", "clips")
    assert {k: (s.speaker, s.text) for k, s in sups.items()} == rows
    with pytest.raises(CorpusError, match="the split rule makes the parts train dev test.*clips_parts"):
        prepare_corpus("clips", root / "clips", ["train", "test"], tmp_path / "x", info.prepare,
                       split=parse_split("test_speakers=2 dev_every=8"))


# ------------------------------------------------------------------------------------------ text and model size
def test_numbers_are_read_by_locale():
    from valle.text.normalize import number_to_words, to_transcript

    assert to_transcript("452 men in 2005") == "FOUR HUNDRED FIFTY TWO MEN IN TWO THOUSAND FIVE"
    assert to_transcript("452 men in 2005", "en-gb") == "FOUR HUNDRED AND FIFTY TWO MEN IN TWO THOUSAND AND FIVE"
    assert number_to_words(1001, "en-gb") == "one thousand and one"
    assert number_to_words(1250, "en-gb") == "one thousand two hundred and fifty"  # one "and", the last
    assert number_to_words(2_000_050, "en-gb") == "two million and fifty"
    assert to_transcript("the 101st time", "en-gb") == "THE ONE HUNDRED AND FIRST TIME"
    assert to_transcript("1984 and 1900", "en-gb") == "NINETEEN EIGHTY FOUR AND NINETEEN HUNDRED"  # years alike
    with pytest.raises(ValueError, match="unknown locale"):
        to_transcript("1", "fr-fr")


def test_front_end_reads_numbers_as_stage_2_did():
    from valle.infer.text import TextFrontend

    lexicon = {w: [(w.lower(),)] for w in "FOUR HUNDRED AND FIFTY TWO".split()}
    phone_ids = {p: i for i, p in enumerate(["SIL", "four", "hundred", "and", "fifty", "two"])}
    us = TextFrontend(lexicon, "arpabet", ["en-us"], phone_ids)
    gb = TextFrontend(lexicon, "arpabet", ["en-us"], phone_ids, text_locale="en-gb")
    assert us.phones("452") == ["SIL", "four", "hundred", "fifty", "two", "SIL"]
    assert gb.phones("452") == ["SIL", "four", "hundred", "and", "fifty", "two", "SIL"]


def test_paper_model_on_a_small_corpus_is_warned_about():
    from valle.models.config import model_size_warning

    assert "model_config=small" in model_size_warning("paper", 0.5)
    assert model_size_warning("paper", 960.0) == ""
    assert model_size_warning("small", 0.5) == "" and model_size_warning("tiny", 0.1) == ""
