"""A real HTTP server on 127.0.0.1 for the download tests, with scriptable misbehaviour.

Routes map a URL path to a callable `(req, query) -> None` that writes the whole response. Helpers
build the behaviours the hosts show in the wild: `Range` support or not, a 500 before success, a
body cut short, a connection reset, an HTML quota page, Google Drive's virus-scan confirm form and
folder view, and the Hugging Face `resolve` API. Every request is logged for assertions.
"""

from __future__ import annotations

import hashlib
import html
import re
import socket
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

Route = Callable[["Handler", dict[str, list[str]]], None]


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]


class Handler(BaseHTTPRequestHandler):
    server: _Server
    timeout = 10  # a stuck client never keeps a test waiting long

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _dispatch(self) -> None:
        parts = urlsplit(self.path)
        query = parse_qs(parts.query)
        self.server.owner.log.append(
            Request(
                self.command, parts.path, query, {k.lower(): v for k, v in self.headers.items()}
            )
        )
        route = self.server.owner.routes.get(parts.path)
        if route is None:
            route = next(
                (r for p, r in self.server.owner.prefix_routes.items() if parts.path.startswith(p)),
                None,
            )
        if route is None:
            send_page(self, "<html><head><title>Not Found</title></head></html>", status=404)
            return
        route(self, query)

    def do_GET(self) -> None:
        self._dispatch()

    def do_HEAD(self) -> None:
        self._dispatch()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    owner: LoopbackServer

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients hang up on purpose (an HTML page sniffed, a probe): not worth a traceback.
        import sys

        if not isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            super().handle_error(request, client_address)


@dataclass
class LoopbackServer:
    routes: dict[str, Route] = field(default_factory=dict)
    prefix_routes: dict[str, Route] = field(default_factory=dict)
    log: list[Request] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._httpd = _Server(("127.0.0.1", 0), Handler)
        self._httpd.owner = self
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def base_url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def url(self, path: str) -> str:
        return self.base_url + path

    def start(self) -> LoopbackServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def requests(self, path: str, method: str = "GET") -> list[Request]:
        return [r for r in self.log if r.path == path and r.method == method]


# --- response helpers ---


def send_page(req: Handler, text: str, status: int = 200, headers: dict[str, str] | None = None):
    body = text.encode()
    req.send_response(status)
    req.send_header("Content-Type", "text/html; charset=utf-8")
    req.send_header("Content-Length", str(len(body)))
    for k, v in (headers or {}).items():
        req.send_header(k, v)
    req.end_headers()
    if req.command != "HEAD":
        req.wfile.write(body)


def _reset(req: Handler) -> None:
    """Abort the connection with a TCP reset (what a dropped link looks like to the client)."""
    req.wfile.flush()
    req.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    req.connection.close()
    req.close_connection = True


def serve_bytes(
    req: Handler,
    data: bytes,
    *,
    ranges: bool = True,
    content_type: str = "application/octet-stream",
    headers: dict[str, str] | None = None,
    cut_after: int | None = None,
    reset_after: int | None = None,
    chunk_delay: float = 0.0,
    if_range: bool = True,
    misplaced_range: bool = False,
) -> None:
    """Serve `data`, honouring `Range` if `ranges` (and `If-Range` against the ETag or
    Last-Modified in `headers`, unless `if_range` is off); optionally send only `cut_after` body
    bytes (then close: a truncated body) or reset the connection after `reset_after` bytes.
    `misplaced_range` answers a Range request with 206 and the whole body from byte 0."""
    start = 0
    status = 200
    m = re.match(r"bytes=(\d+)-$", req.headers.get("Range", ""))
    validators = {v for k, v in (headers or {}).items() if k.lower() in ("etag", "last-modified")}
    stale = req.headers.get("If-Range") is not None and req.headers["If-Range"] not in validators
    if ranges and m and if_range and stale:
        m = None  # RFC 9110: a failed If-Range means the whole, current file with 200
    if ranges and m and misplaced_range:
        status = 206
    elif ranges and m:
        start = int(m.group(1))
        if start >= len(data):
            req.send_response(416)
            req.send_header("Content-Range", f"bytes */{len(data)}")
            req.send_header("Content-Length", "0")
            req.end_headers()
            return
        status = 206
    body = data[start:]
    req.send_response(status)
    req.send_header("Content-Type", content_type)
    req.send_header("Content-Length", str(len(body)))
    req.send_header("Accept-Ranges", "bytes" if ranges else "none")
    if status == 206:
        req.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
    for k, v in (headers or {}).items():
        req.send_header(k, v)
    req.end_headers()
    if req.command == "HEAD":
        return
    limit = len(body)
    if cut_after is not None:
        limit = min(limit, cut_after)
    if reset_after is not None:
        limit = min(limit, reset_after)
    step = 16 << 10
    for i in range(0, limit, step):
        req.wfile.write(body[i : min(i + step, limit)])
        if chunk_delay:
            req.wfile.flush()
            time.sleep(chunk_delay)
    if reset_after is not None and reset_after < len(body):
        _reset(req)
    elif limit < len(body):
        req.wfile.flush()
        req.close_connection = True


class FileRoute:
    """A file with a script of misbehaviours for its first GETs.

    `script` lists, per GET in order, what to do: "ok", "500", "cut" (half the body then close),
    "reset" (half the body then TCP reset), "ignore-range" (200 with the whole body), "html"
    (a quota page), "misplaced-range" (206 to a Range request, but the body from byte 0). GETs
    past the script are served normally. `headers` (ETag, Last-Modified) go with every response;
    `if_range=False` ignores If-Range (serves the range whatever the validator).
    """

    def __init__(
        self,
        data: bytes,
        script: list[str] | None = None,
        *,
        ranges: bool = True,
        chunk_delay: float = 0.0,
        headers: dict[str, str] | None = None,
        if_range: bool = True,
    ) -> None:
        self.data = data
        self.headers = headers
        self.if_range = if_range
        self.script = list(script or [])
        self.ranges = ranges
        self.chunk_delay = chunk_delay
        self.gets = 0
        self._lock = threading.Lock()

    def __call__(self, req: Handler, query: dict[str, list[str]]) -> None:
        with self._lock:
            step = self.script[self.gets] if self.gets < len(self.script) else "ok"
            if req.command == "GET":
                self.gets += 1
        half = len(self.data) // 2
        common: dict[str, Any] = {"headers": self.headers, "if_range": self.if_range}
        if step == "500":
            send_page(req, "<html><title>500 Internal Server Error</title></html>", status=500)
        elif step == "cut":
            serve_bytes(req, self.data, ranges=self.ranges, cut_after=half, **common)
        elif step == "reset":
            serve_bytes(req, self.data, ranges=self.ranges, reset_after=half, **common)
        elif step == "ignore-range":
            serve_bytes(req, self.data, ranges=False, **common)
        elif step == "misplaced-range":
            serve_bytes(req, self.data, misplaced_range=True, **common)
        elif step == "html":
            send_page(req, QUOTA_PAGE)
        else:
            serve_bytes(
                req, self.data, ranges=self.ranges, chunk_delay=self.chunk_delay, **common
            )  # fmt: skip


QUOTA_PAGE = (
    "<!DOCTYPE html><html><head><title>Google Drive - Quota exceeded</title></head><body>"
    "<p>Too many users have viewed or downloaded this file recently. Please try accessing the "
    "file again later. If the file you are trying to access is particularly large or is shared "
    "with many people, it may take up to 24 hours to be able to view or download the file.</p>"
    "</body></html>"
)


# --- Google Drive ---


@dataclass
class DriveFile:
    name: str
    data: bytes
    confirm: bool = True  # large files get the "can't scan for viruses" page
    quota: bool = False
    quota_status: int = 200
    content_type: str = "application/octet-stream"


class FakeDrive:
    """`/uc?export=download&id=` (with the virus-scan confirm form posting to `/download`),
    `/download?id=&confirm=t&uuid=` (drive.usercontent) and `/embeddedfolderview?id=`."""

    UUID = "3f1c2d6e-0000-4a5b-9c8d-1234567890ab"

    def __init__(self, server: LoopbackServer) -> None:
        self.server = server
        self.files: dict[str, DriveFile] = {}
        self.folders: dict[str, list[str]] = {}
        server.routes["/uc"] = self._uc
        server.routes["/download"] = self._download
        server.routes["/embeddedfolderview"] = self._folder

    def _uc(self, req: Handler, query: dict[str, list[str]]) -> None:
        file = self.files.get(query.get("id", [""])[0])
        if file is None:
            send_page(req, "<html><title>Google Drive - Page Not Found</title></html>", 404)
        elif file.quota:
            send_page(req, QUOTA_PAGE, status=file.quota_status)
        elif file.confirm:
            fid = html.escape(query["id"][0])
            send_page(
                req,
                "<!DOCTYPE html><html><head><title>Google Drive - Virus scan warning</title>"
                "</head><body><p>Google Drive can't scan this file for viruses.</p>"
                f'<form id="download-form" action="{self.server.base_url}/download" '
                'method="get"><input type="submit" id="uc-download-link" value="Download anyway"/>'
                f'<input type="hidden" name="id" value="{fid}">'
                '<input type="hidden" name="export" value="download">'
                '<input type="hidden" name="confirm" value="t">'
                f'<input type="hidden" name="uuid" value="{self.UUID}"></form></body></html>',
            )
        else:
            serve_bytes(req, file.data, content_type=file.content_type)

    def _download(self, req: Handler, query: dict[str, list[str]]) -> None:
        file = self.files.get(query.get("id", [""])[0])
        ok = query.get("confirm") == ["t"] and query.get("uuid") == [self.UUID]
        if file is None or not ok:
            send_page(req, "<html><title>Google Drive - Virus scan warning</title></html>")
        else:
            serve_bytes(req, file.data, content_type=file.content_type)

    def _folder(self, req: Handler, query: dict[str, list[str]]) -> None:
        ids = self.folders.get(query.get("id", [""])[0])
        if ids is None:
            send_page(req, "<html><title>Sign in - Google Accounts</title></html>", 404)
            return
        entries = "".join(
            f'<div class="flip-entry" id="entry-{fid}" tabindex="0" role="link">'
            f'<div class="flip-entry-info"><a href="https://drive.google.com/file/d/{fid}/view?'
            'usp=drive_web" target="_blank"><div class="flip-entry-visual"></div>'
            f'<div class="flip-entry-title">{html.escape(self.files[fid].name)}</div></a></div>'
            "</div>"
            for fid in ids
        )
        send_page(
            req,
            "<!DOCTYPE html><html><head><title>checkpoints - Google Drive</title></head><body>"
            f'<div class="flip-entries">{entries}</div></body></html>',
        )


# --- Hugging Face Hub ---


class FakeHub:
    """`/{repo_id}/resolve/{revision}/{filename}` as the Hub serves it to `hf_hub_download`:
    HEAD and GET with X-Repo-Commit, an ETag (the LFS sha256) and Content-Length."""

    COMMIT = "0123456789abcdef0123456789abcdef01234567"

    def __init__(self, server: LoopbackServer) -> None:
        self.files: dict[tuple[str, str], bytes] = {}
        self.etags: dict[tuple[str, str], str] = {}  # a wrong ETag for a file, to test the check
        server.prefix_routes["/"] = self._resolve

    def _resolve(self, req: Handler, query: dict[str, list[str]]) -> None:
        m = re.match(r"^/(?P<repo>[^/]+/[^/]+)/resolve/(?P<rev>[^/]+)/(?P<file>.+)$",
                     urlsplit(req.path).path)  # fmt: skip
        data = self.files.get((m.group("repo"), m.group("file"))) if m else None
        if data is None:
            send_page(
                req, "<html>Entry not found</html>", 404,
                {"X-Error-Code": "EntryNotFound", "X-Repo-Commit": self.COMMIT},
            )  # fmt: skip
            return
        key = (m.group("repo"), m.group("file")) if m else ("", "")
        etag = self.etags.get(key) or hashlib.sha256(data).hexdigest()
        serve_bytes(req, data, headers={"X-Repo-Commit": self.COMMIT, "ETag": f'"{etag}"'})


def send_raw(
    req: Handler,
    status: int,
    headers: dict[str, str],
    body: bytes = b"",
    *,
    reset: bool = False,
    stall: float = 0.0,
) -> None:
    """Exactly these headers and body, nothing added (no Content-Length unless given), then the
    connection closes (or resets). `stall` sleeps after the headers, before any body byte."""
    req.send_response(status)
    for k, v in headers.items():
        req.send_header(k, v)
    req.end_headers()
    req.wfile.flush()
    if stall:
        time.sleep(stall)
    if req.command != "HEAD" and body:
        req.wfile.write(body)
    if reset:
        _reset(req)
    else:
        req.wfile.flush()
        req.close_connection = True
