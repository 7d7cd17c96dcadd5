"""Stage 3's trained hybrid ASR (``exp/<recipe>/align/{gmm,dnn}``) as a model: HMM systems, DNN scaled
likelihoods at either frame shift, and phone-bigram decoding. Used by stage 3's aligner and by stage 7's
phone recognizer (which needs the models, not the corpus)."""
from pathlib import Path
from typing import Callable, Dict, List, NamedTuple, Optional, Sequence, Tuple

import numpy as np
import torch

from valle.align.config import AlignConfig
from valle.align.dnn import load_dnn, scaled_loglikes
from valle.align.engine import AlignEngine, PathResult
from valle.align.gmm import DiagGmmSet
from valle.align.hmm import HmmSystem
from valle.align.phone_lm import PhoneBigram
from valle.text.lang_dir import LangDir
from valle.text.ngram import NgramLM
from valle.utils.io import load_torch_file


def make_hmm(lang: LangDir, topology: str) -> HmmSystem:
    return HmmSystem(lang.phones, lang.words, lang.lexicon, topology)


class GmmSystem(NamedTuple):
    hmm: HmmSystem       # 3-state monophones, transition probabilities from the GMM's alignments
    gmm: DiagGmmSet
    checkpoint: dict     # alignments, failures, training log


class DnnSystem(NamedTuple):
    hmm: HmmSystem
    subsampling: int                                     # alignment frames per 10 ms feature frame: 1 or 3
    loglikes: Callable[[torch.Tensor, float], np.ndarray]  # (normalized fbank, scale) -> [T, num_tids]


class DecodeResult(NamedTuple):
    hmm: HmmSystem
    subsampling: int
    results: Dict[str, list]      # utterance id -> transition ids of the best path
    failures: Dict[str, str]      # utterance id -> reason


class Utterance(NamedTuple):
    id: str
    part: str
    speaker: str
    cut_id: str
    start: float                  # supervision start in the recording
    duration: float
    words: Optional[List[str]]    # None for unlabeled parts


class HybridAsr:
    """The GMM and DNN under ``model_dir`` (read once, on first use) with the lang directory they were built on."""

    def __init__(self, lang: LangDir, model_dir: Path, cfg: AlignConfig, engine: AlignEngine):
        self.lang, self.model_dir, self.cfg, self.engine = lang, Path(model_dir), cfg, engine
        self._gmm = None
        self._dnn_systems: Dict[int, DnnSystem] = {}

    def gmm_system(self) -> GmmSystem:
        if self._gmm is None:
            ckpt = load_torch_file(self.model_dir / "gmm" / "final.pt")
            hmm = make_hmm(self.lang, "3state")
            hmm.update_transitions(list(ckpt["alignments"].values()))
            self._gmm = GmmSystem(hmm, DiagGmmSet.from_state_dict(ckpt["gmm"]), ckpt)
        return self._gmm

    def dnn_system(self, frame_shift_ms: int) -> DnnSystem:
        """10 ms: the network is run at every input phase (shifted by 0..s-1 frames) and its 30 ms outputs
        interleaved, giving state likelihoods every 10 ms for the GMM's own 3-state graphs.
        30 ms: the paper's frame shift; state posteriors summed per phone, one-state phone HMMs."""
        if frame_shift_ms not in self._dnn_systems:
            self._dnn_systems[frame_shift_ms] = self._load_dnn_system(frame_shift_ms)
        return self._dnn_systems[frame_shift_ms]

    def _load_dnn_system(self, frame_shift_ms: int) -> DnnSystem:
        model, log_priors, _ = load_dnn(self.model_dir / "dnn" / "final.pt")
        gmm_hmm, _, ckpt = self.gmm_system()
        s = model.cfg.subsampling
        if frame_shift_ms == 10:
            def loglikes(fbank, scale):
                return gmm_hmm.pdf_to_tid_matrix(interleaved_loglikes(model, fbank, log_priors) * scale)
            return DnnSystem(gmm_hmm, 1, loglikes)
        if frame_shift_ms != 10 * s:
            raise ValueError(f"DNN frame shift {frame_shift_ms} ms: expected 10 or {10 * s}")
        hmm = make_hmm(self.lang, "1state")
        pdf_phone = np.zeros(gmm_hmm.num_pdfs, dtype=np.int64)
        for t in range(1, gmm_hmm.num_tids + 1):
            pdf_phone[gmm_hmm.tid2pdf[t]] = gmm_hmm.tid2phone[t]
        phone_pdf = {int(hmm.tid2phone[t]): int(hmm.tid2pdf[t]) for t in range(1, hmm.num_tids + 1)}
        member = torch.zeros(gmm_hmm.num_pdfs, hmm.num_pdfs)
        for pdf, ph in enumerate(pdf_phone):
            member[pdf, phone_pdf[int(ph)]] = 1.0
        phone_log_priors = torch.log(torch.exp(torch.from_numpy(log_priors)) @ member).numpy()
        # 30 ms transition probabilities from the GMM alignments read every s frames.
        hmm.update_transitions([hmm.tids_for_phone_frames(gmm_hmm.tid2phone[np.asarray(t)][::s])
                                for t in ckpt["alignments"].values()])

        def loglikes(fbank, scale):
            with torch.no_grad():
                logp = torch.log_softmax(model(fbank[None])[0], -1)
            phone_logp = torch.log((torch.exp(logp) @ member).clamp_min(1e-20)).numpy()
            return hmm.pdf_to_tid_matrix((phone_logp - phone_log_priors) * scale)
        return DnnSystem(hmm, s, loglikes)

    def self_loop_scale(self, subsampling: int) -> float:
        return self.cfg.dnn_self_loop_scale if subsampling > 1 else self.cfg.gmm.self_loop_scale

    def phone_bigram_hclg(self, bigram: PhoneBigram):
        """The phone-recognition graph for the DNN-HMM at the configured frame shift."""
        hmm, s, _ = self.dnn_system(self.cfg.dnn_frame_shift_ms)
        return hmm.phone_bigram_graph(bigram.costs, bigram.order, self_loop_scale=self.self_loop_scale(s))

    def decode(self, hclg, utts: Sequence[Utterance], fbank: Dict[str, torch.Tensor]) -> DecodeResult:
        """Best paths through ``hclg`` of normalized fbank features."""
        hmm, s, _ = self.dnn_system(self.cfg.dnn_frame_shift_ms)
        results, failures = {}, {}
        for u in utts:
            tids, reason = self.decode_one(hclg, fbank[u.id], u.id)
            if tids is None:
                failures[u.id] = reason
            else:
                results[u.id] = tids
        return DecodeResult(hmm, s, results, failures)

    def word_hclg(self, lm: NgramLM):
        """The word-decoding graph (lexicon + word n-gram) for the DNN-HMM at the configured frame shift."""
        from valle.align.word_graph import word_hclg

        hmm, s, _ = self.dnn_system(self.cfg.dnn_frame_shift_ms)
        return word_hclg(hmm, lm, self_loop_scale=self.self_loop_scale(s))

    def decode_path(self, hclg, fbank: torch.Tensor, utt: str = "", beam: Optional[float] = None
                    ) -> Tuple[PathResult, Optional[np.ndarray]]:
        """The best path through ``hclg`` (transition ids, output labels) of one utterance's normalized fbank,
        and the scaled log-likelihoods it was found in (None without frames). ``beam``: default decode_beam."""
        hmm, s, loglikes = self.dnn_system(self.cfg.dnn_frame_shift_ms)
        scale = self.cfg.decode_acoustic_scale * (1.0 if s > 1 else self.cfg.dnn_acoustic_scale_10ms)
        ll = loglikes(fbank, scale)
        if len(ll) == 0:
            return PathResult(None, [], reason="no frames"), None
        return self.engine.decode(hclg, ll, hmm.tm, beam or self.cfg.decode_beam, utt=utt), ll

    def decode_one(self, hclg, fbank: torch.Tensor, utt: str = "") -> Tuple[Optional[List[int]], str]:
        """(transition ids of the best path, '') of one utterance's normalized fbank, or (None, why not)."""
        res, _ = self.decode_path(hclg, fbank, utt)
        return (None, res.reason) if res.tids is None else (res.tids, "")

    def align_loglikes(self, fbank: torch.Tensor):
        """(HMM, subsampling, self-loop scale, scaled log-likelihoods) for forced alignment at the configured shift."""
        hmm, s, loglikes = self.dnn_system(self.cfg.dnn_frame_shift_ms)
        scale = self.cfg.dnn_acoustic_scale if s > 1 else self.cfg.dnn_acoustic_scale_10ms
        return hmm, s, self.self_loop_scale(s), loglikes(fbank, scale)


@torch.no_grad()
def interleaved_loglikes(model, fbank: torch.Tensor, log_priors: np.ndarray) -> np.ndarray:
    """Scaled log-likelihoods every input frame from a subsampling network: run it on the input shifted by
    0..s-1 frames; output i of shift k is centred on input frame k + s*i."""
    s = model.cfg.subsampling
    T = len(fbank)
    out = np.zeros((T, len(log_priors)), dtype=np.float32)
    for k in range(s):
        if k >= T:
            break
        ll = scaled_loglikes(model, fbank[k:], log_priors)
        idx = k + s * np.arange(len(ll))
        keep = idx < T
        out[idx[keep]] = ll[keep]
    return out
