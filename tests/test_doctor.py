"""`vzoo doctor`: the real checks on this machine, and each failure path with one probe replaced."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from servers.fresh_interpreter import same_vzoo_env
from servers.loopback import LoopbackServer

from vzoo.evaluation.synthetic import write_synthetic_coco
from vzoo.hub.cache import CacheEntry, CheckpointCache
from vzoo.workflows import doctor
from vzoo.workflows.doctor import Check

REAL_PROBE_SCAN, REAL_PROBE_OPENMMLAB = doctor.probe_scan, doctor.probe_openmmlab
HOST_ENV = ("VZOO_GITHUB_ENDPOINT", "VZOO_DRIVE_ENDPOINT", "VZOO_TSINGHUA_ENDPOINT",
            "VZOO_OPENMMLAB_ENDPOINT", "HF_ENDPOINT")  # fmt: skip


def report(cli: Callable[..., tuple[int, str, str]], *args: str) -> tuple[int, dict[str, Check]]:
    code, out, err = cli("doctor", "--format", "json", *args)
    data = json.loads(out)
    assert data["ready"] is (code == 0), err
    return code, {c["name"]: Check(**c) for c in data["checks"]}


@pytest.fixture
def fast(monkeypatch: pytest.MonkeyPatch) -> None:
    """The slow real probes (imports, the timed scan) answer ok; the others run for real."""
    monkeypatch.setattr(doctor, "probe_torch", lambda o: [Check("torch", "ok", "2.x")])
    monkeypatch.setattr(doctor, "probe_scan", lambda o: [Check("scan backend", "ok", "torch")])
    monkeypatch.setattr(doctor, "probe_openmmlab", lambda o: [Check("mmcv", "ok", "2.1.0")])


def test_this_machine_is_ready_and_named(tmp_path: Path) -> None:
    """The real probes in a fresh process (offline: no network here): torch, mmcv ops, the
    scan backend are named; nothing from the libraries it imports reaches stderr."""
    env = same_vzoo_env(COLUMNS="80")
    env.pop("PYTHONWARNINGS", None)
    res = subprocess.run(
        [sys.executable, "-m", "vzoo.cli.main", "doctor", "--offline"],
        capture_output=True, text=True, env=env, timeout=300,
    )  # fmt: skip
    assert res.returncode == 0, res.stdout + res.stderr
    assert res.stderr == ""  # no third-party warnings (mmengine's pkg_resources, torch's)
    out = res.stdout
    lines = out.splitlines()
    torch_line = next(x for x in lines if x.split()[1:2] == ["torch:"])
    assert torch_line.startswith("ok") and "2." in torch_line
    ops = next(x for x in lines if "mmcv ops:" in x)
    assert ops.startswith("ok") and "compiled ops loaded" in ops
    scan = next(i for i, x in enumerate(lines) if "scan backend:" in x)
    text = " ".join(x.strip() for x in lines[scan : scan + 4])
    assert lines[scan].startswith("ok") and "torch (" in text and "x the reference" in text
    assert "skip  weights hosts: offline" in out
    assert lines[-1].startswith("ready for vzoo eval")


def test_scan_timing_measures_both_backends() -> None:
    import torch

    result = doctor.time_scan("torch", torch.device("cpu"), seconds=0.05)
    assert result["max_rel_error"] < doctor.SCAN_TOLERANCE
    assert result["seconds"] > 0 and result["reference_seconds"] > 0
    assert result["speedup"] == pytest.approx(result["reference_seconds"] / result["seconds"])


def test_scan_disagreeing_with_the_reference_fails(
    cli, monkeypatch: pytest.MonkeyPatch, fast: None
) -> None:
    monkeypatch.setattr(doctor, "probe_scan", REAL_PROBE_SCAN)
    monkeypatch.setattr(
        doctor, "time_scan",
        lambda *a, **k: {"seconds": 1e-3, "reference_seconds": 0.1, "speedup": 100.0,
                         "max_rel_error": 0.5, "first_call": 0.1, "dim": 8, "length": 8},
    )  # fmt: skip
    code, checks = report(cli, "--offline")
    assert code == 1
    assert checks["scan backend"].status == "fail" and "5.0e-01" in checks["scan backend"].detail
    assert "VZOO_SCAN_BACKEND=reference" in (checks["scan backend"].fix or "")


def test_mmcv_without_compiled_ops_fails_with_the_fix(cli, monkeypatch: pytest.MonkeyPatch) -> None:
    import mmcv.ops

    def no_ext(*args: object, **kwargs: object) -> None:
        raise ModuleNotFoundError("No module named 'mmcv._ext'")

    monkeypatch.setattr(mmcv.ops, "nms", no_ext)
    check = doctor.probe_mmcv_ops()
    assert check.status == "fail" and "mmcv._ext" in check.detail
    assert "mmcv==2.1.0" in (check.fix or "")


def test_missing_mmdet_fails_and_missing_mmseg_only_warns(
    cli, monkeypatch: pytest.MonkeyPatch, fast: None
) -> None:
    monkeypatch.setattr(doctor, "probe_openmmlab", REAL_PROBE_OPENMMLAB)
    monkeypatch.setitem(sys.modules, "mmdet", None)  # import mmdet -> ImportError
    real_version = doctor._version
    monkeypatch.setattr(
        doctor, "_version", lambda d: None if d == "mmsegmentation" else real_version(d)
    )
    code, checks = report(cli, "--offline")
    assert code == 1
    assert checks["mmdet"].status == "fail" and "cannot import mmdet" in checks["mmdet"].detail
    assert checks["mmseg"].status == "warn" and "vzoo[seg]" in (checks["mmseg"].fix or "")
    assert checks["mmcv ops"].status == "ok"


def test_only_warnings_exit_0(cli, monkeypatch: pytest.MonkeyPatch, fast: None) -> None:
    monkeypatch.setattr(doctor, "probe_torch", lambda o: [Check("torch", "warn", "x", "do y")])
    code, out, _ = cli("doctor", "--offline")
    assert code == 0 and "WARN  torch: x" in out and "fix: do y" in out


def test_a_crashing_probe_is_a_failed_check(
    cli, monkeypatch: pytest.MonkeyPatch, fast: None
) -> None:
    def boom(options: object) -> list[Check]:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(doctor, "probe_results", boom)
    code, out, _ = cli("doctor", "--offline")
    assert (
        code == 1 and "FAIL  results: the check itself failed (RuntimeError: disk on fire)" in out
    )


def test_datasets_found_or_the_path_looked_for(
    cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fast: None
) -> None:
    monkeypatch.setenv("VZOO_DATA", str(tmp_path / "data"))
    write_synthetic_coco(tmp_path / "data" / "coco", images=1)
    code, checks = report(cli, "--offline")
    assert code == 0  # a missing dataset only stops its own rows
    assert checks["dataset coco2017"].status == "ok"
    assert str((tmp_path / "data" / "coco").resolve()) in checks["dataset coco2017"].detail
    ade = checks["dataset ade20k"]
    assert ade.status == "warn" and str(tmp_path / "data" / "ade" / "ADEChallengeData2016") in (
        ade.detail
    )
    code, checks = report(cli, "--offline", "--data-root", str(tmp_path / "nowhere"))
    assert str(tmp_path / "nowhere") in checks["dataset coco2017"].detail


def test_cache_size_mismatch_fails_and_store_rows_are_counted(
    cli, vzoo_home: Path, fast: None
) -> None:
    from vzoo.core.results import EvalResult, ResultStore

    cache = CheckpointCache()
    good, bad = "a" * 64, "b" * 64
    for sha, row, size in ((good, "mlla-t", 5), (bad, "mlla-s", 9)):
        cache.blob_path(sha).parent.mkdir(parents=True, exist_ok=True)
        cache.blob_path(sha).write_bytes(b"12345")
        cache.record(CacheEntry(row, sha, size, "u", "f.pth", "original", "t", False))
    ResultStore().record([EvalResult("mlla-t", "top1", 80.0, "%", "test")])
    code, checks = report(cli, "--offline")
    assert code == 1
    assert checks["cache"].status == "fail" and "mlla-s" in checks["cache"].detail
    assert "mlla-t" not in checks["cache"].detail and "vzoo cache verify" in checks["cache"].fix
    assert checks["results store"].detail.endswith(": 1 records from 1 runs")
    assert str(ResultStore().path) in checks["results store"].detail


@pytest.fixture
def hosts(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[LoopbackServer, str]]:
    """Every weights host on a loopback server except Tsinghua: a closed port."""
    srv = LoopbackServer().start()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{s.getsockname()[1]}"
    for env in HOST_ENV:
        monkeypatch.setenv(env, srv.base_url)
    monkeypatch.setenv("VZOO_TSINGHUA_ENDPOINT", closed)
    yield srv, closed
    srv.stop()


def test_unreachable_host_warns_and_offline_skips(
    cli, hosts: tuple[LoopbackServer, str], fast: None
) -> None:
    srv, closed = hosts
    code, checks = report(cli, "--timeout", "2")
    assert code == 0  # eval can run from the cache
    assert checks["host GitHub"].status == "ok"
    assert checks["host Tsinghua cloud"].status == "warn"
    assert closed in checks["host Tsinghua cloud"].detail
    assert srv.requests("/", "HEAD"), "the reachable hosts were asked with HEAD"
    before = len(srv.log)
    code, checks = report(cli, "--offline")
    assert code == 0 and checks["weights hosts"].status == "skipped" and len(srv.log) == before
