"""Measure MSVMamba parameter counts (classifiers, and whole models built from our configs).

    python benchmarks/params_msvmamba.py --out reports/params_msvmamba.md

Compares with the README figures in ../shared/seeds (rounded to whole millions there).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from vzoo.core.files import write_text_atomic
from vzoo.zoo import build_classifier

ROOT = Path(__file__).resolve().parents[1]
SEED = ROOT.parent / "shared" / "seeds" / "002_56bfdbb6a48f217a.txt"
CONFIGS = ROOT / "zoo" / "configs" / "msvmamba"


def published() -> dict[tuple[str, str], str]:
    """(variant, what) -> #params as printed in the README tables."""
    out: dict[tuple[str, str], str] = {}
    for line in SEED.read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) < 5 or not cells[0].lower().startswith("msvmamba-"):
            continue
        v = cells[0].split("-")[1].lower()
        if cells[1] == "ImageNet-1K":
            out[(v, "classifier")] = cells[4]
        elif "MaskRCNN@" in cells[3]:
            out[(v, "Mask R-CNN " + cells[3].split("@")[1])] = cells[1]
        elif "UperNet" in cells[4]:
            out[(v, "UperNet 160k")] = cells[2]
    return out


def build_from_config(path: Path) -> torch.nn.Module:
    from mmengine.config import Config
    from mmengine.registry import DefaultScope

    cfg = Config.fromfile(str(path))
    if "upernet" in path.name:
        from mmseg.registry import MODELS
        from mmseg.utils import register_all_modules

        scope = "mmseg"
    else:
        from mmdet.registry import MODELS
        from mmdet.utils import register_all_modules

        scope = "mmdet"
    register_all_modules(init_default_scope=False)
    with DefaultScope.overwrite_default_scope(scope):
        return MODELS.build(cfg.model)


def count(m: torch.nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    pub = published()
    rows: list[tuple[str, str, str, int]] = []
    for v in ("nano", "micro", "tiny"):
        rows.append((v, "classifier", "build_classifier", count(build_classifier(f"msvmamba-{v}"))))
    for v in ("micro", "tiny"):
        for what, name in (
            ("Mask R-CNN 1x", f"msvmamba_{v}_1x.py"),
            ("Mask R-CNN 3x", f"msvmamba_{v}_3x.py"),
            ("UperNet 160k", f"msvmamba_{v}_upernet_160k.py"),
        ):
            rows.append(
                (v, what, f"zoo/configs/msvmamba/{name}", count(build_from_config(CONFIGS / name)))
            )
    lines = [
        "# MSVMamba parameter counts (measured: sum of p.numel() of the built model)",
        "",
        "| variant | model | built from | measured | measured (M) | README |",
        "|---|---|---|---:|---:|---:|",
    ]
    for v, what, src, n in rows:
        lines.append(
            f"| {v} | {what} | {src} | {n:,} | {n / 1e6:.2f} | {pub.get((v, what), '-')} |"
        )
        print(lines[-1], flush=True)
    write_text_atomic(args.out, "\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
