"""The comparison as a DataFrame (`vzoo.compare_frame`) and the figures drawn from it.

The figures are checked structurally, in what a browser receives: the SVG (one curve per family,
each family in the legend once, hollow published / filled measured markers), and in matplotlib's
own objects. benchmarks/report_browser.py renders the HTML report in headless Chromium.
"""

from __future__ import annotations

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
from vzoo.core.figures import build_charts, charts_for
from vzoo.core.plot import chart_svg, draw, write_figures
from vzoo.core.registry import load_registry
from vzoo.core.report import FRAME_COLUMNS, JSON_KEYS, compare, render, to_frame
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
    assert {s.family for s in coco_1x.series if not s.baseline} == FAMILIES - {"sparx-mamba"}
    # mmdet's baselines (no FLOPs in its index): a level per row, a series per backbone family
    assert [(s.key, s.levels) for s in coco_1x.series if s.baseline] == [
        ("mmdet-r", (("50", 38.2),)), ("mmdet-swin", (("T", 42.7),)),
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
    # SparX's README prints no detector FLOPs: measured FLOPs, published AP, filled only.
    sparx = series["sparx-mamba"].points
    assert [(p.row_id, p.published, p.measured) for p in sparx] == [
        ("sparx-mamba-t-1x", None, (263.1, 48.1)),
        ("sparx-mamba-s-1x", None, (330.4, 49.4)),
    ]
    assert [p.on_curve for p in sparx] == [(263.1, 48.1), (330.4, 49.4)]
    mlla = {p.row_id: p for p in series["mlla"].points}
    assert mlla["mlla-t-1x"].published == (255.0, 46.8)
    assert mlla["mlla-t-1x"].measured == (251.0, 46.8)  # FLOPs measured, AP as published
    assert mlla["mlla-s-1x"].measured == (319.0, 48.7)  # AP measured, FLOPs as published
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


def test_baseline_rows_are_a_grey_reference_curve_or_level() -> None:
    rows = [*load_registry().select(task="detection", family="mlla"), *_baselines()]
    (chart,) = [
        c for c in charts_for(to_frame(compare(rows, {})))
        if c.key == "coco-mask-rcnn-1x-box-ap-vs-flops"
    ]  # fmt: skip
    assert [(s.key, s.label, s.baseline) for s in chart.series] == [
        ("mlla", "MLLA", False),
        ("mmdet-swin", "Swin (mmdet baseline)", True),
        ("mmdet-r", "ResNet (mmdet baseline)", True),
    ]
    swin, r50 = chart.series[1:]
    assert [(p.size, p.published) for p in swin.points] == [
        ("T", (264.0, 42.7)),
        ("S", (354.0, 44.8)),
    ]
    assert r50.points == () and r50.levels == (("50", 38.2),)  # no FLOPs: a level, not a point
    fig = draw(chart)
    curve = _line(fig, "series-mmdet-swin-curve")
    assert curve.get_linestyle() == "--" and curve.get_color() == "#7f7f7f"
    assert _line(fig, "series-mlla-curve").get_linestyle() == "-"
    (level,) = [c for c in fig.axes[0].collections if c.get_gid() == "series-mmdet-r-level"]
    assert level.get_segments()[0][:, 1].tolist() == [38.2, 38.2]
    assert [t.get_text() for t in fig.axes[0].texts] == ["ResNet-50"]
    # A group of baselines alone (no zoo row in it) makes no chart.
    assert not charts_for(to_frame(compare(_baselines()[2:], {})))


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
        assert kinds == ["published", "measured"][: len(kinds)] or kinds == ["measured"]
    key = "coco-mask-rcnn-3x-box-ap-vs-flops"
    curves, legend = _svg_series(dict(figures)[key])
    assert curves == FAMILIES | {"mmdet-r", "mmdet-swin"}
    assert legend[-2:] == ["published", "measured"]
    assert {"ResNet (mmdet baseline)", "Swin (mmdet baseline)"} <= set(legend)
    assert "<table>" in html and "data:image/png" not in html


def test_published_markers_hollow_measured_filled_and_joined() -> None:
    _record(("mlla-t", "top1", 83.1, None))
    chart = next(c for c in charts_for(vzoo.compare_frame()) if c.key.endswith("top1-vs-flops"))
    fig = draw(chart)
    published = _line(fig, "series-mlla-published")
    measured = _line(fig, "series-mlla-measured")
    gap = _line(fig, "series-mlla-gap")
    assert published.get_markerfacecolor() == "white" and len(published.get_xdata()) == 3
    assert measured.get_markerfacecolor() == measured.get_color() != "white"
    assert list(measured.get_xydata().tolist()) == [[4.2, 83.1]]
    assert gap.get_xydata()[:2].tolist() == [[4.2, 83.5], [4.2, 83.1]]
    assert gap.get_linewidth() < _line(fig, "series-mlla-curve").get_linewidth()
    # Families get distinct colours and markers.
    styles = {
        (_line(fig, f"series-{s.key}-curve").get_color(),
         _line(fig, f"series-{s.key}-published").get_marker())
        for s in chart.series
    }  # fmt: skip
    assert len(styles) == len(chart.series) == 4
    assert not fig.axes[0].texts  # a legend, no labels on points


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
    from vzoo.core import atomic

    chart = charts_for(vzoo.compare_frame(["mlla-t", "mlla-s"]))[0]
    tmp_path = tmp_path / "figures"
    tmp_path.mkdir()
    (tmp_path / f"{chart.key}.svg").write_text("old", encoding="utf-8")

    def full_disk(src: str, dst: str) -> None:
        raise OSError("No space left on device")

    monkeypatch.setattr(atomic.os, "replace", full_disk)
    with pytest.raises(OSError, match="No space"):
        write_figures([chart], tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == [f"{chart.key}.svg"]
    assert (tmp_path / f"{chart.key}.svg").read_text(encoding="utf-8") == "old"
    assert chart_svg(chart).startswith("<svg")
