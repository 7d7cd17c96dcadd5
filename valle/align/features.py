"""Acoustic features for the aligner (kaldi-native-fbank): 10 ms frames, 25 ms windows, 16 kHz.

* GMM: 13 MFCCs + deltas + delta-deltas (39 dims), per-speaker mean and variance normalization.
* DNN: 40 log-mel filterbanks, per-speaker mean and variance normalization.
Frame ``t`` covers samples [t*160, t*160+400) (snip_edges), so its centre is at 12.5 ms + 10 ms * t.
"""
from dataclasses import dataclass
from typing import Dict, Iterable, Tuple

import numpy as np

from valle.constants import ASR_SAMPLE_RATE

SAMPLE_RATE = ASR_SAMPLE_RATE
FRAME_SHIFT = 0.01
FRAME_CENTRE_OFFSET = 0.0125  # centre of frame 0, in seconds


def _frames(computer, n: int) -> np.ndarray:
    if n == 0:
        return np.zeros((0, computer.dim), dtype=np.float32)
    return np.stack([np.asarray(computer.get_frame(i), dtype=np.float32) for i in range(n)])


def mfcc(audio: np.ndarray) -> np.ndarray:
    import kaldi_native_fbank as knf

    opts = knf.MfccOptions()
    opts.frame_opts.dither = 0.0
    opts.frame_opts.samp_freq = SAMPLE_RATE
    comp = knf.OnlineMfcc(opts)
    comp.accept_waveform(SAMPLE_RATE, np.ascontiguousarray(audio, dtype=np.float32))
    comp.input_finished()
    feats = _frames(comp, comp.num_frames_ready)
    if len(feats) == 0:
        return np.zeros((0, 39), dtype=np.float32)
    return knf.compute_deltas(knf.DeltaOptions(order=2, window=2), feats)


def fbank(audio: np.ndarray, num_bins: int = 40) -> np.ndarray:
    import kaldi_native_fbank as knf

    opts = knf.FbankOptions()
    opts.frame_opts.dither = 0.0
    opts.frame_opts.samp_freq = SAMPLE_RATE
    opts.mel_opts.num_bins = num_bins
    comp = knf.OnlineFbank(opts)
    comp.accept_waveform(SAMPLE_RATE, np.ascontiguousarray(audio, dtype=np.float32))
    comp.input_finished()
    return _frames(comp, comp.num_frames_ready)


@dataclass
class Cmvn:
    """Per-speaker mean/variance statistics (Kaldi's compute-cmvn-stats --spk2utt, then apply-cmvn --norm-vars)."""
    stats: Dict[str, Tuple[np.ndarray, np.ndarray, int]]

    @classmethod
    def estimate(cls, items: Iterable[Tuple[str, np.ndarray]]) -> "Cmvn":
        acc = CmvnAccumulator()
        for spk, feats in items:
            acc.add(spk, feats)
        return acc.cmvn()

    def apply(self, spk: str, feats: np.ndarray) -> np.ndarray:
        s, ss, n = self.stats[spk]
        mean = s / max(n, 1)
        var = np.maximum(ss / max(n, 1) - mean ** 2, 1e-6)
        return ((feats - mean) / np.sqrt(var)).astype(np.float32)


class CmvnAccumulator:
    """Per-speaker sums of one feature kind, added up utterance by utterance (stage 3's features jobs save
    them per piece; ``Cmvn.estimate`` over utterances held together)."""

    def __init__(self):
        self.stats: Dict[str, list] = {}

    def add(self, spk: str, feats: np.ndarray) -> None:
        a = self.stats.setdefault(spk, [0.0, 0.0, 0])
        a[0] = a[0] + feats.sum(0, dtype=np.float64)
        a[1] = a[1] + np.square(feats, dtype=np.float64).sum(0)
        a[2] += len(feats)

    def cmvn(self) -> Cmvn:
        return Cmvn({spk: (s, ss, n) for spk, (s, ss, n) in self.stats.items()})
