"""Whether a CPU timing can be trusted: the OpenMP wait policy, the machine's load, the spread.

Torch-free, so the CLI can settle the wait policy before torch (and its libgomp) is loaded.

- Wait policy. libgomp reads `OMP_WAIT_POLICY` once, when it is loaded (with torch). At its
  default its idle threads spin; on a CPU shared with other jobs the spinning threads compete
  with the ones doing work, and a 2-thread forward here ran ~50x slower (msvmamba-nano 0.33 img/s
  against 17.4 img/s PASSIVE). `settle_wait_policy()` sets PASSIVE for the process when the user
  has not chosen one and torch is not loaded yet; it answers the policy libgomp really uses.
- Trust. A timing is flagged when the machine was oversubscribed (the 1-minute load average,
  which counts this process's own running threads, above the core count: some thread waited for
  a core), when its passes disagree (slowest / fastest pass above `MAX_SPREAD`) or when no
  warm-up pass ran (the first timed pass then pays one-time costs: JIT compiles). Flagged
  timings are still recorded and shown, with the reason beside them.
"""

from __future__ import annotations

import os
import statistics
import sys
from collections.abc import Sequence
from dataclasses import dataclass

WAIT_POLICY_ENV = "OMP_WAIT_POLICY"
# slowest pass / fastest pass above this: the passes did not measure one speed
MAX_SPREAD = 1.5


def settle_wait_policy() -> str:
    """PASSIVE unless the user chose a policy or torch is already loaded; the policy in effect
    ('passive', 'active' or 'default', lower case)."""
    if WAIT_POLICY_ENV not in os.environ and "torch" not in sys.modules:
        os.environ[WAIT_POLICY_ENV] = "PASSIVE"
    return wait_policy()


def wait_policy() -> str:
    return os.environ.get(WAIT_POLICY_ENV, "default").lower()


def load_average() -> float | None:
    """The 1-minute load average (None where the OS has none)."""
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):
        return None


class LoadProbe:
    """The highest 1-minute load average seen at the marks around a timed loop."""

    def __init__(self) -> None:
        self.peak: float | None = None

    def mark(self) -> None:
        load = load_average()
        if load is not None:
            self.peak = load if self.peak is None else max(self.peak, load)


@dataclass(frozen=True)
class Spread:
    """Fastest, median and slowest of a loop's passes, in the metric's unit."""

    min: float
    median: float
    max: float

    @classmethod
    def of(cls, values: Sequence[float]) -> Spread:
        return cls(min(values), statistics.median(values), max(values))

    def to_dict(self) -> dict[str, float]:
        return {"min": self.min, "median": self.median, "max": self.max}


def timing_caveats(
    seconds: Sequence[float], *, load_avg: float | None, cores: int, device: str, warmup: int = 1
) -> list[str]:
    """Why a loop's timing should not be trusted (empty: nothing says so)."""
    caveats = []
    if warmup == 0:  # the first pass pays one-time costs (JIT compiles, allocator growth)
        caveats.append("no warm-up pass")
    if device == "cpu" and load_avg is not None and load_avg > cores:
        caveats.append(f"load {load_avg:.1f} on {cores} cores")
    if len(seconds) >= 2 and max(seconds) > MAX_SPREAD * min(seconds):
        caveats.append(f"spread {max(seconds) / min(seconds):.1f}x (max/min)")
    return caveats
