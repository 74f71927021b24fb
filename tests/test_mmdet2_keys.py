"""mmdet-2 detector checkpoints -> our mmdet-3 models (`vzoo.zoo.map_mmdet2_keys`)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import Tensor

from vzoo.core.errors import VzooError
from vzoo.zoo import map_mmdet2_keys
from vzoo.zoo import mlla as mlla_module
from vzoo.zoo.checkpoint import CheckpointMismatchError, load_state_dict_strict
from vzoo.zoo.mmdet2_keys import MASK_RCNN_FPN, RULE_SETS, KeyRule, RuleSet
from vzoo.zoo.mmdet2_keys import map_mmdet2_keys as map_with_rules

CONFIG_DIR = Path(mlla_module.__file__).parent / "configs" / "mlla"


def mmdet2_mask_rcnn_fpn_layout(
    in_channels: list[int], num_classes: int = 80
) -> dict[str, tuple[int, ...]]:
    """Neck and heads of an mmdet 2.25 Mask R-CNN (configs/_base_/models/mask_rcnn_swin_fpn.py),
    written from mmdet 2.25's sources: necks/fpn.py (ConvModule lateral 1×1 and output 3×3
    convs, 256 channels; the 5th level is a max-pool), dense_heads/rpn_head.py (rpn_conv 3×3,
    rpn_cls 3 anchors × 1 sigmoid class, rpn_reg 3 × 4), bbox_heads/convfc_bbox_head.py
    Shared2FCBBoxHead (two shared fcs 256·7·7 -> 1024 -> 1024, fc_cls 81, class-specific
    fc_reg 80·4), mask_heads/fcn_mask_head.py (4 ConvModule 3×3, ConvTranspose2d 2×2
    `upsample`, 1×1 `conv_logits`)."""
    c = 256
    layout: dict[str, tuple[int, ...]] = {}

    def conv(name: str, cout: int, cin: int, k: int) -> None:
        layout[f"{name}.weight"] = (cout, cin, k, k)
        layout[f"{name}.bias"] = (cout,)

    def fc(name: str, cout: int, cin: int) -> None:
        layout[f"{name}.weight"] = (cout, cin)
        layout[f"{name}.bias"] = (cout,)

    for i, cin in enumerate(in_channels):
        conv(f"neck.lateral_convs.{i}.conv", c, cin, 1)
    for i in range(len(in_channels)):
        conv(f"neck.fpn_convs.{i}.conv", c, c, 3)
    conv("rpn_head.rpn_conv", c, c, 3)
    conv("rpn_head.rpn_cls", 3, c, 1)
    conv("rpn_head.rpn_reg", 12, c, 1)
    fc("roi_head.bbox_head.fc_cls", num_classes + 1, 1024)
    fc("roi_head.bbox_head.fc_reg", num_classes * 4, 1024)
    fc("roi_head.bbox_head.shared_fcs.0", 1024, c * 7 * 7)
    fc("roi_head.bbox_head.shared_fcs.1", 1024, 1024)
    for i in range(4):
        conv(f"roi_head.mask_head.convs.{i}.conv", c, c, 3)
    conv("roi_head.mask_head.upsample", c, c, 2)  # ConvTranspose2d: (in, out, k, k)
    conv("roi_head.mask_head.conv_logits", num_classes, c, 1)
    return layout


def mmdet2_checkpoint(shared_dir: Path, arch: str) -> dict[str, Any]:
    """A random-init MLLA Mask R-CNN checkpoint as mmcv 1.x `save_checkpoint` writes it."""
    layout = mmdet2_layout(shared_dir, arch)
    gen = torch.Generator().manual_seed(0)
    state = {
        k: torch.tensor(7) if k.endswith("num_batches_tracked") else torch.randn(s, generator=gen)
        for k, s in layout.items()
    }
    meta = {"mmdet_version": "2.25.2", "CLASSES": ("person",) * 80, "epoch": 12}
    return {"meta": meta, "state_dict": state, "optimizer": {"state": {}}}


def build_detector(row: str) -> torch.nn.Module:
    from mmdet.registry import MODELS
    from mmdet.utils import register_all_modules
    from mmengine.config import Config

    register_all_modules()
    return MODELS.build(Config.fromfile(str(CONFIG_DIR / f"{row}.py")).model)


def test_mmdet2_mask_rcnn_checkpoint_loads_strictly_into_our_mmdet3_model(
    shared_dir: Path, tmp_path: Path
) -> None:
    path = tmp_path / "mlla_t_mrcnn_1x.pth"
    torch.save(mmdet2_checkpoint(shared_dir, "mlla-t"), path)
    ckpt = torch.load(path, map_location="cpu", weights_only=False)
    det = build_detector("mlla_t_1x")
    state = map_mmdet2_keys(ckpt)
    load_state_dict_strict(det, state, source=str(path))
    own = det.state_dict()
    for k in (
        "backbone.layers.1.blocks.0.attn.qk.weight",
        "neck.fpn_convs.3.conv.weight",
        "rpn_head.rpn_cls.bias",
        "roi_head.bbox_head.shared_fcs.0.weight",
        "roi_head.mask_head.upsample.weight",
    ):
        assert torch.equal(own[k], ckpt["state_dict"][k])
    # the bare state dict maps the same way as the whole file content
    assert map_mmdet2_keys(ckpt["state_dict"]).keys() == state.keys()


def mmdet2_layout(shared_dir: Path, arch: str) -> dict[str, tuple[int, ...]]:
    """Whole-detector key -> shape of an MLLA Mask R-CNN trained with mmdet 2.25."""
    ref = json.loads((shared_dir / "reference" / f"{arch}.json").read_text())["det_backbone"]
    layout = {f"backbone.{k}": tuple(s) for k, s in ref["state_dict"].items()}
    embed = ref["config"]["embed_dim"]
    return layout | mmdet2_mask_rcnn_fpn_layout([embed * 2**i for i in range(4)])


@pytest.mark.parametrize("arch", ["mlla-t", "mlla-s", "mlla-b"])
def test_every_mask_rcnn_key_is_covered_by_a_verified_rule(shared_dir: Path, arch: str) -> None:
    assert [k for k in mmdet2_layout(shared_dir, arch) if not MASK_RCNN_FPN.covers(k)] == []


@pytest.mark.parametrize(
    "row,arch", [("mlla_t_1x", "mlla-t"), ("mlla_s_3x", "mlla-s"), ("mlla_b_1x", "mlla-b")]
)
def test_detector_layout_and_params_are_backbone_plus_mmdet2_heads(
    shared_dir: Path, row: str, arch: str
) -> None:
    ref = json.loads((shared_dir / "reference" / f"{arch}.json").read_text())["det_backbone"]
    heads = mmdet2_mask_rcnn_fpn_layout([ref["config"]["embed_dim"] * 2**i for i in range(4)])
    with torch.device("meta"):
        det = build_detector(row)
    got = {k: tuple(v.shape) for k, v in det.state_dict().items()}
    want = {f"backbone.{k}": tuple(s) for k, s in ref["state_dict"].items()} | heads
    assert got == want
    n_heads = sum(torch.Size(s).numel() for s in heads.values())
    assert sum(p.numel() for p in det.parameters()) == ref["params"] + n_heads


def test_missing_head_key_is_reported(shared_dir: Path) -> None:
    ckpt = mmdet2_checkpoint(shared_dir, "mlla-t")
    del ckpt["state_dict"]["roi_head.mask_head.conv_logits.bias"]
    det = build_detector("mlla_t_1x")
    with pytest.raises(CheckpointMismatchError) as err:
        load_state_dict_strict(det, map_mmdet2_keys(ckpt))
    assert err.value.missing == ["roi_head.mask_head.conv_logits.bias"]


def test_rule_sets_apply_in_order_rename_drop_and_pass_through() -> None:
    extra = RuleSet(
        "example",
        (
            KeyRule(r"roi_head\.bbox_head\.(\d+)\.old\.(.+)", r"roi_head.bbox_head.\1.new.\2", "x"),
            KeyRule(r".*\.ignored", None, "dropped"),
        ),
    )
    follow_up = RuleSet("second", (KeyRule(r"(.+)\.new\.(.+)", r"\1.newer.\2", "chained"),))
    t = torch.zeros(1)
    state: dict[str, Tensor] = {
        "roi_head.bbox_head.2.old.weight": t,
        "rpn_head.foo.ignored": t,
        "neck.fpn_convs.0.conv.weight": t,
    }
    frozen = dict(state)
    out = map_with_rules(state, rule_sets=[*RULE_SETS, extra, follow_up])
    assert list(out) == ["roi_head.bbox_head.2.newer.weight", "neck.fpn_convs.0.conv.weight"]
    assert out["neck.fpn_convs.0.conv.weight"] is t
    assert state == frozen  # pure: the input is untouched


def test_two_keys_mapped_to_one_is_an_error() -> None:
    clash = RuleSet("clash", (KeyRule(r"a\.(x|y)", "a.z", "bad rule"),))
    with pytest.raises(VzooError, match=re.escape("'a.x' and 'a.y'")):
        map_with_rules({"a.x": torch.zeros(1), "a.y": torch.zeros(1)}, rule_sets=[clash])
