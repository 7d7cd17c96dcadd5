#!/usr/bin/env python3
"""Stages 5 and 6: train the AR (--model ar) or NAR (--model nar) VALL-E model.

Input:  --lang-dir/phones.txt (stage 2); --aligned-dir/cuts_<part>.jsonl.gz (stage 3);
        --tokens-dir/cuts_<part>.jsonl.gz + codes (stage 4), for --train-parts and --valid-parts.
Output: --exp-dir/{model.pt (final model: type, config, phones, weights), checkpoints/step-<N>.pt (resumable
        training state), tensorboard/, curves.png, summary.json, data/cuts_{train,valid}.jsonl.gz}.
Rerunning resumes from the newest checkpoint (same model, phones, data and number of ranks; otherwise
an error says what differs). Several processes: torchrun --nproc-per-node N local/train.py ... (DDP;
gloo on CPU, nccl on GPUs; multi-node with torchrun's --nnodes/--rdzv-endpoint).
"""
import argparse
import logging
import sys
from pathlib import Path

from valle.models.config import CONFIGS
from valle.train.checkpoint import CheckpointError
from valle.train.trainer import TrainConfig, train
from valle.utils.logging import setup_logging


def get_args():
    d = TrainConfig(model_type="ar", exp_dir=Path("."), phones=Path("."), train_aligned=[], train_tokens=[])
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True, choices=("ar", "nar"))
    p.add_argument("--exp-dir", type=Path, required=True)
    p.add_argument("--lang-dir", type=Path, required=True)
    p.add_argument("--aligned-dir", type=Path, required=True)
    p.add_argument("--tokens-dir", type=Path, required=True)
    p.add_argument("--train-parts", required=True, help="space-separated parts to train on")
    p.add_argument("--valid-parts", default="", help="space-separated parts for validation (empty: none)")
    p.add_argument("--config", default=d.model_config, choices=sorted(CONFIGS), help="model size")
    p.add_argument("--num-steps", type=int, default=d.num_steps, help="total updates (paper: 800k)")
    p.add_argument("--warmup-steps", type=int, default=d.warmup_steps, help="linear warm-up (paper: 32k)")
    p.add_argument("--peak-lr", type=float, default=d.peak_lr)
    p.add_argument("--weight-decay", type=float, default=d.weight_decay)
    p.add_argument("--grad-clip", type=float, default=d.grad_clip)
    p.add_argument("--max-batch", type=float, default=d.max_batch,
                   help="per rank and batch: seconds of cropped audio (--batch-unit seconds) or tokens")
    p.add_argument("--batch-unit", default=d.batch_unit, choices=("seconds", "tokens"))
    p.add_argument("--num-buckets", type=int, default=d.num_buckets, help="DynamicBucketingSampler buckets")
    p.add_argument("--quadratic-duration", type=float, default=None,
                   help="lhotse's attention-cost correction (e.g. 30); unset: none")
    p.add_argument("--crop-min", type=float, default=d.crop_min, help="seconds (paper: 10)")
    p.add_argument("--crop-max", type=float, default=d.crop_max, help="seconds (paper: 20)")
    p.add_argument("--prompt-seconds", type=float, default=d.prompt_seconds, help="NAR acoustic prompt (paper: 3)")
    p.add_argument("--dtype", default=d.dtype, choices=("float32", "bfloat16", "float16"))
    p.add_argument("--device", default=d.device, choices=("auto", "cpu", "cuda"))
    p.add_argument("--num-workers", type=int, default=d.num_workers, help="DataLoader workers per rank")
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--log-interval", type=int, default=d.log_interval)
    p.add_argument("--valid-interval", type=int, default=d.valid_interval)
    p.add_argument("--save-interval", type=int, default=d.save_interval)
    p.add_argument("--keep-last", type=int, default=d.keep_last, help="training checkpoints kept")
    p.add_argument("--max-bad-steps", type=int, default=d.max_bad_steps,
                   help="consecutive NaN/inf losses before stopping (the batch is saved)")
    p.add_argument("--stop-after", type=int, default=0,
                   help="leave after this many updates in this run, with a checkpoint (0: train to --num-steps)")
    p.add_argument("--threads", type=int, default=0, help="torch threads per rank (0: torch's default)")
    p.add_argument("--log-file", default=None)
    return p.parse_args()


def main():
    args = get_args()
    setup_logging(args.log_file)
    phones = args.lang_dir / "phones.txt"
    if not phones.is_file():
        logging.error(f"expected {phones} (stage 2 makes it)")
        sys.exit(1)
    parts = args.train_parts.split()
    valid = args.valid_parts.split()
    cfg = TrainConfig(
        model_type=args.model, exp_dir=args.exp_dir, phones=phones,
        train_aligned=[args.aligned_dir / f"cuts_{p}.jsonl.gz" for p in parts],
        train_tokens=[args.tokens_dir / f"cuts_{p}.jsonl.gz" for p in parts],
        valid_aligned=[args.aligned_dir / f"cuts_{p}.jsonl.gz" for p in valid],
        valid_tokens=[args.tokens_dir / f"cuts_{p}.jsonl.gz" for p in valid],
        model_config=args.config, num_steps=args.num_steps, warmup_steps=args.warmup_steps,
        peak_lr=args.peak_lr, weight_decay=args.weight_decay, grad_clip=args.grad_clip,
        max_batch=args.max_batch, batch_unit=args.batch_unit, num_buckets=args.num_buckets,
        quadratic_duration=args.quadratic_duration, crop_min=args.crop_min, crop_max=args.crop_max,
        prompt_seconds=args.prompt_seconds, dtype=args.dtype, device=args.device,
        num_workers=args.num_workers, seed=args.seed, log_interval=args.log_interval,
        valid_interval=args.valid_interval, save_interval=args.save_interval, keep_last=args.keep_last,
        max_bad_steps=args.max_bad_steps, threads=args.threads, stop_after=args.stop_after)
    try:
        train(cfg)
    except (CheckpointError, FileNotFoundError, FloatingPointError) as e:
        logging.error(str(e))
        sys.exit(1)


if __name__ == "__main__":
    main()
