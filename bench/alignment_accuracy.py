#!/usr/bin/env python3
"""Alignment accuracy of the stage-3 models against the mini corpus's ground truth (espeak-ng's own timings).

For the held-out labeled parts (dev + test speakers): the monophone GMM-HMM (10 ms), the DNN-HMM at 10 ms
(network run at every input phase, GMM graphs) and the DNN-HMM at 30 ms (the paper's frame shift):
median / mean phone- and word-boundary error, % within 20 and 50 ms, and alignment speed (x real time).
For the unlabeled parts: phone error rate of the phone-bigram decoding against the true phones.

Needs stage 3 to have run:  ./run.sh --stop-stage 3   (then)   python bench/alignment_accuracy.py
Last line: dnn_median_phone_boundary_error_ms=<x>
"""
import argparse
import collections
import json
import logging
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from valle.align.config import AlignConfig  # noqa: E402
from valle.align.pipeline import Aligner, phone_items, words_from_phones  # noqa: E402
from valle.eval.alignment import (load_ground_truth, phone_boundary_errors, phone_error_rate,  # noqa: E402
                                  summarize, word_boundary_errors)
from valle.text.lexicon import ipa_to_arpabet  # noqa: E402


def get_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-dir", type=Path, default=Path("data/mini"))
    p.add_argument("--exp-dir", type=Path, default=Path("exp/mini/align"))
    p.add_argument("--parts", default="dev-clean test-clean", help="held-out labeled parts")
    p.add_argument("--unlabeled-parts", default="small medium large")
    p.add_argument("--engine", default="auto")
    return p.parse_args()


def ref_mapper(lang_info: dict):
    """Reference phones are espeak IPA; with the ARPAbet set they are mapped (first piece keeps the label)."""
    if lang_info["phone_set"] == "ipa":
        return lambda p: p
    return lambda p: " ".join(ipa_to_arpabet(p))


def gmm_alignments(al: Aligner, part: str):
    return al.gmm_align(part)


def dnn_alignments(al: Aligner, part: str, shift: int):
    hmm, s, ali, _, _ = al.dnn_align(part, shift)
    return {u.id: phone_items(hmm, ali[u.id], s, u.duration) for u in al.part_utts(part, True) if u.id in ali}


def score(al: Aligner, gt: dict, parts, system, mapper) -> dict:
    pe, we, n_utts, audio, secs = [], [], 0, 0.0, 0.0
    for part in parts:
        t0 = time.time()
        phones = system(al, part)
        secs += time.time() - t0
        for u in al.part_utts(part, True):
            audio += u.duration
            if u.id not in phones:
                continue
            n_utts += 1
            ref = [(mapper(p).split()[0] if p != "sil" else p, s, e) for p, s, e, _ in gt[u.id]["phones"]]
            pe += phone_boundary_errors(ref, phones[u.id])
            words = words_from_phones(u.words, phones[u.id], al.lang.lexicon)
            errs = word_boundary_errors([tuple(w) for w in gt[u.id]["words"]], words) if words else None
            we += errs or []
    return {"utterances": n_utts, "phone": summarize(pe), "word": summarize(we), "x_real_time": audio / max(secs, 1e-9)}


def unlabeled_per(al: Aligner, gt: dict, parts, mapper) -> dict:
    _, _, ali, _, _ = al.dnn_align(al.train_parts[0], 10)
    train_ali = list(ali.values())
    pairs, audio, secs = [], 0.0, 0.0
    for part in parts:
        t0 = time.time()
        hmm, s, results, _ = al.decode_unlabeled(part, train_ali)
        secs += time.time() - t0
        hyp = collections.defaultdict(list)
        for u in sorted(al.part_utts(part, False), key=lambda u: (u.cut_id, u.start)):
            audio += u.duration
            if u.id in results:
                hyp[u.cut_id] += [p for p, _, _ in phone_items(hmm, results[u.id], s, u.duration)
                                  if p not in ("SIL", "SPN")]
        for cut_id in al.cuts[part]:
            ref = [q for p, *_ in gt[cut_id]["phones"] if p != "sil" for q in mapper(p).split()]
            pairs.append((ref, hyp.get(cut_id, [])))
    return {**phone_error_rate(pairs), "files": len(pairs), "x_real_time": audio / max(secs, 1e-9)}


def main():
    args = get_args()
    logging.basicConfig(level=logging.WARNING)
    for f in (args.exp_dir / "gmm" / ".done", args.exp_dir / "dnn" / ".done"):
        if not f.is_file():
            sys.exit(f"expected {f} to exist: run ./run.sh --stop-stage 3 first")
    gt = {}
    for name in ("librispeech", "librilight"):
        path = args.data_dir / "download" / "ground_truth" / f"{name}.jsonl.gz"
        if not path.is_file():
            sys.exit(f"expected {path} to exist (the mini corpus's ground truth, made by stage 0)")
        gt.update(load_ground_truth(path))
    al = Aligner(args.data_dir / "lang", args.data_dir / "manifests", args.exp_dir, AlignConfig(engine=args.engine))
    al.train_parts = ["train-clean-100"]
    mapper = ref_mapper(al.lang.info)
    parts = args.parts.split()
    rows = {
        "GMM-HMM (monophone, 10 ms)": score(al, gt, parts, gmm_alignments, mapper),
        "DNN-HMM (10 ms, GMM graphs)": score(al, gt, parts, lambda a, p: dnn_alignments(a, p, 10), mapper),
        "DNN-HMM (30 ms, paper)": score(al, gt, parts, lambda a, p: dnn_alignments(a, p, 30), mapper),
    }
    per = unlabeled_per(al, gt, args.unlabeled_parts.split(), mapper)
    train = {k: json.loads((args.exp_dir / k / ".done").read_text()) for k in ("gmm", "dnn")}
    print(f"engine={al.engine.name} phone_set={al.lang.info['phone_set']} held-out parts: {' '.join(parts)}")
    hdr = f"{'system':30} {'utts':>5} {'ph med':>7} {'ph mean':>7} {'ph<20':>6} {'ph<50':>6} {'wd med':>7} {'wd mean':>7} {'wd<20':>6} {'wd<50':>6} {'xRT':>6}"
    print(hdr)
    for name, r in rows.items():
        p, w = r["phone"], r["word"]
        print(f"{name:30} {r['utterances']:5d} {p['median_ms']:7.1f} {p['mean_ms']:7.1f} {p['within_20ms']:6.1f} "
              f"{p['within_50ms']:6.1f} {w.get('median_ms', float('nan')):7.1f} {w.get('mean_ms', float('nan')):7.1f} "
              f"{w.get('within_20ms', float('nan')):6.1f} {w.get('within_50ms', float('nan')):6.1f} {r['x_real_time']:6.0f}")
    print(f"unlabeled decoding (DNN-HMM 10 ms + phone bigram): PER {per['per']:.1f}% "
          f"({per['errors']}/{per['ref_phones']} phones, {per['files']} files), {per['x_real_time']:.0f}x real time")
    audio_min = train["gmm"]["audio_seconds"] / 60
    print(f"training on {audio_min:.1f} min: GMM {train['gmm']['seconds']:.0f} s "
          f"({train['gmm']['audio_seconds'] / train['gmm']['seconds']:.0f}x real time), DNN {train['dnn']['seconds']:.0f} s")
    print(f"dnn_median_phone_boundary_error_ms={rows['DNN-HMM (10 ms, GMM graphs)']['phone']['median_ms']:.1f}")


if __name__ == "__main__":
    main()
