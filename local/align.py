#!/usr/bin/env python3
"""Stage 3: hybrid DNN-HMM phone alignment (the paper's phonemes).

Inputs:  <lang-dir> (stage 2), <manifest-dir>/cuts_<part>.jsonl.gz (stage 1)
Outputs: <exp-dir>/{feats,gmm,dnn,ali,decode,inspect}/..., <exp-dir>/summary.json,
         <aligned-dir>/cuts_<part>.jsonl.gz with supervision alignments "phone", "tts_phone" (consecutive
         repeats merged) and "word" (labeled parts), <exp-dir>/ali/failed_<part>.tsv (left-out utterances).
Steps already finished (their .done / outputs exist) are not redone; delete <exp-dir> to start over.
"""
import argparse
import json
import logging
import sys
from pathlib import Path

from valle.align.config import AlignConfig
from valle.align.stage import align_corpus
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
    p.add_argument("--log-file", type=Path)
    add_settings(p, AlignConfig)
    return p.parse_args()


def main():
    args = get_args()
    setup_logging(args.log_file)
    try:
        summary = align_corpus(args.lang_dir, args.manifest_dir, args.exp_dir, args.aligned_dir, args.train_parts,
                               args.labeled_parts, args.unlabeled_parts, from_args(AlignConfig, args))
    except (FileNotFoundError, ValueError, RuntimeError) as e:
        logging.error(str(e))
        sys.exit(1)
    logging.info("stage 3 finished in %.1f s: %s", summary["total_s"], json.dumps(summary["parts"]))


if __name__ == "__main__":
    main()
