"""The one table of host and connection defaults.

A value left out of hosts.toml (and its ``[defaults]``) or of the environment
takes its value from :data:`DEFAULTS`: the settings and inventory models, the
resolved :class:`~ssh_mcp.config.inventory.HostConfig` and the help texts that
name a default all read it here. The SSH layer and the pool carry no defaults
of their own: the app hands them resolved values.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Defaults:
    #: hosts.toml ``port``.
    port: int = 22
    #: Channels per pooled connection; sshd's MaxSessions is 10 by default.
    max_channels: int = 10
    #: Connections the pool may open to one host.
    max_connections: int = 4
    #: ssh_host_alerts: a filesystem this full (percent) breaches.
    alert_disk_percent: int = 90
    #: ssh_host_alerts: a 1-minute load per CPU above this breaches.
    alert_load_per_cpu: float = 2.0
    #: ssh_host_alerts: MemAvailable below this (percent) breaches.
    alert_memory_available_percent: int = 10
    #: SSH_CONNECT_TIMEOUT: TCP + handshake + auth, seconds.
    connect_timeout: float = 10.0
    #: SSH_KEEPALIVE_INTERVAL, seconds.
    keepalive_interval: float = 15.0
    #: Keepalive replies missed before a connection counts as dropped.
    keepalive_count_max: int = 3
    #: SSH_IDLE_TIMEOUT: seconds before an unused pooled connection is closed.
    idle_timeout: float = 300.0
    #: SSH_FORWARD_MAX_OPEN: port forwards open at once in this server.
    forward_max_open: int = 16


DEFAULTS = Defaults()
