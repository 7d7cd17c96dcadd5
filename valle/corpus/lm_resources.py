"""Stage 0: LibriSpeech's language-model resources (openslr resource 11), fetched like the corpora.

The word n-grams stage 3 decodes LibriLight with (``3-gram.pruned.1e-7.arpa.gz``, Kaldi's ``tgmed``) and the
lexicon stage 2 takes pronunciations from for words CMUdict lacks (``librispeech-lexicon.txt``). Each file is
checked against the size Kaldi's ``egs/librispeech/s5/local/download_lm.sh`` expects, and a gzip file is read
through to its CRC. A file already there is used as it is when it checks out, and never touched when it does
not (the error says what to do).
"""
import logging
from pathlib import Path
from typing import Dict, List, Optional, Sequence

from valle.corpus.base import CorpusError, DownloadError
from valle.utils.download import FetchError, check_file, fetch_file, part_path

OPENSLR_11 = "https://www.openslr.org/resources/11"
# Bytes, as in Kaldi's download_lm.sh.
LIBRISPEECH_LM_FILES: Dict[str, int] = {
    "3-gram.arpa.gz": 759636181,
    "3-gram.pruned.1e-7.arpa.gz": 34094057,
    "3-gram.pruned.3e-7.arpa.gz": 13654242,
    "4-gram.arpa.gz": 1355172078,
    "librispeech-vocab.txt": 1737588,
    "librispeech-lexicon.txt": 5627646,
}


def _unknown(names: Sequence[str], sizes: Dict[str, int]) -> None:
    unknown = [n for n in names if n not in sizes]
    if unknown:
        raise CorpusError(f"unknown LM files {unknown}; openslr 11 has {sorted(sizes)}")


def _present(path: Path, size: int) -> bool:
    """True when ``path`` is a complete copy; False when it is absent; CorpusError when it is there but wrong."""
    if not path.is_file():
        return False
    problem = check_file(path, size)
    if problem is not None:
        raise CorpusError(f"{path} is there but is not LibriSpeech's ({problem}); not touching it. Remove it to "
                          f"download it again, or point the setting that uses it at another file")
    return True


def download_lm_files(lm_dir: Path, names: Sequence[str], base_url: Optional[str] = None,
                      sizes: Dict[str, int] = LIBRISPEECH_LM_FILES) -> List[str]:
    """Fetch the files ``names`` that ``lm_dir`` lacks; return those fetched. A failed download keeps its partial
    file (``<name>.part``) and the next call resumes it."""
    lm_dir = Path(lm_dir)
    _unknown(names, sizes)
    fetched = []
    for name in names:
        dest = lm_dir / name
        if _present(dest, sizes[name]):
            logging.info("%s: present and complete, not downloading", dest)
            continue
        url = f"{(base_url or OPENSLR_11).rstrip('/')}/{name}"
        resume = part_path(dest)
        logging.info("%s: downloading %s (%.1f MB)%s", dest, url, sizes[name] / 1e6,
                     f", resuming after {resume.stat().st_size} bytes" if resume.is_file() else "")
        try:
            fetch_file(url, dest, sizes[name])
        except FetchError as e:
            raise DownloadError(f"could not download {name}: {e}. Check the network, or get it yourself from "
                                f"{OPENSLR_11} and put it at {dest}") from e
        fetched.append(name)
    return fetched


def check_manual_lm_files(lm_dir: Path, names: Sequence[str], sizes: Dict[str, int] = LIBRISPEECH_LM_FILES) -> None:
    """For corpus_source=manual: every file must be there, complete."""
    _unknown(names, sizes)
    missing = [n for n in names if not _present(Path(lm_dir) / n, sizes[n])]
    if missing:
        raise CorpusError(f"LM files {missing} are not in {lm_dir}; get them from {OPENSLR_11} and put them there")
