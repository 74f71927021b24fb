"""The authors' classifiers, built from their own model files on a CPU, for timing against vzoo's.

Their files are not part of vzoo (never copied into it): `--authors DIR` points at a directory
holding the four repositories as cloned (DIR/MLLA, DIR/SparX, DIR/Spatial-Mamba, DIR/MSVMamba).
What they import and a CPU lacks is stood in for, each stand-in doing what the original does:

- the CUDA selective scans (`selective_scan_cuda_oflex`, `selective_scan_cuda_oflex_rh`): vzoo's
  pure-PyTorch chunked scan (`backend="torch"` with the numba recurrence off, VZOO_SCAN_NUMBA=0,
  set only while an authors' model runs), outputs, resp. all states;
- the triton cross scan / merge (`csm_triton`): the same four orders as plain tensor ops;
- Spatial-Mamba's CUDA depthwise conv (`Dwconv`): the replicate-padded depthwise convolution of
  the authors' training path, with their eval-time merged 11x11 kernel;
- timm, when not installed (it needs torchvision): the few helpers they import from it
  (DropPath, trunc_normal_, to_2tuple, register_model, the ImageNet mean/std), none of which
  runs in an eval-mode forward but DropPath, an identity there.

Needs einops (the `bench` extra: `pip install -e ".[bench]"`).

Each model gets vzoo's state dict, loaded strictly (the same function on the same weights).
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import sys
import types
from collections.abc import Callable, Iterator
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from vzoo.kernels import selective_scan, selective_scan_states
from vzoo.kernels.cross_scan import cross_merge, cross_scan


@contextlib.contextmanager
def pure_torch_scan() -> Iterator[None]:
    """vzoo's scan without its compiled CPU recurrence: the pure-PyTorch path."""
    before = os.environ.get("VZOO_SCAN_NUMBA")
    os.environ["VZOO_SCAN_NUMBA"] = "0"
    try:
        yield
    finally:
        if before is None:
            del os.environ["VZOO_SCAN_NUMBA"]
        else:
            os.environ["VZOO_SCAN_NUMBA"] = before


def _scan_fwd(u, delta, A, B, C, D, delta_bias, softplus, *_):  # type: ignore[no-untyped-def]
    out = selective_scan(u, delta, A, B, C, D, delta_bias=delta_bias,
                         delta_softplus=bool(softplus), backend="torch")  # fmt: skip
    return out, None


def _states_fwd(u, delta, A, B, D, delta_bias, softplus, *_):  # type: ignore[no-untyped-def]
    h = selective_scan_states(u, delta, A, B, delta_bias, bool(softplus), backend="torch")
    return h, h


class _CrossScan(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: Tensor) -> Tensor:  # type: ignore[override]
        return cross_scan(x)


class _CrossMerge(torch.autograd.Function):
    @staticmethod
    def forward(ctx, ys: Tensor) -> Tensor:  # type: ignore[override]
        b, k, d, h, w = ys.shape
        return cross_merge(ys.reshape(b, k, d, h * w), h, w)


class _ReplicateDepthwise(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight, bias, pad_h, pad_w, _flag):  # type: ignore[no-untyped-def,override]
        padded = F.pad(x, (pad_w, pad_w, pad_h, pad_h), mode="replicate")
        return F.conv2d(padded, weight.to(x.dtype), bias, groups=x.shape[1])


def _timm_stand_in() -> list[types.ModuleType]:
    """timm's helpers the authors' files import, for a machine without timm."""
    try:
        import timm

        return []
    except ImportError:
        pass
    from vzoo.zoo.layers import DropPath

    timm = types.ModuleType("timm")
    models = types.ModuleType("timm.models")
    layers = types.ModuleType("timm.models.layers")
    layers.DropPath = DropPath  # type: ignore[attr-defined]
    layers.trunc_normal_ = nn.init.trunc_normal_  # type: ignore[attr-defined]
    layers.to_2tuple = lambda v: tuple(v) if isinstance(v, (tuple, list)) else (v, v)  # type: ignore[attr-defined]
    registry = types.ModuleType("timm.models.registry")
    registry.register_model = lambda fn: fn  # type: ignore[attr-defined]
    data = types.ModuleType("timm.data")
    data.IMAGENET_DEFAULT_MEAN = (0.485, 0.456, 0.406)  # type: ignore[attr-defined]
    data.IMAGENET_DEFAULT_STD = (0.229, 0.224, 0.225)  # type: ignore[attr-defined]
    timm.models, models.layers, models.registry, timm.data = models, layers, registry, data  # type: ignore[attr-defined]
    return [timm, models, layers, registry, data]


def _install_stand_ins() -> None:
    oflex = types.ModuleType("selective_scan_cuda_oflex")
    oflex.fwd = _scan_fwd  # type: ignore[attr-defined]
    core = types.ModuleType("selective_scan_cuda_core")  # MSVMamba's: the same first 8 args
    core.fwd = _scan_fwd  # type: ignore[attr-defined]
    rh = types.ModuleType("selective_scan_cuda_oflex_rh")
    rh.fwd = _states_fwd  # type: ignore[attr-defined]
    csm = types.ModuleType("csm_triton")
    csm.CrossScanTriton = _CrossScan  # type: ignore[attr-defined]
    csm.CrossMergeTriton = _CrossMerge  # type: ignore[attr-defined]
    dw_pkg = types.ModuleType("Dwconv")
    dw = types.ModuleType("Dwconv.dwconv_layer")
    dw.DepthwiseFunction = _ReplicateDepthwise  # type: ignore[attr-defined]
    for mod in (oflex, core, rh, csm, dw_pkg, dw, *_timm_stand_in()):
        sys.modules.setdefault(mod.__name__, mod)


def _load(path: Path, name: str) -> types.ModuleType:
    """Import one of the authors' files as a module of a throw-away package (their relative
    imports, `from .utils import ...`, resolve inside its directory)."""
    if not path.is_file():
        raise SystemExit(f"{path}: not found (clone the authors' repository under --authors)")
    _install_stand_ins()
    pkg = f"_authors_{name}"
    if pkg not in sys.modules:
        spec = importlib.util.spec_from_file_location(
            pkg, path.parent / "__init__.py", submodule_search_locations=[str(path.parent)]
        )
        package = types.ModuleType(pkg)
        package.__path__ = [str(path.parent)]  # type: ignore[attr-defined]
        package.__spec__ = spec
        sys.modules[pkg] = package
    spec = importlib.util.spec_from_file_location(f"{pkg}.{path.stem}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def _mlla_t(root: Path) -> nn.Module:
    m = _load(root / "MLLA" / "models" / "mlla.py", "mlla")
    return m.MLLA(embed_dim=64, depths=[2, 4, 8, 4], num_heads=[2, 4, 8, 16])


def _sparx_mamba_t(root: Path) -> nn.Module:
    m = _load(root / "SparX" / "models" / "sparx_mamba.py", "sparx")
    return m.sparx_mamba_t()


def _spatial_mamba_t(root: Path) -> nn.Module:
    m = _load(root / "Spatial-Mamba" / "classification" / "models" / "spatialmamba.py", "spatial")
    return m.SpatialMamba(depths=[2, 4, 8, 4], dims=64, d_state=1, drop_path_rate=0.2)


def _msvmamba_tiny(root: Path) -> nn.Module:
    m = _load(root / "MSVMamba" / "classification" / "models" / "vmamba.py", "msvmamba")
    # configs/ms_vssm/vssm_tiny_224_ms.yaml
    return m.VSSM(
        depths=[1, 2, 9, 2], dims=96, ssm_d_state=1, ssm_dt_rank="auto", ssm_ratio=2.0,
        mlp_ratio=0.0, downsample_version="v1", patchembed_version="v1",
        sscore_type="multiscale_4scan_12", convFFN=True, add_se=True, ms_stage=[0, 1, 2, 3],
        ms_split=[1, 3], ffn_dropout=0.0, drop_path_rate=0.2,
    )  # fmt: skip


# the T classifiers vzoo times against the authors' (arch id -> builder from the clone root)
AUTHORS_BUILDERS: dict[str, Callable[[Path], nn.Module]] = {
    "mlla-t": _mlla_t,
    "sparx-mamba-t": _sparx_mamba_t,
    "spatial-mamba-t": _spatial_mamba_t,
    "msvmamba-tiny": _msvmamba_tiny,
}


def build_authors_classifier(arch: str, root: Path, state_dict: dict[str, Tensor]) -> nn.Module:
    """The authors' classifier for `arch`, holding `state_dict` (loaded strictly), eval mode."""
    model = AUTHORS_BUILDERS[arch](root)
    model.load_state_dict(state_dict, strict=True)
    return model.eval()
