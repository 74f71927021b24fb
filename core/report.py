"""`vzoo compare`: published vs measured, per (row, metric), rendered as markdown/csv/json/html."""

from __future__ import annotations

import html
import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from vzoo.core.metrics import (
    METRICS,
    SPEED_METRICS,
    format_published,
    format_value,
    tolerance_for,
    with_unit,
)
from vzoo.core.registry import Row, is_baseline
from vzoo.core.results import RANDOM_INIT, ResultStore, StoredResult, protocol_label
from vzoo.core.sizes import arch_parts
from vzoo.core.tasks import tasks

if TYPE_CHECKING:
    import pandas as pd

    from vzoo.core.figures import Chart
    from vzoo.core.sweep import Sweep

REPORT_FORMATS = ("markdown", "csv", "json", "html")


def task_title(task: str) -> str:
    """The heading of a task's table: its `Task.report_title` (the name of an unknown task)."""
    known = tasks().get(task)
    return known.report_title if known is not None else task


@dataclass(frozen=True)
class ComparisonRecord:
    id: str
    metric: str
    published: float | None
    measured: float | None
    delta: float | None
    # reproduced | below | above | not-measured | no-published-figure | random-init |
    # measured (speed metrics)
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
    # From the registry row, for grouping (plots, notebooks): what the row is, not what it measured.
    family: str = ""
    size: str = ""  # "T", "S", "B", "nano", "micro", "tiny", "50": `arch_parts`
    arch: str = ""
    method: str = ""
    schedule: str | None = None
    baseline: bool = False  # a reference row (e.g. mmdet's own models), drawn as a grey curve
    # speed metrics: why the timing is not trustworthy (load, spread: `speed.stability`), if so
    caveats: str | None = None
    # What the registry row's notes know about this published figure (e.g. "params (25M
    # published) NOT reproduced: the released code builds 24.39M"): `metric_notes`
    note: str | None = None
    # Speed metrics: the timing's spread over its passes (min/max, in `unit`) and the machine's
    # 1-minute load average.
    spread_min: float | None = None
    spread_max: float | None = None
    load_avg: float | None = None


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
    convention: str | None = None,
) -> str:
    if measured is None:
        return "not-measured"
    if convention == RANDOM_INIT:
        return RANDOM_INIT
    if published is None:
        return "no-published-figure"
    allowed = tolerance * abs(published) if METRICS[metric].tolerance_kind == "rel" else tolerance
    allowed = max(allowed, printed_half_unit(printed))
    delta = measured - published
    # A tiny epsilon so that e.g. 46.5 vs 46.8 at ±0.3 counts as reproduced despite float rounding.
    if abs(delta) <= allowed + 1e-9:
        return "reproduced"
    return "below" if delta < 0 else "above"


def _recency(rec: StoredResult) -> tuple[str, str, int]:
    """Newer sorts higher, as the store orders records (creation time, then run id)."""
    return (rec.created_at, rec.run, rec.id)


def speed_protocols(
    rows: Iterable[Row], speed: Iterable[StoredResult]
) -> dict[str, tuple[str, dict[str, Any]]]:
    """task -> (convention, protocol) of the newest speed record among `rows` of that task.

    Speed numbers are comparable only under one protocol, so each task's speed column shows
    one: that of the latest `vzoo bench` run over the selected rows at the row's own input (the
    size its FLOPs are counted at); a run at another size (`--input`, a `--sweep` point) is
    taken only when no row was timed at its own. Rows not measured under it are not-measured in
    that column (their other numbers stay in the store; sweeps have their own section).
    """
    by_id = {r.id: r for r in rows}
    newest: dict[str, tuple[bool, tuple[str, str, int], StoredResult]] = {}
    for rec in speed:
        row = by_id.get(rec.row_id)
        if row is None or rec.convention is None:
            continue
        own_input = "x".join(map(str, row.default_input()))
        rank = ((rec.env.get("bench_protocol") or {}).get("input") == own_input, _recency(rec))
        if row.task not in newest or rank > newest[row.task][:2]:
            newest[row.task] = (*rank, rec)
    return {
        task: (rec.convention, dict(rec.env.get("bench_protocol") or {}))
        for task, (_, _, rec) in newest.items()
        if rec.convention is not None
    }


def compare(
    rows: Iterable[Row],
    latest: Mapping[tuple[str, str], StoredResult],
    tolerances: Mapping[str, float] | None = None,
    speed: Iterable[StoredResult] = (),
    details: bool = False,
) -> list[ComparisonRecord]:
    """One record per (row, metric): every published metric, plus any measured-only metric.

    Detail metrics (COCO's AP50 ... AR: `Metric.detail`, never published) only with `details`.

    `speed`: the store's speed records (`vzoo bench`); each task with any gets the speed metrics
    of every row under one protocol (`speed_protocols`), verdict `measured` or `not-measured`.
    """
    rows = list(rows)
    speed = list(speed)
    protocols = speed_protocols(rows, speed)
    speed_hits: dict[tuple[str, str, str | None], StoredResult] = {}
    for rec in speed:  # the newest record per (row, metric, protocol)
        key = (rec.row_id, rec.metric, rec.convention)
        if key not in speed_hits or _recency(rec) > _recency(speed_hits[key]):
            speed_hits[key] = rec
    records: list[ComparisonRecord] = []
    for row in rows:
        notes = metric_notes(row)
        measured_metrics = [
            m for (rid, m) in latest
            if rid == row.id and m not in row.published and m not in SPEED_METRICS
            and m in METRICS and (details or not METRICS[m].detail)
        ]  # fmt: skip
        for metric in [*row.published, *sorted(measured_metrics)]:
            if metric not in METRICS:
                continue
            pub = row.published.get(metric)
            hit = latest.get((row.id, metric))
            meas = hit.value if hit is not None else None
            tol = tolerance_for(metric, dict(tolerances or {}))
            conv = hit.convention if hit is not None else None
            comparable = pub is not None and meas is not None and conv != RANDOM_INIT
            delta = round(meas - pub, 6) if comparable else None
            records.append(
                ComparisonRecord(
                    id=row.id,
                    metric=metric,
                    published=pub,
                    measured=meas,
                    delta=delta,
                    verdict=verdict_for(
                        metric, pub, meas, tol, row.published_printed.get(metric), conv
                    ),
                    unit=METRICS[metric].unit,
                    task=row.task,
                    tolerance=tol,
                    tolerance_kind=METRICS[metric].tolerance_kind,
                    measured_at=hit.created_at if hit is not None else None,
                    convention=conv,
                    published_printed=row.published_printed.get(metric),
                    note=notes.get(metric),
                    **row_fields(row),
                )
            )
        if row.task in protocols:
            records += _speed_records(row, protocols[row.task], speed_hits)
    return records


def metric_notes(row: Row) -> dict[str, str]:
    """metric -> what the row's notes say about that published figure: a note whose first word
    names the metric, by name or label ("params (25M published) NOT reproduced: ...")."""
    out: dict[str, str] = {}
    for note in row.notes:
        first = re.split(r"[\s(]", note.strip(), maxsplit=1)[0].lower()
        for metric in row.published:
            if metric in METRICS and first in (metric.lower(), METRICS[metric].label.lower()):
                out[metric] = f"{out[metric]} {note}" if metric in out else note
    return out


def compare_stored(
    rows: Iterable[Row],
    store: ResultStore,
    tolerances: Mapping[str, float] | None = None,
    details: bool = False,
) -> list[ComparisonRecord]:
    """`compare` against a results store: its latest numbers and its speed records."""
    speed = [rec for metric in SPEED_METRICS for rec in store.query(metric=metric)]
    return compare(rows, prefer_real(store.latest(), store), tolerances, speed, details)


def prefer_real(
    latest: Mapping[tuple[str, str], StoredResult], store: ResultStore
) -> dict[tuple[str, str], StoredResult]:
    """The newest record per (row, metric), except that a real measurement beats a newer
    `--random-init` smoke run of the same row (which would otherwise hide it)."""
    out = dict(latest)
    for key, rec in latest.items():
        if rec.convention != RANDOM_INIT:
            continue
        real = [r for r in store.query(row_id=key[0], metric=key[1]) if r.convention != RANDOM_INIT]
        if real:
            out[key] = max(real, key=_recency)
    return out


def _speed_records(
    row: Row,
    protocol: tuple[str, dict[str, Any]],
    hits: Mapping[tuple[str, str, str | None], StoredResult],
) -> list[ComparisonRecord]:
    convention, proto = protocol
    out = []
    for metric in SPEED_METRICS:
        hit = hits.get((row.id, metric, convention))
        quality = timing_quality(hit, hits.get((row.id, "latency_ms", convention)))
        out.append(
            ComparisonRecord(
                id=row.id, metric=metric, published=None,
                measured=hit.value if hit is not None else None, delta=None,
                verdict="measured" if hit is not None else "not-measured",
                unit=METRICS[metric].unit, task=row.task, tolerance=METRICS[metric].tolerance,
                tolerance_kind=METRICS[metric].tolerance_kind,
                measured_at=hit.created_at if hit is not None else None,
                convention=convention, protocol=proto, **row_fields(row), **quality,
            )
        )  # fmt: skip
    return out


def timing_quality(hit: StoredResult | None, latency: StoredResult | None) -> dict[str, Any]:
    """What a speed record says about its own timing: spread_min/spread_max (in its unit),
    load_avg and caveats (why not to trust it), as `vzoo bench` stores them in the record's env.

    Read from the env: `spread` ({"min", "max", ...} in the record's unit), `load_avg_1min`,
    `timing_caveats` (a list of reasons; empty or absent when nothing says so).
    A throughput record without its own spread gets it from its latency record (per-pass
    images/s = batch size / per-pass latency): the slowest pass is the lowest throughput.
    """
    if hit is None:
        return {}
    env = hit.env or {}
    spread = env.get("spread") or {}
    low, high = spread.get("min"), spread.get("max")
    if hit.metric == "throughput" and (low is None or high is None) and latency is not None:
        lat = (latency.env or {}).get("spread") or {}
        batch = ((env.get("bench_protocol") or {}).get("batch_size")) or 1
        if lat.get("min") and lat.get("max"):
            low, high = 1e3 * batch / lat["max"], 1e3 * batch / lat["min"]
    return {
        "spread_min": float(low) if low is not None else None,
        "spread_max": float(high) if high is not None else None,
        "load_avg": env.get("load_avg_1min"),
        "caveats": "; ".join(env.get("timing_caveats") or []) or None,
    }


# `vzoo compare --report json` keys, then what the row is; the rest are the record's details.
JSON_KEYS = ("id", "metric", "published", "measured", "delta", "verdict")
ROW_KEYS = ("family", "task", "size")
FRAME_COLUMNS = (
    *JSON_KEYS, *ROW_KEYS, "arch", "method", "schedule", "baseline", "unit", "tolerance",
    "tolerance_kind", "measured_at", "convention", "published_printed", "protocol", "caveats",
    "note", "spread_min", "spread_max", "load_avg",
)  # fmt: skip


def row_size(row: Row) -> str:
    """The size a row's arch names: "T", "S", "B", "nano", "micro", "tiny", "50" (R-50)."""
    return arch_parts(row.family, row.arch)[1]


def row_fields(row: Row) -> dict[str, Any]:
    """What a record says about its row (family, size, arch, method, schedule, baseline)."""
    return {
        "family": row.family, "size": row_size(row), "arch": row.arch, "method": row.method,
        "schedule": row.schedule, "baseline": is_baseline(row),
    }  # fmt: skip


def to_frame(records: list[ComparisonRecord]) -> pd.DataFrame:
    """The tidy comparison table: one row per (row id, metric), `FRAME_COLUMNS` in that order.

    Missing numbers are NaN (float columns), so the frame is ready for pandas arithmetic; every
    report format is rendered from this frame.
    """
    import pandas as pd

    frame = pd.DataFrame([asdict(r) for r in records], columns=list(FRAME_COLUMNS))
    for column in ("published", "measured", "delta", "tolerance"):
        frame[column] = frame[column].astype("float64")
    frame["baseline"] = frame["baseline"].astype(bool)
    return frame


def render(
    records: list[ComparisonRecord] | pd.DataFrame, fmt: str, sweeps: Sequence[Sweep] = ()
) -> str:
    """A report in `fmt` (one of REPORT_FORMATS), from records or from their `to_frame` frame.

    `sweeps` (`core.sweep.sweeps_from_store`): cost against input size, a section of the
    markdown and html reports (json and csv keep one record per (row, metric))."""
    if fmt not in REPORT_FORMATS:
        raise ValueError(f"unknown report format {fmt!r}")
    frame = records if hasattr(records, "columns") else to_frame(records)  # type: ignore[arg-type]
    if fmt == "json":
        return json.dumps([_json_record(rec) for rec in _records(frame)], indent=2)
    if fmt == "csv":
        return frame.to_csv(index=False)
    if fmt == "markdown":
        return render_markdown(frame, sweeps)
    return render_html(frame, sweeps)


def _plain(value: Any) -> Any:
    """A frame cell as plain JSON-able Python: NaN/None -> None, numpy scalars -> Python."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return value.item() if hasattr(value, "item") else value


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return [{k: _plain(v) for k, v in rec.items()} for rec in frame.to_dict("records")]


def json_record(r: ComparisonRecord) -> dict[str, Any]:
    """The contract's keys; a speed record also names its protocol (what `vzoo bench` prints)."""
    return _json_record(asdict(r))


def _json_record(rec: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {k: rec[k] for k in JSON_KEYS}
    if rec.get("protocol") is not None:
        out["protocol"] = rec["protocol"]
    return out


def speed_lines(records: Iterable[ComparisonRecord | Mapping[str, Any]]) -> list[str]:
    """'speed (...) measured under: <protocol>' for a task's table, if it has speed metrics;
    then the rows whose timing is not trustworthy, and why."""
    records = [r if isinstance(r, Mapping) else asdict(r) for r in records]
    protocol = next((r["protocol"] for r in records if r.get("protocol") is not None), None)
    if protocol is None:
        return []
    lines = [f"Speed metrics (throughput, latency, peak memory) of this table, all under "
             f"one protocol: {protocol_label(protocol)}."]  # fmt: skip
    flagged = {r["id"]: r["caveats"] for r in records if r.get("caveats")}
    if flagged:
        lines.append("Not trustworthy (rerun on a quiet machine): " + "; ".join(
            f"{rid} ({why})" for rid, why in flagged.items()) + ".")  # fmt: skip
    return lines


def _published(r: Mapping[str, Any]) -> str:
    """The published number as printed (keeps "51.0"), with the unit shown like measured ones."""
    if r["published"] is None:
        return "—"
    return format_published(r["metric"], r["published"], r["published_printed"])


def _delta(r: Mapping[str, Any]) -> str:
    if r["delta"] is None:
        return "—"
    text = with_unit(f"{r['delta']:+.2f}", r["unit"])
    if r["tolerance_kind"] == "rel" and r["published"]:
        text += f" ({100 * r['delta'] / r['published']:+.1f}%)"
    return text


def measured_cell(r: Mapping[str, Any]) -> str:
    """The measured number with its unit; a timing adds its spread over the passes (min-max)
    and the machine's load: "5.95 img/s (5.1-6.2, load 0.4)"."""
    text = format_value(r["measured"], r["unit"])
    if r["measured"] is None:
        return text
    extra = []
    if r.get("spread_min") is not None and r.get("spread_max") is not None:
        extra.append(f"{format_value(r['spread_min'], '')}-{format_value(r['spread_max'], '')}")
    if r.get("load_avg") is not None:
        extra.append(f"load {r['load_avg']:.1f}")
    return f"{text} ({', '.join(extra)})" if extra else text


def verdict_cell(r: Mapping[str, Any], notes: Mapping[str, int]) -> str:
    """The verdict, then what makes it a caveat: an untrustworthy timing, a known note."""
    text = r["verdict"]
    if r.get("caveats"):
        text += f", UNTRUSTWORTHY timing: {r['caveats']}"
    if r.get("note"):
        text += f" (known: note {notes[_note_text(r)]})"
    return text


def _note_text(r: Mapping[str, Any]) -> str:
    return f"{r['id']}, {METRICS[r['metric']].label}: {r['note']}"


def _table_notes(recs: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    """The notes of a table's records, numbered in order of the table."""
    notes: dict[str, int] = {}
    for r in recs:
        if r.get("note"):
            notes.setdefault(_note_text(r), len(notes) + 1)
    return notes


def _task_tables(frame: pd.DataFrame) -> dict[str, list[dict[str, Any]]]:
    tables: dict[str, list[dict[str, Any]]] = {}
    for rec in _records(frame):
        tables.setdefault(rec["task"], []).append(rec)
    return tables


def summary_counts(records: list[ComparisonRecord] | pd.DataFrame) -> dict[str, int]:
    verdicts = records["verdict"] if hasattr(records, "columns") else [r.verdict for r in records]
    counts: dict[str, int] = {}
    for verdict in verdicts:
        counts[verdict] = counts.get(verdict, 0) + 1
    return counts


def _summary_line(frame: pd.DataFrame) -> str:
    counts = summary_counts(frame)
    return f"{frame['id'].nunique()} rows, {len(frame)} metrics: " + ", ".join(
        f"{v} {k}" for k, v in sorted(counts.items())
    )


def render_markdown(frame: pd.DataFrame, sweeps: Sequence[Sweep] = ()) -> str:
    out = ["# vzoo: published vs measured", "", _summary_line(frame)]
    for task, recs in _task_tables(frame).items():
        out += ["", f"## {task_title(task)}", ""]
        out.append("| row | metric | published | measured | delta | verdict |")
        out.append("|---|---|---:|---:|---:|---|")
        notes = _table_notes(recs)
        for r in recs:
            label = METRICS[r["metric"]].label
            out.append(
                f"| {r['id']} | {label} | {_published(r)} | {measured_cell(r)}"
                f" | {_delta(r)} | {verdict_cell(r, notes)} |"
            )
        out += ["", *speed_lines(recs)] if speed_lines(recs) else []
        out += ["", *(f"{n}. {text}" for text, n in notes.items())] if notes else []
    if sweeps:
        from vzoo.core.sweep import SWEEP_SECTION, sweep_markdown

        out += ["", f"## {SWEEP_SECTION}"]
        for sweep in sweeps:
            out += ["", *sweep_markdown(sweep)]
    return "\n".join(out) + "\n"


HOW_TO_READ_FIGURES = (
    "Figures: one curve per family through its sizes (T, S, B); hollow markers are published "
    "numbers; a measured point is filled in the dimensions measured here (filled: both; half "
    "filled: only the x or only the accuracy, the other as published), joined to its published "
    "point by a thin line; a dotted level is a row with an accuracy and no x (named beside the "
    "chart); the grey dashed curve is the baselines; a timing has its slowest-fastest pass as a "
    "bar, and a red ring where vzoo bench flagged it untrustworthy."
)
_HTML_STYLE = (
    "body{font-family:sans-serif;margin:2em;color:#222}table{border-collapse:collapse}"
    "td,th{border:1px solid #ccc;padding:2px 8px;text-align:right}"
    "td:first-child,th:first-child{text-align:left}"
    ".reproduced{background:#dfd}.below{background:#fdd}.above{background:#ddf}"
    ".figures{display:flex;flex-wrap:wrap;gap:1em;margin:1em 0}"
    ".figures figure{margin:0}.figures svg{max-width:100%;height:auto}"
)


def charts_for(frame: pd.DataFrame) -> list[Chart]:
    """The charts of a `compare_frame` / `to_frame` frame (`figures.build_charts` on its rows)."""
    from vzoo.core.figures import build_charts

    return build_charts(_records(frame))


def render_html(frame: pd.DataFrame, sweeps: Sequence[Sweep] = ()) -> str:
    """A standalone page: per task, its figures (inline SVG) and its table."""
    charts = charts_for(frame)
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'><title>vzoo compare</title>",
        f"<style>{_HTML_STYLE}</style>",
        "</head><body><h1>vzoo: published vs measured</h1>",
        f"<p>{html.escape(_summary_line(frame))}</p>",
    ]
    if charts:
        parts.append(f"<p class='how-to-read'>{html.escape(HOW_TO_READ_FIGURES)}</p>")
    for task, recs in _task_tables(frame).items():
        parts.append(f"<h2 id='{task}'>{html.escape(task_title(task))}</h2>")
        task_charts = [c for c in charts if c.task == task]
        if task_charts:
            from vzoo.core.plot import chart_svg

            parts.append("<div class='figures'>")
            for chart in task_charts:
                parts.append(
                    f"<figure data-chart='{html.escape(chart.key)}'>{chart_svg(chart)}</figure>"
                )
            parts.append("</div>")
        parts.append(
            "<table><tr><th>row</th><th>metric</th><th>published</th><th>measured</th>"
            "<th>delta</th><th>verdict</th></tr>"
        )
        notes = _table_notes(recs)
        for r in recs:
            parts.append(
                f"<tr class='{r['verdict']}'><td>{html.escape(r['id'])}</td>"
                f"<td>{html.escape(METRICS[r['metric']].label)}</td>"
                f"<td>{html.escape(_published(r))}</td><td>{html.escape(measured_cell(r))}</td>"
                f"<td>{html.escape(_delta(r))}</td>"
                f"<td>{html.escape(verdict_cell(r, notes))}</td></tr>"
            )
        parts.append("</table>")
        parts += [f"<p>{html.escape(line)}</p>" for line in speed_lines(recs)]
        if notes:
            parts.append("<ol class='notes'>")
            parts += [f"<li value='{n}'>{html.escape(text)}</li>" for text, n in notes.items()]
            parts.append("</ol>")
    if sweeps:
        from vzoo.core.sweep import SWEEP_SECTION
        from vzoo.core.sweep_plot import sweep_html

        parts.append(f"<h2 id='sweep'>{SWEEP_SECTION}</h2>")
        parts += [sweep_html(sweep) for sweep in sweeps]
    parts.append("</body></html>")
    return "\n".join(parts)


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


# -- the terminal view of `vzoo compare` ---------------------------------------------------------

# Which command measures a metric: accuracy by `eval`, params/FLOPs by `flops`, speed by `bench`.
_MEASURED_BY = {"params_m": "flops", "flops_g": "flops", "flops_true_g": "flops"}
_MEASURED_BY.update(dict.fromkeys(SPEED_METRICS, "bench"))


def _measured_by(metric: str) -> str:
    return _MEASURED_BY.get(metric, "eval")


def not_measured_line(task: str, recs: list[dict[str, Any]], *, by_id: bool = False) -> str | None:
    """'<task>: N of M rows not measured — top-1: vzoo eval ...; params, FLOPs: vzoo flops ...'
    (each command with the metrics it measures; `by_id`: naming the rows, else `--all --task`),
    or None when everything is measured."""
    # a random-init number proves the plumbing, not the paper: the row still needs its eval
    missing = [r for r in recs if _not_measured(r) or r["verdict"] == RANDOM_INIT]
    if not missing:
        return None
    labels: dict[str, dict[str, None]] = {}  # measuring command -> its metrics' labels
    ids: dict[str, dict[str, None]] = {}  # measuring command -> the rows it would measure
    for r in missing:
        labels.setdefault(_measured_by(r["metric"]), {})[METRICS[r["metric"]].label] = None
        ids.setdefault(_measured_by(r["metric"]), {})[r["id"]] = None
    which = {k: " ".join(ids[k]) if by_id else f"--all --task {task}" for k in labels}
    order = ("eval", "flops", "bench")  # accuracy first, as the tables
    by_command = {f"vzoo {k} {which[k]}": labels[k] for k in order if k in labels}
    how = "; ".join(f"{', '.join(names)}: {command}" for command, names in by_command.items())
    rows = len({r["id"] for r in recs})
    return f"{task}: {len({r['id'] for r in missing})} of {rows} rows not measured — {how}"


def _not_measured(rec: Mapping[str, Any]) -> bool:
    v = rec["measured"]
    return v is None or (isinstance(v, float) and math.isnan(v))


def print_terminal(
    frame: pd.DataFrame, *, everything: bool, by_id: bool = False, wide: bool = False
) -> None:
    """`vzoo compare` on a terminal: per task, a table of what was measured (`everything`: of
    every (row, metric)), then one line saying how many rows are not measured and the command
    that measures them (`by_id`: rows named by the user, so the command names them too). Files
    and pipes get the markdown report instead."""
    from vzoo.core.terminal import Column, console, print_table

    con = console()
    con.print(_summary_line(frame))
    columns = [
        Column("row", 0, no_wrap=True), Column("metric", 0),
        Column("published", 0, justify="right"), Column("measured", 0, justify="right"),
        Column("verdict", 0), Column("delta", 1, justify="right"),
    ]  # fmt: skip
    for task, recs in _task_tables(frame).items():
        shown = [r for r in recs if everything or not _not_measured(r)]
        con.print()
        if shown:
            notes = _table_notes(shown)
            cells = [
                [r["id"], METRICS[r["metric"]].label, _published(r),
                 format_value(r["measured"], r["unit"]), verdict_cell(r, notes), _delta(r)]
                for r in shown
            ]  # fmt: skip
            print_table(columns, cells, title=task_title(task), wide=wide)
            for line in speed_lines(shown):
                con.print(line)
            for text, n in notes.items():  # the known inconsistencies, next to their verdicts
                con.print(f"{n}. {text}", soft_wrap=True)
        line = not_measured_line(task, recs, by_id=by_id)
        if line is not None:
            con.print(line, soft_wrap=True)  # the terminal wraps it: commands stay whole
    if not everything:
        con.print("\n(`vzoo compare --all` shows every row, `--report markdown` the full report)")
