"""ssh_broadcast through MCP against real sshd: fan-out, per-host policy, failures kept apart."""

from __future__ import annotations

import socket
from collections.abc import Callable

import pytest
from harness import Target, assert_audit, hosts_toml, serve, text

from ssh_mcp.config.settings import Settings

pytestmark = pytest.mark.anyio
DANGER = {"allow_dangerous_tools": True}


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _inventory(target: Target) -> str:
    def alias(name: str, port: int, extra: str = "") -> Target:
        return Target(name, port, target.user, target.key, target.path_allowlist, extra)

    return (
        hosts_toml(
            alias("web1", target.port, 'command_allowlist = ["echo", "uname"]'),
            alias("web2", target.port, 'command_allowlist = ["echo", "uname"]'),
            alias("strict", target.port, 'command_allowlist = ["uname"]'),
            alias("dead", _closed_port(), 'command_allowlist = ["echo", "uname"]'),
        )
        + '\n[groups]\nweb = ["web1", "web2"]\nall = ["web1", "web2", "strict", "dead"]\n'
    )


async def test_group_fan_out(settings_for: Callable[..., Settings], target: Target) -> None:
    async with serve(settings_for(hosts=_inventory(target), **DANGER)) as (client, app):
        r = await client.call_tool("ssh_broadcast", {"group": "web", "command": "echo hi"})
        sc = r.structured_content
        assert sc is not None and not r.is_error, text(r)
        assert (sc["ok"], sc["failed"]) == (2, 0)
        assert {a: v["stdout"] for a, v in sc["results"].items()} == {
            "web1": "hi\n",
            "web2": "hi\n",
        }
        line = assert_audit(app, {"tool": "ssh_broadcast", "outcome": "ok", "hosts": "web1,web2"})
        assert line["command_hash"] == app.audit.digest("echo hi")


async def test_failures_stay_per_host(
    settings_for: Callable[..., Settings], target: Target
) -> None:
    settings = settings_for(hosts=_inventory(target), ssh_connect_timeout=2.0, **DANGER)
    async with serve(settings) as (client, _):
        r = await client.call_tool("ssh_broadcast", {"group": "all", "command": "echo hi"})
        sc = r.structured_content
        assert sc is not None and not r.is_error, text(r)
        res = sc["results"]
        assert res["web1"]["stdout"] == res["web2"]["stdout"] == "hi\n"
        assert "'echo' is not in the command allowlist" in res["strict"]["error"]
        assert "cannot connect to dead" in res["dead"]["error"]
        assert (sc["ok"], sc["failed"]) == (2, 2)
        assert (sc["succeeded_hosts"], sc["failed_hosts"]) == (["web1", "web2"], ["strict", "dead"])
        assert "dead: error:" in text(r)


async def test_unknown_host_fails_the_whole_call(
    settings_for: Callable[..., Settings], target: Target
) -> None:
    async with serve(settings_for(hosts=_inventory(target), **DANGER)) as (client, app):
        r = await client.call_tool(
            "ssh_broadcast", {"hosts": ["web1", "nowhere"], "command": "echo hi"}
        )
        assert r.is_error and "unknown host 'nowhere'" in text(r)
        assert_audit(app, {"outcome": "denied", "error": "HostNotAllowed"})
        r = await client.call_tool("ssh_broadcast", {"group": "nope", "command": "echo hi"})
        assert r.is_error and "unknown group 'nope'" in text(r)
        r = await client.call_tool(
            "ssh_broadcast", {"hosts": ["web1"], "group": "web", "command": "echo hi"}
        )
        assert r.is_error and "exactly one of hosts or group" in text(r)


async def test_refused_everywhere_is_a_denial(
    settings_for: Callable[..., Settings], target: Target
) -> None:
    async with serve(settings_for(hosts=_inventory(target), **DANGER)) as (client, app):
        r = await client.call_tool("ssh_broadcast", {"group": "web", "command": "rm -rf /tmp/x"})
        assert r.is_error and "on every host" in text(r)
        assert_audit(app, {"outcome": "denied", "error": "CommandNotAllowed"})
