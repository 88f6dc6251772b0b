"""Pool faults through the MCP path against real sshd: keepalive, dropped connections, failed
and cancelled handshakes, calls cancelled mid-open, unreachable hosts."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Awaitable
from pathlib import Path

import anyio
import anyio.to_thread
import pytest
from harness import (
    OPEN,
    Target,
    assert_audit,
    audit_lines,
    eventually,
    gone,
    hosts_toml,
    make_settings,
    ok_stdout,
    poll,
    scratch_settings,
    serve,
    text,
)
from mcp.types import CallToolResult
from pool_helpers import (
    SlowProxy,
    accepted,
    closed_port,
    concurrently,
    exec_call,
    host_pool,
    sessions,
)
from sshd import Sshd, TestKeys, TestUser, descendant_pids, remote_pids

from ssh_mcp.ssh.pooled import PooledConnection

pytestmark = pytest.mark.anyio


# -- keepalive and dropped connections ----------------------------------------------------


async def test_keepalive_notices_a_frozen_server(
    tmp_path: Path, scratch_sshd: Sshd, test_user: TestUser, test_keys: TestKeys
) -> None:
    settings = scratch_settings(
        tmp_path, scratch_sshd, test_user, test_keys, **OPEN, ssh_keepalive_interval=0.2
    )
    async with serve(settings) as (client, app):
        assert ok_stdout(await exec_call(client, "s", "echo 1")) == "1\n"
        frozen = descendant_pids(scratch_sshd.pid)
        assert frozen
        for pid in frozen:
            os.kill(pid, signal.SIGSTOP)
        try:
            started = time.monotonic()

            async def empty() -> bool:
                return not await sessions(client)

            assert await eventually(empty), repr(app.pool)
            print(
                f"\nkeepalive (0.2 s x 3) noticed a frozen sshd after "
                f"{time.monotonic() - started:.2f} s"
            )
        finally:
            scratch_sshd.kill_connections()
        assert ok_stdout(await exec_call(client, "s", "echo 2")) == "2\n"
        assert host_pool(app, "s").connects == 2


@pytest.mark.parametrize("mode", ["at-once", "after-eof", "no-peek"])
async def test_dropped_connection_is_reopened_by_the_next_call(
    tmp_path: Path,
    scratch_sshd: Sshd,
    test_user: TestUser,
    test_keys: TestKeys,
    mode: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """at-once: the call comes before the loop has read the EOF (kill_connections blocks it), so
    the pool must ask the socket; after-eof: asyncssh has seen the drop; no-peek: the socket is
    not asked, so the channel open fails on the dead connection and Pool.run retries."""
    if mode == "no-peek":
        monkeypatch.setattr(PooledConnection, "hung_up", lambda self: not self.alive)
    target = Target("s", scratch_sshd.port, test_user.name, test_keys.plain, ("/tmp",))
    settings = make_settings(tmp_path, hosts_toml(target), scratch_sshd.known_hosts_path, **OPEN)
    # The second SFTP call in a row finds the SFTP channel of the call before it already open:
    # its request cannot fail at a channel open, so only the socket check saves it.
    kinds = ["exec", "info"] if mode == "no-peek" else ["exec", "info", "sftp", "sftp"]
    async with serve(settings) as (client, app):
        assert ok_stdout(await exec_call(client, "s", "echo 0")) == "0\n"
        hp = host_pool(app, "s")
        for i in range(1, 9):
            assert scratch_sshd.kill_connections()
            if mode == "after-eof":  # asyncssh has read the EOF
                await poll(lambda: not any(pc.alive for pc in hp.conns), "the EOF was read")
            kind = kinds[i % len(kinds)]
            if kind == "exec":
                assert ok_stdout(await exec_call(client, "s", f"echo {i}")) == f"{i}\n"
            elif kind == "info":  # six channels at once on the dead connection: one reconnect
                r = await client.call_tool("ssh_host_info", {"host": "s"})
                assert not r.is_error, text(r)
            else:
                r = await client.call_tool("ssh_sftp_stat", {"host": "s", "path": "/tmp"})
                assert not r.is_error, text(r)
            assert_audit(app, {"host": "s", "outcome": "ok"})
            assert hp.connects == i + 1, f"cycle {i} ({kind}): {hp.connects} connects"
        assert repr(app.pool) == "<Pool hosts=1 open=1 busy=0 idle=1>"
    assert accepted(scratch_sshd) == 9


# -- failed and cancelled handshakes, cancelled channel opens ---------------------------


async def test_a_failed_extra_handshake_falls_back_to_the_open_connection(
    tmp_path: Path, scratch_sshd: Sshd, test_user: TestUser, test_keys: TestKeys
) -> None:
    settings = scratch_settings(
        tmp_path, scratch_sshd, test_user, test_keys, extra="max_connections = 2", **OPEN
    )
    async with serve(settings) as (client, app):
        long = [exec_call(client, "s", f"sleep 1; echo {i}") for i in range(10)]
        short = [exec_call(client, "s", f"echo {i}") for i in range(10, 15)]
        async with anyio.create_task_group() as tg:
            results: list[CallToolResult] = []

            async def run(call: Awaitable[CallToolResult]) -> None:
                results.append(await call)

            for call in long:
                tg.start_soon(run, call)

            async def all_busy() -> bool:
                hp = app.pool.get("s")
                return hp is not None and sum(pc.busy for pc in hp.conns) == 10

            assert await eventually(all_busy)
            # New logins are refused from now on; the open connection keeps working.
            scratch_sshd.reconfigure({"AllowUsers": "nobody"})
            for call in short:
                tg.start_soon(run, call)
        failed = [text(r) for r in results if r.is_error]
        assert not failed, failed
        hp = host_pool(app, "s")
        # One extra handshake was tried (and refused); its waiters then took freed slots.
        assert (hp.attempts, hp.connects) == (2, 1)
        assert ok_stdout(await exec_call(client, "s", "echo again")) == "again\n"
        assert hp.attempts == 2


async def test_a_cancelled_caller_does_not_abort_the_shared_handshake(
    tmp_path: Path, sshd: Sshd, test_user: TestUser, test_keys: TestKeys
) -> None:
    async with SlowProxy(sshd.port, delay=0.5) as proxy:
        known_hosts = tmp_path / "known_hosts"
        known_hosts.write_text(f"[127.0.0.1]:{proxy.listen_port} {sshd.host_key_line}\n")
        hosts = hosts_toml(Target("slow", proxy.listen_port, test_user.name, test_keys.plain))
        settings = make_settings(tmp_path, hosts, known_hosts, **OPEN)
        async with serve(settings) as (client, app):
            result: list[CallToolResult] = []

            async def patient() -> None:
                result.append(await exec_call(client, "slow", "echo patient"))

            async with anyio.create_task_group() as tg:
                tg.start_soon(patient)
                with anyio.move_on_after(0.2):  # gives up during the handshake
                    await exec_call(client, "slow", "echo impatient")
            assert ok_stdout(result[0]) == "patient\n"
            hp = host_pool(app, "slow")
            assert (hp.attempts, hp.connects) == (1, 1)
            errors = sorted(str(ln.get("error")) for ln in audit_lines(app))
            assert errors == ["Cancelled", "None"]

            # Every caller gives up: the handshake still completes and is pooled for the next.
            await app.pool.aclose()
            with anyio.move_on_after(0.2):
                await exec_call(client, "slow", "echo gone")
            hp = host_pool(app, "slow")

            async def pooled() -> bool:
                return hp.connects == 1

            assert await eventually(pooled)
            assert ok_stdout(await exec_call(client, "slow", "echo next")) == "next\n"
            assert (hp.attempts, hp.connects) == (1, 1)


async def test_a_call_cancelled_while_its_channel_opens_leaks_nothing(
    tmp_path: Path, scratch_sshd: Sshd, test_user: TestUser, test_keys: TestKeys
) -> None:
    marker = "sleep 30.6062"
    settings = scratch_settings(
        tmp_path, scratch_sshd, test_user, test_keys, extra="max_connections = 1", **OPEN
    )
    async with serve(settings) as (client, app):
        assert ok_stdout(await exec_call(client, "s", "echo up")) == "up\n"
        frozen = descendant_pids(scratch_sshd.pid)
        for pid in frozen:  # sshd stalls: the channel open below hangs
            os.kill(pid, signal.SIGSTOP)
        try:
            with anyio.move_on_after(0.5):
                await exec_call(client, "s", marker)
        finally:
            for pid in frozen:
                os.kill(pid, signal.SIGCONT)
        assert_audit(app, {"outcome": "error", "error": "Cancelled"})
        # The channel opened after the cancel; it must not keep a session (or a command)
        # alive: ten slow calls on the single connection need all ten of sshd's sessions.
        results = await concurrently(10, lambda i: exec_call(client, "s", f"sleep 1.2; echo {i}"))
        assert [ok_stdout(r) for r in results] == [f"{i}\n" for i in range(10)]
        assert await gone(test_user.name, marker), remote_pids(test_user.name, marker)
        assert host_pool(app, "s").connects == 1


async def test_unreachable_host_fails_every_waiter_with_one_attempt(
    tmp_path: Path, test_user: TestUser, test_keys: TestKeys, known_hosts_file: Path
) -> None:
    hosts = hosts_toml(Target("down", closed_port(), test_user.name, test_keys.plain))
    settings = make_settings(tmp_path, hosts, known_hosts_file, **OPEN)
    async with serve(settings) as (client, app):
        results = await concurrently(10, lambda i: exec_call(client, "down", "echo hi"))
        assert all(r.is_error for r in results)
        assert all("cannot connect to down" in text(r) for r in results), text(results[0])
        hp = host_pool(app, "down")
        assert (hp.attempts, hp.connects) == (1, 0)
        errors = [ln.get("error") for ln in audit_lines(app)]
        assert errors == ["ConnectFailed"] * 10
        assert repr(app.pool) == "<Pool hosts=1 open=0 busy=0 idle=0>"


async def test_more_channels_than_max_sessions_says_to_lower_max_channels(
    tmp_path: Path, scratch_sshd: Sshd, test_user: TestUser, test_keys: TestKeys
) -> None:
    """max_channels above sshd's MaxSessions: the refused call says what to set, and how."""
    scratch_sshd.reconfigure({"MaxSessions": "1"})
    extra = "max_channels = 2\nmax_connections = 1"
    settings = scratch_settings(tmp_path, scratch_sshd, test_user, test_keys, extra=extra, **OPEN)
    marker = "sleep 347.9"
    async with serve(settings) as (client, app):
        first = await client.call_tool("ssh_exec_run", {"host": "s", "command": "true"})
        assert not first.is_error, text(first)  # the login shell probe is settled

        async def hold() -> None:
            await client.call_tool("ssh_exec_run", {"host": "s", "command": marker})

        async with anyio.create_task_group() as tg:
            tg.start_soon(hold)

            async def running() -> bool:
                return bool(await anyio.to_thread.run_sync(remote_pids, test_user.name, marker))

            assert await eventually(running, 10)
            r = await client.call_tool("ssh_exec_run", {"host": "s", "command": "true"})
            msg = text(r)
            assert r.is_error and "to at most sshd's MaxSessions" in msg, msg
            assert "below" not in msg
            assert_audit(app, {"outcome": "error", "error": "ChannelFailed"})
            tg.cancel_scope.cancel()
    assert await gone(test_user.name, marker)
