"""What ssh-mcp reads from the process environment outside :class:`Settings`.

These are read before Settings can be built (logging, `ssh-mcp audit verify`), belong to
the process rather than to the server's policy (the agent socket, PATH), or serve the demo
only (CONFIGURATION.md, "Also read, outside these settings"). Like Settings they live in
config/, the one package that reads the environment (tests/test_layers.py).
"""

from __future__ import annotations

import os
from pathlib import Path


def xdg(var: str, fallback: str) -> Path:
    base = os.environ.get(var) or str(Path.home() / fallback)
    return Path(base)


#: The demo's backend choice: auto, openssh or asyncssh.
DEMO_BACKEND_ENV = "SSH_MCP_DEMO_BACKEND"


def log_level() -> str:
    """``LOG_LEVEL`` upper-cased, default WARNING; set before Settings, so a settings error logs."""
    return os.environ.get("LOG_LEVEL", "WARNING").upper()


def audit_key_text() -> str | None:
    """``SSH_AUDIT_KEY`` for `ssh-mcp audit verify`, which must not need the rest of Settings."""
    return os.environ.get("SSH_AUDIT_KEY")


def audit_log_path() -> Path:
    """``SSH_AUDIT_LOG`` or its default, for `ssh-mcp audit`, which must not need the rest."""
    value = os.environ.get("SSH_AUDIT_LOG")
    return Path(value).expanduser() if value else default_audit_log()


def agent_socket() -> str | None:
    """``SSH_AUTH_SOCK``: the agent of agent-auth hosts without ``identity_agent``."""
    return os.environ.get("SSH_AUTH_SOCK") or None


def demo_backend() -> str:
    """``SSH_MCP_DEMO_BACKEND`` as written, trimmed and lower-cased; empty means auto."""
    return os.environ.get(DEMO_BACKEND_ENV, "").strip().lower()


def search_path() -> str:
    """This process's ``PATH``, for the demo sandbox's commands to find their programs."""
    return os.environ.get("PATH", "/usr/bin:/bin")


def default_hosts_file() -> Path:
    return xdg("XDG_CONFIG_HOME", ".config") / "ssh-mcp" / "hosts.toml"


def schema_cache_file() -> Path:
    """Where tool schemas are kept between runs (DECISIONS.md 83)."""
    return xdg("XDG_CACHE_HOME", ".cache") / "ssh-mcp" / "schemas.json"


def default_audit_log() -> Path:
    return xdg("XDG_STATE_HOME", ".local/state") / "ssh-mcp" / "audit.jsonl"
