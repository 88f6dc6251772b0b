"""The systemd group's changes through MCP against a real systemd host: run as root through
sudo (or a root login), refused before anything runs when no root path is open, with the
outcome checked on the host; and every unit argument refused when it is not a unit name."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fleet import SystemdHost
from harness import OPEN, OPEN_SUDO, assert_audit, audit_lines, error_line, ok, serve, text
from systemd_units import (
    ALIAS,
    FAIL,
    OK,
    PWNED,
    fleet_settings,
    install_units,
    state,
)

from ssh_mcp.tools.systemd import TOOLS

pytestmark = pytest.mark.anyio

H = {"host": ALIAS}


@pytest.fixture(scope="module")
def host(systemd_host: SystemdHost) -> Iterator[SystemdHost]:
    install_units(systemd_host)
    yield systemd_host


async def test_changes_through_sudo(tmp_path: Path, host: SystemdHost) -> None:
    host.sh(f"systemctl stop {OK}; systemctl disable {OK}; true")
    async with serve(fleet_settings(tmp_path, host, **OPEN_SUDO)) as (client, app):

        async def change(verb: str, unit: str = OK) -> dict[str, str]:
            out = await ok(client, f"ssh_systemctl_{verb}", {**H, "unit": unit})
            line = assert_audit(
                app,
                {"tool": f"ssh_systemctl_{verb}", "tier": "dangerous", "outcome": "ok"},
            )
            assert line["exit_code"] == 0 and line["unit_hash"].startswith("sha256:")
            return out

        out = await change("start")
        assert (out["active_state"], out["sub_state"]) == ("active", "running")
        assert state(host, "is-active", OK) == "active"
        pid = host.exec("systemctl", "show", "--value", "--property=MainPID", OK).strip()
        await change("restart")
        assert state(host, "is-active", OK) == "active"
        new_pid = host.exec("systemctl", "show", "--value", "--property=MainPID", OK).strip()
        assert new_pid != pid
        await change("reload")
        assert state(host, "is-active", OK) == "active"
        out = await change("stop")
        assert out["active_state"] == "inactive" and state(host, "is-active", OK) == "inactive"
        out = await change("enable")
        assert out["unit_file_state"] == "enabled" and state(host, "is-enabled", OK) == "enabled"
        await change("disable")
        assert state(host, "is-enabled", OK) == "disabled"
        out = await change("mask")
        assert out["unit_file_state"] == "masked" and state(host, "is-enabled", OK) == "masked"
        r = await client.call_tool("ssh_systemctl_start", {**H, "unit": OK})
        error_line(r, f"systemctl start {OK} failed (exit 1)", "masked")
        assert state(host, "is-active", OK) == "inactive"
        await change("unmask")
        assert state(host, "is-enabled", OK) == "disabled"
        host.sh(f"systemctl start {FAIL} || true")
        assert state(host, "is-failed", FAIL) == "failed"
        await change("reset-failed".replace("-", "_"), FAIL)
        assert state(host, "is-failed", FAIL) == "inactive"


async def test_a_failing_start_is_an_error(tmp_path: Path, host: SystemdHost) -> None:
    async with serve(fleet_settings(tmp_path, host, **OPEN_SUDO)) as (client, app):
        r = await client.call_tool("ssh_systemctl_start", {**H, "unit": FAIL})
        error_line(r, f"systemctl start {FAIL} failed (exit 1)", "Job for")
        assert_audit(app, {"tool": "ssh_systemctl_start", "outcome": "error"})
    assert state(host, "is-failed", FAIL) == "failed"


async def test_root_login_needs_no_sudo(tmp_path: Path, host: SystemdHost) -> None:
    host.sh(f"systemctl stop {OK}; true")
    async with serve(fleet_settings(tmp_path, host, user="root", **OPEN)) as (client, app):
        out = await ok(client, "ssh_systemctl_start", {**H, "unit": OK})
        assert out["active_state"] == "active"
        assert_audit(app, {"tool": "ssh_systemctl_start", "outcome": "ok"})
    assert state(host, "is-active", OK) == "active"
    host.exec("systemctl", "stop", OK)


async def test_sudo_tier_closed_refuses_before_anything_runs(
    tmp_path: Path, host: SystemdHost
) -> None:
    host.sh(f"systemctl stop {OK}; systemctl unmask {OK}; true")
    async with serve(fleet_settings(tmp_path, host, **OPEN)) as (client, app):
        for verb in ("start", "enable", "mask"):
            r = await client.call_tool(f"ssh_systemctl_{verb}", {**H, "unit": OK})
            error_line(r, "needs root", "ALLOW_SUDO=true", "sudo_password_cmd")
            assert_audit(app, {"tool": f"ssh_systemctl_{verb}", "outcome": "denied"})
    assert state(host, "is-active", OK) == "inactive"
    assert state(host, "is-enabled", OK) == "disabled"


async def test_changes_are_hidden_without_the_dangerous_tier(
    tmp_path: Path, host: SystemdHost
) -> None:
    host.sh(f"systemctl stop {OK}; true")
    async with serve(fleet_settings(tmp_path, host)) as (client, _):
        names = {t.name for t in (await client.list_tools()).tools}
        assert "ssh_systemctl_status" in names and "ssh_systemctl_start" not in names
        r = await client.call_tool("ssh_systemctl_start", {**H, "unit": OK})
        error_line(r, "unknown tool")
    assert state(host, "is-active", OK) == "inactive"


INJECTIONS = (
    f"x; touch {PWNED}",
    f"$(touch {PWNED})",
    f"`touch {PWNED}`",
    "--help",
    "-x.service",
    f"ok.service\ntouch {PWNED}",
    "a b.service",
    "x@.service;id",
)


def _name_fields() -> list[tuple[str, str]]:
    """Every (tool, field) of the group that takes a unit name or pattern."""
    out = []
    for spec in TOOLS:
        for field in ("unit", "pattern"):
            if field in spec.input.model_fields:
                out.append((spec.name, field))
    return out


async def test_every_name_argument_refuses_injection(tmp_path: Path, host: SystemdHost) -> None:
    fields = _name_fields()
    assert len(fields) == len(TOOLS)  # every tool takes one
    host.sh(f"rm -f {PWNED}; systemctl stop {OK}; true")
    async with serve(fleet_settings(tmp_path, host, **OPEN_SUDO)) as (client, app):
        for tool, field in fields:
            for bad in INJECTIONS:
                before = len(audit_lines(app))
                r = await client.call_tool(tool, {**H, field: bad})
                assert r.is_error, (tool, bad)
                assert field in text(r) and "\n" not in text(r), text(r)
                lines = audit_lines(app)
                assert len(lines) == before + 1
                assert lines[-1]["outcome"] == "denied" and lines[-1]["error"] == "InvalidArguments"
                assert lines[-1][f"{field}_hash"].startswith("sha256:")
                assert lines[-1].get("host") is None  # refused before the host was even resolved
    assert host.sh(f"test -e {PWNED} && echo yes || echo no").strip() == "no"
    assert state(host, "is-active", OK) == "inactive"
