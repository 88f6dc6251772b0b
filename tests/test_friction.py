"""The friction list of issue 11 that is not the operator CLI: mistyped names get a
"did you mean", a mistyped SSH_HOSTS_FILE stops the server, hints name the real cause.
CLI behaviour runs the real ``ssh-mcp`` binary."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from harness import serve, text

from ssh_mcp.config.settings import Settings

BINARY = str(Path(sys.executable).parent / "ssh-mcp")


def _run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    base = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/root")}
    return subprocess.run(
        [BINARY, *args],
        capture_output=True,
        text=True,
        env=base | env,
        stdin=subprocess.DEVNULL,
        timeout=60,
        check=False,
    )


def test_a_mistyped_hosts_file_stops_the_server_in_one_line(tmp_path: Path) -> None:
    missing = tmp_path / "hosts.tmol"
    proc = _run({"SSH_HOSTS_FILE": str(missing)})
    assert proc.returncode == 2
    assert proc.stderr == (
        f"ssh-mcp: configuration error: SSH_HOSTS_FILE={missing}: no such file; fix the path, "
        "or unset SSH_HOSTS_FILE to use the default location\n"
    )


def test_the_default_hosts_file_missing_serves_and_says_so(tmp_path: Path) -> None:
    env = {"XDG_CONFIG_HOME": str(tmp_path / "cfg"), "XDG_STATE_HOME": str(tmp_path / "st")}
    proc = _run(env)  # stdin at EOF: the stdio server starts and ends
    assert proc.returncode == 0, proc.stderr
    assert f"no hosts file at {tmp_path}/cfg/ssh-mcp/hosts.toml" in proc.stderr


def test_a_misspelled_env_name_is_warned_about_at_startup(tmp_path: Path) -> None:
    hosts = tmp_path / "hosts.toml"
    hosts.write_text("")
    env = {"SSH_HOSTS_FILE": str(hosts), "ALLOW_DANGEROUS_TOOL": "true"}
    env["SSH_AUDIT_LOG"] = str(tmp_path / "audit.jsonl")
    proc = _run(env)
    assert proc.returncode == 0, proc.stderr
    assert (
        "environment variable ALLOW_DANGEROUS_TOOL is not one ssh-mcp reads; "
        "did you mean ALLOW_DANGEROUS_TOOLS?"
    ) in proc.stderr


@pytest.mark.anyio
async def test_a_mistyped_tool_argument_gets_the_known_name(
    settings_for: Callable[..., Settings],
) -> None:
    async with serve(settings_for()) as (client, _):
        r = await client.call_tool(
            "ssh_find", {"host": "target", "path": "/tmp", "pattern": "*.log"}
        )
        assert r.is_error
        assert "pattern: unknown field; did you mean `name_pattern`?" in text(r), text(r)
        r = await client.call_tool("ssh_find", {"host": "target", "path": "/tmp", "zzzz": 1})
        assert r.is_error and "zzzz: unknown field; remove it" in text(r), text(r)


def test_hosts_check_speaks_to_the_human_not_to_an_agent(tmp_path: Path) -> None:
    hosts = tmp_path / "hosts.toml"
    hosts.write_text('[hosts.web1]\nhostname = "127.0.0.1"\n')
    env = {"SSH_HOSTS_FILE": str(hosts), "SSH_AUDIT_LOG": str(tmp_path / "audit.jsonl")}
    proc = _run(env, "hosts", "check", "web2")
    assert proc.returncode == 1
    assert "unknown host 'web2'" in proc.stdout
    assert f"the aliases are the tables in {hosts}" in proc.stdout
    assert "ssh_host_list" not in proc.stdout + proc.stderr


# Options of `claude mcp add` that take values; these take every value up to the next option
# (commander's variadic options), so one before the server name swallows it.
_CLAUDE_VARIADIC = {"--env", "-e", "--header", "-H"}
_CLAUDE_VALUED = {"--transport", "-t", "--scope", "-s", "--callback-port", "--client-id"}


def _claude_add_name(argv: list[str]) -> str | None:
    """The server name `claude mcp add` reads from ``argv`` (after ``add``), as its parser
    does: the first word that no option consumed, before ``--``."""
    i = 0
    while i < len(argv) and argv[i] != "--":
        word = argv[i]
        if word in _CLAUDE_VARIADIC:
            i += 1
            while i < len(argv) and not argv[i].startswith("-"):
                i += 1
            continue
        if word in _CLAUDE_VALUED:
            i += 2
            continue
        if not word.startswith("-"):
            return word
        i += 1
    return None


def test_every_claude_code_example_in_the_readme_keeps_its_server_name() -> None:
    import re
    import shlex

    readme = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")
    commands = re.findall(r"claude mcp add [^`\n]*", readme)
    assert len(commands) >= 2
    for command in commands:
        argv = shlex.split(command)[3:]
        assert _claude_add_name(argv) == "ssh-mcp", command
    # The parser above reads the failing form as the CLI did: --env takes the name.
    broken = ["--transport", "stdio", "--env", "A=1", "ssh-mcp", "--", "uvx", "ssh-mcp"]
    assert _claude_add_name(broken) is None


def test_every_json_client_example_in_the_readme_parses_and_runs_ssh_mcp() -> None:
    import json
    import re

    readme = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```json\n(.*?)```", readme, re.DOTALL)
    servers = [json.loads(b)["mcpServers"] for b in blocks if "mcpServers" in b]
    assert servers
    for entry in (e for s in servers for e in s.values()):
        assert entry["args"][-1] == "ssh-mcp" or entry["command"] == "ssh-mcp", entry
        assert all(isinstance(v, str) for v in entry.get("env", {}).values()), entry
