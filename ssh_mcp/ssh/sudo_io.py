"""Talking to sudo over a channel: the password only when asked, the payload only as root.

sudo reads the password from stdin (``-S``) only when it prompts: not for a
root login, a NOPASSWD rule or ``!authenticate``. Written up front, the
password would become the command's stdin in those cases (a shell line, the
start of a file written as root). So the prompt is a random marker
(``-p``), the password is sent when that marker shows on stderr, and the
command's own stdin is sent only when root's shell has printed its start mark
on stdout. A second prompt means the password was wrong: stdin is closed, and
sudo gives up instead of waiting. ``-k`` keeps sudo from using credentials it
cached earlier, so every call authenticates the same way.
"""

from __future__ import annotations

import contextlib
import secrets
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    import asyncssh
else:
    from ssh_mcp.ssh._lazy import asyncssh


def _prompt() -> str:
    # No `%`: sudo expands %-escapes in prompts.
    return "\x1essh-mcp-sudo-" + secrets.token_hex(8) + ":"


@dataclass(frozen=True)
class Elevation:
    """Run a command as root through sudo on the login user's session.

    ``secret`` is the password line (empty: ``sudo -n``, passwordless rules only).
    The stop ladder kills the session's process group through the same sudo
    over a second channel, since the user's sshd cannot signal root's processes.
    """

    secret: bytes = field(default=b"", repr=False)
    prompt: str = field(default_factory=_prompt)

    @property
    def prefix(self) -> tuple[str, ...]:
        if not self.secret:
            return ("sudo", "-n", "--")
        return ("sudo", "-S", "-k", "-p", self.prompt, "--")


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
        self._tail = b""
        self._asked = 0
        self._closed = False

    def _close(self, data: bytes | None = None) -> None:
        if self._closed:
            return
        self._closed = True
        with contextlib.suppress(asyncssh.Error, OSError):
            if data:
                self._stdin.write(data)
            self._stdin.write_eof()

    def started(self) -> None:
        """Root's shell runs: the command gets its stdin, then EOF."""
        self._close(self._payload)

    def feed(self, chunk: bytes) -> bytes:
        data = self._tail + (self._inner.feed(chunk) if self._inner else chunk)
        self._tail = b""
        while (at := data.find(self._prompt)) >= 0:
            data = data[:at] + data[at + len(self._prompt) :]
            self._asked += 1
            if self._asked == 1 and self._elevate.secret and not self._closed:
                with contextlib.suppress(asyncssh.Error, OSError):
                    self._stdin.write(self._elevate.secret)
            else:
                self._close()  # asked again: the password was wrong; do not let sudo wait
        # Hold back what could be the start of a prompt split across reads.
        for keep in range(min(len(self._prompt) - 1, len(data)), 0, -1):
            if self._prompt.startswith(data[-keep:]):
                data, self._tail = data[:-keep], data[-keep:]
                break
        return data

    def flush(self) -> bytes:
        rest = self._tail + (self._inner.flush() if self._inner else b"")
        self._tail = b""
        self._close()
        return rest
