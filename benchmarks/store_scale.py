"""How the results store's cost grows with the number of runs it holds.

    python benchmarks/store_scale.py --runs 5000 --out reports/store_scale.md

Fills a throwaway store (record files + local index, both under a temporary directory) with
`--runs` one-record runs and times, at each checkpoint: one `record()` (the mean of the next 20),
a query from a fresh `ResultStore` whose index already holds everything (what `vzoo compare`
pays), and a query from a store with no index yet (the first command on a new node, which reads
every record file). Writes a markdown table atomically; the numbers are this machine's.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import tempfile
import time
from pathlib import Path

from vzoo.core.files import write_text_atomic
from vzoo.core.results import EvalResult, ResultStore


def _result(i: int) -> EvalResult:
    return EvalResult(f"row-{i % 50}", "top1", 80.0 + i * 1e-4, "%", "benchmarks/store_scale.py")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--runs", type=int, default=5000)
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    checkpoints = sorted({c for c in (100, 1000, args.runs // 2, args.runs) if 0 < c <= args.runs})
    root = Path(tempfile.mkdtemp(prefix="vzoo-store-scale-"))
    rows = []
    try:
        store = ResultStore(root / "results", index_dir=root / "index")
        written = 0
        for target in checkpoints:
            while written < target - 20:
                store.record([_result(written)])
                written += 1
            t0 = time.perf_counter()
            while written < target:
                store.record([_result(written)])
                written += 1
            record_ms = (time.perf_counter() - t0) / 20 * 1e3
            t0 = time.perf_counter()
            n = len(ResultStore(root / "results", index_dir=root / "index").latest())
            warm_s = time.perf_counter() - t0
            cold_dir = root / f"cold-{target}"
            t0 = time.perf_counter()
            ResultStore(root / "results", index_dir=cold_dir).latest()
            cold_s = time.perf_counter() - t0
            shutil.rmtree(cold_dir)
            assert n == 50
            rows.append((target, record_ms, warm_s, cold_s))
            print(f"{target} runs: record {record_ms:.1f} ms, query {warm_s:.3f} s, "
                  f"first query on a new node {cold_s:.2f} s", flush=True)  # fmt: skip
    finally:
        shutil.rmtree(root, ignore_errors=True)
    lines = [
        "# Results store: cost against size",
        "",
        f"`python benchmarks/store_scale.py --runs {args.runs}` on {platform.machine()}, "
        f"{os.cpu_count()} CPUs, Python {platform.python_version()}, a local disk "
        f"(tmp: {tempfile.gettempdir()}). One-record runs; `record` is the mean of 20.",
        "",
        "| runs in the store | one record (ms) | query, index up to date (s) "
        "| first query on a new node (s) |",
        "|---:|---:|---:|---:|",
        *(f"| {n} | {r:.1f} | {w:.3f} | {c:.2f} |" for n, r, w, c in rows),
        "",
    ]
    write_text_atomic(args.out, "\n".join(lines))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
