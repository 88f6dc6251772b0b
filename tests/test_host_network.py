"""ssh_host_network, ssh_user_info and ssh_sudo_read_redacted through MCP against the systemd
host (logins root and ops) and the local test sshd."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
from fleet import SystemdHost
from harness import OPEN_SUDO, assert_audit, error_line, ok, refused, scratch_settings, serve
from pkg_repo import path_without
from sshd import Sshd, TestKeys, TestUser
from test_pkg import fleet_settings

from ssh_mcp.config.settings import Settings
from ssh_mcp.tools.host.network import socket_lines, sudo_answer

pytestmark = pytest.mark.anyio


async def test_network_as_root_names_the_processes(
    tmp_path: Path, systemd_host: SystemdHost
) -> None:
    sshd_pid = systemd_host.sh("pgrep -o -x sshd").strip()
    async with serve(fleet_settings(tmp_path, systemd_host, root=True)) as (client, app):
        out = await ok(client, "ssh_host_network", {"host": "fleet1"})
        lo = next(i for i in out["interfaces"] if i.startswith("lo "))
        assert lo.startswith("lo UNKNOWN 127.0.0.1/8"), lo  # no MAC for loopback
        eth0 = next(i for i in out["interfaces"] if i.startswith("eth0"))
        assert re.fullmatch(r"eth0 UP [0-9a-f:]{17} \d+\.\d+\.\d+\.\d+/\d+.*", eth0), eth0
        assert any(r.startswith("default via ") and " dev eth0" in r for r in out["routes"]), out
        assert f"tcp 0.0.0.0:22 sshd/{sshd_pid}" in out["listening"], out
        assert out["truncated"] is False
        assert_audit(app, {"tool": "ssh_host_network", "tier": "read", "outcome": "ok"})
        cut = await ok(client, "ssh_host_network", {"host": "fleet1", "limit": 1})
        assert len(cut["interfaces"]) == 1 and cut["truncated"] is True


async def test_network_as_a_user_sees_sockets_without_other_users_processes(
    tmp_path: Path, systemd_host: SystemdHost
) -> None:
    async with serve(fleet_settings(tmp_path, systemd_host, root=False)) as (client, _):
        out = await ok(client, "ssh_host_network", {"host": "fleet1"})
        assert "tcp 0.0.0.0:22" in out["listening"], out


async def test_user_info_for_a_sudo_user_root_and_the_test_user(
    tmp_path: Path,
    systemd_host: SystemdHost,
    settings_for: Callable[..., Settings],
    test_user: TestUser,
) -> None:
    async with serve(fleet_settings(tmp_path / "ops", systemd_host, root=False)) as (client, app):
        ops = await ok(client, "ssh_user_info", {"host": "fleet1"})
        uid = int(systemd_host.exec("id", "-u", "ops"))
        assert (ops["user"], ops["uid"], ops["home"], ops["shell"]) == (
            "ops",
            uid,
            "/home/ops",
            "/bin/bash",
        )
        assert ops["groups"][0] == "ops" and "sudo" in ops["groups"]
        # sudo wants a password for ops: -n says so instead of prompting.
        assert (ops["sudo"], ops["sudo_rules"]) == ("password required", [])
        assert_audit(app, {"tool": "ssh_user_info", "tier": "read", "outcome": "ok"})
    async with serve(fleet_settings(tmp_path / "root", systemd_host, root=True)) as (client, _):
        root = await ok(client, "ssh_user_info", {"host": "fleet1"})
        assert (root["user"], root["uid"], root["home"], root["sudo"]) == (
            "root",
            0,
            "/root",
            "rules",
        )
        assert "(ALL : ALL) ALL" in root["sudo_rules"], root
    async with serve(settings_for()) as (client, _):
        me = await ok(client, "ssh_user_info", {"host": "target"})
        assert (me["user"], me["uid"]) == (test_user.name, test_user.uid)


async def test_a_host_without_iproute2_gets_an_error_naming_it(
    tmp_path: Path, scratch_sshd: Sshd, test_user: TestUser, test_keys: TestKeys
) -> None:
    with path_without("ip", "ss") as bin_dir:
        scratch_sshd.reconfigure({"SetEnv": f"PATH={bin_dir}"})
        settings = scratch_settings(tmp_path, scratch_sshd, test_user, test_keys)
        async with serve(settings) as (client, app):
            r = await client.call_tool("ssh_host_network", {"host": "s"})
            error_line(r, "failed on the host", "needs iproute2's ip")
            assert_audit(app, {"tool": "ssh_host_network", "outcome": "error"})


def test_parsers_of_ss_and_sudo() -> None:
    ss = (
        'tcp LISTEN 0 128 0.0.0.0:22 0.0.0.0:* users:(("sshd",pid=7,fd=3))\n'
        "udp UNCONN 0 0 127.0.0.1:323 0.0.0.0:*\n"
        'tcp LISTEN 0 4096 [::]:80 [::]:* users:(("nginx",pid=9,fd=6),("nginx",pid=8,fd=6))\n'
    )
    assert socket_lines(ss) == [
        "tcp 0.0.0.0:22 sshd/7",
        "tcp [::]:80 nginx/9,nginx/8",
        "udp 127.0.0.1:323",
    ]
    listed = "User ops may run the following commands on h:\n    (ALL : ALL) ALL\n"
    assert sudo_answer(listed, 0) == ("rules", ["(ALL : ALL) ALL"])
    assert sudo_answer("sudo: a password is required\n", 1) == ("password required", [])
    assert sudo_answer("Sorry, user x may not run sudo on h.\n", 1) == ("not allowed", [])
    assert sudo_answer("sh: 1: sudo: not found\n", 127) == ("not installed", [])


ENV = (
    "DB_PASSWORD=hunter2-not-for-agents\n"
    "API_TOKEN=ghp_abcdefghijklmnopqrstuvwxyz0123456789\nPORT=5432\n"
)


async def test_sudo_read_redacted_masks_a_root_only_file(
    tmp_path: Path, systemd_host: SystemdHost
) -> None:
    systemd_host.sh("mkdir -p /root/h12 /srv/h12 && chmod 700 /root/h12")
    systemd_host.exec(
        "sh", "-c", "cat > /root/h12/app.env; chmod 600 /root/h12/app.env", input=ENV.encode()
    )
    systemd_host.exec(
        "sh", "-c", "cat > /srv/h12/copy.env; chmod 644 /srv/h12/copy.env", input=ENV.encode()
    )
    args = {"host": "fleet1", "path": "/root/h12/app.env"}
    settings = fleet_settings(
        tmp_path, systemd_host, root=False, ssh_restricted_paths=["/etc/shadow"], **OPEN_SUDO
    )
    async with serve(settings) as (client, app):
        out = await ok(client, "ssh_sudo_read_redacted", args)
        assert "hunter2" not in out["content"] and "ghp_" not in out["content"]
        assert "PORT=5432" in out["content"] and out["redactions"] == 2, out
        assert out["size"] == len(ENV) and out["path"] == "/root/h12/app.env"
        line = assert_audit(
            app,
            {"tool": "ssh_sudo_read_redacted", "tier": "sudo", "outcome": "ok", "redactions": "2"},
        )
        assert line["path_hash"] == app.audit.digest("/root/h12/app.env")
        # The same markers as ssh_read_redacted gives for the same secrets.
        plain = await ok(
            client, "ssh_read_redacted", {"host": "fleet1", "path": "/srv/h12/copy.env"}
        )
        assert plain["content"] == out["content"]
        # The sudo tools' path rules: a restricted zone stays out of reach, through a link too.
        systemd_host.exec("cp", "/usr/bin/true", "/root/h12/bin")
        binary = {"host": "fleet1", "path": "/root/h12/bin"}
        r = await client.call_tool("ssh_sudo_read_redacted", binary)
        error_line(r, "is not UTF-8 text, so it cannot be redacted")
        assert_audit(app, {"tool": "ssh_sudo_read_redacted", "outcome": "error"})
        systemd_host.exec("ln", "-sf", "/etc/shadow", "/root/h12/link")
        for path in ("/etc/shadow", "/root/h12/link"):
            await refused(
                client, "ssh_sudo_read_redacted", {"host": "fleet1", "path": path}, "restricted"
            )
            assert_audit(app, {"tool": "ssh_sudo_read_redacted", "outcome": "denied"})
    async with serve(fleet_settings(tmp_path / "closed", systemd_host, root=False)) as (client, _):
        await refused(client, "ssh_sudo_read_redacted", args, "unknown tool")
    systemd_host.sh("rm -rf /root/h12 /srv/h12")
