"""A folder of audio and transcripts as forced aligners read it: the input of ``python -m valle.bin.align``.

Two layouts, told apart by their files:

  librispeech   ``**/*.trans.txt`` files of "<utterance-id> TEXT" lines, each utterance's audio beside its
                file as ``<id>.flac`` or ``<id>.wav``; the speaker is the id up to its first '-'
                (LibriSpeech, LibriTTS-style exports)
  mfa           every audio file with a transcript of the same name beside it, ``.lab`` or ``.txt`` (the
                whole file is the text, as the Montreal Forced Aligner reads it); the speaker is the audio's
                folder name (files at the top level: the corpus folder's name)

A corpus with any ``*.trans.txt`` is read as librispeech. In the mfa layout ``.lab`` wins over ``.txt`` when a
file has both. Each utterance keeps the path it came from (``custom["path"]``: relative to the corpus, without
the extension), which names its output files.

Nothing bad is fatal: an unreadable or empty audio file, audio without a transcript, a transcript without audio,
a line or file without usable text, a duplicate id: each is listed (``FolderScan.problems``) with the file and the
reason, and the rest is read. One recording's entry is in memory at a time.
"""
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Iterator, List, NamedTuple, Optional, Tuple, Union

from valle.corpus.base import AUDIO_EXTENSIONS, CorpusError, iter_audio_files
from valle.corpus.manifests import check_audio_file
from valle.corpus.transcripts import LineFormat, check_line
from valle.utils.io import atomic_path

LAYOUTS = ("librispeech", "mfa")
# The audio a librispeech-layout line or an mfa-layout transcript may have, in order of preference.
AUDIO_PREFERENCE = (".flac", ".wav") + tuple(e for e in AUDIO_EXTENSIONS if e not in (".flac", ".wav"))
TRANSCRIPT_SUFFIXES = (".lab", ".txt")
_LINE = LineFormat("**/*.trans.txt", ("id", "text"))
_TEXT_ONLY = LineFormat("", ("text",))
_ANY_ID = re.compile(r"\S+")


class FolderUtterance(NamedTuple):
    id: str          # unique in the corpus, no whitespace
    audio: Path
    text: str        # raw, as written (stage 2's normalization comes later)
    speaker: str
    path: str        # relative to the corpus, without extension: names the output files


class Problem(NamedTuple):
    where: str       # a file, or file:line
    reason: str


@dataclass
class FolderScan:
    layout: str
    utterances: int = 0
    audio_seconds: float = 0.0
    speakers: int = 0
    problems: List[Problem] = field(default_factory=list)


def detect_layout(corpus_dir: Path) -> str:
    """``librispeech`` when the folder has any ``*.trans.txt``, else ``mfa``; CorpusError when it has no audio."""
    corpus_dir = Path(corpus_dir)
    if not corpus_dir.is_dir():
        raise CorpusError(f"corpus folder {corpus_dir} does not exist")
    if next(iter_audio_files(corpus_dir), None) is None:
        raise CorpusError(f"no audio files ({' '.join(AUDIO_EXTENSIONS)}) under {corpus_dir}")
    return "librispeech" if next(corpus_dir.rglob("*.trans.txt"), None) is not None else "mfa"


def _utterance_id(rel_stem: str) -> str:
    """Ids name lines of Kaldi-style text files: no whitespace."""
    return re.sub(r"\s+", "_", rel_stem)


def _read_text_file(path: Path) -> Tuple[Optional[str], str]:
    """(the whole file's text on one line, '') or (None, why it cannot be used)."""
    raw = path.read_bytes()
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    try:
        text = " ".join(raw.decode("utf-8").split())
    except UnicodeDecodeError as e:
        return None, f"not UTF-8: byte 0x{raw[e.start]:02X} at offset {e.start}"
    if not text:
        return None, "no text (the file is empty)"
    reason, _ = check_line(text, _TEXT_ONLY, _ANY_ID)
    return (None, reason) if reason else (text, "")


def iter_mfa(corpus_dir: Path) -> Iterator[Union[FolderUtterance, Problem]]:
    """Audio files in sorted order (a speaker's files together), each with its transcript."""
    used_transcripts: Dict[Path, Path] = {}
    seen_ids: Dict[str, Path] = {}
    for audio in sorted(iter_audio_files(corpus_dir)):
        rel = audio.relative_to(corpus_dir)
        transcript = next((t for t in (audio.with_suffix(s) for s in TRANSCRIPT_SUFFIXES) if t.is_file()), None)
        if transcript is None:
            yield Problem(str(audio), f"no transcript: expected {audio.with_suffix('.lab').name} or "
                                      f"{audio.with_suffix('.txt').name} beside it")
            continue
        if transcript in used_transcripts:
            yield Problem(str(audio), f"its transcript {transcript.name} is already used by "
                                      f"{used_transcripts[transcript].name} (two audio files of one name)")
            continue
        used_transcripts[transcript] = audio
        rel_stem = rel.with_suffix("").as_posix()
        uid = _utterance_id(rel_stem)
        if uid in seen_ids:
            yield Problem(str(audio), f"utterance id {uid} is also that of {seen_ids[uid]}")
            continue
        seen_ids[uid] = audio
        text, reason = _read_text_file(transcript)
        if text is None:
            yield Problem(str(transcript), reason)
            continue
        speaker = audio.parent.name if audio.parent != corpus_dir else corpus_dir.resolve().name
        yield FolderUtterance(uid, audio, text, speaker, rel_stem)
    audio_stems = {a.with_suffix("") for a in used_transcripts.values()}
    for suffix in TRANSCRIPT_SUFFIXES:
        for t in sorted(corpus_dir.rglob(f"*{suffix}")):
            if t.is_file() and t.with_suffix("") not in audio_stems:
                yield Problem(str(t), "no audio file of the same name beside it")


def iter_librispeech(corpus_dir: Path) -> Iterator[Union[FolderUtterance, Problem]]:
    """The lines of every ``*.trans.txt`` in sorted order, each with its audio."""
    seen: Dict[str, str] = {}
    used_audio = set()
    for trans in sorted(corpus_dir.rglob("*.trans.txt")):
        for lineno, raw in enumerate(trans.read_bytes().split(b"\n"), 1):
            raw = raw.rstrip(b"\r")
            if lineno == 1 and raw.startswith(b"\xef\xbb\xbf"):
                raw = raw[3:]
            if not raw.strip():
                continue
            where = f"{trans}:{lineno}"
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as e:
                yield Problem(where, f"not UTF-8: byte 0x{raw[e.start]:02X} at column {e.start + 1}")
                continue
            reason, values = check_line(line, _LINE, _ANY_ID)
            if reason:
                if line.split():  # its audio is this line's, listed here with the reason
                    used_audio.update(trans.parent / f"{line.split()[0]}{e}" for e in AUDIO_PREFERENCE)
                yield Problem(where, reason)
                continue
            uid, text = values
            if uid in seen:
                yield Problem(where, f"duplicate utterance id {uid} (first given at {seen[uid]})")
                continue
            seen[uid] = where
            audio = next((p for p in (trans.parent / f"{uid}{e}" for e in AUDIO_PREFERENCE) if p.is_file()), None)
            if audio is None:
                yield Problem(where, f"no audio file {uid}.flac or {uid}.wav in {trans.parent}")
                continue
            used_audio.add(audio)
            yield FolderUtterance(uid, audio, text, uid.split("-", 1)[0],
                                  audio.relative_to(corpus_dir).with_suffix("").as_posix())
    for audio in sorted(iter_audio_files(corpus_dir)):
        if audio not in used_audio:
            yield Problem(str(audio), "not in any *.trans.txt (no transcript)")


def scan_folder(corpus_dir: Path, cuts_path: Path, layout: str = "auto") -> Tuple[FolderScan, Dict[str, str]]:
    """Writes one cut per usable utterance (its recording, one supervision with the raw text and speaker,
    ``custom["path"]``) to ``cuts_path``, streaming. Returns (what was found, {utterance id: raw text}) — the
    texts for the lexicon, the one thing held per utterance."""
    from lhotse import CutSet, Recording, RecordingSet, SupervisionSegment, SupervisionSet
    from lhotse.utils import fastcopy

    corpus_dir = Path(corpus_dir)
    if layout == "auto":
        layout = detect_layout(corpus_dir)
    elif layout not in LAYOUTS:
        raise CorpusError(f"unknown layout {layout!r} (expected auto or one of {' '.join(LAYOUTS)})")
    else:
        detect_layout(corpus_dir)  # the folder's checks
    items = iter_librispeech(corpus_dir) if layout == "librispeech" else iter_mfa(corpus_dir)
    scan, texts, speakers = FolderScan(layout), {}, set()
    with atomic_path(cuts_path) as tmp, CutSet.open_writer(tmp) as writer:
        for item in items:
            if isinstance(item, Problem):
                scan.problems.append(item)
                continue
            reason = check_audio_file(item.audio)
            if reason is None:
                try:
                    rec = Recording.from_file(item.audio, recording_id=item.id)
                except Exception as e:  # lhotse/soundfile/audioread each raise their own types
                    reason = f"unreadable: {type(e).__name__}: {e}"
            if reason is not None:
                scan.problems.append(Problem(str(item.audio), reason))
                continue
            sup = SupervisionSegment(id=item.id, recording_id=item.id, start=0.0, duration=rec.duration,
                                     channel=rec.channel_ids[0] if len(rec.channel_ids) == 1 else rec.channel_ids,
                                     text=item.text, speaker=item.speaker, custom={"path": item.path})
            # As stage 1 makes them: one cut per recording named after it (a stereo file is one MultiCut).
            for cut in CutSet.from_manifests(recordings=RecordingSet.from_recordings([rec]),
                                             supervisions=SupervisionSet.from_segments([sup])):
                writer.write(fastcopy(cut, id=item.id))
            texts[item.id] = item.text
            speakers.add(item.speaker)
            scan.utterances += 1
            scan.audio_seconds += rec.duration
        if not scan.utterances:  # inside the writer: no manifest is left behind
            first = "; ".join(f"{p.where}: {p.reason}" for p in scan.problems[:3])
            raise CorpusError(f"no usable utterance in {corpus_dir} ({layout} layout): {first}")
    scan.speakers = len(speakers)
    return scan, texts


def relative_to_corpus(path: str, corpus_dir: Path) -> str:
    """A problem's file named relative to the corpus (as the output files are)."""
    try:
        return os.path.relpath(path, corpus_dir)
    except ValueError:
        return path
