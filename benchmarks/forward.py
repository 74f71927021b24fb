"""Time a CPU (or CUDA) forward of classifiers at 224² and backbones at 1280×800.

    python benchmarks/forward.py mlla-t spatial-mamba-t --out reports/forward_mlla.md

Writes a markdown table (atomically); the numbers are measured on the machine that runs it.
"""

from __future__ import annotations

import argparse
import platform
import time
from pathlib import Path

import torch

from vzoo.core.atomic import write_text_atomic
from vzoo.zoo import build_backbone, build_classifier, list_archs


def time_forward(model: torch.nn.Module, x: torch.Tensor, repeats: int) -> float:
    """Best-of-`repeats` wall time of one forward (seconds), after one warm-up."""
    model.eval()
    with torch.inference_mode():
        model(x)
        best = float("inf")
        for _ in range(repeats):
            t0 = time.perf_counter()
            model(x)
            if x.is_cuda:
                torch.cuda.synchronize()
            best = min(best, time.perf_counter() - t0)
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("archs", nargs="+", choices=list_archs())
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--det-size", default="800x1280", help="HxW of the backbone input")
    args = ap.parse_args()
    h, w = (int(v) for v in args.det_size.split("x"))
    dev = torch.device(args.device)
    machine = (
        torch.cuda.get_device_name(dev)
        if dev.type == "cuda"
        else f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads"
    )
    lines = [
        f"# Forward time (batch 1, float32, best of {args.repeats}), {machine}, torch "
        f"{torch.__version__}",
        "",
        "| arch | classifier 224² (s) | backbone {h}×{w} (s) |".replace("{h}", str(h)).replace(
            "{w}", str(w)
        ),
        "|---|---:|---:|",
    ]
    for arch in args.archs:
        cls = build_classifier(arch).to(dev)
        t_cls = time_forward(cls, torch.randn(1, 3, 224, 224, device=dev), args.repeats)
        del cls
        bb = build_backbone(arch).to(dev)
        t_bb = time_forward(bb, torch.randn(1, 3, h, w, device=dev), args.repeats)
        del bb
        lines.append(f"| {arch} | {t_cls:.3f} | {t_bb:.3f} |")
        print(lines[-1], flush=True)
    write_text_atomic(args.out, "\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
