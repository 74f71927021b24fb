"""Tasks are data: a fourth task is one `Task` entry plus its evaluation module, with no edit to
vzoo. This file is both: it registers a toy depth-estimation task whose evaluation module is this
very module (the protocol of `vzoo.core.tasks`), then drives the registry, `list --task`,
`eval`, `compare` and the figures through it."""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from vzoo.core.errors import RegistryError, UserInputError
from vzoo.core.metrics import METRICS, Metric
from vzoo.core.registry import Row, load_registry
from vzoo.core.tasks import (
    BUILTIN_TASKS,
    LoopDefaults,
    Method,
    Task,
    get_task,
    register_task,
    task_names,
    unregister_task,
)

TOY = Task(
    name="toy-depth",
    dataset="toy-nyu",
    dataset_dir="toy-nyu",
    metrics=("toy_rmse",),
    accuracy_metric="toy_rmse",
    accuracy_label="Toy-NYU RMSE (m)",
    accuracy_word="RMSE",
    dataset_label="Toy-NYU",
    report_title="Toy-NYU depth estimation (val)",
    evaluation=__name__,  # this module implements the evaluation protocol below
    model_library=None,
    default_input=(3, 64, 64),
    loop_defaults={"cpu": LoopDefaults(1, 1, 2), "cuda": LoopDefaults(8, 5, 10)},
    methods=(Method("toy-head", "toy-depth", label="Toy head"),),
    new_metrics=(Metric("toy_rmse", "m", "RMSE", 0.01, "abs", False),),
)


# ------------------------------------------------ the toy task's evaluation module (its protocol)
def find_data(root: Path, ann_file: str | None = None, *, quick: bool = False) -> Path:
    """The toy val split: one ground-truth depth (metres) a line in `depths.txt`."""
    depths = root / "depths.txt"
    if not depths.is_file():
        raise UserInputError(f"toy depths not found: looked for {depths}")
    return depths


def data_fingerprint(layout: Path) -> str:
    return "toy:" + hashlib.sha256(layout.read_bytes()).hexdigest()[:16]


def measured_metrics(row: Row, tta: bool) -> tuple[str, ...]:
    return ("toy_rmse",)


def check_installed() -> None:
    """The toy needs nothing installed."""


def evaluate(run: Any) -> tuple[dict[str, float], bool]:
    """RMSE of the toy predictor (a constant 2 m) against the val depths."""
    depths = [float(line) for line in run.layout.read_text().split()]
    rmse = math.sqrt(sum((d - 2.0) ** 2 for d in depths) / len(depths))
    return {"toy_rmse": rmse}, True


# ------------------------------------------------------------------------------------- the tests
@pytest.fixture
def toy_task() -> Iterator[Task]:
    register_task(TOY)
    try:
        yield TOY
    finally:
        unregister_task(TOY.name)


def _toy_row(row_id: str, **over: object) -> dict[str, Any]:
    return {
        "id": row_id, "family": "msvmamba", "arch": "msvmamba-nano", "task": "toy-depth",
        "dataset": "toy-nyu", "method": "toy-head", "schedule": None, "config": None,
        "weights": None, "pretrain": "msvmamba-nano", "published": {"toy_rmse": 0.5},
        "provenance": {"seed": "toy", "repo": "me/toy", "paper": "https://example.org/toy"},
        **over,
    }  # fmt: skip


def _overlay(tmp_path: Path, *rows: dict[str, Any]) -> Path:
    path = tmp_path / "toy.yaml"
    path.write_text(json.dumps({"rows": list(rows)}), encoding="utf-8")  # JSON is YAML
    return path


def test_a_registered_task_is_one_the_registry_accepts_rows_of(
    toy_task: Task, tmp_path: Path
) -> None:
    overlay = _overlay(tmp_path, _toy_row("my-toy"))
    row = load_registry(overlays=[overlay]).get("my-toy")
    assert row.task == "toy-depth" and row.published == {"toy_rmse": 0.5}
    assert task_names()[-1] == "toy-depth" and get_task("toy-depth") is toy_task

    # validated against the table entry like any task: its dataset, metrics and methods
    bad = _overlay(
        tmp_path,
        _toy_row("bad-dataset", dataset="coco2017"),
        _toy_row("bad-metric", published={"top1": 80.0}),
        _toy_row("bad-method", method="mask-rcnn"),
    )
    with pytest.raises(RegistryError) as e:
        load_registry(overlays=[bad])
    assert e.value.problems == [
        "bad-dataset: dataset: 'coco2017' does not fit task toy-depth (toy-nyu)",
        "bad-metric: published.top1: not a toy-depth metric (toy_rmse, params_m, flops_g)",
        "bad-method: method: 'mask-rcnn' does not fit task toy-depth (toy-head)",
    ]


def test_an_unregistered_task_is_refused_again(tmp_path: Path) -> None:
    overlay = _overlay(tmp_path, _toy_row("my-toy"))
    register_task(TOY)
    assert "my-toy" in load_registry(overlays=[overlay])
    unregister_task(TOY.name)
    assert "toy_rmse" not in METRICS and task_names() == tuple(t.name for t in BUILTIN_TASKS)
    with pytest.raises(RegistryError, match="'toy-depth' is not one of classification, detect"):
        load_registry(overlays=[overlay])


def test_list_filters_by_the_new_task_and_names_it_among_the_choices(
    toy_task: Task, tmp_path: Path, cli
) -> None:
    overlay = _overlay(tmp_path, _toy_row("my-toy"), _toy_row("my-toy-2"))
    code, out, _ = cli("list", "--task", "toy-depth", "--format", "json", "--registry", overlay)
    assert code == 0 and [r["id"] for r in json.loads(out)] == ["my-toy", "my-toy-2"]
    code, _, err = cli("list", "--task", "toy-dept", "--registry", overlay)
    assert code == 2 and "choose one of classification, detection, segmentation, toy-depth" in err


def test_eval_runs_the_tasks_module_and_compare_reports_its_metric(
    toy_task: Task, tmp_path: Path, cli
) -> None:
    overlay = _overlay(tmp_path, _toy_row("my-toy"))
    data = tmp_path / "toy-data"
    data.mkdir()
    (data / "depths.txt").write_text("1.5\n2.5\n3.0\n", encoding="utf-8")
    expected = math.sqrt((0.25 + 0.25 + 1.0) / 3)

    code, _, err = cli(
        "eval", "my-toy", "--random-init", "--data-root", data, "--registry", overlay
    )
    assert code == 0, err
    code, out, _ = cli("compare", "my-toy", "--report", "json", "--registry", overlay)
    assert code == 0
    (record,) = json.loads(out)
    assert record["metric"] == "toy_rmse" and record["published"] == 0.5
    assert record["measured"] == pytest.approx(expected)
    code, out, _ = cli("compare", "my-toy", "--registry", overlay)
    assert "## Toy-NYU depth estimation (val)" in out and "| my-toy | RMSE | 0.5 m |" in out

    # a missing dataset is the task module's one line, exit 2
    code, _, err = cli("eval", "my-toy", "--random-init", "--data-root", tmp_path / "none",
                       "--registry", overlay)  # fmt: skip
    assert code == 2 and "toy depths not found" in err


def test_figures_plot_the_new_task_by_its_accuracy_metric(toy_task: Task) -> None:
    from vzoo.core.figures import build_charts

    record = {
        "id": "my-toy", "family": "msvmamba", "arch": "msvmamba-nano", "task": "toy-depth",
        "size": "nano", "method": "toy-head", "schedule": None, "baseline": False,
        "convention": None, "measured": None,
    }  # fmt: skip
    records = [
        dict(record, metric="toy_rmse", published=0.5),
        dict(record, metric="params_m", published=7.0),
    ]
    (chart,) = build_charts(records)
    assert (chart.task, chart.y_metric, chart.y_label) == (
        "toy-depth",
        "toy_rmse",
        TOY.accuracy_label,
    )
    assert (
        chart.title == "Toy-NYU, Toy head: RMSE vs params"
        and chart.key == "toy-nyu-toy-head-toy-rmse-vs-params"
    )


def test_bench_and_flops_defaults_come_from_the_table(toy_task: Task) -> None:
    from vzoo.speed.protocol import loop_defaults

    assert loop_defaults("cpu", "toy-depth") == LoopDefaults(1, 1, 2)
    assert loop_defaults("cuda:1", "toy-depth") == LoopDefaults(8, 5, 10)
    assert loop_defaults("cpu", "classification") == LoopDefaults(1, 3, 10)


def test_a_task_that_does_not_fit_is_refused() -> None:
    from vzoo.core.errors import VzooError

    with pytest.raises(VzooError, match="task 'detection' is registered already"):
        register_task(BUILTIN_TASKS[1])
    broken = Task(**{**TOY.__dict__, "accuracy_metric": "top1", "new_metrics": ()})
    with pytest.raises(VzooError) as e:
        register_task(broken)
    assert str(e.value) == (
        "task toy-depth: metric 'toy_rmse' is not defined (add it to new_metrics); "
        "accuracy metric 'top1' is not one of its metrics"
    )
    assert "toy-depth" not in task_names()


def test_unregistering_a_task_keeps_the_metrics_it_did_not_bring() -> None:
    reusing = Task(**{**TOY.__dict__, "new_metrics": (*TOY.new_metrics, METRICS["top1"])})
    register_task(reusing)
    unregister_task(reusing.name)
    assert "top1" in METRICS and "toy_rmse" not in METRICS
