"""Speaker similarity with a real pretrained speaker encoder: Resemblyzer's GE2E model (Wan et al. 2018), whose
weights ship inside its PyPI wheel (``resemblyzer/pretrained.pt``: a 3-layer LSTM of 256 over 40 mel bands).

The paper scores SIM with WavLM-TDNN, which cannot be had offline; its number is the cosine similarity of two
utterances' embeddings, and so is this one (GE2E embeddings are non-negative, so it lies in [0, 1]; compare it
with its ceiling and floor rows, not with the paper's values).

Resemblyzer's own package is not imported: it needs librosa (and numba) for a mel spectrogram and loads its
file with a bare ``torch.load``. This module reads the same file as plain tensors (``weights_only``) and
reproduces its pipeline step by step, each step named after Resemblyzer's function:
  preprocess_wav   16 kHz, volume raised (never lowered) to -30 dBFS, pauses longer than ~0.2 s cut by
                   webrtcvad (mode 3, 30 ms windows, moving average of 8, dilation of 6 windows)
  wav_to_mel       power mel spectrogram, 25 ms Hann window every 10 ms, centred with zero padding
                   (librosa >= 0.10's ``melspectrogram`` defaults), 40 Slaney mel bands 0-8 kHz
  embed_utterance  1.6 s partials (160 frames) at 1.3 a second, each embedded by the LSTM (last layer's
                   final state -> linear -> ReLU -> L2 norm), averaged and L2-normed
tests/test_tts_eval.py checks the network and the partials against Resemblyzer's own code on the same mels.
"""
import importlib.util
from pathlib import Path
from typing import List, Optional

import numpy as np
import torch

from valle.constants import ASR_SAMPLE_RATE
from valle.utils.io import load_torch_file
from valle.utils.mel import mel_filterbank

SAMPLE_RATE = 16000
N_FFT, HOP, N_MELS = 400, 160, 40          # 25 ms, 10 ms
PARTIAL_FRAMES = 160                       # 1.6 s
TARGET_DBFS = -30.0
VAD_WINDOW = 480                           # 30 ms at 16 kHz
VAD_AVERAGE_WIDTH, VAD_MAX_SILENCE = 8, 6  # windows
INT16_MAX = 2 ** 15 - 1

assert SAMPLE_RATE == ASR_SAMPLE_RATE      # stage 7 loads every wav at this rate once


class SpeakerModelError(RuntimeError):
    pass


def resemblyzer_weights() -> Path:
    """The pretrained.pt inside the installed resemblyzer wheel (its package is not imported)."""
    spec = importlib.util.find_spec("resemblyzer")
    if spec is None or not spec.submodule_search_locations:
        raise SpeakerModelError("the resemblyzer package is not installed: utils/setup_env.sh installs it "
                                "(pip install --no-deps resemblyzer==0.1.4); or set sim_model=none")
    path = Path(list(spec.submodule_search_locations)[0]) / "pretrained.pt"
    if not path.is_file():
        raise SpeakerModelError(f"{path} is missing: reinstall resemblyzer")
    return path


def normalize_volume(wav: np.ndarray, target_dbfs: float = TARGET_DBFS) -> np.ndarray:
    """Raise (never lower) the level to ``target_dbfs``."""
    rms = np.sqrt(np.mean((wav.astype(np.float64) * INT16_MAX) ** 2))
    if rms == 0:
        return wav
    change = target_dbfs - 20 * np.log10(rms / INT16_MAX)
    return wav if change < 0 else (wav * 10 ** (change / 20)).astype(np.float32)


def trim_long_silences(wav: np.ndarray) -> np.ndarray:
    """Keep the windows webrtcvad calls speech, smoothed and dilated so that short pauses stay."""
    import webrtcvad
    from scipy.ndimage import binary_dilation

    wav = wav[: len(wav) - len(wav) % VAD_WINDOW]
    if not len(wav):
        return wav
    pcm = np.round(np.clip(wav, -1.0, 1.0) * INT16_MAX).astype("<i2").tobytes()
    vad = webrtcvad.Vad(3)
    flags = np.array([vad.is_speech(pcm[2 * s: 2 * (s + VAD_WINDOW)], SAMPLE_RATE)
                      for s in range(0, len(wav), VAD_WINDOW)], dtype=np.float64)
    width = VAD_AVERAGE_WIDTH
    padded = np.concatenate([np.zeros((width - 1) // 2), flags, np.zeros(width // 2)])
    summed = np.cumsum(padded)
    summed[width:] = summed[width:] - summed[:-width]
    mask = np.round(summed[width - 1:] / width).astype(bool)
    mask = binary_dilation(mask, np.ones(VAD_MAX_SILENCE + 1))
    return wav[np.repeat(mask, VAD_WINDOW)]


def preprocess_wav(wav: np.ndarray) -> np.ndarray:
    """16 kHz float audio -> what the encoder was trained on."""
    return trim_long_silences(normalize_volume(np.asarray(wav, dtype=np.float32)))


_FILTERS = None


def wav_to_mel(wav: np.ndarray) -> np.ndarray:
    """[frames, 40] power mel spectrogram (not log), frame t centred on sample t * 160."""
    global _FILTERS
    if _FILTERS is None:
        _FILTERS = mel_filterbank(SAMPLE_RATE, N_FFT, N_MELS).astype(np.float64)
    x = np.pad(np.asarray(wav, dtype=np.float64), N_FFT // 2)
    n = 1 + (len(x) - N_FFT) // HOP
    frames = np.lib.stride_tricks.as_strided(x, (n, N_FFT), (x.strides[0] * HOP, x.strides[0]))
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(N_FFT) / N_FFT)   # periodic Hann (scipy's fftbins)
    power = np.abs(np.fft.rfft(frames * window, axis=1)) ** 2
    return (power @ _FILTERS.T).astype(np.float32)


def partial_slices(num_samples: int, rate: float = 1.3, min_coverage: float = 0.75) -> List[slice]:
    """Mel-frame slices of the 1.6 s partials covering ``num_samples`` (Resemblyzer's compute_partial_slices):
    one every 1/rate s; the last is dropped when it covers less than ``min_coverage`` of real audio, unless it
    is the only one."""
    num_frames = int(np.ceil((num_samples + 1) / HOP))
    step = int(np.round(SAMPLE_RATE / rate / HOP))
    if not 0 < step <= PARTIAL_FRAMES:
        raise ValueError(f"rate {rate} gives a step of {step} frames (1..{PARTIAL_FRAMES})")
    starts = range(0, max(1, num_frames - PARTIAL_FRAMES + step + 1), step)
    slices = [slice(s, s + PARTIAL_FRAMES) for s in starts]
    last = slices[-1]
    coverage = (num_samples - last.start * HOP) / (PARTIAL_FRAMES * HOP)
    if coverage < min_coverage and len(slices) > 1:
        slices = slices[:-1]
    return slices


class SpeakerEncoder(torch.nn.Module):
    """Resemblyzer's VoiceEncoder network: mels [B, 160, 40] -> L2-normed embeddings [B, 256]."""

    def __init__(self, hidden: int = 256, layers: int = 3, embedding: int = 256):
        super().__init__()
        self.lstm = torch.nn.LSTM(N_MELS, hidden, layers, batch_first=True)
        self.linear = torch.nn.Linear(hidden, embedding)

    @classmethod
    def from_file(cls, path: Optional[Path] = None) -> "SpeakerEncoder":
        """A Resemblyzer checkpoint ({"model_state": ...}, loaded as plain tensors); default: the wheel's."""
        path = Path(path) if path else resemblyzer_weights()
        state = load_torch_file(path)
        state = state.get("model_state", state) if isinstance(state, dict) else state
        model = cls()
        wanted = set(model.state_dict())
        missing = wanted - set(state)
        if missing:
            raise SpeakerModelError(f"{path} is not a Resemblyzer encoder: it lacks {sorted(missing)}")
        # similarity_weight/bias belong to the GE2E training loss, not to the encoder
        model.load_state_dict({k: v for k, v in state.items() if k in wanted})
        return model.eval()

    def forward(self, mels: torch.Tensor) -> torch.Tensor:
        _, (hidden, _) = self.lstm(mels)
        raw = torch.relu(self.linear(hidden[-1]))
        return raw / raw.norm(dim=1, keepdim=True).clamp(min=1e-12)

    @torch.no_grad()
    def embed_utterance(self, wav: np.ndarray, preprocess: bool = True) -> np.ndarray:
        """16 kHz float audio -> [256] embedding (the mean of its partials', L2-normed)."""
        if preprocess:
            # Babble webrtcvad calls silence throughout (an untrained model's output) is embedded untrimmed: it
            # gets a (low) score rather than none, so every row of a system is scored.
            trimmed = preprocess_wav(wav)
            wav = trimmed if len(trimmed) else normalize_volume(np.asarray(wav, dtype=np.float32))
        if len(wav) == 0:
            raise SpeakerModelError("empty audio")
        slices = partial_slices(len(wav))
        need = slices[-1].stop * HOP
        if need >= len(wav):
            wav = np.pad(wav, (0, need - len(wav)))
        mel = wav_to_mel(wav)
        mels = torch.from_numpy(np.stack([mel[s] for s in slices]))
        mean = self(mels).mean(0)
        return (mean / mean.norm().clamp(min=1e-12)).numpy()


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.dot(a, b) / max(np.linalg.norm(a) * np.linalg.norm(b), 1e-12))

