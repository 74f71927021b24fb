"""Score saved COCO detections (json) with pycocotools or faster-coco-eval.

Detections are always saved first (mmdet's CocoMetric with format_only), so a row can be
re-scored without re-running the model, with either backend. All 12 COCO summary numbers are
kept, scored as mmdet's CocoMetric scores them (the published numbers' protocol): maxDets
(100, 300, 1000) per image; AP50, AP75, AP by size and the size-split AR at the last of them; AR
at each. AP itself is pycocotools' `stats[0]`, which pycocotools always takes at 100 detections
per image whatever maxDets says (its `_summarize` default): mmdet's `bbox_mAP` is that number,
so faster-coco-eval (which takes the last maxDets) is aligned to it here.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
from collections.abc import Sequence
from pathlib import Path

from vzoo.core.errors import UserInputError

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
