"""Metrics of synthesized speech, per utterance and per system (a row of stage 7's table).

- PER: phone error rate of the recognized phones against the phones the text asks for (both without
  silence, consecutive repeats merged), errors summed over utterances / reference phones summed.
- EOS failure rate: utterances the AR model did not end itself (cut by the length guard).
- Repetition rate: utterances whose recognized phones repeat a stretch of >= ``min_n`` phones right
  after itself (a loop: "the cat the cat") where the reference text has no such repeat.
- Duration ratio: output seconds / the ground-truth recording's seconds (median and mean).
- WER and speaker similarity: from real pretrained models (PocketSphinx, Resemblyzer) or external models
  through command hooks (valle/eval/stage7.py). similarity_other: the same output against a different
  speaker's prompt (the floor).
"""
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

import numpy as np

from valle.eval.alignment import edit_alignment


def tandem_repeats(seq: Sequence[str], min_n: int = 3, max_n: int = 12) -> List[Tuple[str, ...]]:
    """Stretches of ``min_n``..``max_n`` items immediately followed by themselves (each reported once)."""
    seq = list(seq)
    found = []
    for n in range(min_n, max_n + 1):
        for i in range(len(seq) - 2 * n + 1):
            if seq[i:i + n] == seq[i + n:i + 2 * n]:
                found.append(tuple(seq[i:i + n]))
    return list(dict.fromkeys(found))


def has_repetition(ref: Sequence[str], hyp: Sequence[str], min_n: int = 3, max_n: int = 12) -> bool:
    """A repeat in ``hyp`` that ``ref`` does not have itself."""
    ref_repeats = set(tandem_repeats(ref, min_n, max_n))
    return any(r not in ref_repeats for r in tandem_repeats(hyp, min_n, max_n))


def utterance_metrics(ref: Sequence[str], hyp: Optional[Sequence[str]], seconds: float, reference_seconds: float,
                      hit_eos: Optional[bool] = None) -> dict:
    """hyp None: recognition failed (counted as all phones deleted)."""
    errors = edit_alignment(list(ref), list(hyp))[1] if hyp is not None else len(ref)
    return {"ref_phones": len(ref), "phone_errors": int(errors), "hyp": " ".join(hyp) if hyp is not None else None,
            "repetition": bool(hyp is not None and has_repetition(ref, hyp)), "seconds": round(seconds, 3),
            "duration_ratio": round(seconds / reference_seconds, 4) if reference_seconds > 0 else None,
            "hit_eos": hit_eos}


def word_errors(ref: Sequence[str], hyp: Sequence[str]) -> int:
    return edit_alignment(list(ref), list(hyp))[1]


def summarize_system(rows: Iterable[dict]) -> dict:
    """Totals over one system's utterance rows (from utterance_metrics, optionally with word_errors/ref_words
    and similarity)."""
    rows = list(rows)
    if not rows:
        return {"utterances": 0}
    ratios = np.array([r["duration_ratio"] for r in rows if r["duration_ratio"] is not None], dtype=np.float64)
    ref = sum(r["ref_phones"] for r in rows)
    out: Dict[str, object] = {
        "utterances": len(rows),
        "per": round(100.0 * sum(r["phone_errors"] for r in rows) / max(ref, 1), 2),
        "recognition_failures": sum(r["hyp"] is None for r in rows),
        "repetition_rate": round(100.0 * sum(r["repetition"] for r in rows) / len(rows), 2),
        "duration_ratio_median": round(float(np.median(ratios)), 3) if len(ratios) else None,
        "duration_ratio_mean": round(float(ratios.mean()), 3) if len(ratios) else None,
        "seconds": round(sum(r["seconds"] for r in rows), 1),
    }
    eos = [r["hit_eos"] for r in rows if r["hit_eos"] is not None]
    out["eos_failure_rate"] = round(100.0 * sum(not e for e in eos) / len(eos), 2) if eos else None
    if all("word_errors" in r for r in rows):
        out["wer"] = round(100.0 * sum(r["word_errors"] for r in rows) / max(sum(r["ref_words"] for r in rows), 1), 2)
    for key in ("similarity", "similarity_other"):
        if all(key in r for r in rows):
            out[key] = round(float(np.mean([r[key] for r in rows])), 4)
    return out
