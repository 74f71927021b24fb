"""URLs given to vzoo (registry weights and mirrors, `VZOO_*_ENDPOINT` variables), parsed and
held to the schemes vzoo fetches with, before anything is contacted."""

from __future__ import annotations

from urllib.parse import urlsplit

WEB_SCHEMES = ("https", "http")
# a mirror may also name a file on the Hugging Face Hub: hf://<org>/<repo>/<file>
MIRROR_SCHEMES = (*WEB_SCHEMES, "hf")


def url_problem(url: str, schemes: tuple[str, ...] = WEB_SCHEMES) -> str | None:
    """What is wrong with `url` (unparsable, another scheme, no host), or None."""
    if not url.isprintable() or any(c.isspace() for c in url):
        return "it holds spaces or control characters"
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018  (a port that is not a number raises here)
    except ValueError as e:
        return f"unparsable: {e}"
    allowed = ", ".join(f"{s}://" for s in schemes)
    if parts.scheme.lower() not in schemes:
        return f"vzoo fetches only {allowed}"
    if not parts.netloc or (parts.scheme != "hf" and not parts.hostname):
        return "it names no host"
    return None
