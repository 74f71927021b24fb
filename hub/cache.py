"""The checkpoint cache under the vzoo home: one blob per sha256 plus a small index per row.

Layout (`<home>/checkpoints/`):
  blobs/<sha256>            verified files only (renamed in after the checksum passed)
  index.json                row id -> {sha256, size, url, filename, source, time, pinned}
  partial/<row>.incomplete  a download in progress (resumed by the next run for the same URL)
  partial/<row>.json        the partial's journal: URL, host validator, sha256 of its prefix
  locks/<row>.lock          one writer per row across processes
  extras/<row>/             files kept beside a checkpoint (logs of a Drive folder)

The index is data, never a path: a blob is named only by 64 lowercase hex digits (an entry whose
sha256 is anything else is malformed, and nothing is opened or deleted for it), and row ids become
file names through `_safe_name`. Nothing outside the cache root is written or removed.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from filelock import FileLock

from vzoo import settings
from vzoo.core.errors import UserInputError
from vzoo.core.files import created_home, write_text_atomic

_SHA256_HEX = re.compile(r"[0-9a-f]{64}")


def is_sha256(value: object) -> bool:
    """Whether `value` is a sha256 as the cache names blobs: 64 lowercase hex digits."""
    return isinstance(value, str) and _SHA256_HEX.fullmatch(value) is not None


@dataclass(frozen=True)
class CacheEntry:
    """One cached checkpoint in the index: its row, sha256 and size, where and when it came."""

    row_id: str
    sha256: str
    size: int
    url: str
    filename: str
    source: str  # "original" | "mirror"
    time: str  # UTC, ISO 8601
    pinned: bool  # the registry held this sha256 when it was downloaded
    host_sha256: str | None = None  # what the host published (full, or an 8-hex name prefix)
    host_check: str | None = None  # which host check published it (hub/integrity.py names)

    def to_json(self) -> dict[str, Any]:
        """The entry as stored in index.json (keyed by row id, so without it)."""
        data = asdict(self)
        data.pop("row_id")
        return data


def _safe_name(row_id: str) -> str:
    # Row ids are slugs already; keep the file name safe even for a hand-typed one ("..", "").
    name = "".join(c if c.isascii() and (c.isalnum() or c in "-_.") else "_" for c in row_id)
    return "_" + name[1:] if not name or name.startswith(".") else name


class CheckpointCache:
    """The checkpoint cache under $VZOO_HOME/checkpoints: content-addressed blobs, an index
    row id -> entry, per-row locks, .incomplete partial downloads and per-row extras (logs).
    """

    def __init__(self, root: Path | None = None) -> None:
        if root is None:
            root = created_home(settings.cache_home()) / "checkpoints"
        self.root = root

    # -- paths --
    @property
    def index_path(self) -> Path:
        """The index file: row id -> `CacheEntry`."""
        return self.root / "index.json"

    def blob_path(self, sha256: str) -> Path:
        """Where the checkpoint with this sha256 is stored."""
        if not is_sha256(sha256):  # the last guard: an index entry never names another path
            raise CacheIndexError(self.index_path, f"a blob name {sha256[:80]!r} is not a sha256")
        return self.root / "blobs" / sha256

    def partial_path(self, row_id: str) -> Path:
        """The row's download in progress (`.incomplete`), resumed on the next try."""
        return self.root / "partial" / f"{_safe_name(row_id)}.incomplete"

    def extras_dir(self, row_id: str) -> Path:
        """The row's extra files (a Drive folder's training logs)."""
        return self.root / "extras" / _safe_name(row_id)

    def row_lock(self, row_id: str, timeout: float = -1) -> FileLock:
        """A file lock held while the row is downloaded (`timeout` seconds, -1: wait)."""
        path = self.root / "locks" / f"{_safe_name(row_id)}.lock"
        path.parent.mkdir(parents=True, exist_ok=True)
        return FileLock(str(path), timeout=timeout)

    @contextlib.contextmanager
    def _index_lock(self) -> Iterator[None]:
        self.root.mkdir(parents=True, exist_ok=True)
        with FileLock(str(self.root / "index.json.lock")):
            yield

    def check_usable(self) -> None:
        """Before any download: an index that is not a file is bad input, named with the fix."""
        if self.index_path.exists() and not self.index_path.is_file():
            raise CacheIndexError(self.index_path, "it is not a file")

    # -- index --
    def _read_index(self, *, strict: bool = False) -> dict[str, dict[str, Any]]:
        """The index's rows. A damaged index reads as empty (a download then rewrites it and
        re-links pinned blobs); `strict` (listing, verifying) raises `CacheIndexError` instead."""
        try:
            data = json.loads(self.index_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as e:  # UnicodeDecodeError is a ValueError
            if strict:
                raise CacheIndexError(self.index_path, _first_line(e)) from None
            return {}
        rows = data.get("rows") if isinstance(data, dict) else None
        if not isinstance(rows, dict):
            if strict:
                raise CacheIndexError(self.index_path, 'expected {"version": 1, "rows": {...}}')
            return {}
        if strict:
            for row_id, raw in rows.items():
                if _parse_entry(row_id, raw) is None:
                    raise CacheIndexError(
                        self.index_path,
                        f"the entry for {row_id[:80]!r} is not a cache entry (fields, and a "
                        "sha256 of 64 hex digits)",
                    )
        return rows

    def _write_index(self, rows: dict[str, dict[str, Any]]) -> None:
        write_text_atomic(
            self.index_path,
            json.dumps({"version": 1, "rows": rows}, indent=2, sort_keys=True) + "\n",
        )

    def entries(self, *, strict: bool = False) -> list[CacheEntry]:
        """Every indexed checkpoint, by row id (`strict`: a broken index is an error, not empty)."""
        out = []
        for row_id, raw in sorted(self._read_index(strict=strict).items()):
            entry = _parse_entry(row_id, raw)
            if entry is not None:  # else written by an incompatible version (or by hand): ignored
                out.append(entry)
        return out

    def get(self, row_id: str) -> CacheEntry | None:
        """The row's entry if its blob is present."""
        entry = _parse_entry(row_id, self._read_index().get(row_id))
        if entry is None:
            return None
        return entry if self.blob_path(entry.sha256).is_file() else None

    def record(self, entry: CacheEntry) -> None:
        """Add or replace the row's entry in the index (under its lock, written atomically)."""
        with self._index_lock():
            rows = self._read_index()
            rows[entry.row_id] = entry.to_json()
            self._write_index(rows)

    def forget(self, row_id: str) -> CacheEntry | None:
        """Drop the row's entry; delete its blob unless another row still uses it."""
        with self._index_lock():
            rows = self._read_index()
            if row_id not in rows:
                return None
            raw = rows.pop(row_id)
            self._write_index(rows)
            shutil.rmtree(self.extras_dir(row_id), ignore_errors=True)
            entry = _parse_entry(row_id, raw)
            if entry is None:  # a malformed entry names no file: only the entry goes
                return None
            if not any(
                isinstance(r, dict) and r.get("sha256") == entry.sha256 for r in rows.values()
            ):
                self.blob_path(entry.sha256).unlink(missing_ok=True)
            return entry

    def drop_blob(self, sha256: str) -> None:
        """Delete a blob that is not what its name says, and every entry pointing at it."""
        with self._index_lock():
            self.blob_path(sha256).unlink(missing_ok=True)
            rows = self._read_index()
            kept = {
                k: r
                for k, r in rows.items()
                if not (isinstance(r, dict) and r.get("sha256") == sha256)
            }
            if len(kept) != len(rows):
                self._write_index(kept)

    def remove(self, row_id: str) -> tuple[CacheEntry | None, bool]:
        """Everything cached for the row: its entry (the blob goes once no row uses it) and any
        partial download. Returns the entry (None if none) and whether a partial was dropped."""
        partial = self.partial_path(row_id)
        entry = self.forget(row_id)
        dropped_partial = partial.exists()
        partial.unlink(missing_ok=True)
        partial.with_suffix(".json").unlink(missing_ok=True)
        return entry, dropped_partial

    # -- blobs --
    def adopt(self, verified: Path, sha256: str) -> Path:
        """Move an already-verified file into the blob store (atomic rename, same filesystem)."""
        blob = self.blob_path(sha256)
        blob.parent.mkdir(parents=True, exist_ok=True)
        os.replace(verified, blob)
        return blob

    def adopt_copy(self, source: Path, sha256: str) -> Path:
        """Copy a verified file living elsewhere (e.g. the Hugging Face cache) into the store."""
        blob = self.blob_path(sha256)
        if blob.is_file():
            return blob
        blob.parent.mkdir(parents=True, exist_ok=True)
        tmp = blob.with_name(f".{sha256}.{os.getpid()}.tmp")
        try:
            try:
                os.link(source, tmp)  # same filesystem: no copy needed
            except OSError:
                shutil.copyfile(source, tmp)
            os.replace(tmp, blob)
        finally:
            tmp.unlink(missing_ok=True)
        return blob


def _parse_entry(row_id: str, raw: Any) -> CacheEntry | None:
    """The entry, or None when it is not one (unknown fields, a sha256 that is not hex)."""
    if not isinstance(raw, dict):
        return None
    try:
        entry = CacheEntry(row_id=row_id, **raw)
    except TypeError:
        return None
    return entry if is_sha256(entry.sha256) else None


class CacheIndexError(UserInputError):
    """The cache index is not readable: one line naming the file and the fix."""

    def __init__(self, path: Path, why: str) -> None:
        super().__init__(
            f"{path}: the checkpoint cache index is malformed ({why}); move it aside or delete "
            "it: `vzoo download` then rebuilds it (pinned checkpoints are re-linked from the "
            "blobs, others are downloaded again)"
        )
        self.path = path


def _first_line(e: BaseException) -> str:
    lines = str(e).strip().splitlines()
    return f"{type(e).__name__}: {lines[0][:120]}" if lines else type(e).__name__


def now_iso() -> str:
    """The current UTC time as ISO 8601 (what cache entries record)."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
