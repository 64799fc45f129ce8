"""What a ``file://`` URL names: a directory of the embedded engine (``fs://`` stays OpenDAL's).

``file:///absolute/dir`` is the same store as ``.local("/absolute/dir")`` — same index, same
transactions — so a URL in a configuration file and a path in code can name one store. ``fs://``
keeps meaning OpenDAL's ``fs`` service (the layout earlier versions wrote), for operators that want
it. Parsed here, with the standard library only, so ``from_url("file://…")`` builds no pydantic model.
"""

from __future__ import annotations

from urllib.parse import unquote, urlsplit

from ..errors import Misconfigured

__all__ = ["file_url_path", "is_file_url"]


def is_file_url(url: object) -> bool:
    return isinstance(url, str) and url[:7].lower() == "file://"


def file_url_path(url: str, *, capability: str) -> str:
    """The absolute directory a ``file:///…`` URL names, or ``Misconfigured`` saying what is wrong."""

    def fail(why: str) -> Misconfigured:
        return Misconfigured(f"bad file URL: {why}", capability=capability, operation="from_url")

    try:
        parts = urlsplit(url)
    except ValueError:
        raise fail("it cannot be parsed") from None
    if parts.netloc:
        raise fail(
            "a file URL takes an absolute path after three slashes (file:///absolute/path); what follows "
            "file:// reads as a host, and relative paths are not accepted"
        )
    if parts.query or parts.fragment:
        raise fail("a file URL takes no query or fragment (the embedded engine has no options in URLs)")
    path = unquote(parts.path)
    if not path:
        raise fail("a file URL needs an absolute directory path: file:///absolute/path")
    if "\x00" in path:
        raise Misconfigured("local store directory path contains a NUL character", capability=capability)
    return path
