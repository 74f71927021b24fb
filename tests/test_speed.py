"""`vzoo bench`: the timing loop's logic (fake clock and model), the records, compare, bad input.

No test asserts a wall time: speed figures live in reports/ (benchmarks/bench_cpu.py).
"""

from __future__ import annotations

import json
from typing import Any

import pytest
import torch
from torch import nn

from vzoo.core.registry import load_registry
from vzoo.core.report import compare, render
from vzoo.core.results import EvalResult, ResultStore
from vzoo.speed import run as speed_run
from vzoo.speed.memory import CpuPeakRss
from vzoo.speed.timing import Timing, WallClock, time_loop
from vzoo.zoo.row_models import TimedModel


class FakeTime:
    """A clock that only moves when the fake model runs: pass i costs `durations[i]` seconds."""

    def __init__(self, durations: list[float]) -> None:
        self.now = 100.0
        self.durations = list(durations)
        self.calls = 0
        self.events: list[str] = []

    def step(self) -> None:
        self.events.append("step")
        self.now += self.durations[self.calls]
        self.calls += 1

    def sync(self) -> None:
        self.events.append("sync")


# --------------------------------------------------------------------------- the loop


def test_warmup_is_untimed_and_throughput_is_iters_times_batch_over_elapsed() -> None:
    fake = FakeTime([9.0, 9.0, 0.5, 0.25, 0.25, 1.0])  # 2 slow warm-up passes, 4 timed
    marks: list[str] = []
    timing = time_loop(
        fake.step, batch_size=8, warmup=2, iters=4,
        clock=WallClock(now=lambda: fake.now, synchronize=fake.sync),
        before_timed=lambda: marks.append(f"reset after {fake.calls} passes"),
    )  # fmt: skip
    assert fake.calls == 6 and marks == ["reset after 2 passes"]
    assert timing.seconds == (0.5, 0.25, 0.25, 1.0)  # the warm-up's 18 s are not in it
    assert timing.throughput == pytest.approx(4 * 8 / 2.0)
    lat = timing.latency_ms()
    assert lat["median"] == pytest.approx(375.0) and lat["min"] == 250.0 and lat["max"] == 1000.0
    assert lat["p25"] == pytest.approx(250.0) and lat["p75"] == pytest.approx(625.0)
    # the device is synchronised before the clock starts and after every timed pass
    assert fake.events == ["step", "step", "sync"] + ["step", "sync"] * 4


def test_single_timed_pass_has_no_spread() -> None:
    t = Timing(batch_size=1, seconds=(0.2,))
    assert t.throughput == pytest.approx(5.0)
    assert t.latency_ms() == pytest.approx(
        {"median": 200.0, "min": 200.0, "p25": 200.0, "p75": 200.0, "max": 200.0, "std": 0.0}
    )


@pytest.mark.parametrize(("warmup", "iters", "batch"), [(-1, 3, 1), (0, 0, 1), (1, 3, 0)])
def test_loop_rejects_counts_that_measure_nothing(warmup: int, iters: int, batch: int) -> None:
    fake = FakeTime([0.1] * 5)
    with pytest.raises(ValueError):
        time_loop(fake.step, batch_size=batch, warmup=warmup, iters=iters,
                  clock=WallClock(now=lambda: fake.now))  # fmt: skip
    assert fake.calls == 0


def test_a_pass_that_takes_no_time_is_an_error_not_an_infinite_rate() -> None:
    fake = FakeTime([0.0, 0.0])
    with pytest.raises(RuntimeError, match="no measurable time"):
        time_loop(fake.step, batch_size=1, warmup=0, iters=2, clock=WallClock(now=lambda: 1.0))


class Recorder(nn.Module):
    """Records the mode it runs in; advances the fake clock by 0.1 s per pass."""

    def __init__(self, fake: FakeTime) -> None:
        super().__init__()
        self.fake = fake
        self.lin = nn.Linear(4, 2)
        self.seen: list[tuple[bool, bool, int, torch.dtype]] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.lin(x.mean(dim=(2, 3))[:, :1].expand(-1, 4))
        self.seen.append((self.training, torch.is_grad_enabled(), x.shape[0], y.dtype))
        self.fake.step()
        return y


@pytest.mark.parametrize("amp", [False, True])
def test_bench_row_runs_the_protocol_in_eval_and_no_grad(
    monkeypatch: pytest.MonkeyPatch, amp: bool
) -> None:
    fake = FakeTime([0.1] * 10)
    model = Recorder(fake).train()
    row = load_registry().get("mlla-t")
    built: list[tuple[str, tuple[int, int, int], int]] = []

    def build(row: Any, part: str, shape: tuple[int, int, int], batch: int) -> TimedModel:
        built.append((part, shape, batch))
        return TimedModel(model.eval(), batch, shape, "recorder")

    monkeypatch.setattr(speed_run, "build_timed_model", build)
    opts = speed_run.BenchOptions(batch_size=3, input_hw=(40, 48), warmup=2, iters=5, amp=amp,
                                  threads=1)  # fmt: skip
    threads_before = torch.get_num_threads()
    res = speed_run.bench_row(row, opts, clock_for=lambda dev: WallClock(now=lambda: fake.now))
    assert built == [("model", (3, 40, 48), 3)]
    assert len(model.seen) == 7
    dtype = torch.bfloat16 if amp else torch.float32
    assert set(model.seen) == {(False, False, 3, dtype)}  # eval, no_grad, the batch, precision
    assert res.timing.seconds == pytest.approx((0.1,) * 5)
    assert res.timing.throughput == pytest.approx(5 * 3 / 0.5)
    p = res.protocol
    assert (p.device, p.batch_size, p.input, p.warmup, p.iters, p.threads) == (
        "cpu", 3, "3x40x48", 2, 5, 1)  # fmt: skip
    assert p.precision == ("amp-bf16" if amp else "fp32")
    assert torch.get_num_threads() == threads_before  # --threads does not leak out of the run
    recs = res.records()
    assert [r["metric"] for r in recs] == ["throughput", "latency_ms", "peak_memory_mb"]
    assert recs[0]["value"] == pytest.approx(30.0) and recs[1]["value"] == pytest.approx(100.0)


def test_protocol_key_changes_with_every_field() -> None:
    from dataclasses import fields, replace

    from vzoo.speed.protocol import BenchProtocol

    base = BenchProtocol("cpu", "x", "model", 1, "3x224x224", "fp32", 2, False, False, 3, 10,
                         "torch", "2.13.0", None, "default")  # fmt: skip
    for f in fields(BenchProtocol):
        value = getattr(base, f.name)
        other = (not value if isinstance(value, bool) else value + 1 if isinstance(value, int)
                 else f"{value}-other")  # fmt: skip
        assert replace(base, **{f.name: other}).key != base.key, f.name
    assert replace(base).convention == base.convention


def test_cpu_peak_rss_sees_a_short_lived_allocation() -> None:
    mem = CpuPeakRss()
    mem.reset()
    block = bytearray(64 * 2**20)
    block[::4096] = b"\1" * len(block[::4096])  # touch every page: resident
    del block  # freed before the reading: only a high-water mark sees it
    peak = mem.peak_mb()
    assert peak is not None and peak >= 60, (peak, mem.method)


# --------------------------------------------------------------------------- the command


BENCH_NANO = ["bench", "msvmamba-nano", "--input", "64x64", "--batch-size", "2", "--warmup", "0",
              "--iters", "2"]  # fmt: skip


def test_bench_json_records_carry_the_protocol(cli) -> None:
    code, out, err = cli(*BENCH_NANO, "--format", "json", "--no-store")
    assert code == 0, err
    recs = json.loads(out)
    assert [(r["id"], r["metric"], r["unit"]) for r in recs] == [
        ("msvmamba-nano", "throughput", "img/s"), ("msvmamba-nano", "latency_ms", "ms"),
        ("msvmamba-nano", "peak_memory_mb", "MiB"),
    ]  # fmt: skip
    for r in recs:
        assert {"id", "metric", "value", "unit", "protocol"} <= set(r)
        p = r["protocol"]
        assert (p["device"], p["batch_size"], p["input"], p["precision"]) == (
            "cpu", 2, "3x64x64", "fp32")  # fmt: skip
        assert p["threads"] == torch.get_num_threads() and (p["warmup"], p["iters"]) == (0, 2)
        assert p["torch"] == torch.__version__ and p["part"] == "model"
    thr, lat = recs[0]["value"], recs[1]["value"]
    assert thr > 0 and lat > 0
    # two passes of batch 2: 4 images over their total time, which is twice the median's
    assert thr == pytest.approx(2 * 1e3 / lat)
    assert ResultStore().query() == []  # --no-store


def test_stored_bench_shows_in_compare_under_its_protocol(
    cli,
) -> None:
    code, _, err = cli(*BENCH_NANO, "--format", "table")
    assert code == 0, err
    stored = {r.metric: r for r in ResultStore().query("msvmamba-nano")}
    assert set(stored) == {"throughput", "latency_ms", "peak_memory_mb"}
    proto = stored["throughput"].env["bench_protocol"]
    assert proto["batch_size"] == 2 and stored["throughput"].convention.startswith("bench:")

    code, out, _ = cli("compare", "msvmamba-nano", "--report", "json")
    assert code == 0
    data = {d["metric"]: d for d in json.loads(out)}
    thr = data["throughput"]
    assert thr["measured"] == pytest.approx(stored["throughput"].value)
    assert thr["verdict"] == "measured" and thr["published"] is None and thr["delta"] is None
    assert thr["protocol"] == proto
    assert data["top1"]["verdict"] == "not-measured" and "protocol" not in data["top1"]

    code, out, _ = cli("compare", "--task", "classification")
    assert "| msvmamba-nano | throughput |" in out and "bs 2, 3x64x64, fp32" in out
    assert "| mlla-t | throughput | — | — | — | not-measured |" in out


def _speed(row_id: str, value: float, conv: str, batch: int, rid: int) -> Any:
    from vzoo.core.results import StoredResult

    return StoredResult(
        row_id=row_id, metric="throughput", value=value, unit="img/s", command="vzoo bench",
        env={"bench_protocol": {"device": "cpu", "batch_size": batch}}, convention=conv,
        id=rid, created_at="2026-01-01T00:00:00+00:00",
    )  # fmt: skip


def test_compare_never_mixes_two_protocols_in_one_column() -> None:
    reg = load_registry()
    rows = [reg.get("mlla-t"), reg.get("msvmamba-nano"), reg.get("mlla-t-1x")]
    speed = [
        _speed("mlla-t", 10.0, "bench:aaa", 1, 1),
        _speed("msvmamba-nano", 50.0, "bench:bbb", 8, 2),  # the newest: its protocol is shown
        _speed("mlla-t-1x", 0.5, "bench:ccc", 1, 3),  # another task: its own column
    ]
    recs = {(r.id, r.metric): r for r in compare(rows, {}, None, speed)}
    assert recs[("msvmamba-nano", "throughput")].measured == 50.0
    assert recs[("msvmamba-nano", "throughput")].protocol == {"device": "cpu", "batch_size": 8}
    mlla = recs[("mlla-t", "throughput")]  # measured, but under another protocol
    assert mlla.measured is None and mlla.verdict == "not-measured"
    assert mlla.convention == "bench:bbb"
    assert recs[("mlla-t-1x", "throughput")].measured == 0.5
    assert recs[("mlla-t-1x", "latency_ms")].verdict == "not-measured"
    # without any speed record a task has no speed metrics at all (the report stays as it was)
    plain = compare(rows, {}, None, [])
    assert not [r for r in plain if r.metric == "throughput"]
    text = render(compare(rows, {}, None, speed), "markdown")
    assert text.count("all under one protocol") == 2  # one line per task table


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["msvmamba-nano", "--batch-size", "0"], "--batch-size must be at least 1"),
        (["msvmamba-nano", "--iters", "0"], "--iters must be at least 1"),
        (["msvmamba-nano", "--warmup", "-1"], "--warmup must be at least 0"),
        (["msvmamba-nano", "--threads", "0"], "--threads must be at least 1"),
        (["msvmamba-nano", "--device", "cuda"], "CUDA is not available"),
        (["msvmamba-nano", "--device", "tpu"], "unknown --device 'tpu'"),
        (["msvmamba-nanoo"], "unknown row id 'msvmamba-nanoo'"),
        (["msvmamba-nano", "--input", "224"], "bad --input '224'"),
        (["msvmamba-nano", "--part", "neck"], "unknown --part 'neck'"),
        (["msvmamba-nano", "--compile", "--warmup", "0"], "--compile"),
        ([], "give row ids or --all"),
    ],
)
def test_bad_input_exits_2_with_one_line_and_records_nothing(
    args: list[str], message: str, cli,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    code, out, err = cli("bench", *args)
    assert code == 2, err
    assert message in err and len(err.strip().splitlines()) == 1 and out == ""
    assert ResultStore().query() == []


def test_eval_result_store_accepts_speed_metrics() -> None:
    ResultStore().record([EvalResult("mlla-t", "throughput", 12.5, "img/s", "vzoo bench")])
    assert ResultStore().query("mlla-t", "throughput")[0].value == 12.5


# --------------------------------------------------------------------------- quickstart


def test_quickstart_picks_the_smallest_classifier_of_each_family() -> None:
    from vzoo.workflows.quickstart import smallest_classifiers

    picked = {r.family: r.id for r in smallest_classifiers(load_registry())}
    assert picked == {"sparx-mamba": "sparx-mamba-t", "mlla": "mlla-t",
                      "msvmamba": "msvmamba-nano", "spatial-mamba": "spatial-mamba-t"}  # fmt: skip


def test_quickstart_measures_records_and_reports(cli, monkeypatch: pytest.MonkeyPatch) -> None:
    from vzoo.workflows import quickstart

    # one row and one timed pass keep the test short; the selection itself is tested above
    monkeypatch.setattr(
        quickstart, "smallest_classifiers", lambda rows: [load_registry().get("msvmamba-nano")]
    )
    monkeypatch.setattr(
        quickstart, "bench_options", lambda: speed_run.BenchOptions(warmup=0, iters=1)
    )
    code, out, err = cli("quickstart", "--report", "json")
    assert code == 0, err
    recs = {(d["id"], d["metric"]): d for d in json.loads(out)}
    for metric in ("params_m", "flops_g", "throughput", "latency_ms", "peak_memory_mb"):
        assert recs[("msvmamba-nano", metric)]["measured"] is not None, metric
    assert recs[("msvmamba-nano", "flops_g")]["verdict"] == "reproduced"
    assert recs[("msvmamba-nano", "throughput")]["protocol"]["device"] == "cpu"
    assert recs[("mlla-t", "throughput")]["verdict"] == "not-measured"
    assert recs[("mlla-t-1x", "box_ap")]["verdict"] == "not-measured"
    stored = {r.metric for r in ResultStore().query("msvmamba-nano")}
    assert {"params_m", "flops_g", "throughput"} <= stored


def test_backbone_of_an_mmdet_detector_is_timed_in_eval_mode() -> None:
    """mmdet's ResNet overrides train() without returning self: `.eval()` must not be chained."""
    from vzoo.zoo.row_models import build_timed_model

    row = load_registry().get("mmdet:mask-rcnn_r50_fpn_1x_coco")
    tm = build_timed_model(row, "backbone", (3, 64, 64), 1)
    assert type(tm.module).__name__ == "ResNet" and not tm.module.training
    with torch.no_grad():
        feats = tm.module(torch.zeros(1, 3, 64, 64))
    assert len(feats) == 4
