"""`vzoo download`, `vzoo cache`, `vzoo registry pin` end to end: exit codes and one-line errors."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from servers.loopback import FileRoute, LoopbackServer, send_raw
from servers.registry_file import write_registry

from vzoo.core.registry import load_registry
from vzoo.hub import CheckpointCache


def torch_zip(numel: int) -> bytes:
    import io

    import torch

    buf = io.BytesIO()
    torch.save({"state_dict": {"w": torch.arange(float(numel))}}, buf)
    return buf.getvalue()


PAYLOAD = torch_zip(12_000)  # unpinned downloads are cached only if they are checkpoints
SHA = hashlib.sha256(PAYLOAD).hexdigest()
GH = "https://github.com/owner/proj/releases/download/v1.0/{name}"
GH_PATH = "/owner/proj/releases/download/v1.0/{name}"


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[LoopbackServer]:
    srv = LoopbackServer().start()
    monkeypatch.setenv("VZOO_GITHUB_ENDPOINT", srv.base_url)
    yield srv
    srv.stop()


@pytest.fixture
def registry(tmp_path: Path) -> Path:
    return write_registry(
        tmp_path / "registry.yaml",
        [
            {"id": "row-a", "urls": [GH.format(name="a.pth")]},
            {"id": "row-b", "urls": [GH.format(name="b.pth")], "sha256": SHA},
            {"id": "row-det", "urls": [GH.format(name="det.pth")], "task": "detection"},
            {"id": "row-none", "urls": None},
        ],
    )


def one_line_error(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("vzoo: error: "), err
    assert "Traceback" not in err
    return lines[0]


def test_download_then_cache_commands(cli, server, registry):
    server.routes[GH_PATH.format(name="a.pth")] = FileRoute(PAYLOAD)
    code, out, err = cli("download", "row-a", "--registry", registry)
    assert code == 0, err
    blob = CheckpointCache().blob_path(SHA)
    assert out.split("\t")[:2] == ["row-a", str(blob)]
    assert "downloaded" in out and "not pinned" in out
    assert f"recorded sha256 {SHA}" in err and "vzoo registry pin row-a" in err

    code, out, _ = cli("cache", "list")
    assert code == 0 and "row-a" in out and SHA[:12] in out and "recorded" in out
    code, out, _ = cli("cache", "list", "--format", "json")
    (entry,) = json.loads(out)
    assert (entry["row_id"], entry["sha256"], entry["size"]) == ("row-a", SHA, len(PAYLOAD))
    code, out, _ = cli("cache", "path", "row-a", "--registry", registry)
    assert (code, out.strip()) == (0, str(blob))
    code, out, _ = cli("cache", "verify", "--registry", registry)
    assert code == 0 and "row-a: ok" in out

    rotten = bytearray(PAYLOAD)
    rotten[len(rotten) // 2] ^= 0xFF
    blob.write_bytes(rotten)  # bit rot after the download
    code, _, err = cli("cache", "verify", "row-a", "--registry", registry)
    assert code == 1 and "CORRUPT" in err and "removed" in err
    assert not blob.exists()
    code, _, err = cli("cache", "path", "row-a", "--registry", registry)
    assert code == 1 and "not in the cache; run `vzoo download row-a`" in one_line_error(err)


def test_unknown_ids_exit_2_with_closest(cli, server, registry):
    code, _, err = cli("download", "row-aa", "--registry", registry)
    assert code == 2 and "did you mean: row-a" in one_line_error(err)
    code, _, err = cli("cache", "path", "row-bb", "--registry", registry)
    assert code == 2 and "did you mean: row-b" in one_line_error(err)
    code, _, err = cli("registry", "pin", "rowa", "--registry", registry)
    assert code == 2 and "did you mean" in one_line_error(err)
    code, _, err = cli("download", "--registry", registry)
    assert code == 2 and "--all" in one_line_error(err)
    code, _, err = cli("download", "row-none", "--registry", registry)
    assert code == 2 and "no weights" in one_line_error(err)
    code, _, err = cli("registry", "pin", "row-none", "--registry", registry)
    line = one_line_error(err)  # the row is the problem, not a missing download
    assert code == 2 and "row-none" in line and "no weights" in line and "download" not in line
    assert server.log == []


def test_download_failure_is_one_line_exit_1(cli, server, registry):
    code, _, err = cli("download", "row-b", "--registry", registry)  # no route: 404
    line = one_line_error(err)
    assert code == 1 and "row-b: GitHub: HTTP 404" in line and GH.format(name="b.pth") in line
    code, _, err = cli("download", "row-b", "--offline", "--registry", registry)
    assert code == 1 and "offline mode is on" in one_line_error(err)
    assert len(server.log) == 1  # the offline run made no request


def test_download_all_continues_past_a_failure(cli, server, registry, monkeypatch):
    server.routes[GH_PATH.format(name="b.pth")] = FileRoute(PAYLOAD)
    server.routes[GH_PATH.format(name="det.pth")] = FileRoute(PAYLOAD)
    # `--registry` lays a file over the packaged rows; `--all` here means the test file's rows
    monkeypatch.setattr("vzoo.core.registry.default_registry_path", lambda: registry)
    monkeypatch.setattr("vzoo.core.mmdet_index.baseline_rows", list)  # no mmdet baselines
    code, out, err = cli("download", "--all")
    assert code == 1
    assert "row-b\t" in out and "sha256 verified" in out and "row-det\t" in out
    assert "no weights listed for row-none; skipped" in err
    assert err.strip().splitlines()[-1] == "vzoo: error: 1 of 3 downloads failed: row-a"
    assert "Traceback" not in err
    code, out, _ = cli("download", "--all", "--task", "detection")
    assert code == 0 and out.startswith("row-det\t") and "(cached," in out


def test_registry_pin_cli_round_trip_and_remove(cli, server, registry):
    server.routes[GH_PATH.format(name="a.pth")] = FileRoute(PAYLOAD)
    code, _, err = cli("registry", "pin", "row-a", "--registry", registry)
    assert code == 1 and "run `vzoo download row-a` first" in one_line_error(err)
    assert cli("download", "row-a", "--registry", registry)[0] == 0
    text = registry.read_text()
    code, out, err = cli("registry", "pin", "row-a", "--registry", registry)
    assert code == 0 and f"pinned sha256 {SHA}" in out, err
    assert registry.read_text().count("\n") == text.count("\n") + 2
    assert cli("registry", "check", registry)[0] == 0
    weights = load_registry(registry).get("row-a").weights
    assert (weights.sha256, weights.size) == (SHA, len(PAYLOAD))
    code, out, _ = cli("download", "row-a", "--registry", registry)
    assert code == 0 and "(cached," in out and "sha256 verified" in out

    code, out, _ = cli("cache", "remove", "row-a", "--registry", registry)
    assert code == 0 and "row-a: removed" in out
    assert not CheckpointCache().blob_path(SHA).exists()
    code, _, err = cli("cache", "remove", "row-a", "--registry", registry)
    assert code == 1 and "not in the cache" in one_line_error(err)


@pytest.mark.parametrize(
    "index",
    [b"{not json", b"\xff\xfe\x00garbage", b"[1, 2]", b'{"version": 1, "rows": {"row-a": 3}}',
     b'{"version": 1, "rows": {"row-a": {"sha256": "ab"}}}'],
)  # fmt: skip
def test_malformed_cache_index_is_bad_input(cli, registry, index):
    cache = CheckpointCache()
    cache.root.mkdir(parents=True)
    cache.index_path.write_bytes(index)
    for args in (["cache", "list"], ["cache", "verify", "--registry", registry]):
        code, _, err = cli(*args)
        line = one_line_error(err)
        assert code == 2 and str(cache.index_path) in line and "malformed" in line, args
        assert "move it aside or delete it" in line
    assert cache.index_path.read_bytes() == index  # reporting never rewrites it


def test_cache_verify_names_the_checks_it_used(cli, server, tmp_path):
    import io

    import torch

    from vzoo.hub import CacheEntry

    buf = io.BytesIO()
    torch.save({"state_dict": {"w": torch.arange(5000.0)}}, buf)
    zipped = buf.getvalue()
    zip_sha = hashlib.sha256(zipped).hexdigest()
    server.routes[GH_PATH.format(name="z.pth")] = FileRoute(zipped)
    server.routes[GH_PATH.format(name="a.pth")] = FileRoute(PAYLOAD)
    registry = write_registry(
        tmp_path / "registry.yaml",
        [
            {"id": "row-z", "urls": [GH.format(name="z.pth")], "sha256": zip_sha},
            {"id": "row-a", "urls": [GH.format(name="a.pth")]},
            {"id": "row-old", "urls": [GH.format(name="old.pth")]},
        ],
    )
    assert cli("download", "row-z", "row-a", "--registry", registry)[0] == 0
    # A checkpoint cached before vzoo checked CRCs: its recorded sha256 is that of a bad zip.
    bad = bytearray(zipped)
    bad[len(bad) // 2] ^= 0xFF
    bad_sha = hashlib.sha256(bad).hexdigest()
    cache = CheckpointCache()
    cache.blob_path(bad_sha).write_bytes(bad)
    cache.record(CacheEntry("row-old", bad_sha, len(bad), GH.format(name="old.pth"), "old.pth",
                            "original", "2026-01-01T00:00:00Z", False))  # fmt: skip
    code, out, err = cli("cache", "verify", "--registry", registry)
    assert code == 1
    lines = dict(line.split(": ", 1) for line in out.strip().splitlines())
    assert lines["row-z"].startswith("ok (sha256 pinned, zip crc)")
    recorded = "ok (sha256 as recorded, not pinned, loadable checkpoint, zip crc)"
    assert lines["row-a"].startswith(recorded)
    assert "row-old: CORRUPT" in err and "fails its CRC-32" in err and "removed" in err
    assert not cache.blob_path(bad_sha).exists() and cache.get("row-old") is None


def test_pin_refuses_a_cached_file_that_no_longer_passes_its_checks(cli, server, registry):
    server.routes[GH_PATH.format(name="a.pth")] = FileRoute(PAYLOAD)
    assert cli("download", "row-a", "--registry", registry)[0] == 0
    before = registry.read_text()
    CheckpointCache().blob_path(SHA).write_bytes(b"bit rot" + PAYLOAD[7:])
    code, _, err = cli("registry", "pin", "row-a", "--registry", registry)
    line = one_line_error(err)
    assert code == 1 and "not pinned: row-a: CORRUPT" in line and "vzoo download row-a" in line
    assert registry.read_text() == before and CheckpointCache().get("row-a") is None


# --- issue #22/#23: the cache is data, never a path; every failure is one line ---


def test_index_naming_a_path_outside_the_cache_touches_nothing(cli, registry, tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    cache = CheckpointCache()
    cache.root.mkdir(parents=True)
    evil = {"sha256": "../../../victim.txt", "size": 7, "url": "x", "filename": "x",
            "source": "original", "time": "2026-01-01T00:00:00Z", "pinned": False}  # fmt: skip
    cache.index_path.write_text(json.dumps({"version": 1, "rows": {"row-a": evil}}))
    assert cache.blob_path  # the index names ../../../victim.txt from blobs/: that is tmp_path
    code, _, err = cli("cache", "verify", "--registry", registry)
    assert code == 2 and "not a cache entry" in one_line_error(err)
    code, _, err = cli("cache", "remove", "row-a", "--registry", registry)
    assert code == 1 and "not in the cache" in one_line_error(err)
    assert victim.read_text() == "keep me"
    assert "row-a" not in json.loads(cache.index_path.read_text())["rows"]


@pytest.mark.parametrize(
    ("route", "message"),
    [
        (lambda req, q: send_raw(req, 200, {"Content-Length": "0"}), "empty body"),
        (lambda req, q: send_raw(req, 204, {}), "HTTP 204"),
        (lambda req, q: send_raw(req, 302, {"Location": "file:///etc/passwd"}), "not allowed"),
    ],
)
def test_hostile_answers_are_one_line_exit_1(cli, server, registry, route, message):
    server.routes[GH_PATH.format(name="a.pth")] = route
    code, out, err = cli("download", "row-a", "--registry", registry)
    line = one_line_error(err)
    assert code == 1 and message in line and "internal error" not in line and out == ""


def test_full_disk_is_one_line_exit_1(cli, server, registry, monkeypatch):
    import errno

    def full(self, data):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr("vzoo.hub.partial.PartialDownload.write", full)
    server.routes[GH_PATH.format(name="a.pth")] = FileRoute(PAYLOAD)
    code, _, err = cli("download", "row-a", "--registry", registry)
    line = one_line_error(err)
    assert code == 1 and "No space left on device" in line and "VZOO_HOME" in line
    assert CheckpointCache().get("row-a") is None


def test_file_size_limit_is_one_line_exit_1(server, registry, tmp_path):
    """`ulimit -f`: writes past the limit fail with EFBIG (Python ignores SIGXFSZ)."""
    import resource
    import subprocess
    import sys

    server.routes[GH_PATH.format(name="a.pth")] = FileRoute(PAYLOAD)
    limit = len(PAYLOAD) // 2

    def small_files() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    args = ["download", "row-a", "--registry", str(registry)]
    script = f"from vzoo.cli.main import run; run({args!r})"
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=120, preexec_fn=small_files)  # fmt: skip
    line = one_line_error(proc.stderr)
    assert proc.returncode == 1 and "File too large" in line and "ulimit -f" in line


def test_read_only_cache_is_one_line_exit_2(cli, server, registry, monkeypatch):
    import errno

    def read_only(path, text):
        raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(path))

    monkeypatch.setattr("vzoo.hub.partial.write_text_atomic", read_only)
    server.routes[GH_PATH.format(name="a.pth")] = FileRoute(PAYLOAD)
    code, _, err = cli("download", "row-a", "--registry", registry)
    line = one_line_error(err)
    assert code == 2 and "Read-only file system" in line and "writable folder" in line


def test_index_that_is_a_directory_is_one_line_exit_2(cli, server, registry):
    server.routes[GH_PATH.format(name="a.pth")] = FileRoute(PAYLOAD)
    CheckpointCache().index_path.mkdir(parents=True)
    code, _, err = cli("download", "row-a", "--registry", registry)
    line = one_line_error(err)
    assert code == 2 and "index.json" in line and "not a file" in line and "move it aside" in line
    assert server.log == []  # found before any download
    code, _, err = cli("cache", "list")
    assert code == 2 and "malformed" in one_line_error(err)


def test_cache_add_cli(cli, server, registry, tmp_path):
    good = tmp_path / "b.pth"
    good.write_bytes(PAYLOAD)
    code, _, err = cli("cache", "add", "row-bb", good, "--registry", registry)
    assert code == 2 and "did you mean: row-b" in one_line_error(err)
    code, _, err = cli("cache", "add", "row-b", tmp_path / "nope.pth", "--registry", registry)
    assert code == 2 and "no such file" in one_line_error(err)
    bad = tmp_path / "bad.pth"
    bad.write_bytes(b"x" + PAYLOAD[1:])
    code, _, err = cli("cache", "add", "row-b", bad, "--registry", registry)
    assert code == 1 and "sha256 mismatch" in one_line_error(err)
    code, out, err = cli("cache", "add", "row-b", good, "--registry", registry)
    assert code == 0 and "(added," in out and "sha256 verified" in out, err
    assert CheckpointCache().blob_path(SHA).read_bytes() == PAYLOAD
    code, out, _ = cli("download", "row-b", "--registry", registry)
    assert code == 0 and "(cached," in out and server.log == []


def test_pin_writes_the_user_overlay_never_the_package(cli, server, registry, monkeypatch):
    """A row of the packaged registry: the pin goes to $VZOO_HOME/registry.yaml's `pins:`."""
    from vzoo.settings import package_root, user_registry_path

    shipped = package_root() / "registry.yaml"
    shipped_before = shipped.read_bytes()
    monkeypatch.setattr("vzoo.core.registry.default_registry_path", lambda: registry)
    monkeypatch.setattr("vzoo.core.mmdet_index.baseline_rows", list)
    packaged_before = registry.read_text()
    server.routes[GH_PATH.format(name="a.pth")] = FileRoute(PAYLOAD)
    assert cli("download", "row-a")[0] == 0
    code, out, err = cli("registry", "pin", "row-a")
    overlay = user_registry_path()
    assert code == 0 and f"pinned sha256 {SHA}" in out and str(overlay) in out, err
    assert registry.read_text() == packaged_before and shipped.read_bytes() == shipped_before
    assert f"row-a: {{sha256: {SHA}, size: {len(PAYLOAD)}}}" in overlay.read_text()
    weights = load_registry().get("row-a").weights
    assert (weights.sha256, weights.size) == (SHA, len(PAYLOAD))
    code, out, _ = cli("download", "row-a")
    assert code == 0 and "(cached," in out and "sha256 verified" in out
    code, out, _ = cli("registry", "pin", "row-a")
    assert code == 0 and "already pinned" in out
    assert overlay.read_text().count("row-a:") == 1


def test_result_line_is_printed_after_the_live_bar_stops(cli, server, registry, monkeypatch):
    import typer

    events: list[str] = []

    class Recorder:
        live = False

        def start(self, label, total, completed):
            self.live = True
            events.append("start")

        def advance(self, n):
            pass

        def close(self):
            self.live = False
            events.append("close")

    bar = Recorder()
    monkeypatch.setattr("vzoo.hub.progress.default_progress", lambda: bar)
    echo = typer.echo

    def checked_echo(message=None, *args, **kwargs):
        events.append("echo (bar live)" if bar.live else "echo")
        echo(message, *args, **kwargs)

    monkeypatch.setattr(typer, "echo", checked_echo)
    server.routes[GH_PATH.format(name="a.pth")] = FileRoute(PAYLOAD)
    assert cli("download", "row-a", "--registry", registry)[0] == 0
    assert "echo (bar live)" not in events and events.index("start") < events.index("echo")
