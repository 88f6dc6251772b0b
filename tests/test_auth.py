"""Authentication, ProxyJump chains and connect failures, through the MCP path against real sshd.

Each auth method is configured in hosts.toml and proven by `id -un` on the host; each failure
is one isError line with its error class in the audit log. Secrets never reach a result, the
audit log or the server log.
"""

from __future__ import annotations

import asyncio
import getpass
import json
import logging
import os
import re
import secrets
import socket
import subprocess
import time
from collections.abc import Callable, Mapping
from pathlib import Path

import pytest
from harness import (
    OPEN,
    Target,
    assert_audit,
    audit_lines,
    error_line,
    hosts_toml,
    make_settings,
    ok_stdout,
    serve,
    text,
)
from mcp import Client
from mcp.types import CallToolResult
from sshd import Agent, JumpHosts, Sshd, TestKeys, TestUser, descendant_pids

from ssh_mcp.config.settings import Settings
from ssh_mcp.core.app import build_app
from ssh_mcp.errors import ConfigError

pytestmark = pytest.mark.anyio


def host_entry(
    alias: str, port: int, user: str, auth: Mapping[str, object], extra: str = ""
) -> str:
    """One `[hosts.<alias>]` table on 127.0.0.1 with its `auth` sub-table."""
    auth_lines = "".join(f"{k} = {json.dumps(v)}\n" for k, v in auth.items())
    return (
        f'[hosts.{alias}]\nhostname = "127.0.0.1"\nport = {port}\nuser = {json.dumps(user)}\n'
        f"{extra}\n[hosts.{alias}.auth]\n{auth_lines}\n"
    )


def secret_file(tmp_path: Path, name: str, value: str) -> Path:
    path = tmp_path / name
    path.write_text(value + "\n")
    path.chmod(0o600)
    return path


def fingerprint(pub: str, tmp_path: Path) -> str:
    """`ssh-keygen -lf` of a public key line: the `SHA256:...` that `ssh-add -l` prints."""
    path = tmp_path / "fp.pub"
    path.write_text(pub + "\n")
    out = subprocess.run(
        ["ssh-keygen", "-lf", str(path)], capture_output=True, text=True, check=True
    ).stdout
    return out.split()[1]


async def whoami(client: Client, host: str = "target") -> CallToolResult:
    return await client.call_tool("ssh_exec_run", {"host": host, "command": "id -un"})


def assert_user(r: CallToolResult, user: str) -> None:
    assert ok_stdout(r) == f"{user}\n"


# -- agent ---------------------------------------------------------------------------


async def test_agent_auth(
    settings_for: Callable[..., Settings], sshd: Sshd, test_user: TestUser, ssh_agent: Agent
) -> None:
    auth = {"method": "agent", "identity_agent": ssh_agent.sock}
    hosts = host_entry("target", sshd.port, test_user.name, auth)
    async with serve(settings_for(hosts=hosts, **OPEN)) as (client, app):
        ping = await client.call_tool("ssh_host_ping", {"host": "target"})
        assert not ping.is_error and ping.structured_content is not None, text(ping)
        assert ping.structured_content["auth_ok"] is True
        assert_user(await whoami(client), test_user.name)
        assert_audit(app, {"tool": "ssh_exec_run", "outcome": "ok", "error": None})


async def test_agent_auth_with_fingerprint(
    settings_for: Callable[..., Settings],
    sshd: Sshd,
    test_user: TestUser,
    test_keys: TestKeys,
    ssh_agent: Agent,
    tmp_path: Path,
) -> None:
    fp = fingerprint(test_keys.plain_pub, tmp_path)
    auth = {"method": "agent", "identity_agent": ssh_agent.sock, "identity_fingerprint": fp}
    hosts = host_entry("target", sshd.port, test_user.name, auth)
    async with serve(settings_for(hosts=hosts, **OPEN)) as (client, _):
        assert_user(await whoami(client), test_user.name)


async def test_agent_without_the_fingerprinted_key_is_auth_failed(
    settings_for: Callable[..., Settings],
    sshd: Sshd,
    test_user: TestUser,
    test_keys: TestKeys,
    ssh_agent: Agent,
    tmp_path: Path,
) -> None:
    fp = fingerprint(test_keys.encrypted_pub, tmp_path)  # authorized, but not in the agent
    auth = {"method": "agent", "identity_agent": ssh_agent.sock, "identity_fingerprint": fp}
    hosts = host_entry("target", sshd.port, test_user.name, auth)
    async with serve(settings_for(hosts=hosts, **OPEN)) as (client, app):
        r = await whoami(client)
        error_line(r, fp, "`ssh-add -l`", ssh_agent.sock)
        assert_audit(app, {"outcome": "error", "error": "AuthFailed"})


# -- key and password, and the secrets they use ------------------------------------


async def test_encrypted_key_with_passphrase_cmd(
    settings_for: Callable[..., Settings],
    sshd: Sshd,
    test_user: TestUser,
    test_keys: TestKeys,
    tmp_path: Path,
) -> None:
    pw = secret_file(tmp_path, "passphrase", test_keys.passphrase)
    auth = {"method": "key", "key": str(test_keys.encrypted), "passphrase_cmd": ["cat", str(pw)]}
    hosts = host_entry("target", sshd.port, test_user.name, auth)
    async with serve(settings_for(hosts=hosts, **OPEN)) as (client, app):
        assert_user(await whoami(client), test_user.name)
        assert_audit(app, {"outcome": "ok"})


async def test_wrong_passphrase_is_auth_failed(
    settings_for: Callable[..., Settings],
    sshd: Sshd,
    test_user: TestUser,
    test_keys: TestKeys,
    tmp_path: Path,
) -> None:
    pw = secret_file(tmp_path, "passphrase", "not-" + secrets.token_hex(8))
    auth = {"method": "key", "key": str(test_keys.encrypted), "passphrase_cmd": ["cat", str(pw)]}
    hosts = host_entry("target", sshd.port, test_user.name, auth)
    async with serve(settings_for(hosts=hosts, **OPEN)) as (client, app):
        r = await whoami(client)
        error_line(r, "Incorrect passphrase", str(test_keys.encrypted), "passphrase_cmd")
        assert_audit(app, {"outcome": "error", "error": "AuthFailed"})


async def test_password_auth_with_password_cmd(
    settings_for: Callable[..., Settings], sshd: Sshd, test_user: TestUser, tmp_path: Path
) -> None:
    pw = secret_file(tmp_path, "password", test_user.password)
    auth = {"method": "password", "password_cmd": ["cat", str(pw)]}
    hosts = host_entry("target", sshd.port, test_user.name, auth)
    async with serve(settings_for(hosts=hosts, allow_password_auth=True, **OPEN)) as (client, _):
        assert_user(await whoami(client), test_user.name)
    log = sshd.log_text()
    assert f"Accepted password for {test_user.name}" in log


async def test_password_auth_needs_allow_password_auth(
    settings_for: Callable[..., Settings], sshd: Sshd, test_user: TestUser
) -> None:
    auth = {"method": "password", "password_cmd": ["cat", "/nonexistent"]}
    settings = settings_for(hosts=host_entry("target", sshd.port, test_user.name, auth), **OPEN)
    with pytest.raises(ConfigError, match=r"hosts\.target\.auth\.method.*ALLOW_PASSWORD_AUTH"):
        build_app(settings)
    with pytest.raises(ConfigError, match="ALLOW_PASSWORD_AUTH"):
        async with serve(settings):
            pass


@pytest.mark.parametrize(
    ("argv", "expected"),
    [(["false"], "exited 1"), (["/nonexistent/cmd"], "could not start"), (["true"], "nothing")],
)
async def test_broken_password_cmd_is_a_config_error(
    settings_for: Callable[..., Settings],
    sshd: Sshd,
    test_user: TestUser,
    argv: list[str],
    expected: str,
) -> None:
    hosts = host_entry(
        "target", sshd.port, test_user.name, {"method": "password", "password_cmd": argv}
    )
    async with serve(settings_for(hosts=hosts, allow_password_auth=True, **OPEN)) as (client, app):
        error_line(await whoami(client), f"password_cmd {argv[0]!r}", expected, "hosts.toml")
        assert_audit(app, {"outcome": "error", "error": "ConfigError"})


async def test_secrets_never_reach_results_audit_or_logs(
    settings_for: Callable[..., Settings],
    sshd: Sshd,
    test_user: TestUser,
    test_keys: TestKeys,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    for name in ("ssh_mcp", "asyncssh", "mcp"):
        caplog.set_level(logging.DEBUG, logger=name)
    wrong = "wrong-" + secrets.token_hex(12)
    files = {
        n: secret_file(tmp_path, n, v)
        for n, v in [("pw", test_user.password), ("pp", test_keys.passphrase), ("bad", wrong)]
    }
    auths: dict[str, dict[str, object]] = {
        "pw_ok": {"method": "password", "password_cmd": ["cat", str(files["pw"])]},
        "pw_bad": {"method": "password", "password_cmd": ["cat", str(files["bad"])]},
        "key_ok": {
            "method": "key",
            "key": str(test_keys.encrypted),
            "passphrase_cmd": ["cat", str(files["pp"])],
        },
        "key_bad": {
            "method": "key",
            "key": str(test_keys.encrypted),
            "passphrase_cmd": ["cat", str(files["bad"])],
        },
    }
    hosts = "".join(host_entry(a, sshd.port, test_user.name, auth) for a, auth in auths.items())
    seen: list[str] = []
    async with serve(settings_for(hosts=hosts, allow_password_auth=True, **OPEN)) as (client, app):
        for alias in auths:
            ok = alias.endswith("ok")
            r = await whoami(client, alias)
            assert r.is_error != ok, text(r)
            ping = await client.call_tool("ssh_host_ping", {"host": alias})
            assert ping.structured_content and ping.structured_content["auth_ok"] is ok
            seen += [
                text(r),
                text(ping),
                json.dumps(r.structured_content),
                json.dumps(ping.structured_content),
            ]
        errors = [line.get("error") for line in audit_lines(app) if line["tool"] == "ssh_exec_run"]
        assert errors == [None, "AuthFailed", None, "AuthFailed"]
        audit_text = app.settings.ssh_audit_log.read_text()
    assert caplog.records, "nothing was logged: the capture is not working"
    for secret in (test_user.password, test_keys.passphrase, wrong):
        assert secret not in audit_text
        assert secret not in caplog.text
        assert not [s for s in seen if secret in s]


async def test_wrong_user_is_auth_failed(
    settings_for: Callable[..., Settings], target: Target
) -> None:
    target.user = "mcp-no-such-user"
    async with serve(settings_for(hosts=hosts_toml(target), **OPEN)) as (client, app):
        r = await whoami(client)
        error_line(r, "refused key authentication as mcp-no-such-user", "hosts.toml")
        assert_audit(app, {"tool": "ssh_exec_run", "outcome": "error", "error": "AuthFailed"})


async def test_no_user_names_the_local_user_tried(
    settings_for: Callable[..., Settings], target: Target
) -> None:
    hosts = hosts_toml(target).replace(f"user = {json.dumps(target.user)}\n", "")
    assert "user =" not in hosts
    async with serve(settings_for(hosts=hosts, **OPEN)) as (client, _):
        r = await whoami(client)
        error_line(
            r,
            f"refused key authentication as {getpass.getuser()} (the local user: hosts.toml "
            "sets no user for this host)",
        )


# -- ProxyJump -----------------------------------------------------------------------


def jump_settings(j: JumpHosts, user: str, key: Path, tmp_path: Path) -> Settings:
    auth: dict[str, object] = {"method": "key", "key": str(key)}
    hosts = (
        host_entry("b1", j.b1.port, user, auth)
        + host_entry("b2", j.b2.port, user, auth)
        + host_entry("target", j.target.port, user, auth, 'proxy_jump = ["b1", "b2"]')
    )
    return make_settings(tmp_path, hosts, j.known_hosts, **OPEN)


def socket_owners(local_port: int, remote_port: int) -> set[int]:
    """PIDs holding the established TCP socket 127.0.0.1:local_port -> 127.0.0.1:remote_port."""
    out = subprocess.run(
        [
            "ss",
            "-tnpH",
            "state",
            "established",
            f"( sport = :{local_port} and dport = :{remote_port} )",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return {int(p) for p in re.findall(r"pid=(\d+)", out)}


def client_port(server: Sshd, since: int) -> int:
    """The source port of the one connection `server` logged since offset `since`."""
    pattern = rf"Connection from 127\.0\.0\.1 port (\d+) on 127\.0\.0\.1 port {server.port} "
    ports = re.findall(pattern, server.log_text(since))
    assert len(ports) == 1, server.log_text(since)
    return int(ports[0])


async def test_proxy_jump_chains_b1_then_b2(
    jump_sshds: JumpHosts, test_user: TestUser, test_keys: TestKeys, tmp_path: Path
) -> None:
    j = jump_sshds
    since = {s.name: s.log_path.stat().st_size for s in (j.b1, j.b2, j.target)}
    async with serve(jump_settings(j, test_user.name, test_keys.plain, tmp_path)) as (client, app):
        r = await client.call_tool(
            "ssh_exec_run", {"host": "target", "command": "echo $SSH_CONNECTION"}
        )
        assert not r.is_error and r.structured_content is not None, text(r)
        src, src_port, dst, dst_port = r.structured_content["stdout"].split()
        assert (src, dst, int(dst_port)) == ("127.0.0.1", "127.0.0.1", j.target.port)
        assert client_port(j.target, since["target"]) == int(src_port)
        # While the chain is open: who holds each hop's client socket?
        assert socket_owners(int(src_port), j.target.port) <= set(descendant_pids(j.b2.pid))
        b2_from = client_port(j.b2, since["b2"])
        assert socket_owners(b2_from, j.b2.port) <= set(descendant_pids(j.b1.pid))
        assert socket_owners(b2_from, j.b2.port)
        assert socket_owners(client_port(j.b1, since["b1"]), j.b1.port) == {os.getpid()}
        assert_audit(app, {"host": "target", "outcome": "ok"})


@pytest.mark.parametrize("blocked", ["b1", "b2"])
async def test_proxy_jump_names_the_hop_that_refuses_to_forward(
    jump_sshds: JumpHosts, test_user: TestUser, test_keys: TestKeys, tmp_path: Path, blocked: str
) -> None:
    j = jump_sshds
    hop: Sshd = getattr(j, blocked)
    settings = jump_settings(j, test_user.name, test_keys.plain, tmp_path)
    with hop.reconfigured({"AllowTcpForwarding": "no"}):
        async with serve(settings) as (client, app):
            r = await whoami(client)
            error_line(
                r,
                f"jump host {blocked} (127.0.0.1:{hop.port}) could not forward",
                "AllowTcpForwarding",
            )
            assert_audit(app, {"outcome": "error", "error": "ConnectFailed"})
            assert app.pool.sessions() == []
    async with serve(settings) as (client, _):  # restored: the chain works again
        assert_user(await whoami(client), test_user.name)


# -- connect failures ------------------------------------------------------------------


async def test_connect_timeout_on_a_silent_listener(
    settings_for: Callable[..., Settings], target: Target
) -> None:
    peers: list[asyncio.StreamWriter] = []

    async def silent(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peers.append(writer)  # accept, never send a banner

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    try:
        target.port = server.sockets[0].getsockname()[1]
        settings = settings_for(hosts=hosts_toml(target), ssh_connect_timeout=1, **OPEN)
        async with serve(settings) as (client, app):
            started = time.monotonic()
            r = await whoami(client)
            elapsed = time.monotonic() - started
            error_line(r, "timed out after 1s", f"127.0.0.1:{target.port}", "SSH_CONNECT_TIMEOUT")
            assert_audit(app, {"outcome": "error", "error": "ConnectFailed"})
            assert 0.9 < elapsed < 5, elapsed  # the dispatch deadline is ~27 s
            assert peers, "the listener never saw the connection"
    finally:
        for w in peers:
            w.close()
        server.close()
        await server.wait_closed()


async def test_connection_refused_gives_a_remedy(
    settings_for: Callable[..., Settings], target: Target
) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        target.port = s.getsockname()[1]
    async with serve(settings_for(hosts=hosts_toml(target), **OPEN)) as (client, app):
        r = await whoami(client)
        error_line(r, "ConnectionRefusedError", "check hostname and port")
        assert_audit(app, {"outcome": "error", "error": "ConnectFailed"})
