"""Unpacking a tar stream into a new directory on this server's disk, race-safely.

The tree is built in a hidden temp sibling of the target
(``.<name>.ssh-mcp-<hex>``, private), entered and named only through
directory descriptors (``openat``, ``O_NOFOLLOW``), and renamed into place
whole at the end; any failure removes it. Every file is written to its own
temp name, fsynced and renamed, so even inside the temp tree no file is ever
seen half-written. Only regular files and directories are made: links,
devices and fifos are counted as skipped. Files are 0600 and directories
0700, as a single download is: what comes off a host may be secret.

The parent directory is held as a descriptor whose kernel name
(``/proc/self/fd``) must still be the confined path dispatch resolved, the
local twin of the remote ``pwd -P`` check (DECISIONS.md 45).
"""

from __future__ import annotations

import contextlib
import os
import posixpath
import secrets
import shutil
from collections.abc import Callable

from ssh_mcp.errors import PathNotAllowed, RemoteError
from ssh_mcp.ssh.tarstream import Member

_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def _held_name(fd: int) -> str | None:
    with contextlib.suppress(OSError):
        return os.readlink(f"/proc/self/fd/{fd}")
    return None


class LocalTree:
    """The new local directory ``parent/name``, filled member by member.

    ``refuse(final_path)`` names why a path must not be created (one of the server's
    own files, or a file its logins run), else None. Use as a context manager: leaving
    without :meth:`land` removes everything made.
    """

    def __init__(self, parent: str, name: str, refuse: Callable[[str], str | None]) -> None:
        self.parent, self.name, self._refuse = parent, name, refuse
        self.tmp = f".{name}.ssh-mcp-{secrets.token_hex(6)}"
        self.files = self.dirs = self.skipped = self.bytes = 0
        self._pfd = -1
        self._dirs: dict[str, int] = {}
        self._file: tuple[int, int, str, str] | None = None  # fd, dir fd, temp, name

    def __enter__(self) -> LocalTree:
        self._pfd = os.open(self.parent, _DIR)
        try:
            self._start()
        except BaseException:
            self.__exit__()
            raise
        return self

    def _start(self) -> None:
        held = _held_name(self._pfd)
        if held is not None and held != self.parent:
            raise PathNotAllowed(
                f"the local directory {self.parent} was swapped or moved meanwhile; nothing written"
            )
        if self._exists(self.name):
            raise RemoteError(f"local_path {self.path} exists; a tree never merges or replaces")
        os.mkdir(self.tmp, 0o700, dir_fd=self._pfd)
        self._dirs[""] = os.open(self.tmp, _DIR, dir_fd=self._pfd)

    @property
    def path(self) -> str:
        return posixpath.join(self.parent, self.name)

    def _exists(self, name: str) -> bool:
        try:
            os.stat(name, dir_fd=self._pfd, follow_symlinks=False)
        except FileNotFoundError:
            return False
        return True

    def _relative(self, member: Member, top: str) -> str | None:
        """``./top/a/b`` as ``a/b`` ("" for the top itself); None for a name outside it."""
        parts = [p for p in member.name.split("/") if p not in ("", ".")]
        if not parts or parts[0] != top or ".." in parts:
            return None
        return "/".join(parts[1:])

    def begin(self, member: Member, top: str) -> None:
        """Start ``member`` (named as ``tar -c ./top`` names it)."""
        self._close_file()
        rel = self._relative(member, top)
        if rel is None:
            raise RemoteError(f"the tar stream names {member.name!r}, outside the tree; stopped")
        final = posixpath.join(self.path, rel) if rel else self.path
        if rel and (why := self._refuse(final)) is not None:
            raise PathNotAllowed(f"{final}: {why}; nothing written")
        if member.kind == "dir":
            if rel:
                self._dir(rel, create=True)
            self.dirs += 1
        elif member.kind == "file" and rel:
            head, base = posixpath.split(rel)
            dfd = self._dir(head, create=False)
            temp = f".{base}.ssh-mcp-{secrets.token_hex(6)}"
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
            self._file = (os.open(temp, flags, 0o600, dir_fd=dfd), dfd, temp, base)
            self.files += 1
        else:
            self.skipped += 1

    def _dir(self, rel: str, *, create: bool) -> int:
        if rel in self._dirs:
            return self._dirs[rel]
        head, base = posixpath.split(rel)
        up = self._dir(head, create=create)
        if create:
            os.mkdir(base, 0o700, dir_fd=up)
        fd = os.open(base, _DIR, dir_fd=up)  # O_NOFOLLOW: never a link, not even a new one
        self._dirs[rel] = fd
        return fd

    def write(self, data: bytes) -> None:
        """Data of the current member (dropped for a skipped one)."""
        if self._file is not None:
            view = memoryview(data)
            while view:
                view = view[os.write(self._file[0], view) :]
            self.bytes += len(data)

    def _close_file(self) -> None:
        if self._file is None:
            return
        fd, dfd, temp, base = self._file
        self._file = None
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        if self._exists_in(dfd, base):
            raise RemoteError(f"the tar stream holds {base!r} twice; stopped")
        os.rename(temp, base, src_dir_fd=dfd, dst_dir_fd=dfd)

    @staticmethod
    def _exists_in(dfd: int, name: str) -> bool:
        try:
            os.stat(name, dir_fd=dfd, follow_symlinks=False)
        except FileNotFoundError:
            return False
        return True

    def land(self) -> None:
        """Move the finished tree into place; refused if ``name`` appeared meanwhile."""
        self._close_file()
        for fd in self._dirs.values():
            os.fsync(fd)
        if self._exists(self.name):
            raise RemoteError(f"local_path {self.path} appeared meanwhile; nothing replaced")
        os.rename(self.tmp, self.name, src_dir_fd=self._pfd, dst_dir_fd=self._pfd)
        self.tmp = ""
        os.fsync(self._pfd)

    def __exit__(self, *exc: object) -> None:
        if self._file is not None:
            os.close(self._file[0])
            self._file = None
        for fd in self._dirs.values():
            os.close(fd)
        self._dirs.clear()
        if self._pfd >= 0:
            if self.tmp:
                shutil.rmtree(self.tmp, ignore_errors=True, dir_fd=self._pfd)
            os.close(self._pfd)
            self._pfd = -1
