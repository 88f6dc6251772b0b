"""Commands cannot take the text of later commands from the stdin that carries it
(scripts and shell sessions under a command allowlist), through MCP against sshd.

With the script on the shell's stdin (``sh -s``), an allowlisted program that reads stdin
(``head -c N``) eats the next N bytes of script text, and the shell goes on parsing after
them: text the policy checked as quoted data becomes commands that run, unrewritten and
not allowlisted. The payloads below put ``touch`` inside one quoted ``echo`` argument and
skip into the middle of it: right after the first line (bash reads a script on a pipe byte
by byte) and after 8192 bytes (dash reads it in blocks of that size).

A shell session's stdin carries every later command; a background ``head -c N`` that
opens it through ``/proc/$$/fd/0`` (once its own command has returned: a command runs with
stdin on /dev/null) takes the head of the next frame.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shlex
import signal
from collections.abc import Callable
from pathlib import Path

import anyio
import pytest
from harness import OPEN, Target, hosts_toml, ok, ok_stdout, poll, serve, text
from mcp.types import CallToolResult

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


def _state(pid: int) -> str | None:
    """A process's state letter (R, S, T, Z, ...), or None once it is reaped."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rpartition(")")[2].split()[0]


def _blocked_reading(argv: list[str], pipe: str) -> int | None:
    """The PID of the process running ``argv`` if it has ``pipe`` open on fd 3 (the first
    file it opened) and sleeps in a read of a pipe, else None."""
    want = "\0".join(argv).encode() + b"\0"
    for entry in Path("/proc").iterdir():
        try:
            if not entry.name.isdigit() or (entry / "cmdline").read_bytes() != want:
                continue
            if os.readlink(entry / "fd" / "3") == pipe:
                return int(entry.name) if "pipe_read" in (entry / "wchan").read_text() else None
        except OSError:
            continue
    return None


def _release(gate: Path) -> bool:
    """Write one byte into the FIFO ``gate`` once a reader has it open; whether it did."""
    try:
        fd = os.open(gate, os.O_WRONLY | os.O_NONBLOCK)
    except OSError:  # ENXIO: no reader yet
        return False
    try:
        os.write(fd, b"x")
    finally:
        os.close(fd)
    return True


@pytest.mark.parametrize("stolen", [1, 13, 40])
async def test_a_session_command_cannot_take_the_next_frame(
    stolen: int, drop: Path, settings_for: Callable[..., Settings]
) -> None:
    planted = drop / f"planted-session-{stolen}"
    payload = f"echo 'A;touch {planted} #'"
    # Under the old framing (`__ssh_mcp_c='<command>'`), this many stolen bytes started the
    # shell at "A;touch"; the other sizes land elsewhere in the frame.
    aligned = ("__ssh_mcp_c=" + shlex.quote(rewrite(payload))).index("A;touch")
    size = str(aligned if stolen == 13 else stolen)
    # The shell runs each command with stdin on /dev/null, so the thief opens the shell's
    # stdin only after its command has returned: it first waits on a FIFO the test writes.
    gate = drop / "gate"
    os.mkfifo(gate)
    gate.chmod(0o666)
    thief = f"head -c 1 {gate} >/dev/null && head -c {size} /proc/$$/fd/0 >/dev/null & echo $$"
    strict = settings_for(allow_dangerous_tools=True, ssh_command_allowlist=ALLOW)
    async with serve(strict) as (client, _):
        sid = (await ok(client, "ssh_shell_open", {"host": "target"}))["session_id"]
        r = await client.call_tool("ssh_shell_exec", {"session_id": sid, "command": thief})
        shell = int(ok_stdout(r))
        stdin = os.readlink(f"/proc/{shell}/fd/0")
        await poll(lambda: _release(gate), "the thief opens the gate")
        argv = ["head", "-c", size, f"/proc/{shell}/fd/0"]
        await poll(lambda: _blocked_reading(argv, stdin) is not None, "the thief reads stdin")
        head = _blocked_reading(argv, stdin)  # it stays so: no frame comes before the next call
        assert head is not None
        # The shell reads its stdin too, and which reader gets the first bytes of the next
        # frame is up to the scheduler. While the shell is stopped the thief is the pipe's
        # only reader: it takes its bytes and exits (a zombie until the shell reaps it).
        results: list[CallToolResult] = []

        async def send() -> None:
            args = {"session_id": sid, "command": payload, "timeout": 30}
            results.append(await client.call_tool("ssh_shell_exec", args))

        os.kill(shell, signal.SIGSTOP)
        try:
            await poll(lambda: _state(shell) == "T", "the session shell stops")
            async with anyio.create_task_group() as tg:
                tg.start_soon(send)
                await poll(lambda: _state(head) in ("Z", None), "the thief takes its bytes")
                os.kill(shell, signal.SIGCONT)
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.kill(shell, signal.SIGCONT)
        (r,) = results
        assert not planted.exists(), text(r)
        # The frame lost its head: the shell ran nothing of it and ended the session.
        assert not (r.structured_content or {}).get("session_open", True), text(r)
        assert "a damaged command frame" in text(r), text(r)
        await poll(lambda: _state(shell) is None, "the session shell ends")
    assert not planted.exists(), text(r)
