"""mmdet's own model index as a row source: `mmdet:<Name>` rows read from the installed wheel.

mmdet ships `mmdet/.mim/model-index.yml`, which imports one `configs/<collection>/metafile.yml`
per collection; each model there has a `Name`, its `Config` (inside the same `.mim` tree), its
`Weights` URL and published results (`box AP`, `mask AP`). Nothing is copied into vzoo: the rows
are built from whatever mmdet is installed, without importing it (no torch at CLI start). This
module reads the index into a row's fields, as plain data; the registry makes them `Row`s (the
registry reads this module, never the other way round).

A curated set (`BASELINES`: the Mask R-CNN baselines every paper in the zoo compares against)
is part of the default registry, flagged `baseline`, so listings, reports and plots show the new
backbones against a reference curve. Every other model is addressable by id and listed by
`vzoo list --source mmdet`.
"""

from __future__ import annotations

import functools
import importlib.util
import re
from pathlib import Path
from typing import Any

import yaml

from vzoo.core.errors import UserInputError

PREFIX = "mmdet:"
SOURCE = "mmdet"
# Config paths of index rows: `mmdet::<path under .mim/configs>` (mmengine's own spelling).
CONFIG_PREFIX = "mmdet::"
# Mask R-CNN R-50 1x and 3x, Swin-T 1x and 3x, Swin-S 3x (the Swin paper's COCO table).
BASELINES = (
    "mask-rcnn_r50_fpn_1x_coco",
    "mask-rcnn_r50_fpn_mstrain-poly_3x_coco",
    "mask-rcnn_swin-t-p4-w7_fpn_1x_coco",
    "mask-rcnn_swin-t-p4-w7_fpn_ms-crop-3x_coco",
    "mask-rcnn_swin-s-p4-w7_fpn_amp-ms-crop-3x_coco",
)
_BASELINE_METAFILES = ("configs/mask_rcnn/metafile.yml", "configs/swin/metafile.yml")
_METRICS = {"box AP": "box_ap", "mask AP": "mask_ap"}
_SCHEDULES = {12: "1x", 24: "2x", 36: "3x"}


def mim_root() -> Path | None:
    """The installed mmdet's `.mim` directory (None when mmdet is not installed)."""
    spec = importlib.util.find_spec("mmdet")  # finds the package without importing it
    if spec is None or not spec.submodule_search_locations:
        return None
    root = Path(next(iter(spec.submodule_search_locations))) / ".mim"
    return root if (root / "model-index.yml").is_file() else None


def config_path(config: str) -> Path:
    """`mmdet::swin/x.py` -> the file in the installed mmdet."""
    root = mim_root()
    if root is None:
        raise UserInputError(f"{config}: mmdet is not installed (pip install mmdet==3.3.0)")
    return root / "configs" / config.removeprefix(CONFIG_PREFIX)


def _load_yaml(path: Path) -> Any:
    return yaml.load(
        path.read_text(encoding="utf-8"), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    )


def _metafiles(root: Path) -> list[Path]:
    index = _load_yaml(root / "model-index.yml") or {}
    return [root / rel for rel in index.get("Import", [])]


def _paper_url(paper: Any) -> str:
    """A metafile's `Paper`: a mapping with `URL`, a list of them, or a bare string."""
    if isinstance(paper, list):
        return next((u for u in map(_paper_url, paper) if u), "")
    if isinstance(paper, dict):
        return str(paper.get("URL") or "")
    return paper if isinstance(paper, str) else ""


def _collection_papers(doc: dict[str, Any]) -> dict[str, str]:
    return {
        c["Name"]: _paper_url(c.get("Paper"))
        for c in doc.get("Collections") or []
        if isinstance(c, dict) and "Name" in c
    }


def _is_url(value: Any) -> bool:
    return isinstance(value, str) and value.startswith(("https://", "http://"))


def _slug(collection: str) -> str:
    """'Mask R-CNN' -> 'mask-rcnn' (vzoo's method names)."""
    return re.sub(r"[^a-z0-9]+", "-", collection.lower().replace("r-cnn", "rcnn")).strip("-")


def _row(model: dict[str, Any], papers: dict[str, str], metafile: str) -> dict[str, Any]:
    """One model's row fields (`weights` and `provenance` as mappings of their fields)."""
    name = model["Name"]
    published: dict[str, float] = {}
    printed: dict[str, str] = {}
    datasets = set()
    for result in model.get("Results") or []:
        if not isinstance(result, dict):
            continue
        datasets.add(result.get("Dataset", ""))
        for key, value in (result.get("Metrics") or {}).items():
            if key in _METRICS and isinstance(value, (int, float)) and value > 0:
                published[_METRICS[key]] = float(value)
                printed[_METRICS[key]] = f"{value}"
    epochs = (model.get("Metadata") or {}).get("Epochs")
    schedule = _SCHEDULES.get(epochs, f"{epochs}e") if isinstance(epochs, int) else None
    collection = model.get("In Collection") or ""
    paper = _paper_url(model.get("Paper")) or papers.get(collection) or ""
    config = model["Config"].removeprefix("configs/")
    weights = model.get("Weights")
    urls = tuple(u for u in (weights if isinstance(weights, list) else [weights]) if _is_url(u))
    return dict(
        id=PREFIX + name,
        family=SOURCE,
        arch=name.split("_")[1] if "_" in name else name,
        task="detection",
        dataset="coco2017" if datasets <= {"COCO"} else ", ".join(sorted(datasets)),
        method=_slug(collection),
        schedule=schedule,
        config=CONFIG_PREFIX + config,
        weights=dict(urls=urls, filename=urls[0].rsplit("/", 1)[-1]) if urls else None,
        pretrain=None,
        published=published,
        flops_input=(3, 1280, 800),
        provenance=dict(
            seed=f"mmdet/.mim/{metafile}",
            repo="open-mmlab/mmdetection",
            paper=paper,
            config=model["Config"],
        ),
        notes=(f"mmdet model index ({metafile}); numbers as published by OpenMMLab",),
        published_printed=printed,
        source=SOURCE,
        baseline=name in BASELINES,
    )


@functools.lru_cache(maxsize=4)
def _read(root: Path, metafiles: tuple[str, ...] | None) -> tuple[dict[str, Any], ...]:
    paths = [root / m for m in metafiles] if metafiles is not None else _metafiles(root)
    rows = []
    for path in paths:
        if not path.is_file():
            continue
        doc = _load_yaml(path) or {}
        papers = _collection_papers(doc)
        rel = str(path.relative_to(root))
        for model in doc.get("Models") or []:
            if (
                isinstance(model, dict)
                and isinstance(model.get("Name"), str)
                and isinstance(model.get("Config"), str)
            ):
                rows.append(_row(model, papers, rel))
    # a few names are listed twice (same model, same config): the first one stands
    first: dict[str, dict[str, Any]] = {}
    for row in rows:
        first.setdefault(row["id"], row)
    return tuple(first.values())


def index_rows() -> list[dict[str, Any]]:
    """Every model of the installed mmdet's index, its row fields ([] without mmdet)."""
    root = mim_root()
    return [] if root is None else list(_read(root, None))


def baseline_rows() -> list[dict[str, Any]]:
    """The curated baselines' row fields, in `BASELINES` order ([] without mmdet)."""
    root = mim_root()
    if root is None:
        return []
    by_name = {r["id"]: r for r in _read(root, _BASELINE_METAFILES)}
    return [by_name[PREFIX + n] for n in BASELINES if PREFIX + n in by_name]


def lookup(row_id: str) -> dict[str, Any] | None:
    """The row fields of the index model `mmdet:<Name>`, or None."""
    if not row_id.startswith(PREFIX):
        return None
    return next((r for r in index_rows() if r["id"] == row_id), None)
