"""Test units on the shared systemd host (tests/fleet.py) and settings to reach it.

The units are named ``h12-*`` so that no other test's units are touched; they are written and
loaded once per session and are gone with the container."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fleet import SystemdHost
from harness import Target, hosts_toml, make_settings

from ssh_mcp.config.settings import Settings

ALIAS = "fleet1"
#: A long-running service (start, stop, restart, reload, enable, mask ...).
OK = "h12-ok.service"
#: A oneshot that fails: failed state, reset-failed.
FAIL = "h12-fail.service"
#: A oneshot that writes two known lines to the journal.
LOG = "h12-log.service"
#: A unit nobody defined.
MISSING = "h12-nosuch.service"
#: Vendor-style unit directory: a unit file in /etc/systemd/system could not be masked.
UNIT_DIR = "/usr/local/lib/systemd/system"
#: Where an injection would leave its mark if it ever ran.
PWNED = "/tmp/h12-pwned"

_UNITS = {
    OK: "[Unit]\nDescription=h12 test service\n[Service]\nExecStart=/bin/sleep infinity\n"
    "ExecReload=/bin/true\n[Install]\nWantedBy=multi-user.target\n",
    FAIL: "[Unit]\nDescription=h12 failing unit\n[Service]\nType=oneshot\nExecStart=/bin/false\n",
    LOG: "[Unit]\nDescription=h12 logging unit\n[Service]\nType=oneshot\n"
    "ExecStart=/bin/sh -c 'echo h12-log-line-1; echo h12-log-line-2'\n",
}


def install_units(host: SystemdHost) -> None:
    """Write and load the test units; run the logging one and fail the failing one."""
    host.exec("mkdir", "-p", UNIT_DIR)
    for name, text in _UNITS.items():
        host.exec("tee", f"{UNIT_DIR}/{name}", input=text.encode())
    host.exec("systemctl", "daemon-reload")
    host.exec("systemctl", "start", LOG)
    host.sh(f"systemctl start {FAIL} || true")
    host.exec("systemd-cat", "-t", "h12prio", "-p", "err", "echo", "h12-prio-err-line")


def state(host: SystemdHost, verb: str, unit: str) -> str:
    """What ``systemctl VERB UNIT`` prints on the host, whatever its exit code."""
    return host.sh(f"systemctl {verb} {unit} || true").strip()


def fleet_settings(
    tmp_path: Path, host: SystemdHost, *, user: str | None = None, extra: str = "", **overrides: Any
) -> Settings:
    """One host, ``fleet1``: the systemd host as ``ops`` (sudo by password) or ``user``."""
    target = Target(
        ALIAS,
        host.port,
        user or host.user,
        host.key,
        ("/",),
        extra=f'sudo_password_cmd = ["cat", "{host.sudo_password_file}"]\n{extra}',
    )
    return make_settings(tmp_path, hosts_toml(target), host.known_hosts, **overrides)
