"""The embedded corpus: a multi-speaker English corpus synthesized offline with espeak-ng.

Written in the real layouts, so lhotse's own parsers read it:

    <out>/LibriSpeech/<part>/<spk>/<chapter>/<spk>-<chapter>-<utt>.flac      16 kHz, 1-3 sentences
    <out>/LibriSpeech/<part>/<spk>/<chapter>/<spk>-<chapter>.trans.txt     "ID TRANSCRIPT" lines
    <out>/LibriSpeech/SPEAKERS.TXT
    <out>/librilight/{small,medium,large}/<spk>/<book>/<file>.flac          long, multi-sentence
    <out>/librilight/{small,medium,large}/<spk>/<book>/<file>.json          {"speaker", "voice_activity", ...}

and, kept apart from the pipeline (nothing in stages 1-7 reads it), the synthesizer's own timings:

    <out>/ground_truth/{librispeech,librilight}.jsonl.gz   words/phones with start/end seconds
    <out>/ground_truth/speakers.json                       the espeak-ng settings of every speaker

A speaker is an espeak-ng voice + variant + pitch/range/rate setting. Everything is derived from
``seed`` and the utterance id, so the corpus is identical whatever ``num_jobs`` is.
"""
import dataclasses
import gzip
import hashlib
import json
import logging
import multiprocessing
import os
import random
import shutil
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Sequence

import numpy as np
import soundfile as sf
import torch
from tqdm import tqdm

from valle.corpus.mini.config import MiniCorpusConfig
from valle.corpus.mini.espeak import Espeak, Synthesis, TimingMismatch, Voice
from valle.corpus.mini.text import COVERAGE, coverage_sentence, sentence
from valle.text.normalize import normalize_spoken
from valle.utils.io import atomic_path, write_text_atomic

SAMPLE_RATE = 16000  # LibriSpeech and LibriLight are 16 kHz
MARKER = "MINI_CORPUS.json"
BASE_VOICES = ("en-us", "en", "en-gb-scotland", "en-gb-x-rp", "en-029", "en-gb-x-gbclan",
               "en-gb-x-gbcwmd", "en-us-nyc")
VARIANTS = ("m1", "m2", "m3", "m4", "m5", "m6", "m7", "m8", "f1", "f2", "f3", "f4", "f5",
            "klatt", "klatt2", "klatt3", "klatt4", "adam", "linda", "steph", "john", "paul",
            "robert", "david", "belinda", "annie", "grandma", "grandpa", "aunty")
FEMALE_VARIANTS = {"f1", "f2", "f3", "f4", "f5", "linda", "steph", "belinda", "annie", "grandma", "aunty"}
LIBRILIGHT_SUBSETS = ("small", "medium", "large")


@dataclass
class Speaker:
    id: str
    sex: str  # "F" or "M"
    part: str
    voice: Voice


def _rng(*keys) -> random.Random:
    return random.Random(hashlib.sha256("/".join(map(str, keys)).encode()).hexdigest())


def make_speakers(config: MiniCorpusConfig) -> List[Speaker]:
    """Distinct voice/variant pairs with their own pitch, range and rate, one per speaker."""
    parts = ([("train-clean-100", config.train_speakers), ("dev-clean", config.dev_speakers),
              ("test-clean", config.test_speakers)]
             + list(zip(LIBRILIGHT_SUBSETS, config.unlabeled_speakers)))
    total = sum(n for _, n in parts)
    combos = [(b, v) for b in BASE_VOICES for v in VARIANTS]
    r = _rng(config.seed, "speakers")
    r.shuffle(combos)
    if total > len(combos):
        raise ValueError(f"at most {len(combos)} distinct speakers, asked for {total}")
    speakers, k = [], 0
    for part, n in parts:
        for _ in range(n):
            base, variant = combos[k]
            voice = Voice(f"{base}+{variant}", rate=r.randint(150, 195), pitch=r.randint(30, 70),
                          pitch_range=r.randint(35, 75), word_gap=r.choice((0, 0, 1)))
            speakers.append(Speaker(str(1001 + k), "F" if variant in FEMALE_VARIANTS else "M", part, voice))
            k += 1
    return speakers


# ---------------------------------------------------------------------------------------------
# One utterance / one long file. Module-level functions so that worker processes can run them.

_resampler_cache: Dict[int, torch.nn.Module] = {}


def _to_16k(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    from lhotse.augmentation.resample import Resample

    if sample_rate == SAMPLE_RATE:
        return audio
    if sample_rate not in _resampler_cache:
        _resampler_cache[sample_rate] = Resample(sample_rate, SAMPLE_RATE)
    with torch.no_grad():
        return _resampler_cache[sample_rate](torch.from_numpy(audio)[None])[0].numpy()


def _synthesize_text(voice: Voice, r: random.Random, num_sentences: int, retries: int = 20, coverage: int = -1):
    """Speak ``num_sentences`` generated sentences (the first: COVERAGE sentence ``coverage`` when >= 0); redraw a
    sentence whose timings espeak garbles."""
    espeak = Espeak.get()
    espeak.seed(r.getrandbits(31))
    for attempt in range(retries):
        first = [coverage_sentence(r, coverage)] if coverage >= 0 else []
        written = " ".join(first + [sentence(r) for _ in range(num_sentences - len(first))])
        spoken = normalize_spoken(written)
        try:
            return written, spoken, espeak.synthesize(spoken, voice), attempt
        except TimingMismatch as e:
            logging.debug("redrawing: %s", e)
    raise RuntimeError(f"espeak-ng timings did not match the text {retries} times for voice {voice}")


def _finish_audio(audio: np.ndarray, r: random.Random, gain: float) -> np.ndarray:
    # A faint noise floor, as every recording has: digital silence makes log energies -inf.
    noise = np.random.default_rng(r.getrandbits(32)).normal(0.0, 3e-4, size=audio.shape)
    return np.clip(audio * gain + noise, -1.0, 1.0).astype(np.float32)


def _write_flac(path: Path, audio: np.ndarray) -> None:
    with atomic_path(path) as tmp:
        sf.write(tmp, audio, SAMPLE_RATE, subtype="PCM_16", format="FLAC")


def _segments(syn: Synthesis, offset: float, word_offset: int = 0):
    words = [[w.label, round(w.start + offset, 4), round(w.end + offset, 4)] for w in syn.words]
    phones = [[p.label, round(p.start + offset, 4), round(p.end + offset, 4), wi + word_offset if wi >= 0 else -1]
              for p, wi in zip(syn.phones, syn.phone_word)]
    return words, phones


def _extend_silence(phones: list, duration: float) -> None:
    """Make the phone list cover [0, duration]: stretch edge pauses or add sil segments."""
    if phones[0][0] == "sil":
        phones[0][1] = 0.0
    elif phones[0][1] > 0:
        phones.insert(0, ["sil", 0.0, phones[0][1], -1])
    end = round(duration, 4)
    if phones[-1][0] == "sil":
        phones[-1][2] = end
    elif phones[-1][2] < end:
        phones.append(["sil", phones[-1][2], end, -1])


def _make_utterance(job) -> dict:
    """LibriSpeech-style utterance: 1-3 sentences in one synthesis."""
    utt_id, speaker, seed, path, coverage = job
    r = _rng(seed, utt_id)
    num_sentences = r.choices((1, 2, 3), weights=(0.5, 0.35, 0.15))[0]
    written, spoken, syn, redraws = _synthesize_text(speaker.voice, r, num_sentences, coverage=coverage)
    # Leading and trailing silence, as in read speech cut from longer recordings.
    lead, trail = (int(r.uniform(0.1, 0.4) * SAMPLE_RATE) for _ in range(2))
    speech = _to_16k(syn.audio, syn.sample_rate)
    audio = np.concatenate([np.zeros(lead, np.float32), speech, np.zeros(trail, np.float32)])
    audio = _finish_audio(audio, r, gain=r.uniform(0.6, 0.95))
    _write_flac(Path(path), audio)
    words, phones = _segments(syn, lead / SAMPLE_RATE)
    _extend_silence(phones, len(audio) / SAMPLE_RATE)
    return {"id": utt_id, "speaker": speaker.id, "part": speaker.part, "duration": len(audio) / SAMPLE_RATE,
            "text": written, "spoken": spoken, "words": words, "phones": phones, "redraws": redraws}


def energy_vad(audio: np.ndarray, sample_rate: int, threshold_db: float = -40.0, min_silence: float = 0.3,
               min_speech: float = 0.15, pad: float = 0.05) -> List[List[float]]:
    """Voice-activity segments [[start, end], ...] in seconds from frame energy.

    Frames (25 ms, 10 ms hop) louder than ``threshold_db`` below the loudest frame are speech;
    pauses shorter than ``min_silence`` are bridged, bursts shorter than ``min_speech`` dropped.
    """
    frame, hop = int(0.025 * sample_rate), int(0.010 * sample_rate)
    if len(audio) < frame:
        return []
    n = 1 + (len(audio) - frame) // hop
    idx = np.arange(frame)[None, :] + hop * np.arange(n)[:, None]
    energy_db = 10 * np.log10(np.mean(audio[idx] ** 2, axis=1) + 1e-12)
    active = energy_db > energy_db.max() + threshold_db
    segments, start = [], None
    for i, a in enumerate(np.append(active, False)):
        if a and start is None:
            start = i
        elif not a and start is not None:
            segments.append([start * hop / sample_rate, ((i - 1) * hop + frame) / sample_rate])
            start = None
    merged = []
    for s, e in segments:
        if merged and s - merged[-1][1] < min_silence:
            merged[-1][1] = e
        else:
            merged.append([s, e])
    duration = len(audio) / sample_rate
    return [[round(max(0.0, s - pad), 3), round(min(duration, e + pad), 3)]
            for s, e in merged if e - s >= min_speech]


def _make_long_file(job) -> dict:
    """LibriLight-style file: sentences synthesized one by one, joined by pauses of 0.4-1.5 s."""
    rec_id, speaker, seed, path, num_sentences = job
    r = _rng(seed, rec_id)
    words, phones, texts = [], [], []
    pieces = [np.zeros(int(r.uniform(0.3, 0.8) * SAMPLE_RATE), np.float32)]
    for _ in range(num_sentences):
        written, spoken, syn, _ = _synthesize_text(speaker.voice, r, 1)
        offset = sum(len(p) for p in pieces) / SAMPLE_RATE
        w, p = _segments(syn, offset, word_offset=len(words))
        words.extend(w)
        phones.extend(p)
        texts.append((written, spoken))
        pieces.append(_to_16k(syn.audio, syn.sample_rate))
        pieces.append(np.zeros(int(r.uniform(0.4, 1.5) * SAMPLE_RATE), np.float32))
    audio = _finish_audio(np.concatenate(pieces), r, gain=r.uniform(0.6, 0.95))
    _write_flac(Path(path), audio)
    phones = _merge_pauses(phones)
    _extend_silence(phones, len(audio) / SAMPLE_RATE)
    vad = energy_vad(audio, SAMPLE_RATE)
    meta = {"speaker": speaker.id, "voice_activity": vad, "snr": None,
            "book_meta": {"title": f"Synthetic book of speaker {speaker.id}", "voice": speaker.voice.name,
                          "note": "espeak-ng synthesis; voice_activity from an energy VAD"}}
    write_text_atomic(Path(path).with_suffix(".json"), json.dumps(meta, indent=1))
    return {"id": rec_id, "speaker": speaker.id, "part": speaker.part, "duration": len(audio) / SAMPLE_RATE,
            "text": " ".join(w for w, _ in texts), "spoken": " ".join(s for _, s in texts),
            "words": words, "phones": phones, "voice_activity": vad}


def _merge_pauses(phones: list) -> list:
    """Join adjacent sil segments; a gap between two segments becomes (part of) a sil."""
    out = []
    for ph in phones:
        if out and out[-1][2] < ph[1]:  # silence inserted between sentences
            if out[-1][0] == "sil":
                out[-1][2] = ph[1]
            else:
                out.append(["sil", out[-1][2], ph[1], -1])
        if ph[0] == "sil" and out and out[-1][0] == "sil":
            out[-1][2] = ph[2]
        else:
            out.append(list(ph))
    return out


# ---------------------------------------------------------------------------------------------

def _run_jobs(jobs) -> List[dict]:
    return [fn(job) for fn, job in jobs]


def _jobs(config: MiniCorpusConfig, speakers: Sequence[Speaker], root: Path):
    per_speaker = {"train-clean-100": config.train_utts_per_speaker, "dev-clean": config.dev_utts_per_speaker,
                   "test-clean": config.test_utts_per_speaker}
    labeled, unlabeled = [], []
    train = [spk.id for spk in speakers if spk.part == "train-clean-100"]
    for spk in speakers:
        if spk.part in per_speaker:
            n = per_speaker[spk.part]
            for u in range(n):
                chapter = f"{spk.id}{u % config.chapters_per_speaker}"
                utt_id = f"{spk.id}-{chapter}-{u // config.chapters_per_speaker:04d}"
                path = root / "LibriSpeech" / spk.part / spk.id / chapter / f"{utt_id}.flac"
                # The training part's first utterances, round robin over its speakers, start with the COVERAGE
                # sentences: every phone of the G2P voices is in the lexicon and the training alignments.
                k = u * len(train) + train.index(spk.id) if spk.id in train else len(COVERAGE)
                labeled.append((utt_id, spk, config.seed, str(path), k if k < len(COVERAGE) else -1))
        else:
            for f in range(config.unlabeled_files_per_speaker):
                book = f"synthetic_book_{spk.id}_{f // 2:02d}"
                rel = f"{spk.part}/{spk.id}/{book}/{f:02d}_chapter_{spk.id}"
                unlabeled.append((rel, spk, config.seed, str(root / "librilight" / f"{rel}.flac"),
                                  config.unlabeled_sentences_per_file))
    return labeled, unlabeled


def _write_jsonl_gz(path: Path, rows: Sequence[dict]) -> None:
    with atomic_path(path) as tmp:
        with gzip.open(tmp, "wt", encoding="utf-8") as f:
            for row in rows:
                f.write(json.dumps(row, ensure_ascii=False) + "\n")


def build_mini_corpus(out_dir: Path, config: MiniCorpusConfig, num_jobs: int = 1) -> dict:
    """Synthesize the corpus into ``out_dir``; return a summary (parts, speakers, utterances, hours).

    The corpus is built under ``out_dir/.build`` and moved into place at the end, so an interrupted
    build never leaves a half corpus where stage 1 would read it. A previous mini corpus in
    ``out_dir`` (recognised by its MINI_CORPUS.json) is replaced; anything else there is refused.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    targets = ("LibriSpeech", "librilight", "ground_truth")
    if any((out_dir / t).exists() for t in targets) and not (out_dir / MARKER).exists():
        raise FileExistsError(f"{out_dir} holds a corpus that is not a mini corpus (no {MARKER}); "
                              "refusing to overwrite it: choose another --dl-dir")
    build = out_dir / ".build"
    shutil.rmtree(build, ignore_errors=True)
    speakers = make_speakers(config)
    labeled, unlabeled = _jobs(config, speakers, build)
    for job in labeled + unlabeled:
        Path(job[3]).parent.mkdir(parents=True, exist_ok=True)

    # espeak-ng's output depends on what the process synthesized before (wave generator state, libc
    # rand()). For a corpus that is the same whatever --nj is, each speaker is synthesized in a
    # fresh process, in a fixed order: forkserver children do not inherit the caller's espeak state.
    by_speaker: Dict[str, list] = {}
    for job in labeled:
        by_speaker.setdefault(job[1].id, []).append((_make_utterance, job))
    for job in unlabeled:
        by_speaker.setdefault(job[1].id, []).append((_make_long_file, job))
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload([__name__])
    rows = []
    with ProcessPoolExecutor(num_jobs, mp_context=context, max_tasks_per_child=1) as pool:
        for speaker_rows in tqdm(pool.map(_run_jobs, by_speaker.values()), total=len(by_speaker),
                                 desc="Synthesizing speakers"):
            rows.extend(speaker_rows)
    ll_rows = [r for r in rows if r["part"] in LIBRILIGHT_SUBSETS]
    ls_rows = [r for r in rows if r["part"] not in LIBRILIGHT_SUBSETS]

    # Transcripts, one trans.txt per chapter, as in LibriSpeech.
    chapters: Dict[Path, List[str]] = {}
    for row in ls_rows:
        spk, chapter, _ = row["id"].split("-")
        chapter_dir = build / "LibriSpeech" / row["part"] / spk / chapter
        chapters.setdefault(chapter_dir / f"{spk}-{chapter}.trans.txt", []).append(
            row["id"] + " " + " ".join(w for w, _, _ in row["words"]))
    for path, lines in chapters.items():
        write_text_atomic(path, "\n".join(sorted(lines)) + "\n")
    for subset in LIBRILIGHT_SUBSETS:  # lhotse's prepare_librilight walks all three
        (build / "librilight" / subset).mkdir(parents=True, exist_ok=True)

    minutes = {}
    for row in ls_rows + ll_rows:
        minutes[row["speaker"]] = minutes.get(row["speaker"], 0.0) + row["duration"] / 60
    speakers_txt = ["; ID  |SEX| SUBSET           |MINUTES| NAME"] + [
        f"{s.id:<5}| {s.sex} | {s.part:<17}| {minutes.get(s.id, 0):5.2f} | {s.voice.name}" for s in speakers]
    write_text_atomic(build / "LibriSpeech" / "SPEAKERS.TXT", "\n".join(speakers_txt) + "\n")

    _write_jsonl_gz(build / "ground_truth" / "librispeech.jsonl.gz", ls_rows)
    _write_jsonl_gz(build / "ground_truth" / "librilight.jsonl.gz", ll_rows)
    write_text_atomic(build / "ground_truth" / "speakers.json", json.dumps(
        [dict(id=s.id, sex=s.sex, part=s.part, voice=dataclasses.asdict(s.voice)) for s in speakers], indent=1))

    summary = summarize(ls_rows, ll_rows, speakers)
    summary["config"] = dataclasses.asdict(config)
    for t in targets:  # swap the finished corpus in
        if (out_dir / t).exists():
            shutil.rmtree(out_dir / t)
        os.replace(build / t, out_dir / t)
    write_text_atomic(out_dir / MARKER, json.dumps(summary, indent=1))
    shutil.rmtree(build, ignore_errors=True)
    return summary


def summarize(ls_rows, ll_rows, speakers) -> dict:
    parts: Dict[str, dict] = {}
    for row in ls_rows + ll_rows:
        p = parts.setdefault(row["part"], {"files": 0, "hours": 0.0, "speakers": set(), "words": 0})
        p["files"] += 1
        p["hours"] += row["duration"] / 3600
        p["speakers"].add(row["speaker"])
        p["words"] += sum(len(w[0].split()) for w in row["words"])
    for p in parts.values():
        p["speakers"] = len(p["speakers"])
        p["hours"] = round(p["hours"], 4)
    return {"parts": parts, "speakers": len(speakers),
            "redraws": sum(r.get("redraws", 0) for r in ls_rows),
            "hours": round(sum(p["hours"] for p in parts.values()), 4)}
