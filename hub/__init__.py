"""Checkpoint downloads and the local cache: resumable, verified, atomic (issue: vzoo download).

`fetch_checkpoint(row) -> Path` gives the cached, verified file (downloading it if needed);
`load_checkpoint(path, row.weights.sha256)` loads it without running anything from its pickle.
"""

from __future__ import annotations

from vzoo.core.files import sha256_file
from vzoo.hub.cache import CacheEntry, CheckpointCache
from vzoo.hub.errors import (
    ChecksumMismatchError,
    DownloadError,
    HostPageError,
    OfflineError,
    UnsafeCheckpointError,
)
from vzoo.hub.fetch import Downloader, FetchResult, fetch_checkpoint, offline_from_env
from vzoo.hub.hosts import Endpoints
from vzoo.hub.loading import InertObject, load_checkpoint
from vzoo.hub.transfer import RetryPolicy

__all__ = [
    "CacheEntry",
    "CheckpointCache",
    "ChecksumMismatchError",
    "DownloadError",
    "Downloader",
    "Endpoints",
    "FetchResult",
    "HostPageError",
    "InertObject",
    "OfflineError",
    "RetryPolicy",
    "UnsafeCheckpointError",
    "fetch_checkpoint",
    "load_checkpoint",
    "offline_from_env",
    "sha256_file",
]
