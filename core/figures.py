"""What the report's figures show, as plain data (no matplotlib): `core/plot.py` draws them.

The figure of every one of these papers: accuracy against FLOPs (and params, and throughput), one
curve per family through its sizes (T → S → B), published points hollow, measured points filled
and joined to their published point, baselines as a grey reference curve. One chart per task,
detector/segmentor framework and schedule (a 1× and a 3× Mask R-CNN do not share a curve) and
x-axis metric; a chart is made only when it has at least one point.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from vzoo.core.results import RANDOM_INIT
from vzoo.core.sizes import arch_parts, size_rank
from vzoo.core.tasks import generic_methods, tasks

if TYPE_CHECKING:
    pass

# The axes a task's accuracy (`Task.accuracy_metric`) is plotted against.
X_METRICS = ("flops_g", "params_m", "throughput")
X_LABELS = {"flops_g": "FLOPs (G)", "params_m": "Params (M)", "throughput": "Throughput (images/s)"}
# What the title and legend call an x axis' quantity ("box AP vs FLOPs"; the y axis': its task's
# `accuracy_word`).
X_WORDS = {"flops_g": "FLOPs", "params_m": "params", "throughput": "throughput"}
# Axes whose value can be published (throughput never is: only measured rows are on its chart).
PUBLISHABLE_X = ("flops_g", "params_m")
# Backbone families of baseline rows (`sizes.arch_parts`: r50 -> "r", swin-t-p4-w7 -> "swin").
BACKBONE_LABELS = {"r": "ResNet", "x": "ResNeXt", "swin": "Swin", "convnext": "ConvNeXt"}
Point = tuple[float, float]


@dataclass(frozen=True)
class ChartPoint:
    row_id: str
    size: str
    published: Point | None  # (x, y) both as published: a hollow marker
    # at least one coordinate measured, the other published; drawn as measured only in the
    # dimensions that were: filled ("xy"), or half-filled ("x": accuracy as published; "y")
    measured: Point | None
    measured_axes: str = ""  # "xy", "x" or "y" (the measured point's measured coordinates)
    label: str = ""  # a baseline's name on the chart ("ResNet-50", "Swin-T")
    x_spread: tuple[float, float] | None = None  # a timing's slowest..fastest pass (min, max)
    untrustworthy: str | None = None  # why the measured x (a timing) is not to be trusted

    @property
    def on_curve(self) -> Point:
        """Where the family's curve passes: the published point, else the measured one."""
        point = self.published or self.measured
        assert point is not None
        return point


@dataclass(frozen=True)
class ChartSeries:
    key: str  # unique within the chart, safe in file names and SVG ids ("mlla", "sparse-rcnn")
    label: str  # the legend entry
    family: str
    method: str
    baseline: bool
    points: tuple[ChartPoint, ...]  # in size order (T, S, B)
    # (name, accuracy) of rows with an accuracy and no x to place them at (mmdet's baselines,
    # SparX's detectors: their READMEs print no FLOPs or params): drawn as horizontal levels
    levels: tuple[tuple[str, float], ...] = ()


@dataclass(frozen=True)
class Chart:
    key: str  # file stem: "coco-mask-rcnn-1x-box-ap-vs-flops"
    task: str
    title: str
    x_metric: str
    y_metric: str
    x_label: str
    y_label: str
    series: tuple[ChartSeries, ...]

    @property
    def has_published(self) -> bool:
        return any(p.published is not None for s in self.series for p in s.points)

    @property
    def has_measured(self) -> bool:
        return any(p.measured is not None for s in self.series for p in s.points)


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


@dataclass
class _RowValues:
    id: str
    family: str
    arch: str
    task: str
    size: str
    method: str
    schedule: str | None
    baseline: bool
    published: dict[str, float]
    measured: dict[str, float]
    conventions: dict[str, str | None]
    protocols: dict[str, dict[str, Any]]
    spreads: dict[str, tuple[float, float]]
    caveats: dict[str, str]  # metric -> why its measurement is not to be trusted


def _rows(records: Iterable[Mapping[str, Any]]) -> list[_RowValues]:
    rows: dict[str, _RowValues] = {}
    for r in records:
        row = rows.get(r["id"])
        if row is None:
            row = rows[r["id"]] = _RowValues(
                id=r["id"], family=r["family"], arch=r.get("arch") or "", task=r["task"],
                size=r["size"],
                method=r["method"], schedule=r["schedule"], baseline=bool(r["baseline"]),
                published={}, measured={}, conventions={}, protocols={}, spreads={}, caveats={},
            )  # fmt: skip
        if r["published"] is not None:
            row.published[r["metric"]] = float(r["published"])
        # random-init accuracy is plumbing: the tables show it, the figures leave it out
        if r["measured"] is not None and r["convention"] != RANDOM_INIT:
            row.measured[r["metric"]] = float(r["measured"])
            row.conventions[r["metric"]] = r["convention"]
            if r.get("protocol"):
                row.protocols[r["metric"]] = r["protocol"]
            if r.get("spread_min") is not None and r.get("spread_max") is not None:
                row.spreads[r["metric"]] = (float(r["spread_min"]), float(r["spread_max"]))
            if r.get("caveats"):
                row.caveats[r["metric"]] = r["caveats"]
    return list(rows.values())


def _point(row: _RowValues, x_metric: str, y_metric: str) -> ChartPoint | None:
    x_pub, y_pub = row.published.get(x_metric), row.published.get(y_metric)
    x_meas, y_meas = row.measured.get(x_metric), row.measured.get(y_metric)
    published = (x_pub, y_pub) if x_pub is not None and y_pub is not None else None
    measured = None
    axes = ("x" if x_meas is not None else "") + ("y" if y_meas is not None else "")
    if axes:
        x = x_meas if x_meas is not None else x_pub
        y = y_meas if y_meas is not None else y_pub
        if x is not None and y is not None:
            measured = (x, y)
    if published is None and measured is None:
        return None
    return ChartPoint(
        row.id, row.size, published, measured, axes if measured else "", _row_label(row),
        row.spreads.get(x_metric) if x_meas is not None else None,
        row.caveats.get(x_metric) if x_meas is not None else None,
    )  # fmt: skip


def _row_label(row: _RowValues) -> str:
    """A baseline's name on the chart: "ResNet-50", "Swin-T" (zoo rows: their legend says it)."""
    if not row.baseline:
        return ""
    backbone, size = arch_parts(row.family, row.arch)
    return f"{BACKBONE_LABELS.get(backbone, backbone)}-{size}"


def family_label(family: str) -> str:
    """How charts name a family: its card's label (the id for a family without a card)."""
    from vzoo.core.cards import find_card

    card = find_card(family)
    return card.label if card is not None else family


def _method_label(method: str) -> str:
    from vzoo.core.cards import card_methods

    declared = card_methods().get(method)
    if declared is not None and declared.label:
        return declared.label
    generic = generic_methods().get(method)
    return generic.label if generic is not None else method


def _framework(method: str) -> str:
    """Rows of a method that swaps one head of another framework are charted with it."""
    from vzoo.core.cards import card_methods

    declared = card_methods().get(method)
    return declared.framework if declared is not None and declared.framework else method


def _series_label(family: str, method: str, several_methods: bool, baseline: bool) -> str:
    label = family_label(family)
    if several_methods:
        method_label = _method_label(method)
        label = method_label if label in method_label else f"{label} ({method_label})"
    return f"{label} (baseline)" if baseline else label


def _title(task: str, framework: str, schedule: str | None, y_metric: str, x_metric: str) -> str:
    """What is plotted against what: "COCO, Mask R-CNN 1×: box AP vs FLOPs"."""
    parts = [tasks()[task].dataset_label]
    method = _method_label(framework)
    if method:
        parts.append(f"{method} {schedule.replace('x', '×')}" if schedule else method)
    return f"{', '.join(parts)}: {accuracy_word(task)} vs {X_WORDS[x_metric]}"


def accuracy_word(task: str) -> str:
    """What titles and legends call a task's accuracy axis ("box AP"): its `Task.accuracy_word`."""
    known = tasks().get(task)
    return known.accuracy_word if known is not None else "accuracy"


def _x_label(x_metric: str, rows: list[_RowValues]) -> str:
    label = X_LABELS[x_metric]
    if x_metric == "throughput":
        # Throughput depends on the device, batch and precision: name them when all agree
        # (`vzoo compare` shows one `vzoo bench` protocol per task; the table names all of it).
        measured = [r for r in rows if "throughput" in r.measured]
        names = {protocol_short(r.protocols.get("throughput")) for r in measured}
        if len(names) == 1 and (only := names.pop()):
            label = f"{label}, {only}"
    return label


def protocol_short(protocol: Mapping[str, Any] | None) -> str | None:
    """'cuda NVIDIA H200, batch 128, amp-fp16' (None without a protocol)."""
    if not protocol:
        return None
    device = protocol.get("device") or "?"
    if device != "cpu" and protocol.get("device_name"):
        device = f"{device} {protocol['device_name']}"
    elif device == "cpu" and protocol.get("threads"):
        device = f"cpu, {protocol['threads']} threads"
    return f"{device}, batch {protocol.get('batch_size')}, {protocol.get('precision')}"


def _in_size_order(points: list[ChartPoint], declared: tuple[str, ...]) -> tuple[ChartPoint, ...]:
    """Along the family's curve: by its declared sizes (the ladder for others), then by x."""
    return tuple(sorted(points, key=lambda p: (size_rank(p.size, declared), p.on_curve[0])))


def family_sizes(family: str) -> tuple[str, ...]:
    """The sizes a family's card declares, smallest first (none for a family without a card)."""
    from vzoo.core.cards import find_card

    card = find_card(family)
    return card.sizes if card is not None else ()


def _x_rank(point: ChartPoint) -> float:
    return point.on_curve[0]


def _level_label(label: str, x_metric: str) -> str:
    """A zoo family with rows that have no x: the legend says why they are levels, not points."""
    return f"{label} (no {X_WORDS[x_metric]}: level)"


def _series_of(row: _RowValues, several_methods: bool) -> tuple[str, str]:
    """(key, legend label) of the series a row belongs to: its family (and method, where one
    family has several in a chart); the baselines of one source are one reference curve
    (mmdet's R-50, Swin-T, Swin-S), each point named on the chart."""
    if row.baseline:
        return _slug(f"{row.family}-baselines"), f"{row.family} baselines"
    key = f"{row.family}-{row.method}" if several_methods else row.family
    return _slug(key), _series_label(row.family, row.method, several_methods, False)


def build_charts(records: Iterable[Mapping[str, Any]]) -> list[Chart]:
    """Every chart the records can fill, in task order, then framework/schedule, then x-axis.

    A baseline row with an accuracy but no x (mmdet's index prints no FLOPs or params) is a
    horizontal reference level in its series; a chart needs at least one point.
    """
    rows = _rows(records)
    groups: dict[tuple[str, str, str | None], list[_RowValues]] = {}
    for row in rows:
        if row.task not in tasks():
            continue
        key = (row.task, _framework(row.method), row.schedule)
        groups.setdefault(key, []).append(row)
    task_order = list(dict.fromkeys(task for task, _, _ in groups))
    charts: list[Chart] = []
    for (task, framework, schedule), members in sorted(
        groups.items(), key=lambda item: task_order.index(item[0][0])
    ):
        y_metric = tasks()[task].accuracy_metric
        methods_of: dict[str, set[str]] = {}
        for row in members:
            methods_of.setdefault(row.family, set()).add(row.method)
        for x_metric in X_METRICS:
            found: dict[str, tuple[_RowValues, str, list[ChartPoint], list[tuple[str, float]]]]
            found = {}
            for row in members:
                key, label = _series_of(row, len(methods_of[row.family]) > 1)
                point = _point(row, x_metric, y_metric)
                y = row.measured.get(y_metric, row.published.get(y_metric))
                # a row with an accuracy and no x is a level (where an x could be published)
                if point is None and (y is None or x_metric not in PUBLISHABLE_X):
                    continue
                _, _, points, levels = found.setdefault(key, (row, label, [], []))
                if point is not None:
                    points.append(point)
                else:
                    levels.append((_row_label(row) or row.size, y))
            if not any(points for _, _, points, _ in found.values()):
                continue
            series = tuple(
                ChartSeries(
                    key=key,
                    label=_level_label(label, x_metric) if levels and not first.baseline else label,
                    family=first.family,
                    method=first.method,
                    baseline=first.baseline,
                    # baselines of several backbones: a reference curve by x (R-50, Swin-T, -S)
                    points=(
                        tuple(sorted(points, key=_x_rank))
                        if first.baseline
                        else _in_size_order(points, family_sizes(first.family))
                    ),
                    levels=tuple(levels),
                )
                for key, (first, label, points, levels) in found.items()
            )
            # Zoo families first (in registry order), baselines after them.
            series = tuple(sorted(series, key=lambda s: s.baseline))
            # a method without a label (the classifier) is not named in the file name either
            stem = [tasks()[task].dataset_label, framework if _method_label(framework) else ""]
            stem += [schedule or "", y_metric, "vs", x_metric.removesuffix("_g").removesuffix("_m")]
            charts.append(
                Chart(
                    key=_slug("-".join(p for p in stem if p)),
                    task=task,
                    title=_title(task, framework, schedule, y_metric, x_metric),
                    x_metric=x_metric,
                    y_metric=y_metric,
                    x_label=_x_label(x_metric, members),
                    y_label=tasks()[task].accuracy_label,
                    series=series,
                )
            )
    return charts
