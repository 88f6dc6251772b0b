"""An in-memory host behind the remote API: dispatch and policy tests without root or sshd.

``fake_app(tmp_path, files)`` builds a real :class:`~ssh_mcp.core.app.App` (real
settings, hosts.toml, audit log, registry and dispatch) whose
:class:`~ssh_mcp.core.reach.Reach` is a :class:`FakeReach`: every remote
operation gets a :class:`FakeRemote` over ``files`` (absolute path -> content,
``None`` for a directory; no symbolic links), and every command the answer of
``FakeReach.answer``. The reach counts what it was asked, so a test can see how
often a call went to its host. Real sshd tests stay the proof for the host.
"""

from __future__ import annotations

import posixpath
import stat as statmod
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

from harness import Target as HostEntry
from harness import hosts_toml, make_settings

from ssh_mcp.core.app import App, build_app
from ssh_mcp.core.remote import CappedBuffer, DirEntry, FileAttrs, ProcessResult, Remote
from ssh_mcp.core.spec import ToolSpec
from ssh_mcp.errors import PathNotAllowed, RemoteError
from ssh_mcp.ssh.connect import ConnectSpec
from ssh_mcp.ssh.pool import Lease, Pool
from ssh_mcp.ssh.sudo_io import Elevation
from ssh_mcp.tools import ALL_TOOLS

T = TypeVar("T")
HOME = "/home/agent"
MTIME = 1767225600.0  # 2026-01-01T00:00:00Z


def result(stdout: bytes = b"", exit_code: int = 0, elevated: bool | None = None) -> ProcessResult:
    """A finished command's result."""
    out, err = CappedBuffer(1 << 20), CappedBuffer(1 << 20)
    out.add(stdout)
    return ProcessResult(out, err, exit_code, None, False, 1, elevated=elevated)


class FakeRemote(Remote):
    """The typed remote API over a dict of files; what a test needs of it, nothing more."""

    def __init__(self, files: Mapping[str, bytes | None]) -> None:
        self.files = files

    @property
    def login_user(self) -> str | None:
        return "agent"

    def _full(self, path: str) -> str:
        if path == "~" or path.startswith("~/"):
            path = HOME + path[1:]
        if not path.startswith("/"):
            raise PathNotAllowed("path must be absolute or start with ~/, got a relative path")
        return "/" + posixpath.normpath(path).lstrip("/")

    def _attrs(self, path: str) -> FileAttrs:
        if path not in self.files and path != "/":
            raise RemoteError("stat failed: no such file or directory; check the path")
        content = self.files.get(path)
        kind = statmod.S_IFDIR | 0o755 if content is None else statmod.S_IFREG | 0o644
        size = None if content is None else len(content)
        return FileAttrs(kind, size, 1000, 1000, MTIME, MTIME)

    async def home(self, *, action: str = "resolving ~") -> str:
        return HOME

    async def canonical(self, path: str, *, create: bool, follow: bool = True) -> str:
        full = self._full(path)
        if full not in self.files and not (create and posixpath.dirname(full) in self.files):
            raise RemoteError("no such file or directory; check the path")
        return full

    async def canonical_as_root(
        self, path: str, elevate: Elevation, timeout: float, *, create: bool
    ) -> str:
        return await self.canonical(path, create=create)

    async def spellings(self, paths: Sequence[str], *, parents: bool) -> list[tuple[str, ...]]:
        return [(self._full(p),) for p in paths]

    async def spellings_as_root(
        self, paths: Sequence[str], elevate: Elevation, timeout: float, *, parents: bool
    ) -> list[tuple[str, ...]]:
        return await self.spellings(paths, parents=parents)

    async def links_met(self, paths: Sequence[str]) -> tuple[str, ...]:
        return ()

    async def stat(self, path: str, *, action: str = "stat") -> FileAttrs:
        return self._attrs(self._full(path))

    async def lstat(self, path: str, *, action: str = "lstat") -> FileAttrs | None:
        full = self._full(path)
        return self._attrs(full) if full in self.files else None

    async def listdir(self, path: str, *, action: str = "list") -> list[DirEntry]:
        full = self._full(path)
        return [
            DirEntry(posixpath.basename(p), self._attrs(p))
            for p in self.files
            if p != full and posixpath.dirname(p) == full
        ]


class FakeReach:
    """A :class:`~ssh_mcp.core.reach.Reach` over one in-memory host."""

    def __init__(self, files: Mapping[str, bytes | None]) -> None:
        self.files = dict(files)
        #: One entry per operation or command asked for: ("remote", replay) or ("process", cmd).
        self.entries: list[tuple[str, Any]] = []
        #: The answer to a command; by default it succeeds with no output.
        self.answer: Callable[[str, Elevation | None], ProcessResult] = lambda cmd, el: result()

    async def remote(
        self,
        spec: ConnectSpec,
        op: Callable[[Remote], Awaitable[T]],
        *,
        replay: bool,
        lease: Lease | None = None,
    ) -> T:
        self.entries.append(("remote", replay))
        return await op(FakeRemote(self.files))

    async def process(
        self,
        spec: ConnectSpec,
        command: str,
        *,
        timeout: float,
        stdout_cap: int,
        stderr_cap: int,
        stdin: bytes | None,
        on_chunk: Callable[[str, bytes], None] | None,
        elevate: Elevation | None,
        lease: Lease | None = None,
    ) -> ProcessResult:
        self.entries.append(("process", command))
        return self.answer(command, elevate)


def fake_app(
    tmp_path: Path,
    files: Mapping[str, bytes | None],
    *,
    allowlist: tuple[str, ...] = ("/srv",),
    host_extra: str = "",
    tools: tuple[ToolSpec[Any, Any], ...] = ALL_TOOLS,
    **settings: Any,
) -> tuple[App, FakeReach]:
    """An app whose one host, ``fake``, is ``files``; keyword arguments are settings."""
    key = tmp_path / "unused-key"  # never read: nothing connects
    key.write_text("")
    host = HostEntry("fake", 22, "agent", key, allowlist, host_extra)
    reach = FakeReach(files)

    def make(pool: Pool) -> FakeReach:
        return reach

    values = make_settings(tmp_path, hosts_toml(host), tmp_path / "known_hosts", **settings)
    return build_app(values, tools=tools, reach=make), reach
