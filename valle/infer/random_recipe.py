"""A recipe's synthesis inputs with random weights, for tests and benchmarks of synthesis: the real model and codec
architectures, a six-word lexicon, and a voice prompt. What ``Synthesizer`` reads:

    <root>/exp/{ar,nar}/model.pt   <root>/data/tokens/codec.pt (random EnCodec)   <root>/data/lang/   <root>/prompt.wav
"""
import dataclasses
import json
from pathlib import Path
from typing import Optional

import numpy as np
import soundfile as sf
import torch

from valle.codec.encodec import Codec, CodecInfo, new_model
from valle.models.config import ModelConfig, text_vocab_size
from valle.models.io import save_model
from valle.models.valle import ARModel, NARModel

PHONES = ["<eps>", "SIL", "SPN", "h", "ə", "l", "oʊ", "w", "ɜː", "d", "k", "æ", "t"]
LEXICON = "!SIL SIL\n<UNK> SPN\nHELLO h ə l oʊ\nWORLD w ɜː l d\nCAT k æ t\nTELL t ə l\n"
WORDS = ("hello", "world", "cat", "tell")
SMALL = ModelConfig(d_model=32, num_heads=2, num_layers=1, ffn_dim=64)


def write_random_recipe(root: Path, config: ModelConfig = SMALL, ar_group_size: int = 1,
                        prompt_seconds: float = 3.5, seed: int = 0) -> Path:
    """Random-weight AR and NAR models of ``config`` (the AR with grouped code modelling ``ar_group_size``), a random
    EnCodec, an IPA lexicon of the words HELLO WORLD CAT TELL, and a stereo 44.1 kHz prompt.wav of a 200 Hz tone."""
    lang = root / "data" / "lang"
    lang.mkdir(parents=True)
    (lang / "lexicon.txt").write_text(LEXICON)
    (lang / "lang_info.json").write_text(json.dumps({"phone_set": "ipa", "g2p_languages": ["en-us"]}))
    ids = {p: i for i, p in enumerate(PHONES)}
    cfg = dataclasses.replace(config, text_vocab_size=text_vocab_size(ids))
    torch.manual_seed(seed)
    for kind, cls in (("ar", ARModel), ("nar", NARModel)):
        model_cfg = dataclasses.replace(cfg, ar_group_size=ar_group_size) if kind == "ar" else cfg
        save_model(root / "exp" / kind / "model.pt", kind, model_cfg, ids, cls(model_cfg).state_dict())
    Codec(new_model(), CodecInfo(False, "random init", 6.0, 8)).save(root / "data" / "tokens" / "codec.pt")
    t = np.arange(int(prompt_seconds * 44100)) / 44100
    sf.write(root / "prompt.wav", np.stack([0.3 * np.sin(2 * np.pi * 200 * t)] * 2, axis=1), 44100)
    return root


def random_text(words: int, seed: Optional[int] = 0) -> str:
    """``words`` words of the lexicon, in sentences of up to 8."""
    rng = np.random.default_rng(seed)
    picked = [WORDS[i] for i in rng.integers(0, len(WORDS), words)]
    return " ".join(w + ("." if (i + 1) % 8 == 0 or i + 1 == words else "") for i, w in enumerate(picked))
