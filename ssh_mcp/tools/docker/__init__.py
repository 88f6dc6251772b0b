"""Group ``docker``: containers, images, volumes and compose projects through the host's docker
CLI (hosts.toml ``docker_cmd``). Membership in the ``docker`` group is root on that host
(DECISIONS.md 79)."""

from __future__ import annotations

from ssh_mcp.tools._catalog import catalog
from ssh_mcp.tools.docker import compose, inspect, lifecycle, reads, run

TOOLS = catalog(
    (
        "ssh_docker_ps",
        "ssh_docker_logs",
        "ssh_docker_inspect",
        "ssh_docker_stats",
        "ssh_docker_top",
        "ssh_docker_events",
        "ssh_docker_images",
        "ssh_docker_volumes",
        "ssh_docker_system_df",
        "ssh_docker_start",
        "ssh_docker_stop",
        "ssh_docker_restart",
        "ssh_docker_exec",
        "ssh_docker_run",
        "ssh_docker_cp",
        "ssh_docker_rm",
        "ssh_docker_rmi",
        "ssh_docker_prune",
        "ssh_docker_pull",
        "ssh_docker_compose_ps",
        "ssh_docker_compose_logs",
        "ssh_docker_compose_start",
        "ssh_docker_compose_stop",
        "ssh_docker_compose_restart",
        "ssh_docker_compose_up",
        "ssh_docker_compose_down",
        "ssh_docker_compose_pull",
    ),
    reads,
    inspect,
    lifecycle,
    run,
    compose,
)
