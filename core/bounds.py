"""Bounds on the sizes and counts a user gives (input sides, batch, workers, threads), taken from
what this machine has, so that an impossible request is one line and exit 2 before any work,
with the bound in the message, never an allocator's error, a hang or a thousand processes.
"""

from __future__ import annotations

import os

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
