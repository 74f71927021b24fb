"""`vzoo bench` for one row: build, time on one protocol, and turn the timing into records."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch
from torch import nn

from vzoo.core.errors import RowsRun, UserInputError, measure_rows
from vzoo.core.inputs import check_device, cpu_cores
from vzoo.core.metrics import METRICS, SPEED_METRICS
from vzoo.core.registry import Row
from vzoo.core.results import EvalResult, ResultStore, command_line, environment_fingerprint
from vzoo.speed.memory import CpuPeakRss, CudaPeakAllocated
from vzoo.speed.protocol import BenchProtocol, loop_defaults
from vzoo.speed.stability import LoadProbe, Spread, timing_caveats, wait_policy
from vzoo.speed.timing import CudaEventClock, IterationClock, Timing, WallClock, time_loop
from vzoo.zoo.row_models import TimedModel, build_timed_model, default_input, row_available

# the units the report prints (peak memory is MiB: both memory probes divide bytes by 2**20)
UNITS = {metric: METRICS[metric].unit for metric in SPEED_METRICS}


@dataclass(frozen=True)
class BenchOptions:
    """What the command line asked for; None means the protocol's default for the row."""

    device: str = "cpu"
    part: str = "model"
    batch_size: int | None = None
    input_hw: tuple[int, int] | None = None
    warmup: int | None = None
    iters: int | None = None
    amp: bool = False
    channels_last: bool = False
    compile: bool = False
    threads: int | None = None


@dataclass(frozen=True)
class BenchResult:
    row: Row
    protocol: BenchProtocol
    timing: Timing
    peak_memory_mb: float | None
    memory_method: str
    description: str
    # the highest 1-minute load average at the start and the end of the timed loop
    load_avg: float | None = None
    cores: int = 1  # cores the process could run on
    caveats: tuple[str, ...] = ()  # why the timing is not trustworthy (`stability`)

    @property
    def trustworthy(self) -> bool:
        return not self.caveats

    def records(self) -> list[dict[str, Any]]:
        """What `--format json` prints: one record per metric, each with its protocol, the
        machine's load and (timings) the spread of the passes, in the record's unit."""
        proto = self.protocol.to_dict()
        lat = self.timing.latency_ms()
        rates = Spread.of([self.timing.batch_size / s for s in self.timing.seconds])
        trust = {"load_avg_1min": self.load_avg, "cores": self.cores,
                 "trustworthy": self.trustworthy, "caveats": list(self.caveats)}  # fmt: skip
        out: list[dict[str, Any]] = [
            {"id": self.row.id, "metric": "throughput", "value": self.timing.throughput,
             "unit": UNITS["throughput"], "protocol": proto, "spread": rates.to_dict(),
             **trust},
            {"id": self.row.id, "metric": "latency_ms", "value": lat["median"],
             "unit": UNITS["latency_ms"], "protocol": proto, "spread": lat, **trust},
        ]  # fmt: skip
        if self.peak_memory_mb is not None:
            out.append(
                {"id": self.row.id, "metric": "peak_memory_mb", "value": self.peak_memory_mb,
                 "unit": UNITS["peak_memory_mb"], "protocol": proto,
                 "method": self.memory_method, **trust}
            )  # fmt: skip
        return out


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return f"{line.split(':', 1)[1].strip()}, {os.cpu_count()} cores"
    import platform

    return f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores"


def bench_device(device: str) -> torch.device:
    """The torch device a bench runs on (checked by `core.inputs.check_device`): `cuda` means
    the current CUDA device, named by its index."""
    check_device(device)
    dev = torch.device(device)
    if dev.type == "cuda" and dev.index is None:
        dev = torch.device("cuda", torch.cuda.current_device())
    return dev


def resolve_protocol(row: Row, opts: BenchOptions, dev: torch.device) -> BenchProtocol:
    from vzoo.kernels.selective_scan import resolve_backend

    defaults = loop_defaults(dev.type, row.task)
    c, h, w = default_input(row)
    if opts.input_hw is not None:
        h, w = opts.input_hw
    precision = "fp32"
    if opts.amp:
        precision = "amp-fp16" if dev.type == "cuda" else "amp-bf16"
    return BenchProtocol(
        device=dev.type,
        device_name=device_name(dev),
        part=opts.part,
        batch_size=opts.batch_size or defaults.batch_size,
        input=f"{c}x{h}x{w}",
        precision=precision,
        threads=opts.threads or torch.get_num_threads(),
        compile=opts.compile,
        channels_last=opts.channels_last,
        warmup=opts.warmup if opts.warmup is not None else defaults.warmup,
        iters=opts.iters or defaults.iters,
        scan_backend=resolve_backend(None, dev),
        torch=torch.__version__,
        cuda=torch.version.cuda if dev.type == "cuda" else None,
        omp_wait_policy=wait_policy(),
    )


def make_input(tm: TimedModel, device: torch.device, channels_last: bool) -> torch.Tensor:
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(tm.batch_size, *tm.input_shape, generator=gen).to(device)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    return x


def move(tm: TimedModel, device: torch.device, channels_last: bool) -> nn.Module:
    module = tm.module.to(device)
    samples = getattr(module, "data_samples", None)
    if samples is not None:
        module.data_samples = [s.to(device) for s in samples]
    if channels_last:
        module = module.to(memory_format=torch.channels_last)
    return module


def bench_row(
    row: Row,
    opts: BenchOptions,
    *,
    clock_for: Callable[[torch.device], IterationClock] | None = None,
) -> BenchResult:
    """Swin's throughput() on this row: eval, no_grad, warm-up, synchronise, timed passes."""
    dev = bench_device(opts.device)
    proto = resolve_protocol(row, opts, dev)
    c, h, w = (int(v) for v in proto.input.split("x"))
    previous_threads = torch.get_num_threads()
    torch.set_num_threads(proto.threads)
    try:
        tm = build_timed_model(row, proto.part, (c, h, w), proto.batch_size)
        module = move(tm, dev, proto.channels_last)
        x = make_input(tm, dev, proto.channels_last)
        load = LoadProbe()
        timing, peak, method = time_module(
            module, x, proto, dev, clock_for=clock_for, before_timed=load.mark
        )
        load.mark()
    finally:
        torch.set_num_threads(previous_threads)
    cores = cpu_cores()
    caveats = timing_caveats(
        timing.seconds, load_avg=load.peak, cores=cores, device=dev.type, warmup=proto.warmup
    )
    return BenchResult(
        row, proto, timing, peak, method, tm.description, load.peak, cores, tuple(caveats)
    )


def time_module(
    module: torch.nn.Module,
    x: torch.Tensor,
    proto: BenchProtocol,
    dev: torch.device,
    *,
    clock_for: Callable[[torch.device], IterationClock] | None = None,
    before_timed: Callable[[], None] | None = None,
) -> tuple[Timing, float | None, str]:
    """The timed loop of `proto` on a built module already on `dev` (threads set by the caller):
    (timing, peak memory in MiB, how the memory was measured). `before_timed` runs after the
    warm-up, just before the timed loop starts."""
    if proto.compile:
        module = torch.compile(module)
    memory = CudaPeakAllocated(dev) if dev.type == "cuda" else CpuPeakRss()
    clock = clock_for(dev) if clock_for else (
        CudaEventClock(dev) if dev.type == "cuda" else WallClock()
    )  # fmt: skip
    autocast = (
        torch.autocast(dev.type, dtype=torch.float16 if dev.type == "cuda" else torch.bfloat16)
        if proto.precision.startswith("amp")
        else contextlib.nullcontext()
    )

    def start_timed() -> None:
        if before_timed is not None:
            before_timed()
        memory.reset()

    with torch.no_grad(), autocast:
        timing = time_loop(
            lambda: module(x), batch_size=proto.batch_size, warmup=proto.warmup,
            iters=proto.iters, clock=clock, before_timed=start_timed,
        )  # fmt: skip
    return timing, memory.peak_mb(), memory.method


CSV_COLUMNS = (
    "id", "metric", "value", "unit", "min", "median", "max", "load_avg_1min", "cores",
    "trustworthy", "caveats", "device", "device_name", "part", "input", "batch_size", "precision",
    "threads", "omp_wait_policy", "protocol_key",
)  # fmt: skip


def records_csv(results: list[BenchResult]) -> str:
    """`vzoo bench --format csv`: the json records, one line each, the unit in its own column
    (spread columns in the record's unit; the full protocol is the json's `protocol`)."""
    import csv
    import io

    buf = io.StringIO()
    writer = csv.DictWriter(buf, CSV_COLUMNS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for res in results:
        for rec in res.records():
            spread = rec.get("spread") or {}
            writer.writerow({
                **rec["protocol"], **{k: spread.get(k) for k in ("min", "median", "max")},
                **rec, "caveats": "; ".join(rec["caveats"]),
                "protocol_key": res.protocol.key,
            })  # fmt: skip
    return buf.getvalue()


def to_eval_results(result: BenchResult) -> list[EvalResult]:
    """Store records: the protocol in the environment and as the record's convention key."""
    env = environment_fingerprint(result.protocol.device)
    env["bench_protocol"] = result.protocol.to_dict()
    # the machine's state, not part of the protocol: the load (other jobs), why not trustworthy
    env["load_avg_1min"] = result.load_avg
    env["cores"] = result.cores
    env["timing_caveats"] = list(result.caveats)
    out = []
    for rec in result.records():
        extra = {k: rec[k] for k in ("spread", "method") if k in rec}
        out.append(
            EvalResult(
                result.row.id, rec["metric"], float(rec["value"]), rec["unit"], command_line(),
                {**env, **extra}, convention=result.protocol.convention,
            )
        )  # fmt: skip
    return out


def record(results: list[BenchResult], store: ResultStore) -> None:
    store.record([r for res in results for r in to_eval_results(res)])


def buildable_rows(rows: list[Row], opts: BenchOptions, named: bool) -> list[Row]:
    """Bad input found before any model is built: `--device cuda` without CUDA, and, among rows
    the user `named`, one whose model this installation cannot build (from `--all` such rows
    are skipped)."""
    check_device(opts.device)
    missing = [r.id for r in rows if not row_available(r)]
    if named and missing:
        raise UserInputError(f"no model in this build for: {', '.join(missing)}")
    return [r for r in rows if r.id not in missing]


def bench_rows(
    rows: list[Row],
    opts: BenchOptions,
    *,
    named: bool = True,
    store: ResultStore | None = None,
    on_row: Callable[[Row], None] | None = None,
) -> RowsRun[BenchResult]:
    """Time every row; what `vzoo bench` runs (as `flops.run.count_rows` is `vzoo flops`).

    - Bad input is found before any model is built: `--device cuda` without CUDA, and, among
      rows the user `named`, one whose model this installation cannot build (an overlay or
      plugin row naming an arch or config not installed; from `--all` such rows are skipped).
    - One row's failure does not lose the others' numbers (`core.errors.measure_rows`); each
      row is recorded as soon as it is measured, so an interrupted `--all` keeps what it measured.
    """
    return measure_rows(
        buildable_rows(rows, opts, named),
        lambda row: bench_row(row, opts),
        on_row=on_row,
        on_result=None if store is None else lambda res: record([res], store),
    )


@dataclass
class RowSweep:
    """One row timed at each size of a sweep: what was measured, and each size that failed."""

    row: Row
    results: list[BenchResult]
    failures: list[str]  # "ROW at HxW: why"


def sweep_row(
    row: Row,
    opts: BenchOptions,
    sizes: tuple[tuple[int, int], ...] | None,
    *,
    on_result: Callable[[BenchResult], None] | None = None,
) -> RowSweep:
    """`bench_row` at each size (smallest first; None: the row's `default_sweep`), on one
    protocol but the input. A size the model cannot take (MLLA's classifier is built for 224²)
    fails alone; if every size fails, the first failure is raised as the row's."""
    from vzoo.core.errors import VzooError
    from vzoo.speed.protocol import default_sweep

    out = RowSweep(row, [], [])
    first_error: Exception | None = None
    for hw in sizes or default_sweep(row.task, opts.part):
        try:
            res = bench_row(row, replace(opts, input_hw=hw))
        except Exception as e:
            first_error = first_error or e
            what = str(e) if isinstance(e, VzooError) else f"{type(e).__name__}: {e}"
            out.failures.append(f"{row.id} at {hw[0]}x{hw[1]}: {what.removeprefix(row.id + ': ')}")
            continue
        out.results.append(res)
        if on_result is not None:
            on_result(res)
    if not out.results and first_error is not None:
        raise first_error
    return out


def sweep_rows(
    rows: list[Row],
    opts: BenchOptions,
    sizes: tuple[tuple[int, int], ...] | None,
    *,
    named: bool = True,
    store: ResultStore | None = None,
    on_row: Callable[[Row], None] | None = None,
) -> RowsRun[RowSweep]:
    """`vzoo bench --sweep`: each row at every size (a row's sizes one after another, so each
    curve is measured in one stretch of the machine's load), each point recorded as measured."""
    on_result = None if store is None else lambda res: record([res], store)
    return measure_rows(
        buildable_rows(rows, opts, named),
        lambda row: sweep_row(row, opts, sizes, on_result=on_result),
        on_row=on_row,
    )
