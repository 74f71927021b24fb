"""The registry/compare commands end to end: `vzoo list | show | compare | registry check`.

Commands run through `vzoo.cli.main.run` (the console-script entry point) so exit codes and the
one-line error messages are those a user sees.
"""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from servers.fresh_interpreter import same_vzoo_env

from vzoo.core.registry import load_registry, missing_configs
from vzoo.core.results import EvalResult, ResultStore


def _python(code: str) -> subprocess.CompletedProcess[str]:
    """A fresh interpreter importing the same vzoo as this test session."""
    env = same_vzoo_env()
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120
    )


# --------------------------------------------------------------------------- list / show


def test_list_json_and_csv(cli) -> None:
    reg = load_registry()
    code, out, _ = cli("list", "--format", "json")
    assert code == 0
    data = json.loads(out)
    assert [d["id"] for d in data] == reg.ids
    assert data[0] == json.loads(json.dumps(reg.get(data[0]["id"]).to_dict()))

    code, out, _ = cli("list", "--format", "csv", "--task", "segmentation")
    assert code == 0
    recs = list(csv.DictReader(io.StringIO(out)))
    assert [r["id"] for r in recs] == [r.id for r in reg.select(task="segmentation")]
    tiny = next(r for r in recs if r["id"] == "msvmamba-tiny-upernet-160k")
    # one column per published metric, its unit in the header, the number alone in the cell
    assert "published" not in tiny
    assert tiny["miou_ss [%]"] == "47.8" and tiny["params_m [M]"] == "65"
    assert tiny["flops_g [G]"] == "942" and tiny["miou_ms [%]"] == ""  # not published
    micro = next(r for r in recs if r["id"] == "msvmamba-micro-upernet-160k")
    assert micro["miou_ms [%]"] == "45.4"
    assert tiny["schedule"] == "160k" and tiny["method"] == "upernet"


def test_list_wildcards_match_ids_as_timm_list_models(cli) -> None:
    reg = load_registry()
    code, out, _ = cli("list", "*mamba*", "--format", "json")
    assert code == 0
    ids = [d["id"] for d in json.loads(out)]
    assert ids == [i for i in reg.ids if "mamba" in i] and "mlla-t" not in ids
    code, out, _ = cli("list", "mlla-t", "msvmamba-n*", "--format", "json")
    assert [d["id"] for d in json.loads(out)] == [
        i for i in reg.ids if i == "mlla-t" or i.startswith("msvmamba-n")
    ]
    code, out, err = cli("list", "*mamba*", "--task", "segmentation", "--format", "csv")
    assert code == 0 and all("mamba" in r["id"] for r in csv.DictReader(io.StringIO(out)))
    code, out, err = cli("list", "zz*")
    assert code == 2 and out == ""
    assert err.strip() == "vzoo: error: no row id matches 'zz*'; `vzoo list` shows every id"


def test_list_table_filters_by_family(cli) -> None:
    code, out, _ = cli("list", "--family", "mlla", "--task", "detection")
    assert code == 0
    assert "(5 rows)" in out and "mlla-b-1x" in out and "spatial" not in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["list", "--task", "bogus"], "unknown task 'bogus'"),
        (["list", "--family", "vim"], "unknown family 'vim'"),
        (["show", "mla-t-1x"], "did you mean: mlla-t-1x"),
        (["compare", "mlla-t-1x", "--all"], "give row ids or --all, not both"),
        (["compare", "--task", "bogus"], "unknown task 'bogus'"),
        (["compare", "nope-1x"], "unknown row id 'nope-1x'"),
        (["compare", "--tolerance", "box_ap=-1"], "bad --tolerance 'box_ap=-1'"),
    ],
)
def test_bad_input_exits_2_with_one_line(args: list[str], message: str, cli) -> None:
    code, out, err = cli(*args)
    assert code == 2
    assert message in err
    assert "Traceback" not in err and out == ""


@pytest.mark.parametrize("args", [[], ["list", "--format", "xml"], ["list", "--bogus"]])
def test_usage_errors_exit_2(args: list[str], cli) -> None:
    code, _, err = cli(*args)
    assert code == 2
    assert "Usage:" in err and "internal error" not in err


def test_show_json_prints_the_row(cli) -> None:
    code, out, _ = cli("show", "msvmamba-tiny-3x", "--format", "json")
    assert code == 0
    data = json.loads(out)
    assert data == json.loads(json.dumps(load_registry().get("msvmamba-tiny-3x").to_dict()))
    assert data["published"]["params_m"] == 73
    assert data["weights"]["kind"] == "drive-folder"

    code, out, _ = cli("show", "mlla-t-1x", "--format", "yaml")
    assert code == 0 and yaml.safe_load(out)["pretrain"] == "mlla-t"
    code, out, _ = cli("show", "mlla-t-1x")
    assert code == 0 and "id: mlla-t-1x" in out and "  box_ap: 46.8" in out
    assert "flops_input: 3x1280x800" in out and "  filename: mlla_t_mrcnn_1x.pth" in out
    assert "    - https://cloud.tsinghua.edu.cn/f/ce362e868fb5491ca55c/?dl=1" in out


# --------------------------------------------------------------------------- compare


def test_compare_json_shows_the_measured_record(cli) -> None:
    ResultStore().record(
        [EvalResult("mlla-t-1x", "box_ap", 46.4, "AP", "vzoo eval mlla-t-1x")]
    )  # the test's private VZOO_HOME store, which `vzoo compare` reads
    code, out, _ = cli("compare", "mlla-t-1x", "mlla-t", "--report", "json")
    assert code == 0
    data = json.loads(out)
    assert [(d["id"], d["metric"]) for d in data] == [
        ("mlla-t-1x", "box_ap"), ("mlla-t-1x", "mask_ap"), ("mlla-t-1x", "params_m"),
        ("mlla-t-1x", "flops_g"), ("mlla-t", "top1"), ("mlla-t", "params_m"), ("mlla-t", "flops_g"),
    ]  # fmt: skip
    box = data[0]
    assert box["measured"] == 46.4 and box["delta"] == pytest.approx(-0.4)
    assert box["verdict"] == "below"
    assert all(d["measured"] is None and d["verdict"] == "not-measured" for d in data[1:])

    code, out, _ = cli("compare", "mlla-t-1x", "--report", "json", "--tolerance", "box_ap=0.5")
    assert json.loads(out)[0]["verdict"] == "reproduced"


def test_compare_markdown_over_an_empty_store_renders_every_row(
    cli,
) -> None:
    code, out, _ = cli("compare", "--report", "markdown")
    assert code == 0
    for row in load_registry():
        assert f"| {row.id} |" in out
    code, out, _ = cli("compare", "--task", "classification", "--report", "csv")
    assert code == 0 and "mlla-t-1x" not in out and "mlla-t," in out


def test_compare_out_writes_atomically(tmp_path: Path, cli) -> None:
    target = tmp_path / "reports" / "compare.md"
    code, out, err = cli("compare", "--out", str(target))
    assert code == 0 and out == "" and f"wrote {target}" in err
    written = target.read_text(encoding="utf-8")
    _, stdout_text, _ = cli("compare")
    assert written == stdout_text
    assert os.listdir(target.parent) == ["compare.md"]  # no temporary file left behind
    # A failing run leaves the previous report untouched.
    code, _, _ = cli("compare", "nope", "--out", str(target))
    assert code == 2 and target.read_text(encoding="utf-8") == written


def test_write_text_atomic_keeps_the_old_file_when_the_write_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from vzoo.core import files

    target = tmp_path / "r.md"
    target.write_text("old", encoding="utf-8")

    def boom(src: str, dst: str) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(files.os, "replace", boom)
    with pytest.raises(OSError, match="disk full"):
        files.write_text_atomic(target, "new")
    assert target.read_text(encoding="utf-8") == "old"
    assert os.listdir(tmp_path) == ["r.md"]


# --------------------------------------------------------------------------- registry check


def test_registry_check_bad_file_exits_2_and_lists_problems(tmp_path: Path, cli) -> None:
    bad = tmp_path / "bad.yaml"
    rows = [
        {"id": "mlla-t-1x", "family": "mlla", "arch": "mlla-t", "task": "detection",
         "dataset": "imagenet-1k", "method": "mask-rcnn", "published": {"box_ap": 1, "ap": 2},
         "provenance": {"seed": "s", "repo": "o/r", "paper": "https://p"}, "colour": "red"},
    ]  # fmt: skip
    bad.write_text(yaml.safe_dump({"rows": rows}), encoding="utf-8")
    code, out, err = cli("registry", "check", str(bad))
    assert code == 2 and out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 3
    assert all(line.startswith(f"{bad}: mlla-t-1x: ") for line in lines)
    assert any("colour: unknown field" in line for line in lines)
    assert any("dataset: 'imagenet-1k' does not fit task detection" in line for line in lines)
    assert any("published.ap: unknown metric" in line for line in lines)

    code, _, err = cli("registry", "check", str(tmp_path / "missing.yaml"))
    assert code == 2 and "file not found" in err


def test_registry_check_valid_file(tmp_path: Path, cli) -> None:
    good = tmp_path / "good.yaml"
    row = {"id": "mlla-t", "family": "mlla", "arch": "mlla-t", "task": "classification",
           "dataset": "imagenet-1k", "method": "classifier", "published": {"top1": 83.5},
           "provenance": {"seed": "s", "repo": "o/r", "paper": "https://p"}}  # fmt: skip
    good.write_text(yaml.safe_dump({"rows": [row]}), encoding="utf-8")
    code, out, _ = cli("registry", "check", str(good))
    assert code == 0 and out.strip() == f"{good.resolve()}: 1 rows, valid"


def test_registry_check_packaged_registry_reports_only_missing_configs(
    cli,
) -> None:
    reg = load_registry()
    missing = missing_configs(reg)
    code, out, err = cli("registry", "check")
    if missing:  # config files land with the model families; until then they are listed
        assert code == 2
        assert err.strip().splitlines() == [f"{reg.path}: {m}" for m in missing]
    else:
        assert code == 0 and f"{len(reg)} rows, valid" in out


# --------------------------------------------------------------------------- startup


def test_cli_startup_does_not_import_torch() -> None:
    probe = _python(
        "import sys\n"
        "from vzoo.cli.main import run\n"
        "for argv in (['--help'], ['list', '--format', 'json'], ['compare', '--report', 'json']):\n"
        "    try:\n"
        "        run(argv)\n"
        "    except SystemExit as e:\n"
        "        assert e.code in (0, None), (argv, e.code)\n"
        "heavy = sorted(m for m in ('torch', 'mmdet', 'mmcv', 'mmengine') if m in sys.modules)\n"
        "assert not heavy, heavy\n"
        "print('NO-TORCH-OK')\n"
    )
    assert probe.returncode == 0, probe.stderr
    assert probe.stdout.rstrip().endswith("NO-TORCH-OK")
    assert "Usage" in probe.stdout and "compare" in probe.stdout
