"""What a tool's handler can reach: the :class:`ToolContext` dispatch implements
(:mod:`ssh_mcp.core.context`), and the plain facts it hands out. Handlers never see MCP,
``ssh/`` or asyncssh; everything they do to a host goes through these methods.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from ssh_mcp.core.terminals import Terminals
from ssh_mcp.ssh.pool import SessionInfo
from ssh_mcp.ssh.process import ProcessResult
from ssh_mcp.ssh.remote import Remote
from ssh_mcp.ssh.shell import Shell
from ssh_mcp.state.forwards import ForwardEntry, ForwardTable, ForwardWant
from ssh_mcp.state.jobs import JobTable
from ssh_mcp.state.notes import NotesStore
from ssh_mcp.state.shells import ShellTable

if TYPE_CHECKING:
    from ssh_mcp.core.spec import ToolSpec

T = TypeVar("T")


@dataclass(frozen=True)
class HostSummary:
    """A configured host as ``ssh_host_list`` shows it (never any secret)."""

    alias: str
    hostname: str
    port: int
    user: str | None
    auth_method: str
    proxy_jump: tuple[str, ...]
    notes: str | None
    #: ssh_host_alerts thresholds: disk use %, 1-min load per CPU, MemAvailable %.
    alerts: tuple[int, float, int]
    #: How the container tools run the docker CLI there (hosts.toml ``docker_cmd``).
    docker_cmd: tuple[str, ...] = ("docker",)


@dataclass(frozen=True)
class Limits:
    """The operator's size and count limits, as handlers need them."""

    stdout_cap: int
    stderr_cap: int
    inline_max_bytes: int
    transfer_max_bytes: int
    transfer_max_entries: int
    delete_folder_max_entries: int
    local_transfer: bool
    broadcast_concurrency: int | None  # None: every host of the call at once
    job_max_output_bytes: int
    job_max_running: int
    job_ttl: float
    shell_max_sessions: int
    #: SSH_DOCKER_RUN_PRIVILEGED: ssh_docker_run may use options that hand over the host.
    docker_run_privileged: bool = False


@dataclass(frozen=True)
class ServerFacts:
    """What ``ssh_server_info`` reports."""

    name: str
    version: str
    open_tiers: tuple[str, ...]
    enabled_groups: tuple[str, ...]
    tool_count: int
    host_count: int


class ToolContext(Protocol):
    """The handler's view of the world, implemented by dispatch.

    ``host`` is set for tools with a ``host`` argument, after resolution and
    policy. ``remote`` and ``run`` reach that host through the pool.
    """

    @property
    def host(self) -> HostSummary | None: ...

    @property
    def command_timeout(self) -> float: ...

    @property
    def limits(self) -> Limits: ...

    def local_refusal(self, path: str, ident: tuple[int, int] | None = None) -> str | None:
        """Why an entry below a directory transfer's local top (which dispatch confined)
        is refused, else None: a new ``path`` that is one of the server's own files or one
        its logins run; with ``ident`` (device, inode of the file the caller opened), an
        existing file that is one of the server's own under any name, hard links included."""
        ...

    def restricted_paths(self) -> tuple[str, ...]:
        """The host's restricted zones, for tools that walk a tree and must prune them:
        every spelling dispatch resolved on the host for this call (DECISIONS.md 43)."""
        ...

    def fanout(self, field: str) -> list[tuple[str, ToolContext | str]]:
        """Per host of HostSet field ``field``: its alias and a bound context, or why not."""
        ...

    def on(self, field: str) -> ToolContext:
        """The same context bound to the host named by input field ``field``."""
        ...

    async def run(
        self,
        command: str | Sequence[str],
        *,
        timeout: float | None = None,
        stdin: bytes | None = None,
        on_output: Callable[[str, bytes], None] | None = None,
        sudo: bool = False,
        cwd: str | None = None,
    ) -> ProcessResult:
        """Run on the host; a sequence is an argv joined with ``shlex.join``.

        ``on_output(stream, chunk)`` sees every chunk as it arrives, before caps.
        ``sudo=True`` runs it as root through sudo, with the password from the
        host's ``sudo_password_cmd`` on stdin (``sudo -n`` without one);
        ``ProcessResult.elevated`` is False when sudo refused. ``cwd`` (a canonical,
        confined path) is entered first with ``cd --``, outside the command text.
        """
        ...

    async def remote(self, op: Callable[[Remote], Awaitable[T]], *, replay: bool) -> T:
        """Run ``op`` with the host's typed remote API (:mod:`ssh_mcp.core.remote`) on one
        reserved connection. ``replay``: whether ``op`` may run again, from the start, on a
        fresh connection when this one drops mid-way (True for reads only); otherwise the
        drop is a ConnectionDropped error. A dropped atomic write's temp file is removed
        over a fresh connection, or named in the error."""
        ...

    async def progress(self, done: float, total: float | None, message: str | None) -> None:
        """Report progress; a no-op when the client asked for none."""
        ...

    @property
    def jobs(self) -> JobTable:
        """The server's background jobs (see :mod:`ssh_mcp.state.jobs`)."""
        ...

    @property
    def notes(self) -> NotesStore:
        """Agents' notes per host alias (see :mod:`ssh_mcp.state.notes`)."""
        ...

    @property
    def shells(self) -> ShellTable:
        """The server's open shell sessions (see :mod:`ssh_mcp.state.shells`)."""
        ...

    async def open_shell(self, cwd: str | None) -> Shell:
        """Start a persistent ``sh`` on the host, holding a channel slot while it lives."""
        ...

    @property
    def terminals(self) -> Terminals:
        """PTY sessions and device CLIs (:mod:`ssh_mcp.core.terminals`)."""
        ...

    @property
    def forwards(self) -> ForwardTable:
        """The server's port forwards (see :mod:`ssh_mcp.state.forwards`)."""
        ...

    async def open_forward(self, want: ForwardWant) -> ForwardEntry:
        """Open a forward on the host if its forward_allowlist allows (DECISIONS.md 68)."""
        ...

    def hosts(self) -> list[HostSummary]: ...

    def sessions(self) -> list[SessionInfo]: ...

    def sees_host(self, alias: str) -> bool:
        """False for a host outside the caller's HTTP token scope: lists leave it out."""
        ...

    def server_facts(self) -> ServerFacts: ...

    def catalog(self) -> list[ToolSpec[Any, Any]]:
        """The tools this caller may use (tiers, groups and mode applied), in registry order."""
        ...

    def pinned_fingerprints(self) -> list[str]: ...

    async def live_fingerprint(self) -> str:
        """The key the host offers now, fetched without authenticating or trusting it."""
        ...
