"""The timing loop of Swin's `throughput()` (copied into VMamba, MSVMamba, MLLA), made testable.

`throughput()` runs the model `warmup` times untimed, synchronises, then times `iters` passes and
reports images/s = iters * batch / elapsed. vzoo also keeps each timed pass's duration (latency
median and spread) without adding a synchronisation per pass on CUDA: `CudaEventClock` records
an event after every pass and reads them all once the loop has ended.

The clock and the step are injected, so the loop's logic is tested with a fake clock and model.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol


class IterationClock(Protocol):
    """Marks the start of the timed loop and the end of every pass; answers the durations."""

    def start(self) -> None: ...

    def lap(self) -> None: ...

    def laps(self) -> list[float]:
        """Seconds per timed pass (waits for the device first)."""
        ...


class WallClock:
    """`time.perf_counter` marks; `synchronize` (e.g. torch.cuda.synchronize) before each."""

    def __init__(
        self,
        now: Callable[[], float] = time.perf_counter,
        synchronize: Callable[[], None] | None = None,
    ) -> None:
        self._now = now
        self._sync = synchronize or (lambda: None)
        self._marks: list[float] = []

    def start(self) -> None:
        self._sync()
        self._marks = [self._now()]

    def lap(self) -> None:
        self._sync()
        self._marks.append(self._now())

    def laps(self) -> list[float]:
        return [b - a for a, b in zip(self._marks, self._marks[1:], strict=False)]


class CudaEventClock:
    """CUDA events between passes: per-pass times without a host synchronisation per pass."""

    def __init__(self, device: Any) -> None:
        import torch

        self._torch = torch
        self._device = device
        self._events: list[Any] = []

    def _record(self) -> None:
        event = self._torch.cuda.Event(enable_timing=True)
        event.record(self._torch.cuda.current_stream(self._device))
        self._events.append(event)

    def start(self) -> None:
        self._torch.cuda.synchronize(self._device)  # the warm-up's work must not be timed
        self._events = []
        self._record()

    def lap(self) -> None:
        self._record()

    def laps(self) -> list[float]:
        self._torch.cuda.synchronize(self._device)
        pairs = zip(self._events, self._events[1:], strict=False)
        return [a.elapsed_time(b) / 1e3 for a, b in pairs]


@dataclass(frozen=True)
class Timing:
    """The timed passes of one loop."""

    batch_size: int
    seconds: tuple[float, ...]  # one per timed pass

    @property
    def total(self) -> float:
        return sum(self.seconds)

    @property
    def throughput(self) -> float:
        """Images per second over the whole timed loop, as `throughput()` computes it."""
        return len(self.seconds) * self.batch_size / self.total

    def latency_ms(self) -> dict[str, float]:
        """Per-batch latency: median and its spread (min, quartiles, max, stdev) in ms."""
        ms = sorted(1e3 * s for s in self.seconds)
        if len(ms) >= 2:
            q1, _, q3 = statistics.quantiles(ms, n=4, method="inclusive")
            std = statistics.stdev(ms)
        else:
            q1 = q3 = ms[0]
            std = 0.0
        return {
            "median": statistics.median(ms), "min": ms[0], "p25": q1, "p75": q3, "max": ms[-1],
            "std": std,
        }  # fmt: skip


def time_loop(
    step: Callable[[], Any],
    *,
    batch_size: int,
    warmup: int,
    iters: int,
    clock: IterationClock,
    before_timed: Callable[[], None] | None = None,
) -> Timing:
    """`warmup` untimed calls of `step`, then `iters` timed ones.

    `before_timed` runs between the two (e.g. resetting the peak-memory counters), untimed.
    """
    if warmup < 0:
        raise ValueError(f"warmup must be >= 0, got {warmup}")
    if iters < 1 or batch_size < 1:
        raise ValueError(f"iters and batch_size must be >= 1, got {iters}, {batch_size}")
    for _ in range(warmup):
        step()
    if before_timed is not None:
        before_timed()
    clock.start()
    for _ in range(iters):
        step()
        clock.lap()
    seconds = clock.laps()
    if len(seconds) != iters:
        raise RuntimeError(f"the clock gave {len(seconds)} durations for {iters} passes")
    if any(s <= 0 for s in seconds):
        # a coarse clock can give 0 for a tiny model; a rate from that would be infinite
        raise RuntimeError("a timed pass took no measurable time: raise --batch-size or --iters")
    return Timing(batch_size, tuple(seconds))
