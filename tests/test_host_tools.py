"""Read-tier host tools through the MCP path against real sshd, each with its audit line."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from harness import Target, assert_audit, hosts_toml, serve, text
from sshd import Sshd, TestUser

from ssh_mcp.config.settings import Settings

pytestmark = pytest.mark.anyio


async def test_ping(settings_for: Callable[..., Settings], sshd: Sshd) -> None:
    async with serve(settings_for()) as (client, app):
        r = await client.call_tool("ssh_host_ping", {"host": "target"})
        assert not r.is_error, text(r)
        sc = r.structured_content
        assert sc is not None
        assert sc["reachable"] and sc["auth_ok"] and sc["latency_ms"] > 0
        assert sc["host_key_fingerprint"] == sshd.fingerprint
        assert_audit(
            app, {"tool": "ssh_host_ping", "tier": "read", "host": "target", "outcome": "ok"}
        )


async def test_ping_by_hostname_resolves_to_alias(settings_for: Callable[..., Settings]) -> None:
    async with serve(settings_for()) as (client, app):
        r = await client.call_tool("ssh_host_ping", {"host": "127.0.0.1"})
        assert not r.is_error, text(r)
        assert_audit(app, {"host": "target", "hostname": "127.0.0.1"})


async def test_host_info(settings_for: Callable[..., Settings]) -> None:
    async with serve(settings_for()) as (client, app):
        r = await client.call_tool("ssh_host_info", {"host": "target"})
        assert not r.is_error, text(r)
        sc = r.structured_content
        assert sc is not None
        assert sc["kernel"].startswith("Linux ") and sc["cpus"] >= 1 and sc["cpu_model"]
        assert sc["memory_total_bytes"] > sc["memory_available_bytes"] > 0
        assert sc["uptime_seconds"] > 0 and len(sc["load_average"]) == 3
        assert sc["os"]
        assert_audit(app, {"tool": "ssh_host_info", "outcome": "ok"})


async def test_disk_usage(settings_for: Callable[..., Settings]) -> None:
    async with serve(settings_for()) as (client, app):
        r = await client.call_tool("ssh_host_disk_usage", {"host": "target"})
        assert not r.is_error, text(r)
        sc = r.structured_content
        assert sc is not None
        root = [f for f in sc["filesystems"] if f["mount"] == "/"]
        assert root and root[0]["size_bytes"] > 0 and root[0]["fs_type"]
        assert_audit(app, {"tool": "ssh_host_disk_usage", "outcome": "ok"})


async def test_processes(settings_for: Callable[..., Settings], test_user: TestUser) -> None:
    async with serve(settings_for()) as (client, app):
        r = await client.call_tool("ssh_host_processes", {"host": "target", "limit": 5})
        assert not r.is_error, text(r)
        sc = r.structured_content
        assert sc is not None and 1 <= len(sc["processes"]) <= 5
        cpu = [p["cpu_percent"] for p in sc["processes"]]
        assert cpu == sorted(cpu, reverse=True)
        assert_audit(app, {"tool": "ssh_host_processes", "outcome": "ok"})
        bad = await client.call_tool("ssh_host_processes", {"host": "target", "limit": 0})
        assert bad.is_error and text(bad).startswith(
            "invalid arguments for ssh_host_processes: limit"
        )


async def test_known_hosts_verify(settings_for: Callable[..., Settings], sshd: Sshd) -> None:
    async with serve(settings_for()) as (client, app):
        r = await client.call_tool("ssh_known_hosts_verify", {"host": "target"})
        assert not r.is_error, text(r)
        sc = r.structured_content
        assert sc == {"expected": [sshd.fingerprint], "live": sshd.fingerprint, "match": True}
        assert_audit(app, {"tool": "ssh_known_hosts_verify", "outcome": "ok"})


async def test_host_list_session_list_server_info(settings_for: Callable[..., Settings]) -> None:
    async with serve(settings_for(allow_low_access_tools=True)) as (client, app):
        r = await client.call_tool("ssh_host_list", {})
        assert not r.is_error
        hosts = r.structured_content and r.structured_content["hosts"]
        assert hosts and hosts[0]["alias"] == "target" and hosts[0]["auth_method"] == "key"
        assert "key" not in hosts[0]  # no key paths or secrets leave the server
        assert_audit(app, {"tool": "ssh_host_list", "outcome": "ok"})

        r = await client.call_tool("ssh_session_list", {})
        assert r.structured_content == {"sessions": [], "truncated": False}, "no connection yet"
        await client.call_tool("ssh_host_ping", {"host": "target"})
        r = await client.call_tool("ssh_session_list", {})
        sessions = r.structured_content and r.structured_content["sessions"]
        assert sessions and sessions[0]["host"] == "target" and sessions[0]["busy_channels"] == 0
        assert_audit(app, {"tool": "ssh_session_list", "outcome": "ok"})

        r = await client.call_tool("ssh_server_info", {})
        info = r.structured_content
        assert info is not None
        assert info["open_tiers"] == ["low-access", "read"]
        assert info["tool_count"] == len((await client.list_tools()).tools)
        resource = await client.read_resource("ssh-mcp://server-info")
        body = json.loads(resource.contents[0].text)  # type: ignore[union-attr]
        assert body == info
        assert_audit(app, {"tool": "ssh_server_info", "outcome": "ok"})


async def test_unknown_and_blocklisted_hosts(settings_for: Callable[..., Settings]) -> None:
    settings = settings_for(ssh_hosts_blocklist=["127.0.0.1"], ssh_hosts_allowlist=["10.9.9.9"])
    async with serve(settings) as (client, app):
        r = await client.call_tool("ssh_host_info", {"host": "nowhere"})
        assert r.is_error and "unknown host 'nowhere'" in text(r) and "ssh_host_list" in text(r)
        assert_audit(app, {"outcome": "denied", "error": "HostNotAllowed"})
        r = await client.call_tool("ssh_host_info", {"host": "target"})
        assert r.is_error and "blocklisted" in text(r)
        assert_audit(app, {"outcome": "denied", "error": "HostNotAllowed", "host": "target"})


async def test_host_alerts(settings_for: Callable[..., Settings], target: Target) -> None:
    async with serve(settings_for()) as (client, app):
        r = await client.call_tool("ssh_host_alerts", {"host": "target"})
        sc = r.structured_content
        assert sc is not None and not r.is_error, text(r)
        assert 0 <= sc["disk_max_percent"] <= 100 and 0 < sc["memory_available_percent"] <= 100
        assert sc["ok"] == (sc["breaches"] == [])
        assert_audit(app, {"tool": "ssh_host_alerts", "outcome": "ok", "host": "target"})
    # Thresholds every host crosses: each metric breaches, and says by how much.
    strict = Target(
        target.alias,
        target.port,
        target.user,
        target.key,
        target.path_allowlist,
        "alert_disk_percent = 1\nalert_load_per_cpu = 0.0001\n"
        "alert_memory_available_percent = 100\n",
    )
    async with serve(settings_for(hosts=hosts_toml(strict))) as (client, _):
        r = await client.call_tool("ssh_host_alerts", {"host": "target"})
        sc = r.structured_content
        assert sc is not None and not sc["ok"], text(r)
        metrics = {b["metric"] for b in sc["breaches"]}
        assert {"disk", "memory"} <= metrics
        disk = [b for b in sc["breaches"] if b["metric"] == "disk"]
        assert disk[0]["threshold"] == 1 and disk[0]["value"] >= 1


async def test_host_list_pages_and_session_list_says_when_it_cut(
    settings_for: Callable[..., Settings], target: Target
) -> None:
    """Listings take a limit (DECISIONS.md 61): host_list pages by alias, session_list says
    truncated."""
    aliases = ["a-one", "b-two", "c-three"]
    hosts = hosts_toml(*(Target(a, target.port, target.user, target.key) for a in aliases))
    async with serve(settings_for(hosts=hosts)) as (client, app):
        r = await client.call_tool("ssh_host_list", {"limit": 2})
        sc = r.structured_content
        assert sc is not None and not r.is_error, text(r)
        assert [h["alias"] for h in sc["hosts"]] == aliases[:2]
        assert (sc["total"], sc["next_offset"]) == (3, 2)
        # Without a render, the text is the structured content as compact JSON (DECISIONS.md 61).
        assert text(r) == json.dumps(sc, separators=(",", ":"), ensure_ascii=False)
        r = await client.call_tool("ssh_host_list", {"offset": 2, "limit": 2})
        sc = r.structured_content
        assert sc is not None and [h["alias"] for h in sc["hosts"]] == ["c-three"]
        assert sc["next_offset"] is None
        assert_audit(app, {"tool": "ssh_host_list", "outcome": "ok"})
        r = await client.call_tool("ssh_host_list", {"limit": 0})
        assert r.is_error and text(r).startswith("invalid arguments for ssh_host_list: limit")

        for alias in aliases[:2]:
            await client.call_tool("ssh_host_ping", {"host": alias})
        r = await client.call_tool("ssh_session_list", {"limit": 1})
        sc = r.structured_content
        assert sc is not None and len(sc["sessions"]) == 1 and sc["truncated"] is True
        r = await client.call_tool("ssh_session_list", {})
        sc = r.structured_content
        assert sc is not None and len(sc["sessions"]) == 2 and sc["truncated"] is False


async def test_disk_usage_processes_and_alerts_take_a_limit(
    settings_for: Callable[..., Settings], target: Target
) -> None:
    async with serve(settings_for()) as (client, app):
        whole = await client.call_tool("ssh_host_disk_usage", {"host": "target"})
        sc = whole.structured_content
        assert sc is not None and not whole.is_error and sc["truncated"] is False, text(whole)
        count = len(sc["filesystems"])
        r = await client.call_tool("ssh_host_disk_usage", {"host": "target", "limit": 1})
        sc = r.structured_content
        assert sc is not None and len(sc["filesystems"]) == 1
        assert sc["truncated"] is (count > 1)
        assert_audit(app, {"tool": "ssh_host_disk_usage", "outcome": "ok"})

        # ps lists at least itself and the shell of its session: one row is always a cut.
        r = await client.call_tool("ssh_host_processes", {"host": "target", "limit": 1})
        sc = r.structured_content
        assert sc is not None and len(sc["processes"]) == 1 and sc["truncated"] is True

    strict = Target(
        target.alias,
        target.port,
        target.user,
        target.key,
        target.path_allowlist,
        "alert_disk_percent = 1\nalert_load_per_cpu = 0.0001\n"
        "alert_memory_available_percent = 100\n",
    )
    async with serve(settings_for(hosts=hosts_toml(strict))) as (client, app):
        r = await client.call_tool("ssh_host_alerts", {"host": "target", "limit": 1})
        sc = r.structured_content
        assert sc is not None and not r.is_error, text(r)
        metrics = [b["metric"] for b in sc["breaches"]]
        # The limit cuts disks only: load and memory breaches are always reported.
        assert metrics[0] == "disk" and metrics.count("disk") == 1 and "memory" in metrics
        r = await client.call_tool("ssh_host_alerts", {"host": "target"})
        every = r.structured_content
        assert every is not None and every["truncated"] is False
        disks = sum(b["metric"] == "disk" for b in every["breaches"])
        assert sc["truncated"] is (disks > 1)
