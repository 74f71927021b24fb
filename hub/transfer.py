"""HTTP(S) streaming into an `.incomplete` file: `Range` resume, retries, HTML sniffing.

stdlib urllib only (no extra dependency). A body shorter than its Content-Length, a dropped
connection, a timeout or a 5xx/429 is retried, resuming from the bytes already on disk; a server
that ignores `Range` (answers 200), a file that changed on the host (`If-Range`, ETag,
Last-Modified) and a misplaced `Content-Range` make the file start over (`hub/partial.py`).

A body is finished only when its length is proven: the Content-Length of the response that started
it, matched by every later 206's Content-Range total (or the end of a chunked body). Only 200 and
206 bodies are files: a redirect that was not followed (a loop, a redirect to file://), a 204, an
encoded body (vzoo asks for `identity` and decodes nothing), an HTML/XML/JSON page are refused.
Retries count only attempts that add no new byte; a host that reads no byte for `timeout` seconds
twice in a row, and a host name that does not resolve, fail at once.
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
from urllib.parse import unquote, urljoin, urlsplit

from vzoo.hub.errors import DownloadError, HostPageError
from vzoo.hub.hosts import (
    explain_html_page,
    explain_http_status,
    explain_page,
    host_kind,
    host_label,
    looks_like_html,
    sniff_page,
)
from vzoo.hub.partial import PartialDownload
from vzoo.hub.progress import ProgressReporter

USER_AGENT = "vzoo-download/0.1 (+https://github.com/vzoo)"
CHUNK = 1 << 20
READ_TIMEOUT = 20.0  # seconds without a byte before an attempt counts as stalled
STALLS = 2  # stalled attempts in a row, with no new byte, before giving up
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
    """A finished HTTP transfer into a partial file: its size, name and sha256."""

    size: int  # bytes in the finished file
    filename: str | None  # from Content-Disposition, when the server names the file
    sha256: str  # of the finished file, hashed as it was written
    resumed: bool  # the file joins bytes of more than one response
    validated: bool = True  # every resume sent If-Range with the first response's validator


@dataclass(frozen=True)
class RetryPolicy:
    """`attempts` tries per source, sleeping `backoff * 2**k` (capped) between them."""

    attempts: int = 5
    backoff: float = 1.0
    max_backoff: float = 30.0

    def delay(self, attempt: int) -> float:
        """Seconds to wait before retry `attempt` (exponential back-off, capped)."""
        return min(self.backoff * (2**attempt), self.max_backoff)


class _HttpRedirects(urllib.request.HTTPRedirectHandler):
    """Follows redirects to http(s) URLs only (urllib would follow ftp:// too)."""

    def redirect_request(self, req: Any, fp: Any, code: int, msg: str, headers: Any,
                         newurl: str) -> Any:  # fmt: skip
        scheme = urlsplit(urljoin(req.full_url, newurl)).scheme.lower()
        if scheme not in ("http", "https"):
            raise urllib.error.HTTPError(
                req.full_url, code,
                f"redirect to {newurl[:80]!r} refused: only http and https are followed",
                headers, fp,
            )  # fmt: skip
        return super().redirect_request(req, fp, code, msg, headers, newurl)


class HttpClient:
    """One cookie jar per client: Drive's legacy confirm flow keys its token on a cookie.

    `timeout` is the read timeout: seconds without a byte before an attempt counts as stalled.
    """

    def __init__(self, *, timeout: float = READ_TIMEOUT, retry: RetryPolicy | None = None) -> None:
        self.timeout = timeout
        self.retry = retry or RetryPolicy()
        self._opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()), _HttpRedirects()
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
                last = _network_error(url, e)
                if not last.retryable:
                    raise last from None
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
        binary: bool = True,
    ) -> Transfer:
        """Stream `url` into `partial`, resuming the bytes it already vouches for.

        `binary=False` (logs, configs beside a checkpoint) accepts text, JSON and XML bodies.

        Attempts are counted only while no new byte arrives, so a long download over a flaky
        link keeps going as long as it makes progress. A resume sends `If-Range` with the
        validator of the response that started the file; a host whose file changed answers with
        the whole new file (or a different validator, or a misplaced range): the partial bytes
        are dropped and the download starts over, so old and new bytes never mix.
        """
        shown = origin or url
        failures = stalls = 0
        reached = partial.size  # the furthest byte this run has had: only bytes past it count
        use_range = True  # off for the rest of this run once the server sends misplaced ranges
        last: DownloadError | None = None
        try:
            while True:
                stalled = False
                try:
                    return self._stream_once(
                        url, shown, partial, progress, label, expected_size, notify, use_range,
                        binary,
                    )  # fmt: skip
                except _MisplacedRange as e:
                    use_range = False
                    last = e
                except DownloadError as e:
                    if not e.retryable:
                        raise
                    last = e
                except (urllib.error.URLError, *_NETWORK_ERRORS) as e:
                    last = _network_error(shown, e)
                    if not last.retryable:
                        raise last from None
                    stalled = _is_timeout(e)
                now = partial.size
                if now > reached:  # new bytes: the host is making progress
                    reached, failures, stalls = now, 0, 0
                else:
                    failures += 1
                    stalls = stalls + 1 if stalled else 0
                if failures >= self.retry.attempts or stalls >= STALLS:
                    why = (
                        f"{stalls} reads stalled {self.timeout:g} s each"
                        if stalls >= STALLS
                        else f"gave up after {failures} attempts without new bytes"
                    )
                    raise DownloadError(f"{last} ({why}; {_kept(partial)})")
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
        binary: bool,
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
                claimed = _content_range_total(resp.headers.get("Content-Range"))
                if (
                    partial.total == have
                    and claimed in (None, have)
                    and not partial.changed(etag, last_modified)
                ):  # the previous run already had every byte the first response announced
                    return Transfer(have, _disposition_filename(resp.headers), partial.sha256(),
                                    partial.resumed, partial.if_range is not None)  # fmt: skip
                partial.restart()
                raise DownloadError(
                    f"{shown}: range {have}- not satisfiable although the file was announced "
                    f"as {_shown_total(partial.total)} bytes; restarting",
                    retryable=True,
                )
            if status not in (200, 206) or (status == 206 and not have):
                raise _status_error(shown, status, resp)
            encoding = (resp.headers.get("Content-Encoding") or "identity").strip().lower()
            if encoding != "identity":
                raise DownloadError(
                    f"{shown}: the server sent the file with Content-Encoding {encoding[:40]!r} "
                    "although vzoo asked for the plain bytes (Accept-Encoding: identity) and "
                    "decodes none; nothing was cached"
                )
            first = resp.read(512)
            # Mid-file bytes of a resumed body prove nothing; the content type still does.
            sniffed = first if status != 206 else b""
            if looks_like_html(sniffed, resp.headers.get("Content-Type")):
                page = (first + resp.read(256 << 10)).decode("utf-8", "replace")
                raise HostPageError(explain_html_page(shown, page))
            page_kind = sniff_page(sniffed, resp.headers.get("Content-Type")) if binary else None
            if page_kind is not None:
                raise HostPageError(explain_page(shown, page_kind, first))
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
                if partial.changed(etag, last_modified) or total != partial.total:
                    partial.restart()
                    raise DownloadError(
                        f"{shown}: the file on the host changed since this download started "
                        f"(ETag/Last-Modified, or its length {_shown_total(total)} against "
                        f"the first response's {_shown_total(partial.total)}); the partial "
                        "download was dropped, starting over",
                        retryable=True,
                    )
                partial.resumed = partial.resumed or have > 0
            else:
                if have:
                    notify(
                        f"{label}: the server sent the whole file again (the file changed since "
                        "the partial download started, or the server ignores Range); starting over"
                    )
                length = resp.headers.get("Content-Length")
                total = int(length) if length and length.isdigit() else None
                partial.restart(etag, last_modified, total)
                have = 0
            if expected_size is not None and total is not None and total != expected_size:
                raise DownloadError(
                    f"{shown}: the server sends {total} bytes but the registry expects "
                    f"{expected_size}: a different file (or an error page)"
                )
            if total == 0 or (total is None and not first):
                partial.discard()
                raise DownloadError(
                    f"{shown}: the host sent an empty body (0 bytes) where a checkpoint was "
                    "expected; nothing was cached"
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
            if total is None:
                if getattr(resp, "chunked", False):  # the last chunk arrived: the end is proven
                    partial.total = written
                    partial.checkpoint()
                else:
                    partial.discard()
                    raise DownloadError(
                        f"{shown}: the connection closed after {written} bytes and the server "
                        "never said the file's length (no Content-Length): the body cannot be "
                        "proven whole; nothing was cached"
                    )
            elif written < total:
                raise DownloadError(
                    f"{shown}: connection closed after {written} of {total} bytes", retryable=True
                )
            elif written > total:
                partial.restart()
                raise DownloadError(
                    f"{shown}: received more bytes than announced; restarting", retryable=True
                )
            return Transfer(written, _disposition_filename(resp.headers), partial.sha256(),
                            partial.resumed, partial.if_range is not None)  # fmt: skip


def _shown_total(total: int | None) -> str:
    return str(total) if total is not None else "unknown"


class _MisplacedRange(DownloadError):
    """A 206 whose Content-Range does not start where we asked: stop using Range this run."""


def _status(resp: Any) -> int:
    return int(getattr(resp, "status", None) or resp.getcode())


def _status_error(url: str, status: int, resp: Any) -> DownloadError:
    reason = getattr(resp, "reason", "") or ""
    if 300 <= status < 400:  # urllib follows good redirects: this one it would not
        return DownloadError(
            f"{host_label(url)}: HTTP {status} for {url}: the redirect was not followed "
            f"({' '.join(str(reason).split())[:200] or 'no Location'}); its body is not the file"
        )
    if status < 300:
        return DownloadError(
            f"{host_label(url)}: HTTP {status} {reason} for {url}: the host sent no file "
            "(only 200 and 206 responses carry one)"
        )
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


def _kept(partial: PartialDownload) -> str:
    """What a failed download leaves for the next run, naming only a file that exists."""
    if partial.size and partial.path.is_file():
        return f"{partial.size} bytes kept in {partial.path}, the next run resumes from there"
    return "no bytes kept"


def _network_error(url: str, e: BaseException) -> DownloadError:
    """A host name that does not resolve fails at once; other network errors are retried."""
    reason = getattr(e, "reason", None)
    if isinstance(reason, socket.gaierror) or isinstance(e, socket.gaierror):
        host = urlsplit(url).hostname or url
        return DownloadError(
            f"{url}: cannot resolve the host name {host!r} ({reason or e}); check the URL and the "
            "network or DNS settings (not retried)"
        )
    return DownloadError(f"{url}: {_describe(e)}", retryable=True)


def _is_timeout(e: BaseException) -> bool:
    reason = getattr(e, "reason", None)
    return isinstance(e, (TimeoutError, socket.timeout)) or isinstance(
        reason, (TimeoutError, socket.timeout)
    )


def _describe(e: BaseException) -> str:
    if isinstance(e, urllib.error.URLError) and not isinstance(e, urllib.error.HTTPError):
        return f"connection failed ({e.reason})"
    if isinstance(e, http.client.IncompleteRead):
        return f"connection closed early ({len(e.partial)} bytes of a chunk)"
    return f"{type(e).__name__}: {e}" if str(e) else type(e).__name__
