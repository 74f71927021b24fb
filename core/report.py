"""`vzoo compare`: published vs measured, per (row, metric), rendered as markdown/csv/json/html."""

from __future__ import annotations

import base64
import html
import io
import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from vzoo.core.metrics import METRICS, SPEED_METRICS, tolerance_for
from vzoo.core.registry import Row
from vzoo.core.results import StoredResult

if TYPE_CHECKING:
    import pandas as pd

REPORT_FORMATS = ("markdown", "csv", "json", "html")
TASK_TITLES = {
    "classification": "ImageNet-1K classification (val, 224²)",
    "detection": "COCO 2017 detection / instance segmentation (val2017)",
    "segmentation": "ADE20K semantic segmentation (val)",
}
# The accuracy metric each task is ranked by in the Pareto plot.
PRIMARY_METRIC = {"classification": "top1", "detection": "box_ap", "segmentation": "miou_ss"}


@dataclass(frozen=True)
class ComparisonRecord:
    id: str
    metric: str
    published: float | None
    measured: float | None
    delta: float | None
    # reproduced | below | above | not-measured | no-published-figure | measured (speed metrics)
    verdict: str
    unit: str
    task: str
    tolerance: float
    tolerance_kind: str
    measured_at: str | None
    convention: str | None
    published_printed: str | None = None  # the cell as the paper's README prints it ("51.0")
    # speed metrics: the protocol the task's speed column was measured under (`vzoo bench`)
    protocol: dict[str, Any] | None = None


def printed_half_unit(printed: str | None) -> float:
    """Half a unit of the printed figure's last digit: "46M" -> 0.5, "4.5G" -> 0.05.

    A figure printed as 46M stands for anything in [45.5, 46.5): a measurement that rounds to the
    printed figure reproduces it, even where that is wider than the relative tolerance.
    """
    if not printed:
        return 0.0
    digits = "".join(c for c in printed if c.isdigit() or c == ".")
    decimals = len(digits.split(".", 1)[1]) if "." in digits else 0
    return 0.5 * 10.0**-decimals


def verdict_for(
    metric: str,
    published: float | None,
    measured: float | None,
    tolerance: float,
    printed: str | None = None,
) -> str:
    if measured is None:
        return "not-measured"
    if published is None:
        return "no-published-figure"
    allowed = tolerance * abs(published) if METRICS[metric].tolerance_kind == "rel" else tolerance
    allowed = max(allowed, printed_half_unit(printed))
    delta = measured - published
    # A tiny epsilon so that e.g. 46.5 vs 46.8 at ±0.3 counts as reproduced despite float rounding.
    if abs(delta) <= allowed + 1e-9:
        return "reproduced"
    return "below" if delta < 0 else "above"


def speed_protocols(
    rows: Iterable[Row], speed: Iterable[StoredResult]
) -> dict[str, tuple[str, dict[str, Any]]]:
    """task -> (convention, protocol) of the newest speed record among `rows` of that task.

    Speed numbers are comparable only under one protocol, so each task's speed column shows
    one: that of the latest `vzoo bench` run over the selected rows. Rows not measured under
    it are not-measured in that column (their other numbers stay in the store).
    """
    task_of = {r.id: r.task for r in rows}
    newest: dict[str, StoredResult] = {}
    for rec in speed:
        task = task_of.get(rec.row_id)
        if task is None or rec.convention is None:
            continue
        if task not in newest or rec.id > newest[task].id:
            newest[task] = rec
    return {
        task: (rec.convention, dict(rec.env.get("bench_protocol") or {}))
        for task, rec in newest.items()
        if rec.convention is not None
    }


def compare(
    rows: Iterable[Row],
    latest: Mapping[tuple[str, str], StoredResult],
    tolerances: Mapping[str, float] | None = None,
    speed: Iterable[StoredResult] = (),
) -> list[ComparisonRecord]:
    """One record per (row, metric): every published metric, plus any measured-only metric.

    `speed`: the store's speed records (`vzoo bench`); each task with any gets the speed metrics
    of every row under one protocol (`speed_protocols`), verdict `measured` or `not-measured`.
    """
    rows = list(rows)
    speed = list(speed)
    protocols = speed_protocols(rows, speed)
    speed_hits: dict[tuple[str, str], StoredResult] = {}
    wanted = {conv for conv, _ in protocols.values()}
    for rec in speed:  # the newest record per (row, metric) under its task's protocol
        if rec.convention in wanted:
            key = (rec.row_id, rec.metric)
            if key not in speed_hits or rec.id > speed_hits[key].id:
                speed_hits[key] = rec
    records: list[ComparisonRecord] = []
    for row in rows:
        measured_metrics = [
            m for (rid, m) in latest
            if rid == row.id and m not in row.published and m not in SPEED_METRICS
        ]  # fmt: skip
        for metric in [*row.published, *sorted(measured_metrics)]:
            if metric not in METRICS:
                continue
            pub = row.published.get(metric)
            hit = latest.get((row.id, metric))
            meas = hit.value if hit is not None else None
            tol = tolerance_for(metric, dict(tolerances or {}))
            delta = None if pub is None or meas is None else round(meas - pub, 6)
            records.append(
                ComparisonRecord(
                    id=row.id,
                    metric=metric,
                    published=pub,
                    measured=meas,
                    delta=delta,
                    verdict=verdict_for(metric, pub, meas, tol, row.published_printed.get(metric)),
                    unit=METRICS[metric].unit,
                    task=row.task,
                    tolerance=tol,
                    tolerance_kind=METRICS[metric].tolerance_kind,
                    measured_at=hit.created_at if hit is not None else None,
                    convention=hit.convention if hit is not None else None,
                    published_printed=row.published_printed.get(metric),
                )
            )
        if row.task in protocols:
            records += _speed_records(row, protocols[row.task], speed_hits)
    return records


def _speed_records(
    row: Row, protocol: tuple[str, dict[str, Any]], hits: Mapping[tuple[str, str], StoredResult]
) -> list[ComparisonRecord]:
    convention, proto = protocol
    out = []
    for metric in SPEED_METRICS:
        hit = hits.get((row.id, metric))
        if hit is not None and hit.convention != convention:
            hit = None
        out.append(
            ComparisonRecord(
                id=row.id, metric=metric, published=None,
                measured=hit.value if hit is not None else None, delta=None,
                verdict="measured" if hit is not None else "not-measured",
                unit=METRICS[metric].unit, task=row.task, tolerance=METRICS[metric].tolerance,
                tolerance_kind=METRICS[metric].tolerance_kind,
                measured_at=hit.created_at if hit is not None else None,
                convention=convention, protocol=proto,
            )
        )  # fmt: skip
    return out


def to_frame(records: list[ComparisonRecord]) -> pd.DataFrame:
    import pandas as pd

    cols = [f.name for f in ComparisonRecord.__dataclass_fields__.values()]
    return pd.DataFrame([asdict(r) for r in records], columns=cols)


def render(records: list[ComparisonRecord], fmt: str) -> str:
    if fmt == "json":
        return json.dumps([json_record(r) for r in records], indent=2)
    if fmt == "csv":
        return to_frame(records).to_csv(index=False)
    if fmt == "markdown":
        return render_markdown(records)
    if fmt == "html":
        return render_html(records)
    raise ValueError(f"unknown report format {fmt!r}")


JSON_KEYS = ("id", "metric", "published", "measured", "delta", "verdict")


def json_record(r: ComparisonRecord) -> dict[str, Any]:
    """The contract's keys; a speed record also names its protocol (what `vzoo bench` prints)."""
    out: dict[str, Any] = {k: getattr(r, k) for k in JSON_KEYS}
    if r.protocol is not None:
        out["protocol"] = r.protocol
    return out


def protocol_label(p: dict[str, Any]) -> str:
    """One line naming a protocol (from its stored dict), e.g. for a report's column."""
    flags = [f for f, on in (("compiled", p.get("compile")), ("channels-last",
             p.get("channels_last"))) if on]  # fmt: skip
    parts = [
        f"{p.get('device')} ({p.get('device_name')})",
        f"{p.get('part')}",
        f"bs {p.get('batch_size')}",
        f"{p.get('input')}",
        f"{p.get('precision')}",
        f"{p.get('threads')} threads",
        *flags,
        f"{p.get('warmup')}+{p.get('iters')} passes",
        f"scan {p.get('scan_backend')}",
        f"torch {p.get('torch')}" + (f", CUDA {p['cuda']}" if p.get("cuda") else ""),
    ]
    return ", ".join(parts)


def speed_lines(records: list[ComparisonRecord]) -> list[str]:
    """'speed (...) measured under: <protocol>' for a task's table, if it has speed metrics."""
    for r in records:
        if r.protocol is not None:
            return [f"Speed metrics (throughput, latency, peak memory) of this table, all under "
                    f"one protocol: {protocol_label(r.protocol)}."]  # fmt: skip
    return []


def _fmt(v: float | None, unit: str = "") -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "—"
    text = f"{v:.2f}".rstrip("0").rstrip(".") if abs(v) < 1e4 else f"{v:.0f}"
    return f"{text}{unit}" if unit in ("M", "G") else text


def _published(r: ComparisonRecord) -> str:
    """The published number as printed (keeps "51.0"), with the unit shown like measured ones."""
    if r.published_printed is None:
        return _fmt(r.published, r.unit)
    number = r.published_printed.rstrip("MG%")
    return f"{number}{r.unit}" if r.unit in ("M", "G") else number


def _delta(r: ComparisonRecord) -> str:
    if r.delta is None:
        return "—"
    text = f"{r.delta:+.2f}"
    if r.tolerance_kind == "rel" and r.published:
        text += f" ({100 * r.delta / r.published:+.1f}%)"
    return text


def _task_tables(records: list[ComparisonRecord]) -> dict[str, list[ComparisonRecord]]:
    tables: dict[str, list[ComparisonRecord]] = {}
    for r in records:
        tables.setdefault(r.task, []).append(r)
    return tables


def summary_counts(records: list[ComparisonRecord]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for r in records:
        counts[r.verdict] = counts.get(r.verdict, 0) + 1
    return counts


def render_markdown(records: list[ComparisonRecord]) -> str:
    out = ["# vzoo: published vs measured", ""]
    counts = summary_counts(records)
    out.append(
        f"{len({r.id for r in records})} rows, {len(records)} metrics: "
        + ", ".join(f"{v} {k}" for k, v in sorted(counts.items()))
    )
    for task, recs in _task_tables(records).items():
        out += ["", f"## {TASK_TITLES.get(task, task)}", ""]
        out.append("| row | metric | published | measured | delta | verdict |")
        out.append("|---|---|---:|---:|---:|---|")
        for r in recs:
            label = METRICS[r.metric].label
            out.append(
                f"| {r.id} | {label} | {_published(r)} | {_fmt(r.measured, r.unit)}"
                f" | {_delta(r)} | {r.verdict} |"
            )
        out += ["", *speed_lines(recs)] if speed_lines(recs) else []
    return "\n".join(out) + "\n"


def render_html(records: list[ComparisonRecord]) -> str:
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'><title>vzoo compare</title>",
        "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:2px 8px;text-align:right}"
        "td:first-child,th:first-child{text-align:left}"
        ".reproduced{background:#dfd}.below{background:#fdd}.above{background:#ddf}</style>",
        "</head><body><h1>vzoo: published vs measured</h1>",
    ]
    for task, recs in _task_tables(records).items():
        parts.append(f"<h2>{html.escape(TASK_TITLES.get(task, task))}</h2>")
        plot = pareto_png(recs, task)
        if plot is not None:
            b64 = base64.b64encode(plot).decode()
            parts.append(
                f"<img alt='Pareto plot: accuracy vs FLOPs' src='data:image/png;base64,{b64}'>"
            )
        parts.append(
            "<table><tr><th>row</th><th>metric</th><th>published</th><th>measured</th>"
            "<th>delta</th><th>verdict</th></tr>"
        )
        for r in recs:
            parts.append(
                f"<tr class='{r.verdict}'><td>{html.escape(r.id)}</td>"
                f"<td>{html.escape(METRICS[r.metric].label)}</td>"
                f"<td>{_published(r)}</td><td>{_fmt(r.measured, r.unit)}</td>"
                f"<td>{html.escape(_delta(r))}</td><td>{r.verdict}</td></tr>"
            )
        parts.append("</table>")
        parts += [f"<p>{html.escape(line)}</p>" for line in speed_lines(recs)]
    parts.append("</body></html>")
    return "\n".join(parts)


def pareto_points(
    records: list[ComparisonRecord], task: str
) -> dict[str, list[tuple[str, float, float]]]:
    """(row, FLOPs G, accuracy) for published and measured numbers of one task."""
    by_row: dict[str, dict[str, ComparisonRecord]] = {}
    for r in records:
        by_row.setdefault(r.id, {})[r.metric] = r
    primary = PRIMARY_METRIC[task]
    points: dict[str, list[tuple[str, float, float]]] = {"published": [], "measured": []}
    for rid, metrics in by_row.items():
        acc, flops = metrics.get(primary), metrics.get("flops_g")
        if acc is None or flops is None:
            continue
        if acc.published is not None and flops.published is not None:
            points["published"].append((rid, flops.published, acc.published))
        if acc.measured is not None:
            x = flops.measured if flops.measured is not None else flops.published
            if x is not None:
                points["measured"].append((rid, x, acc.measured))
    return points


def pareto_png(records: list[ComparisonRecord], task: str) -> bytes | None:
    points = pareto_points(records, task)
    if not points["published"] and not points["measured"]:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=100)
    for kind, marker in (("published", "o"), ("measured", "x")):
        pts = points[kind]
        if pts:
            ax.scatter([p[1] for p in pts], [p[2] for p in pts], marker=marker, label=kind)
            for rid, x, y in pts:
                ax.annotate(rid, (x, y), fontsize=6, xytext=(3, 3), textcoords="offset points")
    ax.set_xlabel("FLOPs (G, as published)")
    ax.set_ylabel(METRICS[PRIMARY_METRIC[task]].label)
    ax.set_title(TASK_TITLES.get(task, task))
    ax.legend()
    ax.grid(alpha=0.3)
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()


def parse_tolerances(items: list[str]) -> dict[str, float]:
    """`metric=value` pairs from the command line."""
    out: dict[str, float] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or name not in METRICS:
            from vzoo.core.errors import UserInputError

            raise UserInputError(
                f"bad --tolerance '{item}': expected METRIC=VALUE with METRIC one of "
                f"{', '.join(METRICS)}"
            )
        try:
            tol = float(value)
        except ValueError:
            tol = math.nan
        if not math.isfinite(tol) or tol < 0:
            from vzoo.core.errors import UserInputError

            raise UserInputError(
                f"bad --tolerance '{item}': '{value}' is not a non-negative number"
            ) from None
        out[name] = tol
    return out


def as_json_records(records: list[ComparisonRecord]) -> list[dict[str, Any]]:
    return [asdict(r) for r in records]
