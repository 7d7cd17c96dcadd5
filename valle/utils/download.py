"""Resumable single-file downloads that never leave a half file under the final name.

``fetch_file(url, dest, size)`` downloads into ``dest.part`` and renames it to ``dest`` only once it is complete
and checked (its byte count, and a gzip file read through to its CRC). A failed transfer keeps ``dest.part``; the
next call asks the server for the rest (an HTTP Range request) and appends it. A server that ignores the Range
header answers 200 with the whole file, which then replaces the partial one (lhotse's ``resumable_download``
appends it, doubling the file).
"""
import gzip
import http.client
import logging
import os
import urllib.error
import urllib.request
import zlib
from pathlib import Path
from typing import Optional

CHUNK = 1 << 20


class FetchError(RuntimeError):
    """A download that did not produce a complete, intact file; the message says what was kept."""


def part_path(dest: Path) -> Path:
    return dest.with_name(dest.name + ".part")


def check_file(path: Path, size: Optional[int] = None, gzipped: Optional[bool] = None) -> Optional[str]:
    """Why ``path`` is not a complete copy (None when it is): its size differs from ``size``, or, when
    ``gzipped`` (default: the name ends in .gz), the gzip stream is truncated or fails its CRC."""
    actual = path.stat().st_size
    if size is not None and actual != size:
        return f"{actual} bytes, expected {size}"
    if path.name.endswith(".gz") if gzipped is None else gzipped:
        try:
            with gzip.open(path, "rb") as f:
                while f.read(CHUNK):
                    pass
        except (OSError, EOFError, zlib.error) as e:
            return f"not an intact gzip file ({e})"
    return None


def fetch_file(url: str, dest: Path, size: Optional[int] = None, timeout: float = 60.0) -> None:
    """Download ``url`` to ``dest`` (resuming ``dest.part``); raise FetchError, keeping a partial file that can be
    resumed, or removing one that is known to be wrong (too big, or corrupt once complete)."""
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = part_path(dest)
    have = part.stat().st_size if part.is_file() else 0
    if size is not None and have > size:
        part.unlink()
        have = 0
    if size is None or have < size:
        _transfer(url, part, have, timeout)
    problem = check_file(part, size, gzipped=dest.name.endswith(".gz"))
    if problem is not None:
        complete = size is None or part.stat().st_size >= size
        if complete:  # nothing to resume: the bytes themselves are wrong
            part.unlink()
        raise FetchError(f"{url}: the download is {problem}; " +
                         ("removed it, run again to download it afresh" if complete else
                          f"kept {part} ({part.stat().st_size} bytes), run again to resume"))
    os.replace(part, dest)


def _transfer(url: str, part: Path, have: int, timeout: float) -> None:
    from tqdm.auto import tqdm

    headers = {"User-Agent": "valle-recipe"}
    if have:
        headers["Range"] = f"bytes={have}-"
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout) as r:
            resumed = have > 0 and r.status == 206
            if have and not resumed:
                logging.info("%s: the server sent the whole file (no resume); starting over", url)
            start = have if resumed else 0
            length = r.headers.get("Content-Length")
            total = start + int(length) if length is not None else None
            with open(part, "r+b" if resumed else "wb") as f, \
                    tqdm(total=total, initial=start, unit="B", unit_scale=True, desc=part.name[:-5],
                         mininterval=5, disable=None) as bar:
                f.seek(start)
                f.truncate()
                while True:
                    chunk = r.read(CHUNK)
                    if not chunk:
                        break
                    f.write(chunk)
                    bar.update(len(chunk))
    except urllib.error.HTTPError as e:
        if e.code == 416 and have:  # nothing after `have` bytes: the partial file is the whole file
            return
        raise FetchError(f"{url}: HTTP {e.code} {e.reason}") from e
    except (OSError, http.client.HTTPException) as e:  # URLError, timeouts, resets, a cut-off body
        kept = part.stat().st_size if part.is_file() else 0
        if kept == 0 and part.is_file():
            part.unlink()
        raise FetchError(f"{url}: {type(e).__name__}: {e}" +
                         (f" (kept {kept} bytes in {part}; run again to resume)" if kept else "")) from e
