"""`vzoo cache verify`: every check that applies to a cached checkpoint, and which ones were used.

Always the sha256 recorded at download (bit rot); the registry's pin when the row has one; what the
host published (recorded at download, or an OpenMMLab file name); a zip checkpoint's CRC-32s; and
for a file neither pinned nor published, that it is a whole, loadable checkpoint. A
file that fails is removed (it is not the checkpoint any more); a stale pin is only reported.
"""

from __future__ import annotations

from dataclasses import dataclass

from vzoo.core.files import sha256_file
from vzoo.hub.cache import CacheEntry, CheckpointCache
from vzoo.hub.formats import content_problem
from vzoo.hub.integrity import PINNED, HostDigest, openmmlab_digest


@dataclass(frozen=True)
class Verdict:
    """`vzoo cache verify`'s finding for one row: ok or not, and the line that says so."""

    row_id: str
    ok: bool
    line: str  # one line for the user: `row: ok (checks...)` or `row: PROBLEM ...; what to do`


def verify_entry(cache: CheckpointCache, entry: CacheEntry, pinned: str | None) -> Verdict:
    """Check one cached row against everything that applies; `pinned` is the registry's sha256."""
    row, blob = entry.row_id, cache.blob_path(entry.sha256)
    if not blob.is_file():
        cache.forget(row)
        return Verdict(row, False, f"{row}: MISSING {blob}; entry removed")
    actual = sha256_file(blob)

    def removed(problem: str) -> Verdict:
        blob.unlink(missing_ok=True)  # gone for every row sharing it: they re-download
        cache.forget(row)
        line = f"{row}: CORRUPT {blob}: {problem}; removed, run `vzoo download {row}`"
        return Verdict(row, False, line)

    if actual != entry.sha256:
        return removed(f"expected sha256 {entry.sha256}, actual {actual}")
    used: list[str] = []
    if pinned is not None:
        if pinned != actual:
            stale = (
                f"{row}: STALE {blob}: the registry pins sha256 {pinned}, the cache holds "
                f"{actual}; run `vzoo download {row}`"
            )
            return Verdict(row, False, stale)
        used.append(PINNED)
    digest = (
        HostDigest(entry.host_check, entry.host_sha256)
        if entry.host_check and entry.host_sha256
        else openmmlab_digest(entry.url, entry.filename)
    )
    if digest is not None:
        if not digest.matches(actual):
            return removed(f"{digest.where} {digest.shown}, the file has {actual}")
        used.append(digest.check)
    problem = content_problem(blob, entry.filename, used)  # appends the content checks passed
    if problem is not None:
        return removed(problem)
    if pinned is None:
        used.insert(0, "sha256 as recorded, not pinned")
    return Verdict(row, True, f"{row}: ok ({', '.join(used)}) sha256 {actual[:12]}")
