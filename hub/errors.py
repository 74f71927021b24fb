"""Download and cache failures, each one line naming the row, the file or URL, and the fix."""

from __future__ import annotations

from vzoo.core.errors import VzooError


class DownloadError(VzooError):
    """A source could not deliver the file; `retryable` errors were retried before surfacing."""

    def __init__(self, message: str, *, retryable: bool = False) -> None:
        super().__init__(message)
        self.retryable = retryable


class HostPageError(DownloadError):
    """The host answered with an HTML page (quota, login wall, dead link) instead of the file."""


class ChecksumMismatchError(VzooError):
    """A file's sha256 is not the one expected (pinned, or published by its host)."""

    def __init__(self, what: str, expected: str, actual: str, hint: str = "") -> None:
        self.expected = expected
        self.actual = actual
        extra = f"; {hint}" if hint else ""
        super().__init__(f"{what}: sha256 mismatch: expected {expected}, got {actual}{extra}")


class OfflineError(VzooError):
    """Offline mode is on and the checkpoint is not in the cache."""


class UnsafeCheckpointError(VzooError):
    """The checkpoint's pickle asks for more than data (vzoo never runs it), or is TorchScript."""
