"""Value files ("blobs"): immutable bytes, written once under a fresh name, referenced by the index.

A blob is named ``blobs/<session>/<n>`` (:mod:`.sessions`); stores converted from the earlier file
layout keep their ``blobs/<2 hex>/<32 hex>`` files under their old names. Rules:

* written once, by :class:`BlobWriter`, with ``O_CREAT | O_EXCL | O_NOFOLLOW``, before anything
  references it; under ``durability="full"`` the file and then its directory are ``fsync``'d;
* never modified; removed only once no committed index row references it (after the transaction
  that released it, or by :mod:`.recovery` when its session is dead);
* read through a descriptor: a reader opens every file it will read *before* returning, so a writer
  that replaces or deletes the object afterwards unlinks files the reader still holds open — on
  POSIX their bytes stay readable until closed. A reader that finds a file gone re-reads the index
  (the object changed under it) instead of failing.

Every path is opened relative to a directory descriptor with ``O_NOFOLLOW``: a symbolic link
planted under ``blobs/`` is never followed (``Misconfigured``, as everywhere in
:mod:`cap_opendal_core.localfs`).
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import stat
import threading
from typing import TYPE_CHECKING, Final

from ..errors import BackendError, Misconfigured
from . import faults

if TYPE_CHECKING:
    from collections.abc import Iterable

__all__ = ["BLOBS", "BlobDirs", "BlobWriter", "check_blob_name"]

BLOBS: Final = "blobs"
_NAME: Final = re.compile(r"blobs/([0-9a-f]{2}|[0-9a-f]{16})/([0-9a-f]{12}|[0-9a-f]{32})")
_DIR_FLAGS: Final = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_NOFOLLOW", 0)
_NOFOLLOW: Final = getattr(os, "O_NOFOLLOW", 0)
_CLOEXEC: Final = getattr(os, "O_CLOEXEC", 0)
_CACHED_DIRS: Final = 128


def check_blob_name(name: str, capability: str | None) -> tuple[str, str]:
    """``(directory, file)`` of a blob name read from the index; a name no engine writes is refused."""
    match = _NAME.fullmatch(name)
    if match is None:
        raise BackendError(
            "the local index names a value file this engine never writes; the index was altered",
            capability=capability,
            retryable=False,
        )
    return match.group(1), match.group(2)


def _linked(where: str, root: str, capability: str | None) -> Misconfigured:
    return Misconfigured(
        f"{where!r} inside the store {root!r} is a symbolic link; a local store never follows links "
        "(one planted in its directory would put, read or delete outside it) — replace it with a real "
        "directory or file",
        capability=capability,
    )


class BlobDirs:
    """Descriptors of ``blobs/`` and of its session directories (cached), opened without following links."""

    def __init__(self, root: str, root_fd: int, capability: str | None) -> None:
        self.root = root
        self.capability = capability
        with contextlib.suppress(FileExistsError):
            os.mkdir(BLOBS, 0o777, dir_fd=root_fd)
        self.fd = self._open_dir(BLOBS, root_fd, BLOBS)
        self._dirs: dict[str, int] = {}
        self._lock = threading.Lock()

    def _open_dir(self, name: str, parent: int, shown: str) -> int:
        try:
            return os.open(name, _DIR_FLAGS | _CLOEXEC, dir_fd=parent)
        except OSError as exc:
            if exc.errno in (errno.ELOOP, errno.ENOTDIR, errno.EMLINK) and _is_link(name, parent):
                raise _linked(os.path.join(self.root, shown), self.root, self.capability) from None
            raise

    def _verify(self, relative: str) -> None:
        """A cached descriptor is used only while its path is still that directory, not a link
        planted since (``lstat``: about a microsecond)."""
        try:
            mode = os.lstat(os.path.join(self.root, relative)).st_mode
        except FileNotFoundError:
            return
        if stat.S_ISLNK(mode):
            raise _linked(os.path.join(self.root, relative), self.root, self.capability)

    def dir_fd(self, directory: str, *, create: bool = False, durable: bool = False) -> int:
        """The descriptor of ``blobs/<directory>`` (created when ``create``)."""
        self._verify(BLOBS)
        fd = self._dirs.get(directory)
        if fd is not None:
            self._verify(f"{BLOBS}/{directory}")
            return fd
        with self._lock:
            fd = self._dirs.get(directory)
            if fd is not None:
                return fd
            if create:
                try:
                    os.mkdir(directory, 0o777, dir_fd=self.fd)
                except FileExistsError:
                    pass
                else:
                    if durable:
                        os.fsync(self.fd)
            fd = self._open_dir(directory, self.fd, f"{BLOBS}/{directory}")
            if len(self._dirs) >= _CACHED_DIRS:
                for old in list(self._dirs)[: _CACHED_DIRS // 2]:
                    os.close(self._dirs.pop(old))
            self._dirs[directory] = fd
            return fd

    def open(self, name: str) -> int:
        """A read descriptor of blob ``name``; ``FileNotFoundError`` when it is gone."""
        directory, file = check_blob_name(name, self.capability)
        dir_fd = self.dir_fd(directory)
        try:
            return os.open(file, os.O_RDONLY | _NOFOLLOW | _CLOEXEC, dir_fd=dir_fd)
        except OSError as exc:
            if exc.errno in (errno.ELOOP, errno.EMLINK) and _is_link(file, dir_fd):
                raise _linked(os.path.join(self.root, name), self.root, self.capability) from None
            raise

    def read(self, name: str, offset: int, length: int) -> bytes:
        """``length`` bytes of blob ``name`` from ``offset`` (the whole range, or ``BackendError``)."""
        fd = self.open(name)
        try:
            return read_exactly(fd, offset, length, self.capability)
        finally:
            os.close(fd)

    def unlink(self, names: Iterable[str]) -> None:
        """Remove released blobs; one already gone is fine (recovery or another process got there)."""
        first = True
        for name in names:
            if not first:
                faults.reached("release.between")
            first = False
            directory, file = check_blob_name(name, self.capability)
            with contextlib.suppress(FileNotFoundError):
                os.unlink(file, dir_fd=self.dir_fd(directory))

    def forget(self, directory: str) -> None:
        with self._lock:
            fd = self._dirs.pop(directory, None)
        if fd is not None:
            os.close(fd)

    def close(self) -> None:
        with self._lock:
            for fd in self._dirs.values():
                with contextlib.suppress(OSError):
                    os.close(fd)
            self._dirs.clear()
        with contextlib.suppress(OSError):
            os.close(self.fd)


def read_exactly(fd: int, offset: int, length: int, capability: str | None) -> bytes:
    data = os.pread(fd, length, offset)
    if len(data) < length:
        parts = [data]
        got = len(data)
        while got < length:
            more = os.pread(fd, length - got, offset + got)
            if not more:
                raise BackendError(
                    "a value file is shorter than the index says; the store was altered",
                    capability=capability,
                    retryable=False,
                )
            parts.append(more)
            got += len(more)
        data = b"".join(parts)
    return data


class BlobWriter:
    """One new blob being written. ``finish`` makes it complete (and durable, if asked); until the
    index references it, it is garbage to everyone but its session. ``discard`` removes it."""

    __slots__ = ("_dir_fd", "_fd", "_file", "durable", "name", "size")

    def __init__(self, dirs: BlobDirs, session: str, file: str, *, durable: bool) -> None:
        self._dir_fd = dirs.dir_fd(session, create=True, durable=durable)
        self._file = file
        self.name = f"{BLOBS}/{session}/{file}"
        self.durable = durable
        self.size = 0
        self._fd: int | None = os.open(
            file, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW | _CLOEXEC, 0o644, dir_fd=self._dir_fd
        )

    def write(self, data: bytes | bytearray | memoryview) -> None:
        fd = self._fd
        assert fd is not None, "write after finish"
        view = memoryview(data)
        if faults.armed() and len(view) > 1:
            half = len(view) // 2
            _write_all(fd, view[:half])
            faults.reached("blob.partial")
            view = view[half:]
        _write_all(fd, view)
        self.size += len(data)

    def finish(self) -> None:
        fd, self._fd = self._fd, None
        assert fd is not None, "finish twice"
        try:
            if self.durable:
                os.fsync(fd)
        finally:
            os.close(fd)
        if self.durable:
            os.fsync(self._dir_fd)
        faults.reached("blob.written")

    def discard(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            with contextlib.suppress(OSError):
                os.close(fd)
        with contextlib.suppress(OSError):
            os.unlink(self._file, dir_fd=self._dir_fd)


def _write_all(fd: int, view: memoryview) -> None:
    while view:
        view = view[os.write(fd, view) :]


def _is_link(name: str, dir_fd: int) -> bool:
    try:
        return stat.S_ISLNK(os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_mode)
    except OSError:
        return False
