"""Driving ssh-mcp through a real MCP client session, for tests.

``serve()`` builds the app from explicit settings (never the developer's
environment), connects the SDK ``Client`` to it in-process, and closes every
pooled connection afterwards. ``audit_lines()`` reads back what the call wrote.
``OPEN``, ``OPEN_SUDO`` and ``LOW`` are the settings that open tool families;
``ok()``, ``refused()`` and ``error_line()`` are the shared assertions on a call.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal

from mcp import Client
from mcp.client.session import ElicitationFnT
from mcp.types import CallToolResult, TextContent
from sshd import Sshd, TestKeys, TestUser

from ssh_mcp.config.settings import Settings
from ssh_mcp.core.app import App, build_app
from ssh_mcp.mcp.server import build_server

Mode = Literal["auto", "legacy"]

# Settings overrides, used as ``settings_for(**OPEN)``; read-only, so that no test can change what
# the next one is given.
OPEN: Mapping[str, Any] = MappingProxyType(
    {"allow_dangerous_tools": True, "allow_any_command": True}
)
"""Opens the dangerous tools (commands, scripts, jobs, shells) to any command; sudo stays off."""

OPEN_SUDO: Mapping[str, Any] = MappingProxyType({**OPEN, "allow_sudo": True})
"""``OPEN`` and the sudo tools too."""

LOW: Mapping[str, Any] = MappingProxyType({"allow_low_access_tools": True})
"""Opens the low-access tools (file writes, uploads, notes); the dangerous tools stay off."""


def as_env(flags: Mapping[str, bool]) -> dict[str, str]:
    """``OPEN`` and its kind as the environment of a spawned server (``ALLOW_SUDO=true``, ...)."""
    return {name.upper(): "true" if value else "false" for name, value in flags.items()}


@dataclass
class Target:
    """What a hosts.toml entry for one test sshd needs."""

    alias: str
    port: int
    user: str
    key: Path
    path_allowlist: tuple[str, ...] = ()
    extra: str = ""


def hosts_toml(*targets: Target, defaults: str = "") -> str:
    out = [f"[defaults]\n{defaults}"]
    for t in targets:
        allow = ", ".join(json.dumps(p) for p in t.path_allowlist)
        out.append(
            f'[hosts.{t.alias}]\nhostname = "127.0.0.1"\nport = {t.port}\n'
            f"user = {json.dumps(t.user)}\npath_allowlist = [{allow}]\n{t.extra}\n"
            f'[hosts.{t.alias}.auth]\nmethod = "key"\nkey = {json.dumps(str(t.key))}\n'
        )
    return "\n".join(out)


def make_settings(workdir: Path, hosts: str, known_hosts: Path, **overrides: Any) -> Settings:
    """Settings for one test: its own hosts.toml and audit log, strict known_hosts."""
    workdir.mkdir(parents=True, exist_ok=True)
    hosts_file = workdir / "hosts.toml"
    hosts_file.write_text(hosts)
    values: dict[str, Any] = {
        "ssh_hosts_file": hosts_file,
        "ssh_known_hosts": known_hosts,
        "ssh_audit_log": workdir / "audit.jsonl",
        "ssh_job_table": workdir / "jobs.json",
        "ssh_host_notes_dir": workdir / "notes",
        "ssh_config_file": None,
        "ssh_connect_timeout": 5.0,
        "ssh_command_timeout": 20.0,
    }
    values.update(overrides)
    # _env_file=None and explicit values: the developer's environment cannot leak in.
    return Settings(_env_file=None, **values)


def scratch_settings(
    tmp_path: Path, server: Sshd, user: TestUser, keys: TestKeys, extra: str = "", **overrides: Any
) -> Settings:
    """Settings with one host, `s`, on a scratch sshd."""
    hosts = hosts_toml(Target("s", server.port, user.name, keys.plain, extra=extra))
    return make_settings(tmp_path, hosts, server.known_hosts_path, **overrides)


def server_env(settings: Settings, **extra: str) -> dict[str, str]:
    """The environment a spawned ``python -m ssh_mcp`` needs to use ``settings``' files
    (nothing of the developer's own environment but PATH and HOME)."""
    import os

    return {
        "PATH": os.environ["PATH"],
        "HOME": os.environ.get("HOME", "/root"),
        "SSH_HOSTS_FILE": str(settings.ssh_hosts_file),
        "SSH_KNOWN_HOSTS": str(settings.ssh_known_hosts),
        "SSH_AUDIT_LOG": str(settings.ssh_audit_log),
        "SSH_JOB_TABLE": str(settings.ssh_job_table),
        "SSH_HOST_NOTES_DIR": str(settings.ssh_host_notes_dir),
        "XDG_CACHE_HOME": str(settings.ssh_audit_log.parent / "cache"),
        **extra,
    }


@asynccontextmanager
async def serve(
    settings: Settings, mode: Mode = "auto", elicitation: ElicitationFnT | None = None
) -> AsyncIterator[tuple[Client, App]]:
    """An in-process client session with ssh-mcp; ``elicitation`` answers confirmations."""
    app = build_app(settings)
    try:
        server = build_server(app)
        async with Client(server, mode=mode, elicitation_callback=elicitation) as client:
            yield client, app
    finally:
        await app.aclose()


def text(result: CallToolResult) -> str:
    """The single text block of a result."""
    assert len(result.content) == 1
    block = result.content[0]
    assert isinstance(block, TextContent)
    return block.text


def structured(result: CallToolResult) -> dict[str, Any]:
    """The structured content of a result that must have succeeded."""
    assert not result.is_error, text(result)
    out: dict[str, Any] | None = result.structured_content
    assert out is not None, text(result)
    return out


def ok_stdout(result: CallToolResult) -> str:
    """The stdout of a command result that must have succeeded."""
    out: str = structured(result)["stdout"]
    return out


async def ok(client: Client, tool: str, args: Mapping[str, Any]) -> dict[str, Any]:
    """Call ``tool``; it must succeed; its structured content."""
    return structured(await client.call_tool(tool, dict(args)))


async def refused(client: Client, tool: str, args: Mapping[str, Any], *parts: str) -> str:
    """Call ``tool``; it must fail with a message naming every part; the message."""
    result = await client.call_tool(tool, dict(args))
    message = text(result)
    assert result.is_error, message
    for part in parts:
        assert part in message, f"{part!r} not in {message!r}"
    return message


def error_line(result: CallToolResult, *parts: str) -> str:
    """An isError result of one line, without a traceback, that names every part."""
    assert result.is_error
    message = text(result)
    assert "\n" not in message and "Traceback" not in message, message
    for part in parts:
        assert part in message, f"{part!r} not in {message!r}"
    return message


def audit_lines(app: App) -> list[dict[str, Any]]:
    path = app.settings.ssh_audit_log
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()]


def last_audit(app: App) -> dict[str, Any]:
    lines = audit_lines(app)
    assert lines, "no audit line was written"
    return lines[-1]


def assert_audit(app: App, expected: Mapping[str, Any]) -> dict[str, Any]:
    """The newest audit line carries every expected field; returns it."""
    line = last_audit(app)
    for key, value in expected.items():
        assert line.get(key) == value, f"audit {key}={line.get(key)!r}, expected {value!r}: {line}"
    return line


async def gone(user: str, pattern: str, timeout: float = 5.0) -> bool:
    """wait_gone in a thread: the in-process server must keep running while we poll."""
    import anyio.to_thread
    from sshd import wait_gone

    return await anyio.to_thread.run_sync(wait_gone, user, pattern, timeout)


async def poll(condition: Callable[[], bool], what: str, timeout: float = 15.0) -> None:
    """Wait until ``condition()`` holds, checking every 10 ms; fail after ``timeout`` s."""
    import anyio

    with anyio.move_on_after(timeout):
        for _ in iter(condition, True):  # polling a condition no event can announce
            await anyio.sleep(0.01)
        return
    raise AssertionError(f"{what}: not within {timeout:g} s")


async def eventually(cond: Callable[[], Awaitable[bool]], limit: float = 10.0) -> bool:
    """Poll the async `cond` every 20 ms (the in-process server keeps running); the limit is a
    hang guard, not a timing assertion."""
    import anyio

    for _ in range(int(limit / 0.02)):
        if await cond():
            return True
        await anyio.sleep(0.02)
    return await cond()


async def wait_for_audit(app: App, count: int) -> dict[str, Any]:
    """Audit line ``count`` (1-based), waiting for a cancelled call the server finishes late."""
    import anyio

    for _ in range(1500):
        if len(lines := audit_lines(app)) >= count:
            return lines[count - 1]
        await anyio.sleep(0.02)
    raise AssertionError(f"no audit line {count} after 30 s")


class StdioServer:
    """A spawned `python -m ssh_mcp` on pipes, for tests that speak raw JSON-RPC lines."""

    def __init__(self, env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "ssh_mcp"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            cwd="/",
        )

    def close(self) -> None:
        """Kill the server if it still runs (by PID) and close our ends of its pipes."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        for pipe in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            if pipe is not None and not pipe.closed:
                pipe.close()
