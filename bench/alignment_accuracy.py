#!/usr/bin/env python3
"""Alignment accuracy of the stage-3 models against the mini corpus's ground truth (espeak-ng's own timings).

For the held-out labeled parts (dev + test speakers): the monophone GMM-HMM (10 ms), the DNN-HMM at 10 ms
(network run at every input phase, GMM graphs) and the DNN-HMM at 30 ms (the paper's frame shift):
median / mean phone- and word-boundary error, % within 20 and 50 ms, and alignment speed (x real time).
For the unlabeled parts, side by side: the phone-bigram decoding and the word decoding (HCLG with the lexicon
and a word n-gram of the training transcripts, stage 3's default): phone error rate against the true phones, word
error rate (word decoding), speed, and the graph's size and build time.

Needs stage 3 to have run:  ./run.sh --stop-stage 3   (then)   python bench/alignment_accuracy.py
Last lines: dnn_median_phone_boundary_error_ms=<x>, unlabeled_word_decode_per=<x>
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
from valle.align import features as F  # noqa: E402
from valle.align.engine import get_engine  # noqa: E402
from valle.align.gmm import gmm_loglikes_all  # noqa: E402
from valle.align.hybrid import HybridAsr  # noqa: E402
from valle.align.phone_lm import estimate_bigram  # noqa: E402
from valle.align.pipeline import force_align, iter_utterance_audio, normalized, phone_items, words_from_phones  # noqa: E402
from valle.data.split import iter_cuts  # noqa: E402
from valle.text.lang_dir import LangDir  # noqa: E402
from valle.eval.alignment import (edit_alignment, load_ground_truth, phone_boundary_errors,  # noqa: E402
                                  phone_error_rate, summarize, word_boundary_errors)
from valle.text.lexicon import ipa_to_arpabet  # noqa: E402


def add_mini_args(p: argparse.ArgumentParser) -> None:
    """The mini recipe's folders and held-out parts (shared with bench/align_folder.py)."""
    p.add_argument("--data-dir", type=Path, default=Path("data/mini"))
    p.add_argument("--exp-dir", type=Path, default=Path("exp/mini/align"))
    p.add_argument("--parts", default="dev-clean test-clean", help="held-out labeled parts")


def get_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_mini_args(p)
    p.add_argument("--unlabeled-parts", default="small medium large")
    p.add_argument("--engine", default="auto")
    return p.parse_args()


def ref_mapper(lang_info: dict):
    """Reference phones are espeak IPA; with the ARPAbet set they are mapped (first piece keeps the label)."""
    if lang_info["phone_set"] == "ipa":
        return lambda p: p
    return lambda p: " ".join(ipa_to_arpabet(p))


class PartAligner:
    """Stage 3's trained models applied to whole parts of mini in memory (a benchmark of a small corpus; stage 3
    itself streams): the GMM-HMM, the DNN-HMM at 10 or 30 ms, and phone-bigram decoding."""

    def __init__(self, lang_dir: Path, manifest_dir: Path, exp_dir: Path, engine: str):
        self.lang, self.manifest_dir, self.exp_dir, self.engine_name = LangDir(lang_dir), manifest_dir, exp_dir, engine
        self.asr = {ms: HybridAsr(self.lang, exp_dir, AlignConfig(engine=engine, dnn_frame_shift_ms=ms),
                                  get_engine(engine)) for ms in (10, 30)}
        self.engine = self.asr[10].engine
        self._parts = {}

    def part(self, part: str, labeled: bool):
        """(utterances, cut ids, {kind: normalized features})."""
        if part not in self._parts:
            texts = self.lang.text(part) if labeled else {}
            utts, cut_ids, raw = [], [], {"mfcc": {}, "fbank": {}}
            for cut, uas in iter_utterance_audio(iter_cuts(self.manifest_dir / f"cuts_{part}.jsonl.gz"), part, False):
                cut_ids.append(cut.id)
                for ua in uas:
                    u = ua.utt._replace(words=texts.get(ua.utt.id, "").split() if labeled else None)
                    utts.append(u)
                    raw["mfcc"][u.id], raw["fbank"][u.id] = F.mfcc(ua.samples), F.fbank(ua.samples)
            self._parts[part] = (utts, cut_ids, {k: normalized(v, utts) for k, v in raw.items()})
        return self._parts[part]

    def gmm_align(self, part: str):
        hmm, gmm, _ = self.asr[10].gmm_system()
        utts, _, feats = self.part(part, True)
        ok = [u for u in utts if u.words and all(w in self.lang.lexicon for w in u.words)]
        lls = gmm_loglikes_all(gmm, hmm, feats["mfcc"], [u.id for u in ok], AlignConfig().gmm.acoustic_scale)
        out = {}
        for u in ok:
            g = hmm.with_transition_probs(hmm.training_graph(u.words), 1.0, AlignConfig().gmm.self_loop_scale)
            res = self.engine.align(g, lls[u.id], AlignConfig().beams, u.id)
            if res.tids is not None:
                out[u.id] = phone_items(hmm, res.tids, 1, u.duration)
        return out

    def dnn_align(self, part: str, shift: int):
        """{utterance id: alignment} of a labeled part by the DNN-HMM at ``shift`` ms."""
        asr, cfg = self.asr[shift], self.asr[shift].cfg
        utts, _, feats = self.part(part, True)
        out = {}
        for u in utts:
            hmm, s, self_loop, ll = asr.align_loglikes(feats["fbank"][u.id])
            r = force_align(u, ll, hmm, s, self_loop, asr.engine, cfg.dnn_beams, self.lang.lexicon)
            if r.phones is not None:
                out[u.id] = r
        return out


def gmm_alignments(al: PartAligner, part: str):
    return al.gmm_align(part)


def dnn_alignments(al: PartAligner, part: str, shift: int):
    return {k: r.phones for k, r in al.dnn_align(part, shift).items()}


def score(al: PartAligner, gt: dict, parts, system, mapper) -> dict:
    pe, we, n_utts, audio, secs = [], [], 0, 0.0, 0.0
    for part in parts:
        al.part(part, True)  # features are not timed
        t0 = time.time()
        phones = system(al, part)
        secs += time.time() - t0
        for u in al.part(part, True)[0]:
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


def unlabeled_per(al: PartAligner, gt: dict, train_part: str, parts, mapper) -> dict:
    """PER of the unlabeled parts decoded as stage 3 does, with the bigram of the 10 ms DNN's train alignments."""
    asr = al.asr[10]
    hmm = asr.dnn_system(10).hmm
    seqs = [[seg.phone for seg in hmm.segments_from_alignment(r.tids)] for r in al.dnn_align(train_part, 10).values()]
    hclg = asr.phone_bigram_hclg(estimate_bigram(seqs, al.lang.phones, asr.cfg.bigram_add_k))
    pairs, audio, secs = [], 0.0, 0.0
    for part in parts:
        utts, cut_ids, feats = al.part(part, False)
        t0 = time.time()
        hmm, s, results, _ = asr.decode(hclg, utts, feats["fbank"])
        secs += time.time() - t0
        hyp = collections.defaultdict(list)
        for u in sorted(utts, key=lambda u: (u.cut_id, u.start)):
            audio += u.duration
            if u.id in results:
                hyp[u.cut_id] += [p for p, _, _ in phone_items(hmm, results[u.id], s, u.duration)
                                  if p not in ("SIL", "SPN")]
        for cut_id in cut_ids:
            ref = [q for p, *_ in gt[cut_id]["phones"] if p != "sil" for q in mapper(p).split()]
            pairs.append((ref, hyp.get(cut_id, [])))
    return {**phone_error_rate(pairs), "files": len(pairs), "x_real_time": audio / max(secs, 1e-9)}


def lexicon_floor_per(al: PartAligner, gt: dict, cut_ids, mapper) -> dict:
    """The PER of the true words spoken with the lexicon's pronunciation closest to what espeak-ng said (each word
    its best variant): what decoding through the lexicon cannot go below, whatever its acoustic model."""
    import itertools

    errors = total = 0
    for cut_id in cut_ids:
        row = gt[cut_id]
        said = collections.defaultdict(list)
        for p, _, _, wi in row["phones"]:
            if p != "sil" and wi >= 0:
                said[wi] += mapper(p).split()
        for wi, (word, _, _) in enumerate(row["words"]):
            ref = said.get(wi, [])
            variants = [al.lang.lexicon.get(w, [()]) for w in word.split()]
            errors += min(edit_alignment(ref, [p for pron in combo for p in pron])[1]
                          for combo in itertools.product(*variants))
            total += len(ref)
    return {"per": 100.0 * errors / max(total, 1), "errors": errors, "ref_phones": total}


def word_decode_errors(al: PartAligner, hclg, id2word: dict, gt: dict, parts, mapper) -> dict:
    """The unlabeled parts decoded with the word graph ``hclg`` as stage 3 does (DNN-HMM at 10 ms, stage 3's beam):
    PER against the spoken phones, WER against the true words, x real time (shared with word_graph_scale.py)."""
    from valle.align.word_graph import words_of
    from valle.text.normalize import to_transcript

    asr = al.asr[10]
    hmm, s, _ = asr.dnn_system(10)
    pairs, word_pairs, audio, secs = [], [], 0.0, 0.0
    for part in parts:
        utts, cut_ids, feats = al.part(part, False)
        hyp, hyp_words = collections.defaultdict(list), collections.defaultdict(list)
        for u in sorted(utts, key=lambda u: (u.cut_id, u.start)):
            audio += u.duration
            t1 = time.time()
            res, _ = asr.decode_path(hclg, feats["fbank"][u.id], u.id, asr.cfg.word_decode_beam)
            secs += time.time() - t1
            if res.tids is not None:
                hyp[u.cut_id] += [p for p, _, _ in phone_items(hmm, res.tids, s, u.duration) if p not in ("SIL", "SPN")]
                hyp_words[u.cut_id] += words_of(res.words, id2word)
        for cut_id in cut_ids:
            ref = [q for p, *_ in gt[cut_id]["phones"] if p != "sil" for q in mapper(p).split()]
            pairs.append((ref, hyp.get(cut_id, [])))
            word_pairs.append((to_transcript(gt[cut_id]["text"]).split(), hyp_words.get(cut_id, [])))
    wer = phone_error_rate(word_pairs)
    return {**phone_error_rate(pairs), "wer": wer["per"], "word_errors": wer["errors"], "ref_words": wer["ref_phones"],
            "files": len(pairs), "x_real_time": audio / max(secs, 1e-9), "audio_s": audio}


def unlabeled_word_decode(al: PartAligner, gt: dict, train_part: str, parts, mapper, lm_order: int,
                          lm_method: str) -> dict:
    """PER and WER of the unlabeled parts decoded with words, as stage 3 does (DNN-HMM at 10 ms, HCLG of a word
    n-gram of the training transcripts)."""
    from valle.align.word_graph import graph_size
    from valle.text.ngram import estimate_ngram

    asr = al.asr[10]
    t0 = time.time()
    lm = estimate_ngram([t.split() for t in al.lang.text(train_part).values()], lm_order, lm_method)
    hclg = asr.word_hclg(lm)
    graph_s = time.time() - t0
    row = word_decode_errors(al, hclg, {i: w for w, i in al.lang.words.items()}, gt, parts, mapper)
    floor = lexicon_floor_per(al, gt, [c for part in parts for c in al.part(part, False)[1]], mapper)
    return {**row, "floor_per": floor["per"], "graph_s": graph_s,
            **dict(zip(("graph_states", "graph_arcs"), graph_size(hclg))),
            "ngrams": [len(p) for p in lm.probs[1:]]}


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
    al = PartAligner(args.data_dir / "lang", args.data_dir / "manifests", args.exp_dir, args.engine)
    mapper = ref_mapper(al.lang.info)
    parts = args.parts.split()
    rows = {
        "GMM-HMM (monophone, 10 ms)": score(al, gt, parts, gmm_alignments, mapper),
        "DNN-HMM (10 ms, GMM graphs)": score(al, gt, parts, lambda a, p: dnn_alignments(a, p, 10), mapper),
        "DNN-HMM (30 ms, paper)": score(al, gt, parts, lambda a, p: dnn_alignments(a, p, 30), mapper),
    }
    per = unlabeled_per(al, gt, "train-clean-100", args.unlabeled_parts.split(), mapper)
    cfg = AlignConfig()
    word = unlabeled_word_decode(al, gt, "train-clean-100", args.unlabeled_parts.split(), mapper, cfg.lm_order,
                                 cfg.lm_method)
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
    print(f"unlabeled decoding (DNN-HMM 10 ms + words, {cfg.lm_order}-gram {cfg.lm_method} of train-clean-100): "
          f"PER {word['per']:.2f}% ({word['errors']}/{word['ref_phones']} phones), WER {word['wer']:.2f}% "
          f"({word['word_errors']}/{word['ref_words']} words), {word['x_real_time']:.0f}x real time; LM n-grams "
          f"{word['ngrams']}, HCLG {word['graph_states']} states / {word['graph_arcs']} arcs built in "
          f"{word['graph_s']:.1f} s")
    print(f"  (the lexicon's floor: the true words, each with its variant closest to what espeak-ng said, have PER "
          f"{word['floor_per']:.2f}% against the spoken phones)")
    audio_min = train["gmm"]["audio_seconds"] / 60
    print(f"training on {audio_min:.1f} min: GMM {train['gmm']['seconds']:.0f} s "
          f"({train['gmm']['audio_seconds'] / train['gmm']['seconds']:.0f}x real time), DNN {train['dnn']['seconds']:.0f} s")
    print(f"dnn_median_phone_boundary_error_ms={rows['DNN-HMM (10 ms, GMM graphs)']['phone']['median_ms']:.1f}")
    print(f"unlabeled_word_decode_per={word['per']:.2f}")


if __name__ == "__main__":
    main()
