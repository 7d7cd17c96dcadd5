"""LibriLight (60 k h of unlabeled audiobooks, 16 kHz flac): every file has a .json beside it with the speaker
and the voice-activity segments. Unlabeled: stage 3 decodes it into phone alignments."""
import functools
import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Iterator, Optional, Set, Tuple

from valle.corpus.base import CorpusInfo

URL = "https://dl.fbaipublicfiles.com/librilight/data"


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


def iter_librilight_part(corpus_dir: Path, part: str, exclude: Set[Path], num_jobs: int = 1,
                         chunk: int = 256) -> Iterator[Tuple[object, list]]:
    """(Recording, its voice-activity segments) of every file of ``part`` not in ``exclude``, in sorted path
    order (so each speaker's files are contiguous), parsed as lhotse's LibriLight recipe does, ``chunk`` files
    at a time in ``num_jobs`` threads: memory does not grow with the part (lhotse's parser holds the whole part;
    ``large`` has millions of segments)."""
    from lhotse.recipes.librilight import _parse_utterance

    corpus_dir = Path(corpus_dir)
    paths = sorted(p for p in (corpus_dir / part).rglob("*.flac") if p not in exclude)
    with ThreadPoolExecutor(max(1, num_jobs)) as pool:
        for i in range(0, len(paths), chunk):
            for result in pool.map(functools.partial(_parse_utterance, corpus_dir), paths[i:i + chunk]):
                if result is not None:
                    yield result


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


INFO = CorpusInfo(prepare_librilight, ("small", "medium", "large"), "https://github.com/facebookresearch/libri-light",
                  check_librilight_metadata, iter_librilight_part)
