"""Opening one asyncssh connection (through any jump hosts), with errors translated.

Each host, jump hosts included, is authenticated with exactly its own
configured method, and its key is checked against known_hosts alone (see
``known_hosts.py``): X.509 CAs and GSS key exchange, which could vouch for a
host without a pin, are switched off, and no ssh_config is read unless
SSH_CONFIG_FILE names one.

Secrets come from operator-configured commands (``passphrase_cmd``,
``password_cmd``), run by the reader the app puts in ``ConnectOptions.secret``
(``ssh_mcp.config.secrets``); their output goes straight to asyncssh, is
never logged and never reaches a remote argv.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import getpass
import hashlib
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ssh_mcp.errors import (
    AuthFailed,
    ConfigError,
    ConnectFailed,
    HostKeyMismatch,
    SSHMCPError,
    UnknownHostKey,
)
from ssh_mcp.ssh.known_hosts import KnownHosts

if TYPE_CHECKING:
    import asyncssh
else:
    from ssh_mcp.ssh._lazy import asyncssh


@dataclass(frozen=True)
class AuthSpec:
    """How to authenticate; mirrors hosts.toml ``auth`` without any policy."""

    method: str = "agent"
    agent_path: str | None = None
    fingerprint: str | None = None
    key_path: str | None = None
    passphrase_cmd: tuple[str, ...] | None = None
    password_cmd: tuple[str, ...] | None = None


@dataclass(frozen=True)
class ConnectSpec:
    """One resolved SSH target. ``key`` names its pool slot (the host alias)."""

    key: str
    host: str
    port: int = 22
    user: str | None = None
    auth: AuthSpec = field(default_factory=AuthSpec)
    hops: tuple[ConnectSpec, ...] = ()
    # No defaults here: the app passes the resolved host's (config/defaults.py has them).
    max_channels: int = field(kw_only=True)
    max_connections: int = field(kw_only=True)

    @property
    def label(self) -> str:
        return f"{self.key} ({self.host}:{self.port})"


#: AES-GCM first: with AES-NI it costs a fraction of asyncssh's ChaCha20-Poly1305,
#: which builds two cipher contexts per packet. All three are OpenSSH defaults.
CIPHERS = ("aes128-gcm@openssh.com", "aes256-gcm@openssh.com", "chacha20-poly1305@openssh.com")


#: Reads a secret: ``await secret(argv, what)`` runs the operator's ``<what>_cmd``
#: ``argv`` and returns what it prints.
SecretReader = Callable[[Sequence[str], str], Awaitable[str]]


@dataclass(frozen=True)
class ConnectOptions:
    """Settings shared by every connection of one pool."""

    known_hosts: KnownHosts
    secret: SecretReader
    config_file: Path | None
    # No defaults here: the app passes the settings' (config/defaults.py has them).
    connect_timeout: float
    keepalive_interval: float
    keepalive_count_max: int


def _fingerprint(key: asyncssh.SSHKeyPair) -> str:
    """``SHA256:<base64>`` of the key blob, as ``ssh-add -l`` prints it (for a cert: its key)."""
    digest = base64.b64encode(hashlib.sha256(key.key_public_data).digest())
    return "SHA256:" + digest.decode().rstrip("=")


@contextlib.asynccontextmanager
async def _agent_keys(spec: AuthSpec) -> AsyncIterator[list[asyncssh.SSHKeyPair]]:
    """The agent's keys (only the one with ``spec.fingerprint`` if set), open for the block.

    Signing happens during connect(), so the agent is closed when the block ends.
    """
    path = spec.agent_path  # identity_agent, else $SSH_AUTH_SOCK (resolved by the app)
    if not path:
        raise AuthFailed("no ssh-agent: set auth.identity_agent or SSH_AUTH_SOCK, or use a key")
    agent = asyncssh.SSHAgentClient(path)
    try:
        try:
            keys = list(await agent.get_keys())
        except (OSError, asyncssh.Error, ValueError) as exc:
            raise AuthFailed(
                f"ssh-agent at {path} is not reachable ({type(exc).__name__}); start it, or "
                "fix auth.identity_agent / SSH_AUTH_SOCK"
            ) from None
        if not keys:
            raise AuthFailed(f"the ssh-agent at {path} holds no keys; add one with `ssh-add`")
        if spec.fingerprint:
            keys = [k for k in keys if _fingerprint(k) == spec.fingerprint]
            if not keys:
                raise AuthFailed(
                    f"the ssh-agent at {path} holds no key {spec.fingerprint}; list its keys "
                    "with `ssh-add -l` and fix auth.identity_fingerprint"
                )
        yield keys
    finally:
        agent.close()
        await agent.wait_closed()


async def _load_key(spec: AuthSpec, secret: SecretReader) -> asyncssh.SSHKey:
    """Read (and decrypt) ``spec.key_path``; the bcrypt KDF runs off the event loop."""
    assert spec.key_path
    path = os.path.expanduser(spec.key_path)
    passphrase = await secret(spec.passphrase_cmd, "passphrase") if spec.passphrase_cmd else None
    try:
        return await asyncio.to_thread(asyncssh.read_private_key, path, passphrase)
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
    except (asyncssh.KeyImportError, asyncssh.KeyEncryptionError) as exc:
        reason = str(exc) or type(exc).__name__  # e.g. "Incorrect passphrase"; never the secret
    raise AuthFailed(
        f"cannot load key {spec.key_path}: {reason}; check auth.key and auth.passphrase_cmd"
    )


async def _auth_kwargs(
    spec: AuthSpec, secret: SecretReader, stack: contextlib.AsyncExitStack
) -> dict[str, Any]:
    """asyncssh.connect() arguments for exactly one auth method; nothing else is tried."""
    if spec.method == "key":
        key = await _load_key(spec, secret)
        return {"client_keys": [key], "agent_path": None, "password": None}
    if spec.method == "password":
        assert spec.password_cmd
        password = await secret(spec.password_cmd, "password")
        return {"client_keys": None, "password": password, "kbdint_auth": False}
    keys = await stack.enter_async_context(_agent_keys(spec))
    return {"client_keys": keys, "agent_path": None, "password": None}


def _host_key_error(spec: ConnectSpec, where: str, opts: ConnectOptions) -> SSHMCPError:
    """Tell an unknown host key from a changed one (asyncssh raises the same for both)."""
    kh = opts.known_hosts
    if kh.is_pinned(spec.host, spec.port):
        return HostKeyMismatch(
            f"host key of {where} does NOT match the key pinned in {kh.path}: the key was "
            "rotated, or this is an attack. Compare with ssh_known_hosts_verify and out of "
            "band, then replace the line yourself"
        )
    port = f"-p {spec.port} " if spec.port != 22 else ""
    note = ""
    if spec.port != 22 and kh.is_pinned(spec.host, 22):
        note = " (a key is pinned for port 22 only: pins are per port, as in OpenSSH)"
    return UnknownHostKey(
        f"no host key pinned for {where} in {kh.path}{note}. To pin it: "
        f"`ssh-keyscan {port}{spec.host} > host.keys`, run `ssh-keygen -lf host.keys` and "
        f"compare the fingerprint out of band (e.g. the host's console), then "
        f"`cat host.keys >> {kh.path}`"
    )


def _login(spec: ConnectSpec, opts: ConnectOptions) -> str:
    """The user name tried, and where it came from when hosts.toml sets none."""
    if spec.user:
        return spec.user
    # asyncssh's own default: the local user, as getpass finds it.
    tried = f"{getpass.getuser()} (the local user: hosts.toml sets no user for this host"
    return tried + ("; a User in SSH_CONFIG_FILE would win)" if opts.config_file else ")")


async def _connect_one(
    spec: ConnectSpec,
    opts: ConnectOptions,
    stack: contextlib.AsyncExitStack,
    via: tuple[ConnectSpec, asyncssh.SSHClientConnection] | None,
    is_hop: bool,
) -> asyncssh.SSHClientConnection:
    """Connect to one host, directly or through the open connection of jump host ``via``."""
    where = f"jump host {spec.label}" if is_hop else spec.label
    known_hosts = opts.known_hosts.verifier()
    kwargs = await _auth_kwargs(spec.auth, opts.secret, stack)
    try:
        conn = await asyncssh.connect(
            spec.host,
            spec.port,
            tunnel=via[1] if via else (),
            username=spec.user if spec.user else (),
            known_hosts=known_hosts,
            x509_trusted_certs=None,  # no X.509 CA (~/.ssh/ca-bundle.crt) may vouch for a host
            gss_host=None,  # no GSS: GSS key exchange would skip the host key check
            config=[str(opts.config_file)] if opts.config_file else None,
            connect_timeout=opts.connect_timeout,
            login_timeout=opts.connect_timeout,
            keepalive_interval=opts.keepalive_interval,
            keepalive_count_max=opts.keepalive_count_max,
            encoding=None,
            encryption_algs=CIPHERS,
            **kwargs,
        )
    except asyncssh.HostKeyNotVerifiable:
        raise _host_key_error(spec, where, opts) from None
    except asyncssh.PermissionDenied:
        raise AuthFailed(
            f"{where} refused {spec.auth.method} authentication as {_login(spec, opts)}; "
            "check user and auth in hosts.toml"
        ) from None
    except TimeoutError:
        raise ConnectFailed(
            f"connecting to {where} timed out after {opts.connect_timeout:g}s; "
            "check the host is up, or raise SSH_CONNECT_TIMEOUT"
        ) from None
    except asyncssh.ConfigParseError as exc:
        raise ConfigError(f"SSH_CONFIG_FILE {opts.config_file}: {exc}") from None
    except (OSError, asyncssh.Error) as exc:
        if via is not None and isinstance(exc, asyncssh.ChannelOpenError):  # direct-tcpip refused
            raise ConnectFailed(
                f"jump host {via[0].label} could not forward to {where} ({exc.reason}); check "
                "AllowTcpForwarding on that jump host and that it can reach this address"
            ) from None
        detail = (exc.strerror if isinstance(exc, OSError) else None) or str(exc)
        raise ConnectFailed(
            f"cannot connect to {where}: {type(exc).__name__}: {detail}; "
            "check hostname and port, and that sshd runs there"
        ) from None
    return conn


@dataclass
class Connection:
    """An open connection plus the jump-host connections it rides on."""

    conn: asyncssh.SSHClientConnection
    hops: list[asyncssh.SSHClientConnection]

    @property
    def alive(self) -> bool:
        return not self.conn.is_closed()

    async def aclose(self) -> None:
        for c in [self.conn, *reversed(self.hops)]:
            c.close()
        for c in [self.conn, *reversed(self.hops)]:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(c.wait_closed(), 2)


async def open_connection(spec: ConnectSpec, opts: ConnectOptions) -> Connection:
    """Connect to ``spec`` through ``spec.hops`` in order, each hop strictly checked and
    authenticated with its own settings; any failure closes the hops already open."""
    hops: list[asyncssh.SSHClientConnection] = []
    via: tuple[ConnectSpec, asyncssh.SSHClientConnection] | None = None
    try:
        async with contextlib.AsyncExitStack() as stack:
            for hop in spec.hops:
                conn = await _connect_one(hop, opts, stack, via, is_hop=True)
                hops.append(conn)
                via = (hop, conn)
            conn = await _connect_one(spec, opts, stack, via, is_hop=False)
    except BaseException:
        for c in reversed(hops):
            c.close()
        raise
    return Connection(conn, hops)


@dataclass(frozen=True)
class OfferedKey:
    """A host key as offered: its SHA256 fingerprint and its OpenSSH public-key text."""

    fingerprint: str
    public: str  # "ssh-ed25519 AAAA...", as a known_hosts line carries it after the name


async def fetch_host_key(spec: ConnectSpec, timeout: float, opts: ConnectOptions) -> OfferedKey:
    """The host key the host offers now; nothing is trusted or written.

    A host behind jump hosts is asked through them (each hop strictly checked
    with ``opts``), never directly: the same address seen from here may be
    another machine.
    """
    chain: Connection | None = None
    try:
        if spec.hops:
            chain = await open_connection(replace(spec.hops[-1], hops=spec.hops[:-1]), opts)
        key = await asyncio.wait_for(
            asyncssh.get_server_host_key(
                spec.host, spec.port, tunnel=chain.conn if chain else (), config=None
            ),
            timeout,
        )
    except TimeoutError:
        raise ConnectFailed(f"{spec.label} did not answer within {timeout:g}s") from None
    except (OSError, asyncssh.Error) as exc:
        raise ConnectFailed(f"cannot reach {spec.label}: {type(exc).__name__}") from None
    finally:
        if chain is not None:
            await chain.aclose()
    if key is None:
        raise ConnectFailed(f"{spec.label} offered no host key")
    public = key.export_public_key("openssh").decode("ascii").split()
    return OfferedKey(str(key.get_fingerprint("sha256")), " ".join(public[:2]))


async def fetch_host_fingerprint(spec: ConnectSpec, timeout: float, opts: ConnectOptions) -> str:
    """The SHA256 fingerprint the host offers now (see :func:`fetch_host_key`)."""
    return (await fetch_host_key(spec, timeout, opts)).fingerprint
