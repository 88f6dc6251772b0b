"""`ssh-mcp hosts pin` through the real command against real sshd: never silent, never a
replacement, over the jump chain when there is one."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
import time
from pathlib import Path

from cli_run import cli_env, run_cli
from harness import Target, hosts_toml
from sshd import JumpHosts, Sshd, TestKeys, TestUser


def _env(tmp_path: Path, hosts: str, known_hosts: Path) -> dict[str, str]:
    (tmp_path / "hosts.toml").write_text(hosts)
    return cli_env(
        tmp_path / "home",
        SSH_HOSTS_FILE=str(tmp_path / "hosts.toml"),
        SSH_KNOWN_HOSTS=str(known_hosts),
        SSH_AUDIT_LOG=str(tmp_path / "audit.jsonl"),
        SSH_JOB_TABLE=str(tmp_path / "jobs.json"),
    )


def _target(sshd: Sshd, user: TestUser, keys: TestKeys) -> str:
    return hosts_toml(Target("t", sshd.port, user.name, keys.plain))


def test_pin_needs_a_yes_and_checks_the_fingerprint(
    tmp_path: Path, sshd: Sshd, test_user: TestUser, test_keys: TestKeys
) -> None:
    known = tmp_path / "ssh" / "known_hosts"
    env = _env(tmp_path, _target(sshd, test_user, test_keys), known)
    r = run_cli(env, "hosts", "pin", "t")  # stdin is no terminal: nobody to ask
    assert r.returncode == 1, r.stderr
    assert f"offers ssh-ed25519 {sshd.fingerprint}" in r.stdout
    assert f"--yes --fingerprint {sshd.fingerprint}" in r.stderr
    r = run_cli(env, "hosts", "pin", "t", "--yes")
    assert r.returncode == 1 and "--yes needs --fingerprint" in r.stderr
    r = run_cli(env, "hosts", "pin", "t", "--yes", "--fingerprint", "SHA256:wrong")
    assert r.returncode == 1
    assert f"offers {sshd.fingerprint}, not the expected SHA256:wrong" in r.stderr
    assert not known.exists()

    r = run_cli(env, "hosts", "pin", "t", "--yes", "--fingerprint", sshd.fingerprint)
    assert r.returncode == 0, r.stderr
    assert known.read_text() == sshd.known_hosts_entry + "\n"
    assert known.stat().st_mode & 0o777 == 0o600
    r = run_cli(env, "hosts", "check", "t")  # the server now trusts it
    assert r.returncode == 0, r.stdout + r.stderr
    r = run_cli(env, "hosts", "pin", "t", "--yes", "--fingerprint", sshd.fingerprint)
    assert r.returncode == 0 and "already pinned" in r.stdout
    assert known.read_text() == sshd.known_hosts_entry + "\n"  # not twice


def test_a_different_pinned_key_is_never_replaced(
    tmp_path: Path, sshd: Sshd, test_user: TestUser, test_keys: TestKeys
) -> None:
    other = tmp_path / "other"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other)], check=True)
    pub = " ".join(other.with_suffix(".pub").read_text().split()[:2])
    out = subprocess.run(["ssh-keygen", "-lf", f"{other}.pub"], capture_output=True, text=True)
    other_fp = out.stdout.split()[1]
    known = tmp_path / "known_hosts"
    known.write_text(f"[127.0.0.1]:{sshd.port} {pub}")  # no trailing newline
    before = known.read_bytes()
    env = _env(tmp_path, _target(sshd, test_user, test_keys), known)
    r = run_cli(env, "hosts", "pin", "t", "--yes", "--fingerprint", sshd.fingerprint)
    assert r.returncode == 1
    assert sshd.fingerprint in r.stderr and other_fp in r.stderr and "not replacing" in r.stderr
    assert known.read_bytes() == before


def test_pin_goes_over_the_jump_chain(
    tmp_path: Path, jump_sshds: JumpHosts, test_user: TestUser, test_keys: TestKeys
) -> None:
    j, hosts = jump_sshds, ""
    for alias, server in (("b1", j.b1), ("b2", j.b2), ("target", j.target)):
        jump = 'proxy_jump = ["b1", "b2"]\n' if alias == "target" else ""
        hosts += (
            f'[hosts.{alias}]\nhostname = "127.0.0.1"\nport = {server.port}\n'
            f'user = "{test_user.name}"\n{jump}[hosts.{alias}.auth]\nmethod = "key"\n'
            f'key = "{test_keys.plain}"\n'
        )
    known = tmp_path / "known_hosts"
    known.write_text(j.b1.known_hosts_entry + "\n")  # b2 not pinned yet: the chain stops there
    env = _env(tmp_path, hosts, known)
    fp = j.target.fingerprint
    r = run_cli(env, "hosts", "pin", "target", "--yes", "--fingerprint", fp)
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr
    r = run_cli(env, "hosts", "pin", "b2", "--yes", "--fingerprint", j.b2.fingerprint)
    assert r.returncode == 0, r.stderr
    since = j.b1.log_path.stat().st_size
    r = run_cli(env, "hosts", "pin", "target", "--yes", "--fingerprint", fp)
    assert r.returncode == 0, r.stderr
    assert "via b1 -> b2" in r.stdout
    assert "Connection from 127.0.0.1" in j.b1.log_text(since)  # it went via b1
    assert known.read_text().splitlines()[-1] == j.target.known_hosts_entry


def _read_until(fd: int, want: bytes, timeout: float = 30) -> bytes:
    got, deadline = b"", time.monotonic() + timeout
    while want not in got:
        assert time.monotonic() < deadline, got
        if select.select([fd], [], [], 0.2)[0]:
            try:
                got += os.read(fd, 4096)
            except OSError:  # the child closed the terminal
                break
    return got


def _on_a_terminal(env: dict[str, str], *args: str, answers: list[bytes]) -> tuple[int, bytes]:
    """Run the command with a pseudo-terminal as stdin and stdout, answering each prompt."""
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "ssh_mcp", *args], stdin=slave, stdout=slave, stderr=slave,
        env=env, cwd="/", close_fds=True,
    )  # fmt: skip
    os.close(slave)
    try:
        seen = b""
        for answer in answers:
            seen += _read_until(master, b"[y/N] ")
            os.write(master, answer)
            seen += _read_until(master, b"\n")
        rc = proc.wait(30)
        while select.select([master], [], [], 0.1)[0]:
            try:
                chunk = os.read(master, 4096)
            except OSError:
                break
            if not chunk:
                break
            seen += chunk
        return rc, seen
    finally:
        os.close(master)


def test_a_terminal_is_asked_and_no_is_the_default(
    tmp_path: Path, sshd: Sshd, test_user: TestUser, test_keys: TestKeys
) -> None:
    known = tmp_path / "known_hosts"
    env = _env(tmp_path, _target(sshd, test_user, test_keys), known)
    rc, seen = _on_a_terminal(env, "hosts", "pin", "t", answers=[b"\n"])
    assert rc == 1 and b"not pinned" in seen and not known.exists()
    rc, seen = _on_a_terminal(env, "hosts", "pin", "t", answers=[b"y\n"])
    assert rc == 0, seen
    assert known.read_text() == sshd.known_hosts_entry + "\n"


def test_add_offers_to_pin_on_a_terminal(
    tmp_path: Path, sshd: Sshd, test_user: TestUser, test_keys: TestKeys
) -> None:
    known = tmp_path / "known_hosts"
    env = _env(tmp_path, "", known)
    args = ("hosts", "add", "s", "--hostname", "127.0.0.1", "--port", str(sshd.port))
    rc, seen = _on_a_terminal(env, *args, "--user", test_user.name, answers=[b"y\n", b"y\n"])
    assert rc == 0, seen
    assert b"Fetch and pin s's host key now?" in seen
    assert f"offers ssh-ed25519 {sshd.fingerprint}".encode() in seen  # seen before the yes
    assert known.read_text() == sshd.known_hosts_entry + "\n"
