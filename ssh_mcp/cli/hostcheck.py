"""``ssh-mcp hosts check``: try every configured host the way an agent's first call would.

Each host gets one ``ssh_host_ping`` through the normal dispatch (so host
policy, strict known_hosts and the audit log apply), all at once. The table
says, per alias, the latency or the one-line error with its fix (an unpinned
host key, a refused key). Exit status 0 when every host answered.
"""

from __future__ import annotations

import asyncio
import sys
import time
from typing import TextIO

from ssh_mcp.core.app import App, build_app
from ssh_mcp.core.dispatch import dispatch
from ssh_mcp.errors import ConfigError


async def _check(app: App, alias: str) -> tuple[str, bool, str]:
    started = time.perf_counter()
    outcome = await dispatch(app, "ssh_host_ping", {"host": alias})
    ms = (time.perf_counter() - started) * 1000
    data = outcome.structured or {}
    if outcome.ok and data.get("auth_ok"):
        fingerprint = data.get("host_key_fingerprint") or "?"
        return alias, True, f"ok  {ms:6.0f} ms  {fingerprint}"
    message = str(data.get("error") or outcome.text)
    return alias, False, f"error: {_for_a_human(message, app.inventory.source)}"


def _for_a_human(message: str, source: str) -> str:
    """An agent's hint (call a tool) rewritten for the human at the terminal."""
    return message.replace(
        "call ssh_host_list for the hosts you can use", f"the aliases are the tables in {source}"
    )


async def check_hosts(aliases: list[str], out: TextIO = sys.stdout) -> int:
    app = build_app()
    try:
        names = aliases or sorted(app.inventory.hosts)
        if not names:
            raise ConfigError(f"no hosts in {app.inventory.source}; add [hosts.<alias>] tables")
        results = await asyncio.gather(*(_check(app, a) for a in names))
    finally:
        await app.aclose()
    width = max(len(a) for a, _, _ in results)
    for alias, _, line in results:
        print(f"{alias:<{width}}  {line}", file=out)
    failed = sum(not ok for _, ok, _ in results)
    print(f"{len(results) - failed} of {len(results)} hosts answered", file=out)
    return 1 if failed else 0
