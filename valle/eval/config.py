"""Stage-7 settings (synthesis of the test speakers + evaluation): the one home of their defaults.

Conf names: ``test_*`` choose the test list (the paper's protocol: LibriSpeech test-clean utterances of
4-10 s, 3 s prompts), ``synth_*`` the decoding (the same options as ``python -m valle.bin.synthesize``).
"""
from dataclasses import dataclass
from typing import Tuple

from valle.infer.config import DecodeConfig
from valle.utils.settings import nested, setting

MODES = ("cross", "continuation")


@dataclass(frozen=True)
class TestListConfig:
    __test__ = False  # not a pytest test class
    min_duration: float = setting(4.0, "targets' shortest duration, seconds (paper: 4)")
    max_duration: float = setting(10.0, "targets' longest duration, seconds (paper: 10)")
    max_utts: int = setting(0, "at most this many targets, in id order (0: all)")
    max_per_speaker: int = setting(0, "at most this many targets per speaker (0: all)")
    prompt_seconds: float = setting(3.0, "prompt length, seconds: prompts are whole words within this, from another "
                                         "utterance (cross) or from the target's start (continuation) (paper: 3)")


@dataclass(frozen=True)
class EvalConfig:
    test: TestListConfig = nested(TestListConfig, prefix="test_")
    decode: DecodeConfig = nested(DecodeConfig, prefix="synth_")
    modes: Tuple[str, ...] = setting(MODES, "prompt modes to synthesize", choices=MODES, name="synth_modes")
    batch_size: int = setting(8, "requests synthesized together", name="synth_batch_size")
    device: str = setting("auto", "auto: cuda when there is a GPU", choices=("auto", "cpu", "cuda"),
                          name="synth_device")
    codebook1_rows: bool = setting(True, "also score codebook 1 alone, resynthesis and cross (codecs that decode "
                                          "a prefix of their codebooks: mel_rvq): the AR model's share",
                                   name="synth_codebook1_rows")
    asr_model: str = setting("pocketsphinx", "ASR for WER: pocketsphinx (its en-us model, in its wheel) or none; "
                                             "asr_command replaces it", choices=("pocketsphinx", "none"))
    asr_command: str = setting("", "external ASR for WER instead of asr_model (e.g. HuBERT): CMD <list 'id<TAB>wav'> "
                                   "<out 'id<TAB>transcript'>")
    sim_model: str = setting("resemblyzer", "speaker model for SIM: resemblyzer (its GE2E encoder, in its wheel) or "
                                            "none; sim_command replaces it", choices=("resemblyzer", "none"))
    sim_command: str = setting("", "external speaker model instead of sim_model (e.g. WavLM-TDNN): CMD "
                                   "<list 'key<TAB>wav<TAB>prompt wav'> <out 'key<TAB>similarity'>")

    def __post_init__(self):
        if not self.modes or set(self.modes) - set(MODES):
            raise ValueError(f"synth_modes: cross and/or continuation, got {' '.join(self.modes)!r}")
