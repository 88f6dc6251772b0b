"""Terminal sessions (group ``terminal``) through MCP against real sshd: real interactive
programs, and their processes gone (pgrep) when a session is closed or expires."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
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
    ok,
    poll,
    serve,
)
from mcp import Client
from sshd import TestUser, remote_pids

from ssh_mcp.config.settings import Settings

pytestmark = pytest.mark.anyio

PROMPT = "READY> "


async def _shell(client: Client) -> str:
    """A login shell with a known prompt; its session id."""
    sid: str = (await ok(client, "ssh_pty_open", {"host": "target"}))["session_id"]
    await ok(client, "ssh_pty_send", {"session_id": sid, "text": f"PS1='{PROMPT}'\n"})
    out = await _read(client, sid, f"{PROMPT}$")
    assert "ssh-mcp" not in out["output"] + out["screen"]  # the session-id mark is taken out
    return sid


async def _read(client: Client, sid: str, wait_for: str, timeout: float = 10) -> dict[str, Any]:
    out = await ok(
        client, "ssh_pty_read", {"session_id": sid, "wait_for": wait_for, "timeout": timeout}
    )
    assert out["matched"], out
    return out


async def test_a_shell_prompt_round_trip(settings_for: Callable[..., Settings]) -> None:
    async with serve(settings_for(**OPEN)) as (client, app):
        sid = await _shell(client)
        opened = [line for line in audit_lines(app) if line["tool"] == "ssh_pty_open"]
        assert opened[0]["outcome"] == "ok" and opened[0]["session_id"] == sid
        assert opened[0]["host"] == "target" and opened[0].get("command_hash") is None
        sent = await ok(client, "ssh_pty_send", {"session_id": sid, "text": "echo $((6*7))\n"})
        assert sent == {"sent": 14}
        assert_audit(app, {"tool": "ssh_pty_send", "session_id": sid, "bytes": 14})
        assert "6*7" not in app.settings.ssh_audit_log.read_text()  # keystrokes: a count only
        out = await _read(client, sid, f"^42\\r?\\n{PROMPT}")
        assert "42\n" + PROMPT in out["output"] and "\x1b" not in out["output"]
        assert out["screen"].splitlines()[-1] == PROMPT.rstrip()
        assert out["bytes"] >= len("42\r\n" + PROMPT) and not out["ended"]
        line = assert_audit(app, {"tool": "ssh_pty_read", "outcome": "ok", "session_id": sid})
        assert line["bytes"] == out["bytes"]
        # Nothing new: a read without wait_for returns at its timeout with empty output.
        quiet = await ok(client, "ssh_pty_read", {"session_id": sid, "timeout": 0.3})
        assert (quiet["output"], quiet["bytes"], quiet["matched"]) == ("", 0, None)
        missed = await ok(
            client, "ssh_pty_read", {"session_id": sid, "wait_for": "never", "timeout": 0.3}
        )
        assert missed["matched"] is False
        listed = await ok(client, "ssh_pty_list", {})
        assert [(s["session_id"], s["command"]) for s in listed["sessions"]] == [(sid, None)]
        assert (await ok(client, "ssh_pty_close", {"session_id": sid})) == {"closed": True}
        r = await client.call_tool("ssh_pty_read", {"session_id": sid})
        error_line(r, f"unknown pty id '{sid}'", "SSH_PTY_IDLE_TIMEOUT", "ssh_pty_list")
        assert_audit(app, {"tool": "ssh_pty_read", "error": "InvalidArguments"})


async def test_ctrl_c_stops_a_running_sleep(
    settings_for: Callable[..., Settings], test_user: TestUser
) -> None:
    marker = "sleep 313.1"
    async with serve(settings_for(**OPEN)) as (client, app):
        sid = await _shell(client)
        await ok(client, "ssh_pty_send", {"session_id": sid, "text": f"{marker}\n"})
        await poll(lambda: bool(remote_pids(test_user.name, f"^{marker}$")), "sleep started")
        assert await ok(client, "ssh_pty_key", {"session_id": sid, "key": "ctrl-c"}) == {"sent": 1}
        assert_audit(app, {"tool": "ssh_pty_key", "outcome": "ok", "bytes": 1})
        assert await gone(test_user.name, f"^{marker}$")
        await _read(client, sid, f"{PROMPT}$")  # the shell is back
        await ok(client, "ssh_pty_send", {"session_id": sid, "text": "echo still-$((1+1))\n"})
        await _read(client, sid, "still-2")
        await ok(client, "ssh_pty_close", {"session_id": sid})


async def test_a_program_asks_a_question_and_reads_the_answer(
    settings_for: Callable[..., Settings],
) -> None:
    command = 'bash -c \'read -p "Your name? " n; echo "hello, $n"; exit 3\''
    async with serve(settings_for(**OPEN)) as (client, app):
        opened = await ok(client, "ssh_pty_open", {"host": "target", "command": command})
        sid = opened["session_id"]
        assert_audit(app, {"tool": "ssh_pty_open", "session_id": sid})
        assert audit_lines(app)[-1]["command_hash"]
        await _read(client, sid, r"Your name\? $")
        await ok(client, "ssh_pty_send", {"session_id": sid, "text": "Ada\n"})
        out = await _read(client, sid, "hello, Ada")
        if not out["ended"]:
            out = await ok(client, "ssh_pty_read", {"session_id": sid, "timeout": 5})
        assert out["ended"] and out["exit_code"] == 3, out
        r = await client.call_tool("ssh_pty_send", {"session_id": sid, "text": "x"})
        error_line(r, "has ended")
        await ok(client, "ssh_pty_close", {"session_id": sid})


@pytest.mark.parametrize("program", ["top", "less"])
async def test_a_full_screen_program_reads_back_as_a_screen(
    program: str, settings_for: Callable[..., Settings], test_user: TestUser
) -> None:
    if program == "top":
        command, expect = "top -d 1", r"load average"
    else:
        command, expect = "seq 1 500 | less", r"^:$"  # less's prompt on the last row
    async with serve(settings_for(**OPEN)) as (client, _):
        sid = (
            await ok(
                client,
                "ssh_pty_open",
                {"host": "target", "command": command, "cols": 100, "rows": 30},
            )
        )["session_id"]
        out = await _read(client, sid, expect)
        rows = out["screen"].split("\n")
        assert len(rows) <= 30 and all(len(r) <= 100 for r in rows)
        assert "\x1b" not in out["screen"]
        if program == "top":
            assert "PID" in out["screen"] and "%CPU" in out["screen"]
        else:
            assert rows[:3] == ["1", "2", "3"] and rows[28] == "29"
            await ok(client, "ssh_pty_key", {"session_id": sid, "key": "space"})
            page = await _read(client, sid, r"^58$")
            assert page["screen"].split("\n")[0] == "30"
        await ok(client, "ssh_pty_resize", {"session_id": sid, "cols": 60, "rows": 10})
        if program == "less":
            await ok(client, "ssh_pty_key", {"session_id": sid, "key": "ctrl-l"})
            small = await _read(client, sid, r"^:$")
            assert len(small["screen"].split("\n")) <= 10
        await ok(client, "ssh_pty_send", {"session_id": sid, "text": "q"})
        done = await ok(client, "ssh_pty_read", {"session_id": sid, "timeout": 5})
        if not done["ended"]:
            done = await ok(client, "ssh_pty_read", {"session_id": sid, "timeout": 5})
        assert done["ended"], done
        await ok(client, "ssh_pty_close", {"session_id": sid})
    assert await gone(test_user.name, f"^{command}")


async def test_close_stops_the_whole_session(
    settings_for: Callable[..., Settings], test_user: TestUser
) -> None:
    a, b, c = "sleep 313.2", "sleep 313.3", "sleep 313.4"
    async with serve(settings_for(**OPEN)) as (client, app):
        sid = await _shell(client)
        # Two jobs (each its own process group), one ignoring SIGHUP, and one in front.
        text = f"{a} & (trap '' HUP; exec {b}) & {c}\n"
        await ok(client, "ssh_pty_send", {"session_id": sid, "text": text})
        for m in (a, b, c):
            await poll(lambda m=m: bool(remote_pids(test_user.name, f"^{m}$")), m)  # type: ignore[misc]
        assert await ok(client, "ssh_pty_close", {"session_id": sid}) == {"closed": True}
        assert_audit(app, {"tool": "ssh_pty_close", "outcome": "ok", "session_id": sid})
        for m in (a, b, c):
            assert await gone(test_user.name, f"^{m}$"), remote_pids(test_user.name, m)


async def test_idle_sessions_expire_and_the_cap_holds(
    settings_for: Callable[..., Settings], test_user: TestUser
) -> None:
    marker = "sleep 313.5"
    settings = settings_for(**OPEN, ssh_pty_max_sessions=1, ssh_pty_idle_timeout=1.0)
    async with serve(settings) as (client, app):
        sid = (await ok(client, "ssh_pty_open", {"host": "target", "command": marker}))[
            "session_id"
        ]
        await poll(lambda: bool(remote_pids(test_user.name, f"^{marker}$")), "sleep started")
        r = await client.call_tool("ssh_pty_open", {"host": "target", "command": "sleep 1"})
        error_line(r, "1 terminal sessions are open (SSH_PTY_MAX_SESSIONS)", "ssh_pty_close")
        assert_audit(app, {"tool": "ssh_pty_open", "outcome": "error", "error": "CapExceeded"})
        # Nobody calls: the sweeper ends the idle session and its process.
        assert await gone(test_user.name, f"^{marker}$", timeout=10)
        assert (await ok(client, "ssh_pty_list", {}))["sessions"] == []
        r = await client.call_tool("ssh_pty_read", {"session_id": sid})
        error_line(r, "unknown pty id")


async def test_server_shutdown_stops_open_terminals(
    settings_for: Callable[..., Settings], test_user: TestUser
) -> None:
    marker = "sleep 313.6"
    async with serve(settings_for(**OPEN)) as (client, _):
        await ok(client, "ssh_pty_open", {"host": "target", "command": marker})
        await poll(lambda: bool(remote_pids(test_user.name, f"^{marker}$")), "sleep started")
    assert await gone(test_user.name, f"^{marker}$")


async def test_the_allowlist_governs_what_starts(
    settings_for: Callable[..., Settings], target: Target, test_user: TestUser
) -> None:
    settings = settings_for(allow_dangerous_tools=True, ssh_command_allowlist=["sleep"])
    async with serve(settings) as (client, app):
        r = await client.call_tool("ssh_pty_open", {"host": "target"})
        error_line(r, "login shell", "command allowlist is in force", "pty_allow_shell")
        assert_audit(app, {"tool": "ssh_pty_open", "outcome": "denied"})
        r = await client.call_tool("ssh_pty_open", {"host": "target", "command": "id; sleep 9"})
        error_line(r, "command not allowed")
        assert (await ok(client, "ssh_pty_list", {}))["sessions"] == []
        assert not remote_pids(test_user.name, "^sleep 9$")
        marker = "sleep 313.7"
        sid = (await ok(client, "ssh_pty_open", {"host": "target", "command": marker}))[
            "session_id"
        ]
        await poll(lambda: bool(remote_pids(test_user.name, f"^{marker}$")), "sleep started")
        await ok(client, "ssh_pty_close", {"session_id": sid})
        assert await gone(test_user.name, marker)
    opted_in = dataclasses.replace(target, extra="pty_allow_shell = true\n")
    settings = settings_for(
        hosts=hosts_toml(opted_in), allow_dangerous_tools=True, ssh_command_allowlist=["sleep"]
    )
    async with serve(settings) as (client, _):
        sid = await _shell(client)
        await ok(client, "ssh_pty_close", {"session_id": sid})
    off = dataclasses.replace(target, extra="exec = false\npty_allow_shell = true\n")
    async with serve(settings_for(hosts=hosts_toml(off), **OPEN)) as (client, app):
        r = await client.call_tool("ssh_pty_open", {"host": "target", "command": "sleep 1"})
        error_line(r, "exec = false")
        assert_audit(app, {"tool": "ssh_pty_open", "outcome": "denied"})


async def test_terminal_tools_need_the_dangerous_tier(
    settings_for: Callable[..., Settings],
) -> None:
    async with serve(settings_for(allow_any_command=True)) as (client, _):
        r = await client.call_tool("ssh_pty_open", {"host": "target"})
        error_line(r, "unknown tool 'ssh_pty_open'")


async def test_a_flood_of_output_is_bounded_and_the_screen_shows_its_end(
    settings_for: Callable[..., Settings],
) -> None:
    n = 300_000
    async with serve(settings_for(**OPEN, ssh_stdout_cap_bytes=4096)) as (client, _):
        sid = (await ok(client, "ssh_pty_open", {"host": "target", "command": f"seq 1 {n}"}))[
            "session_id"
        ]
        out = await _read(client, sid, f"^{n}$", timeout=30)
        assert "earlier bytes left out]" in out["output"].split("\n")[0]
        assert len(out["output"]) < 4200 and out["output"].endswith(f"{n}\n")
        total = out["bytes"]
        while not out["ended"]:
            out = await ok(client, "ssh_pty_read", {"session_id": sid, "timeout": 5})
            total += out["bytes"]
        assert total == sum(len(str(i)) + 2 for i in range(1, n + 1))  # CR LF each
        await ok(client, "ssh_pty_close", {"session_id": sid})
    assert out["screen"].split("\n")[-1] == str(n)


async def test_a_root_login_terminal_stops_its_whole_session(
    root_target: Target, settings_for: Callable[..., Settings]
) -> None:
    a, b = "sleep 313.8", "sleep 313.9"
    settings = settings_for(hosts=hosts_toml(root_target), **OPEN)
    async with serve(settings) as (client, _):
        sid = await _shell(client)
        await ok(client, "ssh_pty_send", {"session_id": sid, "text": f"id -un; {a} & {b}\n"})
        out = await _read(client, sid, "^root")
        assert "root" in out["output"] and "ssh-mcp-pgid" not in out["output"]
        for m in (a, b):
            await poll(lambda m=m: bool(remote_pids("root", f"^{m}$")), m)  # type: ignore[misc]
        await ok(client, "ssh_pty_close", {"session_id": sid})
        for m in (a, b):
            assert await gone("root", f"^{m}$"), remote_pids("root", m)


async def test_concurrent_opens_respect_the_cap(
    settings_for: Callable[..., Settings], test_user: TestUser
) -> None:
    import anyio

    marker = "sleep 313.95"
    results: list[Any] = []
    async with serve(settings_for(**OPEN, ssh_pty_max_sessions=2)) as (client, app):

        async def one() -> None:
            args = {"host": "target", "command": marker}
            results.append(await client.call_tool("ssh_pty_open", args))

        async with anyio.create_task_group() as tg:
            for _ in range(4):
                tg.start_soon(one)
        refused = [r for r in results if r.is_error]
        assert len(refused) == 2 and len(app.ptys.all()) == 2
        for r in refused:
            error_line(r, "2 terminal sessions are open (SSH_PTY_MAX_SESSIONS)")
    assert await gone(test_user.name, f"^{marker}$")
