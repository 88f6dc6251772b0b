"""ssh.sftp.canonicalize against real sshd: what a path really names on the host."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import asyncssh
import pytest
from sshd import Sshd, TestKeys, TestUser

from ssh_mcp.errors import PathNotAllowed, RemoteError
from ssh_mcp.ssh.sftp import canonicalize

pytestmark = pytest.mark.anyio


@pytest.fixture
async def sftp(
    sshd: Sshd, test_user: TestUser, test_keys: TestKeys, known_hosts_file: Path
) -> AsyncIterator[asyncssh.SFTPClient]:
    async with (
        asyncssh.connect(
            sshd.host,
            sshd.port,
            username=test_user.name,
            client_keys=[str(test_keys.plain)],
            known_hosts=str(known_hosts_file),
            config=None,
            agent_path=None,
        ) as conn,
        conn.start_sftp_client() as client,
    ):
        yield client


@pytest.fixture
def tree(work_dir: Path, test_user: TestUser) -> Path:
    (work_dir / "d").mkdir()
    (work_dir / "d" / "f").write_text("x")
    (work_dir / "link-d").symlink_to(work_dir / "d")
    (work_dir / "dangling-out").symlink_to("/tmp/ssh-mcp-nowhere/file")
    (work_dir / "dangling-in").symlink_to("d/new-file")
    (work_dir / "loop1").symlink_to("loop2")
    (work_dir / "loop2").symlink_to("loop1")
    for p in [work_dir, *work_dir.rglob("*")]:
        os.lchown(p, test_user.uid, test_user.uid)
    return work_dir


async def test_existing_paths_resolve_whole(sftp: asyncssh.SFTPClient, tree: Path) -> None:
    assert await canonicalize(sftp, f"{tree}/link-d/f", create=False) == f"{tree}/d/f"
    assert await canonicalize(sftp, f"{tree}/d/../d/./f", create=False) == f"{tree}/d/f"
    with pytest.raises(RemoteError, match="no such file"):
        await canonicalize(sftp, f"{tree}/missing", create=False)


async def test_dangling_links_resolve_to_their_target(
    sftp: asyncssh.SFTPClient, tree: Path
) -> None:
    out = await canonicalize(sftp, f"{tree}/dangling-out", create=True)
    assert out == "/tmp/ssh-mcp-nowhere/file"
    assert await canonicalize(sftp, f"{tree}/dangling-in", create=True) == f"{tree}/d/new-file"


async def test_missing_levels_append_plain_names(sftp: asyncssh.SFTPClient, tree: Path) -> None:
    got = await canonicalize(sftp, f"{tree}/link-d/a/b/c", create=True)
    assert got == f"{tree}/d/a/b/c"
    with pytest.raises(PathNotAllowed, match="plain components"):
        await canonicalize(sftp, f"{tree}/missing/../../../etc/x", create=True)


async def test_no_follow_keeps_the_link_itself(sftp: asyncssh.SFTPClient, tree: Path) -> None:
    got = await canonicalize(sftp, f"{tree}/link-d", create=False, follow=False)
    assert got == f"{tree}/link-d"
    with pytest.raises(PathNotAllowed):
        await canonicalize(sftp, f"{tree}/..", create=False, follow=False)


async def test_symlink_loops_are_refused(sftp: asyncssh.SFTPClient, tree: Path) -> None:
    with pytest.raises(PathNotAllowed, match="symbolic links"):
        await canonicalize(sftp, f"{tree}/loop1", create=True)


async def test_dangling_link_is_resolved_even_for_reads(
    sftp: asyncssh.SFTPClient, tree: Path
) -> None:
    # Confinement must answer before "no such file": a link may not probe outside.
    got = await canonicalize(sftp, f"{tree}/dangling-out", create=False)
    assert got == "/tmp/ssh-mcp-nowhere/file"
