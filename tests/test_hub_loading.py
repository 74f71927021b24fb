"""vzoo.hub.loading: every checkpoint loads without calling anything its pickle names.

Malicious payloads (os.system, exec, eval, subprocess) sit in `meta` beside real weights; the
payload would create a marker file. Pinned or not, the marker never appears, the weights load, and
the payload comes back as inert data naming what it asked for.
"""

from __future__ import annotations

import builtins
import collections
import hashlib
import io
import os
import pickle
import subprocess
import sys
import types
from pathlib import Path
from typing import Any

import pytest
import torch

from vzoo.core.errors import UserInputError, VzooError
from vzoo.hub import (
    CacheEntry,
    CheckpointCache,
    ChecksumMismatchError,
    UnsafeCheckpointError,
    load_checkpoint,
)
from vzoo.hub.loading import InertObject, InertUnpickler


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def torch_bytes(obj: object) -> bytes:
    buf = io.BytesIO()
    torch.save(obj, buf)
    return buf.getvalue()


class Payload:
    """Pickles as a call of `func(*args)`: what a malicious checkpoint hides in its meta."""

    def __init__(self, func: Any, *args: Any) -> None:
        self.func, self.args = func, args

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        return self.func, self.args


def payloads(marker: Path) -> dict[str, Payload]:
    m = str(marker)
    return {
        "posix.system": Payload(os.system, f"touch {m}"),
        "builtins.exec": Payload(builtins.exec, f"open({m!r}, 'w').close()"),
        "builtins.eval": Payload(builtins.eval, f"__import__('os').system('touch {m}')"),
        "subprocess.call": Payload(subprocess.call, ["touch", m]),
    }


def weights() -> collections.OrderedDict[str, torch.Tensor]:
    torch.manual_seed(0)
    sd = torch.nn.Linear(3, 2).state_dict()  # an OrderedDict with `_metadata`, as models save it
    sd["w"] = torch.arange(6.0).reshape(2, 3)
    return sd


def test_plain_checkpoint_loads(tmp_path: Path) -> None:
    path = tmp_path / "plain.pth"
    path.write_bytes(torch_bytes({"state_dict": {"w": torch.arange(4.0)}}))
    assert torch.equal(load_checkpoint(path)["state_dict"]["w"], torch.arange(4.0))


def test_a_hash_the_caller_computed_is_not_computed_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`vzoo eval` hashes the checkpoint to record it; loading it pinned must not hash the
    (hundreds of MB) file a second time, and must still refuse it when that hash is not the pin."""
    import vzoo.hub.loading

    data = torch_bytes({"state_dict": {"w": torch.arange(4.0)}})
    path = tmp_path / "pinned.pth"
    path.write_bytes(data)
    hashed: list[Path] = []
    real = vzoo.hub.loading.sha256_file
    monkeypatch.setattr(vzoo.hub.loading, "sha256_file", lambda p: hashed.append(p) or real(p))
    ckpt = load_checkpoint(path, sha(data), actual_sha256=sha(data))
    assert torch.equal(ckpt["state_dict"]["w"], torch.arange(4.0)) and hashed == []
    with pytest.raises(ChecksumMismatchError):
        load_checkpoint(path, sha(data), actual_sha256=sha(b"another file"))
    load_checkpoint(path, sha(data))  # no hash given: the file is hashed, once
    assert hashed == [path]


@pytest.mark.parametrize("pinned", [False, True])
def test_numpy_meta_is_rebuilt_pinned_or_not(tmp_path: Path, pinned: bool) -> None:
    import numpy as np

    data = torch_bytes({
        "state_dict": weights(),
        "meta": {"epoch": np.array([12]), "lr": np.float64(0.02), "dtype": np.dtype("f4")},
    })  # fmt: skip
    path = tmp_path / "mmdet2.pth"
    path.write_bytes(data)
    ckpt = load_checkpoint(path, sha(data) if pinned else None)
    assert isinstance(ckpt["meta"]["epoch"], np.ndarray) and int(ckpt["meta"]["epoch"][0]) == 12
    assert ckpt["meta"]["lr"] == np.float64(0.02) and ckpt["meta"]["dtype"] == np.dtype("f4")
    assert torch.equal(ckpt["state_dict"]["w"], weights()["w"])
    assert ckpt["state_dict"]._metadata == weights()._metadata  # type: ignore[attr-defined]
    with pytest.raises(ChecksumMismatchError, match=f"expected {sha(b'x')}, got {sha(data)}"):
        load_checkpoint(path, sha(b"x"))


@pytest.mark.parametrize("pinned", [False, True])
@pytest.mark.parametrize("name", list(payloads(Path("m"))))
def test_malicious_meta_never_runs(tmp_path: Path, name: str, pinned: bool) -> None:
    marker = tmp_path / "PWNED"
    data = torch_bytes({"state_dict": weights(), "meta": {"hook": payloads(marker)[name]}})
    path = tmp_path / "evil.pth"
    path.write_bytes(data)
    if name == "posix.system":  # torch's own words for it, which are no reason to re-download
        with pytest.raises(pickle.UnpicklingError, match="module posix is blocked"):
            torch.load(path, weights_only=True)
    ckpt = load_checkpoint(path, sha(data) if pinned else None)
    assert not marker.exists()
    for key, value in weights().items():
        assert torch.equal(ckpt["state_dict"][key], value)
    hook = ckpt["meta"]["hook"]
    assert isinstance(hook, InertObject) and hook.pickled_class == name
    assert str(marker) in repr(hook.args)  # the payload's arguments are kept as plain data


def test_meta_classes_are_never_imported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An importable module whose import has a side effect: the loader must not import it, and
    the objects (mmcv 1.x ConfigDict-like, a runner with state) come back as data."""
    marker = tmp_path / "IMPORTED"
    (tmp_path / "vzoo_meta_mod.py").write_text(
        f"open({str(marker)!r}, 'w').close()\n"
        "class ConfigDict(dict):\n    pass\n\n"
        "class Runner:\n    def __init__(self):\n        self.epoch = 12\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    import vzoo_meta_mod  # type: ignore[import-not-found]

    meta = {"config": vzoo_meta_mod.ConfigDict(lr=0.02), "runner": vzoo_meta_mod.Runner()}
    data = torch_bytes({"state_dict": weights(), "meta": meta})
    monkeypatch.delitem(sys.modules, "vzoo_meta_mod")
    marker.unlink()
    path = tmp_path / "mmdet2.pth"
    path.write_bytes(data)
    for expected in (None, sha(data)):
        ckpt = load_checkpoint(path, expected)
        assert not marker.exists() and "vzoo_meta_mod" not in sys.modules
        config, runner = ckpt["meta"]["config"], ckpt["meta"]["runner"]
        assert config == {"lr": 0.02} and config.pickled_class == "vzoo_meta_mod.ConfigDict"
        assert runner.state == {"epoch": 12} and runner.pickled_class == "vzoo_meta_mod.Runner"
        assert torch.equal(ckpt["state_dict"]["w"], weights()["w"])


def test_mmcv1_configdict_that_does_not_exist_here_still_loads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """mmdet-2 checkpoints pickle `mmcv.utils.config.ConfigDict` (gone in mmcv 2.x)."""
    fake = types.ModuleType("mmcv.utils.config")

    class ConfigDict(dict):  # type: ignore[type-arg]
        def __getstate__(self) -> dict[str, Any]:  # addict.Dict pickles itself as its state
            return dict(self)

        def __setstate__(self, state: dict[str, Any]) -> None:
            self.update(state)

    ConfigDict.__module__ = fake.__name__
    ConfigDict.__qualname__ = "ConfigDict"
    fake.ConfigDict = ConfigDict  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, fake.__name__, fake)
    cfg = ConfigDict(model=ConfigDict(type="SparseRCNN"), lr=0.025)
    data = torch_bytes({"state_dict": weights(), "meta": {"config": cfg, "CLASSES": ("a", "b")}})
    monkeypatch.delitem(sys.modules, fake.__name__)
    path = tmp_path / "sparse_rcnn_mmdet2.pth"
    path.write_bytes(data)
    ckpt = load_checkpoint(path, sha(data))
    config = ckpt["meta"]["config"]
    assert config.pickled_class == "mmcv.utils.config.ConfigDict"
    assert config["lr"] == 0.025 and config["model"] == {"type": "SparseRCNN"}
    assert ckpt["meta"]["CLASSES"] == ("a", "b")
    assert torch.equal(ckpt["state_dict"]["w"], weights()["w"])


def test_unpickler_refuses_what_no_checkpoint_does() -> None:
    """Raw pickles: setting attributes on an allowlisted class, appending to a set, calling an
    object that is not a constructor. Each is refused, and torch stays as it was."""
    repr_before = torch.Tensor.__repr__
    attack = (
        b"\x80\x02ctorch\nTensor\nq\x00N}q\x01X\x08\x00\x00\x00__repr__q\x02"
        b"ccollections\nOrderedDict\nq\x03s\x86q\x04b."
    )  # BUILD torch.Tensor with slot state {'__repr__': OrderedDict}
    appends = b"\x80\x02cbuiltins\nset\n)\x85R(K\x01e."  # APPENDS onto a set
    call_dtype = b"\x80\x02cnumpy\ndtype\nX\x02\x00\x00\x00f4\x85R)R."  # call a dtype instance
    for raw in (attack, appends, call_dtype):
        with pytest.raises(pickle.UnpicklingError, match=r"^(setting|appending|a call)"):
            InertUnpickler(io.BytesIO(raw)).load()
    assert torch.Tensor.__repr__ is repr_before


def test_refused_checkpoint_is_one_line_not_download_again(tmp_path: Path) -> None:
    class AppendsToASet:
        def __reduce__(self) -> tuple[Any, ...]:
            return set, ((),), None, iter([1])

    path = tmp_path / "odd.pth"
    path.write_bytes(torch_bytes({"state_dict": weights(), "meta": AppendsToASet()}))
    with pytest.raises(UnsafeCheckpointError) as err:
        load_checkpoint(path)
    text = str(err.value)
    assert "\n" not in text and str(path) in text and "refused" in text
    assert "download it again" not in text


def test_torchscript_archive_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "scripted.pt"
    torch.jit.save(torch.jit.script(torch.nn.Linear(2, 2)), str(path))
    with pytest.raises(UnsafeCheckpointError, match="TorchScript archive"):
        load_checkpoint(path)


def test_corrupt_file_names_file_and_hashes(tmp_path: Path) -> None:
    data = torch_bytes({"w": torch.zeros(1000)})
    bad = tmp_path / "cut.pth"
    bad.write_bytes(data[: len(data) // 2])
    with pytest.raises(VzooError) as err:
        load_checkpoint(bad)
    text = str(err.value)
    assert str(bad) in text and f"actual {sha(data[: len(data) // 2])}" in text
    assert "expected sha256 none" in text and "not a readable checkpoint" in text
    with pytest.raises(ChecksumMismatchError, match=str(bad)):
        load_checkpoint(bad, sha(data))
    with pytest.raises(UserInputError, match="checkpoint not found"):
        load_checkpoint(tmp_path / "missing.pth")


def test_error_names_the_cached_row(tmp_path: Path) -> None:
    data = b"\x80\x02}q\x00"  # a pickle cut short
    cache = CheckpointCache()
    blob = cache.blob_path(sha(data))
    blob.parent.mkdir(parents=True)
    blob.write_bytes(data)
    cache.record(CacheEntry("row-a", sha(data), len(data), "https://x/y.pth", "y.pth",
                            "original", "2026-01-01T00:00:00Z", False))  # fmt: skip
    with pytest.raises(VzooError, match=r"^row-a: .*not a readable checkpoint"):
        load_checkpoint(blob)


def test_pinned_malicious_checkpoint_through_vzoo_eval_never_runs(tmp_path: Path) -> None:
    """A checkpoint in the authors' layout with every payload beside its weights, pinned by
    sha256 in a registry overlay and served from the cache: `vzoo eval ROW --registry FILE` runs
    the whole pipeline (a classification row on synthetic ImageNet: the same checkpoint path as
    a detector's, minutes cheaper), loads the weights strictly, and runs no payload."""
    import json

    from vzoo.core.results import ResultStore
    from vzoo.evaluation.synthetic import write_synthetic_imagenet
    from vzoo.zoo import build_classifier

    marker = tmp_path / "PWNED"
    torch.manual_seed(0)
    model = build_classifier("msvmamba-nano")
    data = torch_bytes({"model": model.state_dict(), "meta": payloads(marker)})
    cache = CheckpointCache()
    blob = cache.blob_path(sha(data))
    blob.parent.mkdir(parents=True)
    blob.write_bytes(data)  # as a download that passed its pin would have left it
    row = {
        "id": "evil-nano", "family": "msvmamba", "arch": "msvmamba-nano",
        "task": "classification", "dataset": "imagenet-1k", "method": "classifier",
        "schedule": "300e", "config": None, "pretrain": None,
        "weights": {"urls": ["https://github.com/evil/evil/releases/download/v1/m.pth"],
                    "sha256": sha(data), "size": len(data)},
        "published": {"top1": 70.0},
        "provenance": {"seed": "test", "repo": "evil/evil", "paper": "https://example.org/p"},
    }  # fmt: skip
    overlay = tmp_path / "evil.yaml"
    overlay.write_text(f"rows:\n  - {json.dumps(row)}\n", encoding="utf-8")
    root = write_synthetic_imagenet(tmp_path / "imagenet", classes=2, per_class=1, seed=1)
    r = subprocess.run(
        [sys.executable, "-m", "vzoo.cli.main", "eval", "evil-nano", "--registry", str(overlay),
         "--data-root", str(root), "--workers", "0", "--offline"],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr[-2000:]
    assert not marker.exists()
    (top1,) = ResultStore().query("evil-nano", "top1")  # measured with the file's weights
    assert top1.checkpoint_sha256 == sha(data)
