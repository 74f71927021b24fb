"""vzoo.hub against real HTTP servers on 127.0.0.1: resume, retries, hosts, mirrors, integrity.

Loading checkpoints is tested in test_hub_loading.py.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from servers.loopback import (
    DriveFile,
    FakeDrive,
    FakeHub,
    FileRoute,
    LoopbackServer,
    send_page,
    send_raw,
)
from servers.registry_file import write_registry

from vzoo.core.errors import UserInputError, VzooError
from vzoo.core.registry import Row, load_registry
from vzoo.hub import (
    CheckpointCache,
    ChecksumMismatchError,
    Downloader,
    DownloadError,
    Endpoints,
    HostPageError,
    OfflineError,
    RetryPolicy,
    fetch_checkpoint,
)
from vzoo.hub.hosts import drive_confirm_url, drive_file_id, drive_folder_id, host_kind


def torch_zip(seed: int, numel: int = 60_000) -> bytes:
    """A real `torch.save` checkpoint: what an unpinned download must prove itself to be."""
    import torch

    g = torch.Generator().manual_seed(seed)
    buf = io.BytesIO()
    torch.save({"state_dict": {"w": torch.randn(numel, generator=g)}}, buf)
    return buf.getvalue()


# > several 16 KiB server chunks, so "half a body" is meaningful
PAYLOAD = torch_zip(0, 75_000)
SHA = hashlib.sha256(PAYLOAD).hexdigest()
HALF = len(PAYLOAD) // 2  # where FileRoute's "cut" stops
GH = "https://github.com/owner/proj/releases/download/v1.0/model.pth"
GH_PATH = "/owner/proj/releases/download/v1.0/model.pth"


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def server() -> Iterator[LoopbackServer]:
    srv = LoopbackServer().start()
    yield srv
    srv.stop()


@pytest.fixture
def messages() -> list[str]:
    return []


@pytest.fixture
def downloader(server: LoopbackServer, messages: list[str]) -> Downloader:
    base = server.base_url
    return Downloader(
        endpoints=Endpoints(drive=base, tsinghua=base, github=base, openmmlab=base),
        retry=RetryPolicy(attempts=3, backoff=0.01),
        timeout=5,
        notify=messages.append,
    )


def make_row(tmp_path: Path, **fields: object) -> Row:
    fields.setdefault("id", "row-a")
    reg = write_registry(tmp_path / f"registry-{fields['id']}.yaml", [fields])
    return load_registry(reg).get(str(fields["id"]))


def cache_is_empty_of(row_id: str) -> None:
    cache = CheckpointCache()
    assert cache.get(row_id) is None
    blobs = cache.root / "blobs"
    assert not blobs.exists() or not any(blobs.iterdir())
    assert not cache.partial_path(row_id).exists()


# --- plain HTTP: redirects, resume, retries ---


def test_github_release_redirect_is_verified_and_cached(tmp_path, server, downloader, messages):
    server.routes[GH_PATH] = lambda req, q: (
        req.send_response(302),
        req.send_header("Location", server.url("/objects/abc")),
        req.send_header("Content-Length", "0"),
        req.end_headers(),
    )
    server.routes["/objects/abc"] = FileRoute(PAYLOAD)
    row = make_row(tmp_path, urls=[GH], sha256=SHA, size=len(PAYLOAD))
    res = downloader.fetch(row)
    assert res.path == CheckpointCache().blob_path(SHA)
    assert res.path.read_bytes() == PAYLOAD
    assert (res.status, res.verified, res.entry.filename) == ("downloaded", True, "model.pth")
    assert not CheckpointCache().partial_path(row.id).exists()
    again = downloader.fetch(row)
    assert again.status == "cached" and again.path == res.path
    assert len(server.requests("/objects/abc")) == 1  # the second call never touched the network


@pytest.mark.parametrize(
    ("script", "ranges", "resume_header", "note"),
    [
        (["reset"], True, "resume", None),  # dropped connection: resume from what arrived
        (["cut"], True, f"bytes={HALF}-", None),  # body shorter than Content-Length
        (["cut"], False, f"bytes={HALF}-", "sent the whole file again"),  # 200 again: start over
        (["500", "500"], True, None, None),  # server errors, then success
    ],
)
def test_transient_failures_are_retried(
    tmp_path, server, downloader, messages, script, ranges, resume_header, note
):
    route = FileRoute(PAYLOAD, script, ranges=ranges)
    server.routes[GH_PATH] = route
    row = make_row(tmp_path, urls=[GH], sha256=SHA)
    res = downloader.fetch(row)
    assert res.path.read_bytes() == PAYLOAD
    gets = server.requests(GH_PATH)
    assert len(gets) == len(script) + 1
    if resume_header == "resume":  # a reset loses whatever was in flight: any offset > 0
        assert 0 < int(gets[-1].headers["range"][len("bytes=") : -1]) < len(PAYLOAD)
    else:
        assert gets[-1].headers.get("range") == resume_header
    if note:
        assert any(note in m for m in messages)


def test_gives_up_keeps_partial_and_next_run_resumes(tmp_path, server, downloader):
    server.routes[GH_PATH] = FileRoute(PAYLOAD, ["cut", "500", "500", "500"])
    row = make_row(tmp_path, urls=[GH], sha256=SHA)
    with pytest.raises(DownloadError, match=r"HTTP 500.*gave up after 3 attempts"):
        downloader.fetch(row)
    partial = CheckpointCache().partial_path(row.id)
    assert partial.read_bytes() == PAYLOAD[:HALF]  # kept: the prefix is good bytes
    assert CheckpointCache().get(row.id) is None
    res = downloader.fetch(row)  # a later run continues from the partial file
    assert res.path.read_bytes() == PAYLOAD
    assert server.requests(GH_PATH)[-1].headers["range"] == f"bytes={HALF}-"
    assert not partial.exists()


def test_wrong_checksum_leaves_nothing(tmp_path, server, downloader):
    server.routes[GH_PATH] = FileRoute(PAYLOAD)
    wrong = sha(b"another file")
    row = make_row(tmp_path, urls=[GH], sha256=wrong)
    with pytest.raises(ChecksumMismatchError) as err:
        downloader.fetch(row)
    assert f"expected {wrong}, got {SHA}" in str(err.value)
    assert "\n" not in str(err.value)
    cache_is_empty_of(row.id)


def test_size_mismatch_is_refused_before_downloading(tmp_path, server, downloader):
    server.routes[GH_PATH] = FileRoute(PAYLOAD)
    row = make_row(tmp_path, urls=[GH], size=len(PAYLOAD) + 1)
    with pytest.raises(DownloadError, match=f"registry expects {len(PAYLOAD) + 1}"):
        downloader.fetch(row)
    cache_is_empty_of(row.id)


def test_openmmlab_404_names_the_dead_link(tmp_path, server, downloader):
    url = "https://download.openmmlab.com/mmdetection/v2.0/sparse_rcnn/x.pth"
    row = make_row(tmp_path, urls=[url])
    with pytest.raises(DownloadError, match=r"download.openmmlab.com: HTTP 404 .*link is dead"):
        downloader.fetch(row)
    assert len(server.requests("/mmdetection/v2.0/sparse_rcnn/x.pth")) == 1  # 404: no retry


# --- hosts: HTML where a checkpoint was expected, Drive confirm and folders ---


@pytest.mark.parametrize("status", [200, 404])
def test_tsinghua_dead_token(tmp_path, server, downloader, status):
    server.routes["/f/ce362e868fb5491ca55c/"] = lambda req, q: send_page(
        req, "<html><head><title>Page not found - Seafile</title></head></html>", status
    )
    row = make_row(tmp_path, urls=["https://cloud.tsinghua.edu.cn/f/ce362e868fb5491ca55c/?dl=1"])
    with pytest.raises(DownloadError, match=r"Tsinghua cloud.*token is dead") as err:
        downloader.fetch(row)
    assert "--prefer mirror" in str(err.value)
    cache_is_empty_of(row.id)


def test_tsinghua_download(tmp_path, server, downloader, messages):
    server.routes["/f/abcdef012345/"] = FileRoute(
        PAYLOAD, headers={"Content-Disposition": "attachment;filename*=UTF-8''mlla_t.pth"}
    )
    row = make_row(tmp_path, urls=["https://cloud.tsinghua.edu.cn/f/abcdef012345/?dl=1"])
    res = downloader.fetch(row)
    assert res.path.read_bytes() == PAYLOAD and not res.verified
    assert res.entry.filename == "mlla_t.pth"  # the token URL says nothing; the header does
    assert server.requests("/f/abcdef012345/")[0].query == {"dl": ["1"]}
    assert any("recorded sha256" in m and "vzoo registry pin row-a" in m for m in messages)


@pytest.mark.parametrize("status", [200, 403])
def test_drive_quota_page_is_not_saved_as_a_checkpoint(tmp_path, server, downloader, status):
    drive = FakeDrive(server)
    drive.files["1AbCdEfGhIjKlMnOp"] = DriveFile(
        "model.pth", PAYLOAD, quota=True, quota_status=status
    )
    row = make_row(tmp_path, urls=["https://drive.google.com/file/d/1AbCdEfGhIjKlMnOp/view"])
    with pytest.raises(HostPageError, match="Google Drive returned a quota page") as err:
        downloader.fetch(row)
    assert "try again in 24 h or use --prefer mirror" in str(err.value)
    cache_is_empty_of(row.id)


def test_html_served_as_octet_stream_is_detected(tmp_path, server, downloader):
    server.routes[GH_PATH] = FileRoute(PAYLOAD, ["html"])
    row = make_row(tmp_path, urls=[GH])
    with pytest.raises(HostPageError, match="GitHub returned an HTML page"):
        downloader.fetch(row)
    cache_is_empty_of(row.id)


@pytest.mark.parametrize(
    "url",
    [
        "https://drive.google.com/file/d/1AbCdEfGhIjKlMnOp/view?usp=sharing",
        "https://drive.google.com/open?id=1AbCdEfGhIjKlMnOp",
        "https://drive.google.com/uc?id=1AbCdEfGhIjKlMnOp&export=download",
    ],
)
def test_drive_virus_scan_confirm_flow(tmp_path, server, downloader, url):
    drive = FakeDrive(server)
    drive.files["1AbCdEfGhIjKlMnOp"] = DriveFile("msvmamba_tiny.pth", PAYLOAD, confirm=True)
    row = make_row(tmp_path, urls=[url], sha256=SHA)
    res = downloader.fetch(row)
    assert res.path.read_bytes() == PAYLOAD
    (confirmed,) = server.requests("/download")
    assert confirmed.query["uuid"] == [FakeDrive.UUID] and confirmed.query["confirm"] == ["t"]


def test_drive_small_file_without_confirm_page(tmp_path, server, downloader):
    drive = FakeDrive(server)
    drive.files["1SmallFileId0000"] = DriveFile("m.pth", PAYLOAD, confirm=False)
    row = make_row(tmp_path, urls=["https://drive.google.com/file/d/1SmallFileId0000/view"])
    assert downloader.fetch(row).path.read_bytes() == PAYLOAD
    assert server.requests("/download") == []


def test_drive_folder_picks_checkpoint_and_keeps_logs(tmp_path, server, downloader):
    drive = FakeDrive(server)
    drive.files["1LogFile00000000"] = DriveFile("log.txt", b"epoch 1 loss 2.0\n", confirm=False)
    drive.files["1CkptFile0000000"] = DriveFile("mask_rcnn_1x.pth", PAYLOAD)
    drive.files["1CfgFile00000000"] = DriveFile("config.py", b"model = dict()\n", confirm=False)
    drive.files["1JsonLog00000000"] = DriveFile(  # text is fine beside a checkpoint
        "log.json", b'{"epoch": 1}\n', confirm=False, content_type="application/json"
    )
    drive.folders["1FolderId0000000"] = [
        "1LogFile00000000", "1CkptFile0000000", "1CfgFile00000000", "1JsonLog00000000",
    ]  # fmt: skip
    url = "https://drive.google.com/drive/folders/1FolderId0000000?usp=sharing"
    row = make_row(tmp_path, urls=[url], sha256=SHA, kind="drive-folder")
    res = downloader.fetch(row)
    assert res.path.read_bytes() == PAYLOAD and res.entry.filename == "mask_rcnn_1x.pth"
    assert res.extras == []  # logs only when asked
    res = downloader.fetch(row, with_logs=True)
    assert res.status == "cached"
    assert sorted(p.name for p in res.extras) == ["config.py", "log.json", "log.txt"]
    assert (CheckpointCache().extras_dir(row.id) / "log.txt").read_bytes() == b"epoch 1 loss 2.0\n"
    assert len(server.requests("/download")) == 1  # the checkpoint itself was not fetched again


def test_drive_folder_with_two_checkpoints_needs_a_filename(tmp_path, server, downloader):
    drive = FakeDrive(server)
    drive.files["1CkptA0000000000"] = DriveFile("epoch_11.pth", b"a")
    drive.files["1CkptB0000000000"] = DriveFile("epoch_12.pth", PAYLOAD)
    drive.folders["1FolderId0000000"] = ["1CkptA0000000000", "1CkptB0000000000"]
    url = "https://drive.google.com/drive/folders/1FolderId0000000"
    row = make_row(tmp_path, urls=[url], kind="drive-folder")
    with pytest.raises(DownloadError, match=r"found files: epoch_11\.pth, epoch_12\.pth"):
        downloader.fetch(row)
    row = make_row(tmp_path, id="row-b", urls=[url], kind="drive-folder", filename="epoch_12.pth")
    assert downloader.fetch(row).path.read_bytes() == PAYLOAD


def test_url_forms() -> None:
    assert drive_file_id("https://drive.google.com/file/d/1AbC-d_e00/view?usp=sharing") == (
        "1AbC-d_e00"
    )
    assert drive_file_id("https://drive.google.com/open?id=1AbC-d_e00") == "1AbC-d_e00"
    assert drive_folder_id("https://drive.google.com/drive/folders/1Fold_er000?usp=x") == (
        "1Fold_er000"
    )
    assert drive_file_id("https://drive.google.com/drive/folders/1Fold_er000") is None
    # The older confirm page: a `confirm=TOKEN` link back to the same `uc` endpoint.
    legacy = '<a id="uc-download-link" href="/uc?export=download&amp;confirm=Zx9_&amp;id=1Ab">'
    assert drive_confirm_url(legacy, "https://drive.google.com/uc?export=download&id=1Ab") == (
        "https://drive.google.com/uc?export=download&id=1Ab&confirm=Zx9_"
    )
    assert drive_confirm_url("<html>no form</html>", "https://drive.google.com/uc?id=1") is None
    assert host_kind("https://cloud.tsinghua.edu.cn/f/x/?dl=1") == "tsinghua"
    assert host_kind("hf://org/repo/file.pth") == "hf"
    ep = Endpoints(tsinghua="http://127.0.0.1:9")
    assert ep.rewrite("https://cloud.tsinghua.edu.cn/f/x/?dl=1") == "http://127.0.0.1:9/f/x/?dl=1"
    assert ep.rewrite(GH) == GH  # hosts without an override are contacted as published


# --- Hugging Face mirrors ---


@pytest.fixture
def hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeHub]:
    srv = LoopbackServer().start()
    fake = FakeHub(srv)
    monkeypatch.setenv("HF_ENDPOINT", srv.base_url)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf-cache"))
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setenv("HF_HUB_DISABLE_TELEMETRY", "1")
    fake.server = srv  # type: ignore[attr-defined]
    yield fake
    srv.stop()


def test_mirror_after_failing_original_and_offline_from_hf_cache(
    tmp_path, server, downloader, messages, hub
):
    hub.files[("vzoo/mirror", "mlla/mlla_t.pth")] = PAYLOAD
    row = make_row(tmp_path, urls=[GH], mirrors=["hf://vzoo/mirror/mlla/mlla_t.pth"], sha256=SHA)
    res = downloader.fetch(row)  # the original 404s (no route): the mirror serves it
    assert res.path.read_bytes() == PAYLOAD and res.entry.source == "mirror"
    assert any("HTTP 404" in m for m in messages)
    CheckpointCache().forget(row.id)
    assert CheckpointCache().get(row.id) is None
    n = len(hub.server.log)  # type: ignore[attr-defined]
    res = downloader.fetch(row, offline=True)  # offline: the Hugging Face cache still counts
    assert res.path.read_bytes() == PAYLOAD
    assert len(hub.server.log) == n  # type: ignore[attr-defined]


def test_prefer_mirror_skips_the_original(tmp_path, server, downloader, hub):
    hub.files[("vzoo/mirror", "m.pth")] = PAYLOAD
    server.routes[GH_PATH] = FileRoute(PAYLOAD)
    row = make_row(tmp_path, urls=[GH], mirrors=["hf://vzoo/mirror/m.pth"], sha256=SHA)
    assert downloader.fetch(row, prefer="mirror").entry.source == "mirror"
    assert server.requests(GH_PATH) == []


def test_mirror_with_wrong_checksum_is_refused(tmp_path, server, downloader, hub):
    hub.files[("vzoo/mirror", "m.pth")] = b"not the checkpoint"
    row = make_row(tmp_path, urls=[GH], mirrors=["hf://vzoo/mirror/m.pth"], sha256=SHA)
    with pytest.raises(DownloadError, match=r"all 2 sources failed.*HTTP 404.*sha256 mismatch"):
        downloader.fetch(row)
    cache_is_empty_of(row.id)


# --- offline, pinning, concurrency ---


def test_offline_never_touches_the_network(tmp_path, server, downloader, monkeypatch):
    server.routes[GH_PATH] = FileRoute(PAYLOAD)
    row = make_row(tmp_path, urls=[GH], sha256=SHA)
    monkeypatch.setenv("VZOO_OFFLINE", "1")
    with pytest.raises(OfflineError, match="not in the cache and offline mode is on"):
        downloader.fetch(row)
    assert server.log == []
    monkeypatch.delenv("VZOO_OFFLINE")
    path = downloader.fetch(row).path
    monkeypatch.setenv("VZOO_OFFLINE", "1")
    assert fetch_checkpoint(row) == path  # the module API, as eval/flops call it


def test_registry_pin_round_trip(tmp_path, server, downloader, messages):
    from vzoo.hub.pin import pin_cached

    server.routes[GH_PATH] = FileRoute(PAYLOAD)
    reg = write_registry(tmp_path / "registry.yaml", [{"id": "row-a", "urls": [GH]}])
    before = reg.read_text()
    downloader.fetch(load_registry(reg).get("row-a"))
    assert any("recorded sha256" in m for m in messages)
    assert "pinned sha256" in pin_cached("row-a", reg)
    after = reg.read_text()
    added = [line for line in after.splitlines() if line not in before.splitlines()]
    assert added == [f"      sha256: {SHA}", f"      size: {len(PAYLOAD)}"]
    assert after.startswith("# test registry: comments must survive")
    assert "  - id: row-a  # row comment" in after and "  # as published" in after
    pinned = load_registry(reg).get("row-a")
    assert (pinned.weights.sha256, pinned.weights.size) == (SHA, len(PAYLOAD))
    assert "already pinned" in pin_cached("row-a", reg)
    res = downloader.fetch(pinned)
    assert res.status == "cached" and res.verified
    other = sha(b"x")
    reg.write_text(after.replace(SHA, other))
    with pytest.raises(VzooError, match="re-pin with --force"):
        pin_cached("row-a", reg)
    assert "pinned" in pin_cached("row-a", reg, force=True)
    assert load_registry(reg).get("row-a").weights.sha256 == SHA
    with pytest.raises(UserInputError, match="did you mean: row-a"):
        pin_cached("row-aa", reg)


def test_two_processes_download_one_file_once(tmp_path, server):
    server.routes[GH_PATH] = FileRoute(PAYLOAD, chunk_delay=0.05)  # ~1 s per download
    reg = write_registry(tmp_path / "registry.yaml", [{"id": "row-a", "urls": [GH], "sha256": SHA}])
    script = textwrap.dedent(
        f"""
        from vzoo.cli.main import run
        run(["download", "row-a", "--registry", {str(reg)!r}])
        """
    )
    env = {**os.environ, "VZOO_GITHUB_ENDPOINT": server.base_url}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", script],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    outs = [p.communicate(timeout=60) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    blob = str(CheckpointCache().blob_path(SHA))
    assert all(blob in out for out, _ in outs)
    assert len(server.requests(GH_PATH)) == 1  # the second process waited, then found it cached
    assert Path(blob).read_bytes() == PAYLOAD
    assert not CheckpointCache().partial_path("row-a").exists()


def test_repinned_row_never_returns_the_old_cached_file(tmp_path, server, downloader):
    """The cache holds file A for the row; the registry now pins B: fetch must not answer A."""
    new = os.urandom(1000)
    server.routes[GH_PATH] = FileRoute(PAYLOAD)
    old = downloader.fetch(make_row(tmp_path, urls=[GH]))
    assert old.path.read_bytes() == PAYLOAD and CheckpointCache().get("row-a").sha256 == SHA
    repinned = make_row(tmp_path, id="row-a", urls=[GH], sha256=sha(new))
    # The host still serves A: a clear mismatch, not A as "cached, verified".
    with pytest.raises(ChecksumMismatchError, match=f"expected {sha(new)}, got {SHA}"):
        downloader.fetch(repinned)
    server.routes[GH_PATH] = FileRoute(new)  # the host serves B now: B is downloaded
    res = downloader.fetch(repinned)
    assert (res.status, res.verified, res.path.read_bytes()) == ("downloaded", True, new)
    assert CheckpointCache().get("row-a").sha256 == sha(new)
    assert len(server.requests(GH_PATH)) == 3


# --- integrity without a pin: partial files, changed hosts, published digests, zip CRC ---


def interrupted(tmp_path, server, downloader, route, **row_fields):
    """Leave a partial download of half the file (the host cuts, then errors until give-up)."""
    route.script = ["cut", "500", "500", "500"]
    server.routes[GH_PATH] = route
    row = make_row(tmp_path, urls=[GH], **row_fields)
    with pytest.raises(DownloadError, match="gave up"):
        downloader.fetch(row)
    partial = CheckpointCache().partial_path(row.id)
    assert partial.stat().st_size == len(route.data) // 2
    return row, partial


@pytest.mark.parametrize("damage", ["zeros", "no journal", "journal of an older vzoo"])
def test_garbage_partial_is_dropped_not_resumed(tmp_path, server, downloader, messages, damage):
    row, partial = interrupted(tmp_path, server, downloader, FileRoute(PAYLOAD))
    journal = partial.with_suffix(".json")
    if damage == "zeros":
        partial.write_bytes(bytes(partial.stat().st_size))
    elif damage == "no journal":
        journal.unlink()
    else:
        journal.write_text(json.dumps({"url": GH}))
    server.routes[GH_PATH] = FileRoute(PAYLOAD)
    res = downloader.fetch(row)
    assert res.path.read_bytes() == PAYLOAD and res.entry.sha256 == SHA
    assert "range" not in server.requests(GH_PATH)[-1].headers  # downloaded whole
    assert any("dropped the partial download" in m for m in messages)
    assert not partial.exists() and not journal.exists()


NEW = torch_zip(1, 75_000)  # the host's file after it changed (same size, as a re-upload)


@pytest.mark.parametrize(
    ("validators", "honours_if_range"),
    [
        ({"ETag": '"v1"'}, True),  # If-Range with the ETag: the server sends the new file whole
        ({"Last-Modified": "Mon, 01 Dec 2025 10:00:00 GMT"}, True),  # If-Range with the date
        ({"ETag": '"v1"'}, False),  # the server ignores If-Range; its 206 carries the new ETag
    ],
)
def test_file_changed_between_interrupt_and_resume(
    tmp_path, server, downloader, messages, validators, honours_if_range
):
    _, value = next(iter(validators.items()))
    row, _ = interrupted(tmp_path, server, downloader, FileRoute(PAYLOAD, headers=validators))
    changed = {k: v.replace("v1", "v2").replace("10:00", "11:00") for k, v in validators.items()}
    server.routes[GH_PATH] = FileRoute(NEW, headers=changed, if_range=honours_if_range)
    res = downloader.fetch(row)
    assert res.path.read_bytes() == NEW  # the new file, never half old, half new
    resumed = [r for r in server.requests(GH_PATH) if "range" in r.headers]
    assert resumed[-1].headers["if-range"] == value
    assert CheckpointCache().blob_path(SHA).exists() is False


def test_changed_file_without_validators_is_caught_by_the_zip_crc(
    tmp_path, server, downloader, messages
):
    old, new = torch_zip(1), torch_zip(2)
    assert len(old) == len(new)  # a re-upload of the same shapes: only the bytes differ
    row, _ = interrupted(tmp_path, server, downloader, FileRoute(old))
    server.routes[GH_PATH] = FileRoute(new)  # no ETag, no Last-Modified: the resume is blind
    res = downloader.fetch(row)
    assert res.path.read_bytes() == new
    assert any("CRC-32" in m and "downloaded whole once more" in m for m in messages)
    gets = server.requests(GH_PATH)
    assert "range" in gets[-2].headers and "range" not in gets[-1].headers
    assert [e.sha256 for e in CheckpointCache().entries()] == [sha(new)]


def test_misplaced_content_range_restarts_instead_of_sticking(
    tmp_path, server, downloader, messages
):
    server.routes[GH_PATH] = FileRoute(PAYLOAD, ["cut", "misplaced-range"])
    row = make_row(tmp_path, urls=[GH])
    res = downloader.fetch(row)
    assert res.path.read_bytes() == PAYLOAD
    gets = server.requests(GH_PATH)
    assert [g.headers.get("range") for g in gets] == [None, f"bytes={HALF}-", None]
    assert any("the server sent bytes from 0" in m for m in messages)
    assert not CheckpointCache().partial_path(row.id).exists()


def test_misplaced_content_range_on_a_later_run(tmp_path, server, downloader, messages):
    row, partial = interrupted(tmp_path, server, downloader, FileRoute(PAYLOAD))
    server.routes[GH_PATH] = FileRoute(PAYLOAD, ["misplaced-range"])
    assert downloader.fetch(row).path.read_bytes() == PAYLOAD
    assert not partial.exists()


OPENMMLAB = "https://download.openmmlab.com/mmdetection/v2.0/x/x_20201222_214453-{}.pth"


def test_openmmlab_name_prefix_is_checked(tmp_path, server, downloader):
    bad = OPENMMLAB.format("deadbeef")
    server.prefix_routes["/mmdetection/"] = FileRoute(PAYLOAD)
    row = make_row(tmp_path, urls=[bad])
    with pytest.raises(ChecksumMismatchError, match="file name carries deadbeef") as err:
        downloader.fetch(row)
    assert f"got {SHA}" in str(err.value)
    cache_is_empty_of(row.id)
    row = make_row(tmp_path, id="row-b", urls=[OPENMMLAB.format(SHA[:8])])
    res = downloader.fetch(row)
    assert res.entry.host_check == "openmmlab name" and res.entry.host_sha256 == SHA[:8]


GH_API_PATH = "/api/v3/repos/owner/proj/releases/tags/v1.0"


def release(digest: str | None) -> Callable[..., None]:
    asset: dict[str, object] = {"name": "model.pth", "size": len(PAYLOAD)}
    if digest is not None:
        asset["digest"] = f"sha256:{digest}"
    body = json.dumps({"tag_name": "v1.0", "assets": [{"name": "other.pth"}, asset]})
    return lambda req, q: send_page(req, body, headers={"Content-Type": "application/json"})


def test_github_release_digest_is_checked(tmp_path, server, downloader, messages):
    server.routes[GH_PATH] = FileRoute(PAYLOAD)
    server.routes[GH_API_PATH] = release(sha(b"another file"))
    row = make_row(tmp_path, urls=[GH])
    with pytest.raises(ChecksumMismatchError, match="GitHub releases API publishes"):
        downloader.fetch(row)
    cache_is_empty_of(row.id)
    server.routes[GH_API_PATH] = release(SHA)
    res = downloader.fetch(row)
    assert (res.entry.host_check, res.entry.host_sha256) == ("github digest", SHA)
    assert any("checked: github digest" in m for m in messages)


def test_github_api_is_injectable_and_its_absence_is_said(tmp_path, server, messages):
    server.routes[GH_PATH] = FileRoute(PAYLOAD)
    server.routes["/elsewhere/repos/owner/proj/releases/tags/v1.0"] = release(SHA)
    row = make_row(tmp_path, urls=[GH])
    api = Endpoints(github=server.base_url, github_api=server.url("/elsewhere"))
    got = Downloader(endpoints=api, retry=RetryPolicy(attempts=2, backoff=0.01), timeout=5,
                     notify=messages.append).fetch(row)  # fmt: skip
    assert got.entry.host_check == "github digest"
    CheckpointCache().forget(row.id)
    dead = Endpoints(github=server.base_url, github_api="http://127.0.0.1:9")  # nothing listens
    got = Downloader(endpoints=dead, retry=RetryPolicy(attempts=2, backoff=0.01), timeout=5,
                     notify=messages.append).fetch(row)  # fmt: skip
    assert got.path.read_bytes() == PAYLOAD and got.entry.host_check is None
    assert any("GitHub release digest not available" in m for m in messages)


def test_corrupted_zip_body_is_refused_without_a_pin(tmp_path, server, downloader):
    data = bytearray(torch_zip(3))
    data[len(data) // 2] ^= 0xFF  # one flipped byte inside the tensor record
    server.routes[GH_PATH] = FileRoute(bytes(data))
    row = make_row(tmp_path, urls=[GH])
    with pytest.raises(DownloadError, match="fails its CRC-32"):
        downloader.fetch(row)
    cache_is_empty_of(row.id)


def test_hf_mirror_etag_is_checked(tmp_path, server, downloader, hub):
    hub.files[("vzoo/mirror", "m.pth")] = PAYLOAD
    hub.etags[("vzoo/mirror", "m.pth")] = sha(b"the file the hub says it is")
    row = make_row(tmp_path, urls=[GH], mirrors=["hf://vzoo/mirror/m.pth"])
    with pytest.raises(DownloadError, match=r"sha256 mismatch.*Hugging Face ETag"):
        downloader.fetch(row)
    cache_is_empty_of(row.id)
    del hub.etags[("vzoo/mirror", "m.pth")]
    res = downloader.fetch(row)
    assert res.entry.source == "mirror" and res.entry.host_check == "hf etag"


# --- a hostile host (issue #22): nothing unproven is cached, no host keeps vzoo waiting ---


def legacy_torch(seed: int) -> bytes:
    """A pre-1.6 torch file (pickle + raw storages, no CRC to catch a splice)."""
    import torch

    g = torch.Generator().manual_seed(seed)
    buf = io.BytesIO()
    torch.save({"w": torch.randn(60_000, generator=g)}, buf, _use_new_zipfile_serialization=False)
    return buf.getvalue()


def fails_and_caches_nothing(downloader, row, match: str, error=DownloadError) -> str:
    with pytest.raises(error, match=match) as err:
        downloader.fetch(row)
    assert "\n" not in str(err.value)
    cache = CheckpointCache()  # a resumable partial may stay; nothing counts as cached
    assert cache.get(row.id) is None and not any((cache.root / "blobs").glob("*"))
    return str(err.value)


def test_body_shorter_than_content_length_is_never_complete(tmp_path, server, downloader):
    """Half the announced body, then a resume answered by an empty 206 of unknown total."""
    length = len(PAYLOAD)

    def route(req, q):
        if "Range" in req.headers:
            send_raw(req, 206, {"Content-Range": f"bytes {HALF}-{length - 1}/*"})
        else:
            send_raw(req, 200, {"Content-Length": str(length)}, PAYLOAD[:HALF])

    server.routes[GH_PATH] = route
    row = make_row(tmp_path, urls=[GH])
    err = fails_and_caches_nothing(downloader, row, "gave up after 3 attempts without new bytes")
    assert "length unknown" in err or f"closed after {HALF} of {length} bytes" in err


def test_body_cut_without_content_length_is_refused(tmp_path, server, downloader):
    server.routes[GH_PATH] = lambda req, q: send_raw(req, 200, {}, PAYLOAD[:HALF])
    row = make_row(tmp_path, urls=[GH])
    fails_and_caches_nothing(downloader, row, "never said the file's length")
    assert len(server.requests(GH_PATH)) == 1  # an unprovable body is not worth a retry


def test_reset_then_416_claiming_the_partial_length(tmp_path, server, downloader):
    def route(req, q):
        if "Range" in req.headers:  # "you already have it all": 512 bytes
            send_raw(req, 416, {"Content-Range": "bytes */512", "Content-Length": "0"})
        else:
            send_raw(req, 200, {"Content-Length": str(len(PAYLOAD))}, PAYLOAD[:512], reset=True)

    server.routes[GH_PATH] = route
    row = make_row(tmp_path, urls=[GH])
    fails_and_caches_nothing(downloader, row, "not satisfiable although the file was announced")


def test_host_announcing_more_than_it_sends_gives_up(tmp_path, server, downloader):
    """1000 bytes announced too many, resume answered 416: re-downloaded bytes are no progress."""
    announced = str(len(PAYLOAD) + 1000)

    def route(req, q):
        if len(server.requests(GH_PATH)) > 20:  # today's code loops for ever: stop it here
            send_raw(req, 404, {"Content-Length": "0"})
        elif "Range" in req.headers:
            send_raw(req, 416, {"Content-Range": f"bytes */{len(PAYLOAD)}"})
        else:
            send_raw(req, 200, {"Content-Length": announced}, PAYLOAD)

    server.routes[GH_PATH] = route
    row = make_row(tmp_path, urls=[GH])
    fails_and_caches_nothing(downloader, row, "gave up after 3 attempts without new bytes")
    assert len(server.requests(GH_PATH)) <= 6


def test_versions_spliced_without_validators_are_downloaded_whole(
    tmp_path, server, downloader, messages
):
    old, new = legacy_torch(1), legacy_torch(2)
    assert len(old) == len(new) and old[:64] == new[:64]  # a splice of the two loads fine
    row, _ = interrupted(tmp_path, server, downloader, FileRoute(old))
    server.routes[GH_PATH] = FileRoute(new)  # no ETag, no Last-Modified: the resume is blind
    res = downloader.fetch(row)
    assert res.path.read_bytes() == new  # never half old, half new
    assert any("no validator" in m and "downloaded whole once more" in m for m in messages)
    assert [e.sha256 for e in CheckpointCache().entries()] == [sha(new)]


@pytest.mark.parametrize(
    ("headers", "body", "match"),
    [
        ({}, b'<?xml version="1.0"?><Error><Code>AccessDenied</Code></Error>', "XML document"),
        ({"Content-Type": "application/json"}, b'{"error": "quota exceeded"}', "JSON document"),
        ({}, b'{"message": "Not Found", "documentation_url": "x"}', "JSON document"),
    ],
)
def test_error_documents_with_200_are_refused(tmp_path, server, downloader, headers, body, match):
    server.routes[GH_PATH] = lambda req, q: send_raw(
        req, 200, {"Content-Length": str(len(body)), **headers}, body
    )
    row = make_row(tmp_path, urls=[GH])
    fails_and_caches_nothing(downloader, row, match, HostPageError)


def test_gzip_content_encoding_is_refused_not_stored(tmp_path, server, downloader):
    import gzip

    body = gzip.compress(PAYLOAD)
    server.routes[GH_PATH] = lambda req, q: send_raw(
        req, 200, {"Content-Length": str(len(body)), "Content-Encoding": "gzip"}, body
    )
    row = make_row(tmp_path, urls=[GH])
    fails_and_caches_nothing(downloader, row, "Content-Encoding 'gzip'")


@pytest.mark.parametrize(
    ("status", "location", "match"),
    [
        (302, GH_PATH, "HTTP 302.*redirect was not followed.*infinite loop"),
        (300, None, "HTTP 300"),
        (302, "file:///etc/passwd", "HTTP 302.*file:///etc/passwd' is not allowed"),
        (302, "ftp://127.0.0.1/x.pth", "HTTP 302.*refused: only http and https"),
        (204, None, "HTTP 204.*sent no file"),
    ],
)
def test_bodies_of_non_2xx_answers_are_never_files(
    tmp_path, server, downloader, status, location, match
):
    headers = {"Content-Length": str(len(PAYLOAD))} if status != 204 else {}
    if location:
        headers["Location"] = location
    server.routes[GH_PATH] = lambda req, q: send_raw(
        req, status, headers, PAYLOAD if status != 204 else b""
    )
    row = make_row(tmp_path, urls=[GH])
    fails_and_caches_nothing(downloader, row, match)


def test_empty_body_is_one_clear_error(tmp_path, server, downloader):
    server.routes[GH_PATH] = lambda req, q: send_raw(req, 200, {"Content-Length": "0"})
    row = make_row(tmp_path, urls=[GH])
    fails_and_caches_nothing(downloader, row, "empty body")


def test_stall_after_headers_gives_up_after_the_read_timeout(tmp_path, server, messages):
    import time

    server.routes[GH_PATH] = lambda req, q: send_raw(
        req, 200, {"Content-Length": str(len(PAYLOAD))}, PAYLOAD, stall=3
    )
    quick = Downloader(endpoints=Endpoints(github=server.base_url),
                       retry=RetryPolicy(attempts=5, backoff=0.01), timeout=0.3,
                       notify=messages.append)  # fmt: skip
    row = make_row(tmp_path, urls=[GH])
    t0 = time.monotonic()
    fails_and_caches_nothing(quick, row, r"2 reads stalled 0.3 s each")
    assert time.monotonic() - t0 < 2.5  # two read timeouts, not five attempts of minutes
    assert len(server.requests(GH_PATH)) == 2


def test_unresolvable_host_fails_at_once(tmp_path, messages):
    import time

    nowhere = Downloader(endpoints=Endpoints(github="http://vzoo-no-such-host.invalid"),
                         retry=RetryPolicy(attempts=5, backoff=1.0), timeout=5,
                         notify=messages.append)  # fmt: skip
    row = make_row(tmp_path, urls=[GH])
    t0 = time.monotonic()
    err = fails_and_caches_nothing(nowhere, row, "cannot resolve the host name")
    assert "not retried" in err and time.monotonic() - t0 < 5
    assert not any("retrying" in m for m in messages)


def test_give_up_message_names_only_a_partial_that_exists(tmp_path, server, downloader):
    server.routes[GH_PATH] = FileRoute(PAYLOAD, ["500"] * 5)
    row = make_row(tmp_path, urls=[GH], sha256=SHA)
    err = fails_and_caches_nothing(downloader, row, "no bytes kept")
    assert ".incomplete" not in err
    server.routes[GH_PATH] = FileRoute(PAYLOAD, ["cut", "500", "500", "500"])
    with pytest.raises(DownloadError) as kept:
        downloader.fetch(row)
    partial = CheckpointCache().partial_path(row.id)
    assert f"{HALF} bytes kept in {partial}" in str(kept.value) and partial.stat().st_size == HALF


def test_cached_pinned_file_is_hashed_before_it_is_called_verified(
    tmp_path, server, downloader, messages
):
    server.routes[GH_PATH] = FileRoute(PAYLOAD)
    row = make_row(tmp_path, urls=[GH], sha256=SHA)
    blob = downloader.fetch(row).path
    blob.write_bytes(b"35 bytes that are not the checkpoint")
    res = downloader.fetch(row)
    assert (res.status, res.verified) == ("downloaded", True)  # found out, fetched again
    assert res.path.read_bytes() == PAYLOAD
    assert any("is not the pinned checkpoint" in m for m in messages)
    assert len(server.requests(GH_PATH)) == 2


def test_unpinned_body_must_be_a_loadable_checkpoint(tmp_path, server, downloader):
    server.routes[GH_PATH] = FileRoute(os.urandom(4096))  # no pin, no host digest: prove it
    row = make_row(tmp_path, urls=[GH])
    fails_and_caches_nothing(downloader, row, "not a torch checkpoint")
    legacy = legacy_torch(3)
    cut = legacy[: len(legacy) - 1000]  # a legacy file missing its last storage bytes
    server.routes[GH_PATH] = FileRoute(cut)
    fails_and_caches_nothing(downloader, row, "not a loadable legacy torch checkpoint")
    server.routes[GH_PATH] = FileRoute(legacy)
    assert downloader.fetch(row).path.read_bytes() == legacy


def test_safetensors_header_is_checked(tmp_path, server, downloader):
    header = json.dumps({"w": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}}).encode()
    good = len(header).to_bytes(8, "little") + header + bytes(16)
    url = "https://github.com/owner/proj/releases/download/v1.0/model.safetensors"
    path = "/owner/proj/releases/download/v1.0/model.safetensors"
    server.routes[path] = FileRoute(good[:-4])
    row = make_row(tmp_path, urls=[url])
    fails_and_caches_nothing(downloader, row, "tensor 'w' lies outside the file's 12 data bytes")
    server.routes[path] = FileRoute(good)
    assert downloader.fetch(row).path.read_bytes() == good


def test_symlink_at_the_partial_path_is_never_written_through(tmp_path, server, downloader):
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    partial = CheckpointCache().partial_path("row-a")
    partial.parent.mkdir(parents=True)
    partial.symlink_to(victim)
    partial.with_suffix(".json").write_text(
        json.dumps({"url": GH, "size": 7, "sha256": sha(b"keep me"), "total": len(PAYLOAD)})
    )
    server.routes[GH_PATH] = FileRoute(PAYLOAD)
    res = downloader.fetch(make_row(tmp_path, urls=[GH], sha256=SHA))
    assert res.path.read_bytes() == PAYLOAD and victim.read_text() == "keep me"
    assert server.requests(GH_PATH)[0].headers.get("range") is None


def test_add_a_hand_downloaded_file(tmp_path, server, downloader, messages):
    from vzoo.hub.fetch import result_line

    row = make_row(tmp_path, urls=[GH], sha256=SHA)
    wrong = tmp_path / "wrong.pth"
    wrong.write_bytes(PAYLOAD[:-1] + b"x")
    with pytest.raises(VzooError, match=r"not added.*sha256 mismatch"):
        downloader.add_file(row, wrong)
    cache_is_empty_of(row.id)
    good = tmp_path / "model.pth"
    good.write_bytes(PAYLOAD)
    res = downloader.add_file(row, good)
    assert (res.status, res.verified, res.path.read_bytes()) == ("added", True, PAYLOAD)
    assert good.read_bytes() == PAYLOAD  # the user's file is copied, never moved
    assert "sha256 verified" in result_line(res)
    unpinned = make_row(tmp_path, id="row-b", urls=[GH])
    garbage = tmp_path / "page.pth"
    garbage.write_bytes(b"<!DOCTYPE html><html>quota</html>")
    with pytest.raises(VzooError, match=r"not added.*not a torch checkpoint"):
        downloader.add_file(unpinned, garbage)
    assert CheckpointCache().get("row-b") is None
    assert server.requests(GH_PATH) == []  # the file itself is never fetched
