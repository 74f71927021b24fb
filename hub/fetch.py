"""From a registry row to a verified checkpoint in the cache: sources, locking, verification.

A download lands in `partial/<row>.incomplete` (with its journal, `hub/partial.py`); it is renamed
into `blobs/<sha256>` only after its checks passed: the registry's pinned sha256, or for a row not
pinned yet what the host publishes (`hub/integrity.py`) and the zip's CRC-32s, and without either
a content that proves itself a whole checkpoint (`hub/formats.py`). A failed check deletes the
file (and a file joined from several transfers is downloaded whole once more): vzoo never leaves a
bad checkpoint behind. A cached pinned file is hashed again before it is called verified.
A hand-downloaded file (`add_file`) passes the same checks.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlsplit

from filelock import BaseFileLock, Timeout

from vzoo import settings
from vzoo.core.errors import UserInputError, VzooError
from vzoo.core.files import sha256_file
from vzoo.core.registry import Row
from vzoo.hub.cache import CacheEntry, CheckpointCache, now_iso
from vzoo.hub.errors import ChecksumMismatchError, DownloadError, HostPageError, OfflineError
from vzoo.hub.formats import LOADABLE, content_problem
from vzoo.hub.hosts import (
    Endpoints,
    drive_confirm_url,
    drive_download_url,
    drive_file_id,
    drive_folder_id,
    drive_folder_url,
    explain_html_page,
    host_kind,
    host_label,
    parse_drive_folder,
    pick_checkpoint,
)
from vzoo.hub.integrity import (
    PINNED,
    HostDigest,
    etag_digest,
    github_digest,
    openmmlab_digest,
)
from vzoo.hub.mirrors import fetch_hf_mirror, parse_hf_url
from vzoo.hub.partial import PartialDownload
from vzoo.hub.progress import NullProgress, ProgressReporter, default_progress
from vzoo.hub.transfer import READ_TIMEOUT, HttpClient, RetryPolicy

PREFER_CHOICES = ("original", "mirror")


def offline_from_env() -> bool:
    """Whether `VZOO_OFFLINE` asks for no network (1, true, yes or on)."""
    return settings.offline()


def _stderr(message: str) -> None:
    print(f"vzoo: {message}", file=sys.stderr)


@dataclass
class FetchResult:
    """What `Downloader.fetch` did for a row: the cached file, its entry, whether it was
    downloaded now and checked against a pinned sha256.
    """

    row_id: str
    path: Path
    entry: CacheEntry
    status: str  # "cached" | "downloaded" | "added"
    verified: bool  # hashed in this call and equal to the sha256 pinned in the registry
    extras: list[Path] = field(default_factory=list)


class Downloader:
    """Fetches rows' checkpoints into a `CheckpointCache`.

    Everything a test needs to vary is a constructor parameter (cache root, host endpoints,
    retry policy, read timeout); the defaults read the vzoo home and `VZOO_*_ENDPOINT`.
    `verify_cached=False` trusts a cached pinned file's recorded sha256 (for callers whose
    loader hashes it anyway); a result is then not `verified`.
    """

    def __init__(
        self,
        cache: CheckpointCache | None = None,
        *,
        endpoints: Endpoints | None = None,
        retry: RetryPolicy | None = None,
        timeout: float = READ_TIMEOUT,
        progress: ProgressReporter | None = None,
        notify: Callable[[str], None] = _stderr,
        lock_timeout: float = -1,
        verify_cached: bool = True,
    ) -> None:
        self.cache = cache or CheckpointCache()
        self.verify_cached = verify_cached
        self.endpoints = endpoints or Endpoints.from_env()
        self.http = HttpClient(timeout=timeout, retry=retry)
        self.progress = progress or NullProgress()
        self.notify = notify
        self.lock_timeout = lock_timeout

    # -- public --
    def fetch(
        self,
        row: Row,
        *,
        prefer: str = "original",
        offline: bool | None = None,
        with_logs: bool = False,
    ) -> FetchResult:
        """The row's checkpoint in the cache: found there, or downloaded (original URLs or
        mirrors first, by `prefer`), verified and renamed into place; `offline`: the cache only;
        `with_logs`: also a Drive folder's logs.
        """
        with cache_write_errors(self.cache, row.id):
            self.cache.check_usable()
            return self._fetch(row, prefer=prefer, offline=offline, with_logs=with_logs)

    def add_file(self, row: Row, source: Path) -> FetchResult:
        """A hand-downloaded file for `row`, copied into the cache after the checks a download
        passes (the pin, what the host publishes, a loadable checkpoint)."""
        if row.weights is None:
            raise UserInputError(f"{row.id}: the registry lists no weights for this row")
        if not source.is_file():
            raise UserInputError(f"{source}: no such file; give the downloaded checkpoint")
        with cache_write_errors(self.cache, row.id):
            self.cache.check_usable()
            lock = self.cache.row_lock(row.id, timeout=self.lock_timeout)
            with lock:
                return self._add_file(row, source)

    def _fetch(
        self, row: Row, *, prefer: str, offline: bool | None, with_logs: bool
    ) -> FetchResult:
        if prefer not in PREFER_CHOICES:
            raise UserInputError(
                f"--prefer must be one of {', '.join(PREFER_CHOICES)}, not '{prefer}'"
            )
        if row.weights is None:
            raise UserInputError(f"{row.id}: the registry lists no weights for this row")
        offline = offline_from_env() if offline is None else (offline or offline_from_env())

        with_logs = with_logs and row.weights.kind == "drive-folder"
        hit = self._cached(row)
        if hit is not None and (offline or not with_logs):
            return hit
        if offline:
            found = self._from_local_mirror(row)
            if found is not None:
                return found
            raise OfflineError(
                f"{row.id}: checkpoint not in the cache and offline mode is on (--offline or "
                f"VZOO_OFFLINE=1); run `vzoo download {row.id}` with network access first"
            )
        lock = self.cache.row_lock(row.id, timeout=self.lock_timeout)
        if not _try_acquire(lock):
            self.notify(f"{row.id}: another vzoo process is downloading this checkpoint; waiting")
            lock.acquire()
        try:
            hit = self._cached(row)  # the other process may have finished it meanwhile
            if hit is not None and not with_logs:
                return hit
            return self._download(row, prefer=prefer, with_logs=with_logs, have=hit)
        finally:
            lock.release()

    # -- cache hits --
    def _cached(self, row: Row) -> FetchResult | None:
        assert row.weights is not None
        pinned = row.weights.sha256
        entry = self.cache.get(row.id)
        if entry is not None and (pinned is None or entry.sha256 == pinned):
            blob = self.cache.blob_path(entry.sha256)
            if pinned is None or not self.verify_cached:
                return FetchResult(row.id, blob, entry, "cached", False)
            if self._blob_holds(row.id, blob, pinned):
                return FetchResult(row.id, blob, entry, "cached", True)
            return None
        if pinned is not None and self.cache.blob_path(pinned).is_file():
            # Another row (or an index lost to a crash) already holds this exact file.
            blob = self.cache.blob_path(pinned)
            if not self._blob_holds(row.id, blob, pinned):
                return None
            entry = CacheEntry(
                row_id=row.id, sha256=pinned, size=blob.stat().st_size, url=row.weights.urls[0],
                filename=row.weights.filename or _url_filename(row.weights.urls[0]),
                source="original", time=now_iso(), pinned=True,
            )  # fmt: skip
            self.cache.record(entry)
            return FetchResult(row.id, blob, entry, "cached", True)
        return None

    def _blob_holds(self, row_id: str, blob: Path, pinned: str) -> bool:
        """Hash a cached pinned file; one that is not what its name says is removed."""
        actual = sha256_file(blob)
        if actual == pinned:
            return True
        self.cache.drop_blob(pinned)
        self.notify(
            f"{row_id}: the cached file {blob} is not the pinned checkpoint (sha256 {actual}); "
            "removed, downloading it again"
        )
        return False

    def _from_local_mirror(self, row: Row) -> FetchResult | None:
        """Offline: a mirror already in the Hugging Face cache counts as local."""
        assert row.weights is not None
        for mirror in row.weights.mirrors:
            if host_kind(mirror) != "hf":
                continue
            try:
                path = fetch_hf_mirror(parse_hf_url(mirror), local_only=True)
            except DownloadError:
                continue
            return self._adopt_external(row, path, mirror)
        return None

    # -- downloading --
    def _download(
        self, row: Row, *, prefer: str, with_logs: bool, have: FetchResult | None
    ) -> FetchResult:
        assert row.weights is not None
        originals = list(row.weights.urls)
        mirrors = list(row.weights.mirrors)
        sources = mirrors + originals if prefer == "mirror" else originals + mirrors
        failures: list[Exception] = []
        for source in sources:
            try:
                if host_kind(source) == "hf":
                    if have is not None:
                        return have  # logs live beside the original Drive folder only
                    path = fetch_hf_mirror(parse_hf_url(source), local_only=False)
                    return self._adopt_external(row, path, source)
                return self._download_original(row, source, with_logs=with_logs, have=have)
            except (DownloadError, ChecksumMismatchError) as e:
                failures.append(e)
                if len(sources) > 1:
                    self.notify(f"{row.id}: {e}")
        if len(failures) == 1:  # keep the type (quota page, checksum) for callers
            only = failures[0]
            only.args = (f"{row.id}: {only}",)
            raise only
        joined = " | ".join(str(e) for e in failures)
        raise DownloadError(f"{row.id}: all {len(sources)} sources failed: {joined}")

    def _download_original(
        self, row: Row, url: str, *, with_logs: bool, have: FetchResult | None
    ) -> FetchResult:
        assert row.weights is not None
        extras: list[Path] = []
        filename = row.weights.filename
        if row.weights.kind == "drive-folder":
            target, name, others = self._resolve_drive_folder(url, row.weights.filename)
            filename = name
            if with_logs:
                extras = self._fetch_extras(row, others)
            if have is not None:
                return FetchResult(
                    have.row_id, have.path, have.entry, have.status, have.verified, extras
                )
        else:
            target = self._resolve_file(url)
        label = f"{row.id} ({filename or _url_filename(url)})"
        for whole in (False, True):
            partial = PartialDownload.resume(self.cache.partial_path(row.id), url)
            if partial.discarded:
                self.notify(
                    f"{row.id}: dropped the partial download {partial.path} "
                    f"({partial.discarded}); starting over"
                )
            transfer = self.http.download(
                target, partial, progress=self.progress, label=label,
                expected_size=row.weights.size, notify=self.notify, origin=url,
            )  # fmt: skip
            filename = filename or transfer.filename or _url_filename(url)
            try:
                checks, digest = self._verify(
                    row, url, filename, partial.path, transfer.sha256, transfer.size
                )
            except (ChecksumMismatchError, DownloadError) as e:
                partial.discard()  # a file that failed a check never stays, not even as partial
                if transfer.resumed and not whole:
                    self.notify(
                        f"{row.id}: {e}; the file joined bytes of several transfers, so it is "
                        "downloaded whole once more"
                    )
                    continue
                raise
            if transfer.resumed and not transfer.validated and not whole and _only_loadable(checks):
                # Joined without an ETag/Last-Modified and vouched for by no digest or CRC: a
                # legacy or safetensors file spliced from two versions can still load.
                partial.discard()
                self.notify(
                    f"{row.id}: the file joined bytes of several transfers and the host sends no "
                    "validator (ETag/Last-Modified) to prove they are one version; it is "
                    "downloaded whole once more"
                )
                continue
            break
        blob = self.cache.adopt(partial.path, transfer.sha256)
        partial.journal.unlink(missing_ok=True)
        pinned = row.weights.sha256
        entry = CacheEntry(
            row_id=row.id, sha256=transfer.sha256, size=transfer.size, url=url,
            filename=filename, source="original", time=now_iso(), pinned=pinned is not None,
            host_sha256=digest.sha256 if digest else None,
            host_check=digest.check if digest else None,
        )  # fmt: skip
        self.cache.record(entry)
        if pinned is None:
            self._recorded_note(row.id, transfer.sha256, transfer.size, checks)
        return FetchResult(row.id, blob, entry, "downloaded", pinned is not None, extras)

    def _verify(
        self, row: Row, url: str, filename: str, path: Path, actual: str, size: int
    ) -> tuple[list[str], HostDigest | None]:
        """The checks a finished download passed (raises on the first it fails).

        A pinned row: its sha256 (and size). Otherwise what the host publishes (an OpenMMLab
        name, a GitHub release digest, a Hugging Face ETag) and the zip's CRC-32s.
        """
        assert row.weights is not None
        pinned = row.weights.sha256
        if pinned is not None and actual != pinned:
            raise ChecksumMismatchError(
                f"{host_label(url)}: {url}", pinned, actual,
                "the download was deleted; the host may serve a different file now (try "
                "--prefer mirror, or re-pin with `vzoo registry pin` if the change is intended)",
            )  # fmt: skip
        if row.weights.size is not None and size != row.weights.size:
            raise DownloadError(f"{url}: got {size} bytes, the registry expects {row.weights.size}")
        if pinned is not None:
            return [PINNED], None
        digest = openmmlab_digest(url, filename)
        if digest is None and host_kind(url) == "github" and not offline_from_env():
            digest, note = github_digest(url, self.endpoints, self.http)
            if note:
                self.notify(f"{row.id}: {note}")
        if digest is not None and not digest.matches(actual):
            raise ChecksumMismatchError(
                f"{host_label(url)}: {url}", digest.shown, actual,
                f"{digest.where} {digest.shown} for this file; the download was deleted",
            )  # fmt: skip
        checks = [digest.check] if digest is not None else []
        problem = content_problem(path, filename, checks)
        if problem is not None:
            raise DownloadError(
                f"{host_label(url)}: {url}: {problem} (an error page, a cut body, or bytes of "
                "two versions of the file); the download was deleted, nothing was cached"
            )
        return checks, digest

    def _recorded_note(self, row_id: str, sha256: str, size: int, checks: list[str]) -> None:
        checked = f"checked: {', '.join(checks)}"
        self.notify(
            f"{row_id}: the registry has no sha256 for this checkpoint yet; recorded sha256 "
            f"{sha256} and size {size} in the cache ({checked}; run `vzoo registry pin {row_id}` "
            "to write them into registry.yaml)"
        )

    def _adopt_external(self, row: Row, path: Path, source: str) -> FetchResult:
        """Verify a file fetched by another tool (the HF cache) and copy it into the blob store."""
        assert row.weights is not None
        actual = sha256_file(path)
        pinned = row.weights.sha256
        if pinned is not None and actual != pinned:
            raise ChecksumMismatchError(f"mirror {source} ({path})", pinned, actual)
        digest = None
        checks = [PINNED]
        if pinned is None:
            # The Hugging Face cache names a blob by its ETag: an LFS file's sha256.
            blob_in_hf = path.resolve()
            digest = etag_digest(blob_in_hf.name)
            if digest is not None and not digest.matches(actual):
                blob_in_hf.unlink(missing_ok=True)  # provably not the file: the next run refetches
                raise ChecksumMismatchError(
                    f"mirror {source} ({path})", digest.shown, actual,
                    f"{digest.where} {digest.shown}; the corrupt copy was deleted from the Hugging "
                    "Face cache",
                )  # fmt: skip
            checks = [digest.check] if digest is not None else []
            problem = content_problem(path, row.weights.filename or path.name, checks)
            if problem is not None:
                raise DownloadError(f"mirror {source} ({path}): {problem}")
        blob = self.cache.adopt_copy(path.resolve(), actual)
        entry = CacheEntry(
            row_id=row.id, sha256=actual, size=blob.stat().st_size, url=source,
            filename=row.weights.filename or path.name, source="mirror", time=now_iso(),
            pinned=pinned is not None, host_sha256=digest.sha256 if digest else None,
            host_check=digest.check if digest else None,
        )  # fmt: skip
        self.cache.record(entry)
        if pinned is None:
            self._recorded_note(row.id, actual, entry.size, checks)
        return FetchResult(row.id, blob, entry, "downloaded", pinned is not None)

    def _add_file(self, row: Row, source: Path) -> FetchResult:
        assert row.weights is not None
        url = row.weights.urls[0]
        filename = row.weights.filename or _url_filename(url)
        # The copy is what gets hashed and checked (the source may change meanwhile).
        copy = self.cache.partial_path(row.id).with_suffix(".adding")
        copy.parent.mkdir(parents=True, exist_ok=True)
        copy.unlink(missing_ok=True)
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
        try:
            src_file = source.open("rb")
        except OSError as e:
            raise UserInputError(
                f"{source}: cannot read it ({e.strerror}); give a readable file"
            ) from None
        try:
            with src_file as src, os.fdopen(os.open(copy, flags, 0o644), "wb") as dst:
                shutil.copyfileobj(src, dst, 4 << 20)
                dst.flush()
                os.fsync(dst.fileno())
            actual, size = sha256_file(copy), copy.stat().st_size
            if not size:
                raise UserInputError(f"{source}: the file is empty, not a checkpoint")
            try:
                checks, digest = self._verify(row, url, filename, copy, actual, size)
            except (ChecksumMismatchError, DownloadError) as e:
                raise VzooError(f"{row.id}: {source} not added: {e}") from None
            blob = self.cache.adopt(copy, actual)
        finally:
            copy.unlink(missing_ok=True)
        pinned = row.weights.sha256
        entry = CacheEntry(
            row_id=row.id, sha256=actual, size=size, url=url, filename=filename, source="added",
            time=now_iso(), pinned=pinned is not None,
            host_sha256=digest.sha256 if digest else None,
            host_check=digest.check if digest else None,
        )  # fmt: skip
        self.cache.record(entry)
        if pinned is None:
            self._recorded_note(row.id, actual, size, checks)
        return FetchResult(row.id, blob, entry, "added", pinned is not None)

    # -- hosts --
    def _resolve_file(self, url: str) -> str:
        """The URL that streams the file's bytes (Drive: through its confirm page)."""
        if host_kind(url) != "drive":
            return self.endpoints.rewrite(url)
        file_id = drive_file_id(url)
        if file_id is None:
            raise DownloadError(
                f"{url}: not a Google Drive file link (expected /file/d/ID or ?id=ID)"
            )
        return self._resolve_drive_id(drive_download_url(self.endpoints, file_id), url)

    def _resolve_drive_id(self, uc_url: str, published: str) -> str:
        page, page_url, is_html = self.http.probe(uc_url, origin=published)
        if not is_html:
            return page_url  # no warning page: the file streams from here
        confirm = drive_confirm_url(page, page_url)
        if confirm is None:
            raise HostPageError(explain_html_page(published, page))
        return confirm

    def _resolve_drive_folder(
        self, url: str, filename: str | None
    ) -> tuple[str, str, list[tuple[str, str]]]:
        """(download URL of the checkpoint, its name, [(name, download URL)] of the other files)."""
        folder = drive_folder_id(url)
        if folder is None:
            raise DownloadError(
                f"{url}: not a Google Drive folder link (expected /drive/folders/ID)"
            )
        page, _, is_html = self.http.probe(drive_folder_url(self.endpoints, folder), origin=url)
        entries = parse_drive_folder(page) if is_html else []
        if not entries:
            why = f": {explain_html_page(url, page)}" if is_html else ""
            raise DownloadError(
                f"Google Drive folder {url}: no files listed (the folder is private, empty, or "
                f"the page format changed){why}"
            )
        chosen = pick_checkpoint(entries, filename)
        if chosen is None:
            names = ", ".join(e.name for e in entries if not e.is_folder) or "none"
            want = f"'{filename}'" if filename else "exactly one checkpoint (.pth/.pt/.ckpt)"
            raise DownloadError(
                f"Google Drive folder {url}: expected {want}, found files: {names}; set "
                "`weights.filename` in the registry row"
            )
        others = [
            (e.name, drive_download_url(self.endpoints, e.id))
            for e in entries
            if not e.is_folder and e.id != chosen.id
        ]
        target = self._resolve_drive_id(drive_download_url(self.endpoints, chosen.id), url)
        return target, chosen.name, others

    def _fetch_extras(self, row: Row, files: list[tuple[str, str]]) -> list[Path]:
        """Logs and configs beside a Drive-folder checkpoint (small, so no resume needed)."""
        out_dir = self.cache.extras_dir(row.id)
        saved = []
        for name, url in files:
            safe = Path(name).name
            if not safe or safe.startswith("."):
                continue
            out_dir.mkdir(parents=True, exist_ok=True)
            tmp = PartialDownload(out_dir / f".{safe}.incomplete", url)
            tmp.restart()
            target = self._resolve_drive_id(url, url)
            self.http.download(
                target, tmp, progress=self.progress, label=f"{row.id}: {safe}", origin=url,
                binary=False,
            )  # fmt: skip
            os.replace(tmp.path, out_dir / safe)
            tmp.journal.unlink(missing_ok=True)
            saved.append(out_dir / safe)
        return saved


def result_line(res: FetchResult) -> str:
    """`row<TAB>path<TAB>(status, size, what vouches for it)`: what `download`/`cache add` print."""
    check = "sha256 verified" if res.verified else (
        "sha256 pinned, not re-hashed" if res.entry.pinned and res.status == "cached"
        else "sha256 recorded, not pinned"
    )  # fmt: skip
    extra = f", {len(res.extras)} extra file(s)" if res.extras else ""
    return f"{res.row_id}\t{res.path}\t({res.status}, {res.entry.size} bytes, {check}{extra})"


# A cache that cannot be written: the disk's fault (exit 1) or where the cache is (exit 2).
_DISK_FULL = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}
_CACHE_UNUSABLE = {errno.EROFS, errno.EACCES, errno.EPERM, errno.EISDIR, errno.ENOTDIR, errno.ELOOP}


@contextlib.contextmanager
def cache_write_errors(cache: CheckpointCache, row_id: str) -> Iterator[None]:
    """One line instead of an internal error when the cache's disk refuses a write."""
    try:
        yield
    except OSError as e:
        if e.errno in _DISK_FULL:
            where = f" ({e.filename})" if e.filename else ""
            raise VzooError(
                f"{row_id}: cannot write the checkpoint cache {cache.root}{where}: "
                f"{os.strerror(e.errno)}; free space (or raise the file size limit, "
                "`ulimit -f`), or set VZOO_HOME to another disk; nothing was cached"
            ) from None
        if e.errno in _CACHE_UNUSABLE:
            what = e.filename2 or e.filename or cache.root
            raise UserInputError(
                f"{row_id}: the checkpoint cache cannot be written: {what}: "
                f"{os.strerror(e.errno)}; make {cache.root} a writable folder (move aside what "
                "is in the way) or set VZOO_HOME to one"
            ) from None
        raise


def _only_loadable(checks: list[str]) -> bool:
    """Whether nothing but the content's structure vouches for a file (no pin, digest, CRC)."""
    return all(c == LOADABLE for c in checks)


def _try_acquire(lock: BaseFileLock) -> bool:
    try:
        lock.acquire(timeout=0)
        return True
    except Timeout:
        return False


def _url_filename(url: str) -> str:
    if url.startswith("hf://"):
        return url.rsplit("/", 1)[-1]
    parts = [p for p in urlsplit(url).path.split("/") if p]
    kind = host_kind(url)
    if kind == "drive" or not parts:
        return "checkpoint.pth"
    name = unquote(parts[-1])
    if kind == "tsinghua":  # /f/<token>/?dl=1: the token says nothing about the file
        return "checkpoint.pth"
    return name


def fetch_checkpoint(
    row: Row,
    *,
    offline: bool | None = None,
    prefer: str = "original",
    downloader: Downloader | None = None,
) -> Path:
    """The verified local checkpoint of `row`, downloading it if needed (the eval/flops API).

    Shows a progress bar while downloading when stderr is a terminal. A cached pinned file is not
    hashed here: `load_checkpoint` hashes it against the pin anyway.
    """
    if downloader is not None:
        return downloader.fetch(row, prefer=prefer, offline=offline).path
    progress = default_progress()
    try:
        fetcher = Downloader(progress=progress, verify_cached=False)
        return fetcher.fetch(row, prefer=prefer, offline=offline).path
    finally:
        progress.close()
