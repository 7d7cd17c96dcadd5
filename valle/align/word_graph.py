"""Word-level decoding graphs: HCLG = H o C o L o G with a word n-gram G, as Kaldi's ``mkgraph.sh`` builds it.

    g = grammar_fst_text(lm, word2id)                  # G: the ARPA LM as an FST (arpa2fst's layout)
    hclg = word_hclg(hmm, lm, self_loop_scale=1.0)     # the decoding graph for an HmmSystem

Steps (each as in Kaldi):
  L   the lexicon with optional silence (``hmm.lexicon_fst_text``) and disambiguation symbols: a pronunciation
      that is a prefix of another or shared by several words ends in #1, #2, ... (``add_lex_disambig.pl``), and
      the word-loop state has a #0:#0 self-loop that lets G's backoff arcs through
  G   one state per LM history; a word arc to the longest history that follows it; a backoff arc #0:eps to
      the shorter history, weighted by the backoff weight; </s> as the final weight; costs -ln(10) x log10 P
  LG  composed, determinized (determinize_star) and minimized (minimize_encoded)
  CLG context expansion (monophones: width 1), HCLG with Kaldi's H transducer, determinized; the
      disambiguation transition ids are then removed and the HMM self-loops added.
Words outside the LM's vocabulary are the LM's ``<unk>``, which is the lexicon's ``<UNK>`` (SPN).
"""
import logging
import math
from pathlib import Path
from typing import Dict, List, Sequence, Tuple

from valle.align.hmm import HmmSystem, lexicon_fst_text
from valle.text.lexicon import UNK_WORD
from valle.text.ngram import BOS, EOS, UNK, NgramLM, read_arpa

LN10 = math.log(10.0)


def add_disambig(lexicon: Dict[str, List[Tuple[str, ...]]]) -> Tuple[Dict[str, List[Tuple[str, ...]]], int]:
    """The lexicon with Kaldi's disambiguation symbols appended (``add_lex_disambig.pl``), and how many (#1..#n)
    it needed. A pronunciation needs one when it is shared by several words, or when it is a proper prefix of
    another's: otherwise L o G cannot be determinized."""
    count: Dict[Tuple[str, ...], int] = {}
    prefixes = set()
    for prons in lexicon.values():
        for p in prons:
            count[p] = count.get(p, 0) + 1
            for i in range(1, len(p)):
                prefixes.add(p[:i])
    out: Dict[str, List[Tuple[str, ...]]] = {}
    used: Dict[Tuple[str, ...], int] = {}
    top = 0
    for word in sorted(lexicon):
        for p in lexicon[word]:
            if count[p] > 1 or p in prefixes:
                used[p] = used.get(p, 0) + 1
                top = max(top, used[p])
                p = p + (f"#{used[p]}",)
            out.setdefault(word, []).append(p)
    return out, top


def read_graph_lm(path: Path, word2id: Dict[str, int], min_coverage: float = 0.01) -> NgramLM:
    """An external ARPA LM for ``word_hclg``: its n-grams with words outside ``word2id`` left out (Kaldi's
    arpa2fst with a symbol table). ValueError when it shares (almost) no words with them: a different case or
    normalization (stage 2's words are upper case), or another language."""
    if not path.is_file():
        raise FileNotFoundError(f"align_lm {path}: no such file (egs/librispeech: stage 0 fetches it)")
    lm = read_arpa(path, vocab=word2id)
    kept, skipped = sum(w not in (BOS, EOS, UNK) for (w,) in lm.probs[1]), lm.skipped[1]
    if kept == 0 or kept < min_coverage * (kept + skipped):
        raise ValueError(f"align_lm {path}: only {kept} of its {kept + skipped} words are in words.txt; is it in "
                         f"another case or normalization than stage 2's upper-case words?")
    if skipped:
        logging.info("%s: %s n-grams left out for words outside words.txt (of each order)", path, lm.skipped[1:])
    return lm


def grammar_fst_text(lm: NgramLM, word2id: Dict[str, int], backoff_label: int, lm_scale: float = 1.0) -> str:
    """G as OpenFst text (Kaldi's arpa2fst with --disambig-symbol=#0): input = output = word id, backoff arcs
    ``backoff_label``:0. State 0 is the start (history <s>)."""
    def wid(w: str) -> int:
        w = UNK_WORD if w == UNK else w
        if w not in word2id:
            raise KeyError(f"LM word {w!r} is not in words.txt")
        return word2id[w]

    states: Dict[Tuple[str, ...], int] = {(BOS,): 0, (): 1}
    for n in range(1, lm.order):
        for ngram in sorted(lm.probs[n]):
            if ngram[-1] != EOS and ngram not in states and ngram != (BOS,):
                states[ngram] = len(states)

    def dest(seq: Tuple[str, ...]) -> int:
        seq = seq[-(lm.order - 1):] if lm.order > 1 else ()
        while seq not in states:
            seq = seq[1:]
        return states[seq]

    lines = []
    for n in range(1, lm.order + 1):
        for ngram, logp in lm.probs[n].items():
            hist, word = ngram[:-1], ngram[-1]
            if word == BOS or hist not in states:
                continue
            cost = -logp * LN10 * lm_scale
            if word == EOS:
                lines.append((states[hist], f"{states[hist]} {cost:.6f}"))
            else:
                lines.append((states[hist], f"{states[hist]} {dest(ngram)} {wid(word)} {wid(word)} {cost:.6f}"))
    for hist, s in states.items():
        if hist:
            bow = lm.backoffs[len(hist)].get(hist, 0.0)
            lines.append((s, f"{s} {states[hist[1:]]} {backoff_label} 0 {-bow * LN10 * lm_scale:.6f}"))
    lines.sort(key=lambda x: x[0])  # the start state's lines first: OpenFst's text format starts there
    return "\n".join(line for _, line in lines) + "\n"


def word_hclg(hmm: HmmSystem, lm: NgramLM, self_loop_scale: float = 0.1, transition_scale: float = 1.0,
              lm_scale: float = 1.0, sil_prob: float = 0.5):
    """The decoding graph (kaldifst StdVectorFst: transition ids in, word ids out) of ``hmm`` with the LM."""
    import kaldi_hmm_gmm as khg
    import kaldifst

    lexicon, n_disambig = add_disambig(hmm.lexicon)
    phone2id = dict(hmm.phone2id)
    top = max(phone2id.values())
    for k in range(1, n_disambig + 1):
        phone2id.setdefault(f"#{k}", top + k)
    word2id = hmm.word2id
    if "#0" not in phone2id or "#0" not in word2id:
        raise ValueError("phones.txt and words.txt need the disambiguation symbol #0 (stage 2 writes it)")
    l_text = lexicon_fst_text(lexicon, phone2id, word2id, sil_prob=sil_prob)
    l_text += f"1 1 {phone2id['#0']} {word2id['#0']} 0\n"  # G's backoff arcs pass through the word loop
    L = kaldifst.compile(s=l_text, acceptor=False)
    kaldifst.arcsort(L, sort_type="olabel")
    G = kaldifst.compile(s=grammar_fst_text(lm, word2id, word2id["#0"], lm_scale), acceptor=False)
    kaldifst.arcsort(G, sort_type="ilabel")
    LG = kaldifst.compose(L, G)
    kaldifst.determinize_star(LG)
    kaldifst.minimize_encoded(LG)
    kaldifst.arcsort(LG, sort_type="ilabel")
    phone_disambig = sorted(i for p, i in phone2id.items() if p.startswith("#"))
    CLG, ilabels = kaldifst.compose_context(disambig_syms=phone_disambig, context_width=hmm.tree.context_width,
                                            central_position=hmm.tree.central_position, ifst=LG)
    kaldifst.arcsort(CLG, sort_type="ilabel")
    Ha, disambig_tids = khg.get_h_transducer(ilabel_info=ilabels, ctx_dep=hmm.tree, trans_model=hmm.tm,
                                             config=khg.HTransducerConfig(transition_scale=transition_scale))
    HCLGa = kaldifst.compose(Ha, CLG)
    kaldifst.determinize_star(HCLGa)
    # fstrmsymbols: the disambiguation transition ids become epsilons. kaldifst has no relabelling, so compose
    # with a one-state transducer: t:t for every other transition id, eps:d for each disambiguation id d. The
    # result has HCLGa's states and arcs (no Python pass over a graph of millions of arcs).
    drop = set(disambig_tids)
    if drop and min(drop) <= hmm.tm.num_transition_ids:  # Kaldi numbers them after the real transition ids
        raise ValueError("disambiguation transition ids overlap the transition model's ids")
    loops = [f"0 0 {t} {t}" for t in range(1, hmm.tm.num_transition_ids + 1)] + [f"0 0 0 {d}" for d in sorted(drop)]
    relabel = kaldifst.compile(s="\n".join(loops) + "\n0\n", acceptor=False)
    kaldifst.arcsort(relabel, sort_type="olabel")
    HCLGa = kaldifst.compose(relabel, HCLGa)
    return khg.add_self_loops(self_loop_scale=self_loop_scale, disambig_syms=[], reorder=False, trans_model=hmm.tm,
                              ifst=HCLGa)


def graph_size(fst) -> Tuple[int, int]:
    """(states, arcs) of a kaldifst graph."""
    return fst.num_states, sum(fst.num_arcs(s) for s in range(fst.num_states))


def words_of(word_ids: Sequence[int], id2word: Dict[int, str]) -> List[str]:
    """Output labels of a best path as words (silence and disambiguation symbols dropped)."""
    return [id2word[i] for i in word_ids if i > 0 and not id2word[i].startswith("#") and id2word[i] != "!SIL"]
