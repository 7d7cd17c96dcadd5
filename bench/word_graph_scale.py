#!/usr/bin/env python3
"""Word decoding at LibriSpeech scale, estimated on this machine: graph build time and memory, graph size, and
decoding speed with a lexicon and a trigram the size of egs/librispeech's (LibriSpeech's 200k-word lexicon and
its 3-gram.pruned.1e-7, Kaldi's tgmed), which cannot be downloaded here.

The stand-ins, built around mini's trained stage-3 model (its phones, DNN-HMM and lexicon):
  lexicon  mini's words plus synthetic ones up to --vocab words, their pronunciations drawn from the phone bigram of
           mini's lexicon with its word-length distribution (homophones and shared prefixes occur, as in English)
  LM       mini's own trigram of the training transcripts (what stage 3 estimates) plus synthetic bigrams and
           trigrams over the whole vocabulary with Zipf-distributed words, --bigrams and --trigrams of them. The
           defaults make the ARPA.gz about as big as LibriSpeech's (34.1 MB); the row prints both.
Each graph is built in a child process (its peak resident memory is the build's) by stage 3's own code
(``read_graph_lm`` + ``word_hclg``), then mini's unlabeled parts are decoded with it (beam as stage 3's): speed,
and PER / WER against the ground truth. The large graph's PER is indicative only: its synthetic words are
random phone strings, less confusable than real English words.

Needs stage 3 to have run:  ./run.sh --stop-stage 3   (then)   python bench/word_graph_scale.py
Last line: librispeech_size_hclg_build_s=<x>
"""
import argparse
import collections
import json
import logging
import multiprocessing
import random
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from alignment_accuracy import PartAligner, add_mini_args, ref_mapper, word_decode_errors  # noqa: E402
from valle.align.config import AlignConfig  # noqa: E402
from valle.eval.alignment import load_ground_truth  # noqa: E402
from valle.text.ngram import NgramLM, estimate_ngram, write_arpa  # noqa: E402

LIBRISPEECH_TGMED_GZ_BYTES = 34094057


def get_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_mini_args(p)
    p.add_argument("--unlabeled-parts", default="small medium large")
    p.add_argument("--vocab", type=int, default=200000, help="words in the large lexicon (LibriSpeech's: 200k)")
    p.add_argument("--bigrams", type=int, default=1_600_000)
    p.add_argument("--trigrams", type=int, default=1_600_000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--work-dir", type=Path, default=None, help="keep the stand-in lang, LM and graphs here")
    return p.parse_args()


def synthetic_lexicon(lexicon: dict, count: int, rng: random.Random) -> dict:
    """``count`` new words, pronounced by the phone bigram of ``lexicon`` (first variants) with its lengths."""
    prons = [p[0] for w, p in lexicon.items() if not w.startswith(("!", "<"))]
    follow = collections.defaultdict(list)
    for pron in prons:
        for a, b in zip(("<s>",) + pron, pron):
            follow[a].append(b)
    lengths = [len(p) for p in prons]
    out = {}
    for i in range(count):
        pron, prev = [], "<s>"
        for _ in range(rng.choice(lengths)):
            prev = rng.choice(follow[prev] or follow["<s>"])
            pron.append(prev)
        out[f"ZQ{i:06d}"] = [tuple(pron)]
    return out


def synthetic_arpa(path: Path, mini_lm, vocab: list, bigrams: int, trigrams: int, seed: int) -> list:
    """mini's trigram + Zipf-distributed synthetic n-grams over ``vocab``; returns the n-gram counts."""
    rng = np.random.default_rng(seed)
    v = len(vocab)
    zipf = 1.0 / np.arange(1, v + 1)
    zipf /= zipf.sum()
    order = rng.permutation(v)  # which word has which frequency rank
    probs = [dict(), dict(), dict(), dict()]
    backoffs = [dict(), dict(), dict()]
    known = {w for (w,) in mini_lm.probs[1]}
    for (w,), lp in mini_lm.probs[1].items():
        probs[1][(w,)] = lp
    rank = np.argsort(order)  # word index -> its frequency rank
    unigram = np.log10(0.5 * zipf[rank])
    for i, w in enumerate(vocab):
        if w not in known:
            probs[1][(w,)] = float(unigram[i])
    for n in (2, 3):
        probs[n].update(mini_lm.probs[n])
        backoffs[n - 1].update(mini_lm.backoffs[n - 1])
    # Synthetic bigrams: Zipf histories and Zipf successors; trigrams extend sampled bigrams.
    hist = order[rng.choice(v, size=bigrams, p=zipf)]
    succ = order[rng.choice(v, size=bigrams, p=zipf)]
    logp = np.log10(rng.uniform(1e-4, 0.2, size=bigrams))
    for h, s, lp in zip(hist, succ, logp):
        probs[2].setdefault((vocab[h], vocab[s]), float(lp))
    pairs = list(probs[2])
    picks = rng.choice(len(pairs), size=trigrams)
    succ = order[rng.choice(v, size=trigrams, p=zipf)]
    logp = np.log10(rng.uniform(1e-3, 0.5, size=trigrams))
    for k, s, lp in zip(picks, succ, logp):
        probs[3].setdefault(pairs[k] + (vocab[s],), float(lp))
    for n in (1, 2):
        for g in probs[n]:
            backoffs[n].setdefault(g, float(np.log10(rng.uniform(0.2, 0.9))))
    write_arpa(NgramLM(3, probs, backoffs), path)
    return [len(probs[n]) for n in (1, 2, 3)]


def peak_rss_gb() -> float:
    """This process's peak resident memory since it started (VmHWM: reset by exec, unlike ru_maxrss, which keeps
    the forking parent's size in a spawned child)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 2 ** 20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20


def build_graph(lang_dir: str, exp_dir: str, lm_path: str, out: str) -> dict:
    """In a child process: stage 3's graph build, timed, with this process's peak memory."""
    from valle.align.engine import get_engine
    from valle.align.hybrid import HybridAsr
    from valle.align.word_graph import graph_size, read_graph_lm
    from valle.text.lang_dir import LangDir

    lang = LangDir(Path(lang_dir))
    asr = HybridAsr(lang, Path(exp_dir), AlignConfig(dnn_frame_shift_ms=10), get_engine("auto"))
    t0 = time.time()
    lm = read_graph_lm(Path(lm_path), lang.words)
    t1 = time.time()
    hclg = asr.word_hclg(lm)
    t2 = time.time()
    hclg.write(out)
    states, arcs = graph_size(hclg)
    return {"lm_read_s": t1 - t0, "graph_s": t2 - t1, "states": states, "arcs": arcs,
            "peak_gb": peak_rss_gb(),
            "fst_mb": Path(out).stat().st_size / 1e6, "ngrams": [len(p) for p in lm.probs[1:]]}


def main():
    args = get_args()
    logging.basicConfig(level=logging.WARNING)
    import kaldifst

    from valle.text.lang_dir import LangDir
    from valle.text.lexicon import read_lexicon

    gt = {}
    for name in ("librispeech", "librilight"):
        gt.update(load_ground_truth(args.data_dir / "download" / "ground_truth" / f"{name}.jsonl.gz"))
    work = args.work_dir or Path(tempfile.mkdtemp(prefix="word_graph_scale."))
    work.mkdir(parents=True, exist_ok=True)
    mini_lang = args.data_dir / "lang"
    cfg = AlignConfig()
    mini_lm = estimate_ngram([t.split() for t in LangDir(mini_lang).text("train-clean-100").values()], cfg.lm_order,
                             cfg.lm_method)
    write_arpa(mini_lm, work / "mini.arpa.gz")

    # The large lang dir: mini's phones and words, then the synthetic words (ids after mini's, before #0 <s> </s>).
    big_lang = work / "lang_large"
    shutil.copytree(mini_lang, big_lang, dirs_exist_ok=True)
    lexicon = read_lexicon(mini_lang / "lexicon.txt")
    real = [w for w in lexicon if not w.startswith(("!", "<"))]
    extra = synthetic_lexicon(lexicon, args.vocab - len(real), random.Random(args.seed))
    with open(big_lang / "lexicon.txt", "a", encoding="utf-8") as f:
        f.writelines(f"{w} {' '.join(p[0])}\n" for w, p in extra.items())
    words = [line.split()[0] for line in (mini_lang / "words.txt").read_text().splitlines()]
    tail = [w for w in words if w in ("#0", "<s>", "</s>")]
    table = [w for w in words if w not in tail] + list(extra) + tail
    (big_lang / "words.txt").write_text("".join(f"{w} {i}\n" for i, w in enumerate(table)))
    t0 = time.time()
    counts = synthetic_arpa(work / "large.arpa.gz", mini_lm, real + list(extra), args.bigrams, args.trigrams,
                            args.seed)
    print(f"stand-in LM: {counts} n-grams, {(work / 'large.arpa.gz').stat().st_size / 1e6:.1f} MB gzipped "
          f"(LibriSpeech's 3-gram.pruned.1e-7: {LIBRISPEECH_TGMED_GZ_BYTES / 1e6:.1f} MB), made in "
          f"{time.time() - t0:.0f} s", flush=True)

    al = PartAligner(mini_lang, args.data_dir / "manifests", args.exp_dir, "auto")
    mapper = ref_mapper(al.lang.info)
    parts = args.unlabeled_parts.split()
    rows = {}
    ctx = multiprocessing.get_context("spawn")
    for name, lang_dir, lm in (("mini (its own trigram)", mini_lang, work / "mini.arpa.gz"),
                               (f"LibriSpeech size ({args.vocab // 1000}k words)", big_lang, work / "large.arpa.gz")):
        with ctx.Pool(1) as pool:
            row = pool.apply(build_graph, (str(lang_dir), str(args.exp_dir), str(lm), str(work / f"{lang_dir.name}.fst")))
        row["lm_gz_mb"] = lm.stat().st_size / 1e6
        hclg = kaldifst.StdVectorFst.read(str(work / f"{lang_dir.name}.fst"))
        row.update(word_decode_errors(al, hclg, {i: w for w, i in LangDir(lang_dir).words.items()}, gt, parts,
                                      mapper))
        del hclg
        rows[name] = row
        print(name, json.dumps(row), flush=True)

    print(f"\nword decoding of mini's unlabeled parts ({next(iter(rows.values()))['audio_s'] / 60:.1f} min), DNN-HMM at "
          f"10 ms, beam {cfg.word_decode_beam:g}; 2 cores, graph built in a child process")
    hdr = (f"{'graph':28} {'n-grams':>24} {'LM MB':>6} {'LM read s':>9} {'build s':>8} {'peak GB':>7} {'states':>10} "
           f"{'arcs':>11} {'fst MB':>7} {'xRT':>5} {'PER %':>6} {'WER %':>6}")
    print(hdr)
    for name, r in rows.items():
        print(f"{name:28} {str(r['ngrams']):>24} {r['lm_gz_mb']:6.1f} {r['lm_read_s']:9.1f} {r['graph_s']:8.1f} "
              f"{r['peak_gb']:7.2f} {r['states']:10d} {r['arcs']:11d} {r['fst_mb']:7.0f} {r['x_real_time']:5.0f} "
              f"{r['per']:6.2f} {r['wer']:6.2f}")
    if args.work_dir is None:
        shutil.rmtree(work)
    print(f"librispeech_size_hclg_build_s={list(rows.values())[-1]['graph_s']:.1f}")


if __name__ == "__main__":
    main()
