"""The one results store: measured numbers in SQLite (stdlib) under the vzoo home.

Each record carries the environment fingerprint it was measured in. Writes are transactions
(all records of one run land together or not at all) and safe across concurrent processes.
"""

from __future__ import annotations

import json
import math
import os
import platform
import sqlite3
import subprocess
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

from vzoo import __version__
from vzoo.core.metrics import METRICS
from vzoo.core.paths import package_root, vzoo_home

_SCHEMA = """
CREATE TABLE IF NOT EXISTS results (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    row_id TEXT NOT NULL,
    metric TEXT NOT NULL,
    value REAL NOT NULL,
    unit TEXT NOT NULL,
    created_at TEXT NOT NULL,
    command TEXT NOT NULL,
    convention TEXT,
    checkpoint_sha256 TEXT,
    config_hash TEXT,
    dataset_fingerprint TEXT,
    env TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS results_row_metric ON results (row_id, metric, id);
"""


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
    id: int = 0
    created_at: str = ""


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
    root = package_root()
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
    return vzoo_home() / "results.sqlite"


class ResultStore:
    """Append-only store; the latest record per (row, metric) is the 'measured' value."""

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path is not None else default_store_path()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as con:
            con.executescript(_SCHEMA)

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        con = sqlite3.connect(self.path, timeout=60, isolation_level=None)
        try:
            con.execute("PRAGMA journal_mode=WAL")
            con.execute("PRAGMA busy_timeout=60000")
            yield con
        finally:
            con.close()

    def record(self, results: Iterable[EvalResult]) -> list[int]:
        """Store all `results` in one transaction; returns their ids."""
        now = datetime.now(timezone.utc).isoformat(timespec="seconds")
        rows = list(results)
        for r in rows:  # a bad number must not reach the store (SQLite would keep NaN as NULL)
            if r.metric not in METRICS:
                raise ValueError(f"{r.row_id}: unknown metric {r.metric!r}")
            if not math.isfinite(float(r.value)):
                raise ValueError(f"{r.row_id}: {r.metric} = {r.value!r} is not a finite number")
        ids: list[int] = []
        with self._connect() as con:
            con.execute("BEGIN IMMEDIATE")
            try:
                for r in rows:
                    cur = con.execute(
                        "INSERT INTO results (row_id, metric, value, unit, created_at, command,"
                        " convention, checkpoint_sha256, config_hash, dataset_fingerprint, env)"
                        " VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                        (
                            r.row_id, r.metric, float(r.value), r.unit, now, r.command,
                            r.convention, r.checkpoint_sha256, r.config_hash,
                            r.dataset_fingerprint, json.dumps(r.env, sort_keys=True),
                        ),
                    )  # fmt: skip
                    ids.append(int(cur.lastrowid or 0))
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise
        return ids

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
        sql += " ORDER BY id"
        with self._connect() as con:
            con.row_factory = sqlite3.Row
            return [_to_stored(r) for r in con.execute(sql, args)]

    def latest(self) -> dict[tuple[str, str], StoredResult]:
        """The newest record for every (row id, metric)."""
        sql = (
            "SELECT * FROM results WHERE id IN"
            " (SELECT MAX(id) FROM results GROUP BY row_id, metric)"
        )
        with self._connect() as con:
            con.row_factory = sqlite3.Row
            return {(r["row_id"], r["metric"]): _to_stored(r) for r in con.execute(sql)}

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
        for metric in metrics:
            hits = [
                r
                for r in self.query(row_id, metric)
                if r.checkpoint_sha256 == checkpoint_sha256
                and r.config_hash == config_hash
                and environment_key(r.env) == env_key
            ]
            if not hits:
                return False
        return True


def _to_stored(r: sqlite3.Row) -> StoredResult:
    return StoredResult(
        id=r["id"],
        created_at=r["created_at"],
        row_id=r["row_id"],
        metric=r["metric"],
        value=r["value"],
        unit=r["unit"],
        command=r["command"],
        env=json.loads(r["env"]),
        convention=r["convention"],
        checkpoint_sha256=r["checkpoint_sha256"],
        config_hash=r["config_hash"],
        dataset_fingerprint=r["dataset_fingerprint"],
    )


def command_line() -> str:
    """The command being run, for the record."""
    return " ".join([os.path.basename(sys.argv[0]), *sys.argv[1:]])
