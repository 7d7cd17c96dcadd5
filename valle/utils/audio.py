"""Loading a cut's audio as one channel at a given sample rate."""
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
