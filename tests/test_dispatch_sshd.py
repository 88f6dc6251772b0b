"""What dispatch costs a real host: pool reservations per call, sudo password reads per call."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import pytest
from harness import Target, hosts_toml, poll
from sshd import TestUser

from ssh_mcp.config.settings import Settings
from ssh_mcp.core.app import build_app
from ssh_mcp.core.dispatch import dispatch
from ssh_mcp.ssh.pool import Lease
from ssh_mcp.ssh.pooled import PooledConnection

pytestmark = pytest.mark.anyio


async def test_a_stat_reserves_one_slot_for_the_whole_call(
    settings_for: Callable[..., Settings], work_dir: Path
) -> None:
    """Dispatch resolves the path, the allowlist roots and the zones in one operation; the
    handler's SFTP stat and its stat(1) for the owner's names follow one after another on
    the same leased slot."""
    (work_dir / "f.txt").write_text("hello\n")
    app = build_app(settings_for())
    try:
        outcome = await dispatch(app, "ssh_sftp_stat", {"host": "target", "path": str(work_dir)})
        assert outcome.ok, outcome.text
        hp = app.pool.get("target")
        assert hp is not None
        before = hp.reservations  # the connection is open now; count one call on it
        outcome = await dispatch(
            app, "ssh_sftp_stat", {"host": "target", "path": str(work_dir / "f.txt")}
        )
        assert outcome.ok and outcome.structured, outcome.text
        assert (outcome.structured["size"], outcome.structured["owner"]) == (6, "root")
        assert hp.reservations - before == 1
        assert [s.busy_channels for s in app.pool.sessions()] == [0]  # the lease let go
    finally:
        await app.aclose()


async def test_the_sudo_password_command_runs_once_per_call(
    tmp_path: Path,
    target: Target,
    test_user: TestUser,
    settings_for: Callable[..., Settings],
    work_dir: Path,
) -> None:
    """Root resolves the path and the zones, then the handler reads as root: one read."""
    secret, counter = tmp_path / "sudo.pw", tmp_path / "reads"
    secret.write_text(test_user.password + "\n")
    secret.chmod(0o600)
    argv = ["sh", "-c", f"echo read >> {counter}; cat {secret}"]
    extra = f"sudo_password_cmd = {argv!r}\n".replace("'", '"')
    extra += f'restricted_paths = ["{work_dir}/vault"]\n'
    host = dataclasses.replace(target, extra=extra)
    opened: dict[str, Any] = {"allow_dangerous_tools": True, "allow_sudo": True}
    (work_dir / "f.txt").write_text("hello\n")
    app = build_app(settings_for(hosts=hosts_toml(host), **opened))
    try:
        args = {"host": "target", "path": str(work_dir / "f.txt")}
        outcome = await dispatch(app, "ssh_sudo_read", args)
        assert outcome.ok and outcome.structured, outcome.text
        assert outcome.structured["content"] == "hello\n"
        assert counter.read_text().splitlines() == ["read"]
    finally:
        await app.aclose()


async def test_overlapping_operations_end_the_lease_instead_of_waiting_on_it(
    target: Target, settings_for: Callable[..., Settings]
) -> None:
    """One connection with one free slot (SFTP holds the other): an operation that finds
    the leased slot busy gets it as soon as the borrower returns, not never."""
    host = dataclasses.replace(target, extra="max_channels = 2\nmax_connections = 1\n")
    app = build_app(settings_for(hosts=hosts_toml(host)))
    spec = app.connect_spec(app.inventory.hosts["target"])
    lease = Lease()
    inside, done = anyio.Event(), anyio.Event()
    order: list[str] = []

    async def first(pc: PooledConnection) -> None:
        await pc.sftp()  # SFTP takes its slot for good: one is left, the lease's
        inside.set()
        await done.wait()
        order.append("first")

    async def second(pc: PooledConnection) -> None:
        order.append("second")

    async def run_second() -> None:
        await app.pool.run(spec, second, replay=True, lease=lease)

    try:
        with anyio.fail_after(10):
            async with anyio.create_task_group() as tg:
                tg.start_soon(lambda: app.pool.run(spec, first, replay=True, lease=lease))
                await inside.wait()
                tg.start_soon(run_second)
                await poll(lambda: lease.closed, "the second operation found the lease busy")
                done.set()
        assert order == ["first", "second"]
        lease.close()
        assert [s.busy_channels for s in app.pool.sessions()] == [0]
    finally:
        await app.aclose()


async def test_the_lease_lets_go_of_one_host_before_reserving_another(
    target: Target, settings_for: Callable[..., Settings]
) -> None:
    """Holding an idle slot on one host while waiting for another could deadlock two calls
    going opposite ways between two full hosts: the lease keeps one slot, at most."""
    other = dataclasses.replace(target, alias="other")
    app = build_app(settings_for(hosts=hosts_toml(target, other)))
    specs = [app.connect_spec(app.inventory.hosts[a]) for a in ("target", "other")]
    lease = Lease()
    busy: list[int] = []

    async def note(pc: PooledConnection) -> None:
        busy.extend(c.busy for hp in map(app.pool.get, ("target", "other")) if hp
                    for c in hp.conns)  # fmt: skip

    try:
        await app.pool.run(specs[0], note, replay=True, lease=lease)
        await app.pool.run(specs[0], note, replay=True, lease=lease)  # borrowed
        await app.pool.run(specs[1], note, replay=True, lease=lease)
        assert busy == [1, 1, 0, 1]  # on "other", the slot on "target" was already free
        target_pool = app.pool.get("target")
        assert target_pool is not None and target_pool.reservations == 1
        lease.close()
        assert [s.busy_channels for s in app.pool.sessions()] == [0, 0]
    finally:
        await app.aclose()
