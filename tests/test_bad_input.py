"""Bad input of every command group: exit 2, one line naming the problem and the fix, before
any heavy work (no model is built, no data read beyond what is checked).

Commands run in-process through `vzoo.cli.main.run` (the console-script entry point). "Read-only"
directories: tests run as root here, which ignores permission bits, so the `read_only_dir`
fixture makes the directory immutable with `chattr +i` where that works (root on ext4/xfs), uses
chmod 0o555 when not root, and otherwise makes file creation under it fail with EACCES by
monkeypatching `os.open` (the one call every write path goes through).
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest


def _creation_fails_in(path: Path) -> bool:
    try:
        fd = os.open(path / ".probe", os.O_CREAT | os.O_WRONLY, 0o600)
    except OSError:
        return True
    os.close(fd)
    os.unlink(path / ".probe")
    return False


@pytest.fixture()
def read_only_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    d = tmp_path / "read-only"
    d.mkdir()
    undo: Callable[[], object] | None = None
    if os.geteuid() != 0:
        d.chmod(0o555)
        undo = lambda: d.chmod(0o755)  # noqa: E731
    elif shutil.which("chattr") and subprocess.run(["chattr", "+i", str(d)]).returncode == 0:
        undo = lambda: subprocess.run(["chattr", "-i", str(d)], check=True)  # noqa: E731
    if undo is None or not _creation_fails_in(d):
        real_open = os.open

        def refusing_open(path: str | os.PathLike[str], flags: int, *a: object, **k: object):
            if flags & os.O_CREAT and Path(path).absolute().is_relative_to(d):
                raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(path))
            return real_open(path, flags, *a, **k)

        monkeypatch.setattr(os, "open", refusing_open)
    assert _creation_fails_in(d)
    try:
        yield d
    finally:
        if undo is not None:
            undo()


@pytest.fixture(scope="module")
def coco_images(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A valid synthetic COCO set; cases copy its annotation file and break it."""
    from vzoo.evaluation.synthetic import write_synthetic_coco

    return write_synthetic_coco(tmp_path_factory.mktemp("coco"), images=2, seed=1)


def _coco_with(tmp_path: Path, images: Path, doc: object) -> Path:
    """A COCO root whose val2017 is the synthetic set's and whose annotation file holds `doc`."""
    root = tmp_path / "coco"
    (root / "annotations").mkdir(parents=True)
    (root / "val2017").symlink_to(images / "val2017")
    (root / "annotations" / "instances_val2017.json").write_text(json.dumps(doc))
    return root


def _valid_doc(images: Path) -> dict:
    return json.loads((images / "annotations" / "instances_val2017.json").read_text())


# (name, document builder from the valid one, what the one line must say)
ANNOTATION_CASES: list[tuple[str, Callable[[dict], object], str]] = [
    ("number", lambda d: 123, "its JSON is a number, not an object"),
    ("null", lambda d: None, "its JSON is null, not an object"),
    ("annotation-not-object", lambda d: {**d, "annotations": [1]}, "annotations[0] is a number"),
    ("no-images", lambda d: {**d, "images": []}, "'images' is empty"),
    ("no-annotations", lambda d: {**d, "annotations": []}, "'annotations' is empty"),
    (
        "missing-image",
        lambda d: {
            **d,
            "images": [*d["images"], {**d["images"][0], "id": 99, "file_name": "gone.jpg"}],
        },
        "1 of 3 images listed",
    ),
    ("images-not-list", lambda d: {**d, "images": {"a": 1}}, "'images' must be a list"),
]


@pytest.mark.parametrize(
    ("make_doc", "message"),
    [pytest.param(f, m, id=n) for n, f, m in ANNOTATION_CASES],
)
def test_eval_bad_annotation_file_exits_2(
    make_doc: Callable[[dict], object],
    message: str,
    coco_images: Path,
    tmp_path: Path,
    cli,
) -> None:
    root = _coco_with(tmp_path, coco_images, make_doc(_valid_doc(coco_images)))
    work = tmp_path / "work"
    code, out, err = cli("eval", "msvmamba-micro-1x", "--data-root", str(root),
        "--random-init", "--work-dir", str(work))  # fmt: skip
    _assert_one_line(code, out, err, message)
    assert "instances_val2017.json" in err  # names the file
    assert not work.exists()  # failed before any work


def _assert_one_line(code: int, out: str, err: str, message: str) -> None:
    assert code == 2, err
    assert message in err, err
    lines = err.strip().splitlines()
    # `registry check` prints "FILE: problem" lines (one per problem), everything else one error
    assert len(lines) == 1 and lines[0].startswith(("vzoo: error: ", "/")), err
    assert "internal error" not in err and "Traceback" not in err
    assert out.strip() == ""  # (a transient progress bar may leave its newline)


Case = Callable[[Path], tuple[list[str], str]]


def _binary_registry(tmp: Path) -> tuple[list[str], str]:
    f = tmp / "registry.yaml"
    f.write_bytes(b"\x89PNG\r\n\x1a\n\x00\xff\xfe binary")
    return ["registry", "check", str(f)], "not UTF-8 text"


def _duplicate_key_registry(tmp: Path) -> tuple[list[str], str]:
    from vzoo.core.paths import package_root

    lines = (package_root() / "registry.yaml").read_text().splitlines(keepends=True)
    at = next(i for i, line in enumerate(lines) if line.lstrip().startswith("family:"))
    indent = lines[at][: len(lines[at]) - len(lines[at].lstrip())]
    lines.insert(at + 1, f"{indent}family: mlla\n")  # the same key again, one line below
    f = tmp / "registry.yaml"
    f.write_text("".join(lines))
    return ["registry", "check", str(f)], (
        f"{f}: line {at + 2}: duplicate key 'family' (first at line {at + 1})"
    )


def _below_a_file(tmp: Path) -> Path:
    (tmp / "a-file").write_text("x")
    return tmp / "a-file"


NO_DATA = ["--data-root", "/nonexistent/coco"]  # option checks come before the dataset's
CASES: dict[str, Case] = {
    "registry-binary": _binary_registry,
    "registry-duplicate-key": _duplicate_key_registry,
    "eval-workers-negative": lambda t: (
        ["eval", "msvmamba-micro-1x", "--workers", "-1", *NO_DATA],
        "--workers -1: must be 0",
    ),
    "eval-batch-size-0": lambda t: (
        ["eval", "msvmamba-micro-1x", "--batch-size", "0", *NO_DATA],
        "--batch-size 0: must be",
    ),
    "eval-metric-backend": lambda t: (
        ["eval", "msvmamba-micro-1x", "--metric-backend", "foo", *NO_DATA],
        "unknown metric backend 'foo'; choose one of faster-coco-eval, pycocotools",
    ),
    "flops-input-too-small": lambda t: (
        ["flops", "msvmamba-nano", "--input", "1x1", "--no-store"],
        "smallest 32x32",
    ),
    "flops-input-too-large": lambda t: (
        ["flops", "msvmamba-nano", "--input", "100000x100000", "--no-store"],
        "largest 4096x4096",
    ),
    "flops-out-directory": lambda t: (
        ["flops", "msvmamba-nano", "--out", str(t)],
        f"--out {t} is a directory",
    ),
    "compare-out-directory": lambda t: (["compare", "--out", str(t)], f"--out {t} is a directory"),
    "compare-out-below-a-file": lambda t: (
        ["compare", "--out", str(_below_a_file(t) / "r.md")],
        "is a file, not a directory",
    ),
    "synth-coco-onto-a-file": lambda t: (
        ["data", "synth-coco", str(_below_a_file(t))],
        "is a file, not a directory",
    ),
    "synth-coco-below-a-file": lambda t: (
        ["data", "synth-coco", str(_below_a_file(t) / "coco")],
        "is a file, not a directory",
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_exits_2_with_one_line(case: str, tmp_path: Path, cli) -> None:
    args, message = CASES[case](tmp_path)
    before = sorted(tmp_path.rglob("*"))
    code, out, err = cli(*args)
    _assert_one_line(code, out, err, message)
    assert sorted(tmp_path.rglob("*")) == before  # nothing written, not even a temp file


@pytest.mark.parametrize(
    "args",
    [
        ["compare", "--out", "{d}/report.md"],
        ["flops", "msvmamba-nano", "--no-store", "--out", "{d}/sub/flops.md"],
        ["data", "synth-coco", "{d}"],
        ["data", "synth-imagenet", "{d}/imagenet"],
    ],
    ids=["compare-out", "flops-out", "synth-coco", "synth-imagenet"],
)
def test_unwritable_destination_exits_2_before_any_work(
    args: list[str], read_only_dir: Path, cli
) -> None:
    args = [a.format(d=read_only_dir) for a in args]
    code, out, err = cli(*args)
    _assert_one_line(code, out, err, f"cannot write in {read_only_dir}")
    assert "choose a writable location" in err
    assert list(read_only_dir.iterdir()) == []


def test_flops_out_of_memory_names_the_input(monkeypatch: pytest.MonkeyPatch, cli) -> None:
    """An input inside the bounds that this machine cannot allocate (simulated: the allocator's
    own message) is bad input with the fix, not an internal error."""
    import vzoo.flops.run as flops_run

    def oom(*args: object, **kwargs: object) -> None:
        raise RuntimeError("DefaultCPUAllocator: not enough memory: you tried to allocate 1 TB")

    monkeypatch.setattr(flops_run, "count_row", oom)
    code, out, err = cli("flops", "msvmamba-nano", "--input", "4096x4096", "--no-store")
    _assert_one_line(code, out, err, "counting at 4096x4096 needs more cpu memory than is free")
    assert "use a smaller --input" in err
