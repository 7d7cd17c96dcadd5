#!/usr/bin/env python3
"""Stage 2: build the lang directory from the stage-1 supervisions.

Inputs:  <manifest-dir>/<corpus>_supervisions_<part>.jsonl.gz for the labeled parts
Outputs: <lang-dir>/{text/<part>.txt, lexicon.txt, phones.txt, words.txt, oov.txt, oov_report.tsv,
         silence_phones.txt, nonsilence_phones.txt, optional_silence.txt, bpe.model, lang_info.json}
"""
import argparse
import json
import logging
from pathlib import Path

from valle.text.lang import prepare_lang
from valle.utils.logging import setup_logging


def get_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--manifest-dir", type=Path, required=True)
    p.add_argument("--parts", required=True, help="labeled parts (space separated) whose transcripts enter the lexicon")
    p.add_argument("--lang-dir", type=Path, required=True)
    p.add_argument("--phone-set", choices=["arpabet", "ipa"], default="arpabet")
    p.add_argument("--g2p-languages", default="en-us", help="espeak-ng voices for G2P (space separated)")
    p.add_argument("--bpe-vocab-size", type=int, default=500)
    p.add_argument("--bpe-parts", default="", help="parts whose phone strings train the BPE model (default: all)")
    p.add_argument("--log-file", type=Path)
    return p.parse_args()


def read_transcripts(manifest_dir: Path, part: str) -> dict:
    from lhotse import SupervisionSet

    files = sorted(manifest_dir.glob(f"*_supervisions_{part}.jsonl.gz"))
    if not files:
        raise SystemExit(f"expected {manifest_dir}/<corpus>_supervisions_{part}.jsonl.gz to exist (stage 1 makes it)")
    texts = {}
    for f in files:
        for sup in SupervisionSet.from_file(f):
            texts[sup.id] = sup.text
    return texts


def main():
    args = get_args()
    setup_logging(args.log_file)
    transcripts = {part: read_transcripts(args.manifest_dir, part) for part in args.parts.split()}
    info = prepare_lang(transcripts, args.lang_dir, args.phone_set, args.g2p_languages.split(),
                        args.bpe_vocab_size, args.bpe_parts.split())
    short = {k: v for k, v in info.items() if k != "bpe_phone_chars"}
    logging.info("lang directory %s: %s", args.lang_dir, json.dumps(short, ensure_ascii=False))


if __name__ == "__main__":
    main()
