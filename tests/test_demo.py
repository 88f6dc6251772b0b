"""`ssh-mcp demo` end to end, as an operator runs it: a subprocess, both sandbox backends.

Each run must exit 0, show every tool call and the audit lines, and leave nothing behind:
the sandbox sshd and the stdio server (PIDs the demo prints) are gone, no process mentions
the demo's temp dir, and the temp dir itself is removed.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ssh_mcp.demo.proctree import pid_alive

ROOT = Path(__file__).resolve().parent.parent
SSHD = Path("/usr/sbin/sshd")
TOOLS = ("ssh_host_ping", "ssh_host_info", "ssh_sftp_list", "ssh_exec_run")


def _pgrep(pattern: str) -> list[int]:
    res = subprocess.run(
        ["pgrep", "-f", pattern], capture_output=True, text=True, check=False, timeout=10
    )
    return [pid for pid in map(int, res.stdout.split()) if pid_alive(pid)]


def _demo(backend: str | None) -> subprocess.CompletedProcess[str]:
    """`python -m ssh_mcp demo` with SSH_MCP_DEMO_BACKEND set to `backend` (None: unset)."""
    env = {k: v for k, v in os.environ.items() if k != "SSH_MCP_DEMO_BACKEND"}
    if backend is not None:
        env["SSH_MCP_DEMO_BACKEND"] = backend
    argv = [sys.executable, "-m", "ssh_mcp", "demo"]
    return subprocess.run(
        argv, capture_output=True, text=True, env=env, cwd=ROOT, timeout=120, check=False
    )


def _run_demo(backend: str | None) -> str:
    res = _demo(backend)
    assert res.returncode == 0, f"demo exited {res.returncode}\n{res.stdout}\n{res.stderr}"
    return res.stdout


def _check_output(out: str, kind: str) -> None:
    assert re.search(rf"^sandbox: {kind} SSH host on 127\.0\.0\.1:\d+", out, re.M), out
    for tool in TOOLS:
        assert re.search(rf"^→ {tool}\(host='demo'.*\)\n  \[ok, \d+ ms\]$", out, re.M), (tool, out)
    assert "reachable=true auth_ok=true" in out
    assert "name=hello.txt kind=file" in out and "name=notes.md kind=file" in out
    assert "hello from ssh-mcp" in out
    denied = re.search(r"^→ ssh_exec_run\(.*'rm -rf /tmp/x'\)\n  \[isError", out, re.M)
    assert denied, out
    # A simulated human confirms a deny-pattern command through elicitation (2026-07-28:
    # an InputRequiredResult, then the retried call).
    assert "│ echo deploy to production" in out and "└ the human answers: yes" in out
    # The form shows under the call that asked for it, before that call's result.
    deploy = re.search(
        r"^→ ssh_exec_run\(.*'echo deploy to production'\)\n    ┌ confirmation form.*?\n"
        r"    └ the human answers: yes\n  \[ok",
        out,
        re.M | re.S,
    )
    assert deploy, out
    audit = [json for json in out.splitlines() if json.startswith('  {"ts":')]
    jobs = kind == "openssh"  # background jobs need a real sshd
    assert len(audit) == (9 if jobs else 7), out
    for tool in TOOLS + (("ssh_job_start", "ssh_job_status") if jobs else ()):
        assert any(f'"tool":"{tool}"' in line for line in audit), (tool, audit)
    assert any('"outcome":"denied"' in ln and "CommandNotAllowed" in ln for ln in audit)
    assert any('"confirmation":"requested"' in ln for ln in audit)
    assert any('"confirmation":"confirmed"' in ln and '"outcome":"ok"' in ln for ln in audit)
    assert not any("rm -rf" in line or "hello.txt" in line for line in audit)  # hashes only
    assert not any("deploy to production" in line for line in audit)
    assert re.search(rf"^audit verify: ok, {len(audit)} lines, chain intact", out, re.M), out
    if jobs:
        assert re.search(r"^\s+\[job j[0-9a-f]{16} on demo: exited 0\]$", out, re.M), out
        assert "    job done" in out


def _check_cleanup(out: str) -> None:
    cleanup = re.search(r"^cleanup: .*temp dir (\S+) removed$", out, re.M)
    assert cleanup, out
    tmp = cleanup.group(1)
    assert not Path(tmp).exists()
    assert out.rstrip().endswith("open the rest"), out  # it ends by saying what to do next
    assert "next steps, for your own hosts:" in out and "`ssh-mcp hosts check`" in out
    if os.geteuid() == 0:
        assert "note:    the sandbox logs in as root because the demo runs as root" in out
    pids = [int(p) for p in re.findall(r"\bpid (\d+)\)?,", out)]
    server = re.search(r"^server: .*\(pid (\d+)\)", out, re.M)
    assert server, out
    pids.append(int(server.group(1)))
    deadline = time.monotonic() + 5
    while (left := [p for p in pids if pid_alive(p)] + _pgrep(tmp)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not left, f"processes left behind by the demo: {left}"


@pytest.mark.skipif(not SSHD.exists(), reason="needs openssh-server (/usr/sbin/sshd)")
def test_demo_default_backend_uses_real_sshd() -> None:
    out = _run_demo(None)
    _check_output(out, "openssh")
    assert re.search(r"^sandbox: openssh .*, pid (\d+),", out, re.M), out
    _check_cleanup(out)


def test_demo_asyncssh_fallback() -> None:
    out = _run_demo("asyncssh")
    _check_output(out, "asyncssh")
    assert "path=/data total=2" in out  # the SFTP view is chrooted at the sandbox
    _check_cleanup(out)


def test_demo_rejects_unknown_backend() -> None:
    res = _demo("telnet")
    assert res.returncode == 1
    assert res.stderr.strip().splitlines()[-1].startswith("ssh-mcp demo failed: SSH_MCP_DEMO")
