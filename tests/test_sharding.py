"""`vzoo eval --shard I/N`: a deterministic partition of the selected rows; bad specs exit 2."""

from __future__ import annotations

import subprocess
import sys

import pytest

from vzoo.core.errors import UserInputError
from vzoo.core.registry import load_registry
from vzoo.core.sharding import Shard, parse_shard, shard_rows


@pytest.mark.parametrize("n", [1, 2, 3, 7, 200])
def test_shards_partition_the_selection(n: int) -> None:
    rows = load_registry().select(None)
    parts = [shard_rows(rows, parse_shard(f"{i}/{n}")) for i in range(1, n + 1)]
    ids = [r.id for part in parts for r in part]
    assert sorted(ids) == sorted(r.id for r in rows) and len(set(ids)) == len(rows)  # each once
    sizes = [len(p) for p in parts]
    assert max(sizes) - min(sizes) <= 1  # balanced
    # the same selection always splits the same way (every job of an array computes its own part)
    again = [shard_rows(load_registry().select(None), Shard(i, n)) for i in range(1, n + 1)]
    assert [[r.id for r in p] for p in again] == [[r.id for r in p] for p in parts]


def test_a_paper_is_spread_over_the_shards() -> None:
    rows = [r for r in load_registry().select(None) if r.task == "detection"]
    firsts = [shard_rows(rows, Shard(i, 2))[0].id for i in (1, 2)]
    assert firsts == [rows[0].id, rows[1].id]


@pytest.mark.parametrize(
    ("env", "want"),
    [
        ({"SLURM_ARRAY_TASK_ID": "0", "SLURM_ARRAY_TASK_COUNT": "4", "SLURM_ARRAY_TASK_MIN": "0"},
         Shard(1, 4)),
        ({"SLURM_ARRAY_TASK_ID": "4", "SLURM_ARRAY_TASK_COUNT": "4", "SLURM_ARRAY_TASK_MIN": "1"},
         Shard(4, 4)),
        ({"SLURM_ARRAY_TASK_ID": "8", "SLURM_ARRAY_TASK_COUNT": "3", "SLURM_ARRAY_TASK_MIN": "0",
          "SLURM_ARRAY_TASK_STEP": "4"}, Shard(3, 3)),
    ],
)  # fmt: skip
def test_slurm_array_task(env: dict[str, str], want: Shard) -> None:
    assert parse_shard("slurm", env) == want


@pytest.mark.parametrize("spec", ["0/4", "5/4", "1/0", "x", "1-4", "-1/4", "1/4/2", ""])
def test_bad_specs_are_refused(spec: str) -> None:
    with pytest.raises(UserInputError, match="expected I/N"):
        parse_shard(spec)


def test_slurm_shard_outside_an_array_is_refused() -> None:
    with pytest.raises(UserInputError, match="SLURM_ARRAY_TASK_ID"):
        parse_shard("slurm", {})
    env = {"SLURM_ARRAY_TASK_ID": "2", "SLURM_ARRAY_TASK_COUNT": "2", "SLURM_ARRAY_TASK_MIN": "0"}
    with pytest.raises(UserInputError, match="array task 2 is not one of"):
        parse_shard("slurm", env)


def test_cli_bad_shard_exits_2_before_any_work() -> None:
    for args in (["--shard", "5/4"], ["--shard", "2"], ["--gpus", "1", "--nproc", "2"]):
        r = subprocess.run(
            [sys.executable, "-m", "vzoo.cli.main", "eval", "--all", *args],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert r.returncode == 2, r.stderr
        (line,) = r.stderr.strip().splitlines()
        assert ("--shard" in line or "--nproc" in line) and "Traceback" not in r.stderr
