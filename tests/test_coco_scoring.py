"""COCO scoring against numbers computed by hand, all 12 summary numbers, mmdet's maxDets."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from vzoo.evaluation.detection import SCORING_BACKENDS, score_detections, stat_names

# One image, three 100x100 ground-truth boxes (COCO "large": area > 96²), one category.
# Detections by score: A found exactly (IoU 1), B found at IoU 0.64 (a 100x64 box inside it),
# then a false positive; C is never found.
GT_BOXES = {"A": [0, 0, 100, 100], "B": [200, 200, 100, 100], "C": [400, 0, 100, 100]}
DETECTIONS = [([0, 0, 100, 100], 0.9), ([200, 200, 100, 64], 0.8), ([0, 300, 50, 50], 0.7)]
# By hand, on COCO's 101 recall points (0, 0.01, ..., 1) and 10 IoU thresholds (0.5 ... 0.95):
# - IoU threshold <= 0.60 (3 thresholds): TP, TP, FP: precision 1 up to recall 2/3,
#   i.e. on the 67 recall points 0 ... 0.66 -> AP_t = 67/101; recall 2/3.
# - IoU threshold >= 0.65 (7 thresholds): TP, FP, FP: precision 1 up to recall 1/3,
#   i.e. 34 recall points 0 ... 0.33 -> AP_t = 34/101; recall 1/3.
AP50 = 100 * 67 / 101  # 66.34
AP75 = 100 * 34 / 101  # 33.66
AP = 100 * (3 * 67 + 7 * 34) / (10 * 101)  # 43.47: the mean over the 10 thresholds
AR = 100 * (3 * 2 / 3 + 7 * 1 / 3) / 10  # 43.33 at every maxDets (3 detections < 100)


def write_case(tmp_path: Path, gt: dict[str, list[int]], dets: list[tuple[list[int], float]]):
    ann = {
        "images": [{"id": 1, "file_name": "1.jpg", "height": 600, "width": 600}],
        "categories": [{"id": 1, "name": "thing"}],
        "annotations": [
            {"id": i + 1, "image_id": 1, "category_id": 1, "bbox": box, "iscrowd": 0,
             "area": box[2] * box[3]}
            for i, box in enumerate(gt.values())
        ],
    }  # fmt: skip
    ann_file, det_file = tmp_path / "ann.json", tmp_path / "dets.json"
    ann_file.write_text(json.dumps(ann))
    det_file.write_text(
        json.dumps([{"image_id": 1, "category_id": 1, "bbox": b, "score": s} for b, s in dets])
    )
    return ann_file, det_file


@pytest.mark.parametrize("backend", SCORING_BACKENDS)
def test_scores_match_the_hand_computation(tmp_path: Path, backend: str) -> None:
    ann, dets = write_case(tmp_path, GT_BOXES, DETECTIONS)
    got = score_detections(ann, dets, "bbox", backend)
    assert got["AP"] == pytest.approx(AP, abs=1e-6)
    assert got["AP50"] == pytest.approx(AP50, abs=1e-6)
    assert got["AP75"] == pytest.approx(AP75, abs=1e-6)
    assert got["APl"] == pytest.approx(AP, abs=1e-6)  # every object is large
    for name in ("AR@100", "AR@300", "AR@1000", "ARl"):
        assert got[name] == pytest.approx(AR, abs=1e-6), name
    # no small or medium ground truth: COCO's -1 ("undefined") is left out, not stored as -100
    assert set(got) == set(stat_names()) - {"APs", "APm", "ARs", "ARm"}


def test_both_backends_agree_on_all_twelve(tmp_path: Path) -> None:
    gt = {**GT_BOXES, "small": [520, 520, 20, 20], "medium": [450, 300, 50, 50]}
    dets = [*DETECTIONS, ([522, 521, 18, 20], 0.6), ([450, 310, 50, 40], 0.5)]
    ann, det_file = write_case(tmp_path, gt, dets)
    ref = score_detections(ann, det_file, "bbox", "pycocotools")
    fast = score_detections(ann, det_file, "bbox", "faster-coco-eval")
    assert set(ref) == set(stat_names()) and set(fast) == set(ref)
    for name in ref:
        assert fast[name] == pytest.approx(ref[name], abs=1e-9), name


def test_max_dets_are_mmdets(tmp_path: Path) -> None:
    """150 objects found exactly in one image. mmdet scores with maxDets (100, 300, 1000): AP50
    and AR@300 see all 150 detections (100); AP is pycocotools' number at 100 detections per
    image (as mmdet's bbox_mAP): 100 of 150 found, precision 1 up to recall 2/3 -> 67/101.
    COCO's default maxDets (1, 10, 100) would give AP50 67/101 too."""
    gt = {f"o{i}": [(i % 15) * 40, (i // 15) * 40, 30, 30] for i in range(150)}
    dets = [(box, 1.0 - i / 1000) for i, box in enumerate(gt.values())]
    ann, det_file = write_case(tmp_path, gt, dets)
    for backend in SCORING_BACKENDS:
        mmdet = score_detections(ann, det_file, "bbox", backend)
        assert mmdet["AP"] == pytest.approx(100 * 67 / 101), backend
        assert mmdet["AP50"] == pytest.approx(100.0) and mmdet["APs"] == pytest.approx(100.0)
        assert mmdet["AR@100"] == pytest.approx(100 * 100 / 150)
        assert mmdet["AR@300"] == mmdet["AR@1000"] == pytest.approx(100.0)
        coco_default = score_detections(ann, det_file, "bbox", backend, max_dets=(1, 10, 100))
        assert coco_default["AP50"] == pytest.approx(100 * 67 / 101)
        assert coco_default["AR@10"] == pytest.approx(100 * 10 / 150)


def test_max_dets_for_the_shipped_configs_and_overrides() -> None:
    from vzoo.core.registry import load_registry
    from vzoo.evaluation.detection import max_dets_for, max_per_img
    from vzoo.zoo.row_models import row_config as load_row_config

    reg = load_registry()
    for row_id in ("msvmamba-micro-1x", "dual-attn-sparse-rcnn-r50-1x"):
        cfg = load_row_config(reg.get(row_id))
        assert max_per_img(cfg) == 100
        assert max_dets_for(cfg) == (100, 300, 1000)
    more = load_row_config(reg.get("msvmamba-micro-1x"), {"model.test_cfg.rcnn.max_per_img": 2000})
    assert max_dets_for(more) == (100, 300, 2000)  # every detection the model keeps is scored
    own = load_row_config(
        reg.get("msvmamba-micro-1x"),
        {"test_evaluator": {"type": "CocoMetric", "proposal_nums": (100, 200, 500)}},
    )
    assert max_dets_for(own) == (100, 200, 500)


def test_store_names_and_compare_keeps_details_out_by_default() -> None:
    from vzoo.core.metrics import METRICS
    from vzoo.core.registry import load_registry
    from vzoo.core.report import compare
    from vzoo.core.results import StoredResult
    from vzoo.evaluation.detection import metric_name

    names = [metric_name(iou, s) for iou in ("bbox", "segm") for s in stat_names()]
    assert len(set(names)) == 24 and all(n in METRICS for n in names)
    assert names[:3] == ["box_ap", "box_ap50", "box_ap75"] and "mask_ar_l" in names
    row = load_registry().get("msvmamba-micro-1x")
    latest = {
        (row.id, m): StoredResult(row.id, m, 40.0, METRICS[m].unit, "test", id=i)
        for i, m in enumerate(names)
    }
    default = {r.metric for r in compare([row], latest)}
    assert default == set(row.published)  # box AP, mask AP, params, FLOPs: no AP50 ... AR
    everything = {r.metric for r in compare([row], latest, details=True)}
    assert everything == set(row.published) | set(names)
