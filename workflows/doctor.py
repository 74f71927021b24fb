"""`vzoo doctor`: is this machine ready to evaluate, and if not, what to do about it.

Each probe answers one question users otherwise file as an issue (CUDA / mmcv ops missing, which
scan backend runs, where the datasets are looked for, is the cache sound, can the weights hosts
be reached) as `Check`s. A check is `ok`, `warn` (worth knowing; `vzoo eval` can still run) or
`fail` (eval cannot run as installed): every non-ok check names one fix. Probes are module-level
functions listed in `PROBES`, so each failure path can be tested by replacing one of them.
"""

from __future__ import annotations

import threading
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from vzoo import settings

OK, WARN, FAIL, SKIP = "ok", "warn", "fail", "skipped"


@dataclass(frozen=True)
class Check:
    name: str
    status: str  # ok | warn | fail | skipped
    detail: str
    fix: str | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class DoctorOptions:
    offline: bool = False
    data_root: Path | None = None
    host_timeout: float = 3.0
    scan_seconds: float = 1.0


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def _error(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return f"{type(e).__name__}: {text[0] if text else ''}".rstrip(": ")


# --------------------------------------------------------------------------- libraries


def probe_torch(options: DoctorOptions) -> list[Check]:
    try:
        import torch
    except Exception as e:  # a broken install raises more than ImportError
        return [
            Check("torch", FAIL, f"cannot import torch ({_error(e)})",
                  "pip install torch==2.13.0 (on a GPU machine, its CUDA build first)")
        ]  # fmt: skip
    cuda = torch.version.cuda
    if torch.cuda.is_available():
        names = ", ".join(torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count()))
        return [Check("torch", OK, f"{torch.__version__}, CUDA {cuda}: {names}")]
    built = f"built with CUDA {cuda} but no GPU visible" if cuda else "CPU build"
    return [Check("torch", OK, f"{torch.__version__} ({built}; eval runs on CPU)")]


def probe_openmmlab(options: DoctorOptions) -> list[Check]:
    """mmengine, mmcv (and whether its compiled ops load), mmdet, mmseg (ADE20K rows only)."""
    checks = []
    for dist, module in (("mmengine", "mmengine"), ("mmcv", "mmcv"), ("mmdet", "mmdet")):
        try:
            __import__(module)
        except Exception as e:
            checks.append(
                Check(dist, FAIL, f"cannot import {module} ({_error(e)})",
                      "pip install the vzoo package's pins (README: Quick start)")
            )  # fmt: skip
            continue
        checks.append(Check(dist, OK, _version(dist) or "installed (version unknown)"))
    if any(c.name == "mmcv" and c.status == OK for c in checks):
        checks.append(probe_mmcv_ops())
    seg = _version("mmsegmentation")
    if seg is None:
        checks.append(
            Check("mmseg", WARN, "not installed (only the ADE20K rows need it)",
                  "pip install 'vzoo[seg]' to evaluate segmentation rows")
        )  # fmt: skip
    else:
        checks.append(Check("mmseg", OK, seg))
    scorers = [d for d in ("faster-coco-eval", "pycocotools") if _version(d)]
    if scorers:
        checks.append(Check("COCO scoring", OK, ", ".join(scorers)))
    else:
        checks.append(
            Check("COCO scoring", FAIL, "neither faster-coco-eval nor pycocotools is installed",
                  "pip install faster-coco-eval")
        )  # fmt: skip
    return checks


def probe_mmcv_ops() -> Check:
    """mmcv's compiled ops (RoIAlign, nms: Mask R-CNN needs both) load and run on CPU."""
    fix = (
        "mmcv was installed without its compiled ops (mmcv-lite, or a build for another torch): "
        "pip install --force-reinstall --no-deps --no-build-isolation "
        "--find-links ../shared/wheels mmcv==2.1.0 (it builds from source where that wheel is "
        "absent: README, Quick start)"
    )
    try:
        import torch
        from mmcv.ops import RoIAlign, nms

        boxes = torch.tensor([[0.0, 0.0, 4.0, 4.0], [0.5, 0.5, 4.0, 4.0]])
        nms(boxes, torch.tensor([0.9, 0.8]), 0.5)
        RoIAlign((2, 2), 1.0, 0)(torch.ones(1, 1, 8, 8), torch.tensor([[0.0, 0, 0, 4, 4]]))
    except Exception as e:
        return Check("mmcv ops", FAIL, f"compiled ops do not load ({_error(e)})", fix)
    where = "CPU"
    if torch.cuda.is_available():
        try:
            nms(boxes.cuda(), torch.tensor([0.9, 0.8]).cuda(), 0.5)
            where = "CPU and CUDA"
        except Exception as e:
            return Check(
                "mmcv ops", FAIL, f"load on CPU but not on CUDA ({_error(e)})",
                "rebuild mmcv==2.1.0 from source with CUDA (MMCV_WITH_OPS=1 FORCE_CUDA=1)",
            )  # fmt: skip
    return Check("mmcv ops", OK, f"compiled ops loaded (RoIAlign, nms ran on {where})")


# --------------------------------------------------------------------------- scan kernel


def scan_path(backend: str, device: str) -> str:
    """Which implementation a model's float32 inference scan runs on with `backend`."""
    if backend == "triton":
        return "Triton kernel"
    if backend == "reference":
        return "sequential reference loop (slow)"
    if device != "cpu":
        return "chunked PyTorch scan"
    from vzoo.kernels import scan_simd
    from vzoo.kernels.scan_ops import numba_enabled

    if not numba_enabled():
        return "chunked PyTorch scan (numba off or missing: slower)"
    if scan_simd.enabled():
        return "fused numba pass"
    return "chunked numba scan"


def probe_scan(options: DoctorOptions) -> list[Check]:
    """The backend models will use, timed against the reference on a small scan."""
    try:
        import torch

        from vzoo.kernels.selective_scan import resolve_backend
    except Exception as e:
        return [Check("scan backend", FAIL, f"cannot import vzoo.kernels ({_error(e)})",
                      "reinstall vzoo with its dependencies (pip install .)")]  # fmt: skip
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        backend = resolve_backend(None, device)
    except ValueError as e:
        return [Check("scan backend", FAIL, str(e), "unset VZOO_SCAN_BACKEND or fix its value")]
    path = scan_path(backend, device.type)
    try:
        result = time_scan(backend, device, options.scan_seconds)
    except Exception as e:
        return [
            Check("scan backend", FAIL, f"{backend} ({path}) on {device.type} fails: {_error(e)}",
                  "VZOO_SCAN_BACKEND=torch falls back to the portable scan; report the error")
        ]  # fmt: skip
    detail = (
        f"{backend} ({path}) on {device.type}: {result['speedup']:.0f}x the reference "
        f"({1e3 * result['seconds']:.2f} ms vs {1e3 * result['reference_seconds']:.1f} ms, "
        f"batch 1, D {result['dim']}, L {result['length']}); max error "
        f"{result['max_rel_error']:.1e} of max |y|; first call {result['first_call']:.1f} s"
    )
    if result["max_rel_error"] > SCAN_TOLERANCE:
        return [
            Check("scan backend", FAIL, detail,
                  f"{backend} disagrees with the reference beyond {SCAN_TOLERANCE:g}: "
                  "VZOO_SCAN_BACKEND=reference to confirm, and report it")
        ]  # fmt: skip
    return [Check("scan backend", OK, detail)]


SCAN_TOLERANCE = 1e-4  # float32 scan vs the float64 reference, relative to max |y|


def time_scan(backend: str, device: Any, seconds: float = 1.0) -> dict[str, float]:
    """A model-like float32 scan (d_state 1, softplus, D, z) on `backend` and on the reference.

    Returns both times (best of the repetitions that fit in about `seconds`), their ratio, the
    first call's time (a compile, the first time on this machine) and the max error against the
    reference computed in float64.
    """
    import torch

    from vzoo.kernels import selective_scan

    gen = torch.Generator().manual_seed(0)
    dim, length = 192, 196  # a stage-1 block at 224x224: a 14x14 token map of 192 channels

    def rand(*shape: int) -> torch.Tensor:
        return torch.randn(*shape, generator=gen).to(device)

    args = {
        "u": rand(1, dim, length), "delta": rand(1, dim, length) - 2.0,
        "A": -torch.rand(dim, 1, generator=gen).to(device) - 0.1,
        "B": rand(1, 1, length), "C": rand(1, 1, length),
        "D": rand(dim), "z": rand(1, dim, length), "delta_bias": 0.1 * rand(dim),
    }  # fmt: skip

    def run(which: str, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
        out = selective_scan(**inputs, delta_softplus=True, backend=which)  # type: ignore[arg-type]
        if device.type == "cuda":
            torch.cuda.synchronize()
        return out  # type: ignore[return-value]

    def best_time(which: str, budget: float) -> float:
        best, spent = float("inf"), 0.0
        while spent < budget or best == float("inf"):
            t0 = time.perf_counter()
            run(which, args)
            dt = time.perf_counter() - t0
            best, spent = min(best, dt), spent + dt
            if spent > 10 * budget:
                break
        return best

    with torch.inference_mode():
        t0 = time.perf_counter()
        y = run(backend, args)
        first = time.perf_counter() - t0
        exact = run("reference", {k: v.double() for k, v in args.items()})
        err = float((y.double() - exact).abs().max() / exact.abs().max())
        fast = best_time(backend, seconds / 2)
        ref = best_time("reference", seconds / 2)
    return {
        "seconds": fast, "reference_seconds": ref, "speedup": ref / fast, "max_rel_error": err,
        "first_call": first, "dim": dim, "length": length,
    }  # fmt: skip


# --------------------------------------------------------------------------- data and state


def probe_datasets(options: DoctorOptions) -> list[Check]:
    """Each dataset where `vzoo eval` looks for it (a missing one only stops its own rows)."""
    from vzoo.core.errors import UserInputError
    from vzoo.core.tasks import tasks
    from vzoo.evaluation import datasets

    checks = []
    for task in {t.dataset: t for t in tasks().values()}.values():
        name = task.dataset
        root = datasets.resolve_root(name, options.data_root)
        try:
            task.evaluation_module().find_data(root, quick=True)
        except UserInputError as e:
            checks.append(
                Check(f"dataset {name}", WARN, str(e).split(" (")[0],
                      f"its rows need it: pass --data-root or set VZOO_DATA (holding "
                      f"{task.dataset_dir}/)")
            )  # fmt: skip
            continue
        checks.append(Check(f"dataset {name}", OK, f"found at {root.resolve()}"))
    return checks


def probe_cache(options: DoctorOptions) -> list[Check]:
    """Sizes on disk against the index (a full re-hash is `vzoo cache verify`)."""
    from vzoo.hub.cache import CheckpointCache

    cache = CheckpointCache()
    entries = cache.entries()
    total, missing, wrong = 0, [], []
    for e in entries:
        blob = cache.blob_path(e.sha256)
        if not blob.is_file():
            missing.append(e.row_id)
            continue
        size = blob.stat().st_size
        total += size
        if size != e.size:
            wrong.append(e.row_id)
    partial = list((cache.root / "partial").glob("*.incomplete"))
    detail = (
        f"{len(entries) - len(missing)} checkpoints, {total / 2**30:.2f} GiB in {cache.root}"
        + (f"; {len(partial)} partial downloads" if partial else "")
    )
    if wrong:
        return [
            Check("cache", FAIL, f"{detail}; size differs from the index for {', '.join(wrong)}",
                  "vzoo cache verify (removes corrupt files; then vzoo download ID)")
        ]  # fmt: skip
    if missing:
        return [
            Check("cache", WARN, f"{detail}; file gone for {', '.join(missing)}",
                  "vzoo cache verify (drops the stale entries), then vzoo download ID")
        ]  # fmt: skip
    return [Check("cache", OK, detail + " (sizes match; `vzoo cache verify` re-hashes)")]


def probe_results(options: DoctorOptions) -> list[Check]:
    from vzoo.core.results import ResultStore

    try:
        store = ResultStore()
        count, runs = len(store.query()), len(store.runs())
    except Exception as e:
        return [
            Check("results store", FAIL, f"cannot open the results store ({_error(e)})",
                  "check that $VZOO_HOME (or the user cache dir) is writable")
        ]  # fmt: skip
    return [Check("results store", OK, f"{store.path}: {count} records from {runs} runs")]


# --------------------------------------------------------------------------- hosts


def weights_hosts() -> dict[str, str]:
    """Label -> the URL contacted for each host the registry's weights live on."""
    import os
    from urllib.parse import urlsplit

    from vzoo.core.registry import load_registry
    from vzoo.hub.hosts import HOST_LABELS, Endpoints, host_kind

    endpoints = Endpoints.from_env()
    out: dict[str, str] = {}
    for row in load_registry():
        if row.weights is None:
            continue
        for url in (*row.weights.urls, *row.weights.mirrors):
            kind = host_kind(url)
            if kind == "hf":
                base = os.environ.get("HF_ENDPOINT") or "https://huggingface.co"
                out.setdefault(HOST_LABELS["hf"], base.rstrip("/") + "/")
            elif kind in HOST_LABELS:
                out.setdefault(HOST_LABELS[kind], endpoints.base(kind) + "/")
            else:
                parts = urlsplit(url)
                out.setdefault(parts.hostname or url, f"{parts.scheme}://{parts.netloc}/")
    return out


def head(url: str, timeout: float) -> str | None:
    """None if the host answered (any HTTP status), else why not."""
    request = urllib.request.Request(url, method="HEAD", headers={"User-Agent": "vzoo-doctor"})
    try:
        with urllib.request.urlopen(request, timeout=timeout):
            return None
    except urllib.error.HTTPError:
        return None  # it answered: reachable
    except Exception as e:
        reason = getattr(e, "reason", e)
        return str(reason) or type(e).__name__


def probe_hosts(options: DoctorOptions) -> list[Check]:
    """HEAD each weights host in parallel; unreachable is a warning (eval runs from the cache)."""
    hosts = weights_hosts()
    if options.offline:
        return [Check("weights hosts", SKIP, f"offline: {len(hosts)} hosts not contacted")]
    answers: dict[str, str | None] = {}

    def ask(label: str, url: str) -> None:
        answers[label] = head(url, options.host_timeout)

    threads = [
        threading.Thread(target=ask, args=item, daemon=True) for item in hosts.items()
    ]  # daemon: a hung DNS lookup must not hold the process past its deadline
    for t in threads:
        t.start()
    deadline = time.monotonic() + options.host_timeout + 1.0
    for t in threads:
        t.join(max(0.0, deadline - time.monotonic()))
    checks = []
    for label, url in hosts.items():
        if label in answers and answers[label] is None:
            checks.append(Check(f"host {label}", OK, f"{url} reachable"))
            continue
        why = answers.get(label, f"no answer in {options.host_timeout:g} s")
        checks.append(
            Check(f"host {label}", WARN, f"{url} unreachable ({why})",
                  "downloads need it; eval of cached rows does not "
                  "(`vzoo doctor --offline` / VZOO_OFFLINE=1 skips this)")
        )  # fmt: skip
    return checks


PROBES: tuple[str, ...] = (
    "probe_torch", "probe_openmmlab", "probe_scan", "probe_datasets", "probe_cache",
    "probe_results", "probe_hosts",
)  # fmt: skip


def run_checks(options: DoctorOptions) -> list[Check]:
    """Every probe, in order; a probe that crashes is itself a failed check."""
    import sys

    checks: list[Check] = []
    module = sys.modules[__name__]
    for name in PROBES:
        probe = getattr(module, name)  # looked up at call time: tests replace single probes
        try:
            checks += probe(options)
        except Exception as e:
            if settings.debug():
                raise
            what = name.removeprefix("probe_")
            checks.append(
                Check(what, FAIL, f"the check itself failed ({_error(e)})",
                      "run with VZOO_DEBUG=1 and report it")
            )  # fmt: skip
    return checks


def ready(checks: list[Check]) -> bool:
    """Everything eval needs is there: no failed check."""
    return not any(c.status == FAIL for c in checks)
