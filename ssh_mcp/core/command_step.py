"""Dispatch's command step: the command policy for every command field of a call.

Under a command allowlist the command is parsed (:mod:`ssh_mcp.policy.commands`)
and what runs is its rewrite, every program behind ``env --``. Every file its
redirections write is resolved on the host (symlinks followed, create semantics,
relative to the ``cwd`` argument or the login home) and confined like a path
argument (:mod:`ssh_mcp.core.confine`, roots and zones resolved on the host): path
allowlist and restricted zones here, the sensitive-file patterns in
the confirmation step, which gets the targets as given and as resolved. The audit
hash, the deny patterns and the confirmation prompt all see the command as given.

One field, many hosts (ssh_broadcast): the rewrite depends only on the text, so
when any host's allowlist accepts it every host runs the rewrite; a host whose
allowlist or path policy refuses it is skipped with the reason.
"""

from __future__ import annotations

import posixpath
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from ssh_mcp.core.access import Group
from ssh_mcp.core.app import App
from ssh_mcp.core.confine import Resolver
from ssh_mcp.core.context import Target
from ssh_mcp.core.spec import CommandText, HandleRef, RemotePath, ToolSpec
from ssh_mcp.core.terminals import DeviceCommands
from ssh_mcp.errors import CommandNotAllowed, PathNotAllowed, RemoteError, SSHMCPError, shown
from ssh_mcp.policy import hosts as host_policy
from ssh_mcp.policy.commands import CheckedCommand, check_command
from ssh_mcp.policy.paths import is_anchored, names_home, precheck
from ssh_mcp.policy.terminal import check_device_commands, login_shell_refusal


@dataclass
class CommandStep:
    #: Command field -> the text to run, when it differs from what was sent.
    updates: dict[str, str] = field(default_factory=dict)
    #: Target key -> why that host of a fan-out is skipped.
    denials: dict[str, str] = field(default_factory=dict)
    #: Files redirections write, as given and as resolved, for the sensitive-file patterns.
    writes: list[str] = field(default_factory=list)


def _where(spec: ToolSpec[Any, Any], cwd: str | None) -> str | None:
    """The directory a relative target is relative to: the ``cwd`` argument, the login
    home (``~``) where commands start, or None where the server cannot know it."""
    if "cwd" in spec.marked_fields(RemotePath):
        return cwd or "~"
    if spec.marked_fields(HandleRef):  # a shell session: its directory is its own
        return None
    return "~"


def _refuse(given: str, why: str) -> CommandNotAllowed:
    return CommandNotAllowed(f"command not allowed: redirection target {shown(given)}: {why}")


async def _resolve_writes(
    resolver: Resolver,
    spec: ToolSpec[Any, Any],
    target: Target,
    writes: tuple[str, ...],
    cwd: str | None,
) -> list[str]:
    """Each write target resolved on the host and checked against its path policy."""
    sudo = spec.group is Group.SUDO  # the shell that opens the file runs as root
    base = _where(spec, cwd)
    marker = RemotePath(create=True, sudo=sudo)
    paths: list[str] = []
    for given in writes:
        path = given
        if names_home(given) and sudo:  # root's shell may expand ~ to root's home
            raise _refuse(given, "'~' under sudo is ambiguous; write the absolute path")
        if not is_anchored(given):
            if base is None:
                raise _refuse(given, "the session's directory is unknown; use an absolute path")
            path = posixpath.join(base, given)  # from "~": "~/given"
        try:
            precheck(given)
            found = await resolver.admit(target, path, marker, home=not sudo)
        except (PathNotAllowed, RemoteError) as exc:
            raise _refuse(given, " ".join(str(exc).split())) from None
        paths += [given, found.canonical]
        if found.tilde is not None:
            paths.append(found.tilde)  # ~/bin wherever the home is
    return paths


def runs_commands(spec: ToolSpec[Any, Any]) -> bool:
    """A tool that runs a command line, or opens a shell or a terminal on a host."""
    if spec.marked_fields(CommandText) or spec.marked_fields(DeviceCommands):
        return True
    return spec.group in (Group.SHELL, Group.TERMINAL) and bool(spec.host_fields)


def _check_device(app: App, spec: ToolSpec[Any, Any], args: BaseModel, target: Target) -> None:
    """Device commands against the host's ``cli.commands``; a terminal's command and login
    shell against the device rules (DECISIONS.md 73 and 72)."""
    host = target.host
    for name in spec.marked_fields(DeviceCommands):
        if host.cli is None:
            raise CommandNotAllowed(
                f"command not allowed: host {shown(host.alias)} is not a network device (no cli "
                "table in hosts.toml); use ssh_exec_run"
            )
        check_device_commands(getattr(args, name), host.cli, app.settings.allow_any_command)
    if spec.group is Group.TERMINAL and host.cli is not None:
        for name in spec.marked_fields(CommandText):
            if getattr(args, name) is not None:
                raise CommandNotAllowed(
                    f"command not allowed: host {shown(host.alias)} is a network device; open "
                    "its CLI without a command, or use ssh_cli_run"
                )


async def check_commands(
    app: App,
    spec: ToolSpec[Any, Any],
    args: BaseModel,
    targets: Mapping[str, Target],
    cwd: str | None,
    resolver: Resolver,
) -> CommandStep:
    """Check every command field on every target; see the module docstring."""
    step = CommandStep()
    if runs_commands(spec):
        for key, target in targets.items():
            why = host_policy.exec_refusal(target.host)
            if why is None:
                _check_device(app, spec, args, target)
                continue
            if ":" not in key:  # a single host: the call fails
                raise CommandNotAllowed(why)
            step.denials[key] = why
        if step.denials and len(step.denials) == len(targets):
            raise CommandNotAllowed(f"on every host: {next(iter(step.denials.values()))}")
    for name in spec.marked_fields(CommandText):
        command: str | None = getattr(args, name)
        marker = spec.field_marker(name, CommandText)
        checked: CheckedCommand | None = None
        for key, target in targets.items():
            if key in step.denials:
                continue
            if command is None and not (marker and marker.absent_is_shell):
                continue  # an optional command not given (ssh_docker_run): the image's runs
            if command is None:  # a login shell: no line to check (DECISIONS.md 73)
                allowlist = host_policy.command_allowlist(target.host, app.settings)
                allow_any = app.settings.allow_any_command
                if why := login_shell_refusal(target.host, allowlist, allow_any):
                    raise CommandNotAllowed(why)
                continue
            try:
                result = check_command(
                    command,
                    host_policy.command_allowlist(target.host, app.settings),
                    app.settings.allow_any_command,
                    host_policy.command_allowlist_name(target.host),
                )
                if result is not None:
                    step.writes += await _resolve_writes(resolver, spec, target, result.writes, cwd)
                    checked = result
            except SSHMCPError as exc:  # a refusal, or a host unreachable to resolve a target
                if ":" not in key:  # a single host: the call fails
                    raise
                step.denials[key] = " ".join(str(exc).split())  # that host is skipped
        if step.denials and len(step.denials) == len(targets):
            raise CommandNotAllowed(f"on every host: {next(iter(step.denials.values()))}")
        step.writes = list(dict.fromkeys(step.writes))
        if checked is not None:
            step.updates[name] = checked.run
    return step
