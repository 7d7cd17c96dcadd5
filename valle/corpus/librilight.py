"""LibriLight (60 k h of unlabeled audiobooks, 16 kHz flac): every file has a .json beside it with the speaker
and the voice-activity segments. Unlabeled: stage 3 decodes it into phone alignments."""
import json
from pathlib import Path
from typing import Optional

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
                  check_librilight_metadata)
