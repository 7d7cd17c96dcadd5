"""Decoding a code sequence that grows at its end into audio, chunk by chunk (streaming synthesis).

Each :meth:`StreamingDecoder.push` appends frames and returns the audio that is now final. The codec decodes a
window: ``context`` frames already emitted (so the decoder's state at the chunk's start is what it would have been
decoding the whole sequence) followed by the new frames; of its audio, the part before the window's last
``lookahead`` frames is emitted, the rest is kept to crossfade into the next window's audio.

- EnCodec 24 kHz is causal: its convolutions are padded on the left and its LSTM runs forward, and its transposed
  convolutions are trimmed on the right, so the audio of frame t depends on frames <= t only. No lookahead is
  needed; with enough context the convolutions see exactly what they see in one pass, and only the LSTM's state
  differs (it starts from zero ``context`` frames back instead of at the utterance's start).
- mel_rvq's Griffin-Lim is not causal: a frame's 1024-sample window reaches 1.6 frames either side, and the phases
  are found for the window as a whole. It waits ``lookahead`` frames, and its windows meet in a crossfade (their
  phases differ, so a hard joint would click). Its streamed audio has the same spectrogram as one pass, not the
  same samples. The tolerances: tests/test_stream.py (EnCodec) and tests/test_codec.py (mel_rvq).
"""
import numpy as np

from valle.constants import CODEC_HOP_LENGTH as HOP

# Per codec kind: (context frames, lookahead frames). EnCodec: 1 s of context (a random-weight EnCodec matched one pass
# to 120 dB SNR with 10 frames already; trained LSTMs may remember longer);
# Griffin-Lim: its 1024-sample window spans 3.2 frames, so 2 frames of lookahead and a few of context.
STREAM_FRAMES = {"encodec": (75, 0), "mel_rvq": (8, 2)}


def stream_frames(codec) -> tuple:
    """(context, lookahead) frames for this codec."""
    return STREAM_FRAMES[getattr(codec.info, "kind", "encodec") if codec.info is not None else "encodec"]


class StreamingDecoder:
    def __init__(self, codec, context: int = None, lookahead: int = None):
        default_context, default_lookahead = stream_frames(codec)
        self.codec = codec
        self.context = default_context if context is None else context
        self.lookahead = default_lookahead if lookahead is None else lookahead
        self.codes = None                     # every frame pushed, [N, K]
        self.emitted = 0                      # frames whose audio has been returned
        self.tail = np.zeros(0, np.float32)   # the last window's audio after what was returned (crossfaded next)
        self.finished = False

    def push(self, codes: np.ndarray, final: bool = False) -> np.ndarray:
        """Append ``codes`` [n, K] (n may be 0) and return the audio that is final now: up to the last frame
        minus the lookahead, or, with ``final``, to the end (no push may follow)."""
        if self.finished:
            raise RuntimeError("push after the final push")
        codes = np.asarray(codes)
        self.codes = codes if self.codes is None else np.concatenate([self.codes, codes])
        self.finished = final
        ready = len(self.codes) if final else len(self.codes) - self.lookahead
        if ready <= self.emitted:
            return np.zeros(0, np.float32)
        start = max(0, self.emitted - self.context)
        audio = np.asarray(self.codec.decode(self.codes[start:]), dtype=np.float32)
        new = audio[(self.emitted - start) * HOP:(ready - start) * HOP].copy()
        n = min(len(self.tail), len(new))
        if n:   # from the previous window's audio (continuing what was returned) to this one's
            fade = (np.arange(n, dtype=np.float32) + 0.5) / n
            new[:n] = self.tail[:n] * (1 - fade) + new[:n] * fade
        self.tail = audio[(ready - start) * HOP:]
        self.emitted = ready
        return new
