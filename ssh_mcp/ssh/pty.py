"""A program on a pseudo-terminal: keystrokes in, a screen and a byte stream out.

The channel asks sshd for a PTY (``term``, ``cols`` x ``rows``), so programs that
want a terminal (``top``, ``less``, prompts, REPLs) run as they would for a person.
A reader task drains the channel from the start into a bounded buffer of what
arrived since the last read, whose oldest bytes are dropped (and counted) past its
cap; the screen emulator (:mod:`ssh_mcp.ssh.screen`) is fed when a read needs it.

On a POSIX login the command carries the PID prefix of :mod:`ssh_mcp.ssh.marks`:
with a PTY sshd makes that shell a session leader, so its PID is the session id,
and the mark line (on the terminal, since stderr is the terminal) is taken out of
the stream. A login shell is started the same way, ``exec``-ing the user's shell
so the PID stays the session's. Stopping closes the channel (sshd closes the
terminal, and the kernel sends SIGHUP to the session), then sends TERM and KILL to
every process of the session over a second channel: an interactive shell puts
each job in a process group of its own, so one group would not be enough. A
device CLI (no POSIX shell) is started as the plain login shell; closing the
terminal is all that can stop it.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import shlex
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ssh_mcp.errors import ConnectionDropped
from ssh_mcp.ssh.marks import PID_PREFIX
from ssh_mcp.ssh.pooled import PooledConnection, connection_lost, translate_open
from ssh_mcp.ssh.process import STOP_GRACE
from ssh_mcp.ssh.screen import Screen, plain

if TYPE_CHECKING:
    import asyncssh
else:
    from ssh_mcp.ssh._lazy import asyncssh

#: Bytes kept of what arrived since the last read; older ones are dropped and counted.
PENDING_CAP = 1 << 20
#: The emulator takes about 4 µs a byte (DECISIONS.md 72), so it is fed on demand, with at
#: most the newest this many bytes since it was last fed: far more than a screenful.
SCREEN_FEED_CAP = 32768
#: Seconds between screen matches of a ``wait_for`` while output keeps arriving.
SCREEN_EVERY = 0.25
#: How long an ended program's read waits for the channel to close with its exit status,
#: at most, and at least when its own deadline has passed.
EXIT_WAIT = 2.0
EXIT_MIN_WAIT = 0.1
_READ = 65536
_MARK = re.compile(rb"\x1essh-mcp-pgid:([0-9]+)\r?\n")
#: The start of a stream that may still hold the mark line, however it was split.
_MARK_WINDOW = 4096
#: Runs the user's own login shell under the PID prefix (same PID: the session's).
LOGIN_SHELL = 'exec "${SHELL:-/bin/sh}" -l'
#: TERM to every process of session $1 (pkill -s where it exists, else its group), up to a
#: second for them to go, then KILL.
_STOP_SESSION = (
    "pkill -TERM -s $1 2>/dev/null || kill -s TERM -- -$1 2>/dev/null || exit 0; "
    "for i in 1 2 3 4 5 6 7 8 9 10; do pgrep -s $1 >/dev/null 2>&1; [ $? = 1 ] && exit 0; "
    "sleep 0.1; done; pkill -KILL -s $1 2>/dev/null || kill -s KILL -- -$1 2>/dev/null; true"
)


@dataclass(frozen=True)
class PtyOutput:
    """What a read returns: the bytes since the last read, and the screen now."""

    data: bytes
    text: str  # ``data`` as plain text (:func:`ssh_mcp.ssh.screen.plain`)
    dropped: int  # bytes since the last read beyond PENDING_CAP, not in ``data``
    screen: str
    cursor: tuple[int, int]
    matched: bool | None  # None: no pattern was given
    ended: bool
    exit_code: int | None


class Pty:
    """One program on a PTY on a reserved channel slot of ``pc``."""

    def __init__(
        self,
        pc: PooledConnection,
        proc: asyncssh.SSHClientProcess[bytes],
        cols: int,
        rows: int,
        marked: bool,
    ) -> None:
        self.pc, self.proc = pc, proc
        self.screen = Screen(cols, rows)
        self.session_id: int | None = None
        self.total = 0  # raw bytes from the program, the mark line excluded
        self._pending = bytearray()
        self._dropped = 0
        self._unscreened = bytearray()  # bytes the screen has not seen yet
        self._screen_checked = 0.0
        self._looking = marked  # for the mark line, at the stream's start
        self._head = b""  # that start, held back while it may still hold the mark
        self._arrived = asyncio.Event()
        loop = asyncio.get_running_loop()
        self.closed: asyncio.Future[None] = loop.create_task(proc.wait_closed())
        pc.hold(self.closed)  # the slot stays taken while the terminal lives
        self._reader = loop.create_task(self._drain())
        self.last_output = time.monotonic()

    @classmethod
    async def open(
        cls,
        pc: PooledConnection,
        command: str | None,
        *,
        term: str,
        cols: int,
        rows: int,
        posix: bool,
    ) -> Pty:
        """Start ``command`` (None: the login shell) on a PTY. ``posix``: the login shell
        reads sh, so the PID prefix can name the session for the stop."""
        text = PID_PREFIX + (command or LOGIN_SHELL) if posix else command

        async def create() -> asyncssh.SSHClientProcess[bytes]:
            proc: asyncssh.SSHClientProcess[bytes] = await pc.conn.create_process(
                text, term_type=term, term_size=(cols, rows), encoding=None, stderr=asyncssh.STDOUT
            )
            return proc

        opening = asyncio.get_running_loop().create_task(create())
        try:
            proc: asyncssh.SSHClientProcess[bytes] = await asyncio.shield(opening)
        except asyncssh.ChannelOpenError as exc:
            raise translate_open(exc, pc) from None
        except connection_lost():
            raise ConnectionDropped(
                f"the connection to {pc.spec.label} dropped as the terminal was opening"
            ) from None
        except asyncio.CancelledError:
            # Cancelled mid-open: whatever the channel started is closed once it exists.
            opening.add_done_callback(
                lambda t: None if t.cancelled() or t.exception() else t.result().close()
            )
            raise
        return cls(pc, proc, cols, rows, marked=posix)

    async def _drain(self) -> None:
        with contextlib.suppress(asyncssh.Error, OSError):
            while chunk := await self.proc.stdout.read(_READ):
                self._take(chunk)
        self._deliver(self._head)
        self._head, self._looking = b"", False
        self._arrived.set()

    def _take(self, chunk: bytes) -> None:
        if self._looking:  # the mark line may be in the first bytes (after startup noise)
            data, self._head = self._head + chunk, b""
            found = _MARK.search(data)
            if found is None and len(data) < _MARK_WINDOW:
                self._head = data  # hold back: the mark may be split across chunks
                return
            self._looking = False
            if found is not None:
                sid = int(found.group(1))
                self.session_id = sid if sid > 1 else None  # never kill -- -1
                data = data[: found.start()] + data[found.end() :]
            chunk = data
        self._deliver(chunk)

    def _deliver(self, chunk: bytes) -> None:
        if not chunk:
            return
        self.total += len(chunk)
        self.last_output = time.monotonic()
        self._unscreened += chunk
        if len(self._unscreened) > SCREEN_FEED_CAP:
            del self._unscreened[: len(self._unscreened) - SCREEN_FEED_CAP]
        self._pending += chunk
        if len(self._pending) > PENDING_CAP:
            cut = len(self._pending) - PENDING_CAP
            self._dropped += cut
            del self._pending[:cut]
        self._arrived.set()

    @property
    def alive(self) -> bool:
        return not self.closed.done() and self.pc.alive

    @property
    def ended(self) -> bool:
        return self._reader.done()

    def write(self, data: bytes) -> None:
        if not self.alive:
            raise ConnectionDropped("the program on this terminal has ended")
        self.proc.stdin.write(data)

    def screen_text(self) -> str:
        """The screen now, after the bytes it has not seen yet (their newest part)."""
        if self._unscreened:
            self.screen.feed(bytes(self._unscreened))
            self._unscreened.clear()
        return self.screen.text()

    def resize(self, cols: int, rows: int) -> None:
        self.screen_text()
        self.screen.resize(cols, rows)
        with contextlib.suppress(asyncssh.Error, OSError):
            self.proc.change_terminal_size(cols, rows)

    async def read(
        self,
        wait_for: re.Pattern[str] | None,
        timeout: float,
        settle: float = 0.3,
        screen: bool = True,
    ) -> PtyOutput:
        """What arrived since the last read. With ``wait_for``: as soon as it matches the
        text since the last read or (``screen``) the screen, or at ``timeout``. Without: once output
        has been quiet for ``settle`` seconds, or at ``timeout``. Either way, as soon as
        the program has ended, everything it wrote is in and its exit status has come."""
        deadline = time.monotonic() + timeout
        matched: bool | None = None if wait_for is None else False
        while True:
            if wait_for is not None and self._matches(wait_for, screen):
                matched = True
                break
            if self.ended:
                break
            now = time.monotonic()
            if now >= deadline:
                break
            wait = deadline - now
            if wait_for is not None and screen:
                wait = min(wait, SCREEN_EVERY)  # a skipped screen match is retried
            if wait_for is None:
                quiet = now - self.last_output
                if self._pending and quiet >= settle:
                    break
                wait = min(wait, max(settle - quiet, 0.01) if self._pending else settle)
            self._arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._arrived.wait(), wait)
        if self.ended and not self.closed.done():
            # sshd sends the exit status after the stream's end, then closes: wait for
            # that close, within the read's own deadline (and EXIT_WAIT), so an ended
            # read carries its exit code; a later read has it if this one cannot wait.
            wait = min(EXIT_WAIT, max(deadline - time.monotonic(), EXIT_MIN_WAIT))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(self.closed), wait)
        data, dropped = bytes(self._pending), self._dropped
        self._pending.clear()
        self._dropped = 0
        status = self.proc.exit_status if self.ended else None
        return PtyOutput(
            data=data,
            text=plain(data),
            dropped=dropped,
            screen=self.screen_text(),
            cursor=self.screen.cursor,
            matched=matched,
            ended=self.ended,
            exit_code=status if status not in (None, -1) else None,
        )

    def _matches(self, pattern: re.Pattern[str], screen: bool) -> bool:
        # The tail only: a pattern's cost grows with the text, and the caller wrote it.
        if pattern.search(plain(bytes(self._pending[-16384:]))):
            return True
        if not screen:
            return False
        # The emulator is slow (ADR 72): while output floods in, look at the screen at most
        # every SCREEN_EVERY seconds; once output pauses, every time.
        now = time.monotonic()
        if now - self._screen_checked < SCREEN_EVERY and now - self.last_output < SCREEN_EVERY:
            return False
        self._screen_checked = now
        return bool(pattern.search(self.screen_text()))

    async def aclose(self) -> None:
        """Close the terminal (SIGHUP to the session), then TERM and KILL what is left of
        the session."""
        if not self.closed.done():
            with contextlib.suppress(asyncssh.Error, OSError):
                self.proc.close()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(self.closed), STOP_GRACE)
        if self.session_id is not None and self.pc.alive:
            command = shlex.join(["sh", "-c", _STOP_SESSION, "ssh-mcp-stop", str(self.session_id)])
            with contextlib.suppress(asyncssh.Error, OSError, TimeoutError):
                await asyncio.wait_for(self.pc.conn.run(command, check=False), STOP_GRACE * 8)
        self._reader.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self._reader
