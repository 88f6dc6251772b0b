"""A directory on this server's disk as a GNU tar stream, read race-safely, for an upload.

The walk is :func:`os.fwalk` without following symlinks: every directory is
opened relative to its parent's descriptor and checked to be the directory
that was listed, so one swapped for a symlink mid-walk is never entered.
Files are opened the same way with ``O_NOFOLLOW``; symlinks are archived as
links (the host recreates them, as ``ssh_cp`` does); devices, fifos and
sockets are skipped. The walk stays on the top's filesystem and never
enters a mount point (a bind mount of another directory shares the
device). ``refuse(path, ident)`` is asked about every regular file, with
the identity of the file actually opened: one of the server's own files
(under any name, hard links included) stops the upload.
"""

from __future__ import annotations

import asyncio
import os
import stat as statmod
import tarfile
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass

from ssh_mcp.errors import CapExceeded, PathNotAllowed, RemoteError

_READ = 1024 * 1024
Refuse = Callable[[str, tuple[int, int]], str | None]


def _mount_points() -> frozenset[str]:
    try:
        with open("/proc/self/mountinfo", encoding="utf-8", errors="surrogateescape") as f:
            lines = f.read().splitlines()
    except OSError:
        return frozenset()
    found = set()
    for line in lines:
        fields = line.split()
        if len(fields) > 4:
            found.add(fields[4].encode().decode("unicode_escape"))
    return frozenset(found)


@dataclass
class Walked:
    entries: int = 0
    bytes: int = 0
    files: int = 0
    skipped: int = 0


class LocalTar:
    """``parent/name`` (a confined local directory) as tar chunks of ``./name/...``."""

    def __init__(self, top: str, refuse: Refuse, *, max_entries: int, max_bytes: int) -> None:
        self.top, self.refuse = top.rstrip("/") or "/", refuse
        self.name = os.path.basename(self.top)
        self.max_entries, self.max_bytes = max_entries, max_bytes
        self.count = Walked()
        self.sent = Walked()
        self._mounts = _mount_points()

    def _walk(self) -> Iterator[tuple[str, list[str], list[str], int]]:
        dev: int | None = None
        for dirpath, dirnames, filenames, dirfd in os.fwalk(self.top, follow_symlinks=False):
            if dev is None:
                held = os.readlink(f"/proc/self/fd/{dirfd}")
                if held != self.top:
                    raise PathNotAllowed(
                        f"local_path {self.top} was swapped or moved meanwhile; nothing sent"
                    )
                dev = os.fstat(dirfd).st_dev
            # Not entered: another filesystem, or a mount point (a bind mount).
            keep = []
            for d in dirnames:
                st = os.stat(d, dir_fd=dirfd, follow_symlinks=False)
                full = os.path.join(dirpath, d)
                if st.st_dev == dev and full not in self._mounts:
                    keep.append(d)
                else:
                    filenames.append(d)  # listed, then skipped as "other"
            dirnames[:] = keep
            yield dirpath, dirnames, filenames, dirfd

    def scan(self) -> Walked:
        """Count entries and bytes first: over a cap, nothing is sent."""
        w = Walked()
        for _, _dirs, filenames, dirfd in self._walk():
            w.entries += 1
            for f in filenames:
                st = os.stat(f, dir_fd=dirfd, follow_symlinks=False)
                w.entries += 1
                if statmod.S_ISREG(st.st_mode):
                    w.files += 1
                    w.bytes += st.st_size
            if w.entries > self.max_entries:
                raise CapExceeded(
                    f"{self.top} holds more than {self.max_entries} entries "
                    "(SSH_TRANSFER_MAX_ENTRIES); nothing was sent"
                )
        if w.bytes > self.max_bytes:
            raise CapExceeded(
                f"{self.top} holds {w.bytes} bytes, over SSH_TRANSFER_MAX_BYTES "
                f"({self.max_bytes}); nothing was sent"
            )
        self.count = w
        return w

    def _header(self, rel: str, st: os.stat_result, kind: bytes, link: str = "") -> bytes:
        info = tarfile.TarInfo(f"./{self.name}/{rel}" if rel else f"./{self.name}")
        info.type, info.mode, info.mtime = kind, statmod.S_IMODE(st.st_mode), int(st.st_mtime)
        info.size = st.st_size if kind == tarfile.REGTYPE else 0
        info.linkname = link
        self.sent.entries += 1
        if self.sent.entries > self.max_entries:
            raise CapExceeded(f"{self.top} grew past {self.max_entries} entries while sent")
        return info.tobuf(tarfile.GNU_FORMAT, "utf-8", "surrogateescape")

    async def chunks(self) -> AsyncIterator[bytes]:
        """The stream: headers, file data read in a worker thread, the end blocks."""
        for dirpath, _, filenames, dirfd in self._walk():
            rel = os.path.relpath(dirpath, self.top)
            rel = "" if rel == "." else rel
            yield self._header(rel, os.fstat(dirfd), tarfile.DIRTYPE)
            for f in sorted(filenames):
                async for piece in self._entry(os.path.join(rel, f) if rel else f, f, dirfd):
                    yield piece
        yield b"\0" * (2 * tarfile.BLOCKSIZE)

    async def _entry(self, rel: str, name: str, dirfd: int) -> AsyncIterator[bytes]:
        st = os.stat(name, dir_fd=dirfd, follow_symlinks=False)
        if statmod.S_ISLNK(st.st_mode):
            yield self._header(rel, st, tarfile.SYMTYPE, os.readlink(name, dir_fd=dirfd))
            return
        if not statmod.S_ISREG(st.st_mode):
            self.sent.skipped += 1
            return
        try:
            fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dirfd)
        except OSError as exc:
            raise RemoteError(f"reading {self.top}/{rel} failed: {exc.strerror}") from None
        try:
            st = os.fstat(fd)
            if not statmod.S_ISREG(st.st_mode):
                raise PathNotAllowed(f"{self.top}/{rel} changed while sent; stopped")
            why = self.refuse(os.path.join(self.top, rel), (st.st_dev, st.st_ino))
            if why is not None:
                raise PathNotAllowed(f"{self.top}/{rel}: {why}; nothing was sent")
            if self.sent.bytes + st.st_size > self.max_bytes:
                raise CapExceeded(f"{self.top} grew past {self.max_bytes} bytes while sent")
            yield self._header(rel, st, tarfile.REGTYPE)
            left = st.st_size
            while left:
                data = await asyncio.to_thread(os.read, fd, min(_READ, left))
                if not data:
                    raise RemoteError(f"{self.top}/{rel} shrank while sent; stopped")
                left -= len(data)
                self.sent.bytes += len(data)
                yield data
            self.sent.files += 1
            if pad := -st.st_size % tarfile.BLOCKSIZE:
                yield b"\0" * pad
        finally:
            os.close(fd)
