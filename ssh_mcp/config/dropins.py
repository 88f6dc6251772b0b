"""``hosts.d/``: drop-in host files next to hosts.toml, one per alias.

``ssh-mcp hosts add`` writes here, so that a hand-written hosts.toml (its
comments, its layout) is never rewritten by a program. A drop-in holds
``[hosts.<alias>]`` tables and ``[groups]`` memberships, nothing else:
``[defaults]`` stays in hosts.toml and applies to drop-in hosts as to the
others. Files are read in name order; names starting with ``.`` (editor and
temporary files) and names not ending in ``.toml`` are skipped. An alias
defined twice, in hosts.toml and a drop-in or in two drop-ins, is an error
naming both files; a group named in several files gets every file's members.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ssh_mcp.errors import ConfigError

#: The drop-in directory's name, next to the hosts file.
DROPIN_DIR = "hosts.d"

#: The top-level tables a drop-in may hold.
_ALLOWED = ("hosts", "groups")


@dataclass(frozen=True)
class DropIn:
    source: str
    data: dict[str, Any]


def dropin_dir(hosts_file: Path) -> Path:
    return hosts_file.expanduser().parent / DROPIN_DIR


def dropin_path(hosts_file: Path, alias: str) -> Path:
    """Where ``ssh-mcp hosts add`` keeps ``alias``."""
    return dropin_dir(hosts_file) / f"{alias}.toml"


def read_dropins(directory: Path) -> list[DropIn]:
    """Every drop-in in ``directory``, parsed; a missing directory holds none."""
    try:
        names = sorted(p for p in directory.iterdir() if _is_dropin(p))
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise ConfigError(f"{directory}: cannot read: {exc.strerror}") from None
    out = []
    for path in names:
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: not valid TOML: {exc}") from None
        extra = sorted(set(data) - set(_ALLOWED))
        if extra:
            raise ConfigError(
                f"{path}: key {extra[0]}: a drop-in holds only [hosts.<alias>] and [groups]; "
                "put [defaults] and the rest in the hosts file"
            )
        out.append(DropIn(str(path), data))
    return out


def _is_dropin(path: Path) -> bool:
    return path.suffix == ".toml" and not path.name.startswith(".") and path.is_file()


def merge_dropins(
    data: dict[str, Any], source: str, dropins: list[DropIn]
) -> tuple[dict[str, Any], dict[str, str]]:
    """hosts.toml's data with the drop-ins' hosts and group members added, and the file each
    drop-in alias came from (for error messages)."""
    if not dropins:
        return data, {}
    hosts = dict(_table(data, "hosts", source))
    groups = {name: list(members) for name, members in _table(data, "groups", source).items()}
    origins: dict[str, str] = {}
    for drop in dropins:
        for alias, table in _table(drop.data, "hosts", drop.source).items():
            if alias in hosts:
                first = origins.get(alias, source)
                raise ConfigError(f"{drop.source}: key hosts.{alias}: already defined in {first}")
            hosts[alias] = table
            origins[alias] = drop.source
        for name, members in _table(drop.data, "groups", drop.source).items():
            if not isinstance(members, list):
                raise ConfigError(f"{drop.source}: key groups.{name}: a list of aliases")
            groups.setdefault(name, []).extend(m for m in members if m not in groups[name])
    merged = {**data, "hosts": hosts}
    if groups:
        merged["groups"] = groups
    return merged, origins


def _table(data: dict[str, Any], key: str, source: str) -> dict[str, Any]:
    value = data.get(key, {})
    if not isinstance(value, dict):
        raise ConfigError(f"{source}: key {key}: must be a table")
    return value
