"""Count SparX-Mamba parameters: classifier, detection backbone, full Mask R-CNN (vzoo configs).

    python benchmarks/params_sparx_mamba.py --out reports/params_sparx_mamba.md

Models are built on the meta device (structure only), so this takes seconds. The published column
is the upstream README's ImageNet table (whole millions); the seed publishes no detector params.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from vzoo.core.atomic import write_text_atomic
from vzoo.zoo import sparx_mamba as sm

CONFIGS = Path(__file__).resolve().parents[1] / "zoo" / "configs" / "sparx_mamba"


def count(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()

    from mmdet.registry import MODELS
    from mmdet.utils import register_all_modules
    from mmengine.config import Config

    register_all_modules()
    lines = [
        "# SparX-Mamba parameter counts (measured: sum of p.numel() of the built models)",
        "",
        "| arch | classifier | published (README) | det. backbone | Mask R-CNN 1x/3x (full) |",
        "|---|---:|---:|---:|---:|",
    ]
    for v in ("t", "s", "b"):
        arch = f"sparx-mamba-{v}"
        with torch.device("meta"):
            cls = count(sm.build_classifier(arch))
            backbone = count(sm.build_backbone(arch))
            cfg = Config.fromfile(str(CONFIGS / f"sparx_mamba_{v}_1x.py"))
            detector = count(MODELS.build(cfg.model))
        published = sm.ARCHS[arch].published_params_m
        lines.append(
            f"| {arch} | {cls:,} ({cls / 1e6:.2f} M) | {published:g} M | {backbone:,} | "
            f"{detector:,} ({detector / 1e6:.2f} M) |"
        )
        print(lines[-1], flush=True)
    lines += [
        "",
        "The detection backbone differs from the classifier by its output LayerNorms, one",
        "learnable attention scale per cross layer, and no classification head.",
    ]
    write_text_atomic(args.out, "\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
