"""Count SparX-Mamba parameters (classifier, detection backbone, full Mask R-CNN from vzoo's
configs) and classifier FLOPs at 224².

    python benchmarks/params_sparx_mamba.py --out reports/params_sparx_mamba.md

Parameter counts use meta-device builds (structure only). FLOPs are fvcore's count with the
selective-scan handles of `vzoo.kernels.flop_count` (VMamba's scan formula), when that module
exists; otherwise the column says so. The published columns are the upstream README's ImageNet
table; the seed publishes no detector params or FLOPs.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from vzoo.core.files import write_text_atomic
from vzoo.zoo import sparx_mamba as sm

CONFIGS = Path(__file__).resolve().parents[1] / "zoo" / "configs" / "sparx_mamba"


def count(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def classifier_gflops(arch: str) -> str:
    try:
        from fvcore.nn import FlopCountAnalysis

        from vzoo.kernels.flop_count import FVCORE_HANDLES  # type: ignore[import-not-found]
    except ImportError:
        return "n/a (needs vzoo.kernels.flop_count)"
    model = sm.build_classifier(arch).eval()
    analysis = FlopCountAnalysis(model, (torch.randn(1, 3, 224, 224),))
    analysis.set_op_handle(**FVCORE_HANDLES)
    analysis.unsupported_ops_warnings(False)
    analysis.uncalled_modules_warnings(False)
    return f"{analysis.total() / 1e9:.2f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()

    from mmdet.registry import MODELS
    from mmdet.utils import register_all_modules
    from mmengine.config import Config

    register_all_modules()
    lines = [
        "# SparX-Mamba parameters (sum of p.numel() of the built models) and FLOPs (measured)",
        "",
        "| arch | classifier params | published | det. backbone | Mask R-CNN 1x/3x (full) "
        "| classifier GFLOPs 224² | published |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for v in ("t", "s", "b"):
        arch = f"sparx-mamba-{v}"
        with torch.device("meta"):
            cls = count(sm.build_classifier(arch))
            backbone = count(sm.build_backbone(arch))
            cfg = Config.fromfile(str(CONFIGS / f"sparx_mamba_{v}_1x.py"))
            detector = count(MODELS.build(cfg.model))
        spec = sm.ARCHS[arch]
        lines.append(
            f"| {arch} | {cls:,} ({cls / 1e6:.2f} M) | {spec.published_params_m:g} M | "
            f"{backbone:,} | {detector:,} ({detector / 1e6:.2f} M) | {classifier_gflops(arch)} | "
            f"{spec.published_flops_g:g} |"
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
