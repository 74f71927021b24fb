"""Small synthetic datasets in the real on-disk formats, so evaluation runs end to end here.

`write_synthetic_coco` writes images with drawn objects plus COCO instance annotations (polygons,
boxes, areas) that mmdet's `CocoDataset` reads unchanged; `write_synthetic_imagenet` writes an
ImageFolder `val/` split.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from vzoo.core.errors import UserInputError
from vzoo.core.files import write_bytes_atomic, write_text_atomic

# The 80 COCO categories with their official (non-contiguous) ids, as in instances_val2017.json.
COCO_CATEGORY_IDS = [
    1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 27, 28,
    31, 32, 33, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44, 46, 47, 48, 49, 50, 51, 52, 53, 54, 55,
    56, 57, 58, 59, 60, 61, 62, 63, 64, 65, 67, 70, 72, 73, 74, 75, 76, 77, 78, 79, 80, 81, 82, 84,
    85, 86, 87, 88, 89, 90,
]  # fmt: skip


def check_not_overwriting(root: str | Path, kind: str, force: bool) -> None:
    """`vzoo data synth-*` onto a directory that already holds a dataset (a real one, maybe)
    would overwrite its annotations and images: refused unless `force`. `kind`: coco|imagenet."""
    root = Path(root)
    present = [
        root / p
        for p in (("annotations/instances_val2017.json", "val2017") if kind == "coco" else ("val",))
        if (root / p).is_file() or ((root / p).is_dir() and any((root / p).iterdir()))
    ]
    if present and not force:
        raise UserInputError(
            f"{root} already holds a dataset ({present[0]}): writing the synthetic one would "
            "overwrite it; choose another directory, or pass --force to overwrite"
        )


def coco_categories() -> list[dict[str, object]]:
    from mmdet.datasets import CocoDataset

    names = CocoDataset.METAINFO["classes"]
    return [
        {"id": i, "name": n, "supercategory": "object"}
        for i, n in zip(COCO_CATEGORY_IDS, names, strict=True)
    ]


def _polygon(kind: int, cx: float, cy: float, rx: float, ry: float) -> list[float]:
    """A rectangle, an ellipse or a triangle as a flat [x0, y0, x1, y1, ...] polygon."""
    if kind == 0:
        pts = [(cx - rx, cy - ry), (cx + rx, cy - ry), (cx + rx, cy + ry), (cx - rx, cy + ry)]
    elif kind == 1:
        pts = [
            (cx + rx * math.cos(t), cy + ry * math.sin(t))
            for t in np.linspace(0, 2 * math.pi, 24, endpoint=False)
        ]
    else:
        pts = [(cx, cy - ry), (cx + rx, cy + ry), (cx - rx, cy + ry)]
    return [round(float(v), 2) for p in pts for v in p]


def _write_image(path: Path, image: np.ndarray) -> None:
    """Encode by the suffix and write atomically: cv2.imwrite reports a failed write only by
    returning False, which would leave a dataset with images silently missing."""
    import cv2

    ok, buf = cv2.imencode(path.suffix, image)
    if not ok:
        raise ValueError(f"cv2 cannot encode {path.suffix} images")
    write_bytes_atomic(path, buf.tobytes())


def write_synthetic_coco(
    root: str | Path,
    images: int = 8,
    *,
    seed: int = 0,
    size: tuple[int, int] = (480, 640),
    max_objects: int = 4,
    num_classes: int = 5,
) -> Path:
    """Write `root/val2017/*.jpg` and `root/annotations/instances_val2017.json`; returns root."""
    import cv2
    from pycocotools import mask as mask_utils

    root = Path(root)
    img_dir = root / "val2017"
    img_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    cats = coco_categories()
    h, w = size
    out_images, out_anns = [], []
    ann_id = 1
    for i in range(images):
        img_id = i + 1
        canvas = np.full((h, w, 3), rng.integers(0, 80), dtype=np.uint8)
        canvas += rng.integers(0, 30, size=(h, w, 3), dtype=np.uint8)  # texture
        for _ in range(int(rng.integers(1, max_objects + 1))):
            cat = cats[int(rng.integers(0, num_classes))]
            kind = int(cat["id"]) % 3
            rx, ry = float(rng.uniform(20, w / 5)), float(rng.uniform(20, h / 5))
            cx, cy = float(rng.uniform(rx, w - rx)), float(rng.uniform(ry, h - ry))
            poly = _polygon(kind, cx, cy, rx, ry)
            color = tuple(int(c) for c in rng.integers(120, 256, size=3))
            pts = np.array(poly, dtype=np.float64).reshape(-1, 2).round().astype(np.int32)
            cv2.fillPoly(canvas, [pts], color)
            rle = mask_utils.frPyObjects([poly], h, w)
            area = float(mask_utils.area(mask_utils.merge(rle)))
            xs, ys = poly[0::2], poly[1::2]
            bbox = [min(xs), min(ys), max(xs) - min(xs), max(ys) - min(ys)]
            out_anns.append(
                {
                    "id": ann_id,
                    "image_id": img_id,
                    "category_id": cat["id"],
                    "segmentation": [poly],
                    "area": area,
                    "bbox": [round(v, 2) for v in bbox],
                    "iscrowd": 0,
                }
            )
            ann_id += 1
        name = f"{img_id:012d}.jpg"
        _write_image(img_dir / name, canvas)
        out_images.append({"id": img_id, "file_name": name, "height": h, "width": w})
    doc = {
        "info": {"description": "vzoo synthetic COCO-format set", "version": "1.0"},
        "licenses": [],
        "images": out_images,
        "annotations": out_anns,
        "categories": cats,
    }
    write_text_atomic(root / "annotations" / "instances_val2017.json", json.dumps(doc))
    return root


def write_synthetic_imagenet(
    root: str | Path, *, classes: int = 4, per_class: int = 2, seed: int = 0, size: int = 256
) -> Path:
    """Write an ImageFolder split `root/val/<wnid>/*.JPEG` with the first `classes` class ids."""

    root = Path(root)
    rng = np.random.default_rng(seed)
    for c in range(classes):
        d = root / "val" / f"n{c:08d}"
        d.mkdir(parents=True, exist_ok=True)
        for j in range(per_class):
            img = rng.integers(0, 256, size=(size, size + 37, 3), dtype=np.uint8)
            _write_image(d / f"img_{c}_{j}.JPEG", img)
    return root


def write_synthetic_ade20k(
    root: str | Path, images: int = 2, *, seed: int = 0, size: tuple[int, int] = (96, 128)
) -> Path:
    """Write `root/images/validation/*.jpg` + `root/annotations/validation/*.png` (ADE20K layout:
    label 0 = "other", 1..150 the classes, which mmseg shifts with reduce_zero_label)."""

    root = Path(root)
    img_dir = root / "images" / "validation"
    ann_dir = root / "annotations" / "validation"
    img_dir.mkdir(parents=True, exist_ok=True)
    ann_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    h, w = size
    for i in range(images):
        label = np.zeros((h, w), dtype=np.uint8)
        img = rng.integers(0, 60, size=(h, w, 3), dtype=np.uint8)
        for _ in range(3):
            cls = int(rng.integers(1, 151))
            y0, x0 = int(rng.integers(0, h // 2)), int(rng.integers(0, w // 2))
            y1, x1 = y0 + int(rng.integers(h // 4, h // 2)), x0 + int(rng.integers(w // 4, w // 2))
            label[y0:y1, x0:x1] = cls
            img[y0:y1, x0:x1] = rng.integers(100, 256, size=3, dtype=np.uint8)
        name = f"ADE_val_{i + 1:08d}"
        _write_image(img_dir / f"{name}.jpg", img)
        _write_image(ann_dir / f"{name}.png", label)
    return root
