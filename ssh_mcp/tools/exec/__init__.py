"""Group ``exec``: commands, scripts, background jobs and fleet-wide commands."""

from __future__ import annotations

from ssh_mcp.tools._catalog import catalog
from ssh_mcp.tools.exec import broadcast, jobs, run, script

TOOLS = catalog(
    (
        "ssh_exec_run",
        "ssh_exec_script",
        "ssh_exec_run_streaming",
        "ssh_job_start",
        "ssh_job_status",
        "ssh_job_kill",
        "ssh_job_list",
        "ssh_broadcast",
    ),
    run,
    script,
    jobs,
    broadcast,
)
