"""The corpora the recipe knows by name, how a recipe names the prepare function of one it does not, and the
one place where prepare functions of different signatures are called alike (``call_prepare``)."""
import importlib
import importlib.util
import inspect
from pathlib import Path
from typing import Callable, Dict, Optional, Sequence

from valle.corpus import librilight, librispeech, libritts, ljspeech, vctk
from valle.corpus.base import CorpusError, CorpusInfo
from valle.corpus.transcripts import LineFormat

KNOWN_CORPORA: Dict[str, CorpusInfo] = {
    "librispeech": librispeech.INFO,
    "librilight": librilight.INFO,
    "libritts": libritts.INFO,
    "ljspeech": ljspeech.INFO,
    "vctk": vctk.INFO,
}

# Where "lhotse:<function>" is looked up: lhotse's recipes (prepare_ljspeech, prepare_vctk, ...).
LHOTSE_PREFIX = "lhotse"
LHOTSE_RECIPES = "lhotse.recipes"


def call_prepare(fn: Callable, corpus_dir: Path, parts: Optional[Sequence[str]], num_jobs: int = 1) -> dict:
    """Calls a lhotse-style prepare function whatever its signature and returns ``{part: {"recordings",
    "supervisions"}}``.

    Two kinds exist: per-part functions take ``dataset_parts`` (lhotse's LibriSpeech, LibriTTS; the template)
    and return one entry per part; single-set functions take only the corpus dir (lhotse's LJSpeech, VCTK) and
    return ``{"recordings", "supervisions"}`` for the whole corpus, or a dict of their own parts. ``parts`` None
    means the whole corpus is wanted as one set (a corpus divided by a split rule): the result is then
    ``{"": {...}}``, the function's own parts merged. ``output_dir`` is always None (stage 1 writes the files);
    ``num_jobs`` is passed where the function takes it. A required argument the recipe cannot give is a
    CorpusError naming it."""
    name = getattr(fn, "__qualname__", repr(fn))
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):  # a builtin or C function: call it the lhotse way
        params = {}
    takes_var_kw = any(p.kind is p.VAR_KEYWORD for p in params.values())
    kwargs = {}
    if "output_dir" in params or takes_var_kw:
        kwargs["output_dir"] = None
    if "num_jobs" in params:
        kwargs["num_jobs"] = num_jobs
    if "dataset_parts" in params and parts is not None:
        kwargs["dataset_parts"] = list(parts)
    # Asked for the whole corpus, a per-part function gets its default dataset_parts (lhotse's: every part
    # it finds); one without a default cannot be used that way, and the check below says so.
    positional = [p for p in params.values() if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    needed = [p.name for p in positional[1:] if p.default is p.empty and p.name not in kwargs]
    needed += [p.name for p in params.values() if p.kind is p.KEYWORD_ONLY and p.default is p.empty
               and p.name not in kwargs]
    if not positional and params and not takes_var_kw:
        raise CorpusError(f"prepare function {name} takes no corpus directory argument")
    if "dataset_parts" in needed:
        raise CorpusError(f"prepare function {name} prepares named parts (dataset_parts): give the corpus one "
                          f"folder per part instead of a split rule")
    if needed:
        raise CorpusError(f"prepare function {name} needs argument(s) {needed} that the recipe cannot give; write "
                          f"a small prepare function that calls it with them (egs/template/prepare.py)")
    result = fn(corpus_dir, **kwargs)
    if not isinstance(result, dict):
        raise CorpusError(f"prepare function {name} returned {type(result).__name__}, expected a dict of lhotse "
                          f"manifests")
    single = "recordings" in result and "supervisions" in result
    if parts is None:
        if single:
            return {"": result}
        return {"": _merge(name, result)}
    if single:
        raise CorpusError(f"prepare function {name} returns one set for the whole corpus, not the parts "
                          f"{list(parts)}; give the corpus a split rule (<corpus>_split, e.g. "
                          f"'test_speakers=2 dev_every=50') to divide it")
    return result


def _merge(name: str, per_part: dict) -> dict:
    from lhotse import RecordingSet, SupervisionSet

    recordings, supervisions = [], []
    for part, m in per_part.items():
        if not isinstance(m, dict) or "recordings" not in m:
            raise CorpusError(f"prepare function {name} returned {part!r}: {type(m).__name__}, expected "
                              f"{{'recordings', 'supervisions'}}")
        recordings.extend(m["recordings"])
        supervisions.extend(m.get("supervisions") or [])
    return {"recordings": RecordingSet.from_recordings(recordings),
            "supervisions": SupervisionSet.from_segments(supervisions)}


def load_prepare_fn(spec: str) -> Callable:
    """``"path/to/file.py:function"`` or ``"package.module:function"`` -> the function."""
    return load_corpus_info(spec).prepare


def load_corpus_info(spec: str) -> CorpusInfo:
    """``"path/to/file.py:function"``, ``"package.module:function"`` or ``"lhotse:prepare_<corpus>"`` -> a
    CorpusInfo with that prepare function and the transcript layout its module declares as ``TRANSCRIPTS`` (a
    sequence of LineFormat). For lhotse's own recipes the layout is the one of our corpus module of the same
    name, where there is one (lhotse's parsers split each line once and stop at a malformed one)."""
    if ":" not in spec:
        raise ValueError(f"prepare function {spec!r} must look like 'file.py:function', 'module:function' or "
                         f"'lhotse:prepare_<corpus>'")
    where, name = spec.rsplit(":", 1)
    if where == LHOTSE_PREFIX:
        module = importlib.import_module(LHOTSE_RECIPES)
        fn = getattr(module, name, None)
        if not callable(fn):
            available = sorted(n for n in dir(module) if n.startswith("prepare_"))
            raise AttributeError(f"lhotse has no recipe function {name!r} (it has {len(available)}: "
                                 f"{', '.join(available[:8])}, ...)")
        known = KNOWN_CORPORA.get(name[len("prepare_"):]) if name.startswith("prepare_") else None
        return CorpusInfo(fn, transcripts=known.transcripts if known else ())
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
