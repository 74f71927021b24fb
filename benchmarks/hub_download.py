"""Measure vzoo.hub on loopback: download throughput, resume, hashing, cache-hit latency.

    python benchmarks/hub_download.py --mib 128 --out reports/hub_download.md

Serves a random payload from the tests' loopback server (127.0.0.1 only) into a throwaway vzoo
home, so it measures vzoo's own overhead (streaming, writes with fsync, sha256, rename), not a
network. Writes a markdown table (atomically); numbers are those of the machine that runs it.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from servers.loopback import FileRoute, LoopbackServer
from servers.registry_file import write_registry

from vzoo.core.files import write_text_atomic
from vzoo.core.registry import load_registry
from vzoo.hub import CheckpointCache, Downloader, Endpoints, RetryPolicy, sha256_file

URL = "https://github.com/owner/proj/releases/download/v1/model.pth"
PATH = "/owner/proj/releases/download/v1/model.pth"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--mib", type=int, default=128, help="payload size in MiB")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    payload = os.urandom(args.mib << 20)
    digest = hashlib.sha256(payload).hexdigest()
    rows: list[tuple[str, str]] = []
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["VZOO_HOME"] = str(Path(tmp) / "home")
        server = LoopbackServer().start()
        try:
            reg = write_registry(
                Path(tmp) / "r.yaml", [{"id": "a", "urls": [URL], "sha256": digest}]
            )
            row = load_registry(reg).get("a")
            dl = Downloader(
                endpoints=Endpoints(github=server.base_url),
                retry=RetryPolicy(attempts=3, backoff=0.0),
                notify=lambda _m: None,
            )
            server.routes[PATH] = FileRoute(payload)
            t0 = time.perf_counter()
            path = dl.fetch(row).path
            fresh = time.perf_counter() - t0
            rows.append(
                (
                    "fresh download + sha256 + rename",
                    f"{fresh:.2f} s ({args.mib / fresh:.0f} MiB/s)",
                )
            )

            t0 = time.perf_counter()
            sha256_file(path)
            hashing = time.perf_counter() - t0
            rows.append(
                ("sha256 of the file alone", f"{hashing:.2f} s ({args.mib / hashing:.0f} MiB/s)")
            )

            t0 = time.perf_counter()
            dl.fetch(row)
            hit = time.perf_counter() - t0
            rows.append(("cache hit, pinned file re-hashed (`vzoo download`)", f"{hit:.2f} s"))

            trusting = Downloader(endpoints=Endpoints(github=server.base_url),
                                  notify=lambda _m: None, verify_cached=False)  # fmt: skip
            t0 = time.perf_counter()
            for _ in range(100):
                trusting.fetch(row)
            hit = (time.perf_counter() - t0) / 100
            rows.append(
                ("cache hit, index lookup only (`fetch_checkpoint`)", f"{hit * 1e3:.2f} ms")
            )

            CheckpointCache().forget("a")
            server.routes[PATH] = FileRoute(payload, ["cut"])  # half the body, then resume
            t0 = time.perf_counter()
            dl.fetch(row)
            resumed = time.perf_counter() - t0
            rows.append(("download cut at 50 % then resumed", f"{resumed:.2f} s"))
        finally:
            server.stop()
    machine = f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs"
    lines = [
        "# vzoo.hub on loopback",
        "",
        f"Payload {args.mib} MiB, {machine}, Python {platform.python_version()}. "
        "Produced by `benchmarks/hub_download.py`.",
        "",
        "| step | time |",
        "|---|---|",
        *(f"| {k} | {v} |" for k, v in rows),
        "",
    ]
    write_text_atomic(args.out, "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
