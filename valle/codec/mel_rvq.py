"""A training-free speech codec for a corpus without EnCodec weights: log-mel frames quantized by a residual VQ
whose codebooks are k-means fits on the corpus, decoded by the mel filterbank's pseudo-inverse and Griffin-Lim.

Its tokens have EnCodec's shape at 6 kbps (int16 [T, 8], codes 0-1023, 75 frames a second, coarse to fine:
codebook 1 holds the most), so the VALL-E models need no change; unlike a random-weight EnCodec, its audio is
speech. It is what the embedded mini recipe uses (``codec=mel_rvq``): real EnCodec weights cannot be had here.

Frames: 24 kHz, a 1024-point Hann window every 320 samples (75 Hz, EnCodec's rate), centred, so frame t covers
samples around t * 320; the magnitude spectrum through 100 Slaney mel filters; natural log, floored at 1e-5.
"""
import math
from dataclasses import asdict
from pathlib import Path
from typing import Iterable, List, Optional, Sequence, Union

import numpy as np
import torch

from valle.constants import CODEC_HOP_LENGTH as HOP_LENGTH
from valle.constants import CODEC_SAMPLE_RATE as SAMPLE_RATE
from valle.codec.encodec import CODEBOOK_SIZE, FORMAT_VERSION, CodecInfo, _nearest, fit_residual_codebooks
from valle.utils.io import atomic_path
from valle.utils.mel import mel_filterbank as _mel_filterbank

KIND = "mel_rvq"
N_FFT = 1024
N_MELS = 100
LOG_FLOOR = 1e-5


class MelRvqCodec:
    """encode_batch / decode / save, as ``valle.codec.encodec.Codec``."""

    def __init__(self, codebooks: torch.Tensor, mean: torch.Tensor, info, griffin_lim_iters: int = 60,
                 device: Union[str, torch.device] = "cpu"):
        self.codebooks = codebooks.float().to(device)  # [K, 1024, n_mels]
        self.mean = mean.float().to(device)            # [n_mels]: removed before quantizing
        self.info = info
        self.griffin_lim_iters = griffin_lim_iters
        self.device = torch.device(device)
        self.fb = torch.from_numpy(_mel_filterbank(SAMPLE_RATE, N_FFT, N_MELS)).to(device)              # [n_mels, bins]
        self.fb_pinv = torch.linalg.pinv(self.fb.double()).float()         # [bins, n_mels]
        self.window = torch.hann_window(N_FFT, device=device)

    @property
    def num_codebooks(self) -> int:
        return self.codebooks.shape[0]

    @staticmethod
    def num_frames(num_samples: int) -> int:
        return math.ceil(num_samples / HOP_LENGTH)

    def log_mel(self, waveform: np.ndarray) -> torch.Tensor:
        """[T, n_mels] log-mel frames of a 24 kHz waveform, T = ceil(len / 320)."""
        x = torch.as_tensor(np.asarray(waveform, dtype=np.float32), device=self.device)
        if len(x) <= N_FFT // 2:  # reflect padding needs more samples than half a window
            x = torch.nn.functional.pad(x, (0, N_FFT // 2 + 1 - len(x)))
        spec = torch.stft(x, N_FFT, HOP_LENGTH, window=self.window, center=True, return_complex=True).abs()
        mel = self.fb @ spec  # [n_mels, frames]
        return torch.log(mel.clamp(min=LOG_FLOOR)).T[: self.num_frames(len(waveform))]

    def quantize(self, frames: torch.Tensor) -> torch.Tensor:
        """[T, n_mels] log-mel -> [T, K] codes, each stage coding what the earlier ones left."""
        residual = frames - self.mean
        codes = []
        for book in self.codebooks:
            idx = _nearest(residual, book, 8192)[0]
            codes.append(idx)
            residual = residual - book[idx]
        return torch.stack(codes, 1)

    def dequantize(self, codes: torch.Tensor) -> torch.Tensor:
        """[T, K'] codes (K' <= K: the first K' stages) -> [T, n_mels] log-mel."""
        out = self.mean.expand(codes.shape[0], -1).clone()
        for k in range(codes.shape[1]):
            out += self.codebooks[k][codes[:, k]]
        return out

    @torch.no_grad()
    def encode_batch(self, waveforms: Sequence[np.ndarray]) -> List[np.ndarray]:
        """1-D float waveforms at 24 kHz -> int16 codes [ceil(len / 320), K] each (frames are independent:
        one at a time and batched give the same codes)."""
        out = []
        for w in waveforms:
            if len(w) == 0:
                raise ValueError("empty waveform in batch")
            out.append(self.quantize(self.log_mel(w)).to("cpu", torch.int16).numpy())
        return out

    @torch.no_grad()
    def decode(self, codes: np.ndarray) -> np.ndarray:
        """int codes [T, K] -> float32 waveform at 24 kHz, T * 320 samples."""
        codes = torch.as_tensor(np.asarray(codes, dtype=np.int64), device=self.device)
        num_samples = codes.shape[0] * HOP_LENGTH
        if codes.shape[0] == 0:
            return np.zeros(0, np.float32)
        mel = torch.exp(self.dequantize(codes)).T                 # [n_mels, T]
        magnitude = (self.fb_pinv @ mel).clamp(min=0.0)           # [bins, T]
        return griffin_lim(magnitude, self.window, self.griffin_lim_iters, num_samples).cpu().numpy()

    def save(self, path: Union[str, Path]) -> None:
        with atomic_path(path) as tmp:
            torch.save({"format": "valle-codec", "format_version": FORMAT_VERSION, "info": asdict(self.info),
                        "codebooks": self.codebooks.cpu(), "mean": self.mean.cpu(),
                        "griffin_lim_iters": self.griffin_lim_iters}, tmp)

    @classmethod
    def from_saved(cls, obj: dict, info, device: Union[str, torch.device] = "cpu") -> "MelRvqCodec":
        return cls(obj["codebooks"], obj["mean"], info, int(obj.get("griffin_lim_iters", 60)), device)


def griffin_lim(magnitude: torch.Tensor, window: torch.Tensor, iters: int, num_samples: int,
                momentum: float = 0.99) -> torch.Tensor:
    """A waveform whose STFT magnitude is close to ``magnitude`` [bins, T]: the fast Griffin-Lim algorithm
    (Perraudin et al. 2013; torchaudio's default momentum), phases started at zero, so decoding is
    deterministic."""
    length = max(num_samples, N_FFT // 2 + 1)
    angles = torch.ones_like(magnitude, dtype=torch.complex64)
    previous = torch.zeros_like(angles)
    for _ in range(iters):
        wave = torch.istft(magnitude * angles, N_FFT, HOP_LENGTH, window=window, center=True, length=length)
        rebuilt = torch.stft(wave, N_FFT, HOP_LENGTH, window=window, center=True, return_complex=True)
        rebuilt = rebuilt[:, : magnitude.shape[1]]
        angles = rebuilt - (momentum / (1 + momentum)) * previous
        angles = angles / angles.abs().clamp(min=1e-16)
        previous = rebuilt
    wave = torch.istft(magnitude * angles, N_FFT, HOP_LENGTH, window=window, center=True, length=length)
    return wave[:num_samples].float()


@torch.no_grad()
def fit_mel_rvq(waveforms: Iterable[np.ndarray], num_codebooks: int = 8, seed: int = 0, max_frames: int = 60000,
                kmeans_iters: int = 10, griffin_lim_iters: int = 60) -> MelRvqCodec:
    """Codebooks fitted stage by stage by k-means on the residuals of the log-mel frames of ``waveforms``
    (24 kHz mono; the first ``max_frames`` frames, 75 a second), the per-bin mean removed first."""
    probe = MelRvqCodec(torch.zeros(0, CODEBOOK_SIZE, N_MELS), torch.zeros(N_MELS), None)
    frames, seconds, n = [], 0.0, 0
    for w in waveforms:
        f = probe.log_mel(w)
        frames.append(f)
        n += len(f)
        seconds += len(w) / SAMPLE_RATE
        if n >= max_frames:
            break
    x = torch.cat(frames)[:max_frames] if frames else torch.zeros(0, N_MELS)
    mean = x.mean(0) if len(x) else torch.zeros(N_MELS)
    books = fit_residual_codebooks(x - mean, num_codebooks, kmeans_iters, torch.Generator().manual_seed(seed))
    info = CodecInfo(real_weights=True, source=f"log-mel residual VQ fitted by k-means on {seconds:.0f} s of the "
                     f"corpus, Griffin-Lim vocoder", bandwidth=num_codebooks * 0.75, num_codebooks=num_codebooks,
                     fitted_on_seconds=round(seconds, 2), seed=seed, kind=KIND)
    return MelRvqCodec(torch.stack(books), mean, info, griffin_lim_iters)
