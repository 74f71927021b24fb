"""The SQLite results store: records, latest, query, atomic runs, concurrent writers."""

from __future__ import annotations

import multiprocessing as mp
import sqlite3
from pathlib import Path

import pytest

from vzoo.core.results import (
    EvalResult,
    ResultStore,
    default_store_path,
    environment_fingerprint,
    environment_key,
)


def _res(
    row: str = "mlla-t-1x", metric: str = "box_ap", value: float = 46.5, **kw: object
) -> EvalResult:
    return EvalResult(row_id=row, metric=metric, value=value, unit="AP", command="vzoo eval", **kw)  # type: ignore[arg-type]


def test_store_lives_in_the_vzoo_home(vzoo_home: Path) -> None:
    store = ResultStore()
    assert store.path == default_store_path() == vzoo_home / "results.sqlite"
    assert store.path.is_file()


def test_record_query_latest(tmp_path: Path) -> None:
    store = ResultStore(tmp_path / "r.sqlite")
    env = {"torch": "2.13.0", "device": "cpu"}
    ids = store.record([_res(value=46.1, env=env), _res(metric="mask_ap", value=41.9)])
    assert len(ids) == 2 and ids[0] < ids[1]
    store.record([_res(value=46.7, convention="ss", checkpoint_sha256="ab" * 32)])
    store.record([_res(row="mlla-s-1x", value=49.0)])

    box = store.query("mlla-t-1x", "box_ap")
    assert [r.value for r in box] == [46.1, 46.7]  # oldest first
    assert box[0].env == env and box[0].command == "vzoo eval" and box[0].created_at
    assert box[1].convention == "ss" and box[1].checkpoint_sha256 == "ab" * 32
    assert len(store.query()) == 4
    assert len(store.query(row_id="mlla-t-1x")) == 3
    assert len(store.query(metric="box_ap")) == 3

    latest = store.latest()
    assert set(latest) == {
        ("mlla-t-1x", "box_ap"),
        ("mlla-t-1x", "mask_ap"),
        ("mlla-s-1x", "box_ap"),
    }
    assert latest[("mlla-t-1x", "box_ap")].value == 46.7  # the newest record wins
    # A second store object on the same file sees the same data (nothing cached in memory).
    assert ResultStore(store.path).latest()[("mlla-s-1x", "box_ap")].value == 49.0


def test_a_failing_run_leaves_nothing(tmp_path: Path) -> None:
    store = ResultStore(tmp_path / "r.sqlite")
    store.record([_res(value=1.0)])
    # The third record fails inside the transaction (its env cannot be stored as JSON).
    run = [_res(value=2.0), _res(metric="mask_ap", value=3.0), _res(env={"x": object()})]
    with pytest.raises(TypeError):
        store.record(run)
    assert [r.value for r in store.query()] == [1.0]
    # Bad numbers and unknown metrics are refused before anything is written.
    with pytest.raises(ValueError, match="not a finite number"):
        store.record([_res(value=5.0), _res(value=float("nan"))])
    with pytest.raises(ValueError, match="unknown metric"):
        store.record([_res(metric="ap50")])
    assert [r.value for r in store.query()] == [1.0]
    # The store is still usable afterwards (no transaction left open, no lock held).
    store.record([_res(value=4.0)])
    assert [r.value for r in store.query()] == [1.0, 4.0]


def _writer(path: str, worker: int, n_runs: int, go: object) -> None:
    store = ResultStore(path)
    go.wait(60)  # type: ignore[attr-defined]  # all writers start together: real contention
    for i in range(n_runs):
        store.record(
            [
                _res(row=f"w{worker}", metric="box_ap", value=float(i)),
                _res(row=f"w{worker}", metric="mask_ap", value=float(i)),
            ]
        )


def test_concurrent_writers_lose_nothing(tmp_path: Path) -> None:
    path = str(tmp_path / "r.sqlite")
    n_workers, n_runs = 6, 40
    ctx = mp.get_context("spawn")  # fresh interpreters, as separate `vzoo` processes would be
    go = ctx.Event()
    procs = [ctx.Process(target=_writer, args=(path, w, n_runs, go)) for w in range(n_workers)]
    for p in procs:
        p.start()
    go.set()
    for p in procs:
        p.join(120)
    assert [p.exitcode for p in procs] == [0] * n_workers
    store = ResultStore(path)
    records = store.query()
    assert len(records) == n_workers * n_runs * 2
    assert len({r.id for r in records}) == len(records)
    for w in range(n_workers):
        mine = [r for r in records if r.row_id == f"w{w}"]
        # Each run's two records are adjacent ids: no other writer got in between.
        for box, mask in zip(mine[::2], mine[1::2], strict=True):
            assert (box.metric, mask.metric) == ("box_ap", "mask_ap")
            assert mask.id == box.id + 1 and box.value == mask.value
        assert [r.value for r in mine[::2]] == [float(i) for i in range(n_runs)]
        assert store.latest()[(f"w{w}", "box_ap")].value == n_runs - 1
    with sqlite3.connect(path) as con:
        assert con.execute("PRAGMA integrity_check").fetchone() == ("ok",)


def test_find_measured_matches_checkpoint_config_and_environment(tmp_path: Path) -> None:
    store = ResultStore(tmp_path / "r.sqlite")
    env = environment_fingerprint()
    key = environment_key(env)
    sha, cfg = "cd" * 32, "cfg1"
    store.record(
        [
            _res(metric="box_ap", env=env, checkpoint_sha256=sha, config_hash=cfg),
            _res(metric="mask_ap", env=env, checkpoint_sha256=sha, config_hash=cfg),
        ]
    )

    def found(metrics: list[str], **kw: object) -> bool:
        args: dict[str, object] = {"checkpoint_sha256": sha, "config_hash": cfg, "env_key": key}
        args.update(kw)
        return store.find_measured("mlla-t-1x", metrics, **args)  # type: ignore[arg-type]

    assert found(["box_ap", "mask_ap"])
    assert found(iter(["box_ap"]))  # any iterable
    assert not found(["box_ap", "params_m"])  # one metric never measured
    assert not found([])  # nothing asked: nothing known to be measured
    assert not found(["box_ap"], checkpoint_sha256="ef" * 32)
    assert not found(["box_ap"], config_hash="cfg2")
    assert not found(["box_ap"], env_key=environment_key({**env, "torch": "9.9"}))
    assert not found(["box_ap"], env_key=environment_key({**env, "device": "cuda"}))
    # Fields outside the key (python patch version, platform string) do not matter.
    assert found(["box_ap"], env_key=environment_key({**env, "python": "0.0", "vzoo_git": "x"}))
    assert not store.find_measured("mlla-s-1x", ["box_ap"], checkpoint_sha256=sha,
                                   config_hash=cfg, env_key=key)  # fmt: skip


def test_environment_fingerprint_names_the_stack() -> None:
    env = environment_fingerprint("cuda:0")
    assert env["device"] == "cuda:0"
    for k in ("vzoo", "python", "platform", "torch", "mmdet", "mmcv"):
        assert k in env
    assert environment_fingerprint()["device"] == "cpu"
