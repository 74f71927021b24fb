"""The results store: record files + local index, queries, atomic runs, concurrent writers on one
and on two nodes, migration of the old single-file database, damaged files, import / export."""

from __future__ import annotations

import errno
import json
import multiprocessing as mp
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from vzoo.core.errors import StoreError
from vzoo.core.results import (
    STALE_TEMP_S,
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


def _record_files(store: ResultStore) -> list[Path]:
    return sorted(store.records_dir.glob("*/*.json"))


def _vzoo(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "vzoo.cli.main", *args], capture_output=True, text=True,
        env={**os.environ, **(env or {})}, timeout=120,
    )  # fmt: skip


def test_store_lives_in_the_vzoo_home_and_its_index_outside(vzoo_home: Path) -> None:
    store = ResultStore()
    assert store.path == default_store_path() == vzoo_home / "results"
    (rid,) = store.record([_res()])
    (f,) = _record_files(store)
    doc = json.loads(f.read_text())
    (stored,) = store.query()
    # one file per run, named by its run id, in a two-hex-digit shard
    assert f.name == f"{stored.run}.json" and len(f.parent.name) == 2
    assert doc["records"][0]["value"] == 46.5 and doc["created_at"] == stored.created_at
    assert stored.id == rid
    # the index is a local cache ($VZOO_INDEX_DIR), never on the (possibly shared) home
    assert store.index_path.is_file()
    assert vzoo_home not in store.index_path.parents


def test_record_query_latest(tmp_path: Path) -> None:
    store = ResultStore(tmp_path / "r")
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
    assert len(_record_files(store)) == 3  # one file per run

    latest = store.latest()
    assert set(latest) == {
        ("mlla-t-1x", "box_ap"),
        ("mlla-t-1x", "mask_ap"),
        ("mlla-s-1x", "box_ap"),
    }
    assert latest[("mlla-t-1x", "box_ap")].value == 46.7  # the newest record wins
    # A second store object on the same directory sees the same data (nothing cached in memory),
    # and so does one with a brand-new index (rebuilt from the record files alone).
    assert ResultStore(store.path).latest()[("mlla-s-1x", "box_ap")].value == 49.0
    fresh = ResultStore(store.path, index_dir=tmp_path / "other-node")
    assert [(r.row_id, r.metric, r.value, r.run) for r in fresh.query()] == [
        (r.row_id, r.metric, r.value, r.run) for r in store.query()
    ]


def test_a_failing_run_leaves_nothing(tmp_path: Path) -> None:
    store = ResultStore(tmp_path / "r")
    store.record([_res(value=1.0)])
    # The third record cannot be stored (its env is not JSON): the whole run is refused.
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
    assert len(_record_files(store)) == 1
    assert not [p for p in store.records_dir.rglob("*") if p.name.startswith(".")]  # no temp left
    # The store is still usable afterwards.
    store.record([_res(value=4.0)])
    assert [r.value for r in store.query()] == [1.0, 4.0]


def _writer(path: str, index_dir: str, worker: int, n_runs: int, go: object) -> None:
    store = ResultStore(path, index_dir=index_dir)
    go.wait(60)  # type: ignore[attr-defined]  # all writers start together: real contention
    for i in range(n_runs):
        store.record(
            [
                _res(row=f"w{worker}", metric="box_ap", value=float(i)),
                _res(row=f"w{worker}", metric="mask_ap", value=float(i)),
            ]
        )
        store.latest()  # readers sync the index while others write


def _run_writers(path: Path, index_dirs: list[Path], n_runs: int) -> None:
    ctx = mp.get_context("spawn")  # fresh interpreters, as separate `vzoo` processes would be
    go = ctx.Event()
    procs = [
        ctx.Process(target=_writer, args=(str(path), str(idx), w, n_runs, go))
        for w, idx in enumerate(index_dirs)
    ]
    for p in procs:
        p.start()
    go.set()
    for p in procs:
        p.join(180)
    assert [p.exitcode for p in procs] == [0] * len(procs)


def _check_all_runs(store: ResultStore, n_workers: int, n_runs: int) -> None:
    records = store.query()
    assert len(records) == n_workers * n_runs * 2
    assert len({r.id for r in records}) == len(records)
    for w in range(n_workers):
        mine = [r for r in records if r.row_id == f"w{w}"]
        # Each run's two records are one run (one file) with adjacent ids.
        for box, mask in zip(mine[::2], mine[1::2], strict=True):
            assert (box.metric, mask.metric) == ("box_ap", "mask_ap")
            assert box.run == mask.run and mask.id == box.id + 1 and box.value == mask.value
        assert [r.value for r in mine[::2]] == [float(i) for i in range(n_runs)]
        assert store.latest()[(f"w{w}", "box_ap")].value == n_runs - 1


def test_concurrent_writers_lose_nothing(tmp_path: Path) -> None:
    n_workers, n_runs = 6, 40
    index = tmp_path / "index"
    _run_writers(tmp_path / "r", [index] * n_workers, n_runs)  # one node: one shared index
    store = ResultStore(tmp_path / "r", index_dir=index)
    _check_all_runs(store, n_workers, n_runs)
    assert len(_record_files(store)) == n_workers * n_runs
    with sqlite3.connect(store.index_path) as con:
        assert con.execute("PRAGMA integrity_check").fetchone() == ("ok",)


def test_two_nodes_share_the_records_not_the_index(tmp_path: Path) -> None:
    """Two "nodes" (each its own local index) write into one records directory at the same time;
    afterwards each sees every record, including those written after its index was built."""
    shared, node_a, node_b = tmp_path / "shared-home" / "results", tmp_path / "a", tmp_path / "b"
    _run_writers(shared, [node_a, node_a, node_b, node_b], n_runs=15)
    a = ResultStore(shared, index_dir=node_a)
    b = ResultStore(shared, index_dir=node_b)
    assert a.index_path != b.index_path
    _check_all_runs(a, 4, 15)
    _check_all_runs(b, 4, 15)
    b.record([_res(row="late", value=1.0)])  # node a's index is now behind: it catches up
    assert a.latest()[("late", "box_ap")].value == 1.0
    assert {r.run for r in a.query()} == {r.run for r in b.query()}


def test_a_record_does_not_list_the_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Writing a run touches only its own file and index rows (listing every record file made a
    record cost 0.2 s in a store of 5,000 runs); the next query still finds every other node's."""
    shared = tmp_path / "shared" / "results"
    a = ResultStore(shared, index_dir=tmp_path / "a")
    b = ResultStore(shared, index_dir=tmp_path / "b")
    b.record([_res(row="from-b", value=2.0)])  # a's index does not know it yet
    real = ResultStore._list_record_files

    def no_listing(self: ResultStore) -> set[str]:
        raise AssertionError("record listed the store")

    monkeypatch.setattr(ResultStore, "_list_record_files", no_listing)
    (own,) = a.record([_res(row="from-a", value=1.0)])
    monkeypatch.setattr(ResultStore, "_list_record_files", real)
    latest = a.latest()
    assert latest[("from-a", "box_ap")].id == own
    assert latest[("from-b", "box_ap")].value == 2.0  # indexed by the query


def _old_layout_db(path: Path, rows: list[tuple[object, ...]]) -> None:
    """A results.sqlite as vzoo wrote it before record files (schema and WAL mode)."""
    con = sqlite3.connect(path, isolation_level=None)
    con.execute("PRAGMA journal_mode=WAL")
    con.executescript(
        "CREATE TABLE results (id INTEGER PRIMARY KEY AUTOINCREMENT, row_id TEXT NOT NULL,"
        " metric TEXT NOT NULL, value REAL NOT NULL, unit TEXT NOT NULL, created_at TEXT NOT NULL,"
        " command TEXT NOT NULL, convention TEXT, checkpoint_sha256 TEXT, config_hash TEXT,"
        " dataset_fingerprint TEXT, env TEXT NOT NULL)"
    )
    con.executemany(
        "INSERT INTO results (row_id, metric, value, unit, created_at, command, convention,"
        " checkpoint_sha256, config_hash, dataset_fingerprint, env) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
        rows,
    )
    con.close()


OLD_ROWS = [  # two runs in the same second (told apart by command), then a later one
    ("mlla-t-1x", "box_ap", 46.1, "AP", "2026-11-01T10:00:00+00:00", "vzoo eval a", None, "ab",
     "c1", "coco:1", '{"device": "cpu"}'),
    ("mlla-t-1x", "mask_ap", 41.9, "AP", "2026-11-01T10:00:00+00:00", "vzoo eval a", None, "ab",
     "c1", "coco:1", '{"device": "cpu"}'),
    ("mlla-t-1x", "box_ap", 46.3, "AP", "2026-11-01T10:00:00+00:00", "vzoo eval b", None, None,
     None, None, '{"device": "cpu"}'),
    ("mlla-t-1x", "params_m", 44.0, "M", "2026-11-02T10:00:00+00:00", "vzoo flops", "params:x",
     None, None, None, '{"device": "cpu"}'),
]  # fmt: skip


def test_the_old_results_database_is_imported_once(vzoo_home: Path) -> None:
    vzoo_home.mkdir(parents=True)
    old = vzoo_home / "results.sqlite"
    _old_layout_db(old, OLD_ROWS)
    store = ResultStore()
    got = [(r.row_id, r.metric, r.value, r.command) for r in store.query()]
    assert got == [(r[0], r[1], r[2], r[5]) for r in OLD_ROWS]  # all of them, in the old order
    first = store.query()
    assert first[0].run == first[1].run != first[2].run  # one transaction -> one run
    assert first[0].checkpoint_sha256 == "ab" and first[3].convention == "params:x"
    assert len(_record_files(store)) == 3
    assert store.latest()[("mlla-t-1x", "box_ap")].value == 46.3
    # the old file is kept under another name, and never imported twice
    assert not old.exists() and (vzoo_home / "results.sqlite.imported").is_file()
    assert not (vzoo_home / "results.sqlite-wal").exists()
    store.record([_res(value=50.0)])
    assert len(ResultStore().query()) == len(OLD_ROWS) + 1
    again = store.import_from(vzoo_home / "results.sqlite.imported")
    assert (again.added_runs, again.present_runs, again.conflicts) == (0, 3, [])
    assert len(store.query()) == len(OLD_ROWS) + 1


def test_damaged_old_database_is_named_and_nothing_is_lost(vzoo_home: Path) -> None:
    vzoo_home.mkdir(parents=True)
    old = vzoo_home / "results.sqlite"
    old.write_bytes(b"")
    with pytest.raises(StoreError, match=r"results\.sqlite is empty \(0 bytes\)"):
        ResultStore()
    assert old.exists()  # left where it is for the user to restore
    old.write_bytes(b"SQLite format 3\x00" + b"\x17" * 4000)
    with pytest.raises(StoreError, match=rf"{old} is not a readable results database"):
        ResultStore()
    r = _vzoo("compare", "mlla-t-1x", "--report", "json")
    assert r.returncode == 2, r.stderr
    (line,) = r.stderr.strip().splitlines()
    assert str(old) in line and "Traceback" not in r.stderr


def _valid_record(store: ResultStore) -> dict:
    return json.loads(_record_files(store)[0].read_text())


DAMAGED_RECORDS = {  # name -> content of a record file that is not a readable record
    "empty": lambda doc: b"",
    "cut": lambda doc: json.dumps(doc).encode()[:40],
    "created-at-out-of-range": lambda doc: json.dumps(
        {**doc, "created_at": "0001-01-01T00:00:00+01:00"}
    ).encode(),
    "integer-of-400-digits": lambda doc: json.dumps(
        {**doc, "records": [{**doc["records"][0], "value": 10**400}]}
    ).encode(),
    "nested-100000-deep": lambda doc: b'{"format": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
    "row-id-with-escape-codes": lambda doc: json.dumps(
        {**doc, "records": [{**doc["records"][0], "row_id": "x\x1b[2J\x1b[31m"}]}
    ).encode(),
}


@pytest.mark.parametrize("damage", list(DAMAGED_RECORDS))
def test_a_damaged_record_is_skipped_and_named_in_one_warning(
    damage: str, tmp_path: Path, vzoo_home: Path, capsys: pytest.CaptureFixture[str], cli
) -> None:
    """One unreadable record file never makes the whole store unusable: every query answers with
    the other records and one warning line names the file (on a fresh index and on a built one)."""
    store = ResultStore()
    store.record([_res(value=1.0)])
    doc = _valid_record(store)
    doc["run"] = "0123456789abcdef"
    shard = store.records_dir / "03"
    shard.mkdir(exist_ok=True)
    bad = shard / "0123456789abcdef.json"
    bad.write_bytes(DAMAGED_RECORDS[damage](doc))
    capsys.readouterr()
    for index_dir in (tmp_path / "fresh-index", None):  # a fresh index, and the built one
        s = ResultStore(index_dir=index_dir)
        assert [r.value for r in s.query()] == [1.0]
        assert [r.value for r in s.query()] == [1.0]  # once per process, not per query
        (line,) = capsys.readouterr().err.strip().splitlines()
        assert line.startswith("vzoo: warning: skipped 1 damaged result record")
        assert str(bad) in line
        assert "\x1b" not in line.replace("\\x1b", "")  # escapes never reach the terminal raw
    code, out, err = cli("results", "list", "--format", "json")
    assert code == 0 and [r["value"] for r in json.loads(out)] == [1.0]
    (line,) = err.strip().splitlines()
    assert str(bad) in line and "internal error" not in err


def test_temp_files_are_not_records(vzoo_home: Path) -> None:
    store = ResultStore()
    store.record([_res(value=1.0)])
    shard = _record_files(store)[0].parent
    (shard / ".abc.json.1234.tmp").write_bytes(b'{"half a')  # a writer killed mid-write
    assert [r.value for r in ResultStore().query()] == [1.0]


def test_a_hand_edited_record_is_seen_by_a_built_index(tmp_path: Path) -> None:
    """The index remembers each file's size and mtime: a record changed by hand after this node
    indexed it is read again (a damaged one is then left out, with the warning)."""
    store = ResultStore(tmp_path / "r", index_dir=tmp_path / "idx")
    store.record([_res(value=1.0)])
    store.record([_res(metric="mask_ap", value=2.0)])
    assert sorted(r.value for r in store.query()) == [1.0, 2.0]  # the index is built
    value_of = lambda p: json.loads(p.read_text())["records"][0]["value"]  # noqa: E731
    first = min(_record_files(store), key=value_of)
    doc = json.loads(first.read_text())
    doc["records"][0]["value"] = 7.5
    first.write_text(json.dumps(doc))
    assert sorted(r.value for r in store.query()) == [2.0, 7.5]
    first.write_bytes(b'{"format": "vzoo-')  # damaged by hand
    assert [r.value for r in ResultStore(tmp_path / "r", index_dir=tmp_path / "idx").query()] == [
        2.0
    ]


def test_an_index_of_the_previous_schema_is_rebuilt(tmp_path: Path) -> None:
    """A node upgraded from a vzoo whose index had no file stamps starts its index over."""
    store = ResultStore(tmp_path / "r", index_dir=tmp_path / "idx")
    store.record([_res(value=1.0)])
    con = sqlite3.connect(store.index_path)
    con.executescript(
        "DROP TABLE runs; CREATE TABLE runs (run TEXT PRIMARY KEY, file TEXT NOT NULL UNIQUE,"
        " created_at TEXT NOT NULL); UPDATE meta SET value = '2' WHERE key = 'schema';"
    )
    con.close()
    again = ResultStore(tmp_path / "r", index_dir=tmp_path / "idx")
    again.record([_res(value=2.0)])
    assert sorted(r.value for r in again.query()) == [1.0, 2.0]


def test_stale_temp_files_of_killed_writers_are_cleaned_on_the_next_write(tmp_path: Path) -> None:
    """kill -9 mid-write leaves `.<name>.<hex>.tmp`; the next write removes those old enough to
    belong to no live writer, and leaves a fresh one (a writer at work right now) alone."""
    store = ResultStore(tmp_path / "r", index_dir=tmp_path / "idx")
    store.record([_res(value=1.0)])
    shard = _record_files(store)[0].parent
    stale = shard / ".0a1b.json.deadbeef.tmp"
    stale.write_bytes(b'{"half')
    old = time.time() - STALE_TEMP_S - 60
    os.utime(stale, (old, old))
    other_shard = store.records_dir / "ff"
    other_shard.mkdir(exist_ok=True)
    stale_elsewhere = other_shard / ".ffee.json.00000000.tmp"
    stale_elsewhere.write_bytes(b"")
    os.utime(stale_elsewhere, (old, old))
    live = shard / ".0c0d.json.cafebabe.tmp"
    live.write_bytes(b'{"being written')
    ResultStore(tmp_path / "r", index_dir=tmp_path / "idx").record([_res(value=2.0)])
    assert not stale.exists() and not stale_elsewhere.exists()
    assert live.exists()
    assert sorted(r.value for r in store.query()) == [1.0, 2.0]


def test_an_imported_run_dated_in_the_future_is_refused(tmp_path: Path) -> None:
    a = ResultStore(tmp_path / "a")
    a.record([_res(value=1.0)])
    out = tmp_path / "a.jsonl"
    a.export(out)
    run = json.loads(out.read_text())
    run["created_at"] = "9999-12-31T00:00:00+00:00"
    out.write_text(json.dumps(run) + "\n")
    b = ResultStore(tmp_path / "b")
    with pytest.raises(StoreError, match=r"dated 9999-12-31.*in the future.*nothing was imported"):
        b.import_from(out)
    assert b.query() == []
    run["created_at"] = "2026-01-01T00:00:00+00:00"  # a past date imports
    out.write_text(json.dumps(run) + "\n")
    assert b.import_from(out).added_runs == 1


def test_an_imported_row_id_must_be_a_registry_id(tmp_path: Path, cli) -> None:
    a = ResultStore(tmp_path / "a")
    a.record([_res(value=1.0)])
    out = tmp_path / "a.jsonl"
    a.export(out)
    run = json.loads(out.read_text())
    run["records"][0]["row_id"] = "mlla-t\x1b]0;pwned\x07\x1b[2J"
    out.write_text(json.dumps(run) + "\n")
    code, _, err = cli("results", "import", str(out))
    assert code == 2 and "is not a registry id" in err
    (line,) = err.strip().splitlines()
    assert "\x1b" not in line and "\x07" not in line  # the id is shown escaped
    assert "\\x1b" in line
    assert ResultStore().query() == []
    with pytest.raises(ValueError, match="not a registry id"):
        a.record([_res(row="../../etc")])


def test_importing_a_vzoo_home_reads_only_its_record_files(tmp_path: Path, cli) -> None:
    """Another machine's whole vzoo home holds checkpoints/index.json and other JSON: only
    results/records/<shard>/<run>.json are records."""
    other = tmp_path / "other-home"
    ResultStore(other / "results", index_dir=tmp_path / "oi").record([_res(value=3.0)])
    (other / "checkpoints").mkdir()
    (other / "checkpoints" / "index.json").write_text('{"mlla-t-1x": {"sha256": "ab"}}')
    (other / "results" / "notes.json").write_text("[1, 2]")
    code, _, err = cli("results", "import", str(other))
    assert code == 0, err
    assert "imported 1 run (1 records)" in err
    assert [r.value for r in ResultStore().query()] == [3.0]


def test_a_corrupt_or_unwritable_index_is_rebuilt(tmp_path: Path) -> None:
    store = ResultStore(tmp_path / "r", index_dir=tmp_path / "idx")
    store.record([_res(value=1.0), _res(metric="mask_ap", value=2.0)])
    for garbage in (b"", b"not a database at all" * 100):
        for suffix in ("-wal", "-shm"):
            Path(str(store.index_path) + suffix).unlink(missing_ok=True)
        store.index_path.write_bytes(garbage)
        assert [r.value for r in ResultStore(store.path, index_dir=tmp_path / "idx").query()] == [
            1.0,
            2.0,
        ]
    # no place for a local index at all (a file where its directory should be): in memory
    (tmp_path / "not-a-dir").write_text("x")
    nowhere = ResultStore(store.path, index_dir=tmp_path / "not-a-dir" / "idx")
    assert [r.value for r in nowhere.query()] == [1.0, 2.0]
    nowhere.record([_res(value=3.0)])
    assert [r.value for r in store.query()] == [1.0, 2.0, 3.0]


def test_an_index_that_keeps_failing_falls_back_to_memory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = ResultStore(tmp_path / "r", index_dir=tmp_path / "idx")
    store.record([_res(value=1.0)])
    sync = ResultStore._sync

    def full_disk(self: ResultStore, con: sqlite3.Connection) -> None:
        if con is not self._memory:  # every on-disk index fails, rebuilt or not
            raise sqlite3.OperationalError("database or disk is full")
        sync(self, con)

    monkeypatch.setattr(ResultStore, "_sync", full_disk)
    assert [r.value for r in store.query()] == [1.0]
    store.record([_res(value=2.0)])
    assert [r.value for r in store.query()] == [1.0, 2.0]


@pytest.mark.parametrize(
    ("err", "hint"),
    [(errno.ENOSPC, "free some space"), (errno.EROFS, "set VZOO_HOME to a writable directory")],
)
def test_full_or_read_only_home_names_the_path_and_keeps_the_numbers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, err: int, hint: str
) -> None:
    import vzoo.core.results as results

    store = ResultStore(tmp_path / "r")
    store.record([_res(value=1.0)])

    def fail(path: object, data: bytes) -> None:
        raise OSError(err, os.strerror(err))

    monkeypatch.setattr(results, "write_bytes_atomic", fail)
    with pytest.raises(StoreError) as e:
        store.record([_res(value=46.25), _res(metric="mask_ap", value=41.5)])
    msg = str(e.value)
    assert str(store.records_dir) in msg and hint in msg and os.strerror(err) in msg
    assert "box_ap=46.25" in msg and "mask_ap=41.5" in msg  # the measured numbers survive
    assert "Nothing already stored was lost" in msg
    monkeypatch.undo()
    assert [r.value for r in store.query()] == [1.0]


def test_an_unwritable_store_is_found_before_any_work(tmp_path: Path) -> None:
    store = ResultStore(tmp_path / "r")
    store.check_writable()
    assert list(store.records_dir.iterdir()) == []  # the probe leaves nothing behind
    store.records_dir.rmdir()
    store.records_dir.write_text("not a directory")  # as unwritable as it gets for root
    with pytest.raises(StoreError, match=f"cannot write results to {store.records_dir}"):
        store.check_writable()


def test_home_that_cannot_be_created_exits_2(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    r = _vzoo("compare", "mlla-t-1x", env={"VZOO_HOME": str(tmp_path / "file" / "home")})
    assert r.returncode == 2
    (line,) = r.stderr.strip().splitlines()
    assert str(tmp_path / "file" / "home") in line and "VZOO_HOME" in line


def test_export_import_merges_without_duplicates(tmp_path: Path) -> None:
    a = ResultStore(tmp_path / "a")
    b = ResultStore(tmp_path / "b")
    a.record([_res(value=1.0), _res(metric="mask_ap", value=2.0)])
    a.record([_res(row="mlla-s-1x", value=3.0)])
    b.record([_res(row="msvmamba-nano", metric="top1", value=4.0)])
    out = tmp_path / "a.jsonl"
    assert a.export(out) == 2
    assert len(out.read_text().splitlines()) == 2
    first = b.import_from(out)
    assert (first.added_runs, first.added_records, first.present_runs) == (2, 3, 0)
    second = b.import_from(out)
    assert (second.added_runs, second.present_runs, second.conflicts) == (0, 2, [])
    key = lambda r: (r.run, r.row_id, r.metric, r.value, r.created_at)  # noqa: E731
    assert sorted(map(key, b.query())) == sorted(map(key, a.query() + b.query("msvmamba-nano")))
    # a whole store directory imports too (e.g. a colleague's results/ copied over); b's own run
    # lands in a, a's runs are found present
    c = a.import_from(b.path)
    assert (c.added_runs, c.present_runs) == (1, 2)
    # the same run id with other content is a conflict: ours is kept
    run = json.loads(out.read_text().splitlines()[0])
    run["records"][0]["value"] = 99.0
    forged = tmp_path / "forged.jsonl"
    forged.write_text(json.dumps(run) + "\n")
    assert b.import_from(forged).conflicts == [run["run"]]
    assert 99.0 not in [r.value for r in b.query()]
    # a run id that is a path is refused (imports are other people's files)
    run["run"] = "../../evil"
    forged.write_text(json.dumps(run) + "\n")
    with pytest.raises(StoreError, match="line 1: not a vzoo result record"):
        b.import_from(forged)


def test_results_cli_export_import_list(tmp_path: Path, vzoo_home: Path) -> None:
    ResultStore().record([_res(value=46.5), _res(metric="mask_ap", value=41.0)])
    out = tmp_path / "mine.jsonl"
    r = _vzoo("results", "export", str(out))
    assert r.returncode == 0, r.stderr
    assert "1 run" in r.stderr and out.is_file()
    other = {"VZOO_HOME": str(tmp_path / "colleague"), "VZOO_INDEX_DIR": str(tmp_path / "ci")}
    for expect in ("imported 1 run (2 records)", "0 new, 1 already present"):
        r = _vzoo("results", "import", str(out), env=other)
        assert r.returncode == 0 and expect in r.stderr, r.stderr
    r = _vzoo("results", "list", "--format", "json", env=other)
    assert r.returncode == 0, r.stderr
    got = json.loads(r.stdout)
    assert [(x["row_id"], x["metric"], x["value"]) for x in got] == [
        ("mlla-t-1x", "box_ap", 46.5),
        ("mlla-t-1x", "mask_ap", 41.0),
    ]
    r = _vzoo("results", "import", str(tmp_path / "missing.jsonl"))
    assert r.returncode == 2 and "missing.jsonl not found" in r.stderr
    (tmp_path / "bad.jsonl").write_text("123\n")
    r = _vzoo("results", "import", str(tmp_path / "bad.jsonl"))
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1


def test_find_measured_matches_checkpoint_config_and_environment(tmp_path: Path) -> None:
    store = ResultStore(tmp_path / "r")
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
