"""Model configurations. ``paper`` is VALL-E's (arXiv 2301.02111, section 5.1); ``small`` is for one corpus of
10-100 h; ``tiny`` trains on 2 CPU cores."""
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
    ar_group_size: int = 1             # VALL-E 2 grouped code modelling: codebook-1 frames per AR position (1: VALL-E)

    def __post_init__(self):
        if self.ar_group_size < 1:
            raise ValueError(f"ar_group_size must be >= 1, got {self.ar_group_size}")
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
    # For single corpora of 10-100 h (LJSpeech, VCTK, an in-house corpus): 6 layers of 512, about an eighth of
    # the paper model's parameters, which would overfit such a corpus long before its 800k updates.
    "small": ModelConfig(d_model=512, num_heads=8, num_layers=6, ffn_dim=2048, dropout=0.1),
}

# Below this many hours of training data the paper-size model is the wrong choice (run.sh says so loudly).
PAPER_MIN_HOURS = 10.0


def model_size_warning(model_config: str, train_hours: float) -> str:
    """A warning when a model is far too big for its data (empty when it is not)."""
    if model_config != "paper" or train_hours >= PAPER_MIN_HOURS:
        return ""
    return (f"model_config=paper (the paper's 12 x 1024 model, trained on 60k h) on {train_hours:.2f} h of training "
            f"data: it will overfit long before its updates are done, and each costs the paper's compute. Set "
            f"model_config=small (10-100 h) or tiny, with num_steps/warmup_steps to match, in the recipe's conf "
            f"(egs/template/conf.sh shows how)")


def get_config(name: str) -> ModelConfig:
    if name not in CONFIGS:
        raise ValueError(f"unknown model config '{name}' (have: {', '.join(CONFIGS)})")
    return CONFIGS[name]


def text_vocab_size(phone_ids: Dict[str, int]) -> int:
    """The models' text vocabulary: phone ids + one EOS id after the largest."""
    return max(phone_ids.values()) + 2
