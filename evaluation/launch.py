"""How `vzoo eval` re-runs itself on several processes, as mmdet's dist_test.sh / slurm_test.sh:

- `--gpus N` (N > 1): this same command as a child under
  `torchrun --nproc_per_node N ... --launcher pytorch`;
- `--nproc N` (N > 1): the same with N CPU processes (gloo; CUDA hidden from them);
- `--launcher slurm --partition P` (outside SLURM): submitted through `srun`, one task per GPU;
  inside SLURM it runs as one task.

`relaunch` only says what to run (a command line); the CLI runs it (a child it can interrupt, or
srun in its place).
"""

from __future__ import annotations

import os
import shutil
import sys
from dataclasses import dataclass

from vzoo.core.errors import UserInputError

SRUN_CPUS_PER_TASK = 5  # as mmdet's slurm_test.sh


@dataclass(frozen=True)
class Relaunch:
    command: list[str]
    replaces_process: bool = False  # srun takes this process's place (exec); torchrun is a child
    hide_gpus: bool = False  # CPU processes: CUDA_VISIBLE_DEVICES="" for them


def relaunch(
    argv: list[str], *, gpus: int, nproc: int, launcher: str, partition: str | None
) -> Relaunch | None:
    """The command that runs this `vzoo eval` (its `argv`, without the program name) on several
    processes; None when it runs here, in this process."""
    if launcher == "slurm" and partition is not None and "SLURM_PROCID" not in os.environ:
        argv = strip_options(argv, ("--partition", "--launcher"))
        return Relaunch(srun_command(argv, partition, max(gpus, 1)), replaces_process=True)
    if gpus > 1 and launcher == "none":
        return Relaunch(torchrun_command(strip_options(argv, ("--launcher",)), gpus))
    if nproc > 1 and launcher == "none":
        # --nproc is dropped: torchrun's parser would take it for its own --nproc-per-node; the
        # processes know they are on the CPU from the hidden GPUs
        argv = strip_options(argv, ("--launcher", "--nproc"))
        return Relaunch(torchrun_command(argv, nproc), hide_gpus=True)
    return None


def torchrun_command(argv: list[str], nproc: int) -> list[str]:
    """This command under torchrun (torch.distributed.run, with this interpreter), `nproc`
    processes. A free rendezvous port is picked (--standalone) unless MASTER_PORT is set."""
    port = os.environ.get("MASTER_PORT")
    return [
        sys.executable, "-m", "torch.distributed.run", f"--nproc_per_node={nproc}",
        *([f"--master_port={port}"] if port else ["--standalone"]),
        "-m", "vzoo.cli.main", *argv, "--launcher", "pytorch",
    ]  # fmt: skip


def srun_command(
    argv: list[str], partition: str, gpus: int, cpus_per_task: int = SRUN_CPUS_PER_TASK
) -> list[str]:
    """This command submitted through srun, as mmdet's slurm_test.sh: one task per GPU."""
    srun = shutil.which("srun")
    if srun is None:
        raise UserInputError("--launcher slurm --partition needs srun on PATH (a SLURM login node)")
    return [
        srun, "-p", partition, "--job-name=vzoo-eval", f"--gres=gpu:{min(gpus, 8)}",
        f"--ntasks={gpus}", f"--ntasks-per-node={min(gpus, 8)}",
        f"--cpus-per-task={cpus_per_task}", "--kill-on-bad-exit=1",
        sys.executable, "-m", "vzoo.cli.main", *argv, "--launcher", "slurm",
    ]  # fmt: skip


def strip_options(argv: list[str], options: tuple[str, ...]) -> list[str]:
    """argv without the given `--option value` pairs (they are re-added by the launcher)."""
    out, skip = [], False
    for a in argv:
        if skip:
            skip = False
            continue
        if a in options:
            skip = True
            continue
        if any(a.startswith(o + "=") for o in options):
            continue
        out.append(a)
    return out


def is_rank_zero(launcher: str) -> bool:
    """Under torchrun / srun only rank 0 reports."""
    var = "SLURM_PROCID" if launcher == "slurm" else "RANK"
    return os.environ.get(var, "0") == "0"
