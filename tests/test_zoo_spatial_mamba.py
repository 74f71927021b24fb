"""Spatial-Mamba: checkpoint layout, layer math against a naive float64 formulation, configs."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from vzoo.core.errors import UserInputError
from vzoo.zoo import build_backbone, build_classifier
from vzoo.zoo import spatial_mamba as sm
from vzoo.zoo.checkpoint import CheckpointMismatchError, load_state_dict_strict

VARIANTS = ("t", "s", "b")
CONFIG_DIR = Path(sm.__file__).resolve().parent / "configs" / "spatial_mamba"


def reference(shared_dir: Path, variant: str) -> dict[str, Any]:
    return json.loads((shared_dir / "reference" / f"spatial-mamba-{variant}.json").read_text())


def published_params_m(shared_dir: Path) -> dict[tuple[str, str], int]:
    """(variant, 'classifier' | 'Mask R-CNN' | 'UPerNet') -> #param (M) from the seed README."""
    text = (shared_dir / "seeds" / "003_8ea64174864487e0.txt").read_text()
    out: dict[tuple[str, str], int] = {}
    for m in re.finditer(r"Spatial-Mamba-([TSB]) \| ([^|]+) \|[^|]+\|[^|]+\| (\d+)M \|", text):
        method = m.group(2).strip()
        kind = "classifier" if method == "ImageNet-1K" else method
        out[(m.group(1).lower(), kind)] = int(m.group(3))
    return out


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def randomize(model: nn.Module, seed: int = 0) -> nn.Module:
    """Perturb every float tensor (kernels, alpha, BN statistics too) so no path is trivial."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, t in model.state_dict().items():
            if not t.dtype.is_floating_point:
                continue
            noise = torch.randn(t.shape, generator=g, dtype=t.dtype)
            if name.endswith("running_var"):
                t.copy_(0.5 + noise.abs())
            elif "state_fusion" in name or name.endswith(("A_logs", "Ds")):
                t.copy_(
                    t + 0.3 * noise if name.endswith(("A_logs", "Ds", "alpha")) else 0.3 * noise
                )
            else:
                t.add_(0.05 * noise)
    return model


# ------------------------------------------------------------------------------------------
# Naive formulation (float64): explicit loops / formulas, sharing no code with the module
# ------------------------------------------------------------------------------------------


def naive_fusion(h: Tensor, k1: Tensor, k3: Tensor, k5: Tensor, alpha: Tensor) -> Tensor:
    """The authors' CUDA dwconv2d on the merged 11x11 kernel: clamped source indices."""
    _, ch, height, width = h.shape
    w11 = h.new_zeros(ch, 11, 11)
    for kernel, dil, a in ((k1, 1, alpha[0]), (k3, 3, alpha[1]), (k5, 5, alpha[2])):
        for p in range(3):
            for q in range(3):
                w11[:, 5 + dil * (p - 1), 5 + dil * (q - 1)] += a * kernel[:, 0, p, q]
    out = torch.zeros_like(h)
    for p in range(11):
        rows = (torch.arange(height) + p - 5).clamp(0, height - 1)
        for q in range(11):
            cols = (torch.arange(width) + q - 5).clamp(0, width - 1)
            out += w11[None, :, p, q, None, None] * h[:, :, rows][:, :, :, cols]
    return out


def naive_ln(x: Tensor, ln: nn.LayerNorm) -> Tensor:
    mu = x.mean(-1, keepdim=True)
    var = ((x - mu) ** 2).mean(-1, keepdim=True)
    return (x - mu) / torch.sqrt(var + ln.eps) * ln.weight + ln.bias


def naive_dwconv_cl(x: Tensor, conv: nn.Conv2d) -> Tensor:
    """Zero-padded depthwise 3x3 on a channels-last map, as explicit shifted sums."""
    _, height, width, _ = x.shape
    xp = F.pad(x, (0, 0, 1, 1, 1, 1))
    out = conv.bias.expand_as(x).clone()
    for p in range(3):
        for q in range(3):
            out = out + xp[:, p : p + height, q : q + width, :] * conv.weight[:, 0, p, q]
    return out


def naive_ssm(m: sm.StructureAwareSSM, x: Tensor) -> Tensor:
    bsz, height, width, _ = x.shape
    d, r = m.d_inner, m.dt_rank
    xz = x @ m.in_proj.weight.T
    xi, z = xz[..., :d], xz[..., d:]
    xc = naive_dwconv_cl(xi, m.conv2d)
    xc = xc * torch.sigmoid(xc)
    u = xc.reshape(bsz, height * width, d).transpose(1, 2)  # (B, d, L), raster order
    proj = torch.einsum("kd,bdl->bkl", m.x_proj_weight, u)
    dt = torch.einsum("dr,brl->bdl", m.dt_projs_weight, proj[:, :r]) + m.dt_projs_bias[:, None]
    dt = torch.log1p(torch.exp(dt))
    b_t, c_t = proj[:, r], proj[:, r + 1]
    a = -torch.exp(m.A_logs[:, 0])
    h = u.new_zeros(bsz, d)
    states = []
    for t in range(height * width):
        h = torch.exp(dt[:, :, t] * a) * h + dt[:, :, t] * b_t[:, None, t] * u[:, :, t]
        states.append(h)
    hs = torch.stack(states, -1).reshape(bsz, d, height, width)
    sf = m.state_fusion
    fused = naive_fusion(hs, sf.kernel_3, sf.kernel_3_1, sf.kernel_3_2, sf.alpha)
    y = fused.reshape(bsz, d, -1) * c_t[:, None] + u * m.Ds[:, None]
    y = naive_ln(y.transpose(1, 2).reshape(bsz, height, width, d), m.out_norm)
    return (y * z * torch.sigmoid(z)) @ m.out_proj.weight.T


def naive_block(blk: sm.SpatialMambaBlock, x: Tensor) -> Tensor:
    x = x + naive_dwconv_cl(x, blk.cpe1)
    x = x + naive_ssm(blk.self_attention, naive_ln(x, blk.ln_1))
    x = x + naive_dwconv_cl(x, blk.cpe2)
    hid = naive_ln(x, blk.ln_2) @ blk.mlp.fc1.weight.T + blk.mlp.fc1.bias
    hid = 0.5 * hid * (1 + torch.erf(hid / math.sqrt(2)))
    return x + hid @ blk.mlp.fc2.weight.T + blk.mlp.fc2.bias


def naive_conv_layer(layer: sm.ConvLayer, x: Tensor) -> Tensor:
    c = layer.conv
    x = F.conv2d(x, c.weight, c.bias, c.stride, c.padding, groups=c.groups)
    if layer.norm is not None:
        bn = layer.norm
        scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
        x = (x - bn.running_mean[:, None, None]) * scale[:, None, None] + bn.bias[:, None, None]
    return x.clamp_min(0) if layer.act is not None else x


def naive_trunk(model: sm._SpatialMambaTrunk, x: Tensor) -> list[Tensor]:
    """Stage outputs (channels last) before downsampling."""
    st = model.patch_embed
    x = naive_conv_layer(st.conv1, x)
    x = naive_conv_layer(st.conv2[1], naive_conv_layer(st.conv2[0], x)) + x
    x = naive_conv_layer(st.conv3[1], naive_conv_layer(st.conv3[0], x)).permute(0, 2, 3, 1)
    outs = []
    for layer in model.layers:
        for blk in layer.blocks:
            x = naive_block(blk, x)
        outs.append(x)
        if layer.downsample is not None:
            y = x.permute(0, 3, 1, 2)
            for cl in layer.downsample.conv:
                y = naive_conv_layer(cl, y)
            x = y.permute(0, 2, 3, 1)
    return outs


SMALL = dict(depths=(1, 2, 1, 1), dims=16)


# ------------------------------------------------------------------------------------------
# Checkpoint layout and parameter counts
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("variant", VARIANTS)
def test_state_dicts_and_params_match_reference(shared_dir: Path, variant: str) -> None:
    ref = reference(shared_dir, variant)
    published = published_params_m(shared_dir)
    arch = f"spatial-mamba-{variant}"
    for model, part in ((build_classifier(arch), "cls"), (build_backbone(arch), "det_backbone")):
        shapes = {k: list(v.shape) for k, v in model.state_dict().items()}
        assert shapes == ref[part]["state_dict"]
        assert n_params(model) == ref[part]["params"]
    # The README's classifier figure is rounded to whole millions: the count must round to it.
    assert round(ref["cls"]["params"] / 1e6) == published[(variant, "classifier")]


def test_strict_loading_of_official_layout(shared_dir: Path, tmp_path: Path) -> None:
    ref = reference(shared_dir, "t")["cls"]["state_dict"]
    g = torch.Generator().manual_seed(1)
    state = {
        k: torch.randn(shape, generator=g) if shape else torch.tensor(7) for k, shape in ref.items()
    }
    path = tmp_path / "official.pth"
    torch.save({"model": state}, path)
    loaded = torch.load(path, weights_only=True)["model"]
    model = build_classifier("spatial-mamba-t")
    load_state_dict_strict(model, loaded, source=str(path))
    key = "layers.2.blocks.3.self_attention.state_fusion.kernel_3_1"
    assert torch.equal(model.state_dict()[key], state[key])

    broken = dict(loaded)
    del broken["layers.0.blocks.0.self_attention.Ds"]
    broken["layers.0.blocks.0.extra"] = torch.zeros(1)
    broken["head.weight"] = torch.zeros(10, 512)
    with pytest.raises(CheckpointMismatchError) as err:
        load_state_dict_strict(build_classifier("spatial-mamba-t"), broken, source="bad")
    assert err.value.missing == ["layers.0.blocks.0.self_attention.Ds"]
    assert err.value.unexpected == ["layers.0.blocks.0.extra"]
    assert err.value.mismatched == [("head.weight", (10, 512), (1000, 512))]

    # The backbone's `pretrained` takes the classifier checkpoint (head/norm dropped).
    bb = build_backbone("spatial-mamba-t", pretrained=str(path))
    assert torch.equal(bb.state_dict()[key], state[key])
    torch.save({"model": broken}, tmp_path / "broken.pth")
    with pytest.raises(CheckpointMismatchError, match="Ds"):
        build_backbone("spatial-mamba-t", pretrained=str(tmp_path / "broken.pth"))
    with pytest.raises(UserInputError, match="does not exist"):
        build_backbone("spatial-mamba-t", pretrained=str(tmp_path / "nope.pth"))


# ------------------------------------------------------------------------------------------
# Function
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [(1, 1), (1, 2), (5, 7), (13, 4)])
def test_state_fusion_equals_clamped_11x11_kernel(size: tuple[int, int]) -> None:
    g = torch.Generator().manual_seed(2)
    h = torch.randn(2, 6, *size, generator=g, dtype=torch.float64)
    k1, k3, k5 = (torch.randn(6, 1, 3, 3, generator=g, dtype=torch.float64) for _ in range(3))
    alpha = torch.randn(3, generator=g, dtype=torch.float64)
    expected = naive_fusion(h, k1, k3, k5, alpha)
    out = sm.structure_aware_state_fusion(h, k1, k3, k5, alpha)
    assert out.dtype == torch.float64
    torch.testing.assert_close(out, expected, rtol=1e-12, atol=1e-12)
    # The authors' training path: three dilated 3x3 convs, each replicate-padded by its dilation.
    train_path = sum(
        a * F.conv2d(F.pad(h, (d, d, d, d), mode="replicate"), k, dilation=d, groups=6)
        for k, d, a in ((k1, 1, alpha[0]), (k3, 3, alpha[1]), (k5, 5, alpha[2]))
    )
    torch.testing.assert_close(train_path, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("size", [(1, 1), (1, 2), (5, 7), (13, 4), (12, 23)])
def test_float32_inference_state_fusion_runs_the_taps_kernel(
    size: tuple[int, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    from vzoo.kernels import state_fusion_numba

    g = torch.Generator().manual_seed(3)
    h = torch.randn(2, 5, *size, generator=g, dtype=torch.float64)
    k1, k3, k5 = (torch.randn(5, 1, 3, 3, generator=g, dtype=torch.float64) for _ in range(3))
    alpha = torch.randn(3, generator=g, dtype=torch.float64)
    expected = naive_fusion(h, k1, k3, k5, alpha)
    calls = []
    fuse = state_fusion_numba.fuse
    monkeypatch.setattr(state_fusion_numba, "fuse", lambda *a: calls.append(1) or fuse(*a))
    args32 = [t.float() for t in (h, k1, k3, k5, alpha)]
    with torch.inference_mode():
        out = sm.structure_aware_state_fusion(*args32)
    assert calls and out.dtype == torch.float32
    torch.testing.assert_close(out.double(), expected, rtol=1e-5, atol=1e-5)
    monkeypatch.setenv("VZOO_SASF_NUMBA", "0")  # the dense torch kernel: same function
    with torch.inference_mode():
        dense = sm.structure_aware_state_fusion(*args32)
    assert len(calls) == 1
    torch.testing.assert_close(out, dense, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("size", [(1, 1), (5, 7), (13, 4), (12, 23)])
def test_channels_last_state_fusion_gives_the_planes_bits(size: tuple[int, int]) -> None:
    """The token-major model hands the fusion a channels-last map: the channels-as-lanes kernel
    gives exactly the per-plane kernel's numbers, channels-last out (no transposing copy)."""
    from vzoo.kernels import state_fusion_numba

    g = torch.Generator().manual_seed(5)
    h = torch.randn(2, 24, *size, generator=g)
    weight = sm.merged_sasf_kernel(
        *(torch.randn(24, 1, 3, 3, generator=g) for _ in range(3)), torch.randn(3, generator=g)
    )
    planes = state_fusion_numba.fuse(h, weight)
    out = state_fusion_numba.fuse(h.contiguous(memory_format=torch.channels_last), weight)
    assert out.is_contiguous(memory_format=torch.channels_last)
    assert torch.equal(out, planes)


def test_state_fusion_gradients() -> None:
    g = torch.Generator().manual_seed(7)
    args = [torch.randn(1, 2, 4, 3, generator=g, dtype=torch.float64)]
    args += [torch.randn(2, 1, 3, 3, generator=g, dtype=torch.float64) for _ in range(3)]
    args += [torch.randn(3, generator=g, dtype=torch.float64)]
    for t in args:
        t.requires_grad_(True)
    assert torch.autograd.gradcheck(sm.structure_aware_state_fusion, tuple(args))


def test_state_fusion_uses_current_weights_after_eval_forward() -> None:
    # The authors cache the merged kernel on the first eval forward; ours must not go stale.
    sf = sm.StateFusion(4).double().eval()
    h = torch.randn(1, 4, 6, 5, dtype=torch.float64)
    first = sf(h)
    with torch.no_grad():
        sf.kernel_3_2.mul_(-2.0)
    expected = naive_fusion(h, sf.kernel_3, sf.kernel_3_1, sf.kernel_3_2, sf.alpha)
    torch.testing.assert_close(sf(h), expected, rtol=1e-12, atol=1e-12)
    assert not torch.allclose(first, expected)


def test_block_matches_naive_formulation() -> None:
    torch.manual_seed(3)
    blk = randomize(sm.SpatialMambaBlock(24), seed=3).double().eval()
    x = torch.randn(2, 5, 7, 24, dtype=torch.float64)
    with torch.no_grad():
        out = blk(x)
        expected = naive_block(blk, x)
    assert out.dtype == torch.float64
    torch.testing.assert_close(out, expected, rtol=1e-10, atol=1e-10)


def test_small_classifier_and_backbone_match_naive_formulation() -> None:
    torch.manual_seed(4)
    cls = randomize(build_classifier("spatial-mamba-t", num_classes=10, **SMALL), 4)
    cls = cls.double().eval()
    x = torch.randn(1, 3, 35, 47, dtype=torch.float64)
    with torch.no_grad():
        logits = cls(x)
        stages = naive_trunk(cls, x)
        feat = naive_ln(stages[-1].flatten(1, 2), cls.norm).mean(1)
        expected = feat @ cls.head.weight.T + cls.head.bias
    assert logits.shape == (1, 10) and logits.dtype == torch.float64
    torch.testing.assert_close(logits, expected, rtol=1e-9, atol=1e-9)

    bb = build_backbone("spatial-mamba-t", **SMALL)
    own = bb.state_dict()
    bb.load_state_dict({**{k: v for k, v in cls.state_dict().items() if k in own},
                        **{k: v for k, v in randomize(bb, 5).state_dict().items()
                           if k.startswith("outnorm")}})  # fmt: skip
    bb = bb.double().eval()
    with torch.no_grad():
        outs = bb(x)
    assert [tuple(o.shape) for o in outs] == [(1, 16, 9, 12), (1, 32, 5, 6), (1, 64, 3, 3),
                                              (1, 128, 2, 2)]  # fmt: skip
    for i, (o, s) in enumerate(zip(outs, stages, strict=True)):
        ref = naive_ln(s, getattr(bb, f"outnorm{i}")).permute(0, 3, 1, 2)
        torch.testing.assert_close(o, ref, rtol=1e-9, atol=1e-9)


def test_float64_end_to_end_and_determinism_at_odd_sizes() -> None:
    torch.manual_seed(6)
    bb = randomize(build_backbone("spatial-mamba-t", **SMALL), 6).eval()
    seen: set[torch.dtype] = set()

    def record(_m: nn.Module, _i: Any, out: Any) -> None:
        for t in out if isinstance(out, tuple) else (out,):
            if isinstance(t, Tensor):
                seen.add(t.dtype)

    x = torch.randn(1, 3, 29, 31)
    with torch.no_grad():
        out32 = bb(x)
        bb64 = bb.double()
        hooks = [m.register_forward_hook(record) for m in bb64.modules()]
        out64 = bb64(x.double())
        again = bb64(x.double())
        for hk in hooks:
            hk.remove()
    assert seen == {torch.float64}
    for a, b, c in zip(out32, out64, again, strict=True):
        assert torch.equal(b, c)
        torch.testing.assert_close(a.double(), b, rtol=1e-4, atol=1e-4)
    assert [o.shape[-2:] for o in out64] == [(8, 8), (4, 4), (2, 2), (1, 1)]


def test_constructor_checks_and_authors_merged_kwargs(shared_dir: Path) -> None:
    from mmdet.registry import MODELS as DET_MODELS
    from mmseg.registry import MODELS as SEG_MODELS

    assert DET_MODELS.get("MM_SpatialMamba") is sm.MM_SpatialMamba
    assert SEG_MODELS.get("MM_SpatialMamba") is sm.MM_SpatialMamba
    # The authors' configs merge Swin keys into the dict; they are accepted and have no effect.
    merged = dict(reference(shared_dir, "t")["det_backbone"]["config_merged"])
    merged.pop("type")
    assert (
        n_params(sm.MM_SpatialMamba(**merged))
        == reference(shared_dir, "t")["det_backbone"]["params"]
    )
    with pytest.raises(UserInputError, match="widht"):
        sm.MM_SpatialMamba(widht=3)
    with pytest.raises(UserInputError, match="d_state=1"):
        build_classifier("spatial-mamba-t", d_state=4)


# ------------------------------------------------------------------------------------------
# Row configs
# ------------------------------------------------------------------------------------------

ROW_CONFIGS = {
    "spatial_mamba_t_1x.py": ("t", "Mask R-CNN"),
    "spatial_mamba_s_1x.py": ("s", "Mask R-CNN"),
    "spatial_mamba_b_1x.py": ("b", "Mask R-CNN"),
    "spatial_mamba_t_3x.py": ("t", "Mask R-CNN"),
    "spatial_mamba_s_3x.py": ("s", "Mask R-CNN"),
    "spatial_mamba_t_upernet_160k.py": ("t", "UPerNet"),
    "spatial_mamba_s_upernet_160k.py": ("s", "UPerNet"),
    "spatial_mamba_b_upernet_160k.py": ("b", "UPerNet"),
}


def test_every_config_is_tested() -> None:
    assert sorted(p.name for p in CONFIG_DIR.glob("*.py")) == sorted(ROW_CONFIGS)


@pytest.mark.parametrize("name", sorted(ROW_CONFIGS))
def test_row_config_builds_with_our_backbone(shared_dir: Path, name: str) -> None:
    from mmengine.config import Config

    variant, method = ROW_CONFIGS[name]
    cfg = Config.fromfile(str(CONFIG_DIR / name))
    if method == "UPerNet":
        from mmseg.registry import MODELS
        from mmseg.utils import register_all_modules
    else:
        from mmdet.registry import MODELS
        from mmdet.utils import register_all_modules
    register_all_modules(init_default_scope=True)
    model = MODELS.build(cfg.model)
    arch = f"spatial-mamba-{variant}"
    ref = reference(shared_dir, variant)
    assert type(model.backbone) is sm.MM_SpatialMamba
    expected = sm.backbone_config(arch)
    got = {k: cfg.model.backbone[k] for k in expected}
    assert {**got, "out_indices": tuple(got["out_indices"]), "depths": tuple(got["depths"])} == (
        expected
    )
    assert n_params(model.backbone) == ref["det_backbone"]["params"]
    dims = [ref["cls"]["kwargs"]["dims"] * 2**i for i in range(4)]
    if method == "UPerNet":
        assert list(cfg.model.decode_head.in_channels) == dims
        assert cfg.model.auxiliary_head.in_channels == dims[2]
        assert cfg.model.decode_head.num_classes == 150
        assert cfg.train_cfg.max_iters == 160000
        assert cfg.crop_size == (512, 512)
    else:
        assert list(cfg.model.neck.in_channels) == dims
        assert cfg.train_cfg.max_epochs == (36 if "3x" in name else 12)
        assert cfg.param_scheduler[0]["end"] == 1000  # the Swin-T recipe's warm-up
    if variant == "t":  # the neck / heads take our feature maps (small input, eval mode)
        model.eval()
        with torch.no_grad():
            if method == "UPerNet":
                assert model._forward(torch.randn(1, 3, 64, 64)).shape == (1, 150, 16, 16)
            else:
                feats = model.extract_feat(torch.randn(1, 3, 64, 96))
                assert [f.shape[1:] for f in feats] == [
                    (256, 16, 24), (256, 8, 12), (256, 4, 6), (256, 2, 3), (256, 1, 2)
                ]  # fmt: skip
    # Whole detector / segmentor, measured; the README rounds to whole millions.
    assert round(n_params(model) / 1e6) == published_params_m(shared_dir)[(variant, method)]
