"""Stage 1: manifests that match the corpus; bad audio skipped and listed; clear errors."""
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from lhotse import load_manifest

from conftest import TINY_CONFIG
from valle.corpus.base import CorpusError
from valle.corpus.known import load_prepare_fn
from valle.corpus.manifests import check_audio_file, prepare_corpus, summarize_manifests

LS_PARTS = ["train-clean-100", "dev-clean", "test-clean"]


@pytest.fixture(scope="module")
def prepared(tiny_corpus, tmp_path_factory):
    out = tmp_path_factory.mktemp("manifests")
    ls = prepare_corpus("librispeech", tiny_corpus / "LibriSpeech", LS_PARTS, out, num_jobs=2)
    ll = prepare_corpus("librilight", tiny_corpus / "librilight", ["small", "medium", "large"], out, num_jobs=2)
    return out, ls, ll


def test_librispeech_manifests_match_the_corpus(tiny_corpus, prepared):
    out, stats, _ = prepared
    for part in LS_PARTS:
        recordings = load_manifest(out / f"librispeech_recordings_{part}.jsonl.gz")
        supervisions = load_manifest(out / f"librispeech_supervisions_{part}.jsonl.gz")
        cuts = load_manifest(out / f"cuts_{part}.jsonl.gz")
        flacs = {p.stem: p for p in (tiny_corpus / "LibriSpeech" / part).rglob("*.flac")}
        assert {r.id for r in recordings} == set(flacs) == {c.id for c in cuts}
        transcripts = {}
        for t in (tiny_corpus / "LibriSpeech" / part).rglob("*.trans.txt"):
            transcripts.update(line.split(" ", 1) for line in t.read_text().splitlines())
        for s in supervisions:
            assert s.text == transcripts[s.id]
            assert s.speaker == s.id.split("-")[0]
        for r in recordings:
            assert r.sampling_rate == 16000
            assert r.duration == pytest.approx(sf.info(str(flacs[r.id])).duration, abs=1e-3)
            assert Path(r.sources[0].source).resolve() == flacs[r.id].resolve()
        assert stats[part].recordings == len(flacs)
    assert (out / "skipped_librispeech.tsv").read_text() == ""


def test_librilight_cuts_keep_whole_files_with_vad_segments(tiny_corpus, prepared):
    import json
    out, _, stats = prepared
    for part in ("small", "medium", "large"):
        cuts = load_manifest(out / f"cuts_{part}.jsonl.gz")
        assert len(cuts) == 1
        cut = cuts[0]
        meta = json.loads((tiny_corpus / "librilight" / (cut.recording_id + ".json")).read_text())
        assert cut.duration == pytest.approx(cut.recording.duration)
        assert [(round(s.start, 3), round(s.end, 3)) for s in cut.supervisions] == \
            [(round(s, 3), round(e, 3)) for s, e in meta["voice_activity"]]
        assert stats[part].speakers == 1


def test_summary_table(prepared):
    out, _, _ = prepared
    table = summarize_manifests(out)
    lines = {tuple(l.split()[:2]): l.split() for l in table.splitlines()}
    row = lines["librispeech", "train-clean-100"]
    assert row[2:5] == ["32", "32", "8"]  # recordings, segments, speakers
    assert ("librilight", "small") in lines
    assert "skipped audio files of librispeech: 0" in table


def _copy_corpus(tiny_corpus, tmp_path, name):
    dst = tmp_path / name
    shutil.copytree(tiny_corpus / name, dst)
    return dst


def test_bad_audio_is_skipped_counted_and_named(tiny_corpus, tmp_path):
    corpus = _copy_corpus(tiny_corpus, tmp_path, "LibriSpeech")
    flacs = sorted((corpus / "train-clean-100").rglob("*.flac"))
    truncated, garbage, empty = flacs[0], flacs[1], flacs[2]
    truncated.write_bytes(truncated.read_bytes()[: truncated.stat().st_size // 2])
    garbage.write_bytes(b"this is not a flac file" * 100)
    empty.write_bytes(b"")
    out = tmp_path / "manifests"
    stats = prepare_corpus("librispeech", corpus, LS_PARTS, out, num_jobs=2)
    assert stats["train-clean-100"].recordings == TINY_CONFIG.train_speakers * TINY_CONFIG.train_utts_per_speaker - 3
    skipped = dict(line.split("\t") for line in (out / "skipped_librispeech.tsv").read_text().splitlines())
    assert set(skipped) == {str(truncated), str(garbage), str(empty)}
    assert skipped[str(truncated)].startswith("truncated")
    assert skipped[str(garbage)].startswith("unreadable")
    assert skipped[str(empty)].startswith("empty file")
    recordings = load_manifest(out / "librispeech_recordings_train-clean-100.jsonl.gz")
    for r in recordings:  # the sources point at the real corpus, not at a temporary view of it
        assert Path(r.sources[0].source).parent.parent.parent.parent == corpus
        r.load_audio()
    assert "skipped audio files of librispeech: 3" in summarize_manifests(out)


def test_bad_transcript_lines_are_skipped_and_listed_not_the_part(tiny_corpus, tmp_path):
    """One bad line used to stop lhotse's parser and lose the part: now each is skipped with its reason, and every
    good utterance of the part (including the ones in the same file) is prepared."""
    corpus = _copy_corpus(tiny_corpus, tmp_path, "LibriSpeech")
    trans = sorted((corpus / "train-clean-100").rglob("*.trans.txt"))[0]
    good = trans.read_text().splitlines()
    stem = trans.name.split(".")[0]
    audio = trans.parent / f"{good[0].split()[0]}.flac"
    for utt in ("0090", "0091", "0093"):  # audio whose line is bad: listed with the line's reason
        shutil.copy(audio, trans.parent / f"{stem}-{utt}.flac")
    bad = [  # (line as bytes, expected reason)
        (f"{stem}-0090".encode(), "no text"),
        (f"{stem}-0091 HELLO\x07 THERE".encode(), "stray character U+0007 at column"),
        (b"9999-1-0092 SOME WORDS", "bad utterance id '9999-1-0092'"),
        (f"{good[0].split()[0]} A SECOND TEXT FOR THE SAME ID".encode(), "duplicate utterance id"),
        (f"{stem}-0093 CAF".encode() + b"\xc9 AU LAIT", "not utf-8: byte 0xC9 at column"),
        (f"{stem}-0094 NO AUDIO FOR THIS LINE".encode(), "no audio file"),
        (f"{stem}-0095 -- ...".encode(), "no text (no letter or digit"),
    ]
    lines = [b"\xef\xbb\xbf" + good[0].encode(), b""] + [b for b, _ in bad] + [g.encode() for g in good[1:]]
    trans.write_bytes(b"\r\n".join(lines) + b"\r\n")
    out = tmp_path / "manifests"
    stats = prepare_corpus("librispeech", corpus, LS_PARTS, out, num_jobs=2)

    n_good = TINY_CONFIG.train_speakers * TINY_CONFIG.train_utts_per_speaker
    assert stats["train-clean-100"].recordings == n_good
    sups = {s.id: s.text for s in load_manifest(out / "librispeech_supervisions_train-clean-100.jsonl.gz")}
    assert len(sups) == n_good
    for line in good:  # the BOM'd first line and the first of the duplicated id are kept, text intact
        utt, text = line.split(" ", 1)
        assert sups[utt] == text
    skipped = [line.split("\t") for line in (out / "skipped_librispeech.tsv").read_text().splitlines()]
    by_where = dict(skipped)
    assert len(skipped) == len(bad) + 3
    for i, (_, reason) in enumerate(bad):
        assert by_where[f"{trans}:{i + 3}"].startswith(reason), (i, by_where)
    for utt, reason in (("0090", "no text"), ("0091", "stray character"), ("0093", "not utf-8")):
        assert by_where[str(trans.parent / f"{stem}-{utt}.flac")].startswith(
            f"its transcript line {trans}:"), by_where
        assert reason in by_where[str(trans.parent / f"{stem}-{utt}.flac")]
    assert trans.read_bytes().startswith(b"\xef\xbb\xbf")  # the corpus itself is not touched
    table = summarize_manifests(out)
    assert f"skipped audio files of librispeech: 3, transcript lines: {len(bad)}" in table


def test_template_corpus_lines_are_checked_with_its_declared_layout(tmp_path):
    """A corpus added from egs/template gets the same line checks, from the TRANSCRIPTS its prepare.py declares."""
    from valle.corpus.known import load_corpus_info

    info = load_corpus_info(str(Path(__file__).parent.parent / "egs/template/prepare.py") + ":prepare_mycorpus")
    assert info.transcripts
    root = tmp_path / "mycorpus"
    (root / "train" / "wavs").mkdir(parents=True)
    for i in range(3):
        sf.write(root / "train" / "wavs" / f"u{i}.wav", np.full(8000, 0.1, np.float32), 16000)
    (root / "train" / "metadata.csv").write_text(
        "u0|amy|Hello there.\n"
        "u1|amy\n"                      # no text field
        "u1|bob|Hi.\n"
        "u2|bob|One|two\n"               # a stray separator
        "../u0|amy|Path in the id.\n"    # an id that is a path
        "u9|cat|Its audio is missing.\n")
    out = tmp_path / "manifests"
    stats = prepare_corpus("mycorpus", root, ["train"], out, prepare_fn=info.prepare, transcripts=info.transcripts)
    assert stats["train"].recordings == 2
    sups = {s.id: (s.speaker, s.text) for s in load_manifest(out / "mycorpus_supervisions_train.jsonl.gz")}
    assert sups == {"u0": ("amy", "Hello there."), "u1": ("bob", "Hi.")}
    skipped = dict(line.split("\t") for line in (out / "skipped_mycorpus.tsv").read_text().splitlines())
    meta = root / "train" / "metadata.csv"
    assert skipped[f"{meta}:2"] == "no text"
    assert skipped[f"{meta}:4"].startswith("4 fields, expected 3")
    assert skipped[f"{meta}:5"].startswith("bad utterance id '../u0'")
    assert skipped[f"{meta}:6"].startswith("no audio file")
    assert skipped[str(root / "train" / "wavs" / "u2.wav")].startswith(f"its transcript line {meta}:4 was skipped")
    assert len(skipped) == 5


def test_librilight_file_without_metadata_is_skipped(tiny_corpus, tmp_path):
    corpus = _copy_corpus(tiny_corpus, tmp_path, "librilight")
    flac = next((corpus / "medium").rglob("*.flac"))
    extra = flac.with_name("99_extra.flac")
    shutil.copy(flac, extra)  # audio without its .json
    out = tmp_path / "manifests"
    stats = prepare_corpus("librilight", corpus, ["small", "medium", "large"], out)
    assert stats["medium"].recordings == 1
    assert "no metadata file 99_extra.json" in (out / "skipped_librilight.tsv").read_text()


def test_audio_without_transcript_is_reported(tiny_corpus, tmp_path):
    corpus = _copy_corpus(tiny_corpus, tmp_path, "LibriSpeech")
    flac = next((corpus / "dev-clean").rglob("*.flac"))
    orphan = flac.with_name("9999-99-0000.flac")
    shutil.copy(flac, orphan)
    out = tmp_path / "manifests"
    prepare_corpus("librispeech", corpus, LS_PARTS, out)
    assert f"{orphan}\tnot in the corpus's transcripts" in (out / "skipped_librispeech.tsv").read_text()


def test_missing_or_empty_corpus_is_a_clear_error(tmp_path):
    with pytest.raises(CorpusError, match=f"corpus directory {tmp_path / 'nope'} does not exist"):
        prepare_corpus("librispeech", tmp_path / "nope", LS_PARTS, tmp_path / "out")
    (tmp_path / "LibriSpeech" / "dev-clean").mkdir(parents=True)
    with pytest.raises(CorpusError, match="librispeech/dev-clean: no audio files under"):
        prepare_corpus("librispeech", tmp_path / "LibriSpeech", ["dev-clean"], tmp_path / "out")
    with pytest.raises(CorpusError, match="unknown corpus 'mine'"):
        prepare_corpus("mine", tmp_path / "LibriSpeech", ["dev-clean"], tmp_path / "out")
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_interrupted_prepare_leaves_no_partial_manifest(tiny_corpus, tmp_path):
    calls = []

    def prepare_then_die(corpus_dir, dataset_parts, output_dir=None, num_jobs=1):
        from valle.corpus.librispeech import prepare_librispeech
        manifests = prepare_librispeech(corpus_dir, dataset_parts, num_jobs=num_jobs)

        class Exploding(dict):  # the second part's manifests blow up while being written
            def __getitem__(self, key):
                calls.append(key)
                if len(calls) > 2:
                    raise KeyboardInterrupt
                return dict.__getitem__(self, key)
        return {part: (m if i == 0 else Exploding(m)) for i, (part, m) in enumerate(manifests.items())}

    out = tmp_path / "out"
    with pytest.raises(KeyboardInterrupt):
        prepare_corpus("librispeech", tiny_corpus / "LibriSpeech", LS_PARTS, out, prepare_fn=prepare_then_die)
    names = sorted(p.name for p in out.iterdir())
    assert names == ["cuts_train-clean-100.jsonl.gz", "librispeech_recordings_train-clean-100.jsonl.gz",
                     "librispeech_supervisions_train-clean-100.jsonl.gz"]
    for p in out.iterdir():
        load_manifest(p)


def test_check_audio_file_accepts_other_formats(tmp_path):
    wav = tmp_path / "a.wav"
    sf.write(wav, np.zeros(8000, np.float32) + 0.1, 8000)
    assert check_audio_file(wav) is None
    stereo = tmp_path / "b.flac"
    sf.write(stereo, np.zeros((44100, 2), np.float32), 44100)
    assert check_audio_file(stereo) is None


def test_load_prepare_fn(tmp_path):
    from valle.corpus.libritts import prepare_libritts
    assert load_prepare_fn("valle.corpus.libritts:prepare_libritts") is prepare_libritts
    mod = tmp_path / "mine.py"
    mod.write_text("def prepare(corpus_dir, dataset_parts, output_dir=None, num_jobs=1):\n    return 42\n")
    assert load_prepare_fn(f"{mod}:prepare")(None, []) == 42
    with pytest.raises(ValueError, match="must look like"):
        load_prepare_fn("no_colon")
    with pytest.raises(AttributeError, match="no function 'nope'"):
        load_prepare_fn(f"{mod}:nope")
    with pytest.raises(FileNotFoundError):
        load_prepare_fn(f"{tmp_path}/absent.py:prepare")


def test_libritts_transcript_layout(tmp_path):
    """LibriTTS's trans.tsv: id, original text, normalized text, tab-separated; the audio beside it."""
    from valle.corpus.libritts import TRANSCRIPTS
    from valle.corpus.transcripts import check_transcripts
    chapter = tmp_path / "LibriTTS" / "dev-clean" / "84" / "121123"
    chapter.mkdir(parents=True)
    for utt in ("84_121123_000007_000001", "84_121123_000008_000000"):
        sf.write(chapter / f"{utt}.wav", np.full(2400, 0.1, np.float32), 24000)
    (chapter / "84_121123.trans.tsv").write_text(
        "84_121123_000007_000001\tMaximilian.\tMaximilian.\n"
        "84_121123_000008_000000\tVillefort rose.\n"                 # the normalized text is missing
        "84_121123_000009_000000\tNo audio.\tNo audio.\n"
        "99_1_000001_000000\tWrong chapter.\tWrong chapter.\n")
    result = check_transcripts(tmp_path / "LibriTTS", ["dev-clean"], TRANSCRIPTS)
    trans = chapter / "84_121123.trans.tsv"
    assert dict(result.skipped) == {
        f"{trans}:2": "no text",
        f"{trans}:3": f"no audio file {chapter / '84_121123_000009_000000.wav'}",
        f"{trans}:4": "bad utterance id '99_1_000001_000000' (expected 84_121123_\\d+_\\d+)"}
    assert result.cleaned[trans] == "84_121123_000007_000001\tMaximilian.\tMaximilian.\n"
    assert result.audio_reasons[chapter / "84_121123_000008_000000.wav"].startswith(f"its transcript line {trans}:2")
