"""Stage 4 core: EnCodec codes for every cut, stored as int16 [T, K] lhotse temporal arrays.

Work is cut into shards of consecutive cuts (by audio duration). A shard writes its codes to
``<part>/shard_NNNNN.h5`` (lhotse NumpyHdf5Writer; lossless, unlike lilcom), its cuts to
``shard_NNNNN.jsonl.gz`` (each written to a temporary name, then renamed), and last
``shard_NNNNN.json``: a shard is done exactly when that file exists. A killed run therefore resumes at
the first unfinished shard, and an unfinished shard is redone from scratch, so no half-written entry
survives. Shards are spread
over ``num_jobs`` processes; at the end the shard manifests are joined into ``cuts_<part>.jsonl.gz``.
"""
import json
import logging
import multiprocessing
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import List, Optional, Sequence, Tuple

import numpy as np
import torch
from tqdm import tqdm

from valle.codec.config import TokenizeConfig
from valle.codec.encodec import FRAME_RATE, HOP_LENGTH, SAMPLE_RATE, Codec, load_codec
from valle.utils.audio import load_mono
from valle.utils.io import atomic_path, write_text_atomic

CODES_FIELD = "codes"


def load_cut_audio(cut) -> Tuple[Optional[np.ndarray], Optional[str]]:
    """24 kHz mono float32 audio of ``cut`` (channels averaged, see ``load_mono``), or None and why not."""
    try:
        audio = load_mono(cut, SAMPLE_RATE)
    except Exception as e:  # lhotse wraps decoder errors in several exception types
        return None, f"cannot load audio: {type(e).__name__}: {str(e).splitlines()[0]}"
    if audio.size == 0:
        return None, "empty audio"
    if audio.size < HOP_LENGTH:
        return None, f"shorter than one codec frame ({audio.size} < {HOP_LENGTH} samples at 24 kHz)"
    if not np.isfinite(audio).all():
        return None, "audio has NaN or infinite samples"
    return audio, None


def plan_shards(durations: Sequence[float], shard_seconds: float) -> List[Tuple[int, int]]:
    """[start, end) index ranges of consecutive cuts holding about ``shard_seconds`` of audio each."""
    shards, start, total = [], 0, 0.0
    for i, d in enumerate(durations):
        total += d
        if total >= shard_seconds:
            shards.append((start, i + 1))
            start, total = i + 1, 0.0
    if start < len(durations):
        shards.append((start, len(durations)))
    return shards


def batches_by_duration(lengths: Sequence[int], batch_seconds: float) -> List[List[int]]:
    """Indices grouped longest-first so that (batch size x longest item) <= batch_seconds of audio."""
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    limit = batch_seconds * SAMPLE_RATE
    batches: List[List[int]] = []
    for i in order:
        if batches and (len(batches[-1]) + 1) * lengths[batches[-1][0]] <= limit:
            batches[-1].append(i)
        else:
            batches.append([i])
    return batches


def encode_waveforms(codec: Codec, waveforms: Sequence[np.ndarray], config: TokenizeConfig) -> List[np.ndarray]:
    """Codes for each waveform, batching short ones and chunking very long ones."""
    max_chunk = int(config.max_chunk_seconds * SAMPLE_RATE) // HOP_LENGTH * HOP_LENGTH
    codes: List[Optional[np.ndarray]] = [None] * len(waveforms)
    short = [i for i, w in enumerate(waveforms) if len(w) <= max_chunk]
    for batch in batches_by_duration([len(waveforms[i]) for i in short], config.batch_seconds):
        idx = [short[j] for j in batch]
        for i, c in zip(idx, codec.encode_batch([waveforms[i] for i in idx])):
            codes[i] = c
    for i, w in enumerate(waveforms):
        if codes[i] is None:  # chunks are a multiple of the hop, so frame counts add up exactly
            codes[i] = np.concatenate([codec.encode_batch([w[s: s + max_chunk]])[0] for s in range(0, len(w), max_chunk)])
    return codes


@dataclass
class ShardResult:
    cuts: int = 0
    skipped: List[Tuple[str, str]] = field(default_factory=list)
    audio_seconds: float = 0.0
    encode_seconds: float = 0.0


def tokenize_shard(codec: Codec, cuts, prefix: Path, config: TokenizeConfig) -> ShardResult:
    """Encode ``cuts`` into ``prefix``.h5 / .jsonl.gz, then mark the shard done with ``prefix``.json."""
    from lhotse import CutSet
    from lhotse.features.io import NumpyHdf5Writer
    from lhotse.utils import fastcopy

    result = ShardResult()
    loaded = []
    for cut in cuts:
        audio, reason = load_cut_audio(cut)
        if audio is None:
            logging.warning(f"skipping cut {cut.id} ({_source(cut)}): {reason}")
            result.skipped.append((cut.id, reason))
        else:
            loaded.append((cut, audio))
    start = time.time()
    codes = encode_waveforms(codec, [a for _, a in loaded], config)
    result.encode_seconds = time.time() - start
    out_cuts = []
    h5_path = prefix.with_suffix(".h5")
    with atomic_path(h5_path) as tmp:  # never truncates an .h5 that a reader may hold open
        with NumpyHdf5Writer(tmp, mode="w") as writer:
            for (cut, audio), c in zip(loaded, codes):
                array = writer.store_array(cut.id, c.astype(np.int16), frame_shift=1 / FRAME_RATE,
                                           temporal_dim=0, start=cut.start)
                array = fastcopy(array, array=fastcopy(array.array, storage_path=str(h5_path)))
                out_cuts.append(fastcopy(cut, custom={**(cut.custom or {}), CODES_FIELD: array}))
                result.audio_seconds += len(audio) / SAMPLE_RATE
    result.cuts = len(out_cuts)
    with atomic_path(prefix.with_suffix(".jsonl.gz")) as tmp:
        CutSet.from_cuts(out_cuts).to_file(tmp)
    write_text_atomic(prefix.with_suffix(".json"), json.dumps(
        {"cuts": result.cuts, "skipped": result.skipped, "audio_seconds": round(result.audio_seconds, 3),
         "encode_seconds": round(result.encode_seconds, 3)}))
    return result


def _source(cut) -> str:
    try:
        return cut.recording.sources[0].source
    except Exception:
        return "?"


_WORKER: dict = {}


def _init_worker(codec_path: str, config: TokenizeConfig, log_level: int) -> None:
    """Once per worker process: threads, logging, the codec."""
    logging.basicConfig(level=log_level, format="%(asctime)s %(levelname)s [tokenize %(process)d] %(message)s")
    torch.set_num_threads(config.threads)
    codec = load_codec(codec_path, device=config.device, dtype=getattr(torch, config.dtype))
    _WORKER.update(codec=codec, config=config, manifests={})


def _run_shard(job) -> str:
    from lhotse import load_manifest

    cuts_path, begin, end, prefix = job
    if cuts_path not in _WORKER["manifests"]:
        _WORKER["manifests"] = {cuts_path: list(load_manifest(cuts_path))}  # one part at a time
    tokenize_shard(_WORKER["codec"], _WORKER["manifests"][cuts_path][begin:end], Path(prefix), _WORKER["config"])
    return prefix


def tokenize_parts(parts: Sequence[Tuple[str, Path]], codec_path: Path, out_dir: Path, num_jobs: int = 1,
                   config: TokenizeConfig = TokenizeConfig()) -> List[dict]:
    """Stage 4 for (part, cuts manifest) pairs: resumable and parallel over shards of all parts.

    Shards hold at most ``config.shard_seconds`` of audio, fewer when a part is small, so that every
    worker has shards to encode. Returns one summary dict per part.
    """
    from lhotse import CutSet, load_manifest

    plans, todo = [], []
    for part, cuts_path in parts:
        durations = [c.duration for c in load_manifest(cuts_path)]
        shard_seconds = min(config.shard_seconds, max(30.0, sum(durations) / (4 * num_jobs)))
        shards = plan_shards(durations, shard_seconds)
        prefixes = [out_dir / part / f"shard_{k:05d}" for k in range(len(shards))]
        prefixes[0].parent.mkdir(parents=True, exist_ok=True)
        pending = [(str(cuts_path), b, e, str(p)) for (b, e), p in zip(shards, prefixes)
                   if not p.with_suffix(".json").exists()]
        logging.info(f"{part}: {len(durations)} cuts in {len(shards)} shards, {len(shards) - len(pending)} already done")
        plans.append((part, prefixes))
        todo.extend(pending)
    start = time.time()
    init = (str(codec_path), config, logging.getLogger().level)
    if num_jobs == 1 or len(todo) <= 1:
        _init_worker(*init)
        for job in tqdm(todo, desc="Encoding shards"):
            _run_shard(job)
    elif todo:  # spawn: fresh processes, no forked torch/OpenMP thread state
        with multiprocessing.get_context("spawn").Pool(num_jobs, initializer=_init_worker, initargs=init) as pool:
            for _ in tqdm(pool.imap_unordered(_run_shard, todo), total=len(todo), desc="Encoding shards"):
                pass
    wall = time.time() - start

    summaries = []
    for part, prefixes in plans:
        summary = {"part": part, "cuts": 0, "skipped": [], "audio_seconds": 0.0, "encode_seconds": 0.0}
        manifests = []
        for p in prefixes:
            info = json.loads(p.with_suffix(".json").read_text())
            summary["cuts"] += info["cuts"]
            summary["skipped"] += info["skipped"]
            summary["audio_seconds"] = round(summary["audio_seconds"] + info["audio_seconds"], 3)
            summary["encode_seconds"] = round(summary["encode_seconds"] + info["encode_seconds"], 3)
            if info["cuts"]:
                manifests.append(load_manifest(p.with_suffix(".jsonl.gz")))
        with atomic_path(out_dir / f"cuts_{part}.jsonl.gz") as tmp:
            CutSet.from_cuts(c for m in manifests for c in m).to_file(tmp)
        summary["run_wall_seconds"] = round(wall, 2)  # of this whole run, all parts
        summaries.append(summary)
    return summaries


def validate_part(tokens_cuts_path: Path, num_codebooks: int, tolerance_frames: int = 1) -> Tuple[int, List[Tuple[str, str]]]:
    """Check every stored array: int16, [T, K], codes in [0, 1023], T = duration x 75 (+- tolerance)."""
    from lhotse import load_manifest

    n, bad = 0, []
    for cut in load_manifest(tokens_cuts_path):
        n += 1
        array = cut.custom.get(CODES_FIELD) if cut.custom else None
        if array is None:
            bad.append((cut.id, "no codes field"))
            continue
        try:
            codes = array.load()
        except Exception as e:
            bad.append((cut.id, f"cannot load codes: {type(e).__name__}: {e}"))
            continue
        expected = Codec.num_frames(round(cut.duration * SAMPLE_RATE))
        if codes.dtype != np.int16:
            bad.append((cut.id, f"dtype {codes.dtype}, expected int16"))
        elif codes.ndim != 2 or codes.shape[1] != num_codebooks:
            bad.append((cut.id, f"shape {codes.shape}, expected [T, {num_codebooks}]"))
        elif codes.min() < 0 or codes.max() > 1023:
            bad.append((cut.id, f"codes outside 0-1023 ({codes.min()}..{codes.max()})"))
        elif abs(codes.shape[0] - expected) > tolerance_frames:
            bad.append((cut.id, f"{codes.shape[0]} frames for {cut.duration:.3f} s, expected {expected}"))
    return n, bad
