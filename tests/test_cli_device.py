"""Network-device CLIs (ssh_cli_run) through MCP against a real sshd whose forced login
command is a Cisco-style fake device (tests/fake_device.py); the FRR vtysh target is in
test_cli_device_frr.py."""

from __future__ import annotations

import json
import logging
import secrets
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from harness import (
    OPEN,
    Target,
    assert_audit,
    audit_lines,
    error_line,
    gone,
    hosts_toml,
    make_settings,
    ok,
    serve,
)
from mcp import Client
from mcp.types import ReadResourceResult, TextResourceContents
from sshd import Sshd, TestKeys, TestUser, remote_pids
from test_confirm import Human

from ssh_mcp.core.app import App

pytestmark = pytest.mark.anyio

FAKE = Path(__file__).with_name("fake_device.py")
CISCO = '[hosts.dev.cli]\nprofile = "cisco_ios"\n'


@pytest.fixture
def device(scratch_sshd: Sshd, test_user: TestUser) -> tuple[Sshd, Path]:
    """The scratch sshd with the fake device as every session's command; its input log."""
    script = scratch_sshd.workdir / "fake_device.py"
    shutil.copy(FAKE, script)
    script.chmod(0o644)
    log = scratch_sshd.workdir / f"{scratch_sshd.name}-device.log"
    log.write_text("")
    log.chmod(0o666)
    return scratch_sshd, log


@asynccontextmanager
async def _serve(
    tmp_path: Path,
    device: tuple[Sshd, Path],
    test_keys: TestKeys,
    test_user: TestUser,
    cli: str = CISCO,
    fake: str = "",
    human: Human | None = None,
    **overrides: Any,
) -> AsyncIterator[tuple[Client, App]]:
    server, log = device
    command = f"/usr/bin/python3 {server.workdir / 'fake_device.py'} {log} {fake}".rstrip()
    server.reconfigure({"ForceCommand": command})
    plain = Target("plain", server.port, test_user.name, test_keys.plain)
    dev = Target("dev", server.port, test_user.name, test_keys.plain)
    hosts = hosts_toml(plain, dev).replace("[hosts.dev.auth]", cli + "[hosts.dev.auth]")
    settings = make_settings(tmp_path, hosts, server.known_hosts_path, **{**OPEN, **overrides})
    async with serve(settings, elicitation=human) as pair:
        yield pair


def _text(result: ReadResourceResult) -> str:
    content = result.contents[0]
    assert isinstance(content, TextResourceContents)
    return content.text


def _gone_device(test_user: TestUser) -> Any:
    return gone(test_user.name, "fake_device.py", timeout=5)


async def test_show_commands_with_the_pager_off(
    tmp_path: Path, device: tuple[Sshd, Path], test_keys: TestKeys, test_user: TestUser
) -> None:
    async with _serve(tmp_path, device, test_keys, test_user) as (client, app):
        args = {"host": "dev", "commands": ["show version", "show long", "show interface brief"]}
        out = await ok(client, "ssh_cli_run", args)
        assert out["timed_out"] is False
        replies = {r["command"]: r["output"] for r in out["replies"]}
        assert replies["show version"] == "Fake Router OS 1.0\nuptime is 3 days"
        long = replies["show long"].split("\n")
        assert len(long) == 30 and long[29] == "line 30 of the long reply"
        assert "More" not in replies["show long"]
        assert replies["show interface brief"].startswith("Interface  Status")
        line = assert_audit(app, {"tool": "ssh_cli_run", "outcome": "ok", "host": "dev"})
        assert line["command_hash"] and "show long" not in app.settings.ssh_audit_log.read_text()
        assert "terminal length 0" in device[1].read_text()  # the pager went off once
        first = app.ptys.all("cli")
        assert len(first) == 1
        again = await ok(client, "ssh_cli_run", {"host": "dev", "commands": ["show version"]})
        assert again["replies"][0]["output"] == "Fake Router OS 1.0\nuptime is 3 days"
        assert [e.id for e in app.ptys.all("cli")] == [first[0].id]  # the session is reused
        assert device[1].read_text().count("terminal length 0") == 1
        assert (await ok(client, "ssh_pty_list", {}))["sessions"] == []  # not a caller's pty
        assert remote_pids(test_user.name, "fake_device.py")
    assert await _gone_device(test_user)


async def test_commands_outside_the_device_allowlist_are_refused(
    tmp_path: Path, device: tuple[Sshd, Path], test_keys: TestKeys, test_user: TestUser
) -> None:
    async with _serve(tmp_path, device, test_keys, test_user) as (client, app):
        cases = [
            (["configure terminal"], "enters a configuration mode", "allow_config"),
            (["show version", "reload"], "'reload' matches no pattern", "show *"),
            (["show version\nreload"], "control character", "one per item"),
            (["conf t"], "configuration mode", "allow_config"),
        ]
        for commands, *parts in cases:
            r = await client.call_tool("ssh_cli_run", {"host": "dev", "commands": commands})
            error_line(r, "command not allowed", *parts)
            assert_audit(app, {"tool": "ssh_cli_run", "outcome": "denied"})
        assert device[1].read_text() == ""  # nothing reached the device
        assert not app.ptys.all()
        r = await client.call_tool("ssh_cli_run", {"host": "plain", "commands": ["show version"]})
        error_line(r, "not a network device")


async def test_configuration_mode_when_allowed_asks_a_human(
    tmp_path: Path, device: tuple[Sshd, Path], test_keys: TestKeys, test_user: TestUser
) -> None:
    cli = CISCO + "allow_config = true\n"
    commands = ["configure terminal", "hostname r9", "end"]
    async with _serve(tmp_path, device, test_keys, test_user, cli) as (client, app):
        r = await client.call_tool("ssh_cli_run", {"host": "dev", "commands": commands})
        error_line(r, "a device configuration mode", "needs a human's confirmation")
        assert "configure" not in device[1].read_text()
    human = Human()
    async with _serve(tmp_path, device, test_keys, test_user, cli, human=human) as (client, app):
        out = await ok(client, "ssh_cli_run", {"host": "dev", "commands": commands})
        assert [r["command"] for r in out["replies"]] == commands
        assert "configure terminal" in human.asked[0].message
        assert "configure terminal\nhostname r9\nend\n" in device[1].read_text()
        line = assert_audit(app, {"tool": "ssh_cli_run", "outcome": "ok"})
        assert line["deny_pattern"] == "a device configuration mode"
        assert app.ptys.all("cli") == []  # a configuring call ends its session
    assert await _gone_device(test_user)


async def test_a_command_that_never_returns_the_prompt_times_out(
    tmp_path: Path, device: tuple[Sshd, Path], test_keys: TestKeys, test_user: TestUser
) -> None:
    async with _serve(tmp_path, device, test_keys, test_user) as (client, app):
        args = {"host": "dev", "commands": ["show version", "show hang", "show long"], "timeout": 3}
        out = await ok(client, "ssh_cli_run", args)
        assert out["timed_out"] is True
        assert [r["command"] for r in out["replies"]] == ["show version"]
        assert "show long" not in device[1].read_text()
        assert app.ptys.all() == []
        assert await _gone_device(test_user)  # the session's process is gone
        again = await ok(client, "ssh_cli_run", {"host": "dev", "commands": ["show version"]})
        assert again["timed_out"] is False  # a fresh session


def _enable_secret(tmp_path: Path, secret: str) -> str:
    """A cli table line whose enable_cmd prints ``secret``."""
    path = tmp_path / "enable.pw"
    path.write_text(secret + "\n")
    path.chmod(0o600)
    return f'enable_cmd = ["cat", "{path}"]\n'


async def test_the_enable_secret_comes_from_its_command(
    tmp_path: Path, device: tuple[Sshd, Path], test_keys: TestKeys, test_user: TestUser
) -> None:
    secret = "s3cret-enable-9"
    cli = CISCO + _enable_secret(tmp_path, secret)
    fake = f"--secret {secret}"
    async with _serve(tmp_path, device, test_keys, test_user, cli, fake) as (client, app):
        out = await ok(client, "ssh_cli_run", {"host": "dev", "commands": ["show privileged"]})
        assert out["replies"][0]["output"] == "the crown jewels"
        assert secret not in str(out) and secret not in str(audit_lines(app))


@pytest.mark.parametrize("tries", [1, 3])
async def test_a_wrong_enable_secret_fails_before_any_command(
    tmp_path: Path,
    device: tuple[Sshd, Path],
    test_keys: TestKeys,
    test_user: TestUser,
    caplog: pytest.LogCaptureFixture,
    tries: int,
) -> None:
    """One try: the device refuses and shows its user prompt; three (IOS): it asks again."""
    caplog.set_level(logging.DEBUG)
    for name in ("ssh_mcp", "asyncssh", "mcp"):
        caplog.set_level(logging.DEBUG, logger=name)
    wrong = "wrong-" + secrets.token_hex(8)
    cli = CISCO + _enable_secret(tmp_path, wrong)
    fake = f"--secret right-{secrets.token_hex(8)} --tries {tries}"
    async with _serve(tmp_path, device, test_keys, test_user, cli, fake) as (client, app):
        args = {"host": "dev", "commands": ["show privileged"]}
        r = await client.call_tool("ssh_cli_run", args)
        error_line(r, "enable was refused on dev: check the enable secret")
        assert_audit(app, {"tool": "ssh_cli_run", "outcome": "error", "error": "RemoteError"})
        received = device[1].read_text()
        assert received.startswith("enable\n") and received.count(wrong) == 1  # sent once
        assert "show privileged" not in received and "terminal length 0" not in received
        assert app.ptys.all() == []
        assert await _gone_device(test_user)
        audit_text = app.settings.ssh_audit_log.read_text()
    assert caplog.records, "nothing was logged: the capture is not working"
    assert wrong not in r.model_dump_json() and wrong not in audit_text
    assert wrong not in caplog.text


async def test_junos_prompts_under_a_status_line(
    tmp_path: Path, device: tuple[Sshd, Path], test_keys: TestKeys, test_user: TestUser
) -> None:
    cli = '[hosts.dev.cli]\nprofile = "junos"\n'
    async with _serve(tmp_path, device, test_keys, test_user, cli, "--style junos") as (client, _):
        args = {"host": "dev", "commands": ["show version", "show interface brief"]}
        out = await ok(client, "ssh_cli_run", args)
        replies = [r["output"] for r in out["replies"]]
        assert replies[0] == "Fake Router OS 1.0\nuptime is 3 days"  # no {master:0}
        assert replies[1].startswith("Interface  Status") and replies[1].endswith("default")
        assert "set cli screen-length 0" in device[1].read_text()


async def test_generic_prompt_round_trip(
    tmp_path: Path, device: tuple[Sshd, Path], test_keys: TestKeys, test_user: TestUser
) -> None:
    cli = '[hosts.dev.cli]\nprofile = "generic"\n'
    fake = "--style generic"
    async with _serve(tmp_path, device, test_keys, test_user, cli, fake) as (client, _):
        out = await ok(client, "ssh_cli_run", {"host": "dev", "commands": ["show version"]})
        assert out["replies"][0]["output"] == "Fake Router OS 1.0\nuptime is 3 days"
        assert device[1].read_text() == "show version\n"  # no pager command on generic


async def test_device_hosts_refuse_exec_sftp_and_free_terminals(
    tmp_path: Path, device: tuple[Sshd, Path], test_keys: TestKeys, test_user: TestUser
) -> None:
    async with _serve(tmp_path, device, test_keys, test_user) as (client, app):
        calls: list[tuple[str, dict[str, Any]]] = [
            ("ssh_exec_run", {"host": "dev", "command": "id"}),
            ("ssh_sftp_list", {"host": "dev", "path": "/tmp"}),
            ("ssh_host_info", {"host": "dev"}),
            ("ssh_shell_open", {"host": "dev"}),
        ]
        for tool, args in calls:
            r = await client.call_tool(tool, args)
            error_line(r, "is a network device", "ssh_cli_run")
            assert_audit(app, {"tool": tool, "outcome": "denied"})
        doc = json.loads(_text(await client.read_resource("ssh-mcp://hosts/dev")))
        assert doc["commands"]["mode"] == "device" and doc["device"]["profile"] == "cisco_ios"
        assert doc["device"]["enable"] is False
        plain = json.loads(_text(await client.read_resource("ssh-mcp://hosts/plain")))
        assert plain["device"] is None and plain["commands"]["mode"] == "any"
        ping = await ok(client, "ssh_host_ping", {"host": "dev"})  # connects, runs nothing
        assert ping["reachable"] and ping["auth_ok"] and ping["error"] is None, ping
        assert not remote_pids(test_user.name, "fake_device.py")
        r = await client.call_tool("ssh_pty_open", {"host": "dev"})
        error_line(r, "login shell", "network device", "pty_allow_shell")
        r = await client.call_tool("ssh_pty_open", {"host": "dev", "command": "show version"})
        error_line(r, "is a network device")
        assert device[1].read_text() == ""


async def test_a_free_terminal_on_a_device_when_the_host_opts_in(
    tmp_path: Path, device: tuple[Sshd, Path], test_keys: TestKeys, test_user: TestUser
) -> None:
    async with _serve(
        tmp_path,
        device,
        test_keys,
        test_user,
        CISCO.replace("[hosts", "pty_allow_shell = true\n[hosts"),
    ) as (client, _):
        sid = (await ok(client, "ssh_pty_open", {"host": "dev"}))["session_id"]
        out = await ok(client, "ssh_pty_read", {"session_id": sid, "wait_for": "fake1# $"})
        assert out["matched"] and "Fake Router OS" in out["screen"]
        await ok(client, "ssh_pty_close", {"session_id": sid})
    assert await _gone_device(test_user)


async def test_a_prompt_that_never_matches_fails_the_login_and_ends_the_session(
    tmp_path: Path, device: tuple[Sshd, Path], test_keys: TestKeys, test_user: TestUser
) -> None:
    cli = CISCO + "prompt_regex = '^never-this-prompt>$'\n"
    async with _serve(tmp_path, device, test_keys, test_user, cli) as (client, app):
        args = {"host": "dev", "commands": ["show version"], "timeout": 2}
        r = await client.call_tool("ssh_cli_run", args)
        error_line(r, "no prompt matching cli.prompt_regex", "check its cli profile")
        assert_audit(app, {"tool": "ssh_cli_run", "error": "OperationTimeout"})
        assert app.ptys.all() == []
        assert await _gone_device(test_user)
        assert "show version" not in device[1].read_text()


async def test_exec_false_refuses_device_commands(
    tmp_path: Path, device: tuple[Sshd, Path], test_keys: TestKeys, test_user: TestUser
) -> None:
    cli = CISCO.replace("[hosts", "exec = false\n[hosts")
    async with _serve(tmp_path, device, test_keys, test_user, cli) as (client, app):
        r = await client.call_tool("ssh_cli_run", {"host": "dev", "commands": ["show version"]})
        error_line(r, "exec = false")
        assert_audit(app, {"tool": "ssh_cli_run", "outcome": "denied"})
        assert device[1].read_text() == "" and app.ptys.all() == []


async def test_a_pager_left_on_is_paged_through(
    tmp_path: Path, device: tuple[Sshd, Path], test_keys: TestKeys, test_user: TestUser
) -> None:
    cli = CISCO + 'pager_off = ""\n'
    async with _serve(tmp_path, device, test_keys, test_user, cli) as (client, _):
        out = await ok(client, "ssh_cli_run", {"host": "dev", "commands": ["show long"]})
        lines = out["replies"][0]["output"].split("\n")
        assert [line.rstrip() for line in lines] == [
            f"line {i:02d} of the long reply" for i in range(1, 31)
        ]
        log = device[1].read_text()
        assert "terminal length 0" not in log and log.count("<key ' '>") == 2
