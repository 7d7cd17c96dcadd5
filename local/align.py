#!/usr/bin/env python3
"""Stage 3: hybrid DNN-HMM phone alignment (the paper's phonemes), as Kaldi-style split jobs.

Inputs:  <lang-dir> (stage 2), <manifest-dir>/cuts_<part>.jsonl.gz (stage 1)
Outputs: <aligned-dir>/cuts_<part>.jsonl.gz with supervision alignments "phone", "tts_phone" (consecutive
         repeats merged) and "word" (labeled parts); <exp-dir>/ali/failed_<part>.tsv (left-out utterances
         and why); <exp-dir>/{gmm,dnn,decode,inspect}/, <exp-dir>/summary.json; <exp-dir>/split<N>/ (pieces).

--step: split, then features (JOB=1..N), then train, then align (JOB=1..N), then combine; "all" runs
every step here, the jobs one after another. run.sh runs the JOB steps through $cmd:
  utils/run.pl JOB=1:N exp/<recipe>/log/stage3_features.JOB.log local/align.py ... --step features --job JOB
A step or job whose outputs are complete is not redone; delete <exp-dir> (run.sh --force) to start over.
"""
import argparse
import json
import logging
import sys
from pathlib import Path

import torch

from valle.align.config import AlignConfig
from valle.align.stage import STEPS, Parts, Stage3
from valle.utils.jobs import job_threads
from valle.utils.logging import setup_logging
from valle.utils.settings import add_settings, from_args


def get_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--lang-dir", type=Path, required=True)
    p.add_argument("--manifest-dir", type=Path, required=True)
    p.add_argument("--exp-dir", type=Path, required=True)
    p.add_argument("--aligned-dir", type=Path, required=True)
    p.add_argument("--train-parts", nargs="+", required=True, help="labeled parts that train the GMM and the DNN")
    p.add_argument("--labeled-parts", nargs="*", default=[], help="other labeled parts to force-align (dev, test)")
    p.add_argument("--unlabeled-parts", nargs="*", default=[], help="parts without transcripts, decoded with a "
                                                                      "phone bigram")
    p.add_argument("--step", choices=STEPS + ("all",), default="all", help="the step to run [all]")
    p.add_argument("--nj", type=int, default=1, help="number of pieces (jobs of the features and align steps) [1]")
    p.add_argument("--job", type=int, help="the piece of a features or align step, 1..--nj")
    p.add_argument("--threads", type=int, default=0,
                   help="torch threads (0: Slurm's --cpus-per-task in a Slurm job, else 1 per job and all cores for the "
                        "train step: results do not depend on --nj) [0]")
    p.add_argument("--log-file", type=Path)
    add_settings(p, AlignConfig)
    args = p.parse_args()
    if args.step in ("features", "align") and args.job is None:
        p.error(f"--step {args.step} needs --job (1..--nj)")
    return args


def main():
    args = get_args()
    setup_logging(args.log_file)
    # The train step runs alone: it has the machine (or its Slurm allocation) to itself, whatever --nj is.
    torch.set_num_threads(args.threads if args.threads > 0 else job_threads(whole_machine=args.step in ("train", "all")))
    parts = Parts(args.train_parts, args.labeled_parts, args.unlabeled_parts)
    try:
        stage = Stage3(args.lang_dir, args.manifest_dir, args.exp_dir, args.aligned_dir, parts, args.nj,
                       from_args(AlignConfig, args))
        if args.step == "all":
            summary = stage.run_all()
        elif args.step in ("features", "align"):
            getattr(stage, args.step)(args.job)
            return
        else:
            summary = getattr(stage, args.step)()
            if args.step != "combine":
                return
    except (FileNotFoundError, ValueError, RuntimeError) as e:
        logging.error(str(e))
        sys.exit(1)
    logging.info("stage 3 finished (%.1f job-seconds): %s", summary["total_s"], json.dumps(summary["parts"]))


if __name__ == "__main__":
    main()
