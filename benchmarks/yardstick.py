"""How much compute per second the T models get on this CPU, next to mmdet's Swin-T and ResNet-50.

    python benchmarks/yardstick.py [--out reports/yardstick_cpu.md]
    python benchmarks/yardstick.py --model spatial-mamba-t --input det --no-out

GMAC: fvcore units (one multiply-add = 1) as `vzoo flops --convention macs` counts them (the
flops module's trace: selective scans by the papers' formula, Spatial-Mamba's state fusion at its
27 taps), counted once at batch 1 and scaled by the batch. Inputs: classifier 1x3x224x224 and
8x3x224x224, detection backbone 1x3x800x1280 (the trunk only, 4 feature maps out). The yardsticks
are mmdet's own `SwinTransformer` (the Mask R-CNN Swin-T config) and `ResNet(depth=50)`; as
classifiers they get a global average pool and a 1000-way linear head.

Timing: float32, inference mode, `torch.set_num_threads(--threads)` (default 2), every model of an
input built in this one process, one warm-up forward each, then `--rounds` rounds in which the
models run one after the other (interleaved, so machine load hits them all alike); a model's time
is its minimum over the rounds. The ratios to Swin-T / R-50 are the load-robust figures.
`--clock cpu` times process CPU time instead of wall time (for iterating on a loaded machine).
`--profile` adds a torch.profiler breakdown (self CPU time by op) of one forward per T model, its
convolutions by shape (GMAC/s and the GB/s of memory they move) and this machine's copy bandwidth.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

T_MODELS = ("mlla-t", "spatial-mamba-t", "msvmamba-tiny", "sparx-mamba-t")
YARDSTICKS = ("swin-t", "resnet-50")
MODELS = T_MODELS + YARDSTICKS
NAMES = {
    "mlla-t": "MLLA-T", "spatial-mamba-t": "Spatial-Mamba-T", "msvmamba-tiny": "MSVMamba-T",
    "sparx-mamba-t": "SparX-Mamba-T", "swin-t": "Swin-T (mmdet)", "resnet-50": "R-50 (mmdet)",
}  # fmt: skip


@dataclass(frozen=True)
class Input:
    key: str
    title: str
    batch: int
    height: int
    width: int
    backbone: bool  # the detection trunk, else the classifier


INPUTS = {
    "1x224": Input("1x224", "classifier 1×224²", 1, 224, 224, False),
    "8x224": Input("8x224", "classifier 8×224²", 8, 224, 224, False),
    "det": Input("det", "backbone 1×800×1280", 1, 800, 1280, True),
}

# mmdet's configs/_base_/models/mask-rcnn_swin-t-p4-w7_fpn (the Swin-T detection backbone)
SWIN_T = dict(embed_dims=96, depths=(2, 2, 6, 2), num_heads=(3, 6, 12, 24), window_size=7,
              mlp_ratio=4, qkv_bias=True, qk_scale=None, drop_rate=0.0, attn_drop_rate=0.0,
              drop_path_rate=0.2, patch_norm=True, out_indices=(0, 1, 2, 3), with_cp=False,
              convert_weights=True)  # fmt: skip


class PooledClassifier(nn.Module):
    """A backbone's last feature map -> global average pool -> linear(1000)."""

    def __init__(self, backbone: nn.Module, channels: int) -> None:
        super().__init__()
        self.backbone = backbone
        self.head = nn.Linear(channels, 1000)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feat = self.backbone(x)[-1]
        return self.head(feat.mean(dim=(2, 3)))


def build(model: str, backbone: bool) -> nn.Module:
    if model == "swin-t":
        from mmdet.models.backbones import SwinTransformer

        if backbone:
            return SwinTransformer(**SWIN_T)
        return PooledClassifier(SwinTransformer(**{**SWIN_T, "out_indices": (3,)}), 768)
    if model == "resnet-50":
        from mmdet.models.backbones import ResNet

        if backbone:
            return ResNet(depth=50)
        return PooledClassifier(ResNet(depth=50, out_indices=(3,)), 2048)
    from vzoo.zoo import build_backbone, build_classifier

    return build_backbone(model) if backbone else build_classifier(model)


def count_gmac(module: nn.Module, x: torch.Tensor) -> float:
    """fvcore units at x, every op that costs compute (`vzoo flops --convention macs`)."""
    from vzoo.flops.conventions import COMPLETE
    from vzoo.flops.run import count_with_breakdown

    report, breakdown = count_with_breakdown(module, (x,))
    # mmdet's Swin PatchMerging gathers 2x2 patches with nn.Unfold: a copy, no multiply-adds
    uncounted = {k: v for k, v in report.uncounted.items() if k != "aten::im2col"}
    if uncounted:
        raise SystemExit(f"uncounted ops {uncounted}: add fvcore handles")
    return breakdown.macs(COMPLETE) / 1e9


def time_interleaved(
    runs: dict[str, Callable[[], object]], rounds: int, clock: Callable[[], float], warmup: int = 1
) -> dict[str, float]:
    """Min over `rounds` of each callable's time; the callables take turns every round."""
    best = dict.fromkeys(runs, float("inf"))
    for _ in range(warmup):  # first-call allocations, numba load, oneDNN primitives
        for fn in runs.values():
            fn()
    for _ in range(rounds):
        for name, fn in runs.items():
            t0 = clock()
            fn()
            best[name] = min(best[name], clock() - t0)
    return best


def profile_ops(fn: Callable[[], object], top: int) -> list[tuple[str, float, float]]:
    """(op, self CPU ms, share of the forward) for the `top` ops by self CPU time."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU]) as prof:
        fn()
    events = [e for e in prof.key_averages() if e.self_cpu_time_total > 0]
    total = sum(e.self_cpu_time_total for e in events)
    events.sort(key=lambda e: e.self_cpu_time_total, reverse=True)
    return [(e.key, e.self_cpu_time_total / 1e3, e.self_cpu_time_total / total)
            for e in events[:top]]  # fmt: skip


@dataclass
class ConvCost:
    """One convolution shape's share of a forward: calls, time, work and bytes moved."""

    calls: int = 0
    seconds: float = 0.0
    gmac: float = 0.0
    gbytes: float = 0.0  # input + output + weight, once each: the least traffic it can cause


def conv_breakdown(
    module: nn.Module, fn: Callable[[], object], clock: Callable[[], float]
) -> dict[str, ConvCost]:
    """Every nn.Conv2d of one forward, timed by hooks, grouped by kind and shape."""
    costs: dict[str, ConvCost] = {}
    started: dict[int, float] = {}

    def before(mod: nn.Module, args: tuple[torch.Tensor, ...]) -> None:
        started[id(mod)] = clock()

    def after(mod: nn.Module, args: tuple[torch.Tensor, ...], out: torch.Tensor) -> None:
        elapsed = clock() - started.pop(id(mod))
        assert isinstance(mod, nn.Conv2d)
        x = args[0]
        kh, kw = mod.kernel_size
        kind = ("depthwise " if mod.groups == mod.in_channels and mod.groups > 1 else
                "grouped " if mod.groups > 1 else "") + f"{kh}x{kw}"  # fmt: skip
        layout = "NHWC" if x.is_contiguous(memory_format=torch.channels_last) else "NCHW"
        key = (f"{kind} {mod.in_channels}->{mod.out_channels} s{mod.stride[0]}, "
               f"{x.shape[0]}x{x.shape[2]}x{x.shape[3]} {layout}")  # fmt: skip
        c = costs.setdefault(key, ConvCost())
        c.calls += 1
        c.seconds += elapsed
        c.gmac += out.numel() * (mod.in_channels // mod.groups) * kh * kw / 1e9
        c.gbytes += (x.numel() + out.numel() + mod.weight.numel()) * x.element_size() / 1e9

    handles = []
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            handles.append(m.register_forward_pre_hook(before))
            handles.append(m.register_forward_hook(after))
    try:
        fn()
    finally:
        for h in handles:
            h.remove()
    return costs


def copy_bandwidth(mib: int = 256, repeats: int = 5) -> float:
    """GB/s of a large float32 copy with torch's threads (read + write counted): the memory
    bandwidth a memory-bound op can hope for on this machine."""
    src = torch.randn(mib * (1 << 20) // 4)
    dst = torch.empty_like(src)
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        dst.copy_(src)
        best = min(best, time.perf_counter() - t0)
    return 2 * src.numel() * 4 / best / 1e9


def load_text() -> str:
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    except OSError:
        la = os.getloadavg()
        return f"load average: {la[0]:.2f}, {la[1]:.2f}, {la[2]:.2f}"


# input key -> model -> conv shape -> cost (filled by `measure` with --profile)
CONVS: dict[str, dict[str, dict[str, ConvCost]]] = {}
BANDWIDTH: list[float] = []  # GB/s of a large copy, measured once per run with --profile


@dataclass
class Result:
    gmac: float
    seconds: float

    @property
    def rate(self) -> float:
        return self.gmac / self.seconds


def measure(
    inp: Input,
    models: list[str],
    rounds: int,
    profile: bool,
    top: int,
    clock: Callable[[], float],
    warmup: int = 1,
) -> tuple[dict[str, Result], dict[str, list[tuple[str, float, float]]]]:
    x1 = torch.randn(1, 3, inp.height, inp.width, generator=torch.Generator().manual_seed(0))
    x = x1.expand(inp.batch, -1, -1, -1).contiguous()
    built = {m: build(m, inp.backbone) for m in models}
    for module in built.values():  # not chained: mmdet's Swin `train()` returns None
        module.eval()
    gmac = {}
    for m, module in built.items():
        gmac[m] = count_gmac(module, x1) * inp.batch
        print(f"  {NAMES[m]}: {gmac[m]:.2f} GMAC", flush=True)

    def runner(module: nn.Module) -> Callable[[], object]:
        def run() -> object:
            with torch.inference_mode():
                return module(x)

        return run

    runs = {m: runner(module) for m, module in built.items()}
    best = time_interleaved(runs, rounds, clock, warmup)
    profiles = {}
    if profile:
        for m in models:
            if m in T_MODELS:
                profiles[m] = profile_ops(runs[m], top)
                CONVS.setdefault(inp.key, {})[m] = conv_breakdown(built[m], runs[m], clock)
    return {m: Result(gmac[m], best[m]) for m in models}, profiles


def overload_warning() -> list[str]:
    """A line for the report when the machine had more runnable work than cores."""
    load = os.getloadavg()[1]
    cores = os.cpu_count() or 1
    if load <= cores:
        return []
    return [
        f"**Warning: load average {load:.1f} on {cores} cores (5 min).** Wall times then measure "
        "the scheduler more than the models (OpenMP threads wait for each other's time slices), "
        "and even the ratios move with it: rerun on a quiet machine before reading them.",
        "",
    ]


def render(
    results: dict[str, dict[str, Result]],
    profiles: dict[str, dict[str, list[tuple[str, float, float]]]],
    rounds: int,
    loads: list[str],
    clock: str = "wall",
    warmup: int = 1,
) -> str:
    lines = [
        "# CPU yardstick: GMAC/s of the T models next to mmdet's Swin-T and ResNet-50",
        "",
        "Generated by `python benchmarks/yardstick.py --profile --out reports/yardstick_cpu.md` "
        "(do not edit by hand).",
        "",
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, float32, inference mode, "
        f"{clock} time; min over {rounds} interleaved rounds after {warmup} warm-up round(s), "
        "all models of an "
        "input in one process. GMAC: fvcore units, every op that costs compute "
        "(`vzoo flops --convention macs`: scans by the papers' formula, Spatial-Mamba's state "
        "fusion at its 27 taps). "
        "The machine is shared, so absolute times move with its load; the ratios are measured "
        "within the same rounds and are the figures to compare.",
        "",
        "Machine load (`uptime`) before each input: " + "; ".join(loads),
        "",
        *overload_warning(),
        "| model | input | GMAC | ms | GMAC/s | × Swin-T | × R-50 |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for key, res in results.items():
        swin, r50 = res.get("swin-t"), res.get("resnet-50")
        for m, r in res.items():
            to_swin = f"{r.rate / swin.rate:.2f}" if swin else "—"
            to_r50 = f"{r.rate / r50.rate:.2f}" if r50 else "—"
            lines.append(
                f"| {NAMES[m]} | {INPUTS[key].title} | {r.gmac:.2f} | {r.seconds * 1e3:.0f} | "
                f"{r.rate:.1f} | {to_swin} | {to_r50} |"
            )
    if profiles:
        lines += ["", "## Where the time goes", ""]
        lines += ["torch.profiler, one forward, self CPU time by op (the top ops); then the "
                  "convolutions by kind and shape (forward hooks, one forward), each with its "
                  "multiply-add rate and the least memory traffic it causes (input, output and "
                  "weight once) per second"
                  + (f", against a large copy's {BANDWIDTH[0]:.1f} GB/s (read + write) on this "
                     "machine in the same run" if BANDWIDTH else "") + ".", ""]  # fmt: skip
        for key, per_model in profiles.items():
            for m, ops in per_model.items():
                lines += [f"### {NAMES[m]}, {INPUTS[key].title}", "",
                          "| op | self ms | share |", "|---|---:|---:|"]  # fmt: skip
                lines += [f"| `{op}` | {ms:.1f} | {share:.0%} |" for op, ms, share in ops]
                lines.append("")
                convs = CONVS.get(key, {}).get(m)
                if convs:
                    lines += conv_lines(convs, len(ops))
    return "\n".join(lines).rstrip() + "\n"


def conv_lines(convs: dict[str, ConvCost], top: int) -> list[str]:
    """Markdown rows for the `top` convolution shapes by time, with their share of all convs."""
    total = sum(c.seconds for c in convs.values())
    gmac = sum(c.gmac for c in convs.values())
    lines = [
        f"Convolutions: {total * 1e3:.1f} ms, {gmac:.2f} GMAC, {gmac / total:.1f} GMAC/s overall.",
        "",
        "| conv (kind in->out stride, batch×H×W layout) | calls | ms | GMAC/s | GB/s moved |",
        "|---|---:|---:|---:|---:|",
    ]
    ranked = sorted(convs.items(), key=lambda kv: kv[1].seconds, reverse=True)[:top]
    for name, c in ranked:
        lines.append(
            f"| {name} | {c.calls} | {c.seconds * 1e3:.1f} | {c.gmac / c.seconds:.1f} | "
            f"{c.gbytes / c.seconds:.1f} |"
        )
    return [*lines, ""]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument(
        "--model",
        action="append",
        choices=MODELS,
        help="a model to time (repeatable; Swin-T and R-50 are always added)",
    )
    ap.add_argument("--input", action="append", choices=list(INPUTS), help="repeatable")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument(
        "--warmup",
        type=int,
        default=1,
        help="untimed rounds first (0: the min of the rounds "
        "discards a slow first call anyway, when time is short)",
    )
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument(
        "--clock",
        choices=("wall", "cpu"),
        default="wall",
        help="cpu: the process's CPU time (all threads): the work itself, robust to a loaded "
        "machine's scheduling; for iterating, not the report. Run it with "
        "OMP_WAIT_POLICY=PASSIVE, or OpenMP's spin-waiting is counted as work",
    )
    ap.add_argument("--profile", action="store_true", help="add the top-ops breakdown")
    ap.add_argument("--top", type=int, default=10)
    ap.add_argument("--no-yardsticks", action="store_true", help="time only the --model ones")
    ap.add_argument("--out", type=Path, default=None, help="write the markdown report here")
    args = ap.parse_args()
    clock = time.perf_counter if args.clock == "wall" else time.process_time
    torch.set_num_threads(args.threads)
    models = list(args.model or T_MODELS)
    if not args.no_yardsticks:
        models += [y for y in YARDSTICKS if y not in models]
    if args.profile:
        BANDWIDTH.append(copy_bandwidth())
        print(f"copy bandwidth {BANDWIDTH[0]:.1f} GB/s", flush=True)
    results: dict[str, dict[str, Result]] = {}
    profiles: dict[str, dict[str, list[tuple[str, float, float]]]] = {}
    loads = []
    for key in args.input or list(INPUTS):
        inp = INPUTS[key]
        loads.append(f"{inp.title}: {load_text()}")
        print(f"{inp.title} ({loads[-1]})", flush=True)
        torch.manual_seed(0)
        results[key], profiles[key] = measure(
            inp, models, args.rounds, args.profile, args.top, clock, args.warmup
        )
        swin = results[key].get("swin-t")
        for m, r in results[key].items():
            ratio = f", {r.rate / swin.rate:.2f}x Swin-T" if swin else ""
            print(f"  {NAMES[m]}: {r.seconds * 1e3:.0f} ms, {r.rate:.1f} GMAC/s{ratio}", flush=True)
        if args.profile:
            for m, ops in profiles[key].items():
                print(f"  {NAMES[m]} top ops: " + ", ".join(
                    f"{op} {share:.0%}" for op, _, share in ops[:6]), flush=True)  # fmt: skip
        if args.out is not None:  # after every input: a long run leaves what it measured
            from vzoo.core.files import write_text_atomic

            report = render(results, profiles, args.rounds, loads, args.clock, args.warmup)
            write_text_atomic(args.out, report)


if __name__ == "__main__":
    main()
