"""A multi-process evaluation: how `vzoo eval` re-launches itself, and its process group (NCCL on
GPUs, gloo on CPU).

Re-launching, as mmdet's dist_test.sh / slurm_test.sh (`relaunch` says what to run, a command
line; the CLI runs it: a child it can interrupt, or srun in its place):
- `--gpus N` (N > 1): this same command as a child under
  `torchrun --nproc_per_node N ... --launcher pytorch`;
- `--nproc N` (N > 1): the same with N CPU processes (gloo; CUDA hidden from them);
- `--launcher slurm --partition P` (outside SLURM): submitted through `srun`, one task per GPU;
  inside SLURM it runs as one task.

The process group. On GPUs mmengine's `init_dist` starts the group;
on CPU vzoo starts a gloo group itself, because mmengine's pytorch launcher calls
`torch.cuda.set_device` unconditionally, and mmengine then finds the group already started. Its
model wrapper (DistributedDataParallel) is also told not to pin the model to a GPU.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from vzoo.core.errors import UserInputError

# What torchrun sets for each process; without it the process group cannot start.
_TORCHRUN_ENV = ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")


def check_launcher_environment(launcher: str) -> None:
    """`--launcher pytorch` outside torchrun would fail deep in torch (or wait for a process
    group that never forms): refused before any work."""
    import os

    missing = [n for n in _TORCHRUN_ENV if n not in os.environ]
    if launcher == "pytorch" and missing:
        raise UserInputError(
            f"--launcher pytorch: not running under torchrun ({', '.join(missing)} unset): "
            "use --gpus N or --nproc N, and vzoo starts torchrun itself"
        )


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


def check_gpus(gpus: int) -> None:
    """`--gpus N` (N > 0) without CUDA here is bad input."""
    if gpus <= 0:
        return
    import torch

    if not torch.cuda.is_available():
        raise UserInputError(
            f"--gpus {gpus} was given but CUDA is not available here: use --gpus 0 for CPU"
        )


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


def init_distributed(launcher: str) -> None:
    """Start the process group from the launcher's environment (no-op for `none` or if started)."""
    import torch
    import torch.distributed as dist

    if launcher == "none" or dist.is_initialized():
        return
    if torch.cuda.is_available():
        from mmengine.dist import init_dist

        init_dist(launcher)
        return
    if launcher != "pytorch":
        raise UserInputError(
            f"--launcher {launcher} without a GPU: for CPU processes use --nproc N (torchrun)"
        )
    dist.init_process_group("gloo")  # RANK, WORLD_SIZE, MASTER_ADDR/PORT from torchrun


def world_size() -> int:
    import torch.distributed as dist

    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def model_wrapper_cfg() -> dict[str, Any] | None:
    """mmengine's `model_wrapper_cfg` for this process: None (its default) on GPUs; on CPU,
    DistributedDataParallel without device ids (mmengine would pass the local rank as a GPU)."""
    import torch

    if torch.cuda.is_available():
        return None
    return dict(type="MMDistributedDataParallel", device_ids=None, broadcast_buffers=False)


def configure_runner(cfg: Any, launcher: str, seed: int | None) -> None:
    """Point an mmengine Runner config at this launcher (process group started, CPU-safe model
    wrapper) and, for random-init runs, a fixed seed: the model is built after mmengine seeds
    torch, so its initial weights are the same in every run and in every process."""
    cfg.launcher = launcher
    if launcher != "none":
        init_distributed(launcher)
        wrapper = model_wrapper_cfg()
        if wrapper is not None:
            cfg.model_wrapper_cfg = wrapper
    if seed is not None:
        cfg.randomness = dict(seed=seed)


# `(images done, images in all)` after each test batch, on the main process only
ImagesDone = Callable[[int, int], None]


def progress_hook(images_done: ImagesDone) -> Any:
    """An mmengine hook reporting images done after each test batch (main process only: with N
    processes each does ~1/N of the images in step, so the main one's count is scaled by N)."""
    from mmengine.dist import get_rank
    from mmengine.hooks import Hook

    class ImagesProgressHook(Hook):
        def before_test(self, runner: Any) -> None:
            self.total = len(runner.test_dataloader.dataset)
            self.done = 0
            images_done(0, self.total)

        def after_test_iter(self, runner: Any, batch_idx: int, data_batch: Any = None,
                            outputs: Any = None) -> None:  # fmt: skip
            batch = len(data_batch["inputs"]) if isinstance(data_batch, dict) else 1
            self.done = min(self.total, self.done + batch * world_size())
            images_done(self.done, self.total)

    return ImagesProgressHook() if get_rank() == 0 else None


def register_progress(runner: Any, images_done: ImagesDone | None) -> None:
    """Report the runner's test progress to `images_done` (if given, on the main process)."""
    hook = progress_hook(images_done) if images_done is not None else None
    if hook is not None:
        runner.register_hook(hook, priority="LOWEST")
