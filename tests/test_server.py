"""The MCP surface: both protocol eras, stdio, lazy startup and clean shutdown."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from harness import (
    OPEN,
    StdioServer,
    Target,
    as_env,
    assert_audit,
    hosts_toml,
    serve,
    server_env,
    text,
)
from mcp import Client, StdioServerParameters
from sshd import Sshd, TestUser, descendant_pids, remote_pids, wait_gone

from ssh_mcp.config.settings import Settings

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.anyio
@pytest.mark.parametrize(("mode", "version"), [("auto", "2026-07-28"), ("legacy", "2025-11-25")])
async def test_both_eras(settings_for: Callable[..., Settings], mode: str, version: str) -> None:
    async with serve(settings_for(), mode=mode) as (client, app):  # type: ignore[arg-type]
        assert client.protocol_version == version
        tools = (await client.list_tools()).tools
        assert {t.name for t in tools} >= {"ssh_host_ping", "ssh_sftp_list", "ssh_server_info"}
        for tool in tools:
            assert tool.output_schema and tool.input_schema["type"] == "object"
            assert tool.annotations and tool.annotations.read_only_hint is True
        r = await client.call_tool("ssh_host_info", {"host": "target"})
        assert not r.is_error and r.structured_content and text(r)
        r = await client.call_tool("ssh_host_info", {"host": 5})
        assert r.is_error and text(r).startswith("invalid arguments for ssh_host_info: host:")
        assert "Traceback" not in text(r)
        assert_audit(app, {"outcome": "denied", "error": "InvalidArguments"})


@pytest.mark.anyio
async def test_group_filter(settings_for: Callable[..., Settings]) -> None:
    async with serve(settings_for(ssh_enabled_groups="sftp-read")) as (client, app):
        names = {t.name for t in (await client.list_tools()).tools}
        assert names == {
            "ssh_sftp_list",
            "ssh_sftp_stat",
            "ssh_sftp_download",
            "ssh_read_redacted",
            "ssh_find",
            "ssh_file_hash",
        }
        r = await client.call_tool("ssh_host_ping", {"host": "target"})
        assert r.is_error and "unknown tool" in text(r)
        assert_audit(app, {"outcome": "denied", "error": "ToolNotAvailable"})


@pytest.fixture
def silent_listener() -> Iterator[tuple[int, list[socket.socket]]]:
    """A TCP listener that accepts and never speaks: any connect to it would hang."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)
    srv.settimeout(0.1)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def loop() -> None:
        while not stop.is_set():
            try:
                accepted.append(srv.accept()[0])
            except TimeoutError:
                continue

    t = threading.Thread(target=loop, daemon=True)
    t.start()
    yield srv.getsockname()[1], accepted
    stop.set()
    t.join()
    for s in [srv, *accepted]:
        s.close()


@pytest.mark.anyio
async def test_startup_never_connects(
    settings_for: Callable[..., Settings],
    target: Target,
    silent_listener: tuple[int, list[socket.socket]],
) -> None:
    port, accepted = silent_listener
    dead = Target("dead", port, target.user, target.key, target.path_allowlist)
    async with serve(settings_for(hosts=hosts_toml(target, dead))) as (client, _):
        await client.list_tools()
        await client.call_tool("ssh_host_list", {})
        assert accepted == []


_env = server_env


@pytest.mark.anyio
async def test_stdio_subprocess_sdk_client(settings_for: Callable[..., Settings]) -> None:
    settings = settings_for()
    params = StdioServerParameters(
        command=sys.executable, args=["-m", "ssh_mcp"], env=_env(settings), cwd="/"
    )
    async with Client(params) as client:
        r = await client.call_tool("ssh_host_ping", {"host": "target"})
        assert not r.is_error, text(r)
    lines = settings.ssh_audit_log.read_text().splitlines()
    assert json.loads(lines[-1])["tool"] == "ssh_host_ping"


class RawStdio(StdioServer):
    """A handshake-era client speaking raw JSON-RPC lines to `python -m ssh_mcp`."""

    def __init__(self, env: dict[str, str]) -> None:
        super().__init__(env)
        self.next_id = 0

    def send(self, method: str, params: dict[str, Any] | None = None, notify: bool = False) -> None:
        msg: dict[str, Any] = {"jsonrpc": "2.0", "method": method, "params": params or {}}
        if not notify:
            self.next_id += 1
            msg["id"] = self.next_id
        assert self.proc.stdin
        self.proc.stdin.write(json.dumps(msg).encode() + b"\n")
        self.proc.stdin.flush()

    def recv(self) -> dict[str, Any]:
        assert self.proc.stdout
        while True:
            msg: dict[str, Any] = json.loads(self.proc.stdout.readline())
            if msg.get("id") == self.next_id:
                return msg

    def initialize(self) -> dict[str, Any]:
        self.send(
            "initialize",
            {
                "protocolVersion": "2025-11-25",
                "capabilities": {},
                "clientInfo": {"name": "raw", "version": "0"},
            },
        )
        result = self.recv()
        self.send("notifications/initialized", notify=True)
        return result


def _connections(sshd: Sshd) -> int:
    return len(descendant_pids(sshd.pid))


@pytest.mark.parametrize("how", ["eof", "sigterm"])
def test_clean_exit_closes_pooled_connections(
    settings_for: Callable[..., Settings], sshd: Sshd, how: str
) -> None:
    raw = RawStdio(_env(settings_for()))
    try:
        assert raw.initialize()["result"]["protocolVersion"] == "2025-11-25"
        before = _connections(sshd)
        raw.send("tools/call", {"name": "ssh_host_ping", "arguments": {"host": "target"}})
        assert raw.recv()["result"]["structuredContent"]["auth_ok"] is True
        assert _connections(sshd) > before
        if how == "eof":
            assert raw.proc.stdin
            raw.proc.stdin.close()
        else:
            raw.proc.send_signal(signal.SIGTERM)
        assert raw.proc.wait(timeout=10) == 0
        assert raw.proc.stderr and b"Traceback" not in raw.proc.stderr.read()
        for _ in range(200):
            if _connections(sshd) <= before:
                break
            anyio.run(anyio.sleep, 0.01)
        assert _connections(sshd) <= before
    finally:
        raw.close()


def test_help_lists_subcommands() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "ssh_mcp", "--help"], capture_output=True, text=True, check=True
    ).stdout
    for sub in ("serve", "demo", "hosts", "audit", "docs"):
        assert sub in out


def test_hosts_check_pings_every_host_and_says_what_to_fix(
    settings_for: Callable[..., Settings], target: Target
) -> None:
    dead = Target("dead", 1, target.user, target.key, target.path_allowlist)  # nothing listens
    settings = settings_for(hosts=hosts_toml(target, dead), ssh_connect_timeout=2.0)
    res = subprocess.run(
        [sys.executable, "-m", "ssh_mcp", "hosts", "check"],
        capture_output=True,
        text=True,
        env=_env(settings),
        timeout=60,
        check=False,
    )
    assert res.returncode == 1, res.stderr
    lines = res.stdout.splitlines()
    assert lines[0].startswith("dead    error: cannot connect to dead"), res.stdout
    assert re.match(r"^target\s+ok\s+\d+ ms\s+SHA256:", lines[1]), res.stdout
    assert lines[-1] == "1 of 2 hosts answered"
    audit = settings.ssh_audit_log.read_text()
    assert audit.count('"tool":"ssh_host_ping"') == 2  # checks are audited like any call
    ok = subprocess.run(
        [sys.executable, "-m", "ssh_mcp", "hosts", "check", "target"],
        capture_output=True,
        text=True,
        env=_env(settings),
        timeout=60,
        check=False,
    )
    assert ok.returncode == 0 and ok.stdout.endswith("1 of 1 hosts answered\n"), ok.stdout


def test_bad_hosts_file_fails_at_startup_naming_file_and_key(tmp_path: Path) -> None:
    hosts = tmp_path / "hosts.toml"
    hosts.write_text('[hosts.web]\nhostname = "a"\nprot = 22\n')
    env = {"PATH": os.environ["PATH"], "HOME": "/root", "SSH_HOSTS_FILE": str(hosts)}
    proc = subprocess.run(
        [sys.executable, "-m", "ssh_mcp"], capture_output=True, text=True, env=env, check=False
    )
    assert proc.returncode == 2
    assert f"{hosts}: key hosts.web.prot: unknown key; did you mean `port`?" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("how", ["eof", "sigterm"])
def test_shutdown_stops_running_exec(
    settings_for: Callable[..., Settings], test_user: TestUser, how: str
) -> None:
    marker = f"sleep 308.{len(how)}"
    env = _env(settings_for(**OPEN))
    env |= {"ALLOW_DANGEROUS_TOOLS": "true", "ALLOW_ANY_COMMAND": "true"}
    raw = RawStdio(env)
    try:
        raw.initialize()
        raw.send(
            "tools/call",
            {"name": "ssh_exec_run", "arguments": {"host": "target", "command": marker}},
        )
        assert anyio.run(_appears, test_user.name, marker)
        if how == "eof":
            assert raw.proc.stdin
            raw.proc.stdin.close()
        else:
            raw.proc.send_signal(signal.SIGTERM)
        assert raw.proc.wait(timeout=15) == 0
        assert wait_gone(test_user.name, marker), remote_pids(test_user.name, marker)
    finally:
        raw.close()


def test_shutdown_leaves_jobs_running_for_the_next_server(
    settings_for: Callable[..., Settings], test_user: TestUser
) -> None:
    """Documented restart semantics: exec calls die with the server, jobs are reattached."""
    exec_marker, job_marker = "sleep 308.7", "sleep 308.8"
    settings = settings_for(**OPEN)
    env = _env(settings) | as_env(OPEN)
    raw = RawStdio(env)
    try:
        raw.initialize()
        job = {"host": "target", "command": job_marker}
        raw.send("tools/call", {"name": "ssh_job_start", "arguments": job})
        reply = raw.recv()
        job_id = reply["result"]["structuredContent"]["job_id"]
        command = {"host": "target", "command": exec_marker}
        raw.send("tools/call", {"name": "ssh_exec_run", "arguments": command})
        assert anyio.run(_appears, test_user.name, exec_marker)
        assert raw.proc.stdin
        raw.proc.stdin.close()  # the client goes away
        assert raw.proc.wait(timeout=15) == 0
        assert wait_gone(test_user.name, exec_marker), remote_pids(test_user.name, exec_marker)
        assert remote_pids(test_user.name, f"^{job_marker}$")
    finally:
        raw.close()

    async def reattach() -> None:
        async with serve(settings) as (client, _):
            st = await client.call_tool("ssh_job_status", {"job_id": job_id})
            assert st.structured_content and st.structured_content["state"] == "running"
            killed = await client.call_tool("ssh_job_kill", {"job_id": job_id})
            assert killed.structured_content and killed.structured_content["state"] == "killed"

    anyio.run(reattach)
    assert wait_gone(test_user.name, job_marker)


async def _appears(user: str, pattern: str) -> bool:
    for _ in range(500):
        if remote_pids(user, pattern):
            return True
        await anyio.sleep(0.01)
    return False
