"""The ``asyncssh`` backend of :mod:`ssh_mcp.demo.sandbox`: an in-process SSH host.

For machines without ``/usr/sbin/sshd``. It logs in the current user with one fresh
ed25519 key. Commands really run, through ``/bin/sh -c`` in their own session with
``<dir>/fs/data`` as the cwd and ``SSH_MCP_SANDBOX=<dir>`` in their environment; client
signals are forwarded with ``killpg``; closing the channel kills the group. SFTP is
asyncssh's own ``SFTPServer`` chrooted at ``<dir>/fs``, so the data directory is ``/data``
over SFTP. That chroot is path mapping for a demo, **not a security boundary**: a symlink
inside it is followed out of it, and exec is not confined.
"""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import os
import signal
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import asyncssh

from ssh_mcp.config.environ import search_path
from ssh_mcp.demo.sandbox import MARKER, Sandbox, SandboxError, stop_marked


class _Server(asyncssh.SSHServer):
    """Public-key auth for one user and one key; tracks connections so close() can end them."""

    def __init__(self, user: str, key: asyncssh.SSHKey, conns: set[asyncssh.SSHServerConnection]):
        self._user, self._key, self._conns = user, key, conns
        self._conn: asyncssh.SSHServerConnection | None = None

    def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
        self._conn = conn
        self._conns.add(conn)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._conn is not None:
            self._conns.discard(self._conn)

    def begin_auth(self, username: str) -> bool:
        return True

    def public_key_auth_supported(self) -> bool:
        return True

    def validate_public_key(self, username: str, key: asyncssh.SSHKey) -> bool:
        return username == self._user and key.public_data == self._key.public_data


async def _pump(src: asyncio.StreamReader | None, dst: asyncssh.SSHWriter[bytes]) -> None:
    while src is not None and (chunk := await src.read(65536)):
        dst.write(chunk)


async def _feed(proc: asyncio.subprocess.Process, src: asyncssh.SSHReader[bytes]) -> None:
    """Client stdin to the command; client signals to its process group."""
    while True:
        try:
            chunk = await src.read(65536)
        except asyncssh.SignalReceived as sig:
            num = getattr(signal, "SIG" + sig.signal, None)
            if isinstance(num, signal.Signals):
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, num)
            continue
        except (asyncssh.BreakReceived, asyncssh.TerminalSizeChanged):
            continue
        except (asyncssh.Error, OSError):
            chunk = b""
        if proc.stdin is None:
            return
        if not chunk:
            proc.stdin.close()
            return
        proc.stdin.write(chunk)
        with contextlib.suppress(OSError):
            await proc.stdin.drain()


def _command_handler(
    cwd: Path, running: set[int], token: str
) -> Callable[[asyncssh.SSHServerProcess[bytes]], Awaitable[None]]:
    env = {MARKER: token, "PATH": search_path(), "LANG": "C.UTF-8",
           "HOME": str(cwd), "USER": getpass.getuser(), "SHELL": "/bin/sh"}  # fmt: skip

    async def handle(process: asyncssh.SSHServerProcess[bytes]) -> None:
        if not process.command:
            process.stderr.write(b"the sandbox runs commands only, not interactive shells\n")
            process.exit(1)
            return
        pipe = asyncio.subprocess.PIPE
        proc = await asyncio.create_subprocess_shell(
            process.command, stdin=pipe, stdout=pipe, stderr=pipe, cwd=cwd, env=env,
            start_new_session=True,
        )  # fmt: skip
        running.add(proc.pid)
        feeder: asyncio.Future[Any] = asyncio.ensure_future(_feed(proc, process.stdin))
        closed: asyncio.Future[Any] = asyncio.ensure_future(process.channel.wait_closed())
        output: asyncio.Future[Any] = asyncio.ensure_future(
            asyncio.gather(
                _pump(proc.stdout, process.stdout), _pump(proc.stderr, process.stderr), proc.wait()
            )
        )
        try:
            await asyncio.wait({output, closed}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            if proc.returncode is None:  # channel gone (or we were cancelled): kill the group
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                await proc.wait()
            running.discard(proc.pid)
            for task in (feeder, closed, output):
                task.cancel()
            await asyncio.gather(feeder, closed, output, return_exceptions=True)
        if process.channel.is_closing():
            return
        rc = proc.returncode
        if rc is not None and rc < 0:
            process.exit_with_signal(signal.Signals(-rc).name.removeprefix("SIG"))
        else:
            process.exit(rc or 0)

    async def guarded(process: asyncssh.SSHServerProcess[bytes]) -> None:
        try:  # an exception escaping a process_factory drops the whole client connection
            await handle(process)
        except Exception as exc:
            with contextlib.suppress(Exception):
                process.stderr.write(f"sandbox: {type(exc).__name__}: {exc}\n".encode())
                process.exit(255)

    return guarded


async def start_asyncssh_sandbox(dir: Path) -> Sandbox:
    """Start the in-process asyncssh host described in the module docstring."""
    dir = dir.resolve()
    root = dir / "fs"
    data = root / "data"
    data.mkdir(parents=True, exist_ok=True)
    user = getpass.getuser()
    host_key = asyncssh.generate_private_key("ssh-ed25519")
    client_key = asyncssh.generate_private_key("ssh-ed25519", comment="ssh-mcp-sandbox-client")
    key_path = dir / "client_ed25519_key"
    client_key.write_private_key(str(key_path))
    key_path.chmod(0o600)
    conns: set[asyncssh.SSHServerConnection] = set()
    running: set[int] = set()
    acceptor = await asyncssh.listen(
        "127.0.0.1", 0, server_factory=lambda: _Server(user, client_key, conns),
        server_host_keys=[host_key], encoding=None,
        process_factory=_command_handler(data, running, str(dir)),
        sftp_factory=lambda chan: asyncssh.SFTPServer(chan, chroot=os.fsencode(root)),
    )  # fmt: skip
    port = acceptor.get_port()

    async def close() -> None:
        acceptor.close()
        for conn in list(conns):
            conn.close()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(5):
                waits = [c.wait_closed() for c in list(conns)]
                await asyncio.gather(*waits, acceptor.wait_closed(), return_exceptions=True)
        for pid in list(running):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
        if left := await asyncio.to_thread(stop_marked, str(dir)):
            raise SandboxError(f"sandbox command processes survived SIGKILL: {left}")

    pub = host_key.export_public_key().decode().split()
    return Sandbox("asyncssh", "127.0.0.1", port, user, key_path,
                   f"[127.0.0.1]:{port} {pub[0]} {pub[1]}", data, "/data", (), close)  # fmt: skip
