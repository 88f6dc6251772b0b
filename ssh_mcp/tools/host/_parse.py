"""Parsers for the text that host commands print. Pure functions, unit-tested."""

from __future__ import annotations

import re
import shlex


def os_release(text: str) -> dict[str, str]:
    """Parse /etc/os-release (KEY=value lines, shell-quoted values)."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if not sep or not key.strip() or key.strip().startswith("#"):
            continue
        try:
            words = shlex.split(value)
        except ValueError:
            continue
        out[key.strip()] = words[0] if words else ""
    return out


def meminfo(text: str) -> dict[str, int]:
    """Parse /proc/meminfo into bytes per key."""
    out: dict[str, int] = {}
    for line in text.splitlines():
        key, _, rest = line.partition(":")
        parts = rest.split()
        if parts and parts[0].isdigit():
            factor = 1024 if len(parts) > 1 and parts[1].lower() == "kb" else 1
            out[key.strip()] = int(parts[0]) * factor
    return out


_DF_LINE = re.compile(r"^(\S+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)%\s+(.+)$")
_DF_TYPED = re.compile(r"^(\S+)\s+(\S+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)%\s+(.+)$")


def df_posix(text: str) -> list[dict[str, str | int | None]]:
    """Parse ``df -P -k`` output, or ``df -P -k -T`` (a Type column after the first).
    Mount points with spaces keep their spaces."""
    lines = text.splitlines()
    typed = bool(lines) and lines[0].split()[1:2] == ["Type"]
    rows: list[dict[str, str | int | None]] = []
    for line in lines[1:]:
        m = (_DF_TYPED if typed else _DF_LINE).match(line.strip())
        if not m:
            continue
        groups = [str(g) for g in m.groups()]
        fstype = groups.pop(1) if typed else None
        fs, blocks, used, avail, pct, mount = groups
        rows.append(
            {
                "filesystem": fs,
                "fs_type": fstype,
                "mount": mount,
                "size_bytes": int(blocks) * 1024,
                "used_bytes": int(used) * 1024,
                "available_bytes": int(avail) * 1024,
                "use_percent": int(pct),
            }
        )
    return rows


def cpu_model(text: str) -> str:
    """The first ``model name`` (x86) or ``Model``/``Hardware`` (ARM) of /proc/cpuinfo."""
    for key in ("model name", "Model", "Hardware", "cpu model"):
        for line in text.splitlines():
            name, sep, value = line.partition(":")
            if sep and name.strip() == key and value.strip():
                return value.strip()
    return ""


def ps_rows(text: str) -> list[dict[str, str | int | float]]:
    """Parse ``ps -eo pid=,user=,pcpu=,pmem=,rss=,etimes=,comm=`` lines."""
    rows: list[dict[str, str | int | float]] = []
    for line in text.splitlines():
        parts = line.split(None, 6)
        if len(parts) < 7 or not parts[0].isdigit():
            continue
        try:
            rows.append(
                {
                    "pid": int(parts[0]),
                    "user": parts[1],
                    "cpu_percent": float(parts[2]),
                    "mem_percent": float(parts[3]),
                    "rss_bytes": int(parts[4]) * 1024,
                    "elapsed_seconds": int(parts[5]),
                    "command": parts[6].strip(),
                }
            )
        except ValueError:
            continue
    return rows
