"""Parameters (and per-stage head FLOPs) of Sparse R-CNN and Dual-Attention Sparse R-CNN R-50.

    python benchmarks/dual_attn_params.py --out reports/dual_attn_sparse_rcnn_params.md

Builds both detectors from vzoo's configs (mmdet 3) and counts parameters: total, trainable
(`frozen_stages=1` freezes the ResNet stem and layer1, which is what mmcv's complexity counter,
used by mmdet's get_flops.py, reports), per part, per head module; plus the variants that
bear on the published figures. With --flops, also fvcore counts (one multiply-add = 1) for
one stage's bbox head on one image's proposals. Writes a markdown file atomically.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from vzoo.core.files import write_text_atomic

CONFIGS = Path(__file__).resolve().parents[1] / "zoo" / "configs" / "sparse_rcnn"
SEED = Path(__file__).resolve().parents[2] / "shared" / "seeds" / "004_f70dc1f8115d533c.txt"


def build(config: str, edit: Callable[[Any], None] | None = None) -> nn.Module:
    from mmdet.registry import MODELS
    from mmdet.utils import register_all_modules
    from mmengine.config import Config

    register_all_modules()
    cfg = Config.fromfile(str(CONFIGS / config))
    cfg.model.backbone.init_cfg = None
    if edit is not None:
        edit(cfg)
    return MODELS.build(cfg.model)


def count(module: nn.Module) -> tuple[int, int]:
    params = list(module.parameters())
    return sum(p.numel() for p in params), sum(p.numel() for p in params if p.requires_grad)


def published() -> dict[str, float]:
    rows: dict[str, float] = {}
    if SEED.is_file():
        for line in SEED.read_text().splitlines():
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if len(cells) >= 4 and re.fullmatch(r"\d+\.\d+", cells[2]):
                rows[cells[0]] = float(cells[2])
    return rows


def _set_head(**values: Any) -> Callable[[Any], None]:
    def edit(cfg: Any) -> None:
        for head in cfg.model.roi_head.bbox_head:
            head.update(values)

    return edit


def _set_proposals(n: int) -> Callable[[Any], None]:
    def edit(cfg: Any) -> None:
        cfg.model.rpn_head.num_proposals = n
        cfg.model.test_cfg.rcnn.max_per_img = n

    return edit


def head_flops(head: nn.Module, roi_size: int, proposals: int) -> int:
    from fvcore.nn import FlopCountAnalysis

    head.eval()
    roi = torch.randn(proposals, 256, roi_size, roi_size)
    prop = torch.randn(1, proposals, 256)
    analysis = FlopCountAnalysis(head, (roi, prop))
    analysis.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
    return int(analysis.total())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--flops", action="store_true", help="also fvcore FLOPs of one stage's head")
    args = ap.parse_args()
    pub = published()
    rows = [
        ("Sparse-RCNN", "Sparse R-CNN (our config, 100 proposals)", "sparse_rcnn_r50_1x.py", None),
        (
            "Sparse-RCNN",
            "Sparse R-CNN, 300 proposals",
            "sparse_rcnn_r50_1x.py",
            _set_proposals(300),
        ),
        (
            "Dual-Attn-Sparse-RCNN",
            "Dual-Attn (our config = authors' released config)",
            "dual_attn_sparse_rcnn_r50_1x.py",
            None,
        ),
        (
            "Dual-Attn-Sparse-RCNN",
            "Dual-Attn, RoI-transformer FFNs 1024 wide (hypothesis)",
            "dual_attn_sparse_rcnn_r50_1x.py",
            _set_head(roi_ffn_channels=1024),
        ),
    ]
    lines = [
        "# Sparse R-CNN vs Dual-Attention Sparse R-CNN (R-50-FPN): parameters",
        "",
        "Measured by `benchmarks/dual_attn_params.py` on models built from vzoo's mmdet-3 "
        "configs. Trainable = without the frozen ResNet stem + layer1 (`frozen_stages=1`).",
        "",
        "| model | total | trainable | published (M) | trainable vs published |",
        "|---|---:|---:|---:|---:|",
    ]
    models: dict[str, nn.Module] = {}
    for key, label, config, edit in rows:
        model = build(config, edit)
        total, trainable = count(model)
        ref = pub.get(key)
        ratio = f"{100 * (trainable / (ref * 1e6) - 1):+.2f}%" if ref else "n/a"
        lines.append(f"| {label} | {total:,} | {trainable:,} | {ref if ref else 'n/a'} | {ratio} |")
        if edit is None:
            models[config] = model
        else:
            del model
    lines += ["", "## By part (total parameters)", "", "| part | Sparse R-CNN | Dual-Attn |"]
    lines.append("|---|---:|---:|")
    base, dual = models["sparse_rcnn_r50_1x.py"], models["dual_attn_sparse_rcnn_r50_1x.py"]
    for part in ("backbone", "neck", "rpn_head", "roi_head"):
        a, b = count(getattr(base, part))[0], count(getattr(dual, part))[0]
        lines.append(f"| {part} | {a:,} | {b:,} |")
    lines += ["", "## One bbox head (stage 0), by module", ""]
    for name, model in (("DIIHead", base), ("DualAttnHead", dual)):
        head = model.roi_head.bbox_head[0]
        lines.append(
            f"- {name}: {count(head)[0]:,} = "
            + ", ".join(
                f"{child}: {count(mod)[0]:,}"
                for child, mod in head.named_children()
                if count(mod)[0]
            )
        )
    if args.flops:
        lines += [
            "",
            "## One stage's bbox head, one image, 100 proposals (fvcore, 1 multiply-add = 1)",
            "",
        ]
        for name, model, size in (("DIIHead (7x7 RoIs)", base, 7), ("DualAttnHead (5x5)", dual, 5)):
            flops = head_flops(model.roi_head.bbox_head[0], size, 100)
            lines.append(
                f"- {name}: {flops / 1e9:.3f} G per stage, x6 stages = {6 * flops / 1e9:.2f} G"
            )
    write_text_atomic(args.out, "\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
