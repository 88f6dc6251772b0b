"""`ssh-mcp audit verify|tail` through the real command."""

from __future__ import annotations

from pathlib import Path

from cli_run import cli_env, run_cli

from ssh_mcp.state.audit import AuditLog


def _fill(path: Path, n: int) -> None:
    log = AuditLog(path)
    for i in range(n):
        outcome = "error" if i % 2 else "ok"
        log.write(
            {
                "tool": "ssh_exec_run",
                "host": f"web{i}",
                "outcome": outcome,
                "error": "ConnectFailed" if i % 2 else None,
                "duration_ms": 10 + i,
            }
        )
    log.close()


def test_verify_defaults_to_the_configured_log(tmp_path: Path) -> None:
    env = cli_env(tmp_path)
    default = tmp_path / "state" / "ssh-mcp" / "audit.jsonl"
    _fill(default, 3)
    r = run_cli(env, "audit", "verify")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == f"ok: 3 lines, chain intact ({default})"
    other = tmp_path / "other.jsonl"
    _fill(other, 2)
    r = run_cli({**env, "SSH_AUDIT_LOG": str(other)}, "audit", "verify")
    assert "2 lines" in r.stdout and r.returncode == 0


def test_missing_log_is_one_line_and_exit_2(tmp_path: Path) -> None:
    env = cli_env(tmp_path)
    for args in (("audit", "verify"), ("audit", "tail"), ("audit", "verify", "/nope.jsonl")):
        r = run_cli(env, *args)
        assert r.returncode == 2, (args, r.stderr)
        assert "Traceback" not in r.stderr
        assert len(r.stderr.strip().splitlines()) == 1, r.stderr
        assert "no audit log at" in r.stderr


def test_verify_reports_a_broken_chain(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    _fill(path, 3)
    lines = path.read_bytes().splitlines(keepends=True)
    path.write_bytes(lines[0] + lines[2])
    r = run_cli(cli_env(tmp_path), "audit", "verify", str(path))
    assert r.returncode == 1
    assert "broken:" in r.stderr and "line 2" in r.stderr


def test_tail_prints_the_last_records_as_a_table(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    _fill(path, 5)
    r = run_cli(cli_env(tmp_path, SSH_AUDIT_LOG=str(path)), "audit", "tail", "-n", "2")
    assert r.returncode == 0, r.stderr
    head, *rows = r.stdout.splitlines()
    assert head.split() == ["TIME", "TOOL", "HOST", "OUTCOME", "ERROR", "MS"]
    assert len(rows) == 2
    assert rows[0].split()[2:] == ["ssh_exec_run", "web3", "error", "ConnectFailed", "13"]
    assert rows[1].split()[2:] == ["ssh_exec_run", "web4", "ok", "-", "14"]
