#!/usr/bin/env python3
"""Stage 1: lhotse manifests for one corpus.

Input:  --corpus-dir DIR with one folder per part (layout of --corpus, or of --prepare-fn), or a flat corpus
        divided into its parts by --split
Output: --output-dir/<corpus>_recordings_<part>.jsonl.gz, <corpus>_supervisions_<part>.jsonl.gz,
        cuts_<part>.jsonl.gz (one cut per recording), skipped_<corpus>.tsv (audio files and transcript
        lines left out, and why)
Unreadable, empty or truncated audio is skipped and listed; so are transcript lines that cannot be used
(no text, bad or duplicated id, stray characters, wrong encoding, missing audio: the layout comes from
the corpus, or from TRANSCRIPTS beside --prepare-fn). A missing or empty corpus directory or part stops
the stage with a message naming it.
"""
import argparse
import logging
import sys
from pathlib import Path

from valle.corpus.base import CorpusError
from valle.corpus.known import load_corpus_info
from valle.corpus.manifests import UNKNOWN_SPEAKER, prepare_corpus
from valle.corpus.split import SplitError, parse_split
from valle.utils.logging import setup_logging


def get_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--corpus", required=True, help="librispeech, librilight, libritts, or your corpus's name")
    p.add_argument("--corpus-dir", type=Path, required=True)
    p.add_argument("--parts", required=True, help="space-separated part names")
    p.add_argument("--output-dir", type=Path, required=True)
    p.add_argument("--prepare-fn", default=None,
                   help="'file.py:function', 'module:function' or 'lhotse:prepare_<corpus>': a lhotse-style "
                        "prepare function, per part (taking dataset_parts) or for the whole corpus "
                        "(default: the built-in one for --corpus)")
    p.add_argument("--split", default="",
                   help="the corpus is flat (no part folders): divide it by this rule, e.g. 'test_speakers=2 "
                        "dev_every=50' (valle/corpus/split.py); --parts then names the parts it makes")
    p.add_argument("--unknown-speaker", default="corpus", choices=UNKNOWN_SPEAKER,
                   help="speaker of a supervision without one: corpus = one speaker named after the corpus, "
                        "utterance = each its own")
    p.add_argument("--nj", type=int, default=1)
    p.add_argument("--log-file", default=None)
    return p.parse_args()


def main():
    args = get_args()
    setup_logging(args.log_file)
    try:
        info = load_corpus_info(args.prepare_fn) if args.prepare_fn else None
        stats = prepare_corpus(args.corpus, args.corpus_dir, args.parts.split(), args.output_dir,
                               prepare_fn=info and info.prepare, num_jobs=args.nj,
                               transcripts=info and info.transcripts, split=parse_split(args.split),
                               unknown_speaker=args.unknown_speaker)
    except (CorpusError, SplitError, FileNotFoundError, AttributeError, ValueError, TypeError) as e:
        logging.error(f"{args.corpus}: {e}")
        sys.exit(1)
    for part, s in stats.items():
        logging.info(f"{args.corpus}/{part}: {s.recordings} recordings, {s.supervisions} supervisions, "
                     f"{s.speakers} speakers, {s.hours:.3f} h")


if __name__ == "__main__":
    main()
