"""`vzoo predict`: a detection row on a synthetic picture through mmdet's inferencer/visualiser."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest


@pytest.fixture
def picture(tmp_path: Path) -> tuple[Path, np.ndarray]:
    import cv2

    rng = np.random.default_rng(0)
    img = np.zeros((240, 320, 3), np.uint8)
    img[40:200, 60:260] = rng.integers(0, 255, (160, 200, 3), dtype=np.uint8)
    path = tmp_path / "in.png"
    cv2.imwrite(str(path), img)
    return path, img


def test_detection_row_draws_boxes_and_masks(
    cli, tmp_path: Path, picture: tuple[Path, np.ndarray]
) -> None:
    import cv2

    path, img = picture
    out = tmp_path / "drawn.png"
    code, stdout, err = cli("predict", "msvmamba-micro-1x", str(path), "--out",
        str(out), "--random-init", "--score-thr", "0", "--cfg-options",
        "test_dataloader.dataset.pipeline.1.scale=(256,256)")  # fmt: skip
    assert code == 0, err
    assert f"wrote {out}" in err
    drawn = cv2.imread(str(out))
    assert drawn is not None and drawn.shape == img.shape  # a valid image of the input's size
    count = int(re.match(r"(\d+) detections with score >= 0", stdout).group(1))  # type: ignore[union-attr]
    assert count > 0
    boxes = [[int(v) for v in b.split(", ")] for b in re.findall(r"\[([\d, ]+)\]", stdout)]
    changed = np.abs(drawn.astype(int) - img.astype(int)).sum(-1) > 0
    x1, y1, x2, y2 = boxes[0]  # the best box's outline is drawn where the model put it
    edge = changed[max(y1, 0) : y2 + 1, max(x1, 0) : x2 + 1]
    assert edge.mean() > 0.2
    assert not list(tmp_path.glob(".*.tmp"))  # written atomically


def test_bad_input_exits_2_with_one_line(
    cli, tmp_path: Path, picture: tuple[Path, np.ndarray]
) -> None:
    path, _ = picture
    out = str(tmp_path / "o.png")
    code, _, err = cli("predict", "msvmamba-micro-1x", str(tmp_path / "no.png"), "--out", out)
    assert code == 2 and "image not found" in err and len(err.strip().splitlines()) == 1
    code, _, err = cli("predict", "msvmamba-micro-9x", str(path), "--out", out)
    assert code == 2 and "unknown row id 'msvmamba-micro-9x'" in err
    text = tmp_path / "notes.png"
    text.write_text("not a picture")
    code, _, err = cli("predict", "msvmamba-micro-1x", str(text), "--out", out)
    assert code == 2 and "not an image" in err
    code, _, err = cli("predict", "msvmamba-micro-1x", str(path), "--out", "o.txt")
    assert code == 2 and "--out o.txt" in err
    assert not (tmp_path / "o.png").exists()


def test_classifier_prints_imagenet_class_names_and_probabilities(
    cli, tmp_path: Path, picture: tuple[Path, np.ndarray]
) -> None:
    from vzoo.evaluation.classification import imagenet_class_names

    names = imagenet_class_names()
    assert len(names) == 1000 and len(set(names)) == 999  # "maillot" is two ILSVRC classes
    assert names[0] == "tench, Tinca tinca"
    assert names[999] == "toilet tissue, toilet paper, bathroom tissue"
    path, _ = picture
    out = tmp_path / "drawn.png"
    code, stdout, err = cli(
        "predict", "msvmamba-nano", str(path), "--out", str(out), "--random-init"
    )
    assert code == 0, err
    lines = stdout.splitlines()
    assert lines[0] == "top-5 (probability, ImageNet class):" and len(lines) == 6
    probs = []
    for line in lines[1:]:
        m = re.fullmatch(r"  (0\.\d{3})  (.+) \(class (\d+)\)", line)
        assert m, line  # a probability as printed (0.002, not 0.2 or 2.4) and the class's name
        probs.append(float(m.group(1)))
        assert m.group(2) == names[int(m.group(3))]
    assert probs == sorted(probs, reverse=True) and sum(probs) <= 1.0


def test_detections_are_drawn_with_scores_as_printed() -> None:
    """mmdet's visualiser writes a prediction's score x100 ("person: 2.5"); vzoo draws the label
    it prints ("person 0.025"), with the same boxes and masks."""
    import torch
    from mmengine.structures import InstanceData

    from vzoo.evaluation.predict import _drawn_as_printed

    kept = InstanceData(
        bboxes=torch.tensor([[1.0, 2.0, 30.0, 40.0], [5.0, 5.0, 9.0, 9.0]]),
        labels=torch.tensor([0, 2]),
        scores=torch.tensor([0.025, 0.5]),
        masks=torch.zeros(2, 48, 48, dtype=torch.bool),
    )
    drawn = _drawn_as_printed(kept, ("person", "bicycle", "car"))
    assert list(drawn.gt_instances.label_names) == ["person 0.025", "car 0.500"]
    assert "scores" not in drawn.gt_instances  # nothing for the visualiser to append x100
    assert torch.equal(drawn.gt_instances.bboxes, kept.bboxes)
    assert torch.equal(drawn.gt_instances.masks, kept.masks)
