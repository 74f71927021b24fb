"""Draw a `core/sweep.py` sweep: time and peak memory against pixel count, log-log, one curve per
model, its fitted exponents in the legend. PNG and SVG, as `core/plot.py` draws the report's
other figures (its palette, card colours and file conventions).

Only measured points are drawn. A point whose timing is flagged (load, spread) is drawn hollow,
with a legend entry saying so; the latency panel shows each point's fastest-to-slowest pass as
an error bar. SVG ids: `sweep-<row>-time`, `sweep-<row>-memory`, and `legend`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from vzoo.core.sweep import (
    FIT_HEADERS,
    POINT_HEADERS,
    Sweep,
    SweepCurve,
    fit_cells,
    legend_label,
    point_cells,
)

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

FIGSIZE = (10.0, 4.2)  # inches: two panels side by side, the legend below them
BASELINE_LINESTYLES = ("--", ":", "-.")


def _styles(sweep: Sweep) -> dict[str, tuple[str, str, str]]:
    """(colour, marker, linestyle) per row: a family's card colour where it has one curve."""
    from vzoo.core.figures import ChartSeries
    from vzoo.core.plot import series_styles

    families = [c.family for c in sweep.curves]
    keys = {c.row_id: c.family if families.count(c.family) == 1 else c.row_id for c in sweep.curves}
    series = [
        ChartSeries(keys[c.row_id], c.label, c.family, "", c.baseline, ()) for c in sweep.curves
    ]
    colours = series_styles(series)
    dashes = iter(BASELINE_LINESTYLES * len(sweep.curves))
    return {
        c.row_id: (*colours[keys[c.row_id]], next(dashes) if c.baseline else "-")
        for c in sweep.curves
    }


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def _panel(ax: Axes, curve: SweepCurve, metric: str, style: tuple[str, str, str]) -> None:
    colour, marker, linestyle = style
    points = [p for p in curve.points if getattr(p, metric) is not None and getattr(p, metric) > 0]
    if not points:
        return
    xs = [p.pixels / 1e6 for p in points]
    ys = [getattr(p, metric) for p in points]
    panel = "time" if metric == "latency_ms" else "memory"
    ax.plot(xs, ys, color=colour, linestyle=linestyle, linewidth=1.4, zorder=2,
            gid=f"sweep-{_slug(curve.row_id)}-{panel}")  # fmt: skip
    for p, x, y in zip(points, xs, ys, strict=True):
        ax.plot([x], [y], linestyle="none", marker=marker, markersize=5, color=colour,
                markerfacecolor="white" if p.caveats else colour, zorder=3)  # fmt: skip
    if metric == "latency_ms":
        low = [p.latency_ms - p.latency_min_ms for p in points]
        high = [p.latency_max_ms - p.latency_ms for p in points]
        ax.errorbar(xs, ys, yerr=[low, high], linestyle="none", ecolor=colour, elinewidth=0.8,
                    capsize=2, zorder=1)  # fmt: skip


def _tick(value: float, _pos: int | None = None) -> str:
    return f"{value:g}"


def _minor_tick(value: float, _pos: int | None = None) -> str:
    """Label the 2s and 5s between the decades: a sweep often spans less than one."""
    if value <= 0:
        return ""
    leading = round(value / 10 ** math.floor(math.log10(value)))
    return f"{value:g}" if leading in (2, 5) else ""


def draw_sweep(sweep: Sweep) -> Figure:
    import matplotlib
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D
    from matplotlib.ticker import FuncFormatter

    from vzoo.core.plot import _RC

    with matplotlib.rc_context(_RC):
        fig = Figure(figsize=FIGSIZE, layout="constrained")
        time_ax, mem_ax = fig.subplots(1, 2)
        styles = _styles(sweep)
        handles = []
        for curve in sweep.curves:
            style = styles[curve.row_id]
            _panel(time_ax, curve, "latency_ms", style)
            _panel(mem_ax, curve, "peak_memory_mb", style)
            colour, marker, linestyle = style
            handles.append(Line2D([], [], color=colour, marker=marker, linestyle=linestyle,
                                  markersize=5, label=legend_label(curve)))  # fmt: skip
        if any(c.flagged for c in sweep.curves):
            handles.append(Line2D([], [], color="#333333", marker="o", linestyle="none",
                                  markerfacecolor="white", markersize=5,
                                  label="hollow: timing flagged (machine loaded or passes "
                                  "disagreeing)"))  # fmt: skip
        memory_label = (
            "peak memory (MiB, allocated)" if sweep.protocol.get("device") == "cuda"
            else "peak memory (MiB, RSS growth in the timed loop)"
        )  # fmt: skip
        for ax, ylabel, name in ((time_ax, "latency per batch (ms, median; bar: min–max)",
                                  "time"), (mem_ax, memory_label, "memory")):  # fmt: skip
            ax.set_xscale("log")
            ax.set_yscale("log")
            for axis in (ax.xaxis, ax.yaxis):  # plain numbers: 0.05, 200, not 5 x 10^-2
                axis.set_major_formatter(FuncFormatter(_tick))
                axis.set_minor_formatter(FuncFormatter(_minor_tick))
            ax.set_xlabel("input pixels (millions, H×W)")
            ax.set_ylabel(ylabel)
            ax.set_title(f"{name} against input size (log-log)")
            ax.grid(True, which="both", color="#e5e5e5", linewidth=0.5)
            for side in ("top", "right"):
                ax.spines[side].set_visible(False)
        fig.suptitle(sweep.title)
        legend = fig.legend(handles=handles, loc="outside lower center", ncols=2, frameon=False)
        legend.set_gid("legend")
    return fig


def sweep_svg(sweep: Sweep) -> str:
    """The figure as an `<svg>` element, ready to inline in HTML."""
    from vzoo.core.plot import _save

    text = _save(draw_sweep(sweep), "svg", f"sweep-{sweep.key}").decode("utf-8")
    return re.sub(r"\A.*?(?=<svg)", "", text, flags=re.S)


def save_sweep(sweep: Sweep, stem: str | Path) -> list[Path]:
    """The figure as `<stem>.svg` and `<stem>.png`, each written atomically."""
    from vzoo.core.files import write_bytes_atomic
    from vzoo.core.plot import _save

    fig = draw_sweep(sweep)
    written = []
    for fmt in ("svg", "png"):
        path = Path(f"{stem}.{fmt}")
        write_bytes_atomic(path, _save(fig, fmt, f"sweep-{sweep.key}"))
        written.append(path)
    return written


def write_sweep_figures(sweeps: Iterable[Sweep], out_dir: str | Path) -> list[Path]:
    """Each sweep as `sweep-<key>.png` and `.svg` in `out_dir`."""
    return [p for sweep in sweeps for p in save_sweep(sweep, Path(out_dir) / f"sweep-{sweep.key}")]


def sweep_html(sweep: Sweep) -> str:
    """The sweep's figure (inline SVG) and its two tables, for the html report."""
    import html

    def table(headers: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
        head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
        body = "".join(
            "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in rows
        )
        return f"<table><tr>{head}</tr>{body}</table>"

    points = [[c.row_id, *point_cells(p)] for c in sweep.curves for p in c.points]
    return "\n".join([
        f"<h3>{html.escape(sweep.title)}</h3>",
        f"<figure data-chart='sweep-{sweep.key}'>{sweep_svg(sweep)}</figure>",
        table(FIT_HEADERS, [fit_cells(c) for c in sweep.curves]),
        table(("model", *POINT_HEADERS), points),
    ])  # fmt: skip
