"""What a handler is told about its host, the operator's limits and the server: plain values,
re-exported by :mod:`ssh_mcp.core.spec` beside the ``ToolContext`` that hands them out."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class HostSummary:
    """A configured host as ``ssh_host_list`` shows it (never any secret)."""

    alias: str
    hostname: str
    port: int
    user: str | None
    auth_method: str
    proxy_jump: tuple[str, ...]
    notes: str | None
    #: ssh_host_alerts thresholds: disk use %, 1-min load per CPU, MemAvailable %.
    alerts: tuple[int, float, int]
    #: How the container tools run the docker CLI there (hosts.toml ``docker_cmd``).
    docker_cmd: tuple[str, ...] = ("docker",)


@dataclass(frozen=True)
class Limits:
    """The operator's size and count limits, as handlers need them."""

    stdout_cap: int
    stderr_cap: int
    inline_max_bytes: int
    transfer_max_bytes: int
    delete_folder_max_entries: int
    local_transfer: bool
    broadcast_concurrency: int
    job_max_output_bytes: int
    job_max_running: int
    job_ttl: float
    shell_max_sessions: int
    #: SSH_DOCKER_RUN_PRIVILEGED: ssh_docker_run may use options that hand over the host.
    docker_run_privileged: bool = False


@dataclass(frozen=True)
class ServerFacts:
    """What ``ssh_server_info`` reports."""

    name: str
    version: str
    open_tiers: tuple[str, ...]
    enabled_groups: tuple[str, ...]
    tool_count: int
    host_count: int
