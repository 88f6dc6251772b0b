"""Persistent shell sessions through MCP against real sshd."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
import pytest
from harness import OPEN, assert_audit, eventually, gone, ok, poll, scratch_settings, serve, text
from mcp import Client
from sshd import Sshd, TestKeys, TestUser, remote_pids

from ssh_mcp.config.settings import Settings

pytestmark = pytest.mark.anyio


async def _open(client: Client, **extra: Any) -> str:
    out = await ok(client, "ssh_shell_open", {"host": "target", **extra})
    session: str = out["session_id"]
    return session


async def test_state_carries_between_commands(
    settings_for: Callable[..., Settings], work_dir: Path
) -> None:
    async with serve(settings_for(**OPEN)) as (client, app):
        sid = await _open(client, cwd=str(work_dir))
        assert_audit(app, {"tool": "ssh_shell_open", "outcome": "ok", "host": "target"})
        run = {"session_id": sid}
        first = await ok(client, "ssh_shell_exec", {**run, "command": "pwd; X=41; cd .."})
        assert (first["stdout"], first["cwd"], first["session_open"]) == (
            f"{work_dir}\n",
            str(work_dir.parent),
            True,
        )
        second = await ok(
            client, "ssh_shell_exec", {**run, "command": "echo $((X+1)) $PWD; echo e >&2; false"}
        )
        assert (second["stdout"], second["stderr"], second["exit_code"]) == (
            f"42 {work_dir.parent}\n",
            "e\n",
            1,
        )
        line = assert_audit(app, {"tool": "ssh_shell_exec", "session_id": sid, "exit_code": 1})
        assert line["host"] == "target" and line["command_hash"]
        # No trailing newline, a stdin reader, and a syntax error: the session survives all.
        r = await ok(client, "ssh_shell_exec", {**run, "command": "printf abc; cat"})
        assert (r["stdout"], r["exit_code"]) == ("abc", 0)
        r = await ok(client, "ssh_shell_exec", {**run, "command": "if then"})
        assert r["exit_code"] == 2 and "rror" in r["stderr"] and r["session_open"]
        listed = await ok(client, "ssh_shell_list", {})
        assert [s["session_id"] for s in listed["sessions"]] == [sid]
        await ok(client, "ssh_shell_close", run)
        r2 = await client.call_tool("ssh_shell_exec", {**run, "command": "true"})
        assert r2.is_error and text(r2).startswith(f"unknown shell id '{sid}'"), text(r2)
        assert (await ok(client, "ssh_shell_list", {}))["sessions"] == []


async def test_exit_ends_the_session(settings_for: Callable[..., Settings]) -> None:
    async with serve(settings_for(**OPEN)) as (client, _):
        sid = await _open(client)
        r = await ok(client, "ssh_shell_exec", {"session_id": sid, "command": "exit 7"})
        assert (r["exit_code"], r["session_open"]) == (7, False)
        assert (await ok(client, "ssh_shell_list", {}))["sessions"] == []


@pytest.mark.parametrize("how", ["timeout", "cancel"])
async def test_timeout_and_cancel_stop_the_command_and_the_session(
    how: str, settings_for: Callable[..., Settings], test_user: TestUser
) -> None:
    marker = f"sleep 311.{len(how)}"
    async with serve(settings_for(**OPEN), mode="legacy") as (client, _):
        sid = await _open(client)
        args = {"session_id": sid, "command": f"echo started; {marker}"}
        if how == "timeout":
            r = await ok(client, "ssh_shell_exec", {**args, "timeout": 0.5})
            assert r["timed_out"] and not r["session_open"] and r["stdout"] == "started\n"
        else:
            with anyio.move_on_after(1.0):
                await client.call_tool("ssh_shell_exec", args)
        assert await gone(test_user.name, marker), remote_pids(test_user.name, marker)

        async def closed() -> bool:
            # A cancelled call's handler finishes after the client stopped waiting for it.
            return not (await ok(client, "ssh_shell_list", {}))["sessions"]

        assert await eventually(closed)


async def test_policy_applies_per_command(settings_for: Callable[..., Settings]) -> None:
    settings = settings_for(allow_dangerous_tools=True, ssh_command_allowlist=["echo", "cd"])
    async with serve(settings) as (client, app):
        sid = await _open(client)
        allowed = await ok(client, "ssh_shell_exec", {"session_id": sid, "command": "echo hi"})
        assert allowed["stdout"] == "hi\n"
        r = await client.call_tool("ssh_shell_exec", {"session_id": sid, "command": "id"})
        assert r.is_error and "command not allowed" in text(r)
        assert_audit(app, {"outcome": "denied", "error": "CommandNotAllowed", "host": "target"})
        r = await client.call_tool("ssh_shell_exec", {"session_id": sid, "command": "reboot"})
        assert r.is_error


async def test_session_cap_and_server_shutdown(
    settings_for: Callable[..., Settings], test_user: TestUser
) -> None:
    marker = "sleep 311.9"
    async with serve(settings_for(**OPEN, ssh_shell_max_sessions=1)) as (client, app):
        sid = await _open(client)
        r = await client.call_tool("ssh_shell_open", {"host": "target"})
        assert r.is_error and "1 shell sessions are open (SSH_SHELL_MAX_SESSIONS)" in text(r)
        assert_audit(app, {"outcome": "error", "error": "CapExceeded"})
        # A background process of the session outlives its command...
        bg = await ok(client, "ssh_shell_exec", {"session_id": sid, "command": f"{marker} &"})
        assert bg["session_open"] and remote_pids(test_user.name, f"^{marker}$")
    # ...but not the server: its shells end with it, and their process groups too.
    assert await gone(test_user.name, marker)


async def test_a_busy_session_refuses_a_second_command_and_is_not_swept(
    settings_for: Callable[..., Settings], test_user: TestUser
) -> None:
    marker = "sleep 311.8"
    settings = settings_for(**OPEN, ssh_shell_idle_timeout=0.1)
    async with serve(settings) as (client, app):
        sid = await _open(client)
        async with anyio.create_task_group() as tg:
            tg.start_soon(
                ok,
                client,
                "ssh_shell_exec",
                {"session_id": sid, "command": f"{marker}; echo done"},
            )
            for _ in range(500):
                if remote_pids(test_user.name, f"^{marker}$"):
                    break
                await anyio.sleep(0.01)
            entry = app.shells.get(sid)
            assert entry is not None
            await poll(  # well past the idle timeout, while the command runs
                lambda: time.monotonic() - entry.last_used > 3 * settings.ssh_shell_idle_timeout,
                "the session was idle past its timeout",
            )
            listed = await ok(client, "ssh_shell_list", {})  # sweeps
            assert [s["session_id"] for s in listed["sessions"]] == [sid]
            r = await client.call_tool("ssh_shell_exec", {"session_id": sid, "command": "true"})
            assert r.is_error and "busy with another command" in text(r)
            await client.call_tool("ssh_shell_close", {"session_id": sid})  # ends the sleep too
        assert await gone(test_user.name, marker)


async def test_a_dropped_connection_ends_the_session_with_a_clear_error(
    tmp_path: Path, scratch_sshd: Sshd, test_user: TestUser, test_keys: TestKeys
) -> None:
    marker = "sleep 311.5"
    settings = scratch_settings(tmp_path, scratch_sshd, test_user, test_keys, **OPEN)
    async with serve(settings) as (client, app):
        out = await ok(client, "ssh_shell_open", {"host": "s"})
        sid = out["session_id"]
        results: list[Any] = []

        async def run() -> None:
            results.append(
                await client.call_tool("ssh_shell_exec", {"session_id": sid, "command": marker})
            )

        async with anyio.create_task_group() as tg:
            tg.start_soon(run)
            for _ in range(500):
                if remote_pids(test_user.name, f"^{marker}$"):
                    break
                await anyio.sleep(0.01)
            assert await anyio.to_thread.run_sync(scratch_sshd.kill_connections)
        r = results[0]
        assert r.is_error and "dropped" in text(r) and "\n" not in text(r), text(r)
        assert_audit(app, {"tool": "ssh_shell_exec", "error": "ConnectionDropped"})
        assert (await ok(client, "ssh_shell_list", {}))["sessions"] == []
    assert await gone(test_user.name, marker)


async def test_shell_list_takes_a_limit_and_says_when_it_cut(
    settings_for: Callable[..., Settings],
) -> None:
    async with serve(settings_for(**OPEN)) as (client, _):
        first, second = await _open(client), await _open(client)
        listed = await ok(client, "ssh_shell_list", {"limit": 1})
        assert [s["session_id"] for s in listed["sessions"]] == [first] and listed["truncated"]
        listed = await ok(client, "ssh_shell_list", {})
        assert [s["session_id"] for s in listed["sessions"]] == [first, second]
        assert listed["truncated"] is False
        for sid in (first, second):
            await ok(client, "ssh_shell_close", {"session_id": sid})
