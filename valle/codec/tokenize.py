"""Stage 4 core: EnCodec codes for every cut, stored as int16 [T, K] lhotse temporal arrays.

Work is cut into shards of consecutive cuts (by audio duration). A shard writes its codes to
``<part>/shard_NNNNN.h5`` (lhotse NumpyHdf5Writer; lossless, unlike lilcom), its cuts to
``shard_NNNNN.jsonl.gz`` (each written to a temporary name, then renamed), and last
``shard_NNNNN.json``: a shard is done exactly when that file exists. A killed run therefore resumes at
the first unfinished shard, and an unfinished shard is redone from scratch, so no half-written entry
survives. The shards of a part do not depend on the number of jobs; job j of N encodes every N-th
(``tokenize_job``, one process each: run.sh runs them through ``$cmd JOB=1:N``), then
``combine_parts`` joins the shard manifests into ``cuts_<part>.jsonl.gz``. Manifests are streamed.
"""
import itertools
import json
import logging
import multiprocessing
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, List, Optional, Sequence, Tuple

import numpy as np
import torch
from tqdm import tqdm

from valle.codec.config import TokenizeConfig
from valle.codec.encodec import FRAME_RATE, HOP_LENGTH, SAMPLE_RATE, Codec, load_codec
from valle.data.split import combine_cuts, iter_cut_fields, iter_cuts
from valle.utils.audio import load_mono
from valle.utils.io import atomic_path, write_text_atomic

CODES_FIELD = "codes"
MIN_SHARDS = 16


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


def plan_shards(durations: Iterable[float], shard_seconds: float) -> List[Tuple[int, int]]:
    """[start, end) index ranges of consecutive cuts holding about ``shard_seconds`` of audio each."""
    shards, start, total, n = [], 0, 0.0, 0
    for i, d in enumerate(durations):
        n = i + 1
        total += d
        if total >= shard_seconds:
            shards.append((start, i + 1))
            start, total = i + 1, 0.0
    if start < n:
        shards.append((start, n))
    return shards


def part_shards(cuts_path: Path, config: TokenizeConfig) -> List[Tuple[int, int]]:
    """The shards of a part: at most ``config.shard_seconds`` each, and at least ``MIN_SHARDS`` of 30 s or more
    when the part is small, so that every job has work; independent of the number of jobs, so that any --nj
    writes the same shards. Two streaming passes over the manifest."""
    total = sum(d["duration"] for d in iter_cut_fields(cuts_path))
    shard_seconds = min(config.shard_seconds, max(30.0, total / MIN_SHARDS))
    return plan_shards((d["duration"] for d in iter_cut_fields(cuts_path)), shard_seconds)


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
    """Encode ``cuts`` into ``prefix``.h5 / .jsonl.gz, then mark the shard done with ``prefix``.json. Audio is
    loaded a batch at a time (``batch_seconds``; one cut when 0), so memory is bounded by the longest cut."""
    from lhotse import CutSet
    from lhotse.features.io import NumpyHdf5Writer
    from lhotse.utils import fastcopy

    result = ShardResult()
    h5_path = prefix.with_suffix(".h5")
    with atomic_path(h5_path) as tmp, atomic_path(prefix.with_suffix(".jsonl.gz")) as cuts_tmp:
        with NumpyHdf5Writer(tmp, mode="w") as writer, CutSet.open_writer(cuts_tmp) as cut_writer:
            def flush(group):
                start = time.time()
                codes = encode_waveforms(codec, [a for _, a in group], config)
                result.encode_seconds += time.time() - start
                for (cut, audio), c in zip(group, codes):
                    array = writer.store_array(cut.id, c.astype(np.int16), frame_shift=1 / FRAME_RATE,
                                               temporal_dim=0, start=cut.start)
                    array = fastcopy(array, array=fastcopy(array.array, storage_path=str(h5_path)))
                    cut_writer.write(fastcopy(cut, custom={**(cut.custom or {}), CODES_FIELD: array}))
                    result.audio_seconds += len(audio) / SAMPLE_RATE
                    result.cuts += 1

            group, group_seconds = [], 0.0
            for cut in cuts:
                audio, reason = load_cut_audio(cut)
                if audio is None:
                    logging.warning(f"skipping cut {cut.id} ({_source(cut)}): {reason}")
                    result.skipped.append((cut.id, reason))
                    continue
                group.append((cut, audio))
                group_seconds += len(audio) / SAMPLE_RATE
                if group_seconds >= config.batch_seconds:
                    flush(group)
                    group, group_seconds = [], 0.0
            if group:
                flush(group)
    write_text_atomic(prefix.with_suffix(".json"), json.dumps(
        {"cuts": result.cuts, "skipped": result.skipped, "audio_seconds": round(result.audio_seconds, 3),
         "encode_seconds": round(result.encode_seconds, 3)}))
    return result


def _source(cut) -> str:
    try:
        return cut.recording.sources[0].source
    except Exception:
        return "?"


def shard_prefix(out_dir: Path, part: str, k: int) -> Path:
    return Path(out_dir) / part / f"shard_{k:05d}"


def job_shards(num_shards: int, job: int, num_jobs: int) -> List[int]:
    """The shards job ``job`` (1-based) of ``num_jobs`` encodes: every num_jobs-th, so each job gets long
    and short stretches of the part alike."""
    return [k for k in range(num_shards) if k % num_jobs == job - 1]


def tokenize_job(parts: Sequence[Tuple[str, Path]], codec_path: Path, out_dir: Path, job: int = 1,
                 num_jobs: int = 1, config: TokenizeConfig = TokenizeConfig()) -> int:
    """Job ``job`` of ``num_jobs``: encode its shards of every part that are not done yet, streaming each
    manifest once. Returns the number of shards it encoded."""
    from lhotse.serialization import deserialize_item

    if not 1 <= job <= num_jobs:
        raise ValueError(f"--job must be in 1..{num_jobs}, got {job}")
    torch.set_num_threads(config.threads)
    codec, encoded = None, 0
    for part, cuts_path in parts:
        shards = part_shards(cuts_path, config)
        assigned = job_shards(len(shards), job, num_jobs)
        todo = [k for k in assigned if not shard_prefix(out_dir, part, k).with_suffix(".json").exists()]
        logging.info(f"{part}: job {job}/{num_jobs}: {len(todo)} of its {len(assigned)} shards to encode "
                     f"({len(shards)} in the part)")
        if not todo:
            continue
        if codec is None:
            codec = load_codec(codec_path, device=config.device, dtype=getattr(torch, config.dtype))
        shard_prefix(out_dir, part, 0).parent.mkdir(parents=True, exist_ok=True)
        # Shards are consecutive ranges, so ascending k is ascending position. Cuts of other jobs' shards are
        # skipped as raw JSON; only this job's are made into lhotse objects.
        fields, index = iter_cut_fields(cuts_path), 0
        for k in todo:
            begin, end = shards[k]
            for _ in range(begin - index):
                next(fields)
            cuts = (deserialize_item(d) for d in itertools.islice(fields, end - begin))
            tokenize_shard(codec, cuts, shard_prefix(out_dir, part, k), config)
            index = end
            encoded += 1
    return encoded


def _run_job(args) -> int:
    parts, codec_path, out_dir, job, num_jobs, config, log_level = args
    logging.basicConfig(level=log_level, format="%(asctime)s %(levelname)s [tokenize job %(process)d] %(message)s")
    return tokenize_job(parts, codec_path, out_dir, job, num_jobs, config)


def combine_parts(parts: Sequence[Tuple[str, Path]], out_dir: Path, config: TokenizeConfig = TokenizeConfig(),
                  wall_seconds: float = 0.0) -> List[dict]:
    """Join each part's shard manifests (streaming) into ``cuts_<part>.jsonl.gz``; one summary dict per part.
    Fails naming the shards that are not done (a job that failed or was not run)."""
    summaries = []
    for part, cuts_path in parts:
        prefixes = [shard_prefix(out_dir, part, k) for k in range(len(part_shards(cuts_path, config)))]
        missing = [p.name for p in prefixes if not p.with_suffix(".json").exists()]
        if missing:
            raise RuntimeError(f"{part}: {len(missing)} shards not encoded ({', '.join(missing[:5])}"
                               f"{' ...' if len(missing) > 5 else ''}): a job failed or did not run; rerun stage 4")
        summary = {"part": part, "cuts": 0, "skipped": [], "audio_seconds": 0.0, "encode_seconds": 0.0}
        for p in prefixes:
            info = json.loads(p.with_suffix(".json").read_text())
            summary["cuts"] += info["cuts"]
            summary["skipped"] += info["skipped"]
            summary["audio_seconds"] = round(summary["audio_seconds"] + info["audio_seconds"], 3)
            summary["encode_seconds"] = round(summary["encode_seconds"] + info["encode_seconds"], 3)
        combine_cuts([p.with_suffix(".jsonl.gz") for p in prefixes], Path(out_dir) / f"cuts_{part}.jsonl.gz")
        summary["run_wall_seconds"] = round(wall_seconds, 2)  # of this whole run, all parts
        summaries.append(summary)
    return summaries


def tokenize_parts(parts: Sequence[Tuple[str, Path]], codec_path: Path, out_dir: Path, num_jobs: int = 1,
                   config: TokenizeConfig = TokenizeConfig()) -> List[dict]:
    """Stage 4 in this process for (part, cuts manifest) pairs: ``num_jobs`` jobs (worker processes),
    resumable per shard, then the join. Returns one summary dict per part."""
    start = time.time()
    jobs = [(list(parts), codec_path, out_dir, j, num_jobs, config, logging.getLogger().level)
            for j in range(1, num_jobs + 1)]
    if num_jobs == 1:
        tokenize_job(parts, codec_path, out_dir, 1, 1, config)
    else:  # spawn: fresh processes, no forked torch/OpenMP thread state
        with multiprocessing.get_context("spawn").Pool(num_jobs) as pool:
            for _ in tqdm(pool.imap_unordered(_run_job, jobs), total=num_jobs, desc="Encoding (jobs)"):
                pass
    return combine_parts(parts, out_dir, config, time.time() - start)


def validate_part(tokens_cuts_path: Path, num_codebooks: int, tolerance_frames: int = 1) -> Tuple[int, List[Tuple[str, str]]]:
    """Check every stored array: int16, [T, K], codes in [0, 1023], T = duration x 75 (+- tolerance)."""
    n, bad = 0, []
    for cut in iter_cuts(tokens_cuts_path):
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
