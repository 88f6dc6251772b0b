"""The client side: a spawned ssh-mcp driven over stdio, for ``ssh-mcp demo``."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TextIO

import mcp.types as types
from mcp import Client
from mcp.client.session import ClientRequestContext
from mcp.client.stdio import StdioServerParameters
from mcp.client.stdio import stdio_client as _sdk_stdio_client

from ssh_mcp.mcp.server import CONFIRM_KEY


@dataclass(frozen=True)
class CallReply:
    """One ``tools/call`` answer, without SDK types."""

    ok: bool  # False when the server set isError
    text: str  # the text content blocks, joined by newlines
    structured: dict[str, Any] | None  # structuredContent


@dataclass(frozen=True)
class StdioClient:
    """An initialized session with a spawned server: what it announced, and ``call``."""

    protocol_version: str  # as negotiated
    tools: tuple[str, ...]  # tools/list names, in the server's order
    call: Callable[[str, dict[str, Any]], Awaitable[CallReply]]  # call(name, arguments)


@contextlib.asynccontextmanager
async def stdio_client(
    argv: list[str],
    env: dict[str, str],
    cwd: str | None = None,
    errlog: TextIO | None = None,
    timeout: float = 60.0,
    confirm: Callable[[str], Awaitable[bool]] | None = None,
) -> AsyncIterator[StdioClient]:
    """Spawn an ssh-mcp server (``argv``) and yield a :class:`StdioClient` speaking MCP over
    its stdio; the server is stopped when the block exits.

    The SDK runs ``argv`` with ``env`` over a minimal default environment (PATH, HOME, ...),
    so the caller's other variables do not leak in. Its stderr goes to ``errlog`` (default
    ``sys.stderr``); ``timeout`` bounds each request, in seconds. ``confirm(message)``, if
    given, answers the server's confirmation forms (the client then declares elicitation)."""
    params = StdioServerParameters(command=argv[0], args=argv[1:], env=env, cwd=cwd)
    transport = _sdk_stdio_client(params) if errlog is None else _sdk_stdio_client(params, errlog)

    async def elicit(
        context: ClientRequestContext, params: types.ElicitRequestParams
    ) -> types.ElicitResult | types.ErrorData:
        assert confirm is not None
        yes = await confirm(params.message)
        return types.ElicitResult(action="accept", content={CONFIRM_KEY: yes})

    callback = elicit if confirm is not None else None
    async with Client(
        transport, read_timeout_seconds=timeout, elicitation_callback=callback
    ) as client:
        listed = await client.list_tools()

        async def call(name: str, arguments: dict[str, Any]) -> CallReply:
            result = await client.call_tool(name, arguments)
            text = "\n".join(b.text for b in result.content if isinstance(b, types.TextContent))
            return CallReply(not result.is_error, text, result.structured_content)

        yield StdioClient(client.protocol_version, tuple(t.name for t in listed.tools), call)
