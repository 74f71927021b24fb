"""Registry overlays: `VZOO_REGISTRY=a:b` and `--registry PATH` (repeatable) on every command
that reads rows; a row id defined twice across files exits 2 naming both files."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from vzoo.core.errors import RegistryError
from vzoo.core.registry import default_registry_path, load_registry


def _row(row_id: str, **over: object) -> str:
    fields = {
        "id": row_id, "family": "msvmamba", "arch": "msvmamba-nano", "task": "classification",
        "dataset": "imagenet-1k", "method": "classifier", "schedule": "300e", "config": None,
        "weights": {"urls": [f"https://example.org/{row_id}.pth"]}, "pretrain": None,
        "published": {"top1": 70.1, "params_m": 7},
        "provenance": {"seed": "mine", "repo": "me/mine", "paper": "https://example.org/p"},
        **over,
    }  # fmt: skip
    return json.dumps(fields)  # JSON is YAML


def _overlay(path: Path, *rows: str) -> Path:
    path.write_text("rows:\n" + "".join(f"  - {r}\n" for r in rows), encoding="utf-8")
    return path


@pytest.fixture
def overlay(tmp_path: Path) -> Path:
    return _overlay(
        tmp_path / "mine.yaml",
        _row("my-nano"),
        _row(  # a detector row of an overlay may start from a packaged classifier
            "my-det", task="detection", dataset="coco2017", method="mask-rcnn", schedule="1x",
            arch="msvmamba-micro", pretrain="msvmamba-micro",
            config="zoo/configs/msvmamba/msvmamba_micro_1x.py", published={"box_ap": 40.0},
        ),
    )  # fmt: skip


def test_env_overlay_is_read_by_every_row_command(
    overlay: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cli
) -> None:
    monkeypatch.setenv("VZOO_REGISTRY", str(overlay))
    code, out, _ = cli("list", "--format", "json")
    ids = [r["id"] for r in json.loads(out)]
    assert code == 0 and ids[-2:] == ["my-nano", "my-det"]
    assert set(load_registry(default_registry_path()).ids) < set(ids)  # packaged rows kept

    code, out, _ = cli("show", "my-det", "--format", "json")
    assert code == 0 and json.loads(out)["pretrain"] == "msvmamba-micro"

    code, out, _ = cli("compare", "my-nano", "--report", "json")
    assert code == 0 and [d["metric"] for d in json.loads(out)] == ["top1", "params_m"]

    code, out, err = cli("flops", "my-nano", "--input", "64x64", "--no-store")
    assert code == 0, err
    assert "my-nano" in out
    code, out, err = cli("bench", "my-nano", "--input", "64x64", "--warmup", "0",
        "--iters", "1", "--no-store", "--format", "json")  # fmt: skip
    assert code == 0, err
    assert {r["id"] for r in json.loads(out)} == {"my-nano"}

    # download / eval / cache find the row (they fail later, for their own reasons)
    code, _, err = cli("download", "my-nano", "--offline")
    assert code == 1 and "my-nano" in err and "unknown row id" not in err
    code, _, err = cli("eval", "my-nano", "--data-root", tmp_path / "no-imagenet")
    assert code == 2 and "no-imagenet" in err and "unknown row id" not in err
    code, _, err = cli("cache", "path", "my-nano")
    assert code == 1 and "vzoo download my-nano" in err


def test_without_the_overlay_its_rows_are_unknown(cli) -> None:
    code, _, err = cli("show", "my-nano")
    assert code == 2 and "unknown row id 'my-nano'" in err


def test_registry_option_is_repeatable_and_replaces_the_env(
    overlay: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cli
) -> None:
    """A flag replaces its variable (issue #20; it used to add to it): `--registry F` with
    `VZOO_REGISTRY=F` loaded F twice and failed on every id as a duplicate."""
    second = _overlay(tmp_path / "second.yaml", _row("my-second"))
    third = _overlay(tmp_path / "third.yaml", _row("my-third"))
    monkeypatch.setenv("VZOO_REGISTRY", f"{overlay}{os.pathsep}{second}")
    code, out, _ = cli("list", "--format", "json")
    assert code == 0 and [r["id"] for r in json.loads(out)][-3:] == [
        "my-nano",
        "my-det",
        "my-second",
    ]
    code, out, _ = cli("list", "--format", "json", "--registry", third)
    ids = [r["id"] for r in json.loads(out)]
    assert code == 0 and ids[-1] == "my-third" and not {"my-nano", "my-second"} & set(ids)
    code, out, err = cli("show", "my-second", "--format", "json", "--registry", second)
    assert code == 0 and json.loads(out)["id"] == "my-second", err  # the same file, loaded once
    reg = load_registry(overlays=[third])
    assert reg.source("my-third") == third.resolve() and reg.source("mlla-t") == reg.path

    monkeypatch.delenv("VZOO_REGISTRY")
    code, out, _ = cli("list", "--format", "json", "--registry", second, "--registry", third)
    assert [r["id"] for r in json.loads(out)][-2:] == ["my-second", "my-third"]


def test_a_duplicate_id_across_files_exits_2_naming_both_files(
    overlay: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cli
) -> None:
    clash = _overlay(tmp_path / "clash.yaml", _row("my-nano", published={"top1": 71.0}))
    code, out, err = cli("list", "--registry", overlay, "--registry", clash)
    assert code == 2 and out == ""
    line = err.strip()
    assert "\n" not in line and str(clash.resolve()) in line and str(overlay.resolve()) in line
    assert "my-nano" in line

    packaged = _overlay(tmp_path / "shadow.yaml", _row("mlla-t"))  # never a silent override
    monkeypatch.setenv("VZOO_REGISTRY", str(packaged))
    code, _, err = cli("show", "mlla-t")
    assert code == 2 and str(default_registry_path().resolve()) in err and "shadow.yaml" in err
    with pytest.raises(RegistryError, match="already defined in"):
        load_registry()


def test_a_missing_or_broken_overlay_is_bad_input(tmp_path: Path, cli) -> None:
    code, _, err = cli("list", "--registry", tmp_path / "nope.yaml")
    assert code == 2 and "nope.yaml" in err and "file not found" in err
    broken = _overlay(tmp_path / "broken.yaml", _row("my-x", task="bogus"))
    code, _, err = cli("compare", "--registry", broken)
    assert code == 2 and "my-x: task: 'bogus'" in err


def test_many_problems_stay_one_readable_line(tmp_path: Path, cli) -> None:
    """A copy of the packaged registry laid over it: 39+ duplicate ids. The error names the first
    few and how many more, instead of one line of several thousand characters."""
    copy = tmp_path / "copy.yaml"
    copy.write_text(default_registry_path().read_text())
    code, _, err = cli("list", "--registry", copy)
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert err.count("already defined") == 3 and "more of the same kind" in err
    assert len(err) < 1000


@pytest.mark.parametrize("fmt", ["yaml", "json"])
@pytest.mark.parametrize("row_id", ["mlla-t-1x", "mmdet:mask-rcnn_r50_fpn_1x_coco"])
def test_a_shown_row_copied_into_an_overlay_loads_as_is(
    row_id: str, fmt: str, tmp_path: Path, cli
) -> None:
    """What `show` prints, an overlay accepts: a packaged row and an mmdet-index baseline (with
    its `source`, `baseline`, family mmdet and mmdet:: config), given a new id, load unchanged."""
    import yaml

    code, out, _ = cli("show", row_id, "--format", fmt)
    assert code == 0
    shown = yaml.safe_load(out)  # JSON is YAML
    copy = dict(shown, id="my-variant")
    text = yaml.safe_dump({"rows": [copy]}) if fmt == "yaml" else json.dumps({"rows": [copy]})
    path = tmp_path / f"variant.{fmt}"
    path.write_text(text, encoding="utf-8")

    loaded = load_registry(overlays=[path]).get("my-variant").to_dict()
    assert json.loads(json.dumps(loaded)) == copy  # every field as shown (tuples as lists)
    code, out, _ = cli("show", "my-variant", "--format", fmt, "--registry", path)
    assert code == 0 and yaml.safe_load(out) == copy


def test_an_overlay_row_names_a_known_source(tmp_path: Path, cli) -> None:
    path = _overlay(tmp_path / "mine.yaml", _row("my-nano", source="paper"))
    code, _, err = cli("list", "--registry", path)
    assert code == 2 and "my-nano: source: 'paper' is not one of registry, mmdet" in err
