"""Cost against input size (`vzoo bench --sweep`), as plain data: curves, fitted exponents, tables.

A sweep is the speed records of rows measured at several input sizes under one protocol, all of
whose fields but the input are equal (`sweep_key`). Each row is a curve of (pixels, latency,
throughput, peak memory); its exponent is the least-squares slope of log(value) against
log(pixels) over the measured points: 1 is linear in the pixel count (the papers' "linear
complexity"), 2 quadratic. Only measured points enter a curve, a fit or a figure; a fit needs
two sizes. `core/sweep_plot.py` draws the figure.

Records come in `vzoo bench --format json`'s form (`id`, `metric`, `value`, `protocol`, `spread`,
`caveats`, `load_avg_1min`); `bench_record_of` turns a stored record into that form.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from vzoo.core.registry import Row
from vzoo.core.results import ResultStore, StoredResult

# Metrics a sweep point carries, and the ones an exponent is fitted for.
FITTED = {"latency_ms": "time", "peak_memory_mb": "memory"}


@dataclass(frozen=True)
class Fit:
    """value ≈ c * pixels ** exponent over `points` sizes (least squares in log-log)."""

    exponent: float
    coefficient: float
    points: int


def fit_exponent(pixels: Sequence[float], values: Sequence[float]) -> Fit | None:
    """The log-log least-squares fit; None with fewer than two distinct sizes of positive value
    (a zero RSS growth has no logarithm: that point is left out of the fit, not invented)."""
    pairs = [(math.log(p), math.log(v)) for p, v in zip(pixels, values, strict=True) if v > 0]
    if len({x for x, _ in pairs}) < 2:
        return None
    n = len(pairs)
    mx = sum(x for x, _ in pairs) / n
    my = sum(y for _, y in pairs) / n
    sxx = sum((x - mx) ** 2 for x, _ in pairs)
    slope = sum((x - mx) * (y - my) for x, y in pairs) / sxx
    return Fit(slope, math.exp(my - slope * mx), n)


@dataclass(frozen=True)
class SweepPoint:
    height: int
    width: int
    latency_ms: float  # median pass
    latency_min_ms: float
    latency_max_ms: float
    throughput: float | None  # img/s over the timed loop
    peak_memory_mb: float | None
    load_avg: float | None
    caveats: tuple[str, ...]  # why the timing is not trustworthy (empty: nothing says so)

    @property
    def pixels(self) -> int:
        return self.height * self.width


@dataclass(frozen=True)
class SweepCurve:
    row_id: str
    label: str  # "MLLA-T", "Swin-T (mmdet)"
    family: str
    baseline: bool
    points: tuple[SweepPoint, ...]  # by pixel count

    def fit(self, metric: str) -> Fit | None:
        values = [getattr(p, metric) for p in self.points]
        measured = [
            (p.pixels, v) for p, v in zip(self.points, values, strict=True) if v is not None
        ]
        return fit_exponent([p for p, _ in measured], [v for _, v in measured])

    @property
    def flagged(self) -> bool:
        return any(p.caveats for p in self.points)


@dataclass(frozen=True)
class Sweep:
    key: str  # hash of the protocol without its input: safe in file names and SVG ids
    protocol: dict[str, Any]  # the shared protocol, `input` removed
    curves: tuple[SweepCurve, ...]

    @property
    def title(self) -> str:
        p = self.protocol
        device = p.get("device_name") if p.get("device") != "cpu" else "CPU"
        threads = f", {p.get('threads')} threads" if p.get("device") == "cpu" else ""
        return (
            f"Cost against input size: {p.get('part')}, batch {p.get('batch_size')}, "
            f"{p.get('precision')}, {device}{threads}"
        )

    @property
    def protocol_line(self) -> str:
        """The shared protocol in `protocol_label`'s words, the input named as swept."""
        from vzoo.core.results import protocol_label

        return protocol_label({**self.protocol, "input": "input swept"})


def sweep_key(protocol: Mapping[str, Any]) -> str:
    """Equal for two protocols that differ at most in their input size."""
    rest = {k: v for k, v in protocol.items() if k != "input"}
    return hashlib.sha256(json.dumps(rest, sort_keys=True).encode()).hexdigest()[:12]


def bench_record_of(rec: StoredResult) -> dict[str, Any]:
    """A stored speed record in `vzoo bench --format json`'s form."""
    env = rec.env
    return {
        "id": rec.row_id, "metric": rec.metric, "value": rec.value, "unit": rec.unit,
        "protocol": dict(env.get("bench_protocol") or {}), "spread": env.get("spread"),
        "caveats": list(env.get("timing_caveats") or []), "load_avg_1min": env.get("load_avg_1min"),
        "created_at": rec.created_at,
    }  # fmt: skip


def curve_label(row: Row) -> str:
    """'MLLA-T' for a zoo row; 'Swin-T (mmdet)' / 'ResNet-50 (mmdet)' for a baseline."""
    from vzoo.core.figures import BACKBONE_LABELS, family_label
    from vzoo.core.registry import is_baseline
    from vzoo.core.sizes import arch_parts

    backbone, size = arch_parts(row.family, row.arch)
    if is_baseline(row):
        return f"{BACKBONE_LABELS.get(backbone, backbone)}-{size} ({row.family})"
    return f"{family_label(row.family)}-{size}"


def _hw(protocol: Mapping[str, Any]) -> tuple[int, int] | None:
    parts = str(protocol.get("input", "")).split("x")
    return (int(parts[-2]), int(parts[-1])) if len(parts) == 3 else None


def build_sweeps(
    rows: Iterable[Row], records: Iterable[Mapping[str, Any]], *, min_sizes: int = 2
) -> list[Sweep]:
    """The sweeps among speed `records` of `rows`: per protocol (input aside), a curve per row
    measured at `min_sizes` sizes or more; the newest record per (row, size, metric) counts.

    Rows keep the order given (zoo rows before baselines); sweeps come newest first.
    """
    from vzoo.core.registry import is_baseline

    rows = list(rows)
    by_id = {r.id: r for r in rows}
    newest: dict[tuple[str, str, tuple[int, int], str], Mapping[str, Any]] = {}
    protocols: dict[str, dict[str, Any]] = {}
    recency: dict[str, str] = {}
    for rec in records:
        proto = rec.get("protocol") or {}
        hw = _hw(proto)
        if rec["id"] not in by_id or hw is None or rec["metric"] not in _METRIC_FIELDS:
            continue
        key = sweep_key(proto)
        protocols[key] = {k: v for k, v in proto.items() if k != "input"}
        slot = (key, rec["id"], hw, rec["metric"])
        when = str(rec.get("created_at") or "")
        recency[key] = max(recency.get(key, ""), when)
        if slot not in newest or when >= str(newest[slot].get("created_at") or ""):
            newest[slot] = rec
    sweeps = []
    for key in sorted(protocols, key=lambda k: recency[k], reverse=True):
        curves = []
        ordered = sorted(rows, key=lambda r: is_baseline(r))
        for row in ordered:
            sizes = sorted({hw for (k, rid, hw, _) in newest if k == key and rid == row.id})
            points = []
            for hw in sizes:
                found = {m: newest.get((key, row.id, hw, m)) for m in _METRIC_FIELDS}
                if found["latency_ms"] is not None:
                    points.append(_point(hw, found))
            if len(points) >= min_sizes:
                curves.append(
                    SweepCurve(
                        row.id, curve_label(row), row.family, is_baseline(row),
                        tuple(sorted(points, key=lambda p: p.pixels)),
                    )
                )  # fmt: skip
        if curves:
            sweeps.append(Sweep(key, protocols[key], tuple(curves)))
    return sweeps


_METRIC_FIELDS = ("latency_ms", "throughput", "peak_memory_mb")


def _point(hw: tuple[int, int], found: Mapping[str, Mapping[str, Any] | None]) -> SweepPoint:
    lat = found["latency_ms"]
    assert lat is not None
    spread = lat.get("spread") or {}
    thr, mem = found["throughput"], found["peak_memory_mb"]
    return SweepPoint(
        height=hw[0], width=hw[1], latency_ms=float(lat["value"]),
        latency_min_ms=float(spread.get("min", lat["value"])),
        latency_max_ms=float(spread.get("max", lat["value"])),
        throughput=float(thr["value"]) if thr is not None else None,
        peak_memory_mb=float(mem["value"]) if mem is not None else None,
        load_avg=lat.get("load_avg_1min"), caveats=tuple(lat.get("caveats") or ()),
    )  # fmt: skip


def exponent_text(fit: Fit | None) -> str:
    return "—" if fit is None else f"{fit.exponent:.2f}"


def legend_label(curve: SweepCurve) -> str:
    """'MLLA-T: time ∝ px^1.02, memory ∝ px^0.98' (— where a fit has fewer than 2 sizes)."""
    time_fit, mem_fit = curve.fit("latency_ms"), curve.fit("peak_memory_mb")
    return (
        f"{curve.label}: time ∝ px^{exponent_text(time_fit)}, memory ∝ px^{exponent_text(mem_fit)}"
    )


def format_number(value: float | None, unit: str = "") -> str:
    """Three significant digits, whole numbers from 1000 up (never 7.38e+03)."""
    if value is None:
        return "—"
    text = f"{value:.3g}" if abs(value) < 1000 else f"{value:.0f}"
    return f"{text} {unit}".rstrip()


def point_cells(p: SweepPoint, *, reasons: bool = True) -> list[str]:
    """A point's cells, each number with its unit: input, latency (min–max), throughput,
    peak memory, load, and why its timing is not trustworthy (`reasons`) or just that."""
    return [
        f"{p.height}x{p.width}",
        f"{format_number(p.latency_ms, 'ms')} "
        f"({format_number(p.latency_min_ms)}–{format_number(p.latency_max_ms, 'ms')})",
        format_number(p.throughput, "img/s"),
        format_number(p.peak_memory_mb, "MiB"),
        "—" if p.load_avg is None else f"{p.load_avg:.1f}",
        ("; ".join(p.caveats) if reasons else "UNTRUSTWORTHY") if p.caveats else "ok",
    ]


POINT_HEADERS = ("input HxW", "latency (min–max)", "throughput", "peak memory", "load 1 min",
                 "timing")  # fmt: skip
FIT_HEADERS = ("model", "time exponent", "memory exponent", "sizes fitted", "timing")


def fit_cells(curve: SweepCurve) -> list[str]:
    time_fit, mem_fit = curve.fit("latency_ms"), curve.fit("peak_memory_mb")
    n = f"{time_fit.points}" if time_fit else "0"
    if mem_fit is not None and mem_fit.points != (time_fit.points if time_fit else 0):
        n += f" (memory {mem_fit.points})"
    flagged = sum(1 for p in curve.points if p.caveats)
    trust = f"{flagged} of {len(curve.points)} sizes flagged" if flagged else "ok"
    return [curve.label, exponent_text(time_fit), exponent_text(mem_fit), n, trust]


def sweep_markdown(sweep: Sweep) -> list[str]:
    """The sweep's two tables: exponents per model, then every measured point."""
    out = [f"### {sweep.title}", "",
           "Exponents of time (median latency) and peak memory against the pixel count "
           "(least squares in log-log over the measured sizes; 1 = linear).", "",
           "| " + " | ".join(FIT_HEADERS) + " |", "|---|---:|---:|---:|---|"]  # fmt: skip
    out += ["| " + " | ".join(fit_cells(c)) + " |" for c in sweep.curves]
    out += ["", "| model | " + " | ".join(POINT_HEADERS) + " |",
            "|---|---|---:|---:|---:|---:|---|"]  # fmt: skip
    for c in sweep.curves:
        out += [f"| {c.row_id} | " + " | ".join(point_cells(p)) + " |" for p in c.points]
    out += ["", f"Protocol: {sweep.protocol_line}."]
    flagged = [c.row_id for c in sweep.curves if c.flagged]
    if flagged:
        out += ["", f"Not trustworthy (machine loaded or passes disagreeing): timings of "
                f"{', '.join(flagged)} at the sizes marked above."]  # fmt: skip
    return out


def sweeps_from_store(rows: Iterable[Row], store: ResultStore) -> list[Sweep]:
    """The sweeps the results store holds for `rows` (every `vzoo bench` run counts: two runs at
    two inputs under one protocol make a curve as a `--sweep` does)."""
    records = [bench_record_of(r) for m in _METRIC_FIELDS for r in store.query(metric=m)]
    return build_sweeps(rows, records)


SWEEP_SECTION = "Cost against input size"
