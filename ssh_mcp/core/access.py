"""Access tiers and tool groups, the two axes that decide a tool's visibility; and the
tool mode, which decides what tools/list shows of the visible tools."""

from __future__ import annotations

from enum import StrEnum


class Tier(StrEnum):
    """How much a tool can change. Each tier above ``read`` has its own env flag."""

    READ = "read"
    LOW_ACCESS = "low-access"
    DANGEROUS = "dangerous"
    SUDO = "sudo"


class Group(StrEnum):
    """What a tool is about; ``SSH_ENABLED_GROUPS`` trims the catalogue by group."""

    HOST = "host"
    SESSION = "session"
    SFTP_READ = "sftp-read"
    FILE_OPS = "file-ops"
    EXEC = "exec"
    SHELL = "shell"
    SUDO = "sudo"
    SYSTEMD = "systemd"
    DOCKER = "docker"
    PKG = "pkg"
    TERMINAL = "terminal"
    FORWARD = "forward"


class ToolMode(StrEnum):
    """What tools/list shows (``SSH_TOOL_MODE``): every open tool, or a small fixed set
    through which the rest are searched, described and called (DECISIONS.md 62)."""

    FULL = "full"
    SEARCH = "search"


def unknown_tool(name: str, mode: ToolMode) -> str:
    """The refusal for a tool that is unknown or hidden here; the two read the same."""
    where = (
        "call ssh_tool_search to find the tools this server offers"
        if mode is ToolMode.SEARCH
        else "call tools/list for the tools this server offers"
    )
    return f"unknown tool {name[:64]!r}; {where}"
