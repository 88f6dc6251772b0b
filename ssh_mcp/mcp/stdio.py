"""stdin and stdout as non-blocking asyncio pipes, for the MCP stdio transport.

The SDK's default stdio streams run every ``readline()`` and every
``write()``/``flush()`` in a worker thread. A blocked ``readline()`` cannot
be cancelled, so SIGTERM could not stop the server until the client closed
stdin, and each reply cost two thread hops. Pipes driven by the event loop
are cancellable and cheaper. Anything that is not a pipe or socket (a file,
a tty), or a stdout that shares stderr's open file (where O_NONBLOCK would
leak into logging), keeps the SDK's default.

A line longer than :data:`MAX_LINE` is not an error that ends the server: its
bytes are dropped as they stream in (memory stays bounded by the reader's
limit) and :class:`PipeLines` yields ``None`` in its place, so the MCP layer
can answer it and read on. The SDK drops a line it cannot read as a JSON-RPC
message without a word, and its client then waits forever; :func:`rejection`
says which JSON-RPC error such a line deserves.
"""

from __future__ import annotations

import asyncio
import json
import os
import stat
from dataclasses import dataclass, field
from typing import Any


def _is_pipe(fd: int) -> bool:
    mode = os.fstat(fd).st_mode
    return stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode)


def _same_file(a: int, b: int) -> bool:
    sa, sb = os.fstat(a), os.fstat(b)
    return (sa.st_dev, sa.st_ino) == (sb.st_dev, sb.st_ino)


#: The longest request line read whole; a longer one is discarded as it arrives.
MAX_LINE = 64 * 1024 * 1024


class PipeLines:
    """An async iterator of text lines; ``None`` stands for a line longer than the
    reader's limit (:data:`MAX_LINE`), which was discarded."""

    def __init__(self, reader: asyncio.StreamReader) -> None:
        self._reader = reader

    def __aiter__(self) -> PipeLines:
        return self

    async def __anext__(self) -> str | None:
        oversized = False
        while True:
            try:
                line = await self._reader.readuntil(b"\n")
            except asyncio.IncompleteReadError as exc:  # EOF; a last line may lack its newline
                if oversized:
                    return None
                if not exc.partial:
                    raise StopAsyncIteration from None
                line = exc.partial
            except asyncio.LimitOverrunError as exc:
                # The reader holds at most about ``limit`` bytes of this line: drop them
                # and keep reading until its newline, never holding the whole line.
                await self._reader.readexactly(exc.consumed)
                oversized = True
                continue
            if oversized:
                return None
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
            reader = asyncio.StreamReader(limit=MAX_LINE)
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


PARSE_ERROR, INVALID_REQUEST, INVALID_PARAMS = -32700, -32600, -32602


@dataclass(frozen=True)
class Rejection:
    """The JSON-RPC error that answers a line the server cannot serve."""

    id: int | str | None
    code: int
    message: str


TOO_LARGE = Rejection(
    None,
    INVALID_REQUEST,
    f"request too large: a message may be at most {MAX_LINE >> 20} MiB; send less per call",
)


#: How deep the SDK's JSON parser (pydantic's jiter) nests before it refuses a message.
MAX_DEPTH = 200


def _scan(value: Any) -> tuple[bool, int]:
    """(holds a lone surrogate, nesting depth) of a decoded JSON value, without recursion:
    a message json reads may nest far deeper than Python's recursion limit."""
    surrogate, depth = False, 0
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                surrogate = True
        elif isinstance(item, dict):
            depth = max(depth, level)
            stack.extend((k, level) for k in item)
            stack.extend((v, level + 1) for v in item.values())
        elif isinstance(item, list):
            depth = max(depth, level)
            stack.extend((v, level + 1) for v in item)
    return surrogate, depth


def _has_surrogate(value: Any) -> bool:
    """Whether a decoded JSON value holds a lone surrogate (``"\\ud800"``), which is no
    Unicode character and which UTF-8 cannot carry back."""
    return _scan(value)[0]


_TOO_DEEP = f"invalid request: nested more than {MAX_DEPTH} levels deep; flatten the arguments"


def rejection(line: str) -> Rejection | None:
    """Why ``line``, which the SDK could not read as a request, is refused, as the error to
    answer with; None for a notification or a response, which JSON-RPC never answers."""
    try:
        message = json.loads(line)
    except RecursionError:
        return Rejection(None, INVALID_REQUEST, _TOO_DEEP)
    except ValueError:
        return Rejection(None, PARSE_ERROR, "parse error: not JSON; send one message per line")
    if not isinstance(message, dict):
        return Rejection(
            None, INVALID_REQUEST, "invalid request: send one JSON object (no batches)"
        )
    if "id" not in message or ("method" not in message and message.keys() & {"result", "error"}):
        return None
    rid = message["id"]
    if isinstance(rid, bool) or not isinstance(rid, int | str) or _has_surrogate(rid):
        return Rejection(None, INVALID_REQUEST, "invalid request: id must be a string or integer")
    surrogate, depth = _scan(message)
    if surrogate:
        return Rejection(
            rid,
            PARSE_ERROR,
            "parse error: a string holds a lone surrogate escape (\\ud800-\\udfff), which "
            "is not text; send whole surrogate pairs or plain UTF-8",
        )
    if message.get("jsonrpc") != "2.0" or not isinstance(message.get("method"), str):
        return Rejection(
            rid, INVALID_REQUEST, 'invalid request: needs "jsonrpc": "2.0" and a string "method"'
        )
    if depth > MAX_DEPTH:
        return Rejection(rid, INVALID_REQUEST, _TOO_DEEP)
    if not isinstance(message.get("params"), dict | None):
        return Rejection(
            rid, INVALID_PARAMS, "invalid params: params must be an object of named values"
        )
    return Rejection(rid, INVALID_REQUEST, "invalid request: not a JSON-RPC 2.0 request")
