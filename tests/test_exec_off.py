"""A host's ``exec = false``: no tool runs a command or opens a shell there, whatever the
global flags; each call is refused in dispatch before anything reaches the host."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from harness import OPEN_SUDO, Target, assert_audit, hosts_toml, serve, text

from ssh_mcp.config.inventory import parse_hosts
from ssh_mcp.config.settings import Settings

pytestmark = pytest.mark.anyio

OFF = "commands are off for host 'off' (exec = false in hosts.toml)"


def _calls(marker: Path) -> list[tuple[str, dict[str, Any]]]:
    touch = f"touch {marker}"
    return [
        ("ssh_exec_run", {"host": "off", "command": touch}),
        ("ssh_exec_script", {"host": "off", "script": touch + "\n"}),
        ("ssh_exec_run_streaming", {"host": "off", "command": touch}),
        ("ssh_job_start", {"host": "off", "command": touch}),
        ("ssh_sudo_exec", {"host": "off", "command": touch}),
        ("ssh_sudo_run_script", {"host": "off", "script": touch + "\n"}),
        ("ssh_broadcast", {"hosts": ["off"], "command": touch}),
    ]


def _hosts(target: Target) -> str:
    off = dataclasses.replace(target, alias="off", extra="exec = false\n")
    return hosts_toml(off, dataclasses.replace(target, alias="on"))


async def test_every_command_tool_is_refused_and_nothing_runs(
    settings_for: Callable[..., Settings], target: Target, drop: Path
) -> None:
    settings = settings_for(hosts=_hosts(target), ssh_command_allowlist=[], **OPEN_SUDO)
    async with serve(settings) as (client, app):
        for tool, args in _calls(drop / "marker"):
            r = await client.call_tool(tool, args)
            assert r.is_error and OFF in text(r), (tool, text(r))
            assert_audit(app, {"tool": tool, "outcome": "denied", "error": "CommandNotAllowed"})
        r = await client.call_tool("ssh_shell_open", {"host": "off"})
        assert r.is_error and OFF in text(r), text(r)
        assert not (drop / "marker").exists()
        listed = await client.read_resource("ssh-mcp://hosts/off")
        policy = json.loads(getattr(listed.contents[0], "text", "{}"))
        assert policy["commands"]["mode"] == "off"
        # The same command runs on a host without the key: the refusal is the key's doing.
        r = await client.call_tool("ssh_exec_run", {"host": "on", "command": "echo hi"})
        assert not r.is_error and "hi" in text(r), text(r)


async def test_broadcast_skips_the_host_and_runs_on_the_others(
    settings_for: Callable[..., Settings], target: Target, drop: Path
) -> None:
    marker = drop / "marker"
    async with serve(settings_for(hosts=_hosts(target), **OPEN_SUDO)) as (client, _):
        r = await client.call_tool(
            "ssh_broadcast", {"hosts": ["off", "on"], "command": f"echo {marker}"}
        )
        sc = r.structured_content
        assert sc is not None and not r.is_error, text(r)
        assert OFF in sc["results"]["off"]["error"]
        assert sc["results"]["on"]["stdout"] == f"{marker}\n"
        assert (sc["ok"], sc["failed"]) == (1, 1)
    assert not marker.exists()


def test_defaults_turn_exec_off_and_a_host_turns_it_back_on() -> None:
    text_ = "[defaults]\nexec = false\n[hosts.a]\n[hosts.b]\nexec = true\n"
    inventory = parse_hosts(text_, "hosts.toml", Settings(_env_file=None))
    assert (inventory.hosts["a"].exec, inventory.hosts["b"].exec) == (False, True)
    assert inventory.adhoc("c").exec is False
