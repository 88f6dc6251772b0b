"""Helpers for the pool tests (test_pool.py, test_pool_faults.py): a host's pool, concurrent MCP
calls, the sessions and TCP connections that are open, a slow TCP proxy."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio
from harness import ok
from mcp import Client
from mcp.types import CallToolResult
from sshd import Sshd

from ssh_mcp.core.app import App
from ssh_mcp.ssh.pool import HostPool


def host_pool(app: App, alias: str) -> HostPool:
    hp = app.pool.get(alias)
    assert hp is not None, f"no pool for {alias}"
    return hp


def accepted(server: Sshd) -> int:
    return server.log_text().count("Accepted publickey")


async def concurrently(
    n: int, call: Callable[[int], Awaitable[CallToolResult]]
) -> list[CallToolResult]:
    results: list[CallToolResult | None] = [None] * n

    async def one(i: int) -> None:
        results[i] = await call(i)

    async with anyio.create_task_group() as tg:
        for i in range(n):
            tg.start_soon(one, i)
    assert all(r is not None for r in results)
    return [r for r in results if r is not None]


def exec_call(client: Client, host: str, command: str, **args: Any) -> Awaitable[CallToolResult]:
    return client.call_tool("ssh_exec_run", {"host": host, "command": command, **args})


async def sessions(client: Client) -> list[dict[str, Any]]:
    listed: list[dict[str, Any]] = (await ok(client, "ssh_session_list", {}))["sessions"]
    return listed


def established_to(port: int) -> int:
    """ESTABLISHED TCP sockets (IPv4) whose remote port is `port`: our side of the connections."""
    count = 0
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if int(fields[2].split(":")[1], 16) == port and fields[3] == "01":
            count += 1
    return count


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


class SlowProxy:
    """A TCP proxy to `port` that waits `delay` seconds before connecting: a slow handshake."""

    def __init__(self, port: int, delay: float) -> None:
        self.port, self.delay, self.listen_port = port, delay, 0
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def __aenter__(self) -> SlowProxy:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.listen_port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(self.delay)
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.port)
        for src, dst in ((reader, up_writer), (up_reader, writer)):
            task = asyncio.get_running_loop().create_task(self._pipe(src, dst))
            self._tasks.add(task)

    @staticmethod
    async def _pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
        try:
            while data := await src.read(65536):
                dst.write(data)
                await dst.drain()
        finally:
            dst.close()
