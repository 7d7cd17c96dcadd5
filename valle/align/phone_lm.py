"""The phone bigram of stage 3's unlabeled decoding and of stage 7's phone recognizer.

Estimated from phone sequences (the training parts' forced alignments), add-k smoothed, every bigram
listed explicitly; written as ARPA for inspection and compiled into an HCLG by ``HmmSystem.phone_bigram_graph``.
"""
import gzip
import json
import math
from pathlib import Path
from typing import Dict, Iterable, List, NamedTuple, Sequence

import numpy as np

from valle.utils.io import write_text_atomic


class PhoneBigram(NamedTuple):
    costs: np.ndarray   # [n + 1, n + 1]: -log P(next | previous); last row = sentence start, last column = end
    order: List[int]    # the phone ids of rows/columns 0..n-1


def modeled_phones(phone2id: Dict[str, int]) -> List[int]:
    """Phone ids the bigram covers: all but <eps>, disambiguation symbols and spoken noise."""
    return [i for p, i in sorted(phone2id.items(), key=lambda x: x[1])
            if i > 0 and not p.startswith("#") and p != "SPN"]


def estimate_bigram(phone_seqs: Iterable[Sequence[int]], phone2id: Dict[str, int], add_k: float) -> PhoneBigram:
    """Add-k smoothed bigram over ``modeled_phones``; ``phone_seqs``: phone ids per utterance."""
    order = modeled_phones(phone2id)
    index = {p: j for j, p in enumerate(order)}
    n = len(order)
    counts = np.zeros((n + 1, n + 1))
    for phones in phone_seqs:
        prev = n
        for j in (index[p] for p in phones if p in index):
            counts[prev, j] += 1
            prev = j
        counts[prev, n] += 1
    probs = (counts + add_k) / (counts + add_k).sum(1, keepdims=True)
    return PhoneBigram(-np.log(probs), order)


def write_arpa(path: Path, bigram: PhoneBigram, phone2id: Dict[str, int]) -> None:
    """The bigram as ARPA (every bigram listed explicitly, so back-off weights are 0)."""
    costs, order = bigram
    id2p = {i: p for p, i in phone2id.items()}
    names = [id2p[i] for i in order]
    n = len(order)
    uni = np.exp(-costs[n, :n])
    lines = ["\\data\\", f"ngram 1={n + 2}", f"ngram 2={(n + 1) * (n + 1)}", "", "\\1-grams:",
             "-99\t<s>\t0", f"{-99}\t</s>"]
    lines += [f"{math.log10(max(u, 1e-99)):.5f}\t{p}\t0" for p, u in zip(names, uni)]
    lines += ["", "\\2-grams:"]
    for h in range(n + 1):
        hn = "<s>" if h == n else names[h]
        for j in range(n + 1):
            lines.append(f"{-costs[h, j] / math.log(10):.5f}\t{hn} {'</s>' if j == n else names[j]}")
    lines += ["", "\\end\\"]
    write_text_atomic(path, "\n".join(lines) + "\n")


def aligned_phone_sequences(cuts_paths: Sequence[Path]) -> List[List[str]]:
    """The (uncollapsed) stage-3 phone alignment of every supervision in aligned cut manifests. Reads the
    JSON lines directly: one field, no audio, fast on LibriLight-size manifests."""
    seqs = []
    for path in cuts_paths:
        with gzip.open(path, "rt", encoding="utf-8") as f:
            for line in f:
                for sup in json.loads(line).get("supervisions", []):
                    ali = (sup.get("alignment") or {}).get("phone")
                    if ali:
                        seqs.append([item[0] if isinstance(item, list) else item["symbol"] for item in ali])
    return seqs
