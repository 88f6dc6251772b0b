"""Access tiers and tool groups: the two axes that decide a tool's visibility."""

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
