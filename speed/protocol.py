"""What a speed number was measured under, and the defaults of `vzoo bench` (torch-free).

Two speed numbers are comparable only if every field of their protocol is equal; the results
store keys each record by a hash of it (`convention = "bench:<hash>"`), so the comparison never
puts numbers from two protocols in one column.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from typing import Any

from vzoo.core.errors import UserInputError
from vzoo.core.tasks import LoopDefaults, get_task

PARTS = ("model", "backbone")
DEVICES = ("cpu", "cuda")


def loop_defaults(device: str, task: str) -> LoopDefaults:
    """`vzoo bench`'s batch size and pass counts for a row of `task` on `device` (its `Task`)."""
    return get_task(task).loop_for(device)


@dataclass(frozen=True)
class BenchProtocol:
    """Everything that decides a speed number besides the model."""

    device: str  # cpu | cuda
    device_name: str  # the CPU model or GPU name
    part: str  # model (the whole test forward) | backbone
    batch_size: int
    input: str  # CxHxW
    precision: str  # fp32 | amp-fp16 | amp-bf16
    threads: int  # torch intra-op threads (the CPU scan kernel uses as many)
    compile: bool
    channels_last: bool
    warmup: int
    iters: int
    scan_backend: str
    torch: str
    cuda: str | None
    # libgomp's OMP_WAIT_POLICY: on a CPU shared with other jobs, torch's spinning threads at the
    # default policy ran msvmamba-nano ~10x slower (10 s a pass) than PASSIVE (0.9 s) here
    omp_wait_policy: str = "default"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def key(self) -> str:
        """Stable id of the protocol: equal iff every field is equal."""
        text = json.dumps(self.to_dict(), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:12]

    @property
    def convention(self) -> str:
        """What the results store keys a speed record by."""
        return f"bench:{self.key}"


# `--sweep default`: a classifier's whole model at the sizes of the papers' resolution
# tables and beyond; a detection backbone (or a whole detector) at COCO's 1.6 aspect ratio
# around its 800x1280 test input. Every size is a multiple of 32 (every backbone's stride).
DEFAULT_SWEEPS = {
    "classification": ((224, 224), (384, 384), (512, 512), (768, 768), (1024, 1024)),
    "dense": ((480, 768), (640, 1024), (800, 1280), (1024, 1600)),
}


def default_sweep(task: str, part: str) -> tuple[tuple[int, int], ...]:
    dense = part == "backbone" or task != "classification"
    return DEFAULT_SWEEPS["dense" if dense else "classification"]


def parse_sweep(text: str) -> tuple[tuple[int, int], ...] | None:
    """'224,384,512' (squares) or '512x640,800x1280' -> sizes, smallest first; 'default' -> None
    (each row's `default_sweep`). Each size within `core.bounds`' sides; at least two distinct
    sizes (one size is a plain `--input`)."""
    from vzoo.core.inputs import parse_hw

    if text.strip().lower() == "default":
        return None
    sizes: list[tuple[int, int]] = []
    for item in text.split(","):
        item = item.strip().lower()
        if not item:
            raise UserInputError(
                f"bad --sweep '{text}': an empty size; give sizes like 224,384,512 or "
                "512x640,800x1280 (or 'default')"
            )
        hw = parse_hw(f"{item}x{item}" if item.isdigit() else item, "--sweep size")
        if hw in sizes:
            raise UserInputError(f"bad --sweep '{text}': {hw[0]}x{hw[1]} is given twice")
        sizes.append(hw)
    if len(sizes) < 2:
        raise UserInputError(
            f"bad --sweep '{text}': a sweep needs at least two sizes (for one size use --input)"
        )
    return tuple(sorted(sizes, key=lambda hw: hw[0] * hw[1]))
