"""The Python API: `vzoo.create_model` (timm's habit) and what `dir(vzoo)` shows."""

from __future__ import annotations

import hashlib
import io
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from servers.fresh_interpreter import same_vzoo_env
from servers.loopback import FileRoute, LoopbackServer

import vzoo
from vzoo.core.errors import VzooError

RELEASE = "/owner/proj/releases/download/v1.0/nano.pth"


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[LoopbackServer]:
    srv = LoopbackServer().start()
    monkeypatch.setenv("VZOO_GITHUB_ENDPOINT", srv.base_url)  # github.com -> loopback
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def published() -> tuple[dict[str, object], bytes]:
    """Weights as a release would hold them: another init of msvmamba-nano, in an mmengine-style
    checkpoint dict."""
    import torch

    from vzoo.zoo import build_classifier

    torch.manual_seed(1234)
    state = build_classifier("msvmamba-nano").state_dict()
    buf = io.BytesIO()
    torch.save({"state_dict": state, "meta": {"epoch": 300}}, buf)
    return state, buf.getvalue()


def _registry(tmp_path: Path, sha256: str) -> Path:
    path = tmp_path / "mine.yaml"
    path.write_text(
        f"""rows:
  - id: my-nano
    family: msvmamba
    arch: msvmamba-nano
    task: classification
    dataset: imagenet-1k
    method: classifier
    schedule: 300e
    config: null
    weights:
      urls: ["https://github.com{RELEASE}"]
      sha256: "{sha256}"
    pretrain: null
    published: {{top1: 77.3}}
    provenance:
      seed: 002_56bfdbb6a48f217a.txt
      repo: YuHengsss/MSVMamba
      paper: https://arxiv.org/abs/2405.14174
""",
        encoding="utf-8",
    )
    return path


def _same(a: dict[str, object], b: dict[str, object]) -> bool:
    import torch

    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)  # type: ignore[arg-type]


def test_create_model_pretrained_downloads_verifies_and_loads(
    tmp_path: Path, server: LoopbackServer, published: tuple[dict[str, object], bytes], vzoo_home
) -> None:
    state, data = published
    server.routes[RELEASE] = FileRoute(data)
    reg = _registry(tmp_path, hashlib.sha256(data).hexdigest())

    model = vzoo.create_model("my-nano", pretrained=True, registry=[reg])
    assert not model.training
    assert _same(model.state_dict(), state)  # the published weights, every tensor
    assert len(server.requests(RELEASE)) == 1
    assert list((vzoo_home / "checkpoints").rglob("*")), "downloaded into the cache"

    again = vzoo.create_model("my-nano", pretrained=True, registry=[reg])
    assert _same(again.state_dict(), state)
    assert len(server.requests(RELEASE)) == 1  # the cache, not the network

    random = vzoo.create_model("my-nano", registry=[reg])  # pretrained=False, as timm
    own = random.state_dict()
    assert own.keys() == state.keys() and not _same(own, state)


def test_create_model_refuses_weights_that_fail_the_pin(
    tmp_path: Path, server: LoopbackServer, published: tuple[dict[str, object], bytes], vzoo_home
) -> None:
    _, data = published
    server.routes[RELEASE] = FileRoute(data)
    reg = _registry(tmp_path, "0" * 64)
    with pytest.raises(VzooError, match="sha256"):
        vzoo.create_model("my-nano", pretrained=True, registry=[reg])
    with pytest.raises(VzooError, match="unknown row id 'my-nan'"):
        vzoo.create_model("my-nan", registry=[reg])


def test_dir_shows_the_public_api_and_import_stays_torch_free() -> None:
    code = (
        "import sys, json, vzoo; import vzoo.cli.main, vzoo.core.registry; "
        "print(json.dumps([dir(vzoo), vzoo.__all__, 'torch' in sys.modules]))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=same_vzoo_env(),
        timeout=120, check=True,
    ).stdout  # fmt: skip
    names, exported, torch_loaded = json.loads(out)
    assert names == ["__version__", "compare_frame", "create_model", "kernels", "zoo"]
    assert exported == ["__version__", "compare_frame", "create_model"]
    assert not torch_loaded
