"""Acoustic prompts for synthesis: any audio file lhotse/soundfile reads -> 24 kHz mono, checked.

Stereo or any sample rate is fine (channels averaged, resampled, as stage 4 does for training audio).
A prompt that is silent, shorter than ``min_seconds`` or longer than ``max_seconds`` is refused with
the measured value: VALL-E is trained with 3 s prompts, and a long prompt only costs decoding time.
"""
from pathlib import Path

import numpy as np
from lhotse import Recording

from valle.constants import CODEC_SAMPLE_RATE
from valle.utils.audio import load_mono


class PromptError(ValueError):
    """An audio prompt that cannot be used."""


def load_prompt_audio(path, sample_rate: int = CODEC_SAMPLE_RATE, min_seconds: float = 1.0, max_seconds: float = 20.0,
                      silence_dbfs: float = -60.0) -> np.ndarray:
    """float32 mono waveform at ``sample_rate``."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"prompt audio {path}: no such file")
    try:
        cut = Recording.from_file(path).to_cut()
        audio = load_mono(cut, sample_rate)
    except Exception as e:  # soundfile/lhotse raise many types for unreadable files
        raise PromptError(f"prompt audio {path} cannot be read ({type(e).__name__}: {e})") from e
    seconds = len(audio) / sample_rate
    if seconds < min_seconds:
        raise PromptError(f"prompt audio {path} is too short: {seconds:.2f} s (at least {min_seconds:g} s)")
    if seconds > max_seconds:
        raise PromptError(f"prompt audio {path} is too long: {seconds:.1f} s (at most {max_seconds:g} s; "
                          f"VALL-E uses 3 s prompts)")
    rms = float(np.sqrt(np.mean(np.square(audio, dtype=np.float64))))
    level = 20 * np.log10(max(rms, 1e-12))
    if level < silence_dbfs:
        raise PromptError(f"prompt audio {path} is silent: {level:.0f} dBFS (threshold {silence_dbfs:g} dBFS)")
    return audio.astype(np.float32)
