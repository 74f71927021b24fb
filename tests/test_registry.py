"""registry.yaml against the seed READMEs, and the loader's validation of broken registries.

The exactness test parses the seeds' markdown tables on its own (no registry code involved) and
checks that every printed number and link is in the registry row it belongs to, exactly as printed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from vzoo.core.errors import RegistryError, UnknownRowError
from vzoo.core.registry import Registry, default_registry_path, load_registry, missing_configs
from vzoo.settings import package_root

# Rows whose numbers the seed does not print (they come from the upstream README, see their notes).
NOT_IN_SEED = {
    "000_a70c28e0a463ff0e.txt": {"sparx-mamba-t", "sparx-mamba-s", "sparx-mamba-b"},
    "001_31712cf740ca7fb9.txt": {"mlla-t", "mlla-s", "mlla-b"},
}
# Every seed table: 3 + 6 + 5 + 3 + 4 + 2 + 3 + 5 + 3 + 2 rows, none dropped by the parser.
SEED_ROW_COUNT = 33


# --------------------------------------------------------------------------- seed table parser


@dataclass
class SeedRow:
    seed: str
    cells: dict[str, str]  # normalised header -> raw cell
    row_id: str = ""
    printed: dict[str, str] = field(default_factory=dict)  # metric -> printed cell ("44M")
    links: dict[str, str] = field(default_factory=dict)  # link text -> URL


_SEPARATOR = re.compile(r"^\s*\|?\s*:?-{3,}:?\s*(\|\s*:?-{3,}:?\s*)*\|?\s*$")
_LINK = re.compile(r"\[([^\]]+)\]\(([^)\s]+)\)")


def _cells(line: str) -> list[str]:
    body = line.strip()
    body = body.removeprefix("|").removesuffix("|")
    return [c.strip() for c in re.split(r"(?<!\\)\|", body)]


def parse_tables(text: str) -> list[list[dict[str, str]]]:
    """Markdown tables: a header line directly followed by a `---|---` line, then data lines.

    Copes with the seeds' damage: a header glued to HTML (`<div>name | ...`), tables that follow
    each other with no blank line, escaped pipes inside cells, empty (carried-over) cells.
    """
    lines = text.splitlines()
    tables: list[list[dict[str, str]]] = []
    header: list[str] | None = None
    for i, line in enumerate(lines):
        nxt = lines[i + 1] if i + 1 < len(lines) else ""
        if "|" in line and _SEPARATOR.match(nxt) and not _SEPARATOR.match(line):
            header = [re.sub(r".*>", "", c).strip().lower() for c in _cells(line)]
            tables.append([])
        elif _SEPARATOR.match(line):
            continue
        elif header is not None and "|" in line:
            cells = _cells(line)
            tables[-1].append(dict(zip(header, cells, strict=False)))
        else:
            header = None
    return tables


def _token(cell: str) -> str | None:
    """A printed number cell, verbatim; '-' (not published) gives None."""
    cell = cell.strip()
    if cell in ("-", ""):
        return None
    assert re.fullmatch(r"\d+(\.\d+)?[MG]?", cell), f"unexpected number cell {cell!r}"
    return cell


def _metrics(cells: dict[str, str]) -> dict[str, str]:
    """Printed metric cells of one data row, keyed by vzoo metric names."""
    out: dict[str, str | None] = {}
    for head, cell in cells.items():
        if head in ("ap_b", "box map", "map"):
            out["box_ap"] = _token(cell)
        elif head in ("ap_m", "mask map"):
            out["mask_ap"] = _token(cell)
        elif head == "map (box/mask)":
            out["box_ap"], out["mask_ap"] = (_token(c) for c in cell.split("/"))
        elif head == "acc@1":
            out["top1"] = _token(cell)
        elif head in ("#params", "#param", "parameters (m)"):
            out["params_m"] = _token(cell)
        elif head == "flops":
            out["flops_g"] = _token(cell)
        elif head == "miou(ss)":
            out["miou_ss"] = _token(cell)
        elif head == "miou(ms)":
            out["miou_ms"] = _token(cell)
        elif head == "miou (ss/ms)":
            out["miou_ss"], out["miou_ms"] = (_token(c) for c in cell.split("/"))
    return {k: v for k, v in out.items() if v is not None}


def _row_id(cells: dict[str, str], carried_name: str) -> str:
    model = cells.get("model", "").lower()
    if model in ("sparse-rcnn", "dual-attn-sparse-rcnn"):  # seed 004: model + backbone columns
        assert cells["backbone"] == "R-50-FPN"
        return f"{model}-r50-1x"
    name = (cells.get("backbone") or cells.get("name") or "").strip() or carried_name
    arch = name.lower()
    if "acc@1" in cells:
        return arch
    if any(h.startswith("miou") for h in cells):
        method = (cells.get("segmentor") or cells.get("method") or "").lower()
        assert method.startswith("upernet"), method
        return f"{arch}-upernet-160k"
    sched = (
        cells.get("schedule") or cells.get("lr schd") or cells.get("detector", "").split("@")[-1]
    )
    assert sched.strip() in ("1x", "3x"), cells
    return f"{arch}-{sched.strip()}"


def parse_seed(path: Path) -> list[SeedRow]:
    rows: list[SeedRow] = []
    for table in parse_tables(path.read_text(encoding="utf-8")):
        carried = ""
        for cells in table:
            row = SeedRow(path.name, cells)
            row.row_id = _row_id(cells, carried)
            carried = row.row_id.split("-1x")[0].split("-3x")[0]
            row.printed = _metrics(cells)
            row.links = {text: url for text, url in _LINK.findall(" ".join(cells.values()))}
            rows.append(row)
    return rows


@pytest.fixture(scope="module")
def seed_rows(shared_dir: Path) -> list[SeedRow]:
    seeds = sorted((shared_dir / "seeds").glob("0*.txt"))
    assert len(seeds) == 5
    return [r for s in seeds for r in parse_seed(s)]


@pytest.fixture(scope="module")
def registry() -> Registry:
    """registry.yaml alone: the five papers' rows (mmdet's baselines are tested on their own)."""
    return load_registry(default_registry_path())


# --------------------------------------------------------------------------- exactness


def test_seed_parser_sees_every_table_row(seed_rows: list[SeedRow]) -> None:
    assert len(seed_rows) == SEED_ROW_COUNT
    assert len({r.row_id for r in seed_rows}) == SEED_ROW_COUNT  # no two seed rows collide
    # Spot checks of the damaged layouts (glued header, pipe-less tables, '-' cells).
    by_id = {r.row_id: r for r in seed_rows}
    assert by_id["spatial-mamba-t"].printed == {
        "top1": "83.5",
        "params_m": "27M",
        "flops_g": "4.5G",
    }
    assert by_id["msvmamba-tiny-upernet-160k"].printed == {
        "params_m": "65M", "flops_g": "942G", "miou_ss": "47.8"
    }  # fmt: skip
    assert by_id["sparx-mamba-b-3x"].printed == {"box_ap": "51.8", "mask_ap": "45.8"}


def test_every_seed_number_is_in_the_registry_exactly_as_printed(
    seed_rows: list[SeedRow], registry: Registry
) -> None:
    problems: list[str] = []
    for s in seed_rows:
        if s.row_id not in registry:
            problems.append(f"{s.seed}: row {s.row_id} missing from the registry")
            continue
        row = registry.get(s.row_id)
        if row.provenance.seed != s.seed:
            problems.append(f"{s.row_id}: provenance.seed {row.provenance.seed} != {s.seed}")
        if set(row.published) != set(s.printed):
            problems.append(f"{s.row_id}: metrics {sorted(row.published)} != {sorted(s.printed)}")
        for metric, cell in s.printed.items():
            if row.published_printed.get(metric) != cell:
                problems.append(f"{s.row_id}: {metric} printed {cell!r}, registry has "
                                f"{row.published_printed.get(metric)!r}")  # fmt: skip
            if row.published.get(metric) != float(cell.rstrip("MG")):
                problems.append(f"{s.row_id}: {metric} {cell!r} != {row.published.get(metric)}")
    assert not problems, "\n".join(problems)


def test_every_seed_link_is_in_the_registry(seed_rows: list[SeedRow], registry: Registry) -> None:
    checked = 0
    for s in seed_rows:
        row = registry.get(s.row_id)
        assert row.weights is not None, s.row_id
        for text, url in s.links.items():
            if text in ("model", "TsinghuaCloud", "log&ckpt"):
                assert row.weights.urls[0] == url, (s.row_id, text)
                checked += 1
            elif text == "ImageNet-1K":  # the detector's pretrain checkpoint
                assert row.pretrain is not None, s.row_id
                assert registry.get(row.pretrain).weights.urls[0] == url, s.row_id
                checked += 1
            elif text == "log":
                assert url not in row.weights.urls
            elif text != "config":
                pytest.fail(f"{s.row_id}: unexpected link {text!r}")
    # seed 000: 6 models + 3 pretrains (the 3x lines leave the cell empty); seed 001: 5;
    # seed 002: 9; seed 003: none (lost); seed 004: 2
    assert checked == 25


def test_registry_rows_are_exactly_the_seed_rows_plus_documented_upstream_rows(
    seed_rows: list[SeedRow], registry: Registry
) -> None:
    from_seeds = {r.row_id for r in seed_rows}
    extra = {r.id for r in registry} - from_seeds
    assert extra == set().union(*NOT_IN_SEED.values())
    for row_id in extra:
        row = registry.get(row_id)
        assert row_id in NOT_IN_SEED[row.provenance.seed]
        assert row.published, f"{row_id}: upstream numbers were found and must be recorded"
        assert any("upstream" in n and "not the seed" in n for n in row.notes), row_id


def test_registry_rows_from_upstream_readmes(registry: Registry) -> None:
    """The rows the brief sources from the upstream READMEs (LMMMEng/SparX, LeapLabTHU/MLLA)."""
    assert registry.get("sparx-mamba-t").published == {"top1": 83.5, "params_m": 25, "flops_g": 5.2}
    assert registry.get("mlla-b").published == {"top1": 85.3, "params_m": 96, "flops_g": 16.2}
    assert registry.get("mlla-t").weights.urls == (
        "https://cloud.tsinghua.edu.cn/f/7a19712877cb4242889c/?dl=1",
    )
    # The seed 003 copy lost its ckpt links; the upstream README's Drive file links fill them.
    for row in registry.select(family="spatial-mamba"):
        assert re.fullmatch(r"https://drive\.google\.com/file/d/[\w-]+/view\?usp=drive_link",
                            row.weights.urls[0]), row.id  # fmt: skip
        assert row.weights.filename and row.weights.filename.endswith(".pth")


def test_registry_conventions(registry: Registry) -> None:
    familydir = {"mlla": "mlla", "spatial-mamba": "spatial_mamba", "sparx-mamba": "sparx_mamba",
                 "msvmamba": "msvmamba", "sparse-rcnn": "sparse_rcnn"}  # fmt: skip
    flops_input = {"classification": (3, 224, 224), "detection": (3, 1280, 800),
                   "segmentation": (3, 512, 2048)}  # fmt: skip
    for row in registry:
        assert row.published, f"{row.id}: no published figure"
        if row.task == "classification":
            assert row.config is None and row.pretrain is None and row.schedule == "300e"
            assert row.id == row.arch
        else:
            assert (
                row.config == f"zoo/configs/{familydir[row.family]}/{row.id.replace('-', '_')}.py"
            )
            expected = {"detection": row.id.rsplit("-", 1)[-1], "segmentation": "160k"}[row.task]
            assert row.schedule == expected, row.id
            if row.family != "sparse-rcnn":
                assert row.pretrain == row.arch, row.id
        if "flops_g" in row.published:
            assert row.flops_input == flops_input[row.task], row.id
        if row.weights.kind == "file" and "?dl=1" in row.weights.urls[0]:
            assert row.weights.filename, f"{row.id}: Tsinghua link needs a filename"
        if "drive.google.com/drive/folders/" in row.weights.urls[0]:
            assert row.weights.kind == "drive-folder", row.id
        assert row.provenance.paper.startswith("https://")


def test_registry_counts_and_provenance(registry: Registry) -> None:
    counts = {f: len(registry.select(family=f)) for f in
              ("sparx-mamba", "mlla", "msvmamba", "spatial-mamba", "sparse-rcnn")}  # fmt: skip
    assert counts == {"sparx-mamba": 9, "mlla": 8, "msvmamba": 9, "spatial-mamba": 11,
                      "sparse-rcnn": 2}  # fmt: skip
    papers = {r.family: r.provenance.paper for r in registry}
    assert papers == {
        "sparx-mamba": "https://arxiv.org/abs/2409.09649",
        "mlla": "https://arxiv.org/abs/2405.16605",
        "msvmamba": "https://arxiv.org/abs/2405.14174",
        "spatial-mamba": "https://arxiv.org/abs/2410.15091",
        "sparse-rcnn": "https://ieeexplore.ieee.org/document/9954801",
    }


def test_paper_ids_match_the_seed_citations(shared_dir: Path, registry: Registry) -> None:
    for seed in sorted((shared_dir / "seeds").glob("0*.txt")):
        cited = re.findall(r"arXiv:(\d{4}\.\d{5})", seed.read_text(encoding="utf-8"))
        rows = [r for r in registry if r.provenance.seed == seed.name]
        assert rows, seed.name
        for arxiv_id in cited:
            assert {r.provenance.paper for r in rows} == {f"https://arxiv.org/abs/{arxiv_id}"}


def test_flagged_numbers_keep_their_notes(registry: Registry) -> None:
    tiny3x = registry.get("msvmamba-tiny-3x")
    assert tiny3x.published["params_m"] == 73  # exactly as printed, although 1x prints 53
    assert registry.get("msvmamba-tiny-1x").published["params_m"] == 53
    assert any("typo" in n for n in tiny3x.notes)
    assert "miou_ms" not in registry.get("msvmamba-tiny-upernet-160k").published  # printed "-"
    assert any("vzoo flops" in n for n in registry.get("sparse-rcnn-r50-1x").notes)


def test_lookup_suggests_close_ids(registry: Registry) -> None:
    with pytest.raises(UnknownRowError) as e:
        registry.get("mla-t-1x")
    assert "mlla-t-1x" in e.value.suggestions
    assert "did you mean" in str(e.value)
    assert registry.closest("mlla")  # a bare prefix still suggests rows
    assert [r.id for r in registry.select(["mlla-t-1x", "mlla-t"])] == ["mlla-t-1x", "mlla-t"]
    assert {r.task for r in registry.select(task="segmentation")} == {"segmentation"}


def test_missing_configs_names_rows_whose_config_file_is_absent(registry: Registry) -> None:
    missing = missing_configs(registry)
    for line in missing:
        row_id, _, rest = line.partition(": ")
        assert rest.startswith("config: no such file in the package: ")
        assert not (package_root() / registry.get(row_id).config).is_file()
    present = [r for r in registry if r.config and (package_root() / r.config).is_file()]
    assert len(missing) + len(present) == sum(1 for r in registry if r.config)


def test_show_round_trips_the_row(registry: Registry) -> None:
    data = registry.get("mlla-t-1x").to_dict()
    assert data["published"] == {"box_ap": 46.8, "mask_ap": 42.1, "params_m": 44, "flops_g": 255}
    assert data["published_printed"]["params_m"] == "44M"
    assert data["weights"]["filename"] == "mlla_t_mrcnn_1x.pth"
    assert "extra" not in data


# --------------------------------------------------------------------------- validation


def _good_row(**over: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "id": "mlla-t-1x", "family": "mlla", "arch": "mlla-t", "task": "detection",
        "dataset": "coco2017", "method": "mask-rcnn", "schedule": "1x",
        "config": "zoo/configs/mlla/mlla_t_1x.py",
        "weights": {"urls": ["https://example.org/a.pth"]},
        "pretrain": None,
        "published": {"box_ap": 46.8, "params_m": 44},
        "published_printed": {"box_ap": "46.8", "params_m": "44M"},
        "provenance": {"seed": "s.txt", "repo": "o/r", "paper": "https://arxiv.org/abs/1"},
    }  # fmt: skip
    row.update(over)
    return row


def _write(tmp_path: Path, rows: list[Any], **top: Any) -> Path:
    path = tmp_path / "registry.yaml"
    path.write_text(yaml.safe_dump({"rows": rows, **top}, sort_keys=False), encoding="utf-8")
    return path


def _problems(tmp_path: Path, rows: list[Any], **top: Any) -> list[str]:
    with pytest.raises(RegistryError) as e:
        load_registry(_write(tmp_path, rows, **top))
    return e.value.problems


def test_a_valid_minimal_registry_loads(tmp_path: Path) -> None:
    cls = _good_row(id="mlla-t", task="classification", dataset="imagenet-1k", method="classifier",
                    config=None, published={"top1": 83.5}, published_printed=None)  # fmt: skip
    reg = load_registry(_write(tmp_path, [cls, _good_row(pretrain="mlla-t")]))
    assert reg.ids == ["mlla-t", "mlla-t-1x"]
    assert reg.get("mlla-t-1x").published == {"box_ap": 46.8, "params_m": 44.0}


@pytest.mark.parametrize(
    ("over", "expected"),
    [
        ({"colour": "red"}, "mlla-t-1x: colour: unknown field"),
        (
            {"published": {"box_ap": 46.8, "params_m": 44, "ap50": 1}},
            "mlla-t-1x: published.ap50: unknown metric",
        ),
        (
            {"published": {"box_ap": "46.8", "params_m": 44}},
            "mlla-t-1x: published.box_ap: must be a number",
        ),
        (
            {"published": {"box_ap": -1, "params_m": 44}},
            "mlla-t-1x: published.box_ap: must be a positive finite",
        ),
        (
            {"published": {"top1": 80.0}, "published_printed": {"top1": "80.0"}},
            "mlla-t-1x: published.top1: not a detection metric",
        ),
        ({"pretrain": "mlla-x"}, "mlla-t-1x: pretrain: unknown row id 'mlla-x'"),
        ({"pretrain": "mlla-t-1x"}, "mlla-t-1x: pretrain: a row cannot be its own pretrain"),
        (
            {"weights": {"urls": ["https://e.org/a"], "sha256": "ABC"}},
            "mlla-t-1x: weights.sha256: must be 64 lowercase hex digits",
        ),
        (
            {"weights": {"urls": ["https://e.org/a"], "sha256": "0" * 63 + "g"}},
            "mlla-t-1x: weights.sha256: must be 64 lowercase hex digits",
        ),
        ({"weights": {"urls": []}}, "mlla-t-1x: weights.urls: must be a non-empty list"),
        ({"weights": {"urls": ["ftp://e.org/a"]}}, "mlla-t-1x: weights.urls: not an http(s) URL"),
        (
            {"weights": {"urls": ["https://e.org/a"], "kind": "zip"}},
            "mlla-t-1x: weights.kind: 'zip' is not one of",
        ),
        (
            {"weights": {"urls": ["https://e.org/a"], "filename": "a/b.pth"}},
            "mlla-t-1x: weights.filename: must be a plain file name",
        ),
        (
            {"weights": {"urls": ["https://e.org/a"], "size": True}},
            "mlla-t-1x: weights.size: must be a positive integer",
        ),
        ({"dataset": "ade20k"}, "mlla-t-1x: dataset: 'ade20k' does not fit task detection"),
        ({"task": "tracking"}, "mlla-t-1x: task: 'tracking' is not one of"),
        ({"method": "upernet"}, "mlla-t-1x: method: 'upernet' does not fit task detection"),
        ({"family": "vim"}, "mlla-t-1x: family: 'vim' is not one of"),
        ({"arch": None}, "mlla-t-1x: arch: required"),
        ({"id": "MLLA_T"}, "MLLA_T: id: must be lowercase words"),
        ({"config": "/etc/passwd"}, "mlla-t-1x: config: '/etc/passwd' must be a path zoo/configs/"),
        (
            {"published": {"box_ap": 46.8, "flops_g": 255}, "published_printed": None},
            "mlla-t-1x: flops_input: required when a FLOPs figure is published",
        ),
        ({"flops_input": [3, 1280]}, "mlla-t-1x: flops_input: must be [C, H, W]"),
        (
            {"published_printed": {"box_ap": "46.9", "params_m": "44M"}},
            "mlla-t-1x: published_printed.box_ap: '46.9' does not say published 46.8",
        ),
        (
            {"published_printed": {"box_ap": "46.8", "params_m": "44G"}},
            "mlla-t-1x: published_printed.params_m: '44G': unit G is not M",
        ),
        (
            {"published_printed": {"mask_ap": "42.1"}},
            "mlla-t-1x: published_printed.mask_ap: no such metric in published",
        ),
        ({"provenance": {"seed": "s.txt", "repo": "o/r"}}, "mlla-t-1x: provenance.paper: required"),
        ({"notes": "one"}, "mlla-t-1x: notes: must be a list of strings"),
    ],
)
def test_invalid_row_gives_one_line_naming_row_and_field(
    tmp_path: Path, over: dict[str, Any], expected: str
) -> None:
    problems = _problems(tmp_path, [_good_row(**over)])
    assert len(problems) == 1, problems
    assert problems[0].startswith(expected), problems


def test_pretrain_must_be_a_classification_row(tmp_path: Path) -> None:
    other = _good_row(id="mlla-t-3x", schedule="3x")
    problems = _problems(tmp_path, [other, _good_row(pretrain="mlla-t-3x")])
    assert problems == ["mlla-t-1x: pretrain: 'mlla-t-3x' is not an ImageNet classification row"]


def test_every_problem_of_a_broken_file_is_reported(tmp_path: Path) -> None:
    rows = [
        _good_row(),
        _good_row(),  # duplicate id
        _good_row(id="mlla-s-1x", published={"bogus": 1}, published_printed=None),
        "not a mapping",
        _good_row(id=None),
    ]
    problems = _problems(tmp_path, rows, version=2)
    assert problems[0] == "version: unknown top-level field"
    assert "mlla-t-1x: id: duplicate row id (rows[1])" in problems
    assert any(p.startswith("mlla-s-1x: published.bogus: unknown metric") for p in problems)
    assert "rows[3]: must be a mapping" in problems
    assert "rows[4]: id: required" in problems
    assert len(problems) == 5
    assert all("\n" not in p for p in problems)


def test_unreadable_registries(tmp_path: Path) -> None:
    with pytest.raises(RegistryError, match="file not found"):
        load_registry(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("rows: [\n", encoding="utf-8")
    with pytest.raises(RegistryError, match="not valid YAML"):
        load_registry(bad)
    bad.write_text("- a\n- b\n", encoding="utf-8")
    with pytest.raises(RegistryError, match="top level must be a mapping"):
        load_registry(bad)


def test_an_edited_file_is_reloaded(tmp_path: Path) -> None:
    import os

    path = _write(tmp_path, [_good_row()])
    assert load_registry(path).get("mlla-t-1x").published["box_ap"] == 46.8
    path.write_text(path.read_text(encoding="utf-8").replace("46.8", "47.1"), encoding="utf-8")
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))  # a coarse clock can tie
    assert load_registry(path).get("mlla-t-1x").published["box_ap"] == 47.1
