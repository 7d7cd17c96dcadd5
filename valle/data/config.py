"""Settings of the training-data build (the start of stages 5-6): the one home of their defaults."""
from dataclasses import dataclass

from valle.utils.settings import setting


@dataclass(frozen=True)
class TtsDataConfig:
    merge_max_seconds: float = setting(20.0, "consecutive voice-activity segments of a recording (LibriLight) are "
                                             "joined into examples of up to this many seconds, the silence between "
                                             "them kept as SIL (libri-light's cut_by_vad; the paper's longest crop)")
    merge_max_gap: float = setting(3.0, "a longer silence between two segments is never joined over, seconds")
    shard_size: int = setting(20000, "training examples per shuffled shard (the build holds one shard in memory)")
    shuffle_seed: int = setting(13, "the global shuffle of the training examples")

    def __post_init__(self):
        if self.merge_max_seconds <= 0 or self.merge_max_gap < 0 or self.shard_size < 1:
            raise ValueError("need merge_max_seconds > 0, merge_max_gap >= 0 and shard_size >= 1")
