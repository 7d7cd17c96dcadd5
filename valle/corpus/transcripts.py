"""Stage 1's line-by-line check of a corpus's transcript and metadata files.

lhotse's parsers (and most hand-written ones) read a transcript file with one ``split`` per line, so one
malformed line raises and the whole part is lost. Stage 1 therefore reads those files first, with the line
layout the corpus declares (``LineFormat``), and hands the prepare function cleaned copies without the lines
it cannot use. Each skipped line is listed with its reason in ``skipped_<corpus>.tsv`` as ``file:line``.
A line is skipped when:

- it does not decode in the file's encoding (a Latin-1 line in a UTF-8 file),
- it holds a stray character: a control character, U+FFFD (an earlier bad decode), a private-use or an
  unassigned code point,
- it has too few or too many fields, or an empty one; its text has no letter or digit ("no text"),
- its utterance id does not match the corpus's id pattern,
- its id was already given by an earlier line (the first one is kept),
- its audio file does not exist.

Blank lines and a leading byte-order mark are dropped without a word: they hold no data.
"""
import dataclasses
import logging
import os
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Sequence, Set, Tuple, Union

# Letters and digits in any script: what makes a transcript something a lexicon can read.
_HAS_WORD_CHAR = re.compile(r"[^\W_]")
_STRAY_CATEGORIES = {"Cc", "Co", "Cn", "Cs"}
_MAX_LOGGED = 20


@dataclass(frozen=True)
class LineFormat:
    """How one kind of transcript/metadata file of a corpus is laid out (one utterance per line)."""
    files: str  # glob under each part folder, e.g. "**/*.trans.txt"
    fields: Tuple[str, ...] = ("id", "text")  # "id" is the utterance id; "text" fields must hold a word
    # None: fields are separated by runs of whitespace and the last field takes the rest of the line
    # (LibriSpeech); otherwise the exact separator, and the line must have exactly len(fields) fields.
    separator: Optional[str] = None
    # The id as a regular expression; "{stem}" stands for the file's name up to its first dot (a LibriSpeech
    # id starts with the speaker-chapter of its .trans.txt).
    id_pattern: str = r"[A-Za-z0-9][A-Za-z0-9_.\-]*"
    # Where a line's audio is, relative to the file's folder, "{id}" standing for its id and "{parent}" for
    # the folder's name; several patterns: the first that exists. None: not checked.
    audio: Union[None, str, Tuple[str, ...]] = None
    encoding: str = "utf-8"
    # One utterance per file (VCTK's txt/<speaker>/<utt>.txt): the id is the file's stem, the text its whole
    # content; a file that cannot be used is left out of the corpus the prepare function reads.
    whole_file: bool = False

    def audio_path(self, path: Path, utt_id: str) -> Optional[Path]:
        """The audio of utterance ``utt_id`` of transcript file ``path``: the first pattern that exists, else
        the first pattern's path (named as missing); None when the layout does not say."""
        if not self.audio:
            return None
        patterns = (self.audio,) if isinstance(self.audio, str) else tuple(self.audio)
        paths = [Path(os.path.normpath(path.parent / p.replace("{id}", utt_id).replace("{parent}", path.parent.name)))
                 for p in patterns]
        return next((p for p in paths if p.is_file()), paths[0])

    def id_regex(self, path: Path) -> "re.Pattern":
        stem = path.name.split(".", 1)[0]
        return re.compile(self.id_pattern.replace("{stem}", re.escape(stem)))


@dataclass
class TranscriptCheck:
    """What ``check_transcripts`` found: cleaned copies of the files it changed, and what it left out."""
    cleaned: Dict[Path, str] = field(default_factory=dict)  # file -> its content without the bad lines
    dropped: Set[Path] = field(default_factory=set)  # one-utterance files left out whole (``whole_file``)
    skipped: List[Tuple[str, str]] = field(default_factory=list)  # ("file:line", reason)
    # Audio whose only line was skipped: the reason, for the listing of audio left out.
    audio_reasons: Dict[Path, str] = field(default_factory=dict)
    lines: int = 0  # lines kept


def check_line(line: str, fmt: LineFormat, id_regex: "re.Pattern") -> Tuple[Optional[str], List[str]]:
    """(reason the line is unusable or None, its fields) for one decoded line."""
    for col, ch in enumerate(line, 1):
        if ch == "\ufffd" or (ch != "\t" and unicodedata.category(ch) in _STRAY_CATEGORIES):
            return f"stray character U+{ord(ch):04X} at column {col}", []
    n = len(fmt.fields)
    values = _split(line, fmt)
    if fmt.separator is not None:
        if len(values) > n:
            return f"{len(values)} fields, expected {n} ({fmt.separator.join(fmt.fields)})", values
    if len(values) < n:
        missing = fmt.fields[len(values)]
        if missing == "text" and len(values) >= 1:
            return "no text", values
        return f"{len(values)} field(s), expected {n} ({(fmt.separator or ' ').join(fmt.fields)})", values
    for name, value in zip(fmt.fields, values):
        if not value:
            return ("no text" if name == "text" else f"empty {name}"), values
        if name == "text" and not _HAS_WORD_CHAR.search(value):
            return f"no text (no letter or digit in {value!r})", values
    utt_id = _id_field(values, fmt)
    if utt_id is not None and not id_regex.fullmatch(utt_id):
        return f"bad utterance id {utt_id!r} (expected {id_regex.pattern})", values
    return None, values


def _split(line: str, fmt: LineFormat) -> List[str]:
    if fmt.separator is None:
        return line.strip().split(None, len(fmt.fields) - 1)
    return [v.strip() for v in line.split(fmt.separator)]


def _id_field(values: List[str], fmt: LineFormat) -> Optional[str]:
    """The id field of a split line; None when the layout has none or the line is too short for it."""
    if "id" not in fmt.fields or len(values) <= fmt.fields.index("id"):
        return None
    return values[fmt.fields.index("id")]


def _line_id(values: List[str], fmt: LineFormat, id_regex: "re.Pattern") -> Optional[str]:
    """The line's utterance id when it has a well-formed one (also on a line skipped for another reason, so
    that its audio is listed with that reason)."""
    utt_id = _id_field(values, fmt)
    return utt_id if utt_id is not None and id_regex.fullmatch(utt_id) else None


def check_transcripts(corpus_dir: Path, parts: Sequence[str], formats: Iterable[LineFormat],
                      exclude_audio: Set[Path] = frozenset()) -> TranscriptCheck:
    """Reads every file of ``formats`` under each part and checks it line by line (see the module doc).
    Lines whose audio is in ``exclude_audio`` (audio already skipped with its own reason) are dropped without
    being listed again. Ids are unique across the corpus: later parts cannot reuse an id either."""
    corpus_dir = Path(corpus_dir)
    exclude_audio = {Path(p) for p in exclude_audio}
    result = TranscriptCheck()
    for fmt in formats:
        seen: Dict[str, str] = {}  # id -> where it was first given
        kept_audio: Set[Path] = set()
        for part in parts:
            for path in sorted((corpus_dir / part).glob(fmt.files)):
                if path.is_file() and not path.name.startswith("._"):  # "._x": macOS resource forks, not text
                    _check_file(path, fmt, seen, kept_audio, exclude_audio, result)
        for audio in kept_audio:
            result.audio_reasons.pop(audio, None)
    for where, reason in result.skipped[:_MAX_LOGGED]:
        logging.warning(f"skipping {where}: {reason}")
    if len(result.skipped) > _MAX_LOGGED:
        logging.warning(f"... and {len(result.skipped) - _MAX_LOGGED} more transcript lines skipped")
    return result


def _check_file(path: Path, fmt: LineFormat, seen: Dict[str, str], kept_audio: Set[Path],
                exclude_audio: Set[Path], result: TranscriptCheck) -> None:
    raw = path.read_bytes()
    changed = raw.startswith(b"\xef\xbb\xbf")
    if changed:
        raw = raw[3:]
    id_regex = fmt.id_regex(path)
    kept: List[str] = []
    whole_file = fmt.whole_file
    if whole_file:
        # The file is one line "<stem> <its words>" for the checks below (the stem is not in the file).
        stem = path.name.split(".", 1)[0]
        words = b" ".join(raw.split())
        changed = changed or raw != words + b"\n"
        raw = (stem.encode() + b" " + words) if words else stem.encode()
        fmt = dataclasses.replace(fmt, fields=("id",) + tuple(fmt.fields), separator=None, whole_file=False)
    pieces = raw.split(b"\n")
    for lineno, raw_line in enumerate(pieces, 1):
        raw_line = raw_line.rstrip(b"\r")
        if not raw_line.strip():
            # A blank line in the middle would stop a split-per-line parser; the piece after the last
            # newline is no line at all.
            changed = changed or lineno < len(pieces)
            continue
        where = f"{path}:{lineno}"
        try:
            line = raw_line.decode(fmt.encoding)
        except UnicodeDecodeError as e:
            reason, values = f"not {fmt.encoding}: byte 0x{raw_line[e.start]:02X} at column {e.start + 1}", []
        else:
            reason, values = check_line(line, fmt, id_regex)
        utt_id = _line_id(values or _split(raw_line.decode(fmt.encoding, "replace"), fmt), fmt, id_regex)
        audio = fmt.audio_path(path, utt_id) if utt_id else None
        if reason is None and utt_id in seen:
            reason = f"duplicate utterance id {utt_id} (first given at {seen[utt_id]})"
            audio = None  # the file belongs to the first line
        if reason is None and audio is not None:
            if audio in exclude_audio:
                changed = True  # its audio is listed already, with why it is unusable
                continue
            if not audio.is_file():
                reason = f"no audio file {audio}"
        if reason is not None:
            changed = True
            result.skipped.append((where, reason))
            if audio is not None and audio.is_file():
                result.audio_reasons.setdefault(audio, f"its transcript line {where} was skipped: {reason}")
            continue
        if utt_id is not None:
            seen[utt_id] = where
        if audio is not None:
            kept_audio.add(audio)
        kept.append(line)
    result.lines += len(kept)
    if whole_file and not kept:
        result.dropped.add(path)
    elif whole_file and changed:
        result.cleaned[path] = kept[0].split(None, 1)[1] + "\n"  # the text without the stem put in front
    elif changed:
        result.cleaned[path] = "".join(line + "\n" for line in kept)
