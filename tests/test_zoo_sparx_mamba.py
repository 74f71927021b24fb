"""SparX-Mamba: checkpoint layout, function against independent formulations and the authors'
outputs, detection configs.

Reference data (tests/data, derived by vzoo from the authors' modules, see each file's `source`):
- `sparx-mamba-{t,s,b}.keys.json`: {key: shape} and param counts of the authors' classifier
  (models/sparx_mamba.py) and detection backbone (detection/models/sparx_mamba.py).
- `sparx_mamba_small_reference.pt`: a small-width classifier and backbone of the authors' code run
  in float64 on CPU: input, outputs, key order and the recipe of the random weights.
"""

from __future__ import annotations

import importlib
import json
import math
import sys
from pathlib import Path
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor

from vzoo.core.errors import UserInputError
from vzoo.core.registry import load_registry
from vzoo.zoo import build_backbone, build_classifier
from vzoo.zoo import sparx_mamba as sm
from vzoo.zoo.checkpoint import CheckpointMismatchError, load_state_dict_strict

DATA = Path(__file__).parent / "data"
CONFIGS = Path(__file__).resolve().parents[1] / "zoo" / "configs" / "sparx_mamba"
VARIANTS = ("t", "s", "b")


def reference(variant: str) -> dict[str, Any]:
    return json.loads((DATA / f"sparx-mamba-{variant}.keys.json").read_text())


def shapes(model: torch.nn.Module) -> dict[str, list[int]]:
    return {k: list(v.shape) for k, v in model.state_dict().items()}


def n_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


# ---------------------------------------------------------------------------------------------
# checkpoint layout
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("variant", VARIANTS)
def test_state_dict_layout_equals_the_authors(variant: str) -> None:
    ref = reference(variant)
    with torch.device("meta"):  # layout only: no memory, no init cost
        cls = build_classifier(f"sparx-mamba-{variant}")
        det = build_backbone(f"sparx-mamba-{variant}")
    assert shapes(cls) == ref["cls"]["state_dict"]
    assert n_params(cls) == ref["cls"]["params"]
    assert shapes(det) == ref["det_backbone"]["state_dict"]
    assert n_params(det) == ref["det_backbone"]["params"]


@pytest.mark.parametrize("variant", ["s", "b"])
def test_classifier_params_match_the_published_figure(variant: str) -> None:
    # The README prints whole millions (47, 84): the measured count must round to it.
    # SparX-Mamba-T is left out on purpose: the README prints 25M, but the authors' own model
    # (whose released checkpoint loads strictly) has 27,051,794 (asserted exactly above).
    measured = reference(variant)["cls"]["params"]
    published = sm.ARCHS[f"sparx-mamba-{variant}"].published_params_m
    assert abs(measured / 1e6 - published) <= 0.5


def random_state_dict(layout: dict[str, list[int]], seed: int = 0) -> dict[str, Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {
        k: torch.zeros(s, dtype=torch.long)
        if k.endswith("num_batches_tracked")
        else torch.randn(s, generator=g)
        for k, s in layout.items()
    }


def test_official_layout_loads_strictly_and_mismatches_are_listed(tmp_path: Path) -> None:
    ref = reference("t")
    model = build_classifier("sparx-mamba-t")
    path = tmp_path / "sparx_mamba_tiny_in1k.pth"
    torch.save(random_state_dict(ref["cls"]["state_dict"]), path)
    sd = torch.load(path, map_location="cpu")
    load_state_dict_strict(model, sd)
    key = "layers.2.blocks.0.op.x_proj_weight"
    assert torch.equal(model.state_dict()[key], sd[key])

    broken = dict(sd)
    del broken["layers.3.blocks.1.op.A_logs"]
    broken["layers.3.blocks.1.op.scale"] = torch.ones(1)  # a detection-only key
    broken["classifier.3.weight"] = torch.zeros(10, 512)
    with pytest.raises(CheckpointMismatchError) as err:
        load_state_dict_strict(model, broken)
    assert err.value.missing == ["layers.3.blocks.1.op.A_logs"]
    assert err.value.unexpected == ["layers.3.blocks.1.op.scale"]
    assert err.value.mismatched == [("classifier.3.weight", (10, 512), (1000, 512))]
    assert "classifier.3.weight" in str(err.value)


def test_detection_layout_loads_strictly_into_the_backbone() -> None:
    ref = reference("t")["det_backbone"]["state_dict"]
    backbone = build_backbone("sparx-mamba-t")
    load_state_dict_strict(backbone, random_state_dict(ref, seed=1))
    # the classifier checkpoint is not a detection backbone checkpoint
    with pytest.raises(CheckpointMismatchError) as err:
        load_state_dict_strict(backbone, random_state_dict(reference("t")["cls"]["state_dict"]))
    assert "norm.0.weight" in err.value.missing
    assert "classifier.3.weight" in err.value.unexpected


# ---------------------------------------------------------------------------------------------
# function: the authors' outputs (small widths, float64)
# ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def fixture() -> dict[str, Any]:
    return torch.load(DATA / "sparx_mamba_small_reference.pt", map_location="cpu")


def small_arch(cfg: dict[str, Any]) -> sm.SparXMambaArch:
    return sm.SparXMambaArch(
        depths=tuple(cfg["depths"]),
        dims=tuple(cfg["dims"]),
        stem=cfg["stem_type"],
        dense_step=tuple(cfg["dense_step"]),
        dense_start=tuple(cfg["dense_start"]),
        max_dense_depth=tuple(cfg["max_dense_depth"]),
        cross_stage=tuple(cfg["cross_stage"]),
        sr_ratios=tuple(cfg["sr_ratio"]),
    )


def regenerate_weights(keys: list[str], model: torch.nn.Module, seed: int) -> dict[str, Tensor]:
    """The fixture's weights: drawn key by key, in the authors' order (see its `weights`)."""
    g = torch.Generator().manual_seed(seed)
    own = model.state_dict()
    sd = {}
    for k in keys:
        t = own[k]
        if t.dtype == torch.long:
            sd[k] = t.clone()
        elif "running_var" in k:
            sd[k] = torch.rand(t.shape, generator=g, dtype=torch.float64) + 0.5
        elif k.endswith("scale"):
            sd[k] = torch.rand(t.shape, generator=g, dtype=torch.float64) * 0.3 + 0.05
        else:
            sd[k] = torch.randn(t.shape, generator=g, dtype=torch.float64) * 0.3
    return sd


def test_classifier_matches_the_authors_in_float64(
    fixture: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = fixture["config"]
    model = sm.SparXMamba(small_arch(cfg), num_classes=cfg["num_classes"]).double().eval()
    load_state_dict_strict(model, regenerate_weights(fixture["cls_keys"], model, seed=0))

    dtypes: set[torch.dtype] = set()
    # the SS2D core (projections, four scans, merge) lives in vzoo.kernels.cross_scan
    scan_site = sys.modules["vzoo.kernels.cross_scan"]
    scan = scan_site.selective_scan

    def recording_scan(*args: Any, **kwargs: Any) -> Any:
        dtypes.update(a.dtype for a in (*args, *kwargs.values()) if isinstance(a, Tensor))
        return scan(*args, **kwargs)

    monkeypatch.setattr(scan_site, "selective_scan", recording_scan)
    with torch.no_grad():
        logits = model(fixture["input"])
    assert dtypes == {torch.float64}  # every scan operand stays float64
    assert logits.dtype == torch.float64
    torch.testing.assert_close(logits, fixture["cls_logits"], rtol=0, atol=1e-10)


def test_backbone_matches_the_authors_in_float64(fixture: dict[str, Any]) -> None:
    model = sm.SparXMambaBackbone(small_arch(fixture["config"])).double().eval()
    load_state_dict_strict(model, regenerate_weights(fixture["det_keys"], model, seed=1))
    with torch.no_grad():
        outs = model(fixture["input"])
    assert len(outs) == 4
    for ours, theirs in zip(outs, fixture["det_outputs"], strict=True):
        torch.testing.assert_close(ours, theirs, rtol=0, atol=1e-10)


# ---------------------------------------------------------------------------------------------
# function: independent, naive formulations
# ---------------------------------------------------------------------------------------------
def scan_orders(h: int, w: int) -> list[list[int]]:
    """Flat positions (row * w + col) of the 4 traversal orders, written out one by one."""
    rows = [r * w + c for r in range(h) for c in range(w)]
    cols = [r * w + c for c in range(w) for r in range(h)]
    return [rows, cols, rows[::-1], cols[::-1]]


def test_cross_scan_and_merge_follow_the_four_orders() -> None:
    x = torch.randn(2, 3, 5, 7, dtype=torch.float64)
    flat = x.flatten(2)
    ys = sm.cross_scan(x)
    for k, order in enumerate(scan_orders(5, 7)):
        torch.testing.assert_close(ys[:, k], flat[:, :, order], rtol=0, atol=0)
    y = torch.randn(2, 4, 3, 35, dtype=torch.float64)
    expected = torch.zeros(2, 3, 35, dtype=torch.float64)
    for k, order in enumerate(scan_orders(5, 7)):
        for t, p in enumerate(order):
            expected[:, :, p] += y[:, k, :, t]
    # summation order may differ by a few ulps; a wrong index is O(1)
    torch.testing.assert_close(sm.cross_merge(y, 5, 7), expected, rtol=0, atol=1e-13)


def naive_group_norm(x: Tensor, weight: Tensor, bias: Tensor, eps: float) -> Tensor:
    dims = (1, 2, 3)
    mean = x.mean(dim=dims, keepdim=True)
    var = ((x - mean) ** 2).mean(dim=dims, keepdim=True)
    return (x - mean) / torch.sqrt(var + eps) * weight.view(1, -1, 1, 1) + bias.view(1, -1, 1, 1)


def naive_scan_block(op: sm.SparXSS2D, u: Tensor) -> Tensor:
    """SS2D after its input projection: the recurrence step by step along each of the 4 orders."""
    b, d, h, w = u.shape
    r, n = op.dt_rank, op.d_state
    flat = u.flatten(2)
    y = torch.zeros_like(flat)
    x_proj = op.x_proj_weight.view(4, r + 2 * n, d)
    a = -torch.exp(op.A_logs.view(4, d, n))
    skip = op.Ds.view(4, d)
    for k, order in enumerate(scan_orders(h, w)):
        state = torch.zeros(b, d, n, dtype=u.dtype)
        for p in order:
            ut = flat[:, :, p]
            proj = ut @ x_proj[k].T
            dt = F.softplus(proj[:, :r] @ op.dt_projs_weight[k].T + op.dt_projs_bias[k])
            bt, ct = proj[:, r : r + n], proj[:, r + n :]
            state = (
                torch.exp(dt[..., None] * a[k]) * state
                + dt[..., None] * bt[:, None] * ut[..., None]
            )
            y[:, :, p] += (state * ct[:, None]).sum(-1) + skip[k] * ut
    y = naive_group_norm(y.view(b, d, h, w), op.out_norm.weight, op.out_norm.bias, op.out_norm.eps)
    return torch.einsum("oc,bchw->bohw", op.out_proj.weight[:, :, 0, 0], y) + op.out_proj.bias.view(
        1, -1, 1, 1
    )


def naive_cross_input(op: sm.SparXSS2D, x: Tensor, shortcut: Tensor) -> Tensor:
    """The cross-layer input: 4-head channel attention, shuffle, grouped projection, padding."""
    b, c, h, w = x.shape
    s = naive_group_norm(shortcut, op.d_norm.weight, op.d_norm.bias, op.d_norm.eps)
    s = op.d_proj(s)
    q, k, v = op.q(x), op.k(s[:, :c]), op.v(s[:, c:])
    attn = torch.empty_like(x)
    per_head = c // 4
    for i in range(b):
        for head in range(4):
            ch = slice(head * per_head, (head + 1) * per_head)
            qh, kh, vh = q[i, ch].flatten(1), k[i, ch].flatten(1), v[i, ch].flatten(1)
            scale = op.scale if hasattr(op, "scale") else 1 / math.sqrt(qh.shape[1])
            weights = torch.softmax(qh @ kh.T * scale, dim=-1)
            attn[i, ch] = (weights @ vh).view(per_head, h, w)
    first = q if q.shape[2:] == x.shape[2:] else x
    stacked = torch.cat((first, attn, v), dim=1)
    shuffled = torch.stack([stacked[:, ci * 3 + g] for g in range(3) for ci in range(c)], dim=1)
    y = op.in_proj(shuffled)
    pad = op.d_inner - y.shape[1]
    if pad:
        cn = y.shape[1]
        bins = [(math.floor(i * cn / pad), math.ceil((i + 1) * cn / pad)) for i in range(pad)]
        y = torch.cat([y] + [y[:, lo:hi].mean(dim=1, keepdim=True) for lo, hi in bins], dim=1)
    return y


def naive_ss2d(op: sm.SparXSS2D, x: Tensor, shortcut: Tensor | None) -> Tensor:
    u = naive_cross_input(op, x, shortcut) if shortcut is not None else op.in_proj(x)
    return naive_scan_block(op, F.silu(op.conv2d(u)))


def naive_block(block: sm.SparXBlock, x: Tensor, shortcut: Tensor | None) -> Tensor:
    def layerscale(m: torch.nn.Module, t: Tensor) -> Tensor:
        if isinstance(m, sm.LayerScale):
            return t * m.weight.view(1, -1, 1, 1) + m.bias.view(1, -1, 1, 1)
        return t

    n1, n2 = block.norm, block.norm2
    x = x + block.pos_embed(x)
    x = layerscale(block.layerscale_1, x) + naive_ss2d(
        block.op, naive_group_norm(x, n1.weight, n1.bias, n1.eps), shortcut
    )
    hidden = block.mlp.fc1(naive_group_norm(x, n2.weight, n2.bias, n2.eps))
    return layerscale(block.layerscale_2, x) + block.mlp.fc2(
        F.gelu(hidden + block.mlp.dwconv(hidden))
    )


def randomize_(model: torch.nn.Module, seed: int) -> None:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, t in model.state_dict().items():
            if t.is_floating_point():
                if "running_var" in name:
                    t.copy_(torch.rand(t.shape, generator=g, dtype=t.dtype) + 0.5)
                elif name.endswith("scale"):
                    t.copy_(torch.rand(t.shape, generator=g, dtype=t.dtype) * 0.3 + 0.05)
                else:
                    t.copy_(torch.randn(t.shape, generator=g, dtype=t.dtype) * 0.3)


SMALL = sm.SparXMambaArch(
    depths=(1, 2, 4, 2),
    dims=(12, 16, 20, 28),  # inner widths 40 and 56: the mean-pad and the pooled-pad paths
    stem="v2",
    dense_step=(1, 1, 2, 1),
    dense_start=(100, 1, 0, 0),
    max_dense_depth=(100, 100, 1, 100),
)


# dim-wide maps each block's shortcut holds, counted by hand from the connection rule: stage 0 has
# no cross layer; stage 2 (step 2, cap 1): block 3 gets plain block 2 + cross block 1; stage 3
# (step 1): block 0 gets the stage input, block 1 gets cross block 0.
SHORTCUT_MAPS: dict[tuple[int, int], int | None] = {(0, 0): None, (2, 3): 2, (3, 0): 1, (3, 1): 1}


@pytest.mark.parametrize(("stage", "index"), list(SHORTCUT_MAPS))
def test_block_equals_the_naive_formulation(stage: int, index: int) -> None:
    for learnable_scale in (False, True):
        torch.manual_seed(0)
        shortcut_maps = SHORTCUT_MAPS[(stage, index)]
        dim = SMALL.dims[stage]
        block = sm.SparXBlock(
            dim, SMALL, stage,
            shortcut_dim=None if shortcut_maps is None else shortcut_maps * dim,
            learnable_scale=learnable_scale,
        ).double().eval()  # fmt: skip
        randomize_(block, seed=3)
        x = torch.randn(2, dim, 7, 5, dtype=torch.float64)
        shortcut = (
            None if shortcut_maps is None else torch.randn(2, shortcut_maps * dim, 7, 5).double()
        )
        with torch.no_grad():
            ours = block(x, shortcut)
            naive = naive_block(block, x, shortcut)
        torch.testing.assert_close(ours, naive, rtol=0, atol=1e-11)


def naive_stage(stage: sm.SparXStage, x: Tensor, stage_input: Tensor | None, arch: Any) -> Tensor:
    """The sparse connection rule by index: the first cross layer sees the stage input and every
    block before it; a later one sees the plain blocks since the previous cross layer, then the
    outputs of the last `max_dense_depth` cross layers."""
    cross = stage.cross_layers
    outputs: list[Tensor] = []
    for j, block in enumerate(stage.blocks):
        if j not in cross:
            x = block(x)
        else:
            rank = cross.index(j)
            if rank == 0:
                assert stage_input is not None
                sources = [stage_input, *outputs[:j]]
            else:
                previous = cross[:rank][-stage.max_dense_depth :]
                sources = outputs[cross[rank - 1] + 1 : j] + [outputs[p] for p in previous]
            x = block(x, torch.cat(sources, dim=1))
        outputs.append(x)
    return x


def test_small_classifier_equals_the_naive_connection_rule() -> None:
    model = sm.SparXMamba(SMALL, num_classes=7).double().eval()
    randomize_(model, seed=4)
    x = torch.randn(2, 3, 45, 37, dtype=torch.float64)
    with torch.no_grad():
        h = model.patch_embed(x)
        stage_input = None
        for stage in model.layers:
            h = naive_stage(stage, h, stage_input, SMALL)
            h = stage_input = stage.downsample(h)
        norm = model.classifier[0]
        pooled = naive_group_norm(h, norm.weight, norm.bias, norm.eps).mean(dim=(2, 3))
        naive = pooled @ model.classifier[3].weight.T + model.classifier[3].bias
        ours = model(x)
    torch.testing.assert_close(ours, naive, rtol=0, atol=1e-12)


def test_odd_sizes_shapes_and_determinism() -> None:
    backbone = build_backbone("sparx-mamba-t").eval()
    x = torch.randn(1, 3, 37, 29)  # odd: every stride-2 conv rounds up
    with torch.no_grad():
        first = backbone(x)
        second = backbone(x)
    assert [tuple(t.shape) for t in first] == [
        (1, 96, 10, 8), (1, 192, 5, 4), (1, 320, 3, 2), (1, 512, 2, 1),
    ]  # fmt: skip
    for a, b in zip(first, second, strict=True):
        assert torch.equal(a, b)
    with torch.device("meta"):
        assert build_backbone("sparx-mamba-t", out_indices=(1, 3)).out_indices == (1, 3)
    backbone.out_indices = (1, 3)
    with torch.no_grad():
        picked = backbone(x)
    assert [t.shape[1] for t in picked] == [192, 512]
    assert torch.equal(picked[1], first[3])


def test_classifier_output_shape() -> None:
    model = sm.SparXMamba(SMALL, num_classes=11).eval()
    with torch.no_grad():
        assert model(torch.randn(3, 3, 33, 50)).shape == (3, 11)


def test_user_errors() -> None:
    with pytest.raises(UserInputError, match="sparx-mamba-x"):
        build_classifier("sparx-mamba-x")
    with pytest.raises(UserInputError, match="unknown SparX-Mamba variant"):
        sm.SparXMambaBackbone("xl")
    with pytest.raises(UserInputError, match="out_indices"):
        sm.SparXMambaBackbone(SMALL, out_indices=(0, 4))


# ---------------------------------------------------------------------------------------------
# mmdet registration and configs
# ---------------------------------------------------------------------------------------------
def test_registration_survives_reimport() -> None:
    from mmdet.registry import MODELS

    importlib.reload(sm)
    importlib.reload(sm)
    for v in VARIANTS:
        assert MODELS.get(f"sparx_mamba_{v}") is not None
    with torch.device("meta"):
        backbone = MODELS.build(dict(type="sparx_mamba_s", pretrained=True, drop_path_rate=0.3))
    assert type(backbone).__name__ == "SparXMambaBackbone"
    # the ImageNet init is deferred to init_weights() (the training runner), never a download here
    url = load_registry().get("sparx-mamba-s").weights.urls[0]  # the registry holds the URLs
    assert backbone.init_cfg == {"type": "Pretrained", "checkpoint": url}


def test_mmseg_names_build_the_fixed_scale_segmentation_variant() -> None:
    import mmseg.registry as mmseg_registry  # installed with the test extra

    # the authors' segmentation file: the detection network without the learned attention scales
    det_layout = reference("t")["det_backbone"]["state_dict"]
    expected = {k: s for k, s in det_layout.items() if not k.endswith(".op.scale")}
    assert len(expected) < len(det_layout)
    from mmengine.registry import DefaultScope

    # an mmseg config runs in the mmseg scope (another test may have left mmdet's as default)
    with DefaultScope.overwrite_default_scope("mmseg"), torch.device("meta"):
        seg = mmseg_registry.MODELS.build(dict(type="sparx_mamba_t", pretrained=False))
    assert shapes(seg) == expected


AUTHORS_BACKBONE = {  # detection/config/maskrcnn_sparx_mamba_{v}_fpn_{1x,3x}_coco.py
    "t": dict(type="sparx_mamba_t", pretrained=True, drop_path_rate=0.2),
    "s": dict(type="sparx_mamba_s", pretrained=True, drop_path_rate=0.3),
    "b": dict(type="sparx_mamba_b", pretrained=True, drop_path_rate=0.45),
}


@pytest.mark.parametrize("variant", VARIANTS)
def test_configs_build_mask_rcnn_with_our_backbone(variant: str) -> None:
    from mmdet.registry import MODELS
    from mmdet.utils import register_all_modules
    from mmengine.config import Config

    register_all_modules()
    cfgs = {
        s: Config.fromfile(str(CONFIGS / f"sparx_mamba_{variant}_{s}.py")) for s in ("1x", "3x")
    }
    arch = sm.ARCHS[f"sparx-mamba-{variant}"]
    for sched, cfg in cfgs.items():
        backbone = dict(cfg.model.backbone)
        backbone.pop("_delete_", None)
        assert backbone == AUTHORS_BACKBONE[variant]
        assert list(cfg.model.neck.in_channels) == list(arch.dims)
        assert cfg.custom_imports["imports"] == ["vzoo.zoo.sparx_mamba"]
        assert cfg.optim_wrapper.optimizer.type == "AdamW"
        assert cfg.param_scheduler[0]["end"] == 1000
        assert cfg.test_dataloader.batch_size == 4
        epochs, milestones = (12, [8, 11]) if sched == "1x" else (36, [27, 33])
        assert cfg.train_cfg.max_epochs == epochs
        assert cfg.param_scheduler[1]["milestones"] == milestones
    assert cfgs["1x"].model == cfgs["3x"].model  # one build covers both schedules
    with torch.device("meta"):  # parameters and structure only
        model = MODELS.build(cfgs["1x"].model)
    assert isinstance(model.backbone, sm.SparXMambaBackbone)
    assert n_params(model.backbone) == reference(variant)["det_backbone"]["params"]
    assert n_params(model) > n_params(model.backbone)
