"""Split a selection of rows over N independent jobs (`vzoo eval --all --shard I/N`).

Shard I of N takes the selected rows at positions I-1, I-1+N, I-1+2N, ... (registry order): every
row lands in exactly one shard, shard sizes differ by at most one, and rows of one paper (listed
together in the registry) are spread over the shards rather than piled into one. The partition
depends only on the selection, so every job of an array must be given the same row ids / --task
and the same registry. The jobs' results meet in the results store (one record file per run).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar

from vzoo.core.errors import UserInputError

T = TypeVar("T")
_SPEC = re.compile(r"\s*(\d+)\s*/\s*(\d+)\s*")
_HELP = "expected I/N with 1 <= I <= N (e.g. --shard 1/4 ... --shard 4/4), or --shard slurm"


@dataclass(frozen=True)
class Shard:
    index: int  # 1-based
    count: int

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


def parse_shard(spec: str, environ: Mapping[str, str] | None = None) -> Shard:
    """`I/N`, or `slurm`: this task's place in a SLURM job array (`sbatch --array=...`)."""
    if spec.strip().lower() == "slurm":
        return _slurm_shard(os.environ if environ is None else environ)
    m = _SPEC.fullmatch(spec)
    if m is None:
        raise UserInputError(f"bad --shard '{spec}': {_HELP}")
    index, count = int(m.group(1)), int(m.group(2))
    if not 1 <= index <= count:
        raise UserInputError(f"bad --shard '{spec}': {_HELP}")
    return Shard(index, count)


def _slurm_shard(env: Mapping[str, str]) -> Shard:
    try:
        task = int(env["SLURM_ARRAY_TASK_ID"])
        count = int(env["SLURM_ARRAY_TASK_COUNT"])
        first = int(env.get("SLURM_ARRAY_TASK_MIN", "0"))
        step = int(env.get("SLURM_ARRAY_TASK_STEP", "1") or 1)
    except (KeyError, ValueError):
        raise UserInputError(
            "--shard slurm needs SLURM_ARRAY_TASK_ID and SLURM_ARRAY_TASK_COUNT: run it in a job "
            "array (sbatch --array=0-3 ...), or give --shard I/N"
        ) from None
    if step < 1:
        raise UserInputError(
            f"--shard slurm: SLURM_ARRAY_TASK_STEP is {step}, not a step of a job array (1 or "
            "more): run it in a job array (sbatch --array=0-3 ...), or give --shard I/N"
        )
    offset, rest = divmod(task - first, step)
    if rest or not 0 <= offset < count:
        raise UserInputError(
            f"--shard slurm: array task {task} is not one of {count} evenly spaced tasks from "
            f"{first} (step {step}); use a range array (--array=0-{count - 1}) or --shard I/N"
        )
    return Shard(offset + 1, count)


def shard_rows(rows: Sequence[T], shard: Shard) -> list[T]:
    """This shard's part of `rows` (see the module docstring)."""
    return list(rows[shard.index - 1 :: shard.count])
