"""HMM side of the aligner, on kaldi-hmm-gmm + kaldifst (Kaldi's own code, as Python wheels).

* ``HmmSystem``: topology, monophone tree, transition model and the lexicon FST (optional silence)
  for one phone table; compiles per-utterance training graphs (Kaldi's compile-train-graphs) and the
  phone-loop + phone-bigram decoding graph HCLG (Kaldi's mkgraph.sh, with G over phones).
* Topologies: ``3state`` (Kaldi's left-to-right monophone HMM, at least 3 frames = 30 ms at 10 ms)
  for the GMM; ``1state`` (one state with a self-loop, at least one frame) for the DNN at 30 ms,
  like Kaldi's chain models, whose frame rate would otherwise forbid phones under 90 ms.
* Alignments are transition-id sequences, one per frame; ``segments_from_alignment`` turns them
  into (phone, first frame, number of frames).
"""
import functools
import itertools
import math
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

_TOPO_STATES = {
    "3state": "<State> 0 <PdfClass> 0 <Transition> 0 0.75 <Transition> 1 0.25 </State>\n"
              "<State> 1 <PdfClass> 1 <Transition> 1 0.75 <Transition> 2 0.25 </State>\n"
              "<State> 2 <PdfClass> 2 <Transition> 2 0.75 <Transition> 3 0.25 </State>\n"
              "<State> 3 </State>\n",
    "1state": "<State> 0 <PdfClass> 0 <Transition> 0 0.5 <Transition> 1 0.5 </State>\n<State> 1 </State>\n",
}


def topology_text(phone_ids: Sequence[int], kind: str) -> str:
    if kind not in _TOPO_STATES:
        raise ValueError(f"unknown topology '{kind}' (expected one of {sorted(_TOPO_STATES)})")
    return ("<Topology>\n<TopologyEntry>\n<ForPhones>\n" + " ".join(map(str, phone_ids)) +
            "\n</ForPhones>\n" + _TOPO_STATES[kind] + "</TopologyEntry>\n</Topology>\n")


def lexicon_fst_text(lexicon: Dict[str, List[Tuple[str, ...]]], phone2id: Dict[str, int], word2id: Dict[str, int],
                     sil_phone: str = "SIL", sil_prob: float = 0.5) -> str:
    """L.fst with optional silence between words (Kaldi's make_lexicon_fst.py --sil-prob), as AT&T text.

    State 0 starts (optionally through silence) into the loop state 1, where every word begins;
    after a word either back to 1 (no silence) or through state 2, which emits one SIL.
    """
    no_sil, sil = -math.log(1 - sil_prob), -math.log(sil_prob)
    s_id = phone2id[sil_phone]
    lines = [f"0 1 0 0 {no_sil}", f"0 2 0 0 {sil}", f"2 1 {s_id} 0 0"]
    next_state = 3
    for word, prons in lexicon.items():
        if word == "!SIL" or word not in word2id:
            continue
        for pron in prons:
            src = 1
            for i, p in enumerate(pron):
                olabel = word2id[word] if i == 0 else 0
                if i == len(pron) - 1:
                    lines.append(f"{src} 1 {phone2id[p]} {olabel} {no_sil}")
                    lines.append(f"{src} 2 {phone2id[p]} {olabel} {sil}")
                else:
                    lines.append(f"{src} {next_state} {phone2id[p]} {olabel} 0")
                    src, next_state = next_state, next_state + 1
    lines.append("1 0")
    return "\n".join(lines) + "\n"


@dataclass
class Segment:
    phone: int
    start: int      # first frame
    num_frames: int


class HmmSystem:
    """Everything HMM-related for one phone table and one topology."""

    def __init__(self, phone2id: Dict[str, int], word2id: Dict[str, int],
                 lexicon: Dict[str, List[Tuple[str, ...]]], topology: str = "3state", sil_prob: float = 0.5):
        import kaldi_hmm_gmm as khg
        import kaldifst

        self.phone2id, self.word2id, self.lexicon = phone2id, word2id, lexicon
        self.id2phone = {i: p for p, i in phone2id.items()}
        self.topology_kind = topology
        self.phone_ids = sorted(i for p, i in phone2id.items() if i > 0 and not p.startswith("#"))
        self.topo = khg.HmmTopology()
        self.topo.read(topology_text(self.phone_ids, topology))
        self.tree = khg.monophone_context_dependency(
            phones=self.topo.phones, phone2num_pdf_classes=self.topo.get_phone_to_num_pdf_classes())
        self.tm = khg.TransitionModel(ctx_dep=self.tree, hmm_topo=self.topo)
        self.lex_fst = kaldifst.compile(s=lexicon_fst_text(lexicon, phone2id, word2id, sil_prob=sil_prob),
                                        acceptor=False)
        kaldifst.arcsort(self.lex_fst, sort_type="olabel")
        opts = khg.TrainingGraphCompilerOptions()
        # No transition probabilities in the compiled graphs: they change as the model trains and are
        # added to a copy at alignment time (as gmm-align-compiled does).
        opts.transition_scale = 0.0
        opts.self_loop_scale = 0.0
        # Self-loops in their natural place (not Kaldi's "reordered" layout), so a phone's frames end
        # exactly with the transition into its final state: segments_from_alignment relies on that.
        opts.reorder = False
        self.compiler = khg.TrainingGraphCompiler(trans_model=self.tm, ctx_dep=self.tree, lex_fst=self.lex_fst,
                                                  disambig_syms=[], opts=opts)
        self.tid2pdf = np.asarray(self.tm.transition_id_to_pdf_array(), dtype=np.int64)  # index 0 unused
        self.tid2phone = np.array([0] + [self.tm.transition_id_to_phone(t) for t in range(1, self.num_tids + 1)])
        # A phone ends with a transition into its HMM's final state (Kaldi's SplitToPhones uses IsFinal).
        self.tid_is_final = np.array([False] + [self.tm.is_final(t) for t in range(1, self.num_tids + 1)])
        self.min_frames = {"3state": 3, "1state": 1}[topology]

    @property
    def num_pdfs(self) -> int:
        return self.tm.num_pdfs

    @property
    def num_tids(self) -> int:
        return self.tm.num_transition_ids

    def words_to_ids(self, words: Sequence[str]) -> List[int]:
        missing = [w for w in words if w not in self.word2id]
        if missing:
            raise KeyError(f"words not in words.txt: {' '.join(missing[:5])}")
        return [self.word2id[w] for w in words]

    def training_graph(self, words: Sequence[str]):
        """Compiled graph (no transition probabilities) for one transcript."""
        return self.compiler.compile_graph_from_text(self.words_to_ids(words))

    def with_transition_probs(self, graph, transition_scale: float = 1.0, self_loop_scale: float = 0.1):
        import kaldi_hmm_gmm as khg

        g = graph.copy()
        khg.add_transition_probs(trans_model=self.tm, disambig_syms=[], transition_scale=transition_scale,
                                 self_loop_scale=self_loop_scale, fst=g)
        return g

    def pdf_to_tid_matrix(self, pdf_loglikes: np.ndarray) -> np.ndarray:
        """[T, num_pdfs] -> [T, num_tids] with column tid-1 = loglike of pdf(tid) (DecodableCtc's layout)."""
        return np.ascontiguousarray(pdf_loglikes[:, self.tid2pdf[1:]], dtype=np.float32)

    def segments_from_alignment(self, tids: Sequence[int]) -> List[Segment]:
        """Phone segments of a frame-level transition-id alignment."""
        segs: List[Segment] = []
        new = True
        for t, tid in enumerate(tids):
            if new:
                segs.append(Segment(int(self.tid2phone[tid]), t, 1))
            else:
                segs[-1].num_frames += 1
            new = bool(self.tid_is_final[tid])
        return segs

    def pdfs_from_alignment(self, tids: Sequence[int]) -> np.ndarray:
        return self.tid2pdf[np.asarray(tids, dtype=np.int64)]

    @functools.cached_property
    def _phone_tids(self) -> Dict[int, Dict[str, int]]:
        """phone -> {"loop": self-loop tid, "exit": leaving tid}; meaningful for the 1-state topology."""
        table: Dict[int, Dict[str, int]] = {}
        for t in range(1, self.num_tids + 1):
            table.setdefault(int(self.tid2phone[t]), {})["loop" if self.tm.is_self_loop(t) else "exit"] = t
        return table

    def tids_for_phone_frames(self, phones: Sequence[int]) -> List[int]:
        """A 1-state-topology transition-id sequence for a per-frame phone sequence (self-loop while the
        phone lasts, the leaving transition on its last frame)."""
        if self.topology_kind != "1state":
            raise ValueError("tids_for_phone_frames needs the 1state topology")
        out: List[int] = []
        for p, group in itertools.groupby(phones):
            n = len(list(group))
            out += [self._phone_tids[int(p)]["loop"]] * (n - 1) + [self._phone_tids[int(p)]["exit"]]
        return out

    def update_transitions(self, alignments: Sequence[Sequence[int]]) -> None:
        """Maximum-likelihood transition probabilities from frame alignments (gmm-est's transition update)."""
        import kaldi_hmm_gmm as khg

        stats = self.tm.init_stats()
        counts = np.bincount(np.concatenate([np.asarray(a, dtype=np.int64) for a in alignments]),
                             minlength=self.num_tids + 1)
        for tid in np.nonzero(counts)[0]:
            if tid > 0:
                self.tm.accumulate(prob=float(counts[tid]), trans_id=int(tid), stats=stats)
        self.tm.mle_update(stats, khg.MleTransitionUpdateConfig())

    def phone_bigram_graph(self, bigram_costs: np.ndarray, phone_order: Sequence[int], self_loop_scale: float = 0.1,
                           transition_scale: float = 1.0, lm_scale: float = 1.0):
        """HCLG for phone recognition: H (this topology) o C (monophone) o G (phone bigram; words = phones).

        ``bigram_costs[i, j]`` = -log P(phone_order[j] | phone_order[i]) for i < len(order) and the last row
        is the start state; the last column is the end-of-sentence cost. G is deterministic, so no
        disambiguation symbols are needed.
        """
        import kaldi_hmm_gmm as khg
        import kaldifst

        n = len(phone_order)
        lines = []
        for h in [n] + list(range(n)):  # G state 0 = sentence start (listed first: the start state), j+1 = after phone j
            src = 0 if h == n else h + 1
            for j, p in enumerate(phone_order):
                lines.append(f"{src} {j + 1} {p} {p} {lm_scale * bigram_costs[h, j]:.6f}")
            if h < n:
                lines.append(f"{src} {lm_scale * bigram_costs[h, n]:.6f}")
        g = kaldifst.compile(s="\n".join(lines) + "\n", acceptor=False)
        kaldifst.arcsort(g, sort_type="ilabel")
        clg, ilabels = kaldifst.compose_context(disambig_syms=[], context_width=self.tree.context_width,
                                                central_position=self.tree.central_position, ifst=g)
        kaldifst.arcsort(clg, sort_type="ilabel")
        ha, _ = khg.get_h_transducer(ilabel_info=ilabels, ctx_dep=self.tree, trans_model=self.tm,
                                     config=khg.HTransducerConfig(transition_scale=transition_scale))
        hclga = kaldifst.compose(ha, clg)
        return khg.add_self_loops(self_loop_scale=self_loop_scale, disambig_syms=[], reorder=False,
                                  trans_model=self.tm, ifst=hclga)


def equal_alignment(graph, num_frames: int, seed: int = 0) -> Optional[List[int]]:
    """Flat start: a random path of exactly ``num_frames`` frames through the graph (align-equal-compiled)."""
    import kaldifst

    ok, path = kaldifst.equal_align(ifst=graph, length=num_frames, rand_seed=seed, num_retries=10)
    if not ok:
        return None
    ok, ilabels, _, _ = kaldifst.get_linear_symbol_sequence(path)
    if not ok or len(ilabels) != num_frames:
        return None
    return list(ilabels)
