"""Loading a cut's audio as one channel at a given sample rate; writing a wav atomically."""
import numpy as np


def load_mono(cut, sample_rate: int) -> np.ndarray:
    """float32 audio of ``cut`` at ``sample_rate``, channels averaged.

    lhotse loads and resamples every channel; they are averaged here, as EnCodec's own convert_audio
    does (lhotse's to_mono(mono_downmix=True) mixes, i.e. sums them, which can clip).
    """
    if cut.sampling_rate != sample_rate:
        cut = cut.resample(sample_rate)
    audio = np.asarray(cut.load_audio(), dtype=np.float32)
    return audio.mean(axis=0) if audio.ndim == 2 else audio


def write_wav(path, audio: np.ndarray, sample_rate: int) -> None:
    """16-bit PCM wav, written to a temporary name and renamed (never a half-written file at ``path``)."""
    import soundfile as sf

    from valle.utils.io import atomic_path

    with atomic_path(path) as tmp:
        sf.write(tmp, np.asarray(audio, dtype=np.float32), sample_rate, format="WAV", subtype="PCM_16")
