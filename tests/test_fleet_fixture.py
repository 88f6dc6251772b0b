"""The operations fleet itself: a systemd host reached through the real MCP path."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fleet import SystemdHost
from harness import OPEN_SUDO, Target, audit_lines, hosts_toml, make_settings, ok, serve

from ssh_mcp.config.settings import Settings

pytestmark = pytest.mark.anyio


def fleet_settings(tmp_path: Path, host: SystemdHost, **overrides: Any) -> Settings:
    target = Target(
        "fleet1",
        host.port,
        host.user,
        host.key,
        ("/",),
        extra=f'sudo_password_cmd = ["cat", "{host.sudo_password_file}"]\n',
    )
    return make_settings(tmp_path, hosts_toml(target), host.known_hosts, **overrides)


async def test_systemd_host_boots_and_answers_over_mcp(
    tmp_path: Path, systemd_host: SystemdHost
) -> None:
    settings = fleet_settings(tmp_path, systemd_host, **OPEN_SUDO)
    async with serve(settings) as (client, app):
        out = await ok(
            client, "ssh_sudo_exec", {"host": "fleet1", "command": "systemctl is-system-running"}
        )
        assert out["stdout"].strip() in ("running", "degraded"), out
        assert audit_lines(app)[-1]["tool"] == "ssh_sudo_exec"
    assert "sshd" in systemd_host.exec("pgrep", "-a", "sshd")
