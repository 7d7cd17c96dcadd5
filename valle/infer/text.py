"""Text front end for synthesis: raw text -> the phone sequence the models were trained on.

Same normalization as stage 2 (``to_transcript``), pronunciations from the recipe's lexicon (the first
variant), espeak-ng G2P in the lexicon's phone set for words it lacks, and SIL at the start, the end and
at punctuation that marks a pause (training sequences carry SIL where the aligner found silence).
Errors name what is wrong: empty text, characters the front end cannot read, words no G2P can
pronounce, phones the model has never seen. A word whose first pronunciation has a phone the model never saw
is said with another of its pronunciations (the recipe's other G2P voice: American "story" /oː/ -> British
/ɔː/), or with a foreign phone's English stand-in (trilled r -> ɹ, nasal ɑ̃ -> ɑː), with a warning.
"""
import logging
import re
import unicodedata
from pathlib import Path
from typing import Callable, Dict, List, Sequence

from valle.text.lang_dir import LangDir
from valle.text.lexicon import SIL, SPN, build_lexicon
from valle.text.normalize import fold_to_ascii, to_transcript

# Characters the normalizer understands; anything else (other scripts, emoji, symbols) is an error.
_READABLE = re.compile(r"[A-Za-z0-9\s'\u2019.,;:!?\"()\-\u2013\u2014$%&/]")
_PAUSE = re.compile(r"[.,;:!?()\u2013\u2014]+|\s-\s")


def merge_repeats(phones: Sequence[str]) -> List[str]:
    """The models were trained on stage 3's TTS phone sequence, where a phone repeated across a word boundary
    ("WORLD DAY": d d) is one phone (valle/align/pipeline.py: collapse_repeats): the same for synthesis."""
    return [p for k, p in enumerate(phones) if k == 0 or p != phones[k - 1]]


class TextError(ValueError):
    """Text that cannot be turned into phones."""


class TextFrontend:
    def __init__(self, lexicon: Dict[str, List[Sequence[str]]], phone_set: str, g2p_languages: Sequence[str],
                 phone_ids: Dict[str, int], text_locale: str = "en-us"):
        self.lexicon = lexicon
        self.phone_set = phone_set
        self.g2p_languages = list(g2p_languages)
        self.phone_ids = phone_ids
        self.text_locale = text_locale  # how numbers are read: stage 2's choice

    @classmethod
    def from_lang_dir(cls, lang_dir: Path, phone_ids: Dict[str, int]) -> "TextFrontend":
        """lang_dir: stage 2's output (lexicon.txt, lang_info.json); phone_ids: the model's phone table."""
        lang = LangDir(lang_dir)
        # Lang dirs from before text_locale existed were all read the en-us way.
        return cls(lang.lexicon, lang.info["phone_set"], lang.info["g2p_languages"], phone_ids,
                   lang.info.get("text_locale", "en-us"))

    def phones(self, text: str) -> List[str]:
        if not text or not text.strip():
            raise TextError("the text is empty")
        # Latin letters folded to ASCII as stage 2 does (café -> cafe, Æ -> AE); other scripts stay and are reported.
        text = fold_to_ascii(text)
        unreadable = sorted({c for c in text if not _READABLE.fullmatch(c)})
        if unreadable:
            raise TextError(f"characters the text front end cannot read: {', '.join(repr(c) for c in unreadable)}")
        chunks = [to_transcript(chunk, self.text_locale).split() for chunk in _PAUSE.split(text)]
        chunks = [c for c in chunks if c]
        if not chunks:
            raise TextError(f"no words left after normalization: {text!r}")
        prons = self._pronunciations({w for c in chunks for w in c})
        out = [SIL]
        for chunk in chunks:
            for word in chunk:
                out.extend(prons[word])
            out.append(SIL)
        unknown = sorted({p for p in out if p not in self.phone_ids})
        if unknown:
            raise TextError(f"phones {unknown} are not in the model's phone table (words: "
                            f"{sorted(w for w in prons if set(prons[w]) & set(unknown))})")
        return merge_repeats(out)

    def _pronunciations(self, words) -> Dict[str, Sequence[str]]:
        """The first variant (lexicon, else G2P in the recipe's languages) whose phones the model knows; failing
        that, the first variant with each unknown phone replaced by its nearest known one where there is a safe
        one (``nearest_known_phone``), with a warning; failing that, the first variant (an error follows)."""
        variants = {w: list(self.lexicon[w]) for w in words if w in self.lexicon}
        missing = sorted(set(words) - set(variants))
        if missing:
            lex = build_lexicon(missing, self.phone_set, self.g2p_languages)
            bad = [w for w in missing if lex.prons[w][0] == (SPN,)]
            if bad:
                raise TextError(f"words no G2P can pronounce: {bad}")
            variants.update({w: list(lex.prons[w]) for w in missing})
        prons = {}
        for w, vs in variants.items():
            known = [v for v in vs if all(p in self.phone_ids for p in v)]
            if known:
                if known[0] != vs[0]:
                    logging.warning("%s: said /%s/: its first pronunciation /%s/ has phones the model never saw",
                                    w, " ".join(known[0]), " ".join(vs[0]))
                prons[w] = known[0]
                continue
            mapped = [nearest_known_phone(p, self.phone_ids) for p in vs[0]]
            if all(mapped):
                logging.warning("%s: said /%s/ for /%s/: the nearest phones the model knows", w, " ".join(mapped),
                                " ".join(vs[0]))
                prons[w] = mapped
            else:
                prons[w] = vs[0]
        return prons


# Foreign-only phones of espeak-ng's English voices and the English phone a listener hears for each.
_NEAR = {"r": ("ɹ",), "ɬ": ("l",), "x": ("k",), "ʔ": ("t",), "ç": ("h", "ʃ"), "ɣ": ("ɡ",), "ʀ": ("ɹ",)}


def nearest_known_phone(phone: str, known) -> "str | None":
    """``phone`` itself if known; else a safe stand-in: the phone without its diacritics (nasalized ɑ̃ -> ɑ,
    palatalized nʲ -> n; then its long form ɑː), or the English neighbour of a foreign consonant (_NEAR). None: no
    safe stand-in (an unknown English vowel or consonant is an error, not a guess)."""
    if phone in known:
        return phone
    bare = "".join(c for c in unicodedata.normalize("NFD", phone)
                   if not unicodedata.combining(c) and c not in "ʲʷˠˤ")
    for candidate in (bare, bare + "ː", *_NEAR.get(bare, ())):
        if candidate != phone and candidate in known:
            return candidate
    return None


_SENTENCE_END = re.compile(r"(?<=[.!?;:])\s+")
_CLAUSE_END = re.compile(r"(?<=[,\u2013\u2014])\s+")


def split_text(text: str, count_phones: Callable[[str], int], max_phones: int) -> List[str]:
    """``text`` in pieces of at most ``max_phones`` phones each, cut at sentence ends where possible.

    Whole sentences are packed greedily; a sentence longer than ``max_phones`` is cut at clause
    punctuation (commas, dashes), and a clause still too long at word boundaries into equal parts.
    ``count_phones(piece)`` is the number of phones the models would read for ``piece``.
    """
    if max_phones < 1:
        raise ValueError(f"max_phones must be positive, got {max_phones}")

    def pieces(chunk: str, level: int) -> List[str]:
        if count_phones(chunk) <= max_phones:
            return [chunk]
        if level == 0:
            parts = [p for p in _CLAUSE_END.split(chunk) if p.strip()]
            if len(parts) > 1:
                return pack([q for p in parts for q in pieces(p, 1)])
        words = chunk.split()
        n = len(words)
        if n == 1:
            raise TextError(f"the word {chunk!r} alone has more than {max_phones} phones")
        k = -(-count_phones(chunk) // max_phones)            # parts needed at an even phone rate
        while True:
            size = -(-n // k)
            split = [" ".join(words[i:i + size]) for i in range(0, n, size)]
            if all(count_phones(s) <= max_phones for s in split) or size == 1:
                return [q for s in split for q in (pieces(s, 1) if size == 1 else [s])]
            k += 1

    def pack(parts: List[str]) -> List[str]:
        out: List[str] = []
        for p in parts:
            if out and count_phones(out[-1] + " " + p) <= max_phones:
                out[-1] = out[-1] + " " + p
            else:
                out.append(p)
        return out

    sentences = [s.strip() for s in _SENTENCE_END.split(text.strip()) if s.strip()]
    return pack([q for s in sentences for q in pieces(s, 0)])
