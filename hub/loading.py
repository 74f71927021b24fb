"""Loading a checkpoint file without ever running code from it.

A checkpoint is a pickle, and a pickle can call any importable function. vzoo never lets it:
`torch.load(weights_only=True)` first (torch's own allowlist: tensors, storages, plain
containers); a file that holds anything else (an mmdet-2 checkpoint's `meta` with numpy arrays,
mmcv 1.x `ConfigDict`, a training `Namespace`, or a malicious `os.system`) is read again with
`InertUnpickler`, which rebuilds tensors, numpy arrays and dtypes and plain containers, and turns
every other global into an `InertObject`: a dict that records the class name, its arguments and
its state, and never imports or calls what the pickle names. A pinned sha256 says the file is the
one somebody checked, not that it is harmless, so the same rules hold for pinned files.
"""

from __future__ import annotations

import _compat_pickle
import collections
import copyreg
import datetime
import functools
import pickle
import zipfile
from pathlib import Path
from typing import Any, ClassVar

from vzoo.core.errors import UserInputError, VzooError
from vzoo.core.files import sha256_file
from vzoo.hub.cache import CheckpointCache
from vzoo.hub.errors import ChecksumMismatchError, UnsafeCheckpointError


class InertObject(dict):  # type: ignore[type-arg]
    """What an unpickled object of any class outside the allowlist becomes: plain data.

    `pickled_class` names the class the pickle asked for (e.g. 'mmcv.utils.config.ConfigDict');
    `args`/`kwargs` hold its constructor arguments, `state` what `__setstate__` would have
    received, `appended` what list-like classes append. A dict subclass, since dict-like
    classes (ConfigDict, addict.Dict) pickle their items into it.
    """

    pickled_class = "?"

    def __new__(cls, *args: Any, **kwargs: Any) -> InertObject:
        obj = super().__new__(cls)
        obj.args = args
        obj.kwargs = kwargs
        obj.state = None
        obj.appended = []
        return obj

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass  # never dict.update() from pickled arguments: they are kept in `args`

    def __setstate__(self, state: Any) -> None:
        self.state = state

    def append(self, item: Any) -> None:
        """Keep an item a pickle appends to the stand-in object."""
        self.appended.append(item)

    def extend(self, items: Any) -> None:
        """Keep items a pickle appends to the stand-in object."""
        self.appended.extend(items)

    def __repr__(self) -> str:
        return f"<inert {self.pickled_class} {dict.__repr__(self)}>"


def _inert_class(module: str, name: str) -> type[InertObject]:
    return type(name, (InertObject,), {"pickled_class": f"{module}.{name}"})


def _is_inert_class(obj: Any) -> bool:
    return isinstance(obj, type) and issubclass(obj, InertObject)


def _safe_reconstructor(cls: Any, base: Any, state: Any) -> Any:
    """`copyreg._reconstructor` (protocol 0/1 objects), for inert or allowlisted classes only."""
    if _is_inert_class(cls):
        return cls(state) if state is not None else cls()
    if id(cls) in _allowed_ids() and id(base) in _allowed_ids():
        return copyreg._reconstructor(cls, base, state)  # type: ignore[attr-defined]
    raise _Refused(f"copyreg._reconstructor of {cls!r} on {base!r}")


@functools.lru_cache(maxsize=1)
def _allowed_globals() -> dict[str, Any]:
    """Globals a checkpoint may name: torch's weights-only allowlist, numpy arrays, dtypes and
    scalars, and containers. All are constructors of plain data (no file, process or import)."""
    import numpy as np
    import torch._weights_only_unpickler as wo

    allowed: dict[str, Any] = dict(wo._get_allowed_globals())
    multiarray = np._core.multiarray if hasattr(np, "_core") else np.core.multiarray
    for mod in ("numpy.core.multiarray", "numpy._core.multiarray"):
        allowed[f"{mod}._reconstruct"] = multiarray._reconstruct
        allowed[f"{mod}.scalar"] = multiarray.scalar
    allowed["numpy.ndarray"] = np.ndarray
    allowed["numpy.dtype"] = np.dtype
    for name in dir(np.dtypes):
        if name.endswith("DType"):
            allowed[f"numpy.dtypes.{name}"] = getattr(np.dtypes, name)
    for cls in (set, frozenset, complex, bytearray, slice, range, dict, list, tuple):
        allowed[f"builtins.{cls.__name__}"] = cls
    for cls in (collections.OrderedDict, collections.Counter, collections.defaultdict,
                collections.deque):  # fmt: skip
        allowed[f"collections.{cls.__name__}"] = cls
    for cls in (datetime.datetime, datetime.date, datetime.time, datetime.timedelta,
                datetime.timezone):  # fmt: skip
        allowed[f"datetime.{cls.__name__}"] = cls
    allowed["copyreg._reconstructor"] = _safe_reconstructor
    return allowed


@functools.lru_cache(maxsize=1)
def _allowed_ids() -> frozenset[int]:
    # Identity, not equality: a dtype compares equal to strings, a class to nothing else.
    return frozenset(id(v) for v in _allowed_globals().values())


class _Refused(pickle.UnpicklingError):
    """The pickle asked for something no checkpoint needs (calling a non-constructor, ...)."""


_BUILD_BY_DICT = (collections.OrderedDict,)  # state dicts carry `_metadata` in their __dict__


class InertUnpickler(pickle._Unpickler):  # type: ignore[name-defined]
    """The pure-Python unpickler with every opcode that calls or mutates something checked.

    `find_class` never imports: it returns an allowlisted object or a fresh `InertObject`
    subclass. Calls (REDUCE, NEWOBJ, OBJ/INST) are made only on allowlisted objects or inert
    classes; BUILD, APPEND(S), SETITEM(S) and ADDITEMS only on instances of plain types.
    """

    dispatch: ClassVar[dict[int, Any]] = dict(pickle._Unpickler.dispatch)  # type: ignore[attr-defined]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._inert: dict[str, type[InertObject]] = {}

    def find_class(self, module: str, name: str) -> Any:
        """A global the pickle names: allowed ones as themselves, anything else as an inert
        stand-in class (never imported).
        """
        if self.proto < 3 and self.fix_imports:
            if (module, name) in _compat_pickle.NAME_MAPPING:
                module, name = _compat_pickle.NAME_MAPPING[(module, name)]
            elif module in _compat_pickle.IMPORT_MAPPING:
                module = _compat_pickle.IMPORT_MAPPING[module]
        full = f"{module}.{name}"
        found = _allowed_globals().get(full)
        if found is not None:
            return found
        if full not in self._inert:
            self._inert[full] = _inert_class(module, name)
        return self._inert[full]

    def _check_callable(self, func: Any, opcode: str) -> None:
        if not (_is_inert_class(func) or id(func) in _allowed_ids()):
            raise _Refused(f"{opcode} on {_describe(func)}")

    def load_reduce(self) -> None:
        """REDUCE: call a callable only if it is allowed."""
        args = self.stack.pop()
        func = self.stack[-1]
        self._check_callable(func, "a call")
        self.stack[-1] = func(*args)

    def load_newobj(self) -> None:
        """NEWOBJ: create an object only of an allowed or stand-in class."""
        args = self.stack.pop()
        cls = self.stack.pop()
        self._check_callable(cls, "object creation")
        self.append(cls.__new__(cls, *args))

    def load_newobj_ex(self) -> None:
        """NEWOBJ_EX: as NEWOBJ, with keyword arguments."""
        kwargs = self.stack.pop()
        args = self.stack.pop()
        cls = self.stack.pop()
        self._check_callable(cls, "object creation")
        self.append(cls.__new__(cls, *args, **kwargs))

    def _instantiate(self, klass: Any, args: list[Any]) -> None:
        self._check_callable(klass, "object creation")
        super()._instantiate(klass, args)

    def load_build(self) -> None:
        """BUILD: set an object's state only through allowed `__setstate__`s."""
        import torch

        state = self.stack.pop()
        inst = self.stack[-1]
        kind = type(inst)
        if isinstance(inst, (InertObject, torch.Tensor)):
            kind.__setstate__(inst, state)
        elif id(kind) in _allowed_ids() and getattr(kind, "__setstate__", None) is not None:
            kind.__setstate__(inst, state)  # numpy arrays and dtypes (Int64DType, ...)
        elif kind in _BUILD_BY_DICT and isinstance(state, dict):
            inst.__dict__.update({k: v for k, v in state.items() if not _dunder(k)})
        else:
            raise _Refused(f"setting the state of {_describe(inst)}")

    def load_append(self) -> None:
        """APPEND: only to a list or a stand-in object."""
        value = self.stack.pop()
        self._list_target().append(value)

    def load_appends(self) -> None:
        """APPENDS: only to a list or a stand-in object."""
        items = self.pop_mark()
        self._list_target().extend(items)

    def _list_target(self) -> Any:
        target = self.stack[-1]
        if type(target) is not list and not isinstance(target, InertObject):
            raise _Refused(f"appending to {_describe(target)}")
        return target

    def load_setitem(self) -> None:
        """SETITEM: only into a dict or a stand-in object."""
        value = self.stack.pop()
        key = self.stack.pop()
        self._dict_target()[key] = value

    def load_setitems(self) -> None:
        """SETITEMS: only into a dict or a stand-in object."""
        items = self.pop_mark()
        target = self._dict_target()
        for i in range(0, len(items), 2):
            target[items[i]] = items[i + 1]

    def _dict_target(self) -> Any:
        target = self.stack[-1]
        plain = (dict, collections.OrderedDict, collections.Counter, collections.defaultdict)
        if type(target) not in plain and not isinstance(target, InertObject):
            raise _Refused(f"setting items of {_describe(target)}")
        return target

    def load_additems(self) -> None:
        """ADDITEMS: only into a set."""
        items = self.pop_mark()
        target = self.stack[-1]
        if type(target) is not set:
            raise _Refused(f"adding items to {_describe(target)}")
        target.update(items)

    def get_extension(self, code: int) -> None:
        # No process-wide extension cache: always through find_class.
        """EXT1/2/4: a registered extension code, resolved through `find_class`."""
        key = copyreg._inverted_registry.get(code)  # type: ignore[attr-defined]
        if not key:
            raise pickle.UnpicklingError(f"unregistered extension code {code}")
        self.append(self.find_class(*key))

    dispatch[pickle.REDUCE[0]] = load_reduce
    dispatch[pickle.NEWOBJ[0]] = load_newobj
    dispatch[pickle.NEWOBJ_EX[0]] = load_newobj_ex
    dispatch[pickle.BUILD[0]] = load_build
    dispatch[pickle.APPEND[0]] = load_append
    dispatch[pickle.APPENDS[0]] = load_appends
    dispatch[pickle.SETITEM[0]] = load_setitem
    dispatch[pickle.SETITEMS[0]] = load_setitems
    dispatch[pickle.ADDITEMS[0]] = load_additems


def _dunder(key: Any) -> bool:
    return isinstance(key, str) and key.startswith("__") and key.endswith("__")


def _describe(obj: Any) -> str:
    if isinstance(obj, type):
        return f"class {obj.__module__}.{obj.__qualname__}"
    name = getattr(obj, "__qualname__", None)
    if name is not None:
        return f"{getattr(obj, '__module__', '?')}.{name}"
    return f"a {type(obj).__module__}.{type(obj).__qualname__} object"


class _InertPickle:
    """The `pickle_module` handed to torch.load: `Unpickler` and `load`, nothing else."""

    __name__ = "vzoo.hub.loading.inert_pickle"
    Unpickler = InertUnpickler
    UnpicklingError = pickle.UnpicklingError

    @staticmethod
    def load(file: Any, **kwargs: Any) -> Any:
        return InertUnpickler(file, **kwargs).load()


def _rows_holding(path: Path) -> list[str]:
    """Row ids whose cached blob is `path` (to name the row in messages)."""
    cache = CheckpointCache()
    try:
        if path.resolve().parent != (cache.root / "blobs").resolve():
            return []
    except OSError:
        return []
    try:
        return [e.row_id for e in cache.entries() if e.sha256 == path.name]
    except VzooError:
        return []  # a damaged index only costs the row name in the message


def load_checkpoint(
    path: str | Path,
    expected_sha256: str | None = None,
    *,
    row_id: str | None = None,
    map_location: str = "cpu",
    actual_sha256: str | None = None,
) -> Any:
    """The deserialized checkpoint (usually a dict); raises a one-line `VzooError` otherwise.

    `expected_sha256` is the registry's pinned value (None when not pinned yet): a file that does
    not match is refused. `actual_sha256`: the file's sha256 when the caller has just computed
    it (`vzoo eval` records it), so a large file is not hashed twice. Pinned or not, nothing in the
    file is ever called: objects of classes other than tensors, numpy arrays and plain containers
    come back as `InertObject`s.
    """
    import torch

    path = Path(path)
    if not path.is_file():
        raise UserInputError(f"checkpoint not found: {path}")
    rows = [row_id] if row_id else _rows_holding(path)
    who = f"{', '.join(rows)}: " if rows else ""
    actual = actual_sha256
    if actual is None and expected_sha256 is not None:
        actual = sha256_file(path)
    if expected_sha256 is not None and actual != expected_sha256:
        raise ChecksumMismatchError(
            f"{who}{path}", expected_sha256, str(actual),
            "the file is corrupt or not the registry's checkpoint; remove it (`vzoo cache "
            "remove ROW`) and download it again",
        )  # fmt: skip
    _refuse_torchscript(path, who)
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError:
        # An unsupported or blocked global ("... whose module posix is blocked"), or an object
        # torch will not build: read it again with everything outside the allowlist inert.
        pass
    except (RuntimeError, ValueError, EOFError, zipfile.BadZipFile, OSError, KeyError) as e:
        raise _corrupt(path, who, expected_sha256, actual, _short(e)) from None
    return _load_inert(path, who, expected_sha256, actual, map_location)


def _refuse_torchscript(path: Path, who: str) -> None:
    """torch.load hands a TorchScript archive (code, not data) to torch.jit.load."""
    try:
        with zipfile.ZipFile(path) as z:
            scripted = any(n.rsplit("/", 1)[-1] == "constants.pkl" for n in z.namelist())
    except (zipfile.BadZipFile, OSError):
        return  # not a zip: a legacy pickle checkpoint, or corrupt (torch.load says which)
    if scripted:
        raise UnsafeCheckpointError(
            f"{who}{path} is a TorchScript archive (code, not just weights); vzoo does not run "
            "TorchScript: give the checkpoint's state dict instead"
        )


def _load_inert(
    path: Path, who: str, expected: str | None, actual: str | None, map_location: str
) -> Any:
    import torch

    try:
        return torch.load(
            path, map_location=map_location, weights_only=False, pickle_module=_InertPickle
        )
    except _Refused as e:
        raise UnsafeCheckpointError(
            f"{who}{path}: refused: the pickle asks for {e} (a checkpoint needs only tensors, "
            "arrays and plain data; vzoo never runs code from a checkpoint, pinned or not)"
        ) from None
    except Exception as e:  # the file's bytes decide what fails; each is one line
        raise _corrupt(path, who, expected, actual, _short(e)) from None


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
