"""The metrics vzoo compares, their units and default tolerances."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

ToleranceKind = Literal["abs", "rel"]


@dataclass(frozen=True)
class Metric:
    name: str
    unit: str
    label: str
    tolerance: float
    tolerance_kind: ToleranceKind  # "abs": in the metric's unit; "rel": a fraction of published
    higher_is_better: bool | None  # None: neither (params/FLOPs should simply match)


METRICS: dict[str, Metric] = {
    m.name: m
    for m in (
        Metric("top1", "%", "top-1", 0.3, "abs", True),
        Metric("top5", "%", "top-5", 0.3, "abs", True),
        Metric("box_ap", "AP", "box AP", 0.3, "abs", True),
        Metric("mask_ap", "AP", "mask AP", 0.3, "abs", True),
        Metric("miou_ss", "%", "mIoU (ss)", 0.3, "abs", True),
        Metric("miou_ms", "%", "mIoU (ms)", 0.3, "abs", True),
        Metric("params_m", "M", "params", 0.005, "rel", None),
        Metric("flops_g", "G", "FLOPs", 0.02, "rel", None),
        # 2 x multiply-adds (+ the scan formulas): no paper prints it, vzoo records it beside
        Metric("flops_true_g", "G", "true FLOPs", 0.02, "rel", None),
        # `vzoo bench`: no paper figure to compare with (other hardware), so no tolerance applies
        Metric("throughput", "img/s", "throughput", 0.0, "rel", True),
        Metric("latency_ms", "ms", "latency", 0.0, "rel", False),
        Metric("peak_memory_mb", "MB", "peak memory", 0.0, "rel", False),
    )
}
# Measured under a protocol (device, batch, input, precision, ...) recorded with each number;
# numbers from two protocols are never compared or shown in one column.
SPEED_METRICS = ("throughput", "latency_ms", "peak_memory_mb")


def tolerance_for(metric: str, overrides: dict[str, float] | None = None) -> float:
    if overrides and metric in overrides:
        return overrides[metric]
    return METRICS[metric].tolerance
