"""Build a row's full model (classifier / Mask R-CNN / Sparse R-CNN / UperNet) for counting.

Detectors are counted through mmdet's tensor-mode `_forward` (backbone, neck, RPN with its
proposal step, RoI heads) on one (3, H, W) input, as the VMamba-lineage repos' `mmdet_flops` and
mmdet's own get_flops do; segmentors through mmseg's `_forward` (the whole-image decode path).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from vzoo.core.registry import Row


@dataclass
class CountableModel:
    module: nn.Module  # called as module(*inputs) under torch.jit.trace
    inputs: tuple[Any, ...]
    full_model: nn.Module  # whose parameters are counted
    description: str


class _DetectorTensorForward(nn.Module):
    """detector._forward(inputs, data_samples) with fixed, traceable data samples."""

    def __init__(self, detector: nn.Module, data_samples: list[Any]) -> None:
        super().__init__()
        self.detector = detector
        self.data_samples = data_samples

    def forward(self, x: torch.Tensor) -> Any:
        return self.detector._forward(x, self.data_samples)


class _SegmentorTensorForward(nn.Module):
    def __init__(self, segmentor: nn.Module) -> None:
        super().__init__()
        self.segmentor = segmentor

    def forward(self, x: torch.Tensor) -> Any:
        return self.segmentor._forward(x)


def default_input(row: Row) -> tuple[int, int, int]:
    if row.flops_input is not None:
        return row.flops_input  # type: ignore[return-value]
    return {"classification": (3, 224, 224), "detection": (3, 1280, 800),
            "segmentation": (3, 512, 2048)}[row.task]  # fmt: skip


def build_countable(row: Row, input_shape: tuple[int, int, int] | None = None) -> CountableModel:
    c, h, w = input_shape or default_input(row)
    x = torch.randn(1, c, h, w)
    if row.task == "classification":
        from vzoo.zoo import build_classifier

        model = build_classifier(row.arch).eval()
        return CountableModel(model, (x,), model, f"classifier at {c}x{h}x{w}")
    from vzoo.evaluation.detection import load_row_config

    cfg = load_row_config(row)
    if row.task == "detection":
        from mmdet.registry import MODELS
        from mmdet.structures import DetDataSample
        from mmdet.utils import register_all_modules

        register_all_modules(init_default_scope=True)
        model = MODELS.build(cfg.model).eval()
        sample = DetDataSample(
            metainfo=dict(
                img_shape=(h, w), ori_shape=(h, w), pad_shape=(h, w), batch_input_shape=(h, w),
                scale_factor=(1.0, 1.0),
            )
        )  # fmt: skip
        wrapper = _DetectorTensorForward(model, [sample])
        return CountableModel(wrapper, (x,), model, f"{row.method} _forward at {c}x{h}x{w}")
    from mmseg.registry import MODELS as SEG_MODELS
    from mmseg.utils import register_all_modules as register_seg

    register_seg(init_default_scope=True)
    model = SEG_MODELS.build(cfg.model).eval()
    return CountableModel(
        _SegmentorTensorForward(model), (x,), model, f"{row.method} _forward at {c}x{h}x{w}"
    )
