"""MLLA: checkpoint layout, strict loading, the math against a naive float64 formulation,
odd input sizes, row configs and parameter counts."""

from __future__ import annotations

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
from vzoo.zoo import mlla as mlla_module
from vzoo.zoo.checkpoint import CheckpointMismatchError, load_state_dict_strict

ARCHS = ["mlla-t", "mlla-s", "mlla-b"]
CONFIG_DIR = Path(mlla_module.__file__).parent / "configs" / "mlla"
ROWS = ["mlla-t-1x", "mlla-t-3x", "mlla-s-1x", "mlla-s-3x", "mlla-b-1x"]
# A small model of the same structure for the function checks (every stage, odd maps).
SMALL: dict[str, Any] = dict(embed_dim=16, depths=(1, 1, 2, 1), num_heads=(1, 2, 2, 4))


def reference(shared_dir: Path, arch: str) -> dict[str, Any]:
    return json.loads((shared_dir / "reference" / f"{arch}.json").read_text())


def shapes(sd: dict[str, Tensor]) -> dict[str, list[int]]:
    return {k: list(v.shape) for k, v in sd.items()}


def randomise(model: torch.nn.Module, seed: int = 0) -> dict[str, Tensor]:
    """Random values for every parameter and BN statistic (RoPE tables kept), loaded in."""
    gen = torch.Generator().manual_seed(seed)
    sd = {}
    for k, v in model.state_dict().items():
        if not v.is_floating_point() or k.endswith("rope.rotations"):
            sd[k] = v
        elif k.endswith("running_var"):
            sd[k] = torch.rand(v.shape, generator=gen, dtype=v.dtype) + 0.5
        else:
            sd[k] = 0.2 * torch.randn(v.shape, generator=gen, dtype=v.dtype)
    model.load_state_dict(sd)
    return sd


# --------------------------------------------------------------------------- layout


@pytest.mark.parametrize("arch", ARCHS)
def test_state_dicts_match_the_authors_checkpoints(shared_dir: Path, arch: str) -> None:
    ref = reference(shared_dir, arch)
    with torch.device("meta"):  # layout only: no memory, no init time
        cls = build_classifier(arch)
        bb = build_backbone(arch)
    assert shapes(cls.state_dict()) == ref["cls"]["state_dict"]
    assert shapes(bb.state_dict()) == ref["det_backbone"]["state_dict"]
    assert sum(p.numel() for p in cls.parameters()) == ref["cls"]["params"]
    assert sum(p.numel() for p in bb.parameters()) == ref["det_backbone"]["params"]


def random_official_state_dict(layout: dict[str, list[int]]) -> dict[str, Tensor]:
    gen = torch.Generator().manual_seed(1)
    return {
        k: torch.randint(0, 5, s, generator=gen)
        if k.endswith("num_batches_tracked") and not s
        else torch.randn(s, generator=gen)
        for k, s in layout.items()
    }


@pytest.mark.parametrize("kind", ["cls", "det_backbone"])
def test_official_layout_loads_strictly_and_mismatches_are_listed(
    shared_dir: Path, tmp_path: Path, kind: str
) -> None:
    layout = reference(shared_dir, "mlla-t")[kind]["state_dict"]
    path = tmp_path / "ckpt.pth"
    torch.save(random_official_state_dict(layout), path)
    sd = torch.load(path, map_location="cpu")
    model = build_classifier("mlla-t") if kind == "cls" else build_backbone("mlla-t")
    load_state_dict_strict(model, sd, source=str(path))
    for k in ("layers.2.blocks.3.attn.qk.weight", "patch_embed.conv1.norm.running_var"):
        assert torch.equal(model.state_dict()[k], sd[k])

    bad = dict(sd)
    del bad["layers.0.blocks.0.attn.qk.bias"]
    bad["layers.9.extra"] = torch.zeros(1)
    bad["layers.1.downsample.conv.0.conv.weight"] = torch.zeros(3, 3)
    with pytest.raises(CheckpointMismatchError) as err:
        load_state_dict_strict(model, bad)
    assert err.value.missing == ["layers.0.blocks.0.attn.qk.bias"]
    assert err.value.unexpected == ["layers.9.extra"]
    assert [m[0] for m in err.value.mismatched] == ["layers.1.downsample.conv.0.conv.weight"]
    assert "layers.9.extra" in str(err.value)


# --------------------------------------------------------------------------- naive math
# Written from the paper / the reference notes, not from zoo/mlla.py: explicit LayerNorm,
# shifted-slice convolutions, complex-number RoPE per position and the quadratic form of the
# linear attention (an explicit n×n score matrix).


def n_linear(x: Tensor, sd: dict[str, Tensor], name: str) -> Tensor:
    return torch.einsum("...i,oi->...o", x, sd[f"{name}.weight"]) + sd[f"{name}.bias"]


def n_layernorm(x: Tensor, sd: dict[str, Tensor], name: str) -> Tensor:
    mu = x.mean(-1, keepdim=True)
    var = ((x - mu) ** 2).mean(-1, keepdim=True)
    return (x - mu) / torch.sqrt(var + 1e-5) * sd[f"{name}.weight"] + sd[f"{name}.bias"]


def n_conv(x: Tensor, w: Tensor, b: Tensor | None, stride: int, pad: int) -> Tensor:
    """Dense (w: O,C,k,k) or depthwise (w: C,1,k,k) conv as a sum of shifted slices."""
    k = w.shape[-1]
    xp = F.pad(x, (pad, pad, pad, pad))
    ho = (x.shape[2] + 2 * pad - k) // stride + 1
    wo = (x.shape[3] + 2 * pad - k) // stride + 1
    out = 0
    for di in range(k):
        for dj in range(k):
            patch = xp[
                :,
                :,
                di : di + stride * (ho - 1) + 1 : stride,
                dj : dj + stride * (wo - 1) + 1 : stride,
            ]
            if w.shape[1] == 1 and w.shape[0] == x.shape[1] and x.shape[1] > 1:
                out = out + w[:, 0, di, dj][None, :, None, None] * patch
            else:
                out = out + torch.einsum("oc,bchw->bohw", w[:, :, di, dj], patch)
    return out if b is None else out + b[None, :, None, None]


def n_dw_tokens(x: Tensor, sd: dict[str, Tensor], name: str, h: int, w: int) -> Tensor:
    b, n, c = x.shape
    m = x.reshape(b, h, w, c).permute(0, 3, 1, 2)
    y = n_conv(m, sd[f"{name}.weight"], sd[f"{name}.bias"], 1, 1)
    return y.permute(0, 2, 3, 1).reshape(b, n, c)


def n_batchnorm(x: Tensor, sd: dict[str, Tensor], name: str) -> Tensor:
    def v(s: str) -> Tensor:
        return sd[f"{name}.{s}"][None, :, None, None]

    return (x - v("running_mean")) / torch.sqrt(v("running_var") + 1e-5) * v("weight") + v("bias")


def n_rope(x: Tensor) -> Tensor:
    """x (B, h, w, C): rotate pairs (2m, 2m+1) by i·θ_m (m < C/4) or j·θ_{m-C/4} per position."""
    b, h, w, c = x.shape
    k_max = c // 4
    theta = [10000 ** (-k / k_max) for k in range(k_max)]
    z = torch.complex(x[..., 0::2], x[..., 1::2])
    out = torch.empty_like(z)
    for i in range(h):
        for j in range(w):
            ang = torch.tensor([i * t for t in theta] + [j * t for t in theta], dtype=x.dtype)
            out[:, i, j] = z[:, i, j] * torch.polar(torch.ones_like(ang), ang)
    return torch.stack([out.real, out.imag], dim=-1).reshape(b, h, w, c)


def n_elu1(x: Tensor) -> Tensor:
    return torch.where(x > 0, x + 1, torch.exp(x))


def n_attention(x: Tensor, sd: dict[str, Tensor], p: str, h: int, w: int, heads: int) -> Tensor:
    b, n, c = x.shape
    d = c // heads
    qk = n_linear(x, sd, f"{p}.qk")
    q, k = n_elu1(qk[..., :c]), n_elu1(qk[..., c:])
    q_r = n_rope(q.reshape(b, h, w, c)).reshape(b, n, c)
    k_r = n_rope(k.reshape(b, h, w, c)).reshape(b, n, c)
    out = torch.empty_like(x)
    for hd in range(heads):
        s = slice(hd * d, (hd + 1) * d)
        scores = torch.einsum("bid,bjd->bij", q_r[..., s], k_r[..., s])  # n×n, no softmax
        norm = torch.einsum("bid,bd->bi", q[..., s], k[..., s].mean(1)) + 1e-6
        out[..., s] = torch.einsum("bij,bjd->bid", scores, x[..., s]) / n / norm[..., None]
    return out + n_dw_tokens(x, sd, f"{p}.lepe", h, w)


def n_block(x: Tensor, sd: dict[str, Tensor], p: str, h: int, w: int, heads: int) -> Tensor:
    def silu(t: Tensor) -> Tensor:
        return t * torch.sigmoid(t)

    x = x + n_dw_tokens(x, sd, f"{p}.cpe1", h, w)
    y = n_layernorm(x, sd, f"{p}.norm1")
    gate = silu(n_linear(y, sd, f"{p}.act_proj"))
    y = silu(n_dw_tokens(n_linear(y, sd, f"{p}.in_proj"), sd, f"{p}.dwc", h, w))
    x = x + n_linear(n_attention(y, sd, f"{p}.attn", h, w, heads) * gate, sd, f"{p}.out_proj")
    x = x + n_dw_tokens(x, sd, f"{p}.cpe2", h, w)
    y = n_linear(n_layernorm(x, sd, f"{p}.norm2"), sd, f"{p}.mlp.fc1")
    y = 0.5 * y * (1 + torch.erf(y / math.sqrt(2)))
    return x + n_linear(y, sd, f"{p}.mlp.fc2")


def n_convlayer(
    x: Tensor, sd: dict[str, Tensor], p: str, stride: int, pad: int, bn: bool, relu: bool
) -> Tensor:
    x = n_conv(x, sd[f"{p}.conv.weight"], sd.get(f"{p}.conv.bias"), stride, pad)
    if bn:
        x = n_batchnorm(x, sd, f"{p}.norm")
    return torch.clamp_min(x, 0) if relu else x


def n_trunk(
    x: Tensor, sd: dict[str, Tensor], heads: tuple[int, ...], pad_odd: bool
) -> list[Tensor]:
    """Stage outputs (B, C, H, W) before downsampling, without output norms."""
    x = n_convlayer(x, sd, "patch_embed.conv1", 2, 1, True, True)
    y = n_convlayer(x, sd, "patch_embed.conv2.0", 1, 1, True, True)
    x = x + n_convlayer(y, sd, "patch_embed.conv2.1", 1, 1, True, False)
    x = n_convlayer(x, sd, "patch_embed.conv3.0", 2, 1, True, True)
    x = n_convlayer(x, sd, "patch_embed.conv3.1", 1, 0, True, False)
    outs = []
    for i, nh in enumerate(heads):
        b, c, h, w = x.shape
        t = x.permute(0, 2, 3, 1).reshape(b, h * w, c)
        j = 0
        while f"layers.{i}.blocks.{j}.norm1.weight" in sd:
            t = n_block(t, sd, f"layers.{i}.blocks.{j}", h, w, nh)
            j += 1
        outs.append(t)
        x = t.reshape(b, h, w, c).permute(0, 3, 1, 2)
        if i < len(heads) - 1:
            if pad_odd:
                x = F.pad(x, (0, w % 2, 0, h % 2))
            p = f"layers.{i}.downsample.conv"
            x = n_convlayer(x, sd, f"{p}.0", 1, 0, False, True)
            x = n_conv(x, sd[f"{p}.1.conv.weight"], sd[f"{p}.1.conv.bias"], 2, 1).clamp_min(0)
            x = n_convlayer(x, sd, f"{p}.2", 1, 0, True, False)
    return outs


def small_block(dynamic: bool, hw: tuple[int, int]) -> mlla_module.MLLABlock:
    return mlla_module.MLLABlock(16, hw, num_heads=2, dynamic_rope=dynamic).double().eval()


@pytest.mark.parametrize("hw", [(5, 7), (4, 4)])
def test_block_matches_naive_formulation(hw: tuple[int, int]) -> None:
    blk = small_block(True, hw)
    sd = randomise(blk)
    x = torch.randn(2, hw[0] * hw[1], 16, dtype=torch.float64)
    with torch.no_grad():
        got = blk(x, hw)
    assert got.dtype == torch.float64
    ref = n_block(x, {f"b.{k}": v for k, v in sd.items()}, "b", *hw, 2)
    torch.testing.assert_close(got, ref, rtol=1e-10, atol=1e-10)


def test_stored_rope_table_is_the_224_table_of_the_formula() -> None:
    """Classifier blocks multiply by the stored table: RoPE at the training size (fp32 values)."""
    blk = small_block(False, (6, 5))
    rot = blk.attn.rope.rotations
    assert rot.shape == (6, 5, 8, 2)
    ones = torch.zeros(1, 6, 5, 16, dtype=torch.float64)
    ones[..., 0::2] = 1.0  # rotating 1+0i gives (cos, sin) of each angle
    torch.testing.assert_close(rot.reshape(1, 6, 5, 16), n_rope(ones), atol=1e-6, rtol=0)
    x = torch.randn(1, 30, 16, dtype=torch.float64)
    dyn = small_block(True, (6, 5))
    dyn.load_state_dict(blk.state_dict())
    with torch.no_grad():
        torch.testing.assert_close(blk(x, (6, 5)), dyn(x, (6, 5)), atol=1e-5, rtol=1e-5)


def test_small_classifier_matches_naive_model() -> None:
    model = build_classifier("mlla-t", img_size=32, **SMALL).double().eval()
    sd = randomise(model, seed=3)
    x = torch.randn(2, 3, 32, 32, dtype=torch.float64)
    with torch.no_grad():
        got = model(x)
    outs = n_trunk(x, sd, SMALL["num_heads"], pad_odd=False)
    ref = n_linear(n_layernorm(outs[-1], sd, "norm").mean(1), sd, "head")
    assert got.shape == (2, 1000) and got.dtype == torch.float64
    # the stored RoPE tables have float32 precision (as in the checkpoints)
    torch.testing.assert_close(got, ref, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("hw", [(37, 45), (64, 32)])
def test_small_backbone_matches_naive_model_at_odd_sizes(hw: tuple[int, int]) -> None:
    model = build_backbone("mlla-t", **SMALL).double().eval()
    sd = randomise(model, seed=4)
    x = torch.randn(1, 3, *hw, dtype=torch.float64)
    with torch.no_grad():
        got = model(x)
    xp = F.pad(x, (0, -hw[1] % 4, 0, -hw[0] % 4))  # stem pads right/bottom to a multiple of 4
    ref = n_trunk(xp, sd, SMALL["num_heads"], pad_odd=True)
    h, w = math.ceil(hw[0] / 4), math.ceil(hw[1] / 4)
    assert isinstance(got, tuple) and len(got) == 4
    for i, (g, r) in enumerate(zip(got, ref, strict=True)):
        assert g.shape == (1, 16 * 2**i, h, w) and g.dtype == torch.float64
        r = n_layernorm(r, sd, f"norm{i}").reshape(1, h, w, -1).permute(0, 3, 1, 2)
        torch.testing.assert_close(g, r, rtol=1e-10, atol=1e-10)
        h, w = math.ceil(h / 2), math.ceil(w / 2)


def test_float64_end_to_end_and_deterministic() -> None:
    model = build_backbone("mlla-t", **SMALL).double().eval()
    seen: set[torch.dtype] = set()

    def hook(_m: torch.nn.Module, _i: Any, out: Any) -> None:
        for t in out if isinstance(out, tuple) else (out,):
            if isinstance(t, Tensor) and t.is_floating_point():
                seen.add(t.dtype)

    handles = [m.register_forward_hook(hook) for m in model.modules()]
    x = torch.randn(1, 3, 29, 31, dtype=torch.float64)
    with torch.no_grad():
        a, b = model(x), model(x)
    for hd in handles:
        hd.remove()
    assert seen == {torch.float64}
    assert all(torch.equal(p, q) for p, q in zip(a, b, strict=True))


@pytest.mark.parametrize("dynamic", [True, False])
def test_half_precision_rope_is_promoted_not_truncated(dynamic: bool) -> None:
    attn = small_block(dynamic, (4, 4)).attn
    cos, sin = attn.rope_tables(4, 4, torch.zeros(1, dtype=torch.float16))
    assert cos.dtype == sin.dtype == torch.float32
    assert attn.rope(torch.randn(1, 4, 4, 16, dtype=torch.float16)).dtype == torch.float32
    cos64, _ = attn.rope_tables(4, 4, torch.zeros(1, dtype=torch.float64))
    assert cos64.dtype == torch.float64


def test_classifier_rejects_other_sizes_and_t_shapes() -> None:
    model = build_classifier("mlla-t").eval()
    with pytest.raises(UserInputError, match="224x224"):
        model(torch.randn(1, 3, 256, 224))
    with pytest.raises(UserInputError, match="unknown"):
        build_classifier("mlla-xl")


# --------------------------------------------------------------------------- mmdet / configs


def test_registered_in_mmdet_and_reregistering_is_harmless() -> None:
    from mmdet.registry import MODELS as DET

    from vzoo.zoo.registration import register_backbone

    # registering again (a second import path) must not raise
    assert register_backbone("MLLA", mlla_module.MLLABackbone) == ["mmdet", "mmseg"]
    assert DET.get("MLLA") is mlla_module.MLLABackbone


def test_registered_in_mmseg_when_installed() -> None:
    import mmseg.registry as mmseg_registry  # installed with the test extra

    assert mmseg_registry.MODELS.get("MLLA") is mlla_module.MLLABackbone
    seg_backbone = mmseg_registry.MODELS.build(dict(type="MLLA", **SMALL, drop_path_rate=0.5))
    assert isinstance(seg_backbone, mlla_module.MLLABackbone)


def test_pretrained_init_cfg_loads_a_classifier_checkpoint(tmp_path: Path) -> None:
    """The authors' init_weights: ImageNet weights under `model`, loaded non-strictly."""
    cls = build_classifier("mlla-t", **SMALL)
    sd = randomise(cls, seed=5)
    path = tmp_path / "MLLA_small.pth"
    torch.save({"model": sd, "epoch": 300}, path)
    bb = build_backbone("mlla-t", init_cfg=dict(type="Pretrained", checkpoint=str(path)), **SMALL)
    norm0 = bb.norm0.weight.detach().clone()
    bb.init_weights()
    own = bb.state_dict()
    assert torch.equal(
        own["layers.2.blocks.1.attn.qk.weight"], sd["layers.2.blocks.1.attn.qk.weight"]
    )
    assert torch.equal(
        own["patch_embed.conv3.1.norm.running_mean"], sd["patch_embed.conv3.1.norm.running_mean"]
    )
    assert torch.equal(bb.norm0.weight, norm0)  # detection-only, not in the checkpoint


def parse_published_detection_params(shared_dir: Path) -> dict[str, float]:
    """Row id -> published #params (M) from the MLLA detection README table (seed 001)."""
    text = (shared_dir / "seeds" / "001_31712cf740ca7fb9.txt").read_text()
    out = {}
    for m in re.finditer(
        r"^\|\s*MLLA-([TSB])\s*\|[^|]*\|\s*(\dx)\s*\|[^|]*\|[^|]*\|\s*(\d+)M\s*\|", text, re.M
    ):
        out[f"mlla-{m[1].lower()}-{m[2]}"] = float(m[3])
    return out


def build_row(row: str) -> tuple[torch.nn.Module, Any]:
    from mmdet.registry import MODELS
    from mmdet.utils import register_all_modules
    from mmengine.config import Config

    register_all_modules()
    cfg = Config.fromfile(str(CONFIG_DIR / f"{row.replace('-', '_')}.py"))
    with torch.device("meta"):
        return MODELS.build(cfg.model), cfg


# mmdet-2 configs (downstream/detection/configs/mlla/*): only S-3x's reference json defers to
# the config, which sets 0.3 like T-3x.
DROP_PATH_3X_FROM_AUTHORS_CONFIG = {"mlla-s": 0.3}


@pytest.mark.parametrize("row", ROWS)
def test_row_config_builds_the_authors_detector(shared_dir: Path, row: str) -> None:
    arch, sched = row.rsplit("-", 1)
    det, cfg = build_row(row)
    assert type(det).__name__ == "MaskRCNN"
    assert isinstance(det.backbone, mlla_module.MLLABackbone)
    ref = reference(shared_dir, arch)["det_backbone"]
    ref_cfg = {k: v for k, v in ref["config"].items() if k != "drop_path_rate_by_schedule"}
    bb_cfg = dict(cfg.model.backbone)
    expected_dpr = ref["config"]["drop_path_rate_by_schedule"][sched]
    if not isinstance(expected_dpr, float):
        expected_dpr = DROP_PATH_3X_FROM_AUTHORS_CONFIG[arch]
    assert bb_cfg.pop("drop_path_rate") == expected_dpr
    ref_cfg.pop("drop_path_rate")
    assert {k: list(v) if isinstance(v, tuple) else v for k, v in bb_cfg.items()} == ref_cfg
    dims = [ref["config"]["embed_dim"] * 2**i for i in range(4)]
    assert list(cfg.model.neck.in_channels) == dims
    assert (
        shapes({k[9:]: v for k, v in det.state_dict().items() if k.startswith("backbone.")})
        == (ref["state_dict"])
    )
    # The authors' 1x and 3x both train multi-scale; 3x keeps the 500-iteration warmup.
    choice = cfg.train_dataloader.dataset.pipeline[3]
    assert choice["type"] == "RandomChoice" and len(choice["transforms"]) == 2
    assert cfg.train_cfg.max_epochs == {"1x": 12, "3x": 36}[sched]
    assert cfg.param_scheduler[0]["end"] == 500
    assert cfg.param_scheduler[1]["milestones"] == {"1x": [8, 11], "3x": [27, 33]}[sched]


# Published figures vs the authors' code, counted: whether each is within 0.5%. MLLA-T's
# classifier is published as 25M but its code has 24.39M (README rounding or a different
# count); MLLA-S's Mask R-CNN is 62.65M, published as 63M (0.55% away, rounding to 1M).
CLASSIFIER_PUBLISHED_M = {"mlla-t": (25, False), "mlla-s": (43, True), "mlla-b": (96, True)}
DETECTOR_WITHIN_HALF_PERCENT = {
    "mlla-t-1x": True,
    "mlla-t-3x": True,
    "mlla-s-1x": False,
    "mlla-s-3x": False,
    "mlla-b-1x": True,
}


@pytest.mark.parametrize("arch", ARCHS)
def test_classifier_params_vs_published(shared_dir: Path, arch: str) -> None:
    with torch.device("meta"):
        n = sum(p.numel() for p in build_classifier(arch).parameters())
    assert n == reference(shared_dir, arch)["cls"]["params"]
    published, within = CLASSIFIER_PUBLISHED_M[arch]
    assert (abs(n / 1e6 - published) / published <= 0.005) is within


@pytest.mark.parametrize("row", ROWS)
def test_detector_params_vs_published(shared_dir: Path, row: str) -> None:
    det, _ = build_row(row)
    n = sum(p.numel() for p in det.parameters())
    published = parse_published_detection_params(shared_dir)[row]
    assert (abs(n / 1e6 - published) / published <= 0.005) is DETECTOR_WITHIN_HALF_PERCENT[row]
    assert round(n / 1e6) == published  # all agree to the published precision (1M)
