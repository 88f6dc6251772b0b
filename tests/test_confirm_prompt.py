"""The confirmation prompt always shows the matched part with its context, the total
length, and a marker wherever text is left out (issue 8, item 10)."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
from harness import OPEN, serve, text
from mcp.client.session import ClientRequestContext
from mcp.types import ElicitRequestFormParams, ElicitRequestParams, ElicitResult

from ssh_mcp.config.settings import Settings
from ssh_mcp.policy.confirm import DenyPatterns, confirm_message

PAD = "echo " + "harmless " * 556  # about 5,000 characters


def _prompt(command: str) -> str:
    found = DenyPatterns.build().find(command)
    assert found is not None
    return confirm_message("ssh_exec_run", ["web1"], found.label, command, "run this", found[1:])


def _hidden(message: str) -> int:
    return sum(int(n) for n in re.findall(r"\[\.\.\. (\d+) characters not shown \.\.\.\]", message))


@pytest.mark.parametrize(
    "command",
    [
        PAD + "; rm -rf /",
        PAD + "; rm -rf / ; " + PAD,
        "rm -rf / ; " + PAD,
        PAD + "\n" + PAD + "\nsudo reboot\n" + PAD,
        PAD + "; rm -rf " + "/" * 3000,
    ],
    ids=["after", "middle", "before", "lines", "huge-match"],
)
def test_padding_cannot_hide_the_match(command: str) -> None:
    message = _prompt(command)
    assert f"It is {len(command)} characters long" in message
    assert "characters not shown" in message
    assert "rm -rf /" in message or "sudo reboot" in message
    assert len(message) < 3000
    # What is shown plus what the markers count is the whole command.
    body = message.split("only parts are shown:\n\n", 1)[1].rsplit("\n\nAllow it?", 1)[0]
    plain = re.sub(r"\[\.\.\. \d+ characters not shown \.\.\.\]", "", body)
    assert len(plain) + _hidden(body) == len(command)


def test_short_commands_are_shown_whole() -> None:
    message = _prompt("rm -rf /")
    assert "\n\nrm -rf /\n\n" in message and "not shown" not in message


def test_a_long_path_without_a_place_shows_its_head_and_says_so() -> None:
    path = "/etc/sudoers.d/" + "x" * 2000
    message = confirm_message("ssh_upload", ["h"], "write to sudoers", path, "change this file")
    assert path[:300] in message and f"It is {len(path)} characters long" in message
    assert "characters not shown" in message


class Human:
    def __init__(self) -> None:
        self.asked: list[str] = []

    async def __call__(
        self, context: ClientRequestContext, params: ElicitRequestParams
    ) -> ElicitResult:
        assert isinstance(params, ElicitRequestFormParams)
        self.asked.append(params.message)
        return ElicitResult(action="decline")


@pytest.mark.anyio
async def test_the_human_sees_the_match_behind_padding(
    settings_for: Callable[..., Settings],
) -> None:
    # ".." makes rm refuse even if it ran; the rules read it as "/".
    command = PAD + "; rm -rf /nonexistent-ssh-mcp/.."
    human = Human()
    settings = settings_for(**OPEN)
    async with serve(settings, "legacy", human) as (client, _):
        r = await client.call_tool("ssh_exec_run", {"host": "target", "command": command})
        assert r.is_error and "a human declined" in text(r), text(r)
    (message,) = human.asked
    assert "The matched part: rm -rf /nonexistent-ssh-mcp/.." in message
    assert f"It is {len(command)} characters long" in message
    assert "characters not shown" in message and len(message) < 3000


@pytest.mark.anyio
async def test_control_characters_cannot_hide_anything_from_the_human(
    settings_for: Callable[..., Settings], tmp_path: Path
) -> None:
    """A terminal would let ``\\r``, ESC sequences, bidi overrides and zero-width characters
    repaint or reorder the prompt; the human sees them as escapes instead."""
    ran = tmp_path / "ran"
    hide = "\r\x1b[2K\x1b[1A\u202e\u200b\x07\x00"
    command = f"touch {ran}; rm -rf /nonexistent-ssh-mcp/.. # {hide}echo hello"
    human = Human()
    settings = settings_for(**OPEN)
    async with serve(settings, "legacy", human) as (client, _):
        r = await client.call_tool("ssh_exec_run", {"host": "target", "command": command})
        assert r.is_error and "a human declined" in text(r), text(r)
    (message,) = human.asked
    assert [c for c in message if not c.isprintable() and c not in "\n\t"] == [], repr(message)
    assert "\\x0d\\x1b[2K\\x1b[1A\\u202e\\u200b\\x07\\x00echo hello" in message
    assert not ran.exists()


def test_a_long_subject_is_escaped_in_every_part() -> None:
    command = PAD + "; rm -rf / ; echo \x1b]0;x\x07 " + PAD
    message = _prompt(command)
    assert "\x1b" not in message and "\x07" not in message and "\\x1b]0;x\\x07" in message
