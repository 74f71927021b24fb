"""COCO bbox + segm evaluation of a detection row through mmdet 3 / mmengine's Runner test loop,
and the scoring of its saved detections.

Detections are always saved first (mmdet's CocoMetric with format_only), so a row can be
re-scored without re-running the model, with either backend (pycocotools or faster-coco-eval).
All 12 COCO summary numbers are kept, scored as mmdet's CocoMetric scores them (the published
numbers' protocol): maxDets (100, 300, 1000) per image; AP50, AP75, AP by size and the size-split
AR at the last of them; AR at each. AP itself is pycocotools' `stats[0]`, which pycocotools always
takes at 100 detections per image whatever maxDets says (its `_summarize` default): mmdet's
`bbox_mAP` is that number, so faster-coco-eval (which takes the last maxDets) is aligned to it
here.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vzoo.core.cards import card_methods, find_card
from vzoo.core.errors import UserInputError
from vzoo.core.files import sha256_file, write_text_atomic
from vzoo.core.registry import Row
from vzoo.core.tasks import generic_methods
from vzoo.evaluation import datasets
from vzoo.evaluation.datasets import CocoLayout
from vzoo.evaluation.distributed import ImagesDone, configure_runner, register_progress
from vzoo.zoo import row_models

if TYPE_CHECKING:
    from vzoo.evaluation.runner import RowRun

# The registry metric each COCO AP goes to (the iou types a method produces are on its `Method`).
METRIC_OF_IOU = {"bbox": "box_ap", "segm": "mask_ap"}


def iou_types(row: Row) -> tuple[str, ...]:
    """What the row's detector is scored on: by method, else by what it publishes (an mmdet
    index row of any detector: box AP, and mask AP where it has a mask head)."""
    declared = generic_methods().get(row.method) or card_methods().get(row.method)
    if declared is not None and declared.iou_types:
        return declared.iou_types
    return tuple(iou for iou, metric in METRIC_OF_IOU.items() if metric in row.published) or (
        "bbox",
    )


def metric_name(iou_type: str, stat: str) -> str:
    """The store's name for one COCO summary number: ('bbox', 'AP') -> 'box_ap',
    ('bbox', 'AP50') -> 'box_ap50', ('segm', 'AR@300') -> 'mask_ar300', ('bbox', 'ARs') ->
    'box_ar_s'."""
    kind = METRIC_OF_IOU[iou_type].removesuffix("_ap")
    name = stat.lower().replace("@", "")
    if name[-1] in "sml" and name[:2] in ("ap", "ar") and len(name) == 3:
        name = f"{name[:2]}_{name[2]}"
    return f"{kind}_{name}"


def max_dets_for(cfg: Any) -> tuple[int, int, int]:
    """COCO maxDets as mmdet's CocoMetric scores this config: its `proposal_nums` (default
    100, 300, 1000), the last raised to the model's `test_cfg` `max_per_img` if that keeps
    more detections per image, so every detection the model keeps is scored."""
    evaluators = cfg.get("test_evaluator") or {}
    if not isinstance(evaluators, (list, tuple)):
        evaluators = [evaluators]
    coco = [e for e in evaluators if isinstance(e, dict) and e.get("type") == "CocoMetric"]
    nums = coco[0].get("proposal_nums") if coco else None
    m1, m2, m3 = (int(n) for n in (nums or MMDET_MAX_DETS))
    return (m1, m2, max(m3, max_per_img(cfg) or 0))


def max_per_img(cfg: Any) -> int | None:
    """The most detections per image the model's test_cfg keeps (two-stage: rcnn's)."""
    test_cfg = cfg.model.get("test_cfg") or {}
    for part in (test_cfg.get("rcnn"), test_cfg):
        if part and part.get("max_per_img") is not None:
            return int(part["max_per_img"])
    return None


@dataclass
class DetectionRun:
    row: Row
    data: CocoLayout
    work_dir: Path
    state_dict: dict[str, Any] | None = None  # None: keep the model's init (tests only)
    batch_size: int = 1
    launcher: str = "none"
    cfg_options: dict[str, Any] = field(default_factory=dict)
    metric_backend: str | None = None
    num_workers: int = 2
    log_level: str = "WARNING"  # mmengine's own progress logs only with --verbose
    seed: int | None = None  # random-init runs: the seed the model is initialised with
    config: Any = None  # the row's Config with cfg_options merged, if already read (it is changed)
    images_done: ImagesDone | None = None  # progress after each test batch (main process)


@dataclass(frozen=True)
class DetectionOutcome:
    metrics: dict[str, float]  # registry metric name -> value in AP percent
    detail: dict[str, dict[str, float]]  # iou type -> AP, AP50, ...
    det_files: dict[str, Path]
    num_images: int
    is_main_process: bool


def config_hash(cfg: Any) -> str:
    return hashlib.sha256(cfg.pretty_text.encode()).hexdigest()[:16]


# mmdet's CocoMetric dumps the detections in place; they are renamed to detections.<iou>.json
# only once the test loop has finished, so an interrupted run never leaves a half-written one.
PARTIAL_DETECTIONS = ".detections.partial"


def _point_at_data(cfg: Any, run: DetectionRun) -> None:
    ds = cfg.test_dataloader.dataset
    ds.data_root = str(run.data.root) + "/"
    ds.ann_file = str(run.data.ann_file.resolve())
    ds.data_prefix = dict(img=str(run.data.img_dir.resolve()) + "/")
    cfg.test_dataloader.batch_size = run.batch_size
    cfg.test_dataloader.num_workers = run.num_workers
    cfg.test_dataloader.persistent_workers = run.num_workers > 0
    cfg.test_evaluator = dict(
        type="CocoMetric",
        ann_file=str(run.data.ann_file.resolve()),
        metric=list(iou_types(run.row)),
        format_only=True,  # save detections; vzoo scores them (either backend, re-scorable)
        outfile_prefix=str(run.work_dir.resolve() / PARTIAL_DETECTIONS),
    )


def run_detection(run: DetectionRun) -> DetectionOutcome:
    """Build the row's detector, load the weights strictly, run the test loop, score the json."""
    from mmdet.utils import register_all_modules
    from mmengine.dist import get_rank
    from mmengine.runner import Runner

    register_all_modules(init_default_scope=True)
    cfg = run.config if run.config is not None else row_models.row_config(run.row, run.cfg_options)
    max_dets = max_dets_for(cfg)  # before the evaluator is replaced by the format-only one
    _point_at_data(cfg, run)
    cfg.work_dir = str(run.work_dir)
    cfg.log_level = run.log_level
    configure_runner(cfg, run.launcher, run.seed)
    cfg.load_from = None
    cfg.resume = False
    run.work_dir.mkdir(parents=True, exist_ok=True)
    # pycocotools prints "loading annotations..." on stdout; keep it only when verbose
    quiet = run.log_level != "INFO"
    with contextlib.redirect_stdout(io.StringIO()) if quiet else contextlib.nullcontext():
        return _build_and_test(run, cfg, Runner, get_rank, max_dets)


def load_detector_weights(model: Any, row: Row, state_dict: dict[str, Any]) -> None:
    """A row's checkpoint into its detector, strictly (mmdet-2 key names mapped first)."""
    from vzoo.zoo.checkpoint import load_state_dict_strict

    card = find_card(row.family)
    if card is not None and card.checkpoint_keys == "mmdet2":
        from vzoo.zoo import map_mmdet2_keys

        state_dict = map_mmdet2_keys(state_dict)
    load_state_dict_strict(model, state_dict, source=f"checkpoint of {row.id}")


def _build_and_test(
    run: DetectionRun,
    cfg: Any,
    Runner: Any,
    get_rank: Any,
    max_dets: tuple[int, int, int],
) -> DetectionOutcome:
    runner = Runner.from_cfg(cfg)
    from mmengine.model import is_model_wrapper

    register_progress(runner, run.images_done)

    model = runner.model.module if is_model_wrapper(runner.model) else runner.model  # DDP
    if run.state_dict is not None:
        load_detector_weights(model, run.row, run.state_dict)
    det_files = {iou: run.work_dir / f"detections.{iou}.json" for iou in iou_types(run.row)}
    partial = {iou: run.work_dir / f"{PARTIAL_DETECTIONS}.{iou}.json" for iou in det_files}
    # Only rank 0 dumps (mmengine collects results there), so only rank 0 may touch the partial
    # files: another rank tidying them up in its `finally` raced rank 0's rename (flaky --nproc 2).
    main_process = get_rank() == 0
    try:
        runner.test()
        if main_process:
            for iou, path in partial.items():
                os.replace(path, det_files[iou])
    finally:
        if main_process:
            for path in partial.values():
                path.unlink(missing_ok=True)
    num_images = len(runner.test_dataloader.dataset)
    if not main_process:
        return DetectionOutcome({}, {}, det_files, num_images, is_main_process=False)
    detail = {
        iou: score_detections(run.data.ann_file, path, iou, run.metric_backend, max_dets)
        for iou, path in det_files.items()
    }
    from vzoo.core.metrics import METRICS

    metrics = {  # all 12 numbers per iou type that have a store name (AR@2000 would not)
        metric_name(iou, stat): value
        for iou, d in detail.items()
        for stat, value in d.items()
        if metric_name(iou, stat) in METRICS
    }
    summary = {"row": run.row.id, "metrics": metrics, "detail": detail, "max_dets": max_dets}
    write_text_atomic(run.work_dir / "summary.json", json.dumps(summary, indent=2))
    return DetectionOutcome(metrics, detail, det_files, num_images, is_main_process=True)


# ------------------------------------------------ the task's evaluation protocol (core/tasks.py)
def find_data(root: Path, ann_file: str | None = None, *, quick: bool = False) -> CocoLayout:
    """COCO val2017 under `root` (`ann_file` overrides the instances file; `quick`: only check
    that it is there, without parsing its 450 MB)."""
    return datasets.coco_layout(root, ann_file, read_annotations=not quick)


def data_fingerprint(layout: CocoLayout) -> str:
    """The annotation file's fingerprint (its sha256: it identifies a COCO split), as stored with
    each result."""
    return "coco:" + sha256_file(layout.ann_file)[:16]


def measured_metrics(row: Row, tta: bool) -> tuple[str, ...]:
    """Box AP, and mask AP where the row's detector has a mask head (`iou_types`)."""
    return tuple(METRIC_OF_IOU[i] for i in iou_types(row))


def check_installed() -> None:
    """mmdet is one of vzoo's own requirements."""


def evaluate(run: RowRun) -> tuple[dict[str, float], bool]:
    """One detection row's COCO APs; (metrics, is_main_process)."""
    options = run.options
    out = run_detection(
        DetectionRun(
            row=run.row, data=run.layout, work_dir=run.work_dir, state_dict=run.state_dict,
            batch_size=options.batch_size or 1, launcher=options.launcher,
            cfg_options=options.cfg_options, metric_backend=options.metric_backend,
            num_workers=options.num_workers, log_level="INFO" if options.verbose else "WARNING",
            seed=run.seed, config=run.config, images_done=run.images_done,
        )
    )  # fmt: skip
    return out.metrics, out.is_main_process


# -------------------------------------------------------------------------- COCO scoring
SCORING_BACKENDS = ("faster-coco-eval", "pycocotools")
# mmdet's CocoMetric(proposal_nums=(100, 300, 1000)): the maxDets it scores with.
MMDET_MAX_DETS = (100, 300, 1000)
# pycocotools' summarize() computes AP (stats[0]) at this many detections per image, always.
AP_MAX_DETS = 100


def stat_names(max_dets: Sequence[int] = MMDET_MAX_DETS) -> tuple[str, ...]:
    """Names of COCOeval's 12 summary numbers (summarize() order) for these maxDets.

    AP is at 100 detections per image; AP50 ... APl and the size-split AR at the last maxDets.
    """
    m1, m2, m3 = max_dets
    return (
        "AP", "AP50", "AP75", "APs", "APm", "APl",
        f"AR@{m1}", f"AR@{m2}", f"AR@{m3}", "ARs", "ARm", "ARl",
    )  # fmt: skip


def default_backend() -> str:
    try:
        import faster_coco_eval  # noqa: F401
    except ImportError:
        return "pycocotools"
    return "faster-coco-eval"


def check_backend(backend: str) -> None:
    """A known and installed scoring backend (checked before inference, not after)."""
    import importlib.util

    if backend not in SCORING_BACKENDS:
        raise UserInputError(
            f"unknown metric backend '{backend}'; choose one of {', '.join(SCORING_BACKENDS)}"
        )
    module = backend.replace("-", "_")
    if importlib.util.find_spec(module) is None:
        raise UserInputError(
            f"metric backend '{backend}' is not installed: pip install {backend}, "
            "or pass --metric-backend " + next(b for b in SCORING_BACKENDS if b != backend)
        )


def score_detections(
    ann_file: Path,
    det_file: Path,
    iou_type: str,
    backend: str | None = None,
    max_dets: Sequence[int] = MMDET_MAX_DETS,
) -> dict[str, float]:
    """COCO AP / AR in percent (46.8, as papers print) for one iou type ('bbox' | 'segm').

    A number COCO leaves undefined (-1: e.g. APs when no ground-truth object is small) is left
    out rather than recorded as -100.
    """
    backend = backend or default_backend()
    check_backend(backend)
    max_dets = tuple(int(m) for m in max_dets)
    if len(max_dets) != 3 or list(max_dets) != sorted(max_dets) or AP_MAX_DETS not in max_dets:
        raise ValueError(f"maxDets must be three increasing counts including 100, got {max_dets}")
    names = stat_names(max_dets)
    dets = json.loads(Path(det_file).read_text())
    if not dets:  # pycocotools cannot load an empty result list; no detections is AP/AR 0
        return dict.fromkeys(names, 0.0)
    quiet = io.StringIO()
    with contextlib.redirect_stdout(quiet):
        if backend == "pycocotools":
            from pycocotools.coco import COCO
            from pycocotools.cocoeval import COCOeval

            gt = COCO(str(ann_file))
            dt = gt.loadRes(dets)
            ev = COCOeval(gt, dt, iou_type)
        else:
            from faster_coco_eval import COCO as FCOCO
            from faster_coco_eval import COCOeval_faster

            gt = FCOCO(str(ann_file))
            dt = gt.loadRes(dets)
            ev = COCOeval_faster(gt, dt, iou_type)
        ev.params.maxDets = list(max_dets)
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
        stats = [float(v) for v in ev.stats[:12]]
        if len(stats) != 12:
            raise RuntimeError(f"{backend} returned {len(stats)} summary numbers, expected 12")
        if backend == "faster-coco-eval":  # its AP is at the last maxDets: pycocotools' at 100
            stats[0] = float(ev._summarize(1, maxDets=AP_MAX_DETS))
    return {
        name: 100.0 * v for name, v in zip(names, stats, strict=True) if v >= 0 and math.isfinite(v)
    }
