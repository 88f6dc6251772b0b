"""What a typical session costs a client in bytes: the demo's calls, through MCP in-process.

    uv run python bench/session.py [--calls]

Starts the demo's sandbox host (``ssh_mcp.demo.sandbox``) and drives the very calls of
``ssh-mcp demo`` (``ssh_mcp.demo.run._drive``: ping, host info, an SFTP listing, three
execs, a background job and its status) through the SDK ``Client`` in-process, with the
demo's settings (dangerous tier open). Each answer is serialized as the wire carries it (by
alias, ``None`` left out) and measured as compact JSON: the text content, the structured
content and the whole result. Prints the totals, and with ``--calls`` one line per call;
also the tools/list the session started with.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import json
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

import mcp.types as types
from mcp import Client
from mcp.client.session import ClientRequestContext

from ssh_mcp.core.app import build_app
from ssh_mcp.demo import run as demo
from ssh_mcp.demo.sandbox import start_sandbox
from ssh_mcp.mcp.client import CallReply, StdioClient
from ssh_mcp.mcp.server import CONFIRM_KEY, build_server


def size(value: Any) -> int:
    return len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode())


async def measure(tmp: Path) -> tuple[int, list[tuple[str, int, int, int]]]:
    """The tools/list bytes, and per call: tool, text bytes, structured bytes, result bytes."""
    host_dir = tmp / "host"
    host_dir.mkdir()
    sandbox = await start_sandbox(host_dir)
    rows: list[tuple[str, int, int, int]] = []
    try:
        (sandbox.data_dir / "hello.txt").write_text("hello from the ssh-mcp demo\n")
        (sandbox.data_dir / "notes.md").write_text("# notes\n\nfiles the demo lists over SFTP\n")
        (tmp / "known_hosts").write_text(sandbox.known_hosts_line + "\n")
        (tmp / "hosts.toml").write_text(demo._hosts_toml(sandbox))
        app = build_app(demo._settings(tmp))

        async def yes(
            context: ClientRequestContext, params: types.ElicitRequestParams
        ) -> types.ElicitResult:
            return types.ElicitResult(action="accept", content={CONFIRM_KEY: True})

        try:
            async with Client(build_server(app), elicitation_callback=yes) as client:
                listed = (await client.list_tools()).tools
                listing = size([t.model_dump(by_alias=True, mode="json", exclude_none=True)
                                for t in listed])  # fmt: skip

                async def call(name: str, arguments: dict[str, Any]) -> CallReply:
                    result = await client.call_tool(name, arguments)
                    wire = result.model_dump(by_alias=True, mode="json", exclude_none=True)
                    texts = [b.text for b in result.content if isinstance(b, types.TextContent)]
                    structured = result.structured_content
                    rows.append((name, len("".join(texts).encode()), size(structured), size(wire)))
                    return CallReply(not result.is_error, "\n".join(texts), structured)

                session = StdioClient(client.protocol_version, tuple(t.name for t in listed), call)
                with contextlib.redirect_stdout(io.StringIO()):
                    await demo._drive(session, sandbox)
        finally:
            await app.aclose()
    finally:
        await sandbox.aclose()
    return listing, rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", action="store_true", help="one line per call")
    opts = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="ssh-mcp-bench-session-")).resolve()
    try:
        listing, rows = asyncio.run(measure(tmp))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if opts.calls:
        print(f"{'tool':<16} {'text':>6} {'structured':>10} {'result':>7}")
        for name, text, structured, whole in rows:
            print(f"{name:<16} {text:>6} {structured:>10} {whole:>7}")
    text = sum(r[1] for r in rows)
    structured = sum(r[2] for r in rows)
    whole = sum(r[3] for r in rows)
    print(f"tools/list at session start: {listing:,} bytes")
    print(f"{len(rows)} calls returned {whole:,} bytes: text {text:,}, structured {structured:,}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
