"""The one registry loader: `registry.yaml` -> typed, validated `Registry`.

Every row of the five seed READMEs, with published numbers exactly as printed. Validation reports
one problem per line, naming the row id and the field, so a broken edit is easy to fix.
"""

from __future__ import annotations

import difflib
import functools
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from vzoo.core.errors import RegistryError, UnknownRowError
from vzoo.core.metrics import METRICS
from vzoo.core.paths import package_root

TASKS = ("classification", "detection", "segmentation")
DATASETS = {"classification": "imagenet-1k", "detection": "coco2017", "segmentation": "ade20k"}
METHODS = ("classifier", "mask-rcnn", "upernet", "sparse-rcnn", "dual-attn-sparse-rcnn")
FAMILIES = ("sparx-mamba", "mlla", "msvmamba", "spatial-mamba", "sparse-rcnn")
WEIGHT_KINDS = ("file", "drive-folder")


@dataclass(frozen=True)
class Weights:
    """Where a checkpoint lives. `urls` exactly as published, tried in order; `mirrors` too
    (e.g. `hf://org/repo/file`). `sha256`/`size` are pinned once known (`vzoo registry pin`)."""

    urls: tuple[str, ...]
    mirrors: tuple[str, ...] = ()
    sha256: str | None = None
    size: int | None = None
    filename: str | None = None
    kind: str = "file"  # "drive-folder": a Google Drive folder holding the checkpoint and logs


@dataclass(frozen=True)
class Provenance:
    seed: str  # file name under shared/seeds
    repo: str  # upstream repository (owner/name)
    paper: str  # arXiv / DOI URL


@dataclass(frozen=True)
class Row:
    id: str
    family: str
    arch: str  # backbone arch id (e.g. mlla-t), or "r50" for the Sparse R-CNN rows
    task: str
    dataset: str
    method: str
    schedule: str | None
    config: str | None  # path inside the package (zoo/configs/...), None for classifiers
    weights: Weights | None
    pretrain: str | None  # row id of the ImageNet row the model starts from
    published: dict[str, float]  # metric name -> value exactly as printed
    flops_input: tuple[int, ...] | None  # (C, H, W) the paper's FLOPs were counted at
    provenance: Provenance
    notes: tuple[str, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The row as plain data (what `vzoo show --format json` prints)."""
        from dataclasses import asdict

        data = asdict(self)
        data.pop("extra")
        return data


class Registry:
    def __init__(self, rows: list[Row], path: Path) -> None:
        self.path = path
        self._rows = {r.id: r for r in rows}

    def __iter__(self) -> Iterator[Row]:
        return iter(self._rows.values())

    def __len__(self) -> int:
        return len(self._rows)

    def __contains__(self, row_id: object) -> bool:
        return row_id in self._rows

    @property
    def ids(self) -> list[str]:
        return list(self._rows)

    def get(self, row_id: str) -> Row:
        try:
            return self._rows[row_id]
        except KeyError:
            raise UnknownRowError(row_id, self.closest(row_id)) from None

    def closest(self, row_id: str, n: int = 3) -> list[str]:
        matches = difflib.get_close_matches(row_id, self.ids, n=n, cutoff=0.5)
        if not matches:  # a prefix like "mlla" should still suggest something
            matches = [i for i in self.ids if i.startswith(row_id)][:n]
        return matches

    def select(
        self,
        ids: list[str] | None = None,
        *,
        task: str | None = None,
        family: str | None = None,
    ) -> list[Row]:
        """Rows by id (validated, in the given order) or all rows, filtered by task/family."""
        rows = [self.get(i) for i in ids] if ids else list(self)
        if task is not None:
            rows = [r for r in rows if r.task == task]
        if family is not None:
            rows = [r for r in rows if r.family == family]
        return rows


def missing_configs(registry: Registry) -> list[str]:
    """Rows whose `config` names no file in the package (checked by `vzoo registry check`)."""
    return [
        f"{r.id}: config: no such file in the package: {r.config}"
        for r in registry
        if r.config is not None and not (package_root() / r.config).is_file()
    ]


def default_registry_path() -> Path:
    return package_root() / "registry.yaml"


@functools.lru_cache(maxsize=8)
def _load_cached(path: Path, mtime_ns: int) -> Registry:
    return _parse(path)


def load_registry(path: str | Path | None = None) -> Registry:
    """Load and validate the registry (the packaged one by default)."""
    p = Path(path) if path is not None else default_registry_path()
    if not p.is_file():
        raise RegistryError(str(p), ["file not found"])
    return _load_cached(p.resolve(), p.stat().st_mtime_ns)


def _parse(path: Path) -> Registry:
    try:
        doc = yaml.load(
            path.read_text(encoding="utf-8"), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)
        )
    except yaml.YAMLError as e:
        raise RegistryError(str(path), [f"not valid YAML: {e}".replace("\n", " ")]) from None
    problems: list[str] = []
    if not isinstance(doc, dict) or not isinstance(doc.get("rows"), list):
        raise RegistryError(str(path), ["top level must be a mapping with a 'rows' list"])
    rows: list[Row] = []
    seen: set[str] = set()
    for i, raw in enumerate(doc["rows"]):
        row = _parse_row(raw, i, problems)
        if row is None:
            continue
        if row.id in seen:
            problems.append(f"{row.id}: id: duplicate row id")
            continue
        seen.add(row.id)
        rows.append(row)
    ids = {r.id for r in rows}
    for r in rows:
        if r.pretrain is not None and r.pretrain not in ids:
            problems.append(f"{r.id}: pretrain: unknown row id '{r.pretrain}'")
    if problems:
        raise RegistryError(str(path), problems)
    return Registry(rows, path)


_ROW_FIELDS = {
    "id", "family", "arch", "task", "dataset", "method", "schedule", "config", "weights",
    "pretrain", "published", "flops_input", "provenance", "notes",
}  # fmt: skip
_REQUIRED = ("id", "family", "arch", "task", "dataset", "method", "published", "provenance")


def _parse_row(raw: Any, index: int, problems: list[str]) -> Row | None:
    if not isinstance(raw, dict):
        problems.append(f"rows[{index}]: must be a mapping")
        return None
    rid = raw.get("id")
    where = rid if isinstance(rid, str) and rid else f"rows[{index}]"
    before = len(problems)

    def bad(fld: str, msg: str) -> None:
        problems.append(f"{where}: {fld}: {msg}")

    for fld in sorted(set(raw) - _ROW_FIELDS):
        bad(fld, "unknown field")
    for fld in _REQUIRED:
        if raw.get(fld) in (None, ""):
            bad(fld, "required")
    for fld in ("id", "family", "arch", "task", "dataset", "method"):
        if fld in raw and raw[fld] is not None and not isinstance(raw[fld], str):
            bad(fld, "must be a string")
    task = raw.get("task")
    if isinstance(task, str):
        if task not in TASKS:
            bad("task", f"'{task}' is not one of {', '.join(TASKS)}")
        elif raw.get("dataset") not in (None, DATASETS[task]):
            bad("dataset", f"'{raw.get('dataset')}' does not fit task {task} ({DATASETS[task]})")
    if isinstance(raw.get("method"), str) and raw["method"] not in METHODS:
        bad("method", f"'{raw['method']}' is not one of {', '.join(METHODS)}")
    if isinstance(raw.get("family"), str) and raw["family"] not in FAMILIES:
        bad("family", f"'{raw['family']}' is not one of {', '.join(FAMILIES)}")
    for fld in ("schedule", "config", "pretrain"):
        if raw.get(fld) is not None and not isinstance(raw[fld], str):
            bad(fld, "must be a string or null")
    config = raw.get("config")

    published: dict[str, float] = {}
    pub = raw.get("published")
    if pub is not None and not isinstance(pub, dict):
        bad("published", "must be a mapping metric -> number")
    elif isinstance(pub, dict):
        for k, v in pub.items():
            if k not in METRICS:
                bad(f"published.{k}", f"unknown metric (known: {', '.join(METRICS)})")
            elif isinstance(v, bool) or not isinstance(v, (int, float)):
                bad(f"published.{k}", f"must be a number, got {v!r}")
            else:
                published[k] = float(v)

    flops_input = raw.get("flops_input")
    if flops_input is not None:
        if not (
            isinstance(flops_input, list)
            and len(flops_input) == 3
            and all(isinstance(x, int) and x > 0 for x in flops_input)
        ):
            bad("flops_input", "must be [C, H, W] positive integers")
            flops_input = None
        else:
            flops_input = tuple(flops_input)
    elif "flops_g" in published:
        bad("flops_input", "required when a FLOPs figure is published")

    weights = _parse_weights(raw.get("weights"), bad)
    prov = raw.get("provenance")
    provenance = None
    if isinstance(prov, dict):
        missing = [k for k in ("seed", "repo", "paper") if not isinstance(prov.get(k), str)]
        for k in missing:
            bad(f"provenance.{k}", "required string")
        if not missing:
            provenance = Provenance(prov["seed"], prov["repo"], prov["paper"])
    elif prov is not None:
        bad("provenance", "must be a mapping with seed, repo, paper")
    notes = raw.get("notes") or []
    if not isinstance(notes, list) or not all(isinstance(n, str) for n in notes):
        bad("notes", "must be a list of strings")
        notes = []
    if len(problems) > before or provenance is None:
        return None
    return Row(
        id=raw["id"],
        family=raw["family"],
        arch=raw["arch"],
        task=raw["task"],
        dataset=raw["dataset"],
        method=raw["method"],
        schedule=raw.get("schedule"),
        config=config,
        weights=weights,
        pretrain=raw.get("pretrain"),
        published=published,
        flops_input=flops_input,
        provenance=provenance,
        notes=tuple(notes),
    )


def _parse_weights(raw: Any, bad: Any) -> Weights | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        bad("weights", "must be a mapping")
        return None
    ok = True
    for k in sorted(set(raw) - {"urls", "mirrors", "sha256", "size", "filename", "kind"}):
        bad(f"weights.{k}", "unknown field")
        ok = False
    urls = raw.get("urls")
    if not isinstance(urls, list) or not urls or not all(isinstance(u, str) for u in urls):
        bad("weights.urls", "must be a non-empty list of URLs")
        ok = False
    mirrors = raw.get("mirrors") or []
    if not isinstance(mirrors, list) or not all(isinstance(u, str) for u in mirrors):
        bad("weights.mirrors", "must be a list of URLs")
        ok = False
    sha = raw.get("sha256")
    if sha is not None and not (
        isinstance(sha, str) and len(sha) == 64 and all(c in "0123456789abcdef" for c in sha)
    ):
        bad("weights.sha256", "must be 64 lowercase hex digits or null")
        ok = False
    size = raw.get("size")
    if size is not None and (not isinstance(size, int) or size <= 0):
        bad("weights.size", "must be a positive integer (bytes) or null")
        ok = False
    kind = raw.get("kind", "file")
    if kind not in WEIGHT_KINDS:
        bad("weights.kind", f"'{kind}' is not one of {', '.join(WEIGHT_KINDS)}")
        ok = False
    if not ok:
        return None
    return Weights(
        urls=tuple(urls),
        mirrors=tuple(mirrors),
        sha256=sha,
        size=size,
        filename=raw.get("filename"),
        kind=kind,
    )
