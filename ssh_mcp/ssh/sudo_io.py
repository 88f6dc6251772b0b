"""Talking to sudo over a channel: the password only when sudo asks, the payload only as root.

sudo reads the password from stdin (``-S``) only when it prompts: not for a
root login, a NOPASSWD rule or ``!authenticate``. Written up front, the
password would become the command's stdin in those cases, and anything the
login shell runs first (``~/.bashrc`` runs before the command when bash is
started by sshd; ``~/.zshenv`` always) could read it. So the password is
sent only when sudo's prompt shows on stderr, and the command's own stdin
only once root's shell has printed its start mark on stdout.

The prompt is a fresh random marker that never appears in the command line,
in any argv or in the login environment, where startup files and other
processes of the login user could read it (``$BASH_EXECUTION_STRING``,
``/proc/*/cmdline``). The command first prints a ready line on stderr, which
only happens once the login startup files are done; only then is the marker
sent over stdin, read by the shell and handed to sudo in ``SUDO_PROMPT``
(sudo's environment is unreadable to the user: sudo is setuid). Any other
``ssh-mcp-sudo-`` marker on stderr, or root's start mark before that
exchange, means something other than sudo is speaking: stdin is closed at
once (the shell's ``read`` then fails and sudo never starts) and the password
is not sent. A second prompt means the password was wrong: stdin is closed,
and sudo gives up instead of waiting. ``-k`` keeps sudo from using
credentials it cached earlier, so every call authenticates the same way.

This narrows what a hostile startup file can do; it does not make the
password safe from code that runs as the login user and knows this protocol
(DECISIONS.md 49).
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import shlex
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal, Protocol

if TYPE_CHECKING:
    import asyncssh
else:
    from ssh_mcp.ssh._lazy import asyncssh

#: Every prompt marker starts with this; one that is not ours is an impostor's.
_FAMILY = b"\x1essh-mcp-sudo-"
#: The line the command prints on stderr once the login startup files are done.
_READY = b"\x1essh-mcp-ready:\n"
_SUDO_STEP = (
    "printf '\\036ssh-mcp-ready:\\n' >&2; "
    'IFS= read -r p && export SUDO_PROMPT="$p" && exec sudo -S -k -- '
)

#: Where the password exchange got to: the ready line not seen yet (``login``), the marker
#: sent but no prompt yet (``waiting``), the password sent (``sent``), a second prompt
#: (``rejected``); ``nopassword`` for ``sudo -n``.
Stage = Literal["login", "waiting", "sent", "rejected", "nopassword"]


def _prompt() -> str:
    # No `%`: sudo expands %-escapes in prompts.
    return _FAMILY.decode() + secrets.token_hex(16) + ":"


@dataclass(frozen=True)
class Elevation:
    """Run a command as root through sudo on the login user's session.

    ``secret`` is the password line (empty: ``sudo -n``, passwordless rules only).
    The stop ladder kills the session's process group through the same sudo
    over a second channel, since the user's sshd cannot signal root's processes.
    """

    secret: bytes = field(default=b"", repr=False)
    prompt: str = field(default_factory=_prompt, repr=False)

    def wrap(self, argv: Sequence[str]) -> str:
        """Text for the login shell that runs ``argv`` as root (fed by a :class:`SudoFeed`)."""
        if not self.secret:
            return "exec sudo -n -- " + shlex.join(argv)
        return _SUDO_STEP + shlex.join(argv)


@dataclass(frozen=True)
class SudoReport:
    """How the sudo exchange of one command went, for an accurate error."""

    host: str
    stage: Stage
    #: Something other than sudo printed a prompt marker (or root's mark too early).
    impostor: bool


class _Filter(Protocol):
    def feed(self, chunk: bytes) -> bytes: ...
    def flush(self) -> bytes: ...


class SudoFeed:
    """Feeds one elevated process's stdin at the right moments (see the module docstring).

    Wrap stderr's filter with it (``feed``/``flush``) and call :meth:`started` when
    root's start mark is seen on stdout.
    """

    def __init__(
        self,
        stdin: asyncssh.SSHWriter[bytes],
        elevate: Elevation,
        payload: bytes | None,
        inner: _Filter | None,
    ) -> None:
        self._stdin, self._elevate, self._payload, self._inner = stdin, elevate, payload, inner
        self._prompt = elevate.prompt.encode()
        self.stage: Stage = "login" if elevate.secret else "nopassword"
        self.impostor = False
        self._root = False
        self._tail = self._ready_tail = b""
        self._closed = False

    def report(self, host: str) -> SudoReport:
        return SudoReport(host, self.stage, self.impostor)

    def _close(self, data: bytes | None = None) -> None:
        if self._closed:
            return
        self._closed = True
        with contextlib.suppress(asyncssh.Error, OSError):
            if data:
                self._stdin.write(data)
            self._stdin.write_eof()

    def _write(self, data: bytes) -> None:
        if not self._closed:
            with contextlib.suppress(asyncssh.Error, OSError):
                self._stdin.write(data)

    def _send_marker(self) -> None:
        if self.stage == "login" and not self.impostor:
            self.stage = "waiting"
            self._write(self._prompt + b"\n")

    def _refuse(self) -> None:
        """Something other than sudo speaks: send it nothing more (the shell's read fails)."""
        self.impostor = True
        self._close()

    @property
    def elevated(self) -> bool:
        """Root's shell started, and nothing but sudo spoke."""
        return self._root and not self.impostor

    def started(self) -> None:
        """Root's shell runs: the command gets its stdin, then EOF."""
        self._root = True
        if self.stage == "login":  # root's mark before sudo could even have started
            self._refuse()
        self._close(self._payload)

    def feed(self, chunk: bytes) -> bytes:
        data = self._inner.feed(chunk) if self._inner else chunk
        return self._scan(self._ready(data), final=False)

    def flush(self) -> bytes:
        data = self._ready(self._inner.flush() if self._inner else b"") + self._ready_tail
        self._ready_tail = b""
        rest = self._scan(data, final=True)
        self._close()
        return rest

    def _ready(self, chunk: bytes) -> bytes:
        """Takes the ready line out of stderr and sends the marker. Anywhere, not only at
        the start of a line: startup noise may end without a newline."""
        data, self._ready_tail = self._ready_tail + chunk, b""
        if self.stage != "login" or self.impostor:
            return data
        if (at := data.find(_READY)) >= 0:
            self._send_marker()
            return data[:at] + data[at + len(_READY) :]
        for keep in range(min(len(_READY) - 1, len(data)), 0, -1):
            if _READY.startswith(data[-keep:]):  # the ready line split across reads
                data, self._ready_tail = data[:-keep], data[-keep:]
                break
        return data

    def _scan(self, chunk: bytes, final: bool) -> bytes:
        data, self._tail = self._tail + chunk, b""
        if self._root:  # root's command runs: what it prints is its own business
            return data
        out, i = bytearray(), 0
        while (at := data.find(_FAMILY, i)) >= 0:
            out += data[i:at]
            rest = data[at:]
            # Ours only once it was sent, and only if every byte so far matches it.
            ours = self.stage != "login" and self._prompt.startswith(rest[: len(self._prompt)])
            if ours and len(rest) < len(self._prompt) and not final:
                self._tail = rest  # our marker split across reads: decide on the rest
                return bytes(out)
            if ours and len(rest) >= len(self._prompt):
                self._asked()
                i = at + len(self._prompt)
            else:
                self._refuse()
                out += _FAMILY  # left in stderr: it is evidence, not sudo's prompt
                i = at + len(_FAMILY)
        data = data[i:]
        if not final:  # hold back what could be the start of a marker split across reads
            for keep in range(min(len(_FAMILY) - 1, len(data)), 0, -1):
                if _FAMILY.startswith(data[-keep:]):
                    data, self._tail = data[:-keep], data[-keep:]
                    break
        return bytes(out + data)

    def _asked(self) -> None:
        if self.stage == "waiting" and not self.impostor:
            self.stage = "sent"
            self._write(self._elevate.secret)
        elif self.stage in ("sent", "rejected"):
            self.stage = "rejected"
            self._close()  # asked again: the password was wrong; do not let sudo wait


async def run_as_root(
    conn: asyncssh.SSHClientConnection, argv: Sequence[str], elevate: Elevation
) -> None:
    """Run a short command as root on a channel of its own, with the same exchange;
    its output is dropped. The caller bounds the time."""
    proc: asyncssh.SSHClientProcess[bytes] = await conn.create_process(
        elevate.wrap(argv), encoding=None
    )
    feed = SudoFeed(proc.stdin, elevate, None, None)

    async def drain(stream: asyncssh.SSHReader[bytes], through: SudoFeed | None) -> None:
        with contextlib.suppress(asyncssh.Error, OSError):
            while chunk := await stream.read(65536):
                if through is not None:
                    through.feed(chunk)
        if through is not None:
            through.flush()

    try:
        await asyncio.gather(drain(proc.stdout, None), drain(proc.stderr, feed))
        await proc.wait_closed()
    finally:
        proc.close()
