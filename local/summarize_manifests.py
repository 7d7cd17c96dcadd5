#!/usr/bin/env python3
"""End of stage 1: print and save the corpus summary (hours, speakers, utterances per part).

Input:  --manifest-dir with <corpus>_{recordings,supervisions}_<part>.jsonl.gz and skipped_<corpus>.tsv
Output: --output (a text table), also printed.
"""
import argparse
from pathlib import Path

from valle.corpus.manifests import summarize_manifests
from valle.utils.io import write_text_atomic


def get_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--manifest-dir", type=Path, required=True)
    p.add_argument("--output", type=Path, required=True)
    return p.parse_args()


def main():
    args = get_args()
    table = summarize_manifests(args.manifest_dir)
    write_text_atomic(args.output, table)
    print(table, end="")


if __name__ == "__main__":
    main()
