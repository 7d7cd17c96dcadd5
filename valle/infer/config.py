"""Decoding settings (sampling, length guards, seed), shared by the synthesis CLI and stage 7.

The one home of their defaults; light (no torch) so run.sh can read it to turn a conf into options.
Stage 7's conf names carry the ``synth_`` prefix (``synth_temperature``), the CLI's do not (``--temperature``).
"""
from dataclasses import dataclass
from typing import Optional

from valle.utils.settings import nested, setting


@dataclass(frozen=True)
class SamplingConfig:
    temperature: float = setting(1.0, "softmax temperature of the AR sampling")
    top_k: int = setting(0, "keep the k most likely tokens (0: off; 1: greedy)")
    top_p: float = setting(1.0, "nucleus: keep the most likely tokens up to this probability (1: off)")
    ras_window: int = setting(0, "repetition-aware sampling (VALL-E 2): window of past tokens (0: off)")
    ras_threshold: float = setting(0.1, "RAS: draw from the full distribution when the drawn token fills this "
                                        "share of the window")

    def __post_init__(self):
        if self.temperature <= 0:
            raise ValueError(f"temperature must be > 0, got {self.temperature}")
        if self.top_k < 0:
            raise ValueError(f"top_k must be >= 0, got {self.top_k}")
        if not 0 < self.top_p <= 1:
            raise ValueError(f"top_p must be in (0, 1], got {self.top_p}")
        if self.ras_window < 0 or not 0 < self.ras_threshold <= 1:
            raise ValueError("ras_window must be >= 0 and ras_threshold in (0, 1]")


@dataclass(frozen=True)
class DecodeConfig:
    sampling: SamplingConfig = nested(SamplingConfig, prefix="")
    min_frames_per_phone: float = setting(1.0, "no EOS before this many 75 Hz frames per phone to speak")
    max_frames_per_phone: float = setting(30.0, "cut (and count an EOS failure) at this many frames per phone: "
                                                "0.4 s per phone on average is a loop")
    nar_greedy: bool = True
    seed: Optional[int] = setting(0, "random seed of the sampling (empty: not seeded)")
    dtype: str = setting("float32", "weights and activations of the AR and NAR models, and the codec decoder's "
                                    "compute (autocast): float32; bfloat16 (GPUs, and "
                                    "CPUs with AVX-512 BF16 or AMX: faster there, emulated and slow elsewhere); "
                                    "float16 (GPUs); auto: bfloat16 where the hardware has it (README, 'Decoding "
                                    "speed')", choices=("float32", "bfloat16", "float16", "auto"))
    int8: bool = setting(False, "CPU: int8 linear layers (dynamic quantization: int8 weights, a scale per output "
                                "channel, activations quantized on the fly); needs dtype float32 (or auto)")
    compile: bool = setting(False, "AR decoding: a static KV cache and one torch.compile'd step (CUDA graphs on a "
                                   "GPU); the first batch of each shape compiles (README, 'Decoding speed')")

    def __post_init__(self):
        if self.int8 and self.dtype not in ("float32", "auto"):
            raise ValueError(f"int8 layers take float32 activations: dtype must be float32, got {self.dtype}")
        if self.int8 and self.compile:
            raise ValueError("compile and int8 do not go together: torch.compile cannot trace torch.ao's quantized "
                             "layers (their packed weights are opaque to it); on a CPU int8 alone is the faster")


@dataclass(frozen=True)
class StreamConfig:
    """Streaming synthesis (``Synthesizer.stream``, ``valle.bin.synthesize --stream``): how the AR output is cut into
    chunks for the NAR and the codec. CLI options ``--stream-<name>``."""
    first_frames: int = setting(8, "frames of the first chunk (75 a second): the first audio waits for them")
    max_frames: int = setting(300, "chunks double from the first one's size up to this many frames (each chunk "
                                   "reruns the NAR over all frames so far: bigger chunks cost less in all)")
    nar_lookahead: int = setting(4, "AR frames past a chunk that the NAR reads before deciding the chunk's codebooks "
                                    "2-8 (its attention looks both ways; 0: none)")

    def __post_init__(self):
        if self.first_frames < 1 or self.max_frames < self.first_frames or self.nar_lookahead < 0:
            raise ValueError(f"stream settings: need 1 <= first_frames <= max_frames and nar_lookahead >= 0, got "
                             f"{self.first_frames}, {self.max_frames}, {self.nar_lookahead}")
