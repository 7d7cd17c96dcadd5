#!/usr/bin/env python3
"""Stage 0 for LibriSpeech's language-model resources (openslr resource 11), as Kaldi's local/download_lm.sh.

Input:  --lm-dir DIR, --files "3-gram.pruned.1e-7.arpa.gz librispeech-lexicon.txt ...", --method download|manual
Output: DIR/<file> for every file, each checked against its known size (and a .gz read through to its CRC).
        Files already there and complete are used as they are; one there but wrong is an error, never touched.
        An interrupted download leaves DIR/<file>.part, which the next run resumes.
Exit status 1 with a message (no traceback) when a download fails or a file is missing or wrong.
"""
import argparse
import logging
import sys
from pathlib import Path

from valle.corpus.base import CorpusError, DownloadError
from valle.corpus.lm_resources import check_manual_lm_files, download_lm_files
from valle.utils.logging import setup_logging


def get_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--lm-dir", type=Path, required=True)
    p.add_argument("--files", required=True, help="space-separated file names of openslr 11")
    p.add_argument("--method", choices=("download", "manual"), default="download")
    p.add_argument("--base-url", default=None, help="override the download server (mirrors, e.g. "
                                                    "https://us.openslr.org/resources/11)")
    p.add_argument("--log-file", default=None)
    return p.parse_args()


def main():
    args = get_args()
    setup_logging(args.log_file)
    names = args.files.split()
    try:
        if args.method == "manual":
            check_manual_lm_files(args.lm_dir, names)
            logging.info("LM files present in %s: %s", args.lm_dir, " ".join(names))
        else:
            fetched = download_lm_files(args.lm_dir, names, base_url=args.base_url)
            logging.info("LM files in %s: %d present, %d downloaded", args.lm_dir, len(names) - len(fetched),
                         len(fetched))
    except (CorpusError, DownloadError) as e:
        logging.error(str(e))
        sys.exit(1)


if __name__ == "__main__":
    main()
