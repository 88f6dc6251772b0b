"""``ssh-mcp hosts add|list|remove``: the inventory without hand-editing TOML.

``add`` writes one drop-in per alias into ``hosts.d/`` next to the hosts file
(:mod:`ssh_mcp.config.dropins`, DECISIONS.md 63), so a hand-written hosts.toml
keeps its comments and layout. Before anything is written, the new entry is
validated together with everything the server would load, by the server's own
loader. ``remove`` deletes only such drop-ins; a host written by hand is
removed by hand, and the error says where.
"""

from __future__ import annotations

import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import tomli_w

from ssh_mcp.config.dropins import DropIn, dropin_dir, dropin_path, read_dropins
from ssh_mcp.config.inventory import Inventory, parse_hosts
from ssh_mcp.config.settings import Settings, load_settings
from ssh_mcp.errors import ConfigError
from ssh_mcp.ssh.known_hosts import KnownHosts

#: An alias that is also a safe file name and a bare TOML key.
_ALIAS = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")

_HEADER = "# Written by `ssh-mcp hosts add`; `ssh-mcp hosts remove {alias}` deletes this file.\n"


class HostsCliError(Exception):
    """A refused `hosts` action: one line for stderr, exit 1."""


@dataclass(frozen=True)
class Loaded:
    """What the server would load: the hosts file's text and its drop-ins."""

    settings: Settings
    path: Path
    text: str
    dropins: list[DropIn]

    def inventory(self, dropins: list[DropIn] | None = None) -> Inventory:
        chosen = self.dropins if dropins is None else dropins
        return parse_hosts(self.text, str(self.path), self.settings, chosen)

    def origin(self, alias: str) -> DropIn | None:
        """The drop-in that defines ``alias``, if one does."""
        return next((d for d in self.dropins if alias in d.data.get("hosts", {})), None)


def load(settings: Settings | None = None) -> Loaded:
    settings = settings or load_settings()
    path = settings.ssh_hosts_file.expanduser()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        text = ""
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
    return Loaded(settings, path, text, read_dropins(dropin_dir(path)))


def host_table(
    hostname: str,
    port: int | None,
    user: str | None,
    key: str | None,
    agent: bool,
    proxy_jump: list[str],
) -> dict[str, Any]:
    """The ``[hosts.<alias>]`` table for `hosts add`'s options; unset ones are left out."""
    table: dict[str, Any] = {"hostname": hostname}
    if port is not None:
        table["port"] = port
    if user:
        table["user"] = user
    if proxy_jump:
        table["proxy_jump"] = proxy_jump
    if key:
        # The server's working directory and home are not the operator's: write the path
        # absolute, as the operator means it now.
        table["auth"] = {"method": "key", "key": str(Path(key).expanduser().absolute())}
    elif agent:
        table["auth"] = {"method": "agent"}
    return table


def add_host(alias: str, table: dict[str, Any], groups: list[str]) -> Path:
    """Validate and write ``hosts.d/<alias>.toml``; returns its path."""
    if not _ALIAS.fullmatch(alias):
        raise HostsCliError(
            f"alias {alias!r}: use letters, digits, '.', '_' and '-' (it names a file)"
        )
    loaded = load()
    if alias in loaded.inventory().hosts:
        where = loaded.origin(alias)
        hint = f"`ssh-mcp hosts remove {alias}` first" if where else f"edit {loaded.path}"
        raise HostsCliError(
            f"{alias} is already defined in {where.source if where else loaded.path}; {hint}"
        )
    target = dropin_path(loaded.path, alias)
    doc: dict[str, Any] = {"hosts": {alias: table}}
    if groups:
        doc["groups"] = {g: [alias] for g in dict.fromkeys(groups)}
    try:  # the server's own checks, over everything it would load with this entry
        loaded.inventory([*loaded.dropins, DropIn(str(target), doc)])
    except ConfigError as exc:
        reason = str(exc).removeprefix(f"{target}: ")
        raise HostsCliError(f"not added, the server would refuse it: {reason}") from None
    target.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
    scratch = target.with_name(f".{target.name}.tmp")
    scratch.write_text(_HEADER.format(alias=alias) + tomli_w.dumps(doc), encoding="utf-8")
    os.replace(scratch, target)
    return target


def remove_host(alias: str) -> Path:
    """Delete the drop-in `hosts add` wrote for ``alias``; returns its path."""
    loaded = load()
    drop = loaded.origin(alias)
    if drop is None:
        if alias in loaded.inventory().hosts:
            raise HostsCliError(
                f"{alias} is written by hand in {loaded.path}; remove its [hosts.{alias}] "
                "table there (hosts remove deletes only what hosts add wrote)"
            )
        raise HostsCliError(f"no host {alias!r} in {loaded.path} or {dropin_dir(loaded.path)}")
    if Path(drop.source) != dropin_path(loaded.path, alias) or len(drop.data["hosts"]) != 1:
        raise HostsCliError(
            f"{alias} is in {drop.source} with other entries; edit that file by hand"
        )
    rest = [d for d in loaded.dropins if d is not drop]
    try:
        loaded.inventory(rest)
    except ConfigError as exc:
        raise HostsCliError(f"cannot remove {alias}: without it, {exc}") from None
    Path(drop.source).unlink()
    return Path(drop.source)


def list_rows(loaded: Loaded) -> list[list[str]]:
    inventory = loaded.inventory()
    known = KnownHosts(loaded.settings.ssh_known_hosts)
    rows = []
    for host in inventory.hosts.values():
        groups = [g for g, members in inventory.groups.items() if host.alias in members]
        auth = host.auth.method + (f" {host.auth.key}" if host.auth.key else "")
        via = f" via {','.join(host.proxy_jump)}" if host.proxy_jump else ""
        rows.append(
            [
                host.alias,
                f"{host.hostname}:{host.port}{via}",
                host.user or "(local)",
                auth,
                ",".join(groups) or "-",
                "yes" if known.is_pinned(host.hostname, host.port) else "no",
                "hosts.d" if loaded.origin(host.alias) else "file",
            ]
        )
    return rows


def print_table(header: list[str], rows: list[list[str]], out: TextIO = sys.stdout) -> None:
    table = [header, *rows]
    widths = [max(len(r[i]) for r in table) for i in range(len(header))]
    for row in table:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip(), file=out)


def list_hosts(out: TextIO = sys.stdout) -> int:
    loaded = load()
    rows = list_rows(loaded)
    if not rows:
        print(f"no hosts in {loaded.path} or {dropin_dir(loaded.path)}", file=out)
        return 0
    header = ["ALIAS", "ADDRESS", "USER", "AUTH", "GROUPS", "PINNED", "FROM"]
    print_table(header, rows, out)
    return 0
