"""ssh_exec_script and ssh_exec_run_streaming through MCP against real sshd."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import anyio
import pytest
from harness import OPEN, assert_audit, gone, serve, text
from sshd import TestUser, remote_pids

from ssh_mcp.config.settings import Settings
from ssh_mcp.tools.exec.script import SCRIPT_ARGV

pytestmark = pytest.mark.anyio


class Reports:
    def __init__(self) -> None:
        self.messages: list[tuple[float, str | None]] = []

    async def __call__(self, progress: float, total: float | None, message: str | None) -> None:
        self.messages.append((progress, message))


async def test_script_runs_over_stdin_not_argv(settings_for: Callable[..., Settings]) -> None:
    script = 'x=secret-ish-value\necho "got $x"\nps -o args= -p $$\necho err >&2\nexit 4\n'
    async with serve(settings_for(**OPEN)) as (client, app):
        r = await client.call_tool("ssh_exec_script", {"host": "target", "script": script})
        sc = r.structured_content
        assert sc is not None and not r.is_error, text(r)
        got, argv = sc["stdout"].split("\n", 1)  # the shell's argv: never the script
        assert (got, argv) == ("got secret-ish-value", " ".join(SCRIPT_ARGV) + "\n")
        assert (sc["stderr"], sc["exit_code"]) == ("err\n", 4)
        line = assert_audit(app, {"tool": "ssh_exec_script", "outcome": "ok", "exit_code": 4})
        assert line["command_hash"] == app.audit.digest(script)
        assert "secret-ish-value" not in app.settings.ssh_audit_log.read_text()


async def test_script_lines_are_checked_like_commands(
    settings_for: Callable[..., Settings],
) -> None:
    settings = settings_for(allow_dangerous_tools=True, ssh_command_allowlist=["echo", "uname"])
    async with serve(settings) as (client, app):
        ok = await client.call_tool(
            "ssh_exec_script", {"host": "target", "script": "echo one\nuname -s\n"}
        )
        assert not ok.is_error and ok.structured_content
        assert ok.structured_content["stdout"] == "one\nLinux\n"
        for script in ("echo one\nrm -rf /tmp/x\n", "if true; then echo x; fi\n", "echo $(id)\n"):
            r = await client.call_tool("ssh_exec_script", {"host": "target", "script": script})
            assert r.is_error and "command not allowed" in text(r), text(r)
            assert_audit(app, {"outcome": "denied", "error": "CommandNotAllowed"})


async def test_script_timeout_stops_it(
    settings_for: Callable[..., Settings], test_user: TestUser
) -> None:
    marker = "sleep 306.5"
    async with serve(settings_for(**OPEN)) as (client, _):
        r = await client.call_tool(
            "ssh_exec_script", {"host": "target", "script": f"echo a\n{marker}\n", "timeout": 0.5}
        )
        assert r.structured_content and r.structured_content["timed_out"]
        assert await gone(test_user.name, marker), remote_pids(test_user.name, marker)


async def test_streaming_reports_the_newest_lines(settings_for: Callable[..., Settings]) -> None:
    command = "for i in 1 2 3 4 5 6; do echo line$i; sleep 0.3; done"
    async with serve(settings_for(**OPEN)) as (client, app):
        reports = Reports()
        r = await client.call_tool(
            "ssh_exec_run_streaming",
            {"host": "target", "command": command},
            progress_callback=reports,
        )
        sc = r.structured_content
        assert sc is not None and sc["stdout"].splitlines()[-1] == "line6"
        assert 2 <= len(reports.messages) <= 6, reports.messages
        done = [p for p, _ in reports.messages]
        assert done == sorted(done)
        assert all(m and "line" in m for _, m in reports.messages)
        assert_audit(app, {"tool": "ssh_exec_run_streaming", "outcome": "ok", "exit_code": 0})
        quiet = await client.call_tool(
            "ssh_exec_run_streaming", {"host": "target", "command": "echo hi"}
        )
        assert quiet.structured_content and quiet.structured_content["stdout"] == "hi\n"


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_cancel_during_streaming_stops_the_process(
    settings_for: Callable[..., Settings], test_user: TestUser, mode: str
) -> None:
    marker = f"sleep 307.{len(mode)}"
    command = f"while true; do echo tick; {marker}; done"

    async with serve(settings_for(**OPEN), mode=mode) as (client, _):  # type: ignore[arg-type]
        with anyio.move_on_after(10) as scope:
            async with anyio.create_task_group() as tg:

                async def cancel_on_progress(
                    progress: float, total: float | None, message: str | None
                ) -> None:
                    tg.cancel_scope.cancel()

                tg.start_soon(
                    lambda: client.call_tool(
                        "ssh_exec_run_streaming",
                        {"host": "target", "command": command},
                        progress_callback=cancel_on_progress,
                    )
                )
        assert not scope.cancelled_caught, "no progress arrived"
        assert await gone(test_user.name, marker), remote_pids(test_user.name, marker)


@pytest.mark.parametrize(
    ("tool", "field"),
    [
        ("ssh_exec_run", "command"),
        ("ssh_exec_run_streaming", "command"),
        ("ssh_exec_script", "script"),
    ],
)
async def test_cwd_is_entered_and_confined(
    tool: str, field: str, settings_for: Callable[..., Settings], work_dir: Path
) -> None:
    sub = work_dir / "sub dir"
    sub.mkdir()
    async with serve(settings_for(allow_dangerous_tools=True, ssh_command_allowlist=["pwd"])) as (
        client,
        app,
    ):
        r = await client.call_tool(tool, {"host": "target", field: "pwd", "cwd": str(sub)})
        assert r.structured_content and r.structured_content["stdout"] == f"{sub}\n", text(r)
        line = assert_audit(app, {"tool": tool, "outcome": "ok"})
        assert line["path_hash"] == app.audit.digest(str(sub))
        # The allowlist sees only the command: `cd` is ours, not the agent's.
        for outside in ("/etc", f"{work_dir}/../.."):
            r = await client.call_tool(tool, {"host": "target", field: "pwd", "cwd": outside})
            assert r.is_error and "outside the path allowlist" in text(r), text(r)
            assert_audit(app, {"tool": tool, "outcome": "denied", "error": "PathNotAllowed"})
