"""Peak memory of the timed loop: CUDA's allocator counter, or the process's resident set on CPU.

CUDA: `reset_peak_memory_stats` before the timed loop, `max_memory_allocated` after it (VMamba's
analysis version of `throughput()`): every live tensor, the weights and the input included.

CPU: there is no allocator counter, so vzoo measures what the issue asks for, the growth of the
process's resident set (RSS) during the timed loop: the forward's working memory as the OS sees
it (the weights and input are resident before it starts). Just before the timed loop, after the
warm-up, glibc is asked to return freed memory to the OS (`malloc_trim`), so one-time warm-up
allocations (numba's compiler, a previous row's buffers) neither count nor hide this loop's
growth; the baseline is the RSS then. The peak comes from the kernel's own high-water mark
(`VmHWM` in /proc/self/status), reset at the same moment by writing 5 to /proc/self/clear_refs
(Linux >= 4.0): it catches a peak however short and costs nothing during the loop, where a
sampling thread would miss short peaks and compete with the model for the GIL and the cores.
Where /proc is not writable a sampling thread (every 2 ms) is the fallback.
"""

from __future__ import annotations

import contextlib
import ctypes
import re
import threading
from pathlib import Path
from typing import Any

_STATUS = Path("/proc/self/status")
_CLEAR_REFS = Path("/proc/self/clear_refs")


def _status_kib(field: str) -> int | None:
    try:
        text = _STATUS.read_text()
    except OSError:
        return None
    m = re.search(rf"^{field}:\s+(\d+)\s+kB", text, re.MULTILINE)
    return int(m.group(1)) if m else None


def _malloc_trim() -> None:
    # not glibc: nothing to trim, the baseline is just less tidy
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


class CpuPeakRss:
    """RSS growth (MiB) from `reset()` to the peak between `reset()` and `peak_mb()`."""

    def __init__(self, sample_every_s: float = 0.002) -> None:
        self._base_kib: int | None = None
        self._every = sample_every_s
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._sampled_peak = 0
        self.method = "unavailable"

    def reset(self) -> None:
        _malloc_trim()
        self._base_kib = _status_kib("VmRSS")
        if self._base_kib is None:
            return
        try:
            _CLEAR_REFS.write_text("5")
            self.method = "VmHWM"
            return
        except OSError:
            pass
        self.method = "sampled"
        self._sampled_peak = _status_kib("VmRSS") or 0
        self._stop.clear()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        while not self._stop.wait(self._every):
            self._sampled_peak = max(self._sampled_peak, _status_kib("VmRSS") or 0)

    def peak_mb(self) -> float | None:
        if self._base_kib is None:
            return None
        if self._thread is not None:
            self._stop.set()
            self._thread.join()
            self._thread = None
            peak = max(self._sampled_peak, _status_kib("VmRSS") or 0)
        else:
            peak = _status_kib("VmHWM") or 0
        return max(0, peak - self._base_kib) / 1024


class CudaPeakAllocated:
    """`max_memory_allocated` (MiB) since `reset()`."""

    method = "max_memory_allocated"

    def __init__(self, device: Any) -> None:
        self._device = device

    def reset(self) -> None:
        import torch

        torch.cuda.synchronize(self._device)
        torch.cuda.reset_peak_memory_stats(self._device)

    def peak_mb(self) -> float | None:
        import torch

        torch.cuda.synchronize(self._device)
        return torch.cuda.max_memory_allocated(self._device) / 2**20
