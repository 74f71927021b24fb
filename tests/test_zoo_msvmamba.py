"""MSVMamba: official key layout, strict loading, parameter counts, configs, and the MS2D math.

The official layout is `tests/data/msvmamba-<v>.keys.json`, derived by building the authors' code
(YuHengsss/MSVMamba) on CPU; there is no `../shared/reference` file for this family.
"""

from __future__ import annotations

import importlib
import json
import math
import re
from pathlib import Path
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor

from vzoo.core.errors import UserInputError
from vzoo.zoo import build_backbone, build_classifier
from vzoo.zoo import msvmamba as msv
from vzoo.zoo.checkpoint import CheckpointMismatchError, load_state_dict_strict

DATA = Path(__file__).parent / "data"
CONFIGS = Path(__file__).resolve().parents[1] / "zoo" / "configs" / "msvmamba"
VARIANTS = ("nano", "micro", "tiny")
SEED = "002_56bfdbb6a48f217a.txt"  # the MSVMamba README


def ref(v: str) -> dict[str, Any]:
    return json.loads((DATA / f"msvmamba-{v}.keys.json").read_text())


def layout(m: torch.nn.Module) -> dict[str, list[int]]:
    return {k: list(t.shape) for k, t in m.state_dict().items()}


def n_params(m: torch.nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


def perturb(m: torch.nn.Module, seed: int = 0) -> None:
    """Move every parameter off its init (A_logs=0, Ds=1, LN=1/0 would hide mistakes)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in m.parameters():
            p.add_(0.2 * torch.randn(p.shape, generator=g, dtype=p.dtype))


# ---------------------------------------------------------------- layout, params, loading


@pytest.mark.parametrize("v", VARIANTS)
def test_state_dict_layout_equals_the_authors(v: str) -> None:
    r = ref(v)
    cls, bb = build_classifier(f"msvmamba-{v}"), build_backbone(f"msvmamba-{v}")
    assert layout(cls) == r["cls"]["state_dict"]
    assert layout(bb) == r["det_backbone"]["state_dict"]
    assert n_params(cls) == r["cls"]["params"]
    assert n_params(bb) == r["det_backbone"]["params"]


def published_params(shared_dir: Path) -> dict[tuple[str, str], float]:
    """(variant, what) -> #params (M) from the README tables in the seed."""
    out: dict[tuple[str, str], float] = {}
    for line in (shared_dir / "seeds" / SEED).read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) < 5 or not cells[0].lower().startswith("msvmamba-"):
            continue
        v = cells[0].split("-")[1].lower()
        if cells[1] == "ImageNet-1K":
            out[(v, "cls")] = float(cells[4].rstrip("M"))
        elif "MaskRCNN@" in cells[3]:
            out[(v, cells[3].split("@")[1])] = float(cells[1].rstrip("M"))
        elif "UperNet" in cells[4]:
            out[(v, "upernet")] = float(cells[2].rstrip("M"))
    return out


def build_from_config(path: Path) -> torch.nn.Module:
    from mmengine.config import Config
    from mmengine.registry import DefaultScope

    cfg = Config.fromfile(str(path))
    if "upernet" in path.name:
        from mmseg.registry import MODELS
        from mmseg.utils import register_all_modules

        scope = "mmseg"
    else:
        from mmdet.registry import MODELS
        from mmdet.utils import register_all_modules

        scope = "mmdet"
    register_all_modules(init_default_scope=False)
    with DefaultScope.overwrite_default_scope(scope):
        return MODELS.build(cfg.model)


CONFIG_ROWS = [
    ("micro", "1x", "msvmamba_micro_1x.py", "mask_rcnn_ms_vssm_fpn_coco_micro.py"),
    ("micro", "3x", "msvmamba_micro_3x.py", "mask_rcnn_ms_vssm_fpn_coco_micro_3x.py"),
    ("tiny", "1x", "msvmamba_tiny_1x.py", "mask_rcnn_ms_vssm_fpn_coco_tiny.py"),
    ("tiny", "3x", "msvmamba_tiny_3x.py", "mask_rcnn_ms_vssm_fpn_coco_tiny_3x.py"),
    ("micro", "upernet", "msvmamba_micro_upernet_160k.py",
     "upernet_ms_vssm_4xb4-160k_ade20k-512x512_micro.py"),
    ("tiny", "upernet", "msvmamba_tiny_upernet_160k.py",
     "upernet_ms_vssm_4xb4-160k_ade20k-512x512_tiny.py"),
]  # fmt: skip


@pytest.mark.parametrize(("v", "what", "ours", "theirs"), CONFIG_ROWS)
def test_configs_build_our_backbone_with_the_authors_param_count(
    v: str, what: str, ours: str, theirs: str, shared_dir: Path
) -> None:
    model = build_from_config(CONFIGS / ours)
    assert type(model.backbone) is msv.MSVMambaBackbone
    r = ref(v)
    assert layout(model.backbone) == r["det_backbone"]["state_dict"]
    section = r["upernet"] if what == "upernet" else r["mask_rcnn"]
    measured = n_params(model)
    assert measured == section[theirs]["params"]  # what the authors' config builds
    dpr = section[theirs]["drop_path_rate"]
    assert model.backbone.layers[-1].blocks[-1].drop_path.drop_prob == pytest.approx(dpr)
    published = published_params(shared_dir)[(v, what)]
    if (v, what) == ("tiny", "3x"):
        # README prints 73M; the 3x config builds exactly the 1x model (53M): a typo.
        assert published == 73
        assert measured == r["mask_rcnn"]["mask_rcnn_ms_vssm_fpn_coco_tiny.py"]["params"]
        assert round(measured / 1e6) == 53
    else:  # the README rounds to whole millions
        assert round(measured / 1e6) == published


def test_detector_and_segmentor_run_end_to_end_on_a_small_image() -> None:
    from mmdet.structures import DetDataSample
    from mmengine.registry import DefaultScope

    det = build_from_config(CONFIGS / "msvmamba_micro_1x.py").eval()
    sample = DetDataSample()
    sample.set_metainfo(dict(img_shape=(70, 90), ori_shape=(70, 90), scale_factor=(1.0, 1.0)))
    img = torch.randint(0, 255, (3, 70, 90), dtype=torch.uint8)
    with DefaultScope.overwrite_default_scope("mmdet"), torch.no_grad():
        data = det.data_preprocessor({"inputs": [img], "data_samples": [sample]}, False)
        feats = det.extract_feat(data["inputs"])  # padded to 96x96 by the preprocessor
        (res,) = det(**data, mode="predict")
    assert [tuple(f.shape[-2:]) for f in feats] == [(24, 24), (12, 12), (6, 6), (3, 3), (2, 2)]
    assert res.pred_instances.bboxes.shape[-1] == 4

    seg = build_from_config(CONFIGS / "msvmamba_micro_upernet_160k.py").eval()
    with DefaultScope.overwrite_default_scope("mmseg"), torch.no_grad():
        logits = seg(torch.randn(1, 3, 64, 96), mode="tensor")
    assert tuple(logits.shape) == (1, 150, 16, 24)


@pytest.mark.parametrize("v", VARIANTS)
def test_classifier_params_match_the_readme(v: str, shared_dir: Path) -> None:
    measured = n_params(build_classifier(f"msvmamba-{v}"))
    assert round(measured / 1e6) == published_params(shared_dir)[(v, "cls")]


def random_official_state(layout_: dict[str, list[int]]) -> dict[str, Tensor]:
    g = torch.Generator().manual_seed(3)
    return {k: torch.randn(shape, generator=g) for k, shape in layout_.items()}


def test_official_layout_checkpoint_loads_strictly_and_mismatches_are_listed(
    tmp_path: Path,
) -> None:
    state = random_official_state(ref("nano")["cls"]["state_dict"])
    path = tmp_path / "ckpt.pth"
    torch.save({"model": state}, path)
    loaded = torch.load(path, weights_only=True)["model"]
    model = build_classifier("msvmamba-nano")
    load_state_dict_strict(model, loaded)
    for k, t in model.state_dict().items():
        assert torch.equal(t, state[k]), k

    bad = dict(loaded)
    del bad["layers.2.blocks.4.op.A_logs"]
    bad["layers.0.blocks.0.op.extra"] = torch.zeros(1)
    official = tuple(state["layers.1.blocks.0.op.x_proj_weight"].shape)  # (2, 8, 192)
    bad["layers.1.blocks.0.op.x_proj_weight"] = torch.zeros(4, *official[1:])
    with pytest.raises(CheckpointMismatchError) as err:
        load_state_dict_strict(build_classifier("msvmamba-nano"), bad)
    e = err.value
    assert e.missing == ["layers.2.blocks.4.op.A_logs"]
    assert e.unexpected == ["layers.0.blocks.0.op.extra"]
    assert e.mismatched == [("layers.1.blocks.0.op.x_proj_weight", (4, *official[1:]), official)]
    assert "layers.2.blocks.4.op.A_logs" in str(e) and "x_proj_weight" in str(e)


def test_backbone_pretrained_takes_a_classifier_checkpoint(tmp_path: Path) -> None:
    state = random_official_state(ref("nano")["cls"]["state_dict"])
    path = tmp_path / "vssm_nano_ms_e300.pth"
    torch.save({"model": state}, path)
    bb = build_backbone("msvmamba-nano", pretrained=str(path))
    assert torch.equal(bb.patch_embed[0].weight, state["patch_embed.0.weight"])
    assert torch.equal(bb.layers[3].blocks[1].op.Ds, state["layers.3.blocks.1.op.Ds"])
    state["patch_embed.0.weight"] = torch.zeros(48, 3, 2, 2)
    torch.save({"model": state}, path)
    with pytest.raises(CheckpointMismatchError, match=r"patch_embed\.0\.weight"):
        build_backbone("msvmamba-nano", pretrained=str(path))


# ---------------------------------------------------------------- registration, kwargs


def test_registered_in_mmdet_and_mmseg_and_reimport_is_harmless() -> None:
    from mmdet.registry import MODELS as DET
    from mmseg.registry import MODELS as SEG

    importlib.reload(msv)
    assert DET.get("MM_VSSM").__name__ == "MSVMambaBackbone"
    assert SEG.get("MM_VSSM").__name__ == "MSVMambaBackbone"


def test_authors_merged_config_dict_builds_as_is() -> None:
    """Their det config merged with the Swin base (swallowed Swin kwargs included)."""
    from mmdet.registry import MODELS

    cfg = dict(ref("micro")["det_backbone"]["config_merged"])
    cfg["pretrained"] = None
    model = MODELS.build(cfg)
    assert layout(model) == ref("micro")["det_backbone"]["state_dict"]


def test_unknown_or_unsupported_kwargs_are_user_errors() -> None:
    with pytest.raises(UserInputError, match="unknown argument"):
        build_backbone("msvmamba-nano", window_sizes=7)
    with pytest.raises(UserInputError, match="sscore_type"):
        build_backbone("msvmamba-nano", sscore_type="None")
    with pytest.raises(UserInputError, match="ms_split"):
        build_backbone("msvmamba-nano", ms_split=[2, 3])
    with pytest.raises(UserInputError, match="unknown MSVMamba arch"):
        msv.build_classifier("msvmamba-huge")


def test_missing_pretrained_file_warns_like_the_authors(tmp_path: Path) -> None:
    with pytest.warns(UserWarning, match="not found"):
        build_backbone("msvmamba-nano", pretrained=str(tmp_path / "absent.pth"))


# ---------------------------------------------------------------- the math, naively


def naive_ln(x: Tensor, ln: torch.nn.LayerNorm) -> Tensor:
    mu = x.mean(-1, keepdim=True)
    var = ((x - mu) ** 2).mean(-1, keepdim=True)
    return (x - mu) / torch.sqrt(var + ln.eps) * ln.weight + ln.bias


def naive_ssm(u: Tensor, op: msv.MultiScaleSS2D, k: int) -> Tensor:
    """Sequential selective scan of one sequence u (L, d_inner) with parameter set k."""
    d, n, r = op.d_inner, op.d_state, op.dt_rank
    proj = u @ op.x_proj_weight[k].T  # (L, r + 2n)
    dt = proj[:, :r] @ op.dt_projs_weight[k].T + op.dt_projs_bias[k]
    dt = torch.log1p(torch.exp(dt))  # softplus
    b_, c_ = proj[:, r : r + n], proj[:, r + n :]
    a = -torch.exp(op.A_logs[k * d : (k + 1) * d])  # (d, n)
    dsk = op.Ds[k * d : (k + 1) * d]
    h = torch.zeros(d, n, dtype=u.dtype)
    ys = []
    for t in range(u.shape[0]):
        h = torch.exp(dt[t][:, None] * a) * h + dt[t][:, None] * b_[t][None, :] * u[t][:, None]
        ys.append(h @ c_[t] + dsk * u[t])
    return torch.stack(ys)


def naive_bilinear(x: Tensor, out_h: int, out_w: int) -> Tensor:
    """(C, h, w) -> (C, out_h, out_w), half-pixel centres, edge-clamped (align_corners=False)."""

    def taps(n_in: int, n_out: int) -> list[tuple[int, int, float]]:
        res = []
        for o in range(n_out):
            s = max((o + 0.5) * n_in / n_out - 0.5, 0.0)
            i0 = min(math.floor(s), n_in - 1)
            res.append((i0, min(i0 + 1, n_in - 1), s - i0))
        return res

    out = torch.zeros(x.shape[0], out_h, out_w, dtype=x.dtype)
    for oi, (i0, i1, a) in enumerate(taps(x.shape[1], out_h)):
        for oj, (j0, j1, b) in enumerate(taps(x.shape[2], out_w)):
            out[:, oi, oj] = (
                (1 - a) * (1 - b) * x[:, i0, j0] + (1 - a) * b * x[:, i0, j1]
                + a * (1 - b) * x[:, i1, j0] + a * b * x[:, i1, j1]
            )  # fmt: skip
    return out


def naive_ms2d(x: Tensor, op: msv.MultiScaleSS2D) -> Tensor:
    """One image (H, W, C): positions listed explicitly, each scan step's output put back."""
    h, w, _ = x.shape
    silu = F.silu
    xz = x @ op.in_proj.weight.T
    xi, z = xz[..., : op.d_inner], silu(xz[..., op.d_inner :])
    xc = xi.permute(2, 0, 1)[None]
    full = silu(F.conv2d(xc, op.conv2d.weight, op.conv2d.bias, padding=1, groups=op.d_inner))[0]
    low = silu(
        F.conv2d(xc, op.conv2d_b1.weight, op.conv2d_b1.bias, stride=2, padding=3,
                 groups=op.d_inner)
    )[0]  # fmt: skip
    h1, w1 = low.shape[1:]
    rows = [(i, j) for i in range(h1) for j in range(w1)]
    cols = [(i, j) for j in range(w1) for i in range(h1)]
    order = rows[::-1] + cols + cols[::-1]  # the three half-resolution directions, one sequence
    y_seq = naive_ssm(torch.stack([low[:, i, j] for i, j in order]), op, 0)
    y_low = torch.zeros(op.d_inner, h1, w1, dtype=x.dtype)
    for (i, j), y_t in zip(order, y_seq, strict=True):
        y_low[:, i, j] += naive_ln(y_t, op.out_norm)
    full_order = [(i, j) for i in range(h) for j in range(w)]
    y_full_seq = naive_ssm(torch.stack([full[:, i, j] for i, j in full_order]), op, 1)
    y = torch.zeros(h, w, op.d_inner, dtype=x.dtype)
    for (i, j), y_t in zip(full_order, y_full_seq, strict=True):
        y[i, j] = naive_ln(y_t, op.out_norm)
    y = y + naive_bilinear(y_low, h, w).permute(1, 2, 0)
    fc1, fc2 = op.se.fc[0].weight, op.se.fc[2].weight
    gate = torch.sigmoid(fc2 @ torch.relu(fc1 @ y.mean(dim=(0, 1))))
    return (y * gate * z) @ op.out_proj.weight.T


def naive_block(x: Tensor, blk: msv.MSVSSBlock) -> Tensor:
    x = torch.stack([xb + naive_ms2d(naive_ln(xb, blk.norm), blk.op) for xb in x])
    f = blk.convFFN
    u = naive_ln(x, blk.norm2) @ f.linear1.weight[:, :, 0, 0].T + f.linear1.bias
    dw = F.conv2d(u.permute(0, 3, 1, 2), f.dwc.weight, f.dwc.bias, padding=1, groups=u.shape[-1])
    u = F.gelu(u + dw.permute(0, 2, 3, 1))
    return x + u @ f.linear2.weight[:, :, 0, 0].T + f.linear2.bias


def naive_merge(x: Tensor, pm: msv.PatchMerging2D) -> Tensor:
    b, h, w, c = x.shape
    padded = torch.zeros(b, h + h % 2, w + w % 2, c, dtype=x.dtype)
    padded[:, :h, :w] = x
    parts = [padded[:, di::2, dj::2] for di, dj in ((0, 0), (1, 0), (0, 1), (1, 1))]
    return naive_ln(torch.cat(parts, -1), pm.norm) @ pm.reduction.weight.T


def naive_classifier(x: Tensor, m: msv.MSVMamba) -> Tensor:
    conv = m.patch_embed[0]
    x = naive_ln(
        F.conv2d(x, conv.weight, conv.bias, stride=4).permute(0, 2, 3, 1), m.patch_embed[2]
    )
    for layer in m.layers:
        for blk in layer.blocks:
            x = naive_block(x, blk)
        if isinstance(layer.downsample, msv.PatchMerging2D):
            x = naive_merge(x, layer.downsample)
    pooled = naive_ln(x, m.classifier.norm).mean(dim=(1, 2))
    return pooled @ m.classifier.head.weight.T + m.classifier.head.bias


def test_one_block_equals_the_naive_formulation_float64() -> None:
    torch.manual_seed(0)
    blk = msv.MSVSSBlock(8, 0.0, 1, 2.0, "auto", (1, 3), 0.0).double().eval()
    perturb(blk)
    x = torch.randn(2, 5, 7, 8, dtype=torch.float64)  # odd H, W: 3x4 half-resolution grid
    with torch.no_grad():
        got, want = blk(x), naive_block(x, blk)
    assert got.dtype == torch.float64
    torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-10)


def test_small_classifier_equals_the_naive_formulation_float64() -> None:
    torch.manual_seed(1)
    m = build_classifier("msvmamba-nano", dims=8, depths=(1, 1, 2, 1), num_classes=10)
    m = m.double().eval()
    perturb(m, seed=1)
    x = torch.randn(2, 3, 36, 44, dtype=torch.float64)  # 9x11 -> 5x6 -> 3x3 -> 2x2
    dtypes: set[torch.dtype] = set()
    hooks = [
        mod.register_forward_hook(lambda _m, _i, o: dtypes.add(o.dtype))
        for mod in m.modules()
    ]  # fmt: skip
    with torch.no_grad():
        got = m(x)
    for hk in hooks:
        hk.remove()
    assert dtypes == {torch.float64}  # float64 end to end
    with torch.no_grad():
        want = naive_classifier(x, m)
    torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-10)


def test_backbone_odd_sizes_shapes_norms_and_determinism() -> None:
    torch.manual_seed(2)
    bb = build_backbone("msvmamba-nano", dims=8, depths=(1, 1, 1, 1)).double().eval()
    perturb(bb, seed=2)
    x = torch.randn(1, 3, 37, 53, dtype=torch.float64)  # stem truncates like their conv: 9x13
    with torch.no_grad():
        outs, again = bb(x), bb(x)
    assert [tuple(o.shape) for o in outs] == [
        (1, 8, 9, 13), (1, 16, 5, 7), (1, 32, 3, 4), (1, 64, 2, 2)
    ]  # fmt: skip
    assert all(torch.equal(a, b) for a, b in zip(outs, again, strict=True))
    # output i is outnorm_i of stage i before its downsampling, as NCHW
    with torch.no_grad():
        feats = bb.layers[0].blocks(bb.patch_embed(x))
    torch.testing.assert_close(outs[0], naive_ln(feats, bb.outnorm0).permute(0, 3, 1, 2))


def test_classifier_and_backbone_agree_on_shared_weights() -> None:
    torch.manual_seed(4)
    cls = build_classifier("msvmamba-nano", dims=8, depths=(1, 1, 1, 1), num_classes=5)
    bb = build_backbone("msvmamba-nano", dims=8, depths=(1, 1, 1, 1), out_indices=(3,))
    cls, bb = cls.double().eval(), bb.double().eval()
    shared = {k: v for k, v in cls.state_dict().items() if not k.startswith("classifier.")}
    bb.load_state_dict({**bb.state_dict(), **shared})
    x = torch.randn(1, 3, 64, 64, dtype=torch.float64)
    with torch.no_grad():
        last = bb(x)[0]
        feats = cls.forward_features(x)
    torch.testing.assert_close(last, naive_ln(feats, bb.outnorm3).permute(0, 3, 1, 2))


def test_matches_outputs_of_the_authors_code_float64() -> None:
    """Fixture made by running the authors' VSSM / Backbone_VSSM (see its "source")."""
    fx = torch.load(DATA / "msvmamba-authors-small-float64.pt", weights_only=True)
    kw = fx["kwargs"]
    arch = dict(dims=kw["dims"], depths=tuple(kw["depths"]))
    cls = build_classifier("msvmamba-nano", num_classes=fx["cls"]["num_classes"], **arch)
    state = {k: v.double() for k, v in fx["cls"]["state_dict"].items()}
    load_state_dict_strict(cls.double().eval(), state, source="authors' fixture")
    with torch.no_grad():
        got = cls(fx["cls"]["input"].double())
    torch.testing.assert_close(got, fx["cls"]["output"], rtol=1e-11, atol=1e-11)

    bb = build_backbone("msvmamba-nano", **arch).double().eval()
    shared = {k: v for k, v in state.items() if not k.startswith("classifier.")}
    outnorms = {k: v.double() for k, v in fx["backbone"]["outnorms"].items()}
    load_state_dict_strict(bb, {**shared, **outnorms}, source="authors' fixture")
    with torch.no_grad():
        outs = bb(fx["backbone"]["input"].double())
    assert len(outs) == len(fx["backbone"]["outputs"]) == 4
    for o, want in zip(outs, fx["backbone"]["outputs"], strict=True):
        torch.testing.assert_close(o, want, rtol=1e-11, atol=1e-11)


def test_seed_has_the_rows_these_tests_read(shared_dir: Path) -> None:
    got = published_params(shared_dir)
    want_keys = {(v, "cls") for v in VARIANTS} | {
        (v, w) for v in ("micro", "tiny") for w in ("1x", "3x", "upernet")
    }
    assert want_keys <= set(got)
    assert re.search(r"MSVMamba-Tiny\s*\|\s*73M", (shared_dir / "seeds" / SEED).read_text())
