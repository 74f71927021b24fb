"""Where each dataset is looked for, and the checks that fail early with the path that was missing.

Resolution order: `--data-root PATH` (the dataset directory itself), else `$VZOO_DATA/<name>`
(a directory holding coco/, imagenet/, ade/), else `data/<name>` under the working directory,
as in mmdet / mmseg.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vzoo import settings
from vzoo.core.errors import UserInputError, quote, shorten
from vzoo.core.tasks import dataset_dirs

# the files of an ImageNet class folder the classifiers' loader reads as images
IMAGE_SUFFIXES = (".jpeg", ".jpg", ".png")


@dataclass(frozen=True)
class CocoLayout:
    root: Path
    ann_file: Path
    img_dir: Path


@dataclass(frozen=True)
class ImageNetLayout:
    root: Path
    val_dir: Path  # ImageFolder: val/<wnid>/<image>


@dataclass(frozen=True)
class Ade20kLayout:
    root: Path
    img_dir: Path
    ann_dir: Path


def resolve_root(dataset: str, explicit: str | Path | None) -> Path:
    if explicit is not None:
        return Path(explicit).expanduser()
    sub = dataset_dirs()[dataset]  # each task's `dataset_dir`
    data_dir = settings.data_dir()
    if data_dir is not None:
        return data_dir / sub
    return Path("data") / sub


def _require(path: Path, what: str, hint: str) -> None:
    if not path.exists():
        raise UserInputError(f"{what} not found: looked for {path.resolve()} ({hint})")


def _require_dir(path: Path, what: str, hint: str) -> None:
    if not path.is_dir():
        raise UserInputError(f"{what} {path} is a file, not a directory ({hint})")


def coco_layout(
    root: Path, ann_file: str | None = None, *, read_annotations: bool = True
) -> CocoLayout:
    """The COCO val layout under `root`; `read_annotations=False` skips parsing the (450 MB)
    annotation file and checks only that it is there."""
    hint = "pass --data-root DIR holding annotations/ and val2017/, or set VZOO_DATA"
    _require(root, "COCO dataset", hint)
    ann = Path(ann_file) if ann_file else root / "annotations" / "instances_val2017.json"
    _require(ann, "COCO annotation file", hint + "; --ann-file to override")
    if not ann.is_file():  # a directory, /dev/zero, a pipe: never read as JSON
        raise UserInputError(f"COCO annotation file {ann} is not a regular file: {hint}")
    img_dir = root / "val2017"
    _require(img_dir, "COCO image directory", hint)
    _require_dir(img_dir, "COCO image directory", hint)
    if read_annotations:
        _check_coco_json(ann, img_dir)
    return CocoLayout(root=root, ann_file=ann, img_dir=img_dir)


def _check_coco_json(ann: Path, img_dir: Path) -> None:
    """A wrong file (captions, a broken download, an empty or hand-edited split) fails here with
    what is wrong, not deep inside mmdet or the scorer."""
    import json

    fix = "use annotations/instances_val2017.json (or --ann-file FILE)"
    try:
        with ann.open("rb") as f:
            head = json.load(f)
    except (OSError, ValueError) as e:
        raise UserInputError(f"COCO annotation file {ann} is not valid JSON: {e}") from None
    if not isinstance(head, dict):
        raise UserInputError(
            f"{ann} is not a COCO instances file (its JSON is {_json_kind(head)}, "
            f"not an object): {fix}"
        )
    missing = [k for k in ("images", "annotations", "categories") if k not in head]
    if missing:
        raise UserInputError(f"{ann} is not a COCO instances file (no {', '.join(missing)}): {fix}")
    for key, fields in (
        ("annotations", ("id", "image_id", "category_id", "bbox")),
        ("images", ("id", "file_name", "height", "width")),
        ("categories", ("id", "name")),
    ):
        entries = head[key]
        if not isinstance(entries, list):
            raise UserInputError(f"{ann}: '{key}' must be a list: {fix}")
        if not entries:
            raise UserInputError(f"{ann}: '{key}' is empty, there is nothing to evaluate: {fix}")
        for i, entry in enumerate(entries):
            if not isinstance(entry, dict):
                raise UserInputError(
                    f"{ann}: {key}[{i}] is {_json_kind(entry)}, not an object: {fix}"
                )
            absent = [k for k in fields if k not in entry]
            if "bbox" in absent:
                raise UserInputError(f"{ann} has no boxes ({key}[{i}] has no bbox): {fix}")
            if absent:
                raise UserInputError(f"{ann}: {key}[{i}] has no {', '.join(absent)}: {fix}")
    # every listed image must be there: mmdet would stop at the first missing one mid-run
    names = [str(im["file_name"]) for im in head["images"]]
    absent_images = [n for n in names if not (img_dir / n).is_file()]
    if absent_images:
        raise UserInputError(
            f"{len(absent_images)} of {len(head['images'])} images listed in {ann} are missing "
            f"from {img_dir} (first: {shorten(absent_images[0])}): copy them there or fix "
            "--data-root"
        )
    _check_boxes_and_categories(ann, head, fix)
    check_images([img_dir / n for n in names], img_dir)


def _check_boxes_and_categories(ann: Path, head: dict[str, Any], fix: str) -> None:
    """Boxes of four finite numbers with a non-negative size, each of a listed category: a NaN
    box or an unknown category id scores 0.0 without a word, stored as if measured."""
    known = {c["id"] for c in head["categories"]}
    for i, a in enumerate(head["annotations"]):
        box = a["bbox"]
        if not (
            isinstance(box, list)
            and len(box) == 4
            and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in box)
            and all(math.isfinite(v) for v in box)
            and box[2] >= 0
            and box[3] >= 0
        ):
            raise UserInputError(
                f"{ann}: annotations[{i}].bbox is {quote(box)}, not [x, y, width, height] "
                f"finite numbers with width, height >= 0: {fix}"
            )
        if a["category_id"] not in known:
            raise UserInputError(
                f"{ann}: annotations[{i}].category_id {quote(a['category_id'])} is not one of "
                f"the file's {len(known)} categories: {fix}"
            )


# The first bytes of the image formats OpenCV reads (JPEG, PNG, BMP, TIFF, WebP, GIF).
_IMAGE_MAGIC = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"BM", b"II*\x00", b"MM\x00*", b"GIF8")


def _is_image_header(head: bytes) -> bool:
    return head.startswith(_IMAGE_MAGIC) or (head[:4] == b"RIFF" and head[8:12] == b"WEBP")


def check_images(paths: list[Path], where: Path) -> None:
    """Every file an image by its header (not empty, not a text or HTML file saved as .jpg):
    a dataset is checked before a model is built, not found broken mid-run. Reads 12 bytes per
    file, so a 50,000-image split costs seconds, not a decode of each."""
    bad: list[tuple[Path, str]] = []
    for p in paths:
        try:
            with open(p, "rb") as f:
                head = f.read(12)
        except OSError as e:
            bad.append((p, e.strerror or "unreadable"))
            continue
        if not head:
            bad.append((p, "0 bytes"))
        elif not _is_image_header(head):
            bad.append((p, "not an image"))
    if bad:
        first, why = bad[0]
        raise UserInputError(
            f"{len(bad)} of {len(paths)} images in {where} are not readable images (first: "
            f"{shorten(str(first.relative_to(where)))}: {why}): replace them with the dataset's "
            "own files, or fix --data-root"
        )


def _json_kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    return "a string" if isinstance(value, str) else "an array"


def imagenet_layout(root: Path) -> ImageNetLayout:
    hint = "pass --data-root DIR holding val/<wnid>/*.JPEG (ImageFolder), or set VZOO_DATA"
    _require(root, "ImageNet dataset", hint)
    val = root / "val"
    _require(val, "ImageNet val directory", hint)
    _require_dir(val, "ImageNet val directory", hint)
    classes = sorted(d for d in val.iterdir() if d.is_dir())
    if len(classes) == 0:
        raise UserInputError(f"ImageNet val directory {val} holds no class folders ({hint})")
    images: list[Path] = []
    for d in classes:
        files = [p for p in d.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES]
        if not files:  # a class without images: its accuracy term would be silently absent
            raise UserInputError(
                f"ImageNet class folder {d} holds no images ({', '.join(IMAGE_SUFFIXES)}): "
                f"every class of {val} needs its validation images ({hint})"
            )
        images += files
    check_images(images, val)
    return ImageNetLayout(root=root, val_dir=val)


def ade20k_layout(root: Path) -> Ade20kLayout:
    hint = (
        "pass --data-root DIR (ADEChallengeData2016) holding images/validation and "
        "annotations/validation, or set VZOO_DATA"
    )
    _require(root, "ADE20K dataset", hint)
    img, ann = root / "images" / "validation", root / "annotations" / "validation"
    _require(img, "ADE20K image directory", hint)
    _require(ann, "ADE20K annotation directory", hint)
    return Ade20kLayout(root=root, img_dir=img, ann_dir=ann)


def tree_fingerprint(root: Path) -> str:
    """sha256 over the relative paths and sizes of every file (cheap: no content reads)."""
    h = hashlib.sha256()
    for p in sorted(root.rglob("*")):
        if p.is_file():
            h.update(f"{p.relative_to(root)}\0{p.stat().st_size}\n".encode())
    return h.hexdigest()
