"""A row's model and input for timing, built through the same path `vzoo flops` counts.

- classifiers: the ImageNet model (B, 3, H, W) -> logits;
- detectors / segmentors, part `model`: mmdet's / mmseg's tensor-mode `_forward` (backbone, neck,
  RPN and its proposals, RoI heads on those proposals; the segmentor's whole-image decode), the
  graph whose FLOPs the papers print. The post-processing of `predict` (NMS, mask pasting) is
  left out: its cost depends on how many boxes trained weights score above threshold, which the
  random weights vzoo times with cannot reproduce;
- part `backbone`: the backbone alone (a classifier's row: its detection backbone, 4 maps out).

Weights are the model's initialisation: the forward's cost does not depend on their values.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from vzoo.core.errors import UserInputError
from vzoo.core.registry import Row
from vzoo.core.tasks import get_task


@dataclass
class TimedModel:
    module: nn.Module
    batch_size: int
    input_shape: tuple[int, int, int]  # C, H, W
    description: str


def build_timed_model(
    row: Row, part: str, input_shape: tuple[int, int, int], batch_size: int
) -> TimedModel:
    from vzoo.flops.models import build_countable, row_available

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


def make_input(tm: TimedModel, device: torch.device, channels_last: bool) -> torch.Tensor:
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(tm.batch_size, *tm.input_shape, generator=gen).to(device)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    return x


def move(tm: TimedModel, device: torch.device, channels_last: bool) -> nn.Module:
    module = tm.module.to(device)
    samples = getattr(module, "data_samples", None)
    if samples is not None:
        module.data_samples = [s.to(device) for s in samples]
    if channels_last:
        module = module.to(memory_format=torch.channels_last)
    return module
