"""Score saved COCO detections (json) with pycocotools or faster-coco-eval.

Detections are always saved first (mmdet's CocoMetric with format_only), so a row can be
re-scored without re-running the model, with either backend.
"""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

from vzoo.core.errors import UserInputError

SCORING_BACKENDS = ("faster-coco-eval", "pycocotools")
# Names of COCOeval.stats entries (summarize() order).
STAT_NAMES = ("AP", "AP50", "AP75", "APs", "APm", "APl")


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
    ann_file: Path, det_file: Path, iou_type: str, backend: str | None = None
) -> dict[str, float]:
    """COCO AP metrics in percent (46.8, as papers print) for one iou type ('bbox' | 'segm')."""
    backend = backend or default_backend()
    check_backend(backend)
    dets = json.loads(Path(det_file).read_text())
    if not dets:  # pycocotools cannot load an empty result list; no detections is AP 0
        return dict.fromkeys(STAT_NAMES, 0.0)
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
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return {name: 100.0 * float(v) for name, v in zip(STAT_NAMES, ev.stats[:6], strict=True)}
