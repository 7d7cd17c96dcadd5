"""Stage 0: fetch the missing parts of a corpus with lhotse's downloaders.

A part already present is never downloaded again and never touched (lhotse's own downloaders delete a part
directory that lacks their ``.completed`` marker, which would destroy data a user placed there by hand).
"""
import logging
import tarfile
from pathlib import Path
from typing import List, Optional, Sequence

from valle.corpus import librilight
from valle.corpus.base import CorpusError, DownloadError, iter_audio_files
from valle.corpus.known import KNOWN_CORPORA


def part_is_present(corpus_dir: Path, part: str) -> bool:
    return any(iter_audio_files(Path(corpus_dir) / part))


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
        resumable_download(f"{base_url or librilight.URL}/{part}.tar", filename=tar_path)
        with tarfile.open(tar_path) as tar:
            safe_extract(tar, path=corpus_dir)
        (corpus_dir / part / ".completed").touch()


def download_flat_corpus(corpus: str, corpus_dir: Path) -> bool:
    """A flat corpus (divided by a split rule) is fetched whole, unless it has audio already; True if fetched."""
    corpus_dir = Path(corpus_dir)
    if part_is_present(corpus_dir, ""):
        logging.info(f"{corpus}: found in {corpus_dir}, not downloading")
        return False
    info = KNOWN_CORPORA.get(corpus)
    if info is None or info.download is None:
        raise CorpusError(f"no downloader for the flat corpus {corpus!r}; put it at {corpus_dir} and use "
                          f"corpus_source=manual")
    if corpus_dir.name != info.download_dir_name:
        raise CorpusError(f"{corpus} downloads into a folder named {info.download_dir_name}, but the conf names "
                          f"{corpus_dir}")
    if corpus_dir.is_dir() and any(corpus_dir.iterdir()):
        # lhotse's downloaders remove a folder without their .completed marker before extracting.
        raise CorpusError(f"{corpus_dir} has files but no audio; not downloading over it (move it away, or put "
                          f"the corpus there yourself)")
    logging.info(f"{corpus}: downloading into {corpus_dir}")
    corpus_dir.parent.mkdir(parents=True, exist_ok=True)
    before = set(corpus_dir.parent.iterdir())
    try:
        info.download(corpus_dir)
    except (OSError, EOFError, tarfile.TarError) as e:
        for new in set(corpus_dir.parent.iterdir()) - before:
            if new.is_file() and new.stat().st_size == 0:
                new.unlink()  # an archive with nothing to resume from; a partial one is kept for resuming
        raise DownloadError(f"could not download {corpus} ({type(e).__name__}: {e}). Check the network, or get "
                            f"the data yourself from {info.home} and put (or symlink) it at {corpus_dir}") from e
    if not part_is_present(corpus_dir, ""):
        raise DownloadError(f"downloaded {corpus} but found no audio under {corpus_dir}")
    return True


def check_manual_corpus(corpus: str, corpus_dir: Path, parts: Sequence[str], flat: bool = False) -> None:
    """For corpora you provide yourself: every part must be there with audio in it (a flat corpus: audio
    anywhere in its folder)."""
    if flat:
        if not part_is_present(corpus_dir, ""):
            raise CorpusError(f"{corpus}: no audio found under {corpus_dir}; put (or symlink) your corpus there")
        return
    missing = [p for p in parts if not part_is_present(corpus_dir, p)]
    if missing:
        raise CorpusError(f"{corpus}: no audio found for parts {missing} under {corpus_dir}; put (or symlink) "
                          f"your corpus there, one folder per part, or give it a split rule (<corpus>_split) "
                          f"if it has none (see egs/template/conf.sh)")


# ----------------------------------------------------------------------------------------------
# Stage 1
