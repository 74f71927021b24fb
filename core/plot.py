"""Draw `core/figures.py` charts with matplotlib: SVG for the report and papers, PNG for slides.

No pyplot (no global figure state, no backend switch): each chart is its own `Figure`. Every
series' artists carry SVG ids (`series-<key>-curve`, `-published`, `-measured`, `-gap`) and the
legend the id `legend`, so a test or a browser can find one curve per family in the output.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from vzoo.core.figures import Chart, ChartSeries

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

# Okabe-Ito: distinguishable with every common colour-vision deficiency, and in greyscale print
# the markers still tell the families apart.
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#F0E442", "#000000")
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "h")
BASELINE_COLOUR = "#7f7f7f"
FIGSIZE = (5.0, 3.6)  # inches: a half-width slide, or a single paper column scaled to ~70 %
PNG_DPI = 200
MIN_ACCURACY_SPAN = 2.0  # AP / % points: the y axis never zooms in further
_RC = {
    "font.size": 9,
    "axes.titlesize": 10,
    "axes.labelsize": 9,
    "legend.fontsize": 8,
    "svg.fonttype": "none",  # text stays text: selectable, editable, searchable in the report
}


def series_styles(series: Iterable[ChartSeries]) -> dict[str, tuple[str, str]]:
    """(colour, marker) per series key: a family card's own, then the unused palette
    entries in order (distinct within a chart); baselines grey, each with its own marker."""
    from vzoo.zoo.cards import all_cards

    family_style = {c.name: (c.color, c.marker or "o") for c in all_cards() if c.color}
    styles: dict[str, tuple[str, str]] = {}
    others: list[ChartSeries] = []
    for s in series:
        if s.key in family_style and not s.baseline:
            styles[s.key] = family_style[s.key]
        else:
            others.append(s)
    free = [(c, m) for c, m in zip(PALETTE, MARKERS, strict=True) if (c, m) not in styles.values()]
    baseline_markers = iter(("s", "o", "^", "D", "v", "P", "X", "h"))
    for i, s in enumerate(others):
        if s.baseline:
            styles[s.key] = (BASELINE_COLOUR, next(baseline_markers, "o"))
        else:
            styles[s.key] = free[i % len(free)]
    return styles


def draw(chart: Chart) -> Figure:
    """The chart as a matplotlib Figure (nothing global touched)."""
    import matplotlib
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D
    from matplotlib.ticker import MaxNLocator

    with matplotlib.rc_context(_RC):
        fig = Figure(figsize=FIGSIZE, layout="constrained")
        ax = fig.add_subplot()
        handles: list[Line2D] = []
        styles = series_styles(chart.series)
        for series in chart.series:
            colour, marker = styles[series.key]
            style = {"color": colour, "marker": marker, "markersize": 6, "markeredgewidth": 1.2}
            curve = [p.on_curve for p in series.points]
            if curve:
                ax.plot(
                    [x for x, _ in curve],
                    [y for _, y in curve],
                    color=colour,
                    linestyle="--" if series.baseline else "-",
                    linewidth=1.0 if series.baseline else 1.5,
                    zorder=2 if series.baseline else 3,
                    gid=f"series-{series.key}-curve",
                )
            levels = [y for _, y in series.levels]
            if levels:  # baselines with an accuracy and no x: a level across the chart
                ax.hlines(
                    levels, 0, 1, transform=ax.get_yaxis_transform(), colors=colour,
                    linestyles=":", linewidth=1.0, zorder=1, gid=f"series-{series.key}-level",
                )  # fmt: skip
                name = series.label.split(" (")[0]
                for size, y in series.levels:
                    ax.annotate(
                        f"{name}-{size}", (1.0, y), xycoords=("axes fraction", "data"),
                        ha="right", va="bottom", fontsize=7, color=colour,
                    )  # fmt: skip
            published = [p.published for p in series.points if p.published is not None]
            if published:
                ax.plot(
                    [x for x, _ in published],
                    [y for _, y in published],
                    linestyle="none",
                    markerfacecolor="white",
                    zorder=4,
                    gid=f"series-{series.key}-published",
                    **style,
                )
            measured = [p.measured for p in series.points if p.measured is not None]
            if measured:
                ax.plot(
                    [x for x, _ in measured],
                    [y for _, y in measured],
                    linestyle="none",
                    markerfacecolor=colour,
                    zorder=5,
                    gid=f"series-{series.key}-measured",
                    **style,
                )
            gaps_x: list[float] = []
            gaps_y: list[float] = []
            for p in series.points:
                if p.published is not None and p.measured is not None:
                    gaps_x += [p.published[0], p.measured[0], float("nan")]
                    gaps_y += [p.published[1], p.measured[1], float("nan")]
            if gaps_x:
                ax.plot(
                    gaps_x,
                    gaps_y,
                    color=colour,
                    linewidth=0.7,
                    alpha=0.8,
                    zorder=3,
                    gid=f"series-{series.key}-gap",
                )
            handles.append(
                Line2D(
                    [],
                    [],
                    linestyle=("--" if curve else ":") if series.baseline else "-",
                    label=series.label,
                    markerfacecolor=colour if chart.has_measured else "white",
                    **{**style, "marker": style["marker"] if curve else "none"},
                )
            )
        # How to read the markers, once for all families.
        key = {"color": "#333333", "marker": "o", "markersize": 6, "linestyle": "none"}
        if chart.has_published:
            handles.append(Line2D([], [], markerfacecolor="white", label="published", **key))
        if chart.has_measured:
            handles.append(Line2D([], [], markerfacecolor="#333333", label="measured", **key))
        legend = ax.legend(handles=handles, loc="best", frameon=True, framealpha=0.9)
        legend.set_gid("legend")
        ax.set_title(chart.title)
        ax.set_xlabel(chart.x_label)
        ax.set_ylabel(chart.y_label)
        ax.grid(True, color="#dddddd", linewidth=0.6)
        ax.set_axisbelow(True)
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
        ax.yaxis.set_major_locator(MaxNLocator(nbins="auto", steps=[1, 2, 5, 10]))
        ax.margins(x=0.08, y=0.12)
        _widen(ax, min_y_span=MIN_ACCURACY_SPAN)
    return fig


def _widen(ax: Axes, *, min_y_span: float) -> None:
    """At least `min_y_span` accuracy points on the y axis, and x from a fifth of its maximum:
    two points 0.1 AP apart must not fill the whole height as if they were far apart."""
    low, high = ax.get_ylim()
    if high - low < min_y_span:
        middle = (low + high) / 2
        ax.set_ylim(middle - min_y_span / 2, middle + min_y_span / 2)
    low, high = ax.get_xlim()
    if high > 0 and high - low < 0.2 * high:
        middle = (low + high) / 2
        ax.set_xlim(middle - 0.1 * high, middle + 0.1 * high)


def _save(fig: Figure, fmt: str, salt: str) -> bytes:
    import matplotlib

    buf = io.BytesIO()
    # A fixed salt per chart: ids are reproducible, and distinct between the report's figures.
    with matplotlib.rc_context({**_RC, "svg.hashsalt": salt}):
        metadata = {"Date": None} if fmt == "svg" else {"Software": None}
        fig.savefig(buf, format=fmt, dpi=PNG_DPI, metadata=metadata)
    return buf.getvalue()


def chart_svg(chart: Chart) -> str:
    """The chart as an `<svg>` element, ready to inline in HTML (no XML prolog or doctype)."""
    text = _save(draw(chart), "svg", chart.key).decode("utf-8")
    return re.sub(r"\A.*?(?=<svg)", "", text, flags=re.S)


def chart_png(chart: Chart) -> bytes:
    return _save(draw(chart), "png", chart.key)


def write_figures(charts: Iterable[Chart], out_dir: str | Path) -> list[Path]:
    """Each chart as `<key>.png` and `<key>.svg` in `out_dir`, each written atomically."""
    from vzoo.core.atomic import write_bytes_atomic

    out = Path(out_dir)
    written: list[Path] = []
    for chart in charts:
        fig = draw(chart)
        for fmt in ("svg", "png"):
            path = out / f"{chart.key}.{fmt}"
            write_bytes_atomic(path, _save(fig, fmt, chart.key))
            written.append(path)
    return written
