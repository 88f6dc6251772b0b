"""Running one remote command with byte caps, a deadline and a real stop.

``conn.run(timeout=)`` leaves the remote process running and its channel open.
Here a deadline or a cancel climbs a stop ladder instead: the ``signal``
channel request INT, then TERM, then KILL (OpenSSH answers each with killpg on
the session, so children die too), then the channel is closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass

import anyio
import asyncssh

from ssh_mcp.errors import ConnectionDropped
from ssh_mcp.ssh.pool import PooledConnection, StaleConnection, _translate_open

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


async def _pump(
    stream: asyncssh.SSHReader[bytes],
    buf: CappedBuffer,
    name: str,
    on_chunk: Callable[[str, bytes], None] | None,
) -> None:
    with contextlib.suppress(asyncssh.Error, OSError):
        while chunk := await stream.read(_READ):
            buf.add(chunk)
            if on_chunk is not None:
                on_chunk(name, chunk)


async def stop_process(
    proc: asyncssh.SSHClientProcess[bytes], closed: asyncio.Future[None]
) -> None:
    """Climb INT → TERM → KILL, waiting briefly after each, then close the channel."""
    for sig in ("INT", "TERM", "KILL"):
        if closed.done():
            break
        try:
            proc.send_signal(sig)
        except (OSError, asyncssh.Error):
            break
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(closed), STOP_GRACE)
    proc.close()


async def run_process(
    pc: PooledConnection,
    command: str,
    *,
    timeout: float,
    stdout_cap: int,
    stderr_cap: int,
    stdin: bytes | None = None,
    on_chunk: Callable[[str, bytes], None] | None = None,
) -> ProcessResult:
    """Run ``command`` (already a shell-safe string) on ``pc`` and collect capped output."""
    try:
        proc = await pc.conn.create_process(command, encoding=None)
    except asyncssh.ChannelOpenError as exc:
        raise _translate_open(exc, pc.spec) from None
    except (asyncssh.ConnectionLost, asyncssh.DisconnectError, OSError) as exc:
        raise StaleConnection(str(exc)) from None
    started = time.monotonic()
    if stdin:
        proc.stdin.write(stdin)
    proc.stdin.write_eof()
    out, err = CappedBuffer(stdout_cap), CappedBuffer(stderr_cap)
    loop = asyncio.get_running_loop()
    pumps = [
        loop.create_task(_pump(proc.stdout, out, "stdout", on_chunk)),
        loop.create_task(_pump(proc.stderr, err, "stderr", on_chunk)),
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
            await stop_process(proc, closed)
    except BaseException:
        # Cancelled by the client (or shutdown): the remote process must still be stopped.
        with anyio.CancelScope(shield=True):
            await stop_process(proc, closed)
        raise
    finally:
        with anyio.CancelScope(shield=True):
            await asyncio.wait([*pumps], timeout=STOP_GRACE)
        for task in [*pumps, closed]:
            task.cancel()
        proc.close()
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
    )
