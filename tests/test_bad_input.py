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
    from vzoo.settings import package_root

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


# -- issue 22: hostile, careless and damaged input; every case one line, exit 2, before work --


def _overlay_row(tmp: Path, **over: object) -> Path:
    """An overlay file with one classifier row, `over` laid over its fields."""
    fields = {
        "id": "my-nano", "family": "msvmamba", "arch": "msvmamba-nano", "task": "classification",
        "dataset": "imagenet-1k", "method": "classifier", "schedule": "300e", "config": None,
        "weights": {"urls": ["https://example.org/my-nano.pth"]}, "pretrain": None,
        "published": {"top1": 70.1, "params_m": 7},
        "provenance": {"seed": "mine", "repo": "me/mine", "paper": "https://example.org/p"},
        **over,
    }  # fmt: skip
    f = tmp / "mine.yaml"
    f.write_text("rows:\n  - " + json.dumps(fields) + "\n", encoding="utf-8")
    return f


def _billion_laughs(tmp: Path) -> Path:
    """Nine anchors, each nine aliases of the one before: 9**9 (387 million) values in 10 lines."""
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 9)]
    f = tmp / "laughs.yaml"
    # where validation formats the value in its message ("must be a number, got ...")
    f.write_text("\n".join(lines) + "\nrows:\n  - id: my-nano\n    published: {top1: *a8}\n")
    return f


def _image(tmp: Path) -> Path:
    import cv2
    import numpy as np

    f = tmp / "picture.png"
    cv2.imwrite(str(f), np.full((64, 64, 3), 128, dtype=np.uint8))
    return f


def _out_dir_named_png(tmp: Path) -> Path:
    d = tmp / "drawn.png"
    d.mkdir()
    return d


def _imagenet(tmp: Path, break_it: Callable[[Path], object]) -> Path:
    from vzoo.evaluation.synthetic import write_synthetic_imagenet

    root = write_synthetic_imagenet(tmp / "imagenet", classes=2, per_class=1, size=64)
    break_it(root)
    return root


def _val_as_file(root: Path) -> None:
    shutil.rmtree(root / "val")
    (root / "val").write_text("not a directory")


def _empty_class(root: Path) -> None:
    (root / "val" / "n00000099").mkdir()


def _zero_byte_image(root: Path) -> None:
    next((root / "val" / "n00000000").iterdir()).write_bytes(b"")


def _text_as_image(root: Path) -> None:
    next((root / "val" / "n00000001").iterdir()).write_text("<html>403 Forbidden</html>")


STEP_0 = {"SLURM_ARRAY_TASK_ID": "0", "SLURM_ARRAY_TASK_COUNT": "2", "SLURM_ARRAY_TASK_STEP": "0"}
# name -> (tmp -> (args, environment), what the one line must say)
ISSUE_22_CASES: dict[str, tuple[Callable[[Path], tuple[list[str], dict[str, str]]], str]] = {
    "yaml-billion-laughs-check": (
        lambda t: (["registry", "check", str(_billion_laughs(t))], {}),
        "aliases (*name) expand to more than 1,000,000 values",
    ),
    "yaml-billion-laughs-overlay": (
        lambda t: (["list", "--registry", str(_billion_laughs(t))], {}),
        "aliases (*name) expand to more than 1,000,000 values",
    ),
    "long-value-quoted-short": (
        lambda t: (["registry", "check", str(_overlay_row(t, task="x" * 100_000))], {}),
        "'xxxxxxxxxx",  # and at most ~80 of them: checked below
    ),
    "value-with-escape-codes": (
        lambda t: (
            ["registry", "check", str(_overlay_row(t, method="\x1b[2J\x1b]0;owned\x07"))],
            {},
        ),
        "'\\x1b[2J\\x1b]0;owned\\x07' is not one of",
    ),
    "flops-input-60000": (
        lambda t: (["registry", "check", str(_overlay_row(t, flops_input=[3, 60000, 60000]))], {}),
        "flops_input: [3, 60000, 60000] is out of range",
    ),
    "mirror-file-url": (
        lambda t: (
            [
                "list",
                "--registry",
                str(
                    _overlay_row(
                        t,
                        weights={
                            "urls": ["https://e.org/a.pth"],
                            "mirrors": ["file:///etc/passwd"],
                        },
                    )
                ),
            ],
            {},
        ),
        "weights.mirrors: not an http(s) or hf:// URL: 'file:///etc/passwd'",
    ),
    "url-bad-ipv6": (
        lambda t: (
            ["list", "--registry", str(_overlay_row(t, weights={"urls": ["http://[::1/x"]}))],
            {},
        ),
        "weights.urls: not an http(s) URL: 'http://[::1/x' (unparsable: Invalid IPv6 URL)",
    ),
    "github-endpoint-bad": (
        lambda t: (["download", "mlla-t"], {"VZOO_GITHUB_ENDPOINT": "http://[::1"}),
        "VZOO_GITHUB_ENDPOINT='http://[::1' is not an http(s) URL",
    ),
    "github-endpoint-file": (
        lambda t: (["download", "mlla-t"], {"VZOO_GITHUB_ENDPOINT": "file:///etc"}),
        "VZOO_GITHUB_ENDPOINT='file:///etc' is not an http(s) URL",
    ),
    "scan-backend-bogus": (
        lambda t: (["flops", "msvmamba-nano", "--no-store"], {"VZOO_SCAN_BACKEND": "bogus"}),
        "VZOO_SCAN_BACKEND='bogus' is not a selective-scan backend",
    ),
    "eval-workers-100000": (
        lambda t: (["eval", "msvmamba-micro-1x", "--workers", "100000", *NO_DATA], {}),
        "--workers 100000: at most",
    ),
    "eval-shard-slurm-step-0": (
        lambda t: (["eval", "msvmamba-micro-1x", "--shard", "slurm", *NO_DATA], STEP_0),
        "SLURM_ARRAY_TASK_STEP is 0",
    ),
    "eval-launcher-pytorch-outside-torchrun": (
        lambda t: (["eval", "msvmamba-micro-1x", "--launcher", "pytorch", *NO_DATA], {}),
        "--launcher pytorch: not running under torchrun",
    ),
    "eval-work-dir-is-a-file": (
        lambda t: (
            ["eval", "msvmamba-micro-1x", "--work-dir", str(_below_a_file(t)), *NO_DATA],
            {},
        ),
        "is a file, not a directory",
    ),
    "bench-batch-size-100000000": (
        lambda t: (["bench", "msvmamba-nano", "--no-store", "--batch-size", "100000000"], {}),
        "--batch-size 100000000: at most",
    ),
    "bench-input-100000": (
        lambda t: (["bench", "msvmamba-nano", "--no-store", "--input", "100000x100000"], {}),
        "largest 4096x4096",
    ),
    "bench-threads-99999999999": (
        lambda t: (["bench", "msvmamba-nano", "--no-store", "--threads", "99999999999"], {}),
        "--threads 99999999999: at most",
    ),
    "predict-out-is-a-directory": (
        lambda t: (
            [
                "predict",
                "msvmamba-nano",
                str(_image(t)),
                "--out",
                str(_out_dir_named_png(t)),
                "--random-init",
            ],
            {},
        ),
        "is a directory",
    ),
    "imagenet-val-is-a-file": (
        lambda t: (
            [
                "eval",
                "msvmamba-nano",
                "--random-init",
                "--data-root",
                str(_imagenet(t, _val_as_file)),
            ],
            {},
        ),
        "ImageNet val directory",
    ),
    "imagenet-class-without-images": (
        lambda t: (
            [
                "eval",
                "msvmamba-nano",
                "--random-init",
                "--data-root",
                str(_imagenet(t, _empty_class)),
            ],
            {},
        ),
        "n00000099 holds no images",
    ),
    "imagenet-0-byte-image": (
        lambda t: (
            [
                "eval",
                "msvmamba-nano",
                "--random-init",
                "--data-root",
                str(_imagenet(t, _zero_byte_image)),
            ],
            {},
        ),
        "0 bytes",
    ),
    "imagenet-non-image": (
        lambda t: (
            [
                "eval",
                "msvmamba-nano",
                "--random-init",
                "--data-root",
                str(_imagenet(t, _text_as_image)),
            ],
            {},
        ),
        "not an image",
    ),
    "eval-ann-file-dev-zero": (
        lambda t: (
            [
                "eval",
                "msvmamba-micro-1x",
                "--random-init",
                "--data-root",
                str(_synthetic_coco(t)),
                "--ann-file",
                "/dev/zero",
            ],
            {},
        ),
        "/dev/zero is not a regular file",
    ),
    "results-list-unknown-metric": (
        lambda t: (["results", "list", "--metric", "box_aq"], {}),
        "unknown metric 'box_aq'; did you mean: box_ap",
    ),
    "results-list-unknown-row": (
        lambda t: (["results", "list", "--row", "mlla-tt-1x"], {}),
        "unknown row id 'mlla-tt-1x'; did you mean: mlla-t-1x",
    ),
}


def _synthetic_coco(tmp: Path) -> Path:
    from vzoo.evaluation.synthetic import write_synthetic_coco

    return write_synthetic_coco(tmp / "coco", images=1, seed=3, size=(200, 240))


@pytest.mark.parametrize("case", list(ISSUE_22_CASES))
def test_issue_22_bad_input_is_one_line_exit_2_before_work(
    case: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cli
) -> None:
    import time

    make, message = ISSUE_22_CASES[case]
    args, env = make(tmp_path)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(tmp_path)  # eval's default work dir, if one were made, would be here
    t0 = time.monotonic()
    code, out, err = cli(*args)
    _assert_one_line(code, out, err, message)
    assert time.monotonic() - t0 < 60  # fails fast (the alias bomb took 70 s to a MemoryError)
    assert len(err) < 600  # a value is quoted short, never whole
    assert "\x1b" not in err and "\x07" not in err  # escape codes never reach the terminal raw
    assert not (tmp_path / "work_dirs").exists()  # no row was started


@pytest.mark.skipif(
    __import__("torch").cuda.is_available(), reason="this machine has CUDA: nothing to refuse"
)
def test_predict_device_cuda_without_cuda_exits_2_before_the_model(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cli
) -> None:
    import vzoo.evaluation.predict as predict_module

    def no_model(*a: object, **k: object) -> None:
        raise AssertionError("the model was built")

    monkeypatch.setattr(predict_module, "_classify", no_model)
    code, out, err = cli(
        "predict", "msvmamba-nano", _image(tmp_path), "--out", tmp_path / "o.png",
        "--device", "cuda", "--random-init",
    )  # fmt: skip
    _assert_one_line(code, out, err, "--device cuda was given but CUDA is not available here")


def test_cfg_options_replacing_a_section_by_a_value_exits_2_before_the_model(
    coco_images: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cli
) -> None:
    from mmengine.runner import Runner

    def no_run(*a: object, **k: object) -> None:
        raise AssertionError("a runner (and its model) was built")

    monkeypatch.setattr(Runner, "from_cfg", no_run)
    root = _coco_with(tmp_path, coco_images, _valid_doc(coco_images))
    work = tmp_path / "work"
    code, out, err = cli("eval", "msvmamba-micro-1x", "--data-root", root, "--random-init",
                         "--work-dir", work, "--cfg-options", "model=1")  # fmt: skip
    _assert_one_line(code, out, err, "--cfg-options model=1: 'model' is a section of the config")
    assert not work.exists()


def _coco_image_broken(tmp_path: Path, images: Path, content: bytes) -> Path:
    """A COCO root whose first listed image holds `content`."""
    root = tmp_path / "coco"
    shutil.copytree(images, root)
    first = sorted((root / "val2017").iterdir())[0]
    first.write_bytes(content)
    return root


@pytest.mark.parametrize(
    ("content", "why"), [(b"", "0 bytes"), (b"<html>Quota exceeded</html>", "not an image")],
    ids=["0-byte", "html"],
)  # fmt: skip
def test_coco_images_that_are_not_images_exit_2_before_the_model(
    content: bytes, why: str, coco_images: Path, tmp_path: Path, cli
) -> None:
    root = _coco_image_broken(tmp_path, coco_images, content)
    work = tmp_path / "work"
    code, out, err = cli("eval", "msvmamba-micro-1x", "--data-root", root, "--random-init",
                         "--work-dir", work)  # fmt: skip
    _assert_one_line(code, out, err, f"1 of 2 images in {root / 'val2017'} are not readable")
    assert why in err
    assert not work.exists()


COCO_CONTENT_CASES: list[tuple[str, Callable[[dict], object], str]] = [
    (
        "nan-box",
        lambda d: {
            **d,
            "annotations": [
                {**d["annotations"][0], "bbox": [float("nan"), 1, 2, 3]},
                *d["annotations"][1:],
            ],
        },
        "annotations[0].bbox is [nan, 1, 2, 3]",
    ),
    (
        "unknown-category",
        lambda d: {
            **d,
            "annotations": [*d["annotations"][:-1], {**d["annotations"][-1], "category_id": 9999}],
        },
        "category_id 9999 is not one of the file's 80 categories",
    ),
]


@pytest.mark.parametrize(
    ("make_doc", "message"), [pytest.param(f, m, id=n) for n, f, m in COCO_CONTENT_CASES]
)
def test_coco_boxes_and_categories_checked_before_the_model(
    make_doc: Callable[[dict], object], message: str, coco_images: Path, tmp_path: Path, cli
) -> None:
    """These exited 0 and stored 0.0 as a measured AP."""
    root = tmp_path / "coco"
    (root / "annotations").mkdir(parents=True)
    (root / "val2017").symlink_to(coco_images / "val2017")
    # json.dumps writes NaN as the token NaN, as a hand-edited or broken exporter's file has it
    (root / "annotations" / "instances_val2017.json").write_text(
        json.dumps(make_doc(_valid_doc(coco_images)))
    )
    work = tmp_path / "work"
    code, out, err = cli("eval", "msvmamba-micro-1x", "--data-root", root, "--random-init",
                         "--work-dir", work)  # fmt: skip
    _assert_one_line(code, out, err, message)
    assert not work.exists()
    from vzoo.core.results import ResultStore

    assert ResultStore().query() == []  # nothing stored as measured


@pytest.mark.parametrize("command", ["synth-coco", "synth-imagenet"])
def test_synth_never_overwrites_a_dataset_without_force(command: str, tmp_path: Path, cli) -> None:
    target = tmp_path / "data"
    args = ["data", command, target, "--seed", "1"]
    if command == "synth-coco":
        args += ["--images", "1"]
    else:
        args += ["--classes", "1", "--per-class", "1"]
    code, _, err = cli(*args)
    assert code == 0, err
    before = {p: p.read_bytes() for p in sorted(target.rglob("*")) if p.is_file()}
    code, out, err = cli(*[a if a != "1" else "2" for a in args])  # another seed, same place
    _assert_one_line(code, out, err, f"{target} already holds a dataset")
    assert "--force" in err
    assert {p: p.read_bytes() for p in sorted(target.rglob("*")) if p.is_file()} == before
    code, _, err = cli(*[a if a != "1" else "2" for a in args], "--force")
    assert code == 0, err
    after = {p: p.read_bytes() for p in sorted(target.rglob("*")) if p.is_file()}
    assert after != before  # overwritten, as asked


def test_results_list_of_a_known_row_without_records_says_so(cli) -> None:
    """A valid question with an empty answer is exit 0 and a clear line, not silence."""
    code, out, err = cli("results", "list", "--row", "mlla-t-1x", "--metric", "box_ap")
    assert code == 0, err
    assert err.strip().startswith("no records for row mlla-t-1x and metric box_ap in ")
    assert out.strip() == ""
