"""`vzoo compare` logic and renderers: verdicts at the tolerance edges, the report formats."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pandas as pd
import pytest

from vzoo.core.errors import UserInputError
from vzoo.core.registry import Registry, Row, load_registry
from vzoo.core.report import compare, parse_tolerances, render, verdict_for
from vzoo.core.results import StoredResult

JSON_KEYS = ["id", "metric", "published", "measured", "delta", "verdict"]


def _measured(row_id: str, metric: str, value: float, unit: str = "AP") -> StoredResult:
    return StoredResult(
        row_id=row_id, metric=metric, value=value, unit=unit, command="vzoo eval",
        id=1, created_at="2026-01-01T00:00:00+00:00",
    )  # fmt: skip


@pytest.fixture(scope="module")
def registry() -> Registry:
    return load_registry()


# --------------------------------------------------------------------------- verdicts


@pytest.mark.parametrize(
    ("measured", "verdict"),
    [
        (46.8, "reproduced"),
        (46.5, "reproduced"),  # exactly -0.3 (46.5 - 46.8 is -0.30000000000000426 in floats)
        (47.1, "reproduced"),  # exactly +0.3
        (46.49, "below"),
        (47.11, "above"),
        (None, "not-measured"),
    ],
)
def test_absolute_tolerance_for_ap(measured: float | None, verdict: str) -> None:
    assert verdict_for("box_ap", 46.8, measured, 0.3) == verdict


@pytest.mark.parametrize(
    ("measured", "verdict"),
    [
        (44.0, "reproduced"),
        (44.22, "reproduced"),  # +0.5 % of 44 is exactly 0.22
        (43.78, "reproduced"),
        (44.23, "above"),
        (43.77, "below"),
    ],
)
def test_relative_tolerance_for_params(measured: float, verdict: str) -> None:
    assert verdict_for("params_m", 44.0, measured, 0.005) == verdict


def test_relative_tolerance_scales_with_the_published_figure() -> None:
    # ±2 % FLOPs: 5 G off is fine at 255 G, not at 4.2 G.
    assert verdict_for("flops_g", 255.0, 260.0, 0.02) == "reproduced"
    assert verdict_for("flops_g", 255.0, 260.2, 0.02) == "above"
    assert verdict_for("flops_g", 4.2, 4.284, 0.02) == "reproduced"
    assert verdict_for("flops_g", 4.2, 4.3, 0.02) == "above"
    assert verdict_for("box_ap", None, 40.0, 0.3) == "no-published-figure"


def test_compare_uses_defaults_and_custom_tolerances(registry: Registry) -> None:
    row = registry.get("mlla-t-1x")  # box 46.8, mask 42.1, params 44M, FLOPs 255G
    latest = {
        ("mlla-t-1x", "box_ap"): _measured("mlla-t-1x", "box_ap", 46.4),
        ("mlla-t-1x", "params_m"): _measured("mlla-t-1x", "params_m", 44.6, "M"),
        ("mlla-t-1x", "top5"): _measured("mlla-t-1x", "top5", 90.0, "%"),
        ("other", "box_ap"): _measured("other", "box_ap", 1.0),
    }
    recs = {r.metric: r for r in compare([row], latest)}
    # Published metrics in registry order, then measured-only ones.
    assert list(recs) == ["box_ap", "mask_ap", "params_m", "flops_g", "top5"]
    assert recs["box_ap"].verdict == "below" and recs["box_ap"].delta == pytest.approx(-0.4)
    assert recs["box_ap"].tolerance == 0.3 and recs["box_ap"].tolerance_kind == "abs"
    # 44.6 is +1.4 % of 44 (default ±0.5 %) and does not round to the printed "44M"
    assert recs["params_m"].verdict == "above"
    assert recs["mask_ap"].verdict == "not-measured" and recs["mask_ap"].delta is None
    assert recs["top5"].verdict == "no-published-figure" and recs["top5"].published is None
    assert recs["box_ap"].published_printed == "46.8"
    assert recs["box_ap"].measured_at == "2026-01-01T00:00:00+00:00"

    custom = {r.metric: r for r in compare([row], latest, {"box_ap": 0.5, "params_m": 0.02})}
    assert custom["box_ap"].verdict == "reproduced" and custom["box_ap"].tolerance == 0.5
    assert custom["params_m"].verdict == "reproduced"
    assert custom["mask_ap"].tolerance == 0.3  # not overridden


def test_a_measurement_that_rounds_to_the_printed_figure_is_reproduced(
    registry: Registry,
) -> None:
    row = registry.get("mlla-t-1x")  # params printed "44M": stands for [43.5, 44.5)
    for value, verdict in ((44.49, "reproduced"), (43.51, "reproduced"), (44.51, "above")):
        latest = {("mlla-t-1x", "params_m"): _measured("mlla-t-1x", "params_m", value, "M")}
        (rec,) = [r for r in compare([row], latest) if r.metric == "params_m"]
        assert rec.verdict == verdict, value
    # AP printed "46.8": half a unit (0.05) is inside the ±0.3 tolerance, which still rules
    latest = {("mlla-t-1x", "box_ap"): _measured("mlla-t-1x", "box_ap", 46.45)}
    (rec,) = [r for r in compare([row], latest) if r.metric == "box_ap"]
    assert rec.verdict == "below"


def test_parse_tolerances() -> None:
    assert parse_tolerances(["box_ap=0.5", "flops_g=0.05"]) == {"box_ap": 0.5, "flops_g": 0.05}
    assert parse_tolerances([]) == {}
    for bad in ("box_ap", "ap50=1", "box_ap=abc", "box_ap=-0.1", "box_ap=nan", "=1"):
        with pytest.raises(UserInputError, match="bad --tolerance"):
            parse_tolerances([bad])


# --------------------------------------------------------------------------- renderers


def _all_records(registry: Registry) -> tuple[list[Row], list]:
    rows = list(registry)
    latest = {("mlla-t-1x", "box_ap"): _measured("mlla-t-1x", "box_ap", 46.9)}
    return rows, compare(rows, latest)


def test_json_has_exactly_the_contract_keys(registry: Registry) -> None:
    rows, records = _all_records(registry)
    data = json.loads(render(records, "json"))
    assert len(data) == sum(len(r.published) for r in rows)
    assert all(list(d) == JSON_KEYS for d in data)
    hit = next(d for d in data if d["id"] == "mlla-t-1x" and d["metric"] == "box_ap")
    assert hit == {"id": "mlla-t-1x", "metric": "box_ap", "published": 46.8, "measured": 46.9,
                   "delta": pytest.approx(0.1), "verdict": "reproduced"}  # fmt: skip
    never = next(d for d in data if d["id"] == "mlla-t-1x" and d["metric"] == "mask_ap")
    assert never["measured"] is None and never["delta"] is None
    assert never["verdict"] == "not-measured"


def test_markdown_has_one_table_per_task_and_every_row(registry: Registry) -> None:
    rows, records = _all_records(registry)
    text = render(records, "markdown")
    headings = re.findall(r"^## (.+)$", text, flags=re.M)
    assert len(headings) == 3 and len(set(headings)) == 3
    assert text.count("| row | metric | published | measured | delta | verdict |") == 3
    sections = re.split(r"^## .+$", text, flags=re.M)[1:]
    for task, section in zip(
        ("classification", "detection", "segmentation"), sections, strict=True
    ):
        ids = set(re.findall(r"^\| ([a-z0-9:_.-]+) \|", section, flags=re.M)) - {"row"}
        assert ids == {r.id for r in rows if r.task == task}
    assert "| mlla-t-1x | box AP | 46.8 | 46.9 | +0.10 | reproduced |" in text
    assert "| mlla-t-1x | params | 44M | — | — | not-measured |" in text
    # Published figures keep the printed digits (51.0, not 51) and show units consistently.
    assert "| sparx-mamba-s-3x | box AP | 51.0 |" in text
    assert "| sparx-mamba-t | params | 25M |" in text
    assert "| msvmamba-tiny-3x | params | 73M |" in text
    assert f"{len(rows)} rows, {len(records)} metrics" in text


def test_csv_parses_back(registry: Registry) -> None:
    _, records = _all_records(registry)
    frame = pd.read_csv(io.StringIO(render(records, "csv")))
    assert len(frame) == len(records)
    assert list(frame.columns[:6]) == JSON_KEYS
    hit = frame[(frame["id"] == "mlla-t-1x") & (frame["metric"] == "box_ap")].iloc[0]
    assert hit["measured"] == 46.9 and hit["verdict"] == "reproduced"
    assert frame["measured"].isna().sum() == len(records) - 1
    assert frame.loc[frame["id"] == "mlla-t-1x", "published"].tolist() == [46.8, 42.1, 44, 255]


def test_html_inlines_the_figures_of_each_task(registry: Registry) -> None:
    _, records = _all_records(registry)
    text = render(records, "html")
    sections = re.split(r"<h2 id='[a-z]+'>", text)[1:]
    assert len(sections) == 3 and text.count("<table>") == 3
    for section in sections:  # every task has rows with published FLOPs and params
        assert section.count("<svg") >= 2 and section.count("</svg>") == section.count("<svg")
    assert "<tr class='reproduced'>" in text
    # No published FLOPs or params anywhere (SparX detection rows), nothing measured: no figure.
    sparx = compare(registry.select(task="detection", family="sparx-mamba"), {})
    html = render(sparx, "html")
    assert "<svg" not in html and "<table>" in html
    assert "class='how-to-read'" in text and "class='how-to-read'" not in html


def test_unknown_format_is_refused(registry: Registry) -> None:
    with pytest.raises(ValueError, match="unknown report format"):
        render([], "pdf")


def test_committed_published_report_is_up_to_date(registry: Registry) -> None:
    """reports/published.md is `vzoo compare --report markdown` over an empty store."""
    from pathlib import Path

    committed = Path(__file__).resolve().parents[1] / "reports" / "published.md"
    expected = render(compare(list(registry), {}), "markdown")
    assert committed.read_text(encoding="utf-8") == expected, (
        "regenerate: VZOO_HOME=$(mktemp -d) vzoo compare --report markdown "
        "--out reports/published.md"
    )


def test_random_init_accuracy_is_never_compared(registry: Registry) -> None:
    row = registry.get("mlla-t-1x")
    smoke = StoredResult(
        row_id="mlla-t-1x", metric="box_ap", value=0.0, unit="AP", command="vzoo eval",
        id=1, created_at="2026-01-01T00:00:00+00:00", convention="random-init",
    )  # fmt: skip
    (rec,) = [r for r in compare([row], {("mlla-t-1x", "box_ap"): smoke}) if r.metric == "box_ap"]
    assert rec.verdict == "random-init" and rec.delta is None and rec.measured == 0.0


def test_a_real_measurement_beats_a_newer_random_init_run(
    registry: Registry, tmp_path: Path
) -> None:
    from vzoo.core.report import compare_stored
    from vzoo.core.results import EvalResult, ResultStore

    store = ResultStore(tmp_path / "store")
    store.record([EvalResult("mlla-t-1x", "box_ap", 46.7, "AP", "vzoo eval")])
    store.record(
        [EvalResult("mlla-t-1x", "box_ap", 0.0, "AP", "vzoo eval", convention="random-init")]
    )
    row = registry.get("mlla-t-1x")
    (rec,) = [r for r in compare_stored([row], store) if r.metric == "box_ap"]
    assert rec.measured == 46.7 and rec.verdict == "reproduced"
    other = registry.get("mlla-s-1x")
    store.record(
        [EvalResult("mlla-s-1x", "box_ap", 0.0, "AP", "vzoo eval", convention="random-init")]
    )
    (rec,) = [r for r in compare_stored([other], store) if r.metric == "box_ap"]
    assert rec.verdict == "random-init" and rec.delta is None


# --------------------------------------------------------------------------- units and caveats

BENCH_PROTOCOL = {"device": "cpu", "batch_size": 2, "threads": 2, "precision": "fp32"}


def _speed(metric: str, value: float, unit: str, **env: object) -> StoredResult:
    """A speed record as `vzoo bench` stores it (protocol in env, its key as convention)."""
    return StoredResult(
        row_id="mlla-t", metric=metric, value=value, unit=unit, command="vzoo bench",
        env={"bench_protocol": BENCH_PROTOCOL, **env}, convention="bench:0123456789ab",
        id=2, created_at="2026-01-02T00:00:00+00:00",
    )  # fmt: skip


def _speed_run(*caveats: str) -> list[StoredResult]:
    return [
        _speed("throughput", 5.95, "img/s", load_avg_1min=0.4, timing_caveats=list(caveats)),
        _speed("latency_ms", 152.45, "ms", load_avg_1min=0.4,
               spread={"min": 300.0, "max": 400.0}),  # ms per pass of 2 images
        _speed("peak_memory_mb", 56.8, "MiB", load_avg_1min=0.4),
    ]  # fmt: skip


def test_every_speed_cell_carries_its_unit_in_markdown_html_and_csv(registry: Registry) -> None:
    records = compare([registry.get("mlla-t")], {}, speed=_speed_run())
    md = render(records, "markdown")
    cells = {
        line.split(" | ")[1]: line.split(" | ")[3]
        for line in md.splitlines() if line.startswith("| mlla-t |")
    }  # fmt: skip
    # throughput's spread from the latency's: 2 images / 0.4 s .. 2 images / 0.3 s
    assert cells == {
        "top-1": "—", "params": "—", "FLOPs": "—",
        "throughput": "5.95 img/s (5-6.67, load 0.4)",
        "latency": "152.45 ms (300-400, load 0.4)",
        "peak memory": "56.8 MiB (load 0.4)",
    }  # fmt: skip
    assert "| 25M |" in md and "| 4.2G |" in md
    page = render(records, "html")
    for text in ("5.95 img/s", "152.45 ms", "56.8 MiB", "25M", "4.2G"):
        assert f"<td>{text}" in page, text
    # CSV: numbers stay numbers, the unit in its own column (and the spread in that unit).
    frame = pd.read_csv(io.StringIO(render(records, "csv"))).set_index("metric")
    assert frame.loc["throughput", ["measured", "unit"]].tolist() == [5.95, "img/s"]
    assert frame.loc["latency_ms", ["measured", "unit", "spread_min", "spread_max"]].tolist() == [
        152.45, "ms", 300.0, 400.0,
    ]  # fmt: skip
    assert frame.loc["peak_memory_mb", "unit"] == "MiB"
    assert frame.loc["params_m", "unit"] == "M" and frame["unit"].notna().all()


def test_an_untrustworthy_timing_says_so_next_to_its_verdict(registry: Registry) -> None:
    reason = "load 11.4 on 2 cores; spread 12.0x (max/min)"
    records = compare(
        [registry.get("mlla-t")],
        {},
        speed=_speed_run("load 11.4 on 2 cores", "spread 12.0x (max/min)"),
    )
    (throughput,) = [r for r in records if r.metric == "throughput"]
    assert throughput.caveats == reason and throughput.load_avg == 0.4
    (line,) = [x for x in render(records, "markdown").splitlines() if "| throughput |" in x]
    assert line.endswith(f"| measured, UNTRUSTWORTHY timing: {reason} |")
    clean = compare([registry.get("mlla-t")], {}, speed=_speed_run())
    assert all(r.caveats is None for r in clean)


def test_published_params_print_with_their_unit_for_every_family(registry: Registry) -> None:
    """SparX's README prints bare numbers ("25"), MLLA's "25M": the report prints both as 25M."""
    assert registry.get("sparx-mamba-t").published_printed["params_m"] == "25"
    md = render(compare([registry.get("sparx-mamba-t"), registry.get("mlla-t")], {}), "markdown")
    params = [line.split(" | ")[2] for line in md.splitlines() if "| params |" in line]
    flops = [line.split(" | ")[2] for line in md.splitlines() if "| FLOPs |" in line]
    assert params == ["25M", "25M"] and flops == ["5.2G", "4.2G"]


def test_known_seed_inconsistencies_sit_next_to_the_verdict(registry: Registry) -> None:
    rows = [registry.get("mlla-t"), registry.get("sparx-mamba-t")]
    latest = {
        ("mlla-t", "params_m"): _measured("mlla-t", "params_m", 24.3922, "M"),
        ("sparx-mamba-t", "params_m"): _measured("sparx-mamba-t", "params_m", 27.0518, "M"),
    }
    records = compare(rows, latest)
    notes = {r.id: r.note for r in records if r.note}
    assert set(notes) == {"mlla-t", "sparx-mamba-t"}  # the params notes, not the others
    assert "24.39M" in notes["mlla-t"] and "27.05M" in notes["sparx-mamba-t"]
    assert all(r.note is None for r in records if r.metric != "params_m")
    md = render(records, "markdown").splitlines()
    (mlla,) = [x for x in md if x.startswith("| mlla-t | params |")]
    (sparx,) = [x for x in md if x.startswith("| sparx-mamba-t | params |")]
    assert mlla.endswith("| below (known: note 1) |") and "| 24.39M | -0.61M (-2.4%) |" in mlla
    assert sparx.endswith("| above (known: note 2) |")
    assert f"1. mlla-t, params: {notes['mlla-t']}" in md
    page = render(records, "html")
    assert "below (known: note 1)" in page and "<li value='1'>mlla-t, params:" in page


def test_a_sweep_point_does_not_displace_the_bench_at_the_rows_own_input(
    registry: Registry,
) -> None:
    """A `--sweep` (or `--input`) run after a plain bench: the task's speed column keeps the run at
    the row's own input (224x224 for mlla-t), even though the sweep is newer."""
    import dataclasses

    own = {**BENCH_PROTOCOL, "input": "3x224x224"}
    plain = dataclasses.replace(_speed("throughput", 5.95, "img/s"), env={"bench_protocol": own})
    swept = dataclasses.replace(
        _speed("throughput", 1.5, "img/s"), id=3, created_at="2026-01-03T00:00:00+00:00",
        env={"bench_protocol": {**own, "input": "3x448x448"}}, convention="bench:fedcba987654",
    )  # fmt: skip
    (cell,) = [
        r for r in compare([registry.get("mlla-t")], {}, speed=[plain, swept])
        if r.metric == "throughput"
    ]  # fmt: skip
    assert cell.measured == 5.95 and cell.protocol["input"] == "3x224x224"
    # with no run at its own input, the newest run is shown (under its own protocol)
    (cell,) = [
        r for r in compare([registry.get("mlla-t")], {}, speed=[swept])
        if r.metric == "throughput"
    ]  # fmt: skip
    assert cell.measured == 1.5
