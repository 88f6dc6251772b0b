"""Strict known_hosts through the MCP path against real sshd.

Unknown and changed host keys are distinct errors with distinct remedies; the file is re-read
when it changes and never written; pins are per port, as in OpenSSH; ssh_known_hosts_verify
reports a mismatch as data instead of failing.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from harness import OPEN, assert_audit, audit_lines, error_line, make_settings, serve, text
from sshd import JumpHosts, Sshd, TestKeys, TestUser

from ssh_mcp.config.settings import Settings
from ssh_mcp.ssh.connect import fetch_host_fingerprint

pytestmark = pytest.mark.anyio


def write(path: Path, *lines: str) -> Path:
    path.write_text("".join(line + "\n" for line in lines))
    return path


def other_key(tmp_path: Path) -> tuple[str, str]:
    """A fresh ed25519 public key line ("ssh-ed25519 AAAA...") and its SHA256 fingerprint."""
    key = tmp_path / "other_host_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    pub = key.with_name(key.name + ".pub")
    fp = subprocess.run(["ssh-keygen", "-lf", str(pub)], capture_output=True, text=True, check=True)
    return " ".join(pub.read_text().split()[:2]), fp.stdout.split()[1]


def hash_hosts(path: Path) -> Path:
    """`ssh-keygen -H`: replace the host names in `path` by their salted hashes."""
    subprocess.run(["ssh-keygen", "-q", "-H", "-f", str(path)], check=True, capture_output=True)
    return path


@contextmanager
def untouched(*paths: Path) -> Iterator[None]:
    """Asserts that nothing wrote the files: same bytes, same mtime."""
    before = [(p.read_bytes(), p.stat().st_mtime_ns) for p in paths]
    yield
    assert [(p.read_bytes(), p.stat().st_mtime_ns) for p in paths] == before


async def test_pinned_host_works_and_verify_matches(
    settings_for: Callable[..., Settings], sshd: Sshd, known_hosts_file: Path
) -> None:
    with untouched(known_hosts_file):
        async with serve(settings_for(**OPEN)) as (client, app):
            r = await client.call_tool("ssh_exec_run", {"host": "target", "command": "true"})
            assert not r.is_error, text(r)
            v = await client.call_tool("ssh_known_hosts_verify", {"host": "target"})
            assert not v.is_error, text(v)
            assert v.structured_content == {
                "expected": [sshd.fingerprint],
                "live": sshd.fingerprint,
                "match": True,
            }
            assert_audit(app, {"tool": "ssh_known_hosts_verify", "outcome": "ok"})


async def test_unknown_host_key_gives_the_pinning_steps(
    settings_for: Callable[..., Settings], sshd: Sshd, tmp_path: Path
) -> None:
    kh = write(tmp_path / "known_hosts", "# nothing pinned for this host")
    with untouched(kh):
        async with serve(settings_for(ssh_known_hosts=kh)) as (client, app):
            r = await client.call_tool("ssh_host_ping", {"host": "target"})
            msg = error_line(r)
            assert f"127.0.0.1:{sshd.port}" in msg and f"in {kh}" in msg
            assert f"ssh-keyscan -p {sshd.port} 127.0.0.1" in msg
            assert "ssh-keygen -lf" in msg and "out of band" in msg and f">> {kh}" in msg
            assert_audit(
                app, {"tool": "ssh_host_ping", "outcome": "error", "error": "UnknownHostKey"}
            )
            assert app.pool.sessions() == []


async def test_changed_host_key_is_a_distinct_mismatch(
    settings_for: Callable[..., Settings], sshd: Sshd, tmp_path: Path
) -> None:
    key, fp = other_key(tmp_path)
    kh = write(tmp_path / "known_hosts", f"[127.0.0.1]:{sshd.port} {key}")
    with untouched(kh):
        async with serve(settings_for(ssh_known_hosts=kh, **OPEN)) as (client, app):
            r = await client.call_tool("ssh_exec_run", {"host": "target", "command": "true"})
            msg = error_line(r)
            assert "does NOT match" in msg and f"127.0.0.1:{sshd.port}" in msg
            assert "ssh_known_hosts_verify" in msg and "ssh-keyscan" not in msg
            assert_audit(app, {"outcome": "error", "error": "HostKeyMismatch"})
            # The diagnostic tool reports the mismatch as data, it does not fail.
            v = await client.call_tool("ssh_known_hosts_verify", {"host": "target"})
            assert not v.is_error, text(v)
            assert v.structured_content == {
                "expected": [fp],
                "live": sshd.fingerprint,
                "match": False,
            }
            assert_audit(app, {"tool": "ssh_known_hosts_verify", "outcome": "ok"})


async def test_known_hosts_is_reread_when_it_changes(
    settings_for: Callable[..., Settings], sshd: Sshd, tmp_path: Path
) -> None:
    kh = write(tmp_path / "known_hosts")
    async with serve(settings_for(ssh_known_hosts=kh, **OPEN)) as (client, app):
        first = await client.call_tool("ssh_exec_run", {"host": "target", "command": "true"})
        assert first.is_error and app.pool.sessions() == []  # a failed attempt is not pooled
        with kh.open("a") as f:  # the operator pins the key; the server keeps running
            f.write(sshd.known_hosts_entry + "\n")
        second = await client.call_tool("ssh_exec_run", {"host": "target", "command": "true"})
        assert not second.is_error, text(second)
        assert [(a["outcome"], a.get("error")) for a in audit_lines(app)] == [
            ("error", "UnknownHostKey"),
            ("ok", None),
        ]
        # A rotated key (rewritten in place) is noticed by the next connection too.
        key, _ = other_key(tmp_path)
        write(kh, f"[127.0.0.1]:{sshd.port} {key}")
        await app.pool.aclose()
        third = await client.call_tool("ssh_exec_run", {"host": "target", "command": "true"})
        assert "does NOT match" in error_line(third)


async def test_a_pin_for_port_22_does_not_vouch_for_another_port(
    settings_for: Callable[..., Settings], sshd: Sshd, tmp_path: Path
) -> None:
    """asyncssh alone would accept `127.0.0.1 <key>` for any port; OpenSSH and we do not."""
    kh = write(tmp_path / "known_hosts", f"127.0.0.1 {sshd.host_key_line}")
    with untouched(kh):
        async with serve(settings_for(ssh_known_hosts=kh, **OPEN)) as (client, app):
            r = await client.call_tool("ssh_exec_run", {"host": "target", "command": "true"})
            msg = error_line(r)
            assert "port 22 only" in msg and f"ssh-keyscan -p {sshd.port}" in msg
            assert_audit(app, {"outcome": "error", "error": "UnknownHostKey"})
            v = await client.call_tool("ssh_known_hosts_verify", {"host": "target"})
            assert v.structured_content is not None and v.structured_content["expected"] == []
            assert v.structured_content["match"] is False


async def test_a_pin_for_another_port_does_not_vouch(
    settings_for: Callable[..., Settings], sshd: Sshd, tmp_path: Path
) -> None:
    kh = write(tmp_path / "known_hosts", f"[127.0.0.1]:{sshd.port + 1} {sshd.host_key_line}")
    async with serve(settings_for(ssh_known_hosts=kh, **OPEN)) as (client, app):
        r = await client.call_tool("ssh_exec_run", {"host": "target", "command": "true"})
        assert "no host key pinned" in error_line(r)
        assert_audit(app, {"outcome": "error", "error": "UnknownHostKey"})


async def test_hashed_and_pattern_entries_match_host_and_port(
    settings_for: Callable[..., Settings], sshd: Sshd, tmp_path: Path
) -> None:
    hashed = hash_hosts(write(tmp_path / "hashed", sshd.known_hosts_entry))
    assert hashed.read_text().startswith("|1|")
    pattern = write(tmp_path / "pattern", f"[127.0.0.*]:{sshd.port} {sshd.host_key_line}")
    for kh in (hashed, pattern):
        async with serve(settings_for(ssh_known_hosts=kh, **OPEN)) as (client, _):
            r = await client.call_tool("ssh_exec_run", {"host": "target", "command": "true"})
            assert not r.is_error, f"{kh.name}: {text(r)}"


@pytest.mark.parametrize(
    ("bad", "why"),
    [
        ("@bogus-marker x y", "unknown marker '@bogus-marker'"),
        ("just-a-host", "no key after the host names"),
        ("web1 ssh-ed25519 AAAAC3NzaC1lZDI1", "the 'ssh-ed25519' key for 'web1' does not parse"),
    ],
)
async def test_malformed_known_hosts_line_is_a_config_error_naming_file_and_line(
    settings_for: Callable[..., Settings], sshd: Sshd, tmp_path: Path, bad: str, why: str
) -> None:
    kh = write(tmp_path / "known_hosts", "# pins", sshd.known_hosts_entry, bad)
    async with serve(settings_for(ssh_known_hosts=kh, **OPEN)) as (client, app):
        r = await client.call_tool("ssh_exec_run", {"host": "target", "command": "true"})
        msg = error_line(r)
        assert f"known_hosts {kh} line 3: {why}; fix or delete that line" in msg, msg
        assert_audit(app, {"outcome": "error", "error": "ConfigError"})


async def test_a_pin_pasted_short_is_named_not_taken_for_no_pin(
    settings_for: Callable[..., Settings], sshd: Sshd, tmp_path: Path
) -> None:
    """asyncssh alone skips the line, and the advice would be to append a second one."""
    kh = write(tmp_path / "known_hosts", sshd.known_hosts_entry[:-20])
    async with serve(settings_for(ssh_known_hosts=kh, **OPEN)) as (client, _):
        r = await client.call_tool("ssh_exec_run", {"host": "target", "command": "true"})
        msg = error_line(r)
        assert f"known_hosts {kh} line 1: " in msg and "does not parse" in msg, msg
        assert ">>" not in msg and "no host key pinned" not in msg


async def test_missing_known_hosts_file_means_nothing_is_pinned(
    settings_for: Callable[..., Settings], tmp_path: Path
) -> None:
    kh = tmp_path / "no" / "known_hosts"
    async with serve(settings_for(ssh_known_hosts=kh, **OPEN)) as (client, app):
        r = await client.call_tool("ssh_exec_run", {"host": "target", "command": "true"})
        assert "no host key pinned" in error_line(r)
        assert_audit(app, {"outcome": "error", "error": "UnknownHostKey"})
    assert not kh.parent.exists()  # not even created


async def test_verify_asks_a_jump_host_target_through_its_jump_hosts(
    jump_sshds: JumpHosts, test_user: TestUser, test_keys: TestKeys, tmp_path: Path
) -> None:
    """Never fingerprint a jump-only host directly: that address, seen from here, may be
    another machine."""
    j, hosts = jump_sshds, ""
    for alias, server in (("b1", j.b1), ("b2", j.b2), ("target", j.target)):
        jump = 'proxy_jump = ["b1", "b2"]\n' if alias == "target" else ""
        hosts += (
            f'[hosts.{alias}]\nhostname = "127.0.0.1"\nport = {server.port}\n'
            f'user = "{test_user.name}"\n{jump}[hosts.{alias}.auth]\nmethod = "key"\n'
            f'key = "{test_keys.plain}"\n'
        )
    with untouched(j.known_hosts):
        async with serve(make_settings(tmp_path, hosts, j.known_hosts)) as (client, app):
            since = j.b1.log_path.stat().st_size
            spec = app.connect_spec(app.inventory.hosts["target"])
            assert await fetch_host_fingerprint(spec, 5, app.pool.opts) == j.target.fingerprint
            assert "Connection from 127.0.0.1" in j.b1.log_text(since)  # it went via b1
            since = j.b1.log_path.stat().st_size
            r = await client.call_tool("ssh_known_hosts_verify", {"host": "target"})
            if r.is_error:  # the dispatcher does not hand over the options (yet)
                assert "through jump hosts" in error_line(r)
            else:
                assert r.structured_content and r.structured_content["match"] is True
                assert "Connection from 127.0.0.1" in j.b1.log_text(since)


def _localhost_only(sshd: Sshd, test_user: TestUser, test_keys: TestKeys) -> str:
    """hosts.toml admitting `localhost` through SSH_HOSTS_ALLOWLIST alone, on the test sshd."""
    return (
        f'[defaults]\nport = {sshd.port}\nuser = "{test_user.name}"\n'
        f'[defaults.auth]\nmethod = "key"\nkey = "{test_keys.plain}"\n'
    )


async def test_a_name_does_not_borrow_its_address_pin(
    tmp_path: Path, sshd: Sshd, test_user: TestUser, test_keys: TestKeys, work_dir: Path
) -> None:
    """Only `[127.0.0.1]:port` is pinned: `localhost` resolves there but is not vouched for
    (OpenSSH CheckHostIP no); pinning `[localhost]:port` makes it work."""
    kh = write(tmp_path / "known_hosts", sshd.known_hosts_entry)
    assert kh.read_text().startswith(f"[127.0.0.1]:{sshd.port} ")
    hosts = _localhost_only(sshd, test_user, test_keys)
    settings = make_settings(
        tmp_path / "by-name", hosts, kh, ssh_hosts_allowlist=["localhost"], **OPEN
    )
    probe = work_dir / "ran"
    with untouched(kh):
        async with serve(settings) as (client, app):
            command = f"touch {probe}"
            r = await client.call_tool("ssh_exec_run", {"host": "localhost", "command": command})
            msg = error_line(r)
            assert f"no host key pinned for localhost (localhost:{sshd.port}) in {kh}" in msg
            assert f"ssh-keyscan -p {sshd.port} localhost" in msg
            assert_audit(
                app,
                {"tool": "ssh_exec_run", "host": "localhost", "error": "UnknownHostKey"},
            )
            assert app.pool.sessions() == []
    assert not probe.exists()  # the command never ran on the host
    write(kh, f"[localhost]:{sshd.port} {sshd.host_key_line}")
    async with serve(settings) as (client, app):
        r = await client.call_tool("ssh_exec_run", {"host": "localhost", "command": "true"})
        assert not r.is_error, text(r)
        assert_audit(app, {"tool": "ssh_exec_run", "host": "localhost", "outcome": "ok"})
        r = await client.call_tool("ssh_exec_run", {"host": "localhost", "command": command})
        assert not r.is_error and probe.exists(), text(r)  # the same call, once pinned, runs


async def test_a_name_pin_does_not_vouch_for_an_address(
    settings_for: Callable[..., Settings], sshd: Sshd, tmp_path: Path
) -> None:
    """`hostname = "127.0.0.1"` is looked up as written: only its IP pin counts (that one
    works: test_pinned_host_works_and_verify_matches)."""
    kh = write(tmp_path / "known_hosts", f"[localhost]:{sshd.port} {sshd.host_key_line}")
    async with serve(settings_for(ssh_known_hosts=kh, **OPEN)) as (client, app):
        r = await client.call_tool("ssh_exec_run", {"host": "target", "command": "true"})
        assert "no host key pinned" in error_line(r)
        assert_audit(app, {"outcome": "error", "error": "UnknownHostKey"})
