"""A persistent ``sh`` on one channel: commands run one after another in the same shell,
so ``cd``, ``export`` and shell variables carry over between them.

No PTY. The shell runs a fixed loop that reads each command as one framed line of
data from stdin, checks it and only then runs it with ``eval`` and ``</dev/null``
(:mod:`ssh_mcp.ssh.shell_frame`): stdin is never parsed as code, so a process that
steals bytes from it cannot make the shell run text the policy saw as data. The
result ends where each stream shows its sentinel line with this command's random
nonce; the newline written before each sentinel is removed. ``sh -n`` checks the
syntax first, because dash exits on a syntax error inside ``eval``.

A timeout or cancel cannot stop one command without stopping the shell (a
non-interactive shell has no job control), so it climbs the stop ladder on the
whole session, which then reports itself closed. A command that ends the shell
(``exit``) closes the session too; its status is the result's exit code.
"""

from __future__ import annotations

import asyncio
import contextlib
import shlex
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import anyio

from ssh_mcp.errors import ConnectionDropped, RemoteError
from ssh_mcp.ssh.marks import PID_PREFIX, MarkFilter
from ssh_mcp.ssh.pooled import PooledConnection
from ssh_mcp.ssh.process import (
    STOP_GRACE,
    CappedBuffer,
    ProcessResult,
    open_process,
    stop_process,
)
from ssh_mcp.ssh.shell_frame import LOOP, frame

if TYPE_CHECKING:
    import asyncssh
else:
    from ssh_mcp.ssh._lazy import asyncssh

_MARK = b"\x1essh-mcp:"
_READ = 65536


@dataclass(frozen=True)
class ShellResult:
    """One command's outcome, and the shell's state after it."""

    process: ProcessResult
    cwd: str | None  # the shell's working directory after the command
    closed: bool  # the shell ended (exit, timeout, cancel, dropped connection)


class _Stream:
    """Reads one stream up to a sentinel line, keeping head and tail within a cap."""

    def __init__(self, reader: asyncssh.SSHReader[bytes], mark: MarkFilter | None = None) -> None:
        self.reader, self.mark = reader, mark  # mark: strips a root login's PID line
        self.pending = b""  # bytes after the last sentinel: the next command's

    async def until(self, sentinel: bytes, buf: CappedBuffer) -> bytes | None:
        """Feed ``buf`` until ``sentinel``; the rest of its line, or None at EOF."""
        data, self.pending = self.pending, b""
        while True:
            at = data.find(sentinel)
            if at >= 0:
                end = data.find(b"\n", at)
                if end >= 0:
                    body = data[:at]
                    buf.add(body[:-1] if body.endswith(b"\n") else body)
                    self.pending = data[end + 1 :]
                    return data[at + len(sentinel) : end]
            # Keep a tail that may hold the start of the sentinel; the rest is output.
            keep = len(sentinel) + 4096
            if len(data) > keep:
                buf.add(data[:-keep])
                data = data[-keep:]
            try:
                chunk = await self.reader.read(_READ)
            except (asyncssh.Error, OSError):
                chunk = b""
            if not chunk:
                buf.add(data + (self.mark.flush() if self.mark else b""))
                return None
            data += self.mark.feed(chunk) if self.mark else chunk


class Shell:
    """A ``sh`` process on a reserved channel slot of ``pc``."""

    def __init__(
        self,
        pc: PooledConnection,
        proc: asyncssh.SSHClientProcess[bytes],
        pid_filter: MarkFilter | None,
    ) -> None:
        self.pc, self.proc, self._pid_filter = pc, proc, pid_filter
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_task(
            proc.wait_closed()
        )
        pc.hold(self.closed)  # the slot stays taken while the shell lives
        self._out, self._err = _Stream(proc.stdout), _Stream(proc.stderr, pid_filter)
        self._lock = asyncio.Lock()

    @classmethod
    async def open(cls, pc: PooledConnection, cwd: str | None) -> Shell:
        """Start ``sh`` (in ``cwd``). It prints its PID (the session's process group)
        first, whatever the login shell, so the stop ladder can kill by group."""
        start = shlex.join(["exec", "sh", "-c", PID_PREFIX + "exec sh -c " + shlex.quote(LOOP)])
        if cwd is not None:
            start = f"{shlex.join(['cd', '--', cwd])} && {start}"
        proc = await open_process(pc, start)
        return cls(pc, proc, MarkFilter())

    @property
    def alive(self) -> bool:
        return not self.closed.done() and self.pc.alive

    async def run(
        self, command: str, *, timeout: float, stdout_cap: int, stderr_cap: int
    ) -> ShellResult:
        """Run one command in the shell; one at a time (a second is refused, not queued)."""
        if self._lock.locked():
            # Waiting would spend the caller's deadline, and a cancel while waiting would
            # end the session under the command that holds it.
            raise RemoteError("this shell session is busy with another command; wait for it")
        async with self._lock:
            if not self.alive:
                raise RemoteError("this shell session has ended; open a new one")
            return await self._run(command, timeout, stdout_cap, stderr_cap)

    @property
    def busy(self) -> bool:
        """A command is running in the shell."""
        return self._lock.locked()

    async def _run(
        self, command: str, timeout: float, stdout_cap: int, stderr_cap: int
    ) -> ShellResult:
        nonce, line = frame(command)
        sentinel = _MARK + nonce.encode()
        out, err = CappedBuffer(stdout_cap), CappedBuffer(stderr_cap)
        started = time.monotonic()
        self.proc.stdin.write(line)
        reading = asyncio.gather(self._out.until(sentinel, out), self._err.until(sentinel, err))
        timed_out = False
        try:
            try:
                async with asyncio.timeout(timeout):
                    tail, err_tail = await asyncio.shield(reading)
            except TimeoutError:
                timed_out = True
                await self._stop()
                tail, err_tail = None, None
        except BaseException:
            with anyio.CancelScope(shield=True):
                await self._stop()
            raise
        finally:
            if not reading.done():
                reading.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await reading
        exit_code, cwd = self._status(tail, err_tail)
        if exit_code is None and not timed_out:
            # The shell ended inside the command (exit, or the connection dropped).
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(self.closed), STOP_GRACE * 4)
            if not self.pc.alive:
                raise ConnectionDropped(
                    f"the connection to {self.pc.spec.label} dropped while the command ran; "
                    "the shell session is gone; check the host before running it again"
                )
            status = self.proc.exit_status
            exit_code = status if status not in (None, -1) else None
        signal = self.proc.exit_signal[0] if self.proc.exit_signal else None
        result = ProcessResult(
            stdout=out,
            stderr=err,
            exit_code=exit_code,
            signal=signal if exit_code is None else None,
            timed_out=timed_out,
            duration_ms=int((time.monotonic() - started) * 1000),
        )
        return ShellResult(result, cwd, closed=not self.alive)

    @staticmethod
    def _status(tail: bytes | None, err_tail: bytes | None) -> tuple[int | None, str | None]:
        if tail is None or err_tail is None or not tail.startswith(b":"):
            return None, None
        code, _, cwd = tail[1:].decode("utf-8", "replace").partition(":")
        return (int(code) if code.lstrip("-").isdigit() else None), cwd or None

    async def _stop(self) -> None:
        await stop_process(self.proc, self.closed, self.pc, self._pid_filter)

    async def aclose(self) -> None:
        """End the shell: EOF first (it exits by itself), then the stop ladder."""
        if self.closed.done():
            return
        with contextlib.suppress(asyncssh.Error, OSError):
            self.proc.stdin.write_eof()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(self.closed), STOP_GRACE)
        if not self.closed.done():
            await self._stop()
