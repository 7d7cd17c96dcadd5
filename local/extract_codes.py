#!/usr/bin/env python3
"""Stage 4, step 2: EnCodec codes for every cut of the given parts, then a validation pass.

Input:  --manifest-dir with cuts_<part>.jsonl.gz (stage 1), --codec data/<recipe>/tokens/codec.pt
Output: --out-dir/<part>/shard_*.{h5,jsonl.gz,json} (codes: int16 [T, 8] per cut, custom field "codes"),
        --out-dir/cuts_<part>.jsonl.gz, --out-dir/summary.json (per part: counts, skipped cuts and
        why, throughput, validation). Resumable: finished shards are kept, unfinished ones redone.
Exit status 1 when the validation pass finds a bad array.
"""
import argparse
import json
import logging
import os
import sys
from pathlib import Path

from valle.codec.encodec import load_codec
from valle.codec.tokenize import TokenizeConfig, tokenize_parts, validate_part
from valle.utils.io import write_text_atomic
from valle.utils.logging import setup_logging


def get_args():
    d = TokenizeConfig()
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--manifest-dir", type=Path, required=True)
    p.add_argument("--parts", required=True, help="space-separated part names")
    p.add_argument("--codec", type=Path, required=True)
    p.add_argument("--out-dir", type=Path, required=True)
    p.add_argument("--nj", type=int, default=1, help="worker processes")
    p.add_argument("--threads", type=int, default=0, help="torch threads per worker (0: cores / --nj)")
    p.add_argument("--device", default=d.device, help="cpu or cuda")
    p.add_argument("--dtype", default=d.dtype, choices=("float32", "float64"))
    p.add_argument("--batch-seconds", type=float, default=d.batch_seconds,
                   help="padded audio per encoder call; 0 = one cut at a time (fastest on CPU, see bench/)")
    p.add_argument("--shard-seconds", type=float, default=d.shard_seconds, help="audio per resumable shard")
    p.add_argument("--max-chunk-seconds", type=float, default=d.max_chunk_seconds)
    p.add_argument("--log-file", default=None)
    return p.parse_args()


def main():
    args = get_args()
    setup_logging(args.log_file)
    parts = [(p, args.manifest_dir / f"cuts_{p}.jsonl.gz") for p in args.parts.split()]
    missing = [str(path) for _, path in parts if not path.is_file()]
    if missing:
        logging.error(f"expected cuts {missing} (stage 1 makes them)")
        sys.exit(1)
    if args.threads <= 0:
        args.threads = max(1, (os.cpu_count() or 1) // args.nj)
    config = TokenizeConfig(batch_seconds=args.batch_seconds, shard_seconds=args.shard_seconds,
                            max_chunk_seconds=args.max_chunk_seconds, threads=args.threads, device=args.device,
                            dtype=args.dtype)
    summaries = tokenize_parts(parts, args.codec, args.out_dir, args.nj, config)
    num_codebooks = load_codec(args.codec).num_codebooks
    total_bad = 0
    for summary in summaries:
        part = summary["part"]
        checked, bad = validate_part(args.out_dir / f"cuts_{part}.jsonl.gz", num_codebooks)
        summary["validated"], summary["bad_arrays"] = checked, bad
        total_bad += len(bad)
        logging.info(f"{part}: {summary['cuts']} cuts, {summary['audio_seconds'] / 3600:.3f} h, "
                     f"{len(summary['skipped'])} skipped; validation: {checked} arrays, {len(bad)} bad")
        for cut_id, reason in summary["skipped"]:
            logging.warning(f"{part}: skipped {cut_id}: {reason}")
        for cut_id, reason in bad:
            logging.error(f"{part}: bad codes for {cut_id}: {reason}")
    audio = sum(s["audio_seconds"] for s in summaries)
    wall = summaries[0]["run_wall_seconds"] if summaries else 0.0
    if wall > 0:
        logging.info(f"encoded this run: {audio / 3600:.3f} h in {wall:.0f} s, {audio / wall:.1f} s of audio per "
                     f"second with {args.nj} workers x {args.threads} threads (counts shards done earlier too)")
    write_text_atomic(args.out_dir / "summary.json", json.dumps(summaries, indent=1))
    if total_bad:
        sys.exit(1)


if __name__ == "__main__":
    main()
