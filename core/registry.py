"""The one registry loader: `registry.yaml` -> typed, validated `Registry`.

Every row of the five seed READMEs, with published numbers exactly as printed. Validation reports
one problem per line, naming the row id and the field, so a broken edit is easy to fix.
"""

from __future__ import annotations

import difflib
import functools
import math
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

import yaml

from vzoo import settings
from vzoo.core import mmdet_index
from vzoo.core.errors import RegistryError, UnknownRowError, quote, shorten
from vzoo.core.inputs import MIRROR_SCHEMES, side_problem, url_problem
from vzoo.core.metrics import METRICS
from vzoo.core.tasks import generic_methods, get_task, task_names, tasks_generation

WEIGHT_KINDS = ("file", "drive-folder")
_ID_RE = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
_SHA256_RE = re.compile(r"[0-9a-f]{64}")
# what follows `mmdet:` in an id: a metafile Name (mask-rcnn_r50_fpn_1x_coco, ...)
_MMDET_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.+-]{0,127}")
# A published cell as printed: a plain decimal number, optionally with its unit (44M, 255G, 0.9G).
_PRINTED_RE = re.compile(r"(\d+(?:\.\d+)?)(M|G|%)?")


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
    config: str | None = None  # the authors' config for this row (path in `repo`, or a URL)


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
    # metric -> the published cell verbatim ("44M", "44.0"): `published` loses units and zeros.
    published_printed: dict[str, str] = field(default_factory=dict)
    source: str = "registry"  # "registry" (a registry file) or "mmdet" (mmdet's model index)
    baseline: bool = False  # a reference model (plots draw baselines as a reference curve)
    extra: dict[str, Any] = field(default_factory=dict)

    def default_input(self) -> tuple[int, int, int]:
        """The (C, H, W) the row is counted and timed at: its `flops_input`, else its task's."""
        if self.flops_input is not None:
            return self.flops_input  # type: ignore[return-value]
        return get_task(self.task).default_input

    def to_dict(self) -> dict[str, Any]:
        """The row as plain data (what `vzoo show --format json` prints)."""
        from dataclasses import asdict

        data = asdict(self)
        data.pop("extra")
        return data


class Registry:
    """Rows from one or more files (the packaged registry.yaml, plugins' rows, overlays).

    `path` is the first file (the packaged one for the default registry); `source(row_id)` says
    which file a row came from. `baselines` (the default registry: mmdet's curated baselines,
    placed after the first file's `baselines_at` rows) are read from mmdet's model index only when
    something needs them: a listing of every row or an `mmdet:` id, not rows asked for by id.
    """

    def __init__(
        self,
        rows: list[Row],
        path: Path,
        sources: dict[str, Path] | None = None,
        *,
        baselines: Callable[[], list[Row]] | None = None,
        baselines_at: int = 0,
    ) -> None:
        self.path = path
        self._listed = {r.id: r for r in rows}
        self._sources = sources or {}
        self._baselines = baselines
        self._baselines_at = baselines_at
        self._every: dict[str, Row] | None = None if baselines is not None else self._listed

    @property
    def _rows(self) -> dict[str, Row]:
        """Every row, the baselines among them (read on first use)."""
        if self._every is None:
            assert self._baselines is not None
            rows = list(self._listed.values())
            rows[self._baselines_at : self._baselines_at] = self._baselines()
            self._every = {r.id: r for r in rows}
        return self._every

    def __iter__(self) -> Iterator[Row]:
        return iter(self._rows.values())

    def __len__(self) -> int:
        return len(self._rows)

    def __contains__(self, row_id: object) -> bool:
        return row_id in self._rows

    @property
    def ids(self) -> list[str]:
        return list(self._rows)

    @property
    def paths(self) -> list[Path]:
        """Every file the rows came from, in load order."""
        return list(dict.fromkeys([self.path, *self._sources.values()]))

    def source(self, row_id: str) -> Path:
        self.get(row_id)
        return self._sources.get(row_id, self.path)

    def get(self, row_id: str) -> Row:
        row = self._listed.get(row_id)
        if row is None and row_id.startswith(mmdet_index.PREFIX):
            # a baseline, else any model of mmdet's index, listed or not
            row = self._rows.get(row_id)
            if row is None and (fields := mmdet_index.lookup(row_id)) is not None:
                row = index_row(fields)
        if row is None:
            raise UnknownRowError(row_id, self.closest(row_id))
        return row

    def closest(self, row_id: str, n: int = 3) -> list[str]:
        ids = self.ids
        if row_id.startswith(mmdet_index.PREFIX):
            ids = [r["id"] for r in mmdet_index.index_rows()]
        matches = difflib.get_close_matches(row_id, ids, n=n, cutoff=0.5)
        if not matches:  # a prefix like "mlla" should still suggest something
            matches = [i for i in ids if i.startswith(row_id)][:n]
        return matches

    def select(
        self,
        ids: list[str] | None = None,
        *,
        task: str | None = None,
        family: str | None = None,
        patterns: Sequence[str] | None = None,
    ) -> list[Row]:
        """Rows by id (validated, in the given order) or all rows, filtered by task/family and,
        with `patterns`, by shell-style wildcards on the id (`*mamba*`, as `timm.list_models`)."""
        rows = [self.get(i) for i in ids] if ids else list(self)
        if patterns:
            rows = [r for r in rows if any(fnmatchcase(r.id, p) for p in patterns)]
        if task is not None:
            rows = [r for r in rows if r.task == task]
        if family is not None:
            rows = [r for r in rows if r.family == family]
        return rows


def index_row(fields: dict[str, Any]) -> Row:
    """A row of mmdet's model index, from the fields `mmdet_index` reads."""
    weights, provenance = fields["weights"], fields["provenance"]
    return Row(**{
        **fields,
        "weights": Weights(**weights) if weights is not None else None,
        "provenance": Provenance(**provenance),
    })  # fmt: skip


def index_rows(read: Callable[[], list[dict[str, Any]]]) -> list[Row]:
    """The rows of what `read` (`mmdet_index.index_rows`, `baseline_rows`) reads."""
    return [index_row(fields) for fields in read()]


def mmdet_registry() -> Registry | None:
    """Every model of the installed mmdet's index (`vzoo list --source mmdet`); None without
    mmdet."""
    rows = index_rows(mmdet_index.index_rows)
    root = mmdet_index.mim_root()
    return Registry(rows, root / "model-index.yml") if rows and root is not None else None


def is_row_id(text: str) -> bool:
    """Whether `text` is written as a row id: a registry id, or `mmdet:<metafile Name>`. Ids
    read from elsewhere (an imported record) are held to it: no paths, no control characters."""
    if text.startswith(mmdet_index.PREFIX):
        return _MMDET_NAME_RE.fullmatch(text[len(mmdet_index.PREFIX) :]) is not None
    return len(text) <= 128 and _ID_RE.fullmatch(text) is not None


def families() -> tuple[str, ...]:
    """The family names: one per family card (built-in or plugin)."""
    from vzoo.core.cards import family_names

    return family_names()


def methods() -> dict[str, str]:
    """Method name -> task: mmdet's/mmseg's own (on their tasks), then those the family cards
    bring."""
    from vzoo.core.cards import card_methods

    return {m.name: m.task for m in (*generic_methods().values(), *card_methods().values())}


def missing_configs(registry: Registry) -> list[str]:
    """Rows whose `config` names no file in the package (checked by `vzoo registry check`)."""
    return [
        f"{r.id}: config: no such file in the package: {r.config}"
        for r in registry
        if r.config is not None and not config_path(r.config).is_file()
    ]


def config_path(config: str) -> Path:
    """A row's config file: `zoo/configs/...` in the package, or `mmdet::...` in mmdet's."""
    if config.startswith(mmdet_index.CONFIG_PREFIX):
        return mmdet_index.config_path(config)
    path = Path(config)
    return path if path.is_absolute() else settings.package_root() / config


def default_registry_path() -> Path:
    return settings.package_root() / "registry.yaml"


def overlay_paths(given: Sequence[str | Path] = ()) -> list[Path]:
    """Overlay files: the user's `$VZOO_HOME/registry.yaml` if it exists, then those `given` (the
    CLI's `--registry` options), else `VZOO_REGISTRY`'s (a flag replaces its variable); each
    file once."""
    user = settings.user_registry_path()
    paths = [user] if user.is_file() else []
    paths += [Path(p).expanduser() for p in given] if given else settings.registry_overlays()
    unique: dict[Path, Path] = {}
    for p in paths:
        unique.setdefault(p.resolve(), p)
    return list(unique.values())


def load_registry(
    path: str | Path | None = None, *, overlays: Sequence[str | Path] = ()
) -> Registry:
    """Load and validate rows.

    With `path`: that one file, alone (what `vzoo registry check FILE` and `pin` work on).
    Without: the packaged registry.yaml, then the registry files of installed family plugins,
    then the overlays (`overlays`, else those of `VZOO_REGISTRY`). A row id defined twice across
    files is an error naming both files, never a silent override.
    """
    if path is not None:
        files = [Path(path)]
    else:
        files = [default_registry_path(), *plugin_registry_paths(), *overlay_paths(overlays)]
    files = list({p.resolve(): p for p in files}.values())  # each file once, first place kept
    for p in files:
        if not p.is_file():
            raise RegistryError(str(p), ["file not found"])
    key = tuple((p.resolve(), p.stat().st_mtime_ns) for p in files)
    return _load_cached(key, with_baselines=path is None, tasks=tasks_generation())


def plugin_registry_paths() -> list[Path]:
    """Registry files shipped by family plugins (entry-point group `vzoo.families`)."""
    from vzoo.core.cards import all_cards

    return [f for card in all_cards() for f in card.row_files()]


@functools.lru_cache(maxsize=8)
def _load_cached(files: tuple[tuple[Path, int], ...], with_baselines: bool, tasks: int) -> Registry:
    """The rows of `files`, validated against the tasks of generation `tasks`."""
    read = [(path, _read_rows(path)) for path, _ in files]
    docs = [(path, (raw_rows, problems)) for path, (raw_rows, problems, _) in read]
    pins = [(path, pinned) for path, (_, _, pinned) in read]
    # Every id written in any file, valid row or not: a pretrain pointing at a row that has its
    # own problems is reported once (on that row), not twice; an overlay's detector may start
    # from a packaged classifier.
    raw_tasks = {
        r["id"]: r.get("task")
        for _, (raw_rows, _) in docs
        for r in raw_rows
        if isinstance(r, dict) and isinstance(r.get("id"), str)
    }
    rows: list[Row] = []
    sources: dict[str, Path] = {}
    baselines_at = 0  # mmdet's baselines come right after the packaged rows
    for i, (path, (raw_rows, problems)) in enumerate(docs):
        for row in _parse_rows(path, raw_rows, raw_tasks, sources, problems):
            rows.append(row)
            sources[row.id] = path
        if i == 0:
            baselines_at = len(rows)
    if with_baselines and not _pins_an_index_row(pins):
        # no pin names one of mmdet's baselines: they are read when something needs them
        return Registry(
            _apply_pins(rows, pins, every_row=True), docs[0][0], sources,
            baselines=functools.partial(index_rows, mmdet_index.baseline_rows),
            baselines_at=baselines_at,
        )  # fmt: skip
    if with_baselines:
        rows[baselines_at:baselines_at] = index_rows(mmdet_index.baseline_rows)
    rows = _apply_pins(rows, pins, every_row=with_baselines)
    return Registry(rows, docs[0][0], sources)


def _pins_an_index_row(pins: list[tuple[Path, Any]]) -> bool:
    """Whether a file pins a row of mmdet's index (`mmdet:<Name>`)."""
    return any(
        isinstance(pinned, dict) and any(str(rid).startswith(mmdet_index.PREFIX) for rid in pinned)
        for _, pinned in pins
    )


def _apply_pins(rows: list[Row], pins: list[tuple[Path, Any]], *, every_row: bool) -> list[Row]:
    """Rows with the files' `pins:` (row id -> {sha256, size}, written by `vzoo registry pin`
    for rows defined in another file) laid over their `weights`."""
    by_id = {r.id: i for i, r in enumerate(rows)}
    for path, pinned in pins:
        problems = []
        if not isinstance(pinned, dict):
            raise RegistryError(str(path), ["pins: must map row ids to {sha256, size}"])
        for rid, pin in pinned.items():
            i = by_id.get(rid)
            ok = isinstance(pin, dict) and set(pin) == {"sha256", "size"}
            if ok and not (_SHA256_RE.fullmatch(str(pin["sha256"])) and _is_int(pin["size"])):
                ok = False
            if not ok:
                problems.append(f"pins: {rid}: must be {{sha256: <64 hex>, size: <bytes>}}")
            elif i is None:
                if every_row:
                    problems.append(f"pins: {rid}: no row with this id is loaded")
            elif rows[i].weights is None:
                problems.append(f"pins: {rid}: the row lists no weights")
            else:
                weights = replace(rows[i].weights, sha256=pin["sha256"], size=pin["size"])
                rows[i] = replace(rows[i], weights=weights)
        if problems:
            raise RegistryError(str(path), problems)
    return rows


class _DuplicateKeyError(yaml.YAMLError):
    """A key written twice in one mapping (the message is the one line reported)."""


class _UniqueKeyLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """The safe loader, except that a key repeated in one mapping is an error: plain YAML
    keeps the last value silently, so a pasted block would overwrite a row's field."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        first_line: dict[Any, int] = {}
        for key_node, _ in node.value:
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == _MERGE_TAG:
                continue
            key = self.construct_object(key_node, deep=True)
            line = key_node.start_mark.line + 1
            if key in first_line:
                raise _DuplicateKeyError(
                    f"line {line}: duplicate key '{key}' (first at line {first_line[key]}): "
                    "keep one of them"
                )
            first_line[key] = line
        return super().construct_mapping(node, deep=deep)


_MERGE_TAG = "tag:yaml.org,2002:merge"


# A registry file is a few hundred rows (the packaged one: ~100 KB, ~20,000 YAML nodes). Aliases
# (`*name`) repeat what an anchor (`&name`) holds, so a few lines of nested aliases expand to 1e9
# values ("billion laughs"); both the file and its expansion are bounded, before anything is built.
MAX_REGISTRY_BYTES = 16 * 2**20
MAX_EXPANDED_NODES = 1_000_000


def _expanded_nodes(text: str) -> int:
    """How many YAML nodes `text` stands for with every alias written out (without writing them:
    each distinct node is counted once, times the number of places it appears)."""
    root = yaml.compose(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    sizes: dict[int, int] = {}

    def size(node: yaml.Node) -> int:
        if id(node) not in sizes:
            sizes[id(node)] = 0  # a recursive alias: counted once
            if isinstance(node, yaml.MappingNode):
                children = [n for pair in node.value for n in pair]
            elif isinstance(node, yaml.SequenceNode):
                children = list(node.value)
            else:
                children = []
            sizes[id(node)] = min(1 + sum(size(c) for c in children), MAX_EXPANDED_NODES + 1)
        return sizes[id(node)]

    return 0 if root is None else size(root)


def _read_rows(path: Path) -> tuple[list[Any], list[str], Any]:
    """A file's raw rows, its top-level problems (reported with the rows') and its `pins:`."""
    try:
        if path.stat().st_size > MAX_REGISTRY_BYTES:
            raise RegistryError(
                str(path),
                [f"{path.stat().st_size} bytes: a registry file is at most "
                 f"{MAX_REGISTRY_BYTES // 2**20} MiB; give the registry YAML file"],
            )  # fmt: skip
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise RegistryError(
            str(path), [f"not UTF-8 text (byte {e.start}): give the registry YAML file"]
        ) from None
    except OSError as e:
        raise RegistryError(str(path), [f"cannot read: {e.strerror}"]) from None
    try:
        if "&" in text and _expanded_nodes(text) > MAX_EXPANDED_NODES:
            raise RegistryError(
                str(path),
                [f"its aliases (*name) expand to more than {MAX_EXPANDED_NODES:,} values: write "
                 "the rows out, or use an anchor once per row"],
            )  # fmt: skip
        doc = yaml.load(text, Loader=_UniqueKeyLoader)
    except _DuplicateKeyError as e:
        raise RegistryError(str(path), [str(e)]) from None
    except yaml.YAMLError as e:
        raise RegistryError(str(path), [f"not valid YAML: {e}".replace("\n", " ")]) from None
    except RecursionError:
        raise RegistryError(str(path), ["nested too deeply to be a registry file"]) from None
    if isinstance(doc, dict) and "pins" in doc and doc.get("rows") is None:
        doc["rows"] = []  # an overlay holding only pins
    if not isinstance(doc, dict) or not isinstance(doc.get("rows"), list):
        raise RegistryError(str(path), ["top level must be a mapping with a 'rows' list"])
    problems = [
        f"{key}: unknown top-level field" for key in sorted(map(str, set(doc) - {"rows", "pins"}))
    ]
    return doc["rows"], problems, doc.get("pins") or {}


def _parse_rows(
    path: Path,
    raw_rows: list[Any],
    raw_tasks: dict[str, Any],
    earlier: dict[str, Path],
    problems: list[str],
) -> list[Row]:
    """One file's rows; `earlier` maps the ids already loaded from other files to their file."""
    # a file other than the packaged one may name configs beside it (a plugin's, a user's own)
    beside = None if path.resolve() == default_registry_path().resolve() else path.parent
    rows: list[Row] = []
    seen: set[str] = set()
    for i, raw in enumerate(raw_rows):
        rid = raw.get("id") if isinstance(raw, dict) else None
        if isinstance(rid, str) and rid in earlier:
            problems.append(f"{shorten(rid)}: id: already defined in {earlier[rid]} (rows[{i}])")
            continue
        if isinstance(rid, str) and rid in seen:
            problems.append(f"{shorten(rid)}: id: duplicate row id (rows[{i}])")
            continue
        if isinstance(rid, str):
            seen.add(rid)
        row = _parse_row(raw, i, problems, beside)
        if row is None:
            continue
        if row.pretrain is not None:
            if row.pretrain not in raw_tasks:
                problems.append(f"{row.id}: pretrain: unknown row id {quote(row.pretrain)}")
            elif not _is_classifier_task(raw_tasks[row.pretrain]):
                problems.append(
                    f"{row.id}: pretrain: '{row.pretrain}' is not an ImageNet classification row"
                )
        rows.append(row)
    if problems:
        raise RegistryError(str(path), problems)
    return rows


def _is_classifier_task(task: Any) -> bool:
    """A pretrain row's task: one whose model is a family's (ImageNet) classifier."""
    return task in task_names() and get_task(task).builds_classifier


_ROW_FIELDS = {
    "id", "family", "arch", "task", "dataset", "method", "schedule", "config", "weights",
    "pretrain", "published", "published_printed", "flops_input", "provenance", "notes",
    "baseline", "source",
}  # fmt: skip
# `source`: where a row's facts come from; what `vzoo show` prints of a row, an overlay accepts.
ROW_SOURCES = ("registry", mmdet_index.SOURCE)
_REQUIRED = ("id", "family", "arch", "task", "dataset", "method", "published", "provenance")


def _is_int(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _parse_row(raw: Any, index: int, problems: list[str], beside: Path | None = None) -> Row | None:
    if not isinstance(raw, dict):
        problems.append(f"rows[{index}]: must be a mapping")
        return None
    rid = raw.get("id")
    where = rid if isinstance(rid, str) and rid else f"rows[{index}]"
    before = len(problems)

    def bad(fld: str, msg: str) -> None:
        problems.append(f"{shorten(where)}: {shorten(fld)}: {msg}")

    for fld in sorted(map(str, set(raw) - _ROW_FIELDS)):
        bad(fld, "unknown field")
    for fld in _REQUIRED:
        if raw.get(fld) in (None, ""):
            bad(fld, "required")
    for fld in ("id", "family", "arch", "task", "dataset", "method"):
        if fld in raw and raw[fld] is not None and not isinstance(raw[fld], str):
            bad(fld, "must be a string")
    if isinstance(rid, str) and rid and not _ID_RE.fullmatch(rid):
        bad("id", "must be lowercase words joined by '-' (e.g. my-net-t-1x)")
    task = raw.get("task")
    if isinstance(task, str):
        if task not in task_names():
            bad("task", f"{quote(task)} is not one of {', '.join(task_names())}")
            task = None
        elif raw.get("dataset") not in (None, dataset := get_task(task).dataset):
            bad("dataset", f"{quote(raw.get('dataset'))} does not fit task {task} ({dataset})")
    else:
        task = None
    method = raw.get("method")
    if isinstance(method, str):
        known = methods()
        if method not in known:
            bad("method", f"{quote(method)} is not one of {', '.join(known)}")
        elif task is not None and known[method] != task:
            fits = ", ".join(m for m, t in known.items() if t == task)
            bad("method", f"{quote(method)} does not fit task {task} ({fits})")
    # mmdet's own models (a copy of a `vzoo show mmdet:...` row) have no family card
    known_families = (*families(), mmdet_index.SOURCE)
    if isinstance(raw.get("family"), str) and raw["family"] not in known_families:
        bad("family", f"{quote(raw['family'])} is not one of {', '.join(known_families)}")
    for fld in ("schedule", "config", "pretrain"):
        if raw.get(fld) is not None and not isinstance(raw[fld], str):
            bad(fld, "must be a string or null")
    config = raw.get("config")
    if isinstance(config, str) and config.startswith(mmdet_index.CONFIG_PREFIX):
        if not config.endswith(".py") or ".." in config:
            bad("config", f"{quote(config)} must name a .py file of mmdet's (mmdet::dir/name.py)")
    elif isinstance(config, str):
        plain = config.endswith(".py") and ".." not in config and not Path(config).is_absolute()
        if plain and beside is not None and not config.startswith("zoo/configs/"):
            config = str(beside.resolve() / config)  # relative to the registry file
        elif not (plain and config.startswith("zoo/configs/")):
            where_else = " (or a .py path relative to this file)" if beside is not None else ""
            bad(
                "config",
                f"{quote(config)} must be a path zoo/configs/<family>/<name>.py in the package"
                + where_else,
            )
    if not isinstance(raw.get("baseline", False), bool):
        bad("baseline", "must be true or false")
    if raw.get("source", "registry") not in ROW_SOURCES:
        bad("source", f"{quote(raw.get('source'))} is not one of {', '.join(ROW_SOURCES)}")
    if raw.get("pretrain") is not None and raw.get("pretrain") == rid:
        bad("pretrain", "a row cannot be its own pretrain")

    published = _parse_published(raw.get("published"), task, bad)
    raw_pub = raw.get("published")
    raw_metrics = set(raw_pub) if isinstance(raw_pub, dict) else set()
    printed = _parse_printed(raw.get("published_printed"), published, raw_metrics, bad)

    flops_input = raw.get("flops_input")
    if flops_input is not None:
        if problem := side_problem(flops_input):
            bad("flops_input", problem)
            flops_input = None
        else:
            flops_input = tuple(flops_input)
    elif "flops_g" in published:
        bad("flops_input", "required when a FLOPs figure is published")

    weights = _parse_weights(raw.get("weights"), bad)
    prov = raw.get("provenance")
    provenance = None
    if isinstance(prov, dict):
        for k in sorted(map(str, set(prov) - {"seed", "repo", "paper", "config"})):
            bad(f"provenance.{k}", "unknown field")
        missing = [k for k in ("seed", "repo", "paper") if not isinstance(prov.get(k), str)]
        for k in missing:
            bad(f"provenance.{k}", "required string")
        if prov.get("config") is not None and not isinstance(prov["config"], str):
            bad("provenance.config", "must be a string or null")
        if not missing:
            provenance = Provenance(prov["seed"], prov["repo"], prov["paper"], prov.get("config"))
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
        published_printed=printed,
        baseline=raw.get("baseline", False),
        source=raw.get("source", "registry"),
    )


def _parse_published(pub: Any, task: str | None, bad: Any) -> dict[str, float]:
    published: dict[str, float] = {}
    if pub is None:
        return published
    if not isinstance(pub, dict):
        bad("published", "must be a mapping metric -> number")
        return published
    for k, v in pub.items():
        if k not in METRICS:
            bad(f"published.{k}", f"unknown metric (known: {', '.join(METRICS)})")
        elif task is not None and k not in (allowed := get_task(task).published_metrics):
            bad(f"published.{k}", f"not a {task} metric ({', '.join(allowed)})")
        elif isinstance(v, bool) or not isinstance(v, (int, float)):
            bad(f"published.{k}", f"must be a number, got {quote(v)}")
        elif not math.isfinite(v) or v <= 0:
            bad(f"published.{k}", f"must be a positive finite number, got {quote(v)}")
        else:
            published[k] = float(v)
    return published


def _parse_printed(
    raw: Any, published: dict[str, float], raw_metrics: set[Any], bad: Any
) -> dict[str, str]:
    """`published_printed`: each cell verbatim; it must say the same number as `published`.

    A metric whose published value is itself invalid was reported already: it is skipped here.
    """
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        bad("published_printed", "must be a mapping metric -> string as printed")
        return {}
    printed: dict[str, str] = {}
    for k, v in raw.items():
        if k not in raw_metrics:
            bad(f"published_printed.{k}", "no such metric in published")
        elif k not in published:
            continue
        elif not isinstance(v, str) or not (m := _PRINTED_RE.fullmatch(v)):
            bad(
                f"published_printed.{k}", f"must be the cell as printed (44M, 46.8), got {quote(v)}"
            )
        elif m.group(2) is not None and m.group(2) != METRICS[k].unit:
            bad(f"published_printed.{k}", f"{quote(v)}: unit {m.group(2)} is not {METRICS[k].unit}")
        elif float(m.group(1)) != published[k]:
            bad(f"published_printed.{k}", f"{quote(v)} does not say published {published[k]:g}")
        else:
            printed[k] = v
    return printed


def _listed(bad_urls: list[tuple[str, str]]) -> str:
    return "; ".join(f"{quote(u)} ({problem})" for u, problem in bad_urls[:3])


def _parse_weights(raw: Any, bad: Any) -> Weights | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        bad("weights", "must be a mapping")
        return None
    ok = True
    for k in sorted(map(str, set(raw) - {"urls", "mirrors", "sha256", "size", "filename", "kind"})):
        bad(f"weights.{k}", "unknown field")
        ok = False
    urls = raw.get("urls")
    if not isinstance(urls, list) or not urls or not all(isinstance(u, str) for u in urls):
        bad("weights.urls", "must be a non-empty list of URLs")
        ok = False
    elif bad_urls := [(u, p) for u in urls if (p := url_problem(u))]:
        bad("weights.urls", "not an http(s) URL: " + _listed(bad_urls))
        ok = False
    mirrors = raw.get("mirrors") or []
    if not isinstance(mirrors, list) or not all(isinstance(u, str) for u in mirrors):
        bad("weights.mirrors", "must be a list of URLs")
        ok = False
    elif bad_mirrors := [(u, p) for u in mirrors if (p := url_problem(u, MIRROR_SCHEMES))]:
        bad("weights.mirrors", "not an http(s) or hf:// URL: " + _listed(bad_mirrors))
        ok = False
    sha = raw.get("sha256")
    if sha is not None and not (
        isinstance(sha, str) and len(sha) == 64 and all(c in "0123456789abcdef" for c in sha)
    ):
        bad("weights.sha256", "must be 64 lowercase hex digits or null")
        ok = False
    size = raw.get("size")
    if size is not None and (not _is_int(size) or size <= 0):
        bad("weights.size", "must be a positive integer (bytes) or null")
        ok = False
    filename = raw.get("filename")
    if filename is not None and (
        not isinstance(filename, str) or not filename or "/" in filename or filename in (".", "..")
    ):
        bad("weights.filename", "must be a plain file name (no '/') or null")
        ok = False
    kind = raw.get("kind", "file")
    if not isinstance(kind, str) or kind not in WEIGHT_KINDS:
        bad("weights.kind", f"{quote(kind)} is not one of {', '.join(WEIGHT_KINDS)}")
        ok = False
    if not ok:
        return None
    return Weights(
        urls=tuple(urls),
        mirrors=tuple(mirrors),
        sha256=sha,
        size=size,
        filename=filename,
        kind=kind,
    )


def is_baseline(row: Row) -> bool:
    """A reference row, not one of the zoo's papers: flagged `baseline` (mmdet's curated Mask
    R-CNN R-50 / Swin rows) or from mmdet's model index (`vzoo list --source mmdet`)."""
    return row.baseline or row.source == mmdet_index.SOURCE
