"""A download in progress: the `.incomplete` file and the journal that vouches for its bytes.

The journal (`<row>.json` beside `<row>.incomplete`) records the URL, the host's validator from
the response that started the file (ETag / Last-Modified, sent back as `If-Range` on resume), the
file's length that response announced (every later 206 or 416 must agree with it), and the sha256
of the file's first `size` bytes, rewritten every few MiB and whenever a transfer
stops. A later run resumes only from bytes the journal vouches for: a partial file that was
overwritten (garbage, another version), or one without a journal, starts over. The file is
opened with `O_NOFOLLOW`: a symlink planted at its path is dropped, never written through.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
from pathlib import Path
from typing import Any, BinaryIO

from vzoo.core.files import write_text_atomic

JOURNAL_EVERY = 8 << 20  # bytes between journal updates (a kill -9 loses at most this much)


class PartialDownload:
    """A download in progress: the `.incomplete` file, hashed as it is written, and its
    journal (URL, validators, bytes hashed) so an interrupted download resumes where it stopped.
    """

    def __init__(self, path: Path, url: str) -> None:
        self.path = path
        self.url = url
        self.etag: str | None = None
        self.last_modified: str | None = None
        self.size = 0  # bytes in the file, every one of them in `_hash`
        self.total: int | None = None  # the length announced by the response that started it
        self.resumed = False  # the file holds bytes of more than one response
        self.discarded: str | None = None  # why resume() threw earlier bytes away
        self._hash = hashlib.sha256()
        self._file: BinaryIO | None = None
        self._unjournaled = 0

    @property
    def journal(self) -> Path:
        """The journal beside the partial file."""
        return self.path.with_suffix(".json")

    # -- starting --
    @classmethod
    def resume(cls, path: Path, url: str) -> PartialDownload:
        """The partial download of `url` at `path`, keeping only bytes the journal vouches for."""
        partial = cls(path, url)
        try:
            info = os.lstat(path)
        except FileNotFoundError:
            info = None
        regular = info is not None and stat.S_ISREG(info.st_mode)
        have = info.st_size if info is not None and regular else 0
        record = _read_json(partial.journal)
        size, digest, total = record.get("size"), record.get("sha256"), record.get("total")
        if info is not None and not regular:
            partial.discarded = "it is not a regular file (a symlink?)"
            partial.restart()
        elif not have:
            partial.restart()
        elif record.get("url") not in (None, url):
            partial.discarded = f"its bytes came from another URL, {record.get('url')}"
            partial.restart()
        elif not isinstance(size, int) or not isinstance(digest, str):
            partial.discarded = "no journal vouches for its bytes"
            partial.restart()
        elif not isinstance(total, int) or total < size:
            partial.discarded = "its journal records no file length to resume against"
            partial.restart()
        elif have < size:
            partial.discarded = f"{have} bytes on disk, the journal vouches for {size}"
            partial.restart()
        else:
            h = hashlib.sha256()
            with os.fdopen(os.open(path, os.O_RDWR | os.O_NOFOLLOW), "r+b") as f:
                left = size
                while left and (block := f.read(min(left, 4 << 20))):
                    h.update(block)
                    left -= len(block)
                if h.hexdigest() == digest:
                    f.truncate(size)  # bytes after the last journal entry are unverified
            if h.hexdigest() != digest:
                partial.discarded = "its bytes are not the ones downloaded (sha256 differs)"
                partial.restart()
            else:
                partial.size, partial._hash, partial.total = size, h, total
                partial.etag = record.get("etag")
                partial.last_modified = record.get("last_modified")
        return partial

    def restart(
        self, etag: str | None = None, last_modified: str | None = None, total: int | None = None
    ) -> None:
        """Drop every byte; the next one written is byte 0 of the response with these validators
        and this announced length."""
        self.close()
        self.path.unlink(missing_ok=True)  # a symlink itself, never what it points to
        self.size, self._hash, self.resumed = 0, hashlib.sha256(), False
        self.etag, self.last_modified, self.total = etag, last_modified, total
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._write_journal()

    # -- validators --
    @property
    def if_range(self) -> str | None:
        """The validator to send as `If-Range` (a strong ETag, else the Last-Modified date)."""
        if self.etag and not self.etag.startswith("W/"):
            return self.etag
        return self.last_modified

    def changed(self, etag: str | None, last_modified: str | None) -> bool:
        """Whether a response's validators say the host's file is not the one we started."""
        if self.etag and etag and etag != self.etag:
            return True
        return bool(self.last_modified and last_modified and last_modified != self.last_modified)

    # -- writing --
    def write(self, data: bytes) -> None:
        """Append bytes to the file and the running hash (journalled every JOURNAL_EVERY bytes)."""
        if self._file is None:
            flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW
            self._file = os.fdopen(os.open(self.path, flags, 0o644), "ab")
        self._file.write(data)
        self._hash.update(data)
        self.size += len(data)
        self._unjournaled += len(data)
        if self._unjournaled >= JOURNAL_EVERY:
            self.checkpoint()

    def checkpoint(self) -> None:
        """Make the bytes durable, then record their sha256 (never the other way round)."""
        if self._file is not None:
            self._file.flush()
            os.fsync(self._file.fileno())
        self._unjournaled = 0
        self._write_journal()

    def close(self) -> None:
        """Journal what was written and close the file."""
        if self._file is not None:
            self.checkpoint()
            self._file.close()
            self._file = None

    def sha256(self) -> str:
        """The sha256 of every byte written so far."""
        return self._hash.hexdigest()

    def discard(self) -> None:
        """Remove the partial file and its journal."""
        self.close()
        self.path.unlink(missing_ok=True)
        self.journal.unlink(missing_ok=True)

    def _write_journal(self) -> None:
        record = {
            "url": self.url, "etag": self.etag, "last_modified": self.last_modified,
            "size": self.size, "sha256": self._hash.hexdigest(), "total": self.total,
        }  # fmt: skip
        write_text_atomic(self.journal, json.dumps(record) + "\n")


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}
