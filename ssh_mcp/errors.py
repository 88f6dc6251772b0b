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
what to do next.
"""

from __future__ import annotations


class SSHMCPError(Exception):
    """Root of every error ssh-mcp raises on purpose."""

    #: Audit ``outcome`` for this class: ``denied`` for policy, else ``error``.
    outcome = "error"


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
