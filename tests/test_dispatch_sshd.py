"""What dispatch costs a real host: pool reservations per call, sudo password reads per call."""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest
from harness import Target, hosts_toml
from sshd import TestUser

from ssh_mcp.config.settings import Settings
from ssh_mcp.core.app import build_app
from ssh_mcp.core.dispatch import dispatch
from ssh_mcp.ssh.connect import ConnectSpec
from ssh_mcp.ssh.pool import Pool
from ssh_mcp.ssh.pooled import PooledConnection

pytestmark = pytest.mark.anyio
T = TypeVar("T")


class CountingPool(Pool):
    """The pool, counting the operations that reserve a slot."""

    entries = 0

    async def run(
        self, spec: ConnectSpec, op: Callable[[PooledConnection], Awaitable[T]], *, replay: bool
    ) -> T:
        self.entries += 1
        return await super().run(spec, op, replay=replay)


async def test_a_stat_reserves_the_pool_once_for_dispatch(
    settings_for: Callable[..., Settings], work_dir: Path
) -> None:
    (work_dir / "f.txt").write_text("hello\n")
    built = build_app(settings_for())
    pool = CountingPool(built.pool.opts, built.pool.idle_timeout)
    app = dataclasses.replace(built, pool=pool)
    try:
        outcome = await dispatch(app, "ssh_sftp_stat", {"host": "target", "path": str(work_dir)})
        assert outcome.ok, outcome.text
        pool.entries = 0  # the connection is open now; count one call on it
        outcome = await dispatch(
            app, "ssh_sftp_stat", {"host": "target", "path": str(work_dir / "f.txt")}
        )
        assert outcome.ok and outcome.structured, outcome.text
        assert outcome.structured["size"] == 6
        # One for dispatch (the path, the allowlist roots and the zones, resolved together),
        # two for the handler: its SFTP stat, and stat(1) for the owner's and group's names,
        # a command on a channel of its own.
        assert pool.entries == 3
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
