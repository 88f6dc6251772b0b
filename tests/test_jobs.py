"""Background jobs through MCP against real sshd: start, status, kill, list, ring, TTL."""

from __future__ import annotations

import os
import shutil
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
import pytest
from harness import (
    OPEN,
    Target,
    assert_audit,
    audit_lines,
    gone,
    hosts_toml,
    make_settings,
    ok,
    poll,
    serve,
    text,
)
from mcp import Client
from sshd import Sshd, TestKeys, TestUser, remote_pids

from ssh_mcp.config.settings import Settings
from ssh_mcp.state.jobs import JobRecord, JobTable

pytestmark = pytest.mark.anyio


@pytest.fixture(autouse=True)
def _no_job_directories_left(test_user: TestUser) -> Iterator[None]:
    """Jobs keep their output on the host; remove what this test's jobs left there."""
    base = test_user.home / ".cache" / "ssh-mcp" / "jobs"
    before = set(base.iterdir()) if base.is_dir() else set()
    yield
    for d in (set(base.iterdir()) if base.is_dir() else set()) - before:
        shutil.rmtree(d, ignore_errors=True)


async def _start(client: Client, command: str, **extra: Any) -> str:
    out = await ok(client, "ssh_job_start", {"host": "target", "command": command, **extra})
    job_id: str = out["job_id"]
    return job_id


async def _until_done(client: Client, job_id: str) -> dict[str, Any]:
    for _ in range(50):
        st = await ok(client, "ssh_job_status", {"job_id": job_id, "wait": 5})
        if st["state"] != "running":
            return st
    raise AssertionError("the job did not finish")


async def test_start_returns_at_once_and_status_reads_output(
    settings_for: Callable[..., Settings],
) -> None:
    async with serve(settings_for(**OPEN)) as (client, app):
        job_id = await _start(client, "echo out; echo err >&2; sleep 0.3; echo late; exit 3")
        start_line = assert_audit(app, {"tool": "ssh_job_start", "outcome": "ok"})
        assert start_line["job_id"] == job_id and start_line["command_hash"]
        assert start_line["host"] == "target"
        st = await _until_done(client, job_id)
        assert (st["state"], st["exit_code"]) == ("exited", 3)
        # The first status may have read part of the output already: read from 0 again.
        full = await ok(client, "ssh_job_status", {"job_id": job_id})
        assert (full["stdout"], full["stderr"]) == ("out\nlate\n", "err\n")
        assert (full["next_offset"], full["next_stderr_offset"]) == (9, 4)
        assert full["finished_at"] and not full["more"]
        again = await ok(
            client, "ssh_job_status", {"job_id": job_id, "since_offset": 9, "stderr_offset": 4}
        )
        assert (again["stdout"], again["stderr"], again["next_offset"]) == ("", "", 9)
        assert_audit(
            app, {"tool": "ssh_job_status", "job_id": job_id, "host": "target", "outcome": "ok"}
        )


async def test_job_outlives_its_server_and_is_reattached(
    settings_for: Callable[..., Settings], test_user: TestUser
) -> None:
    marker = "sleep 309.1"
    settings = settings_for(**OPEN)
    async with serve(settings) as (client, _):
        job_id = await _start(client, f"echo started; {marker}", name="long one")
    # The first server is gone, and so are its connections; the job is not.
    assert remote_pids(test_user.name, marker)
    async with serve(settings) as (client, app):
        listed = await ok(client, "ssh_job_list", {})
        assert [(j["job_id"], j["name"], j["state"]) for j in listed["jobs"]] == [
            (job_id, "long one", "running")
        ]
        st = await ok(client, "ssh_job_status", {"job_id": job_id})
        assert (st["state"], st["stdout"]) == ("running", "started\n")
        killed = await ok(client, "ssh_job_kill", {"job_id": job_id})
        assert (killed["state"], killed["signal"]) == ("killed", "INT")
        assert await gone(test_user.name, marker)
        assert_audit(app, {"tool": "ssh_job_kill", "job_id": job_id, "outcome": "ok"})
        st = await ok(client, "ssh_job_status", {"job_id": job_id})
        assert (st["state"], st["signal"], st["exit_code"]) == ("killed", "INT", None)
        assert st["stdout"] == "started\n"  # output outlives the process


async def test_kill_climbs_the_ladder_past_ignored_signals(
    settings_for: Callable[..., Settings], test_user: TestUser
) -> None:
    marker = "sleep 309.2"
    async with serve(settings_for(**OPEN)) as (client, _):
        job_id = await _start(client, f"trap '' INT TERM; {marker}")
        await poll(lambda: bool(remote_pids(test_user.name, marker)), "the job's sleep started")
        killed = await ok(client, "ssh_job_kill", {"job_id": job_id, "signal": "INT"})
        # INT was ignored, so a later rung ended the job's shell (and swept its group).
        assert killed["state"] == "killed" and killed["signal"] in ("TERM", "KILL")
        assert await gone(test_user.name, marker)
        # Killing again is harmless and says what happened.
        again = await ok(client, "ssh_job_kill", {"job_id": job_id})
        assert again["state"] == "killed"


async def test_ring_keeps_the_newest_output_and_counts_the_dropped(
    settings_for: Callable[..., Settings],
) -> None:
    """4096 bytes a stream: two 2048-byte segments; 100 000 bytes written."""
    settings = settings_for(**OPEN, ssh_job_max_output_bytes=4096, ssh_stdout_cap_bytes=1500)
    cmd = "i=0; while [ $i -lt 1000 ]; do printf '%099d\\n' $i; i=$((i+1)); done"
    async with serve(settings) as (client, _):
        job_id = await _start(client, cmd)
        await _until_done(client, job_id)
        st = await ok(client, "ssh_job_status", {"job_id": job_id})
        assert st["stdout_dropped"] >= 100_000 - 4096
        assert st["more"] and len(st["stdout"]) == 1500
        got, offset = st["stdout"], st["next_offset"]
        while True:
            st = await ok(client, "ssh_job_status", {"job_id": job_id, "since_offset": offset})
            got, offset = got + st["stdout"], st["next_offset"]
            assert st["stdout_dropped"] == 0
            if not st["more"]:
                break
        assert offset == 100_000
        assert got.endswith(f"{999:099d}\n") and len(got) <= 4096


async def test_lost_job_is_reported_as_lost(
    settings_for: Callable[..., Settings], test_user: TestUser
) -> None:
    marker = "sleep 309.3"
    async with serve(settings_for(**OPEN)) as (client, _):
        job_id = await _start(client, marker)
        pids = remote_pids(test_user.name, marker)
        assert pids
        os.killpg(os.getpgid(pids[0]), signal.SIGKILL)  # someone else kills it
        assert await gone(test_user.name, marker)
        st = await ok(client, "ssh_job_status", {"job_id": job_id})
        assert (st["state"], st["exit_code"]) == ("lost", None)


async def test_unknown_and_malformed_job_ids(settings_for: Callable[..., Settings]) -> None:
    async with serve(settings_for(**OPEN)) as (client, app):
        r = await client.call_tool("ssh_job_status", {"job_id": "j0123456789abcdef"})
        assert r.is_error and text(r).startswith("unknown job id 'j0123456789abcdef'"), text(r)
        assert "ssh_job_list" in text(r)
        assert_audit(app, {"outcome": "denied", "error": "InvalidArguments", "host": None})
        r = await client.call_tool("ssh_job_kill", {"job_id": "../../etc"})
        assert r.is_error and text(r).startswith("invalid arguments for ssh_job_kill: job_id:")


async def test_running_cap_is_enforced(
    settings_for: Callable[..., Settings], test_user: TestUser
) -> None:
    marker = "sleep 309.4"
    async with serve(settings_for(**OPEN, ssh_job_max_running=1)) as (client, app):
        job_id = await _start(client, marker)
        r = await client.call_tool("ssh_job_start", {"host": "target", "command": "true"})
        assert r.is_error and "1 jobs are running (SSH_JOB_MAX_RUNNING)" in text(r)
        assert_audit(app, {"outcome": "error", "error": "CapExceeded"})
        assert remote_pids(test_user.name, "^sleep 309.4")  # the first one is untouched
        await ok(client, "ssh_job_kill", {"job_id": job_id})
        assert await gone(test_user.name, marker)
        job2 = await _start(client, "true")  # a slot is free again
        record = app.jobs.get(job2)
        assert record is not None
        # It has finished on the host, but nobody has asked yet...
        await poll((Path(record.dir) / "rc").exists, "the second job wrote its exit code")
        job3 = await _start(client, "true")  # ...so the cap refreshes it instead of refusing
        await _until_done(client, job2)
        await _until_done(client, job3)


async def test_finished_jobs_expire_here_and_on_the_host(
    settings_for: Callable[..., Settings], test_user: TestUser
) -> None:
    async with serve(settings_for(**OPEN, ssh_job_ttl=0.2)) as (client, app):
        job_id = await _start(client, "echo bye")
        await _until_done(client, job_id)
        job_dir = Path(app.jobs.all()[0].dir)
        assert job_dir.is_dir() and job_dir.is_relative_to(test_user.home)
        finished = time.monotonic()
        await poll(lambda: time.monotonic() - finished > 0.2, "the TTL passed")
        assert (await ok(client, "ssh_job_list", {}))["jobs"] == []
        r = await client.call_tool("ssh_job_status", {"job_id": job_id})
        assert r.is_error and "unknown job id" in text(r)
        # The host keeps the directory until a job start sweeps it (TTL rounded up to
        # minutes there); age it instead of waiting.
        old = time.time() - 7200
        os.utime(job_dir / "rc", (old, old))
        await _until_done(client, await _start(client, "true"))
        assert not job_dir.exists()


async def test_job_tools_are_closed_with_the_dangerous_tier(
    settings_for: Callable[..., Settings],
) -> None:
    async with serve(settings_for()) as (client, app):
        names = {t.name for t in (await client.list_tools()).tools}
        assert not names & {"ssh_job_start", "ssh_job_status", "ssh_job_kill", "ssh_job_list"}
        r = await client.call_tool("ssh_job_list", {})
        assert r.is_error and "unknown tool 'ssh_job_list'" in text(r)
        assert audit_lines(app)[-1]["error"] == "ToolNotAvailable"


async def test_dropped_and_unreachable_host(
    tmp_path: Path, scratch_sshd: Sshd, test_user: TestUser, test_keys: TestKeys, work_dir: Path
) -> None:
    """A dropped connection does not touch the job; an unreachable host is an error, and
    the job is not declared lost for it."""
    marker = "sleep 309.6"
    host = Target("target", scratch_sshd.port, test_user.name, test_keys.plain, (str(work_dir),))
    settings = make_settings(
        tmp_path / "srv", hosts_toml(host), scratch_sshd.known_hosts_path, **OPEN
    )
    async with serve(settings) as (client, app):
        job_id = await _start(client, f"echo up; {marker}")
        assert await anyio.to_thread.run_sync(scratch_sshd.kill_connections)
        st = await ok(client, "ssh_job_status", {"job_id": job_id, "wait": 2})
        assert (st["state"], st["stdout"]) == ("running", "up\n")  # reconnected; job intact
        scratch_sshd.stop()
        r = await client.call_tool("ssh_job_status", {"job_id": job_id})
        assert r.is_error and "\n" not in text(r), text(r)
        assert_audit(app, {"tool": "ssh_job_status", "outcome": "error", "job_id": job_id})
        assert app.jobs.all()[0].state == "running"
    pids = remote_pids(test_user.name, f"^{marker}$")
    assert pids  # it outlived its sshd too; clean up by hand
    os.killpg(os.getpgid(pids[0]), signal.SIGKILL)
    assert await gone(test_user.name, marker)


def test_servers_sharing_a_table_keep_each_others_jobs(tmp_path: Path) -> None:
    """Two servers (two MCP clients) with the default SSH_JOB_TABLE share one file."""
    path = tmp_path / "state" / "jobs.json"
    a, b = JobTable(path, ttl=60), JobTable(path, ttl=60)
    now = time.time()
    a.put(JobRecord("j" + "a" * 16, "h1", "/d/a", 11, 2048, "from a", now))
    b.put(JobRecord("j" + "b" * 16, "h2", "/d/b", 12, 2048, "from b", now + 1))
    assert [r.name for r in a.all()] == ["from a", "from b"]
    finished = b.get("j" + "a" * 16)
    assert finished is not None
    b.put(finished.seen("exited", 0, None))
    assert a.running() == 1 and (a.get("j" + "a" * 16) or finished).state == "exited"
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    path.write_text("{not json")  # damaged: ignored, not fatal
    assert a.all() == []


async def test_job_runs_in_cwd(settings_for: Callable[..., Settings], work_dir: Path) -> None:
    async with serve(settings_for(**OPEN)) as (client, app):
        job_id = await _start(client, "pwd", cwd=str(work_dir))
        assert_audit(app, {"tool": "ssh_job_start", "path_hash": app.audit.digest(str(work_dir))})
        await _until_done(client, job_id)
        st = await ok(client, "ssh_job_status", {"job_id": job_id})
        assert st["stdout"] == f"{work_dir}\n"


async def test_a_job_known_only_by_its_id_is_still_reachable(
    settings_for: Callable[..., Settings], test_user: TestUser
) -> None:
    """What the table holds before the start returns (the call may be cut off after the
    fork): the id, and the directory relative to the login's home. That is enough."""
    from dataclasses import replace

    from ssh_mcp.ssh.jobs import home_dir

    marker = "sleep 309.7"
    async with serve(settings_for(**OPEN)) as (client, app):
        job_id = await _start(client, f"echo early; {marker}")
        record = app.jobs.get(job_id)
        assert record is not None and record.dir.startswith("/")
        app.jobs.put(replace(record, dir=home_dir(job_id), pgid=0))
        st = await ok(client, "ssh_job_status", {"job_id": job_id, "wait": 2})
        assert (st["state"], st["stdout"]) == ("running", "early\n")
        assert (await ok(client, "ssh_job_kill", {"job_id": job_id}))["state"] == "killed"
        assert await gone(test_user.name, marker)


async def test_job_list_pages_oldest_first(settings_for: Callable[..., Settings]) -> None:
    async with serve(settings_for(**OPEN)) as (client, app):
        first = await _start(client, "true", name="first")
        second = await _start(client, "true", name="second")
        await _until_done(client, first)
        await _until_done(client, second)
        page = await ok(client, "ssh_job_list", {"limit": 1})
        assert [j["job_id"] for j in page["jobs"]] == [first]
        assert (page["total"], page["next_offset"], page["running"]) == (2, 1, 0)
        page = await ok(client, "ssh_job_list", {"offset": 1, "limit": 1})
        assert [j["job_id"] for j in page["jobs"]] == [second] and page["next_offset"] is None
        assert_audit(app, {"tool": "ssh_job_list", "outcome": "ok"})
