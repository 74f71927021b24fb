"""Loading a checkpoint file safely.

`torch.load(weights_only=True)` first. Checkpoints saved by mmengine/mmdet training carry objects
in their `meta` (numpy arrays, ConfigDict, ...) that only a full unpickle restores, and a full
unpickle can run arbitrary code; vzoo allows it only for a file whose sha256 matches the value
pinned in the registry, i.e. a file somebody checked.
"""

from __future__ import annotations

import pickle
import re
import zipfile
from pathlib import Path
from typing import Any

from vzoo.core.errors import UserInputError, VzooError
from vzoo.hub.cache import CheckpointCache, sha256_file
from vzoo.hub.errors import ChecksumMismatchError, UnsafeCheckpointError

_UNSUPPORTED_GLOBAL = re.compile(r"Unsupported global: GLOBAL ([\w.]+)")


class MissingObject(dict):  # type: ignore[type-arg]
    """Stands in for a pickled object whose class is not importable here (e.g. mmcv 1.x's
    ConfigDict in an mmdet-2 checkpoint's `meta`): the tensors still load, the metadata is kept
    as plain data. A dict subclass, since most such objects pickle their items into it."""

    missing = "?"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(**{k: v for k, v in kwargs.items() if isinstance(k, str)})
        self.args = args
        self.items_list: list[Any] = []

    def __setstate__(self, state: Any) -> None:
        self.state = state

    def append(self, item: Any) -> None:
        self.items_list.append(item)

    def extend(self, items: Any) -> None:
        self.items_list.extend(items)

    def __repr__(self) -> str:
        return f"<missing {self.missing}>"


class _LenientUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        try:
            return super().find_class(module, name)
        except (ImportError, AttributeError):
            return type(name, (MissingObject,), {"missing": f"{module}.{name}"})


class _LenientPickle:
    """A `pickle_module` for torch.load (used only for pinned, matching files)."""

    __name__ = "vzoo.hub.loading.lenient_pickle"
    Unpickler = _LenientUnpickler

    @staticmethod
    def load(file: Any, **kwargs: Any) -> Any:
        return _LenientUnpickler(file, **kwargs).load()


def _rows_holding(path: Path) -> list[str]:
    """Row ids whose cached blob is `path` (to name the row in messages)."""
    cache = CheckpointCache()
    try:
        if path.resolve().parent != (cache.root / "blobs").resolve():
            return []
    except OSError:
        return []
    return [e.row_id for e in cache.entries() if e.sha256 == path.name]


def load_checkpoint(
    path: str | Path,
    expected_sha256: str | None = None,
    *,
    row_id: str | None = None,
    map_location: str = "cpu",
) -> Any:
    """The deserialized checkpoint (usually a dict); raises a one-line `VzooError` otherwise.

    `expected_sha256` is the registry's pinned value (None when not pinned yet): a file that does
    not match is refused, and only a matching file may be fully unpickled.
    """
    import torch

    path = Path(path)
    if not path.is_file():
        raise UserInputError(f"checkpoint not found: {path}")
    rows = [row_id] if row_id else _rows_holding(path)
    who = f"{', '.join(rows)}: " if rows else ""
    pin_hint = f"vzoo registry pin {rows[0]}" if rows else "vzoo registry pin ROW"
    actual = sha256_file(path) if expected_sha256 is not None else None
    if expected_sha256 is not None and actual != expected_sha256:
        raise ChecksumMismatchError(
            f"{who}{path}", expected_sha256, str(actual),
            "the file is corrupt or not the registry's checkpoint; remove it (`vzoo cache "
            "remove ROW`) and download it again",
        )  # fmt: skip
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as e:
        needs = _UNSUPPORTED_GLOBAL.search(str(e))
        if needs is None:
            raise _corrupt(
                path, who, expected_sha256, actual, "not a valid checkpoint pickle"
            ) from None
        if expected_sha256 is None:
            raise UnsafeCheckpointError(
                f"{who}{path} needs full unpickling (it holds {needs.group(1)}, not just tensors): "
                "vzoo allows it only for a checkpoint whose sha256 is pinned in the registry; "
                f"expected sha256 none (not pinned), actual {sha256_file(path)}; if you trust "
                f"this file, pin it with `{pin_hint}` and load it again"
            ) from None
        # The bytes are exactly the pinned, reviewed file: a full unpickle is acceptable.
        try:
            return torch.load(
                path, map_location=map_location, weights_only=False, pickle_module=_LenientPickle
            )
        except Exception as full:
            raise _corrupt(path, who, expected_sha256, actual, _short(full)) from None
    except (RuntimeError, ValueError, EOFError, zipfile.BadZipFile, OSError, KeyError) as e:
        raise _corrupt(path, who, expected_sha256, actual, _short(e)) from None


def _corrupt(path: Path, who: str, expected: str | None, actual: str | None, why: str) -> VzooError:
    actual = actual or sha256_file(path)
    shown = expected or "none (not pinned)"
    return VzooError(
        f"{who}{path}: not a readable checkpoint ({why}); expected sha256 {shown}, actual "
        f"{actual}; remove it and download it again (`vzoo cache remove ROW`, `vzoo download ROW`)"
    )


def _short(e: BaseException) -> str:
    lines = str(e).strip().splitlines()
    return f"{type(e).__name__}: {lines[0][:160]}" if lines else type(e).__name__
