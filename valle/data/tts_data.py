"""The training data of stages 5-6, built once for both models: stage-3 alignments joined with stage-4 codes,
LibriLight's voice-activity segments merged into longer examples, globally shuffled into shards.

    <tts dir>/shard-00000.jsonl.gz ...   training examples, shuffled (a seeded out-of-core shuffle)
    <tts dir>/valid.jsonl.gz             validation examples, in corpus order
    <tts dir>/summary.json               counts, hours, what was left out and why, the data's fingerprint

One example is one line: a lhotse ``MonoCut`` without its recording, holding only what training reads:

    custom.codes         the recording's stage-4 codes (a lhotse TemporalArray: HDF5 path, key, shape, start)
    custom.phones        the TTS phone sequence (consecutive repeats removed), space-separated
    custom.phone_frames  its n+1 boundaries as frame indices of the codes array (75 Hz), space-separated
    supervisions[0]      id, recording and speaker of the (first) segment

Strings rather than lists of alignment items: the sampler holds tens of thousands of examples in its buffers,
and two strings take a tenth of the memory of 2 x n Python objects.

Merging (libri-light's ``cut_by_vad``): a recording's segments, in time order, are joined while the joined span
stays within ``merge_max_seconds`` and no silence between two of them is longer than ``merge_max_gap``; the
silence between them becomes SIL (merged with a SIL that ends or starts a segment). A segment longer than
``merge_max_seconds`` stays whole: training crops it. LibriSpeech cuts hold one utterance each and are
unchanged.

Memory is flat in the corpus size: the codes are looked up by cut id in an on-disk SQLite index, examples
stream to a temporary file, and the shuffle sends each to a random bucket (a seeded draw per line, at most
``max_open`` bucket files open per pass), then shuffles one bucket at a time in memory into one shard.
"""
import dataclasses
import gzip
import hashlib
import json
import logging
import math
import random
import shutil
from collections import Counter
from pathlib import Path
from typing import Iterable, Iterator, List, Optional, Sequence, Tuple

from lhotse.supervision import AlignmentItem
from tqdm import tqdm

from valle.align.pipeline import collapse_repeats
from valle.constants import CODEC_FRAME_RATE
from valle.data.config import TtsDataConfig
from valle.data.split import iter_cut_fields
from valle.text.lexicon import SIL
from valle.utils.disk_index import DiskIndex
from valle.utils.io import atomic_path, write_text_atomic

SHARD_PATTERN = "shard-*.jsonl.gz"
VALID_NAME = "valid.jsonl.gz"
SUMMARY_NAME = "summary.json"
MIN_PHONES = 2


def read_summary(tts_dir: Path) -> dict:
    """The summary of a finished build (FileNotFoundError naming the step that makes it, or the shards missing)."""
    path = Path(tts_dir) / SUMMARY_NAME
    if not path.is_file():
        raise FileNotFoundError(f"expected {path} (the training-data build at the start of stage 5 makes it: "
                                f"local/prepare_tts_data.py)")
    summary = json.loads(path.read_text())
    missing = [str(p) for p in (Path(tts_dir) / n for n in summary["train"]["shards"]) if not p.is_file()]
    if missing:
        raise FileNotFoundError(f"{tts_dir}: shards listed in {SUMMARY_NAME} are missing: {missing[:3]}; rebuild "
                                f"the training data (run.sh --stage 5 --force)")
    return summary


def shard_paths(tts_dir: Path, summary: Optional[dict] = None) -> List[Path]:
    """The training shards of a built tts dir, in order (``summary``: its ``read_summary``, already read)."""
    summary = read_summary(tts_dir) if summary is None else summary
    return [Path(tts_dir) / n for n in summary["train"]["shards"]]


# --------------------------------------------------------------------------------------------- examples
def group_segments(sups: Sequence[dict], max_seconds: float, max_gap: float,
                   unaligned: Sequence[Sequence[float]] = ()) -> List[List[dict]]:
    """Consecutive supervisions (raw dicts, any order) in groups whose span is at most ``max_seconds`` and whose
    inner silences are at most ``max_gap`` and hold none of the ``unaligned`` [start, duration] spans (speech
    stage 3 has no phones for); a longer supervision is a group of its own."""
    groups: List[List[dict]] = []
    for sup in sorted(sups, key=lambda s: s["start"]):
        if groups:
            group = groups[-1]
            last_end = group[-1]["start"] + group[-1]["duration"]
            span = sup["start"] + sup["duration"] - group[0]["start"]
            blocked = any(last_end - 1e-6 <= s < sup["start"] for s, _ in unaligned)
            if span <= max_seconds + 1e-6 and sup["start"] - last_end <= max_gap + 1e-6 and not blocked:
                group.append(sup)
                continue
        groups.append([sup])
    return groups


def _phones_of(sup: dict) -> List[Tuple[str, float, float]]:
    items = [AlignmentItem.deserialize(x) for x in ((sup.get("alignment") or {}).get("tts_phone") or [])]
    return [(it.symbol, it.start, it.end) for it in items]


def merged_phones(group: Sequence[dict]) -> List[Tuple[str, float, float]]:
    """The group's phones on the recording timeline; the silence between two segments as SIL."""
    out: List[Tuple[str, float, float]] = []
    for sup in group:
        phones = _phones_of(sup)
        if out and phones and phones[0][1] > out[-1][2]:
            out.append((SIL, out[-1][2], phones[0][1]))
        out.extend(phones)
    return collapse_repeats(out)


def make_example(cut: dict, group: Sequence[dict], codes: dict) -> Tuple[Optional[dict], str]:
    """One training example (a raw MonoCut dict, see the module doc) from a group of a cut's supervisions and
    the recording's codes (a raw TemporalArray dict); (None, reason) when it cannot train."""
    if any(not (sup.get("alignment") or {}).get("tts_phone") for sup in group):
        return None, "no tts_phone alignment"
    phones = merged_phones(group)
    if len(phones) < MIN_PHONES:
        return None, f"fewer than {MIN_PHONES} phones"
    origin = float(codes.get("start", 0.0))
    num_frames = int(codes["array"]["shape"][codes.get("temporal_dim", 0)])

    def frame(t: float) -> int:
        return min(max(int(round((t - origin) * CODEC_FRAME_RATE)), 0), num_frames)
    frames = [frame(s) for _, s, _ in phones] + [frame(phones[-1][2])]
    if frames[-1] <= frames[0]:
        return None, "no codes frames in its span"
    first = group[0]
    sups = cut.get("supervisions") or []
    example_id = cut["id"] if len(sups) == 1 else f"{cut['id']}#{first['id']}"
    start, duration = round(phones[0][1], 4), round(phones[-1][2] - phones[0][1], 4)
    sup = {"id": first["id"], "recording_id": first.get("recording_id", cut["id"]), "start": start,
           "duration": duration, "channel": first.get("channel", 0)}
    if first.get("speaker"):
        sup["speaker"] = first["speaker"]
    return {"id": example_id, "start": start, "duration": duration,
            "channel": cut.get("channel", 0), "supervisions": [sup],
            "custom": {"codes": codes, "phones": " ".join(p for p, _, _ in phones),
                       "phone_frames": " ".join(map(str, frames))},
            "type": "MonoCut"}, "kept"


def _codes_rows(tokens: Sequence[Path]) -> Iterator[Tuple[str, str]]:
    for path in tokens:
        for d in iter_cut_fields(path):
            codes = (d.get("custom") or {}).get("codes")
            if codes is not None:
                yield d["id"], json.dumps(codes)


def iter_examples(aligned: Sequence[Path], codes: DiskIndex, cfg: TtsDataConfig, stats: Counter,
                  desc: str = "") -> Iterator[dict]:
    """The examples of the aligned cuts (streamed); what is left out is counted in ``stats`` by reason."""
    for path in aligned:
        for cut in tqdm(iter_cut_fields(path), desc=f"{desc} {Path(path).name}", unit=" cuts", mininterval=10,
                        leave=False):
            found = codes.get(cut["id"])
            sups = cut.get("supervisions") or []
            if found is None:
                stats["no codes (stage 4)"] += len(sups)
                continue
            array = json.loads(found)
            unaligned = (cut.get("custom") or {}).get("unaligned") or ()
            for group in group_segments(sups, cfg.merge_max_seconds, cfg.merge_max_gap, unaligned):
                example, reason = make_example(cut, group, array)
                if example is None:
                    stats[reason] += len(group)
                    continue
                stats["segments kept"] += len(group)
                stats["examples"] += 1
                stats["seconds"] += example["duration"]
                yield example


# ---------------------------------------------------------------------------------------------- shuffle
def write_gz_lines(path: Path, lines: Iterable[str], digest: "hashlib._Hash") -> None:
    """``lines`` into a gzipped file, atomically, each also fed to ``digest`` (the data's fingerprint)."""
    with atomic_path(path) as tmp, gzip.open(tmp, "wt", encoding="utf-8") as w:
        for line in lines:
            w.write(line)
            digest.update(line.encode("utf-8"))


def shuffle_into_shards(lines_path: Path, num_lines: int, out_dir: Path, shard_size: int, seed: int,
                        max_open: int = 256) -> Tuple[List[str], "hashlib._Hash"]:
    """A uniform random permutation of ``lines_path``'s lines, written as gzipped shards of about ``shard_size``
    lines. Each line goes to a uniformly drawn bucket (one seeded draw per line, the same sequence in every pass
    over the file; a pass opens at most ``max_open`` buckets), and each bucket is shuffled in memory and written
    as one shard. Returns the shard names and a digest of their content."""
    num_shards = max(1, math.ceil(num_lines / shard_size))
    digest = hashlib.sha256()
    names: List[str] = []
    work = Path(out_dir) / ".buckets"
    shutil.rmtree(work, ignore_errors=True)   # an interrupted build's
    for lo in range(0, num_shards, max_open):
        hi = min(lo + max_open, num_shards)
        work.mkdir(parents=True, exist_ok=True)
        files = [open(work / f"{b}.jsonl", "w", encoding="utf-8") for b in range(lo, hi)]
        try:
            draw = random.Random(seed)
            with open(lines_path, encoding="utf-8") as f:
                for line in f:
                    b = draw.randrange(num_shards)
                    if lo <= b < hi:
                        files[b - lo].write(line)
        finally:
            for fh in files:
                fh.close()
        for b in range(lo, hi):
            bucket = work / f"{b}.jsonl"
            lines = bucket.read_text(encoding="utf-8").splitlines(keepends=True)
            bucket.unlink()
            if not lines:
                continue
            random.Random(f"{seed}:{b}").shuffle(lines)
            name = f"shard-{len(names):05d}.jsonl.gz"
            write_gz_lines(Path(out_dir) / name, lines, digest)
            names.append(name)
    shutil.rmtree(work, ignore_errors=True)
    return names, digest


# ------------------------------------------------------------------------------------------------ build
def build_tts_data(train_aligned: Sequence[Path], train_tokens: Sequence[Path], out_dir: Path,
                   valid_aligned: Sequence[Path] = (), valid_tokens: Sequence[Path] = (),
                   cfg: TtsDataConfig = TtsDataConfig(), codec: Optional[dict] = None) -> dict:
    """Build ``out_dir`` (see the module doc) from stage-3 aligned and stage-4 token manifests; returns the summary.
    ``codec``: the identity of the codec the tokens came from (``codec_identity``), kept in the summary and by
    training in model.pt. Anything an earlier build left there is replaced; the summary is written last."""
    missing = [str(p) for p in [*train_aligned, *train_tokens, *valid_aligned, *valid_tokens] if not Path(p).is_file()]
    if missing:
        raise FileNotFoundError(f"expected {missing} (stage 3 writes aligned/, stage 4 tokens/)")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / SUMMARY_NAME).unlink(missing_ok=True)
    for old in out_dir.glob(SHARD_PATTERN):
        old.unlink()
    work = out_dir / ".build"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir()
    summary = {"config": dataclasses.asdict(cfg), "codec": codec}
    try:
        with DiskIndex(work / "codes.sqlite", _codes_rows([*train_tokens, *valid_tokens])) as codes:
            logging.info(f"codes of {len(codes)} cuts indexed")
            train_stats, valid_stats = Counter(), Counter()
            joined = work / "train.jsonl"
            with open(joined, "w", encoding="utf-8") as f:
                for ex in iter_examples(train_aligned, codes, cfg, train_stats, "train"):
                    f.write(json.dumps(ex) + "\n")
            if train_stats["examples"] == 0:
                raise ValueError(f"no training examples: every cut lacked codes or alignments ({dict(train_stats)})")
            valid_digest = hashlib.sha256()
            if valid_aligned:
                lines = (json.dumps(ex) + "\n" for ex in iter_examples(valid_aligned, codes, cfg, valid_stats, "valid"))
                write_gz_lines(out_dir / VALID_NAME, lines, valid_digest)
                if valid_stats["examples"] == 0:
                    raise ValueError(f"no validation examples: every cut lacked codes or alignments "
                                     f"({dict(valid_stats)})")
        logging.info(f"shuffling {train_stats['examples']} training examples into shards of ~{cfg.shard_size}")
        names, digest = shuffle_into_shards(joined, train_stats["examples"], out_dir, cfg.shard_size,
                                            cfg.shuffle_seed)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    digest.update(valid_digest.digest())

    def part(stats: Counter) -> dict:
        left_out = {k: v for k, v in stats.items() if k not in ("examples", "segments kept", "seconds")}
        return {"examples": stats["examples"], "segments_kept": stats["segments kept"],
                "hours": round(stats["seconds"] / 3600, 3), "left_out": left_out}
    summary.update(train={**part(train_stats), "shards": names},
                   valid={**part(valid_stats), "file": VALID_NAME if valid_aligned else None},
                   fingerprint=digest.hexdigest()[:16])
    for name in ("train", "valid"):
        s = summary[name]
        logging.info(f"{name}: {s['examples']} examples ({s['hours']:.2f} h) from {s['segments_kept']} segments; "
                     f"left out (segments): {s['left_out'] or 'none'}")
    write_text_atomic(out_dir / SUMMARY_NAME, json.dumps(summary, indent=1) + "\n")
    return summary
