"""A string -> string table in an on-disk SQLite file: lookups by key with memory flat in the number of keys
(stage 3 looks transcripts up by utterance id, the training-data build codes by cut id)."""
import sqlite3
from pathlib import Path
from typing import Iterable, Optional, Tuple


class DiskIndex:
    """Built once from ``rows`` (a later duplicate key wins); ``get`` returns None for a missing key.
    The file is removed by ``close`` (or the ``with`` block's end)."""

    def __init__(self, db_path: Path, rows: Iterable[Tuple[str, str]]):
        self.db_path = Path(db_path)
        self.db_path.unlink(missing_ok=True)
        self.db = sqlite3.connect(str(self.db_path))
        self.db.execute("CREATE TABLE kv (k TEXT PRIMARY KEY, v TEXT)")
        self.db.executemany("INSERT OR REPLACE INTO kv VALUES (?, ?)", rows)
        self.db.commit()

    def get(self, key: str) -> Optional[str]:
        row = self.db.execute("SELECT v FROM kv WHERE k = ?", (key,)).fetchone()
        return row[0] if row else None

    def __len__(self) -> int:
        return self.db.execute("SELECT COUNT(*) FROM kv").fetchone()[0]

    def close(self) -> None:
        self.db.close()
        self.db_path.unlink(missing_ok=True)

    def __enter__(self) -> "DiskIndex":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
