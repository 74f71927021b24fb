"""`vzoo bench --sweep` (cost against input size) and the trust of a timing (wait policy, load,
spread), `--wide`, `--format csv`.

No test asserts a wall time: the sweep's numbers live in reports/sweep_cpu.md.
"""

from __future__ import annotations

import csv
import io
import json
import re
import subprocess
import sys
from typing import Any

import pytest
from servers.fresh_interpreter import same_vzoo_env

from vzoo.core.registry import load_registry
from vzoo.core.results import EvalResult, ResultStore
from vzoo.core.sweep import build_sweeps, fit_exponent, legend_label
from vzoo.speed.stability import timing_caveats

SWEEP_NANO = ["bench", "msvmamba-nano", "--sweep", "64,96", "--warmup", "0", "--iters", "2"]

# --------------------------------------------------------------------------- the exponent


@pytest.mark.parametrize("exponent", [1.0, 2.0, 0.5])
def test_exponent_of_a_power_law_is_its_power(exponent: float) -> None:
    pixels = [224**2, 384**2, 512**2, 768**2, 1024**2]
    fit = fit_exponent(pixels, [3e-4 * p**exponent for p in pixels])
    assert fit is not None and fit.points == 5
    assert fit.exponent == pytest.approx(exponent, abs=1e-9)
    assert fit.coefficient == pytest.approx(3e-4, rel=1e-6)


def test_exponent_is_least_squares_over_noisy_points() -> None:
    pixels = [1.0, 10.0, 100.0]
    # log10 values 0, 1.2, 1.8 against log10 pixels 0, 1, 2: least-squares slope 0.9
    fit = fit_exponent(pixels, [1.0, 10**1.2, 10**1.8])
    assert fit is not None and fit.exponent == pytest.approx(0.9)


def test_no_exponent_from_fewer_than_two_measured_sizes() -> None:
    assert fit_exponent([224**2], [10.0]) is None
    # a zero (no RSS growth) has no logarithm: left out, not replaced by a made-up number
    assert fit_exponent([224**2, 384**2], [0.0, 5.0]) is None
    fit = fit_exponent([1.0, 2.0, 4.0], [0.0, 2.0, 4.0])
    assert fit is not None and fit.points == 2 and fit.exponent == pytest.approx(1.0)


# --------------------------------------------------------------------------- trust


def test_a_timing_is_flagged_when_the_machine_is_oversubscribed_or_passes_disagree() -> None:
    even = [0.10, 0.11, 0.10]
    assert timing_caveats(even, load_avg=1.9, cores=2, device="cpu") == []
    assert timing_caveats(even, load_avg=6.4, cores=2, device="cpu") == ["load 6.4 on 2 cores"]
    assert timing_caveats([0.1, 0.3], load_avg=0.5, cores=2, device="cpu") == [
        "spread 3.0x (max/min)"
    ]
    # a GPU's timing is not slowed by other jobs on the host's cores
    assert timing_caveats(even, load_avg=60.0, cores=16, device="cuda") == []
    assert timing_caveats(even, load_avg=0.5, cores=2, device="cpu", warmup=0) == [
        "no warm-up pass"
    ]


def _fresh(code: str, **env: str) -> str:
    environ = same_vzoo_env(**env)
    environ.pop("OMP_WAIT_POLICY", None)
    environ.update(env)
    done = subprocess.run(
        [sys.executable, "-c", code], env=environ, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_wait_policy_is_passive_before_torch_loads_and_a_users_choice_stays() -> None:
    settle = "from vzoo.speed.stability import settle_wait_policy as s; print(s())"
    assert _fresh(settle) == "passive"
    assert _fresh(settle, OMP_WAIT_POLICY="ACTIVE") == "active"
    # after torch (and libgomp) loaded, setting it would change nothing: the record says so
    assert _fresh("import torch; " + settle) == "default"


def test_bench_records_the_policy_it_set_the_load_and_the_spread(tmp_path) -> None:
    out = _fresh(
        "from vzoo.cli.main import run; run(['bench', 'msvmamba-nano', '--input', '64x64', "
        "'--warmup', '0', '--iters', '3', '--format', 'json', '--no-store'])",
        VZOO_HOME=str(tmp_path),
    )
    recs = json.loads(out)
    assert {r["protocol"]["omp_wait_policy"] for r in recs} == {"passive"}
    by_metric = {r["metric"]: r for r in recs}
    for metric in ("throughput", "latency_ms"):
        spread = by_metric[metric]["spread"]
        assert spread["min"] <= spread["median"] <= spread["max"]
    assert by_metric["latency_ms"]["value"] == by_metric["latency_ms"]["spread"]["median"]
    for r in recs:
        assert r["load_avg_1min"] is not None and r["cores"] >= 1
        assert r["trustworthy"] is (not r["caveats"])


# --------------------------------------------------------------------------- the command


def test_sweep_records_one_record_per_size_per_metric(cli) -> None:
    code, out, err = cli(*SWEEP_NANO, "--format", "json")
    assert code == 0, err
    recs = json.loads(out)
    assert sorted((r["protocol"]["input"], r["metric"], r["unit"]) for r in recs) == sorted(
        (size, metric, unit)
        for size in ("3x64x64", "3x96x96")
        for metric, unit in (
            ("throughput", "img/s"),
            ("latency_ms", "ms"),
            ("peak_memory_mb", "MiB"),
        )
    )
    stored = ResultStore().query("msvmamba-nano")
    assert len(stored) == 6
    inputs = {r.env["bench_protocol"]["input"] for r in stored}
    assert inputs == {"3x64x64", "3x96x96"}
    # one protocol but the input: the records' conventions differ only by it
    protos = [dict(r.env["bench_protocol"]) for r in stored]
    assert all({k: v for k, v in p.items() if k != "input"} == {
        k: v for k, v in protos[0].items() if k != "input"} for p in protos)  # fmt: skip


def test_sweep_shows_in_compare_report_and_plot(cli, tmp_path) -> None:
    code, out, err = cli(*SWEEP_NANO)
    assert code == 0, err
    assert "time exponent" in out and "MSVMamba-nano" in out and "64x64" in out
    code, out, _ = cli("compare", "msvmamba-nano", "--report", "markdown")
    assert code == 0
    section = out.split("## Cost against input size", 1)[1]
    assert "| MSVMamba-nano |" in section and "| msvmamba-nano | 96x96 |" in section
    code, page, _ = cli("compare", "msvmamba-nano", "--report", "html")
    assert "Cost against input size" in page and 'id="sweep-msvmamba-nano-time"' in page
    code, _, err = cli("compare", "msvmamba-nano", "--plot", tmp_path / "fig")
    assert code == 0, err
    names = sorted(p.name for p in (tmp_path / "fig").glob("sweep-*"))
    assert len(names) == 2 and {n.rsplit(".", 1)[1] for n in names} == {"png", "svg"}


def test_a_size_the_model_cannot_take_fails_alone(cli) -> None:
    # MLLA's classifier is built for 224x224 (its RoPE tables): 96 fails, 224 is measured
    code, out, err = cli("bench", "mlla-t", "--sweep", "96,224", "--warmup", "0", "--iters", "1",
                         "--format", "json")  # fmt: skip
    assert code == 1
    assert [r["protocol"]["input"] for r in json.loads(out)] == ["3x224x224"] * 3
    assert "mlla-t at 96x96:" in err and len(err.strip().splitlines()) == 2  # progress + error
    assert {r.env["bench_protocol"]["input"] for r in ResultStore().query("mlla-t")} == {
        "3x224x224"
    }


@pytest.mark.parametrize(
    ("sweep", "extra", "message"),
    [
        ("224", [], "at least two sizes"),
        ("224,abc", [], "bad --sweep size 'abc': expected HxW"),
        ("224,16", [], "bad --sweep size '16x16': each side must be 32..4096"),
        ("224,8192", [], "each side must be 32..4096"),
        ("224,384,224", [], "224x224 is given twice"),
        ("224,,384", [], "an empty size"),
        ("224,384", ["--input", "224x224"], "--sweep and --input"),
    ],
)
def test_bad_sweep_lists_exit_2_with_one_line(sweep, extra, message, cli) -> None:
    code, out, err = cli("bench", "msvmamba-nano", "--sweep", sweep, *extra)
    assert code == 2, err
    assert message in err and len(err.strip().splitlines()) == 1 and out == ""
    assert ResultStore().query() == []


def test_bench_wide_and_csv_carry_every_column_with_units(cli, monkeypatch) -> None:
    monkeypatch.setenv("COLUMNS", "60")
    base = ["bench", "msvmamba-nano", "--input", "64x64", "--warmup", "0", "--iters", "2",
            "--no-store"]  # fmt: skip
    code, out, err = cli(*base)
    assert code == 0, err
    assert "with --wide" in out
    code, out, err = cli(*base, "--wide")
    assert code == 0, err
    assert "with --wide" not in out
    header = next(line for line in out.splitlines() if line.lstrip().startswith("row"))
    for column in ("part", "batch", "throughput", "peak memory", "load 1 min", "timing"):
        assert column in header
    assert re.search(r"\d img/s", out) and re.search(r"\d ms \(", out) and " MiB" in out

    code, out, err = cli(*base, "--format", "csv")
    assert code == 0, err
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [(r["metric"], r["unit"]) for r in rows] == [
        ("throughput", "img/s"), ("latency_ms", "ms"), ("peak_memory_mb", "MiB")]  # fmt: skip
    for r in rows:
        assert float(r["value"]) > 0 and r["input"] == "3x64x64" and r["load_avg_1min"]
        assert r["trustworthy"] in ("True", "False")
    assert float(rows[1]["min"]) <= float(rows[1]["median"]) <= float(rows[1]["max"])


def test_compare_names_untrustworthy_timings(cli) -> None:
    proto = {"device": "cpu", "batch_size": 1, "input": "3x224x224"}
    ResultStore().record([
        EvalResult("mlla-t", "throughput", 0.3, "img/s", "vzoo bench",
                   env={"bench_protocol": proto, "timing_caveats": ["load 6.4 on 2 cores"]},
                   convention="bench:0123456789ab"),
    ])  # fmt: skip
    code, out, _ = cli("compare", "mlla-t", "--report", "markdown")
    assert code == 0
    assert "Not trustworthy (rerun on a quiet machine): mlla-t (load 6.4 on 2 cores)." in out
    code, out, _ = cli("compare", "mlla-t", "--report", "csv")
    assert code == 0
    assert "load 6.4 on 2 cores" in out


# --------------------------------------------------------------------------- the figure


def _records(row_id: str, exponent: float, *, flagged: bool = False) -> list[dict[str, Any]]:
    out = []
    for side in (224, 512, 1024):
        proto = {"device": "cpu", "part": "backbone", "batch_size": 1, "input": f"3x{side}x{side}"}
        ms = 1e-3 * (side * side) ** exponent
        caveats = ["load 6.0 on 2 cores"] if flagged and side == 512 else []
        common = {"id": row_id, "protocol": proto, "caveats": caveats, "load_avg_1min": 1.0}
        out += [
            {**common, "metric": "latency_ms", "value": ms,
             "spread": {"min": 0.9 * ms, "median": ms, "max": 1.2 * ms}},
            {**common, "metric": "throughput", "value": 1e3 / ms},
            {**common, "metric": "peak_memory_mb", "value": 1e-4 * side * side},
        ]  # fmt: skip
    return out


def test_figure_has_one_curve_per_model_and_exponents_in_the_legend() -> None:
    from vzoo.core.sweep_plot import sweep_svg

    reg = load_registry()
    ids = ["mlla-t", "sparx-mamba-t", "mmdet:mask-rcnn_swin-t-p4-w7_fpn_1x_coco",
           "mmdet:mask-rcnn_r50_fpn_1x_coco"]  # fmt: skip
    records = [r for i, rid in enumerate(ids) for r in _records(rid, 1.0 + i / 4, flagged=i == 1)]
    records += _records("msvmamba-nano", 1.0)  # not selected: not drawn
    (sweep,) = build_sweeps([reg.get(i) for i in ids], records)
    svg = sweep_svg(sweep)
    for panel in ("time", "memory"):
        drawn = re.findall(rf'id="sweep-([a-z0-9-]+)-{panel}"', svg)
        assert sorted(drawn) == sorted(re.sub(r"[^a-z0-9]+", "-", i) for i in ids)
    labels = [legend_label(c) for c in sweep.curves]
    assert labels[0] == "MLLA-T: time ∝ px^1.00, memory ∝ px^1.00"
    assert labels[1].startswith("SparX-Mamba-T: time ∝ px^1.25")
    assert "Swin-T (mmdet)" in labels[2] and "ResNet-50 (mmdet)" in labels[3]
    for label in labels:
        assert label in svg
    assert "timing flagged" in svg  # the hollow point of sparx-mamba-t at 512
    assert [c.flagged for c in sweep.curves] == [False, True, False, False]


def test_no_curve_without_two_measured_sizes() -> None:
    reg = load_registry()
    one_size = [r for r in _records("mlla-t", 1.0) if r["protocol"]["input"] == "3x224x224"]
    assert build_sweeps([reg.get("mlla-t")], one_size) == []


def test_eval_summary_takes_wide(cli, monkeypatch, capsys) -> None:
    from types import SimpleNamespace

    from vzoo.cli.evaluate import _summary

    monkeypatch.setenv("COLUMNS", "50")
    report = SimpleNamespace(
        row_id="msvmamba-micro-1x", status="measured", metrics={"box_ap": 0.0}, seconds=61.0,
        message="random-init: the model's initialisation, no checkpoint",
    )  # fmt: skip
    capsys.readouterr()
    _summary([report])
    assert "with --wide" in capsys.readouterr().err
    _summary([report], wide=True)
    err = capsys.readouterr().err
    assert "with --wide" not in err and "random-init" in err
    # the command accepts the option (the row check comes first, not "no such option")
    code, _, err = cli("eval", "--wide")
    assert code == 2 and "give row ids or --all" in err


def test_default_sweep_is_the_classifier_sizes_or_the_detection_sizes() -> None:
    from vzoo.speed.protocol import default_sweep, parse_sweep

    assert parse_sweep("default") is None  # each row's own sizes
    assert parse_sweep("800x1280, 512x640") == ((512, 640), (800, 1280))  # smallest first
    assert [h for h, _ in default_sweep("classification", "model")] == [224, 384, 512, 768, 1024]
    for task, part in (("classification", "backbone"), ("detection", "model")):
        sizes = default_sweep(task, part)
        assert (800, 1280) in sizes and all(h % 32 == 0 and w % 32 == 0 for h, w in sizes)
