"""English text normalization: written form -> spoken words.

Two views of one sentence:
  * ``normalize_spoken``: numbers, currency, times, ordinals and abbreviations expanded to words;
    case and punctuation kept, because a synthesizer uses them for prosody (the mini corpus feeds
    this form to espeak-ng).
  * ``to_transcript``: the LibriSpeech convention, i.e. the spoken form upper-cased, with
    punctuation removed except apostrophes inside words ("DIDN'T", "CAPTAIN'S"). Latin letters are folded to
    ASCII first (``fold_to_ascii``: "CAFÉ" -> "CAFE", "Æ" -> "AE", "ß" -> "SS", typographic quotes -> ASCII); a
    word in another script stays whole ("ΛΟΓΟΣ"), never cut into fragments: the lexicon gives it the
    spoken-noise phone and stage 2 reports it.
Numbers follow how LibriSpeech transcribes readings: "1984" -> "NINETEEN EIGHTY FOUR",
"42" -> "FORTY TWO" (no hyphens), "$3.50" -> "THREE DOLLARS AND FIFTY CENTS"; with locale en-gb, "452" ->
"FOUR HUNDRED AND FIFTY TWO" (the "and" British readers say).
"""
import re
import unicodedata

_ONES = ("zero one two three four five six seven eight nine ten eleven twelve thirteen "
         "fourteen fifteen sixteen seventeen eighteen nineteen").split()
_TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()
_SCALES = ((10**12, "trillion"), (10**9, "billion"), (10**6, "million"), (1000, "thousand"))
_ORDINAL_WORDS = {"one": "first", "two": "second", "three": "third", "five": "fifth",
                  "eight": "eighth", "nine": "ninth", "twelve": "twelfth"}

ABBREVIATIONS = {
    "mr": "Mister", "mrs": "Missus", "ms": "Miss", "dr": "Doctor", "st": "Saint", "jr": "Junior",
    "sr": "Senior", "prof": "Professor", "capt": "Captain", "gen": "General", "col": "Colonel",
    "lt": "Lieutenant", "sgt": "Sergeant", "mt": "Mount", "vs": "versus", "etc": "et cetera",
    "ft": "Fort", "rev": "Reverend", "hon": "Honorable", "no": "number",
}


# Letters NFKD does not split into a base letter + combining marks, and typographic punctuation. Measured
# against anyascii and unidecode: the same output on Latin letters, but they also romanize other scripts
# ("東京" -> "DongJing", an emoji -> ":grinning:"), which an English G2P would then read as English words.
_FOLD = str.maketrans({
    "Æ": "AE", "æ": "ae", "Œ": "OE", "œ": "oe", "ß": "ss", "ẞ": "SS", "Ø": "O", "ø": "o", "Ł": "L", "ł": "l",
    "Đ": "D", "đ": "d", "Ð": "D", "ð": "d", "Þ": "TH", "þ": "th", "ı": "i", "Ŋ": "NG", "ŋ": "ng",
    "\u2018": "'", "\u2019": "'", "\u201a": "'", "\u02bc": "'", "\u2032": "'", "\u00b4": "'", "`": "'",
    "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u00ab": '"', "\u00bb": '"', "\u2026": "...", "\u00a0": " ",
    "\u2116": "No. ",   # the numero sign: "№5" -> "No. 5" -> "number five"
})


def fold_to_ascii(text: str) -> str:
    """Latin letters with diacritics -> their base letters (É -> E, ç -> c), ligatures and special letters spelt
    out (Æ -> AE, ß -> ss, ﬁ -> fi), typographic quotes -> ASCII. Letters of other scripts are kept as they are."""
    text = unicodedata.normalize("NFKD", text.translate(_FOLD))
    return "".join(c for c in text if not unicodedata.combining(c))


# How numbers are read: en-us "four hundred fifty two" (LibriSpeech's transcripts), en-gb "four hundred and
# fifty two", "two thousand and five" (British readers, and many others, say the "and").
LOCALES = ("en-us", "en-gb")


def number_to_words(n: int, locale: str = "en-us") -> str:
    """Cardinal number in words, e.g. 1205 -> 'one thousand two hundred five' (en-gb: '... two hundred and
    five')."""
    if locale not in LOCALES:
        raise ValueError(f"unknown locale {locale!r} (have: {', '.join(LOCALES)})")
    if n < 0:
        return "minus " + number_to_words(-n, locale)
    if n < 20:
        return _ONES[n]
    if n < 100:
        tens, ones = divmod(n, 10)
        return _TENS[tens] + ("" if ones == 0 else " " + _ONES[ones])
    # British "and" joins a hundreds or a scale word to a remainder below 100: "one thousand and one".
    joiner = " and " if locale == "en-gb" else " "
    if n < 1000:
        hundreds, rest = divmod(n, 100)
        return _ONES[hundreds] + " hundred" + ("" if rest == 0 else joiner + number_to_words(rest, locale))
    for scale, name in _SCALES:
        if n >= scale:
            high, rest = divmod(n, scale)
            glue = joiner if 0 < rest < 100 else " "
            return (number_to_words(high, locale) + " " + name
                    + ("" if rest == 0 else glue + number_to_words(rest, locale)))
    raise AssertionError(n)


def ordinal_to_words(n: int, locale: str = "en-us") -> str:
    """1 -> 'first', 22 -> 'twenty second', 100 -> 'one hundredth'."""
    words = number_to_words(n, locale).split()
    last = words[-1]
    if last in _ORDINAL_WORDS:
        words[-1] = _ORDINAL_WORDS[last]
    elif last.endswith("y"):
        words[-1] = last[:-1] + "ieth"
    else:
        words[-1] = last + "th"
    return " ".join(words)


def year_to_words(n: int, locale: str = "en-us") -> str:
    """Years as read aloud: 1984 -> 'nineteen eighty four', 1900 -> 'nineteen hundred',
    2005 -> 'two thousand five' (en-gb: 'two thousand and five'), 2024 -> 'twenty twenty four'."""
    if 2000 <= n <= 2009 or not 1000 <= n <= 2099:
        return number_to_words(n, locale)
    high, low = divmod(n, 100)
    if low == 0:
        return number_to_words(high) + " hundred"
    if low < 10:
        return number_to_words(high) + " oh " + number_to_words(low)
    return number_to_words(high) + " " + number_to_words(low)


def _currency(m: "re.Match", locale: str) -> str:
    unit, cents_unit = ("dollar", "cent") if m.group(1) == "$" else ("pound", "penny")
    whole = int(m.group(2).replace(",", ""))
    cents = int(m.group(3)) if m.group(3) else 0
    parts = []
    if whole or not cents:
        parts.append(f"{number_to_words(whole, locale)} {unit}{'' if whole == 1 else 's'}")
    if cents:
        plural = "pence" if cents_unit == "penny" else "cents"
        parts.append(f"{number_to_words(cents, locale)} {cents_unit if cents == 1 else plural}")
    return " and ".join(parts)


def _time(m: "re.Match") -> str:
    hours, minutes = int(m.group(1)), int(m.group(2))
    if minutes == 0:
        return f"{number_to_words(hours)} o'clock"
    if minutes < 10:
        return f"{number_to_words(hours)} oh {number_to_words(minutes)}"
    return f"{number_to_words(hours)} {number_to_words(minutes)}"


def _decimal(m: "re.Match", locale: str) -> str:
    whole, frac = m.group(1).replace(",", ""), m.group(2)
    return number_to_words(int(whole), locale) + " point " + " ".join(_ONES[int(d)] for d in frac)


def _plain_number(m: "re.Match", locale: str) -> str:
    text = m.group(0)
    n = int(text.replace(",", ""))
    if "," not in text and len(text) == 4 and 1000 <= n <= 2099:
        return year_to_words(n, locale)
    return number_to_words(n, locale)


_ABBREV_RE = re.compile(r"\b(" + "|".join(ABBREVIATIONS) + r")\.(?=\s|$)", re.IGNORECASE)
_CURRENCY_RE = re.compile(r"([$£])(\d[\d,]*)(?:\.(\d{2}))?\b")
_PERCENT_RE = re.compile(r"(\d[\d,]*(?:\.\d+)?)\s?%")
_TIME_RE = re.compile(r"\b(\d{1,2}):(\d{2})\b")
_ORDINAL_RE = re.compile(r"\b(\d+)(st|nd|rd|th)\b", re.IGNORECASE)
_DECIMAL_RE = re.compile(r"\b(\d[\d,]*)\.(\d+)\b")
_NUMBER_RE = re.compile(r"\b\d{1,3}(?:,\d{3})+\b|\b\d+\b")


def _abbreviation(m: "re.Match") -> str:
    word = ABBREVIATIONS[m.group(1).lower()]
    # "No." is "number" only before a digit ("No. 5"); elsewhere it is the word "no" + full stop.
    if m.group(1).lower() == "no":
        rest = m.string[m.end():].lstrip()
        if not rest[:1].isdigit():
            return m.group(0)
    return word


def normalize_spoken(text: str, locale: str = "en-us") -> str:
    """Expand numbers and abbreviations into words; keep case and punctuation. ``locale``: LOCALES."""
    if locale not in LOCALES:
        raise ValueError(f"unknown locale {locale!r} (have: {', '.join(LOCALES)})")
    text = _ABBREV_RE.sub(_abbreviation, text)
    text = text.replace("&", " and ")
    text = _CURRENCY_RE.sub(lambda m: _currency(m, locale), text)
    text = _PERCENT_RE.sub(lambda m: _decimal_or_int(m.group(1), locale) + " percent", text)
    text = _TIME_RE.sub(_time, text)  # clock times read alike in both locales
    text = _ORDINAL_RE.sub(lambda m: ordinal_to_words(int(m.group(1)), locale), text)
    text = _DECIMAL_RE.sub(lambda m: _decimal(m, locale), text)
    text = _NUMBER_RE.sub(lambda m: _plain_number(m, locale), text)
    # A dash between clauses is a pause; a hyphen inside a compound just separates the words.
    text = re.sub(r"\s*(?:--|[\u2013\u2014]|\s-\s)\s*", ", ", text)
    text = re.sub(r"(?<=\w)-(?=\w)", " ", text)
    return re.sub(r"\s+", " ", text).strip()


def _decimal_or_int(number: str, locale: str) -> str:
    m = _DECIMAL_RE.fullmatch(number)
    return _decimal(m, locale) if m else number_to_words(int(number.replace(",", "")), locale)


_NON_WORD_RE = re.compile(r"[^\w' ]+|_")   # \w is Unicode: a letter of any script stays inside its word
_ASCII_WORD_RE = re.compile(r"[A-Z0-9']+")


def to_transcript(text: str, locale: str = "en-us") -> str:
    """LibriSpeech-style transcript: upper case, words only, apostrophes inside words kept; Latin letters folded
    to ASCII, words of other scripts kept whole (see ``is_ascii_word``); numbers read as in ``locale``."""
    spoken = normalize_spoken(fold_to_ascii(text), locale).upper()
    spoken = _NON_WORD_RE.sub(" ", spoken)
    words = [w.strip("'") for w in spoken.split()]
    return " ".join(w for w in words if w)


def is_ascii_word(word: str) -> bool:
    """A transcript word an English lexicon or G2P can pronounce (A-Z, digits, apostrophes)."""
    return bool(_ASCII_WORD_RE.fullmatch(word))
