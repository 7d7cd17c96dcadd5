"""libespeak-ng through ctypes: synthesized audio plus the synthesizer's own phone and word timings.

espeak-ng's C API reports, in synchronous mode with ``espeakINITIALIZE_PHONEME_EVENTS``, an event at
the start of every word and every phoneme of the audio it generates (``sample`` is the position in
the output stream). Those events are the ground truth the mini corpus keeps for measuring alignment
accuracy: no forced aligner is involved.

libespeak-ng is a process-wide singleton (one voice, one callback), so ``Espeak`` is initialized
once per process; parallel synthesis uses processes, not threads. Its output also depends on what
the process synthesized before (wave generator state carries over, and it draws from libc's
rand()): for reproducible audio, synthesize the same texts in the same order in a fresh process.
"""
import ctypes
import ctypes.util
import re
from dataclasses import dataclass, field
from typing import List, Optional, Tuple

import numpy as np

# From espeak-ng/speak_lib.h.
_AUDIO_OUTPUT_SYNCHRONOUS = 2
_INITIALIZE_PHONEME_EVENTS = 0x0001
_INITIALIZE_PHONEME_IPA = 0x0002
_INITIALIZE_DONT_EXIT = 0x8000
_EVENT_LIST_TERMINATED, _EVENT_WORD, _EVENT_MSG_TERMINATED, _EVENT_PHONEME = 0, 1, 6, 7
_POS_CHARACTER = 1
_CHARS_UTF8 = 1
_PARAM_RATE, _PARAM_PITCH, _PARAM_RANGE, _PARAM_WORDGAP = 1, 3, 4, 7

PAUSE = "sil"  # espeak's pause phoneme has an empty IPA name; we call it sil, as Kaldi does


class _EventId(ctypes.Union):
    _fields_ = [("number", ctypes.c_int), ("name", ctypes.c_char_p), ("string", ctypes.c_char * 8)]


class _Event(ctypes.Structure):
    _fields_ = [
        ("type", ctypes.c_int),
        ("unique_identifier", ctypes.c_uint),
        ("text_position", ctypes.c_int),
        ("length", ctypes.c_int),
        ("audio_position", ctypes.c_int),
        ("sample", ctypes.c_int),
        ("user_data", ctypes.c_void_p),
        ("id", _EventId),
    ]


_Callback = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.POINTER(_Event))


class EspeakError(RuntimeError):
    pass


class TimingMismatch(EspeakError):
    """The words espeak-ng reported do not match the words of the text."""


@dataclass
class Voice:
    """One synthetic speaker: an espeak-ng voice (+variant) and prosody settings."""

    name: str  # e.g. "en-us+f3"
    rate: int = 175  # words per minute
    pitch: int = 50  # 0-100
    pitch_range: int = 50  # 0-100
    word_gap: int = 0  # extra pause between words, units of 10 ms at the default rate


@dataclass
class Segment:
    label: str
    start: float  # seconds
    end: float


@dataclass
class Synthesis:
    audio: np.ndarray  # float32 in [-1, 1]
    sample_rate: int
    # Transcript words in order. espeak joins some function words to a neighbour ("ON THE"): such a
    # group is one segment whose label holds all its words, since espeak times no boundary inside.
    words: List[Segment] = field(default_factory=list)
    phones: List[Segment] = field(default_factory=list)  # IPA phones and sil, contiguous
    phone_word: List[int] = field(default_factory=list)  # index into words, -1 for sil


_TOKEN_RE = re.compile(r"\S+")
_WORD_CHARS_RE = re.compile(r"[^A-Za-z0-9']+")


def transcript_word(token: str) -> str:
    """The transcript form of one whitespace token: upper case, punctuation stripped."""
    return _WORD_CHARS_RE.sub("", token.replace("\u2019", "'")).strip("'").upper()


class Espeak:
    _instance: Optional["Espeak"] = None

    @classmethod
    def get(cls) -> "Espeak":
        if cls._instance is None:
            cls._instance = cls()
        return cls._instance

    def __init__(self) -> None:
        path = ctypes.util.find_library("espeak-ng") or "libespeak-ng.so.1"
        try:
            self._lib = ctypes.CDLL(path)
        except OSError as e:
            raise EspeakError(
                f"cannot load libespeak-ng ({e}); install espeak-ng (e.g. apt-get install espeak-ng)"
            ) from e
        options = _INITIALIZE_PHONEME_EVENTS | _INITIALIZE_PHONEME_IPA | _INITIALIZE_DONT_EXIT
        self.sample_rate = self._lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, None, options)
        if self.sample_rate <= 0:
            raise EspeakError(f"espeak_Initialize failed ({self.sample_rate})")
        self._chunks: List[np.ndarray] = []
        # (kind, sample, text_position, length, phoneme name) in the order espeak reports them
        self._events: List[Tuple[int, int, int, int, str]] = []
        self._libc = ctypes.CDLL(None)  # the process's libc, whose rand() espeak-ng uses
        self._callback = _Callback(self._on_audio)  # keep a reference: C holds only the pointer
        self._lib.espeak_SetSynthCallback(self._callback)
        self._lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]

    def _on_audio(self, wav, num_samples, events) -> int:
        if num_samples > 0:
            self._chunks.append(np.ctypeslib.as_array(wav, shape=(num_samples,)).copy())
        i = 0
        while events[i].type != _EVENT_LIST_TERMINATED:
            e = events[i]
            if e.type in (_EVENT_WORD, _EVENT_PHONEME, _EVENT_MSG_TERMINATED):
                name = e.id.string.decode("utf-8", "replace") if e.type == _EVENT_PHONEME else ""
                self._events.append((e.type, e.sample, e.text_position, e.length, name))
            i += 1
        return 0

    def seed(self, value: int) -> None:
        """Seed libc's rand(), which espeak-ng draws from while synthesizing."""
        self._libc.srand(ctypes.c_uint(value))

    def set_voice(self, voice: Voice) -> None:
        if self._lib.espeak_SetVoiceByName(voice.name.encode()) != 0:
            raise EspeakError(f"espeak-ng has no voice {voice.name!r} (see: espeak-ng --voices=en)")
        for param, value in ((_PARAM_RATE, voice.rate), (_PARAM_PITCH, voice.pitch),
                             (_PARAM_RANGE, voice.pitch_range), (_PARAM_WORDGAP, voice.word_gap)):
            self._lib.espeak_SetParameter(param, int(value), 0)

    def synthesize(self, text: str, voice: Voice) -> Synthesis:
        """Speak ``text`` with ``voice``; return audio with word and phone timings.

        Raises TimingMismatch when espeak's word events cannot be matched one-to-one with the
        whitespace tokens of ``text`` that carry a transcript word.
        """
        self.set_voice(voice)
        self._chunks, self._events = [], []
        data = text.encode("utf-8")
        err = self._lib.espeak_Synth(data, len(data) + 1, 0, _POS_CHARACTER, 0, _CHARS_UTF8, None, None)
        if err != 0:
            raise EspeakError(f"espeak_Synth failed ({err}) on {text!r}")
        self._lib.espeak_Synchronize()
        audio = np.concatenate(self._chunks) if self._chunks else np.zeros(0, np.int16)
        audio = audio.astype(np.float32) / 32768.0
        return _timings(text, audio, self.sample_rate, self._events)


MAX_POSITION_DRIFT = 10  # characters; espeak's word text positions can lag by a few


def _group_tokens(text, tokens, word_events):
    """Assign espeak word events to the text's word tokens, in order.

    espeak joins unstressed function words to a neighbour ("on the" -> one word event), and its
    text positions can be a few characters off. So: each event starts at the token holding its
    text position, or at the next unused token when that one is taken; tokens no event starts
    on belong to the preceding event's group. Returns one list of token indices per event.
    """
    groups, next_token = [], 0
    for text_pos in word_events:
        pos = text_pos - 1  # espeak counts characters from 1
        k = next((i for i, (s, e, _) in enumerate(tokens) if pos < e), len(tokens))
        k = max(k, next_token)
        if k >= len(tokens) or abs(tokens[k][0] - pos) > MAX_POSITION_DRIFT:
            raise TimingMismatch(f"word event at character {text_pos} matches no word of {text!r}")
        if groups:
            groups[-1].extend(range(next_token, k))
        elif k != 0:
            raise TimingMismatch(f"first word event at character {text_pos} skips words of {text!r}")
        groups.append([k])
        next_token = k + 1
    if not groups:
        raise TimingMismatch(f"espeak reported no words for {text!r}")
    groups[-1].extend(range(next_token, len(tokens)))
    return groups


def _timings(text, audio, sample_rate, events) -> Synthesis:
    tokens = [(m.start(), m.end(), transcript_word(m.group())) for m in _TOKEN_RE.finditer(text)]
    tokens = [t for t in tokens if t[2]]  # tokens that are only punctuation are not words
    total = len(audio)
    # 1. Phones in event order, each tagged with the word event it follows (-1: pause).
    raw_phones, word_positions, current = [], [], -1
    for kind, sample, text_pos, length, name in events:
        if kind == _EVENT_WORD:
            if length > 0:  # espeak ends some messages with an empty word event
                word_positions.append(text_pos)
                current = len(word_positions) - 1
        elif kind == _EVENT_PHONEME:
            raw_phones.append((sample, name or PAUSE, current if name else -1))
    groups = _group_tokens(text, tokens, word_positions)

    # 2. Contiguous phone segments: each ends where the next starts, the last with the audio.
    raw_phones.sort(key=lambda p: p[0])
    phones, phone_group = [], []
    for k, (sample, name, group) in enumerate(raw_phones):
        end = min(raw_phones[k + 1][0] if k + 1 < len(raw_phones) else total, total)
        if end <= sample:  # zero length: espeak reported the next phone at the same sample
            continue
        if name == PAUSE and phones and phones[-1].label == PAUSE:  # one pause, not several
            phones[-1].end = end / sample_rate
            continue
        phones.append(Segment(name, sample / sample_rate, end / sample_rate))
        phone_group.append(group)
    if phones and phones[0].start > 0:  # leading silence before the first phoneme
        if phones[0].label == PAUSE:
            phones[0].start = 0.0
        else:
            phones.insert(0, Segment(PAUSE, 0.0, phones[0].start))
            phone_group.insert(0, -1)

    # 3. Words: one segment per event group, spanning its phones. A group of several transcript
    # words ("ON THE") keeps them together: espeak gives no boundary between them.
    words = []
    for g, token_ids in enumerate(groups):
        spans = [p for p, pg in zip(phones, phone_group) if pg == g]
        if not spans:
            raise TimingMismatch(f"no phones for {[tokens[t][2] for t in token_ids]} in {text!r}")
        words.append(Segment(" ".join(tokens[t][2] for t in token_ids), spans[0].start, spans[-1].end))
    for a, b in zip(words, words[1:]):
        if b.start < a.end - 1e-9:
            raise TimingMismatch(f"overlapping words {a} and {b} in {text!r}")
    return Synthesis(audio, sample_rate, words, phones, phone_group)
