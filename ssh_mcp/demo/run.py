"""``ssh-mcp demo``: a throwaway SSH host, driven through ssh-mcp by a real MCP client.

1. Starts a sandbox host on 127.0.0.1 (:mod:`ssh_mcp.demo.sandbox`): the real ``sshd``
   when ``/usr/sbin/sshd`` is installed, otherwise an in-process asyncssh server.
   ``SSH_MCP_DEMO_BACKEND=auto|openssh|asyncssh`` picks one (default ``auto``).
2. Pins its host key in a temp known_hosts and writes a temp hosts.toml (alias
   ``demo``, key auth, the sandbox's data directory as the path allowlist).
3. Spawns ``python -m ssh_mcp`` with settings passed as env vars (dangerous tier open,
   command allowlist ``echo uname ls id sleep``, a deny pattern ``echo deploy``, audit
   log in the temp dir) and drives it over stdio with the SDK's client
   (:func:`ssh_mcp.mcp.client.stdio_client`): ping, host info, an SFTP listing, an exec, an
   exec that the command policy refuses, one that a (simulated) human confirms through
   MCP elicitation, and a background job (real sshd only).
4. Prints each call, then its result (a confirmation form in between), and the audit
   lines, verifies the audit chain, stops the sandbox by PID, removes the temp dir and
   says what to do next. Exit 0, or 1 with a one-line reason.

Nothing outside the temp dir is read or written except by the sandbox's commands.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import sys
import tempfile
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

import ssh_mcp
from ssh_mcp.config.environ import DEMO_BACKEND_ENV, demo_backend
from ssh_mcp.config.settings import Settings
from ssh_mcp.demo.proctree import descendants
from ssh_mcp.demo.sandbox import Backend, Sandbox, start_sandbox
from ssh_mcp.mcp.client import CallReply, StdioClient, stdio_client
from ssh_mcp.state.audit import verify

BACKEND_ENV = DEMO_BACKEND_ENV
ALIAS = "demo"
COMMANDS = ("echo", "uname", "ls", "id", "sleep")
#: An operator deny pattern the demo adds: its command runs only after a "human" says yes.
CONFIRM_PATTERN = r"\becho\s+deploy\b"
TIMEOUT = 90.0  # the whole demo
_WIDTH = 100


NEXT_STEPS = """
next steps, for your own hosts:
  1. write hosts.toml at $XDG_CONFIG_HOME/ssh-mcp/hosts.toml (default ~/.config/ssh-mcp/),
     starting from hosts.toml.example; CONFIGURATION.md explains every key
  2. pin each host's key in ~/.ssh/known_hosts (CONFIGURATION.md, "known_hosts")
  3. run `ssh-mcp hosts check`: it reaches every host the way an agent's first call would
  4. add the server to your MCP client (README, "Use it from an MCP client"); the read
     tools are open, ALLOW_LOW_ACCESS_TOOLS and ALLOW_DANGEROUS_TOOLS open the rest"""


class DemoFailed(Exception):
    """A step went wrong; the message is the one-line reason."""


def _backend() -> Backend:
    value = demo_backend() or "auto"
    if value == "auto":
        return "auto"
    if value == "openssh":
        return "openssh"
    if value == "asyncssh":
        return "asyncssh"
    raise DemoFailed(f"{BACKEND_ENV}={value!r}: use auto, openssh or asyncssh")


def _hosts_toml(sandbox: Sandbox) -> str:
    return (
        f"[hosts.{ALIAS}]\n"
        'hostname = "127.0.0.1"\n'
        f"port = {sandbox.port}\n"
        f"user = {json.dumps(sandbox.user)}\n"
        f"path_allowlist = [{json.dumps(sandbox.remote_data_dir)}]\n"
        f'notes = "throwaway {sandbox.kind} sandbox started by ssh-mcp demo"\n'
        f"\n[hosts.{ALIAS}.auth]\n"
        'method = "key"\n'
        f"key = {json.dumps(str(sandbox.client_key))}\n"
    )


def _settings(tmp: Path) -> Settings:
    # Explicit values and _env_file=None: this is the configuration the demo shows.
    return Settings(
        _env_file=None,
        ssh_hosts_file=tmp / "hosts.toml",
        ssh_known_hosts=tmp / "known_hosts",
        ssh_audit_log=tmp / "audit.jsonl",
        ssh_config_file=None,
        allow_dangerous_tools=True,
        allow_any_command=False,
        ssh_command_allowlist=list(COMMANDS),
        ssh_confirm_patterns=[CONFIRM_PATTERN],
        ssh_job_table=tmp / "jobs.json",
        ssh_connect_timeout=10.0,
        ssh_command_timeout=20.0,
    )


def _server_env(settings: Settings) -> dict[str, str]:
    """The settings as env vars for the spawned server. The SDK's stdio client passes only
    these over a minimal environment, so the operator's own SSH_* variables cannot leak in."""
    env = {
        "SSH_HOSTS_FILE": str(settings.ssh_hosts_file),
        "SSH_KNOWN_HOSTS": str(settings.ssh_known_hosts),
        "SSH_AUDIT_LOG": str(settings.ssh_audit_log),
        "ALLOW_DANGEROUS_TOOLS": str(settings.allow_dangerous_tools).lower(),
        "ALLOW_ANY_COMMAND": str(settings.allow_any_command).lower(),
        "SSH_COMMAND_ALLOWLIST": json.dumps(settings.ssh_command_allowlist),
        "SSH_CONFIRM_PATTERNS": json.dumps(settings.ssh_confirm_patterns),
        "SSH_JOB_TABLE": str(settings.ssh_job_table),
        "SSH_CONNECT_TIMEOUT": str(settings.ssh_connect_timeout),
        "SSH_COMMAND_TIMEOUT": str(settings.ssh_command_timeout),
        "LOG_LEVEL": "WARNING",
        # The child imports the same ssh_mcp this process runs, installed or not.
        "PYTHONPATH": str(Path(ssh_mcp.__file__).resolve().parent.parent),
    }
    return env


def _server_pids() -> list[int]:
    """Our descendants running ``-m ssh_mcp``: the stdio server the client spawned (Linux)."""
    found = []
    for p in descendants(os.getpid()):
        with contextlib.suppress(OSError):
            if b"ssh_mcp" in Path(f"/proc/{p.pid}/cmdline").read_bytes().split(b"\0"):
                found.append(p.pid)
    return found


def _say(line: str = "") -> None:
    print(line, flush=True)


def _indent(text: str, max_lines: int = 12) -> Iterator[str]:
    lines = [
        w
        for line in text.splitlines() or [""]
        for w in textwrap.wrap(line, _WIDTH, subsequent_indent="  ") or [""]
    ]
    for line in lines[:max_lines]:
        yield "    " + line
    if len(lines) > max_lines:
        yield f"    … ({len(lines) - max_lines} more lines)"


def _scalar(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _render(text: str) -> str:
    """A JSON text block as ``key: value`` lines (lists of objects one item a line);
    any other text as it is."""
    try:
        data = json.loads(text)
    except ValueError:
        return text
    if not isinstance(data, dict):
        return text
    lines, pairs = [], []
    for key, value in data.items():
        if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            lines.append(f"{key}:")
            lines += [
                "  " + " ".join(f"{k}={_scalar(v)}" for k, v in item.items()) for item in value
            ]
        else:
            pairs.append(f"{key}={_scalar(value)}")
    wrapped, current = [], ""
    for pair in pairs:
        if current and len(current) + 1 + len(pair) > _WIDTH:
            wrapped.append(current)
            current = pair
        else:
            current = f"{current} {pair}" if current else pair
    return "\n".join([*wrapped, current, *lines] if current else [*wrapped, *lines])


async def _call(
    client: StdioClient, tool: str, args: dict[str, Any], *, expect_error: bool = False
) -> CallReply:
    shown = ", ".join(f"{k}={v!r}" for k, v in args.items())
    _say(f"→ {tool}({shown})")  # first, so a confirmation form shows under its own call
    started = time.perf_counter()
    reply = await client.call(tool, args)
    ms = (time.perf_counter() - started) * 1000
    status = "ok" if reply.ok else "isError"
    _say(f"  [{status}, {ms:.0f} ms]")
    for line in _indent(_render(reply.text.strip())):
        _say(line)
    if reply.ok == expect_error:
        want = "a policy denial" if expect_error else "success"
        raise DemoFailed(f"{tool} returned {status}, expected {want}: {reply.text.strip()[:200]}")
    return reply


async def _human(message: str) -> bool:
    """The demo's stand-in for a person at the MCP client: shows the form, says yes."""
    _say("    ┌ confirmation form shown to the human:")
    for line in message.splitlines():
        if line.strip():
            _say(f"    │ {line}")
    _say("    └ the human answers: yes")
    return True


async def _drive(client: StdioClient, sandbox: Sandbox) -> None:
    _say(f"tools:   {len(client.tools)} visible over stdio ({client.protocol_version})")
    _say()
    host = {"host": ALIAS}
    await _call(client, "ssh_host_ping", host)
    await _call(client, "ssh_host_info", host)
    await _call(client, "ssh_sftp_list", {**host, "path": sandbox.remote_data_dir})
    await _call(client, "ssh_exec_run", {**host, "command": "echo hello from ssh-mcp; uname -sr"})
    denied = await _call(
        client, "ssh_exec_run", {**host, "command": "rm -rf /tmp/x"}, expect_error=True
    )
    if "rm" not in denied.text:
        raise DemoFailed(f"the denial does not name the refused program: {denied.text[:200]}")
    await _call(client, "ssh_exec_run", {**host, "command": "echo deploy to production"})
    if sandbox.kind != "openssh":
        _say("(background jobs need a real sshd; skipped with the asyncssh sandbox)")
        return
    started = await _call(
        client, "ssh_job_start", {**host, "command": "sleep 1; echo job done", "name": "demo"}
    )
    job_id = (started.structured or {}).get("job_id")
    status = await _call(client, "ssh_job_status", {"job_id": job_id, "wait": 10})
    if (status.structured or {}).get("state") != "exited":
        raise DemoFailed(f"the background job did not finish: {status.text[:200]}")


def _show_audit(path: Path) -> None:
    _say()
    _say(f"audit log ({path.name}), one JSON line per call; no plaintext commands or paths:")
    lines = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
    if not lines:
        raise DemoFailed(f"the audit log {path} is empty")
    for raw in lines:
        rec = json.loads(raw)
        rec["prev"] = str(rec.get("prev", ""))[:19] + "…"
        for key in ("command_hash", "path_hash"):
            if key in rec:
                rec[key] = str(rec[key])[:19] + "…"
        _say("  " + json.dumps(rec, separators=(",", ":"), ensure_ascii=False))
    report = verify(path)
    if not report.ok:
        raise DemoFailed(f"audit verify: {report.reason}")
    _say(
        f"audit verify: ok, {report.lines} lines, chain intact "
        f"(same as `ssh-mcp audit verify {path.name}`)"
    )


async def _demo(tmp: Path, errlog: TextIO) -> str:
    """Everything but removing ``tmp``; returns how the sandbox was stopped."""
    backend = _backend()
    host_dir = tmp / "host"
    host_dir.mkdir()
    started = time.perf_counter()
    sandbox = await start_sandbox(host_dir, backend)
    try:
        where = f"pid {sandbox.pids[0]}" if sandbox.pids else f"in this process (pid {os.getpid()})"
        _say(
            f"sandbox: {sandbox.kind} SSH host on {sandbox.host}:{sandbox.port}, user "
            f"{sandbox.user}, {where}, up in {(time.perf_counter() - started) * 1000:.0f} ms"
        )
        if sandbox.note:
            _say(f"note:    {sandbox.note}")
        if sandbox.user == "root":
            _say(
                "note:    the sandbox logs in as root because the demo runs as root; on real "
                "hosts set `user` to an unprivileged login and open sudo (ALLOW_SUDO) only "
                "where needed"
            )
        (sandbox.data_dir / "hello.txt").write_text("hello from the ssh-mcp demo\n")
        (sandbox.data_dir / "notes.md").write_text("# notes\n\nfiles the demo lists over SFTP\n")
        (tmp / "known_hosts").write_text(sandbox.known_hosts_line + "\n")
        (tmp / "hosts.toml").write_text(_hosts_toml(sandbox))
        settings = _settings(tmp)
        _say(f"pinned:  {sandbox.known_hosts_line[:72]}…")
        _say(
            f"config:  {settings.ssh_hosts_file} (alias {ALIAS!r}, key auth, path allowlist "
            f"[{sandbox.remote_data_dir}]); exec allowlist: {' '.join(COMMANDS)}"
        )
        argv, env = [sys.executable, "-m", "ssh_mcp"], _server_env(settings)
        async with stdio_client(argv, env, cwd=str(tmp), errlog=errlog, confirm=_human) as client:
            pids = " ".join(str(p) for p in _server_pids()) or "?"
            _say(f"server:  {Path(sys.executable).name} -m ssh_mcp (pid {pids}), over stdio")
            await _drive(client, sandbox)
        _show_audit(settings.ssh_audit_log)
    finally:
        await sandbox.aclose()
    return f" (pid {sandbox.pids[0]})" if sandbox.pids else ""


def run_demo() -> int:
    """Run the demo; 0 on success, 1 (with a one-line reason on stderr) on any failure."""
    tmp = Path(tempfile.mkdtemp(prefix="ssh-mcp-demo-")).resolve()
    errlog_path = tmp / "server-stderr.log"
    code, reason, stopped = 0, "", ""
    try:
        with errlog_path.open("w") as errlog:
            stopped = asyncio.run(asyncio.wait_for(_demo(tmp, errlog), TIMEOUT))
    except DemoFailed as exc:
        code, reason = 1, str(exc)
    except TimeoutError:
        code, reason = 1, f"did not finish within {TIMEOUT:.0f} s"
    except KeyboardInterrupt:
        code, reason = 130, "interrupted"
    except Exception as exc:
        code, reason = 1, f"{type(exc).__name__}: {' '.join(str(exc).split())[:300]}"
    if code:
        with contextlib.suppress(OSError):
            tail = errlog_path.read_text(errors="replace").strip().splitlines()[-15:]
            if tail:
                print("server stderr (last lines):", *tail, sep="\n  ", file=sys.stderr)
    shutil.rmtree(tmp, ignore_errors=True)
    if not code and tmp.exists():
        code, reason = 1, f"could not remove the temp dir {tmp}"
    if code:
        print(f"ssh-mcp demo failed: {reason}", file=sys.stderr)
        return code
    _say(f"cleanup: sandbox stopped{stopped}, temp dir {tmp} removed")
    _say(NEXT_STEPS)
    return 0
