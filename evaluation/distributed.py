"""The process group of a multi-process evaluation: NCCL on GPUs, gloo on CPU.

`vzoo eval --gpus N` runs N processes on GPUs, `--nproc N` N processes on the CPU (both re-launch
the command under torchrun, `--launcher pytorch`). On GPUs mmengine's `init_dist` starts the group;
on CPU vzoo starts a gloo group itself, because mmengine's pytorch launcher calls
`torch.cuda.set_device` unconditionally, and mmengine then finds the group already started. Its
model wrapper (DistributedDataParallel) is also told not to pin the model to a GPU.
"""

from __future__ import annotations

from collections.abc import Callable
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
