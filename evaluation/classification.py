"""ImageNet-1K top-1 / top-5 of a classifier row, with each paper's own test preprocessing.

Single process, or one process per GPU under torchrun (`--launcher pytorch`): each rank scores a
shard (DistributedSampler) and rank 0 gathers per-image results, de-duplicating the sampler's
padding so every val image counts exactly once.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vzoo.core.cards import Preprocess, find_card
from vzoo.core.registry import Row
from vzoo.evaluation import datasets
from vzoo.evaluation.datasets import IMAGE_SUFFIXES, ImageNetLayout
from vzoo.evaluation.distributed import ImagesDone

if TYPE_CHECKING:
    from vzoo.evaluation.runner import RowRun


@functools.cache
def imagenet_class_names() -> tuple[str, ...]:
    """ImageNet-1K class names by class index (WordNet lemmas, e.g. "tench, Tinca tinca"),
    shipped as package data: no installed library carries them (torchvision and timm do, but
    neither is a dependency)."""
    text = (Path(__file__).parent / "imagenet_classes.tsv").read_text(encoding="utf-8")
    rows = [line.split("\t") for line in text.splitlines() if line and not line.startswith("#")]
    return tuple(lemmas for _index, _wnid, lemmas in rows)


def preprocess_for(row: Row) -> Preprocess:
    """The row's eval transform, as its family card declares it (the Swin/timm one otherwise)."""
    card = find_card(row.family)
    return card.preprocess_for(row.arch) if card is not None else Preprocess()


class ImageFolderVal:
    """`val/<class>/<image>`; class index = position of the folder in sorted order (as ImageNet)."""

    def __init__(self, root: Path, pre: Preprocess) -> None:
        self.classes = sorted(d.name for d in root.iterdir() if d.is_dir())
        self.samples = [
            (p, i)
            for i, c in enumerate(self.classes)
            for p in sorted((root / c).iterdir())
            if p.suffix.lower() in IMAGE_SUFFIXES
        ]
        self.pre = pre

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> tuple[Any, int, int]:
        path, label = self.samples[index]
        return load_image(path, self.pre), label, index


def load_image(path: Path, pre: Preprocess) -> Any:
    import numpy as np
    import torch
    from PIL import Image

    resample = {"bicubic": Image.BICUBIC, "bilinear": Image.BILINEAR}[pre.interpolation]
    img = Image.open(path).convert("RGB")
    scale_size = int(pre.size / pre.crop_pct)  # short side, as timm / torchvision Resize(int)
    w, h = img.size
    if w <= h:
        nw, nh = scale_size, int(scale_size * h / w)
    else:
        nw, nh = int(scale_size * w / h), scale_size
    img = img.resize((nw, nh), resample)
    left, top = round((nw - pre.size) / 2.0), round((nh - pre.size) / 2.0)
    img = img.crop((left, top, left + pre.size, top + pre.size))
    x = torch.from_numpy(np.asarray(img, dtype=np.float32) / 255.0).permute(2, 0, 1)
    mean = torch.tensor(pre.mean).view(3, 1, 1)
    std = torch.tensor(pre.std).view(3, 1, 1)
    return (x - mean) / std


@dataclass(frozen=True)
class ClassificationOutcome:
    metrics: dict[str, float]  # top1, top5 in percent
    num_images: int
    is_main_process: bool


def run_classification(
    row: Row,
    data: ImageNetLayout,
    state_dict: dict[str, Any] | None,
    *,
    batch_size: int = 64,
    num_workers: int = 2,
    launcher: str = "none",
    device: str | None = None,
    seed: int | None = None,
    images_done: ImagesDone | None = None,
) -> ClassificationOutcome:
    """`seed`: for random-init runs (no `state_dict`), the seed the model is initialised with;
    `images_done`: progress after each batch (main process; scaled by the processes, which each
    do ~1/N of the images in step)."""
    import torch
    import torch.distributed as dist
    from torch.utils.data import DataLoader
    from torch.utils.data.distributed import DistributedSampler

    from vzoo.zoo.checkpoint import load_state_dict_strict
    from vzoo.zoo.row_models import build_row_model

    distributed = launcher != "none"
    if distributed:
        from vzoo.evaluation.distributed import init_distributed

        init_distributed(launcher)  # torchrun / srun environment -> process group (NCCL / gloo)
    rank = dist.get_rank() if distributed else 0
    dev = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    if dev.type == "cuda" and distributed:
        dev = torch.device("cuda", torch.cuda.current_device())
    if seed is not None:
        torch.manual_seed(seed)
    model = build_row_model(row)
    if state_dict is not None:
        load_state_dict_strict(model, state_dict, source=f"checkpoint of {row.id}")
    model.eval().to(dev)
    dataset = ImageFolderVal(data.val_dir, preprocess_for(row))
    sampler = DistributedSampler(dataset, shuffle=False) if distributed else None
    loader = DataLoader(
        dataset, batch_size=batch_size, sampler=sampler, num_workers=num_workers, shuffle=False
    )
    per_image: dict[int, tuple[bool, bool]] = {}
    report = images_done if rank == 0 else None
    processes = dist.get_world_size() if distributed else 1
    if report is not None:
        report(0, len(dataset))
    with torch.inference_mode():
        for images, labels, indices in loader:
            logits = model(images.to(dev))
            top5 = logits.topk(min(5, logits.shape[1]), dim=1).indices.cpu()
            for idx, label, pred in zip(
                indices.tolist(), labels.tolist(), top5.tolist(), strict=True
            ):
                per_image[idx] = (pred[0] == label, label in pred)
            if report is not None:
                report(min(len(dataset), len(per_image) * processes), len(dataset))
    if distributed:
        gathered: list[Any] = [None] * dist.get_world_size()
        dist.all_gather_object(gathered, per_image)
        for part in gathered:
            per_image.update(part)
    n = len(per_image)
    top1 = 100.0 * sum(a for a, _ in per_image.values()) / max(n, 1)
    top5 = 100.0 * sum(b for _, b in per_image.values()) / max(n, 1)
    return ClassificationOutcome({"top1": top1, "top5": top5}, n, is_main_process=rank == 0)


# ------------------------------------------------ the task's evaluation protocol (core/tasks.py)
def find_data(root: Path, ann_file: str | None = None, *, quick: bool = False) -> ImageNetLayout:
    """ImageNet's val folder under `root` (no annotation file: the folders are the labels)."""
    return datasets.imagenet_layout(root)


def data_fingerprint(layout: ImageNetLayout) -> str:
    """The val tree's fingerprint, as stored with each result."""
    return "imagenet:" + datasets.tree_fingerprint(layout.val_dir)[:16]


def measured_metrics(row: Row, tta: bool) -> tuple[str, ...]:
    """Top-1 and top-5, in percent (there is no test-time augmentation)."""
    return ("top1", "top5")


def check_installed() -> None:
    """Nothing beyond vzoo's own requirements."""


def evaluate(run: RowRun) -> tuple[dict[str, float], bool]:
    """One classifier row's top-1/top-5; (metrics, is_main_process)."""
    options = run.options
    out = run_classification(
        run.row, run.layout, run.state_dict, batch_size=options.batch_size or 64,
        num_workers=options.num_workers, launcher=options.launcher, seed=run.seed,
        images_done=run.images_done,
    )  # fmt: skip
    return out.metrics, out.is_main_process
