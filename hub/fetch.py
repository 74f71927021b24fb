"""From a registry row to a verified checkpoint in the cache: sources, locking, verification.

A download lands in `partial/<row>.incomplete`; it is renamed into `blobs/<sha256>` only after its
sha256 matched the registry (or, for a row not pinned yet, after the transfer completed and its
sha256 was recorded). A mismatch deletes the file: vzoo never leaves a bad checkpoint behind.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlsplit

from filelock import BaseFileLock, Timeout

from vzoo.core.atomic import write_text_atomic
from vzoo.core.errors import UserInputError
from vzoo.core.registry import Row
from vzoo.hub.cache import CacheEntry, CheckpointCache, now_iso, sha256_file
from vzoo.hub.errors import ChecksumMismatchError, DownloadError, HostPageError, OfflineError
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
from vzoo.hub.mirrors import fetch_hf_mirror, parse_hf_url
from vzoo.hub.progress import NullProgress, ProgressReporter, default_progress
from vzoo.hub.transfer import HttpClient, RetryPolicy

PREFER_CHOICES = ("original", "mirror")


def offline_from_env() -> bool:
    return os.environ.get("VZOO_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


def _stderr(message: str) -> None:
    print(f"vzoo: {message}", file=sys.stderr)


@dataclass
class FetchResult:
    row_id: str
    path: Path
    entry: CacheEntry
    status: str  # "cached" | "downloaded"
    verified: bool  # checked against a sha256 pinned in the registry
    extras: list[Path] = field(default_factory=list)


class Downloader:
    """Fetches rows' checkpoints into a `CheckpointCache`.

    Everything a test needs to vary is a constructor parameter (cache root, host endpoints,
    retry policy, timeout); the defaults read the vzoo home and `VZOO_*_ENDPOINT`.
    """

    def __init__(
        self,
        cache: CheckpointCache | None = None,
        *,
        endpoints: Endpoints | None = None,
        retry: RetryPolicy | None = None,
        timeout: float = 60.0,
        progress: ProgressReporter | None = None,
        notify: Callable[[str], None] = _stderr,
        lock_timeout: float = -1,
    ) -> None:
        self.cache = cache or CheckpointCache()
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
            return FetchResult(
                row.id, self.cache.blob_path(entry.sha256), entry, "cached", pinned is not None
            )
        if pinned is not None and self.cache.blob_path(pinned).is_file():
            # Another row (or an index lost to a crash) already holds this exact file.
            blob = self.cache.blob_path(pinned)
            entry = CacheEntry(
                row_id=row.id, sha256=pinned, size=blob.stat().st_size, url=row.weights.urls[0],
                filename=row.weights.filename or _url_filename(row.weights.urls[0]),
                source="original", time=now_iso(), pinned=True,
            )  # fmt: skip
            self.cache.record(entry)
            return FetchResult(row.id, blob, entry, "cached", True)
        return None

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
        partial = self.cache.partial_path(row.id)
        self._match_partial(partial, url)
        label = f"{row.id} ({filename or _url_filename(url)})"
        transfer = self.http.download(
            target, partial, progress=self.progress, label=label,
            expected_size=row.weights.size, notify=self.notify, origin=url,
        )  # fmt: skip
        size = transfer.size
        filename = filename or transfer.filename or _url_filename(url)
        actual = sha256_file(partial)
        pinned = row.weights.sha256
        if pinned is not None and actual != pinned:
            partial.unlink(missing_ok=True)
            self._clear_partial_meta(partial)
            raise ChecksumMismatchError(
                f"{host_label(url)}: {url}", pinned, actual,
                "the download was deleted; the host may serve a different file now (try "
                "--prefer mirror, or re-pin with `vzoo registry pin` if the change is intended)",
            )  # fmt: skip
        if row.weights.size is not None and size != row.weights.size:
            partial.unlink(missing_ok=True)
            self._clear_partial_meta(partial)
            raise DownloadError(f"{url}: got {size} bytes, the registry expects {row.weights.size}")
        blob = self.cache.adopt(partial, actual)
        self._clear_partial_meta(partial)
        entry = CacheEntry(
            row_id=row.id, sha256=actual, size=size, url=url, filename=filename,
            source="original", time=now_iso(), pinned=pinned is not None,
        )  # fmt: skip
        self.cache.record(entry)
        if pinned is None:
            self.notify(
                f"{row.id}: the registry has no sha256 for this checkpoint yet; recorded "
                f"sha256 {actual} and size {size} in the cache (run `vzoo registry pin {row.id}` "
                "to write them into registry.yaml)"
            )
        return FetchResult(row.id, blob, entry, "downloaded", pinned is not None, extras)

    def _adopt_external(self, row: Row, path: Path, source: str) -> FetchResult:
        """Verify a file fetched by another tool (the HF cache) and copy it into the blob store."""
        assert row.weights is not None
        actual = sha256_file(path)
        pinned = row.weights.sha256
        if pinned is not None and actual != pinned:
            raise ChecksumMismatchError(f"mirror {source} ({path})", pinned, actual)
        blob = self.cache.adopt_copy(path.resolve(), actual)
        entry = CacheEntry(
            row_id=row.id, sha256=actual, size=blob.stat().st_size, url=source,
            filename=row.weights.filename or path.name, source="mirror", time=now_iso(),
            pinned=pinned is not None,
        )  # fmt: skip
        self.cache.record(entry)
        if pinned is None:
            self.notify(
                f"{row.id}: recorded sha256 {actual} of the mirror copy (not pinned in the "
                f"registry; run `vzoo registry pin {row.id}`)"
            )
        return FetchResult(row.id, blob, entry, "downloaded", pinned is not None)

    def _match_partial(self, partial: Path, url: str) -> None:
        """Resume only bytes that came from the same URL; anything else starts over."""
        meta = partial.with_suffix(".json")
        try:
            same = json.loads(meta.read_text(encoding="utf-8")).get("url") == url
        except (OSError, ValueError):
            same = False
        if not same:
            partial.unlink(missing_ok=True)
            write_text_atomic(meta, json.dumps({"url": url}) + "\n")

    @staticmethod
    def _clear_partial_meta(partial: Path) -> None:
        partial.with_suffix(".json").unlink(missing_ok=True)

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
            tmp = out_dir / f".{safe}.incomplete"
            out_dir.mkdir(parents=True, exist_ok=True)
            tmp.unlink(missing_ok=True)
            target = self._resolve_drive_id(url, url)
            self.http.download(
                target, tmp, progress=self.progress, label=f"{row.id}: {safe}", origin=url
            )
            os.replace(tmp, out_dir / safe)
            saved.append(out_dir / safe)
        return saved


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

    Shows a progress bar while downloading when stderr is a terminal.
    """
    if downloader is not None:
        return downloader.fetch(row, prefer=prefer, offline=offline).path
    progress = default_progress()
    try:
        return Downloader(progress=progress).fetch(row, prefer=prefer, offline=offline).path
    finally:
        progress.close()
