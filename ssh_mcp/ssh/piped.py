"""One remote command with streamed stdin and stdout, for moving a tree as one tar stream.

:func:`run_process` collects capped output; a tree transfer instead feeds a
``tar -x`` from a stream and reads a ``tar -c`` as one, with flow control
both ways: stdin waits for the channel to drain, and stdout is read only as
fast as the consumer takes it, so the SSH window holds the sender back.
The command starts and stops as in :mod:`ssh_mcp.ssh.process`: the PID
prefix and its watchdog, and the stop ladder on any failure or cancel.
stderr is kept, capped, for the error message.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

import anyio

from ssh_mcp.errors import ConnectionDropped, RemoteError
from ssh_mcp.ssh.marks import PID_PREFIX, MarkFilter, posix_login
from ssh_mcp.ssh.pooled import PooledConnection
from ssh_mcp.ssh.process import STOP_GRACE, CappedBuffer, _pump, open_process, stop_process

if TYPE_CHECKING:
    import asyncssh
else:
    from ssh_mcp.ssh._lazy import asyncssh

_READ = 256 * 1024
#: Seconds a command fed ``abort`` gets to fail on it and clean up before it is stopped.
ABORT_GRACE = 3.0


def _seen(future: asyncio.Future[bytes]) -> None:
    if not future.cancelled():
        future.exception()


class Piped:
    """A running command: :meth:`chunks` is its stdout, :meth:`finish` its end.

    With a ``stdin`` source, a failure of that source ends :meth:`chunks` with the
    source's error (the command is then stopped, never sent a premature EOF).
    """

    def __init__(
        self,
        proc: asyncssh.SSHClientProcess[bytes],
        err: CappedBuffer,
        closed: asyncio.Future[None],
        pump: asyncio.Task[None],
        feeder: asyncio.Task[None] | None,
    ) -> None:
        self._proc, self._err, self._closed, self._pump = proc, err, closed, pump
        self._feeder = feeder
        self.exit_code: int | None = None
        self.signal: str | None = None

    async def chunks(self) -> AsyncIterator[bytes]:
        """stdout as it comes, read only when asked for (flow control)."""
        while True:
            read = asyncio.ensure_future(self._proc.stdout.read(_READ))
            try:
                feeder = self._feeder
                if feeder is not None and not feeder.done():
                    await asyncio.wait([read, feeder], return_when=asyncio.FIRST_COMPLETED)
                if feeder is not None and feeder.done() and feeder.exception() is not None:
                    raise feeder.exception()  # type: ignore[misc]
                chunk = await read
            finally:
                if not read.done():
                    read.cancel()
                    read.add_done_callback(_seen)
            if not chunk:
                return
            yield chunk

    async def finish(self) -> int | None:
        """Wait for the command to exit (stdin sent and stdout read); its exit status."""
        if self._feeder is not None:
            await self._feeder
        await asyncio.wait([self._closed, self._pump])
        self.signal = self._proc.exit_signal[0] if self._proc.exit_signal else None
        status = self._proc.exit_status
        self.exit_code = status if status not in (None, -1) else None
        return self.exit_code

    @property
    def stderr(self) -> str:
        return bytes(self._err.head).decode("utf-8", "replace").strip()


@contextlib.asynccontextmanager
async def piped(
    pc: PooledConnection,
    command: str,
    *,
    stdin: AsyncIterator[bytes] | None = None,
    abort: bytes | None = None,
    stderr_cap: int = 65536,
) -> AsyncIterator[Piped]:
    """Start ``command`` (sh-quoted already); ``stdin`` is sent as it comes, then EOF.

    Leaving the block normally waits for the command to exit (:meth:`Piped.finish`);
    leaving it with an error or a cancel stops the command first (INT, TERM, KILL,
    and its process group). With ``abort``, those bytes and EOF are sent first, and
    the command gets ABORT_GRACE seconds to fail on them and clean up after itself
    (a ``tar -x`` into a temp directory its script removes). The call's own
    deadline is what bounds it.
    """
    if await posix_login(pc) is False:
        raise RemoteError(
            f"the login shell on {pc.spec.label} does not read POSIX sh syntax; "
            "a tree transfer needs one (sh, bash, dash, ksh, zsh)"
        )
    pid_filter = MarkFilter()
    proc = await open_process(pc, PID_PREFIX + command)
    err = CappedBuffer(stderr_cap)
    loop = asyncio.get_running_loop()
    pump = loop.create_task(_pump(proc.stderr, err, "stderr", None, pid_filter))
    closed: asyncio.Future[None] = loop.create_task(proc.wait_closed())
    feeder: asyncio.Task[None] | None = None

    async def feed(source: AsyncIterator[bytes]) -> None:
        # A command that stops reading (it refused to start, or failed) ends the feed
        # quietly: its exit status says why. The source's own errors pass.
        async for chunk in source:
            try:
                proc.stdin.write(chunk)
                await proc.stdin.drain()
            except (OSError, asyncssh.Error):
                return
        with contextlib.suppress(OSError, asyncssh.Error):
            proc.stdin.write_eof()

    if stdin is not None:
        feeder = loop.create_task(feed(stdin))
    else:
        proc.stdin.write_eof()
    run = Piped(proc, err, closed, pump, feeder)
    try:
        yield run
        await run.finish()
    except BaseException:
        with anyio.CancelScope(shield=True):
            if feeder is not None and not feeder.done():
                feeder.cancel()
                await asyncio.wait([feeder])
            if abort is not None and not closed.done():
                with contextlib.suppress(OSError, asyncssh.Error):
                    proc.stdin.write(abort)
                    proc.stdin.write_eof()
                await asyncio.wait([closed], timeout=ABORT_GRACE)
            await stop_process(proc, closed, pc, pid_filter)
        raise
    finally:
        with anyio.CancelScope(shield=True):
            await asyncio.wait([pump], timeout=STOP_GRACE)
        pump.cancel()
        if feeder is not None and feeder.done() and not feeder.cancelled():
            feeder.exception()  # seen: the block's own error is the one raised
        proc.close()
        if not closed.done():
            pc.hold(closed)
    if run.exit_code is None and run.signal is None and not pc.alive:
        raise ConnectionDropped(
            f"the connection to {pc.spec.label} dropped during the tree transfer; "
            "check what is left on the host before retrying"
        )
