#!/usr/bin/env python3
"""Stage 0 of egs/mini: synthesize the embedded corpus with espeak-ng.

Input:  nothing but the options (deterministic from --seed).
Output: --out-dir/LibriSpeech/{train-clean-100,dev-clean,test-clean}/...   (flac + trans.txt)
        --out-dir/librilight/{small,medium,large}/<spk>/<book>/*.{flac,json}
        --out-dir/ground_truth/{librispeech,librilight}.jsonl.gz, speakers.json   (never read by the pipeline)
        --out-dir/MINI_CORPUS.json   (config and summary)
"""
import argparse
import logging
import time
from pathlib import Path

from valle.corpus.mini.build import build_mini_corpus
from valle.corpus.mini.config import MiniCorpusConfig
from valle.utils.logging import setup_logging
from valle.utils.settings import add_settings, from_args


def get_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out-dir", type=Path, required=True)
    p.add_argument("--nj", type=int, default=1, help="parallel synthesis processes")
    p.add_argument("--log-file", default=None)
    add_settings(p, MiniCorpusConfig, prefix="mini_")
    return p.parse_args()


def main():
    args = get_args()
    setup_logging(args.log_file)
    try:
        config = from_args(MiniCorpusConfig, args, prefix="mini_")
    except ValueError as e:
        raise SystemExit(f"make_mini_corpus.py: {e}")
    start = time.time()
    summary = build_mini_corpus(args.out_dir, config, num_jobs=args.nj)
    logging.info(f"mini corpus in {args.out_dir}: {summary['hours']:.2f} h, {summary['speakers']} speakers, "
                 f"{sum(p['files'] for p in summary['parts'].values())} files, in {time.time() - start:.1f} s")
    for part, p in summary["parts"].items():
        logging.info(f"  {part:<16} {p['files']:5d} files {p['hours']:7.3f} h {p['speakers']:3d} speakers {p['words']:6d} words")
    logging.info(f"ground truth (kept apart from the pipeline): {args.out_dir / 'ground_truth'}")


if __name__ == "__main__":
    main()
