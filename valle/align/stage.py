"""Stage 3 over a recipe's parts: features, GMM and DNN training on the training parts, DNN-HMM forced
alignment of every labeled part, phone-bigram decoding of the unlabeled parts, aligned cuts, failure lists,
TextGrids + plots of a few utterances, and ``summary.json``.

Outputs: ``exp_dir/{feats,gmm,dnn,ali,decode,inspect}/``, ``exp_dir/summary.json``,
``aligned_dir/cuts_<part>.jsonl.gz`` (supervision alignments "phone", "tts_phone" = consecutive repeats
merged, and "word" for labeled parts), ``exp_dir/ali/failed_<part>.tsv`` (left-out utterances and why).
"""
import json
import logging
import time
from pathlib import Path
from typing import Dict, List, Sequence

from valle.align.config import AlignConfig
from valle.align.features import SAMPLE_RATE
from valle.align.pipeline import (Aligner, phone_items, utterance_samples, words_from_phones, write_aligned_cuts,
                                  write_failures)
from valle.align.textgrid import plot_alignment, write_textgrid
from valle.utils.audio import load_mono
from valle.utils.io import write_text_atomic


def align_corpus(lang_dir: Path, manifest_dir: Path, exp_dir: Path, aligned_dir: Path, train_parts: Sequence[str],
                 labeled_parts: Sequence[str] = (), unlabeled_parts: Sequence[str] = (),
                 cfg: AlignConfig = AlignConfig()) -> dict:
    """Run stage 3; steps already finished under ``exp_dir`` are not redone. Returns the summary."""
    exp_dir, aligned_dir = Path(exp_dir), Path(aligned_dir)
    al = Aligner(lang_dir, manifest_dir, exp_dir, cfg)
    train_parts = list(train_parts)
    labeled = train_parts + [p for p in labeled_parts if p not in train_parts]
    summary = {"engine": al.engine.name, "dnn_frame_shift_ms": cfg.dnn_frame_shift_ms, "steps": {}, "parts": {}}
    t0 = time.time()
    for p in labeled:
        al.features_path(p, True)
    for p in unlabeled_parts:
        al.features_path(p, False)
    summary["steps"]["features_s"] = time.time() - t0
    t = time.time()
    al.train_gmm(train_parts)
    summary["steps"]["gmm_s"] = time.time() - t
    t = time.time()
    al.train_dnn(train_parts)
    summary["steps"]["dnn_s"] = time.time() - t

    t = time.time()
    (exp_dir / "ali").mkdir(parents=True, exist_ok=True)
    train_alignments, inspect = [], []
    for part in labeled:
        res = al.dnn_align(part)
        failures = dict(res.failures)
        phones, words = {}, {}
        for u in al.part_utts(part, True):
            if u.id not in res.alignments:
                continue
            phones[u.id] = phone_items(res.hmm, res.alignments[u.id], res.subsampling, u.duration)
            w = words_from_phones(u.words, phones[u.id], al.lang.lexicon)
            if w is None:
                failures[u.id] = "word timings could not be matched to the aligned phones"
                phones.pop(u.id)
                continue
            words[u.id] = w
        if part in train_parts:
            train_alignments += [res.alignments[k] for k in phones]
        write_failures(exp_dir / "ali" / f"failed_{part}.tsv", failures)
        n_cuts, n_left = write_aligned_cuts(al.cuts[part], al.part_utts(part, True), phones, words,
                                            aligned_dir / f"cuts_{part}.jsonl.gz")
        summary["parts"][part] = {"kind": "labeled", "utterances": len(al.part_utts(part, True)),
                                  "aligned": len(phones), "failed": len(failures), "retried_wider_beam": res.retried,
                                  "cuts_written": n_cuts, "cuts_left_out": n_left,
                                  "failure_reasons": reason_counts(failures)}
        logging.info("%s: %d aligned, %d failed (listed in ali/failed_%s.tsv), %d needed the retry beam; "
                     "%d cuts written, %d left out", part, len(phones), len(failures), part, res.retried, n_cuts,
                     n_left)
        inspect += [(part, u, phones[u.id], words[u.id]) for u in al.part_utts(part, True)
                    if u.id in phones][: cfg.num_inspect]
    summary["steps"]["align_s"] = time.time() - t

    t = time.time()
    for part in unlabeled_parts:
        res = al.decode_unlabeled(part, train_alignments)
        phones = {u.id: phone_items(res.hmm, res.results[u.id], res.subsampling, u.duration)
                  for u in al.part_utts(part, False) if u.id in res.results}
        write_failures(exp_dir / "ali" / f"failed_{part}.tsv", res.failures)
        n_cuts, n_left = write_aligned_cuts(al.cuts[part], al.part_utts(part, False), phones, {},
                                            aligned_dir / f"cuts_{part}.jsonl.gz")
        summary["parts"][part] = {"kind": "unlabeled", "segments": len(al.part_utts(part, False)),
                                  "decoded": len(phones), "failed": len(res.failures), "cuts_written": n_cuts,
                                  "cuts_left_out": n_left, "failure_reasons": reason_counts(res.failures)}
        logging.info("%s: %d segments decoded, %d failed; %d cuts written, %d left out", part, len(phones),
                     len(res.failures), n_cuts, n_left)
        inspect += [(part, u, phones[u.id], []) for u in al.part_utts(part, False) if u.id in phones][:1]
    summary["steps"]["decode_s"] = time.time() - t

    write_inspection(al, exp_dir / "inspect", inspect)
    summary["total_s"] = time.time() - t0
    write_text_atomic(exp_dir / "summary.json", json.dumps(summary, indent=1) + "\n")
    return summary


def write_inspection(al: Aligner, out_dir: Path, inspect: List[tuple]) -> None:
    """A TextGrid and a PNG (waveform + tiers) per (part, utterance, phones, words)."""
    for part, u, ph, wd in inspect:
        name = u.id.replace("/", "_")
        tiers = {"words": wd, "phones": ph}
        write_textgrid(out_dir / f"{name}.TextGrid", tiers, u.duration)
        cut = al.cuts[part][u.cut_id]
        audio = utterance_samples(load_mono(cut, SAMPLE_RATE), u, cut)
        plot_alignment(out_dir / f"{name}.png", audio, SAMPLE_RATE, tiers,
                       title=f"{u.id} ({al.engine.name} engine, DNN-HMM)")


def reason_counts(failures: Dict[str, str]) -> Dict[str, int]:
    """Failures counted by the part of their reason before the first ':'."""
    out: Dict[str, int] = {}
    for r in failures.values():
        key = r.split(":")[0]
        out[key] = out.get(key, 0) + 1
    return out
