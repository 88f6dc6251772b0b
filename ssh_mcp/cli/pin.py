"""``ssh-mcp hosts pin ALIAS``: fetch a host's key and pin it, only with an operator's yes.

The key is fetched through the SSH layer as the server would reach the host:
over its jump chain, each hop strictly checked against the known_hosts file
(so a bastion is pinned before the hosts behind it). The fingerprint is
printed, then checked against ``--fingerprint`` when given, and the key is
appended in OpenSSH format only after a y at a terminal or ``--yes`` with
``--fingerprint``. A key already pinned for that name and port is never
replaced: a different one is an error that names both fingerprints.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TextIO

from ssh_mcp.cli.hosts import HostsCliError
from ssh_mcp.core.app import build_app
from ssh_mcp.ssh.connect import OfferedKey, fetch_host_key
from ssh_mcp.ssh.known_hosts import known_hosts_name


def append_pin(path: Path, line: str) -> None:
    """Append one known_hosts line, creating the file 0600 (and its directory 0700)."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
    with os.fdopen(fd, "ab") as f:
        needs_newline = f.tell() > 0 and not path.read_bytes().endswith(b"\n")
        f.write((b"\n" if needs_newline else b"") + line.encode("ascii") + b"\n")


def _ask(question: str, stdin: TextIO, out: TextIO) -> bool:
    print(question, end="", file=out, flush=True)
    return stdin.readline().strip().lower() in ("y", "yes")


async def pin_host(
    alias: str,
    expected: str | None,
    yes: bool,
    stdin: TextIO = sys.stdin,
    out: TextIO = sys.stdout,
) -> int:
    """0 pinned (or already pinned), 1 refused or declined; raises HostsCliError."""
    app = build_app()
    try:
        host = app.inventory.hosts.get(alias)
        if host is None:
            raise HostsCliError(f"no host {alias!r} in {app.inventory.source}")
        path = app.known_hosts.path
        name = known_hosts_name(host.hostname, host.port)
        pinned = app.known_hosts.pinned_fingerprints(host.hostname, host.port)
        offered: OfferedKey = await fetch_host_key(
            app.connect_spec(host), app.settings.ssh_connect_timeout, app.pool.opts
        )
    finally:
        await app.aclose()
    via = f" via {' -> '.join(host.proxy_jump)}" if host.proxy_jump else ""
    kind = offered.public.split()[0]
    print(f"{alias} ({name}{via}) offers {kind} {offered.fingerprint}", file=out)
    if offered.fingerprint in pinned:
        print(f"already pinned in {path}", file=out)
        return 0
    if pinned:
        raise HostsCliError(
            f"{name} offers {offered.fingerprint} but {path} pins {', '.join(pinned)}; "
            "not replacing it. If the host key really changed, delete the old line "
            f"(ssh-keygen -R '{name}' -f {path}) and pin again"
        )
    if expected is not None and expected != offered.fingerprint:
        raise HostsCliError(
            f"{name} offers {offered.fingerprint}, not the expected {expected}; not pinned"
        )
    if not yes:
        if not stdin.isatty():
            raise HostsCliError(
                "not pinned: no terminal to ask; check the fingerprint out of band, then pass "
                f"--yes --fingerprint {offered.fingerprint}"
            )
        if not _ask(f"Pin this key for {name} in {path}? [y/N] ", stdin, out):
            print("not pinned", file=out)
            return 1
    append_pin(path, f"{name} {offered.public}")
    print(f"pinned {name} {offered.fingerprint} in {path}", file=out)
    return 0
