"""`vzoo registry pin`: write a downloaded checkpoint's sha256 and size into the user's overlay.

The pin goes into `$VZOO_HOME/registry.yaml` (or `--registry FILE`), never into the installed
package: a row defined in that file gets its `weights:` block edited; a row defined elsewhere
(the packaged registry, a plugin) gets a line in the file's `pins:` mapping, which the loader lays
over the row. Files are edited as text, so comments, key order and quoting elsewhere stay as they
are; the result is validated by loading it before it replaces the file. Only a cached file that
is hashed again and passes every check now gets pinned.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import yaml

from vzoo import settings
from vzoo.core.errors import RegistryError, UserInputError, VzooError
from vzoo.core.files import open_sibling_temp, write_text_atomic
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


_PINS_KEY = re.compile(r"^pins:\s*(#.*)?$")


def pins_text(text: str, row_id: str, sha256: str, size: int) -> str:
    """`text` with `pins: {row_id: {sha256, size}}` set (the line replaced, or added)."""
    entry = f"  {row_id}: {{sha256: {sha256}, size: {size}}}\n"
    lines = text.splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    start = next((i for i, line in enumerate(lines) if _PINS_KEY.match(line.rstrip("\n"))), None)
    if start is None:
        return "".join(lines) + "pins:\n" + entry
    mine = re.compile(rf"^\s+['\"]?{re.escape(row_id)}['\"]?:")
    for i in range(start + 1, len(lines)):
        line = lines[i]
        if line.strip() and not line.startswith((" ", "#")):
            break  # the next top-level key
        if mine.match(line):
            lines[i] = entry
            return "".join(lines)
    lines.insert(start + 1, entry)
    return "".join(lines)


def pin_overlay(
    path: Path, row_id: str, pinned: str | None, sha256: str, size: int, *, force: bool
) -> bool:
    """Pin a row defined in another file through `path`'s `pins:`; False if already so pinned."""
    if pinned is not None and pinned != sha256 and not force:
        raise VzooError(
            f"{row_id}: the registry pins sha256 {pinned} but the cached file has {sha256}; "
            "re-pin with --force only if the upstream file changed on purpose"
        )
    old = path.read_text(encoding="utf-8") if path.is_file() else None
    header = "# vzoo registry overlay: your rows and pins, laid over the packaged registry\n"
    new = pins_text(old if old is not None else header, row_id, sha256, size)
    if new == old:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(path, new)
    try:
        row = load_registry(overlays=[path]).get(row_id)
        if row.weights is None or (row.weights.sha256, row.weights.size) != (sha256, size):
            raise VzooError(f"{row_id}: editing {path} did not pin the row (unusual layout?)")
    except (RegistryError, VzooError):
        if old is None:
            path.unlink(missing_ok=True)
        else:
            write_text_atomic(path, old)  # the file as it was: a pin never breaks the registry
        raise
    return True


def pin_cached(row_id: str, registry: Path | None = None, *, force: bool = False) -> str:
    """Pin the sha256/size of the row's cached file (hashed and checked again first) in the
    user's overlay, `$VZOO_HOME/registry.yaml`, or in `registry`; returns a one-line summary."""
    from vzoo.hub.cache import CheckpointCache
    from vzoo.hub.verify import verify_entry

    path = Path(registry) if registry is not None else settings.user_registry_path()
    loaded = load_registry(overlays=[path] if path.is_file() else [])
    row = loaded.get(row_id)  # unknown id: exit 2 with the closest ids
    if row.weights is None:  # the row is the problem, not the cache
        raise UserInputError(
            f"{row_id}: the row lists no weights in {loaded.source(row_id)} (weights: null), so "
            "there is no checkpoint to pin; add its `weights:` URLs first"
        )
    cache = CheckpointCache()
    entry = cache.get(row_id)
    if entry is None:
        raise VzooError(
            f"{row_id}: nothing to pin, the checkpoint is not in the cache; run "
            f"`vzoo download {row_id}` first"
        )
    # A pin vouches for a file from now on: only one that still passes every check (its
    # recorded sha256, the host's digest, its zip CRC-32s or its checkpoint structure) gets one.
    verdict = verify_entry(cache, entry, None)
    if not verdict.ok:
        raise VzooError(f"not pinned: {verdict.line}")
    defined_here = path.is_file() and loaded.source(row_id).resolve() == path.resolve()
    if defined_here:
        changed = pin_registry(path, row_id, entry.sha256, entry.size, force=force)
    else:
        changed = pin_overlay(
            path, row_id, row.weights.sha256, entry.sha256, entry.size, force=force
        )
    if not changed:
        return f"{row_id}: already pinned in {path} (sha256 {entry.sha256}, {entry.size} bytes)"
    return f"{row_id}: pinned sha256 {entry.sha256} and size {entry.size} in {path}"
