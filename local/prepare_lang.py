#!/usr/bin/env python3
"""Stage 2: build the lang directory from the stage-1 supervisions.

Inputs:  <manifest-dir>/<corpus>_supervisions_<part>.jsonl.gz for the labeled parts
Outputs: <lang-dir>/{text/<part>.txt, lexicon.txt, phones.txt, words.txt, oov.txt, oov_report.tsv,
         silence_phones.txt, nonsilence_phones.txt, optional_silence.txt, bpe.model, lang_info.json}
"""
import argparse
import json
import logging
import sys
from pathlib import Path

from valle.text.config import LangConfig
from valle.text.lang import prepare_lang, read_transcripts
from valle.utils.logging import setup_logging
from valle.utils.settings import add_settings, from_args


def get_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--manifest-dir", type=Path, required=True)
    p.add_argument("--parts", nargs="+", required=True, help="labeled parts whose transcripts enter the lexicon")
    p.add_argument("--lang-dir", type=Path, required=True)
    p.add_argument("--bpe-parts", nargs="*", default=[], help="parts whose phone strings train the BPE model "
                                                               "(none: all)")
    p.add_argument("--log-file", type=Path)
    add_settings(p, LangConfig)
    return p.parse_args()


def main():
    args = get_args()
    setup_logging(args.log_file)
    try:
        transcripts = {part: read_transcripts(args.manifest_dir, part) for part in args.parts}
        info = prepare_lang(transcripts, args.lang_dir, from_args(LangConfig, args), args.bpe_parts)
    except (FileNotFoundError, ValueError) as e:
        logging.error(str(e))
        sys.exit(1)
    short = {k: v for k, v in info.items() if k != "bpe_phone_chars"}
    logging.info("lang directory %s: %s", args.lang_dir, json.dumps(short, ensure_ascii=False))


if __name__ == "__main__":
    main()
