"""The one results store: one immutable record file per run, SQLite only as a local index.

Why this layout. `VZOO_HOME` is usually a network filesystem on a cluster, shared by every node,
and SQLite's locking (WAL above all) is not safe there. So the shared truth is plain files:

    $VZOO_HOME/results/records/<shard>/<run>.json

(without `VZOO_HOME`: the user data dir, e.g. ~/.local/share/vzoo/results; never the cache dir,
where earlier versions kept it: a store found there is imported once and renamed
`results.imported`.)

One file holds one *run* — the numbers one `record()` call stores together (e.g. a row's box and
mask AP) — so a run lands whole or not at all. Each file is written once, to a temporary name in
its own directory, fsync'ed and renamed (core/files.py); a rename within a directory is atomic
on local and network filesystems, so a reader on any node sees a whole file or none, and two
nodes never write the same file (the run id is a fresh uuid4). Files are never modified; vzoo
never deletes them. A run's identity is its id, so exporting and importing merges without
duplicates. `<shard>` is two hex digits of sha256(run id), keeping directories small.

Queries go through a SQLite index kept on the *local* disk of the node, never on the shared home:
`$VZOO_INDEX_DIR`, else `<tmp>/vzoo-index-<uid>/`, one file per records directory (named by a hash
of its path). The index is a cache: before each query it lists the record files and reads only
the ones it has not seen (and forgets the ones removed), so results written by other nodes show
up at the next command. A corrupt, 0-byte or stale-schema index is deleted and rebuilt from the
record files; if no local index can be written at all, an in-memory one is used.

The former layout, one `results.sqlite` in WAL mode in the vzoo home, is imported into record
files the first time the store is opened (idempotently: its runs get ids derived from their
content) and then renamed `results.sqlite.imported`, never deleted.
"""

from __future__ import annotations

import difflib
import errno
import hashlib
import json
import math
import os
import platform
import re
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any, TypeVar

from vzoo import settings
from vzoo.core import __version__
from vzoo.core.errors import (
    StoreError,
    UnknownRowError,
    UserInputError,
    quote,
    shorten,
    warn,
)
from vzoo.core.files import created_home, open_sibling_temp, write_bytes_atomic
from vzoo.core.metrics import METRICS
from vzoo.core.registry import Registry, is_row_id

RECORD_FORMAT = "vzoo-results/1"  # the "format" field of every record file and export line
LEGACY_DB_NAME = "results.sqlite"  # the single-file store of vzoo before record files
INDEX_SCHEMA = "3"
# an imported run may be this far ahead of this machine's clock (clocks of a cluster's nodes
# differ by seconds); later than that it is a wrong clock or a forged date
FUTURE_TOLERANCE_S = 3600
# a temporary file older than this in the records directory was left by a killed writer (a
# writer takes milliseconds): the next write removes it
STALE_TEMP_S = 3600
_RUN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")  # a safe file name, never a path
_SQLITE_MAGIC = b"SQLite format 3\x00"
_FIELDS = (
    "row_id", "metric", "value", "unit", "command", "env", "convention",
    "checkpoint_sha256", "config_hash", "dataset_fingerprint",
)  # fmt: skip

_INDEX_SCHEMA_SQL = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
    run TEXT PRIMARY KEY,
    file TEXT NOT NULL UNIQUE,
    stamp TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS results (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    run TEXT NOT NULL,
    pos INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    row_id TEXT NOT NULL,
    metric TEXT NOT NULL,
    value REAL NOT NULL,
    unit TEXT NOT NULL,
    command TEXT NOT NULL,
    convention TEXT,
    checkpoint_sha256 TEXT,
    config_hash TEXT,
    dataset_fingerprint TEXT,
    env TEXT NOT NULL,
    UNIQUE (run, pos)
);
CREATE INDEX IF NOT EXISTS results_row_metric ON results (row_id, metric);
"""
_ORDER = "created_at, run, pos"  # oldest first; ties (same microsecond) broken by run id

T = TypeVar("T")


# The convention of accuracy measured from a seeded random init (`vzoo eval --random-init`): it
# proves the plumbing, not the paper, so reports never compare it with a published figure.
RANDOM_INIT = "random-init"


@dataclass(frozen=True)
class EvalResult:
    """One measured number, ready to be stored."""

    row_id: str
    metric: str
    value: float
    unit: str
    command: str
    env: dict[str, Any] = field(default_factory=dict)
    convention: str | None = None  # e.g. "macs@3x1280x800" for FLOPs, "ss" / "ms" for mIoU
    checkpoint_sha256: str | None = None
    config_hash: str | None = None
    dataset_fingerprint: str | None = None


@dataclass(frozen=True)
class StoredResult(EvalResult):
    id: int = 0  # position in this machine's index: ordered, but not the same on other machines
    created_at: str = ""
    run: str = ""  # the run's id: the same everywhere, shared by the records stored together


@dataclass(frozen=True)
class Run:
    """The records one `record()` call stored together: the content of one record file."""

    run: str
    created_at: str
    records: tuple[EvalResult, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "format": RECORD_FORMAT,
            "run": self.run,
            "created_at": self.created_at,
            "records": [{k: getattr(r, k) for k in _FIELDS} for r in self.records],
        }

    def to_bytes(self) -> bytes:
        """One line of JSON (a record file is also a valid one-run export file)."""
        text = json.dumps(self.to_json(), sort_keys=True, allow_nan=False, separators=(",", ":"))
        return (text + "\n").encode("utf-8")

    @classmethod
    def from_json(cls, doc: Any) -> Run:
        """Validate a parsed record; ValueError says what is wrong (values quoted short, with
        control characters escaped: a record is anyone's file)."""
        try:
            return cls._from_json(doc)
        except OverflowError as e:  # an integer of 400 digits is not a measured number
            raise ValueError(f"a number out of range ({e})") from None

    @classmethod
    def _from_json(cls, doc: Any) -> Run:
        if not isinstance(doc, dict):
            raise ValueError("not a JSON object")
        if doc.get("format") != RECORD_FORMAT:
            raise ValueError(f"format is {quote(doc.get('format'))}, expected {RECORD_FORMAT!r}")
        run, created, records = doc.get("run"), doc.get("created_at"), doc.get("records")
        if not isinstance(run, str) or not _RUN_ID.fullmatch(run):
            raise ValueError(f"bad run id {quote(run)}")
        if not isinstance(created, str):
            raise ValueError("created_at missing")
        try:
            created = _normalise_time(created)
        except (ValueError, OverflowError) as e:
            raise ValueError(f"bad created_at {quote(created)}") from e
        if not isinstance(records, list) or not records:
            raise ValueError("no records")
        out = []
        for i, rec in enumerate(records):
            if not isinstance(rec, dict):
                raise ValueError(f"record {i} is not an object")
            for key in ("row_id", "metric", "unit", "command"):
                if not isinstance(rec.get(key), str):
                    raise ValueError(f"record {i}: {key} missing")
            if not is_row_id(rec["row_id"]):
                raise ValueError(f"record {i}: row id {quote(rec['row_id'])} is not a registry id")
            value = rec.get("value")
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ValueError(f"record {i}: value {quote(value)} is not a number")
            if not math.isfinite(value):
                raise ValueError(f"record {i}: value {quote(value)} is not finite")
            if not isinstance(rec.get("env", {}), dict):
                raise ValueError(f"record {i}: env is not an object")
            optional = {}
            for key in ("convention", "checkpoint_sha256", "config_hash", "dataset_fingerprint"):
                v = rec.get(key)
                if v is not None and not isinstance(v, str):
                    raise ValueError(f"record {i}: {key} is not a string")
                optional[key] = v
            out.append(
                EvalResult(
                    row_id=rec["row_id"],
                    metric=rec["metric"],
                    value=float(value),
                    unit=rec["unit"],
                    command=rec["command"],
                    env=rec.get("env", {}),
                    **optional,
                )
            )
        return cls(run, created, tuple(out))


@dataclass
class ImportReport:
    """What `ResultStore.import_from` did."""

    added_runs: int = 0
    added_records: int = 0
    present_runs: int = 0  # already in the store, identical: skipped
    conflicts: list[str] = field(default_factory=list)  # same run id, other content: kept ours


def environment_fingerprint(device: str | None = None) -> dict[str, Any]:
    """Versions and hardware a number was measured with (no heavy imports)."""
    env: dict[str, Any] = {
        "vzoo": __version__,
        "vzoo_git": _git_sha(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "device": device or "cpu",
    }
    for dist in ("torch", "mmdet", "mmcv", "mmengine", "mmsegmentation", "fvcore"):
        try:
            env[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            env[dist] = None
    return env


def environment_key(env: dict[str, Any]) -> str:
    """What must match for a stored result to count as 'already measured here'."""
    keys = ("vzoo", "torch", "mmdet", "mmcv", "device")
    return json.dumps({k: env.get(k) for k in keys}, sort_keys=True)


def _git_sha() -> str | None:
    root = settings.package_root()
    if not (root / ".git").exists():
        return None
    try:
        out = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "--short=12", "HEAD"],
            capture_output=True, text=True, timeout=5, check=False,
        )  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def default_store_path() -> Path:
    """The store's directory in the data home (record files under `records/`): `$VZOO_HOME`, else
    the user data dir, never a cache folder (clearing caches must not delete measurements)."""
    return created_home(settings.data_home()) / "results"


def default_index_dir() -> Path:
    """Where local indexes live: `$VZOO_INDEX_DIR`, else a per-user folder in the local tmp."""
    configured = settings.index_dir()
    if configured is not None:
        return configured
    uid = os.getuid() if hasattr(os, "getuid") else os.environ.get("USERNAME", "user")
    return Path(tempfile.gettempdir()) / f"vzoo-index-{uid}"


# -- time and ids -------------------------------------------------------------------------------

_clock_lock = threading.Lock()
_last_us = 0


def _now_iso() -> str:
    """UTC time in microseconds, strictly increasing within this process (orders its runs)."""
    global _last_us
    with _clock_lock:
        us = max(time.time_ns() // 1000, _last_us + 1)
        _last_us = us
    return _format_us(us)


def _format_us(us: int) -> str:
    dt = datetime.fromtimestamp(us // 1_000_000, timezone.utc).replace(microsecond=us % 1_000_000)
    return dt.isoformat(timespec="microseconds")


def _normalise_time(text: str) -> str:
    """Any ISO time as UTC with microseconds, so that times sort as strings."""
    dt = datetime.fromisoformat(text)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return dt.astimezone(timezone.utc).isoformat(timespec="microseconds")


def _shard(run_id: str) -> str:
    return hashlib.sha256(run_id.encode()).hexdigest()[:2]


def _check_record(r: EvalResult) -> None:
    if not is_row_id(r.row_id):
        raise ValueError(f"row id {quote(r.row_id)} is not a registry id")
    if r.metric not in METRICS:
        raise ValueError(f"{r.row_id}: unknown metric {r.metric!r}")
    if not math.isfinite(float(r.value)):
        raise ValueError(f"{r.row_id}: {r.metric} = {r.value!r} is not a finite number")


def _index_is_unusable(e: sqlite3.Error) -> bool:
    """Corrupt, not a database, unwritable or full: the index (a cache) must be rebuilt elsewhere.
    A busy database is not one of these: that is waited for (busy_timeout) or raised."""
    code = getattr(e, "sqlite_errorcode", None)
    if code is not None:  # SQLITE_CORRUPT, NOTADB, CANTOPEN, READONLY, FULL, IOERR (primary codes)
        return code & 0xFF in (11, 26, 14, 8, 13, 10)
    text = str(e).lower()
    return not isinstance(e, sqlite3.OperationalError) or any(
        s in text for s in ("malformed", "not a database", "unable to open", "readonly", "full")
    )


class ResultStore:
    """Append-only store; the latest record per (row, metric) is the 'measured' value.

    `path` is the store's directory (default `default_store_path()`); `index_dir` where this node
    keeps its local index (default `default_index_dir()`).
    """

    def __init__(self, path: str | Path | None = None, *, index_dir: str | Path | None = None):
        self.path = Path(path) if path is not None else default_store_path()
        if self.path.is_file():
            raise StoreError(
                f"{self.path} is a file, not a results store directory"
                + (
                    f" (a results database of the old single-file layout: import it with "
                    f"`vzoo results import {self.path}`)"
                    if _is_sqlite_file(self.path)
                    else ""
                )
            )
        self.records_dir = self.path / "records"
        key = hashlib.sha256(str(self.records_dir.resolve()).encode()).hexdigest()[:20]
        self.index_path = Path(index_dir or default_index_dir()) / f"results-{key}.sqlite"
        self._memory: sqlite3.Connection | None = None  # the fallback when no index file works
        # record files found damaged in this process: file -> (stamp, reason); read again only
        # when they change, and warned about once
        self._skipped: dict[str, tuple[str, str]] = {}
        self._temps_cleaned = False
        if path is None:
            for former in settings.former_data_homes():
                self._adopt_former_home(former)
            legacy = self.path.parent / LEGACY_DB_NAME
            if legacy.is_file():
                self._migrate(legacy)

    # -- writing --------------------------------------------------------------------------------

    def record(self, results: Iterable[EvalResult]) -> list[int]:
        """Store all `results` as one run (one record file: all or nothing); returns their ids."""
        rows = list(results)
        for r in rows:  # a bad number must not reach the store
            _check_record(r)
        if not rows:
            return []
        run = Run(uuid.uuid4().hex, _now_iso(), tuple(rows))
        data = run.to_bytes()  # TypeError here (e.g. an env that is not JSON) writes nothing
        rel = self._write_run(run, data)
        # Its own run only: indexing other processes' new files is the next query's job, so a
        # record costs the same in a store of ten runs or of a hundred thousand.
        return self._with_index(lambda con: self._insert_runs(con, [(rel, run)]), sync=False)

    def _write_run(self, run: Run, data: bytes) -> str:
        rel = f"{_shard(run.run)}/{run.run}.json"
        target = self.records_dir / rel
        try:
            write_bytes_atomic(target, data)
            _fsync_dir(target.parent)
            if not self._temps_cleaned:
                self._temps_cleaned = True
                _remove_stale_temps(self.records_dir)
        except OSError as e:
            values = ", ".join(f"{r.row_id} {r.metric}={r.value:g}" for r in run.records)
            raise StoreError(
                f"cannot write the result record {target}: {_os_reason(e)}; "
                f"{_write_hint(e, self.path)}. Nothing already stored was lost or changed; "
                f"this run's numbers were not recorded: {values}"
            ) from e
        return rel

    def check_writable(self) -> None:
        """Fail now, naming the path, if no record could be written: before hours of work."""
        try:
            self.records_dir.mkdir(parents=True, exist_ok=True)
            fd, tmp = open_sibling_temp(self.records_dir / "write-check")
            os.close(fd)
            tmp.unlink()
        except OSError as e:
            raise StoreError(
                f"cannot write results to {self.records_dir}: {_os_reason(e)}; "
                f"{_write_hint(e, self.path)}. Nothing was run; nothing already stored changed"
            ) from e

    def import_from(self, source: str | Path) -> ImportReport:
        """Merge runs from an export file (JSON lines), a record file, a directory of record files
        (another store or vzoo home) or an old-layout `results.sqlite`. Runs already here are
        skipped, so importing twice changes nothing."""
        src = Path(source)
        runs = list(_read_source(src))
        report = ImportReport()
        fresh: list[tuple[str, Run]] = []
        seen: set[str] = set()
        for run in runs:
            if run.run in seen:
                continue
            seen.add(run.run)
            rel = f"{_shard(run.run)}/{run.run}.json"
            target = self.records_dir / rel
            if target.exists():
                mine = self._read_run_file(target)
                if mine == run:
                    report.present_runs += 1
                else:
                    report.conflicts.append(run.run)
                continue
            self._write_run(run, run.to_bytes())
            fresh.append((rel, run))
            report.added_runs += 1
            report.added_records += len(run.records)
        if fresh:
            self._with_index(lambda con: self._insert_runs(con, fresh), sync=False)
        return report

    def export(self, dest: str | Path, row_ids: Iterable[str] | None = None) -> int:
        """Write every run (or those touching `row_ids`) as JSON lines, atomically; the count."""
        wanted = set(row_ids) if row_ids is not None else None
        runs = [r for r in self.runs() if wanted is None or any(x.row_id in wanted
                                                                 for x in r.records)]  # fmt: skip
        dest = Path(dest)
        try:
            write_bytes_atomic(dest, b"".join(r.to_bytes() for r in runs))
        except OSError as e:
            raise StoreError(f"cannot write {dest}: {_os_reason(e)}; choose another --out") from e
        return len(runs)

    def _adopt_former_home(self, former: Path) -> None:
        """Bring the results an earlier vzoo kept in `former` (the cache dir) into this store,
        once: record files are imported (copied), then the old folder is renamed
        `results.imported`, never deleted; an old `results.sqlite` there is imported as well."""
        old = former / "results"
        if old.is_dir() and old.resolve() != self.path.resolve():
            if any(p for p in old.rglob("*.json") if not p.name.startswith(".")):
                try:
                    self.import_from(old)
                except StoreError as e:
                    raise StoreError(
                        f"cannot move the results kept in {old} (where earlier vzoo versions "
                        f"kept them) to {self.path}: {e}. Nothing was lost: the old folder is "
                        f"untouched; fix it or import it yourself (`vzoo results import {old}`)"
                    ) from e
            self._set_aside(old)
        legacy = former / LEGACY_DB_NAME
        if legacy.is_file() and legacy.parent.resolve() != self.path.parent.resolve():
            self._migrate(legacy)

    def _migrate(self, legacy: Path) -> None:
        """Import the old single-file database once, then rename it (kept, never deleted)."""
        try:
            self.import_from(legacy)
        except StoreError:
            if not legacy.exists():  # another process migrated (and renamed) it meanwhile
                return
            raise
        self._set_aside(legacy)

    def _set_aside(self, imported: Path) -> None:
        """Rename what was just imported to `<name>.imported`: kept, never deleted, not again."""
        done = imported.with_name(imported.name + ".imported")
        try:
            os.replace(imported, done)
        except FileNotFoundError:  # another process migrated it at the same moment
            pass
        except OSError as e:
            raise StoreError(
                f"imported {imported} into {self.records_dir} but cannot rename it to "
                f"{done.name}: {_os_reason(e)}; rename or move it yourself (its results are all "
                f"in the store)"
            ) from e

    # -- reading --------------------------------------------------------------------------------

    def query(self, row_id: str | None = None, metric: str | None = None) -> list[StoredResult]:
        """All records (oldest first), optionally for one row and/or metric."""
        sql = "SELECT * FROM results"
        where, args = [], []
        if row_id is not None:
            where.append("row_id = ?")
            args.append(row_id)
        if metric is not None:
            where.append("metric = ?")
            args.append(metric)
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += f" ORDER BY {_ORDER}"
        return self._with_index(lambda con: [_to_stored(r) for r in con.execute(sql, args)])

    def row_ids(self) -> set[str]:
        """Every row id with a record in the store."""
        return self._with_index(
            lambda con: {r for (r,) in con.execute("SELECT DISTINCT row_id FROM results")}
        )

    def latest(self) -> dict[tuple[str, str], StoredResult]:
        """The newest record for every (row id, metric)."""
        sql = (
            "SELECT * FROM (SELECT *, ROW_NUMBER() OVER (PARTITION BY row_id, metric"
            " ORDER BY created_at DESC, run DESC, pos DESC) AS newest FROM results)"
            " WHERE newest = 1"
        )
        return self._with_index(
            lambda con: {(r["row_id"], r["metric"]): _to_stored(r) for r in con.execute(sql)}
        )

    def runs(self) -> list[Run]:
        """Every run, oldest first, as stored in the record files."""
        by_run: dict[str, list[StoredResult]] = {}
        for r in self.query():
            by_run.setdefault(r.run, []).append(r)
        return [
            Run(run, recs[0].created_at, tuple(_plain(r) for r in recs))
            for run, recs in by_run.items()
        ]

    def find_measured(
        self,
        row_id: str,
        metrics: Iterable[str],
        *,
        checkpoint_sha256: str | None,
        config_hash: str | None,
        env_key: str,
    ) -> bool:
        """True if every metric of `row_id` was measured with this checkpoint, config and env.

        Asking about no metric at all answers False: nothing known is nothing measured.
        """
        metrics = list(metrics)
        if not metrics:
            return False
        measured = {
            r.metric
            for r in self.query(row_id)
            if r.checkpoint_sha256 == checkpoint_sha256
            and r.config_hash == config_hash
            and environment_key(r.env) == env_key
        }
        return all(m in measured for m in metrics)

    def rebuild_index(self) -> None:
        """Forget the local index; the next query reads every record file again."""
        self._discard_index()

    # -- the local index ------------------------------------------------------------------------

    def _with_index(self, fn: Callable[[sqlite3.Connection], T], *, sync: bool = True) -> T:
        """Sync the index with the record files (unless `sync` is False: a writer adding its own
        runs), then run `fn` on it. An unusable index (corrupt, 0-byte garbage, unwritable, full)
        is a cache: it is rebuilt once, in memory if need be."""
        for attempt in range(3):
            con = self._connect()
            try:
                if sync:
                    self._sync(con)
                return fn(con)
            except sqlite3.Error as e:
                if attempt == 2 or not _index_is_unusable(e):
                    raise StoreError(
                        f"the local results index {self.index_path} failed: {e}; delete it "
                        f"(it is rebuilt from {self.records_dir}, nothing is lost) or set "
                        f"VZOO_INDEX_DIR to a local writable directory"
                    ) from e
                if attempt == 0:
                    self._discard_index()  # rebuilt in place from the record files
                else:  # failing again (a full or broken local disk): keep it in memory
                    if self._memory is not None:
                        self._memory.close()
                    self._memory = self._new_memory_index()
            finally:
                if con is not self._memory:
                    con.close()
        raise AssertionError("unreachable")

    def _connect(self) -> sqlite3.Connection:
        if self._memory is None:
            try:
                self.index_path.parent.mkdir(parents=True, exist_ok=True)
                con = sqlite3.connect(self.index_path, timeout=60, isolation_level=None)
            except (OSError, sqlite3.Error):
                self._memory = self._new_memory_index()
            else:
                try:
                    con.execute("PRAGMA busy_timeout=60000")
                    con.execute("PRAGMA journal_mode=WAL")  # a local file: WAL is safe here
                    self._ensure_schema(con)
                    con.row_factory = sqlite3.Row
                    return con
                except sqlite3.Error as e:
                    con.close()
                    if not _index_is_unusable(e):
                        raise
                    self._discard_index()
                    if self._memory is None:
                        return self._connect()
        assert self._memory is not None
        return self._memory

    def _new_memory_index(self) -> sqlite3.Connection:
        con = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
        self._ensure_schema(con)
        con.row_factory = sqlite3.Row
        return con

    def _ensure_schema(self, con: sqlite3.Connection) -> None:
        con.executescript(_INDEX_SCHEMA_SQL)
        meta = dict(con.execute("SELECT key, value FROM meta").fetchall())
        want = {"schema": INDEX_SCHEMA, "records_dir": str(self.records_dir.resolve())}
        if meta == want:
            return
        con.execute("BEGIN IMMEDIATE")
        try:  # another vzoo version or another records dir wrote it: start over
            if dict(con.execute("SELECT key, value FROM meta").fetchall()) != want:
                # dropped, not emptied: an older schema's tables lack today's columns
                con.execute("DROP TABLE results")
                con.execute("DROP TABLE runs")
                con.execute("DELETE FROM meta")
                for statement in _INDEX_SCHEMA_SQL.split(";"):
                    if statement.strip():
                        con.execute(statement)
                con.executemany("INSERT INTO meta VALUES (?, ?)", sorted(want.items()))
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise

    def _discard_index(self) -> None:
        if self._memory is not None:
            self._memory.close()
            self._memory = self._new_memory_index()
            return
        try:
            for suffix in ("", "-wal", "-shm"):
                Path(str(self.index_path) + suffix).unlink(missing_ok=True)
        except OSError:
            self._memory = self._new_memory_index()

    def _sync(self, con: sqlite3.Connection) -> None:
        """Bring the index up to the record files: read new files, forget removed ones, read
        again the ones changed since indexed (size or mtime: a hand edit is seen by every node).
        A file that cannot be read as a record is left out and named in one warning."""
        # The index is read before the directory is listed: a file the index knows was on disk
        # when it was indexed, so missing from a later listing means removed. (Listing first
        # raced with other processes indexing files written after the listing: "gone".)
        known = dict(con.execute("SELECT file, stamp FROM runs").fetchall())
        on_disk = self._list_record_files()
        changed = {f for f, stamp in on_disk.items() if f in known and known[f] != stamp}
        new = sorted(
            f
            for f in on_disk
            if (f not in known or f in changed) and self._skipped.get(f, (None,))[0] != on_disk[f]
        )
        gone = sorted((set(known) - set(on_disk)) | changed)
        if not new and not gone:
            return
        runs: list[tuple[str, Run]] = []
        damaged: list[str] = []
        for rel in new:
            try:
                runs.append((rel, self._load_run_file(self.records_dir / rel)))
            except DamagedRecordError as e:
                self._skipped[rel] = (on_disk[rel], str(e))
                damaged.append(rel)
        runs.sort(key=lambda x: (x[1].created_at, x[1].run))
        self._insert_runs(con, runs, gone, stamps=on_disk)
        if damaged:
            self._warn_skipped(damaged)

    def _warn_skipped(self, files: list[str]) -> None:
        """One line for every unreadable record file this query met (the rest is intact)."""
        shown = "; ".join(f"{self.records_dir / f} ({self._skipped[f][1]})" for f in files[:3])
        more = f"; and {len(files) - 3} more" if len(files) > 3 else ""
        warn(
            f"skipped {len(files)} damaged result record file(s): {shown}{more}. Every other "
            f"result is intact; move the file(s) out of {self.records_dir} (or restore them, "
            f"or re-import with `vzoo results import`)"
        )

    def _insert_runs(
        self,
        con: sqlite3.Connection,
        runs: list[tuple[str, Run]],
        gone: Iterable[str] = (),
        stamps: dict[str, str] | None = None,
    ) -> list[int]:
        """One transaction: each run's records get adjacent ids. Returns the ids of `runs`."""
        ids: list[int] = []
        con.execute("BEGIN IMMEDIATE")
        try:
            for rel in gone:
                found = con.execute("SELECT run FROM runs WHERE file = ?", (rel,)).fetchone()
                if found is None:  # another process forgot it first
                    continue
                (run,) = found
                con.execute("DELETE FROM results WHERE run = ?", (run,))
                con.execute("DELETE FROM runs WHERE run = ?", (run,))
            for rel, run in runs:
                stamp = (stamps or {}).get(rel) or self._stamp(rel)
                cur = con.execute(
                    "INSERT OR IGNORE INTO runs (run, file, stamp, created_at) VALUES (?, ?, ?, ?)",
                    (run.run, rel, stamp, run.created_at),
                )
                if cur.rowcount:  # another process may have indexed it a moment ago
                    con.executemany(
                        "INSERT INTO results (run, pos, created_at, row_id, metric, value, unit,"
                        " command, convention, checkpoint_sha256, config_hash,"
                        " dataset_fingerprint, env) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                        [
                            (
                                run.run,
                                pos,
                                run.created_at,
                                r.row_id,
                                r.metric,
                                float(r.value),
                                r.unit,
                                r.command,
                                r.convention,
                                r.checkpoint_sha256,
                                r.config_hash,
                                r.dataset_fingerprint,
                                json.dumps(r.env, sort_keys=True),
                            )
                            for pos, r in enumerate(run.records)
                        ],
                    )
                ids += [
                    i
                    for (i,) in con.execute(
                        "SELECT id FROM results WHERE run = ? ORDER BY pos", (run.run,)
                    )
                ]
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
        return ids

    def _stamp(self, rel: str) -> str:
        """What says a record file changed: its size and modification time."""
        try:
            st = os.stat(self.records_dir / rel)
        except OSError:
            return ""
        return f"{st.st_size}:{st.st_mtime_ns}"

    def _list_record_files(self) -> dict[str, str]:
        """`shard/run.json` -> stamp (size:mtime) of every record file (temporary `.` files are
        not records). Names, not Paths: every query lists the whole store, and 5,000 Path objects
        took 0.2 s."""
        out: dict[str, str] = {}
        try:
            shards = [e for e in os.scandir(self.records_dir) if e.is_dir()]
        except FileNotFoundError:
            return out
        except OSError as e:
            raise StoreError(
                f"cannot read the results store {self.records_dir}: {_os_reason(e)}"
            ) from e
        for shard in shards:
            try:
                entries = list(os.scandir(shard.path))
            except OSError as e:
                raise StoreError(f"cannot read {shard.path}: {_os_reason(e)}") from e
            for entry in entries:
                name = entry.name
                if name.endswith(".json") and not name.startswith("."):
                    try:
                        st = entry.stat()
                    except FileNotFoundError:  # removed since listed
                        continue
                    out[f"{shard.name}/{name}"] = f"{st.st_size}:{st.st_mtime_ns}"
        return out

    def _load_run_file(self, path: Path) -> Run:
        """The run in a record file; DamagedRecordError says why it is not one."""
        try:
            data = path.read_bytes()
        except OSError as e:
            if e.errno in (errno.EISDIR, errno.ENOENT):
                raise DamagedRecordError(_os_reason(e)) from e
            raise StoreError(f"cannot read the result record {path}: {_os_reason(e)}") from e
        try:
            if not data:
                raise ValueError("the file is empty (0 bytes)")
            run = Run.from_json(json.loads(data))
            if path.name != f"{run.run}.json":
                raise ValueError(f"it holds run {quote(run.run)}, not {quote(path.stem)}")
        except (ValueError, UnicodeDecodeError, RecursionError) as e:  # json errors: ValueError
            reason = "nested too deeply" if isinstance(e, RecursionError) else str(e)
            raise DamagedRecordError(reason) from None
        return run

    def _read_run_file(self, path: Path) -> Run:
        try:
            return self._load_run_file(path)
        except DamagedRecordError as e:
            raise StoreError(
                f"the result record {path} is damaged ({e}): vzoo writes records whole, so it "
                f"was changed or copied in part; move it out of {self.records_dir} (restore it "
                f"from its source, or re-import with `vzoo results import`). Every other result "
                f"is intact."
            ) from e


class DamagedRecordError(ValueError):
    """A file in the records directory that is not a readable record (the reason, briefly)."""


def check_query_filters(
    metric: str | None, rows: Iterable[str], registry: Registry, stored_rows: Iterable[str]
) -> None:
    """`results list --metric M --row R`: an unknown metric, or a row id neither in the registry
    nor in the store, is a typo (exit 2 with the closest names), not an empty answer."""
    if metric is not None and metric not in METRICS:
        close = difflib.get_close_matches(metric, list(METRICS), n=3, cutoff=0.5)
        hint = f"did you mean: {', '.join(close)}? " if close else ""
        raise UserInputError(f"unknown metric {quote(metric)}; {hint}(known: {', '.join(METRICS)})")
    stored = set(stored_rows)
    for row_id in rows:
        if row_id not in registry and row_id not in stored:
            close = difflib.get_close_matches(row_id, sorted(stored | set(registry.ids)), n=3)
            raise UnknownRowError(shorten(row_id), close)


def _is_sqlite_file(path: Path) -> bool:
    try:
        with open(path, "rb") as f:
            return f.read(16) == _SQLITE_MAGIC
    except OSError:
        return False


def _read_source(src: Path) -> Iterator[Run]:
    """Runs from an export file, record file, directory of record files or old results.sqlite."""
    if src.is_dir():
        files = _record_files_in(src)
        if not files:
            raise StoreError(
                f"{src} holds no result records (a vzoo home, its results/ directory, or "
                f"records/<shard>/<run>.json files)"
            )
        for p in files:
            yield from _read_export(p)
        return
    if not src.exists():
        raise StoreError(f"{src} not found")
    if _is_sqlite_file(src) or src.suffix in (".sqlite", ".db"):
        yield from _read_legacy(src)
        return
    yield from _read_export(src)


_SHARD_RE = re.compile(r"[0-9a-f]{2}")


def _record_files_in(src: Path) -> list[Path]:
    """The record files of a vzoo home, a results store or a records directory, and nothing
    else there (a home also holds checkpoints/index.json and the like: not records)."""
    records = next((d for d in (src / "results" / "records", src / "records") if d.is_dir()), src)
    return sorted(
        p
        for shard in records.iterdir()
        if shard.is_dir() and _SHARD_RE.fullmatch(shard.name)
        for p in shard.glob("*.json")
        if not p.name.startswith(".") and _RUN_ID.fullmatch(p.stem) and p.is_file()
    )


def _read_export(path: Path) -> Iterator[Run]:
    try:
        data = path.read_bytes()
    except OSError as e:
        raise StoreError(f"cannot read {path}: {_os_reason(e)}") from e
    if not data.strip():
        raise StoreError(f"{path} is empty ({len(data)} bytes): it holds no results; nothing "
                         f"was imported")  # fmt: skip
    latest = _format_us(time.time_ns() // 1000 + FUTURE_TOLERANCE_S * 1_000_000)
    for n, line in enumerate(data.splitlines(), 1):
        if not line.strip():
            continue
        try:
            run = Run.from_json(json.loads(line))
        except (ValueError, UnicodeDecodeError, RecursionError) as e:
            reason = "nested too deeply" if isinstance(e, RecursionError) else str(e)
            raise StoreError(
                f"{path}, line {n}: not a vzoo result record ({reason}); nothing was imported "
                f"from it (expected the JSON lines `vzoo results export` writes)"
            ) from None
        if run.created_at > latest:
            # it would be the "latest" measurement of its rows until that date
            raise StoreError(
                f"{path}, line {n}: run {run.run} is dated {run.created_at}, in the future (now "
                f"{_now_iso()}): the clock where it was measured was wrong; nothing was "
                f"imported from it"
            )
        yield run


def _read_legacy(path: Path) -> Iterator[Run]:
    """The rows of an old single-file store, grouped into runs as they were written (one
    transaction: same time, command and environment, consecutive ids). Each run's id is derived
    from its content, so importing the same database twice adds nothing."""
    try:
        size = path.stat().st_size
    except OSError as e:
        raise StoreError(f"cannot read {path}: {_os_reason(e)}") from e
    if size == 0:
        raise StoreError(
            f"{path} is empty (0 bytes): this results database was truncated (a full disk or an "
            f"interrupted copy) and holds no results. Restore it from a backup, or delete it to "
            f"carry on; nothing else in the store was touched"
        )
    try:
        # Read-write, so that closing folds a leftover -wal file into the database before it is
        # renamed (SQLite falls back to read-only where it cannot write); "rw", not the default
        # "rwc": never create an empty database where the file just vanished (renamed by a
        # concurrent migration).
        con = sqlite3.connect(f"file:{urllib.parse.quote(str(path))}?mode=rw", uri=True, timeout=60)
        try:
            con.row_factory = sqlite3.Row
            rows = list(con.execute("SELECT * FROM results ORDER BY id"))
        finally:
            con.close()
    except sqlite3.Error as e:
        if "readonly" in str(e).lower() or "unable to open" in str(e).lower():
            hint = "check its permissions (and those of its -wal/-shm files and directory)"
        else:
            hint = "restore it from a backup, or move it away to carry on"
        raise StoreError(
            f"{path} is not a readable results database ({e}); {hint}. Nothing was imported from "
            f"it and nothing in the store was changed"
        ) from e
    group: list[sqlite3.Row] = []
    for row in rows:
        if group and _legacy_key(group[-1]) != _legacy_key(row):
            yield _legacy_run(group)
            group = []
        group.append(row)
    if group:
        yield _legacy_run(group)


def _legacy_key(r: sqlite3.Row) -> tuple[Any, ...]:
    return (r["created_at"], r["command"], r["env"])


def _legacy_run(rows: list[sqlite3.Row]) -> Run:
    records = tuple(EvalResult(**_record_fields(r)) for r in rows)
    created = _normalise_time(rows[0]["created_at"])
    content = json.dumps(
        [created, [{k: getattr(r, k) for k in _FIELDS} for r in records]], sort_keys=True
    )
    digest = hashlib.sha256(content.encode()).hexdigest()[:16]
    return Run(f"legacy-{rows[0]['id']:09d}-{digest}", created, records)


def _record_fields(r: sqlite3.Row) -> dict[str, Any]:
    """An `EvalResult`'s fields from a row of the index or of an old-layout database (same
    column names; env is stored as JSON text)."""
    fields = {k: r[k] for k in _FIELDS}
    fields["value"] = float(fields["value"])
    fields["env"] = json.loads(fields["env"])
    return fields


def _to_stored(r: sqlite3.Row) -> StoredResult:
    return StoredResult(id=r["id"], created_at=r["created_at"], run=r["run"], **_record_fields(r))


def _plain(r: StoredResult) -> EvalResult:
    return EvalResult(**{k: getattr(r, k) for k in _FIELDS})


def _remove_stale_temps(records_dir: Path) -> None:
    """Remove the temporary files killed writers left (`.<name>.<hex>.tmp`, see core/files.py)
    once they are older than STALE_TEMP_S: a writer at work now is never touched. Best effort."""
    cutoff = time.time() - STALE_TEMP_S
    try:
        shards = [e.path for e in os.scandir(records_dir) if e.is_dir(follow_symlinks=False)]
    except OSError:
        return
    for directory in (str(records_dir), *shards):
        try:
            entries = list(os.scandir(directory))
        except OSError:
            continue
        for entry in entries:
            if not (entry.name.startswith(".") and entry.name.endswith(".tmp")):
                continue
            try:
                if (
                    entry.is_file(follow_symlinks=False)
                    and entry.stat(follow_symlinks=False).st_mtime < cutoff
                ):
                    os.unlink(entry.path)
            except OSError:
                pass


def _fsync_dir(path: Path) -> None:
    """Make the rename durable (a crash right after must not lose the record). Best effort:
    some filesystems refuse to open or fsync a directory."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _os_reason(e: OSError) -> str:
    return e.strerror or str(e)


def _write_hint(e: OSError, store_dir: Path) -> str:
    if e.errno in (errno.ENOSPC, errno.EDQUOT):
        return f"free some space (or quota) on the filesystem of {store_dir}"
    if e.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return f"make {store_dir} writable, or set VZOO_HOME to a writable directory"
    return f"check {store_dir}, or set VZOO_HOME to another directory"


def command_line() -> str:
    """The command being run, for the record."""
    return " ".join([os.path.basename(sys.argv[0]), *sys.argv[1:]])


def protocol_label(p: dict[str, Any]) -> str:
    """One line naming a protocol (from its stored dict), e.g. for a report's column."""
    flags = [f for f, on in (("compiled", p.get("compile")), ("channels-last",
             p.get("channels_last"))) if on]  # fmt: skip
    parts = [
        f"{p.get('device')} ({p.get('device_name')})",
        f"{p.get('part')}",
        f"bs {p.get('batch_size')}",
        f"{p.get('input')}",
        f"{p.get('precision')}",
        f"{p.get('threads')} threads",
        *flags,
        f"{p.get('warmup')}+{p.get('iters')} passes",
        f"scan {p.get('scan_backend')}",
        *(
            [f"OMP_WAIT_POLICY={p['omp_wait_policy']}"]
            if p.get("omp_wait_policy") not in (None, "default")
            else []
        ),
        f"torch {p.get('torch')}" + (f", CUDA {p['cuda']}" if p.get("cuda") else ""),
    ]
    return ", ".join(parts)
