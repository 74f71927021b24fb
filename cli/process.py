"""The CLI process around its command: what reaches the terminal besides the command's own
output. Two policies, both installed once when the process starts (`cli.main`): Ctrl-C, and the
third-party noise a vzoo user cannot act on.

They live here, not in `cli.main`: under torchrun the ranks run `python -m vzoo.cli.main`, whose
module is then `__main__`; state that a command changes (`vzoo eval --verbose`, `run_child`) must
be in one module that every part of the process imports as the same object.

Ctrl-C, designed once: one line (`vzoo: interrupted`), exit 130, worker processes stopped,
nothing half-written.

Why a handler rather than Python's default KeyboardInterrupt:
- libraries catch what an interrupt causes: mmengine turns any error while formatting a config
  into an 800-line SyntaxError, a DataLoader worker's `__del__` swallows the KeyboardInterrupt
  ("Exception ignored in ...") and the run goes on. So the interrupt is recorded in a flag, and
  whatever exception follows it (or none) ends the run as an interrupt;
- a swallowed interrupt is raised again every `REDELIVER_S` seconds until one reaches vzoo's
  entry point, and after `DEADLINE_S` the process exits 130 regardless;
- processes forked from this one (DataLoader workers) inherit the handler and ignore SIGINT: a
  terminal's Ctrl-C reaches the whole process group, but only the parent decides, stops its
  workers (SIGTERM, then SIGKILL) and prints the line;
- a child command run with `run_child` (torchrun) gets its own session, so Ctrl-C reaches only
  vzoo, which stops the child's process group; the child's stderr is forwarded line by line
  until then and dropped after, so its shutdown noise never shows. A child that was itself
  interrupted (prints `vzoo: interrupted`) ends the parent the same way;
- once the command has finished (its record written, its report printed: `command_done()`),
  Ctrl-C is ignored for the rest of the process: nothing is left to lose, and a script must see
  the command's own exit code, not 130 for a completed run (a SIGINT in the interpreter's
  shutdown used to kill it with 130 and no line).

Unwinding is normal Python unwinding (the KeyboardInterrupt runs every `finally` and `except
BaseException` cleanup: atomic writes remove their temporary file, SQLite rolls back), so the
exit is `SystemExit(130)`, never a hard exit unless the deadline passes.

Third-party noise: mmengine imports `pkg_resources` (a deprecation warning per importing module),
mmdet / mmseg / torch warn about their own internals. None of it is about the user's command, and
it buried the first useful line of `vzoo eval`. `quiet_third_party()` runs once at CLI start:
Python warnings raised from outside vzoo are ignored and the OpenMMLab loggers only speak on
errors. `--verbose` (or any `-W` / `PYTHONWARNINGS` the user set) keeps everything.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import signal
import subprocess
import sys
import threading
import time
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO, Any, NoReturn, TextIO

from vzoo import settings

LINE = "vzoo: interrupted"
EXIT_CODE = 130
REDELIVER_S = 2.0  # a swallowed KeyboardInterrupt is raised again this often
DEADLINE_S = 15.0  # after this, exit 130 even if something hangs in cleanup
STOP_GRACE_S = 5.0  # a worker or child has this long after SIGTERM before SIGKILL


class _State:
    def __init__(self) -> None:
        self.pid: int | None = None  # the process that installed the handler (not its forks)
        self.interrupted_at: float | None = None
        self.finishing = False
        self.done = False  # the command finished: a later SIGINT is ignored
        self.line_printed = False
        self.children: list[subprocess.Popen[bytes]] = []
        self.child_interrupted = threading.Event()
        self.lock = threading.Lock()
        self.generation = 0  # one per `handling()`: a watchdog outlives only its own run
        self.hard_exit = False  # a real process (not an in-process caller): may os._exit


_state = _State()


def interrupted() -> bool:
    return _state.interrupted_at is not None


def guard_startup() -> None:
    """Until `handling()` takes over: Ctrl-C while the CLI is still importing (typer, the
    command modules) has written nothing, so it ends the process at once with the line."""

    def on_sigint(signum: int, frame: object) -> None:
        _print_line()
        os._exit(EXIT_CODE)

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, on_sigint)


@contextlib.contextmanager
def handling(*, whole_process: bool) -> Iterator[None]:
    """Install the handler for one CLI invocation. `whole_process`: this invocation is the
    process (the console script), so the deadline may end it with os._exit; in-process callers
    (tests) get their previous handler back and are never hard-exited."""
    if threading.current_thread() is not threading.main_thread():
        yield  # signals go to the main thread only; nothing to install
        return
    previous = signal.signal(signal.SIGINT, _on_sigint)
    # A rank under torchrun is stopped with SIGTERM (its own session never sees the terminal's
    # Ctrl-C): unwind the same way, so its files are not left half-written either.
    is_rank = whole_process and "TORCHELASTIC_RUN_ID" in os.environ and "LOCAL_RANK" in os.environ
    previous_term = signal.signal(signal.SIGTERM, _on_sigint) if is_rank else None
    previous_hook = sys.unraisablehook
    _state.generation += 1
    _state.pid = os.getpid()
    _state.interrupted_at = None
    _state.finishing = False
    _state.done = False
    _state.line_printed = False
    _state.hard_exit = whole_process
    _state.child_interrupted.clear()
    try:
        yield
    finally:
        # the console script that finished its command ignores Ctrl-C through its exit
        finished = whole_process and _state.done and not interrupted()
        signal.signal(signal.SIGINT, signal.SIG_IGN if finished else previous)
        if previous_term is not None:
            signal.signal(signal.SIGTERM, previous_term)
        _state.pid = None
        if not whole_process:
            _state.generation += 1  # retire this run's watchdog
            sys.unraisablehook = previous_hook


def command_done() -> None:
    """The command has finished (record written, report printed): from now on Ctrl-C changes
    nothing, so it is ignored and the command's exit code stands."""
    _state.done = True


def _on_sigint(signum: int, frame: object) -> None:
    if os.getpid() != _state.pid or _state.done:
        return  # a forked worker (its parent stops it), or a command already finished
    first = _state.interrupted_at is None
    if first:
        _record()
    if _state.finishing:
        return  # cleanup under way: let it finish
    raise KeyboardInterrupt


def _record() -> None:
    _state.interrupted_at = time.monotonic()
    sys.unraisablehook = _drop_unraisable  # no "Exception ignored in __del__" noise
    threading.Thread(
        target=_watchdog, args=(_state.generation, _state.interrupted_at), daemon=True
    ).start()


def _drop_unraisable(unraisable: object) -> None:
    return None


def _watchdog(generation: int, since: float) -> None:
    """Re-raise a swallowed interrupt until the entry point sees it; hard exit at the deadline."""
    main = threading.main_thread().ident
    while True:
        time.sleep(REDELIVER_S / 4)
        if _state.generation != generation:
            return
        elapsed = time.monotonic() - since
        if elapsed >= DEADLINE_S and _state.hard_exit:
            _print_line()
            _stop_processes()
            os._exit(EXIT_CODE)
        if not _state.finishing and main is not None and elapsed >= REDELIVER_S:
            with contextlib.suppress(Exception):
                signal.pthread_kill(main, signal.SIGINT)
            time.sleep(REDELIVER_S)


def exit_interrupted() -> NoReturn:
    """End this run as interrupted: one line, workers and children stopped, exit 130."""
    if _state.interrupted_at is None:
        _record()
    _state.finishing = True
    # torch's SIGCHLD handler would raise "DataLoader worker exited unexpectedly" mid-exit
    if threading.current_thread() is threading.main_thread() and hasattr(signal, "SIGCHLD"):
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    _print_line()
    _stop_processes()
    raise SystemExit(EXIT_CODE)


def _print_line() -> None:
    with _state.lock:
        if _state.line_printed:
            return
        _state.line_printed = True
    with contextlib.suppress(Exception):
        sys.stdout.flush()
    with contextlib.suppress(Exception):
        sys.stderr.write(LINE + "\n")
        sys.stderr.flush()


def _stop_processes() -> None:
    """SIGTERM every worker this process started and every `run_child` process group; SIGKILL
    what is still there after the grace period."""
    workers = [p for p in multiprocessing.active_children() if p.pid is not None]
    for p in workers:
        with contextlib.suppress(Exception):
            p.terminate()
    for child in _state.children:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(child.pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_GRACE_S
    for p in workers:
        p.join(max(0.0, deadline - time.monotonic()))
        if p.is_alive():
            with contextlib.suppress(Exception):
                p.kill()
                p.join(1)
    for child in _state.children:
        try:
            child.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(child.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.wait(1)


def run_child(cmd: Sequence[str]) -> int:
    """Run `cmd` (e.g. torchrun re-launching this command) as the foreground work of this
    process and return its exit code; Ctrl-C, or the child reporting its own interrupt, ends
    this process as interrupted with the child's whole process group stopped."""
    proc = subprocess.Popen(list(cmd), stderr=subprocess.PIPE, start_new_session=True)
    _state.children.append(proc)
    assert proc.stderr is not None
    forwarder = threading.Thread(target=_forward, args=(proc.stderr,), daemon=True)
    forwarder.start()
    try:
        while True:
            try:
                code = proc.wait(0.2)
                break
            except subprocess.TimeoutExpired:
                if _state.child_interrupted.is_set():
                    exit_interrupted()
        forwarder.join(2)  # the last lines (the child's own errors and summary)
        if _state.child_interrupted.is_set() or code in (EXIT_CODE, -signal.SIGINT):
            exit_interrupted()
        return code
    finally:
        if proc.poll() is None and not interrupted():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)


def _forward(stream: IO[bytes]) -> None:
    """Copy the child's stderr to ours until an interrupt; its shutdown noise is dropped."""
    out = sys.stderr.buffer if hasattr(sys.stderr, "buffer") else None
    for raw in iter(stream.readline, b""):
        if raw.rstrip(b"\r\n").endswith(LINE.encode()):
            _state.child_interrupted.set()
        if interrupted() or _state.child_interrupted.is_set():
            continue
        if out is not None:
            out.write(raw)
            out.flush()
        else:
            sys.stderr.write(raw.decode(errors="replace"))


# ---------------------------------------------------------------------- third-party noise
# Loggers of libraries that log warnings about themselves (mmengine's MMLogger is "mmengine").
THIRD_PARTY_LOGGERS = ("mmengine", "mmdet", "mmseg", "mmcv", "numba", "fvcore", "timm")
# vzoo's own warnings stay visible: they are about the user's command.
_OWN_MODULES = r"vzoo(\..*)?$"
_saved_filters: list[tuple[object, ...]] | None = None
_saved_showwarning: Any = None


def _from_vzoo(filename: str) -> bool:
    try:
        return Path(filename).resolve().is_relative_to(settings.package_root())
    except (OSError, ValueError):
        return False


def _show_own_only(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: TextIO | None = None,
    line: str | None = None,
) -> None:
    """Libraries reset the filters (mmdet's init_detector calls simplefilter('once')): the
    last gate is here, where a warning would be printed."""
    if _from_vzoo(filename):
        _saved_showwarning(message, category, filename, lineno, file, line)


def quiet_third_party(verbose: bool = False) -> bool:
    """Silence third-party warnings unless `verbose`; returns whether it silenced anything."""
    if verbose or sys.warnoptions:  # the user asked to see warnings
        return False
    global _saved_filters, _saved_showwarning
    if _saved_filters is None:
        _saved_filters = list(warnings.filters)
        _saved_showwarning = warnings.showwarning
        warnings.showwarning = _show_own_only
    warnings.filterwarnings("ignore")
    warnings.filterwarnings("default", module=_OWN_MODULES)
    for name in THIRD_PARTY_LOGGERS:
        logging.getLogger(name).setLevel(logging.ERROR)
    return True


def restore_third_party() -> None:
    """Undo `quiet_third_party` (a command's own `--verbose`)."""
    global _saved_filters, _saved_showwarning
    if _saved_showwarning is not None:
        warnings.showwarning = _saved_showwarning
        _saved_showwarning = None
    if _saved_filters is not None:
        warnings.resetwarnings()
        for action, message, category, module, lineno in reversed(_saved_filters):
            warnings.filterwarnings(
                action,  # type: ignore[arg-type]
                message=getattr(message, "pattern", message) or "",
                category=category,  # type: ignore[arg-type]
                module=getattr(module, "pattern", module) or "",
                lineno=lineno,  # type: ignore[arg-type]
            )
        _saved_filters = None
    for name in THIRD_PARTY_LOGGERS:
        logging.getLogger(name).setLevel(logging.NOTSET)
