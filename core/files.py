"""Files vzoo writes and reads back: written whole or not at all, checked writable before any
work, identified by their sha256; and the vzoo folders they go in, created on first use.

Atomic writes: the new content goes to a sibling temporary file that is renamed over the target.
The temporary file is created the way `open(path, "w")` would create the target itself: mode
0o666 minus the umask (the kernel applies it, and any default ACL) for a new file, the existing
file's mode when one is replaced. `tempfile.mkstemp` would give 0o600, and the rename would keep
it: a report written for sharing would be readable by its owner only.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import stat
from pathlib import Path

from vzoo.core.errors import StoreError, UserInputError


def open_sibling_temp(path: str | Path) -> tuple[int, Path]:
    """A new, empty temporary file beside `path`, opened for writing: (fd, temp path).

    Its mode is what the target would get from a plain `open(path, "w")`. The caller writes it,
    then `os.replace(temp, path)`, and unlinks the temp file if anything fails before that.
    """
    path = Path(path)
    try:
        existing_mode: int | None = stat.S_IMODE(os.stat(path).st_mode)
    except FileNotFoundError:
        existing_mode = None
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    for _ in range(100):
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
        try:
            fd = os.open(tmp, flags, 0o666)  # the umask applies here, as for open(path, "w")
        except FileExistsError:
            continue
        if existing_mode is not None:
            try:
                os.fchmod(fd, existing_mode)
            except BaseException:
                os.close(fd)
                tmp.unlink(missing_ok=True)
                raise
        return fd, tmp
    raise FileExistsError(f"could not create a temporary file beside {path}")


def write_bytes_atomic(path: str | Path, data: bytes) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = open_sibling_temp(path)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_text_atomic(path: str | Path, text: str) -> None:
    write_bytes_atomic(path, text.encode("utf-8"))


def check_writable_file(path: str | Path, option: str) -> None:
    """Fail before any work if `path` cannot become a file (a directory, below a file, a
    read-only place): one line naming `option` and the fix. Leaves nothing behind."""
    path = Path(path)
    if path.is_dir():
        raise UserInputError(
            f"{option} {path} is a directory: give a file path, e.g. {path / 'report.md'}"
        )
    _probe(path, path.parent, option)


def check_writable_dir(path: str | Path, what: str) -> None:
    """Fail before any work if `path` cannot be (or become) a directory that files go in."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise UserInputError(f"{what} {path} is a file, not a directory: give a directory path")
    _probe(path, path, what)


def _probe(target: Path, directory: Path, what: str) -> None:
    """Create and remove a file in the nearest existing ancestor of `directory` (the one the
    missing parents would be made in): the real test of permissions, read-only mounts and ACLs,
    where os.access is wrong for root."""
    existing = next(p for p in (directory.absolute(), *directory.absolute().parents) if p.exists())
    if not existing.is_dir():
        raise UserInputError(
            f"{what} {target}: {existing} is a file, not a directory; choose another path"
        )
    try:
        fd, probe = open_sibling_temp(existing / ".vzoo-probe")
    except OSError as e:
        raise UserInputError(
            f"{what} {target}: cannot write in {existing} ({e.strerror}); "
            "choose a writable location"
        ) from None
    os.close(fd)
    os.unlink(probe)


def sha256_file(path: Path, chunk: int = 4 << 20) -> str:
    """The sha256 hex digest of a file, read in `chunk`-byte blocks."""
    h = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def created_home(home: Path) -> Path:
    """`home` (a vzoo folder `settings` names: the cache or the data home), created if missing;
    one that cannot be is bad input naming it and the fix."""
    try:
        home.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise StoreError(
            f"cannot create the vzoo folder {home}: {e.strerror or e}; set VZOO_HOME to a "
            f"writable directory"
        ) from e
    return home
