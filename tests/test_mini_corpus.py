"""The embedded corpus: layouts lhotse reads, ground-truth timings that match the audio, determinism."""
import gzip
import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from conftest import TINY_CONFIG
from valle.corpus.mini.build import build_mini_corpus, energy_vad
from valle.text.normalize import to_transcript

T = TINY_CONFIG


def ground_truth(corpus: Path, name: str):
    with gzip.open(corpus / "ground_truth" / f"{name}.jsonl.gz", "rt") as f:
        return [json.loads(line) for line in f]


def trans_lines(corpus: Path):
    lines = {}
    for path in (corpus / "LibriSpeech").rglob("*.trans.txt"):
        for line in path.read_text().splitlines():
            utt, text = line.split(" ", 1)
            lines[utt] = (path.parent, text)
    return lines


def test_librispeech_layout(tiny_corpus):
    ls = tiny_corpus / "LibriSpeech"
    assert sorted(p.name for p in ls.iterdir() if p.is_dir()) == ["dev-clean", "test-clean", "train-clean-100"]
    lines = trans_lines(tiny_corpus)
    flacs = {p.stem: p for p in ls.rglob("*.flac")}
    assert set(lines) == set(flacs) and len(flacs) == sum(n * k for n, k in (
        (T.train_speakers, T.train_utts_per_speaker), (T.dev_speakers, T.dev_utts_per_speaker),
        (T.test_speakers, T.test_utts_per_speaker)))
    for utt, (chapter_dir, text) in lines.items():
        spk, chapter, _ = utt.split("-")
        assert chapter_dir.name == chapter and chapter_dir.parent.name == spk
        assert flacs[utt].parent == chapter_dir
        assert text == text.upper() and text.replace("'", "").replace(" ", "").isalnum()
        info = sf.info(str(flacs[utt]))
        assert info.samplerate == 16000 and info.channels == 1 and info.format == "FLAC"
    speakers = {part: {p.name for p in (ls / part).iterdir()} for part in ("train-clean-100", "dev-clean", "test-clean")}
    assert len(speakers["train-clean-100"]) == T.train_speakers and len(speakers["test-clean"]) == T.test_speakers
    assert not speakers["test-clean"] & (speakers["train-clean-100"] | speakers["dev-clean"])  # held out
    assert "SUBSET" in (ls / "SPEAKERS.TXT").read_text()


def test_librilight_layout(tiny_corpus):
    ll = tiny_corpus / "librilight"
    assert sorted(p.name for p in ll.iterdir()) == ["large", "medium", "small"]
    flacs = sorted(ll.rglob("*.flac"))
    assert len(flacs) == sum(T.unlabeled_speakers) * T.unlabeled_files_per_speaker
    for flac in flacs:
        meta = json.loads(flac.with_suffix(".json").read_text())
        subset, speaker, book = flac.relative_to(ll).parts[:3]
        assert meta["speaker"] == speaker
        vad = meta["voice_activity"]
        assert len(vad) >= 3  # sentences separated by pauses are separate segments
        duration = sf.info(str(flac)).duration
        assert all(0 <= s < e <= duration + 1e-6 for s, e in vad)
        assert all(a[1] < b[0] for a, b in zip(vad, vad[1:]))


def test_ground_truth_matches_transcripts_and_audio(tiny_corpus):
    lines = trans_lines(tiny_corpus)
    rows = ground_truth(tiny_corpus, "librispeech")
    assert len(rows) == len(lines)
    for row in rows:
        # Word labels (a group like "ON THE" is one espeak word) spell out the transcript.
        assert " ".join(w for w, _, _ in row["words"]) == lines[row["id"]][1] == to_transcript(row["text"])
        phones = row["phones"]
        assert phones[0][1] == 0.0 and abs(phones[-1][2] - row["duration"]) < 1e-3
        assert all(abs(a[2] - b[1]) < 1e-3 and a[1] < a[2] for a, b in zip(phones, phones[1:]))
        assert phones[0][0] == "sil" and phones[-1][0] == "sil"  # leading/trailing silence
        for k, (word, start, end) in enumerate(row["words"]):
            own = [p for p in phones if p[3] == k]
            assert own and own[0][1] == start and own[-1][2] == end
            assert all(p[0] != "sil" for p in own)
        path = next(iter((tiny_corpus / "LibriSpeech").rglob(row["id"] + ".flac")))
        assert abs(sf.info(str(path)).duration - row["duration"]) < 1e-3


def _rms(audio, sr, start, end):
    seg = audio[int(start * sr):int(end * sr)]
    return float(np.sqrt(np.mean(seg ** 2))) if len(seg) else 0.0


def test_ground_truth_timings_follow_the_audio(tiny_corpus):
    """Pauses in the ground truth are quiet in the audio, and shifting the timings breaks that."""
    rows = ground_truth(tiny_corpus, "librilight") + ground_truth(tiny_corpus, "librispeech")[:10]
    speech, silence, shifted = [], [], []
    for row in rows:
        path = (tiny_corpus / "librilight" / (row["id"] + ".flac")) if "/" in row["id"] else \
            next(iter((tiny_corpus / "LibriSpeech").rglob(row["id"] + ".flac")))
        audio, sr = sf.read(str(path))
        for label, start, end, _ in row["phones"]:
            if end - start < 0.15:
                continue
            (silence if label == "sil" else speech).append(_rms(audio, sr, start + 0.03, end - 0.03))
            if label == "sil":
                shifted.append(_rms(audio, sr, start + 0.3, end + 0.3))
    assert np.median(silence) < 0.01 * np.median(speech)
    assert np.median(shifted) > 10 * np.median(silence)


def test_vad_segments_cover_the_words(tiny_corpus):
    for row in ground_truth(tiny_corpus, "librilight"):
        vad = row["voice_activity"]
        for word, start, end in row["words"]:
            assert any(s <= start + 0.02 and end - 0.02 <= e for s, e in vad), (word, start, end, vad)


def test_energy_vad_on_a_known_signal():
    sr = 16000
    t = np.arange(sr) / sr
    tone = 0.5 * np.sin(2 * np.pi * 220 * t)
    audio = np.concatenate([np.zeros(sr // 2), tone, np.zeros(sr), tone[: sr // 2], np.zeros(sr // 2)])
    audio += np.random.default_rng(0).normal(0, 1e-4, len(audio))
    vad = energy_vad(audio, sr, pad=0.0)
    assert len(vad) == 2
    assert vad[0][0] == pytest.approx(0.5, abs=0.03) and vad[0][1] == pytest.approx(1.5, abs=0.03)
    assert vad[1][0] == pytest.approx(2.5, abs=0.03) and vad[1][1] == pytest.approx(3.0, abs=0.03)


def _digest(corpus: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(corpus.rglob("*")):
        if p.is_file() and p.name != "MINI_CORPUS.json":
            h.update(str(p.relative_to(corpus)).encode())
            h.update(sf.read(str(p))[0].tobytes() if p.suffix == ".flac" else
                     gzip.decompress(p.read_bytes()) if p.suffix == ".gz" else p.read_bytes())
    return h.hexdigest()


def test_deterministic_whatever_the_number_of_jobs(tiny_corpus, tmp_path):
    build_mini_corpus(tmp_path / "again", TINY_CONFIG, num_jobs=1)
    assert _digest(tmp_path / "again") == _digest(tiny_corpus)


def test_rebuild_replaces_the_corpus_and_refuses_foreign_data(tmp_path):
    from dataclasses import replace
    small = replace(TINY_CONFIG, train_utts_per_speaker=1, unlabeled_sentences_per_file=1)
    build_mini_corpus(tmp_path / "c", TINY_CONFIG, num_jobs=2)
    build_mini_corpus(tmp_path / "c", small, num_jobs=2)  # smaller: no stale files may survive
    assert len(list((tmp_path / "c" / "LibriSpeech" / "train-clean-100").rglob("*.flac"))) == small.train_speakers
    assert not (tmp_path / "c" / ".build").exists()
    foreign = tmp_path / "user_data"
    (foreign / "LibriSpeech").mkdir(parents=True)
    with pytest.raises(FileExistsError, match="not a mini corpus"):
        build_mini_corpus(foreign, small)
    assert (foreign / "LibriSpeech").is_dir()


@pytest.mark.parametrize("language", ["en-us", "en-gb"])   # egs/mini's g2p_languages
def test_the_generator_covers_every_phone_of_each_g2p_voice(language):
    """Templates + COVERAGE sentences hold every phone espeak-ng's voice uses in English words (the inventory
    comes from G2P over CMUdict, not from a list here)."""
    import random

    from valle.corpus.mini.text import COVERAGE, coverage_sentence, sentence
    from valle.text.lexicon import espeak_g2p, g2p_inventory

    inventory = g2p_inventory(language)
    assert {"ɔɪ", "ʒ", "θ", "ð", "ŋ"} <= set(inventory) and len(inventory) > 40
    r = random.Random(0)
    texts = [sentence(r) for _ in range(2000)] + [coverage_sentence(r, k) for k in range(len(COVERAGE))]
    words = sorted({w for t in texts for w in to_transcript(t).split()})
    phones = {p for pron in espeak_g2p(words, language).values() for p in pron}
    assert not set(inventory) - phones, sorted(set(inventory) - phones)


def test_the_training_part_starts_with_every_coverage_sentence(tiny_corpus):
    from valle.corpus.mini.build import _jobs, make_speakers
    from valle.corpus.mini.text import COVERAGE

    labeled, _ = _jobs(T, make_speakers(T), Path("/x"))
    train = [job for job in labeled if job[1].part == "train-clean-100"]
    assert sorted(job[4] for job in train if job[4] >= 0) == list(range(len(COVERAGE)))
    assert all(job[4] == -1 for job in labeled if job[1].part != "train-clean-100")
    # ... and the built corpus says them: each one's fixed words are in a training transcript
    texts = [text for utt, (_, text) in trans_lines(tiny_corpus).items() if utt.split("-")[0] in
             {job[1].id for job in train}]
    for k, cov in enumerate(COVERAGE):
        fixed = to_transcript(cov.split("{p}")[-1]).split()
        assert any(" ".join(fixed) in t for t in texts), cov
