"""`vzoo eval` on CPU: synthetic COCO, mmdet test loop, scoring, store, skip/force, errors."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from vzoo.core.errors import UserInputError
from vzoo.core.registry import load_registry
from vzoo.core.results import ResultStore
from vzoo.evaluation.datasets import coco_layout
from vzoo.evaluation.detection import score_detections
from vzoo.evaluation.runner import EvalOptions, evaluate
from vzoo.evaluation.synthetic import write_synthetic_coco

TINY_CONFIG = Path(__file__).parent / "data" / "tiny_mask_rcnn.py"


@pytest.fixture(scope="module")
def synth_coco(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_synthetic_coco(tmp_path_factory.mktemp("coco"), images=4, seed=3)


@pytest.fixture()
def tiny_row():
    # A real detection row's identity with the tiny test config (not an mmdet-2 checkpoint family).
    row = load_registry().get("mlla-t-1x")
    return dataclasses.replace(row, config=str(TINY_CONFIG), family="spatial-mamba")


def test_synthetic_coco_reads_in_mmdet(synth_coco: Path) -> None:
    from mmdet.datasets import CocoDataset
    from mmdet.utils import register_all_modules

    register_all_modules()
    doc = json.loads((synth_coco / "annotations" / "instances_val2017.json").read_text())
    ds = CocoDataset(
        data_root=str(synth_coco),
        ann_file="annotations/instances_val2017.json",
        data_prefix=dict(img="val2017/"),
        test_mode=True,
        pipeline=[],
    )
    assert len(ds) == len(doc["images"]) == 4
    n_inst = sum(len(ds.get_data_info(i)["instances"]) for i in range(len(ds)))
    assert n_inst == len(doc["annotations"]) > 0
    # polygons are real masks: area from pycocotools is positive and within the box
    for a in doc["annotations"]:
        assert 0 < a["area"] <= a["bbox"][2] * a["bbox"][3] + 1e-6


def _perturbed_detections(ann_file: Path, seed: int) -> list[dict]:
    from pycocotools import mask as mask_utils

    doc = json.loads(ann_file.read_text())
    sizes = {i["id"]: (i["height"], i["width"]) for i in doc["images"]}
    rng = np.random.default_rng(seed)
    dets = []
    for a in doc["annotations"]:
        h, w = sizes[a["image_id"]]
        poly = np.array(a["segmentation"][0]) + rng.normal(0, 3, len(a["segmentation"][0]))
        rle = mask_utils.merge(mask_utils.frPyObjects([poly.tolist()], h, w))
        rle["counts"] = rle["counts"].decode()
        bbox = (np.array(a["bbox"]) + rng.normal(0, 4, 4)).tolist()
        dets.append(
            dict(image_id=a["image_id"], category_id=a["category_id"], bbox=bbox,
                 segmentation=rle, score=float(rng.uniform(0.3, 1)))
        )  # fmt: skip
        dets.append(  # a false positive of another class
            dict(image_id=a["image_id"], category_id=1, bbox=[5.0, 5.0, 40.0, 30.0],
                 segmentation=rle, score=float(rng.uniform(0, 0.5)))
        )  # fmt: skip
    return dets


@pytest.mark.parametrize("iou_type", ["bbox", "segm"])
def test_faster_coco_eval_agrees_with_pycocotools(synth_coco: Path, tmp_path: Path, iou_type: str):
    ann = synth_coco / "annotations" / "instances_val2017.json"
    det_file = tmp_path / "dets.json"
    det_file.write_text(json.dumps(_perturbed_detections(ann, seed=7)))
    ref = score_detections(ann, det_file, iou_type, "pycocotools")
    fast = score_detections(ann, det_file, iou_type, "faster-coco-eval")
    assert 5.0 < ref["AP"] < 100.0  # a non-trivial AP, so agreement means something
    for k in ref:
        assert fast[k] == pytest.approx(ref[k], abs=1e-9), k


def test_eval_end_to_end_records_what_pycocotools_computes(
    synth_coco: Path, tmp_path: Path, tiny_row
) -> None:
    from mmdet.registry import MODELS
    from mmdet.utils import register_all_modules
    from mmengine.config import Config

    register_all_modules()
    torch.manual_seed(0)
    model = MODELS.build(Config.fromfile(str(TINY_CONFIG)).model)
    model.init_weights()
    ckpt = tmp_path / "tiny.pth"
    torch.save({"state_dict": model.state_dict(), "meta": {"epoch": 12}}, ckpt)

    store = ResultStore(tmp_path / "store.sqlite")
    work = tmp_path / "work"
    opts = EvalOptions(data_root=synth_coco, checkpoint=ckpt, work_root=work, num_workers=0)
    (report,) = evaluate([tiny_row], opts, store)
    assert report.status == "measured"
    ann = synth_coco / "annotations" / "instances_val2017.json"
    for metric, iou in (("box_ap", "bbox"), ("mask_ap", "segm")):
        det_file = work / tiny_row.id / f"detections.{iou}.json"
        dets = json.loads(det_file.read_text())
        assert dets, "the model produced no detections"
        scored = score_detections(ann, det_file, iou, "pycocotools")
        expected = scored["AP"]
        (stored,) = store.query(tiny_row.id, metric)
        assert stored.value == pytest.approx(expected, abs=1e-9)
        # all of COCO's numbers are recorded beside AP, under the store's names
        for stat, name in (("AP50", "_ap50"), ("AR@1000", "_ar1000"), ("ARs", "_ar_s")):
            if stat in scored:
                (rec,) = store.query(tiny_row.id, metric.removesuffix("_ap") + name)
                assert rec.value == pytest.approx(scored[stat], abs=1e-9), stat
        assert stored.checkpoint_sha256 is not None and len(stored.checkpoint_sha256) == 64
        assert stored.dataset_fingerprint.startswith("coco:")
        assert stored.env["torch"] == torch.__version__.split("+")[0] or stored.env["torch"]

    # same checkpoint, config and environment: skipped; --force re-runs and appends
    (again,) = evaluate([tiny_row], opts, store)
    assert again.status == "skipped"
    assert len(store.query(tiny_row.id, "box_ap")) == 1
    (forced,) = evaluate([tiny_row], dataclasses.replace(opts, force=True), store)
    assert forced.status == "measured"
    assert len(store.query(tiny_row.id, "box_ap")) == 2


def test_mismatched_checkpoint_fails_and_writes_nothing(
    synth_coco: Path, tmp_path: Path, tiny_row
) -> None:
    ckpt = tmp_path / "wrong.pth"
    torch.save({"state_dict": {"backbone.conv1.weight": torch.zeros(3)}}, ckpt)
    store = ResultStore(tmp_path / "store.sqlite")
    opts = EvalOptions(
        data_root=synth_coco, checkpoint=ckpt, work_root=tmp_path / "w", num_workers=0
    )
    with pytest.raises(Exception, match="missing key"):
        evaluate([tiny_row], opts, store)
    assert store.query() == []


def test_missing_dataset_and_wrong_annotation_file(tmp_path: Path, tiny_row) -> None:
    store = ResultStore(tmp_path / "store.sqlite")
    with pytest.raises(UserInputError, match=str(tmp_path / "nowhere")):
        evaluate([tiny_row], EvalOptions(data_root=tmp_path / "nowhere"), store)
    root = tmp_path / "coco"
    (root / "val2017").mkdir(parents=True)
    (root / "annotations").mkdir()
    (root / "annotations" / "instances_val2017.json").write_text(
        json.dumps({"images": [], "annotations": [{"caption": "a cat"}], "categories": []})
    )
    with pytest.raises(UserInputError, match="no boxes"):
        coco_layout(root)
    assert store.query() == []


def test_cli_eval_errors_exit_2(tmp_path: Path) -> None:
    import subprocess
    import sys

    def vzoo(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "vzoo.cli.main", *args], capture_output=True, text=True
        )

    r = vzoo("eval", "mlla-t-1x", "--data-root", str(tmp_path / "nope"))
    assert r.returncode == 2
    assert "COCO dataset not found" in r.stderr and "Traceback" not in r.stderr
    r = vzoo("eval", "mlla-t-1x", "--gpus", "2")
    assert r.returncode == 2 and "CUDA is not available" in r.stderr
    r = vzoo("eval", "mlla-t-1x", "--checkpoint", str(tmp_path / "missing.pth"),
             "--data-root", str(tmp_path))  # fmt: skip
    assert r.returncode == 2
    r = vzoo("eval", "mlla-t-1y")
    assert r.returncode == 2 and "mlla-t-1x" in r.stderr


def test_classification_row_end_to_end_via_cli(tmp_path: Path) -> None:
    """`vzoo eval msvmamba-nano` on a synthetic ImageFolder: the stored top-1/top-5 equal what the
    same model computes on the same preprocessed images, counted here independently."""
    from vzoo.evaluation.classification import ImageFolderVal, preprocess_for
    from vzoo.evaluation.synthetic import write_synthetic_imagenet
    from vzoo.zoo import build_classifier

    root = write_synthetic_imagenet(tmp_path / "imagenet", classes=3, per_class=2, seed=1)
    torch.manual_seed(0)
    model = build_classifier("msvmamba-nano").eval()
    ckpt = tmp_path / "nano.pth"
    torch.save({"model": model.state_dict()}, ckpt)  # the authors' {"model": ...} layout

    ds = ImageFolderVal(root / "val", preprocess_for(load_registry().get("msvmamba-nano")))
    with torch.inference_mode():
        logits = model(torch.stack([ds[i][0] for i in range(len(ds))]))
    labels = torch.tensor([ds[i][1] for i in range(len(ds))])
    top5 = logits.topk(5, dim=1).indices
    want_top1 = 100.0 * (top5[:, 0] == labels).float().mean().item()
    want_top5 = 100.0 * (top5 == labels[:, None]).any(1).float().mean().item()

    import subprocess
    import sys

    r = subprocess.run(
        [sys.executable, "-m", "vzoo.cli.main", "eval", "msvmamba-nano", "--checkpoint", str(ckpt),
         "--data-root", str(root), "--workers", "0", "--batch-size", "4"],
        capture_output=True, text=True,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    store = ResultStore()
    (top1,) = store.query("msvmamba-nano", "top1")
    (stored5,) = store.query("msvmamba-nano", "top5")
    assert top1.value == pytest.approx(want_top1, abs=1e-9)
    assert stored5.value == pytest.approx(want_top5, abs=1e-9)
    assert top1.dataset_fingerprint.startswith("imagenet:")


def test_detection_row_end_to_end_via_cli(synth_coco: Path, tmp_path: Path) -> None:
    """A real row (msvmamba-micro-1x, our backbone in the row's own config) through `vzoo eval`:
    random-init weights in the official layout, a small test scale, and the stored AP equal to
    pycocotools on the saved detections."""
    import subprocess
    import sys

    from mmdet.registry import MODELS
    from mmdet.utils import register_all_modules

    from vzoo.zoo.row_models import row_config as load_row_config

    register_all_modules()
    row = load_registry().get("msvmamba-micro-1x")
    torch.manual_seed(0)
    model = MODELS.build(load_row_config(row).model)
    ckpt = tmp_path / "micro.pth"
    torch.save({"state_dict": model.state_dict(), "meta": {}}, ckpt)
    work = tmp_path / "work"
    r = subprocess.run(
        [sys.executable, "-m", "vzoo.cli.main", "eval", row.id, "--checkpoint", str(ckpt),
         "--data-root", str(synth_coco), "--workers", "0", "--work-dir", str(work),
         "--cfg-options", "test_dataloader.dataset.pipeline.1.scale=(256,256)",
         "--cfg-options", "model.test_cfg.rcnn.score_thr=0.0"],
        capture_output=True, text=True,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr[-2000:]
    ann = synth_coco / "annotations" / "instances_val2017.json"
    store = ResultStore()
    for metric, iou in (("box_ap", "bbox"), ("mask_ap", "segm")):
        det_file = work / row.id / f"detections.{iou}.json"
        assert json.loads(det_file.read_text()), "no detections saved"
        expected = score_detections(ann, det_file, iou, "pycocotools")["AP"]
        (stored,) = store.query(row.id, metric)
        assert stored.value == pytest.approx(expected, abs=1e-9)
    # `vzoo compare` now shows the measured numbers next to the published ones
    r = subprocess.run(
        [sys.executable, "-m", "vzoo.cli.main", "compare", row.id, "--report", "json"],
        capture_output=True, text=True,
    )  # fmt: skip
    recs = {x["metric"]: x for x in json.loads(r.stdout)}
    assert recs["box_ap"]["measured"] == pytest.approx(store.query(row.id, "box_ap")[0].value)
    assert recs["box_ap"]["verdict"] == "below" and recs["params_m"]["measured"] is None


def test_segmentation_row_end_to_end(tmp_path: Path) -> None:
    """msvmamba-micro-upernet-160k on a synthetic ADE20K split: the stored mIoU equals the mIoU
    computed here with numpy from the same model's predictions (mmseg rounds to 0.01)."""
    from mmengine.dataset import pseudo_collate
    from mmseg.registry import DATASETS, MODELS
    from mmseg.utils import register_all_modules

    from vzoo.evaluation.synthetic import write_synthetic_ade20k
    from vzoo.zoo.row_models import row_config as load_row_config

    register_all_modules()
    root = write_synthetic_ade20k(tmp_path / "ade", images=2, seed=5)
    row = load_registry().get("msvmamba-micro-upernet-160k")
    opts = {"test_dataloader.dataset.pipeline.1.scale": (128, 96)}
    cfg = load_row_config(row, opts)
    torch.manual_seed(0)
    model = MODELS.build(cfg.model).eval()
    # Tilt the random head towards one class present in the labels, so the mIoU is not 0.
    import cv2

    first = sorted((root / "annotations" / "validation").iterdir())[0]
    present = int(np.max(cv2.imread(str(first), cv2.IMREAD_GRAYSCALE))) - 1  # reduce_zero_label
    with torch.no_grad():
        model.decode_head.conv_seg.bias[present] += 20.0
    ckpt = tmp_path / "upernet.pth"
    torch.save({"state_dict": model.state_dict()}, ckpt)
    store = ResultStore(tmp_path / "store.sqlite")
    options = EvalOptions(
        data_root=root, checkpoint=ckpt, cfg_options=opts, work_root=tmp_path / "w", num_workers=0
    )
    (report,) = evaluate([row], options, store)
    (stored,) = store.query(row.id, "miou_ss")
    assert report.status == "measured" and stored.value == report.metrics["miou_ss"]

    ds_cfg = cfg.test_dataloader.dataset
    ds_cfg.data_root = str(root)
    ds_cfg.data_prefix = dict(img_path="images/validation", seg_map_path="annotations/validation")
    dataset = DATASETS.build(ds_cfg)
    n_cls = 150
    inter, union = np.zeros(n_cls), np.zeros(n_cls)
    with torch.no_grad():
        for i in range(len(dataset)):
            (out,) = model.test_step(pseudo_collate([dataset[i]]))
            pred = out.pred_sem_seg.data.squeeze(0).numpy()
            gt = out.gt_sem_seg.data.squeeze(0).numpy().astype(np.int64)
            valid = gt != 255  # label 0 ("other") became 255 with reduce_zero_label
            for c in range(n_cls):
                p, g = (pred == c) & valid, (gt == c) & valid
                inter[c] += (p & g).sum()
                union[c] += (p | g).sum()
    with np.errstate(invalid="ignore", divide="ignore"):
        miou = 100 * np.nanmean(inter / union)
    assert miou > 0  # a random-init UperNet still hits some pixels: the comparison means something
    assert stored.value == pytest.approx(miou, abs=0.006)


def test_multi_gpu_goes_through_torchrun_and_slurm_through_srun(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """`--gpus N` re-executes the same command under torchrun (mmengine's pytorch launcher);
    `--launcher slurm --partition P` submits it with srun, like mmdet's slurm_test.sh."""
    from vzoo.evaluation import distributed as launch

    monkeypatch.setattr(launch.shutil, "which", lambda name: f"/opt/bin/{name}")
    monkeypatch.delenv("MASTER_PORT", raising=False)
    monkeypatch.delenv("SLURM_PROCID", raising=False)
    argv = ["eval", "mlla-t-1x", "--data-root", "/data/coco", "--launcher", "none"]
    plan = launch.relaunch(argv, gpus=8, nproc=0, launcher="none", partition=None)
    assert plan is not None and not plan.replaces_process  # a child: Ctrl-C reaches vzoo first
    cmd = plan.command
    # torchrun is torch.distributed.run, run with this very interpreter (no PATH lookup)
    assert cmd[:4] == [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=8"]
    assert "--standalone" in cmd  # a free rendezvous port, unless MASTER_PORT is set
    assert cmd[-6:] == ["eval", "mlla-t-1x", "--data-root", "/data/coco", "--launcher", "pytorch"]
    assert cmd.count("--launcher") == 1
    monkeypatch.setenv("MASTER_PORT", "29611")
    plan = launch.relaunch(
        ["eval", "mlla-t-1x", "--nproc", "2"], gpus=0, nproc=2, launcher="none", partition=None
    )
    assert plan is not None and "--master_port=29611" in plan.command
    assert "--standalone" not in plan.command and "--nproc" not in plan.command
    assert plan.hide_gpus  # CPU processes: GPUs hidden
    assert launch.relaunch(argv, gpus=1, nproc=0, launcher="none", partition=None) is None

    argv = ["eval", "--all", "--launcher", "slurm", "--partition", "gpu", "--gpus", "16"]
    plan = launch.relaunch(argv, gpus=16, nproc=0, launcher="slurm", partition="gpu")
    assert plan is not None and plan.replaces_process
    cmd = plan.command
    assert cmd[:3] == ["/opt/bin/srun", "-p", "gpu"]
    assert "--ntasks=16" in cmd and "--ntasks-per-node=8" in cmd and "--gres=gpu:8" in cmd
    assert cmd[-5:] == ["--all", "--gpus", "16", "--launcher", "slurm"]
    assert "--partition" not in cmd


def _detections(path: Path) -> list[dict]:
    """Saved detections in a canonical order (ranks gather them in their own order)."""
    dets = json.loads(path.read_text())
    return sorted(dets, key=lambda d: (d["image_id"], d["category_id"], -d["score"], d["bbox"]))


# A small test scale and few proposals for random-init runs: minutes become seconds on a CPU.
SMALL_RUN = {
    "test_dataloader.dataset.pipeline.1.scale": (128, 128),
    "model.test_cfg.rpn.max_per_img": 50,
    "model.test_cfg.rcnn.max_per_img": 20,
    "model.test_cfg.rcnn.score_thr": 0.0,
}


@pytest.mark.slow
def test_random_init_is_seeded_and_recorded(
    synth_coco: Path, tmp_path: Path, tiny_row, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two `--random-init` runs of a row start from the same weights: the same detections, the
    same AP; the seed is in the record. Each run reads the row's config once (~1.5 s a read)."""
    from vzoo.zoo import row_models

    reads = []
    real_read = row_models.row_config
    monkeypatch.setattr(
        row_models, "row_config", lambda *a, **k: reads.append(a[0].id) or real_read(*a, **k)
    )
    store = ResultStore(tmp_path / "store")
    runs = []
    for name in ("first", "second"):
        torch.manual_seed(len(name))  # whatever state torch is in, the run seeds itself
        opts = EvalOptions(
            data_root=synth_coco, random_init=True, work_root=tmp_path / name, num_workers=0,
            cfg_options=SMALL_RUN,
        )  # fmt: skip
        (report,) = evaluate([tiny_row], opts, store)
        runs.append(report.metrics)
        # never "already measured", and its status says what its numbers are: plumbing
        assert report.status == "random-init (plumbing only)"
    first = _detections(tmp_path / "first" / tiny_row.id / "detections.bbox.json")
    assert first, "no detections to compare"
    assert first == _detections(tmp_path / "second" / tiny_row.id / "detections.bbox.json")
    assert runs[0] == runs[1]
    from vzoo.evaluation.runner import RANDOM_INIT_SEED

    recs = store.query(tiny_row.id, "box_ap")
    assert [r.convention for r in recs] == ["random-init"] * 2
    assert [r.env["random_init_seed"] for r in recs] == [RANDOM_INIT_SEED] * 2
    assert recs[0].checkpoint_sha256 is None
    assert reads == [tiny_row.id] * 2


def _corners(xywh: list[float]) -> list[float]:
    """A COCO [x, y, w, h] box as its corners [x1, y1, x2, y2]."""
    x, y, w, h = xywh
    return [x, y, x + w, y + h]


@pytest.mark.slow
def test_two_cpu_processes_give_the_ap_of_one(tmp_path: Path) -> None:
    """`vzoo eval --nproc 2`: two gloo processes through the torchrun re-launch on synthetic COCO
    (3 images: one rank gets a padded duplicate) save the same detections and record exactly the
    AP of one process, once."""
    coco = write_synthetic_coco(tmp_path / "coco", images=3, seed=3)
    row = load_registry().get("msvmamba-micro-1x")  # the smallest detection row
    small = SMALL_RUN
    one = EvalOptions(data_root=coco, random_init=True, cfg_options=small,
                      work_root=tmp_path / "one", num_workers=0)  # fmt: skip
    single = ResultStore(tmp_path / "single-store")
    (report,) = evaluate([row], one, single)

    cfg_args = [a for k, v in small.items() for a in ("--cfg-options", f"{k}={v}".replace(" ", ""))]
    r = subprocess.run(
        [sys.executable, "-m", "vzoo.cli.main", "eval", row.id, "--random-init", "--nproc", "2",
         "--data-root", str(coco), "--workers", "0", "--work-dir", str(tmp_path / "two"),
         *cfg_args],
        capture_output=True, text=True, timeout=900,
        env={k: v for k, v in os.environ.items() if k != "MASTER_PORT"},  # a free port
    )  # fmt: skip
    assert r.returncode == 0, r.stderr[-3000:]
    assert r.stderr.count("msvmamba-micro-1x: random-init (plumbing only)") == 1  # rank 0 alone
    for iou in ("bbox", "segm"):
        name = f"detections.{iou}.json"
        d1 = _detections(tmp_path / "one" / row.id / name)
        d2 = _detections(tmp_path / "two" / row.id / name)
        assert d1 and len(d1) == len(d2)  # every image once: the padded duplicate is dropped
        # The same detections up to float32 summation order (each process runs its own thread
        # count): each one of the single run matched to its nearest twin, one to one.
        unused = list(d2)
        for a in d1:
            twins = [b for b in unused if (b["image_id"], b["category_id"])
                     == (a["image_id"], a["category_id"])]  # fmt: skip
            assert twins, f"no twin for {a}"
            b = min(twins, key=lambda b: float(np.abs(np.subtract(a["bbox"], b["bbox"])).max()))
            # Compared as corners: COCO's width is x2 - x1, so its rounding is relative to the
            # coordinates (~300 px here), not to the width itself (a 4.7 px box differed by 1.1e-3).
            assert _corners(b["bbox"]) == pytest.approx(_corners(a["bbox"]), rel=1e-4, abs=1e-3)
            assert b["score"] == pytest.approx(a["score"], rel=1e-4, abs=1e-6)
            unused.remove(b)
    store = ResultStore()
    assert {"box_ap", "mask_ap"} <= set(report.metrics)
    assert len(store.query(row.id)) == len(report.metrics)
    for metric, value in report.metrics.items():  # AP, AP50 ... AR1000: each exactly the same
        (rec,) = store.query(row.id, metric)  # recorded once, not once per process
        assert rec.value == value, metric
        assert rec.env["processes"] == 2 and rec.env["device"] == "cpu"
        assert rec.convention == "random-init" and rec.env["random_init_seed"] == 0


def test_shards_of_one_selection_meet_in_the_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, vzoo_home: Path
) -> None:
    """`vzoo eval ID ID --shard 1/2` and `--shard 2/2`, as two jobs on two nodes (each its own
    local index, one shared home): each evaluates its own row, and the store ends up with both."""
    from typer.testing import CliRunner

    from vzoo.cli.main import app
    from vzoo.evaluation.synthetic import write_synthetic_imagenet

    root = write_synthetic_imagenet(tmp_path / "imagenet", classes=3, per_class=1, seed=1)
    ids = ["msvmamba-nano", "msvmamba-micro"]
    for i in (1, 2):
        monkeypatch.setenv("VZOO_INDEX_DIR", str(tmp_path / f"node{i}"))
        r = CliRunner().invoke(
            app,
            ["eval", *ids, "--shard", f"{i}/2", "--random-init", "--data-root", str(root),
             "--workers", "0", "--batch-size", "3"],
        )  # fmt: skip
        assert r.exit_code == 0, r.output
        assert f"shard {i}/2: 1 of 2 selected rows: {ids[i - 1]}" in r.output
        mine = {x.row_id for x in ResultStore().query()}
        assert ids[i - 1] in mine
    for i in (1, 2):
        monkeypatch.setenv("VZOO_INDEX_DIR", str(tmp_path / f"node{i}"))
        recs = ResultStore().query(metric="top1")
        assert sorted(x.row_id for x in recs) == sorted(ids)  # each row once, both nodes see both


def test_only_rank_zero_touches_the_partial_detections(
    tmp_path: Path, tiny_row, synth_coco: Path
) -> None:
    """Every rank leaves the test loop, but only rank 0 holds the dumped detections: another rank
    tidying the partial files away raced rank 0's rename (a --nproc 2 CI failure)."""
    from types import SimpleNamespace

    from vzoo.evaluation import detection

    run = detection.DetectionRun(row=tiny_row, data=coco_layout(synth_coco),
                                  work_dir=tmp_path)  # fmt: skip
    partial = tmp_path / f"{detection.PARTIAL_DETECTIONS}.bbox.json"

    class Runner:  # what _build_and_test uses of mmengine's Runner, the dump done by rank 0
        @staticmethod
        def from_cfg(cfg):
            return SimpleNamespace(
                model=torch.nn.Linear(1, 1),
                test=lambda: None,
                test_dataloader=SimpleNamespace(dataset=[0, 1, 2]),
            )

    partial.write_text("[]")  # rank 0 has dumped; rank 1 leaves the loop first
    out = detection._build_and_test(run, None, Runner, lambda: 1, (100, 300, 1000))
    assert partial.read_text() == "[]", "rank 1 removed rank 0's detections"
    assert not out.is_main_process and out.metrics == {}
