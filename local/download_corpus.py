#!/usr/bin/env python3
"""Stage 0 for downloadable (or user-provided) corpora.

Input:  --corpus NAME, --corpus-dir DIR, --parts "p1 p2 ...", --method download|manual
Output: DIR/<part>/... for every part, or DIR/... for a flat corpus (--split: no part folders; stage 1
        divides it). Parts already present are used as they are (never downloaded again, never
        modified). With --method manual nothing is downloaded: the parts must already be there (your
        own corpus, see egs/template).
Exit status 1 with a message (no traceback) when a download fails or a part is missing.
"""
import argparse
import logging
import sys
from pathlib import Path

from valle.corpus.base import CorpusError, DownloadError
from valle.corpus.download import check_manual_corpus, download_corpus, download_flat_corpus
from valle.utils.logging import setup_logging


def get_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--corpus", required=True)
    p.add_argument("--corpus-dir", type=Path, required=True)
    p.add_argument("--parts", required=True, help="space-separated part names")
    p.add_argument("--method", choices=("download", "manual"), default="download")
    p.add_argument("--split", default="", help="the corpus's split rule; non-empty: it is flat, fetched whole")
    p.add_argument("--base-url", default=None, help="override the download server (mirrors)")
    p.add_argument("--log-file", default=None)
    return p.parse_args()


def main():
    args = get_args()
    setup_logging(args.log_file)
    parts = args.parts.split()
    try:
        flat = bool(args.split.strip())
        if args.method == "manual":
            check_manual_corpus(args.corpus, args.corpus_dir, parts, flat=flat)
            logging.info(f"{args.corpus}: all parts present in {args.corpus_dir}" if not flat else
                         f"{args.corpus}: present in {args.corpus_dir} (flat; stage 1 splits it into {args.parts})")
        elif flat:
            fetched = download_flat_corpus(args.corpus, args.corpus_dir)
            logging.info(f"{args.corpus}: {'downloaded' if fetched else 'present'} in {args.corpus_dir}")
        else:
            fetched = download_corpus(args.corpus, args.corpus_dir, parts, base_url=args.base_url)
            logging.info(f"{args.corpus}: {len(parts) - len(fetched)} parts present, {len(fetched)} downloaded")
    except (CorpusError, DownloadError) as e:
        logging.error(str(e))
        sys.exit(1)


if __name__ == "__main__":
    main()
