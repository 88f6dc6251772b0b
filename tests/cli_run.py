"""Running the real ``ssh-mcp`` command in a clean environment, for CLI tests."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def cli_env(home: Path, **env: str) -> dict[str, str]:
    """A minimal environment: HOME and XDG dirs under ``home``, nothing of the developer's."""
    home.mkdir(parents=True, exist_ok=True)
    base = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / "config"),
        "XDG_STATE_HOME": str(home / "state"),
        "XDG_CACHE_HOME": str(home / "cache"),
    }
    base.update(env)
    return base


def run_cli(
    env: dict[str, str], *args: str, stdin: str | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """``python -m ssh_mcp ARGS``: the same entry point as the ``ssh-mcp`` script."""
    return subprocess.run(
        [sys.executable, "-m", "ssh_mcp", *args],
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd="/",
    )
