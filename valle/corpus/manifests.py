"""Stage 1: lhotse manifests of any corpus, audited and validated.

``prepare_corpus`` checks the corpus directory, audits every audio file (unreadable, empty or truncated
files are skipped and listed with the reason), runs the corpus's lhotse-style prepare function on what is
readable, fixes and validates the manifests, builds cuts, and writes everything atomically. A corpus with a
streaming parser (``CorpusInfo.iter_part``: LibriLight) is written through lazy writers one audio file at a
time instead, its memory flat in the part's size. (Stage 0,
fetching the parts, is valle/corpus/download.py.)

A new corpus needs one prepare function with lhotse's signature
``prepare(corpus_dir, dataset_parts, output_dir=None, num_jobs=1) -> {part: {"recordings",
"supervisions"}}``, passed as ``"path/to/file.py:function"`` or ``"package.module:function"``.
"""
import functools
import logging
import os
import re
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import soundfile as sf
from tqdm import tqdm

from valle.corpus.base import CorpusError, iter_audio_files
from valle.corpus.known import KNOWN_CORPORA, call_prepare
from valle.corpus.split import SplitError, SplitRule, split_manifests
from valle.corpus.transcripts import LineFormat, TranscriptCheck, check_transcripts
from valle.utils.io import atomic_path, write_text_atomic


# What a supervision without a speaker id gets (prepare_corpus's unknown_speaker).
UNKNOWN_SPEAKER = ("corpus", "utterance")


def check_audio_file(path: Path) -> Optional[str]:
    """None when ``path`` is usable audio, else the reason it is not.

    Reads the header and decodes the last block: a truncated FLAC has an intact header but fails
    (or comes up short) at its end. Formats libsndfile cannot read are reported as unreadable.
    """
    try:
        if path.stat().st_size == 0:
            return "empty file (0 bytes)"
        f = sf.SoundFile(str(path))
    except Exception as e:  # soundfile raises LibsndfileError/RuntimeError/TypeError on bad files
        return f"unreadable: {type(e).__name__}: {e}"
    with f:
        if f.frames <= 0:
            return "no audio samples"
        tail = min(f.frames, 1024)
        try:
            f.seek(f.frames - tail)
            got = len(f.read(tail))
        except Exception as e:
            return f"truncated or corrupt: header says {f.frames} samples, decoding the end failed ({e})"
        if got < tail:
            return f"truncated: header says {f.frames} samples, data ends early"
    return None


def audit_audio(files: Sequence[Path], num_jobs: int = 1,
                extra_check: Optional[Callable[[Path], Optional[str]]] = None) -> List[Tuple[Path, str]]:
    """(file, reason) for every file that is not usable audio (or fails ``extra_check``)."""
    def check(path: Path) -> Optional[str]:
        return check_audio_file(path) or (extra_check(path) if extra_check else None)

    with ThreadPoolExecutor(max(1, num_jobs)) as pool:
        reasons = list(tqdm(pool.map(check, files), total=len(files), desc="Checking audio", leave=False))
    return [(f, r) for f, r in zip(files, reasons) if r is not None]


def _shadow_tree(corpus_dir: Path, parts: Sequence[str], exclude: set, root: Path,
                 replace: Dict[Path, str]) -> Path:
    """A copy of ``corpus_dir`` made of symlinks, without the excluded files (the bad audio), and with the
    files in ``replace`` written with the given text (transcripts without their bad lines)."""
    shadow = root / corpus_dir.name

    def place(src: Path, dst: Path) -> None:
        if src in replace:
            dst.write_text(replace[src], encoding="utf-8")
        elif src not in exclude:
            os.symlink(src.resolve(), dst)

    if "" not in parts:  # a flat corpus's one part "" is the whole folder, top-level files included
        for entry in corpus_dir.iterdir():  # top-level files (e.g. SPEAKERS.TXT) and the parts
            if entry.is_file():
                shadow.mkdir(parents=True, exist_ok=True)
                place(entry, shadow / entry.name)
    for part in parts:
        for dirpath, _, filenames in os.walk(corpus_dir / part, followlinks=True):
            rel = Path(dirpath).relative_to(corpus_dir)
            (shadow / rel).mkdir(parents=True, exist_ok=True)
            for name in filenames:
                place(Path(dirpath) / name, shadow / rel / name)
    return shadow


@dataclass
class PartStats:
    recordings: int
    supervisions: int
    speakers: int
    hours: float


def prepare_corpus(corpus: str, corpus_dir: Path, parts: Sequence[str], output_dir: Path,
                   prepare_fn: Optional[Callable] = None, num_jobs: int = 1,
                   transcripts: Optional[Sequence[LineFormat]] = None, split: Optional[SplitRule] = None,
                   unknown_speaker: str = "corpus") -> Dict[str, PartStats]:
    """Stage 1 for one corpus. Writes, per part, under ``output_dir``:
    ``<corpus>_recordings_<part>.jsonl.gz``, ``<corpus>_supervisions_<part>.jsonl.gz``,
    ``cuts_<part>.jsonl.gz``; and ``skipped_<corpus>.tsv`` (file or ``file:line``, reason) for audio and
    transcript lines left out. ``transcripts``: the layout of the corpus's transcript files (default: the
    known corpus's), checked line by line before ``prepare_fn`` reads them. ``split``: the corpus is flat (no
    part folders) and this rule divides it into ``parts``. ``unknown_speaker``: the speaker of a supervision
    that has none, ``corpus`` (one speaker named after the corpus: a single-reader corpus) or ``utterance``
    (each its own, as Kaldi's utt2spk fallback: stage 3 then normalizes features per utterance, and stage 7
    finds no second utterance of a test speaker to prompt with).
    """
    from lhotse import CutSet
    from lhotse.qa import fix_manifests, validate_recordings_and_supervisions
    from lhotse.utils import fastcopy

    corpus_dir, output_dir = Path(corpus_dir), Path(output_dir)
    extra_check = KNOWN_CORPORA[corpus].check_file if corpus in KNOWN_CORPORA else None
    # A known corpus with a streaming parser uses it (unless another prepare function is given).
    iter_part = KNOWN_CORPORA[corpus].iter_part if prepare_fn is None and corpus in KNOWN_CORPORA else None
    if prepare_fn is None:
        if corpus not in KNOWN_CORPORA:
            raise CorpusError(f"unknown corpus {corpus!r} and no prepare function given "
                              f"(known: {sorted(KNOWN_CORPORA)})")
        prepare_fn = KNOWN_CORPORA[corpus].prepare
        if transcripts is None:
            transcripts = KNOWN_CORPORA[corpus].transcripts
    if not corpus_dir.is_dir():
        raise CorpusError(f"corpus directory {corpus_dir} does not exist (stage 0 makes or downloads it)")
    if not parts:
        raise CorpusError(f"no parts of {corpus} requested")
    if unknown_speaker not in UNKNOWN_SPEAKER:
        raise CorpusError(f"{corpus}_unknown_speaker={unknown_speaker!r}: expected one of {' '.join(UNKNOWN_SPEAKER)}")
    if split is not None:
        try:
            split.check_parts(parts, corpus)  # before any audio is read
        except SplitError as e:
            raise CorpusError(str(e)) from e
    # A flat corpus is read as one part "", the whole folder, and divided afterwards.
    source_parts = [""] if split is not None else list(parts)
    files = []
    for part in source_parts:
        part_files = sorted(iter_audio_files(corpus_dir / part))
        if not part_files:
            raise CorpusError(f"{corpus}{'/' + part if part else ''}: no audio files under {corpus_dir / part}"
                              + ("" if part else " (a flat corpus, divided by its split rule)"))
        files.extend(part_files)

    bad = audit_audio(files, num_jobs, extra_check)
    bad_paths = {p for p, _ in bad}
    for path, reason in bad:
        logging.warning(f"skipping {path}: {reason}")
    skipped: List[Tuple[str, str]] = [(str(p), r) for p, r in bad]

    if iter_part is not None:
        if split is not None:
            raise CorpusError(f"{corpus} is read part folder by part folder; it cannot take a split rule")
        stats, used = {}, set()
        for part in parts:
            stats[part] = _prepare_part_streaming(corpus, corpus_dir, part, output_dir, iter_part, bad_paths,
                                                  num_jobs, used)
        _write_skipped(corpus, files, bad_paths, used, skipped, output_dir, {})
        return stats

    if transcripts:
        lines = check_transcripts(corpus_dir, source_parts, transcripts, bad_paths)
        skipped.extend(lines.skipped)
    else:
        lines = TranscriptCheck()
        logging.warning(f"{corpus}: no transcript layout declared (TRANSCRIPTS in the prepare function's file), "
                        f"so its lines are not checked; a malformed line can stop a part")
    with tempfile.TemporaryDirectory(prefix="valle_shadow_") as tmp:
        source_dir = corpus_dir
        if bad or lines.cleaned or lines.dropped:
            if bad:
                logging.warning(f"{len(bad)} of {len(files)} audio files are unusable; "
                                f"preparing {corpus} without them")
            if lines.skipped:
                logging.warning(f"{len(lines.skipped)} transcript lines of {corpus} are unusable; "
                                f"preparing it without them ({lines.lines} lines kept)")
            source_dir = _shadow_tree(corpus_dir, source_parts, bad_paths | lines.dropped, Path(tmp), lines.cleaned)
        try:
            manifests = call_prepare(prepare_fn, source_dir, None if split is not None else parts, num_jobs)
        except CorpusError:
            raise
        except Exception as e:
            raise CorpusError(f"the prepare function failed on {corpus_dir}: {type(e).__name__}: {e}"
                              + ("" if transcripts else " (declare TRANSCRIPTS so that stage 1 skips bad lines "
                                 "before it runs)")) from e
        if split is not None:  # speakers first: a rule may hold out speakers
            whole = manifests[""]
            try:
                manifests = split_manifests(whole["recordings"],
                                            _fill_speakers(whole["supervisions"], corpus, unknown_speaker),
                                            split, parts, corpus)
            except SplitError as e:
                raise CorpusError(f"{corpus}: {e}") from e

        stats, used = {}, set()
        for part in parts:
            if part not in manifests or len(manifests[part]["recordings"]) == 0:
                raise CorpusError(f"{corpus}/{part}: the prepare function returned no recordings "
                                  f"from {corpus_dir / part} (is the layout right?)")
            recordings = manifests[part]["recordings"]
            supervisions = _fill_speakers(manifests[part]["supervisions"], corpus, unknown_speaker)
            if source_dir != corpus_dir:  # point the sources back at the real corpus, not the symlinks
                recordings = recordings.map(functools.partial(_rebase_sources, old_root=source_dir,
                                                              new_root=corpus_dir))
            recordings, supervisions = fix_manifests(recordings, supervisions)
            validate_recordings_and_supervisions(recordings, supervisions)
            # One cut per recording (LibriLight files stay whole), named after it.
            cuts = CutSet.from_manifests(recordings=recordings, supervisions=supervisions)
            cuts = CutSet.from_cuts(fastcopy(c, id=c.recording_id) for c in cuts)
            with atomic_path(output_dir / f"{corpus}_recordings_{part}.jsonl.gz") as f:
                recordings.to_file(f)
            with atomic_path(output_dir / f"{corpus}_supervisions_{part}.jsonl.gz") as f:
                supervisions.to_file(f)
            with atomic_path(output_dir / f"cuts_{part}.jsonl.gz") as f:
                cuts.to_file(f)
            for r in recordings:
                used.update(os.path.realpath(s.source) for s in r.sources if s.type == "file")
            stats[part] = PartStats(
                recordings=len(recordings), supervisions=len(supervisions),
                speakers=len({s.speaker for s in supervisions}),
                hours=sum(r.duration for r in recordings) / 3600)

    _write_skipped(corpus, files, bad_paths, used, skipped, output_dir, lines.audio_reasons)
    return stats


def _fill_speakers(supervisions, corpus: str, unknown_speaker: str):
    """Supervisions without a speaker get one (``prepare_corpus``'s ``unknown_speaker``), said in the log: every
    later stage needs speakers (stage 3's feature normalization, stage 5's prompts, stage 7's test speakers)."""
    from lhotse import SupervisionSet
    from lhotse.utils import fastcopy

    missing = sum(1 for s in supervisions if not s.speaker)
    if not missing:
        return supervisions
    logging.warning(f"{corpus}: {missing} of {len(supervisions)} supervisions have no speaker id; "
                    + (f"they are all one speaker, {corpus!r} ({corpus}_unknown_speaker=corpus: a single-reader "
                       f"corpus; set it to 'utterance' when they are many speakers)" if unknown_speaker == "corpus"
                       else f"each is its own speaker ({corpus}_unknown_speaker=utterance): features are "
                            f"normalized per utterance, and such a speaker cannot be a test speaker"))
    return SupervisionSet.from_segments(
        s if s.speaker else fastcopy(s, speaker=corpus if unknown_speaker == "corpus" else s.id) for s in supervisions)


def _write_skipped(corpus: str, files, bad_paths: set, used: set, skipped: list, output_dir: Path,
                   audio_reasons: Dict[Path, str]) -> None:
    unused = [f for f in files if f not in bad_paths and os.path.realpath(f) not in used]
    for f in unused:
        skipped.append((str(f), audio_reasons.get(f, "not in the corpus's transcripts/metadata (no supervision)")))
    if unused:
        logging.warning(f"{len(unused)} readable audio files of {corpus} are in no manifest "
                        f"(no transcript or metadata), e.g. {unused[0]}")
    write_text_atomic(output_dir / f"skipped_{corpus}.tsv",
                      "".join(f"{p}\t{r}\n" for p, r in skipped))


def _prepare_part_streaming(corpus: str, corpus_dir: Path, part: str, output_dir: Path, iter_part: Callable,
                            exclude: set, num_jobs: int, used: set) -> PartStats:
    """One part through lazy writers, one audio file at a time: recordings, supervisions and cuts (one cut per
    recording, named after it), each file fixed and validated as the in-memory path does for a whole part."""
    from lhotse import CutSet, RecordingSet, SupervisionSet
    from lhotse.qa import fix_manifests, validate_recordings_and_supervisions
    from lhotse.utils import fastcopy

    n_rec = n_sup = 0
    seconds, speakers = 0.0, set()
    paths = {k: output_dir / f"{corpus}_{k}_{part}.jsonl.gz" for k in ("recordings", "supervisions")}
    paths["cuts"] = output_dir / f"cuts_{part}.jsonl.gz"
    with atomic_path(paths["recordings"]) as rec_tmp, atomic_path(paths["supervisions"]) as sup_tmp, \
            atomic_path(paths["cuts"]) as cut_tmp, RecordingSet.open_writer(rec_tmp) as rec_w, \
            SupervisionSet.open_writer(sup_tmp) as sup_w, CutSet.open_writer(cut_tmp) as cut_w:
        for recording, segments in tqdm(iter_part(corpus_dir, part, exclude, num_jobs), desc=f"{corpus}/{part}",
                                        mininterval=5):
            recs, sups = fix_manifests(RecordingSet.from_recordings([recording]), SupervisionSet.from_segments(segments))
            validate_recordings_and_supervisions(recs, sups)
            for r in recs:
                rec_w.write(r)
                n_rec, seconds = n_rec + 1, seconds + r.duration
                used.update(os.path.realpath(s.source) for s in r.sources if s.type == "file")
            for sup in sups:
                sup_w.write(sup)
                n_sup += 1
                speakers.add(sup.speaker)
            for cut in CutSet.from_manifests(recordings=recs, supervisions=sups):
                cut_w.write(fastcopy(cut, id=cut.recording_id))
    if n_rec == 0:
        for p in paths.values():
            p.unlink(missing_ok=True)
        raise CorpusError(f"{corpus}/{part}: no recordings from {corpus_dir / part} (is the layout right?)")
    return PartStats(recordings=n_rec, supervisions=n_sup, speakers=len(speakers), hours=seconds / 3600)


def _rebase_sources(recording, old_root: Path, new_root: Path):
    from lhotse.utils import fastcopy

    sources = []
    for s in recording.sources:
        path = s.source
        if s.type == "file" and path.startswith(str(old_root)):
            path = str(new_root) + path[len(str(old_root)):]
        sources.append(fastcopy(s, source=path))
    return fastcopy(recording, sources=sources)


def summarize_manifests(manifest_dir: Path) -> str:
    """A table of every prepared part: recordings, supervisions, speakers, hours, skipped files."""
    from lhotse import load_manifest_lazy

    manifest_dir = Path(manifest_dir)
    rows = []
    for rec_path in sorted(manifest_dir.glob("*_recordings_*.jsonl.gz")):
        corpus, part = rec_path.name[: -len(".jsonl.gz")].split("_recordings_", 1)
        n_rec = n_sup = 0
        rec_s = sup_s = 0.0
        speakers = set()  # memory: one entry per speaker
        for r in load_manifest_lazy(rec_path):
            n_rec, rec_s = n_rec + 1, rec_s + r.duration
        for s in load_manifest_lazy(manifest_dir / f"{corpus}_supervisions_{part}.jsonl.gz"):
            n_sup, sup_s = n_sup + 1, sup_s + s.duration
            speakers.add(s.speaker)
        rows.append((corpus, part, n_rec, n_sup, len(speakers), rec_s / 3600, sup_s / 3600))
    skipped = {}  # corpus -> (audio files, transcript lines)
    for path in manifest_dir.glob("skipped_*.tsv"):
        where = [line.split("\t", 1)[0] for line in path.read_text().splitlines() if line]
        n_lines = sum(1 for w in where if re.search(r":\d+$", w))
        skipped[path.stem[len("skipped_"):]] = (len(where) - n_lines, n_lines)
    header = f"{'corpus':<12} {'part':<16} {'recordings':>10} {'segments':>9} {'speakers':>8} {'hours':>9} {'speech h':>9}"
    lines = [header, "-" * len(header)]
    for corpus, part, n_rec, n_sup, n_spk, hours, speech in rows:
        lines.append(f"{corpus:<12} {part:<16} {n_rec:>10} {n_sup:>9} {n_spk:>8} {hours:>9.3f} {speech:>9.3f}")
    lines.append("-" * len(header))
    lines.append(f"{'total':<29} {sum(r[2] for r in rows):>10} {sum(r[3] for r in rows):>9} "
                 f"{'':>8} {sum(r[5] for r in rows):>9.3f} {sum(r[6] for r in rows):>9.3f}")
    for corpus, (n_files, n_lines) in sorted(skipped.items()):
        lines.append(f"skipped audio files of {corpus}: {n_files}, transcript lines: {n_lines}"
                     + (f" (listed in skipped_{corpus}.tsv)" if n_files or n_lines else ""))
    return "\n".join(lines) + "\n"
