"""Reading stage 2's lang directory: the one reader of what ``valle.text.lang.prepare_lang`` writes.

    lang = LangDir("data/mini/lang")
    lang.phones          # {symbol: id}, <eps> = 0 (the padding id of the models)
    lang.lexicon         # {WORD: [(p1, p2, ...), ...]}
    lang.text("dev-clean")

Each file is read on first use; a missing one raises FileNotFoundError naming it and the stage that makes it.
"""
import functools
import json
from pathlib import Path
from typing import Dict, List, Tuple

from valle.text.lexicon import read_lexicon, read_symbol_table


def read_phone_table(path: Path) -> Dict[str, int]:
    """phones.txt (``symbol id`` per line) -> {symbol: id}; ``<eps>`` must be 0 (the padding id)."""
    table = read_symbol_table(_existing(Path(path)))
    if table.get("<eps>") != 0:
        raise ValueError(f"{path}: expected '<eps> 0' (id 0 is the padding id)")
    return table


def read_text_file(path: Path) -> Dict[str, str]:
    """Kaldi ``text``: '<utterance-id> WORD WORD ...' per line -> {id: 'WORD WORD ...'}."""
    out = {}
    for line in _existing(Path(path)).read_text(encoding="utf-8").splitlines():
        if line.strip():
            k, _, v = line.partition(" ")
            out[k] = v.strip()
    return out


def _existing(path: Path) -> Path:
    if not path.is_file():
        raise FileNotFoundError(f"expected {path} (stage 2 makes it)")
    return path


class LangDir:
    def __init__(self, path: Path):
        self.path = Path(path)

    @functools.cached_property
    def phones(self) -> Dict[str, int]:
        return read_phone_table(self.path / "phones.txt")

    @functools.cached_property
    def words(self) -> Dict[str, int]:
        return read_symbol_table(_existing(self.path / "words.txt"))

    @functools.cached_property
    def lexicon(self) -> Dict[str, List[Tuple[str, ...]]]:
        return read_lexicon(_existing(self.path / "lexicon.txt"))

    @functools.cached_property
    def info(self) -> dict:
        return json.loads(_existing(self.path / "lang_info.json").read_text())

    def text(self, part: str) -> Dict[str, str]:
        """Normalized transcripts of a labeled part."""
        path = self.path / "text" / f"{part}.txt"
        if not path.is_file():
            raise FileNotFoundError(f"expected {path} to exist (stage 2 makes it; is {part} a labeled part?)")
        return read_text_file(path)
