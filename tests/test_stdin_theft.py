"""Commands cannot take the text of later commands from the stdin that carries it
(scripts and shell sessions under a command allowlist), through MCP against sshd.

With the script on the shell's stdin (``sh -s``), an allowlisted program that reads stdin
(``head -c N``) eats the next N bytes of script text, and the shell goes on parsing after
them: text the policy checked as quoted data becomes commands that run, unrewritten and
not allowlisted. The payloads below put ``touch`` inside one quoted ``echo`` argument and
skip into the middle of it: right after the first line (bash reads a script on a pipe byte
by byte) and after 8192 bytes (dash reads it in blocks of that size).

A shell session's stdin carries every later command; a background ``head -c N`` that
opens it through ``/proc/$$/fd/0`` takes the head of the next frame.
"""

from __future__ import annotations

import dataclasses
import shlex
from collections.abc import Callable
from pathlib import Path

import pytest
from harness import OPEN, Target, hosts_toml, serve, text

from ssh_mcp.config.settings import Settings
from ssh_mcp.policy.commands import rewrite

pytestmark = pytest.mark.anyio
ALLOW = ["echo", "head"]
GAP = 4000


def _payload(p: Path, skip_from: int) -> str:
    """A script whose rewrite, once ``head`` eats GAP bytes at ``skip_from``, runs
    ``touch p``; to the policy it is ``head`` and one ``echo`` of a quoted string."""
    first = f"head -c {GAP} >/dev/null\n"
    # After the skip: a single quote ends the shell's string, then `touch` runs. To the
    # policy, the skipped text closed the single quote and opened a double-quoted one.
    gap, after = "x'\"" + "B" * (GAP - 3), f"' ; touch {p}\n#\"\n"
    start = len(rewrite(first + "echo 'A'")) - 2  # offset of the A in the rewritten text
    pad = "A" * max(0, skip_from - start)
    script = first + "echo '" + pad + gap + after
    assert rewrite(script).index(gap) == max(skip_from, start)
    return script


@pytest.mark.parametrize("skip_from", [0, 8192], ids=["bash-bytewise", "dash-blocks"])
async def test_a_script_command_cannot_read_the_rest_of_the_script(
    skip_from: int, drop: Path, settings_for: Callable[..., Settings]
) -> None:
    planted = drop / f"planted-{skip_from}"
    script = _payload(planted, skip_from)
    strict = settings_for(allow_dangerous_tools=True, ssh_command_allowlist=ALLOW)
    async with serve(strict) as (client, _):
        r = await client.call_tool("ssh_exec_script", {"host": "target", "script": script})
        assert not r.is_error, text(r)
    assert not planted.exists(), text(r)[-300:]
    # Control: the same rewritten script piped into `sh -s` does plant the file, so the
    # payload is live (on this host, where /bin/sh is dash, for the block variant).
    if skip_from == 8192 and Path("/bin/sh").resolve().name == "dash":
        (drop / "script").write_text(rewrite(script))
        loose = settings_for(**OPEN)
        async with serve(loose) as (client, _):
            command = f"sh -s < {drop / 'script'}"
            r = await client.call_tool("ssh_exec_run", {"host": "target", "command": command})
        assert planted.exists(), text(r)[-300:]


async def test_a_root_script_command_cannot_read_the_rest_of_the_script(
    drop: Path, sudo_target: Target, settings_for: Callable[..., Settings]
) -> None:
    allow = f"command_allowlist = {ALLOW!r}\n".replace("'", '"')
    host = dataclasses.replace(sudo_target, extra=sudo_target.extra + allow)
    settings = settings_for(hosts=hosts_toml(host), allow_dangerous_tools=True, allow_sudo=True)
    planted = drop / "planted-root"
    async with serve(settings) as (client, _):
        script = _payload(planted, 8192)
        r = await client.call_tool("ssh_sudo_run_script", {"host": "target", "script": script})
        assert not r.is_error, text(r)
    assert not planted.exists(), text(r)[-300:]


@pytest.mark.parametrize("stolen", [1, 13, 40])
async def test_a_session_command_cannot_take_the_next_frame(
    stolen: int, drop: Path, settings_for: Callable[..., Settings]
) -> None:
    planted = drop / f"planted-session-{stolen}"
    payload = f"echo 'A;touch {planted} #'"
    # Under the old framing (`__ssh_mcp_c='<command>'`), this many stolen bytes started the
    # shell at "A;touch"; the other sizes land elsewhere in the frame.
    aligned = ("__ssh_mcp_c=" + shlex.quote(rewrite(payload))).index("A;touch")
    thief = f"head -c {aligned if stolen == 13 else stolen} /proc/$$/fd/0 >/dev/null &"
    strict = settings_for(allow_dangerous_tools=True, ssh_command_allowlist=ALLOW)
    async with serve(strict) as (client, _):
        r = await client.call_tool("ssh_shell_open", {"host": "target"})
        sid = (r.structured_content or {})["session_id"]
        r = await client.call_tool("ssh_shell_exec", {"session_id": sid, "command": thief})
        assert not r.is_error, text(r)
        for _ in range(50):  # the thief may lose the race for the first frames (a busy host)
            args = {"session_id": sid, "command": payload, "timeout": 10}
            r = await client.call_tool("ssh_shell_exec", args)
            assert not planted.exists(), text(r)
            sc = r.structured_content or {}
            if r.is_error or not sc.get("session_open", True):
                break
            assert sc["stdout"] == f"A;touch {planted} #\n", text(r)
        else:
            pytest.fail(f"the thief never took a frame: {text(r)}")
    assert not planted.exists(), text(r)
