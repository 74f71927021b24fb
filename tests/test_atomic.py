"""Atomic writes give files the mode a plain `open(path, "w")` would: the umask is honoured."""

from __future__ import annotations

import os
import shutil
import stat
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from vzoo.core.files import open_sibling_temp, write_bytes_atomic, write_text_atomic
from vzoo.core.registry import default_registry_path


@pytest.fixture
def umask() -> Iterator[Callable[[int], int]]:
    """Set the process umask for one test; the previous one is restored afterwards."""
    previous = os.umask(0o022)
    try:
        yield os.umask
    finally:
        os.umask(previous)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.parametrize(("mask", "expected"), [(0o022, 0o644), (0o027, 0o640), (0o002, 0o664)])
def test_a_new_file_gets_0666_minus_the_umask(
    tmp_path: Path, umask: Callable[[int], int], mask: int, expected: int
) -> None:
    umask(mask)
    target = tmp_path / "report.html"
    write_text_atomic(target, "<html></html>")
    assert _mode(target) == expected
    plain = tmp_path / "plain.html"
    with open(plain, "w") as f:  # what the atomic write must agree with
        f.write("x")
    assert _mode(target) == _mode(plain)
    assert sorted(os.listdir(tmp_path)) == ["plain.html", "report.html"]  # no temp file left


def test_a_replaced_file_keeps_its_mode(tmp_path: Path, umask: Callable[[int], int]) -> None:
    umask(0o022)
    target = tmp_path / "private.md"
    target.write_text("old", encoding="utf-8")
    target.chmod(0o600)
    write_bytes_atomic(target, b"new")
    assert target.read_bytes() == b"new" and _mode(target) == 0o600
    target.chmod(0o664)
    write_bytes_atomic(target, b"newer")
    assert _mode(target) == 0o664


def test_sibling_temp_files_are_distinct_and_left_for_the_caller(tmp_path: Path) -> None:
    target = tmp_path / "x.json"
    fd1, tmp1 = open_sibling_temp(target)
    fd2, tmp2 = open_sibling_temp(target)
    os.close(fd1)
    os.close(fd2)
    assert tmp1 != tmp2 and tmp1.parent == tmp2.parent == tmp_path
    assert tmp1.name.startswith(".x.json.") and not target.exists()


def test_compare_out_honours_the_umask(tmp_path: Path, umask: Callable[[int], int]) -> None:
    from vzoo.cli.main import run

    umask(0o022)
    target = tmp_path / "report.html"
    with pytest.raises(SystemExit) as e:
        run(["compare", "--report", "csv", "--out", str(target)])
    assert e.value.code in (0, None)
    assert _mode(target) == 0o644  # servable as is (it was 0600: mkstemp's mode survived)


def test_pinning_keeps_the_registry_files_mode(tmp_path: Path, umask: Callable[[int], int]) -> None:
    from vzoo.hub.pin import pin_registry

    umask(0o077)  # a new file would be 0600; the registry being edited must stay 0644
    registry = tmp_path / "registry.yaml"
    shutil.copyfile(default_registry_path(), registry)
    registry.chmod(0o644)
    assert pin_registry(registry, "mlla-t", "ab" * 32, 123)
    assert _mode(registry) == 0o644
    assert [p.name for p in tmp_path.iterdir()] == ["registry.yaml"]
