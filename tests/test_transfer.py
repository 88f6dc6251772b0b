"""ssh_transfer through MCP against real sshd: two aliases of one sshd stand for two hosts."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import pytest
from harness import Target, assert_audit, hosts_toml, make_settings, poll, serve, text
from sshd import Sshd, TestUser

from ssh_mcp.config.settings import Settings
from ssh_mcp.ssh._staging import WriteInterrupted, staged
from ssh_mcp.ssh.pooled import Dropped, StaleConnection

pytestmark = pytest.mark.anyio
MiB = 1024 * 1024


def _own(path: Path, user: TestUser) -> None:
    os.lchown(path, user.uid, user.uid)


def _leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if ".ssh-mcp-" in p.name)


def _two_hosts(target: Target, other_allowlist: tuple[str, ...] | None = None) -> str:
    """`target` plus `other`, the same sshd under a second alias (its own allowlist)."""
    other = Target(
        "other",
        target.port,
        target.user,
        target.key,
        target.path_allowlist if other_allowlist is None else other_allowlist,
    )
    return hosts_toml(target, other)


@pytest.fixture
def open_settings(settings_for: Callable[..., Settings], target: Target) -> Callable[..., Settings]:
    def make(other_allowlist: tuple[str, ...] | None = None, **overrides: object) -> Settings:
        return settings_for(
            hosts=_two_hosts(target, other_allowlist), allow_low_access_tools=True, **overrides
        )

    return make


def _args(src: Path, dst: Path, **extra: object) -> dict[str, object]:
    return {
        "src_host": "target",
        "src_path": str(src),
        "dst_host": "other",
        "dst_path": str(dst),
        **extra,
    }


class Reports:
    """A progress callback that records what the server reported."""

    def __init__(self) -> None:
        self.seen: list[tuple[float, float | None, str | None]] = []

    async def __call__(self, progress: float, total: float | None, message: str | None) -> None:
        self.seen.append((progress, total, message))


async def test_large_transfer_between_hosts_streams_with_progress(
    open_settings: Callable[..., Settings], work_dir: Path, test_user: TestUser
) -> None:
    data = os.urandom(20 * MiB)
    src, dst = work_dir / "big.bin", work_dir / "copy.bin"
    src.write_bytes(data)
    src.chmod(0o640)
    _own(src, test_user)
    reports = Reports()
    async with serve(open_settings()) as (client, app):
        r = await client.call_tool("ssh_transfer", _args(src, dst), progress_callback=reports)
        assert not r.is_error, text(r)
        sc = r.structured_content
        digest = hashlib.sha256(data).hexdigest()
        assert sc == {
            "path": str(dst), "size": len(data), "mode": "0640", "sha256": digest, "files": None,
        }  # fmt: skip
        assert hashlib.sha256(dst.read_bytes()).hexdigest() == digest
        assert dst.stat().st_uid == test_user.uid and dst.stat().st_mode & 0o777 == 0o640
        line = assert_audit(
            app,
            {
                "tool": "ssh_transfer",
                "outcome": "ok",
                "host": "target",
                "dst_host": "other",
                "bytes": len(data),
                "path_hash": app.audit.digest(str(src)),
                "dst_path_hash": app.audit.digest(str(dst)),
            },
        )
        assert str(dst) not in app.settings.ssh_audit_log.read_text(), line
    assert reports.seen, "a 20 MiB transfer reported no progress"
    done = [p for p, _, _ in reports.seen]
    assert done == sorted(done) and done[-1] == len(data)
    assert all(total == len(data) for _, total, _ in reports.seen)
    assert _leftovers(work_dir) == []


async def test_small_transfer_reports_no_progress_and_same_host_works(
    open_settings: Callable[..., Settings], work_dir: Path, test_user: TestUser
) -> None:
    src, dst = work_dir / "small.txt", work_dir / "small-copy.txt"
    src.write_bytes(b"hello\n")
    _own(src, test_user)
    reports = Reports()
    async with serve(open_settings()) as (client, app):
        args = _args(src, dst, dst_host="target")
        r = await client.call_tool("ssh_transfer", args, progress_callback=reports)
        assert not r.is_error, text(r)
        assert r.structured_content and r.structured_content["size"] == 6
        assert dst.read_bytes() == b"hello\n"
        line = assert_audit(app, {"tool": "ssh_transfer", "outcome": "ok", "bytes": 6})
        assert line["dst_host"] == "target"
    assert reports.seen == []


async def test_same_host_transfer_needs_one_channel_slot(
    settings_for: Callable[..., Settings], target: Target, work_dir: Path, test_user: TestUser
) -> None:
    """With one connection of two channels (one is SFTP's), a same-host copy must not wait
    for a second slot; a deadlock would surface as OperationTimeout."""
    narrow = Target(
        target.alias, target.port, target.user, target.key, target.path_allowlist,
        extra="max_channels = 2\nmax_connections = 1\n",
    )  # fmt: skip
    src = work_dir / "one.bin"
    src.write_bytes(os.urandom(3 * MiB))
    _own(src, test_user)
    settings = settings_for(
        hosts=hosts_toml(narrow), allow_low_access_tools=True, ssh_transfer_timeout=20.0
    )
    async with serve(settings) as (client, app):
        args = _args(src, work_dir / "two.bin", dst_host="target")
        r = await client.call_tool("ssh_transfer", args)
        assert not r.is_error, text(r)
        assert (work_dir / "two.bin").read_bytes() == src.read_bytes()
        assert len(app.pool.sessions()) == 1


async def test_overwrite_is_refused_unless_asked_and_keeps_the_mode(
    open_settings: Callable[..., Settings], work_dir: Path, test_user: TestUser
) -> None:
    src, dst = work_dir / "new.conf", work_dir / "app.conf"
    src.write_bytes(b"new content\n")
    dst.write_bytes(b"old content\n")
    dst.chmod(0o600)
    for p in (src, dst):
        _own(p, test_user)
    async with serve(open_settings()) as (client, app):
        r = await client.call_tool("ssh_transfer", _args(src, dst))
        assert r.is_error and "exists; pass overwrite=true" in text(r), text(r)
        assert dst.read_bytes() == b"old content\n"
        assert_audit(app, {"tool": "ssh_transfer", "outcome": "error", "error": "RemoteError"})
        r = await client.call_tool("ssh_transfer", _args(src, dst, overwrite=True))
        assert not r.is_error, text(r)
        assert r.structured_content and r.structured_content["mode"] == "0600"
        assert dst.read_bytes() == b"new content\n" and dst.stat().st_mode & 0o777 == 0o600
    assert _leftovers(work_dir) == []


async def test_destination_outside_its_hosts_allowlist_is_denied(
    open_settings: Callable[..., Settings], work_dir: Path, test_user: TestUser
) -> None:
    (work_dir / "src").mkdir()
    (work_dir / "allowed").mkdir()
    (work_dir / "elsewhere").mkdir()
    src = work_dir / "src" / "f.bin"
    src.write_bytes(b"x" * 1000)
    for p in [*work_dir.rglob("*")]:
        _own(p, test_user)
    before = sorted(p.name for p in work_dir.rglob("*"))
    # `other` admits only work_dir/allowed: the same directory tree is outside it.
    settings = open_settings(other_allowlist=(str(work_dir / "allowed"),))
    async with serve(settings) as (client, app):
        for dst in (work_dir / "elsewhere" / "f.bin", work_dir / "allowed" / ".." / "f.bin"):
            r = await client.call_tool("ssh_transfer", _args(src, dst))
            assert r.is_error and "outside the path allowlist" in text(r), text(r)
            assert_audit(
                app,
                {
                    "tool": "ssh_transfer",
                    "outcome": "denied",
                    "error": "PathNotAllowed",
                    "host": "target",
                    "dst_host": "other",
                    "bytes": None,
                },
            )
        ok = await client.call_tool("ssh_transfer", _args(src, work_dir / "allowed" / "f.bin"))
        assert not ok.is_error, text(ok)
    after = sorted(p.name for p in work_dir.rglob("*"))
    assert sorted([*before, "f.bin"]) == after


async def test_source_problems_are_clear_errors(
    open_settings: Callable[..., Settings], work_dir: Path, test_user: TestUser
) -> None:
    (work_dir / "adir").mkdir()
    big = work_dir / "big.bin"
    big.write_bytes(b"y" * 5000)
    (work_dir / "small.bin").write_bytes(b"z")
    for p in work_dir.iterdir():
        _own(p, test_user)
    async with serve(open_settings(ssh_transfer_max_bytes=4096)) as (client, app):
        r = await client.call_tool("ssh_transfer", _args(work_dir / "adir", work_dir / "d1"))
        assert r.is_error and "not a regular file" in text(r), text(r)
        r = await client.call_tool("ssh_transfer", _args(work_dir / "missing", work_dir / "d2"))
        assert r.is_error and "no such file" in text(r), text(r)
        r = await client.call_tool("ssh_transfer", _args(big, work_dir / "d3"))
        assert r.is_error and "SSH_TRANSFER_MAX_BYTES" in text(r), text(r)
        assert_audit(app, {"tool": "ssh_transfer", "outcome": "error", "error": "CapExceeded"})
        dst_dir = work_dir / "adir"
        args = _args(work_dir / "small.bin", dst_dir, overwrite=True)
        r = await client.call_tool("ssh_transfer", args)
        assert r.is_error and "is a directory" in text(r), text(r)
    assert sorted(p.name for p in work_dir.iterdir()) == ["adir", "big.bin", "small.bin"]
    assert list(dst_dir.iterdir()) == []


async def test_transfer_needs_the_low_access_tier(
    settings_for: Callable[..., Settings], target: Target, work_dir: Path
) -> None:
    async with serve(settings_for(hosts=_two_hosts(target))) as (client, app):
        names = {t.name for t in (await client.list_tools()).tools}
        assert "ssh_transfer" not in names
        r = await client.call_tool("ssh_transfer", _args(work_dir / "a", work_dir / "b"))
        assert r.is_error
        assert_audit(app, {"tool": "ssh_transfer", "outcome": "denied"})


@pytest.mark.parametrize("existing", [True, False], ids=["replacing", "new"])
async def test_client_cancel_leaves_the_destination_as_it_was(
    open_settings: Callable[..., Settings], work_dir: Path, test_user: TestUser, existing: bool
) -> None:
    src, dst = work_dir / "huge.bin", work_dir / "target.bin"
    src.write_bytes(b"")
    os.truncate(src, 300 * 1000 * 1000)  # sparse: cheap here, a real 300 MB read remotely
    _own(src, test_user)
    if existing:
        dst.write_bytes(b"original\n")
        _own(dst, test_user)
    temps: list[str] = []
    async with serve(open_settings()) as (client, app):
        with anyio.CancelScope() as scope:

            async def cancel_on_first_report(
                progress: float, total: float | None, message: str | None
            ) -> None:
                if progress < (total or 0):
                    temps.extend(_leftovers(work_dir))  # the temp file is being written
                scope.cancel()  # the client gives up mid-transfer

            args = _args(src, dst, overwrite=True)
            await client.call_tool("ssh_transfer", args, progress_callback=cancel_on_first_report)
        assert scope.cancelled_caught and temps, "the cancel did not land mid-transfer"
        assert all(t.startswith(".target.bin.ssh-mcp-") for t in temps), temps
        # The server finishes the cancelled call (shielded temp removal, then the audit
        # line) after the client has moved on: give it a moment.
        await poll(lambda: app.settings.ssh_audit_log.exists(), "the audit line")
        await poll(lambda: not _leftovers(work_dir), "the temp file removed")
        assert _leftovers(work_dir) == []
        if existing:
            assert dst.read_bytes() == b"original\n"
        else:
            assert not dst.exists()
        assert_audit(app, {"tool": "ssh_transfer", "outcome": "error", "error": "Cancelled"})
        # The pooled connections still work after the cancel.
        small = work_dir / "after.txt"
        small.write_bytes(b"ok")
        _own(small, test_user)
        r = await client.call_tool("ssh_transfer", _args(small, work_dir / "after-copy.txt"))
        assert not r.is_error, text(r)
    assert sorted(p.name for p in work_dir.iterdir()) == sorted(
        ["huge.bin", "after.txt", "after-copy.txt", *(["target.bin"] if existing else [])]
    )


# -- dropped connections -------------------------------------------------------------------


def _with_scratch(
    tmp_path: Path, target: Target, scratch: Sshd, known_hosts: Path, **overrides: object
) -> Settings:
    """`target` on the main sshd and `other` on the scratch sshd, both trusted."""
    other = Target("other", scratch.port, target.user, target.key, target.path_allowlist)
    both = tmp_path / "both_known_hosts"
    both.write_text(known_hosts.read_text() + scratch.known_hosts_path.read_text())
    return make_settings(
        tmp_path / "srv", hosts_toml(target, other), both, allow_low_access_tools=True, **overrides
    )


async def test_destination_dropped_mid_transfer_leaves_it_unchanged(
    tmp_path: Path,
    target: Target,
    scratch_sshd: Sshd,
    known_hosts_file: Path,
    work_dir: Path,
    test_user: TestUser,
) -> None:
    src, dst = work_dir / "huge.bin", work_dir / "data.bin"
    src.write_bytes(b"")
    os.truncate(src, 300 * 1000 * 1000)
    dst.write_bytes(b"original\n")
    for p in (src, dst):
        _own(p, test_user)
    killed: list[int] = []

    async def kill_destination(progress: float, total: float | None, message: str | None) -> None:
        if not killed:
            # Blocking on purpose: the in-process server cannot finish meanwhile.
            killed.extend(scratch_sshd.kill_connections())

    settings = _with_scratch(tmp_path, target, scratch_sshd, known_hosts_file)
    async with serve(settings) as (client, app):
        args = _args(src, dst, overwrite=True)  # target -> other (the scratch sshd)
        r = await client.call_tool("ssh_transfer", args, progress_callback=kill_destination)
        assert killed and r.is_error, text(r)
        assert f"the connection dropped while writing {dst}; it is unchanged" in text(r)
        assert "no temp file remains" in text(r), text(r)
        assert_audit(
            app, {"tool": "ssh_transfer", "outcome": "error", "error": "ConnectionDropped"}
        )
        assert dst.read_bytes() == b"original\n" and _leftovers(work_dir) == []


async def test_source_dropped_mid_transfer_is_retried_once(
    tmp_path: Path,
    target: Target,
    scratch_sshd: Sshd,
    known_hosts_file: Path,
    work_dir: Path,
    test_user: TestUser,
) -> None:
    size = 100 * MiB
    src, dst = work_dir / "zeros.bin", work_dir / "copy.bin"
    src.write_bytes(b"")
    os.truncate(src, size)
    _own(src, test_user)
    killed: list[int] = []

    async def kill_source(progress: float, total: float | None, message: str | None) -> None:
        if not killed:
            killed.extend(scratch_sshd.kill_connections())

    settings = _with_scratch(tmp_path, target, scratch_sshd, known_hosts_file)
    async with serve(settings) as (client, app):
        args = {**_args(src, dst), "src_host": "other", "dst_host": "target"}
        r = await client.call_tool("ssh_transfer", args, progress_callback=kill_source)
        assert killed and not r.is_error, text(r)
        digest = hashlib.sha256(bytes(size)).hexdigest()
        assert r.structured_content and r.structured_content["sha256"] == digest
        assert_audit(app, {"outcome": "ok", "host": "other", "dst_host": "target", "bytes": size})
        source_pool = app.pool.get(app.connect_spec(app.inventory.hosts["other"]).key)
        assert source_pool is not None and source_pool.connects == 2  # the retry reconnected
    assert dst.stat().st_size == size and _leftovers(work_dir) == []


class _Sftp:
    """Just enough of an SFTP client for ``staged``: a remove that works or fails."""

    def __init__(self, alive: bool) -> None:
        self.alive = alive
        self.removed: list[str] = []

    async def remove(self, path: str) -> None:
        if not self.alive:
            raise ConnectionResetError("gone")
        self.removed.append(path)


@pytest.mark.parametrize("signal", ["dropped", "stale"])
async def test_a_source_drop_passes_through_the_write_once_its_temp_file_is_gone(
    signal: str,
) -> None:
    """The destination's run must see the source's own exception (its run replays the copy),
    and no temp file may stay behind; over a dead connection the temp file is named."""
    source: Any = object()  # stands for the source's PooledConnection
    lost = (
        Dropped(source, "read", "connection lost")
        if signal == "dropped"
        else StaleConnection("read: connection lost", source)
    )
    sftp: Any = _Sftp(alive=True)
    with pytest.raises(type(lost)) as caught:
        async with staged(sftp, "/d/f", overwrite=True) as stage:
            raise lost
    assert caught.value is lost and sftp.removed == [stage.tmp]
    dead: Any = _Sftp(alive=False)
    with pytest.raises(WriteInterrupted) as interrupted:
        async with staged(dead, "/d/f", overwrite=True) as stage:
            raise lost
    assert interrupted.value.temp == stage.tmp and "/d/f; it is unchanged" in str(interrupted.value)
