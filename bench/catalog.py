"""What the catalog costs a client: ``tools/list`` in bytes, per tool and per part.

    uv run python bench/catalog.py [--tools] [--json]

Every tier open and every group enabled, the server's own ``tools/list`` answer (through
the SDK ``Client`` in-process) is serialized the way the wire carries it (by alias,
``None`` left out) as compact JSON, ``json.dumps(..., separators=(",", ":"))``. Prints the
total, the average and the largest tool, and how the bytes split between descriptions
(tool and field), input and output schemas (field descriptions excluded), annotations and
the rest (name, title). ``--tools`` adds one line per tool; ``--json`` prints the figures
as one JSON object instead; ``--read-tier`` opens only the read tier; ``--search`` measures
search mode's listing (``SSH_TOOL_MODE=search``). Needs no SSH host.

In full mode it prints PASS/MISS against issue 10's targets, which tests/test_catalog.py
enforces (the average and the largest tool); a tool added since should stay within 600
bytes (``--tools``). A miss does not fail the script (exit 0); an error does.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from mcp import Client

from ssh_mcp.config.settings import Settings
from ssh_mcp.core.app import build_app
from ssh_mcp.mcp.server import build_server

#: Issue 10's targets, in bytes: the average per tool and the most any one tool may take
#: (tests/test_catalog.py holds the same).
AVERAGE_TARGET = 700
PER_TOOL_TARGET = 1_200


def size(value: Any) -> int:
    """Bytes of ``value`` as compact UTF-8 JSON."""
    return len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode())


def _descriptions(node: Any) -> int:
    """Bytes the ``"description":"…"`` members of a schema take, at any depth."""
    if isinstance(node, list):
        return sum(_descriptions(v) for v in node)
    if not isinstance(node, dict):
        return 0
    own = size({"description": node["description"]}) - 1 if "description" in node else 0
    return own + sum(_descriptions(v) for k, v in node.items() if k != "description")


def parts(tool: dict[str, Any]) -> dict[str, int]:
    """One tools/list entry's bytes, by part; the parts add up to ``total``."""
    total = size(tool)
    desc = size({"description": tool.get("description", "")}) - 1
    field_desc = _descriptions(tool.get("inputSchema", {})) + _descriptions(
        tool.get("outputSchema", {})
    )
    inp = size({"inputSchema": tool.get("inputSchema")}) - 1
    out = size({"outputSchema": tool.get("outputSchema")}) - 1 if "outputSchema" in tool else 0
    ann = size({"annotations": tool.get("annotations")}) - 1 if "annotations" in tool else 0
    return {
        "total": total,
        "description": desc,
        "field descriptions": field_desc,
        "inputSchema": inp - _descriptions(tool.get("inputSchema", {})),
        "outputSchema": out - _descriptions(tool.get("outputSchema", {})),
        "annotations": ann,
        "name, title, framing": total - desc - inp - out - ann,
    }


async def listed(every_tier: bool = True, search: bool = False) -> list[dict[str, Any]]:
    """The tools/list entries of a server with every group enabled, and every tier open
    (or only the read tier, the default), in full mode or search mode."""
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "hosts.toml").write_text("")  # no hosts: the catalog needs none
        settings = Settings(
            _env_file=None,
            ssh_hosts_file=Path(tmp) / "hosts.toml",
            ssh_known_hosts=Path(tmp) / "known_hosts",
            ssh_audit_log=Path(tmp) / "audit.jsonl",
            ssh_config_file=None,
            allow_low_access_tools=every_tier,
            allow_dangerous_tools=every_tier,
            allow_sudo=every_tier,
            ssh_tool_mode="search" if search else "full",
        )
        app = build_app(settings)
        try:
            async with Client(build_server(app)) as client:
                tools = (await client.list_tools()).tools
        finally:
            await app.aclose()
    return [t.model_dump(by_alias=True, mode="json", exclude_none=True) for t in tools]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tools", action="store_true", help="one line per tool")
    parser.add_argument("--json", action="store_true", help="the figures as JSON")
    parser.add_argument("--read-tier", action="store_true", help="only the read tier open")
    parser.add_argument("--search", action="store_true", help="search mode's listing")
    opts = parser.parse_args()
    tools = asyncio.run(listed(every_tier=not opts.read_tier, search=opts.search))
    per_tool = {t["name"]: parts(t) for t in tools}
    total = size(tools)
    sums = {k: sum(p[k] for p in per_tool.values()) for k in next(iter(per_tool.values()))}
    biggest = max(per_tool, key=lambda n: per_tool[n]["total"])
    if opts.json:
        figures = {"tools": len(tools), "bytes": total, "parts": sums, "per_tool": per_tool}
        print(json.dumps(figures))
        return 0
    tiers = "the read tier" if opts.read_tier else "all tiers"
    mode = "search mode" if opts.search else "full mode"
    print(f"tools/list, {mode}, {tiers}, all groups: {len(tools)} tools, {total:,} bytes")
    print(
        f"average {total / len(tools):,.0f} B per tool; largest {biggest} "
        f"{per_tool[biggest]['total']:,} B"
    )
    for part, value in sums.items():
        if part != "total":
            print(f"  {part:<22} {value:>7,} B  ({value / len(tools):,.0f} per tool)")
    if not opts.search:
        average, largest = total / len(tools), per_tool[biggest]["total"]
        verdict = "PASS" if average <= AVERAGE_TARGET else "MISS"
        print(f"average <= {AVERAGE_TARGET} B: {verdict}")
        verdict = "PASS" if largest <= PER_TOOL_TARGET else "MISS"
        print(f"every tool <= {PER_TOOL_TARGET:,} B: {verdict}")
    if opts.tools:
        for name, p in sorted(per_tool.items(), key=lambda kv: -kv[1]["total"]):
            row = "  ".join(f"{p[k]:>5}" for k in p)
            print(f"{name:<26} {row}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
