"""FSA engines: best paths of per-frame log-likelihoods through HMM graphs.

One small interface, two implementations:
  * ``KaldiEngine`` (always available): Kaldi's FasterDecoder (forced alignment, with a retry at a
    wider beam, as gmm-align-compiled) and LatticeFasterDecoder (decoding) from kaldi-hmm-gmm.
  * ``K2Engine`` (when ``import k2`` works): the same graphs converted to k2 FSAs, scored with
    ``k2.DenseFsaVec`` + ``k2.intersect_dense`` (alignment) or ``k2.intersect_dense_pruned``
    (decoding) and ``k2.shortest_path``; batched and GPU-capable.
Graphs are kaldifst ``StdVectorFst`` with transition ids as input labels (1-based) and words on the
output side; log-likelihoods are ``[T, num_transition_ids]`` float32 with column ``tid - 1`` for
transition id ``tid`` (already multiplied by the acoustic scale).
"""
import logging
from dataclasses import dataclass
from typing import List, Optional, Sequence, Tuple

import numpy as np


@dataclass
class PathResult:
    tids: Optional[List[int]]      # one transition id per frame; None on failure
    words: List[int]               # output labels on the best path
    retried: bool = False
    reason: str = ""               # why it failed, when it did
    score: Optional[float] = None  # decoding: the path's total log-likelihood (acoustic - graph cost)


def fst_arcs(fst) -> Tuple[np.ndarray, np.ndarray, int]:
    """(arcs [N, 5] as (src, dst, ilabel, olabel, cost) float64, final costs per state, start state)."""
    import kaldifst

    arcs, finals = [], []
    for s in kaldifst.StateIterator(fst):
        for a in kaldifst.ArcIterator(fst, s):
            arcs.append((s, a.nextstate, a.ilabel, a.olabel, a.weight.value))
        finals.append(fst.final(s).value)
    return np.asarray(arcs, dtype=np.float64).reshape(-1, 5), np.asarray(finals, dtype=np.float64), fst.start


def check_beams(beams: Sequence[float]) -> List[float]:
    beams = [float(b) for b in beams]
    if not beams or beams[0] <= 0 or any(b >= c for b, c in zip(beams, beams[1:])):
        raise ValueError(f"beams must be positive and increasing, got {beams}")
    return beams


def no_path_reason(beams: Sequence[float]) -> str:
    return "no path to a final state within beam " + " or ".join(str(b) for b in beams)


class AlignEngine:
    name = "abstract"

    def align(self, graph, loglikes: np.ndarray, beams: Sequence[float] = (10.0, 40.0), utt: str = "") -> PathResult:
        """Forced alignment: tried at each beam in turn until a path reaches a final state
        (``retried`` when a beam after the first was needed)."""
        raise NotImplementedError

    def decode(self, graph, loglikes: np.ndarray, trans_model, beam: float = 13.0, max_active: int = 7000,
               utt: str = "") -> PathResult:
        raise NotImplementedError


class KaldiEngine(AlignEngine):
    name = "kaldi"

    def __init__(self):
        self._decoders = {}

    def align(self, graph, loglikes, beams=(10.0, 40.0), utt=""):
        import kaldi_hmm_gmm as khg

        beams = check_beams(beams)
        if len(loglikes) == 0:
            return PathResult(None, [], reason="no frames")
        decodable = khg.DecodableCtc(np.ascontiguousarray(loglikes, dtype=np.float32))
        cfg = khg.AlignConfig()
        cfg.careful = False
        # Kaldi's own retry covers the first two beams in one call; any further beam is one more call.
        attempts = [(beams[0], beams[1] if len(beams) > 1 else 0.0)] + [(b, 0.0) for b in beams[2:]]
        for n, (cfg.beam, cfg.retry_beam) in enumerate(attempts):
            done, _, num_retried, _, _, tids, words = khg.align_utterance_wrapper(
                config=cfg, utt=utt, acoustic_scale=1.0, fst=graph, decodable=decodable, num_done=0,
                num_error=0, num_retried=0, tot_like=0.0, frame_count=0)
            if done:
                return PathResult(list(tids), list(words), bool(n or num_retried))
        return PathResult(None, [], len(beams) > 1, no_path_reason(beams))

    def decode(self, graph, loglikes, trans_model, beam=13.0, max_active=7000, utt=""):
        import kaldi_hmm_gmm as khg

        key = (id(graph), beam, max_active)
        if key not in self._decoders:
            cfg = khg.LatticeFasterDecoderConfig(beam=beam, max_active=max_active, lattice_beam=6.0)
            self._decoders = {key: (khg.LatticeFasterDecoder(graph, cfg), graph)}  # keep graph alive
        decoder = self._decoders[key][0]
        decodable = khg.DecodableCtc(np.ascontiguousarray(loglikes, dtype=np.float32))
        ok, tids, words, likelihood = khg.decode_utterance_lattice_faster(decoder=decoder, decodable=decodable,
                                                                  trans_model=trans_model, utt=utt,
                                                                  allow_partial=True)
        if not ok or len(tids) != len(loglikes):
            return PathResult(None, [], reason="decoding failed")
        return PathResult(list(tids), list(words), score=float(likelihood))


class K2Engine(AlignEngine):
    """k2 implementation; used when k2 is installed. Graphs are converted once and cached."""
    name = "k2"

    def __init__(self, device: str = "cpu"):
        import k2  # noqa: F401  (fails here, not later, when k2 is absent)

        self.device = device
        self._cache = {}

    def to_k2(self, graph):
        """kaldifst graph -> k2 Fsa (epsilon-free, arc-sorted) with word ids as aux_labels."""
        import k2
        import torch

        key = id(graph)
        if key in self._cache:
            return self._cache[key][0]
        arcs, finals, start = fst_arcs(graph)
        if start != 0:
            raise ValueError("k2 needs the start state to be state 0")
        lines = [f"{int(s)} {int(d)} {int(i)} {int(o)} {c}" for s, d, i, o, c in arcs]
        lines += [f"{s} {c}" for s, c in enumerate(finals) if np.isfinite(c)]
        fsa = k2.Fsa.from_str("\n".join(lines), acceptor=False, openfst=True)
        fsa = k2.arc_sort(k2.connect(k2.remove_epsilon(fsa)))
        fsa = fsa.to(torch.device(self.device))
        self._cache = {key: (fsa, graph)}
        return fsa

    def _best_path(self, graph, loglikes, search_beam: Optional[float], output_beam: float, max_active: int):
        import k2
        import torch

        fsa = self.to_k2(graph)
        T = len(loglikes)
        scores = torch.full((1, T, loglikes.shape[1] + 1), -1e10, dtype=torch.float32)
        scores[0, :, 1:] = torch.from_numpy(np.ascontiguousarray(loglikes, dtype=np.float32))  # column = label
        dense = k2.DenseFsaVec(scores.to(fsa.device), torch.tensor([[0, 0, T]], dtype=torch.int32))
        graphs = k2.create_fsa_vec([fsa])
        if search_beam is None:
            lattice = k2.intersect_dense(graphs, dense, output_beam=output_beam)
        else:
            lattice = k2.intersect_dense_pruned(graphs, dense, search_beam=search_beam, output_beam=output_beam,
                                                min_active_states=30, max_active_states=max_active)
        best = k2.shortest_path(lattice, use_double_scores=True)
        score = float(best.get_tot_scores(use_double_scores=True, log_semiring=False)[0])
        labels = best.labels.tolist()
        if not labels:
            return None, [], score
        tids = [int(x) for x in labels if x > 0]
        aux = best.aux_labels
        words = [int(x) for x in (aux.values if hasattr(aux, "values") else aux).tolist() if x > 0]
        return tids, words, score

    def align(self, graph, loglikes, beams=(10.0, 40.0), utt=""):
        beams = check_beams(beams)
        if len(loglikes) == 0:
            return PathResult(None, [], reason="no frames")
        for n, beam in enumerate(beams):
            tids, words, _ = self._best_path(graph, loglikes, None, beam, 0)
            if tids is not None and len(tids) == len(loglikes):
                return PathResult(tids, words, n > 0)
        return PathResult(None, [], len(beams) > 1, no_path_reason(beams))

    def decode(self, graph, loglikes, trans_model, beam=13.0, max_active=7000, utt=""):
        tids, words, score = self._best_path(graph, loglikes, beam, 6.0, max_active)
        if tids is None or len(tids) != len(loglikes):
            return PathResult(None, [], reason="decoding failed")
        return PathResult(tids, words, score=score)


def k2_available() -> Tuple[bool, str]:
    try:
        import k2  # noqa: F401
        return True, ""
    except Exception as e:  # ImportError, or a k2 built against another torch (OSError/RuntimeError)
        return False, f"{type(e).__name__}: {e}"


def get_engine(name: str = "auto", device: str = "cpu") -> AlignEngine:
    """``auto``: k2 when it imports, else Kaldi. ``k2`` fails clearly when k2 is missing."""
    if name not in ("auto", "kaldi", "k2"):
        raise ValueError(f"unknown FSA engine '{name}' (expected auto, kaldi or k2)")
    if name in ("auto", "k2"):
        ok, why = k2_available()
        if ok:
            return K2Engine(device)
        if name == "k2":
            raise RuntimeError(f"the k2 engine (align_engine=k2) was asked for, but k2 cannot be imported ({why})")
        logging.info("k2 is not available (%s); using Kaldi's decoders", why)
    return KaldiEngine()
