"""`vzoo registry pin`: write a downloaded checkpoint's sha256 and size into registry.yaml.

The row's `weights:` block is edited as text, so comments, key order and quoting everywhere else
stay as they are; the result is validated by loading it before it replaces the file.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import yaml

from vzoo.core.atomic import open_sibling_temp
from vzoo.core.errors import UserInputError, VzooError
from vzoo.core.registry import load_registry

_ROW_START = re.compile(
    r"^(?P<indent>\s*)-\s+id:\s*(?P<q>['\"]?)(?P<id>[^'\"#\s]+)(?P=q)\s*(#.*)?$"
)
_KEY = re.compile(r"^(?P<indent>\s*)(?P<key>[A-Za-z_][\w-]*):(?P<rest>.*)$")


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _row_span(lines: list[str], row_id: str) -> tuple[int, int, int]:
    """(first line, end line exclusive, field indent) of the row's list item."""
    for i, line in enumerate(lines):
        m = _ROW_START.match(line)
        if m and m.group("id") == row_id:
            dash = len(m.group("indent"))
            field_indent = len(line) - len(line[dash + 1 :].lstrip(" "))
            end = i + 1
            while end < len(lines):
                nxt = lines[end]
                if nxt.strip() and not nxt.lstrip().startswith("#") and _indent(nxt) <= dash:
                    break
                end += 1
            return i, end, field_indent
    raise UserInputError(f"{row_id}: no row with this id in the registry file")


def _value_with_comment(rest: str) -> tuple[str, str]:
    """Split `  value  # comment` into (value, '  # comment') without breaking quoted '#'."""
    m = re.search(r"\s+#", rest)
    if m and rest.count('"', 0, m.start()) % 2 == 0 and rest.count("'", 0, m.start()) % 2 == 0:
        return rest[: m.start()].strip(), rest[m.start() :]
    return rest.strip(), ""


def pin_text(text: str, row_id: str, sha256: str, size: int) -> str:
    """The registry text with the row's `weights.sha256` and `weights.size` set."""
    lines = text.splitlines(keepends=True)
    start, end, field_indent = _row_span(lines, row_id)
    for i in range(start + 1, end):
        line = lines[i]
        m = _KEY.match(line.rstrip("\n")) if _indent(line) == field_indent else None
        if not m or m.group("key") != "weights":
            continue
        value, comment = _value_with_comment(m.group("rest"))
        newline = "\n" if line.endswith("\n") else ""
        if value in ("", "|", ">"):
            return _pin_block(lines, i, end, field_indent, sha256, size)
        if value.startswith("{"):
            data = yaml.safe_load(value)
            if not isinstance(data, dict):
                break
            data["sha256"] = sha256
            data["size"] = size
            flow = yaml.safe_dump(data, default_flow_style=True, sort_keys=False, width=10**6)
            prefix = line[: line.index("weights:") + len("weights:")]
            lines[i] = f"{prefix} {flow.strip()}{comment}{newline}"
            return "".join(lines)
        if value in ("null", "~"):
            raise UserInputError(f"{row_id}: the row has no weights to pin (weights: null)")
        break
    raise UserInputError(f"{row_id}: no `weights:` mapping found in the row")


def _pin_block(
    lines: list[str], key_line: int, row_end: int, field_indent: int, sha256: str, size: int
) -> str:
    end = key_line + 1
    child_indent: int | None = None
    last_content = key_line
    while end < row_end:
        line = lines[end]
        if line.strip() and not line.lstrip().startswith("#"):
            if _indent(line) <= field_indent:
                break
            if child_indent is None:
                child_indent = _indent(line)
            last_content = end
        end += 1
    if child_indent is None:
        raise UserInputError("the row's `weights:` block is empty")
    values = {"sha256": sha256, "size": str(size)}
    for i in range(key_line + 1, last_content + 1):
        m = _KEY.match(lines[i].rstrip("\n"))
        if m and len(m.group("indent")) == child_indent and m.group("key") in values:
            _, comment = _value_with_comment(m.group("rest"))
            newline = "\n" if lines[i].endswith("\n") else ""
            key = m.group("key")
            lines[i] = f"{m.group('indent')}{key}: {values.pop(key)}{comment}{newline}"
    added = [f"{' ' * child_indent}{k}: {v}\n" for k, v in values.items()]
    if added and not lines[last_content].endswith("\n"):
        lines[last_content] += "\n"
    lines[last_content + 1 : last_content + 1] = added
    return "".join(lines)


def pin_registry(path: Path, row_id: str, sha256: str, size: int, *, force: bool = False) -> bool:
    """Pin the row in the registry file at `path`; returns False if it already held these values.

    A different sha256 already pinned is refused unless `force` (that is a changed upstream file).
    """
    registry = load_registry(path)
    row = registry.get(row_id)
    if row.weights is None:
        raise UserInputError(f"{row_id}: the row has no weights to pin")
    if row.weights.sha256 == sha256 and row.weights.size == size:
        return False
    if row.weights.sha256 is not None and row.weights.sha256 != sha256 and not force:
        raise VzooError(
            f"{row_id}: the registry pins sha256 {row.weights.sha256} but the cached file has "
            f"{sha256}; re-pin with --force only if the upstream file changed on purpose"
        )
    text = path.read_text(encoding="utf-8")
    new_text = pin_text(text, row_id, sha256, size)
    # Validate the edited text before it replaces the file: a sibling temp file, loaded for real.
    fd, tmp = open_sibling_temp(path)  # keeps registry.yaml's mode (mkstemp would make it 0600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(new_text)
            f.flush()
            os.fsync(f.fileno())
        edited = load_registry(tmp).get(row_id)
        if edited.weights is None or (edited.weights.sha256, edited.weights.size) != (sha256, size):
            raise VzooError(f"{row_id}: editing {path} did not pin the row (unusual layout?)")
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)
    load_registry(path)  # the file in place loads and validates
    return True


def pin_cached(row_id: str, registry: Path | None = None, *, force: bool = False) -> str:
    """Pin the sha256/size recorded when the row was downloaded; returns a one-line summary."""
    from vzoo.core.registry import default_registry_path
    from vzoo.hub.cache import CheckpointCache
    from vzoo.hub.verify import verify_entry

    path = Path(registry) if registry is not None else default_registry_path()
    row = load_registry(path).get(row_id)  # unknown id: exit 2 with the closest ids
    if row.weights is None:  # the row is the problem, not the cache
        raise UserInputError(
            f"{row_id}: the row lists no weights in {path} (weights: null), so there is no "
            "checkpoint to pin; add its `weights:` URLs first"
        )
    cache = CheckpointCache()
    entry = cache.get(row_id)
    if entry is None:
        raise VzooError(
            f"{row_id}: nothing to pin, the checkpoint is not in the cache; run "
            f"`vzoo download {row_id}` first"
        )
    # A pin vouches for a file from now on: only one that still passes every check (its
    # recorded sha256, the host's digest, its zip CRC-32s) gets one.
    verdict = verify_entry(cache, entry, None)
    if not verdict.ok:
        raise VzooError(f"not pinned: {verdict.line}")
    changed = pin_registry(path, row_id, entry.sha256, entry.size, force=force)
    if not changed:
        return f"{row_id}: already pinned in {path} (sha256 {entry.sha256}, {entry.size} bytes)"
    return f"{row_id}: pinned sha256 {entry.sha256} and size {entry.size} in {path}"
