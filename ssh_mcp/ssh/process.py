"""Running one remote command with byte caps, a deadline and a real stop.

``conn.run(timeout=)`` leaves the remote process running and its channel open.
Here a deadline or a cancel climbs a stop ladder instead: the ``signal``
channel request INT, then TERM, then KILL (OpenSSH answers each with killpg on
the session, so children die too), then the channel is closed.

Channel signals are not enough. OpenSSH refuses them on sessions without
privilege separation (every ``root`` login), and once the command's shell has
exited, sshd signals nobody, while ``cmd &`` children keep the channel open and
run on. So the command is prefixed to print its shell's PID (the session's
process group) as the first stderr line, which is stripped, and each rung also
sends ``kill -SIG -- -PGID`` over a second channel of the same connection. The
prefix also starts a watchdog that ends the group if the connection dies with
no ladder at all (a server killed with SIGKILL; see :mod:`ssh_mcp.ssh.marks`).
The prefix needs a POSIX-family login shell, and so does every sh-quoted command:
:func:`posix_login` checks that once per connection, and commands are refused
on fish or csh logins.
Commands run through sudo (:class:`Elevation`) are stopped the same way, with
the kill itself run through sudo: the login user's sshd cannot signal processes
that run as root.

Channel slots follow sshd's count: a channel still open when the call ends
keeps its slot (``PooledConnection.hold``) until it closes, and a call
cancelled while its channel was opening still stops whatever that channel
started, in the background.
"""

from __future__ import annotations

import asyncio
import contextlib
import shlex
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import anyio

from ssh_mcp.errors import ConnectionDropped, RemoteError
from ssh_mcp.ssh.marks import PID_PREFIX, ROOT_WATCH, MarkFilter, posix_login
from ssh_mcp.ssh.pooled import PooledConnection, connection_lost, translate_open
from ssh_mcp.ssh.sudo_io import Elevation, SudoFeed, SudoReport, run_as_root

if TYPE_CHECKING:
    import asyncssh
else:
    from ssh_mcp.ssh._lazy import asyncssh

#: Seconds each rung of the stop ladder waits for the process to exit.
STOP_GRACE = 0.5
_READ = 65536


class CappedBuffer:
    """Keeps the head and the tail of a stream within ``cap`` bytes; counts the rest.

    The head fills first, up to half the cap; everything after goes to a tail
    trimmed to the other half. While ``total <= cap`` head + tail is the whole
    stream, so nothing is known or lost about truncation until it happens.
    """

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self._head_cap = cap // 2
        self._tail_cap = cap - self._head_cap
        self.head = bytearray()
        self.tail = bytearray()
        self.total = 0

    def add(self, chunk: bytes) -> None:
        self.total += len(chunk)
        if len(self.head) < self._head_cap:
            take = self._head_cap - len(self.head)
            self.head += chunk[:take]
            chunk = chunk[take:]
        if chunk:
            self.tail += chunk
            if len(self.tail) > self._tail_cap:
                del self.tail[: len(self.tail) - self._tail_cap]

    @property
    def kept(self) -> bytes:
        """Head and tail together: the whole stream unless it was truncated."""
        return bytes(self.head + self.tail)

    @property
    def truncated(self) -> bool:
        return self.total > self.cap

    @property
    def omitted(self) -> int:
        return self.total - len(self.head) - len(self.tail)


@dataclass(frozen=True)
class ProcessResult:
    """What came back from one command. A non-zero exit is data, not an error."""

    stdout: CappedBuffer
    stderr: CappedBuffer
    exit_code: int | None
    signal: str | None
    timed_out: bool
    duration_ms: int
    #: With an Elevation: whether the command started as root (False: sudo refused).
    elevated: bool | None = None
    #: With an Elevation: how the password exchange went (see ssh_mcp.ssh.sudo_io).
    sudo: SudoReport | None = None


#: The first stdout line of an elevated command, printed by root's shell once sudo let it run.
_ROOT_MARK = b"\x1essh-mcp-root:"
_ROOT_SCRIPT = "printf '\\036ssh-mcp-root:\\n'; " + ROOT_WATCH + 'exec sh -c "$1"'


async def _pump(
    stream: asyncssh.SSHReader[bytes],
    buf: CappedBuffer,
    name: str,
    on_chunk: Callable[[str, bytes], None] | None,
    pid_filter: MarkFilter | SudoFeed | None = None,
) -> None:
    def deliver(chunk: bytes) -> None:
        if chunk:
            buf.add(chunk)
            if on_chunk is not None:
                on_chunk(name, chunk)

    with contextlib.suppress(asyncssh.Error, OSError):
        while chunk := await stream.read(_READ):
            deliver(pid_filter.feed(chunk) if pid_filter else chunk)
    if pid_filter is not None:
        deliver(pid_filter.flush())


async def _kill_group(
    pc: PooledConnection, pgid: int, sig: str, elevate: Elevation | None = None
) -> None:
    """``kill -SIG -- -PGID`` over a second channel (through sudo when elevated);
    best effort, bounded."""
    argv = ["kill", "-s", sig, "--", f"-{pgid}"]
    with contextlib.suppress(asyncssh.Error, OSError, TimeoutError):
        if elevate is None:
            await asyncio.wait_for(pc.conn.run(shlex.join(argv), check=False), STOP_GRACE * 4)
        else:  # the password goes only to sudo's prompt, as for the command itself
            await asyncio.wait_for(run_as_root(pc.conn, argv, elevate), STOP_GRACE * 4)


async def stop_process(
    proc: asyncssh.SSHClientProcess[bytes],
    closed: asyncio.Future[None],
    pc: PooledConnection | None = None,
    pid_filter: MarkFilter | None = None,
    elevate: Elevation | None = None,
) -> None:
    """Climb INT → TERM → KILL, waiting briefly after each, then close the channel.

    With ``pid_filter`` (root logins) each rung also kills the process group. Its
    PID line may still be in flight when a short timeout fires on a busy host, so
    it is read at every rung, not once: the pumps keep draining meanwhile.
    """
    for sig in ("INT", "TERM", "KILL"):
        if closed.done():
            break
        with contextlib.suppress(OSError, asyncssh.Error):
            proc.send_signal(sig)
        pgid = pid_filter.pgid if pid_filter else None
        if pc is not None and pgid is not None and pc.alive:
            await _kill_group(pc, pgid, sig, elevate)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(closed), STOP_GRACE)
    proc.close()


_abandoned: set[asyncio.Task[None]] = set()


async def open_process(pc: PooledConnection, command: str) -> asyncssh.SSHClientProcess[bytes]:
    """Open the channel and start ``command``; safe to cancel at any point.

    The open runs in a task of its own: cancelled mid-open, asyncssh would leave
    the channel open with nobody to close it (or the command running, if the
    exec request was already sent). Instead the task finishes and is stopped.
    """

    async def create() -> asyncssh.SSHClientProcess[bytes]:
        proc: asyncssh.SSHClientProcess[bytes] = await pc.conn.create_process(
            command, encoding=None
        )
        return proc

    loop = asyncio.get_running_loop()
    opening = loop.create_task(create())
    try:
        return await asyncio.shield(opening)
    except asyncssh.ChannelOpenError as exc:
        raise translate_open(exc, pc) from None
    except connection_lost():
        # The channel was open (a drop during the open is a ChannelOpenError), so the exec
        # request was on its way: the command may run, and running it again is not ours to do.
        raise ConnectionDropped(
            f"the connection to {pc.spec.label} dropped as the command was starting; "
            "it may have started there; check before running it again"
        ) from None
    except asyncio.CancelledError:
        if not opening.done() or (not opening.cancelled() and opening.exception() is None):
            stopper = loop.create_task(_stop_abandoned(opening))
            _abandoned.add(stopper)
            stopper.add_done_callback(_abandoned.discard)
            pc.hold(stopper)
        raise


async def _stop_abandoned(opening: asyncio.Task[asyncssh.SSHClientProcess[bytes]]) -> None:
    try:
        proc = await opening
    except (Exception, asyncio.CancelledError):
        return
    closed: asyncio.Future[None] = asyncio.get_running_loop().create_task(proc.wait_closed())
    await stop_process(proc, closed)
    await closed  # the slot stays held until sshd is done with the session


async def run_process(
    pc: PooledConnection,
    command: str,
    *,
    timeout: float,
    stdout_cap: int,
    stderr_cap: int,
    stdin: bytes | None = None,
    on_chunk: Callable[[str, bytes], None] | None = None,
    elevate: Elevation | None = None,
) -> ProcessResult:
    """Run ``command`` (already a shell-safe string) on ``pc`` and collect capped output.

    With ``elevate`` the command runs as root through sudo (:mod:`ssh_mcp.ssh.sudo_io`:
    the password only when sudo asks, ``stdin`` only once root's shell runs), and root's
    shell marks stdout before it runs ``command``, so ``ProcessResult.elevated`` tells a
    refusal by sudo from the command's own exit.
    """
    posix = await posix_login(pc)
    if posix is False:
        raise RemoteError(
            f"the login shell of {pc.login_user or 'the user'} on {pc.spec.label} does not "
            "read POSIX sh syntax (fish or csh?); ssh-mcp sends sh-quoted commands, so it runs "
            "none there: give that user a POSIX login shell (sh, bash, dash, ksh, zsh)"
        )
    pid_filter = MarkFilter() if elevate or posix else None
    if elevate:
        command = elevate.wrap(["sh", "-c", _ROOT_SCRIPT, "sh", command])
    proc = await open_process(pc, PID_PREFIX + command if pid_filter else command)
    started = time.monotonic()
    root_mark: MarkFilter | None = None
    feed: SudoFeed | None = None
    err_filter: MarkFilter | SudoFeed | None = pid_filter
    if elevate:
        feed = SudoFeed(proc.stdin, elevate, stdin, pid_filter)
        root_mark, err_filter = MarkFilter(_ROOT_MARK, feed.started), feed
    else:
        if stdin:
            proc.stdin.write(stdin)
        proc.stdin.write_eof()
    out, err = CappedBuffer(stdout_cap), CappedBuffer(stderr_cap)
    loop = asyncio.get_running_loop()
    pumps = [
        loop.create_task(_pump(proc.stdout, out, "stdout", on_chunk, root_mark)),
        loop.create_task(_pump(proc.stderr, err, "stderr", on_chunk, err_filter)),
    ]
    closed: asyncio.Future[None] = loop.create_task(proc.wait_closed())
    timed_out = False
    try:
        try:
            async with asyncio.timeout(timeout):
                # asyncio.wait, not gather: a timeout must not cancel the pumps, which keep
                # draining output while the stop ladder runs.
                await asyncio.wait([*pumps, closed])
        except TimeoutError:
            timed_out = True
            await stop_process(proc, closed, pc, pid_filter, elevate)
    except BaseException:
        # Cancelled by the client (or shutdown): the remote process must still be stopped.
        with anyio.CancelScope(shield=True):
            await stop_process(proc, closed, pc, pid_filter, elevate)
        raise
    finally:
        with anyio.CancelScope(shield=True):
            await asyncio.wait([*pumps], timeout=STOP_GRACE)
        for task in pumps:
            task.cancel()
        proc.close()
        if not closed.done():  # sshd still counts this session: keep its slot until it closes
            pc.hold(closed)
    exit_signal = proc.exit_signal[0] if proc.exit_signal else None
    exit_code = proc.exit_status if proc.exit_status not in (None, -1) else None
    if exit_code is None and exit_signal is None and not timed_out and not pc.alive:
        raise ConnectionDropped(
            f"the connection to {pc.spec.label} dropped while the command ran; "
            "it may still be running there; check before running it again"
        )
    return ProcessResult(
        stdout=out,
        stderr=err,
        exit_code=exit_code,
        signal=exit_signal,
        timed_out=timed_out,
        duration_ms=int((time.monotonic() - started) * 1000),
        elevated=None if feed is None else feed.elevated,
        sudo=None if feed is None else feed.report(pc.spec.label),
    )
