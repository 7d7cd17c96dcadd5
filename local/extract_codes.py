#!/usr/bin/env python3
"""Stage 4, step 2: codec codes (EnCodec or mel_rvq, whichever --codec holds) for every cut of the given parts, then a validation pass.

Without --job: everything here (--nj worker processes). As split jobs (run.sh, through $cmd):
  --job J --nj N      job J encodes every N-th shard of every part (those not done yet)
  --step combine      then, once: the shards joined per part and validated

Input:  --manifest-dir with cuts_<part>.jsonl.gz (stage 1), --codec data/<recipe>/tokens/codec.pt
Output: --out-dir/<part>/shard_*.{h5,jsonl.gz,json} (codes: int16 [T, 8] per cut, custom field "codes"),
        --out-dir/cuts_<part>.jsonl.gz, --out-dir/summary.json (per part: counts, skipped cuts and
        why, throughput, validation). Resumable: finished shards are kept, unfinished ones redone.
Exit status 1 when the validation pass finds a bad array.
"""
import argparse
import dataclasses
import logging
import sys
from pathlib import Path

from valle.codec.config import TokenizeConfig
from valle.codec.stage import extract_codes, extract_codes_job
from valle.utils.jobs import job_threads
from valle.utils.logging import setup_logging
from valle.utils.settings import add_settings, from_args


def get_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--manifest-dir", type=Path, required=True)
    p.add_argument("--parts", nargs="+", required=True)
    p.add_argument("--codec", type=Path, required=True)
    p.add_argument("--out-dir", type=Path, required=True)
    p.add_argument("--nj", type=int, default=1, help="jobs (worker processes without --job) [1]")
    p.add_argument("--job", type=int, help="run job J of --nj only (1..--nj)")
    p.add_argument("--step", choices=("all", "combine"), default="all",
                   help="combine: join and validate the shards the jobs wrote [all]")
    p.add_argument("--threads", type=int, default=0,
                   help="torch threads per job (0: Slurm's --cpus-per-task in a Slurm job, else 1: codes do not "
                        "depend on --nj) [0]")
    p.add_argument("--log-file", default=None)
    add_settings(p, TokenizeConfig, prefix="codec_")
    return p.parse_args()


def main():
    args = get_args()
    setup_logging(args.log_file)
    cfg = dataclasses.replace(from_args(TokenizeConfig, args, prefix="codec_"),
                              threads=args.threads if args.threads > 0 else job_threads())
    try:
        if args.job is not None:
            extract_codes_job(args.manifest_dir, args.parts, args.codec, args.out_dir, args.job, args.nj, cfg)
            return
        summaries = extract_codes(args.manifest_dir, args.parts, args.codec, args.out_dir, args.nj, cfg,
                                  combine_only=args.step == "combine")
    except (FileNotFoundError, ValueError, RuntimeError) as e:
        logging.error(str(e))
        sys.exit(1)
    if any(s["bad_arrays"] for s in summaries):
        sys.exit(1)


if __name__ == "__main__":
    main()
