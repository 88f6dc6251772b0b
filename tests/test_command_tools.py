"""Every tool with a command field runs the ``env --`` rewrite under an allowlist, and
matches deny patterns and hashes the command as given (issue 8, item 1)."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from harness import OPEN, Target, assert_audit, hosts_toml, ok, serve
from mcp import Client
from sshd import TestUser

from ssh_mcp.config.settings import Settings

pytestmark = pytest.mark.anyio
ALLOW = ["printf", "test", "read", "echo", "cat", "id"]
ATTACK = "printf -v x 'a[\\x24(touch {p})]'; test -v \"$x\""
TOOLS = [
    "ssh_exec_run",
    "ssh_exec_run_streaming",
    "ssh_exec_script",
    "ssh_broadcast",
    "ssh_shell_exec",
    "ssh_job_start",
    "ssh_sudo_exec",
    "ssh_sudo_run_script",
]


@pytest.fixture
def settings(sudo_target: Target, settings_for: Callable[..., Settings]) -> Settings:
    return settings_for(
        hosts=hosts_toml(sudo_target),
        allow_dangerous_tools=True,
        allow_sudo=True,
        ssh_command_allowlist=ALLOW,
    )


async def _run(client: Client, tool: str, command: str) -> tuple[int | None, str]:
    """(exit code, stdout) of ``command`` run through ``tool`` on the target."""
    field = "script" if tool.endswith("script") else "command"
    if tool == "ssh_broadcast":
        out = await ok(client, tool, {"hosts": ["target"], "command": command})
        result = out["results"]["target"]
    elif tool == "ssh_shell_exec":
        sid = (await ok(client, "ssh_shell_open", {"host": "target"}))["session_id"]
        result = await ok(client, tool, {"session_id": sid, "command": command})
        await ok(client, "ssh_shell_close", {"session_id": sid})
    elif tool == "ssh_job_start":
        job = (await ok(client, tool, {"host": "target", "command": command}))["job_id"]
        for _ in range(50):
            result = await ok(client, "ssh_job_status", {"job_id": job, "wait": 5})
            if result["state"] != "running":
                break
    else:
        result = await ok(client, tool, {"host": "target", field: command})
    return result["exit_code"], result.get("stdout", "")


@pytest.mark.parametrize("tool", TOOLS)
async def test_every_command_tool_runs_the_rewrite(
    tool: str, settings: Settings, drop: Path, test_user: TestUser
) -> None:
    base = test_user.home / ".cache" / "ssh-mcp" / "jobs"
    jobs_before = set(base.iterdir()) if base.is_dir() else set()
    try:
        async with serve(settings) as (client, app):
            # A builtin is never reached: `read` has no program, so the shell says 127.
            exit_code, _ = await _run(client, tool, "read v")
            assert exit_code == 127
            exit_code, _ = await _run(client, tool, ATTACK.format(p=drop / "pwned"))
            assert not (drop / "pwned").exists()
            assert exit_code == 2  # coreutils test: "-v: unary operator expected"
            line = assert_audit(app, {"outcome": "ok"})
            if tool not in ("ssh_shell_exec", "ssh_job_start"):  # they end with close/status
                assert line["command_hash"] == app.audit.digest(ATTACK.format(p=drop / "pwned"))
            exit_code, stdout = await _run(client, tool, "echo hi | cat")
            assert (exit_code, stdout) == (0, "hi\n")
    finally:
        for d in (set(base.iterdir()) if base.is_dir() else set()) - jobs_before:
            shutil.rmtree(d, ignore_errors=True)


async def test_broadcast_runs_the_rewrite_on_every_host_once_one_has_an_allowlist(
    target: Target, settings_for: Callable[..., Settings], drop: Path
) -> None:
    """One command field, many hosts: a host without an allowlist runs the rewrite too;
    without any allowlist among the targets the command runs as sent."""

    def alias(name: str, extra: str) -> Target:
        return Target(name, target.port, target.user, target.key, target.path_allowlist, extra)

    hosts = hosts_toml(alias("strict", f"command_allowlist = {ALLOW!r}".replace("'", '"')),
                       alias("open", "command_allowlist = []"))  # fmt: skip
    settings = settings_for(hosts=hosts, **OPEN)
    attack = ATTACK.format(p=drop / "pwned")
    async with serve(settings) as (client, _):
        both = await ok(client, "ssh_broadcast", {"hosts": ["strict", "open"], "command": attack})
        assert {h: r["exit_code"] for h, r in both["results"].items()} == {"strict": 2, "open": 2}
        assert not (drop / "pwned").exists()
        await ok(client, "ssh_broadcast", {"hosts": ["open"], "command": attack})
        assert (drop / "pwned").exists()  # the control: as sent, bash runs the payload
