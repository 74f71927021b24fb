"""`vzoo eval` reports its progress per row (images done / total) after each batch: the bar a
terminal shows is fed from there, for classification (own loop) and detection (mmengine hook)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from test_evaluation import TINY_CONFIG

from vzoo.core.registry import load_registry
from vzoo.core.results import ResultStore
from vzoo.evaluation.runner import EvalOptions, evaluate
from vzoo.evaluation.synthetic import write_synthetic_coco, write_synthetic_imagenet


def _progress_of(rows, options: EvalOptions, tmp_path: Path) -> list[tuple[str, int, int]]:
    seen: list[tuple[str, int, int]] = []
    evaluate(rows, options, ResultStore(tmp_path / "store"), on_images=lambda *a: seen.append(a))
    return seen


def test_classification_reports_each_batch(tmp_path: Path) -> None:
    root = write_synthetic_imagenet(tmp_path / "imagenet", classes=3, per_class=2, seed=1)
    row = load_registry().get("msvmamba-nano")
    opts = EvalOptions(data_root=root, random_init=True, batch_size=4, num_workers=0)
    # 6 images in batches of 4: the start, then after each batch
    assert _progress_of([row], opts, tmp_path) == [
        ("msvmamba-nano", 0, 6), ("msvmamba-nano", 4, 6), ("msvmamba-nano", 6, 6)
    ]  # fmt: skip


def test_detection_reports_each_batch_through_the_runner(tmp_path: Path) -> None:
    coco = write_synthetic_coco(tmp_path / "coco", images=3, seed=3)
    row = dataclasses.replace(
        load_registry().get("mlla-t-1x"), config=str(TINY_CONFIG), family="spatial-mamba"
    )
    opts = EvalOptions(data_root=coco, random_init=True, work_root=tmp_path / "work", num_workers=0)
    assert _progress_of([row], opts, tmp_path) == [
        ("mlla-t-1x", 0, 3), ("mlla-t-1x", 1, 3), ("mlla-t-1x", 2, 3), ("mlla-t-1x", 3, 3)
    ]  # fmt: skip
