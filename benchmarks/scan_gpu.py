"""Triton selective scan on a GPU: correct at the real sizes, its time, its bandwidth fraction.

    python benchmarks/scan_gpu.py [--out reports/scan_gpu.md] [--quick]

For each case of benchmarks/scan.py (the T models' 224² and 1280×800 stage sizes): the Triton
output against the float64 reference computed on the CPU (max relative error; the tests'
float32 bound is 1e-4), the Triton and pure-torch times (CUDA events, median of 20 after 3
warm-ups), and the memory-bandwidth bound: the bytes of u, delta, B, C read once and of the
output (y, or every state) written once, over the device's measured copy bandwidth (a 256 MiB
device-to-device copy, read + write bytes / time). fraction = bound / Triton time; the kernels
issue asks for >= 0.6.

`--device cpu --tiny` is a dry run of this script on a machine without a GPU (Triton's CPU
interpreter, TRITON_INTERPRET=1, lengths / 500, channels / 16): it checks the code path, not the
speed.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from scan import CASES, QUICK, Case, call, make_inputs

from vzoo.core.files import write_text_atomic


def timed(fn: Callable[[], Any], device: torch.device, warmup: int, repeats: int) -> float:
    """Median seconds of fn() (CUDA events on a GPU, wall clock elsewhere)."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        if device.type == "cuda":
            start, stop = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            fn()
            stop.record()
            torch.cuda.synchronize()
            times.append(start.elapsed_time(stop) / 1e3)
        else:
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
    return statistics.median(times)


def copy_bandwidth(device: torch.device, nbytes: int) -> float:
    """Bytes per second of a device-to-device copy, counting the read and the write."""
    src = torch.empty(nbytes // 4, dtype=torch.float32, device=device).normal_()
    dst = torch.empty_like(src)
    return 2 * nbytes / timed(lambda: dst.copy_(src), device, 3, 20)


def bytes_moved(case: Case) -> int:
    """u, delta (D x L) and B (N x L) read, C (N x L) read unless states; the output written."""
    d, n, length = case.dim, case.n_state, case.length
    out = d * n * length if case.states else d * length
    return 4 * (2 * d * length + n * length + (0 if case.states else n * length) + out)


DRY_RUN_NOTE = " DRY RUN: lengths / 500, channels / 16 on Triton's CPU interpreter."


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("reports/scan_gpu.md"))
    parser.add_argument("--quick", action="store_true", help="four cases only")
    parser.add_argument("--device", default="cuda")
    parser.add_argument(
        "--tiny", action="store_true", help="lengths / 500, channels / 16 (a dry run)"
    )
    args = parser.parse_args()
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        sys.exit("scan_gpu: no CUDA device here; `--device cpu --tiny` with TRITON_INTERPRET=1 "
                 "is the dry run")  # fmt: skip
    if device.type == "cpu" and os.environ.get("TRITON_INTERPRET") != "1":
        sys.exit("scan_gpu: on the CPU set TRITON_INTERPRET=1 (Triton's interpreter)")
    cases = [CASES[i] for i in QUICK] if args.quick else CASES
    if args.tiny:
        # the interpreter runs one program per (batch, channel) in Python: channels / 16 too
        cases = [replace(c, length=max(7, c.length // 500), dim=max(4, c.dim // 16)) for c in cases]
    # the dry run checks the code path: one interpreted call per timing (~30 s each here)
    warmup, repeats = (0, 1) if args.tiny else (3, 20)
    bandwidth = copy_bandwidth(device, (1 << 20) if args.tiny else (256 << 20))
    rows = []
    for case in cases:
        cpu = make_inputs(case)
        inp = {k: v.to(device) for k, v in cpu.items()}
        got = call(case, inp, "triton")
        ref = call(case, {k: v.double() for k, v in cpu.items()}, "reference")
        err = float((got.cpu().double() - ref).abs().max() / ref.abs().max())
        t_triton = timed(lambda c=case, i=inp: call(c, i, "triton"), device, warmup, repeats)
        t_torch = timed(
            lambda c=case, i=inp: call(c, i, "torch"), device, min(warmup, 1), max(1, repeats // 4)
        )
        bound = bytes_moved(case) / bandwidth
        rows.append((case, err, t_triton, t_torch, bound))
        print(f"{case.model:24s} {case.where:18s} L={case.length:6d} err {err:.1e} triton "
              f"{t_triton * 1e3:8.3f} ms torch {t_torch * 1e3:8.3f} ms bound {bound * 1e3:7.3f} "
              f"ms fraction {bound / t_triton:.2f}", flush=True)  # fmt: skip
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU (interpreter)"
    lines = [
        "# Selective scan on a GPU: Triton against the bandwidth bound",
        "",
        f"Generated by `benchmarks/scan_gpu.py` (do not edit by hand). {name}; torch "
        f"{torch.__version__}; copy bandwidth {bandwidth / 1e9:.0f} GB/s (read + write); float32, "
        "batch 1." + (DRY_RUN_NOTE if args.tiny else ""),
        "",
        "| model / call | input, stage | D | N | L | max rel err vs float64 | triton ms | "
        "torch ms | bound ms | fraction of bound |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for case, err, t_triton, t_torch, bound in rows:
        op = "states" if case.states else "scan"
        lines.append(
            f"| {case.model} ({op}) | {case.where} | {case.dim} | {case.n_state} | "
            f"{case.length} | {err:.1e} | {t_triton * 1e3:.3f} | {t_torch * 1e3:.3f} | "
            f"{bound * 1e3:.3f} | {bound / t_triton:.2f} |"
        )
    write_text_atomic(args.out, "\n".join(lines) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
