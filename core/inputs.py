"""What a user hands vzoo, checked before any work: sizes and counts within what this machine has
(input sides, batch, workers, threads), the device, URLs (registry weights and mirrors, host
endpoints) and the `VZOO_*` values a command depends on. An impossible or mistyped request is one
line and exit 2, with the bound or the fix in the message, never an allocator's error, a hang, a
thousand processes or an internal error when a download or a model finally reads it.

`vzoo doctor` reports the `VZOO_*` values instead of refusing (it is where a broken setting is
diagnosed).
"""

from __future__ import annotations

import os
import re
from urllib.parse import urlsplit

from vzoo import settings
from vzoo.core.errors import UserInputError, quote

# Every backbone downsamples 32x (the last stage needs one pixel); 4096 is twice the largest
# input a paper counts at (512x2048) and keeps a trace within a workstation's memory.
MIN_SIDE, MAX_SIDE = 32, 4096
_FLOAT32_BYTES = 4


def cpu_cores() -> int:
    """The cores this process may run on (a job's allocation, not the whole node's)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1


def memory_bytes() -> int | None:
    """This machine's physical memory, or None where it cannot be told."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return None


def _gib(n: int) -> str:
    return f"{n / 2**30:.0f} GiB" if n >= 2**30 else f"{n / 2**20:.0f} MiB"


def parse_hw(text: str, option: str = "--input") -> tuple[int, int]:
    """'HxW' -> (H, W), each side MIN_SIDE..MAX_SIDE pixels."""
    try:
        h, w = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise UserInputError(f"bad {option} {quote(text)}: expected HxW, e.g. 224x224") from None
    if not (MIN_SIDE <= h <= MAX_SIDE and MIN_SIDE <= w <= MAX_SIDE):
        raise UserInputError(
            f"bad {option} '{h}x{w}': each side must be {MIN_SIDE}..{MAX_SIDE} pixels "
            f"(smallest {MIN_SIDE}x{MIN_SIDE}, largest {MAX_SIDE}x{MAX_SIDE})"
        )
    return h, w


def side_problem(shape: object) -> str | None:
    """What is wrong with a [C, H, W] input shape (a registry row's `flops_input`), or None."""
    if not (
        isinstance(shape, list)
        and len(shape) == 3
        and all(isinstance(x, int) and not isinstance(x, bool) and x > 0 for x in shape)
    ):
        return "must be [C, H, W] positive integers"
    c, h, w = shape
    if not 1 <= c <= 4 or not (MIN_SIDE <= h <= MAX_SIDE and MIN_SIDE <= w <= MAX_SIDE):
        return (
            f"[{c}, {h}, {w}] is out of range: 1..4 channels and each side "
            f"{MIN_SIDE}..{MAX_SIDE} pixels"
        )
    return None


def check_at_most(option: str, value: int, most: int, why: str) -> None:
    """`value` of `option` must be at most `most` (`why`: where the bound comes from)."""
    if value > most:
        raise UserInputError(f"{option} {value}: at most {most} here ({why})")


def check_workers(option: str, value: int) -> None:
    """Data-loading worker processes: at most twice the cores (a loader waiting on its disk may
    use a few more than the cores; past that they only compete, and each holds memory)."""
    check_at_most(option, value, 2 * cpu_cores(), "twice the CPU cores this process may use")


def check_threads(option: str, value: int) -> None:
    """Compute threads: no more than the cores (more only contend for them)."""
    check_at_most(option, value, cpu_cores(), "the CPU cores this process may use")


def check_batch(option: str, batch: int, hw: tuple[int, int]) -> None:
    """A batch whose float32 input alone (3 x H x W per image) cannot fit in this machine's
    memory is refused, naming the largest that could."""
    memory = memory_bytes()
    if memory is None:
        return
    per_image = 3 * hw[0] * hw[1] * _FLOAT32_BYTES
    most = max(1, memory // per_image)
    check_at_most(
        option, batch, most,
        f"its {hw[0]}x{hw[1]} input alone would not fit in this machine's {_gib(memory)} memory",
    )  # fmt: skip


def check_device(device: str, option: str = "--device") -> None:
    """`cpu`, `cuda` or `cuda:N`, and CUDA only where this machine has it (before any model)."""
    if device != "cpu" and device != "cuda" and not device.startswith("cuda:"):
        raise UserInputError(f"unknown {option} {quote(device)}: use cpu or cuda")
    if device.startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            raise UserInputError(f"{option} {device} was given but CUDA is not available here; "
                                 "use cpu")  # fmt: skip


# ------------------------------------------------------------------------------------- URLs
WEB_SCHEMES = ("https", "http")
# a mirror may also name a file on the Hugging Face Hub: hf://<org>/<repo>/<file>
MIRROR_SCHEMES = (*WEB_SCHEMES, "hf")


def url_problem(url: str, schemes: tuple[str, ...] = WEB_SCHEMES) -> str | None:
    """What is wrong with `url` (unparsable, another scheme, no host), or None."""
    if not url.isprintable() or any(c.isspace() for c in url):
        return "it holds spaces or control characters"
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018  (a port that is not a number raises here)
    except ValueError as e:
        return f"unparsable: {e}"
    allowed = ", ".join(f"{s}://" for s in schemes)
    if parts.scheme.lower() not in schemes:
        return f"vzoo fetches only {allowed}"
    if not parts.netloc or (parts.scheme != "hf" and not parts.hostname):
        return "it names no host"
    return None


# ------------------------------------------------------------------------ VZOO_* values
# VZOO_GITHUB_ENDPOINT, VZOO_DRIVE_ENDPOINT, VZOO_GITHUB_API_ENDPOINT, ...: base URLs of hosts
_ENDPOINT_VAR = re.compile(r"VZOO_[A-Z0-9_]*ENDPOINT")
SCAN_BACKEND_VAR = "VZOO_SCAN_BACKEND"


def check_environment() -> None:
    """Every `VZOO_*_ENDPOINT` an http(s) URL with a host; `VZOO_SCAN_BACKEND` a known backend."""
    for name in sorted(os.environ):  # which are set; their values come from `settings`
        value = settings.text(name) if _ENDPOINT_VAR.fullmatch(name) else None
        if value and (problem := url_problem(value)):
            raise UserInputError(
                f"{name}={quote(value)} is not an http(s) URL ({problem}): set it to the "
                f"host's base URL (e.g. https://host:port) or unset it"
            )
    backend = settings.scan_backend()
    if backend and backend != "auto":
        from vzoo.kernels.selective_scan import BACKENDS  # torch: only when the variable is set

        if backend not in BACKENDS:
            raise UserInputError(
                f"{SCAN_BACKEND_VAR}={quote(backend)} is not a selective-scan backend: choose one "
                f"of auto, {', '.join(BACKENDS)}, or unset it"
            )
