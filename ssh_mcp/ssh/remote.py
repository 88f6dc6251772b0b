"""The typed remote API: everything a tool may do on a host, over one pooled connection.

A :class:`Remote` is handed to a tool's operation by ``ToolContext.remote``
(:mod:`ssh_mcp.core.context`), which runs it through :meth:`Pool.run` with
an explicit ``replay``: whether the operation may run again on a fresh
connection when this one drops mid-way. Reads may; a change may not.

Every method takes paths dispatch already resolved and confined, and
translates asyncssh's exceptions here, at the edge (:func:`_translated`):
an SFTP status becomes a :class:`RemoteError` that says what to do, a lost
connection becomes :class:`Dropped` tagged with this connection (so a run
holding another connection lets it pass), and nothing asyncssh leaves here.
"""

from __future__ import annotations

import contextlib
import shlex
import stat as statmod
from collections.abc import AsyncGenerator, AsyncIterator, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ssh_mcp.errors import RemoteError
from ssh_mcp.ssh import host_copy as _host_copy
from ssh_mcp.ssh import jobs as _jobs
from ssh_mcp.ssh import piped as _piped
from ssh_mcp.ssh import spellings as _spellings
from ssh_mcp.ssh import transfer as _transfer
from ssh_mcp.ssh._staging import dropped_errors
from ssh_mcp.ssh.elevated import realpath_as_root
from ssh_mcp.ssh.pooled import Dropped, PooledConnection, StaleConnection, translate_open
from ssh_mcp.ssh.sftp import canonicalize, home, sftp_error
from ssh_mcp.ssh.sudo_io import Elevation
from ssh_mcp.ssh.transfer import Progress, Stamp, Written

if TYPE_CHECKING:
    import asyncssh
else:
    from ssh_mcp.ssh._lazy import asyncssh


@dataclass(frozen=True)
class FileAttrs:
    """What SFTP tells of a file. ``mode`` is the whole st_mode (type and permission bits);
    fields the server did not send are None."""

    mode: int | None
    size: int | None
    uid: int | None
    gid: int | None
    mtime: float | None
    atime: float | None

    @property
    def is_dir(self) -> bool:
        return self.mode is not None and statmod.S_ISDIR(self.mode)

    @property
    def is_file(self) -> bool:
        return self.mode is not None and statmod.S_ISREG(self.mode)

    @property
    def perms(self) -> int | None:
        """Permission bits only (``S_IMODE``), or None."""
        return None if self.mode is None else statmod.S_IMODE(self.mode)


@dataclass(frozen=True)
class DirEntry:
    name: str
    attrs: FileAttrs


def _attrs(a: asyncssh.SFTPAttrs) -> FileAttrs:
    return FileAttrs(a.permissions, a.size, a.uid, a.gid, a.mtime, a.atime)


@contextlib.contextmanager
def _translated(pc: PooledConnection, action: str) -> Iterator[None]:
    """The one place asyncssh's exceptions become the project's (see the module docstring)."""
    try:
        yield
    except (asyncssh.SFTPConnectionLost, asyncssh.SFTPNoConnection) as exc:
        raise Dropped(pc, action, exc.reason or "connection lost") from None
    except asyncssh.SFTPError as exc:
        raise sftp_error(exc, action) from None
    except asyncssh.ChannelOpenError as exc:
        raise translate_open(exc, pc) from None
    except dropped_errors() as exc:
        raise Dropped(pc, action, f"{type(exc).__name__}: {exc}") from None


class Remote:
    """One host, over one reserved pooled connection, for the span of one operation."""

    def __init__(self, pc: PooledConnection) -> None:
        self._pc = pc

    async def _sftp(self) -> asyncssh.SFTPClient:
        # Opening SFTP has no side effects: a drop here is a StaleConnection, always retried.
        return await self._pc.sftp()

    # -- reads: may be replayed ---------------------------------------------------------

    async def home(self, *, action: str = "resolving ~") -> str:
        """The login user's home directory, as the host spells it."""
        sftp = await self._sftp()
        with _translated(self._pc, action):
            return await home(sftp, action)

    async def canonical(self, path: str, *, create: bool, follow: bool = True) -> str:
        """``path`` resolved on the host the way the operation on it will (see ``canonicalize``)."""
        sftp = await self._sftp()
        with _translated(self._pc, "resolving the path"):
            return await canonicalize(sftp, path, create=create, follow=follow)

    async def stat(self, path: str, *, action: str = "stat") -> FileAttrs:
        """``path``'s attributes, symlinks followed."""
        sftp = await self._sftp()
        with _translated(self._pc, action):
            return _attrs(await sftp.stat(path))

    async def lstat(self, path: str, *, action: str = "lstat") -> FileAttrs | None:
        """``path``'s own attributes (a link is a link), or None when nothing is there."""
        sftp = await self._sftp()
        with _translated(self._pc, action):
            try:
                return _attrs(await sftp.lstat(path))
            except asyncssh.SFTPNoSuchFile:
                return None

    async def listdir(self, path: str, *, action: str = "list") -> list[DirEntry]:
        """The entries of directory ``path`` (without ``.`` and ``..``), unsorted."""
        sftp = await self._sftp()
        with _translated(self._pc, action):
            names = await sftp.readdir(path)
        return [
            DirEntry(str(n.filename), _attrs(n.attrs))
            for n in names
            if n.filename not in (".", "..")
        ]

    async def readlink(self, path: str, *, action: str = "readlink") -> str:
        sftp = await self._sftp()
        with _translated(self._pc, action):
            target = await sftp.readlink(path)
        return str(target)

    async def regular_file(self, path: str, max_bytes: int) -> tuple[int, int]:
        """Size and permission bits of the regular file ``path``, refused over ``max_bytes``."""
        sftp = await self._sftp()
        with _translated(self._pc, "stat"):
            return await _transfer.regular_file(sftp, path, max_bytes)

    async def existing_mode(self, path: str) -> int | None:
        """The mode a replacement of ``path`` keeps (no setuid, setgid, sticky), or None
        when it does not exist."""
        sftp = await self._sftp()
        with _translated(self._pc, "stat"):
            return await _transfer.existing_mode(sftp, path)

    async def stamp(self, path: str) -> Stamp:
        """Size and mtime, to notice the file changing under a read-modify-write."""
        sftp = await self._sftp()
        with _translated(self._pc, "stat"):
            return await _transfer.stamp(sftp, path)

    async def read(self, path: str, *, max_bytes: int, progress: Progress | None = None) -> bytes:
        """The whole file; :class:`CapExceeded` past ``max_bytes``."""
        sftp = await self._sftp()
        with _translated(self._pc, "read"):
            return await _transfer.read_all(sftp, path, max_bytes=max_bytes, progress=progress)

    @contextlib.asynccontextmanager
    async def read_stream(
        self, path: str, *, max_bytes: int, progress: Progress | None = None
    ) -> AsyncIterator[AsyncIterator[bytes]]:
        """``async with remote.read_stream(path, ...) as chunks``: the file in chunks, closed
        with the block. A drop raises :class:`Dropped` for this connection."""
        sftp = await self._sftp()
        chunks = self._stream(sftp, path, max_bytes, progress)
        async with contextlib.aclosing(chunks):
            yield chunks

    async def _stream(
        self, sftp: asyncssh.SFTPClient, path: str, max_bytes: int, progress: Progress | None
    ) -> AsyncGenerator[bytes]:
        chunks = _transfer.read_chunks(sftp, path, max_bytes=max_bytes, progress=progress)
        async with contextlib.aclosing(chunks):
            while True:
                with _translated(self._pc, "read"):
                    try:
                        chunk = await anext(chunks)
                    except StopAsyncIteration:
                        return
                    except StaleConnection as exc:
                        # Tagged with this connection: a run holding another one (a copy's
                        # destination) lets it pass to the run that holds this one.
                        raise Dropped(self._pc, "read", str(exc).removeprefix("read: ")) from None
                yield chunk

    async def job_output(
        self, job_dir: str, segment: int, since: dict[str, int], cap: dict[str, int]
    ) -> dict[str, _jobs.Chunk]:
        """A background job's streams from ``since``, at most ``cap`` bytes each."""
        with _translated(self._pc, "reading the job's output"):
            return await _jobs.read_streams(self._pc, job_dir, segment, since, cap)

    # -- changes: never replayed -------------------------------------------------------

    async def write_atomic(
        self,
        path: str,
        source: bytes | str | AsyncIterator[bytes],
        *,
        mode: int | None,
        overwrite: bool,
        max_bytes: int,
        total: int | None = None,
        progress: Progress | None = None,
        expect: Stamp | None = None,
    ) -> Written:
        """Write ``source`` (bytes, a local file path, or chunks) through a temp file and a
        rename. A drop raises ``WriteInterrupted`` naming the temp file; the context removes
        it over a fresh connection."""
        sftp = await self._sftp()
        with _translated(self._pc, "write"):
            return await _transfer.write_atomic(
                sftp,
                path,
                source,
                mode=mode,
                overwrite=overwrite,
                max_bytes=max_bytes,
                total=total,
                progress=progress,
                expect=expect,
            )

    async def download(
        self,
        path: str,
        local_path: str,
        *,
        overwrite: bool,
        max_bytes: int,
        progress: Progress | None = None,
    ) -> Written:
        """Stream ``path`` to the local ``local_path`` through a local temp file and a rename."""
        sftp = await self._sftp()
        with _translated(self._pc, "read"):
            return await _transfer.download_atomic(
                sftp,
                path,
                local_path,
                overwrite=overwrite,
                max_bytes=max_bytes,
                progress=progress,
            )

    async def mkdir(self, path: str) -> None:
        sftp = await self._sftp()
        with _translated(self._pc, "mkdir"):
            await sftp.mkdir(path)

    async def chmod(self, path: str, mode: int, *, action: str = "chmod") -> None:
        sftp = await self._sftp()
        with _translated(self._pc, action):
            await sftp.chmod(path, mode)

    async def symlink(self, target: str, path: str, *, action: str = "symlink") -> None:
        """Create the symbolic link ``path`` pointing at ``target`` (stored as given)."""
        sftp = await self._sftp()
        with _translated(self._pc, action):
            await sftp.symlink(target, path)

    async def remove(self, path: str) -> None:
        """Remove the file or link ``path`` (never a directory)."""
        sftp = await self._sftp()
        with _translated(self._pc, "remove"):
            await sftp.remove(path)

    # -- a copy on the host, as cp makes it: never replayed -------------------------

    async def copy_as_cp(
        self,
        src: str,
        dst: str,
        *,
        src_mode: int | None,
        overwrite: bool,
        max_bytes: int,
        progress: Progress | None = None,
    ) -> _host_copy.FileCopied:
        """Copy the regular file ``src`` (permission bits ``src_mode``) to ``dst`` on this
        host as ``cp`` does: a replaced file keeps its mode, through a temp file renamed or
        linked into place (:mod:`ssh_mcp.ssh.host_copy`). A drop raises ``WriteInterrupted``
        naming the temp file; the context removes it over a fresh connection."""
        sftp = await self._sftp()
        with _translated(self._pc, _host_copy.ACTION):
            return await _host_copy.copy_file(
                sftp,
                src,
                dst,
                src_mode=src_mode,
                overwrite=overwrite,
                max_bytes=max_bytes,
                progress=progress,
            )

    # -- a command with streamed stdin and stdout: never replayed ------------------------

    def piped(
        self,
        argv: Sequence[str],
        *,
        stdin: AsyncIterator[bytes] | None = None,
        abort: bytes | None = None,
    ) -> contextlib.AbstractAsyncContextManager[_piped.Piped]:
        """``async with remote.piped(argv, stdin=chunks) as run``: ``run.chunks()`` is its
        stdout, ``run.exit_code`` known after the block; ``abort`` is sent before a stop
        (:mod:`ssh_mcp.ssh.piped`)."""
        return _piped.piped(self._pc, shlex.join(argv), stdin=stdin, abort=abort)

    # -- dispatch's resolution of paths and configured paths: reads -------------------

    async def canonical_as_root(
        self, path: str, elevate: Elevation, timeout: float, *, create: bool
    ) -> str:
        """``path`` resolved by root through sudo (``realpath -e``), for the sudo tools."""
        return await realpath_as_root(self._pc, path, elevate, timeout, create=create)

    async def spellings(self, paths: Sequence[str], *, parents: bool) -> list[tuple[str, ...]]:
        """Every spelling the host gives each configured path (:func:`spellings.spellings`)."""
        with _translated(self._pc, "resolving the configured paths"):
            return await _spellings.spellings(self._pc, paths, parents=parents)

    async def spellings_as_root(
        self, paths: Sequence[str], elevate: Elevation, timeout: float, *, parents: bool
    ) -> list[tuple[str, ...]]:
        """As :meth:`spellings`, resolved by root through sudo (one command)."""
        return await _spellings.spellings_as_root(
            self._pc, paths, elevate, timeout, parents=parents
        )

    async def links_met(self, paths: Sequence[str]) -> tuple[str, ...]:
        """Every symbolic link met while the login user resolves ``paths``."""
        with _translated(self._pc, "resolving the configured paths"):
            return await _spellings.links_met(self._pc, paths)


__all__ = [
    "DirEntry",
    "Dropped",
    "FileAttrs",
    "Remote",
    "RemoteError",
    "StaleConnection",
    "Stamp",
    "Written",
]
