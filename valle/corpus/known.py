"""The corpora the recipe knows by name, and how a recipe names the prepare function of one it does not."""
import importlib
import importlib.util
from pathlib import Path
from typing import Callable, Dict

from valle.corpus import librilight, librispeech, libritts
from valle.corpus.base import CorpusInfo
from valle.corpus.transcripts import LineFormat

KNOWN_CORPORA: Dict[str, CorpusInfo] = {
    "librispeech": librispeech.INFO,
    "librilight": librilight.INFO,
    "libritts": libritts.INFO,
}


def load_prepare_fn(spec: str) -> Callable:
    """``"path/to/file.py:function"`` or ``"package.module:function"`` -> the function."""
    return load_corpus_info(spec).prepare


def load_corpus_info(spec: str) -> CorpusInfo:
    """``"path/to/file.py:function"`` or ``"package.module:function"`` -> a CorpusInfo with that prepare
    function and the transcript layout its module declares as ``TRANSCRIPTS`` (a sequence of LineFormat)."""
    if ":" not in spec:
        raise ValueError(f"prepare function {spec!r} must look like 'file.py:function' or 'module:function'")
    where, name = spec.rsplit(":", 1)
    if where.endswith(".py"):
        if not Path(where).is_file():
            raise FileNotFoundError(f"prepare function file {where} does not exist")
        module_spec = importlib.util.spec_from_file_location(Path(where).stem, where)
        module = importlib.util.module_from_spec(module_spec)
        module_spec.loader.exec_module(module)
    else:
        module = importlib.import_module(where)
    fn = getattr(module, name, None)
    if not callable(fn):
        raise AttributeError(f"{where} has no function {name!r}")
    transcripts = tuple(getattr(module, "TRANSCRIPTS", ()))
    if not all(isinstance(t, LineFormat) for t in transcripts):
        raise TypeError(f"{where}: TRANSCRIPTS must be a sequence of valle.corpus.transcripts.LineFormat")
    return CorpusInfo(fn, transcripts=transcripts)
