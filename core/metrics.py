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
    # A number recorded beside the headline ones that no paper table prints (COCO's AP50 ...
    # AR): in the store and `compare --details`, not in the default comparison.
    detail: bool = False


# COCO's other 11 summary numbers per IoU type (AP is box_ap / mask_ap): metric suffix, unit,
# label. AR at mmdet's maxDets (100, 300, 1000); the size-split AR at 1000.
COCO_DETAIL_METRICS = (
    ("ap50", "AP", "AP50"), ("ap75", "AP", "AP75"), ("ap_s", "AP", "AP small"),
    ("ap_m", "AP", "AP medium"), ("ap_l", "AP", "AP large"), ("ar100", "AR", "AR@100"),
    ("ar300", "AR", "AR@300"), ("ar1000", "AR", "AR@1000"), ("ar_s", "AR", "AR small"),
    ("ar_m", "AR", "AR medium"), ("ar_l", "AR", "AR large"),
)  # fmt: skip

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
        Metric("peak_memory_mb", "MiB", "peak memory", 0.0, "rel", False),  # 2**20 bytes
        *(
            Metric(f"{kind}_{suffix}", unit, f"{label} {text}", 0.3, "abs", True, detail=True)
            for kind, label in (("box", "box"), ("mask", "mask"))
            for suffix, unit, text in COCO_DETAIL_METRICS
        ),
    )
}
# Measured under a protocol (device, batch, input, precision, ...) recorded with each number;
# numbers from two protocols are never compared or shown in one column.
SPEED_METRICS = ("throughput", "latency_ms", "peak_memory_mb")


def tolerance_for(metric: str, overrides: dict[str, float] | None = None) -> float:
    if overrides and metric in overrides:
        return overrides[metric]
    return METRICS[metric].tolerance


# Units printed against the number, as the papers print them ("25M", "4.2G"); the other units
# follow after a space ("5.95 img/s", "152.45 ms", "56.8 MiB"). AP/AR and % are the metric's own
# scale, named by its label ("box AP", "top-1"), and print bare as the papers do.
_SUFFIX_UNITS = ("M", "G")
_BARE_UNITS = ("AP", "AR", "%")


def with_unit(number: str, unit: str) -> str:
    """A number's text with its unit: "25" + "M" -> "25M", "5.95" + "img/s" -> "5.95 img/s"."""
    if unit in _SUFFIX_UNITS:
        return f"{number}{unit}"
    if unit in _BARE_UNITS or not unit:
        return number
    return f"{number} {unit}"


def format_value(value: float | None, unit: str) -> str:
    """A number as reports print it, with its unit; "—" for none."""
    if value is None or value != value:  # None or NaN
        return "—"
    text = f"{value:.2f}".rstrip("0").rstrip(".") if abs(value) < 1e4 else f"{value:.0f}"
    return with_unit(text, unit)


def format_published(metric: str, value: float, printed: str | None) -> str:
    """A published number as the paper prints it (keeps "51.0"), its unit written the same way
    for every family (the registries print "25" for one README and "25M" for another)."""
    unit = METRICS[metric].unit if metric in METRICS else ""
    if printed is None:
        return format_value(value, unit)
    return with_unit(printed.strip().removesuffix(unit).strip(), unit)
