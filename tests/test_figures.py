"""The comparison as a DataFrame (`vzoo.compare_frame`) and the figures drawn from it.

The figures are checked structurally, in what a browser receives: the SVG (one curve per family,
each family in the legend once, hollow published / filled measured markers), and in matplotlib's
own objects. benchmarks/report_browser.py renders the HTML report in headless Chromium.
"""

from __future__ import annotations

import itertools
import json
import math
import os
import re
import stat
import subprocess
import sys
import xml.etree.ElementTree as ET
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest
from servers.fresh_interpreter import same_vzoo_env

import vzoo
from vzoo.core.figures import build_charts
from vzoo.core.plot import chart_svg, draw, write_figures
from vzoo.core.registry import load_registry
from vzoo.core.report import FRAME_COLUMNS, JSON_KEYS, charts_for, compare, render, to_frame
from vzoo.core.results import EvalResult, ResultStore

SVG = "{http://www.w3.org/2000/svg}"
FAMILIES = {"sparx-mamba", "mlla", "msvmamba", "spatial-mamba"}


def _record(*results: tuple[str, str, float, str | None]) -> None:
    """Measurements into this test's store (the autouse fixture points VZOO_HOME at tmp)."""
    ResultStore().record(
        EvalResult(rid, metric, value, unit, "test", convention=conv)
        for rid, metric, value, conv in results
        for unit in [{"box_ap": "AP", "flops_g": "G", "params_m": "M"}.get(metric, "%")]
    )


PROTOCOL = {
    "device": "cpu", "device_name": "x86_64", "part": "model", "batch_size": 1,
    "input": "3x224x224", "precision": "fp32", "threads": 2, "compile": False,
    "channels_last": False, "warmup": 3, "iters": 10, "scan_backend": "torch",
    "torch": "2.13.0", "cuda": None,
}  # fmt: skip


def _bench(*results: tuple[str, float]) -> None:
    """Throughput as `vzoo bench` stores it (the protocol in env, its key as convention)."""
    ResultStore().record(
        EvalResult(rid, "throughput", value, "img/s", "vzoo bench",
                   env={"bench_protocol": PROTOCOL}, convention="bench:0123456789ab")
        for rid, value in results
    )  # fmt: skip


# --------------------------------------------------------------------------- the frame


def test_compare_frame_matches_the_json_report(cli) -> None:
    _record(("mlla-t-1x", "box_ap", 46.5, None), ("sparx-mamba-t-1x", "flops_g", 262.7, None))
    _bench(("mlla-t", 40.0))
    frame = vzoo.compare_frame()
    code, out, _ = cli("compare", "--report", "json")
    assert code == 0
    report = json.loads(out)
    assert frame.shape == (len(report), len(FRAME_COLUMNS))
    assert list(frame.columns[: len(JSON_KEYS) + 3]) == [*JSON_KEYS, "family", "task", "size"]
    as_json = [
        {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in rec.items()}
        for rec in frame[list(JSON_KEYS)].to_dict("records")
    ]
    for rec, protocol in zip(as_json, frame["protocol"], strict=True):
        if protocol is not None:  # speed records name their protocol (`vzoo bench`'s contract)
            rec["protocol"] = protocol
    assert as_json == report
    hit = frame[(frame["id"] == "mlla-t-1x") & (frame["metric"] == "box_ap")].iloc[0]
    assert (hit["family"], hit["task"], hit["size"], hit["schedule"]) == (
        "mlla", "detection", "T", "1x",
    )  # fmt: skip
    assert hit["measured"] == 46.5 and hit["delta"] == pytest.approx(-0.3)
    sparx = frame[(frame["id"] == "sparx-mamba-t-1x") & (frame["metric"] == "flops_g")].iloc[0]
    assert math.isnan(sparx["published"]) and sparx["verdict"] == "no-published-figure"
    # Notebook use: numbers are floats (NaN where missing), ready for arithmetic.
    assert frame["published"].dtype == "float64" and frame["measured"].notna().sum() == 3
    speed = frame[frame["metric"] == "throughput"].set_index("id")
    assert speed.loc["mlla-t", "measured"] == 40.0 and speed.loc["mlla-t", "verdict"] == "measured"
    assert speed.loc["mlla-t", "protocol"] == PROTOCOL
    assert set(frame.loc[frame["task"] == "classification", "size"]) == {
        "T", "S", "B", "nano", "micro", "tiny",
    }  # fmt: skip


def test_compare_frame_selects_rows_and_refuses_unknown_ones() -> None:
    frame = vzoo.compare_frame(["mlla-t", "mlla-s"])
    assert list(dict.fromkeys(frame["id"])) == ["mlla-t", "mlla-s"]
    assert vzoo.compare_frame("mlla-t")["id"].unique().tolist() == ["mlla-t"]
    assert set(vzoo.compare_frame(task="segmentation")["task"]) == {"segmentation"}
    from vzoo.core.errors import UnknownRowError, UserInputError

    with pytest.raises(UnknownRowError):
        vzoo.compare_frame(["mlla-x"])
    with pytest.raises(UserInputError, match="unknown task"):
        vzoo.compare_frame(task="depth")


def test_import_vzoo_stays_light_and_compare_frame_works_in_a_fresh_interpreter() -> None:
    env = same_vzoo_env()
    code = (
        "import sys, json, vzoo\n"
        "assert 'pandas' not in sys.modules and 'torch' not in sys.modules\n"
        "f = vzoo.compare_frame()\n"
        "assert 'torch' not in sys.modules and 'matplotlib' not in sys.modules\n"
        "print(json.dumps(list(f.shape)))\n"
    )
    probe = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120
    )
    assert probe.returncode == 0, probe.stderr
    rows = load_registry()
    assert json.loads(probe.stdout) == [sum(len(r.published) for r in rows), len(FRAME_COLUMNS)]


def test_every_report_format_renders_from_the_frame() -> None:
    records = compare(list(load_registry()), {})
    frame = to_frame(records)
    for fmt in ("json", "csv", "markdown"):
        assert render(frame, fmt) == render(records, fmt)
    assert render(frame, "csv").splitlines()[0] == ",".join(FRAME_COLUMNS)


# --------------------------------------------------------------------------- chart data


def _charts(frame: pd.DataFrame) -> dict[str, object]:
    return {c.key: c for c in charts_for(frame)}


def test_charts_one_series_per_family_in_size_order_split_by_schedule() -> None:
    charts = _charts(vzoo.compare_frame())
    assert set(charts) == {
        "imagenet-1k-300e-top1-vs-flops",
        "imagenet-1k-300e-top1-vs-params",
        "coco-mask-rcnn-1x-box-ap-vs-flops",
        "coco-mask-rcnn-1x-box-ap-vs-params",
        "coco-mask-rcnn-3x-box-ap-vs-flops",
        "coco-mask-rcnn-3x-box-ap-vs-params",
        "coco-sparse-rcnn-1x-box-ap-vs-params",
        "ade20k-upernet-160k-miou-ss-vs-flops",
        "ade20k-upernet-160k-miou-ss-vs-params",
    }  # fmt: skip  (no throughput chart: nothing measured; no SparX FLOPs: none published)
    top1 = charts["imagenet-1k-300e-top1-vs-flops"]
    assert {s.family for s in top1.series} == FAMILIES and len(top1.series) == 4
    mlla = next(s for s in top1.series if s.family == "mlla")
    assert [p.size for p in mlla.points] == ["T", "S", "B"]
    assert [p.published for p in mlla.points] == [(4.2, 83.5), (7.3, 84.4), (16.2, 85.3)]
    msv = next(s for s in top1.series if s.family == "msvmamba")
    assert [p.size for p in msv.points] == ["nano", "micro", "tiny"]
    assert all(p.measured is None for s in top1.series for p in s.points)
    coco_1x = charts["coco-mask-rcnn-1x-box-ap-vs-flops"]
    assert {s.family for s in coco_1x.series if not s.baseline} == FAMILIES
    # SparX's README prints no detector FLOPs: its rows are levels at their AP, and say so
    (sparx,) = [s for s in coco_1x.series if s.family == "sparx-mamba"]
    assert sparx.points == () and [size for size, _ in sparx.levels] == ["T", "S", "B"]
    assert sparx.label == "SparX-Mamba (no FLOPs: level)"
    # mmdet's baselines (no FLOPs in its index): one reference series, a named level per row
    assert [(s.key, s.levels) for s in coco_1x.series if s.baseline] == [
        ("mmdet-baselines", (("ResNet-50", 38.2), ("Swin-T", 42.7))),
    ]  # fmt: skip
    assert all(p.row_id.endswith("-1x") for s in coco_1x.series for p in s.points)
    # Sparse R-CNN and its dual-attention head: one chart, one series each.
    sparse = charts["coco-sparse-rcnn-1x-box-ap-vs-params"]
    assert [s.label for s in sparse.series] == ["Sparse R-CNN", "Dual-Attention Sparse R-CNN"]


def test_measured_points_join_their_published_point_and_fill_missing_flops() -> None:
    _record(
        ("sparx-mamba-t-1x", "flops_g", 263.1, "macs@3x1280x800"),
        ("sparx-mamba-s-1x", "flops_g", 330.4, "macs@3x1280x800"),
        ("mlla-t-1x", "flops_g", 251.0, None),
        ("mlla-s-1x", "box_ap", 48.7, None),
        ("msvmamba-micro-1x", "box_ap", 0.0, "random-init"),  # plumbing, not a result
    )
    chart = _charts(vzoo.compare_frame())["coco-mask-rcnn-1x-box-ap-vs-flops"]
    series = {s.family: s for s in chart.series}
    # SparX's README prints no detector FLOPs: measured FLOPs, published AP (half filled).
    sparx = series["sparx-mamba"].points
    assert [(p.row_id, p.published, p.measured, p.measured_axes) for p in sparx] == [
        ("sparx-mamba-t-1x", None, (263.1, 48.1), "x"),
        ("sparx-mamba-s-1x", None, (330.4, 49.4), "x"),
    ]
    assert series["sparx-mamba"].levels == (("B", 49.7),)  # B: still no FLOPs
    assert [p.on_curve for p in sparx] == [(263.1, 48.1), (330.4, 49.4)]
    mlla = {p.row_id: p for p in series["mlla"].points}
    assert mlla["mlla-t-1x"].published == (255.0, 46.8)
    assert mlla["mlla-t-1x"].measured == (251.0, 46.8)  # FLOPs measured, AP as published
    assert mlla["mlla-t-1x"].measured_axes == "x"
    assert mlla["mlla-s-1x"].measured == (319.0, 48.7)  # AP measured, FLOPs as published
    assert mlla["mlla-s-1x"].measured_axes == "y"
    assert mlla["mlla-b-1x"].measured is None
    assert mlla["mlla-t-1x"].on_curve == (255.0, 46.8)  # the curve goes through published
    msv = {p.row_id: p for p in series["msvmamba"].points}
    assert msv["msvmamba-micro-1x"].measured is None


def test_a_throughput_chart_appears_with_the_first_throughput_measurement() -> None:
    assert not any(c.x_metric == "throughput" for c in charts_for(vzoo.compare_frame()))
    _bench(("mlla-t", 41.0), ("mlla-s", 22.5), ("msvmamba-nano", 90.0))
    (chart,) = [c for c in charts_for(vzoo.compare_frame()) if c.x_metric == "throughput"]
    assert chart.key == "imagenet-1k-300e-top1-vs-throughput"
    assert chart.x_label == "Throughput (images/s), cpu, 2 threads, batch 1, fp32"
    assert {s.family: [p.measured for p in s.points] for s in chart.series} == {
        "mlla": [(41.0, 83.5), (22.5, 84.4)],
        "msvmamba": [(90.0, 77.3)],
    }
    assert not chart.has_published  # throughput is never published: measured points only


def _baselines() -> list:
    """Rows as mmdet's model index gives them (family mmdet, its arch names): Swin with FLOPs
    (as if measured or added), R-50 with an AP only (the index prints no FLOPs or params)."""
    reg = load_registry()
    base = reg.get("mlla-t-1x")
    flag = {"source": "mmdet", "baseline": True}
    return [
        replace(base, id="mmdet:swin-t-1x", family="mmdet", arch="swin-t-p4-w7",
                published={"box_ap": 42.7, "flops_g": 264.0}, **flag),
        replace(base, id="mmdet:swin-s-1x", family="mmdet", arch="swin-s-p4-w7",
                published={"box_ap": 44.8, "flops_g": 354.0}, **flag),
        replace(base, id="mmdet:r50-1x", family="mmdet", arch="r50",
                published={"box_ap": 38.2}, **flag),
    ]  # fmt: skip


def test_baseline_rows_are_one_grey_dashed_reference_curve_or_named_levels() -> None:
    rows = [*load_registry().select(task="detection", family="mlla"), *_baselines()]
    (chart,) = [
        c for c in charts_for(to_frame(compare(rows, {})))
        if c.key == "coco-mask-rcnn-1x-box-ap-vs-flops"
    ]  # fmt: skip
    assert [(s.key, s.label, s.baseline) for s in chart.series] == [
        ("mlla", "MLLA", False),
        ("mmdet-baselines", "mmdet baselines", True),
    ]
    base = chart.series[1]
    # Swin-T and Swin-S on one curve by FLOPs, each named; R-50 (no FLOPs): a named level
    assert [(p.label, p.published) for p in base.points] == [
        ("Swin-T", (264.0, 42.7)),
        ("Swin-S", (354.0, 44.8)),
    ]
    assert base.levels == (("ResNet-50", 38.2),)  # no FLOPs: a level, not a point
    fig = draw(chart)
    curve = _line(fig, "series-mmdet-baselines-curve")
    assert curve.get_linestyle() == "--" and curve.get_color() == "#7f7f7f"
    assert _line(fig, "series-mlla-curve").get_linestyle() == "-"
    (level,) = [
        c for c in fig.axes[0].collections if c.get_gid() == "series-mmdet-baselines-level"
    ]  # fmt: skip
    assert level.get_segments()[0][:, 1].tolist() == [38.2, 38.2]
    assert sorted(t.get_text() for t in fig.axes[0].texts) == ["ResNet-50", "Swin-S", "Swin-T"]
    # A group of baselines alone (no zoo row in it) makes no chart.
    assert not charts_for(to_frame(compare(_baselines()[2:], {})))


def test_measured_1x_baselines_are_a_dashed_curve_not_lone_markers() -> None:
    """mmdet's index prints no FLOPs: once counted, R-50 and Swin-T 1x are one dashed curve."""
    _record(
        ("mmdet:mask-rcnn_r50_fpn_1x_coco", "flops_g", 259.8, None),
        ("mmdet:mask-rcnn_swin-t-p4-w7_fpn_1x_coco", "flops_g", 264.9, None),
    )
    chart = _charts(vzoo.compare_frame())["coco-mask-rcnn-1x-box-ap-vs-flops"]
    (base,) = [s for s in chart.series if s.baseline]
    assert [(p.label, p.measured, p.measured_axes) for p in base.points] == [
        ("ResNet-50", (259.8, 38.2), "x"),
        ("Swin-T", (264.9, 42.7), "x"),
    ]
    assert base.levels == ()
    curve = _line(draw(chart), "series-mmdet-baselines-curve")
    assert curve.get_linestyle() == "--" and curve.get_xydata().tolist() == [
        [259.8, 38.2], [264.9, 42.7],
    ]  # fmt: skip


def test_sparx_3x_is_in_both_3x_charts_with_its_levels_labelled_beside_the_axes() -> None:
    """SparX-Mamba has the highest 3x box AP and no published FLOPs or params: it must be
    there, and no level's name may sit on a point (they go beside the right edge, apart)."""
    charts = _charts(vzoo.compare_frame())
    for key in ("coco-mask-rcnn-3x-box-ap-vs-flops", "coco-mask-rcnn-3x-box-ap-vs-params"):
        chart = charts[key]
        (sparx,) = [s for s in chart.series if s.family == "sparx-mamba"]
        assert sparx.levels == (("T", 50.2), ("S", 51.0), ("B", 51.8))
        fig = draw(chart)
        ax = fig.axes[0]
        fig.canvas.draw()
        right = ax.get_window_extent().x1
        boxes = sorted((t.get_window_extent() for t in ax.texts), key=lambda b: b.y0)
        names = {t.get_text() for t in ax.texts}
        assert {"SparX-Mamba-T", "SparX-Mamba-S", "SparX-Mamba-B", "Swin-S", "Swin-T"} <= names
        assert all(b.x0 >= right for b in boxes), key  # outside the plotting area
        assert all(a.y1 <= b.y0 + 0.5 for a, b in itertools.pairwise(boxes)), key  # apart


def test_titles_say_what_is_plotted_against_what() -> None:
    titles = {c.key: c.title for c in charts_for(vzoo.compare_frame())}
    assert titles["coco-mask-rcnn-1x-box-ap-vs-flops"] == "COCO, Mask R-CNN 1×: box AP vs FLOPs"
    assert titles["imagenet-1k-300e-top1-vs-params"] == "ImageNet-1K: top-1 vs params"
    assert titles["ade20k-upernet-160k-miou-ss-vs-flops"] == "ADE20K, UperNet 160k: mIoU vs FLOPs"


# --------------------------------------------------------------------------- what is drawn


def _line(fig: object, gid: str) -> object:
    (line,) = [a for a in fig.axes[0].get_lines() if a.get_gid() == gid]  # type: ignore[attr-defined]
    return line


def _svg_series(svg: str) -> tuple[set[str], list[str]]:
    """(series keys with a curve or a baseline level, legend texts) of one inline SVG figure."""
    root = ET.fromstring(svg)
    ids = [g.get("id", "") for g in root.iter(f"{SVG}g")]
    curves = {m.group(1) for i in ids if (m := re.fullmatch(r"series-(.+)-(curve|level)", i))}
    (legend,) = [g for g in root.iter(f"{SVG}g") if g.get("id") == "legend"]
    texts = ["".join(t.itertext()).strip() for t in legend.iter(f"{SVG}text")]
    return curves, [t for t in texts if t]


def test_html_report_has_one_curve_and_one_legend_entry_per_family_in_every_chart() -> None:
    _record(("mlla-t", "flops_g", 4.15, None), ("sparx-mamba-b-3x", "flops_g", 480.0, None))
    frame = vzoo.compare_frame()
    charts = charts_for(frame)
    html = render(frame, "html")
    figures = re.findall(r"<figure data-chart='([^']+)'>(<svg.*?</svg>)\s*</figure>", html, re.S)
    assert [key for key, _ in figures] == [c.key for c in charts]
    for chart, (_, svg) in zip(charts, figures, strict=True):
        curves, legend = _svg_series(svg)
        assert curves == {s.key for s in chart.series}, chart.key
        labels = [s.label for s in chart.series]
        assert legend[: len(labels)] == labels and len(set(labels)) == len(labels), chart.key
        kinds = legend[len(labels) :]
        assert kinds and set(kinds) <= {
            "published", "measured", "measured FLOPs, published top-1",
            "measured FLOPs, published box AP",
        }, (chart.key, kinds)  # fmt: skip
    key = "coco-mask-rcnn-3x-box-ap-vs-flops"
    curves, legend = _svg_series(dict(figures)[key])
    assert curves == FAMILIES | {"mmdet-baselines"}
    # SparX-B: FLOPs measured, its AP as published: drawn as measured in FLOPs only
    assert legend[-2:] == ["published", "measured FLOPs, published box AP"]
    assert "mmdet baselines" in legend and "measured" not in legend
    assert "<table>" in html and "data:image/png" not in html


def test_published_markers_hollow_measured_filled_and_joined() -> None:
    _record(("mlla-t", "top1", 83.1, None), ("mlla-t", "flops_g", 4.15, None))
    chart = next(c for c in charts_for(vzoo.compare_frame()) if c.key.endswith("top1-vs-flops"))
    fig = draw(chart)
    published = _line(fig, "series-mlla-published")
    measured = _line(fig, "series-mlla-measured")
    gap = _line(fig, "series-mlla-gap")
    assert published.get_markerfacecolor() == "none" and len(published.get_xdata()) == 3
    # hollow markers on top of filled ones: a filled point never hides a published one
    assert published.get_zorder() > measured.get_zorder()
    assert measured.get_fillstyle() == "full" and measured.get_markerfacecolor() != "none"
    assert list(measured.get_xydata().tolist()) == [[4.15, 83.1]]
    assert gap.get_xydata()[:2].tolist() == [[4.2, 83.5], [4.15, 83.1]]
    assert gap.get_linewidth() < _line(fig, "series-mlla-curve").get_linewidth()
    # Families get distinct colours and markers.
    styles = {
        (_line(fig, f"series-{s.key}-curve").get_color(),
         _line(fig, f"series-{s.key}-published").get_marker())
        for s in chart.series
    }  # fmt: skip
    assert len(styles) == len(chart.series) == 4
    assert not fig.axes[0].texts  # a legend, no labels on points


def _svg_groups(svg: str) -> dict[str, ET.Element]:
    return {g.get("id", ""): g for g in ET.fromstring(svg).iter(f"{SVG}g") if g.get("id")}


def _fills(group: ET.Element) -> list[str]:
    """The fill of each marker drawn in an SVG group (a half-filled marker: two, one white)."""
    return [
        re.search(r"fill: (#[0-9a-f]+|none)", u.get("style", "")).group(1)  # type: ignore[union-attr]
        for u in group.iter(f"{SVG}use")
    ]


def test_a_point_is_drawn_as_measured_only_in_the_dimensions_measured() -> None:
    """In the SVG: a point whose accuracy was not measured is never a filled marker at the
    published accuracy; it is half filled (the half towards the measured axis), its own legend
    entry says what was measured. Measured in both: filled."""
    _record(("mlla-t", "flops_g", 4.15, None), ("msvmamba-nano", "top1", 77.0, None))
    chart = next(c for c in charts_for(vzoo.compare_frame()) if c.key.endswith("top1-vs-flops"))
    groups = _svg_groups(chart_svg(chart))
    assert not any(g.endswith("-measured") for g in groups)  # nothing measured in both
    flops_only, top1_only = groups["series-mlla-measured-x"], groups["series-msvmamba-measured-y"]
    mlla = next(s for s in chart.series if s.key == "mlla")
    assert next(p for p in mlla.points if p.measured).measured == (4.15, 83.5)  # published top-1
    for group in (flops_only, top1_only):
        fills = _fills(group)
        assert len(fills) == 2 and "#ffffff" in fills and fills[0] != "#ffffff", fills
    _, legend = _svg_series(chart_svg(chart))
    assert legend[-3:] == [
        "published", "measured FLOPs, published top-1", "measured top-1, published FLOPs",
    ]  # fmt: skip
    _record(("mlla-t", "top1", 83.2, None))  # now both: one filled marker, no white half
    chart = next(c for c in charts_for(vzoo.compare_frame()) if c.key.endswith("top1-vs-flops"))
    groups = _svg_groups(chart_svg(chart))
    assert "series-mlla-measured-x" not in groups
    assert "#ffffff" not in _fills(groups["series-mlla-measured"])
    assert "measured" in _svg_series(chart_svg(chart))[1]


def test_throughput_points_carry_their_spread_and_an_untrustworthy_mark() -> None:
    """Each pass's images/s from the latency record's min/max (per-pass ms) as a bar; a timing
    `vzoo bench` flagged is ringed, with a legend entry; the accuracy is the published one."""
    protocol = {**PROTOCOL, "batch_size": 2}
    bench = [("mlla-t", 5.0, 200.0, 800.0, None), ("msvmamba-nano", 0.33, 1000.0, 20000.0,
              "load 11.4 on 2 cores, passes 2.5-20 s")]  # fmt: skip
    ResultStore().record(
        EvalResult(rid, metric, value, unit, "vzoo bench", convention="bench:0123456789ab",
                   env={"bench_protocol": protocol, "load_avg_1min": 0.5, **extra})
        for rid, thr, low_ms, high_ms, flag in bench
        for metric, value, unit, extra in (
            ("throughput", thr, "img/s", {"timing_caveats": [flag] if flag else []}),
            ("latency_ms", 400.0, "ms", {"spread": {"min": low_ms, "max": high_ms}}),
        )
    )  # fmt: skip
    (chart,) = [c for c in charts_for(vzoo.compare_frame()) if c.x_metric == "throughput"]
    points = {p.row_id: p for s in chart.series for p in s.points}
    assert points["mlla-t"].x_spread == (2.5, 10.0)  # 2 images / 0.8 s .. / 0.2 s
    assert points["mlla-t"].measured_axes == "x" and points["mlla-t"].untrustworthy is None
    assert points["msvmamba-nano"].untrustworthy == "load 11.4 on 2 cores, passes 2.5-20 s"
    groups = _svg_groups(chart_svg(chart))
    assert {"series-mlla-spread", "series-msvmamba-spread"} <= set(groups)
    assert "series-msvmamba-untrustworthy" in groups and "series-mlla-untrustworthy" not in groups
    fig = draw(chart)
    assert _line(fig, "series-mlla-spread").get_xydata()[:2].tolist() == [[2.5, 83.5], [10.0, 83.5]]
    legend = _svg_series(chart_svg(chart))[1]
    assert legend[-3:] == [
        "measured throughput, published top-1", "slowest-fastest pass",
        "untrustworthy timing (see table)",
    ]  # fmt: skip


def test_a_chart_with_two_close_points_keeps_a_readable_scale() -> None:
    rows = [r for r in load_registry() if r.method in ("sparse-rcnn", "dual-attn-sparse-rcnn")]
    (chart,) = build_charts(
        {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in rec.items()}
        for rec in to_frame(compare(rows, {})).to_dict("records")
    )
    low, high = draw(chart).axes[0].get_ylim()
    assert high - low >= 2.0  # 37.9 vs 38.0 AP: not stretched over the whole height


# --------------------------------------------------------------------------- vzoo compare --plot


def test_compare_plot_writes_png_and_svg_per_figure(tmp_path: Path, cli) -> None:
    tmp_path = tmp_path / "figures"  # beside the test's vzoo home
    previous = os.umask(0o022)
    try:
        code, out, err = cli("compare", "--task", "segmentation", "--plot", str(tmp_path))
    finally:
        os.umask(previous)
    assert code == 0 and out == ""  # --plot alone: figures, no report on stdout
    keys = [c.key for c in charts_for(vzoo.compare_frame(task="segmentation"))]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        f"{k}.{ext}" for k in keys for ext in ("png", "svg")
    )
    assert f"wrote {len(keys)} figures ({2 * len(keys)} files) to {tmp_path}" in err
    for key in keys:
        png = tmp_path / f"{key}.png"
        assert png.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
        assert stat.S_IMODE(png.stat().st_mode) == 0o644
        ET.parse(tmp_path / f"{key}.svg")  # well-formed, standalone
    # With --report the report is printed as well; a file where a folder belongs is refused.
    code, out, _ = cli(
        "compare", "sparse-rcnn-r50-1x", "--plot", str(tmp_path / "b"), "--report", "csv"
    )
    assert code == 0 and out.startswith("id,metric,")
    code, _, err = cli("compare", "--plot", str(tmp_path / f"{keys[0]}.png"))
    assert code == 2 and "not a folder" in err


def test_write_figures_is_atomic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from vzoo.core import files

    chart = charts_for(vzoo.compare_frame(["mlla-t", "mlla-s"]))[0]
    tmp_path = tmp_path / "figures"
    tmp_path.mkdir()
    (tmp_path / f"{chart.key}.svg").write_text("old", encoding="utf-8")

    def full_disk(src: str, dst: str) -> None:
        raise OSError("No space left on device")

    monkeypatch.setattr(files.os, "replace", full_disk)
    with pytest.raises(OSError, match="No space"):
        write_figures([chart], tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == [f"{chart.key}.svg"]
    assert (tmp_path / f"{chart.key}.svg").read_text(encoding="utf-8") == "old"
    assert chart_svg(chart).startswith("<svg")


def test_a_family_curve_follows_the_sizes_its_card_declares(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Sizes are the card's (one vocabulary): a family with sizes outside T/S/B is still drawn
    smallest first, whatever the x of its points."""
    from vzoo.core import cards

    card = cards.FamilyCard(name="toy-fam", label="Toy", module="toy", sizes=("XS", "XL", "H"))
    real = cards.find_card
    monkeypatch.setattr(cards, "find_card", lambda f: card if f == "toy-fam" else real(f))
    base = {
        "family": "toy-fam", "task": "classification", "method": "classifier",
        "schedule": "300e", "baseline": False, "convention": None, "measured": None,
    }  # fmt: skip
    records = [
        dict(base, id=f"toy-{size.lower()}", arch=f"toy-fam-{size.lower()}", size=size,
             metric=metric, published=value)
        for size, flops, top1 in (("H", 1.0, 80.0), ("XS", 9.0, 70.0), ("XL", 5.0, 75.0))
        for metric, value in (("flops_g", flops), ("top1", top1))
    ]  # fmt: skip
    (chart,) = [c for c in build_charts(records) if c.x_metric == "flops_g"]
    assert [p.size for p in chart.series[0].points] == ["XS", "XL", "H"]
