"""The exception tree of ssh-mcp.

Every layer raises from this tree, translating foreign exceptions (asyncssh,
OSError, pydantic) at its own edge with ``raise ... from exc``. Dispatch maps
each class to a one-line ``isError`` result; anything outside the tree is an
internal error whose traceback stays in the server log.

    SSHMCPError
     ├── ConfigError                 bad settings or hosts.toml (startup)
     ├── PolicyDenied                refused before touching a host
     │    ├── ToolNotAvailable       unknown, or hidden by tier/group
     │    ├── InvalidArguments       schema-invalid call arguments
     │    ├── HostNotAllowed         unknown alias, not allowlisted, blocklisted
     │    ├── PathNotAllowed         outside the allowlist, or in a restricted zone
     │    ├── CommandNotAllowed      command policy refused the command
     │    └── NotConfirmed           a deny-pattern command a human did not confirm
     ├── HostKeyError                strict known_hosts
     │    ├── UnknownHostKey         no key pinned for host:port
     │    └── HostKeyMismatch        a different key is pinned
     ├── TransportError              connect / auth / channel
     │    ├── ConnectFailed          TCP, handshake, or connect timeout
     │    ├── AuthFailed             every auth method was refused
     │    ├── ChannelFailed          a session channel could not be opened
     │    └── ConnectionDropped      the connection died mid-operation
     ├── RemoteError                 the operation failed on the host
     ├── OperationTimeout            a deadline passed
     └── CapExceeded                 a configured size or count limit was hit

Every message is written for the model that reads it: what went wrong, then
what to do next. A message that quotes the caller's input (a name, a key, a
path) quotes it through :func:`shown`: escaped and cut to about a hundred
characters, so a megabyte argument cannot come back as a megabyte error, and NUL
or ESC cannot reach a terminal. Every message as a whole is kept to
:data:`MESSAGE_LIMIT` characters with non-printables escaped, whoever built it.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

#: Characters of one quoted input that an error message keeps.
SHOWN_LIMIT = 100
#: Characters of a whole error message; the head and the tail (the remedy) are kept.
MESSAGE_LIMIT = 1000


def _escaped(c: str) -> str:
    code = ord(c)
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def _escape(text: str, keep: str = "") -> str:
    """Non-printable characters (controls, format characters such as bidi overrides, lone
    surrogates) as ``\\xNN``/``\\uNNNN`` escapes; ``keep`` lists ones left alone."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() or c in keep else _escaped(c) for c in text)


def escape_for_display(text: str) -> str:
    """``text`` whole, with every non-printable character but newline and tab escaped."""
    return _escape(text, "\n\t")


def shown(value: object, limit: int = SHOWN_LIMIT, quote: str = "'") -> str:
    """``value`` as an error message quotes it: in ``quote``, escaped, at most ``limit``
    characters of it, then an ellipsis and its full length when it was longer."""
    text = str(value)
    if len(text) <= limit:
        return f"{quote}{_escape(text)}{quote}"
    return f"{quote}{_escape(text[:limit])[:limit]}…{quote} ({len(text)} characters)"


def did_you_mean(word: str, known: Iterable[str]) -> str:
    """`` did you mean `x`?`` for the known name closest to a mistyped one, else ``""``."""
    close = difflib.get_close_matches(word, sorted(known), n=1, cutoff=0.6)
    return f"; did you mean `{close[0]}`?" if close else ""


def bounded(message: str, limit: int = MESSAGE_LIMIT) -> str:
    """A whole message with non-printables escaped (newlines and tabs kept) and, when longer
    than ``limit``, its middle cut: the head says what happened, the tail what to do."""
    tail = limit // 4
    head = limit - tail - 1
    if len(message) > limit:  # cut before escaping: never walk a megabyte
        start, end = _escape(message[:head], "\n\t"), _escape(message[-tail:], "\n\t")
        return f"{start[:head]}…{end[-tail:]}"
    message = _escape(message, "\n\t")
    return message if len(message) <= limit else f"{message[:head]}…{message[-tail:]}"


class SSHMCPError(Exception):
    """Root of every error ssh-mcp raises on purpose; its text is always :func:`bounded`."""

    #: Audit ``outcome`` for this class: ``denied`` for policy, else ``error``.
    outcome = "error"

    def __init__(self, *args: object) -> None:
        super().__init__(*(bounded(a) if isinstance(a, str) else a for a in args))


class ConfigError(SSHMCPError):
    """Settings or hosts.toml are invalid; raised at startup."""


class PolicyDenied(SSHMCPError):
    """The call was refused before any host was touched."""

    outcome = "denied"


class ToolNotAvailable(PolicyDenied):
    """The tool does not exist, or its tier or group is closed."""


class InvalidArguments(PolicyDenied):
    """The arguments do not match the tool's input schema."""


class HostNotAllowed(PolicyDenied):
    """The host is not configured, not allowlisted, or is blocklisted."""


class PathNotAllowed(PolicyDenied):
    """The canonical path is outside the allowlist or inside a restricted zone."""


class CommandNotAllowed(PolicyDenied):
    """The command policy refused the command."""


class NotConfirmed(PolicyDenied):
    """A command matching a deny pattern was declined, cancelled, or could not be asked."""


class HostKeyError(SSHMCPError):
    """Strict known_hosts checking refused the host key."""


class UnknownHostKey(HostKeyError):
    """No key is pinned for this host and port."""


class HostKeyMismatch(HostKeyError):
    """The host offered a key different from the pinned one."""


class TransportError(SSHMCPError):
    """Connecting, authenticating or opening a channel failed."""


class ConnectFailed(TransportError):
    """TCP connect, the SSH handshake, or the connect timeout failed."""


class AuthFailed(TransportError):
    """The host refused every configured authentication method."""


class ChannelFailed(TransportError):
    """A session or SFTP channel could not be opened."""


class ConnectionDropped(TransportError):
    """The connection died while an operation was running."""


class RemoteError(SSHMCPError):
    """The operation reached the host and failed there."""


class OperationTimeout(SSHMCPError):
    """A deadline passed before the operation finished."""


class CapExceeded(SSHMCPError):
    """A configured size or count limit was exceeded."""
