"""Root logins: OpenSSH refuses channel signals there, so the stop ladder kills by PGID.

Without privilege separation (every root session) sshd ignores the ``signal``
request; these tests prove the timeout and the cancel still leave nothing
running, and that the PID line used for it never reaches the caller.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import anyio
import pytest
from harness import OPEN, Target, assert_audit, gone, hosts_toml, serve
from sshd import remote_pids

from ssh_mcp.config.settings import Settings

pytestmark = pytest.mark.anyio


@pytest.fixture
def as_root(root_target: Target, settings_for: Callable[..., Settings]) -> Settings:
    return settings_for(hosts=hosts_toml(root_target), **OPEN)


async def test_root_output_is_clean(as_root: Settings) -> None:
    async with serve(as_root) as (client, _):
        r = await client.call_tool(
            "ssh_exec_run", {"host": "target", "command": "id -un; echo err >&2"}
        )
        sc = r.structured_content
        assert sc is not None and (sc["stdout"], sc["stderr"]) == ("root\n", "err\n")


async def test_root_timeout_kills_the_process_group(as_root: Settings) -> None:
    marker = "sleep 304.75"
    async with serve(as_root) as (client, app):
        r = await client.call_tool(
            "ssh_exec_run",
            {"host": "target", "command": f"{marker} & {marker}; wait", "timeout": 0.5},
        )
        assert r.structured_content and r.structured_content["timed_out"]
        assert r.structured_content["stderr"] == ""
        assert await gone("root", marker), remote_pids("root", marker)
        assert_audit(app, {"tool": "ssh_exec_run", "outcome": "ok"})


async def test_root_cancel_kills_the_process_group(as_root: Settings) -> None:
    marker = "sleep 305.25"
    async with serve(as_root, mode="legacy") as (client, _):
        with anyio.move_on_after(1.0):
            await client.call_tool("ssh_exec_run", {"host": "target", "command": marker})
        assert await gone("root", marker), remote_pids("root", marker)


async def test_root_job_is_stopped_by_its_group(as_root: Settings) -> None:
    """Jobs never rely on channel signals: their ladder is kill -SIG -PGID on the host."""
    marker = "sleep 304.95"
    async with serve(as_root) as (client, app):
        r = await client.call_tool("ssh_job_start", {"host": "target", "command": marker})
        assert not r.is_error and r.structured_content, r.content
        job_id = r.structured_content["job_id"]
        job_dir = Path(app.jobs.all()[0].dir)
        try:
            assert job_dir.is_relative_to("/root")
            for _ in range(500):  # the job's shell starts the command a moment after start
                if remote_pids("root", f"^{marker}$"):
                    break
                await anyio.sleep(0.01)
            assert remote_pids("root", f"^{marker}$")
            killed = await client.call_tool("ssh_job_kill", {"job_id": job_id})
            assert killed.structured_content and killed.structured_content["state"] == "killed"
            assert await gone("root", marker)
            assert_audit(app, {"tool": "ssh_job_kill", "outcome": "ok", "job_id": job_id})
        finally:
            import shutil

            shutil.rmtree(job_dir, ignore_errors=True)


async def test_sudo_that_does_not_ask_never_gets_the_password(
    as_root: Settings, tmp_path: Path, work_dir: Path
) -> None:
    """Root (like a NOPASSWD rule) is not prompted: the password must not become stdin."""
    secret = tmp_path / "pw"
    secret.write_text("NOT-A-COMMAND-pw\n")
    hosts = as_root.ssh_hosts_file.read_text().replace(
        "[hosts.target.auth]", f'sudo_password_cmd = ["cat", "{secret}"]\n\n[hosts.target.auth]'
    )
    as_root.ssh_hosts_file.write_text(hosts)
    settings = as_root.model_copy(update={"allow_sudo": True})
    root_owned = work_dir / "root-owned"
    root_owned.mkdir(mode=0o755)  # root may write only where nobody else can change entries
    target = root_owned / "written-as-root"
    async with serve(settings) as (client, _):
        r = await client.call_tool("ssh_sudo_exec", {"host": "target", "command": "cat; id -u"})
        assert r.structured_content and r.structured_content["stdout"] == "0\n", r.content
        r = await client.call_tool(
            "ssh_sudo_run_script", {"host": "target", "script": "echo from-script\n"}
        )
        sc = r.structured_content
        assert sc and (sc["stdout"], sc["stderr"]) == ("from-script\n", ""), r.content
        r = await client.call_tool(
            "ssh_sudo_write", {"host": "target", "path": str(target), "content_text": "body\n"}
        )
        assert not r.is_error, r.content
    assert target.read_text() == "body\n"
