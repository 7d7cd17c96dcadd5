#!/usr/bin/env python3
"""Stage 3: hybrid DNN-HMM phone alignment (the paper's phonemes).

Inputs:  <lang-dir> (stage 2), <manifest-dir>/cuts_<part>.jsonl.gz (stage 1)
Outputs: <exp-dir>/{feats,gmm,dnn,ali,decode,inspect}/..., <exp-dir>/summary.json,
         <aligned-dir>/cuts_<part>.jsonl.gz with supervision alignments "phone", "tts_phone" (consecutive
         repeats merged) and "word" (labeled parts), <exp-dir>/ali/failed_<part>.tsv (left-out utterances).
Steps already finished (their .done / outputs exist) are not redone; delete <exp-dir> to start over.
"""
import argparse
import json
import logging
import time
from pathlib import Path

from valle.align.features import SAMPLE_RATE
from valle.align.pipeline import (AlignOptions, Aligner, phone_items, utterance_samples, words_from_phones,
                                  write_aligned_cuts, write_failures)
from valle.align.textgrid import plot_alignment, write_textgrid
from valle.utils.audio import load_mono
from valle.utils.io import write_text_atomic
from valle.utils.logging import setup_logging


def get_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--lang-dir", type=Path, required=True)
    p.add_argument("--manifest-dir", type=Path, required=True)
    p.add_argument("--exp-dir", type=Path, required=True)
    p.add_argument("--aligned-dir", type=Path, required=True)
    p.add_argument("--train-parts", required=True, help="labeled parts that train the GMM and the DNN")
    p.add_argument("--labeled-parts", default="", help="other labeled parts to force-align (dev, test)")
    p.add_argument("--unlabeled-parts", default="", help="parts without transcripts, decoded with a phone bigram")
    p.add_argument("--engine", choices=["auto", "kaldi", "k2"], default="auto")
    p.add_argument("--gmm-iters", type=int, default=16)
    p.add_argument("--total-gauss", type=int, default=500)
    p.add_argument("--dnn-epochs", type=int, default=8)
    p.add_argument("--dnn-subsampling", type=int, default=3, help="3 = the paper's 30 ms frame shift")
    p.add_argument("--dnn-frame-shift", type=int, default=10, choices=[10, 30],
                   help="alignment frame shift: 10 = DNN run at every input phase through the GMM's 3-state graphs; "
                        "30 = the network's own output rate with one-state phone HMMs (the paper's)")
    p.add_argument("--decode-acoustic-scale", type=float, default=0.5)
    p.add_argument("--num-inspect", type=int, default=3, help="utterances per part written as TextGrid + PNG")
    p.add_argument("--log-file", type=Path)
    return p.parse_args()


def align_corpus(args) -> dict:
    opts = AlignOptions(engine=args.engine, decode_acoustic_scale=args.decode_acoustic_scale,
                        dnn_frame_shift_ms=args.dnn_frame_shift,
                        num_inspect=args.num_inspect)
    opts.gmm.num_iters = args.gmm_iters
    opts.gmm.realign_iters = tuple(i for i in opts.gmm.realign_iters if i < args.gmm_iters)
    opts.gmm.total_gauss = args.total_gauss
    opts.gmm.max_iter_inc = min(opts.gmm.max_iter_inc, max(1, args.gmm_iters - 4))
    opts.dnn.epochs, opts.dnn.subsampling = args.dnn_epochs, args.dnn_subsampling
    al = Aligner(args.lang_dir, args.manifest_dir, args.exp_dir, opts)
    train_parts = args.train_parts.split()
    labeled = train_parts + [p for p in args.labeled_parts.split() if p not in train_parts]
    unlabeled = args.unlabeled_parts.split()
    summary = {"engine": al.engine.name, "steps": {}, "parts": {}}
    t0 = time.time()
    for p in labeled:
        al.features(p, True)
    for p in unlabeled:
        al.features(p, False)
    summary["steps"]["features_s"] = time.time() - t0
    t = time.time()
    al.train_gmm(train_parts)
    summary["steps"]["gmm_s"] = time.time() - t
    t = time.time()
    al.train_dnn(train_parts)
    summary["steps"]["dnn_s"] = time.time() - t

    t = time.time()
    (args.exp_dir / "ali").mkdir(parents=True, exist_ok=True)
    train_alignments, inspect = [], []
    for part in labeled:
        hmm, s, alignments, failures, retried = al.dnn_align(part)
        phones, words = {}, {}
        for u in al.part_utts(part, True):
            if u.id not in alignments:
                continue
            phones[u.id] = phone_items(hmm, alignments[u.id], s, u.duration)
            w = words_from_phones(u.words, phones[u.id], al.lang.lexicon)
            if w is None:
                failures[u.id] = "word timings could not be matched to the aligned phones"
                phones.pop(u.id)
                continue
            words[u.id] = w
        if part in train_parts:
            train_alignments += [alignments[k] for k in phones]
        write_failures(args.exp_dir / "ali" / f"failed_{part}.tsv", failures)
        n_cuts, n_left = write_aligned_cuts(al.cuts[part], al.part_utts(part, True), phones, words,
                                            args.aligned_dir / f"cuts_{part}.jsonl.gz")
        summary["parts"][part] = {"kind": "labeled", "utterances": len(al.part_utts(part, True)),
                                  "aligned": len(phones), "failed": len(failures), "retried_wider_beam": retried,
                                  "cuts_written": n_cuts, "cuts_left_out": n_left,
                                  "failure_reasons": _reason_counts(failures)}
        logging.info("%s: %d aligned, %d failed (listed in ali/failed_%s.tsv), %d needed the retry beam; "
                     "%d cuts written, %d left out", part, len(phones), len(failures), part, retried, n_cuts, n_left)
        inspect += [(part, u, phones[u.id], words[u.id]) for u in al.part_utts(part, True)
                    if u.id in phones][: args.num_inspect]
    summary["steps"]["align_s"] = time.time() - t

    t = time.time()
    for part in unlabeled:
        hmm, s, results, failures = al.decode_unlabeled(part, train_alignments)
        phones = {u.id: phone_items(hmm, results[u.id], s, u.duration) for u in al.part_utts(part, False)
                  if u.id in results}
        write_failures(args.exp_dir / "ali" / f"failed_{part}.tsv", failures)
        n_cuts, n_left = write_aligned_cuts(al.cuts[part], al.part_utts(part, False), phones, {},
                                            args.aligned_dir / f"cuts_{part}.jsonl.gz")
        summary["parts"][part] = {"kind": "unlabeled", "segments": len(al.part_utts(part, False)),
                                  "decoded": len(phones), "failed": len(failures), "cuts_written": n_cuts,
                                  "cuts_left_out": n_left, "failure_reasons": _reason_counts(failures)}
        logging.info("%s: %d segments decoded, %d failed; %d cuts written, %d left out", part, len(phones),
                     len(failures), n_cuts, n_left)
        inspect += [(part, u, phones[u.id], []) for u in al.part_utts(part, False) if u.id in phones][:1]
    summary["steps"]["decode_s"] = time.time() - t

    for part, u, ph, wd in inspect:
        name = u.id.replace("/", "_")
        tiers = {"words": wd, "phones": ph}
        write_textgrid(args.exp_dir / "inspect" / f"{name}.TextGrid", tiers, u.duration)
        cut = al.cuts[part][u.cut_id]
        audio = utterance_samples(load_mono(cut, SAMPLE_RATE), u, cut)
        plot_alignment(args.exp_dir / "inspect" / f"{name}.png", audio, SAMPLE_RATE, tiers,
                       title=f"{u.id} ({al.engine.name} engine, DNN-HMM)")
    summary["total_s"] = time.time() - t0
    write_text_atomic(args.exp_dir / "summary.json", json.dumps(summary, indent=1) + "\n")
    return summary


def _reason_counts(failures: dict) -> dict:
    out = {}
    for r in failures.values():
        key = r.split(":")[0]
        out[key] = out.get(key, 0) + 1
    return out


def main():
    args = get_args()
    setup_logging(args.log_file)
    summary = align_corpus(args)
    logging.info("stage 3 finished in %.1f s: %s", summary["total_s"], json.dumps(summary["parts"]))


if __name__ == "__main__":
    main()
