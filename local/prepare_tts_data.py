#!/usr/bin/env python3
"""Start of stages 5-6: the training data, built once for the AR and the NAR model.

Input:  --aligned-dir/cuts_<part>.jsonl.gz (stage 3); --tokens-dir/cuts_<part>.jsonl.gz + codes (stage 4), for
        --train-parts and --valid-parts.
Output: --out-dir/{shard-NNNNN.jsonl.gz (training examples, globally shuffled), valid.jsonl.gz, summary.json}.
Joins alignments and codes by cut id, joins consecutive voice-activity segments of a recording into examples
of up to --merge-max-seconds, shuffles out of core. Memory does not grow with the corpus.
"""
import argparse
import logging
import sys
from pathlib import Path

from valle.codec.encodec import codec_identity
from valle.data.config import TtsDataConfig
from valle.data.tts_data import build_tts_data
from valle.utils.logging import setup_logging
from valle.utils.settings import add_settings, from_args


def get_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--aligned-dir", type=Path, required=True)
    p.add_argument("--tokens-dir", type=Path, required=True)
    p.add_argument("--train-parts", nargs="+", required=True, help="parts to train on")
    p.add_argument("--valid-parts", nargs="*", default=[], help="parts for validation (none: no validation)")
    p.add_argument("--out-dir", type=Path, required=True)
    p.add_argument("--log-file", type=Path)
    add_settings(p, TtsDataConfig)
    return p.parse_args()


def main():
    args = get_args()
    setup_logging(args.log_file)

    def paths(d, parts):
        return [d / f"cuts_{p}.jsonl.gz" for p in parts]
    try:
        codec_pt = args.tokens_dir / "codec.pt"
        codec = codec_identity(codec_pt) if codec_pt.is_file() else None
        build_tts_data(paths(args.aligned_dir, args.train_parts), paths(args.tokens_dir, args.train_parts),
                       args.out_dir, paths(args.aligned_dir, args.valid_parts),
                       paths(args.tokens_dir, args.valid_parts), from_args(TtsDataConfig, args), codec)
    except (FileNotFoundError, ValueError) as e:
        logging.error(str(e))
        sys.exit(1)


if __name__ == "__main__":
    main()
