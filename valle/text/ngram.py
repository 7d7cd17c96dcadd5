"""Word n-gram language models: estimation from transcripts, and ARPA files (what SRILM, KenLM and Kaldi's
``arpa2fst`` read and write).

    lm = estimate_ngram(sentences, order=3, method="kneser-ney")   # interpolated modified-free Kneser-Ney
    write_arpa(lm, "lm.arpa"); lm2 = read_arpa("lm.arpa")
    lm.logprob(("THE", "CAT"), "SAT")                              # log10 P(SAT | THE CAT), with backoff

Two smoothings, both interpolated (the form ARPA files store exactly: a seen n-gram's probability already
includes its lower-order share, and a history's backoff weight is the mass left for unseen words):
  kneser-ney   absolute discounting, D = n1 / (n1 + 2 n2) per order (Ney's estimate from the counts of counts),
               lower orders from continuation counts (how many distinct words precede), as SRILM's
               ``-kndiscount -interpolate`` with one discount per order
  witten-bell  P(w|h) = (c(hw) + T(h) P(w|h')) / (c(h) + T(h)), T(h) the number of distinct words after h

The vocabulary is the training words plus ``<unk>`` (the unigram level is interpolated with a uniform
distribution over it, so every word has a probability) and the sentence marks ``<s>``, ``</s>``.
Probabilities are log10, as in ARPA files. Memory: the n-gram counts of the training text.
"""
import collections
import gzip
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Container, Dict, Iterable, List, Optional, Sequence, Tuple

BOS, EOS, UNK = "<s>", "</s>", "<unk>"
METHODS = ("kneser-ney", "witten-bell")
NO_PROB = -99.0  # ARPA's log10 probability of <s>, which is never predicted


@dataclass
class NgramLM:
    order: int
    # probs[n][history + (word,)] = log10 P(word | history); backoffs[n][ngram] = log10 backoff weight of the
    # n-gram as a history (absent: 0, i.e. weight 1)
    probs: List[Dict[Tuple[str, ...], float]] = field(default_factory=list)
    backoffs: List[Dict[Tuple[str, ...], float]] = field(default_factory=list)
    # read_arpa with a vocabulary: how many n-grams of each order it left out for a word outside it
    skipped: List[int] = field(default_factory=list)

    @property
    def vocab(self) -> List[str]:
        return sorted(w for (w,) in self.probs[1])

    def logprob(self, history: Sequence[str], word: str) -> float:
        """log10 P(word | history) with Katz-style backoff through the ARPA tables (unknown words as <unk>)."""
        if (word,) not in self.probs[1]:
            word = UNK
        history = tuple(history)[-(self.order - 1):] if self.order > 1 else ()
        penalty = 0.0
        while True:
            ngram = history + (word,)
            p = self.probs[len(ngram)].get(ngram)
            if p is not None:
                return penalty + p
            penalty += self.backoffs[len(history)].get(history, 0.0) if history else 0.0
            history = history[1:]

    def sentence_logprob(self, words: Sequence[str]) -> float:
        """log10 P(words </s> | <s>)."""
        hist, total = [BOS], 0.0
        for w in list(words) + [EOS]:
            total += self.logprob(hist, w)
            hist.append(w)
        return total

    def perplexity(self, sentences: Iterable[Sequence[str]]) -> float:
        total, n = 0.0, 0
        for s in sentences:
            total += self.sentence_logprob(s)
            n += len(s) + 1
        return 10 ** (-total / max(n, 1))


def _counts(sentences: Iterable[Sequence[str]], order: int) -> List[collections.Counter]:
    counts = [collections.Counter() for _ in range(order + 1)]
    for words in sentences:
        seq = [BOS] + list(words) + [EOS]
        for n in range(1, order + 1):
            for i in range(len(seq) - n + 1):
                counts[n][tuple(seq[i:i + n])] += 1
    counts[1].pop((BOS,), None)  # <s> is a context, never an event
    return counts


def _kn_discount(counts: collections.Counter) -> float:
    n = collections.Counter(min(c, 3) for c in counts.values())
    if n[1] == 0 or n[2] == 0:
        return 0.5  # too little data for Ney's estimate
    return n[1] / (n[1] + 2 * n[2])


def estimate_ngram(sentences: Iterable[Sequence[str]], order: int = 3, method: str = "kneser-ney") -> NgramLM:
    """An interpolated n-gram LM of the (already normalized, upper-case) word sequences."""
    if method not in METHODS:
        raise ValueError(f"unknown smoothing {method!r} (expected one of {' '.join(METHODS)})")
    if order < 1:
        raise ValueError(f"order must be at least 1, got {order}")
    counts = _counts(sentences, order)
    if not counts[1]:
        raise ValueError("no words to estimate a language model from")
    vocab = sorted({w for (w,) in counts[1]} | {UNK})
    # The counts each level is estimated from: the highest order uses real counts; with Kneser-Ney the lower
    # orders use continuation counts N1+(. hw) (n-grams that start a sentence keep their real count: nothing
    # precedes <s>).
    level_counts: List[collections.Counter] = list(counts)  # read only: Kneser-Ney replaces the lower levels
    if method == "kneser-ney":
        for n in range(1, order):
            cont = collections.Counter()
            for ngram in counts[n + 1]:
                cont[ngram[1:]] += 1
            for ngram, c in counts[n].items():
                if ngram[0] == BOS:
                    cont[ngram] = c
            cont.pop((BOS,), None)
            level_counts[n] = cont
    lm = NgramLM(order, [dict() for _ in range(order + 1)], [dict() for _ in range(order + 1)])
    # Unigrams: interpolated with uniform over the vocabulary (<unk> gets only that share).
    uni = level_counts[1]
    total = sum(uni.values())
    if method == "kneser-ney":
        d = _kn_discount(uni)
        mass = d * len(uni) / total
        base = {w: max(uni.get((w,), 0) - d, 0) / total for w in vocab}
    else:
        types = len(uni)
        mass = types / (total + types)
        base = {w: uni.get((w,), 0) / (total + types) for w in vocab}
    prob1 = {w: base[w] + mass / len(vocab) for w in vocab}
    for w in vocab:
        lm.probs[1][(w,)] = math.log10(prob1[w])
    lm.probs[1][(BOS,)] = NO_PROB
    # Higher orders: p(w|h) = alpha(hw) + gamma(h) p_lower(w|h'); gamma(h) is h's backoff weight.
    for n in range(2, order + 1):
        c = level_counts[n]
        hist_total: Dict[Tuple[str, ...], float] = collections.Counter()
        hist_types: Dict[Tuple[str, ...], int] = collections.Counter()
        for ngram, k in c.items():
            hist_total[ngram[:-1]] += k
            hist_types[ngram[:-1]] += 1
        d = _kn_discount(c) if method == "kneser-ney" else 0.0
        gamma = {}
        for h, tot in hist_total.items():
            if method == "kneser-ney":
                gamma[h] = d * hist_types[h] / tot
            else:
                gamma[h] = hist_types[h] / (tot + hist_types[h])
        for ngram, k in c.items():
            h = ngram[:-1]
            if method == "kneser-ney":
                alpha = max(k - d, 0) / hist_total[h]
            else:
                alpha = k / (hist_total[h] + hist_types[h])
            lower = 10 ** lm.logprob(h[1:], ngram[-1])
            lm.probs[n][ngram] = math.log10(alpha + gamma[h] * lower)
        for h, g in gamma.items():
            if g > 0:
                lm.backoffs[n - 1][h] = math.log10(g)
    return lm


def write_arpa(lm: NgramLM, path: Path) -> None:
    """The LM as an ARPA file (gzipped when the name ends in .gz); written to a temporary name and renamed."""
    from valle.utils.io import atomic_path

    path = Path(path)
    lines = ["", "\\data\\"] + [f"ngram {n}={len(lm.probs[n])}" for n in range(1, lm.order + 1)] + [""]
    for n in range(1, lm.order + 1):
        lines.append(f"\\{n}-grams:")
        for ngram in sorted(lm.probs[n]):
            row = f"{lm.probs[n][ngram]:.6f}\t{' '.join(ngram)}"
            if n < lm.order and ngram in lm.backoffs[n]:
                row += f"\t{lm.backoffs[n][ngram]:.6f}"
            lines.append(row)
        lines.append("")
    lines.append("\\end\\")
    text = "\n".join(lines) + "\n"
    with atomic_path(path) as tmp:
        if path.suffix == ".gz":
            with gzip.open(tmp, "wt", encoding="utf-8") as f:
                f.write(text)
        else:
            Path(tmp).write_text(text, encoding="utf-8")


def read_arpa(path: Path, vocab: Optional[Container[str]] = None) -> NgramLM:
    """An ARPA file (plain or .gz); ValueError naming the line on a malformed one.

    With ``vocab``, an n-gram with a word outside it (besides <s>, </s>, <unk>) is left out, as Kaldi's
    ``arpa2fst --read-symbol-table`` does; ``lm.skipped[n]`` counts them. Without their n-grams such words cannot
    be decoded, and the probabilities of the rest are not renormalized (neither are Kaldi's)."""
    path = Path(path)
    marks = {BOS, EOS, UNK}
    opener = gzip.open if path.suffix == ".gz" else open
    declared: Dict[int, int] = {}
    lm = None
    section = None
    with opener(path, "rt", encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            if line == "\\data\\":
                section = "data"
            elif line == "\\end\\":
                break
            elif line.startswith("\\") and line.endswith("-grams:"):
                section = int(line[1:].split("-")[0])
                if lm is None:
                    order = max(declared) if declared else 0
                    lm = NgramLM(order, [dict() for _ in range(order + 1)], [dict() for _ in range(order + 1)],
                                 [0] * (order + 1))
            elif section == "data":
                if line.startswith("ngram "):
                    n, _, k = line[6:].partition("=")
                    declared[int(n)] = int(k)
            elif isinstance(section, int):
                fields = line.split()
                n = section
                if len(fields) not in (n + 1, n + 2):
                    raise ValueError(f"{path}:{lineno}: expected a log10 probability, {n} words and maybe a backoff")
                if vocab is not None and any(w not in vocab and w not in marks for w in fields[1:n + 1]):
                    lm.skipped[n] += 1
                    continue
                try:
                    lm.probs[n][tuple(fields[1:n + 1])] = float(fields[0])
                    if len(fields) == n + 2:
                        lm.backoffs[n][tuple(fields[1:n + 1])] = float(fields[n + 1])
                except ValueError:
                    raise ValueError(f"{path}:{lineno}: not a number in {line!r}") from None
    if lm is None:
        raise ValueError(f"{path}: no n-gram sections (not an ARPA file)")
    for n, k in declared.items():
        if n >= len(lm.probs) or len(lm.probs[n]) + lm.skipped[n] != k:
            have = len(lm.probs[n]) + lm.skipped[n] if n < len(lm.probs) else 0
            raise ValueError(f"{path}: the header declares {k} {n}-grams, the file has {have}")
    return lm
