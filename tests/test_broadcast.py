"""ssh_broadcast through MCP against real sshd: fan-out, per-host policy, failures kept apart."""

from __future__ import annotations

import json
import socket
from collections.abc import Callable
from pathlib import Path

import pytest
from harness import OPEN, Target, assert_audit, hosts_toml, make_settings, poll, serve, text
from mcp import Client
from pool_helpers import accepted, established_to
from sshd import Sshd, TestKeys, TestUser

from ssh_mcp.config.settings import Settings
from ssh_mcp.ssh import startups

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


# -- fleets: every host at once by default, a cap when set, MaxStartups kept, idle reaped ----


def _fleet(n: int, port: int, user: str, key: Path) -> str:
    """``n`` aliases h0..h<n-1> on one sshd (each its own pool entry and connection)."""
    aliases = [f"h{i}" for i in range(n)]
    targets = (Target(a, port, user, key) for a in aliases)
    return hosts_toml(*targets) + f"\n[groups]\nfleet = {json.dumps(aliases)}\n"


def _running_at_most(log: Path) -> int:
    """The most commands running at once, from their ``+`` (start) and ``-`` (end) lines."""
    running = most = 0
    for line in log.read_text().split():
        running += 1 if line == "+" else -1
        most = max(most, running)
    return most


async def _fleet_call(client: Client, command: str, n: int) -> dict[str, dict[str, object]]:
    r = await client.call_tool(
        "ssh_broadcast", {"group": "fleet", "command": command, "timeout": 15}
    )
    sc = r.structured_content
    assert sc is not None and not r.is_error, text(r)
    assert (sc["ok"], sc["failed"]) == (n, 0), text(r)
    results: dict[str, dict[str, object]] = sc["results"]
    return results


async def test_default_runs_every_host_at_once(
    tmp_path: Path, target: Target, known_hosts_file: Path, work_dir: Path
) -> None:
    # A barrier: each host's command waits until all 12 have started, which only happens
    # if none waits for another's slot (a cap below 12 would time them out).
    n, log = 12, work_dir / "started"
    settings = make_settings(
        tmp_path, _fleet(n, target.port, target.user, target.key), known_hosts_file, **OPEN
    )
    assert settings.ssh_broadcast_concurrency is None
    command = f'echo + >> {log}; until [ "$(wc -l < {log})" -ge {n} ]; do sleep 0.02; done; echo hi'
    async with serve(settings) as (client, app):
        results = await _fleet_call(client, command, n)
        assert {a: r["stdout"] for a, r in results.items()} == {f"h{i}": "hi\n" for i in range(n)}
        assert not any(r["timed_out"] for r in results.values())
        assert_audit(app, {"tool": "ssh_broadcast", "outcome": "ok"})
    assert log.read_text().split() == ["+"] * n


async def test_concurrency_setting_caps_hosts_at_once(
    tmp_path: Path, target: Target, known_hosts_file: Path, work_dir: Path
) -> None:
    n, log = 8, work_dir / "running"
    settings = make_settings(
        tmp_path,
        _fleet(n, target.port, target.user, target.key),
        known_hosts_file,
        ssh_broadcast_concurrency=3,
        **OPEN,
    )
    async with serve(settings) as (client, _):
        results = await _fleet_call(client, f"echo + >> {log}; sleep 0.5; echo - >> {log}", n)
        assert all(r["exit_code"] == 0 for r in results.values())
    assert _running_at_most(log) == 3, log.read_text()


async def test_handshakes_to_one_sshd_stay_under_maxstartups(
    tmp_path: Path, scratch_sshd: Sshd, test_user: TestUser, test_keys: TestKeys
) -> None:
    # sshd drops every connection it counts as starting beyond 8, the pool's gate: 24
    # aliases of that one sshd broadcast to at once must all connect. That holds only if
    # a slot is freed once sshd has counted the handshake done, not when the client has
    # read the auth success (with that, this failed 3 runs in 5 under load).
    assert startups.PER_SSHD == 8
    scratch_sshd.reconfigure({"MaxStartups": "8:100:8"})
    n = 24
    hosts = _fleet(n, scratch_sshd.port, test_user.name, test_keys.plain)
    settings = make_settings(tmp_path, hosts, scratch_sshd.known_hosts_path, **OPEN)
    async with serve(settings) as (client, _):
        results = await _fleet_call(client, "echo hi", n)
        assert {r["stdout"] for r in results.values()} == {"hi\n"}
    log = scratch_sshd.log_text()
    assert "MaxStartups" not in log and "drop connection" not in log, log
    assert accepted(scratch_sshd) == n


async def test_a_broadcasts_connections_are_reaped_when_idle(
    tmp_path: Path, scratch_sshd: Sshd, test_user: TestUser, test_keys: TestKeys
) -> None:
    n = 16
    hosts = _fleet(n, scratch_sshd.port, test_user.name, test_keys.plain)
    settings = make_settings(
        tmp_path, hosts, scratch_sshd.known_hosts_path, ssh_idle_timeout=1.5, **OPEN
    )
    async with serve(settings) as (client, app):
        await _fleet_call(client, "echo hi", n)
        assert established_to(scratch_sshd.port) == n  # our side of each connection
        await poll(lambda: established_to(scratch_sshd.port) == 0, "connections reaped")
        await poll(lambda: "open=0 " in repr(app.pool), f"pool emptied: {app.pool!r}")
        assert repr(app.pool) == f"<Pool hosts={n} open=0 busy=0 idle=0>"
        # Reaped, not broken: the next broadcast connects again.
        await _fleet_call(client, "echo hi", n)
    assert accepted(scratch_sshd) == 2 * n
