"""Ctrl-C during `vzoo eval`: exit 130 within seconds, exactly one line on stderr, DataLoader
workers stopped, nothing half-written in the work dir or the store.

Each case runs `vzoo eval` on synthetic COCO (`--random-init`, 2 DataLoader workers) in its own
session and sends SIGINT to the whole process group, as a terminal's Ctrl-C does (the workers
get it too). To hit a given moment deterministically, the child is started through a wrapper
that hooks one function of that stage: the hook records "reached" (and the worker pids) in a
file, then blocks, and the test sends the signal only then. Hooks only wait; the interrupt
and everything after it is the real code path.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from servers.fresh_interpreter import same_vzoo_env

from vzoo.core.results import ResultStore
from vzoo.evaluation.synthetic import write_synthetic_coco

ROW = "msvmamba-micro-1x"
REACH_TIMEOUT_S = 600  # a loaded 2-core machine takes minutes to import and build a detector
EXIT_WITHIN_S = 20.0

# The child: hooks for one stage, then the console-script entry point, as `vzoo eval ...`.
WRAPPER = r"""
import json, multiprocessing, os, sys, time
stage, mark = os.environ["HOOK_STAGE"], os.environ["HOOK_MARK"]

def reached(**extra):
    pids = [p.pid for p in multiprocessing.active_children()]
    with open(mark, "a") as f:
        f.write(json.dumps({"stage": stage, "pid": os.getpid(), "workers": pids, **extra}) + "\n")

def block():
    reached()
    time.sleep(600)  # the SIGINT ends this

sys.argv = ["vzoo", *sys.argv[1:]]
import vzoo.cli.main as main
if stage == "startup":
    block()
if stage == "config":  # a library that turns the interrupt into its own error (mmengine + yapf)
    import mmengine.config.config as mc
    def format_code(*a, **k):
        try:
            block()
        except KeyboardInterrupt:
            raise SyntaxError("Failed to format the config\n" + "x = 1\n" * 800) from None
    mc.FormatCode = format_code
if stage == "build":
    from mmengine.runner import Runner
    real_from_cfg = Runner.from_cfg.__func__
    def from_cfg(cls, cfg):
        block()
        return real_from_cfg(cls, cfg)
    Runner.from_cfg = classmethod(from_cfg)
if stage in ("inference", "swallowed"):
    from mmengine.model import BaseModel
    class SlowToDelete:  # a DataLoader iterator's __del__ that is running when Ctrl-C comes
        def __del__(self):
            block()
    def test_step(self, data):
        if stage == "inference":
            block()
        obj = SlowToDelete()
        del obj  # KeyboardInterrupt raised here is swallowed: "Exception ignored in ..."
        time.sleep(600)  # ... and the run would go on
    BaseModel.test_step = test_step
if stage == "scoring":
    import vzoo.evaluation.detection as det
    real_score = det.score_detections
    def score(*a, **k):
        block()
        return real_score(*a, **k)
    det.score_detections = score
main.run()
"""


@pytest.fixture(scope="module")
def one_image_coco(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_synthetic_coco(tmp_path_factory.mktemp("coco"), images=1, seed=2)


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False
    return state not in ("Z", "X")


@pytest.mark.slow
@pytest.mark.parametrize(
    "stage", ["startup", "config", "build", "inference", "swallowed", "scoring"]
)
def test_ctrl_c_exits_130_with_one_line(
    stage: str, one_image_coco: Path, tmp_path: Path, vzoo_home: Path
) -> None:
    mark, work = tmp_path / "mark.jsonl", tmp_path / "work"
    env = same_vzoo_env(HOOK_STAGE=stage, HOOK_MARK=str(mark))
    args = [
        "eval", ROW, "--random-init", "--data-root", str(one_image_coco), "--workers", "2",
        "--work-dir", str(work),
        "--cfg-options", "test_dataloader.dataset.pipeline.1.scale=(96,96)",
    ]  # fmt: skip
    err_file = tmp_path / "stderr"
    with err_file.open("wb") as err_sink:
        proc = subprocess.Popen(
            [sys.executable, "-c", WRAPPER, *args],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=err_sink,
            start_new_session=True,  # its own process group, which the "terminal" signals
        )
    try:
        deadline = time.monotonic() + REACH_TIMEOUT_S
        while not mark.exists() or not mark.read_text().strip():
            if proc.poll() is not None:
                pytest.fail(f"exited {proc.returncode} before {stage}: {err_file.read_text()}")
            assert time.monotonic() < deadline, f"{stage} not reached"
            time.sleep(0.2)
        reached = json.loads(mark.read_text().splitlines()[0])
        if stage in ("inference", "swallowed"):
            assert len(reached["workers"]) == 2  # the workers are up when Ctrl-C comes
        before = err_file.stat().st_size  # what it printed before (e.g. library warnings)
        sent = time.monotonic()
        os.killpg(proc.pid, signal.SIGINT)
        proc.wait(timeout=60)
        took = time.monotonic() - sent
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    err_text = err_file.read_bytes()[before:].decode()  # everything since the Ctrl-C
    assert proc.returncode == 130, err_text[-3000:]
    assert err_text == "vzoo: interrupted\n", err_text[-3000:]
    assert took < EXIT_WITHIN_S
    for pid in reached["workers"]:  # stopped, not orphaned
        assert not _alive(pid), f"DataLoader worker {pid} still running"
    # nothing half-written: no temporary files, every JSON in the work dir complete, no record
    leftovers = [
        p
        for p in [*work.rglob("*"), *vzoo_home.rglob("*")]
        if p.name.endswith(".tmp") or p.name.startswith(".detections.partial")
    ]
    assert leftovers == []
    for f in work.rglob("*.json"):
        json.loads(f.read_text())
    assert ResultStore().query(ROW) == []


# `--gpus N` runs the command under torchrun as a child (`interrupt.run_child`). A stand-in for
# torchrun (no GPU here): it starts a "rank" in a new session, as torch elastic does, and on
# SIGTERM prints shutdown noise, stops the rank and exits 1, as torchrun does.
LAUNCHER = r"""
import os, signal, subprocess, sys, time
mark = os.environ["HOOK_MARK"]
rank = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"],
                        start_new_session=True)
def on_term(signum, frame):
    print("Traceback (most recent call last):\n  SignalException: Process got signal: 15",
          file=sys.stderr, flush=True)
    rank.terminate()
    rank.wait()
    sys.exit(1)
signal.signal(signal.SIGTERM, on_term)
print("rank 0: evaluating", file=sys.stderr, flush=True)
with open(mark, "w") as f:
    f.write(f"{os.getpid()} {rank.pid}\n")
if os.environ["HOOK_STAGE"] == "rank-interrupted":
    time.sleep(0.5)
    print("vzoo: interrupted", file=sys.stderr, flush=True)  # what an interrupted rank prints
    print("torch.distributed.elastic.multiprocessing.errors.ChildFailedError: ...",
          file=sys.stderr, flush=True)
    rank.terminate()
    sys.exit(1)
time.sleep(600)
"""

PARENT = r"""
import sys
sys.argv = ["vzoo"]
import vzoo.cli.main as main
from vzoo.cli.process import run_child
main.app = lambda args=None, standalone_mode=False: run_child(
    [sys.executable, "-c", sys.argv_launcher])
"""


@pytest.mark.parametrize("stage", ["ctrl-c", "rank-interrupted"])
def test_child_launcher_stopped_and_one_line(stage: str, tmp_path: Path) -> None:
    mark, err_file = tmp_path / "mark", tmp_path / "stderr"
    env = same_vzoo_env(HOOK_STAGE=stage, HOOK_MARK=str(mark))
    code = PARENT.replace("sys.argv_launcher", repr(LAUNCHER)) + "main.run()\n"
    with err_file.open("wb") as err_sink:
        proc = subprocess.Popen(
            [sys.executable, "-c", code], env=env, stdout=subprocess.DEVNULL, stderr=err_sink,
            start_new_session=True,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while not mark.exists() or not mark.read_text().strip():
            assert proc.poll() is None, err_file.read_text()
            assert time.monotonic() < deadline
            time.sleep(0.1)
        launcher, rank = (int(v) for v in mark.read_text().split())
        first = b"rank 0: evaluating\n"
        while not err_file.read_bytes().startswith(first):  # forwarded to the parent's stderr
            assert proc.poll() is None or stage != "ctrl-c", err_file.read_text()
            assert time.monotonic() < deadline, err_file.read_text()
            time.sleep(0.05)
        before = len(first)  # not the file's size: a rank's later lines may already be there
        if stage == "ctrl-c":
            os.killpg(proc.pid, signal.SIGINT)  # the terminal: the parent's group only
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    err_text = err_file.read_bytes()[before:].decode()
    assert proc.returncode == 130, err_text
    assert err_text == "vzoo: interrupted\n"  # the launcher's noise is not shown
    deadline = time.monotonic() + 10
    while (_alive(launcher) or _alive(rank)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(launcher) and not _alive(rank)


# The console script, with a Ctrl-C that arrives once the command has finished: its record
# written and its report printed, in the interpreter's shutdown (as atexit runs).
AFTER_THE_COMMAND = r"""
import atexit, os, signal, sys, time
sys.argv = ["vzoo", *sys.argv[1:]]
import vzoo.cli.main as main

def ctrl_c():
    os.kill(os.getpid(), signal.SIGINT)
    time.sleep(0.5)  # the handler runs at the next bytecode: give it the chance

atexit.register(ctrl_c)
main.run()
"""


def test_ctrl_c_after_the_record_is_stored_leaves_exit_0(tmp_path: Path) -> None:
    """A run whose record is written and whose report is printed has succeeded: a Ctrl-C after
    that (a script's timeout, an impatient user) must not turn it into 130."""
    from vzoo.core.results import EvalResult

    source = ResultStore(tmp_path / "other", index_dir=tmp_path / "oi")
    source.record(
        [EvalResult(row_id=ROW, metric="box_ap", value=1.5, unit="AP", command="vzoo eval")]
    )
    home, idx = tmp_path / "home", tmp_path / "idx"
    env = same_vzoo_env(VZOO_HOME=str(home), VZOO_INDEX_DIR=str(idx))
    proc = subprocess.run(
        [sys.executable, "-c", AFTER_THE_COMMAND, "results", "import", str(source.path)],
        env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "imported 1 run (1 records)" in proc.stderr
    assert "interrupted" not in proc.stderr
    assert [r.value for r in ResultStore(home / "results", index_dir=idx).query()] == [1.5]
