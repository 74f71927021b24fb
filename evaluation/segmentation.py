"""ADE20K mIoU of an UperNet row through mmsegmentation's Runner test loop (optional extra).

Single-scale by default; `tta=True` runs the config's multi-scale + flip `tta_pipeline` through
mmseg's `SegTTAModel`, as the papers' "ms" column.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vzoo.core.errors import UserInputError
from vzoo.core.registry import Row
from vzoo.evaluation import datasets
from vzoo.evaluation.datasets import Ade20kLayout
from vzoo.evaluation.distributed import ImagesDone, configure_runner, register_progress
from vzoo.zoo import row_models

if TYPE_CHECKING:
    from vzoo.evaluation.runner import RowRun


def require_mmseg() -> None:
    try:
        import mmseg  # noqa: F401
    except ImportError:
        raise UserInputError(
            "segmentation rows need mmsegmentation: pip install 'vzoo[seg]' (mmsegmentation==1.2.2)"
        ) from None


@dataclass
class SegmentationRun:
    row: Row
    data: Ade20kLayout
    work_dir: Path
    state_dict: dict[str, Any] | None = None
    tta: bool = False
    launcher: str = "none"
    cfg_options: dict[str, Any] = field(default_factory=dict)
    num_workers: int = 2
    log_level: str = "WARNING"
    seed: int | None = None  # random-init runs: the seed the model is initialised with
    config: Any = None  # the row's Config with cfg_options merged, if already read (it is changed)
    images_done: ImagesDone | None = None  # progress after each test batch (main process)


@dataclass(frozen=True)
class SegmentationOutcome:
    metrics: dict[str, float]  # miou_ss or miou_ms, in percent
    detail: dict[str, float]
    num_images: int
    is_main_process: bool


def run_segmentation(run: SegmentationRun) -> SegmentationOutcome:
    require_mmseg()
    from mmengine.dist import get_rank
    from mmengine.model import is_model_wrapper
    from mmengine.runner import Runner
    from mmseg.utils import register_all_modules

    from vzoo.zoo.checkpoint import load_state_dict_strict

    register_all_modules(init_default_scope=True)
    cfg = run.config if run.config is not None else row_models.row_config(run.row, run.cfg_options)
    ds = cfg.test_dataloader.dataset
    ds.data_root = str(run.data.root.resolve())
    ds.data_prefix = dict(img_path="images/validation", seg_map_path="annotations/validation")
    cfg.test_dataloader.batch_size = 1
    cfg.test_dataloader.num_workers = run.num_workers
    cfg.test_dataloader.persistent_workers = run.num_workers > 0
    if run.tta:
        if "tta_model" not in cfg or "tta_pipeline" not in cfg:
            raise UserInputError(f"{run.row.id}: its config defines no tta_pipeline for --tta")
        ds.pipeline = cfg.tta_pipeline
        cfg.model = dict(**cfg.tta_model, module=cfg.model)
    cfg.test_evaluator = dict(type="IoUMetric", iou_metrics=["mIoU"])
    cfg.work_dir = str(run.work_dir)
    cfg.log_level = run.log_level
    configure_runner(cfg, run.launcher, run.seed)
    cfg.load_from = None
    cfg.resume = False
    run.work_dir.mkdir(parents=True, exist_ok=True)
    runner = Runner.from_cfg(cfg)
    register_progress(runner, run.images_done)
    model = runner.model.module if is_model_wrapper(runner.model) else runner.model  # DDP
    if run.tta:
        model = model.module  # SegTTAModel wraps the segmentor
    if run.state_dict is not None:
        load_state_dict_strict(model, run.state_dict, source=f"checkpoint of {run.row.id}")
    results = runner.test()
    name = "miou_ms" if run.tta else "miou_ss"
    miou = float(results["mIoU"])  # mmseg reports percent already
    return SegmentationOutcome(
        {name: miou},
        {k: float(v) for k, v in results.items()},
        len(runner.test_dataloader.dataset),
        is_main_process=get_rank() == 0,
    )


# ------------------------------------------------ the task's evaluation protocol (core/tasks.py)
def find_data(root: Path, ann_file: str | None = None, *, quick: bool = False) -> Ade20kLayout:
    """ADE20K's validation images and annotations under `root`."""
    return datasets.ade20k_layout(root)


def data_fingerprint(layout: Ade20kLayout) -> str:
    """The annotation tree's fingerprint, as stored with each result."""
    return "ade20k:" + datasets.tree_fingerprint(layout.ann_dir)[:16]


def measured_metrics(row: Row, tta: bool) -> tuple[str, ...]:
    """Single-scale mIoU, or multi-scale + flip with `tta` (the papers' "ms" column)."""
    return ("miou_ms",) if tta else ("miou_ss",)


def check_installed() -> None:
    """mmsegmentation is an optional extra (`vzoo[seg]`)."""
    require_mmseg()


def evaluate(run: RowRun) -> tuple[dict[str, float], bool]:
    """One segmentation row's mIoU; (metrics, is_main_process)."""
    options = run.options
    out = run_segmentation(
        SegmentationRun(
            row=run.row, data=run.layout, work_dir=run.work_dir, state_dict=run.state_dict,
            tta=options.tta, launcher=options.launcher, cfg_options=options.cfg_options,
            num_workers=options.num_workers, log_level="INFO" if options.verbose else "WARNING",
            seed=run.seed, config=run.config, images_done=run.images_done,
        )
    )  # fmt: skip
    return out.metrics, out.is_main_process
