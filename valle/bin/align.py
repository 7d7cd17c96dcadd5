"""Forced alignment of a folder of audio + transcripts with the recipe's hybrid DNN-HMM aligner (stage 3):
word and phone TextGrids, like the Montreal Forced Aligner's ``mfa align``.

    python -m valle.bin.align CORPUS_DIR OUTPUT_DIR --model exp/mini/align          # a trained stage-3 model
    python -m valle.bin.align CORPUS_DIR OUTPUT_DIR --train [--model DIR]           # train one on the folder

CORPUS_DIR, either layout (found by its files):
  LibriSpeech   **/*.trans.txt with "<id> TEXT" lines, audio <id>.flac or <id>.wav beside; speaker = id up to '-'
  MFA           every audio file with a .lab or .txt of the same name beside it (the file is the transcript);
                speaker = the audio's folder
Any sample rate, mono or stereo. Transcripts are normalized as stage 2 does (numbers, abbreviations, case).

With --model (stage 3's exp/<recipe>/align, or a model --train wrote): words its lexicon lacks get CMUdict or
espeak-ng pronunciations in its phone set (listed in new_words.tsv); features are normalized per speaker of the
new data. With --train: a lexicon, the monophone GMM-HMM and the DNN are trained on the folder first (a few
minutes for an hour of audio) and kept in --model (default OUTPUT_DIR/model) for later runs.

OUTPUT_DIR gets, named after each audio file's path in CORPUS_DIR: <path>.TextGrid (tiers "words", "phones"),
<path>.json (the same tiers, praatio's JSON layout), and failures.tsv (every file or utterance not aligned, with
the reason), new_words.tsv, summary.json (counts, speed), align.log. Exit status 0 when at least one utterance
was aligned.
"""
import argparse
import logging
import sys
from pathlib import Path

from valle.align.config import AlignConfig
from valle.align.folder_align import AlignToolError, align_folder, check_output_dir
from valle.corpus.base import CorpusError
from valle.corpus.folder import LAYOUTS
from valle.text.config import LangConfig
from valle.utils.jobs import job_threads
from valle.utils.logging import setup_logging
from valle.utils.settings import add_settings, from_args


def get_args(argv=None):
    p = argparse.ArgumentParser(prog="python -m valle.bin.align", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("corpus_dir", type=Path, help="folder of audio + transcripts (LibriSpeech or MFA layout)")
    p.add_argument("output_dir", type=Path, help="where the TextGrids, JSON files and failures.tsv go")
    p.add_argument("--model", type=Path, help="trained stage-3 model folder (exp/<recipe>/align); with --train, "
                                              "where the new model is written [OUTPUT_DIR/model]")
    p.add_argument("--train", action="store_true", help="train the aligner on CORPUS_DIR first")
    p.add_argument("--lang-dir", type=Path, help="the lang dir the model was trained with, for models that do not "
                                                 "keep theirs in <model>/lang (stage 3 before this tool)")
    p.add_argument("--layout", default="auto", choices=("auto",) + LAYOUTS, help="corpus layout [auto]")
    p.add_argument("--nj", type=int, default=1, help="parallel jobs (processes), each a share of the speakers [1]")
    p.add_argument("--keep-work", action="store_true", help="keep the intermediate files (OUTPUT_DIR/.work)")
    # Not offered: unlabeled decoding and stage 3's inspection plots (the outputs here are the TextGrids), BPE.
    add_settings(p, AlignConfig, title="aligner settings (stage 3's; --train uses the training ones)",
                 exclude=("align_decode_acoustic_scale", "align_num_inspect", "unlabeled_decode", "align_lm", "align_lm_order",
                          "align_lm_method", "align_max_graph_cost"))
    add_settings(p, LangConfig, title="lexicon settings (--train only; a trained model keeps its own)",
                 exclude=("bpe_vocab_size",))
    args = p.parse_args(argv)
    if args.nj < 1:
        p.error("--nj must be at least 1")
    try:
        check_output_dir(args.corpus_dir, args.output_dir)  # before align.log is written there
    except AlignToolError as e:
        p.error(str(e))
    if not args.train and args.model is None:
        p.error("give a trained model (--model exp/<recipe>/align) or --train")
    return args


def main(argv=None):
    args = get_args(argv)
    args.output_dir.mkdir(parents=True, exist_ok=True)
    setup_logging(args.output_dir / "align.log")
    import torch

    torch.set_num_threads(job_threads(whole_machine=True))  # training; the jobs set their own
    try:
        result = align_folder(args.corpus_dir, args.output_dir, args.model, args.train, args.lang_dir, args.nj,
                              from_args(AlignConfig, args), from_args(LangConfig, args), args.layout, args.keep_work)
    except (AlignToolError, CorpusError, FileNotFoundError, ValueError) as e:
        logging.error(str(e))
        sys.exit(1)
    if result.aligned == 0:
        logging.error("no utterance could be aligned: see %s", args.output_dir / "failures.tsv")
        sys.exit(1)


if __name__ == "__main__":
    main()
