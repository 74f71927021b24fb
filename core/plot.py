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

from vzoo.core.figures import X_WORDS, Chart, ChartPoint, ChartSeries, accuracy_word

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

# Okabe-Ito: distinguishable with every common colour-vision deficiency, and in greyscale print
# the markers still tell the families apart.
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#F0E442", "#000000")
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "h")
BASELINE_COLOUR = "#7f7f7f"
FIGSIZE = (5.0, 4.6)  # inches: a half-width slide, or a single paper column scaled to ~70 %
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
    from vzoo.core.cards import all_cards

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


# How a measured point is filled: in the dimensions actually measured. Fully filled only where
# both coordinates were measured; half-filled (the half towards the measured axis) where one was
# and the other is the published figure; a hollow marker is a published point.
MEASURED_FILL = {"xy": "full", "x": "bottom", "y": "left"}
UNTRUSTWORTHY_COLOUR = "#d62728"
LEVEL_LABEL_PT = 8.0  # level labels (outside the right edge) keep this far apart vertically


def measured_legend(axes: str, chart: Chart) -> str:
    """The legend entry of a measured-point kind ("xy", "x", "y")."""
    x_word, y_word = X_WORDS[chart.x_metric], accuracy_word(chart.task)
    if axes == "x":
        return f"measured {x_word}, published {y_word}"
    if axes == "y":
        return f"measured {y_word}, published {x_word}"
    return "measured"


def draw(chart: Chart) -> Figure:
    """The chart as a matplotlib Figure (nothing global touched)."""
    import matplotlib
    from matplotlib.colors import to_rgba
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D
    from matplotlib.ticker import MaxNLocator

    with matplotlib.rc_context(_RC):
        fig = Figure(figsize=FIGSIZE, layout="constrained")
        ax = fig.add_subplot()
        handles: list[Line2D] = []
        level_labels: list[tuple[float, str, str]] = []
        styles = series_styles(chart.series)
        kinds: set[str] = set()
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
            if levels:  # rows with an accuracy and no x: a level across the chart
                ax.hlines(
                    levels, 0, 1, transform=ax.get_yaxis_transform(), colors=colour,
                    linestyles=":", linewidth=1.0, zorder=1, gid=f"series-{series.key}-level",
                )  # fmt: skip
                name = series.label.split(" (")[0]
                for label, y in series.levels:
                    text = label if series.baseline else f"{name}-{label}"
                    level_labels.append((y, text, colour))
            for p in series.points:  # a baseline curve names its points (R-50, Swin-T)
                if p.label:
                    ax.annotate(
                        p.label, p.on_curve, xytext=(-4, 4), textcoords="offset points",
                        ha="right", va="bottom", fontsize=7, color=colour, zorder=7,
                    )  # fmt: skip
            published = [p.published for p in series.points if p.published is not None]
            if published:
                kinds.add("published")
                # hollow and on top: a filled marker of another family under it stays visible
                ax.plot(
                    [x for x, _ in published],
                    [y for _, y in published],
                    linestyle="none",
                    markerfacecolor="none",
                    zorder=6,
                    gid=f"series-{series.key}-published",
                    **style,
                )
            for axes, fill in MEASURED_FILL.items():
                measured = [
                    p.measured for p in series.points
                    if p.measured is not None and p.measured_axes == axes
                ]  # fmt: skip
                if not measured:
                    continue
                kinds.add(axes)
                ax.plot(
                    [x for x, _ in measured],
                    [y for _, y in measured],
                    linestyle="none",
                    # a translucent fill, opaque edges: a point another family's marker covers
                    # (the T models sit at one accuracy) still shows its outline through it
                    markerfacecolor=to_rgba(colour, 0.55),
                    markeredgecolor=colour,
                    markerfacecoloralt="white",
                    fillstyle=fill,
                    zorder=5,
                    gid=f"series-{series.key}-measured" + ("" if axes == "xy" else f"-{axes}"),
                    **style,
                )
            _draw_spread(ax, series.key, series.points, colour)
            caveats = [p.measured for p in series.points if p.untrustworthy and p.measured]
            if caveats:
                kinds.add("untrustworthy")
                ax.plot(
                    [x for x, _ in caveats], [y for _, y in caveats], linestyle="none",
                    marker="o", markersize=13, markerfacecolor="none", markeredgewidth=1.5,
                    color=UNTRUSTWORTHY_COLOUR, zorder=7, gid=f"series-{series.key}-untrustworthy",
                )  # fmt: skip
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
                    linestyle=("--" if series.baseline else "-") if curve else ":",
                    label=series.label,
                    markerfacecolor="none",
                    **{**style, "marker": style["marker"] if curve else "none"},
                )
            )
        # How to read the markers, once for all families.
        key = {"color": "#333333", "marker": "o", "markersize": 6, "linestyle": "none"}
        if "published" in kinds:
            handles.append(Line2D([], [], markerfacecolor="none", label="published", **key))
        for axes, fill in MEASURED_FILL.items():
            if axes in kinds:
                handles.append(
                    Line2D([], [], markerfacecolor="#333333", markerfacecoloralt="white",
                           fillstyle=fill, label=measured_legend(axes, chart), **key)
                )  # fmt: skip
        if any(p.x_spread for s in chart.series for p in s.points):
            handles.append(
                Line2D([], [], color="#333333", marker="|", markersize=6,
                       label="slowest-fastest pass")
            )  # fmt: skip
        if "untrustworthy" in kinds:
            handles.append(
                Line2D([], [], linestyle="none", marker="o", markersize=9,
                       markerfacecolor="none", color=UNTRUSTWORTHY_COLOUR,
                       label="untrustworthy timing (see table)")
            )  # fmt: skip
        # below the axes, never over a point (a chart with levels and baselines has many entries)
        longest = max(len(h.get_label()) for h in handles)
        legend = fig.legend(
            handles=handles, loc="outside lower center", ncols=2 if longest <= 34 else 1,
            frameon=False,
            columnspacing=1.2, handletextpad=0.5,
        )  # fmt: skip
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
        _label_levels(ax, level_labels)
    return fig


def _draw_spread(ax: Axes, key: str, points: Iterable[ChartPoint], colour: str) -> None:
    """A timing's spread over its passes (slowest..fastest) as a horizontal bar through it."""
    xs: list[float] = []
    ys: list[float] = []
    for p in points:
        if p.x_spread is not None and p.measured is not None:
            xs += [*p.x_spread, float("nan")]
            ys += [p.measured[1], p.measured[1], float("nan")]
    if xs:
        ax.plot(
            xs, ys, color=colour, linewidth=1.0, marker="|", markersize=7, zorder=4,
            gid=f"series-{key}-spread",
        )  # fmt: skip


def _label_levels(ax: Axes, labels: list[tuple[float, str, str]]) -> None:
    """Name each level just outside the right edge, where no point is, apart from each other."""
    if not labels:
        return
    fig = ax.get_figure()
    low, high = ax.get_ylim()
    height_pt = fig.get_figheight() * 72 * 0.55  # the axes' share (legend below)
    gap = (high - low) * LEVEL_LABEL_PT / height_pt
    # room beside the names: a browser's sans-serif runs wider than matplotlib's DejaVu metrics
    fig.get_layout_engine().set(w_pad=0.12)  # type: ignore[union-attr]
    placed: list[float] = []
    for y, text, colour in sorted(labels):
        at = max(y, placed[-1] + gap) if placed else y
        placed.append(at)
        ax.annotate(
            text, (1.0, at), xycoords=("axes fraction", "data"), xytext=(3, 0),
            textcoords="offset points", ha="left", va="center", fontsize=7, color=colour,
            annotation_clip=False,
        )  # fmt: skip


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
    from vzoo.core.files import write_bytes_atomic

    out = Path(out_dir)
    written: list[Path] = []
    for chart in charts:
        fig = draw(chart)
        for fmt in ("svg", "png"):
            path = out / f"{chart.key}.{fmt}"
            write_bytes_atomic(path, _save(fig, fmt, chart.key))
            written.append(path)
    return written
