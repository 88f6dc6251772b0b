"""Dangerous tier, group ``terminal``: commands on a network device's CLI (DECISIONS.md 74).

A device host (hosts.toml ``cli``) has a vendor CLI as its login shell and no
POSIX shell. ``ssh_cli_run`` keeps one terminal session per device, opened on
first use: it waits for the prompt, runs the enable step when the profile has a
secret for it, and turns the pager off. Each command is sent with the profile's
line ending; its reply ends where the prompt comes back, and the echoed command
and the prompt are taken out. Dispatch has checked every command against the
host's ``cli.commands`` and asked a human before a configuration mode.
"""

from __future__ import annotations

import re
import time
from typing import Annotated

import anyio
from pydantic import Field

from ssh_mcp.config.cli_profiles import CliConfig
from ssh_mcp.core.access import Group, Tier
from ssh_mcp.core.spec import CHANGES, HOST, Output, StrictInput, ToolContext, ToolSpec
from ssh_mcp.core.terminals import DeviceCommands, Terminals, plain
from ssh_mcp.errors import OperationTimeout, RemoteError
from ssh_mcp.state.ptys import PtyEntry, new_pty_id
from ssh_mcp.tools._fields import timeout_field

#: A device's terminal: wide, so that replies are not wrapped, and a plain TERM.
_COLS, _ROWS, _TERM = 500, 60, "vt100"
_PASSWORD = re.compile(r"[Pp]assword: ?$")
_MORE = re.compile(r"-- ?[Mm]ore ?--")


class CliRunInput(StrictInput):
    host: str = HOST
    commands: Annotated[
        list[Annotated[str, Field(min_length=1, max_length=1024)]],
        DeviceCommands(),
        Field(min_length=1, max_length=50, description="One command per item."),
    ]
    timeout: float | None = timeout_field("Seconds for the whole call.")


class CliReply(Output):
    command: str
    output: str = Field(description="Reply without echo and prompt.")


class CliRun(Output):
    replies: list[CliReply] = Field(description="Per completed command.")
    timed_out: bool = Field(description="The prompt did not come back.")


def _last_line(text: str) -> str:
    return text.rsplit("\n", 1)[-1]


async def _until_prompt(entry: PtyEntry, cli: CliConfig, deadline: float) -> str | None:
    """Text up to and with the prompt line; None when the deadline passes first. A pager
    that holds the reply at ``--More--`` (pager_off missing or refused) gets a space."""
    prompt = cli.prompt
    either = re.compile(f"{_MORE.pattern}|{cli.prompt_regex}", re.MULTILINE)
    data = b""
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return None
        got = await entry.pty.read(either, left, screen=False)
        data += got.data  # as bytes: a pager's CR and backspaces rewrite across reads
        last = _last_line(plain(data[-4096:]))
        if prompt.search(last):
            return plain(data)
        if _MORE.search(last):
            entry.pty.write(b" ")
        elif got.ended:
            raise RemoteError("the device closed the session; run the commands again")


def _reply(text: str, command: str, prompt: re.Pattern[str]) -> str:
    """``text`` without the echoed command (its first line), the prompt and the blank lines
    before it. The prompt is its last line, or every line the prompt regex spans there
    (Junos' ``{master:0}`` above ``user@host>``)."""
    cut = text.rfind("\n") + 1
    for match in prompt.finditer(text, max(cut - 256, 0)):  # ^ still means a line start
        if match.end() == len(text) and match.start() < cut:
            cut = match.start()
            break
    lines = text[:cut].split("\n")[:-1]
    if lines and lines[0].strip().endswith(command.strip()):
        lines = lines[1:]
    while lines and not lines[-1].strip():
        lines.pop()
    return "\n".join(lines)


async def _send(entry: PtyEntry, cli: CliConfig, line: str) -> None:
    entry.pty.write((line + cli.newline).encode())


async def _open(terminals: Terminals, host: str, cli: CliConfig, deadline: float) -> PtyEntry:
    async with terminals.table.opening():
        pty = await terminals.open(None, term=_TERM, cols=_COLS, rows=_ROWS)
        entry = PtyEntry(new_pty_id(), host, pty, None, _TERM, kind="cli")
        terminals.table.add(entry)
    try:
        await _login(terminals, entry, cli, deadline)
    except BaseException:
        with anyio.CancelScope(shield=True):
            await terminals.table.close(entry.id)
        raise
    return entry


async def _login(terminals: Terminals, entry: PtyEntry, cli: CliConfig, deadline: float) -> None:
    """Wait for the first prompt, then the enable step and the pager command."""
    async with entry.lock:
        if await _until_prompt(entry, cli, deadline) is None:
            raise OperationTimeout(
                f"no prompt matching cli.prompt_regex {cli.prompt_regex!r} came from the "
                "device; check its cli profile"
            )
        if cli.enable_cmd:
            await _enable(terminals, entry, cli, deadline)
        if cli.pager_off:
            await _send(entry, cli, cli.pager_off)
            await _until_prompt(entry, cli, deadline)


async def _prompt_or_password(entry: PtyEntry, cli: CliConfig, deadline: float) -> str | None:
    """The last line once it is a prompt or asks for a password; None at the deadline."""
    either = re.compile(f"{_PASSWORD.pattern}|{cli.prompt_regex}", re.MULTILINE)
    data = b""
    while (left := deadline - time.monotonic()) > 0:
        got = await entry.pty.read(either, left, screen=False)
        data += got.data
        last = _last_line(plain(data[-4096:]))
        if _PASSWORD.search(last) or cli.prompt.search(last):
            return last
        if got.ended:
            raise RemoteError("the device closed the session; run the commands again")
    return None


async def _enable(terminals: Terminals, entry: PtyEntry, cli: CliConfig, deadline: float) -> None:
    """``enable``, the secret once at ``Password:``, then the privileged prompt or an error.

    A wrong secret would otherwise go unnoticed: the commands would run unprivileged. A
    second ``Password:`` (IOS asks three times) or a prompt that is not privileged means
    the secret was refused; the caller ends the session, so nothing more is sent to it.
    The message names the host only: the secret and the device's reply stay out of it.
    """
    secret = await terminals.enable_secret()
    await _send(entry, cli, cli.enable)
    last = await _prompt_or_password(entry, cli, deadline)
    if last is not None and _PASSWORD.search(last):
        await _send(entry, cli, secret)
        last = await _prompt_or_password(entry, cli, deadline)
    if last is None:
        raise OperationTimeout(
            f"no prompt came back from {entry.host} after enable; check its cli profile"
        )
    if _PASSWORD.search(last) or not re.search(cli.privileged_regex, last):
        raise RemoteError(
            f"enable was refused on {entry.host}: check the enable secret (cli.enable_cmd) "
            "and cli.privileged_regex"
        )


async def cli_run(ctx: ToolContext, args: CliRunInput) -> CliRun:
    terminals = ctx.terminals
    cli = terminals.device
    assert cli is not None and ctx.host is not None  # dispatch refused a non-device host
    deadline = time.monotonic() + (args.timeout or ctx.command_timeout)
    for stale in terminals.table.all("cli"):  # a device that hung up: forget its session
        if stale.host == ctx.host.alias and not stale.pty.alive:
            await terminals.table.close(stale.id)
    entry = terminals.table.device_session(ctx.host.alias)
    if entry is None:
        entry = await _open(terminals, ctx.host.alias, cli, deadline)
    replies: list[CliReply] = []
    configuring = False
    async with entry.lock:
        entry.last_used = time.monotonic()
        try:
            for command in args.commands:
                configuring = configuring or bool(re.search(cli.config_regex, command))
                await _send(entry, cli, command)
                text = await _until_prompt(entry, cli, deadline)
                if text is None:
                    break
                replies.append(CliReply(command=command, output=_reply(text, command, cli.prompt)))
        except BaseException:
            # Cancelled or failed mid-command: the session's state is unknown, so it ends.
            with anyio.CancelScope(shield=True):
                await terminals.table.close(entry.id)
            raise
        entry.last_used = time.monotonic()
    timed_out = len(replies) < len(args.commands)
    if timed_out or configuring:
        # A command still running, or a configuration mode left open: the next call must
        # not land in either, so the session ends (and reopens on the next call).
        await terminals.table.close(entry.id)
    return CliRun(replies=replies, timed_out=timed_out)


def render_cli(out: CliRun) -> str:
    parts = [f"# {r.command}\n{r.output}" for r in out.replies]
    if out.timed_out:
        parts.append("[timed out waiting for the prompt; the session ended]")
    return "\n".join(parts)


TOOLS = (
    ToolSpec(
        name="ssh_cli_run",
        title="Run commands on a network device",
        description=(
            "Run commands on a network device's CLI (a host with a cli profile); returns each "
            "reply. Commands must match the device's allowlist."
        ),
        details=(
            "The session is kept between calls; the pager is turned off once. A configuration "
            "mode needs the profile's allow_config and a human's yes, and ends the session "
            "after the call. A timeout ends the session too."
        ),
        tier=Tier.DANGEROUS,
        group=Group.TERMINAL,
        input=CliRunInput,
        output=CliRun,
        annotations=CHANGES,
        handler=cli_run,
        render=render_cli,
    ),
)
