"""The sshd fixtures work: asyncssh (used directly) against the real OpenSSH sshd."""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import asyncssh
import pytest
from sshd import (
    Agent,
    JumpHosts,
    Sshd,
    TestKeys,
    TestUser,
    descendant_pids,
    pid_alive,
    remote_pids,
    wait_gone,
)

pytestmark = pytest.mark.anyio


def opts(server: Sshd, known_hosts: Path, user: TestUser, **kw: Any) -> dict[str, Any]:
    """asyncssh.connect() kwargs; config=None so no ~/.ssh/config can leak in."""
    base = {
        "host": server.host,
        "port": server.port,
        "username": user.name,
        "config": None,
        "known_hosts": str(known_hosts),
        "connect_timeout": 10,
    }
    return base | kw


def key_opts(
    server: Sshd, known_hosts: Path, user: TestUser, keys: TestKeys, **kw: Any
) -> dict[str, Any]:
    return opts(server, known_hosts, user, client_keys=[str(keys.plain)], agent_path=None, **kw)


def sleep_cmd() -> str:
    """A command line unique to this test, to find it with pgrep -f."""
    return f"sleep 97.{secrets.randbelow(10**6):06d}"


async def until(cond: Callable[[], bool], timeout: float = 5.0) -> None:
    with anyio.fail_after(timeout):
        while True:
            if cond():
                return
            await anyio.sleep(0.01)


async def test_key_login(
    sshd: Sshd, known_hosts_file: Path, test_user: TestUser, test_keys: TestKeys
) -> None:
    async with asyncssh.connect(**key_opts(sshd, known_hosts_file, test_user, test_keys)) as conn:
        result = await conn.run("id -un", check=True)
    assert result.stdout == f"{test_user.name}\n"


async def test_encrypted_key_with_passphrase(
    sshd: Sshd, known_hosts_file: Path, test_user: TestUser, test_keys: TestKeys
) -> None:
    kw = opts(
        sshd,
        known_hosts_file,
        test_user,
        client_keys=[str(test_keys.encrypted)],
        passphrase=test_keys.passphrase,
        agent_path=None,
    )
    async with asyncssh.connect(**kw) as conn:
        result = await conn.run("id -un", check=True)
    assert result.stdout == f"{test_user.name}\n"


async def test_password_login(sshd: Sshd, known_hosts_file: Path, test_user: TestUser) -> None:
    kw = opts(
        sshd,
        known_hosts_file,
        test_user,
        client_keys=None,
        password=test_user.password,
        agent_path=None,
    )
    async with asyncssh.connect(**kw) as conn:
        result = await conn.run("id -un", check=True)
    assert result.stdout == f"{test_user.name}\n"


async def test_agent_login(
    sshd: Sshd, known_hosts_file: Path, test_user: TestUser, ssh_agent: Agent, test_keys: TestKeys
) -> None:
    agent = await asyncssh.connect_agent(ssh_agent.sock)
    try:
        held = [k.public_data for k in await agent.get_keys()]
    finally:
        agent.close()
        await agent.wait_closed()
    assert held == [asyncssh.import_public_key(test_keys.plain_pub).public_data]
    async with asyncssh.connect(
        **opts(sshd, known_hosts_file, test_user, agent_path=ssh_agent.sock)
    ) as conn:
        result = await conn.run("id -un", check=True)
    assert result.stdout == f"{test_user.name}\n"


async def test_unknown_host_key_is_rejected(
    sshd: Sshd, test_user: TestUser, test_keys: TestKeys, tmp_path: Path
) -> None:
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    with pytest.raises(asyncssh.HostKeyNotVerifiable):
        async with asyncssh.connect(**key_opts(sshd, empty, test_user, test_keys)):
            pass


async def test_known_hosts_entry_and_fingerprint(sshd: Sshd) -> None:
    key = await asyncssh.get_server_host_key(sshd.host, sshd.port)
    assert key is not None
    assert key.get_fingerprint() == sshd.fingerprint
    assert sshd.known_hosts_entry == f"[{sshd.host}]:{sshd.port} {sshd.host_key_line}"
    assert sshd.host_key_line.startswith("ssh-ed25519 AAAA")


async def test_sudo_with_password(
    sshd: Sshd, known_hosts_file: Path, test_user: TestUser, test_keys: TestKeys
) -> None:
    async with asyncssh.connect(**key_opts(sshd, known_hosts_file, test_user, test_keys)) as conn:
        denied = await conn.run("sudo -n true")
        result = await conn.run("sudo -S -p '' id -u", input=test_user.password + "\n")
    assert denied.exit_status == 1  # a password is required
    assert (result.exit_status, result.stdout) == (0, "0\n"), result.stderr


async def test_kill_connections_drops_open_connection(
    scratch_sshd: Sshd, test_user: TestUser, test_keys: TestKeys
) -> None:
    kw = key_opts(scratch_sshd, scratch_sshd.known_hosts_path, test_user, test_keys)
    cmd = sleep_cmd()
    async with asyncssh.connect(**kw) as conn:
        assert (await conn.run("true")).exit_status == 0
        proc = await conn.create_process(cmd)
        await until(lambda: bool(remote_pids(test_user.name, cmd)))
        assert scratch_sshd.kill_connections()
        with anyio.fail_after(5), pytest.raises(asyncssh.Error):
            await conn.run("true")
        proc.close()
    assert await anyio.to_thread.run_sync(wait_gone, test_user.name, cmd)
    assert pid_alive(scratch_sshd.pid)  # the listener survives and still accepts
    async with asyncssh.connect(**kw) as conn:
        assert (await conn.run("true")).exit_status == 0


async def test_stop_leaves_no_process(
    scratch_sshd: Sshd, test_user: TestUser, test_keys: TestKeys
) -> None:
    kw = key_opts(scratch_sshd, scratch_sshd.known_hosts_path, test_user, test_keys)
    cmd = sleep_cmd()
    async with asyncssh.connect(**kw) as conn:
        proc = await conn.create_process(cmd)
        await until(lambda: bool(remote_pids(test_user.name, cmd)))
        tree = [scratch_sshd.pid, *descendant_pids(scratch_sshd.pid)]
        assert len(tree) >= 4  # listener, [priv], user@notty, the command
        scratch_sshd.stop()
        proc.close()
    assert not [pid for pid in tree if pid_alive(pid)]
    assert not remote_pids(test_user.name, cmd)
    config = os.fsencode(scratch_sshd.config_path)
    for name in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmdline = Path(f"/proc/{name}/cmdline").read_bytes()
        except OSError:
            continue
        assert config not in cmdline or not pid_alive(int(name)), f"pid {name} survived"
    scratch_sshd.stop()  # idempotent


async def test_reconfigure(scratch_sshd: Sshd, test_user: TestUser) -> None:
    kw = opts(
        scratch_sshd,
        scratch_sshd.known_hosts_path,
        test_user,
        client_keys=None,
        password=test_user.password,
        agent_path=None,
    )
    pid = scratch_sshd.pid
    with scratch_sshd.reconfigured({"PasswordAuthentication": "no"}):
        assert "PasswordAuthentication no" in scratch_sshd.config_path.read_text()
        with pytest.raises(asyncssh.PermissionDenied):
            async with asyncssh.connect(**kw):
                pass
    async with asyncssh.connect(**kw) as conn:
        assert (await conn.run("true")).exit_status == 0
    assert scratch_sshd.pid == pid and pid_alive(pid)


async def test_jump_chain(jump_sshds: JumpHosts, test_user: TestUser, test_keys: TestKeys) -> None:
    j = jump_sshds

    async def run_via_chain() -> str:
        async with asyncssh.connect(**key_opts(j.b1, j.known_hosts, test_user, test_keys)) as c1:
            kw2 = key_opts(j.b2, j.known_hosts, test_user, test_keys, tunnel=c1)
            async with asyncssh.connect(**kw2) as c2:
                kw3 = key_opts(j.target, j.known_hosts, test_user, test_keys, tunnel=c2)
                async with asyncssh.connect(**kw3) as c3:
                    return str((await c3.run("echo $SSH_CONNECTION", check=True)).stdout)

    assert (await run_via_chain()).split()[2:] == [j.target.host, str(j.target.port)]
    with j.b2.reconfigured({"AllowTcpForwarding": "no"}), pytest.raises(asyncssh.ChannelOpenError):
        await run_via_chain()
    assert j.b2.options == {}
    await run_via_chain()  # restored
