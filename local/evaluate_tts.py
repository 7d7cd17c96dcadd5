#!/usr/bin/env python3
"""Stage 7: synthesize the held-out test speakers' sentences in both prompt modes and evaluate them.

Input:  --exp-dir/{ar,nar}/model.pt (stages 5-6), --exp-dir/align/{gmm,dnn} (stage 3's hybrid ASR),
        --data-dir/lang (stage 2), --data-dir/aligned/cuts_<part>.jsonl.gz (stage 3: test parts for the
        test list, train parts for the recognizer's phone bigram), --data-dir/tokens/codec.pt (stage 4).
Output under --out-dir (default --exp-dir/synth): test_list.tsv, prompts/, prompts_continuation/, ground_truth/,
        resynthesis/, cross/, continuation/ (24 kHz wavs), per_utterance.tsv, metrics.json, metrics.txt.
PER: our stage-3 DNN-HMM as a phone recognizer. WER: PocketSphinx's en-us model (--asr-model); SIM: Resemblyzer's
GE2E speaker encoder (--sim-model), both pretrained and shipped in their wheels. A stronger model (the paper's
HuBERT-Large ASR, WavLM-TDNN) takes their place as a command (--asr-command, --sim-command):
  ASR_COMMAND  <wav list: "id<TAB>path" lines>  <output: "id<TAB>transcript" lines>
  SIM_COMMAND  <pairs: "key<TAB>wav<TAB>prompt wav" lines>  <output: "key<TAB>cosine similarity" lines>
"""
import argparse
import logging
import sys
import time
from pathlib import Path

from valle.eval.config import EvalConfig
from valle.eval.stage7 import evaluate, format_table
from valle.utils.logging import setup_logging
from valle.utils.settings import add_settings, from_args


def get_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--exp-dir", type=Path, required=True, help="exp/<recipe>: ar/, nar/, align/")
    p.add_argument("--data-dir", type=Path, required=True, help="data/<recipe>: lang/, aligned/, tokens/")
    p.add_argument("--out-dir", type=Path, default=None, help="default: <exp-dir>/synth")
    p.add_argument("--test-parts", nargs="+", required=True, help="held-out labeled parts")
    p.add_argument("--bigram-parts", nargs="+", required=True, help="parts whose alignments give the phone bigram")
    p.add_argument("--log-file", default=None)
    add_settings(p, EvalConfig)
    args = p.parse_args()
    args.out_dir = args.out_dir or args.exp_dir / "synth"
    try:
        args.config = from_args(EvalConfig, args)
    except ValueError as e:
        p.error(str(e))
    return args


def main():
    args = get_args()
    setup_logging(args.log_file)
    try:
        t0 = time.time()
        metrics = evaluate(args.exp_dir, args.data_dir, args.out_dir, args.test_parts, args.bigram_parts, args.config)
    except (FileNotFoundError, ValueError, RuntimeError) as e:
        logging.error(str(e))
        sys.exit(1)
    logging.info("stage 7 finished in %.1f s; %s\n%s", time.time() - t0, args.out_dir / "metrics.json",
                 format_table(metrics))


if __name__ == "__main__":
    main()
