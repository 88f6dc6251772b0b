"""The pure parts of terminals and device CLIs: screen and text rendering, the device
command policy, the login-shell rule and the cli table's profiles."""

from __future__ import annotations

import pytest

from ssh_mcp.config.cli_profiles import PROFILES
from ssh_mcp.config.inventory import HostConfig, parse_hosts
from ssh_mcp.config.settings import Settings
from ssh_mcp.errors import CommandNotAllowed, ConfigError
from ssh_mcp.policy.terminal import (
    check_device_commands,
    config_mode,
    device_refusal,
    login_shell_refusal,
)
from ssh_mcp.ssh.screen import Screen, plain


def test_plain_text_drops_escapes_and_applies_cr_and_backspace() -> None:
    raw = b"\x1b[1;31mred\x1b[0m\r\n\x1b]0;title\x07ok\r\n50%\r100%\r\nab\bc\r\n\x1b(Bz\x07"
    assert plain(raw) == "red\nok\n100%\nac\nz"
    assert plain("caf\u00e9".encode()) == "caf\u00e9"


def test_the_screen_applies_cursor_moves_and_resizes() -> None:
    screen = Screen(20, 4)
    screen.feed(b"one\r\ntwo\x1b[1;1HONE\x1b[4;1Hlast")
    assert screen.text() == "ONE\ntwo\n\nlast"
    assert screen.cursor == (4, 3)
    screen.resize(10, 2)
    assert screen.size == (10, 2)


CISCO = PROFILES["cisco_ios"]


@pytest.mark.parametrize(
    ("commands", "why"),
    [
        ([], "no device command"),
        (["show  version", "reload"], "'reload' matches no pattern"),
        (["show version\nreload"], "control character"),
        (["show version\r"], "control character"),
        (["  "], "empty"),
        (["configure terminal"], "configuration mode"),
        (["conf t"], "configuration mode"),
        (["CONFIG"], "matches no pattern"),  # case-sensitive, like the device
    ],
)
def test_device_commands_refused(commands: list[str], why: str) -> None:
    with pytest.raises(CommandNotAllowed, match=why):
        check_device_commands(commands, CISCO, allow_any=True)


def test_device_commands_allowed_and_configuration_mode() -> None:
    check_device_commands(["show  ip   route", "ping 10.0.0.1"], CISCO, allow_any=False)
    assert config_mode(["show version"], CISCO) is None
    import dataclasses

    open_cfg = dataclasses.replace(CISCO, allow_config=True)
    commands = ["show version", "conf t", "hostname  r9", "end"]
    check_device_commands(commands, open_cfg, allow_any=False)  # the rest is confirmed
    assert config_mode(commands, open_cfg) == "conf t\nhostname r9\nend"
    empty = dataclasses.replace(CISCO, commands=())
    check_device_commands(["anything"], empty, allow_any=True)
    with pytest.raises(CommandNotAllowed, match=r"cli\.commands is empty"):
        check_device_commands(["anything"], empty, allow_any=False)


def test_login_shell_rule() -> None:
    host = HostConfig(alias="h", hostname="h")
    assert login_shell_refusal(host, (), allow_any=True) is None
    assert "no command allowlist" in str(login_shell_refusal(host, (), allow_any=False))
    assert "allowlist is in force" in str(login_shell_refusal(host, ("ls",), allow_any=True))
    opted = HostConfig(alias="h", hostname="h", pty_allow_shell=True)
    assert login_shell_refusal(opted, ("ls",), allow_any=False) is None
    device = HostConfig(alias="d", hostname="d", cli=CISCO)
    assert "network device" in str(login_shell_refusal(device, (), allow_any=True))
    assert device_refusal(host, "x") is None
    assert "ssh_cli_run" in str(device_refusal(device, "ssh_exec_run"))


def _parse(text: str) -> dict[str, HostConfig]:
    return parse_hosts(text, "hosts.toml", Settings(_env_file=None)).hosts


def test_a_cli_table_overrides_its_profile() -> None:
    hosts = _parse(
        '[defaults.cli]\nprofile = "junos"\n'
        '[hosts.sw]\n[hosts.sw.cli]\nprofile = "cisco_ios"\ncommands = ["show *"]\n'
        'enable_cmd = "pass show en"\nline_ending = "crlf"\nallow_config = true\npager_off = ""\n'
        "[hosts.j]\n[hosts.plain]\ncli = {}\n"
        "[hosts.fw]\n[hosts.fw.cli]\nprofile = \"cisco_ios\"\nprivileged_regex = '\\(en\\)> ?$'\n"
        '[hosts.mx]\n[hosts.mx.cli]\nprofile = "junos"\nenable = "start shell"\nenable_cmd = "x"\n'
    )
    sw = hosts["sw"].cli
    assert sw is not None and sw.profile == "cisco_ios" and sw.commands == ("show *",)
    assert sw.enable_cmd == ("pass", "show", "en") and sw.newline == "\r\n"
    assert sw.allow_config and sw.pager_off == "" and sw.prompt_regex == CISCO.prompt_regex
    assert hosts["j"].cli == PROFILES["junos"]  # from [defaults]
    assert hosts["plain"].cli == PROFILES["generic"]
    fw = hosts["fw"].cli
    assert fw is not None and fw.privileged_regex == r"\(en\)> ?$"
    mx = hosts["mx"].cli
    assert mx is not None and mx.enable == "start shell" and mx.enable_cmd == ("x",)
    assert CISCO.privileged_regex == "# ?$"
    assert CISCO.prompt.search("banner\nr1(config-if)# ")
    assert PROFILES["junos"].prompt.search("{master:0}\nops@mx1> ")


@pytest.mark.parametrize(
    ("table", "why"),
    [
        ('prompt_regex = "(["', "not a valid regular expression"),
        ('privileged_regex = "(["', "not a valid regular expression"),
        ('profile = "ios"', "profile"),
        ('line_ending = "\\n"', "line_ending"),
        ("password = 1", "password"),
        # junos and generic have no enable command: the step would always report "refused".
        ('profile = "junos"\nenable_cmd = "x"', "enable_cmd needs an enable command"),
        ('enable = " "\nenable_cmd = "x"', "enable_cmd needs an enable command"),
    ],
)
def test_bad_cli_tables_are_refused(table: str, why: str) -> None:
    with pytest.raises(ConfigError, match=why):
        _parse(f"[hosts.sw]\n[hosts.sw.cli]\n{table}\n")
