"""Opening one asyncssh connection (through any jump hosts), with errors translated.

Secrets come from operator-configured commands (``passphrase_cmd``,
``password_cmd``) whose stdout is read here and handed straight to asyncssh;
they are never logged and never reach a remote argv.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncssh

from ssh_mcp.errors import (
    AuthFailed,
    ConfigError,
    ConnectFailed,
    HostKeyMismatch,
    SSHMCPError,
    UnknownHostKey,
)
from ssh_mcp.ssh.known_hosts import KnownHosts


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
    max_channels: int = 10
    max_connections: int = 4

    @property
    def label(self) -> str:
        return f"{self.key} ({self.host}:{self.port})"


@dataclass(frozen=True)
class ConnectOptions:
    """Settings shared by every connection of one pool."""

    known_hosts: KnownHosts
    config_file: Path | None = None
    connect_timeout: float = 10.0
    keepalive_interval: float = 15.0
    keepalive_count_max: int = 3


class _Client(asyncssh.SSHClient):
    """Records when asyncssh sees the transport go away, so the pool can reap it."""

    def __init__(self) -> None:
        self.lost = False

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True


async def read_secret(argv: Sequence[str], what: str) -> str:
    """Run an operator's *_cmd locally (no shell) and return its stdout, stripped of one newline."""
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
        )
        out, _ = await asyncio.wait_for(proc.communicate(), 30)
    except (OSError, TimeoutError) as exc:
        raise ConfigError(f"{what} command could not run: {type(exc).__name__}") from None
    if proc.returncode != 0:
        raise ConfigError(f"{what} command exited {proc.returncode}; fix the *_cmd in hosts.toml")
    return out.decode().removesuffix("\n")


def _fingerprint(key: asyncssh.SSHKeyPair) -> str:
    return str(asyncssh.import_public_key(key.public_data).get_fingerprint("sha256"))


@contextlib.asynccontextmanager
async def _agent_keys(spec: AuthSpec) -> AsyncIterator[list[asyncssh.SSHKeyPair]]:
    path = spec.agent_path or os.environ.get("SSH_AUTH_SOCK")
    if not path:
        raise AuthFailed("no ssh-agent: set auth.identity_agent or SSH_AUTH_SOCK, or use a key")
    try:
        agent = asyncssh.SSHAgentClient(path)
        keys = list(await agent.get_keys())
    except (OSError, asyncssh.Error, ValueError) as exc:
        raise AuthFailed(f"ssh-agent at {path} is not reachable ({type(exc).__name__})") from None
    try:
        if spec.fingerprint:
            keys = [k for k in keys if _fingerprint(k) == spec.fingerprint]
            if not keys:
                raise AuthFailed(
                    f"the agent holds no key {spec.fingerprint}; list them with `ssh-add -l`"
                )
        yield keys
    finally:
        # Signing happens during connect(); once the caller's block ends the agent is done.
        agent.close()
        await agent.wait_closed()


async def _auth_kwargs(spec: AuthSpec, stack: contextlib.AsyncExitStack) -> dict[str, Any]:
    if spec.method == "key":
        assert spec.key_path
        passphrase = (
            await read_secret(spec.passphrase_cmd, "passphrase") if spec.passphrase_cmd else None
        )
        try:
            key = asyncssh.read_private_key(os.path.expanduser(spec.key_path), passphrase)
        except (OSError, asyncssh.KeyImportError, asyncssh.KeyEncryptionError) as exc:
            raise AuthFailed(
                f"cannot load key {spec.key_path}: {type(exc).__name__}; "
                "check the path and passphrase_cmd"
            ) from None
        return {"client_keys": [key], "agent_path": None, "password": None}
    if spec.method == "password":
        assert spec.password_cmd
        password = await read_secret(spec.password_cmd, "password")
        return {"client_keys": None, "password": password, "kbdint_auth": False}
    keys = await stack.enter_async_context(_agent_keys(spec))
    return {"client_keys": keys, "agent_path": None, "password": None}


async def _connect_one(
    spec: ConnectSpec,
    opts: ConnectOptions,
    stack: contextlib.AsyncExitStack,
    tunnel: asyncssh.SSHClientConnection | None,
) -> tuple[asyncssh.SSHClientConnection, _Client]:
    client = _Client()
    kwargs = await _auth_kwargs(spec.auth, stack)
    try:
        conn = await asyncssh.connect(
            spec.host,
            spec.port,
            tunnel=tunnel if tunnel is not None else (),
            username=spec.user if spec.user else (),
            known_hosts=opts.known_hosts.current(),
            config=[str(opts.config_file)] if opts.config_file else None,
            client_factory=lambda: client,
            connect_timeout=opts.connect_timeout,
            login_timeout=opts.connect_timeout,
            keepalive_interval=opts.keepalive_interval,
            keepalive_count_max=opts.keepalive_count_max,
            encoding=None,
            **kwargs,
        )
    except asyncssh.HostKeyNotVerifiable:
        if opts.known_hosts.is_pinned(spec.host, spec.port):
            raise HostKeyMismatch(
                f"host key for {spec.label} does not match the key pinned in "
                f"{opts.known_hosts.path}; a rotation or an attack: verify out of band, "
                "then replace the line yourself"
            ) from None
        port = f"-p {spec.port} " if spec.port != 22 else ""
        raise UnknownHostKey(
            f"no host key pinned for {spec.label} in {opts.known_hosts.path}; pin it: "
            f"ssh-keyscan {port}{spec.host} > /tmp/k && ssh-keygen -lf /tmp/k, compare "
            f"the fingerprint out of band, then cat /tmp/k >> {opts.known_hosts.path}"
        ) from None
    except asyncssh.PermissionDenied:
        raise AuthFailed(
            f"authentication to {spec.label} as {spec.user or 'the default user'} was refused; "
            "check user and auth in hosts.toml"
        ) from None
    except TimeoutError:
        raise ConnectFailed(
            f"connecting to {spec.label} timed out after {opts.connect_timeout:g}s; "
            "check the host is up, or raise SSH_CONNECT_TIMEOUT"
        ) from None
    except (OSError, asyncssh.Error) as exc:
        detail = (exc.strerror if isinstance(exc, OSError) else None) or str(exc)
        raise ConnectFailed(
            f"cannot connect to {spec.label}: {type(exc).__name__}: {detail}; "
            "check hostname and port, and that sshd runs there"
        ) from None
    return conn, client


@dataclass
class Connection:
    """An open connection plus the jump-host connections it rides on."""

    conn: asyncssh.SSHClientConnection
    client: _Client
    hops: list[asyncssh.SSHClientConnection]

    @property
    def alive(self) -> bool:
        return not self.client.lost and not self.conn.is_closed()

    async def aclose(self) -> None:
        for c in [self.conn, *reversed(self.hops)]:
            c.close()
        for c in [self.conn, *reversed(self.hops)]:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(c.wait_closed(), 2)


async def open_connection(spec: ConnectSpec, opts: ConnectOptions) -> Connection:
    """Connect to ``spec``, hopping through ``spec.hops`` in order, each strictly checked."""
    hops: list[asyncssh.SSHClientConnection] = []
    try:
        async with contextlib.AsyncExitStack() as stack:
            tunnel: asyncssh.SSHClientConnection | None = None
            for hop in spec.hops:
                try:
                    tunnel, _ = await _connect_one(hop, opts, stack, tunnel)
                except SSHMCPError as exc:
                    raise type(exc)(f"via jump host {hop.key}: {exc}") from None
                hops.append(tunnel)
            conn, client = await _connect_one(spec, opts, stack, tunnel)
    except BaseException:
        for c in reversed(hops):
            c.close()
        raise
    return Connection(conn, client, hops)


async def fetch_host_fingerprint(spec: ConnectSpec, timeout: float) -> str:
    """The SHA256 fingerprint the host offers now; nothing is trusted or written."""
    try:
        key = await asyncio.wait_for(
            asyncssh.get_server_host_key(spec.host, spec.port, config=None), timeout
        )
    except TimeoutError:
        raise ConnectFailed(f"{spec.label} did not answer within {timeout:g}s") from None
    except (OSError, asyncssh.Error) as exc:
        raise ConnectFailed(f"cannot reach {spec.label}: {type(exc).__name__}") from None
    if key is None:
        raise ConnectFailed(f"{spec.label} offered no host key")
    return str(key.get_fingerprint("sha256"))
