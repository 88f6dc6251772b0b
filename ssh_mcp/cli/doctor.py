"""``ssh-mcp check``: the configuration doctor.

One line per check, ``ok``, ``warn`` or ``error``, each problem with the fix
an operator can apply. Exit 1 when any check is an error. Nothing is
contacted and nothing is written: reaching the hosts is ``hosts check``.
"""

from __future__ import annotations

import os
import stat
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, TextIO

from ssh_mcp.config.dropins import dropin_dir, read_dropins
from ssh_mcp.config.environ import agent_socket
from ssh_mcp.config.inventory import HostConfig, Inventory, load_hosts, mistyped_hosts_file
from ssh_mcp.config.settings import Settings, load_settings
from ssh_mcp.core.access import Group
from ssh_mcp.errors import ConfigError
from ssh_mcp.mcp.oauth import oauth_options
from ssh_mcp.ssh.known_hosts import KnownHosts, known_hosts_name, malformed_lines
from ssh_mcp.state.http_tokens import read_entries

Level = Literal["ok", "warn", "error"]


@dataclass(frozen=True)
class Finding:
    level: Level
    check: str
    text: str

    def line(self) -> str:
        return f"{self.level:<5}  {self.check}: {self.text}"


def _settings() -> tuple[Settings | None, Finding]:
    try:
        settings = load_settings()
    except ConfigError as exc:
        return None, Finding("error", "settings", f"{exc}; fix or unset that variable")
    named = len(settings.model_fields_set)
    return settings, Finding("ok", "settings", f"parsed ({named} set in the environment)")


def _hosts_file(settings: Settings) -> Finding:
    path = settings.ssh_hosts_file.expanduser()
    try:
        dropins = read_dropins(dropin_dir(path))
        drops = f"; {len(dropins)} drop-ins in {dropin_dir(path)}"
    except ConfigError:
        dropins, drops = [], ""  # the hosts check names the broken drop-in
    if path.is_file():
        return Finding("ok", "hosts file", f"{path}{drops}")
    if mistyped_hosts_file(settings, dropins):
        return Finding(
            "error",
            "hosts file",
            f"SSH_HOSTS_FILE={settings.ssh_hosts_file} does not exist, so the server refuses "
            "to start; fix the path, or unset SSH_HOSTS_FILE for the default",
        )
    return Finding("warn", "hosts file", f"none at the default {path}{drops}")


def _inventory(settings: Settings) -> tuple[Inventory | None, Finding]:
    try:
        inventory = load_hosts(settings)
    except ConfigError as exc:
        return None, Finding("error", "hosts", f"{exc}; fix that entry")
    if not inventory.hosts and not settings.ssh_hosts_allowlist:
        fix = "add one with `ssh-mcp hosts add ALIAS --hostname H`"
        return inventory, Finding("warn", "hosts", f"no hosts configured; {fix}")
    groups = f", {len(inventory.groups)} groups" if inventory.groups else ""
    return inventory, Finding("ok", "hosts", f"{len(inventory.hosts)} valid{groups}")


def _known_hosts(settings: Settings, inventory: Inventory) -> Iterator[Finding]:
    path = settings.ssh_known_hosts.expanduser()
    try:
        bad = malformed_lines(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        bad = []
    except UnicodeDecodeError:
        yield Finding("error", "known_hosts", f"{path} is not UTF-8 text; the server refuses it")
        return
    except OSError as exc:
        yield Finding("error", "known_hosts", f"cannot read {path}: {exc.strerror}; fix its mode")
        return
    for number, reason in bad:
        yield Finding(
            "error",
            "known_hosts",
            f"{path} line {number}: {reason}; the server refuses the whole file, "
            "so delete or correct that line (appending does not help)",
        )
    if bad:
        return
    known = KnownHosts(path)
    unpinned = [h for h in inventory.hosts.values() if not known.is_pinned(h.hostname, h.port)]
    for host in unpinned:
        name = known_hosts_name(host.hostname, host.port)
        yield Finding(
            "error",
            "host key",
            f"{host.alias} ({name}) has no key pinned in {path}; fix: ssh-mcp hosts pin "
            f"{host.alias}",
        )
    if inventory.hosts and not unpinned:
        yield Finding("ok", "host keys", f"every host pinned in {path}")


def _agent(host: HostConfig) -> Finding | None:
    socket = host.auth.identity_agent or agent_socket()
    if host.auth.method != "agent":
        return None
    if not socket:
        fix = "start ssh-agent and export SSH_AUTH_SOCK, or set auth.identity_agent"
        return Finding("error", f"agent {host.alias}", f"no agent socket; {fix}")
    if not Path(socket).expanduser().is_socket():
        return Finding(
            "error", f"agent {host.alias}", f"{socket} is not a socket; is the agent running?"
        )
    return None


def _key_file(host: HostConfig) -> Finding | None:
    if host.auth.method != "key" or not host.auth.key:
        return _agent(host)
    path = Path(host.auth.key).expanduser()
    check = f"key {host.alias}"
    try:
        st = path.stat()
    except OSError as exc:
        return Finding("error", check, f"{path}: {exc.strerror}; fix auth.key")
    if not os.access(path, os.R_OK):
        return Finding("error", check, f"{path} is not readable by this user; fix its owner")
    mode = stat.S_IMODE(st.st_mode)
    if mode & 0o077:
        return Finding(
            "error", check, f"{path} has mode {mode:04o}, open to others; fix: chmod 600 {path}"
        )
    return Finding("ok", check, f"{path} readable, mode {mode:04o}")


def _audit_log(settings: Settings) -> Finding:
    path = settings.ssh_audit_log.expanduser()
    if path.exists():
        blocker, ok = path, path.is_file() and os.access(path, os.W_OK)
    else:  # the server creates it, and its directories: the nearest existing one decides
        blocker = path.parent
        while not blocker.exists():
            blocker = blocker.parent
        ok = blocker.is_dir() and os.access(blocker, os.W_OK | os.X_OK)
    if ok:
        return Finding("ok", "audit log", f"{path} writable")
    return Finding(
        "error",
        "audit log",
        f"{path} is not writable ({blocker} is in the way); fix its permissions or set "
        "SSH_AUDIT_LOG",
    )


def _access(settings: Settings) -> Finding:
    tiers = ",".join(sorted(t.value for t in settings.open_tiers()))
    groups = sorted(g.value for g in settings.enabled_groups())
    shown = "all" if len(groups) == len(Group) else ",".join(groups)
    return Finding("ok", "access", f"tiers {tiers}; groups {shown}")


def _footguns(settings: Settings, inventory: Inventory) -> Iterator[Finding]:
    if settings.allow_sudo and not settings.allow_dangerous_tools:
        yield Finding(
            "warn",
            "access",
            "ALLOW_SUDO=true does nothing without ALLOW_DANGEROUS_TOOLS=true; set both or neither",
        )
    if settings.allow_any_command:
        for host in inventory.hosts.values():
            if host.command_allowlist is not None and not any(
                c.strip() for c in host.command_allowlist
            ):
                yield Finding(
                    "warn",
                    f"exec {host.alias}",
                    "command_allowlist = [] with ALLOW_ANY_COMMAND=true runs any command "
                    "there; list the programs it may run",
                )


def _http(settings: Settings) -> Iterator[Finding]:
    """The team server's callers: the scoped tokens file and the OAuth settings."""
    path = settings.ssh_http_tokens_file.expanduser()
    try:
        entries = read_entries(path)
        mode = stat.S_IMODE(path.stat().st_mode) if entries else 0
    except (ConfigError, OSError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else str(exc)
        yield Finding("error", "http tokens", f"{reason}; fix or remove {path}")
        return
    if mode & 0o077:
        yield Finding("error", "http tokens", f"{path} is mode {mode:04o}; chmod 600 it")
    elif entries:
        now = time.time()
        expired = [name for name, entry in entries.items() if entry.expired(now)]
        done = f"; {len(expired)} expired: revoke {', '.join(sorted(expired))}" if expired else ""
        yield Finding("warn" if expired else "ok", "http tokens", f"{len(entries)} in {path}{done}")
    try:
        if oauth_options(settings) is not None:
            yield Finding("ok", "oauth", f"JWT access tokens from {settings.ssh_oauth_issuer}")
    except ConfigError as exc:
        yield Finding("error", "oauth", str(exc))


def run_checks(settings: Settings | None = None) -> list[Finding]:
    findings: list[Finding] = []
    if settings is None:
        settings, found = _settings()
        findings.append(found)
        if settings is None:
            return findings
    findings.append(_hosts_file(settings))
    inventory, found = _inventory(settings)
    findings.append(found)
    findings.append(_audit_log(settings))
    findings.append(_access(settings))
    findings.extend(_http(settings))
    if inventory is None:
        return findings
    findings.extend(_known_hosts(settings, inventory))
    findings.extend(f for h in inventory.hosts.values() if (f := _key_file(h)) is not None)
    findings.extend(_footguns(settings, inventory))
    return findings


def doctor(out: TextIO = sys.stdout) -> int:
    """Print every finding; 1 when any is an error."""
    findings = run_checks()
    for finding in findings:
        print(finding.line(), file=out)
    errors = sum(f.level == "error" for f in findings)
    warns = sum(f.level == "warn" for f in findings)
    print(f"{errors} errors, {warns} warnings", file=out)
    return 1 if errors else 0
