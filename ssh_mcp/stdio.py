"""stdin and stdout as non-blocking asyncio pipes, for the MCP stdio transport.

The SDK's default stdio streams run every ``readline()`` and every
``write()``/``flush()`` in a worker thread. A blocked ``readline()`` cannot
be cancelled, so SIGTERM could not stop the server until the client closed
stdin, and each reply cost two thread hops. Pipes driven by the event loop
are cancellable and cheaper. Anything that is not a pipe or socket (a file,
a tty), or a stdout that shares stderr's open file (where O_NONBLOCK would
leak into logging), keeps the SDK's default.
"""

from __future__ import annotations

import asyncio
import os
import stat
from dataclasses import dataclass, field


def _is_pipe(fd: int) -> bool:
    mode = os.fstat(fd).st_mode
    return stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode)


def _same_file(a: int, b: int) -> bool:
    sa, sb = os.fstat(a), os.fstat(b)
    return (sa.st_dev, sa.st_ino) == (sb.st_dev, sb.st_ino)


class PipeLines:
    """An async iterator of text lines, in the shape the SDK's stdio reader consumes."""

    def __init__(self, reader: asyncio.StreamReader) -> None:
        self._reader = reader

    def __aiter__(self) -> PipeLines:
        return self

    async def __anext__(self) -> str:
        line = await self._reader.readline()
        if not line:
            raise StopAsyncIteration
        return line.decode("utf-8", "replace")


class PipeWriter:
    """``write``/``flush`` coroutines, in the shape the SDK's stdio writer calls."""

    def __init__(self, writer: asyncio.StreamWriter) -> None:
        self._writer = writer

    async def write(self, text: str) -> None:
        self._writer.write(text.encode("utf-8"))

    async def flush(self) -> None:
        await self._writer.drain()


@dataclass
class StdioPipes:
    """The streams to hand ``stdio_server``; ``None`` means the SDK's default."""

    stdin: PipeLines | None = None
    stdout: PipeWriter | None = None
    _transports: list[asyncio.BaseTransport] = field(default_factory=list)

    @classmethod
    async def open(cls) -> StdioPipes:
        loop = asyncio.get_running_loop()
        pipes = cls()
        if _is_pipe(0):
            reader = asyncio.StreamReader(limit=64 * 1024 * 1024)
            transport, _ = await loop.connect_read_pipe(
                lambda: asyncio.StreamReaderProtocol(reader),
                os.fdopen(os.dup(0), "rb", buffering=0),
            )
            pipes.stdin = PipeLines(reader)
            pipes._transports.append(transport)
        if _is_pipe(1) and not _same_file(1, 2):
            wtransport, protocol = await loop.connect_write_pipe(
                asyncio.streams.FlowControlMixin, os.fdopen(os.dup(1), "wb", buffering=0)
            )
            pipes.stdout = PipeWriter(asyncio.StreamWriter(wtransport, protocol, None, loop))
            pipes._transports.append(wtransport)
        return pipes

    def close(self) -> None:
        for transport in self._transports:
            transport.close()
