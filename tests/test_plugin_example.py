"""The worked plugin under examples/: installed, its family and rows join every command;
not installed, they are not there. Installed as a user would (`pip install`, here with
`--no-deps --target` into a temporary directory put on PYTHONPATH: enough for entry points)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from servers.fresh_interpreter import same_vzoo_env

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "vzoo-tinynet"
ROWS = ["tinynet-s", "tinynet-s-1x"]
# Runs several vzoo commands in one interpreter (one torch import), each one's exit code and
# stdout collected: {"argv": [...], "code": int, "out": str, "err": str}.
DRIVER = """
import contextlib, io, json, sys
from vzoo.cli.main import run
results = []
for argv in json.loads(sys.argv[1]):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            run(argv)
            code = 0
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    results.append({"argv": argv, "code": code, "out": out.getvalue(), "err": err.getvalue()})
print(json.dumps(results))
"""


@pytest.fixture(scope="module")
def plugin_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("site")
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
         "--disable-pip-version-check", "--target", str(target), str(EXAMPLE)],
        check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    return target


def _vzoo(commands: list[list[str]], extra_path: Path | None = None) -> list[dict]:
    env = same_vzoo_env()
    if extra_path is not None:
        env["PYTHONPATH"] = f"{extra_path}{os.pathsep}{env['PYTHONPATH']}"
    proc = subprocess.run(
        [sys.executable, "-c", DRIVER, json.dumps(commands)],
        capture_output=True, text=True, env=env, timeout=900,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_installed_plugin_rows_work_with_every_command(plugin_dir: Path, tmp_path: Path) -> None:
    md = tmp_path / "flops.md"
    listed, shown, flops, bench, compare = _vzoo(
        [
            ["list", "--format", "json"],
            ["show", "tinynet-s-1x", "--format", "json"],
            ["flops", *ROWS, "--no-store", "--input", "160x160", "--out", str(md)],
            [
                "bench",
                "tinynet-s",
                "--no-store",
                "--input",
                "64x64",
                "--warmup",
                "0",
                "--iters",
                "1",
                "--format",
                "json",
            ],
            ["compare", *ROWS, "--report", "json"],
        ],
        plugin_dir,
    )
    for result in (listed, shown, flops, bench, compare):
        assert result["code"] == 0, result
    rows = {r["id"]: r for r in json.loads(listed["out"])}
    assert set(ROWS) <= set(rows) and rows["tinynet-s"]["family"] == "tinynet"
    assert "mlla-t" in rows  # the packaged rows are still there
    config = Path(json.loads(shown["out"])["config"])
    assert config.is_file() and config.is_relative_to(plugin_dir)  # shipped with the plugin
    counted = {ln.split("|")[1].strip(): ln.split("|") for ln in md.read_text().splitlines()
               if ln.startswith("| tinynet")}  # fmt: skip
    assert set(counted) == set(ROWS)
    for cells in counted.values():
        assert float(cells[4]) > 0 and float(cells[7]) > 0  # params (M), FLOPs (G) measured
    # Mask R-CNN with the plugin's backbone has FPN + heads on top of the classifier's trunk
    assert float(counted["tinynet-s-1x"][4]) > float(counted["tinynet-s"][4]) + 10
    assert {r["id"] for r in json.loads(bench["out"])} == {"tinynet-s"}
    assert {r["id"] for r in json.loads(compare["out"])} == set(ROWS)


def test_without_the_plugin_its_rows_are_absent() -> None:
    listed, shown = _vzoo([["list", "--format", "json"], ["show", "tinynet-s"]])
    assert listed["code"] == 0
    assert not {r["id"] for r in json.loads(listed["out"])} & set(ROWS)
    assert shown["code"] == 2 and "unknown row id 'tinynet-s'" in shown["err"]
