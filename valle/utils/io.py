"""Atomic file writes: outputs appear under their final name only once complete; safe reads of torch files."""
import contextlib
import os
import tempfile
from pathlib import Path
from typing import Any, Iterator, Union

Pathlike = Union[str, Path]


@contextlib.contextmanager
def atomic_path(path: Pathlike) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; rename it to ``path`` when the block succeeds.

    The temporary name keeps the final suffixes (``x.jsonl.gz`` -> ``.x.tmp1234.jsonl.gz``) so
    writers that pick a format from the extension (lhotse's ``to_file``) behave the same. On any
    exception, including KeyboardInterrupt, the temporary file is removed and ``path`` is untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    suffixes = "".join(path.suffixes)
    stem = path.name[: len(path.name) - len(suffixes)] if suffixes else path.name
    fd, tmp = tempfile.mkstemp(prefix=f".{stem}.tmp", suffix=suffixes, dir=path.parent)
    os.close(fd)
    tmp = Path(tmp)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def write_text_atomic(path: Pathlike, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


class UnsafeFileError(ValueError):
    """A torch file that holds more than plain data (tensors, numbers, strings, lists, dicts): loading it would
    run code it carries, so it is refused."""


def load_torch_file(path: Pathlike) -> Any:
    """``torch.load`` of plain data only (``weights_only=True``: tensors, numbers, strings, lists, tuples, dicts).
    Anything else in the pickle (a class, a function) is refused with UnsafeFileError naming the file and what
    it holds, before any of it runs. Other read errors (truncated, not a torch file) propagate."""
    import pickle

    import torch

    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        try:
            unsafe = torch.serialization.get_unsafe_globals_in_checkpoint(path)
        except Exception:   # not a torch zip file at all: corrupt or truncated, said by the original error
            raise e from None
        if not unsafe:
            raise
        raise UnsafeFileError(f"{path} holds more than tensors and plain data ({', '.join(unsafe)}); loading it "
                              f"would run code it carries, so it is refused. Recreate it with this recipe, or "
                              f"convert it to a plain state dict where you trust its source.") from e
