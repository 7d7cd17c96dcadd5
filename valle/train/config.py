"""Settings of stages 5 and 6 (AR and NAR training): the one home of their defaults.

Defaults are the paper's (VALL-E section 5.1) where it gives them: AdamW, peak lr 5e-4, 32k warm-up
updates then linear decay, 800k updates, 10-20 s crops, 3 s NAR prompts. Not in the paper, so PyTorch's
AdamW defaults: weight decay 0.01; gradient clipping at norm 1.0. A recipe conf sets any of them by name
(``peak_lr=2e-3``); ``ar_<name>`` / ``nar_<name>`` set one model's value only (``ar_num_steps=100``).
Imports nothing heavy: run.sh reads this module to turn a conf into options.
"""
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Tuple

from valle.models.config import CONFIGS
from valle.utils.settings import setting

DTYPES = ("float32", "bfloat16", "float16", "auto")


@dataclass
class TrainConfig:
    model_type: str                      # ar | nar
    exp_dir: Path
    phones: Path                         # lang/phones.txt
    tts_dir: Path                        # the training-data build's shards (valle/data/tts_data.py)
    model_config: str = setting("paper", "model size: paper (12 x 1024, the paper's, for 1000s of hours), small (6 x 512, "
                                          "for a corpus of 10-100 h) or tiny (4 x 256, mini on 2 CPU cores)",
                                choices=tuple(CONFIGS))
    group_size: int = setting(1, "the AR model's grouped code modelling (VALL-E 2; set it as ar_group_size): "
                                 "codebook-1 frames per AR position, so decoding takes 1/G of the steps (1: VALL-E); "
                                 "kept in model.pt; the NAR ignores it")
    num_steps: int = setting(800_000, "total updates (paper: 800k)")
    warmup_steps: int = setting(32_000, "linear warm-up updates, then linear decay to 0 (paper: 32k)")
    peak_lr: float = setting(5e-4, "peak learning rate of AdamW (paper: 5e-4)")
    weight_decay: float = setting(0.01, "AdamW weight decay")
    adam_betas: Tuple[float, ...] = setting((0.9, 0.999), "AdamW betas (PyTorch's; the paper gives none)")
    grad_clip: float = setting(1.0, "gradient norm clipping (after unscaling, before the step)")
    max_batch: float = setting(120.0, "per rank and micro-batch: seconds of cropped audio (batch_unit=seconds) or "
                                      "tokens")
    accum_grad: int = setting(1, "micro-batches per update (gradient accumulation): an update sees accum_grad x "
                                 "ranks x max_batch, the loss normalized by all their tokens together")
    batch_unit: str = setting("seconds", "what max_batch counts", choices=("seconds", "tokens"))
    num_buckets: int = setting(10, "buckets of lhotse's DynamicBucketingSampler")
    bucket_buffer_size: int = setting(20000, "examples the bucketing sampler holds (lhotse's buffer_size; the "
                                             "shards are globally shuffled already)")
    quadratic_duration: Optional[float] = setting(None, "lhotse's attention-cost correction (e.g. 30); empty: none")
    crop_min: float = setting(10.0, "shortest training crop, seconds (paper: 10)")
    crop_max: float = setting(20.0, "longest training crop, seconds (paper: 20)")
    prompt_seconds: float = setting(3.0, "NAR acoustic prompt, seconds (paper: 3)")
    dtype: str = setting("float32", "training precision (autocast; float16 with a loss scaler; auto: bfloat16 where "
                                    "the GPU or CPU computes in it, else float32)", choices=DTYPES,
                         name="train_dtype")
    device: str = setting("auto", "auto: cuda when there is a GPU", choices=("auto", "cpu", "cuda"),
                          name="train_device")
    num_workers: int = setting(0, "DataLoader workers per rank", name="train_num_workers")
    seed: int = setting(42, "initial weights, sampler order, crops", name="train_seed")
    log_interval: int = setting(50, "updates between log lines (loss, accuracy, lr, tokens/s)")
    valid_interval: int = setting(1000, "updates between validations")
    save_interval: int = setting(1000, "updates between checkpoints")
    keep_last: int = setting(3, "training checkpoints kept")
    max_bad_steps: int = setting(5, "consecutive NaN/inf losses before stopping (the batch is saved)")
    threads: int = setting(0, "torch threads per rank (0: torch's default)", name="train_threads")
    stop_after: int = setting(0, "leave after this many updates in this run, with a checkpoint (0: train to "
                                 "num_steps); for time-sliced clusters")

    def __post_init__(self):
        if self.model_type not in ("ar", "nar"):
            raise ValueError(f"--model must be ar or nar, got '{self.model_type}'")
        if self.dtype not in DTYPES:
            raise ValueError(f"--train-dtype must be one of {', '.join(DTYPES)}, got '{self.dtype}'")
        if self.batch_unit not in ("seconds", "tokens"):
            raise ValueError(f"--batch-unit must be seconds or tokens, got '{self.batch_unit}'")
        if self.num_steps < 1 or self.warmup_steps < 0:
            raise ValueError("need num_steps >= 1 and warmup_steps >= 0")
        if self.accum_grad < 1:
            raise ValueError(f"--accum-grad must be at least 1, got {self.accum_grad}")


def train_inputs(model_type: str, exp_dir: Path, lang_dir: Path, tts_dir: Path) -> dict:
    """The TrainConfig fields that are not settings, from a recipe's directories (stage 2's lang, the
    training-data build's tts dir)."""
    phones = Path(lang_dir) / "phones.txt"
    if not phones.is_file():
        raise FileNotFoundError(f"expected {phones} (stage 2 makes it)")
    return dict(model_type=model_type, exp_dir=Path(exp_dir), phones=phones, tts_dir=Path(tts_dir))
