"""A small filesystem: a full disk is reported with the free bytes (issue 8.12), harming nothing;
a move onto it is refused; the tree tools do not reach through its mount point.

A 256 KiB tmpfs mounted inside the allowlisted work directory is filled almost to the brim,
then a file bigger than what is left is written over an existing one through MCP.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from harness import assert_audit, serve, text
from sshd import TestUser

from ssh_mcp.config.settings import Settings

pytestmark = pytest.mark.anyio
Make = Callable[..., Settings]

#: What is left free on the small disk: less than the file written, more than nothing.
LEFT = 48 * 1024


@pytest.fixture
def disk(work_dir: Path, test_user: TestUser) -> Iterator[Path]:
    """A 256 KiB tmpfs owned by the test user, holding ``keep`` and a filler up to LEFT free."""
    path = work_dir / "disk"
    path.mkdir()
    opts = f"size=256k,mode=0755,uid={test_user.uid},gid={test_user.uid}"
    subprocess.run(["mount", "-t", "tmpfs", "-o", opts, "tmpfs", str(path)], check=True)
    try:
        (path / "keep").write_text("the old content\n")
        vfs = os.statvfs(path)
        (path / "filler").write_bytes(b"\0" * (vfs.f_bavail * vfs.f_frsize - LEFT))
        for p in (path / "keep", path / "filler"):
            os.chown(p, test_user.uid, test_user.uid)
        yield path
    finally:
        subprocess.run(["umount", str(path)], check=True)


def free(path: Path) -> int:
    vfs = os.statvfs(path)
    return vfs.f_bavail * vfs.f_frsize


async def test_a_full_disk_says_so_with_the_free_bytes_and_keeps_the_old_file(
    settings_for: Make, disk: Path
) -> None:
    before = free(disk)
    assert 0 < before < 100 * 1024
    async with serve(settings_for(allow_low_access_tools=True)) as (client, app):
        r = await client.call_tool(
            "ssh_upload",
            {
                "host": "target",
                "path": str(disk / "keep"),
                "content_text": "x" * 100 * 1024,
                "overwrite": True,
            },
        )
        msg = text(r)
        assert r.is_error and f"the disk holding {disk} is full ({before} bytes free" in msg, msg
        assert "keep is unchanged" in msg and "\n" not in msg
        assert_audit(app, {"tool": "ssh_upload", "outcome": "error", "error": "RemoteError"})
    assert (disk / "keep").read_text() == "the old content\n"
    assert sorted(p.name for p in disk.iterdir()) == ["filler", "keep"]  # no temp file left
    assert free(disk) == before


async def test_cp_onto_a_full_disk_says_so_and_keeps_the_old_file(
    settings_for: Make, disk: Path, work_dir: Path, test_user: TestUser
) -> None:
    src = work_dir / "big"
    src.write_bytes(b"y" * 100 * 1024)
    os.chown(src, test_user.uid, test_user.uid)
    before = free(disk)
    async with serve(settings_for(allow_low_access_tools=True)) as (client, app):
        args = {"src_path": str(src), "dst_path": str(disk / "keep"), "overwrite": True}
        r = await client.call_tool("ssh_cp", {"host": "target", **args})
        msg = text(r)
        assert r.is_error and f"the disk holding {disk} is full ({before} bytes free" in msg, msg
        assert_audit(app, {"tool": "ssh_cp", "outcome": "error", "error": "RemoteError"})
    assert (disk / "keep").read_text() == "the old content\n"
    assert sorted(p.name for p in disk.iterdir()) == ["filler", "keep"]


async def test_mv_onto_another_filesystem_is_refused_not_copied(
    settings_for: Make, disk: Path, work_dir: Path, test_user: TestUser
) -> None:
    """A move is one rename between verified directories: GNU mv never falls back to a copy."""
    src = work_dir / "small"
    src.write_text("here")
    os.chown(src, test_user.uid, test_user.uid)
    async with serve(settings_for(allow_low_access_tools=True)) as (client, app):
        args = {"src_path": str(src), "dst_path": str(disk / "small")}
        r = await client.call_tool("ssh_mv", {"host": "target", **args})
        assert r.is_error and "on different filesystems" in text(r), text(r)
        assert_audit(app, {"tool": "ssh_mv", "outcome": "error", "error": "RemoteError"})
    assert src.read_text() == "here" and not (disk / "small").exists()


async def test_tree_tools_do_not_reach_through_a_mount_point(
    settings_for: Make, disk: Path, work_dir: Path, test_user: TestUser
) -> None:
    """A mount inside a tree (a bind mount of an outside directory would be one) is not
    entered: rm and tar stay on the tree's filesystem."""
    (work_dir / "plain").write_text("plain")
    os.chown(work_dir / "plain", test_user.uid, test_user.uid)
    copy = work_dir.parent / f"copy-{work_dir.name}"
    try:
        async with serve(settings_for(allow_low_access_tools=True)) as (client, _):
            args = {"src_path": str(work_dir), "dst_path": str(copy), "recursive": True}
            r = await client.call_tool("ssh_cp", {"host": "target", **args})
            assert not r.is_error, text(r)
            assert r.structured_content is not None
            assert (r.structured_content["size"], r.structured_content["entries"]) == (5, 3)
            r = await client.call_tool(
                "ssh_delete_folder", {"host": "target", "path": str(work_dir), "recursive": True}
            )
            assert r.is_error and "deleting stopped at" in text(r), text(r)
        assert sorted(p.name for p in copy.iterdir()) == ["disk", "plain"]
        assert list((copy / "disk").iterdir()) == []  # the mount point, not what it holds
        assert (disk / "keep").read_text() == "the old content\n" and (disk / "filler").exists()
        assert not (work_dir / "plain").exists()
    finally:
        shutil.rmtree(copy, ignore_errors=True)
