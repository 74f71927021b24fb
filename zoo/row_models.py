"""A row's model, built in one place for every use: its config (mmengine) and the network it
describes, for eval, predict, flops, bench and quickstart alike (and a plugin's rows).

- `row_config`: the row's config file (packaged, a plugin's, an overlay's, or mmdet's own for
  `mmdet:` rows) with `--cfg-options` merged; eval's test loop (mmengine's Runner) builds from it.
- `build_row_model`: the network as eval builds it: a classifier through its family card's
  builder, a detector / segmentor through mmdet's / mmseg's `MODELS` from that config.
- `build_countable`: that network as one traceable tensor forward (`vzoo flops`). Detectors go
  through mmdet's tensor-mode `_forward` (backbone, neck, RPN with its proposal step, RoI heads)
  on one random (1, 3, H, W) input, as the VMamba-lineage repos' `mmdet_flops` and
  Spatial-Mamba's get_flops do. Their data sample comes from a real COCO val image after the test
  pipeline, so the RPN clips its proposals to that image's shape: vzoo uses the most common COCO
  val size, 640x480, resized to 1067x800 (`COCO_TYPICAL_META`); how many RoIs reach the heads is
  reported (`roi_counts`). Segmentors go through mmseg's `_forward` (the whole-image decode path;
  the auxiliary head is not run, as in the authors' counts).
- `build_timed_model`: the same forward (or the backbone alone) batched for `vzoo bench`. The
  post-processing of `predict` (NMS, mask pasting) is left out: its cost depends on how many
  boxes trained weights score above threshold, which random weights cannot reproduce. Weights
  are the model's initialisation: the forward's cost does not depend on their values.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from vzoo.core.errors import UserInputError, VzooError, quote
from vzoo.core.registry import Row, config_path
from vzoo.core.tasks import get_task

if TYPE_CHECKING:
    pass


def row_config(row: Row, cfg_options: dict[str, Any] | None = None) -> Any:
    """The row's mmengine Config with `--cfg-options` merged."""
    from mmengine.config import Config

    if row.config is None:
        raise VzooError(f"{row.id}: the registry gives no config for this row")
    path = config_path(row.config)
    if not path.is_file():
        raise VzooError(f"{row.id}: config {row.config} is missing from the installed package")
    cfg = Config.fromfile(str(path))
    if cfg_options:
        for key, value in cfg_options.items():
            check_cfg_option(cfg, key, value)
        cfg.merge_from_dict(cfg_options)
    return cfg


def check_cfg_option(cfg: Any, key: str, value: Any) -> None:
    """`--cfg-options KEY=VALUE` may set a value or replace a section by a section, never put a
    plain value where the config has a section (`model=1`: the model could not be built) or
    below a plain value (`model.type.x=1`)."""
    node: Any = cfg.to_dict() if hasattr(cfg, "to_dict") else cfg
    parts = key.split(".")
    for depth, part in enumerate(parts):
        if isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        elif isinstance(node, dict):
            if part not in node:
                return  # a new key: mmengine adds it
            node = node[part]
        else:
            where = ".".join(parts[:depth])
            raise UserInputError(
                f"--cfg-options {key}={quote(value)}: '{where}' is a value ({quote(node)}), not "
                f"a section with keys: set {where}=VALUE instead"
            )
    if isinstance(node, dict) and not isinstance(value, dict):
        keys = ", ".join(list(map(str, node))[:4])
        raise UserInputError(
            f"--cfg-options {key}={quote(value)}: '{key}' is a section of the config (keys "
            f"{keys}, ...), not a value: set one of its keys, e.g. {key}.KEY=VALUE"
        )


def build_row_model(row: Row, cfg: Any | None = None) -> nn.Module:
    """The row's network with its initial weights, in eval mode (`cfg`: the row's config,
    already read)."""
    task = get_task(row.task)
    if task.builds_classifier:
        from vzoo.zoo import build_classifier

        return build_classifier(row.arch).eval()
    cfg = cfg if cfg is not None else row_config(row)
    # mmdet, mmseg (OpenMMLab libraries alike): `cfg.model` through the library's MODELS
    utils = importlib.import_module(f"{task.model_library}.utils")
    utils.register_all_modules(init_default_scope=True)
    models = importlib.import_module(f"{task.model_library}.registry").MODELS
    return models.build(cfg.model).eval()


# A 640x480 COCO val image after Resize((1333, 800), keep_ratio) and Pad(size_divisor=32).
COCO_TYPICAL_META: dict[str, Any] = dict(
    ori_shape=(480, 640), img_shape=(800, 1067), pad_shape=(800, 1088),
    batch_input_shape=(800, 1088), scale_factor=(1067 / 640, 800 / 480),
)  # fmt: skip


@dataclass
class CountableModel:
    """A row's network as one tensor forward: `module(*inputs)` runs the graph the papers count."""

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
    return row.config is not None and config_path(row.config).is_file()


def default_input(row: Row) -> tuple[int, int, int]:
    """The (C, H, W) a row is counted and timed at: the row's `flops_input`, else its task's."""
    return row.default_input()


def build_countable(row: Row, input_shape: tuple[int, int, int] | None = None) -> CountableModel:
    """The row's network wrapped as one traceable tensor forward on a fixed random input
    (what `vzoo flops` traces and `vzoo bench` times)."""
    c, h, w = input_shape or default_input(row)
    # the RPN's proposals depend on the input: fixed, so counts are reproducible
    x = torch.randn(1, c, h, w, generator=torch.Generator().manual_seed(0))
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
    model = row_config(row).model.to_dict()
    return f"{row.task}:{_inference_part(model)!r}:{input_shape}"


@dataclass
class TimedModel:
    """What `vzoo bench` times: a module and the batch of inputs it is called on."""

    module: nn.Module
    batch_size: int
    input_shape: tuple[int, int, int]  # C, H, W
    description: str


def build_timed_model(
    row: Row, part: str, input_shape: tuple[int, int, int], batch_size: int
) -> TimedModel:
    """The row's model (`part`: "model", or "backbone" alone) for `vzoo bench` to time."""
    if not row_available(row):
        raise UserInputError(f"{row.id}: no model in this build (family not installed)")
    if part == "backbone" and get_task(row.task).builds_classifier:
        from vzoo.zoo import build_backbone

        module = build_backbone(row.arch)
        module.eval()
        return TimedModel(module, batch_size, input_shape, f"{row.arch} backbone")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)  # the same random weights (and RPN proposals) every run
        cm = build_countable(row, input_shape)
    if part == "backbone":
        backbone = getattr(cm.full_model, "backbone", None)
        if backbone is None:
            raise UserInputError(f"{row.id}: its model has no backbone to time alone")
        backbone.eval()  # mmdet's backbones override train() and return None, not self
        return TimedModel(backbone, batch_size, input_shape, f"{row.id} backbone")
    module = cm.module
    module.eval()
    samples = getattr(module, "data_samples", None)
    if samples is not None:  # one data sample per image of the batch
        module.data_samples = [samples[0]] * batch_size
    return TimedModel(module, batch_size, input_shape, cm.description)
