"""The connection pool through the MCP path against real sshd: reuse, one handshake at a time,
idle reaping, MaxSessions/MaxStartups, leaked channels, output memory and shutdown. Faults
(drops, keepalive, failed and cancelled handshakes) are in test_pool_faults.py."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from pathlib import Path

import anyio
import anyio.to_thread
import pytest
from harness import (
    OPEN,
    assert_audit,
    audit_lines,
    eventually,
    gone,
    ok_stdout,
    scratch_settings,
    serve,
    text,
)
from pool_helpers import accepted, concurrently, established_to, exec_call, host_pool, sessions
from sshd import Sshd, TestKeys, TestUser, descendant_pids, remote_pids

from ssh_mcp.config.settings import Settings
from ssh_mcp.errors import ConnectFailed
from ssh_mcp.ssh import startups
from ssh_mcp.ssh.connect import ConnectSpec
from ssh_mcp.ssh.startups import StartupGates

pytestmark = pytest.mark.anyio


# -- 1, 2: reuse and one handshake -------------------------------------------------------


async def test_one_connection_is_reused_across_calls(settings_for: Callable[..., Settings]) -> None:
    async with serve(settings_for(**OPEN)) as (client, app):
        for i in range(5):
            assert ok_stdout(await exec_call(client, "target", f"echo {i}")) == f"{i}\n"
            assert_audit(app, {"tool": "ssh_exec_run", "outcome": "ok", "host": "target"})
        r = await client.call_tool("ssh_host_info", {"host": "target"})
        assert not r.is_error, text(r)
        hp = host_pool(app, "target")
        assert (hp.connects, hp.attempts) == (1, 1)
        assert repr(app.pool) == "<Pool hosts=1 open=1 busy=0 idle=1>"
        listed = await sessions(client)
        assert [(s["host"], s["busy_channels"]) for s in listed] == [("target", 0)]


@pytest.mark.parametrize("tool", ["ssh_host_info", "ssh_exec_run"])
async def test_concurrent_first_calls_make_one_connect(
    tmp_path: Path, scratch_sshd: Sshd, test_user: TestUser, test_keys: TestKeys, tool: str
) -> None:
    # Five ssh_host_info calls run 35 channels at once: give one connection room for all of
    # them, or the pool rightly opens more (one handshake at a time) for the overflow.
    scratch_sshd.reconfigure({"MaxSessions": "40"})
    settings = scratch_settings(
        tmp_path, scratch_sshd, test_user, test_keys, extra="max_channels = 40", **OPEN
    )
    args = {"host": "s"} if tool == "ssh_host_info" else {"host": "s", "command": "echo hi"}
    async with serve(settings) as (client, app):
        results = await concurrently(5, lambda i: client.call_tool(tool, args))
        assert all(not r.is_error for r in results), [text(r) for r in results if r.is_error]
        hp = host_pool(app, "s")
        assert (hp.connects, hp.attempts) == (1, 1)
        assert repr(app.pool) == "<Pool hosts=1 open=1 busy=0 idle=1>"
        assert [ln["outcome"] for ln in audit_lines(app)] == ["ok"] * 5
    assert accepted(scratch_sshd) == 1


# -- 3: idle reaper, keepalive options (frozen server: test_pool_faults.py) ------------


async def test_idle_connections_are_reaped_and_reopened(
    settings_for: Callable[..., Settings],
) -> None:
    async with serve(settings_for(**OPEN, ssh_idle_timeout=0.3)) as (client, app):
        assert ok_stdout(await exec_call(client, "target", "echo 1")) == "1\n"
        hp = host_pool(app, "target")
        pc = hp.conns[0]
        # Keepalive is on, with the configured interval (asyncssh has no public getter).
        assert pc.conn._keepalive_interval == app.settings.ssh_keepalive_interval
        assert pc.conn._keepalive_count_max == 3

        async def empty() -> bool:
            return not await sessions(client)

        assert await eventually(empty), repr(app.pool)
        assert pc.conn.is_closed()
        assert repr(app.pool) == "<Pool hosts=1 open=0 busy=0 idle=0>"
        assert ok_stdout(await exec_call(client, "target", "echo 2")) == "2\n"
        assert hp.connects == 2


# -- 5, 6: MaxSessions and MaxStartups ------------------------------------------------------


async def test_many_calls_share_a_bounded_number_of_connections(
    settings_for: Callable[..., Settings],
) -> None:
    async with serve(settings_for(**OPEN)) as (client, app):
        started = time.monotonic()
        results = await concurrently(50, lambda i: exec_call(client, "target", f"echo {i}"))
        fast = time.monotonic() - started
        assert [ok_stdout(r) for r in results] == [f"{i}\n" for i in range(50)]
        hp = host_pool(app, "target")
        assert 1 <= hp.connects <= 4 and hp.attempts == hp.connects
        fast_connects = hp.connects

        started = time.monotonic()
        results = await concurrently(
            20, lambda i: exec_call(client, "target", f"sleep 0.5; echo {i}")
        )
        slow = time.monotonic() - started
        assert [ok_stdout(r) for r in results] == [f"{i}\n" for i in range(20)]
        assert 1 < len(hp.conns) <= 4 and hp.connects <= 4
        print(
            f"\n50 x echo: {fast:.2f} s on {fast_connects} connection(s); "
            f"20 x sleep 0.5: {slow:.2f} s on {len(hp.conns)} connections"
        )
        assert repr(app.pool) == f"<Pool hosts=1 open={len(hp.conns)} busy=0 idle={len(hp.conns)}>"


async def test_handshakes_are_serialized_under_maxstartups(
    tmp_path: Path, scratch_sshd: Sshd, test_user: TestUser, test_keys: TestKeys
) -> None:
    # sshd drops every unauthenticated connection beyond 3: a pool that opened its 8 connections
    # at once would lose some of these calls.
    scratch_sshd.reconfigure({"MaxStartups": "3:100:3"})
    settings = scratch_settings(
        tmp_path, scratch_sshd, test_user, test_keys, extra="max_connections = 8", **OPEN
    )
    async with serve(settings) as (client, app):
        started = time.monotonic()
        results = await concurrently(80, lambda i: exec_call(client, "s", f"sleep 0.3; echo {i}"))
        elapsed = time.monotonic() - started
        failed = [text(r) for r in results if r.is_error]
        assert not failed, failed
        assert [ok_stdout(r) for r in results] == [f"{i}\n" for i in range(80)]
        hp = host_pool(app, "s")
        assert 1 < hp.connects <= 8 and hp.attempts == hp.connects
        print(
            f"\n80 x sleep 0.3 under MaxStartups 3:100:3: {elapsed:.2f} s, {hp.connects} connects"
        )
    log = scratch_sshd.log_text()
    assert "MaxStartups" not in log, log
    assert accepted(scratch_sshd) == hp.connects


async def test_the_startup_gate_is_per_first_sshd_and_its_wait_is_bounded() -> None:
    # Aliases behind one jump host share that jump host's gate, whatever their targets.
    def spec(key: str, host: str, hops: tuple[ConnectSpec, ...] = ()) -> ConnectSpec:
        return ConnectSpec(key, host, 22, hops=hops, max_channels=10, max_connections=1)

    bastion = spec("bastion", "10.0.0.1")
    assert StartupGates.endpoint(spec("a", "10.0.1.1", (bastion,))) == ("10.0.0.1", 22)
    assert StartupGates.endpoint(spec("b", "10.0.1.2")) == ("10.0.1.2", 22)
    gates = StartupGates()
    async with contextlib.AsyncExitStack() as held:
        for i in range(startups.PER_SSHD):  # every slot of the bastion's gate taken
            await held.enter_async_context(gates.slot(spec(f"h{i}", "x", (bastion,)), 1.0))
        async with gates.slot(spec("other", "10.0.9.9"), 1.0):  # another sshd: its own gate
            pass
        late = rf"behind {startups.PER_SSHD} other handshakes to 10\.0\.0\.1:22"
        with pytest.raises(ConnectFailed, match=late):
            async with gates.slot(spec("late", "y", (bastion,)), 0.05):
                pass
    async with gates.slot(spec("late", "y", (bastion,)), 0.05):  # released: free again
        pass


async def test_channel_slots_are_reused_as_fast_as_sshd_frees_them(
    tmp_path: Path, scratch_sshd: Sshd, test_user: TestUser, test_keys: TestKeys
) -> None:
    # sshd frees a session only after it has processed our channel close, so a slot reused at
    # once can meet "open failed" (MaxSessions 10): the pool retries it after a short pause.
    settings = scratch_settings(
        tmp_path, scratch_sshd, test_user, test_keys, extra="max_connections = 1", **OPEN
    )
    async with serve(settings) as (client, app):
        for _ in range(3):  # the race is a matter of timing: give it several chances
            started = time.monotonic()
            results = await concurrently(200, lambda i: exec_call(client, "s", f"echo {i}"))
            elapsed = time.monotonic() - started
            failed = [text(r) for r in results if r.is_error]
            assert not failed, failed[:3]
            assert [ok_stdout(r) for r in results] == [f"{i}\n" for i in range(200)]
            print(f"\n200 x echo on one connection (10 slots): {elapsed:.2f} s")
        assert host_pool(app, "s").connects == 1


# -- 7: leaked channels --------------------------------------------------------------------


async def test_timed_out_commands_return_their_channel_slots(
    settings_for: Callable[..., Settings], test_user: TestUser
) -> None:
    marker = "sleep 30.4071"
    async with serve(settings_for(**OPEN)) as (client, app):
        # One connection, ten slots (MaxSessions 10): twelve sequential timeouts would exhaust
        # it if the stop ladder leaked a session each time.
        for _ in range(12):
            r = await exec_call(client, "target", marker, timeout=0.3)
            assert r.structured_content and r.structured_content["timed_out"], text(r)
        hp = host_pool(app, "target")
        assert hp.connects == 1
        # Twelve at once (two connections), then more work on the same host.
        results = await concurrently(12, lambda i: exec_call(client, "target", marker, timeout=0.3))
        assert all(r.structured_content and r.structured_content["timed_out"] for r in results)
        results = await concurrently(20, lambda i: exec_call(client, "target", f"echo {i}"))
        assert [ok_stdout(r) for r in results] == [f"{i}\n" for i in range(20)]
        assert hp.connects <= 4
        assert await gone(test_user.name, marker), remote_pids(test_user.name, marker)
        assert repr(app.pool).endswith("busy=0 idle=" + str(len(hp.conns)) + ">")


# -- 8: output memory ------------------------------------------------------------------------


async def test_huge_output_stays_within_the_cap(settings_for: Callable[..., Settings]) -> None:
    settings = settings_for(**OPEN)
    cap = settings.ssh_stdout_cap_bytes
    async with serve(settings) as (client, app):
        started = time.monotonic()
        r = await exec_call(client, "target", "yes | head -c 50000000")
        elapsed = time.monotonic() - started
        sc = r.structured_content
        assert sc is not None and not r.is_error, text(r)
        assert sc["exit_code"] == 0 and sc["stdout_truncated"] is True
        marker = f"\n[... {50_000_000 - cap} bytes omitted ...]\n"
        assert marker in sc["stdout"]
        assert len(sc["stdout"]) == cap + len(marker)
        print(f"\n50 MB of output capped to {cap} bytes in {elapsed:.2f} s")
        assert_audit(app, {"tool": "ssh_exec_run", "outcome": "ok", "exit_code": 0})


# -- 9: shutdown -------------------------------------------------------------------------------


async def test_shutdown_closes_every_connection(
    tmp_path: Path, scratch_sshd: Sshd, test_user: TestUser, test_keys: TestKeys
) -> None:
    settings = scratch_settings(tmp_path, scratch_sshd, test_user, test_keys, **OPEN)
    async with serve(settings) as (client, app):
        results = await concurrently(25, lambda i: exec_call(client, "s", "sleep 0.3"))
        assert all(not r.is_error for r in results)
        opened = len(host_pool(app, "s").conns)
        assert opened > 1 and established_to(scratch_sshd.port) == opened
        assert descendant_pids(scratch_sshd.pid)
    assert repr(app.pool) == "<Pool hosts=0 open=0 busy=0 idle=0>"
    assert established_to(scratch_sshd.port) == 0

    async def no_children() -> bool:
        return not await anyio.to_thread.run_sync(descendant_pids, scratch_sshd.pid)

    assert await eventually(no_children, 5.0), descendant_pids(scratch_sshd.pid)
