"""Terminal and device-CLI policy (DECISIONS.md 73 and 72). Pure functions.

Keystrokes sent to a terminal cannot be checked line by line: a shell would run
whatever is typed, and a program may read a line as a command or as an answer.
So the command allowlist decides what a terminal starts, and a login shell
(which would run anything) starts under an allowlist only when the host opts in
with ``pty_allow_shell``. A device CLI is the login shell of its host, so the
same opt-in opens a free terminal on it; ``ssh_cli_run`` instead checks each
device command against the host's ``cli.commands``.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Sequence

from ssh_mcp.config.cli_profiles import CliConfig
from ssh_mcp.config.inventory import HostConfig
from ssh_mcp.errors import CommandNotAllowed, shown


def device_refusal(host: HostConfig, tool: str) -> str | None:
    """Why a tool that needs a POSIX shell or SFTP cannot reach a device host, or None."""
    if host.cli is None:
        return None
    return (
        f"host {shown(host.alias)} is a network device (cli profile {host.cli.profile} in "
        f"hosts.toml): it has no POSIX shell or SFTP, so {tool} cannot reach it; use "
        "ssh_cli_run for its commands"
    )


def login_shell_refusal(host: HostConfig, allowlist: Sequence[str], allow_any: bool) -> str | None:
    """Why a terminal may not start the login shell (no ``command``) on ``host``, or None."""
    allowed = [entry for entry in allowlist if entry.strip()]
    if host.pty_allow_shell or (not allowed and allow_any and host.cli is None):
        return None
    if host.cli is not None:
        why = "the host is a network device whose CLI ssh_cli_run checks command by command"
        fix = "use ssh_cli_run, or set pty_allow_shell = true for the host"
    elif allowed:
        why = "a command allowlist is in force and keystrokes into a shell cannot be checked"
        fix = "pass an allowlisted command, or set pty_allow_shell = true for the host"
    else:
        why = "no command allowlist is configured"
        fix = "pass a command, or set ALLOW_ANY_COMMAND=true or pty_allow_shell = true"
    return f"command not allowed: a login shell on a terminal is refused: {why}; {fix}"


def _normal(command: str) -> str:
    return " ".join(command.split())


def check_device_commands(commands: Sequence[str], cli: CliConfig, allow_any: bool) -> None:
    """Raise CommandNotAllowed unless every command may be sent to the device.

    One line each, printable; matched after whitespace is normalized against
    ``cli.commands`` (glob patterns, case-sensitive). A command entering a
    configuration mode needs ``allow_config``; it and every command after it in
    the call are then shown to a human to confirm (:func:`config_mode`) instead of
    being matched: configuration commands are the device's own language.
    """
    if not commands:
        raise CommandNotAllowed("command not allowed: no device command was given")
    configuring = False
    for command in commands:
        if not command.strip() or any(ord(c) < 32 or ord(c) == 127 for c in command):
            raise CommandNotAllowed(
                f"command not allowed: device command {shown(command)} is empty or holds a "
                "control character (a newline would be a second command); send one per item"
            )
        line = _normal(command)
        if re.search(cli.config_regex, line):
            if not cli.allow_config:
                raise CommandNotAllowed(
                    f"command not allowed: {shown(line)} enters a configuration mode, which "
                    "is off for this device (set allow_config = true in its cli table)"
                )
            configuring = True
        if configuring:
            continue
        if not cli.commands:
            if allow_any:
                continue
            raise CommandNotAllowed(
                "command not allowed: the device's cli.commands is empty; list the device "
                'commands ssh_cli_run may send (e.g. "show *") or set ALLOW_ANY_COMMAND=true'
            )
        if not any(fnmatch.fnmatchcase(line, p) for p in cli.commands):
            raise CommandNotAllowed(
                f"command not allowed: device command {shown(line)} matches no pattern of the "
                f"host's cli.commands ({', '.join(cli.commands)})"
            )


def config_mode(commands: Sequence[str], cli: CliConfig) -> str | None:
    """The commands from the first that enters a configuration mode on, one per line, for
    the confirmation; or None."""
    lines = [_normal(c) for c in commands]
    for i, line in enumerate(lines):
        if re.search(cli.config_regex, line):
            return "\n".join(lines[i:])
    return None
