"""Word recognition for WER with a real pretrained ASR that ships in its PyPI wheel: CMU PocketSphinx 5
(the en-us continuous-density HMM acoustic model, the CMU dictionary and a trigram LM, all inside the wheel).

The paper scores WER with HuBERT-Large fine-tuned on LibriSpeech 960 h, which cannot be had offline; stage 7's
``asr_command`` hook takes such a model where one exists. PocketSphinx is far weaker, and espeak-ng voices are
hard for it (about 50-60 % WER on mini's own recordings): read its WER against the ground-truth and
resynthesis rows, which it scores the same way.
"""
from typing import Iterable, Tuple

import numpy as np

from valle.constants import ASR_SAMPLE_RATE


class AsrError(RuntimeError):
    pass


class PocketSphinx:
    """``transcribe(audio)``: 16 kHz float audio -> lower-case words (empty when nothing was recognized)."""

    def __init__(self):
        try:
            from pocketsphinx import Decoder
        except ImportError as e:
            raise AsrError("the pocketsphinx package is not installed: utils/setup_env.sh installs it "
                           "(pip install --no-deps pocketsphinx==5.1.1); or set asr_model=none") from e
        # The default config is the wheel's en-us model, dictionary and LM; FATAL keeps its log off stderr.
        # The caps on active HMMs and words per frame keep babble from exploding the search: on mini's stage-7
        # wavs 3x faster than the defaults at the same WER (46.6 vs 47.9 % on the ground truth, 122 vs 124 % on
        # an untrained model's output); pure beam tightening lost half the ground truth's words instead.
        self.decoder = Decoder(samprate=ASR_SAMPLE_RATE, loglevel="FATAL", maxhmmpf=3000, maxwpf=10)

    def transcribe(self, audio: np.ndarray) -> str:
        pcm = np.round(np.clip(np.asarray(audio, dtype=np.float32), -1.0, 1.0) * 32767).astype("<i2")
        self.decoder.start_utt()
        self.decoder.process_raw(pcm.tobytes(), full_utt=True)
        self.decoder.end_utt()
        hyp = self.decoder.hyp()
        # fillers (<sil>, [NOISE], ...) are not words
        words = [w for w in (hyp.hypstr.split() if hyp is not None else []) if not w.startswith(("<", "["))]
        return " ".join(words)

    def transcribe_all(self, items: Iterable[Tuple[str, np.ndarray]]) -> dict:
        return {key: self.transcribe(audio) for key, audio in items}
