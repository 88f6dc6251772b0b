"""Port forwards through MCP against real sshd: local, SOCKS and remote, the allowlist,
the audit of each connection, closing, and an sshd that forwards nothing.

How a test proves the tunnel is in forward_helpers' docstring: the page server on
127.0.0.2 reports the peer port of each request, and the kernel names sshd as the
process holding that peer socket.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import socket
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

import anyio.to_thread
import pytest
from forward_helpers import (
    PageServer,
    accepted,
    fetch_and_trace,
    idle_listener,
    keep_alive_get,
    page_server,
    port_free,
    socks_connect,
    socks_fetch,
)
from harness import (
    OPEN,
    Target,
    assert_audit,
    audit_lines,
    error_line,
    hosts_toml,
    ok,
    poll,
    scratch_settings,
    serve,
)
from sshd import Sshd, TestKeys, TestUser

from ssh_mcp.config.settings import Settings
from ssh_mcp.errors import CapExceeded
from ssh_mcp.state.forwards import ForwardTable

pytestmark = pytest.mark.anyio


@pytest.fixture
def page(test_user: TestUser) -> Iterator[PageServer]:
    with page_server(test_user, secrets.token_hex(8)) as server:
        yield server


def allowing(
    settings_for: Callable[..., Settings], target: Target, *patterns: str, **overrides: Any
) -> Settings:
    extra = f"forward_allowlist = {json.dumps(list(patterns))}"
    return settings_for(hosts=hosts_toml(replace(target, extra=extra)), **{**OPEN, **overrides})


def connections(app: Any) -> list[dict[str, Any]]:
    return [line for line in audit_lines(app) if line.get("event") == "forward_connection"]


def split(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    return host, int(port)


async def test_local_forward_fetches_a_page_only_the_host_reaches(
    settings_for: Callable[..., Settings], target: Target, page: PageServer
) -> None:
    settings = allowing(settings_for, target, f"127.0.0.2:{page.port}")
    async with serve(settings) as (client, app):
        args = {"host": "target", "remote_host": "127.0.0.2", "remote_port": page.port}
        opened = await ok(client, "ssh_forward_local", args)
        fid = opened["forward_id"]
        assert_audit(app, {"tool": "ssh_forward_local", "outcome": "ok", "forward_id": fid})
        host, port = split(opened["address"])
        assert host == "127.0.0.1" and port != page.port
        body, owner = await anyio.to_thread.run_sync(fetch_and_trace, host, port)
        assert body.startswith(page.token)
        assert '"sshd' in owner, owner  # the page server's peer is sshd: the tunnel
        [conn] = connections(app)
        assert conn["forward"] == fid and conn["outcome"] == "ok" and conn["host"] == "target"
        assert conn["dest_hash"] == app.audit.digest(f"127.0.0.2:{page.port}")
        assert f"{page.port}" not in json.dumps(conn)  # the destination only hashed
        listed = await ok(client, "ssh_forward_list", {})
        assert_audit(app, {"tool": "ssh_forward_list", "outcome": "ok"})
        [info] = listed["forwards"]
        assert (info["forward_id"], info["dest"], info["conns"]) == (
            fid,
            f"127.0.0.2:{page.port}",
            1,
        )
        assert info["bytes_out"] > 0 and info["bytes_in"] > len(body)
    # The server stopped: its forwards with it.
    assert port_free(port)


async def test_socks_reaches_allowed_destinations_and_refuses_others(
    settings_for: Callable[..., Settings], target: Target, page: PageServer
) -> None:
    settings = allowing(settings_for, target, f"127.0.0.2:{page.port}")
    async with serve(settings) as (client, app):
        opened = await ok(client, "ssh_forward_socks", {"host": "target"})
        assert_audit(app, {"tool": "ssh_forward_socks", "outcome": "ok", "host": "target"})
        proxy = split(opened["address"])
        body, owner = await anyio.to_thread.run_sync(socks_fetch, proxy, "127.0.0.2", page.port)
        assert body.startswith(page.token) and '"sshd' in owner, (body, owner)
        with idle_listener() as other:
            other_port = other.getsockname()[1]
            code, sock = await anyio.to_thread.run_sync(
                socks_connect, proxy, "127.0.0.2", other_port
            )
            sock.close()
            assert code == 2  # connection not allowed by ruleset
            await poll(lambda: len(connections(app)) == 2, "the refusal's audit line")
            assert not accepted(other)  # no connection was made to it
        ok_line, denied = connections(app)
        assert ok_line["outcome"] == "ok" and ok_line["kind"] == "socks"
        assert denied["outcome"] == "denied" and denied["error"] == "not_allowed"
        assert denied["dest_hash"] == app.audit.digest(f"127.0.0.2:{other_port}")
        [info] = (await ok(client, "ssh_forward_list", {}))["forwards"]
        assert info["dest"] is None and info["conns"] == 1


async def test_remote_forward_reaches_a_listener_here(
    settings_for: Callable[..., Settings], target: Target
) -> None:
    token = secrets.token_hex(8)
    seen: list[str] = []

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seen.append(str(writer.get_extra_info("peername")))
        writer.write(f"{token}\n".encode())
        await writer.drain()
        writer.close()

    listener = await asyncio.start_server(answer, "127.0.0.1", 0)
    here = listener.sockets[0].getsockname()[1]
    try:
        settings = allowing(settings_for, target, f"server:127.0.0.1:{here}")
        async with serve(settings) as (client, app):
            args = {"host": "target", "remote_port": 0, "local_host": "127.0.0.1"}
            opened = await ok(client, "ssh_forward_remote", {**args, "local_port": here})
            _, remote_port = split(opened["address"])
            fid = opened["forward_id"]
            assert_audit(app, {"tool": "ssh_forward_remote", "outcome": "ok", "forward_id": fid})
            assert opened["address"].startswith("127.0.0.1:") and remote_port != here
            # A program on the host connects to its own loopback port and reads our answer.
            read = (
                "import socket; s = socket.create_connection(('127.0.0.1', "
                f"{remote_port})); print(s.makefile().readline().strip())"
            )
            out = await ok(
                client, "ssh_exec_run", {"host": "target", "command": f'python3 -c "{read}"'}
            )
            assert out["stdout"].strip() == token and len(seen) == 1
            [conn] = connections(app)
            assert conn["kind"] == "remote" and conn["outcome"] == "ok"
            assert conn["dest_hash"] == app.audit.digest(f"127.0.0.1:{here}")
            [info] = (await ok(client, "ssh_forward_list", {}))["forwards"]
            assert info["dest"] == f"server:127.0.0.1:{here}" and info["bytes_in"] == 17
            # Not allowlisted on the server's side: a plain entry does not stand for it.
            r = await client.call_tool("ssh_forward_remote", {**args, "local_port": here + 1})
            error_line(r, "forward not allowed", f"server:127.0.0.1:{here + 1}")
    finally:
        listener.close()
        await listener.wait_closed()


async def test_destination_outside_the_allowlist_is_refused(
    settings_for: Callable[..., Settings], target: Target
) -> None:
    with idle_listener() as other:
        port = other.getsockname()[1]
        settings = allowing(settings_for, target, "127.0.0.2:1")
        async with serve(settings) as (client, app):
            args = {"host": "target", "remote_host": "127.0.0.2", "remote_port": port}
            r = await client.call_tool("ssh_forward_local", args)
            error_line(r, "forward not allowed", f"127.0.0.2:{port} is not in the forward_all")
            assert_audit(app, {"tool": "ssh_forward_local", "outcome": "denied"})
            r = await client.call_tool("ssh_forward_local", {**args, "remote_host": "-oProxy"})
            error_line(r, "not a host name")
            assert (await ok(client, "ssh_forward_list", {}))["forwards"] == []
        assert not accepted(other)
    # No forward_allowlist at all: nothing is allowed.
    async with serve(settings_for(**OPEN)) as (client, app):
        r = await client.call_tool("ssh_forward_socks", {"host": "target"})
        error_line(r, "has no forward_allowlist entry", "could reach nothing")
        assert_audit(app, {"tool": "ssh_forward_socks", "outcome": "denied"})
        r = await client.call_tool("ssh_forward_local", args)
        error_line(r, "has no forward_allowlist, so it allows no forward")


async def test_a_closed_forward_frees_its_port(
    settings_for: Callable[..., Settings], target: Target, page: PageServer
) -> None:
    settings = allowing(settings_for, target, f"127.0.0.2:{page.port}")
    async with serve(settings) as (client, app):
        args = {"host": "target", "remote_host": "127.0.0.2", "remote_port": page.port}
        first = await ok(client, "ssh_forward_local", args)
        _, port = split(first["address"])
        body, _ = await anyio.to_thread.run_sync(fetch_and_trace, "127.0.0.1", port)
        # A connection still open through it (HTTP/1.1 keeps it) ends with the forward.
        held = await anyio.to_thread.run_sync(keep_alive_get, "127.0.0.1", port)
        closed = await ok(client, "ssh_forward_close", {"forward_id": first["forward_id"]})
        assert closed["conns"] == 2 and closed["bytes_in"] > 2 * len(body)
        with held:
            assert await anyio.to_thread.run_sync(held.recv, 100) == b""
        assert_audit(app, {"tool": "ssh_forward_close", "outcome": "ok", "host": "target"})
        assert port_free(port)
        again = await ok(client, "ssh_forward_local", {**args, "local_port": port})
        assert again["address"] == f"127.0.0.1:{port}"
        body2, _ = await anyio.to_thread.run_sync(fetch_and_trace, "127.0.0.1", port)
        assert body2.startswith(page.token)
        r = await client.call_tool("ssh_forward_close", {"forward_id": first["forward_id"]})
        error_line(r, "unknown forward id", "ssh_forward_list")
        # The port is taken now: a third forward on it says so.
        r = await client.call_tool("ssh_forward_local", {**args, "local_port": port})
        error_line(r, f"cannot listen on 127.0.0.1:{port}", "pick another local_port")


def _unused_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_forwards_beyond_the_cap_are_refused_until_one_closes(
    settings_for: Callable[..., Settings], target: Target, page: PageServer
) -> None:
    dest = f"127.0.0.2:{page.port}"
    settings = allowing(settings_for, target, dest, "server:127.0.0.1:*", ssh_forward_max_open=2)
    async with serve(settings) as (client, app):
        args = {"host": "target", "remote_host": "127.0.0.2", "remote_port": page.port}
        first = await ok(client, "ssh_forward_local", args)
        await ok(client, "ssh_forward_socks", {"host": "target"})  # every kind counts
        port = _unused_port()
        assert port_free(port)
        r = await client.call_tool("ssh_forward_local", {**args, "local_port": port})
        error_line(r, "2 port forwards are open (SSH_FORWARD_MAX_OPEN)", "ssh_forward_close")
        assert_audit(app, {"tool": "ssh_forward_local", "outcome": "error", "error": "CapExceeded"})
        assert port_free(port)  # no listener was bound
        remote = {"host": "target", "remote_port": 0, "local_host": "127.0.0.1", "local_port": 9}
        r = await client.call_tool("ssh_forward_remote", remote)
        error_line(r, "SSH_FORWARD_MAX_OPEN")
        assert len((await ok(client, "ssh_forward_list", {}))["forwards"]) == 2
        await ok(client, "ssh_forward_close", {"forward_id": first["forward_id"]})
        again = await ok(client, "ssh_forward_local", {**args, "local_port": port})
        assert again["address"] == f"127.0.0.1:{port}"
        body, _ = await anyio.to_thread.run_sync(fetch_and_trace, "127.0.0.1", port)
        assert body.startswith(page.token)


async def test_forwards_being_opened_count_against_the_cap() -> None:
    table = ForwardTable(1)
    async with table.opening():
        with pytest.raises(CapExceeded, match="SSH_FORWARD_MAX_OPEN"):
            async with table.opening():
                pass
    async with table.opening():  # the place is free again once that opening ended
        pass


async def test_sshd_without_tcp_forwarding_gives_a_clear_error(
    tmp_path: Any, scratch_sshd: Sshd, test_user: TestUser, test_keys: TestKeys
) -> None:
    scratch_sshd.reconfigure({"AllowTcpForwarding": "no"})
    settings = scratch_settings(
        tmp_path,
        scratch_sshd,
        test_user,
        test_keys,
        extra='forward_allowlist = ["127.0.0.1:*", "server:127.0.0.1:*"]',
        **OPEN,
    )
    async with serve(settings) as (client, app):
        local = {"host": "s", "remote_host": "127.0.0.1", "remote_port": scratch_sshd.port}
        r = await client.call_tool("ssh_forward_local", local)
        error_line(r, "refuses TCP forwarding (AllowTcpForwarding")
        assert_audit(app, {"tool": "ssh_forward_local", "outcome": "error"})
        r = await client.call_tool("ssh_forward_socks", {"host": "s"})
        error_line(r, "refuses TCP forwarding")
        remote = {"host": "s", "remote_port": 0, "local_host": "127.0.0.1", "local_port": 9}
        r = await client.call_tool("ssh_forward_remote", remote)
        error_line(r, "refuses TCP forwarding")
        assert (await ok(client, "ssh_forward_list", {}))["forwards"] == []


async def test_a_dropped_connection_ends_its_forwards(
    tmp_path: Any, scratch_sshd: Sshd, test_user: TestUser, test_keys: TestKeys
) -> None:
    settings = scratch_settings(
        tmp_path,
        scratch_sshd,
        test_user,
        test_keys,
        extra='forward_allowlist = ["127.0.0.1:*"]',
        ssh_forward_bind="127.0.0.3",
        **OPEN,
    )
    async with serve(settings) as (client, app):
        args = {"host": "s", "remote_host": "127.0.0.1", "remote_port": scratch_sshd.port}
        opened = await ok(client, "ssh_forward_local", args)
        host, port = split(opened["address"])
        assert host == "127.0.0.3"  # SSH_FORWARD_BIND, the operator's choice
        scratch_sshd.kill_connections()
        await poll(lambda: app.forwards.all() == [], "the forward ends with its connection")
        assert port_free(port, "127.0.0.3")
        assert (await ok(client, "ssh_forward_list", {}))["forwards"] == []


async def test_a_bind_address_that_is_no_ip_is_refused(
    settings_for: Callable[..., Settings], target: Target
) -> None:
    settings = allowing(settings_for, target, "127.0.0.2:*", ssh_forward_bind="localhost")
    async with serve(settings) as (client, _):
        r = await client.call_tool("ssh_forward_socks", {"host": "target"})
        error_line(r, "SSH_FORWARD_BIND 'localhost' is not an IP address")


async def test_a_destination_that_refuses_is_audited_and_the_client_closed(
    settings_for: Callable[..., Settings], target: Target
) -> None:
    with idle_listener() as closed:
        port = closed.getsockname()[1]
    settings = allowing(settings_for, target, "127.0.0.2:*")
    async with serve(settings) as (client, app):
        args = {"host": "target", "remote_host": "127.0.0.2", "remote_port": port}
        opened = await ok(client, "ssh_forward_local", args)

        def read_all() -> bytes:
            with socket.create_connection(split(opened["address"]), timeout=10) as sock:
                return sock.recv(100)

        assert await anyio.to_thread.run_sync(read_all) == b""  # closed, nothing sent
        await poll(lambda: len(connections(app)) == 1, "the failure's audit line")
        [line] = connections(app)
        assert (line["outcome"], line["error"]) == ("error", "open_failed")
        [info] = (await ok(client, "ssh_forward_list", {}))["forwards"]
        assert info["conns"] == 0 and info["bytes_in"] == 0
