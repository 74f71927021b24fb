"""`vzoo eval`: run the real evaluation of rows and record the measured numbers.

Multi-GPU runs go through torchrun and SLURM (srun), as mmdet's dist_test.sh / slurm_test.sh
(`vzoo.evaluation.distributed` says how; this command runs what it says).
`--shard I/N` evaluates only the I-th of N parts of the selected rows (independent jobs, e.g. a
SLURM array), whose results meet in the results store.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any, Optional

import typer

from vzoo.cli.options import all_option, ids_argument, registry_option, task_option
from vzoo.cli.process import restore_third_party, run_child
from vzoo.cli.selection import select_rows
from vzoo.core.errors import UserInputError


def register(app: typer.Typer) -> None:
    app.command("eval")(eval_rows)


def parse_cfg_options(items: list[str]) -> dict[str, Any]:
    """mmengine's `--cfg-options key=value` syntax (DictAction), as in mmdet's tools/test.py."""
    from mmengine.config import DictAction

    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UserInputError(f"bad --cfg-options '{item}': expected KEY=VALUE")
        out[key] = DictAction._parse_iterable(value)
    return out


def eval_rows(
    ids: Optional[list[str]] = ids_argument(),
    all_rows: bool = all_option(),
    task: Optional[str] = task_option(),
    data_root: Optional[Path] = typer.Option(
        None, "--data-root", help="Dataset directory (default: $VZOO_DATA/<name> or data/<name>)."
    ),
    ann_file: Optional[Path] = typer.Option(None, "--ann-file", help="COCO annotation file."),
    checkpoint: Optional[Path] = typer.Option(
        None, "--checkpoint", help="Evaluate this file instead of the row's downloaded weights."
    ),
    gpus: int = typer.Option(0, "--gpus", help="GPUs (0: CPU). >1 runs under torchrun."),
    nproc: int = typer.Option(
        0, "--nproc", help="CPU processes (gloo), GPUs hidden; >1 runs under torchrun like --gpus."
    ),
    shard: Optional[str] = typer.Option(
        None, "--shard", help="I/N: the I-th of N parts of the rows (`slurm`: the array task's)."
    ),
    launcher: str = typer.Option("none", "--launcher", help="none | pytorch | slurm"),
    partition: Optional[str] = typer.Option(None, "--partition", help="SLURM partition (srun)."),
    batch_size: Optional[int] = typer.Option(None, "--batch-size", help="Per-process batch size."),
    cfg_options: Optional[list[str]] = typer.Option(
        None,
        "--cfg-options",
        metavar="KEY=VALUE",
        help="Override a config key, mmengine syntax KEY=VALUE (repeat).",
    ),
    metric_backend: Optional[str] = typer.Option(
        None, "--metric-backend", help="COCO scoring: faster-coco-eval (default) | pycocotools."
    ),
    tta: bool = typer.Option(False, "--tta", help="Segmentation: multi-scale + flip (mIoU ms)."),
    force: bool = typer.Option(False, "--force", help="Re-run rows already measured."),
    offline: bool = typer.Option(False, "--offline", help="Never touch the network."),
    work_dir: Optional[Path] = typer.Option(None, "--work-dir", help="Logs and detections."),
    workers: int = typer.Option(2, "--workers", help="Data-loading worker processes."),
    verbose: bool = typer.Option(
        False, "--verbose", help="Show mmengine's progress logs and warnings."
    ),
    random_init: bool = typer.Option(
        False, "--random-init", help="Smoke test: no checkpoint, the model's init (recorded so)."
    ),
    wide: bool = typer.Option(
        False, "--wide", help="Every column of the summary, however wide the terminal."
    ),
    registry: Optional[list[Path]] = registry_option(),
) -> None:
    """Evaluate rows with the official weights; results go to the results store."""
    if verbose:
        restore_third_party()
    from vzoo.core.errors import raise_if_failed
    from vzoo.core.sharding import parse_shard, shard_rows
    from vzoo.evaluation.distributed import check_gpus, is_rank_zero, relaunch

    part = parse_shard(shard) if shard is not None else None
    if gpus < 0 or nproc < 0:
        raise UserInputError("--gpus and --nproc must be >= 0")
    if gpus > 0 and nproc > 0:
        raise UserInputError("give --gpus N (GPU processes) or --nproc N (CPU processes), not both")
    rows = select_rows(ids, all_rows, task=task, registry=registry)
    from vzoo.evaluation.runner import EvalOptions, check_options, evaluate_rows

    options = EvalOptions(
        data_root=data_root, ann_file=ann_file, checkpoint=checkpoint, launcher=launcher,
        batch_size=batch_size, cfg_options=parse_cfg_options(cfg_options or []), force=force,
        metric_backend=metric_backend, work_root=work_dir, offline=offline or None, tta=tta,
        num_workers=workers, random_init=random_init, verbose=verbose,
    )  # fmt: skip
    check_options(options)  # before the data, the model, torchrun: nothing runs for a typo
    shard_note = ""
    if part is not None:
        selected = len(rows)
        rows = shard_rows(rows, part)
        shard_note = f"shard {part}: {len(rows)} of {selected} selected rows"
        if not rows:
            typer.echo(shard_note, err=True)
            return
    if nproc > 0:
        os.environ["CUDA_VISIBLE_DEVICES"] = ""  # before torch looks: the CPU, as asked
    check_gpus(gpus)
    again = relaunch(sys.argv[1:], gpus=gpus, nproc=nproc, launcher=launcher, partition=partition)
    if again is not None:
        if again.hide_gpus:
            os.environ["CUDA_VISIBLE_DEVICES"] = ""
        if again.replaces_process:
            os.execvp(again.command[0], again.command)
        # a child, not exec: Ctrl-C then reaches this process only, which stops torchrun's whole
        # process group and prints one line instead of torchrun's and every rank's shutdown noise
        raise typer.Exit(run_child(again.command))
    main_process = is_rank_zero(launcher)
    if shard_note and main_process:
        typer.echo(shard_note + ": " + ", ".join(r.id for r in rows), err=True)

    from vzoo.core.terminal import ImagesProgress

    reports = []
    with ImagesProgress() as progress:
        for report in evaluate_rows(
            rows, options, on_images=progress.update if main_process else None
        ):
            reports.append(report)
            if main_process:
                vals = ", ".join(f"{k}={v:.2f}" for k, v in headline(report.metrics).items())
                progress.print(f"{report.row_id}: {report.status} {vals} {report.message}".rstrip())
    if main_process:
        _summary(reports, wide)
    failed = [r.row_id for r in reports if r.status == "failed"]
    raise_if_failed(failed, len(reports), "evaluations")


def headline(metrics: dict[str, float]) -> dict[str, float]:
    """The numbers papers print (box AP, not AP50 ... AR: those are in the store, `compare
    --details` and the work dir's summary.json)."""
    from vzoo.core.metrics import METRICS

    return {k: v for k, v in metrics.items() if not (k in METRICS and METRICS[k].detail)}


def _summary(reports: list[Any], wide: bool = False) -> None:
    from vzoo.core.terminal import Column, print_table

    columns = [
        Column("row", 0, no_wrap=True), Column("status", 0), Column("metrics", 1),
        Column("seconds", 2, justify="right"), Column("note", 3),
    ]  # fmt: skip
    cells = [
        [
            r.row_id, r.status, ", ".join(f"{k} {v:.2f}" for k, v in headline(r.metrics).items()),
            f"{r.seconds:.0f}", r.message,
        ]
        for r in reports
    ]  # fmt: skip
    print_table(columns, cells, title="vzoo eval", stderr=True, wide=wide)
