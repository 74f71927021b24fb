"""Whether a file is a whole checkpoint of the kind a row publishes, from its bytes alone.

A download that no pin and no host digest vouches for is cached only if its content proves itself:
a torch zip (`torch.save` since 1.6) by its central directory, its per-record CRC-32s and its
`data.pkl`; a legacy torch file by its pickle's magic number and every storage it lists (read by
vzoo's loader, which never runs code from the pickle); a safetensors file by its header, whose
tensors must cover the data exactly. An error page, a cut body or two versions spliced together
fail here with a reason.
"""

from __future__ import annotations

import json
import struct
import zipfile
from pathlib import Path

from vzoo.core.errors import VzooError
from vzoo.hub.integrity import ZIP_CRC, is_zip, zip_crc_problem

_ZIP_MAGIC = b"PK\x03\x04"
LOADABLE = "loadable checkpoint"  # the check's name in `cache verify` and download notes
# safetensors' dtypes and their sizes in bytes
_SAFETENSORS_DTYPES = {
    "BOOL": 1, "U8": 1, "I8": 1, "F8_E5M2": 1, "F8_E4M3": 1, "I16": 2, "U16": 2, "F16": 2,
    "BF16": 2, "I32": 4, "U32": 4, "F32": 4, "I64": 8, "U64": 8, "F64": 8,
}  # fmt: skip
_SAFETENSORS_MAX_HEADER = 100 << 20


def content_problem(path: Path, filename: str, checks: list[str]) -> str | None:
    """What the bytes must prove, given the digest `checks` already passed (appended to).

    With a pin or host digest: a zip's CRC-32s. Without: the whole checkpoint structure, since
    nothing else vouches for the bytes.
    """
    if checks:
        if not is_zip(path):
            return None
        problem = zip_crc_problem(path)
        if problem is None:
            checks.append(ZIP_CRC)
        return problem
    problem = checkpoint_problem(path, filename)
    if problem is None:
        checks += [LOADABLE, ZIP_CRC] if is_zip(path) else [LOADABLE]
    return problem


def expected_format(filename: str) -> str:
    """'safetensors' for a `.safetensors` name, else 'torch' (zip or legacy pickle)."""
    return "safetensors" if filename.lower().endswith(".safetensors") else "torch"


def checkpoint_problem(path: Path, filename: str) -> str | None:
    """Why `path` is not a whole checkpoint of the kind `filename` names (None: it is one)."""
    with path.open("rb") as f:
        head = f.read(16)
    if not head:
        return "the file is empty"
    kind = expected_format(filename)
    if head.startswith(_ZIP_MAGIC):
        if kind == "safetensors":
            return f"a zip archive, not the safetensors file {filename} names"
        return torch_zip_problem(path)
    if head[:1] == b"\x80" and head[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05"):
        if kind == "safetensors":
            return f"a pickle, not the safetensors file {filename} names"
        return legacy_torch_problem(path)
    if len(head) >= 9 and head[8:9] == b"{":
        if kind != "safetensors":
            return safetensors_problem(path) or (
                f"a safetensors file, while {filename} names a torch checkpoint"
            )
        return safetensors_problem(path)
    if kind == "safetensors":
        return safetensors_problem(path)
    return f"not a torch checkpoint (neither a zip nor a pickle; it starts with {head[:8]!r})"


def torch_zip_problem(path: Path) -> str | None:
    """A `torch.save` zip: readable central directory, every CRC-32 right, a `data.pkl`."""
    problem = zip_crc_problem(path)
    if problem is not None:
        return problem
    with zipfile.ZipFile(path) as z:
        names = z.namelist()
    if not any(n.rsplit("/", 1)[-1] == "data.pkl" for n in names):
        return "a zip archive without data.pkl: not a torch checkpoint"
    return None


def legacy_torch_problem(path: Path) -> str | None:
    """A pre-1.6 torch file: magic number, then the pickle and every storage it lists. Read by
    vzoo's loader (nothing in the pickle runs), so a missing or cut storage fails here."""
    from vzoo.hub.loading import load_checkpoint  # imports torch: only for legacy files

    try:
        load_checkpoint(path)
    except VzooError as e:
        return f"not a loadable legacy torch checkpoint ({str(e)[:160]})"
    return None


def safetensors_problem(path: Path) -> str | None:
    """8-byte header length, a JSON header, tensors covering the data section exactly."""
    size = path.stat().st_size
    with path.open("rb") as f:
        raw = f.read(8)
        if len(raw) < 8:
            return "not a safetensors file (shorter than its 8-byte header length)"
        (n,) = struct.unpack("<Q", raw)
        if n > min(size - 8, _SAFETENSORS_MAX_HEADER):
            return f"not a safetensors file (header length {n} for a {size}-byte file)"
        try:
            header = json.loads(f.read(n).decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            return "not a safetensors file (its header is not JSON)"
    if not isinstance(header, dict):
        return "not a safetensors file (its header is not a JSON object)"
    data = size - 8 - n
    spans = []
    for name, spec in header.items():
        if name == "__metadata__":
            continue
        try:
            begin, end = spec["data_offsets"]
            count = 1
            for dim in spec["shape"]:
                count *= int(dim)
            width = _SAFETENSORS_DTYPES[spec["dtype"]]
        except (KeyError, TypeError, ValueError):
            return f"safetensors header entry {name[:60]!r} is malformed"
        if not (isinstance(begin, int) and isinstance(end, int) and 0 <= begin <= end <= data):
            return f"safetensors tensor {name[:60]!r} lies outside the file's {data} data bytes"
        if end - begin != count * width:
            return f"safetensors tensor {name[:60]!r} has {end - begin} bytes for its shape"
        spans.append((begin, end))
    covered = 0
    for begin, end in sorted(spans):
        if begin != covered:
            return "safetensors tensors leave a gap or overlap in the data section"
        covered = end
    if covered != data:
        return f"the safetensors data section has {data} bytes, its tensors cover {covered}"
    return None
