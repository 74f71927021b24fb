"""`vzoo eval`: evaluate rows one after another, record each as soon as it is measured.

Rows already measured with the same checkpoint sha256, config hash and environment are skipped
(unless `force`), so an interrupted `--all` resumes where it stopped. Nothing is written to the
store for a row that failed.
"""

from __future__ import annotations

import functools
import hashlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vzoo import settings
from vzoo.core.errors import RowsRun, UserInputError
from vzoo.core.files import check_writable_dir, sha256_file
from vzoo.core.inputs import check_batch, check_workers
from vzoo.core.metrics import METRICS
from vzoo.core.registry import Row
from vzoo.core.results import (
    RANDOM_INIT,
    EvalResult,
    ResultStore,
    command_line,
    environment_fingerprint,
    environment_key,
)
from vzoo.core.tasks import get_task
from vzoo.evaluation import datasets
from vzoo.evaluation.distributed import ImagesDone, check_launcher_environment

LAUNCHERS = ("none", "pytorch", "slurm")
# `--random-init` models are built after seeding torch with this, so two runs of a row (and all
# processes of one run) start from the same weights; recorded in the result's env.
RANDOM_INIT_SEED = 0


@dataclass
class EvalOptions:
    data_root: Path | None = None
    ann_file: Path | None = None
    checkpoint: Path | None = None
    launcher: str = "none"
    batch_size: int | None = None
    cfg_options: dict[str, Any] = field(default_factory=dict)
    force: bool = False
    metric_backend: str | None = None
    work_root: Path | None = None
    offline: bool = False
    tta: bool = False
    num_workers: int = 2
    random_init: bool = False  # tests / smoke runs: no checkpoint, the model's seeded init
    verbose: bool = False


# A --random-init run's numbers measure the plumbing, not the model: its status says so, so that
# no short view (the summary's status and metrics) reads "measured, box_ap 0.00" as a result.
RANDOM_INIT_STATUS = "random-init (plumbing only)"


@dataclass(frozen=True)
class RowReport:
    row_id: str
    status: str  # measured | RANDOM_INIT_STATUS | skipped | failed
    metrics: dict[str, float]
    message: str = ""
    seconds: float = 0.0


def check_options(options: EvalOptions) -> None:
    """Every option that can be checked without the data or a model, before any work."""
    if options.launcher not in LAUNCHERS:
        raise UserInputError(
            f"unknown launcher '{options.launcher}'; choose one of {', '.join(LAUNCHERS)}"
        )
    if options.batch_size is not None and options.batch_size < 1:
        raise UserInputError(
            f"--batch-size {options.batch_size}: must be at least 1 (omit it for the config's)"
        )
    if options.num_workers < 0:
        raise UserInputError(
            f"--workers {options.num_workers}: must be 0 (load in the main process) or more"
        )
    check_workers("--workers", options.num_workers)
    if options.batch_size is not None:  # the smallest input any row is evaluated at
        check_batch("--batch-size", options.batch_size, (224, 224))
    if options.metric_backend is not None:
        from vzoo.evaluation.detection import check_backend

        check_backend(options.metric_backend)
    check_launcher_environment(options.launcher)
    check_writable_dir(work_root(options), "--work-dir")


def work_root(options: EvalOptions) -> Path:
    """Where the rows' logs and detections go: --work-dir, $VZOO_WORK_DIR, or work_dirs/."""
    return options.work_root or settings.work_dir() or Path("work_dirs/vzoo-eval")


def expected_metrics(row: Row, tta: bool) -> tuple[str, ...]:
    """The metrics one run of the row records (its task's evaluation module says)."""
    return get_task(row.task).evaluation_module().measured_metrics(row, tta)


def check_datasets(rows: list[Row], options: EvalOptions) -> dict[str, Any]:
    """Resolve and check every dataset the rows need, before anything runs."""
    layouts: dict[str, Any] = {}
    for ds, task in sorted({r.dataset: r.task for r in rows}.items()):
        root = datasets.resolve_root(ds, options.data_root)
        ann_file = str(options.ann_file) if options.ann_file else None
        layouts[ds] = get_task(task).evaluation_module().find_data(root, ann_file)
    return layouts


def dataset_fingerprint(row: Row, layout: Any) -> str:
    """What identifies the data the row was evaluated on (its task's evaluation module says)."""
    return get_task(row.task).evaluation_module().data_fingerprint(layout)


def resolve_checkpoint(row: Row, options: EvalOptions) -> tuple[Path | None, str | None]:
    """The checkpoint file to evaluate and its sha256: `--checkpoint`, else the download cache."""
    if options.random_init:
        return None, None
    if options.checkpoint is not None:
        if not options.checkpoint.is_file():
            raise UserInputError(f"checkpoint not found: {options.checkpoint}")
        return options.checkpoint, sha256_file(options.checkpoint)
    from vzoo.hub import fetch_checkpoint

    path = fetch_checkpoint(row, offline=options.offline)
    return path, sha256_file(path)


def pinned_sha256(row: Row, options: EvalOptions) -> str | None:
    """The registry's sha256 for the row's weights; a `--checkpoint` file is the user's own."""
    if options.checkpoint is not None or row.weights is None:
        return None
    return row.weights.sha256


def _read_config(row: Row, options: EvalOptions) -> Any:
    """The row's mmengine Config with `--cfg-options` merged; None for classifiers (no config).
    Read once per row: parsing a detector's config takes ~1.5 s here."""
    if row.config is None:
        return None
    from vzoo.zoo import row_models

    return row_models.row_config(row, options.cfg_options)


def row_config_hash(row: Row, options: EvalOptions, cfg: Any = None) -> str:
    """What identifies the run's model and pipeline (`cfg`: the row's config, if already read)."""
    if row.config is None:  # classifiers: the arch and the eval preprocessing define the run
        from vzoo.evaluation.classification import preprocess_for

        text = f"{row.arch}|{preprocess_for(row)}"
        return hashlib.sha256(text.encode()).hexdigest()[:16]
    from vzoo.evaluation.detection import config_hash

    return config_hash(cfg if cfg is not None else _read_config(row, options))


@dataclass(frozen=True)
class RowRun:
    """One row's evaluation as the runner hands it to its task's evaluation module."""

    row: Row
    layout: Any  # the data, as the task's `find_data` found it
    options: EvalOptions
    state_dict: dict[str, Any] | None  # None: the model's (seeded) init
    work_dir: Path  # the row's logs and outputs
    config: Any  # the row's config with --cfg-options (None for classifiers); the run changes it
    seed: int | None  # random-init runs: the seed the model is initialised with
    images_done: ImagesDone | None = None  # progress after each batch (main process)


def evaluate_row(
    row: Row,
    layout: Any,
    options: EvalOptions,
    state_dict: dict[str, Any] | None,
    work_dir: Path,
    cfg: Any = None,
    images_done: ImagesDone | None = None,
) -> tuple[dict[str, float], bool]:
    """Run one row's evaluation; returns (metrics, is_main_process). `cfg`: the row's config if
    already read (the run changes it); `images_done`: progress, after each batch."""
    seed = RANDOM_INIT_SEED if options.random_init else None
    run = RowRun(row, layout, options, state_dict, work_dir, cfg, seed, images_done)
    return get_task(row.task).evaluation_module().evaluate(run)


def device_name() -> str:
    import torch

    if torch.cuda.is_available():
        return torch.cuda.get_device_name(0)
    return "cpu"


def evaluate(
    rows: list[Row],
    options: EvalOptions,
    store: ResultStore | None = None,
    on_images: Callable[[str, int, int], None] | None = None,
) -> list[RowReport]:
    """Evaluate every row (`evaluate_rows`), their reports once all are done."""
    return list(evaluate_rows(rows, options, store, on_images))


def evaluate_rows(
    rows: list[Row],
    options: EvalOptions,
    store: ResultStore | None = None,
    on_images: Callable[[str, int, int], None] | None = None,
) -> Iterator[RowReport]:
    """Evaluate the rows in turn, each report as soon as its row is done (and stored). A row's
    failure is its report's one line (`core.errors`); a single row's is raised.
    `on_images(row id, images done, images in all)`: the progress within a row (after each
    batch)."""
    check_options(options)
    if options.checkpoint is not None and len(rows) != 1:
        raise UserInputError("--checkpoint applies to exactly one row id")
    for task in dict.fromkeys(r.task for r in rows):
        get_task(task).evaluation_module().check_installed()
    layouts = check_datasets(rows, options)
    store = store or ResultStore()
    store.check_writable()  # a read-only or missing home is found now, not after the run
    env = environment_fingerprint(device_name())
    env_key = environment_key(env)
    work_dir = work_root(options)
    run: RowsRun[RowReport] = RowsRun()
    for row in rows:
        t0 = time.perf_counter()
        with run.attempt(row, alone=len(rows) == 1) as attempt:
            report = _evaluate_one(
                row, layouts[row.dataset], options, store, env, env_key, work_dir,
                None if on_images is None else functools.partial(on_images, row.id),
            )  # fmt: skip
        if attempt.reason is not None:
            report = RowReport(row.id, "failed", {}, attempt.reason)
        yield RowReport(report.row_id, report.status, report.metrics, report.message,
                        time.perf_counter() - t0)  # fmt: skip


def _evaluate_one(
    row: Row,
    layout: Any,
    options: EvalOptions,
    store: ResultStore,
    env: dict[str, Any],
    env_key: str,
    work_root: Path,
    images_done: ImagesDone | None = None,
) -> RowReport:
    ckpt_path, ckpt_sha = resolve_checkpoint(row, options)
    cfg = _read_config(row, options)
    cfg_hash = row_config_hash(row, options, cfg)
    metrics = expected_metrics(row, options.tta)
    if (
        not options.force
        and not options.random_init
        and store.find_measured(
            row.id, metrics, checkpoint_sha256=ckpt_sha, config_hash=cfg_hash, env_key=env_key
        )
    ):
        return RowReport(row.id, "skipped", {}, "already measured (use --force to re-run)")
    state_dict = None
    if ckpt_path is not None:
        from vzoo.evaluation.checkpoints import read_checkpoint

        state_dict = read_checkpoint(ckpt_path, pinned_sha256(row, options), actual_sha256=ckpt_sha)
    values, is_main = evaluate_row(
        row, layout, options, state_dict, work_root / row.id, cfg, images_done
    )
    if is_main:
        from vzoo.evaluation.distributed import world_size

        fp = dataset_fingerprint(row, layout)
        if world_size() > 1:  # not part of environment_key: the numbers must not depend on it
            env = {**env, "processes": world_size()}
        if options.random_init:
            env = {**env, "random_init_seed": RANDOM_INIT_SEED}
        store.record([
            EvalResult(
                row_id=row.id,
                metric=m,
                value=v,
                unit=METRICS[m].unit,
                command=command_line(),
                env=env,
                convention=RANDOM_INIT if options.random_init else None,
                checkpoint_sha256=ckpt_sha,
                config_hash=cfg_hash,
                dataset_fingerprint=fp,
            )
            for m, v in values.items()
        ])  # fmt: skip
    return RowReport(row.id, RANDOM_INIT_STATUS if options.random_init else "measured", values)
