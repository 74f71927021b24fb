"""Integrity checks for checkpoints the registry has not pinned yet, from what hosts publish.

- download.openmmlab.com: file names end with the first 8 hex digits of the file's sha256
  (`..._20201222_214453-dc79b137.pth`);
- Hugging Face: an LFS file's ETag (X-Linked-Etag / ETag; the blob's name in the HF cache) is its
  sha256;
- GitHub releases: the releases API lists a `digest` ("sha256:...") for each asset;
- torch zip checkpoints store a CRC-32 for every record, which catches a corrupted or spliced body
  without any published digest.
"""

from __future__ import annotations

import json
import re
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from vzoo.hub.hosts import Endpoints, github_release_asset, host_kind
from vzoo.hub.transfer import HttpClient

_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_OPENMMLAB_NAME = re.compile(r"-([0-9a-f]{8})\.[A-Za-z0-9]+(?:\.tar)?$")

PINNED = "sha256 pinned"
ZIP_CRC = "zip crc"
OPENMMLAB = "openmmlab name"
HF_ETAG = "hf etag"
GITHUB_DIGEST = "github digest"


@dataclass(frozen=True)
class HostDigest:
    """A sha256 (or, for OpenMMLab names, its first 8 hex digits) a host publishes for a file."""

    check: str  # OPENMMLAB, HF_ETAG or GITHUB_DIGEST: the name `cache verify` prints
    sha256: str

    def matches(self, actual: str) -> bool:
        """Whether a file's full sha256 agrees with this (possibly shortened) digest."""
        return actual.startswith(self.sha256)

    @property
    def shown(self) -> str:
        """The digest as messages show it (a shortened one ends in "...")."""
        return self.sha256 if len(self.sha256) == 64 else f"{self.sha256}..."

    @property
    def where(self) -> str:
        """Who publishes the digest, for messages."""
        return {
            OPENMMLAB: "the download.openmmlab.com file name carries",
            HF_ETAG: "the Hugging Face ETag says",
            GITHUB_DIGEST: "the GitHub releases API publishes",
        }[self.check]


def openmmlab_digest(url: str, filename: str | None) -> HostDigest | None:
    """The sha256 prefix a download.openmmlab.com file name carries (None otherwise)."""
    if host_kind(url) != "openmmlab":
        return None
    name = filename or url.rsplit("/", 1)[-1]
    m = _OPENMMLAB_NAME.search(name)
    return HostDigest(OPENMMLAB, m.group(1)) if m else None


def etag_digest(etag: str | None) -> HostDigest | None:
    """A Hugging Face LFS ETag (`"<sha256>"`, maybe weak `W/"..."`) as a digest, else None."""
    if not etag:
        return None
    value = etag.strip()
    value = value[2:] if value.startswith("W/") else value
    value = value.strip('"').lower()
    return HostDigest(HF_ETAG, value) if _SHA256.match(value) else None


def github_digest(
    url: str, endpoints: Endpoints, http: HttpClient
) -> tuple[HostDigest | None, str | None]:
    """(digest, None), or (None, why it is not available); (None, None) when not a release asset.

    One request to `GET /repos/O/R/releases/tags/T`, no retries: the digest adds a check, its
    absence (API unreachable, rate-limited, an asset from before digests) never fails a download.
    """
    asset = github_release_asset(url)
    if asset is None:
        return None, None
    owner, repo, tag, name = asset
    api = (
        f"{endpoints.github_api_base()}/repos/{quote(owner)}/{quote(repo)}/releases/tags/"
        f"{quote(tag, safe='')}"
    )
    try:
        resp = http.open(api, {"Accept": "application/vnd.github+json"}, timeout=15)
        with resp:
            status = int(getattr(resp, "status", None) or resp.getcode())
            if status != 200:
                return None, f"GitHub release digest not available (HTTP {status} from {api})"
            release = json.loads(resp.read(8 << 20).decode("utf-8"))
    except (OSError, ValueError) as e:  # URLError, timeouts, resets, bad JSON
        return None, f"GitHub release digest not available ({type(e).__name__} from {api})"
    assets = release.get("assets") if isinstance(release, dict) else None
    for entry in assets if isinstance(assets, list) else []:
        if isinstance(entry, dict) and entry.get("name") == name:
            digest = str(entry.get("digest") or "")
            if digest.startswith("sha256:") and _SHA256.match(digest[7:].lower()):
                return HostDigest(GITHUB_DIGEST, digest[7:].lower()), None
            return None, f"GitHub release digest not available (none published for {name})"
    return None, f"GitHub release digest not available ({name} not listed in release {tag})"


def zip_crc_problem(path: Path) -> str | None:
    """Why a zip checkpoint fails its per-record CRC-32s (None if it passes).

    A file that starts like a zip must be a whole, valid one; call only if `is_zip(path)`.
    """
    try:
        with zipfile.ZipFile(path) as z:
            bad = z.testzip()
    except (zipfile.BadZipFile, OSError, EOFError, zlib.error, ValueError) as e:
        return f"its zip structure is broken ({type(e).__name__}: {str(e)[:100]})"
    return None if bad is None else f"the zip record {bad} fails its CRC-32"


def is_zip(path: Path) -> bool:
    """Whether the file starts as a zip archive (torch.save's format since 1.6)."""
    with path.open("rb") as f:
        return f.read(4) == b"PK\x03\x04"
