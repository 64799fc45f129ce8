"""The one home for how local stores treat their directory: which paths they accept, and no links.

Every local backend (KV and R2 on files, the SQLite queue and Durable Objects) keeps its data under
one directory, its *root*. Two rules hold for all of them, and live here so they hold the same way:

* **A bad path is refused before any I/O that writes**, always as ``Misconfigured`` naming what is
  wrong: not a path, empty, a NUL byte, an existing file where the directory must be, a directory
  that cannot be created, or a store member (``k/``, ``keys/`` …) that is a symbolic link.
  :func:`local_root` does it; every ``local()`` / ``from_url`` / ``from_config`` constructor calls it.
* **Nothing below the root is reached through a symbolic link.** The root itself is resolved once,
  when the store is built (a root that is a link is the caller's choice); below it, a link can only
  have been planted, and following one would put, read or delete outside the store. Paths are
  checked component by component with ``lstat`` (:func:`check_inside`) before each operation, and
  files this module opens itself are opened relative to directory descriptors with ``O_NOFOLLOW``
  (:func:`write_replacing`, :func:`read_prefix`), so a link met there is refused by the kernel.

What is guaranteed, honestly: a link present in the tree when a call starts is never followed, and
the call fails with ``Misconfigured``. Writes made here (KV's records) are also safe against a link
planted *during* the call (each step is relative to an already-open directory). Reads and deletes
made through OpenDAL are checked, then handed to OpenDAL by path; a process that can write into the
root could swap a directory for a link in between — but such a process can already delete or replace
every record, so the check is the boundary the store can enforce, not a sandbox.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
from typing import TYPE_CHECKING, Final

from .errors import Misconfigured

if TYPE_CHECKING:
    from collections.abc import Iterable

__all__ = ["check_inside", "local_root", "read_prefix", "write_replacing"]

_DIR_FLAGS: Final = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_NOFOLLOW", 0)
_NOFOLLOW: Final = getattr(os, "O_NOFOLLOW", 0)
_CLOEXEC: Final = getattr(os, "O_CLOEXEC", 0)


def local_root(
    path: object,
    *,
    capability: str,
    operation: str = "local",
    members: Iterable[str] = (),
    create: bool = False,
) -> str:
    """The canonical absolute directory for ``path``, or ``Misconfigured`` saying what is wrong.

    ``members`` are the store's own entries directly under the root (``k``, ``.tmp`` …): each must
    not be a symbolic link. ``create`` makes the directory (and its parents) when it is missing;
    without it nothing is written — the store creates it when it first needs it.
    """

    def bad(why: str) -> Misconfigured:
        return Misconfigured(f"local store directory {why}", capability=capability, operation=operation)

    if isinstance(path, bytes) or not isinstance(path, str | os.PathLike):
        raise bad(f"must be a str or os.PathLike path, got {type(path).__name__}")
    raw = os.fspath(path)
    if not isinstance(raw, str):
        raise bad(f"must be a str path, got {type(raw).__name__}")
    if not raw:
        raise bad("path is empty")
    if "\x00" in raw:
        raise bad(f"path {raw!r} contains a NUL character")
    try:
        root = os.path.realpath(os.path.abspath(os.path.expanduser(raw)))
    except (OSError, ValueError) as exc:
        raise bad(f"path {raw!r} cannot be resolved: {exc}") from None
    try:
        info: os.stat_result | None = os.stat(root)
    except FileNotFoundError:
        info = None
    except NotADirectoryError:
        raise bad(f"{root!r}: cannot create it, a component of the path is a file") from None
    except OSError as exc:
        raise bad(f"{root!r} cannot be examined: {exc.strerror or exc}") from None
    if info is not None and not stat.S_ISDIR(info.st_mode):
        raise bad(f"{root!r} exists and is not a directory")
    if info is not None:
        for member in members:
            check_inside(root, member, capability=capability, operation=operation)
    if create and info is None:
        try:
            os.makedirs(root, exist_ok=True)
        except OSError as exc:
            raise bad(f"{root!r}: cannot create it: {exc.strerror or exc}") from None
    return root


def check_inside(
    root: str,
    relative: str,
    *,
    capability: str | None,
    operation: str | None = None,
    key: str | None = None,
) -> None:
    """Refuse (``Misconfigured``) when ``root`` or any existing component of ``root/relative`` is a
    symbolic link, or ``relative`` tries to leave the root. Missing components end the walk: what
    does not exist yet will be created as a plain directory or file."""
    current = root
    parts = [part for part in relative.split("/") if part]
    for index in range(-1, len(parts)):
        if index >= 0:
            part = parts[index]
            if part in (".", ".."):
                raise Misconfigured(
                    f"the path {relative!r} leaves the local store's root",
                    capability=capability,
                    operation=operation,
                    key=key,
                )
            current = os.path.join(current, part)
        try:
            mode = os.lstat(current).st_mode
        except (FileNotFoundError, NotADirectoryError):
            return
        if stat.S_ISLNK(mode):
            raise _linked(current, root, capability, operation, key)


def _linked(
    where: str, root: str, capability: str | None, operation: str | None, key: str | None
) -> Misconfigured:
    what = "the store's root" if where == root else f"{where!r} inside the store {root!r}"
    return Misconfigured(
        f"{what} is a symbolic link; a local store never follows links (one planted in its directory "
        "would put, read or delete outside it) — replace it with a real directory or file",
        capability=capability,
        operation=operation,
        key=key,
    )


def _open_dirs(root: str, parts: list[str], *, create: bool, capability: str | None) -> int:
    """A descriptor of ``root/parts…``, each step opened relative to the last with ``O_NOFOLLOW``."""
    fd = os.open(root, _DIR_FLAGS | _CLOEXEC)
    reached = root
    try:
        for part in parts:
            reached = os.path.join(reached, part)
            if part in ("", ".", ".."):
                raise Misconfigured(
                    f"the path segment {part!r} leaves the local store's root", capability=capability
                )
            if create:
                with contextlib.suppress(FileExistsError):
                    os.mkdir(part, 0o777, dir_fd=fd)
            try:
                child = os.open(part, _DIR_FLAGS | _CLOEXEC, dir_fd=fd)
            except OSError as exc:
                if _is_link(part, fd):
                    raise _linked(reached, root, capability, None, None) from exc
                raise
            os.close(fd)
            fd = child
    except BaseException:
        os.close(fd)
        raise
    return fd


def _is_link(name: str, dir_fd: int) -> bool:
    try:
        return stat.S_ISLNK(os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_mode)
    except OSError:
        return False


def write_replacing(root: str, relative: str, data: bytes, *, staging: str, capability: str | None) -> None:
    """Replace the file ``root/relative`` with ``data`` in one step, or change nothing.

    The bytes go to a fresh file in ``root/staging`` (same disk), which is renamed over the target;
    directories are created as needed. Every step is relative to a directory descriptor opened with
    ``O_NOFOLLOW``, so no link in the tree is followed. Any failure (a full disk: ``ENOSPC``; a file
    size limit: ``EFBIG``) removes the staged file before the ``OSError`` propagates — nothing is
    left half-written, and the space is free again.
    """
    *parents, name = relative.split("/")
    stage_fd = _open_dirs(root, [p for p in staging.split("/") if p], create=True, capability=capability)
    try:
        target_fd = _open_dirs(root, parents, create=True, capability=capability)
        try:
            if _is_link(name, target_fd):  # renaming over it would be safe, but the tree is not sound
                raise _linked(os.path.join(root, relative), root, capability, None, None)
            temporary = f"{name[:64]}.{secrets.token_hex(8)}"
            fd = os.open(
                temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW | _CLOEXEC, 0o644, dir_fd=stage_fd
            )
            try:
                try:
                    view = memoryview(data)
                    while view:
                        view = view[os.write(fd, view) :]
                finally:
                    os.close(fd)
                os.rename(temporary, name, src_dir_fd=stage_fd, dst_dir_fd=target_fd)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(temporary, dir_fd=stage_fd)
                raise
        finally:
            os.close(target_fd)
    finally:
        os.close(stage_fd)


def read_prefix(root: str, relative: str, size: int, *, capability: str | None) -> bytes | None:
    """The first ``size`` bytes of ``root/relative`` (None when it does not exist), never through a link."""
    *parents, name = relative.split("/")
    try:
        dir_fd = _open_dirs(root, parents, create=False, capability=capability)
    except FileNotFoundError:
        return None
    try:
        try:
            fd = os.open(name, os.O_RDONLY | _NOFOLLOW | _CLOEXEC, dir_fd=dir_fd)
        except FileNotFoundError:
            return None
        except OSError as exc:
            if _is_link(name, dir_fd):
                raise _linked(os.path.join(root, relative), root, capability, None, None) from exc
            raise
        with os.fdopen(fd, "rb") as file:
            return file.read(size)
    finally:
        os.close(dir_fd)
