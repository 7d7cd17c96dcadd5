"""Alignment accuracy against reference timings (the mini corpus's synthesizer timings), and phone error rate.

Phone boundaries: reference and hypothesis phone sequences (silence removed) are aligned by edit
distance; for every matched or substituted pair, the start and the end are boundaries, scored by
absolute time difference. Word boundaries: start and end of every reference word entry (entries that
hold several words, e.g. "ON THE", are scored at their outer edges, the hypothesis merged the same way).
"""
import gzip
import json
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

import numpy as np

Item = Tuple[str, float, float]


def load_ground_truth(path: Path) -> Dict[str, dict]:
    with gzip.open(path, "rt", encoding="utf-8") as f:
        return {row["id"]: row for row in map(json.loads, f)}


def edit_alignment(ref: Sequence[str], hyp: Sequence[str]) -> Tuple[List[Tuple[int, int]], int]:
    """(pairs of (ref index, hyp index) matched or substituted, edit distance)."""
    n, m = len(ref), len(hyp)
    d = np.zeros((n + 1, m + 1), dtype=np.int32)
    d[:, 0] = np.arange(n + 1)
    d[0, :] = np.arange(m + 1)
    for i in range(1, n + 1):
        for j in range(1, m + 1):
            d[i, j] = min(d[i - 1, j] + 1, d[i, j - 1] + 1, d[i - 1, j - 1] + (ref[i - 1] != hyp[j - 1]))
    pairs, i, j = [], n, m
    while i > 0 and j > 0:
        if d[i, j] == d[i - 1, j - 1] + (ref[i - 1] != hyp[j - 1]):
            pairs.append((i - 1, j - 1))
            i, j = i - 1, j - 1
        elif d[i, j] == d[i - 1, j] + 1:
            i -= 1
        else:
            j -= 1
    return pairs[::-1], int(d[n, m])


def phone_boundary_errors(ref: List[Item], hyp: List[Item], hyp_to_ref=None) -> List[float]:
    ref = [r for r in ref if r[0] not in ("sil", "SIL")]
    hyp = [h for h in hyp if h[0] not in ("sil", "SIL", "SPN")]
    hyp_labels = [hyp_to_ref(h[0]) if hyp_to_ref else h[0] for h in hyp]
    pairs, _ = edit_alignment([r[0] for r in ref], hyp_labels)
    errs = []
    for i, j in pairs:
        errs += [abs(ref[i][1] - hyp[j][1]), abs(ref[i][2] - hyp[j][2])]
    return errs


def word_boundary_errors(ref_words: List[Item], hyp_words: List[Item]) -> Optional[List[float]]:
    """Reference entries may join words ("ON THE"); hypothesis words are merged to match. None on mismatch."""
    errs, j = [], 0
    for label, s, e in ref_words:
        n = len(label.split())
        group = hyp_words[j:j + n]
        if len(group) != n or " ".join(g[0] for g in group) != label:
            return None
        errs += [abs(s - group[0][1]), abs(e - group[-1][2])]
        j += n
    return errs if j == len(hyp_words) else None


def summarize(errs: Iterable[float]) -> dict:
    a = np.asarray(list(errs), dtype=np.float64) * 1000
    if len(a) == 0:
        return {"n": 0}
    return {"n": int(len(a)), "median_ms": float(np.median(a)), "mean_ms": float(a.mean()),
            "within_20ms": float((a <= 20).mean() * 100), "within_50ms": float((a <= 50).mean() * 100)}


def phone_error_rate(pairs: Iterable[Tuple[Sequence[str], Sequence[str]]]) -> dict:
    errors = total = 0
    for ref, hyp in pairs:
        errors += edit_alignment(list(ref), list(hyp))[1]
        total += len(ref)
    return {"per": 100.0 * errors / max(total, 1), "errors": errors, "ref_phones": total}
