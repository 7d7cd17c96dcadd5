"""Model configurations. ``paper`` is VALL-E's (arXiv 2301.02111, section 5.1); ``tiny`` trains on 2 CPU cores."""
import dataclasses
from dataclasses import dataclass
from typing import Dict

# Bumped whenever the checkpoint layout or the meaning of a config field changes.
CHECKPOINT_FORMAT_VERSION = 1


@dataclass(frozen=True)
class ModelConfig:
    d_model: int = 1024
    num_heads: int = 16
    num_layers: int = 12
    ffn_dim: int = 4096
    dropout: float = 0.1
    attn_dropout: float = 0.1          # on attention weights; forces PyTorch's slower math attention path
    codebook_size: int = 1024          # EnCodec 24 kHz: 1024 entries per codebook
    num_codebooks: int = 8             # 6 kbps = 8 codebooks at 75 Hz
    text_vocab_size: int = 0           # phone table size + 1 (EOS); set from the lang directory

    def __post_init__(self):
        if self.d_model % self.num_heads:
            raise ValueError(f"d_model {self.d_model} is not a multiple of num_heads {self.num_heads}")
        if self.num_codebooks < 2:
            raise ValueError("the NAR model needs at least 2 codebooks")

    def with_text_vocab(self, size: int) -> "ModelConfig":
        return dataclasses.replace(self, text_vocab_size=size)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "ModelConfig":
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"unknown model config fields {unknown}")
        return cls(**d)


CONFIGS = {
    # 12 layers, 16 heads, 1024 dims, 4096 FFN, dropout 0.1: the paper's AR and NAR models.
    "paper": ModelConfig(),
    # For the mini recipe on 2 CPU cores (stages 5 and 6 together in about 10 minutes).
    # No attention dropout: on CPU it costs a Bernoulli draw per attention weight and keeps SDPA on its
    # math path (measured: a third of the step time of this config).
    "tiny": ModelConfig(d_model=256, num_heads=4, num_layers=4, ffn_dim=1024, dropout=0.1, attn_dropout=0.0),
}


def get_config(name: str) -> ModelConfig:
    if name not in CONFIGS:
        raise ValueError(f"unknown model config '{name}' (have: {', '.join(CONFIGS)})")
    return CONFIGS[name]


def text_vocab_size(phone_ids: Dict[str, int]) -> int:
    """The models' text vocabulary: phone ids + one EOS id after the largest."""
    return max(phone_ids.values()) + 2
