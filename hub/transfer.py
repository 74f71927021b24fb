"""HTTP(S) streaming into an `.incomplete` file: `Range` resume, retries, HTML sniffing.

stdlib urllib only (no extra dependency). A body shorter than its Content-Length, a dropped
connection, a timeout or a 5xx/429 is retried, resuming from the bytes already on disk; a server
that ignores `Range` (answers 200), a file that changed on the host (`If-Range`, ETag,
Last-Modified) and a misplaced `Content-Range` make the file start over (`hub/partial.py`).
"""

from __future__ import annotations

import http.client
import http.cookiejar
import re
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from vzoo.hub.errors import DownloadError, HostPageError
from vzoo.hub.hosts import explain_html_page, explain_http_status, host_kind, looks_like_html
from vzoo.hub.partial import PartialDownload
from vzoo.hub.progress import ProgressReporter

USER_AGENT = "vzoo-download/0.1 (+https://github.com/vzoo)"
CHUNK = 1 << 20
_RETRY_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})
_CONTENT_RANGE = re.compile(r"bytes\s+(\d+)-(\d+)/(\d+|\*)")
# Transient network failures worth another attempt.
_NETWORK_ERRORS = (
    ConnectionError,
    TimeoutError,
    socket.timeout,
    http.client.IncompleteRead,
    http.client.RemoteDisconnected,
    http.client.BadStatusLine,
)


@dataclass(frozen=True)
class Transfer:
    size: int  # bytes in the finished file
    filename: str | None  # from Content-Disposition, when the server names the file
    sha256: str  # of the finished file, hashed as it was written
    resumed: bool  # the file joins bytes of more than one response


@dataclass(frozen=True)
class RetryPolicy:
    """`attempts` tries per source, sleeping `backoff * 2**k` (capped) between them."""

    attempts: int = 5
    backoff: float = 1.0
    max_backoff: float = 30.0

    def delay(self, attempt: int) -> float:
        return min(self.backoff * (2**attempt), self.max_backoff)


class HttpClient:
    """One cookie jar per client: Drive's legacy confirm flow keys its token on a cookie."""

    def __init__(self, *, timeout: float = 60.0, retry: RetryPolicy | None = None) -> None:
        self.timeout = timeout
        self.retry = retry or RetryPolicy()
        self._opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
        )

    def open(
        self, url: str, headers: dict[str, str] | None = None, *, timeout: float | None = None
    ) -> Any:
        """GET `url` (following redirects); HTTP errors come back as `HTTPError` responses."""
        request = urllib.request.Request(
            url,
            headers={"User-Agent": USER_AGENT, "Accept-Encoding": "identity", **(headers or {})},
        )
        try:
            return self._opener.open(request, timeout=timeout or self.timeout)
        except urllib.error.HTTPError as e:
            return e

    def probe(
        self, url: str, limit: int = 4 << 20, *, origin: str | None = None
    ) -> tuple[str, str, bool]:
        """(text, final URL, is_html) with retries: an HTML page is read whole (up to `limit`),
        anything else only sniffed (its first bytes) and left for `download` to stream.
        `origin` is the published URL that messages name (the host the user knows)."""
        shown = origin or url

        def attempt() -> tuple[str, str, bool]:
            resp = self.open(url)
            with resp:
                status = _status(resp)
                if status >= 400:
                    raise _status_error(shown, status, resp)
                head = resp.read(512)
                if not looks_like_html(head, resp.headers.get("Content-Type")):
                    return "", resp.geturl(), False
                body = head + resp.read(limit)
                return body.decode("utf-8", "replace"), resp.geturl(), True

        return self._with_retries(shown, attempt)

    def _with_retries(self, url: str, attempt: Callable[[], Any]) -> Any:
        last: Exception | None = None
        for k in range(self.retry.attempts):
            if k:
                time.sleep(self.retry.delay(k - 1))
            try:
                return attempt()
            except DownloadError as e:
                if not e.retryable:
                    raise
                last = e
            except (urllib.error.URLError, *_NETWORK_ERRORS) as e:
                last = DownloadError(f"{url}: {_describe(e)}", retryable=True)
        assert last is not None
        raise DownloadError(f"{last} (gave up after {self.retry.attempts} attempts)")

    def download(
        self,
        url: str,
        partial: PartialDownload,
        *,
        progress: ProgressReporter,
        label: str,
        expected_size: int | None = None,
        notify: Callable[[str], None] = lambda _m: None,
        origin: str | None = None,
    ) -> Transfer:
        """Stream `url` into `partial`, resuming the bytes it already vouches for.

        Attempts are counted only while no new byte arrives, so a long download over a flaky
        link keeps going as long as it makes progress. A resume sends `If-Range` with the
        validator of the response that started the file; a host whose file changed answers with
        the whole new file (or a different validator, or a misplaced range): the partial bytes
        are dropped and the download starts over, so old and new bytes never mix.
        """
        shown = origin or url
        failures = 0
        use_range = True  # off for the rest of this run once the server sends misplaced ranges
        last: DownloadError | None = None
        try:
            while True:
                have = partial.size
                try:
                    return self._stream_once(
                        url, shown, partial, progress, label, expected_size, notify, use_range
                    )
                except _MisplacedRange as e:
                    use_range = False
                    last = e
                except DownloadError as e:
                    if not e.retryable:
                        raise
                    last = e
                except (urllib.error.URLError, *_NETWORK_ERRORS) as e:
                    last = DownloadError(f"{shown}: {_describe(e)}", retryable=True)
                now = partial.size
                failures = 0 if now > have else failures + 1
                if failures >= self.retry.attempts:
                    raise DownloadError(
                        f"{last} (gave up after {self.retry.attempts} attempts without progress; "
                        f"{now} bytes kept in {partial.path.name}, the next run resumes from there)"
                    )
                delay = self.retry.delay(max(failures - 1, 0))
                notify(f"{label}: {last}; retrying in {delay:.1f} s from byte {now}")
                time.sleep(delay)
        finally:
            partial.close()

    def _stream_once(
        self,
        url: str,
        shown: str,
        partial: PartialDownload,
        progress: ProgressReporter,
        label: str,
        expected_size: int | None,
        notify: Callable[[str], None],
        use_range: bool,
    ) -> Transfer:
        have = partial.size
        if have and (not use_range or (expected_size is not None and have > expected_size)):
            partial.restart()  # no usable range, or more bytes than the file has: start over
            have = 0
        headers = {}
        if have:
            headers["Range"] = f"bytes={have}-"
            if partial.if_range:
                headers["If-Range"] = partial.if_range
        resp = self.open(url, headers)
        with resp:
            status = _status(resp)
            etag, last_modified = resp.headers.get("ETag"), resp.headers.get("Last-Modified")
            if status == 416 and have:
                total = _content_range_total(resp.headers.get("Content-Range"))
                if total == have and not partial.changed(etag, last_modified):
                    # the previous run already had every byte
                    return Transfer(have, _disposition_filename(resp.headers), partial.sha256(),
                                    partial.resumed)  # fmt: skip
                partial.restart()
                raise DownloadError(
                    f"{shown}: range {have}- not satisfiable; restarting", retryable=True
                )
            if status >= 400:
                raise _status_error(shown, status, resp)
            first = resp.read(512)
            # Mid-file bytes of a resumed body prove nothing; the content type still does.
            sniffed = first if status != 206 else b""
            if looks_like_html(sniffed, resp.headers.get("Content-Type")):
                page = (first + resp.read(256 << 10)).decode("utf-8", "replace")
                raise HostPageError(explain_html_page(shown, page))
            if status == 206:
                value = resp.headers.get("Content-Range")
                start, total = _parse_content_range(value, shown)
                if start != have:
                    partial.restart()
                    raise _MisplacedRange(
                        f"{shown}: asked to resume at byte {have}, the server sent bytes from "
                        f"{start} (Content-Range {value!r}); the partial download was dropped, "
                        "downloading the whole file",
                        retryable=True,
                    )
                if partial.changed(etag, last_modified):
                    partial.restart()
                    raise DownloadError(
                        f"{shown}: the file on the host changed since this download started "
                        "(ETag/Last-Modified differ); the partial download was dropped, starting "
                        "over",
                        retryable=True,
                    )
                partial.resumed = partial.resumed or have > 0
            else:
                if have:
                    notify(
                        f"{label}: the server sent the whole file again (the file changed since "
                        "the partial download started, or the server ignores Range); starting over"
                    )
                partial.restart(etag, last_modified)
                have = 0
                length = resp.headers.get("Content-Length")
                total = int(length) if length and length.isdigit() else None
            if expected_size is not None and total is not None and total != expected_size:
                raise DownloadError(
                    f"{shown}: the server sends {total} bytes but the registry expects "
                    f"{expected_size}: a different file (or an error page)"
                )
            progress.start(label, total, have)
            written = have
            try:
                chunk = first
                while chunk:
                    partial.write(chunk)
                    written += len(chunk)
                    progress.advance(len(chunk))
                    chunk = resp.read(CHUNK)
            finally:
                partial.checkpoint()  # durable bytes, then their sha256 in the journal
            if total is not None and written < total:
                raise DownloadError(
                    f"{shown}: connection closed after {written} of {total} bytes", retryable=True
                )
            if total is not None and written > total:
                partial.restart()
                raise DownloadError(
                    f"{shown}: received more bytes than announced; restarting", retryable=True
                )
            return Transfer(written, _disposition_filename(resp.headers), partial.sha256(),
                            partial.resumed)  # fmt: skip


class _MisplacedRange(DownloadError):
    """A 206 whose Content-Range does not start where we asked: stop using Range this run."""


def _status(resp: Any) -> int:
    return int(getattr(resp, "status", None) or resp.getcode())


def _status_error(url: str, status: int, resp: Any) -> DownloadError:
    reason = getattr(resp, "reason", "") or ""
    if status in (403, 429) and host_kind(url) == "drive":
        # Drive sends its quota and login pages with 403/429 too: the page says which.
        try:
            page = resp.read(256 << 10).decode("utf-8", "replace")
        except OSError:
            page = ""
        if looks_like_html(page[:512].encode(), resp.headers.get("Content-Type")):
            return HostPageError(explain_html_page(url, page))
    return DownloadError(
        explain_http_status(url, status, reason), retryable=status in _RETRY_STATUS
    )


def _parse_content_range(value: str | None, url: str) -> tuple[int, int | None]:
    m = _CONTENT_RANGE.match(value or "")
    if not m:
        raise DownloadError(f"{url}: 206 response without a valid Content-Range ({value!r})")
    total = None if m.group(3) == "*" else int(m.group(3))
    return int(m.group(1)), total


_FILENAME_STAR = re.compile(r"filename\*\s*=\s*[\w-]+''([^;]+)", re.I)
_FILENAME = re.compile(r'filename\s*=\s*"?([^";]+)"?', re.I)


def _disposition_filename(headers: Any) -> str | None:
    """`Content-Disposition: attachment; filename="x.pth"` (or RFC 5987 filename*=)."""
    value = headers.get("Content-Disposition") or ""
    m = _FILENAME_STAR.search(value) or _FILENAME.search(value)
    if not m:
        return None
    name = Path(unquote(m.group(1).strip())).name
    return name or None


def _content_range_total(value: str | None) -> int | None:
    m = re.match(r"bytes\s+\*/(\d+)", value or "")
    return int(m.group(1)) if m else None


def _describe(e: BaseException) -> str:
    if isinstance(e, urllib.error.URLError) and not isinstance(e, urllib.error.HTTPError):
        return f"connection failed ({e.reason})"
    if isinstance(e, http.client.IncompleteRead):
        return f"connection closed early ({len(e.partial)} bytes of a chunk)"
    return f"{type(e).__name__}: {e}" if str(e) else type(e).__name__
