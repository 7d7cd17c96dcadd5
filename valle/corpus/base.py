"""What every corpus module shares: its description for the registry, and the errors of stages 0-1."""
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional, Sequence, Tuple

from valle.corpus.transcripts import LineFormat

AUDIO_EXTENSIONS = (".flac", ".wav", ".mp3", ".opus", ".ogg", ".m4a", ".sph")


def iter_audio_files(directory: Path):
    """Files under ``directory`` with an audio extension (what makes a part present, and what stage 1 audits)."""
    return (p for p in Path(directory).rglob("*") if p.suffix.lower() in AUDIO_EXTENSIONS and p.is_file())


class CorpusError(RuntimeError):
    """A corpus directory or part that cannot be used; the message names the path."""


class DownloadError(RuntimeError):
    """A download that failed (network, server, disk); the message says what to do instead."""


@dataclass
class CorpusInfo:
    prepare: Callable
    archive_parts: Sequence[str] = field(default_factory=tuple)  # what the downloader offers
    home: str = ""  # where the data comes from, for error messages
    check_file: Optional[Callable[[Path], Optional[str]]] = None  # per-audio-file check beyond decoding
    # Streaming stage 1 (corpora too big for lhotse's in-memory parsers): iter_part(corpus_dir, part,
    # exclude, num_jobs) yields (Recording, [SupervisionSegment]) one audio file at a time, leaving out the
    # files in ``exclude``; used instead of ``prepare`` when set.
    iter_part: Optional[Callable] = None
    # The layout of its transcript/metadata files: stage 1 checks them line by line and gives ``prepare``
    # copies without the lines it cannot use (valle/corpus/transcripts.py).
    transcripts: Tuple[LineFormat, ...] = ()
    # A flat corpus (no part folders, divided by a split rule): downloads the whole corpus into its folder,
    # which must be named download_dir_name.
    download: Optional[Callable[[Path], None]] = None
    download_dir_name: str = ""
