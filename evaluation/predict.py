"""`vzoo predict`: one picture through a row's model, drawn by mmdet's / mmseg's own visualiser.

The model comes from the same place as `vzoo eval`'s: the row's config
(`vzoo.zoo.row_models.row_config`, with `--cfg-options`), the weights from `--checkpoint` or the
download cache, loaded strictly (mmdet-2 key names mapped as eval maps them). Detection rows run
through mmdet's `init_detector` / `inference_detector` and `DetLocalVisualizer`; ADE20K rows through
mmseg's `init_model` / `inference_model` and `SegLocalVisualizer`; classifiers print their top-5 and
write the image with the top class written on it. The output image is written atomically, at the
input's size."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vzoo.core.errors import UserInputError
from vzoo.core.files import check_writable_file, write_bytes_atomic
from vzoo.core.registry import Row
from vzoo.core.tasks import get_task

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff")


@dataclass
class PredictOptions:
    checkpoint: Path | None = None
    random_init: bool = False  # plumbing test: the model's init, no weights
    offline: bool = False
    score_thr: float = 0.3  # detections drawn: at least this score (mmdet demo's default)
    device: str = "cpu"
    cfg_options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Prediction:
    row_id: str
    out_file: Path
    lines: list[str]  # what to print: detections / top-5 / classes present


def read_image(path: Path) -> Any:
    """The image as an RGB uint8 array; a missing or unreadable file is the user's input."""
    import mmcv

    if not path.is_file():
        raise UserInputError(f"image not found: {path}")
    try:
        img = mmcv.imread(str(path), channel_order="rgb")
    except Exception:
        img = None
    if img is None:
        raise UserInputError(f"{path} is not an image OpenCV can read (png, jpg, bmp, webp, tiff)")
    return img


def check_out(out: Path) -> None:
    """`--out` must be an image file name that can be written (not a directory): before any
    inference."""
    if out.suffix.lower() not in IMAGE_SUFFIXES:
        raise UserInputError(f"--out {out}: give an image file name ({', '.join(IMAGE_SUFFIXES)})")
    check_writable_file(out, "--out")


def write_image(out: Path, rgb: Any) -> None:
    import cv2

    ok, data = cv2.imencode(out.suffix.lower(), rgb[..., ::-1].copy())
    if not ok:
        raise UserInputError(f"--out {out}: OpenCV cannot write {out.suffix} files")
    write_bytes_atomic(out, data.tobytes())


def load_state(row: Row, options: PredictOptions) -> dict[str, Any] | None:
    """The row's weights exactly as `vzoo eval` gets them (None with --random-init)."""
    if options.random_init:
        return None
    from vzoo.evaluation.pretrained import row_state_dict

    return row_state_dict(row, checkpoint=options.checkpoint, offline=options.offline)


def predict(row: Row, image: Path, out: Path, options: PredictOptions) -> Prediction:
    check_out(out)
    img = read_image(image)
    # how a model's output is drawn follows the library that built it, whatever the task
    library = get_task(row.task).model_library
    if library == "mmdet":
        return _detect(row, img, out, options)
    if library == "mmseg":
        return _segment(row, img, out, options)
    if library is None:
        return _classify(row, image, img, out, options)
    raise UserInputError(f"{row.id}: vzoo predict draws classifiers, mmdet and mmseg models only")


# --------------------------------------------------------------------------- detection


def _detect(row: Row, img: Any, out: Path, options: PredictOptions) -> Prediction:
    from mmdet.apis import inference_detector, init_detector
    from mmdet.registry import VISUALIZERS
    from mmdet.utils import register_all_modules

    from vzoo.evaluation.pretrained import load_row_weights
    from vzoo.zoo.row_models import row_config

    register_all_modules(init_default_scope=True)
    cfg = row_config(row, options.cfg_options)
    ds = cfg.test_dataloader.dataset
    # a user's picture has no annotations to load (mmdet's DetInferencer drops the step too)
    ds.pipeline = [t for t in ds.pipeline if "LoadAnnotations" not in t["type"]]
    _lower_score_thr(cfg.model.get("test_cfg"), options.score_thr)
    state = load_state(row, options)
    model = init_detector(cfg, checkpoint=None, device=options.device)
    if state is not None:
        load_row_weights(model, row, state)
    result = inference_detector(model, img[..., ::-1].copy())  # mmdet takes BGR arrays
    pred = result.pred_instances
    keep = pred.scores >= options.score_thr
    classes = model.dataset_meta.get("classes") or ()
    visualizer = VISUALIZERS.build({**cfg.visualizer, "name": f"vzoo-predict-{uuid.uuid4()}"})
    visualizer.dataset_meta = model.dataset_meta
    visualizer.add_datasample(
        "prediction", img, data_sample=_drawn_as_printed(pred[keep], classes), draw_gt=True,
        draw_pred=False, show=False,
    )  # fmt: skip
    write_image(out, visualizer.get_image())
    lines = [f"{int(keep.sum())} detections with score >= {options.score_thr:g}"]
    order = pred.scores[keep].argsort(descending=True)[:10]
    for i in order.tolist():
        label = int(pred.labels[keep][i])
        name = classes[label] if label < len(classes) else str(label)
        box = ", ".join(f"{v:.0f}" for v in pred.bboxes[keep][i].tolist())
        lines.append(f"  {name} {float(pred.scores[keep][i]):.3f} [{box}]")
    return Prediction(row.id, out, lines)


def _drawn_as_printed(kept: Any, classes: tuple[str, ...]) -> Any:
    """The kept detections labelled as printed ("person 0.025"): mmdet's visualiser writes a
    prediction's score x100 ("person: 2.5"), so they are drawn through its annotation path,
    which writes the given label names as they are (same boxes, masks and colours)."""
    from mmdet.structures import DetDataSample
    from mmengine.structures import InstanceData

    names = [
        f"{classes[int(label)] if int(label) < len(classes) else label} {float(score):.3f}"
        for label, score in zip(kept.labels, kept.scores, strict=True)
    ]
    fields = {k: kept.get(k) for k in ("bboxes", "labels", "masks") if k in kept}
    sample = DetDataSample()
    sample.gt_instances = InstanceData(**fields, label_names=names)
    return sample


def _lower_score_thr(test_cfg: Any, score_thr: float) -> None:
    """The model's own test threshold down to the drawing one, so what is asked for is kept."""
    if not test_cfg:
        return
    for part in (test_cfg.get("rcnn"), test_cfg):
        if part and part.get("score_thr") is not None and part["score_thr"] > score_thr:
            part["score_thr"] = score_thr


# --------------------------------------------------------------------------- segmentation


def _segment(row: Row, img: Any, out: Path, options: PredictOptions) -> Prediction:
    from vzoo.evaluation.segmentation import require_mmseg

    require_mmseg()
    import numpy as np
    from mmseg.apis import inference_model, init_model
    from mmseg.datasets import ADE20KDataset
    from mmseg.registry import VISUALIZERS
    from mmseg.utils import register_all_modules

    from vzoo.evaluation.pretrained import load_row_weights
    from vzoo.zoo.row_models import row_config

    register_all_modules(init_default_scope=True)
    cfg = row_config(row, options.cfg_options)
    ds = cfg.test_dataloader.dataset
    ds.pipeline = [t for t in ds.pipeline if "LoadAnnotations" not in t["type"]]
    state = load_state(row, options)
    model = init_model(cfg, checkpoint=None, device=options.device)
    if state is not None:
        load_row_weights(model, row, state)
    model.dataset_meta = dict(ADE20KDataset.METAINFO)
    result = inference_model(model, img[..., ::-1].copy())
    visualizer = VISUALIZERS.build({**cfg.visualizer, "name": f"vzoo-predict-{uuid.uuid4()}"})
    visualizer.dataset_meta = model.dataset_meta
    visualizer.add_datasample(
        "prediction", img, data_sample=result, draw_gt=False, show=False, with_labels=False
    )
    write_image(out, visualizer.get_image())
    seg = result.pred_sem_seg.data.cpu().numpy().ravel()
    counts = np.bincount(seg, minlength=len(model.dataset_meta["classes"]))
    classes = model.dataset_meta["classes"]
    top = counts.argsort()[::-1][:5]
    lines = [f"{int((counts > 0).sum())} classes present; largest:"]
    lines += [f"  {classes[i]} {100 * counts[i] / seg.size:.1f}%" for i in top if counts[i]]
    return Prediction(row.id, out, lines)


# --------------------------------------------------------------------------- classification


def _classify(row: Row, image: Path, img: Any, out: Path, options: PredictOptions) -> Prediction:
    import torch
    from PIL import Image, ImageDraw

    from vzoo.evaluation.classification import imagenet_class_names, load_image, preprocess_for
    from vzoo.evaluation.pretrained import pretrained_model

    model = pretrained_model(
        row,
        pretrained=not options.random_init,
        checkpoint=options.checkpoint,
        offline=options.offline,
    ).to(options.device)
    x = load_image(image, preprocess_for(row)).unsqueeze(0).to(options.device)  # eval's transform
    with torch.inference_mode():
        probs = model(x).softmax(-1)[0].float().cpu()
    top = probs.topk(5)
    names = imagenet_class_names() if len(probs) == 1000 else ()
    lines = [
        f"  {float(p):.3f}  {_class_label(int(i), names)}"
        for p, i in zip(top.values, top.indices, strict=True)
    ]
    pil = Image.fromarray(img)
    draw = ImageDraw.Draw(pil)
    # drawn as printed: the first lemma and the same 3-decimal probability
    best = int(top.indices[0])
    first = names[best].split(",")[0] if names else f"class {best}"
    label = f"{first} {float(top.values[0]):.3f}"
    draw.rectangle((0, 0, 8 + 7 * len(label), 18), fill=(0, 0, 0))
    draw.text((4, 3), label, fill=(255, 255, 255))
    import numpy as np

    write_image(out, np.asarray(pil))
    return Prediction(row.id, out, ["top-5 (probability, ImageNet class):", *lines])


def _class_label(index: int, names: tuple[str, ...]) -> str:
    return f"{names[index]} (class {index})" if names else f"class {index}"
