"""`vzoo bench` on this CPU: every classifier, the four T detectors, mmdet's Swin-T and R-50.

    python benchmarks/bench_cpu.py [--out reports/bench_cpu.md] [--rounds 3]
        [--sections cls,det-backbone,det-model] [--warmup 1] [--iters 3] [--profile]

Sections (batch 1, float32, `--threads` torch threads, default 2):
- `cls`: every classifier row at 224², and mmdet's `SwinTransformer` (Swin-T) and `ResNet(50)`
  as classifiers (global average pool + linear 1000: mmcls/mmpretrain are not installed); the
  yardsticks are built by benchmarks/yardstick.py, the rows by `vzoo bench`'s own path;
- `det-backbone`: the four T detectors' backbones at 800×1280 and the two yardstick backbones;
- `det-model`: the four T detectors' whole test forward (`vzoo bench`'s part `model`) at the
  paper's input (1280×800), next to mmdet's own Mask R-CNN Swin-T and R-50 baseline rows.

Every model of a section is built once; then `--rounds` rounds, in each of which every model runs
`vzoo bench`'s timed loop (`--warmup` untimed + `--iters` timed passes) one after the other, so
machine load hits them alike. A model's throughput is the median of its rounds' (spread: min-max
over rounds); the T models' ratios to Swin-T and R-50 compare the same round's numbers (median
over rounds), which cancels most of the load. GMAC: fvcore units (`vzoo flops --convention macs`,
via yardstick.count_gmac) at batch 1. The machine's load (`uptime`) is printed at the start and
end of every section: this machine is shared with other jobs.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
from yardstick import build as build_yardstick
from yardstick import count_gmac, load_text, profile_ops

from vzoo.core.files import write_text_atomic
from vzoo.core.registry import load_registry
from vzoo.speed.protocol import BenchProtocol
from vzoo.speed.run import device_name, make_input, move, time_module
from vzoo.speed.timing import WallClock
from vzoo.zoo.row_models import build_timed_model, default_input, row_available

T_DETECTORS = ("mlla-t-1x", "spatial-mamba-t-1x", "msvmamba-tiny-1x", "sparx-mamba-t-1x")
T_CLASSIFIERS = ("mlla-t", "spatial-mamba-t", "msvmamba-tiny", "sparx-mamba-t")
BASELINE_DETECTORS = {
    "swin-t": "mmdet:mask-rcnn_swin-t-p4-w7_fpn_1x_coco",
    "resnet-50": "mmdet:mask-rcnn_r50_fpn_1x_coco",
}
YARDSTICK_NAMES = {"swin-t": "Swin-T (mmdet)", "resnet-50": "R-50 (mmdet)"}
SECTIONS = {
    "cls": "Classifiers, 1×3×224×224",
    "det-backbone": "Detection backbones, 1×3×800×1280",
    "det-model": "Detectors, whole test forward, 1×3×1280×800 (the papers' FLOPs input)",
}


@dataclass
class Entry:
    name: str
    module: nn.Module
    x: torch.Tensor
    yardstick: str | None = None  # swin-t | resnet-50
    is_t: bool = False
    gmac: float | None = None
    rates: list[float] = field(default_factory=list)  # img/s per round
    latencies: list[float] = field(default_factory=list)  # ms, every timed pass
    peaks: list[float] = field(default_factory=list)  # MiB per round


def protocol(part: str, shape: tuple[int, int, int], args: argparse.Namespace) -> BenchProtocol:
    from vzoo.kernels.selective_scan import resolve_backend

    dev = torch.device("cpu")
    return BenchProtocol(
        device="cpu", device_name=device_name(dev), part=part, batch_size=1,
        input="x".join(map(str, shape)), precision="fp32", threads=args.threads, compile=False,
        channels_last=False, warmup=args.warmup, iters=args.iters,
        scan_backend=resolve_backend(None, dev), torch=torch.__version__, cuda=None,
        omp_wait_policy=os.environ.get("OMP_WAIT_POLICY", "default").lower(),
    )  # fmt: skip


def build_section(section: str, count: bool, only: set[str] | None = None) -> list[Entry]:
    reg = load_registry()
    dev = torch.device("cpu")
    entries: list[Entry] = []

    def add_row(row_id: str, part: str, shape: tuple[int, int, int], yard: str | None = None):
        if only is not None and row_id not in only and yard not in only:
            return
        row = reg.get(row_id)
        tm = build_timed_model(row, part, shape, 1)
        module = move(tm, dev, False)
        x = make_input(tm, dev, False)
        is_t = row_id in T_CLASSIFIERS or row_id in T_DETECTORS
        name = YARDSTICK_NAMES[yard] + " Mask R-CNN" if yard else row_id
        entries.append(Entry(name, module, x, yard, is_t))

    if section == "cls":
        rows = [r for r in reg.select(task="classification") if row_available(r)]
        for row in rows:
            add_row(row.id, "model", (3, 224, 224))
        shape, backbone = (3, 224, 224), False
    elif section == "det-backbone":
        for row_id in T_DETECTORS:
            add_row(row_id, "backbone", (3, 800, 1280))
        shape, backbone = (3, 800, 1280), True
    else:
        shape = default_input(reg.get(T_DETECTORS[0]))
        for row_id in T_DETECTORS:
            add_row(row_id, "model", shape)
        for yard, row_id in BASELINE_DETECTORS.items():
            add_row(row_id, "model", shape, yard)
        return entries
    gen = torch.Generator().manual_seed(0)
    for yard in ("swin-t", "resnet-50"):
        if only is not None and yard not in only:
            continue
        module = build_yardstick(yard, backbone)
        module.eval()  # mmdet's backbones override train() without returning self
        entries.append(Entry(YARDSTICK_NAMES[yard], module, torch.randn(1, *shape, generator=gen),
                             yard))  # fmt: skip
    if count:
        for e in entries:
            e.gmac = count_gmac(e.module, e.x)
    return entries


def run_section(section: str, args: argparse.Namespace) -> tuple[list[Entry], str, str, dict]:
    load_before = load_text()
    print(f"[{section}] building ({load_before})", flush=True)
    only = set(args.only.split(",")) if args.only else None
    entries = build_section(section, count=section != "det-model", only=only)
    part = "backbone" if section == "det-backbone" else "model"
    shape = tuple(entries[0].x.shape[1:])
    if section != "cls":  # a detector pass takes seconds: fewer passes per round
        args = argparse.Namespace(**{**vars(args), "warmup": args.det_warmup,
                                     "iters": args.det_iters})  # fmt: skip
    proto = protocol(part, shape, args)  # type: ignore[arg-type]
    dev = torch.device("cpu")
    # process: the CPU seconds of every thread of this process instead of wall seconds, which on
    # a loaded machine also count the time the threads waited for a core
    now = time.process_time if args.clock == "process" else time.perf_counter
    clock_for = lambda _dev: WallClock(now=now)  # noqa: E731
    for r in range(args.rounds):
        for e in entries:
            timing, peak, _ = time_module(e.module, e.x, proto, dev, clock_for=clock_for)
            e.rates.append(timing.throughput)
            e.latencies += [1e3 * s for s in timing.seconds]
            if peak is not None:
                e.peaks.append(peak)
            print(f"[{section}] round {r + 1}: {e.name} {timing.throughput:.3g} img/s", flush=True)
    profiles = {}
    if args.profile and section == "cls":
        for e in entries:
            if e.is_t:
                profiles[e.name] = profile_ops(lambda e=e: _forward(e), 6)
    return entries, load_before, load_text(), profiles


def _forward(e: Entry) -> object:
    with torch.no_grad():
        return e.module(e.x)


def _ratio(e: Entry, ref: Entry | None, per_gmac: bool) -> str:
    """Median over rounds of this round's ratio (img/s, or GMAC/s) to the yardstick's."""
    if ref is None or not e.rates or len(ref.rates) != len(e.rates):
        return "—"
    ratios = [a / b for a, b in zip(e.rates, ref.rates, strict=True)]
    if per_gmac:
        if e.gmac is None or ref.gmac is None:
            return "—"
        ratios = [q * e.gmac / ref.gmac for q in ratios]
    return f"{statistics.median(ratios):.2f}"


def render_section(section: str, entries: list[Entry], before: str, after: str,
                   profiles: dict) -> list[str]:  # fmt: skip
    refs = {e.yardstick: e for e in entries if e.yardstick}
    swin, r50 = refs.get("swin-t"), refs.get("resnet-50")
    gmac_cols = section != "det-model"
    lines = [f"## {SECTIONS[section]}", "", f"Load at start: `{before}`; at end: `{after}`.", ""]
    head = ["model", "img/s (median)", "min–max over rounds", "latency ms (median, p25–p75)",
            "peak RSS growth MB"]  # fmt: skip
    if gmac_cols:
        head += ["GMAC", "GMAC/s"]
    head += ["img/s ÷ Swin-T", "img/s ÷ R-50"]
    if gmac_cols:
        head += ["GMAC/s ÷ Swin-T", "GMAC/s ÷ R-50"]
    lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for e in entries:
        med = statistics.median(e.rates)
        lat = sorted(e.latencies)
        q = statistics.quantiles(lat, n=4, method="inclusive") if len(lat) > 1 else [lat[0]] * 3
        cells = [
            f"**{e.name}**" if e.is_t else e.name, f"{med:.3g}",
            f"{min(e.rates):.3g}–{max(e.rates):.3g}",
            f"{statistics.median(lat):.0f} ({q[0]:.0f}–{q[2]:.0f})",
            f"{statistics.median(e.peaks):.0f}" if e.peaks else "—",
        ]  # fmt: skip
        if gmac_cols:
            cells += [f"{e.gmac:.2f}", f"{med * e.gmac:.1f}"] if e.gmac else ["—", "—"]
        show = e.is_t or e.yardstick is None
        cells += [_ratio(e, swin, False), _ratio(e, r50, False)] if show else ["", ""]
        if gmac_cols:
            cells += [_ratio(e, swin, True), _ratio(e, r50, True)] if show else ["", ""]
        lines.append("| " + " | ".join(cells) + " |")
    for name, ops in profiles.items():
        top = ", ".join(f"{op} {100 * share:.0f}%" for op, _ms, share in ops)
        lines += ["", f"- {name}, where the time goes (torch.profiler, self CPU time): {top}"]
    return [*lines, ""]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("reports/bench_cpu.md"))
    parser.add_argument("--sections", default="cls,det-backbone,det-model")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--iters", type=int, default=3)
    parser.add_argument("--det-warmup", type=int, default=1, help="detector sections' warm-up")
    parser.add_argument("--det-iters", type=int, default=2, help="detector sections' timed passes")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--clock", choices=("wall", "process"), default="wall",
                        help="process: img per CPU-second of all threads (loaded machines)")
    parser.add_argument("--profile", action="store_true", help="torch.profiler of the T models")
    parser.add_argument("--only", help="comma-separated row ids / swin-t / resnet-50 (a check)")
    args = parser.parse_args()
    sections = args.sections.split(",")
    for s in sections:
        if s not in SECTIONS:
            raise SystemExit(f"unknown section {s!r}; choose from {', '.join(SECTIONS)}")
    torch.set_num_threads(args.threads)
    started = time.perf_counter()
    header = [
        "# `vzoo bench` on this CPU: every classifier, the T detectors, mmdet's Swin-T and R-50",
        "",
        f"Generated by `python benchmarks/bench_cpu.py --sections {args.sections} --rounds "
        f"{args.rounds} --warmup {args.warmup} --iters {args.iters} --det-warmup "
        f"{args.det_warmup} --det-iters {args.det_iters} --clock {args.clock}"
        f"{' --profile' if args.profile else ''}` (do not edit by hand). "
        f"{device_name(torch.device('cpu'))}; torch {torch.__version__}, {args.threads} threads, "
        f"float32, batch 1, OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', 'default')}.",
        "",
        "Every model of a section is built once, then each round runs `vzoo bench`'s timed loop "
        f"({args.warmup} untimed + {args.iters} timed passes; detectors {args.det_warmup} + "
        f"{args.det_iters}) on every model in turn. img/s: "
        "median over rounds (spread: min–max over rounds); latency: every timed pass; peak "
        "memory: the RSS growth during the timed loop (`vzoo bench`'s CPU definition). The "
        "ratios divide each round's numbers by the same round's Swin-T / R-50 and take the "
        "median, which cancels most of the machine's load: **this machine is shared with other "
        "jobs (2 cores, load average printed per section)**, so absolute img/s are lower bounds "
        "of what the models do on a quiet machine; the ratios are the figures to read. GMAC: "
        "fvcore units at batch 1 (`vzoo flops --convention macs`). The yardsticks are mmdet's "
        "`SwinTransformer` (the Mask R-CNN Swin-T config) and `ResNet(depth=50)`, as classifiers "
        "with a pooled linear head; for whole detectors, mmdet's own Mask R-CNN baseline rows.",
        "",
        *(["**Clock: process CPU time** (all threads): \"img/s\" is images per CPU-second, "
           f"latency is CPU-ms per pass; on a quiet machine with {args.threads} threads busy "
           f"the wall-clock figures are up to {args.threads}× better. This clock ignores the time "
           "spent waiting for a core, so it is the load-robust measure of the work done.", ""]
          if args.clock == "process" else []),
    ]
    body: list[str] = []
    for section in sections:
        entries, before, after, profiles = run_section(section, args)
        body += render_section(section, entries, before, after, profiles)
        footer = [f"Total wall time {time.perf_counter() - started:.0f} s."]
        write_text_atomic(args.out, "\n".join(header + body + footer) + "\n")
        print(f"wrote {args.out} ({section} done)", flush=True)
        del entries


if __name__ == "__main__":
    main()
