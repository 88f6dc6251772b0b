"""Dangerous tier, group ``exec``: background jobs that outlive calls, clients and restarts.

The job runs detached on its host, where its state lives; the server keeps only a
table of ids (:mod:`ssh_mcp.state.jobs`). Starting, probing and stopping a job are
processes (``ctx.run``: caps and timeouts apply, never replayed) whose argv and
output parsers :mod:`ssh_mcp.core.remote` names; its output is read over SFTP with
``Remote.job_output``, a read that may be replayed. Dispatch resolves a ``job_id`` to
its host (``JobRef``) and applies host policy as for any call; the command of
``ssh_job_start`` passes the command policy and confirmation like exec's.
"""

from __future__ import annotations

import asyncio
import math
import shlex
import time
from dataclasses import replace
from typing import Annotated, Any, Literal

from pydantic import Field

from ssh_mcp.core.access import Group, Tier
from ssh_mcp.core.remote import (
    JobChunk,
    Remote,
    job_home_dir,
    job_probe_argv,
    job_start_argv,
    job_stop_argv,
    parse_job_probe,
    parse_job_started,
)
from ssh_mcp.core.spec import (
    CHANGES,
    CHANGES_IDEMPOTENT,
    HOST,
    READS,
    READS_LOCAL,
    CommandText,
    JobRef,
    Output,
    StrictInput,
    ToolContext,
    ToolSpec,
)
from ssh_mcp.errors import CapExceeded, RemoteError
from ssh_mcp.state.jobs import JobRecord, new_job_id
from ssh_mcp.tools._fields import UNLISTED, Cwd, command_field, field_details, utc_stamp
from ssh_mcp.tools._hygiene import clean
from ssh_mcp.tools._pages import PageInput, next_offset_field, page

State = Literal["running", "exited", "killed", "lost"]
JOB_ID = Field(
    description="From ssh_job_start or ssh_job_list.",
    pattern=r"^j[0-9a-f]{16}$",
    json_schema_extra=UNLISTED,
)
#: Seconds between polls while ssh_job_status waits.
POLL = 0.5


# -- ssh_job_start ---------------------------------------------------------------------


class JobStartInput(StrictInput):
    host: str = HOST
    command: Annotated[
        str,
        CommandText(),
        command_field(
            ("Shell command line; policy as for ssh_exec_run."),
            details=(
                "It runs detached as the login user; the command allowlist and deny-pattern "
                "confirmation apply as for ssh_exec_run."
            ),
            listed=False,
        ),
    ]
    name: str | None = Field(
        None,
        max_length=64,
        description="A label; not secret.",
        json_schema_extra=field_details(
            "Shown by ssh_job_list, such as 'nightly backup'. Not a secret store."
        ),
    )
    cwd: Cwd = None


class JobStarted(Output):
    job_id: str = Field(description="Pass to ssh_job_status and ssh_job_kill.")
    host: str = Field(description="Alias of the host the job runs on.")
    started_at: str = Field(description="UTC start time, ISO 8601.")


async def job_start(ctx: ToolContext, args: JobStartInput) -> JobStarted:
    limits, host = ctx.limits, ctx.host
    assert host is not None  # dispatch bound the host field
    if ctx.jobs.running() >= limits.job_max_running:
        # Last seen running is not running: refresh this host's jobs before refusing.
        for job in ctx.jobs.all():
            if job.state == "running" and job.host == host.alias:
                await _probe(ctx, job)
    if ctx.jobs.running() >= limits.job_max_running:
        raise CapExceeded(
            f"{limits.job_max_running} jobs are running (SSH_JOB_MAX_RUNNING); wait for one "
            "to finish or stop one with ssh_job_kill"
        )
    job_id, segment = new_job_id(), max(2048, limits.job_max_output_bytes // 2)
    command = args.command
    if args.cwd is not None:  # the job's shell enters it; the policy saw only the command
        command = f"{shlex.join(['cd', '--', args.cwd])} && {command}"
    argv = job_start_argv(job_id, command, segment, math.ceil(limits.job_ttl / 60))
    now = time.time()
    # Known before it starts: a call cancelled or cut off after the fork still leaves a job
    # the server can find (its directory relative to the login's home, where commands run).
    record = JobRecord(job_id, host.alias, job_home_dir(job_id), 0, segment, args.name or "", now)
    ctx.jobs.put(record)
    result = await ctx.run(argv)
    try:
        started = parse_job_started(result.stdout.kept, result.stderr.kept, result.exit_code)
    except RemoteError:
        ctx.jobs.remove(job_id)  # refused before anything ran (no setsid, no directory)
        raise
    ctx.jobs.put(replace(record, dir=started.dir, pgid=started.pgid))
    return JobStarted(job_id=job_id, host=host.alias, started_at=utc_stamp(now) or "")


# -- ssh_job_status --------------------------------------------------------------------


class JobStatusInput(StrictInput):
    job_id: Annotated[str, JobRef(), JOB_ID]
    since_offset: int = Field(0, ge=0, description="next_offset from the last call.")
    stderr_offset: int = Field(0, ge=0, description="next_stderr_offset from the last call.")
    wait: float = Field(
        0,
        ge=0,
        le=50,
        description="Seconds to wait for an exit or output.",
        json_schema_extra=field_details("0 answers at once. Bounded by SSH_COMMAND_TIMEOUT."),
    )


class JobSummary(Output):
    job_id: str = Field(description="The job.")
    host: str = Field(description="Alias of its host.")
    name: str = Field(description="The label given at start, or empty.")
    state: State = Field(
        description="running; exited (see exit_code); killed (by ssh_job_kill, see signal); "
        "lost (its processes are gone without an exit status: host rebooted, killed by "
        "someone else, or its directory was removed). ssh_job_list shows it as last seen."
    )
    exit_code: int | None = Field(description="Exit status once exited, else null.")
    signal: str | None = Field(description="The signal that stopped a killed job.")
    started_at: str = Field(description="UTC start time, ISO 8601.")
    finished_at: str | None = Field(description="When the server saw it finish, if it has.")


class JobStatus(JobSummary):
    stdout: str = Field(description="New stdout from since_offset (cleaned for the model).")
    stderr: str = Field(description="New stderr from stderr_offset (cleaned for the model).")
    next_offset: int = Field(description="Pass as since_offset next time.")
    next_stderr_offset: int = Field(description="Pass as stderr_offset next time.")
    stdout_dropped: int = Field(
        description="Stdout bytes after since_offset that the ring dropped before you read them."
    )
    stderr_dropped: int = Field(description="The same for stderr.")
    more: bool = Field(description="More output is waiting beyond the caps: call again now.")
    output_warnings: list[str] = Field(
        description="What was removed from the output and what in it could mislead a reader."
    )


def _summary(r: JobRecord) -> dict[str, Any]:
    return {
        "job_id": r.id,
        "host": r.host,
        "name": r.name,
        "state": r.state,
        "exit_code": r.exit_code,
        "signal": r.signal,
        "started_at": utc_stamp(r.started_at) or "",
        "finished_at": utc_stamp(r.finished_at),
    }


async def _probe(ctx: ToolContext, job: JobRecord) -> tuple[JobRecord, bool]:
    """The job as its host shows it now, saved; and whether its directory is gone."""
    out = (await ctx.run(job_probe_argv(job.dir))).stdout.kept
    probe = parse_job_probe(out)
    state = "lost" if probe.state == "gone" else probe.state
    fresh = job.seen(state, probe.exit_code, probe.signal)
    ctx.jobs.put(fresh)
    return fresh, probe.state == "gone"


async def _read(
    ctx: ToolContext, job: JobRecord, since: dict[str, int], caps: dict[str, int]
) -> dict[str, JobChunk]:
    async def op(remote: Remote) -> dict[str, JobChunk]:
        return await remote.job_output(job.dir, job.segment, since, caps)

    return await ctx.remote(op, replay=True)


async def job_status(ctx: ToolContext, args: JobStatusInput) -> JobStatus:
    job = ctx.jobs.get(args.job_id)
    assert job is not None  # dispatch resolved it
    limits = ctx.limits
    since = {"o": args.since_offset, "e": args.stderr_offset}
    caps = {"o": limits.stdout_cap, "e": limits.stderr_cap}
    deadline = time.monotonic() + min(args.wait, ctx.command_timeout * 0.8)
    while True:
        job, gone = await _probe(ctx, job)
        chunks = {s: JobChunk(b"", since[s], since[s], 0, False) for s in since}
        if not gone:
            chunks = await _read(ctx, job, since, caps)
        fresh = any(c.data for c in chunks.values())
        if job.state != "running" or fresh or time.monotonic() >= deadline:
            break
        await asyncio.sleep(POLL)
    stdout, w_out = clean(chunks["o"].data.decode("utf-8", "replace"), "stdout")
    stderr, w_err = clean(chunks["e"].data.decode("utf-8", "replace"), "stderr")
    return JobStatus(
        **_summary(job),
        stdout=stdout,
        stderr=stderr,
        next_offset=chunks["o"].end,
        next_stderr_offset=chunks["e"].end,
        stdout_dropped=chunks["o"].dropped,
        stderr_dropped=chunks["e"].dropped,
        more=chunks["o"].more or chunks["e"].more,
        output_warnings=w_out + w_err,
    )


def render_status(out: JobStatus) -> str:
    status = {"exited": f"exited {out.exit_code}", "killed": f"killed ({out.signal})"}
    parts = [f"[job {out.job_id} on {out.host}: {status.get(out.state, out.state)}]"]
    if out.stdout:
        parts.append(out.stdout.rstrip("\n"))
    if out.stderr:
        parts.append("[stderr]\n" + out.stderr.rstrip("\n"))
    parts.append(f"[next_offset {out.next_offset}, next_stderr_offset {out.next_stderr_offset}]")
    parts += [f"[warning] {w}" for w in out.output_warnings]
    return "\n".join(parts)


# -- ssh_job_kill ----------------------------------------------------------------------


class JobKillInput(StrictInput):
    job_id: Annotated[str, JobRef(), JOB_ID]
    signal: Literal["INT", "TERM", "HUP", "QUIT", "KILL"] = Field(
        "INT",
        description="First signal; TERM, then KILL follow.",
        json_schema_extra=field_details(
            "Sent to the job's process group; the ladder climbs TERM, then KILL, half a "
            "second apart, until the group is gone.",
            listed=False,
        ),
    )


class JobKilled(Output):
    job_id: str = Field(description="The job.")
    state: State = Field(description="killed, or exited/lost if it had already ended.")
    signal: str | None = Field(description="The signal that ended it, when killed.")
    exit_code: int | None = Field(description="Exit status, if it had already exited.")


async def job_kill(ctx: ToolContext, args: JobKillInput) -> JobKilled:
    job = ctx.jobs.get(args.job_id)
    assert job is not None
    out = (await ctx.run(job_stop_argv(job.dir, args.signal))).stdout.kept
    probe = parse_job_probe(out)
    if probe.state == "running":  # survived KILL: only a stuck (D-state) process does
        job, _ = await _probe(ctx, job)
    else:
        job = job.seen(probe.state, probe.exit_code, probe.signal)
        ctx.jobs.put(job)
    return JobKilled(job_id=job.id, state=job.state, signal=job.signal, exit_code=job.exit_code)


# -- ssh_job_list ----------------------------------------------------------------------


class JobList(Output):
    jobs: list[JobSummary] = Field(description="The jobs this server knows, oldest first.")
    running: int = Field(description="How many were running when last seen, of all jobs.")
    total: int = Field(description="Jobs this server knows.")
    next_offset: int | None = next_offset_field()


async def job_list(ctx: ToolContext, args: PageInput) -> JobList:
    records = [r for r in ctx.jobs.all() if ctx.sees_host(r.host)]
    shown, next_offset = page(records, args.offset, args.limit)
    return JobList(
        jobs=[JobSummary(**_summary(r)) for r in shown],
        running=sum(r.state == "running" for r in records),
        total=len(records),
        next_offset=next_offset,
    )


TOOLS = (
    ToolSpec(
        name="ssh_job_start",
        title="Start a background job",
        description=(
            "Start a command detached; returns its job_id at once. Poll with ssh_job_status, "
            "stop with ssh_job_kill."
        ),
        details=(
            "For anything that may outlast a request (builds, backups). For short commands use "
            "ssh_exec_run. The job survives this call, a dropped client and a server restart. Each "
            "stream keeps the newest SSH_JOB_MAX_OUTPUT_BYTES."
        ),
        tier=Tier.DANGEROUS,
        group=Group.EXEC,
        input=JobStartInput,
        output=JobStarted,
        annotations=CHANGES,
        handler=job_start,
        audit_fields=("job_id",),
    ),
    ToolSpec(
        name="ssh_job_status",
        title="Job status and output",
        description=("Return a job's state and new output; if more is true, call again at once."),
        details=(
            "Pass back next_offset and next_stderr_offset; wait blocks up to that many seconds."
            " States: running, exited, killed, lost. wait answers early when the job finishes "
            "or prints."
        ),
        tier=Tier.DANGEROUS,
        group=Group.EXEC,
        input=JobStatusInput,
        output=JobStatus,
        annotations=READS,
        handler=job_status,
        render=render_status,
    ),
    ToolSpec(
        name="ssh_job_kill",
        title="Stop a background job",
        description="Stop a job's process group (signal, then TERM, then KILL); returns its state.",
        details=(
            "Its output stays readable with ssh_job_status until the job expires (SSH_JOB_TTL)."
        ),
        tier=Tier.DANGEROUS,
        group=Group.EXEC,
        input=JobKillInput,
        output=JobKilled,
        annotations=CHANGES_IDEMPOTENT,
        handler=job_kill,
    ),
    ToolSpec(
        name="ssh_job_list",
        title="List background jobs",
        description=(
            "List this server's background jobs as last seen; ssh_job_status gives the current "
            "state."
        ),
        details=(
            "Each with host, name and state. Jobs started before a server restart are listed too."
        ),
        tier=Tier.DANGEROUS,
        group=Group.EXEC,
        input=PageInput,
        output=JobList,
        annotations=READS_LOCAL,
        handler=job_list,
    ),
)
