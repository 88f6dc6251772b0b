"""Group pkg against real APT and dpkg: a systemd host with a local repository (pkg_repo)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fleet import SystemdHost
from harness import (
    OPEN,
    OPEN_SUDO,
    Target,
    assert_audit,
    error_line,
    hosts_toml,
    make_settings,
    ok,
    refused,
    serve,
)
from pkg_repo import DEP, HELLO, dpkg_status, install_repo

from ssh_mcp.config.settings import Settings

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
def pkg_host(
    systemd_host: SystemdHost, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SystemdHost]:
    install_repo(systemd_host, tmp_path_factory.mktemp("lrepo"))
    try:
        yield systemd_host
    finally:
        systemd_host.sh(
            f"apt-mark unhold {HELLO} >/dev/null 2>&1; "
            f"apt-get purge -y -q {HELLO} {DEP} >/dev/null 2>&1 || true"
        )


def fleet_settings(tmp_path: Path, host: SystemdHost, *, root: bool, **flags: Any) -> Settings:
    target = Target(
        "fleet1",
        host.port,
        host.user,
        host.key,
        ("/",),
        extra=f'sudo_password_cmd = ["cat", "{host.sudo_password_file}"]\n',
    )
    if root:
        target = dataclasses.replace(target, user="root")
    return make_settings(tmp_path, hosts_toml(target), host.known_hosts, **flags)


async def test_install_list_show_hold_upgrade_remove_as_root(
    tmp_path: Path, pkg_host: SystemdHost
) -> None:
    h = {"host": "fleet1"}
    async with serve(fleet_settings(tmp_path, pkg_host, root=True, **OPEN)) as (client, app):
        out = await ok(
            client, "ssh_pkg_install", {**h, "packages": [f"{HELLO}=1.0"], "refresh": True}
        )
        assert out["changes"] == [f"{DEP} 1.0 set up", f"{HELLO} 1.0 set up"], out
        assert_audit(
            app,
            {
                "tool": "ssh_pkg_install",
                "outcome": "ok",
                "tier": "dangerous",
                "packages_hash": app.audit.digest(f"{HELLO}=1.0"),
            },
        )
        assert dpkg_status(pkg_host, HELLO) == "ii 1.0"

        listed = await ok(client, "ssh_pkg_list", {**h, "pattern": "mcp-h12-*"})
        assert listed == {"packages": [f"{DEP} 1.0", f"{HELLO} 1.0"], "truncated": False}
        assert_audit(app, {"tool": "ssh_pkg_list", "pattern_hash": app.audit.digest("mcp-h12-*")})
        up = await ok(client, "ssh_pkg_list", {**h, "upgradable": True, "pattern": "mcp-h12-*"})
        assert up["packages"] == [f"{HELLO} 1.1 from 1.0"], up

        shown = await ok(client, "ssh_pkg_show", {**h, "package": HELLO})
        assert (shown["state"], shown["installed"], shown["candidate"]) == (
            "installed",
            "1.0",
            "1.1",
        )
        assert list(shown["versions"]) == ["1.1", "1.0"], shown
        assert "file:/srv/lrepo-h12" in shown["versions"]["1.1"], shown
        assert shown["depends"] == [DEP] and "ssh-mcp package tests" in shown["summary"]
        assert_audit(app, {"tool": "ssh_pkg_show", "package_hash": app.audit.digest(HELLO)})

        found = await ok(client, "ssh_pkg_search", {**h, "term": "mcp-h12"})
        assert f"{HELLO} - {HELLO} for the ssh-mcp package tests" in found["matches"], found

        held = await ok(client, "ssh_pkg_mark", {**h, "packages": [HELLO], "action": "hold"})
        assert held == {"held": [HELLO]}
        assert pkg_host.exec("apt-mark", "showhold").split() == [HELLO]
        assert (await ok(client, "ssh_pkg_holds", h)) == {"held": [HELLO]}
        assert_audit(app, {"tool": "ssh_pkg_holds", "outcome": "ok"})
        shown = await ok(client, "ssh_pkg_show", {**h, "package": HELLO})
        assert shown["state"] == "installed, held"
        # A held package stays where it is on a full upgrade.
        await ok(client, "ssh_pkg_upgrade", h)
        assert dpkg_status(pkg_host, HELLO) == "hi 1.0"

        await ok(client, "ssh_pkg_mark", {**h, "packages": [HELLO], "action": "unhold"})
        out = await ok(client, "ssh_pkg_upgrade", {**h, "packages": [HELLO]})
        assert out["changes"] == [f"{HELLO} 1.1 set up"], out
        assert_audit(app, {"tool": "ssh_pkg_upgrade", "outcome": "ok"})
        assert dpkg_status(pkg_host, HELLO) == "ii 1.1"

        out = await ok(client, "ssh_pkg_remove", {**h, "packages": [HELLO], "purge": True})
        assert out["changes"] == [f"{HELLO} 1.1 removed"], out
        assert_audit(app, {"tool": "ssh_pkg_remove", "outcome": "ok"})
        assert dpkg_status(pkg_host, HELLO) in ("", "un ")
        out = await ok(client, "ssh_pkg_autoremove", h)
        assert out["changes"] == [f"{DEP} 1.0 removed"], out
        assert_audit(app, {"tool": "ssh_pkg_autoremove", "outcome": "ok"})
        assert dpkg_status(pkg_host, DEP).startswith("rc") or dpkg_status(pkg_host, DEP) in (
            "",
            "un ",
        )


async def test_a_non_root_login_installs_through_sudo_or_is_refused(
    tmp_path: Path, pkg_host: SystemdHost
) -> None:
    args = {"host": "fleet1", "packages": [DEP], "refresh": True}
    settings = fleet_settings(tmp_path / "a", pkg_host, root=False, **OPEN)
    async with serve(settings) as (client, app):
        await refused(client, "ssh_pkg_install", args, "needs root", "ALLOW_SUDO=true")
        assert_audit(app, {"tool": "ssh_pkg_install", "outcome": "denied"})
    assert dpkg_status(pkg_host, DEP) in ("", "un ")

    settings = fleet_settings(tmp_path / "b", pkg_host, root=False, **OPEN_SUDO)
    async with serve(settings) as (client, app):
        out = await ok(client, "ssh_pkg_install", args)
        assert out["changes"] == [f"{DEP} 1.0 set up"], out
        assert dpkg_status(pkg_host, DEP) == "ii 1.0"
        # Reads need no root.
        listed = await ok(client, "ssh_pkg_list", {"host": "fleet1", "pattern": DEP})
        assert listed["packages"] == [f"{DEP} 1.0"]
        out = await ok(client, "ssh_pkg_remove", {"host": "fleet1", "packages": [DEP]})
        assert out["changes"] == [f"{DEP} 1.0 removed"], out
        assert_audit(app, {"tool": "ssh_pkg_remove", "outcome": "ok"})
    assert dpkg_status(pkg_host, DEP).startswith(("rc", "un")) or dpkg_status(pkg_host, DEP) == ""


INJECTIONS = ("x; touch /tmp/mcp-h12-pwn", "$(touch /tmp/mcp-h12-pwn)", "-oAPT::Foo=1", "ok\ntouch")


@pytest.mark.parametrize(
    ("tool", "field", "as_list"),
    [
        ("ssh_pkg_install", "packages", True),
        ("ssh_pkg_remove", "packages", True),
        ("ssh_pkg_upgrade", "packages", True),
        ("ssh_pkg_mark", "packages", True),
        ("ssh_pkg_show", "package", False),
        ("ssh_pkg_search", "term", False),
        ("ssh_pkg_list", "pattern", False),
    ],
)
async def test_injection_in_every_name_is_refused_before_anything_runs(
    tmp_path: Path, pkg_host: SystemdHost, tool: str, field: str, as_list: bool
) -> None:
    extra = {"action": "hold"} if tool == "ssh_pkg_mark" else {}
    async with serve(fleet_settings(tmp_path, pkg_host, root=True, **OPEN)) as (client, app):
        for bad in INJECTIONS:
            value: Any = [bad] if as_list else bad
            await refused(
                client, tool, {"host": "fleet1", field: value, **extra}, "invalid arguments"
            )
            assert_audit(app, {"tool": tool, "outcome": "denied", "error": "InvalidArguments"})
    assert pkg_host.sh("test -e /tmp/mcp-h12-pwn && echo yes || echo no").strip() == "no"


async def test_failures_are_one_line_errors_naming_apt_s_reason(
    tmp_path: Path, pkg_host: SystemdHost
) -> None:
    h = {"host": "fleet1"}
    nosuch = "mcp-h12-nosuch"
    async with serve(fleet_settings(tmp_path, pkg_host, root=True, **OPEN)) as (client, app):
        r = await client.call_tool("ssh_pkg_install", {**h, "packages": [nosuch]})
        error_line(r, "apt-get install failed (exit 100)", f"Unable to locate package {nosuch}")
        assert_audit(app, {"tool": "ssh_pkg_install", "outcome": "error", "error": "RemoteError"})
        r = await client.call_tool("ssh_pkg_show", {**h, "package": nosuch})
        error_line(r, f"apt knows no package {nosuch}", "ssh_pkg_search")
        assert_audit(app, {"tool": "ssh_pkg_show", "outcome": "error", "error": "RemoteError"})
        r = await client.call_tool("ssh_pkg_mark", {**h, "packages": [nosuch], "action": "hold"})
        error_line(r, "apt-mark failed")
        assert_audit(app, {"tool": "ssh_pkg_mark", "outcome": "error", "error": "RemoteError"})
        # Nothing matched is an empty answer, not an error.
        assert (await ok(client, "ssh_pkg_search", {**h, "term": nosuch}))["matches"] == []
        listed = await ok(client, "ssh_pkg_list", {**h, "pattern": f"{nosuch}*"})
        assert listed == {"packages": [], "truncated": False}
    assert pkg_host.exec("apt-mark", "showhold").strip() == ""
