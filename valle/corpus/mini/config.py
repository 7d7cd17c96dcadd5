"""Size of the synthesized mini corpus: the one home of its defaults (egs/mini's size, chosen so that
./run.sh, stages 0-7, takes under 15 minutes on 2 cores; see README). A conf resizes it with the
``mini_`` names (``mini_train_utts_per_speaker=80``). Speakers are espeak-ng voice/variant/pitch/rate settings."""
from dataclasses import dataclass
from typing import Tuple

from valle.utils.settings import setting


@dataclass
class MiniCorpusConfig:
    seed: int = setting(2301, "everything synthesized follows from it (voices, sentences, pauses)")
    train_speakers: int = setting(10, "speakers of train-clean-100")
    train_utts_per_speaker: int = setting(30, "utterances per training speaker")
    dev_speakers: int = setting(2, "held-out speakers of dev-clean")
    dev_utts_per_speaker: int = setting(15, "utterances per dev speaker")
    test_speakers: int = setting(2, "held-out speakers of test-clean (stage 7's targets and prompts)")
    test_utts_per_speaker: int = setting(20, "utterances per test speaker")
    unlabeled_speakers: Tuple[int, ...] = setting((3, 1, 1), "speakers of LibriLight small, medium, large")
    unlabeled_files_per_speaker: int = setting(2, "long LibriLight files per speaker")
    unlabeled_sentences_per_file: int = setting(10, "sentences per LibriLight file (with pauses between)")
    chapters_per_speaker: int = 2

    def __post_init__(self):
        self.unlabeled_speakers = tuple(self.unlabeled_speakers)
        if len(self.unlabeled_speakers) != 3 or min(self.unlabeled_speakers) < 1:
            raise ValueError("unlabeled_speakers needs three positive integers (small medium large), "
                             f"got {self.unlabeled_speakers}")
        for name in ("train_speakers", "dev_speakers", "test_speakers", "train_utts_per_speaker",
                     "dev_utts_per_speaker", "test_utts_per_speaker", "unlabeled_files_per_speaker",
                     "unlabeled_sentences_per_file"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
