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

from valle.data.mini_corpus import MiniCorpusConfig, build_mini_corpus
from valle.utils.logging import setup_logging


def get_args():
    d = MiniCorpusConfig()
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out-dir", type=Path, required=True)
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--train-speakers", type=int, default=d.train_speakers)
    p.add_argument("--train-utts-per-speaker", type=int, default=d.train_utts_per_speaker)
    p.add_argument("--dev-speakers", type=int, default=d.dev_speakers)
    p.add_argument("--dev-utts-per-speaker", type=int, default=d.dev_utts_per_speaker)
    p.add_argument("--test-speakers", type=int, default=d.test_speakers)
    p.add_argument("--test-utts-per-speaker", type=int, default=d.test_utts_per_speaker)
    p.add_argument("--unlabeled-speakers", default=" ".join(map(str, d.unlabeled_speakers)),
                   help="speakers in LibriLight small, medium, large (three integers)")
    p.add_argument("--unlabeled-files-per-speaker", type=int, default=d.unlabeled_files_per_speaker)
    p.add_argument("--unlabeled-sentences-per-file", type=int, default=d.unlabeled_sentences_per_file)
    p.add_argument("--nj", type=int, default=1, help="parallel synthesis processes")
    p.add_argument("--log-file", default=None)
    return p.parse_args()


def main():
    args = get_args()
    setup_logging(args.log_file)
    unlabeled = tuple(int(x) for x in args.unlabeled_speakers.split())
    if len(unlabeled) != 3 or min(unlabeled) < 1:
        raise SystemExit("--unlabeled-speakers needs three positive integers (small medium large)")
    for name in ("train_speakers", "dev_speakers", "test_speakers", "train_utts_per_speaker",
                 "dev_utts_per_speaker", "test_utts_per_speaker", "unlabeled_files_per_speaker",
                 "unlabeled_sentences_per_file"):
        if getattr(args, name) < 1:
            raise SystemExit(f"--{name.replace('_', '-')} must be at least 1")
    config = MiniCorpusConfig(
        seed=args.seed, train_speakers=args.train_speakers, train_utts_per_speaker=args.train_utts_per_speaker,
        dev_speakers=args.dev_speakers, dev_utts_per_speaker=args.dev_utts_per_speaker,
        test_speakers=args.test_speakers, test_utts_per_speaker=args.test_utts_per_speaker,
        unlabeled_speakers=unlabeled, unlabeled_files_per_speaker=args.unlabeled_files_per_speaker,
        unlabeled_sentences_per_file=args.unlabeled_sentences_per_file)
    start = time.time()
    summary = build_mini_corpus(args.out_dir, config, num_jobs=args.nj)
    logging.info(f"mini corpus in {args.out_dir}: {summary['hours']:.2f} h, {summary['speakers']} speakers, "
                 f"{sum(p['files'] for p in summary['parts'].values())} files, in {time.time() - start:.1f} s")
    for part, p in summary["parts"].items():
        logging.info(f"  {part:<16} {p['files']:5d} files {p['hours']:7.3f} h {p['speakers']:3d} speakers {p['words']:6d} words")
    logging.info(f"ground truth (kept apart from the pipeline): {args.out_dir / 'ground_truth'}")


if __name__ == "__main__":
    main()
