"""ssh_cli_run against a real router CLI: FRRouting's vtysh as the login shell of a user in
the booted systemd container (tests/fleet.py), through the MCP path."""

from __future__ import annotations

import subprocess
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from fleet import SystemdHost
from harness import OPEN, Target, assert_audit, error_line, hosts_toml, make_settings, ok, serve
from mcp import Client

from ssh_mcp.core.app import App
from ssh_mcp.demo.proctree import wait_until

pytestmark = pytest.mark.anyio

USER = "router"
#: A stand-in for ping to a host that never answers: vtysh runs `ping` from PATH and waits.
_PING = "#!/bin/sh\nexec sleep 3599\n"
_SETUP = (
    f"set -e; id {USER} >/dev/null 2>&1 || useradd -m -s /usr/bin/vtysh -G frrvty {USER}; "
    f"usermod -p '*' {USER}; mkdir -p /home/{USER}/.ssh; "
    f"cp /root/.ssh/authorized_keys /home/{USER}/.ssh/; chown -R {USER}: /home/{USER}/.ssh; "
    f"chmod 700 /home/{USER}/.ssh; printf '{_PING}' > /usr/local/bin/ping; "
    "chmod 755 /usr/local/bin/ping"
)


@pytest.fixture(scope="module")
def router(systemd_host: SystemdHost) -> Iterator[SystemdHost]:
    """The fleet host with a vtysh login user, zebra up."""
    systemd_host.sh(_SETUP)

    def zebra_up() -> bool:
        out = subprocess.run(
            ["docker", "exec", systemd_host.name, "vtysh", "-c", "show interface brief"],
            capture_output=True,
            text=True,
        ).stdout
        return "Interface" in out

    assert wait_until(zebra_up, 60, 0.2), "zebra did not come up in the fleet host"
    yield systemd_host


@asynccontextmanager
async def _serve(
    tmp_path: Path, host: SystemdHost, cli: str = ""
) -> AsyncIterator[tuple[Client, App]]:
    target = Target("r1", host.port, USER, host.key)
    table = '[hosts.r1.cli]\nprofile = "cisco_ios"\ncommands = ["show *", "ping *"]\n'
    hosts = hosts_toml(target).replace("[hosts.r1.auth]", table + cli + "[hosts.r1.auth]")
    async with serve(make_settings(tmp_path, hosts, host.known_hosts, **OPEN)) as pair:
        yield pair


def _router_pids(host: SystemdHost, pattern: str) -> str:
    proc = subprocess.run(
        ["docker", "exec", host.name, "pgrep", "-u", USER, "-f", pattern],
        capture_output=True,
        text=True,
    )
    return proc.stdout.strip()


async def test_show_version_and_interfaces_with_the_pager_off(
    tmp_path: Path, router: SystemdHost
) -> None:
    async with _serve(tmp_path, router) as (client, app):
        args: dict[str, Any] = {
            "host": "r1",
            "commands": ["show version", "show interface brief", "show memory"],
        }
        out = await ok(client, "ssh_cli_run", args)
        version, brief, listing = (r["output"] for r in out["replies"])
        assert version.startswith("FRRouting ") and "fleet1" in version.split("\n")[0]
        assert "show version" not in version and "fleet1#" not in version
        assert brief.split("\n")[0].split()[:2] == ["Interface", "Status"]
        assert any(line.split()[:1] == ["lo"] for line in brief.split("\n"))
        # Hundreds of lines, whole: no pager stops them.
        assert len(listing.split("\n")) > 100 and "More" not in listing
        assert_audit(app, {"tool": "ssh_cli_run", "outcome": "ok", "host": "r1"})
    assert await _gone(router, "vtysh")


async def _gone(host: SystemdHost, pattern: str) -> bool:
    import anyio.to_thread

    return await anyio.to_thread.run_sync(
        lambda: wait_until(lambda: not _router_pids(host, pattern), 10, 0.1)
    )


async def test_configure_terminal_is_refused(tmp_path: Path, router: SystemdHost) -> None:
    before = router.exec("vtysh", "-c", "show running-config")
    async with _serve(tmp_path, router) as (client, app):
        r = await client.call_tool(
            "ssh_cli_run", {"host": "r1", "commands": ["configure terminal", "hostname evil"]}
        )
        error_line(r, "enters a configuration mode", "allow_config")
        assert_audit(app, {"tool": "ssh_cli_run", "outcome": "denied"})
        assert app.ptys.all() == []
    assert router.exec("vtysh", "-c", "show running-config") == before
    assert not _router_pids(router, "vtysh")


async def test_a_command_that_never_returns_the_prompt_times_out(
    tmp_path: Path, router: SystemdHost
) -> None:
    async with _serve(tmp_path, router) as (client, app):
        args = {"host": "r1", "commands": ["show version", "ping 192.0.2.1"], "timeout": 4}
        out = await ok(client, "ssh_cli_run", args)
        assert out["timed_out"] and [r["command"] for r in out["replies"]] == ["show version"]
        assert app.ptys.all() == []  # the session ended...
        assert await _gone(router, "sleep 3599")  # ...and the hung command with it
        again = await ok(client, "ssh_cli_run", {"host": "r1", "commands": ["show version"]})
        assert again["replies"][0]["output"].startswith("FRRouting ")
    assert await _gone(router, "vtysh")
