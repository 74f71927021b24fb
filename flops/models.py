"""Build a row's full model (classifier / Mask R-CNN / Sparse R-CNN / UperNet) for counting.

Detectors are counted through mmdet's tensor-mode `_forward` (backbone, neck, RPN with its
proposal step, RoI heads) on one random (1, 3, H, W) input, as the VMamba-lineage repos'
`mmdet_flops` and Spatial-Mamba's get_flops do. Their data sample comes from a real COCO val
image after the test pipeline, so the RPN clips its proposals to that image's shape: vzoo uses
the most common COCO val size, 640x480, resized to 1067x800 (`COCO_TYPICAL_META`); how many
RoIs reach the heads is reported (`roi_counts`). Segmentors go through mmseg's `_forward` (the
whole-image decode path; the auxiliary head is not run, as in the authors' counts).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from vzoo.core.errors import VzooError
from vzoo.core.registry import Row
from vzoo.core.tasks import get_task

# A 640x480 COCO val image after Resize((1333, 800), keep_ratio) and Pad(size_divisor=32).
COCO_TYPICAL_META: dict[str, Any] = dict(
    ori_shape=(480, 640), img_shape=(800, 1067), pad_shape=(800, 1088),
    batch_input_shape=(800, 1088), scale_factor=(1067 / 640, 800 / 480),
)  # fmt: skip


@dataclass
class CountableModel:
    module: nn.Module  # called as module(*inputs) under torch.jit.trace
    inputs: tuple[Any, ...]
    full_model: nn.Module  # whose parameters are counted
    description: str
    aux_head: nn.Module | None = None  # a segmentor's auxiliary head (not traced)
    roi_counts: dict[str, int] = field(default_factory=dict)  # filled while tracing


def _record_rois(roi_head: nn.Module, counts: dict[str, int]) -> None:
    """Count the RoIs each RoI extractor sees (how much of the heads the trace priced)."""
    for name in ("bbox_roi_extractor", "mask_roi_extractor"):
        extractor = getattr(roi_head, name, None)
        if isinstance(extractor, nn.ModuleList):  # cascade / sparse heads: one per stage
            extractor = extractor[0] if len(extractor) else None
        if extractor is None:
            continue

        def hook(_m: nn.Module, args: tuple[Any, ...], _out: Any, key: str = name) -> None:
            counts[key.split("_")[0]] = int(args[1].shape[0])

        extractor.register_forward_hook(hook)


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


def row_available(row: Row) -> bool:
    """Can this installation build the row's model (classifier arch known, or its config found)?
    An overlay or plugin row may name an arch or config that is not installed here."""
    if get_task(row.task).builds_classifier:
        from vzoo.zoo import family_module

        try:  # an arch no card declares, or a plugin's module that does not import
            family_module(row.arch)
        except (ModuleNotFoundError, VzooError):
            return False
        return True
    from vzoo.core.registry import config_path

    return row.config is not None and config_path(row.config).is_file()


def default_input(row: Row) -> tuple[int, int, int]:
    if row.flops_input is not None:
        return row.flops_input  # type: ignore[return-value]
    return get_task(row.task).default_input


def build_countable(row: Row, input_shape: tuple[int, int, int] | None = None) -> CountableModel:
    c, h, w = input_shape or default_input(row)
    # the RPN's proposals depend on the input: fixed, so counts are reproducible
    x = torch.randn(1, c, h, w, generator=torch.Generator().manual_seed(0))
    from vzoo.zoo.row_models import build_row_model

    model = build_row_model(row)
    # what is traced follows the library that built the model, whatever the task
    library = get_task(row.task).model_library
    if library is None:
        return CountableModel(model, (x,), model, f"classifier at {c}x{h}x{w}")
    if library == "mmdet":
        from mmdet.structures import DetDataSample

        rpn = getattr(model, "rpn_head", None)
        if type(rpn).__name__ == "EmbeddingRPNHead":
            # its learned proposal boxes start as whole-image boxes only after init_weights
            # (raw embeddings would give negative-size RoIs); weights do not change the count
            rpn.init_weights()
        from mmengine.structures import InstanceData

        sample = DetDataSample(metainfo=dict(COCO_TYPICAL_META))
        # Sparse R-CNN's tensor forward unpacks (empty) ground truth
        sample.gt_instances = InstanceData(
            bboxes=torch.zeros(0, 4), labels=torch.zeros(0, dtype=torch.long)
        )
        wrapper = _DetectorTensorForward(model, [sample])
        cm = CountableModel(wrapper, (x,), model, f"{row.method} _forward at {c}x{h}x{w}")
        if getattr(model, "roi_head", None) is not None:
            _record_rois(model.roi_head, cm.roi_counts)
        return cm
    if library != "mmseg":
        raise VzooError(f"{row.id}: vzoo counts classifiers, mmdet and mmseg models only")
    return CountableModel(
        _SegmentorTensorForward(model),
        (x,),
        model,
        f"{row.method} _forward at {c}x{h}x{w}",
        aux_head=getattr(model, "auxiliary_head", None),
    )


# Model-config keys that change training, not the inference graph being counted.
_TRAINING_ONLY_KEYS = frozenset({"drop_path_rate", "init_cfg", "pretrained", "train_cfg"})


def _inference_part(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            k: _inference_part(v) for k, v in sorted(value.items()) if k not in _TRAINING_ONLY_KEYS
        }
    if isinstance(value, list | tuple):
        return [_inference_part(v) for v in value]
    return value


def model_key(row: Row, input_shape: tuple[int, int, int]) -> str:
    """Rows with the same key count the same (e.g. a 1x and a 3x Mask R-CNN row differ only in
    schedule and drop-path rate): `vzoo flops --all` counts each key once."""
    if get_task(row.task).builds_classifier:
        return f"cls:{row.arch}:{input_shape}"
    from vzoo.zoo.row_models import row_config

    model = row_config(row).model.to_dict()
    return f"{row.task}:{_inference_part(model)!r}:{input_shape}"
