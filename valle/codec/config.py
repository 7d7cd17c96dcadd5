"""Stage-4 settings (the codec and the codes): the one home of their defaults. Conf names start with ``codec_``."""
from dataclasses import dataclass

from valle.utils.settings import setting


@dataclass(frozen=True)
class CodecConfig:
    type: str = setting("encodec", "encodec: EnCodec 24 kHz (real weights from --codec-checkpoint, the hub cache or "
                                   "a download; else random weights whose audio is not speech); mel_rvq: a "
                                   "log-mel residual VQ fitted to the corpus + Griffin-Lim, speech without "
                                   "pretrained weights (valle/codec/mel_rvq.py)",
                        choices=("encodec", "mel_rvq"), name="codec")
    bandwidth: float = setting(6.0, "EnCodec kbps: 1.5, 3, 6 (VALL-E: 8 codebooks), 12 or 24")
    allow_download: bool = setting(True, "download EnCodec's weights when they are not in the torch hub cache")
    fit_frames: int = setting(16000, "random EnCodec and mel_rvq: frames (75 per second) the k-means codebooks are "
                                     "fitted on; at least 8192")
    seed: int = setting(0, "random EnCodec and mel_rvq: initialization and k-means")
    griffin_lim_iters: int = setting(60, "mel_rvq: Griffin-Lim iterations of its vocoder")


@dataclass
class TokenizeConfig:
    batch_seconds: float = setting(0.0, "padded audio per encoder call; 0 = one cut at a time (fastest on CPU, "
                                        "see bench/tokenize_speed.py)")
    shard_seconds: float = setting(1800.0, "audio per shard: the unit of resumption")
    max_chunk_seconds: float = setting(120.0, "longer cuts are encoded in independent chunks of this length")
    threads: int = 1  # torch threads per process (run.sh: cores / nj)
    device: str = setting("cpu", "cpu or cuda", choices=("cpu", "cuda"))
    dtype: str = setting("float32", "encoder precision (float64: batched codes identical to one-by-one, ~2x "
                                    "slower)", choices=("float32", "float64"))
