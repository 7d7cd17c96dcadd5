#!/usr/bin/env python3
"""Stages 5 and 6: train the AR (--model ar) or NAR (--model nar) VALL-E model.

Input:  --lang-dir/phones.txt (stage 2); --tts-dir/{shard-*.jsonl.gz, valid.jsonl.gz, summary.json} (the
        training-data build, local/prepare_tts_data.py).
Output: --exp-dir/{model.pt (final model: type, config, phones, weights), checkpoints/step-<N>.pt (resumable
        training state), tensorboard/, curves.png, summary.json}.
Rerunning resumes from the newest checkpoint (same model, phones, data and number of ranks; otherwise
an error says what differs). Several processes: torchrun --nproc-per-node N local/train.py ... (DDP;
gloo on CPU, nccl on GPUs; multi-node with torchrun's --nnodes/--rdzv-endpoint).
"""
import argparse
import logging
import sys
from pathlib import Path

from valle.models.io import CheckpointError
from valle.train.config import TrainConfig, train_inputs
from valle.train.trainer import train
from valle.utils.logging import setup_logging
from valle.utils.settings import add_settings, from_args


def get_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True, choices=("ar", "nar"))
    p.add_argument("--exp-dir", type=Path, required=True)
    p.add_argument("--lang-dir", type=Path, required=True)
    p.add_argument("--tts-dir", type=Path, required=True, help="the training data (shards, validation examples)")
    p.add_argument("--log-file", default=None)
    add_settings(p, TrainConfig)
    return p.parse_args()


def main():
    args = get_args()
    setup_logging(args.log_file)
    try:
        inputs = train_inputs(args.model, args.exp_dir, args.lang_dir, args.tts_dir)
        train(from_args(TrainConfig, args, **inputs))
    except (CheckpointError, FileNotFoundError, FloatingPointError, ValueError) as e:
        logging.error(str(e))
        sys.exit(1)


if __name__ == "__main__":
    main()
