"""Dispatch's error mapping for failures no real tool should produce: injected test tools.

These tools touch no host, so no sshd is needed: what is under test is the
one wrapper around every handler, reached through a real MCP client session.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest
from harness import audit_lines, make_settings, text
from mcp import Client
from pydantic import Field

from ssh_mcp.core.access import Group, Tier
from ssh_mcp.core.app import build_app
from ssh_mcp.core.spec import Annotations, Output, StrictInput, ToolContext, ToolSpec
from ssh_mcp.mcp.server import build_server

pytestmark = pytest.mark.anyio


class In(StrictInput):
    secret_value: str = Field("", description="Something that must not leak.")


class Out(Output):
    ok: bool = Field(description="Always true.")


async def boom(ctx: ToolContext, args: In) -> Out:
    raise KeyError(f"internal detail {args.secret_value}")


async def slow(ctx: ToolContext, args: In) -> Out:
    await asyncio.sleep(60)
    return Out(ok=True)


LOCAL = Annotations(read_only=True, destructive=False, idempotent=True, open_world=False)
TOOLS = (
    ToolSpec("t_boom", "Boom", "Fails.", Tier.READ, Group.HOST, In, Out, LOCAL, boom),
    ToolSpec("t_slow", "Slow", "Sleeps.", Tier.READ, Group.HOST, In, Out, LOCAL, slow),
)


async def test_unexpected_exception_is_an_internal_error_with_id(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = make_settings(tmp_path, "", tmp_path / "kh")
    app = build_app(settings, tools=TOOLS)
    try:
        async with Client(build_server(app), mode="legacy") as client:
            with caplog.at_level(logging.ERROR, logger="ssh_mcp"):
                r = await client.call_tool("t_boom", {"secret_value": "s3cr3t"})
    finally:
        await app.aclose()
    line = audit_lines(app)[-1]
    assert (
        r.is_error
        and text(r) == f"internal error (id {line['id']}); the server log has the details"
    )
    assert "s3cr3t" not in text(r) and "Traceback" not in text(r)
    assert (line["outcome"], line["error"]) == ("error", "KeyError")
    assert "Traceback" in caplog.text and line["id"] in caplog.text


async def test_handler_deadline_maps_to_operation_timeout(tmp_path: Path) -> None:
    settings = make_settings(
        tmp_path, "", tmp_path / "kh", ssh_connect_timeout=0.1, ssh_command_timeout=0.1
    )
    app = build_app(settings, tools=TOOLS)
    try:
        async with Client(build_server(app)) as client:
            r = await client.call_tool("t_slow", {})
    finally:
        await app.aclose()
    assert r.is_error and "did not finish within" in text(r)
    assert audit_lines(app)[-1]["error"] == "OperationTimeout"
