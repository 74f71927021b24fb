"""`hf://org/repo[@revision]/path/file` mirrors, fetched with `huggingface_hub.hf_hub_download`.

The Hub library owns its cache and settings: HF_ENDPOINT, HF_HUB_CACHE/HF_HOME, HF_HUB_OFFLINE and
HF_TOKEN are honoured. They are read here at call time (the library reads some at import), so a
process that changes them later still gets what it asked for.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from vzoo.hub.errors import DownloadError


@dataclass(frozen=True)
class HfFile:
    """A file in a Hugging Face Hub repository (`hf://org/repo[@revision]/path`)."""

    repo_id: str
    filename: str
    revision: str | None

    def __str__(self) -> str:
        rev = f"@{self.revision}" if self.revision else ""
        return f"hf://{self.repo_id}{rev}/{self.filename}"


def parse_hf_url(url: str) -> HfFile:
    """The repository, revision and path of an `hf://` mirror URL (bad form: DownloadError)."""
    if not url.startswith("hf://"):
        raise DownloadError(f"{url}: not an hf:// mirror URL")
    parts = url[len("hf://") :].split("/")
    if len(parts) < 3 or not all(parts):
        raise DownloadError(f"{url}: expected hf://org/repo/path/to/file")
    repo, revision = parts[1], None
    if "@" in repo:
        repo, revision = repo.split("@", 1)
    return HfFile(f"{parts[0]}/{repo}", "/".join(parts[2:]), revision)


def _hf_cache_dir() -> str | None:
    if os.environ.get("HF_HUB_CACHE"):
        return os.environ["HF_HUB_CACHE"]
    if os.environ.get("HF_HOME"):
        return str(Path(os.environ["HF_HOME"]) / "hub")
    return None


def fetch_hf_mirror(file: HfFile, *, local_only: bool) -> Path:
    """The file's path in the Hugging Face cache (downloading it unless `local_only`)."""
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError

    hf_offline = os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on")
    offline = local_only or hf_offline
    try:
        path = hf_hub_download(
            repo_id=file.repo_id,
            filename=file.filename,
            revision=file.revision,
            cache_dir=_hf_cache_dir(),
            endpoint=os.environ.get("HF_ENDPOINT") or None,
            local_files_only=offline,
        )
    except LocalEntryNotFoundError as e:
        why = "not in the Hugging Face cache" if offline else f"unreachable ({_first_line(e)})"
        raise DownloadError(f"Hugging Face mirror {file}: {why}") from None
    except HfHubHTTPError as e:
        raise DownloadError(f"Hugging Face mirror {file}: {_first_line(e)}") from None
    except Exception as e:  # the library's transport errors (httpx2) vary between versions
        raise DownloadError(
            f"Hugging Face mirror {file}: {type(e).__name__}: {_first_line(e)}"
        ) from None
    return Path(path)


def _first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return text[0] if text else type(e).__name__
