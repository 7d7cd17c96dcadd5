#!/usr/bin/env python3
"""A model file (what synthesis and stage 7 load) from training checkpoints: one step, or an average (icefall's --avg).

  local/export_model.py --exp-dir exp/mini/ar                       # the newest checkpoint
  local/export_model.py --exp-dir exp/mini/ar --step 50             # checkpoints/step-50.pt
  local/export_model.py --exp-dir exp/mini/ar --avg 3               # the last 3 checkpoints, averaged
  local/export_model.py --exp-dir exp/mini/ar --step 75 --avg 3 --out exp/mini/ar/model.pt   # replace stage 7's

Input:  --exp-dir/checkpoints/step-<N>.pt (stages 5-6 keep the last --keep-last of them).
Output: --out (default --exp-dir/model-step<N>[-avg<K>].pt).
"""
import argparse
import logging
import sys
from pathlib import Path

from valle.models.io import CheckpointError
from valle.train.checkpoint import checkpoint_step
from valle.train.export import choose_checkpoints, export_model
from valle.utils.logging import setup_logging


def get_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--exp-dir", type=Path, required=True, help="a model's training directory (exp/<recipe>/ar or nar)")
    p.add_argument("--step", type=int, default=None, help="the (last) checkpoint's step (default: the newest)")
    p.add_argument("--avg", type=int, default=1, help="checkpoints averaged, ending at --step [1: no averaging]")
    p.add_argument("--out", type=Path, default=None, help="output model file")
    p.add_argument("--log-file", type=Path)
    return p.parse_args()


def main():
    args = get_args()
    setup_logging(args.log_file)
    ckpt_dir = args.exp_dir / "checkpoints"
    try:
        out = args.out
        if out is None:
            step = checkpoint_step(choose_checkpoints(ckpt_dir, args.step, args.avg)[-1])
            out = args.exp_dir / (f"model-step{step}" + (f"-avg{args.avg}" if args.avg > 1 else "") + ".pt")
        export_model(ckpt_dir, out, args.step, args.avg)
    except (CheckpointError, ValueError) as e:
        logging.error(str(e))
        sys.exit(1)


if __name__ == "__main__":
    main()
