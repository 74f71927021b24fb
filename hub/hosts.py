"""The hosts the papers publish checkpoints on: URL forms, endpoints, and their HTML error pages.

Each registry URL keeps its published form; `Endpoints` maps a known host to the base URL actually
contacted, so tests (and only tests) point a host at a loopback server through `VZOO_*_ENDPOINT`
variables or the constructor, without patching anything.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from urllib.parse import parse_qs, unquote, urlencode, urlsplit, urlunsplit

from vzoo import settings

# host kind -> (default base URL, env var overriding it, hostnames that belong to it)
_HOSTS: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "drive": (
        "https://drive.google.com",
        "VZOO_DRIVE_ENDPOINT",
        ("drive.google.com", "docs.google.com", "drive.usercontent.google.com"),
    ),
    "tsinghua": (
        "https://cloud.tsinghua.edu.cn",
        "VZOO_TSINGHUA_ENDPOINT",
        ("cloud.tsinghua.edu.cn",),
    ),
    "github": ("https://github.com", "VZOO_GITHUB_ENDPOINT", ("github.com",)),
    "openmmlab": (
        "https://download.openmmlab.com",
        "VZOO_OPENMMLAB_ENDPOINT",
        ("download.openmmlab.com",),
    ),
}

HOST_LABELS = {
    "drive": "Google Drive",
    "tsinghua": "Tsinghua cloud",
    "github": "GitHub",
    "openmmlab": "download.openmmlab.com",
    "hf": "Hugging Face mirror",
}


def host_kind(url: str) -> str:
    """'drive', 'tsinghua', 'github', 'openmmlab', 'hf' or 'other'."""
    if url.startswith("hf://"):
        return "hf"
    netloc = (urlsplit(url).hostname or "").lower()
    for kind, (_, _, names) in _HOSTS.items():
        if netloc in names:
            return kind
    return "other"


def host_label(url: str) -> str:
    """How messages name the host of a URL ("Google Drive", else its host name)."""
    kind = host_kind(url)
    return HOST_LABELS.get(kind) or (urlsplit(url).hostname or url)


@dataclass(frozen=True)
class Endpoints:
    """Base URL per host kind (scheme://host[:port]); `None` means the real host."""

    drive: str | None = None
    tsinghua: str | None = None
    github: str | None = None
    openmmlab: str | None = None
    # The GitHub REST API (release asset digests); by default api.github.com, or the GitHub
    # Enterprise form `<github>/api/v3` when `github` points elsewhere.
    github_api: str | None = None

    @classmethod
    def from_env(cls) -> Endpoints:
        """Endpoints from the `VZOO_*_ENDPOINT` variables (unset: the public hosts)."""
        bases = {kind: settings.text(env) for kind, (_, env, _) in _HOSTS.items()}
        return cls(**bases, github_api=settings.text("VZOO_GITHUB_API_ENDPOINT"))

    def github_api_base(self) -> str:
        """The GitHub API root (api.github.com, or an Enterprise/loopback server's /api/v3)."""
        if self.github_api:
            return self.github_api.rstrip("/")
        return f"{self.github.rstrip('/')}/api/v3" if self.github else "https://api.github.com"

    def base(self, kind: str) -> str:
        """The base URL requests to a host kind ("drive", "hf", ...) go to."""
        return (getattr(self, kind) or _HOSTS[kind][0]).rstrip("/")

    def rewrite(self, url: str) -> str:
        """The URL to contact for a published URL (same path and query, endpoint's host)."""
        kind = host_kind(url)
        if kind not in _HOSTS or getattr(self, kind) is None:
            return url
        base = urlsplit(self.base(kind))
        parts = urlsplit(url)
        return urlunsplit((base.scheme, base.netloc, parts.path, parts.query, parts.fragment))


# --- GitHub releases ---

_RELEASE_ASSET = re.compile(r"^/([^/]+)/([^/]+)/releases/download/([^/]+)/([^/]+)$")


def github_release_asset(url: str) -> tuple[str, str, str, str] | None:
    """(owner, repo, tag, asset name) of a `github.com/O/R/releases/download/T/NAME` URL."""
    if host_kind(url) != "github":
        return None
    m = _RELEASE_ASSET.match(urlsplit(url).path)
    if not m:
        return None
    owner, repo, tag, name = (unquote(g) for g in m.groups())
    return owner, repo, tag, name


# --- Google Drive ---

_DRIVE_FILE_PATTERNS = (
    re.compile(r"/file/d/([A-Za-z0-9_-]{10,})"),
    re.compile(r"/document/d/([A-Za-z0-9_-]{10,})"),
)
_DRIVE_FOLDER_PATTERN = re.compile(r"/(?:drive/(?:u/\d+/)?)?folders/([A-Za-z0-9_-]{10,})")


def drive_file_id(url: str) -> str | None:
    """The file id of `/file/d/ID/view`, `open?id=ID`, `uc?id=ID`, `download?id=ID` links."""
    parts = urlsplit(url)
    for pattern in _DRIVE_FILE_PATTERNS:
        m = pattern.search(parts.path)
        if m:
            return m.group(1)
    ids = parse_qs(parts.query).get("id")
    if ids and not _DRIVE_FOLDER_PATTERN.search(parts.path):
        return ids[0]
    return None


def drive_folder_id(url: str) -> str | None:
    """The folder id of a Google Drive folder URL (None for any other URL)."""
    m = _DRIVE_FOLDER_PATTERN.search(urlsplit(url).path)
    if m:
        return m.group(1)
    if "embeddedfolderview" in url:
        ids = parse_qs(urlsplit(url).query).get("id")
        return ids[0] if ids else None
    return None


def drive_download_url(endpoints: Endpoints, file_id: str) -> str:
    """The URL that downloads a Drive file by id."""
    return f"{endpoints.base('drive')}/uc?{urlencode({'export': 'download', 'id': file_id})}"


def drive_folder_url(endpoints: Endpoints, folder_id: str) -> str:
    # The embedded view lists a folder's entries as plain HTML (no JavaScript data blobs).
    """The URL that lists a Drive folder's entries."""
    return f"{endpoints.base('drive')}/embeddedfolderview?{urlencode({'id': folder_id})}"


_FORM = re.compile(r"<form\b[^>]*\bid=[\"']download-form[\"'][^>]*>(.*?)</form>", re.S | re.I)
_ACTION = re.compile(r"\baction=[\"']([^\"']+)[\"']", re.I)
_INPUT = re.compile(r"<input\b[^>]*>", re.I)
_ATTR = re.compile(r"\b(name|value|type)=[\"']([^\"']*)[\"']", re.I)
_LEGACY_CONFIRM = re.compile(r"confirm=([0-9A-Za-z_-]+)")


def drive_confirm_url(page: str, page_url: str) -> str | None:
    """The download URL behind Drive's "can't scan this file for viruses" page, if it is one.

    Current pages carry a GET form (`id`, `export`, `confirm`, `uuid` hidden inputs); older ones a
    `confirm=TOKEN` link on the same `uc` endpoint.
    """
    m = _FORM.search(page)
    if m:
        head = page[m.start() : m.start() + page[m.start() :].find(">") + 1]
        action = _ACTION.search(head)
        params: list[tuple[str, str]] = []
        for tag in _INPUT.findall(m.group(1)):
            attrs = {k.lower(): html.unescape(v) for k, v in _ATTR.findall(tag)}
            if attrs.get("name") and attrs.get("type", "hidden").lower() == "hidden":
                params.append((attrs["name"], attrs.get("value", "")))
        if action and params:
            target = html.unescape(action.group(1))
            return f"{target}{'&' if '?' in target else '?'}{urlencode(params)}"
    m = _LEGACY_CONFIRM.search(html.unescape(page))
    if m:
        parts = urlsplit(page_url)
        query = [(k, v) for k, vs in parse_qs(parts.query).items() for v in vs if k != "confirm"]
        query.append(("confirm", m.group(1)))
        return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(query), ""))
    return None


@dataclass(frozen=True)
class DriveEntry:
    """A file or sub-folder listed in a Google Drive folder."""

    id: str
    name: str
    is_folder: bool


_ENTRY = re.compile(r"id=[\"']entry-([A-Za-z0-9_-]+)[\"']")
_TITLE = re.compile(r"class=[\"']flip-entry-title[\"'][^>]*>([^<]*)<", re.I)


def parse_drive_folder(page: str) -> list[DriveEntry]:
    """Entries of a Drive folder's embedded view: each `entry-ID` block with its title and link."""
    starts = [(m.start(), m.group(1)) for m in _ENTRY.finditer(page)]
    entries = []
    for i, (start, entry_id) in enumerate(starts):
        block = page[start : starts[i + 1][0] if i + 1 < len(starts) else len(page)]
        title = _TITLE.search(block)
        if not title:
            continue
        is_folder = "/folders/" in block.split("flip-entry-title")[0]
        entries.append(DriveEntry(entry_id, html.unescape(title.group(1)).strip(), is_folder))
    return entries


CHECKPOINT_SUFFIXES = (".pth", ".pt", ".ckpt", ".bin", ".safetensors", ".pth.tar")


def pick_checkpoint(entries: list[DriveEntry], filename: str | None) -> DriveEntry | None:
    """The folder's checkpoint: `filename` if given, else its one checkpoint-like file."""
    files = [e for e in entries if not e.is_folder]
    if filename is not None:
        return next((e for e in files if e.name == filename), None)
    candidates = [e for e in files if e.name.lower().endswith(CHECKPOINT_SUFFIXES)]
    return candidates[0] if len(candidates) == 1 else None


# --- HTML where a checkpoint was expected ---

_TITLE_TAG = re.compile(r"<title[^>]*>(.*?)</title>", re.S | re.I)


def page_title(page: str) -> str:
    """An HTML page's <title>, whitespace collapsed, at most 80 characters ("" without one)."""
    m = _TITLE_TAG.search(page)
    return " ".join(html.unescape(m.group(1)).split())[:80] if m else ""


def looks_like_html(head: bytes, content_type: str | None) -> bool:
    """A checkpoint is a zip or a pickle; an HTML page starts with a tag (maybe after a BOM)."""
    if content_type and content_type.split(";")[0].strip().lower() in (
        "text/html",
        "application/xhtml+xml",
    ):
        return True
    start = head.lstrip(b"\xef\xbb\xbf \t\r\n")[:15].lower()
    return start.startswith((b"<!doctype html", b"<html", b"<head", b"<body", b"<!--"))


_PAGE_TYPES = {
    "application/json": "JSON document", "application/problem+json": "JSON document",
    "application/xml": "XML document", "text/xml": "XML document", "text/plain": "text page",
}  # fmt: skip


def sniff_page(head: bytes, content_type: str | None) -> str | None:
    """'XML document', 'JSON document' or 'text page' for a body that is a message, not a file.

    A checkpoint is binary (a zip, a pickle, a safetensors length): a body announced as JSON, XML
    or text, or whose first bytes are text starting with `<?xml`, `{` or `[`, is an error message.
    """
    kind = (content_type or "").split(";")[0].strip().lower()
    if kind in _PAGE_TYPES:
        return _PAGE_TYPES[kind]
    if kind.endswith("+json"):
        return "JSON document"
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if not text or b"\x00" in text:
        return None
    try:
        text.decode("utf-8")
    except UnicodeDecodeError:
        if len(head) < 512:
            return None
    if text[:5].lower() == b"<?xml":
        return "XML document"
    if text[:1] in (b"{", b"["):
        return "JSON document"
    return None


def explain_page(url: str, kind: str, head: bytes) -> str:
    """One line: the host sent a message (`kind`) instead of the file, quoting its start."""
    start = " ".join(head[:200].decode("utf-8", "replace").split())
    shown = "".join(c if c.isprintable() else "?" for c in start)[:80]
    return (
        f"{host_label(url)} returned a {kind} where a checkpoint was expected: {url} "
        f"(it starts: {shown!r}); the link may be dead or the host refused the request; nothing "
        "was cached"
    )


def explain_html_page(url: str, page: str) -> str:
    """One line: which host sent an HTML page, what it most likely means, and what to do."""
    kind = host_kind(url)
    label = host_label(url)
    low = page.lower()
    title = page_title(page)
    shown = f" (page title: '{title}')" if title else ""
    if kind == "drive":
        if "quota" in low or "too many users" in low:
            return (
                f"Google Drive returned a quota page for {url}: the file was downloaded too often "
                "recently; try again in 24 h or use --prefer mirror"
            )
        if "servicelogin" in low or "accounts.google.com" in low or "sign in" in low:
            return (
                f"Google Drive returned a login page for {url}: the file is not shared publicly "
                "(or was removed); ask the authors to re-share it or use --prefer mirror"
            )
        if "virus" in low:
            return (
                f"Google Drive returned a virus-scan warning for {url} without a usable confirm "
                "form; the page format may have changed (use --prefer mirror)"
            )
    if kind == "tsinghua":
        return (
            f"Tsinghua cloud returned an HTML page instead of the file for {url}{shown}: the share "
            "token is dead, expired or password-protected; use --prefer mirror or ask the authors "
            "for a new link"
        )
    if "login" in low or "sign in" in low:
        return f"{label} returned a login page{shown} for {url}: the file is not public"
    return (
        f"{label} returned an HTML page{shown} where a checkpoint was expected: {url}; "
        "the link may be dead or need a browser (use --prefer mirror if the row has one)"
    )


def explain_http_status(url: str, status: int, reason: str) -> str:
    """One line saying what an HTTP error from this host means and what to do about it."""
    label = host_label(url)
    if status == 404 and host_kind(url) == "tsinghua":
        return (
            f"Tsinghua cloud: HTTP 404 for {url}: the share token is dead or expired; use "
            "--prefer mirror or ask the authors for a new link"
        )
    if status in (401, 403):
        return f"{label}: HTTP {status} {reason} for {url}: access denied (not public, or expired)"
    if status == 404:
        return f"{label}: HTTP 404 Not Found for {url}: the link is dead"
    return f"{label}: HTTP {status} {reason} for {url}"
