"""Kaldi's ``split_data.sh`` and ``combine_data.sh`` for lhotse cut manifests, streaming.

A manifest is split into N pieces with every speaker in one piece (so per-speaker statistics such as
CMVN are the same whatever N is), contiguous in the manifest's order of speakers and balanced by audio
duration. Joining the pieces 1..N gives the manifest back, in its order when its speakers are contiguous
(LibriSpeech's and LibriLight's are). Memory: one entry per speaker, never one per cut.
"""
import contextlib
import gzip
import json
from pathlib import Path
from typing import Callable, Dict, Iterable, Iterator, List, Optional, Sequence

from valle.utils.io import atomic_path


def iter_cut_fields(path: Path) -> Iterator[dict]:
    """Each cut of a manifest as its raw JSON dict: for passes that need a field or two (duration, speaker),
    several times faster than building lhotse objects with all their supervisions and alignments."""
    path = Path(path)
    if path.stat().st_size == 0:
        return
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as f:
        for line in f:
            if line.strip():
                yield json.loads(line)


def field_speaker(d: dict) -> str:
    """The speaker a cut (a raw cut dict) is split by: its first supervision's, else the cut id (a speaker of
    its own)."""
    for sup in d.get("supervisions") or []:
        if sup.get("speaker"):
            return sup["speaker"]
    return d["id"]


def iter_cuts(path: Path) -> Iterator:
    """The cuts of a manifest, read lazily (an empty manifest file is an empty stream)."""
    from lhotse import CutSet

    path = Path(path)
    if path.stat().st_size == 0:
        return iter(())
    return iter(CutSet.from_jsonl_lazy(path))


def assign_speakers(durations: Dict[str, float], num_splits: int) -> Dict[str, int]:
    """Speaker -> piece (0-based): speakers in the given order, cut where the running duration passes each
    1/N of the total, so that the pieces hold about equal audio."""
    total = sum(durations.values()) or 1.0
    out, acc = {}, 0.0
    for spk, d in durations.items():
        # A speaker goes to the piece its midpoint falls in.
        out[spk] = min(num_splits - 1, int((acc + d / 2) / total * num_splits))
        acc += d
    return out


def split_cuts(path: Path, num_splits: int, out_paths: Sequence[Path],
               transform: Optional[Callable] = None) -> List[int]:
    """Split the manifest at ``path`` into ``out_paths`` (one per piece, written atomically; a piece may be
    empty when there are fewer speakers than pieces), each cut passed through ``transform(cut, piece)`` on
    its way. Two streaming passes. Returns cuts per piece."""
    from lhotse import CutSet
    from lhotse.serialization import deserialize_item

    if len(out_paths) != num_splits:
        raise ValueError(f"{num_splits} pieces but {len(out_paths)} output paths")
    durations: Dict[str, float] = {}
    for d in iter_cut_fields(path):
        spk = field_speaker(d)
        durations[spk] = durations.get(spk, 0.0) + d["duration"]
    piece = assign_speakers(durations, num_splits)
    counts = [0] * num_splits
    with contextlib.ExitStack() as stack:  # every piece appears, or none (an exception removes them all)
        writers = [stack.enter_context(CutSet.open_writer(stack.enter_context(atomic_path(p)))) for p in out_paths]
        # The raw fields give the speaker as in the first pass (a mixed cut has no top-level supervisions);
        # each line is parsed once.
        for d in iter_cut_fields(path):
            k = piece[field_speaker(d)]
            cut = deserialize_item(d)
            writers[k].write(transform(cut, k) if transform else cut)
            counts[k] += 1
    return counts


def combine_cuts(paths: Iterable[Path], out_path: Path, transform: Optional[Callable[[dict], Optional[dict]]] = None
                 ) -> int:
    """Cuts of ``paths`` in that order, streamed into ``out_path`` (atomically) line by line, as they were
    written (nothing parsed: joining is as fast as gzip), or, with ``transform``, each cut's JSON fields passed
    through it (None: left out). Returns the number of cuts written."""
    n = 0
    with atomic_path(out_path) as tmp:
        with gzip.open(tmp, "wt", encoding="utf-8") as out:
            for p in paths:
                p = Path(p)
                if p.stat().st_size == 0:
                    continue
                with (gzip.open if p.suffix == ".gz" else open)(p, "rt", encoding="utf-8") as f:
                    for line in f:
                        if not line.strip():
                            continue
                        if transform is not None:
                            fields = transform(json.loads(line))
                            if fields is None:
                                continue
                            line = json.dumps(fields, ensure_ascii=False)
                        out.write(line if line.endswith("\n") else line + "\n")
                        n += 1
    return n
