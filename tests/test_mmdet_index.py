"""mmdet's model index as a row source: `mmdet:<Name>` rows read from the installed wheel.

The expected values are read here straight from the installed mmdet's metafiles (with plain
yaml, no vzoo code), so the test follows whichever mmdet is installed.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
import yaml

from vzoo.core import mmdet_index
from vzoo.core.registry import load_registry

MIM = Path(next(iter(importlib.util.find_spec("mmdet").submodule_search_locations))) / ".mim"
SWIN_T_1X = "mmdet:mask-rcnn_swin-t-p4-w7_fpn_1x_coco"
R50_1X = "mmdet:mask-rcnn_r50_fpn_1x_coco"


def _index_names() -> list[str]:
    names = []
    for rel in yaml.safe_load((MIM / "model-index.yml").read_text())["Import"]:
        doc = yaml.safe_load((MIM / rel).read_text()) or {}
        names += [m["Name"] for m in doc.get("Models") or [] if "Config" in m]
    return names


def test_show_gives_the_published_numbers_config_and_weights(cli) -> None:
    code, out, _ = cli("show", SWIN_T_1X, "--format", "json")
    assert code == 0
    row = json.loads(out)
    assert row["published"] == {"box_ap": 42.7, "mask_ap": 39.3}
    assert row["published_printed"] == {"box_ap": "42.7", "mask_ap": "39.3"}
    assert row["baseline"] is True and row["source"] == "mmdet" and row["schedule"] == "1x"
    assert row["method"] == "mask-rcnn" and row["task"] == "detection"
    (url,) = row["weights"]["urls"]
    assert url.startswith("https://download.openmmlab.com/") and url.endswith("-9d6b7cfa.pth")
    # the config is mmdet's own file, in the installed package (no copy in vzoo)
    assert row["config"] == "mmdet::swin/mask-rcnn_swin-t-p4-w7_fpn_1x_coco.py"
    assert mmdet_index.config_path(row["config"]) == (
        MIM / "configs/swin/mask-rcnn_swin-t-p4-w7_fpn_1x_coco.py"
    )
    assert not list(Path(mmdet_index.__file__).parents[1].rglob("metafile.yml"))


def test_list_source_mmdet_lists_the_whole_index(cli) -> None:
    code, out, _ = cli("list", "--source", "mmdet", "--format", "json")
    assert code == 0
    rows = json.loads(out)
    # a few names are listed twice in mmdet's index: once each here
    assert [r["id"] for r in rows] == [f"mmdet:{n}" for n in dict.fromkeys(_index_names())]
    assert sum(r["baseline"] for r in rows) == len(mmdet_index.BASELINES)
    retina = next(r for r in rows if r["id"] == "mmdet:retinanet_r50_fpn_1x_coco")
    assert retina["method"] == "retinanet" and set(retina["published"]) == {"box_ap"}
    code, _, err = cli("list", "--source", "timm")
    assert code == 2 and "unknown source 'timm'" in err


def test_default_listing_holds_the_five_baselines_flagged(cli) -> None:
    code, out, _ = cli("list", "--format", "json")
    assert code == 0
    mmdet_rows = [r for r in json.loads(out) if r["id"].startswith("mmdet:")]
    assert [r["id"] for r in mmdet_rows] == [
        "mmdet:mask-rcnn_r50_fpn_1x_coco",
        "mmdet:mask-rcnn_r50_fpn_mstrain-poly_3x_coco",
        "mmdet:mask-rcnn_swin-t-p4-w7_fpn_1x_coco",
        "mmdet:mask-rcnn_swin-t-p4-w7_fpn_ms-crop-3x_coco",
        "mmdet:mask-rcnn_swin-s-p4-w7_fpn_amp-ms-crop-3x_coco",
    ]
    assert all(r["baseline"] for r in mmdet_rows)
    assert [r["schedule"] for r in mmdet_rows] == ["1x", "3x", "1x", "3x", "3x"]
    assert not any(r["baseline"] for r in json.loads(out) if not r["id"].startswith("mmdet:"))
    # any other index model is addressable by id, though not listed by default
    assert load_registry().get("mmdet:retinanet_r50_fpn_1x_coco").published["box_ap"] > 0


def test_compare_download_and_eval_take_index_rows(tmp_path: Path, cli) -> None:
    code, out, _ = cli("compare", SWIN_T_1X, "--report", "json")
    assert code == 0
    assert [(d["metric"], d["published"]) for d in json.loads(out)] == [
        ("box_ap", 42.7), ("mask_ap", 39.3)
    ]  # fmt: skip
    # `download` hands the row to the one downloader (offline: it says so, touching nothing)
    code, _, err = cli("download", R50_1X, "--offline")
    assert code == 1 and "offline mode is on" in err
    code, _, err = cli("eval", R50_1X, "--data-root", tmp_path / "no-coco")
    assert code == 2 and "no-coco" in err and "unknown row id" not in err
    code, _, err = cli("show", "mmdet:mask-rcnn_swin-t-p4-w7_fpn_1x_co")
    assert code == 2 and f"did you mean: {SWIN_T_1X}" in err


@pytest.mark.slow
def test_flops_counts_an_index_row(tmp_path: Path, cli) -> None:
    out_md = tmp_path / "flops.md"
    code, _, err = cli("flops", R50_1X, "--no-store", "--input", "320x320", "--out", out_md)
    assert code == 0, err
    (line,) = [ln for ln in out_md.read_text().splitlines() if ln.startswith(f"| {R50_1X} |")]
    cells = [c.strip() for c in line.strip("|").split("|")]
    # ResNet-50 Mask R-CNN: 44.4 M parameters (the "44M" every paper in the zoo prints for it)
    assert cells[1] == "3x320x320" and 44.3 < float(cells[3]) < 44.5, line
    assert float(cells[6]) > 0  # FLOPs counted
