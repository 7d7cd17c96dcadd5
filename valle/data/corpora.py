"""Corpora the recipe knows: download (stage 0) and lhotse manifests (stage 1).

Every corpus goes through the same two functions:

* ``download_corpus``: fetch the missing parts with lhotse's downloaders. A part already present
  is never downloaded again and never touched (lhotse's own downloaders delete a part directory
  that lacks their ``.completed`` marker, which would destroy data a user placed there by hand).
* ``prepare_corpus``: check the corpus directory, audit every audio file (unreadable, empty or
  truncated files are skipped and listed with the reason), run the corpus's lhotse-style prepare
  function on what is readable, fix and validate the manifests, build cuts, and write everything
  atomically.

A new corpus needs one prepare function with lhotse's signature
``prepare(corpus_dir, dataset_parts, output_dir=None, num_jobs=1) -> {part: {"recordings",
"supervisions"}}``, passed as ``"path/to/file.py:function"`` or ``"package.module:function"``.
"""
import functools
import importlib
import importlib.util
import json
import logging
import os
import tarfile
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import soundfile as sf
from tqdm import tqdm

from valle.utils.io import atomic_path, write_text_atomic

AUDIO_EXTENSIONS = (".flac", ".wav", ".mp3", ".opus", ".ogg", ".m4a", ".sph")


class CorpusError(RuntimeError):
    """A corpus directory or part that cannot be used; the message names the path."""


class DownloadError(RuntimeError):
    """A download that failed (network, server, disk); the message says what to do instead."""


# ----------------------------------------------------------------------------------------------
# Corpus-specific prepare functions (thin adapters over lhotse's recipes).

def prepare_librispeech(corpus_dir, dataset_parts, output_dir=None, num_jobs=1):
    from lhotse.recipes import prepare_librispeech as lhotse_prepare

    return lhotse_prepare(corpus_dir, dataset_parts=list(dataset_parts), output_dir=None, num_jobs=num_jobs)


def prepare_librilight(corpus_dir, dataset_parts, output_dir=None, num_jobs=1):
    # lhotse's public prepare_librilight always walks small/medium/large and asserts on an empty
    # one, so a user with only "small" could not prepare it. Its per-subset parser is what it
    # runs for each subset; we call that for the requested subsets only.
    from lhotse.recipes import librilight

    manifests = {}
    for part in dataset_parts:
        recordings, supervisions = librilight._prepare_subset(part, corpus_dir, num_jobs)
        manifests[part] = {"recordings": recordings, "supervisions": supervisions}
    return manifests


def prepare_libritts(corpus_dir, dataset_parts, output_dir=None, num_jobs=1):
    from lhotse.recipes import prepare_libritts as lhotse_prepare

    return lhotse_prepare(corpus_dir, dataset_parts=list(dataset_parts), output_dir=None, num_jobs=num_jobs)


def check_librilight_metadata(audio_path: Path) -> Optional[str]:
    """LibriLight keeps speaker and voice activity in a .json next to each .flac."""
    meta = audio_path.with_suffix(".json")
    try:
        info = json.loads(meta.read_text(encoding="utf-8"))
        info["speaker"], info["voice_activity"]
    except FileNotFoundError:
        return f"no metadata file {meta.name}"
    except (ValueError, KeyError, TypeError) as e:
        return f"bad metadata {meta.name}: {type(e).__name__}: {e}"
    return None


@dataclass
class CorpusInfo:
    prepare: Callable
    archive_parts: Sequence[str] = field(default_factory=tuple)  # what the downloader offers
    home: str = ""  # where the data comes from, for error messages
    check_file: Optional[Callable[[Path], Optional[str]]] = None  # per-audio-file check beyond decoding


KNOWN_CORPORA: Dict[str, CorpusInfo] = {
    "librispeech": CorpusInfo(prepare_librispeech, (
        "dev-clean", "dev-other", "test-clean", "test-other", "train-clean-100", "train-clean-360",
        "train-other-500"), "https://www.openslr.org/12"),
    "librilight": CorpusInfo(prepare_librilight, ("small", "medium", "large"),
                             "https://github.com/facebookresearch/libri-light", check_librilight_metadata),
    "libritts": CorpusInfo(prepare_libritts, (
        "dev-clean", "dev-other", "test-clean", "test-other", "train-clean-100", "train-clean-360",
        "train-other-500"), "https://www.openslr.org/60"),
}
LIBRILIGHT_URL = "https://dl.fbaipublicfiles.com/librilight/data"


def load_prepare_fn(spec: str) -> Callable:
    """``"path/to/file.py:function"`` or ``"package.module:function"`` -> the function."""
    if ":" not in spec:
        raise ValueError(f"prepare function {spec!r} must look like 'file.py:function' or 'module:function'")
    where, name = spec.rsplit(":", 1)
    if where.endswith(".py"):
        if not Path(where).is_file():
            raise FileNotFoundError(f"prepare function file {where} does not exist")
        module_spec = importlib.util.spec_from_file_location(Path(where).stem, where)
        module = importlib.util.module_from_spec(module_spec)
        module_spec.loader.exec_module(module)
    else:
        module = importlib.import_module(where)
    fn = getattr(module, name, None)
    if not callable(fn):
        raise AttributeError(f"{where} has no function {name!r}")
    return fn


# ----------------------------------------------------------------------------------------------
# Stage 0

def _iter_audio_files(directory: Path):
    return (p for p in Path(directory).rglob("*") if p.suffix.lower() in AUDIO_EXTENSIONS and p.is_file())


def part_is_present(corpus_dir: Path, part: str) -> bool:
    return any(_iter_audio_files(Path(corpus_dir) / part))


def download_corpus(corpus: str, corpus_dir: Path, parts: Sequence[str], base_url: Optional[str] = None) -> List[str]:
    """Download the parts of ``corpus`` that are not in ``corpus_dir`` yet; return those fetched."""
    corpus_dir = Path(corpus_dir)
    if corpus not in KNOWN_CORPORA:
        raise CorpusError(f"no downloader for corpus {corpus!r}; put it at {corpus_dir} and use corpus_source=manual")
    info = KNOWN_CORPORA[corpus]
    unknown = [p for p in parts if p not in info.archive_parts]
    if unknown:
        raise CorpusError(f"{corpus} has no parts {unknown}; available: {list(info.archive_parts)}")
    missing = []
    for part in parts:
        if part_is_present(corpus_dir, part):
            logging.info(f"{corpus}/{part}: found in {corpus_dir / part}, not downloading")
        else:
            missing.append(part)
    for part in missing:
        logging.info(f"{corpus}/{part}: downloading into {corpus_dir}")
        archive = _archive_path(corpus, corpus_dir, part)
        try:
            _download_part(corpus, corpus_dir, part, base_url)
        except (OSError, EOFError, tarfile.TarError) as e:  # URLError, HTTPError, ConnectionError are OSErrors
            if archive.is_file() and archive.stat().st_size == 0:
                archive.unlink()  # nothing to resume from; a non-empty partial archive is kept for resuming
            raise DownloadError(
                f"could not download {corpus}/{part} ({type(e).__name__}: {e}). Check the network, or get the "
                f"data yourself from {info.home} and put (or symlink) it at {corpus_dir / part}; parts "
                f"already there are used as they are.") from e
        if not part_is_present(corpus_dir, part):
            raise DownloadError(f"downloaded {corpus}/{part} but found no audio under {corpus_dir / part}")
    return missing


def _archive_path(corpus: str, corpus_dir: Path, part: str) -> Path:
    """Where the downloader keeps the archive of ``part`` (resumed from there after a failure)."""
    if corpus == "librilight":
        return corpus_dir / f"{part}.tar"
    return corpus_dir.parent / f"{part}.tar.gz"


def _download_part(corpus: str, corpus_dir: Path, part: str, base_url: Optional[str]) -> None:
    # lhotse's downloaders write <target>/LibriSpeech and <target>/LibriTTS.
    if corpus in ("librispeech", "libritts"):
        expected = {"librispeech": "LibriSpeech", "libritts": "LibriTTS"}[corpus]
        if corpus_dir.name != expected:
            raise CorpusError(f"{corpus} downloads into a folder named {expected}, but the conf names {corpus_dir}")
        from lhotse.recipes import download_librispeech, download_libritts

        kwargs = {"base_url": base_url} if base_url else {}
        download = download_librispeech if corpus == "librispeech" else download_libritts
        download(target_dir=corpus_dir.parent, dataset_parts=[part], **kwargs)
    elif corpus == "librilight":
        # lhotse has no LibriLight downloader; same idiom: resumable tar download, safe extraction,
        # then a .completed marker.
        from lhotse.utils import resumable_download, safe_extract

        corpus_dir.mkdir(parents=True, exist_ok=True)
        tar_path = _archive_path(corpus, corpus_dir, part)
        resumable_download(f"{base_url or LIBRILIGHT_URL}/{part}.tar", filename=tar_path)
        with tarfile.open(tar_path) as tar:
            safe_extract(tar, path=corpus_dir)
        (corpus_dir / part / ".completed").touch()


def check_manual_corpus(corpus: str, corpus_dir: Path, parts: Sequence[str]) -> None:
    """For corpora you provide yourself: every part must be there with audio in it."""
    missing = [p for p in parts if not part_is_present(corpus_dir, p)]
    if missing:
        raise CorpusError(f"{corpus}: no audio found for parts {missing} under {corpus_dir}; put (or symlink) "
                          f"your corpus there, one folder per part (see egs/template/conf.sh)")


# ----------------------------------------------------------------------------------------------
# Stage 1

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


def _shadow_tree(corpus_dir: Path, parts: Sequence[str], exclude: set, root: Path) -> Path:
    """A copy of ``corpus_dir`` made of symlinks, without the excluded files (the bad audio)."""
    shadow = root / corpus_dir.name
    for entry in corpus_dir.iterdir():  # top-level files (e.g. SPEAKERS.TXT) and the parts
        if entry.is_file():
            shadow.mkdir(parents=True, exist_ok=True)
            os.symlink(entry.resolve(), shadow / entry.name)
    for part in parts:
        for dirpath, _, filenames in os.walk(corpus_dir / part, followlinks=True):
            rel = Path(dirpath).relative_to(corpus_dir)
            (shadow / rel).mkdir(parents=True, exist_ok=True)
            for name in filenames:
                src = Path(dirpath) / name
                if src not in exclude:
                    os.symlink(src.resolve(), shadow / rel / name)
    return shadow


@dataclass
class PartStats:
    recordings: int
    supervisions: int
    speakers: int
    hours: float


def prepare_corpus(corpus: str, corpus_dir: Path, parts: Sequence[str], output_dir: Path,
                   prepare_fn: Optional[Callable] = None, num_jobs: int = 1) -> Dict[str, PartStats]:
    """Stage 1 for one corpus. Writes, per part, under ``output_dir``:
    ``<corpus>_recordings_<part>.jsonl.gz``, ``<corpus>_supervisions_<part>.jsonl.gz``,
    ``cuts_<part>.jsonl.gz``; and ``skipped_<corpus>.tsv`` (file, reason) for audio left out.
    """
    from lhotse import CutSet
    from lhotse.qa import fix_manifests, validate_recordings_and_supervisions
    from lhotse.utils import fastcopy

    corpus_dir, output_dir = Path(corpus_dir), Path(output_dir)
    extra_check = KNOWN_CORPORA[corpus].check_file if corpus in KNOWN_CORPORA else None
    if prepare_fn is None:
        if corpus not in KNOWN_CORPORA:
            raise CorpusError(f"unknown corpus {corpus!r} and no prepare function given "
                              f"(known: {sorted(KNOWN_CORPORA)})")
        prepare_fn = KNOWN_CORPORA[corpus].prepare
    if not corpus_dir.is_dir():
        raise CorpusError(f"corpus directory {corpus_dir} does not exist (stage 0 makes or downloads it)")
    if not parts:
        raise CorpusError(f"no parts of {corpus} requested")
    files = []
    for part in parts:
        part_files = sorted(_iter_audio_files(corpus_dir / part))
        if not part_files:
            raise CorpusError(f"{corpus}/{part}: no audio files under {corpus_dir / part}")
        files.extend(part_files)

    bad = audit_audio(files, num_jobs, extra_check)
    bad_paths = {p for p, _ in bad}
    for path, reason in bad:
        logging.warning(f"skipping {path}: {reason}")
    skipped: List[Tuple[str, str]] = [(str(p), r) for p, r in bad]

    with tempfile.TemporaryDirectory(prefix="valle_shadow_") as tmp:
        source_dir = corpus_dir
        if bad:
            logging.warning(f"{len(bad)} of {len(files)} audio files are unusable; preparing {corpus} without them")
            source_dir = _shadow_tree(corpus_dir, parts, bad_paths, Path(tmp))
        manifests = prepare_fn(source_dir, dataset_parts=list(parts), output_dir=None, num_jobs=num_jobs)

        stats, used = {}, set()
        for part in parts:
            if part not in manifests or len(manifests[part]["recordings"]) == 0:
                raise CorpusError(f"{corpus}/{part}: the prepare function returned no recordings "
                                  f"from {corpus_dir / part} (is the layout right?)")
            recordings, supervisions = manifests[part]["recordings"], manifests[part]["supervisions"]
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

    unused = [f for f in files if f not in bad_paths and os.path.realpath(f) not in used]
    for f in unused:
        skipped.append((str(f), "not in the corpus's transcripts/metadata (no supervision)"))
    if unused:
        logging.warning(f"{len(unused)} readable audio files of {corpus} are in no manifest "
                        f"(no transcript or metadata), e.g. {unused[0]}")
    write_text_atomic(output_dir / f"skipped_{corpus}.tsv",
                      "".join(f"{p}\t{r}\n" for p, r in skipped))
    return stats


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
        recordings = load_manifest_lazy(rec_path)
        supervisions = load_manifest_lazy(manifest_dir / f"{corpus}_supervisions_{part}.jsonl.gz")
        durations = [r.duration for r in recordings]
        sups = [(s.speaker, s.duration) for s in supervisions]
        rows.append((corpus, part, len(durations), len(sups), len({spk for spk, _ in sups}),
                     sum(durations) / 3600, sum(d for _, d in sups) / 3600))
    skipped = {}
    for path in manifest_dir.glob("skipped_*.tsv"):
        skipped[path.stem[len("skipped_"):]] = sum(1 for line in path.read_text().splitlines() if line)
    header = f"{'corpus':<12} {'part':<16} {'recordings':>10} {'segments':>9} {'speakers':>8} {'hours':>9} {'speech h':>9}"
    lines = [header, "-" * len(header)]
    for corpus, part, n_rec, n_sup, n_spk, hours, speech in rows:
        lines.append(f"{corpus:<12} {part:<16} {n_rec:>10} {n_sup:>9} {n_spk:>8} {hours:>9.3f} {speech:>9.3f}")
    lines.append("-" * len(header))
    lines.append(f"{'total':<29} {sum(r[2] for r in rows):>10} {sum(r[3] for r in rows):>9} "
                 f"{'':>8} {sum(r[5] for r in rows):>9.3f} {sum(r[6] for r in rows):>9.3f}")
    for corpus, n in sorted(skipped.items()):
        lines.append(f"skipped audio files of {corpus}: {n}" + (f" (listed in skipped_{corpus}.tsv)" if n else ""))
    return "\n".join(lines) + "\n"
