"""Stage-2 settings (the lang directory): the one home of their defaults."""
from dataclasses import dataclass
from typing import Tuple

from valle.text.normalize import LOCALES
from valle.utils.settings import setting


@dataclass(frozen=True)
class LangConfig:
    phone_set: str = setting("arpabet", "arpabet: CMUdict + espeak-ng G2P for other words (as Kaldi's LibriSpeech); "
                                        "ipa: espeak-ng phonemes", choices=("arpabet", "ipa"))
    g2p_languages: Tuple[str, ...] = setting(("en-us",), "espeak-ng voices used for G2P (ipa: one pronunciation "
                                                         "variant each)")
    bpe_vocab_size: int = setting(500, "sentencepiece BPE vocabulary over phone strings")
    text_locale: str = setting("en-us", "how written numbers are read: en-us 'four hundred fifty two' "
                                        "(LibriSpeech), en-gb 'four hundred and fifty two'; kept in the lang dir "
                                        "for synthesis", choices=LOCALES)
    extra_lexicon: str = setting("", "an ARPAbet lexicon file (Kaldi format, stress digits allowed; egs/librispeech: "
                                     "openslr 11's librispeech-lexicon.txt). Its words join the vocabulary (stage 3 "
                                     "decodes unlabeled audio into it), pronounced by CMUdict where it has them, by "
                                     "this file for the rest, before the G2P. Empty: none")
