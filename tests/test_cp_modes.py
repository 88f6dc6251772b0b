"""Copies within a host lose setuid and setgid and are the login user's (DECISIONS.md 86):
ssh_cp of a file and of a tree, like ssh_transfer's, under a root login, modes and owners
asserted on the host."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from harness import Target, hosts_toml, ok, serve
from sshd import TestUser

from ssh_mcp.config.settings import Settings

pytestmark = pytest.mark.anyio

#: Files of the source tree and their modes: setuid, setgid, both, neither.
MODES = {"suid": 0o4755, "sgid": 0o2750, "both": 0o6711, "plain": 0o640, "sub/deep": 0o4700}


@pytest.fixture
def as_root(root_target: Target, settings_for: Callable[..., Settings]) -> Settings:
    return settings_for(hosts=hosts_toml(root_target), allow_low_access_tools=True)


def _tree(root: Path, user: TestUser) -> None:
    """The test user's tree of MODES, in a setgid directory ``sub``, and a symlink."""
    (root / "sub").mkdir(parents=True)
    for rel in MODES:
        (root / rel).write_text(rel)
    (root / "sub" / "link").symlink_to("deep")
    for p in [root, *root.rglob("*")]:
        os.lchown(p, user.uid, user.uid)
    for rel, mode in MODES.items():  # after the chown, which clears setuid and setgid
        (root / rel).chmod(mode)
    (root / "sub").chmod(0o2775)


def _modes(root: Path) -> dict[str, tuple[int, int, int]]:
    """``root`` ("") and each entry below it, not followed: (mode bits with setuid, setgid
    and sticky, owner uid, group gid)."""
    return {
        "" if p == root else str(p.relative_to(root)): (
            p.lstat().st_mode & 0o7777,
            p.lstat().st_uid,
            p.lstat().st_gid,
        )
        for p in [root, *root.rglob("*")]
    }


async def test_root_copies_lose_setuid_and_setgid(
    as_root: Settings, work_dir: Path, test_user: TestUser
) -> None:
    src = work_dir / "tree"
    _tree(src, test_user)
    src.chmod(0o750)
    assert test_user.uid != 0 and {uid for _, uid, _ in _modes(src).values()} == {test_user.uid}
    # Every copy is root's (the login's), never the source's owner's, not even its links.
    expected = {rel: (mode & 0o777, 0, 0) for rel, mode in MODES.items()}
    expected[""] = (0o750, 0, 0)
    expected["sub"] = (0o2775, 0, 0)  # directories keep setgid (new files' group)
    expected["sub/link"] = (0o777, 0, 0)

    async def call(tool: str, **args: Any) -> dict[str, Any]:
        return await ok(client, tool, {"host": "target", **args})

    async with serve(as_root) as (client, _):
        sc = await call("ssh_cp", src_path=str(src), dst_path=f"{work_dir}/cp", recursive=True)
        assert sc["entries"] == len(expected)
        # A root login's tar would restore the user's owners: --no-same-owner, as cp -r.
        assert _modes(work_dir / "cp") == expected
        # ssh_transfer lands a tree as the login user's, with the same modes.
        args = {"src_host": "target", "src_path": str(src), "dst_host": "target",
                "dst_path": f"{work_dir}/tr", "recursive": True}  # fmt: skip
        await ok(client, "ssh_transfer", args)
        assert _modes(work_dir / "tr") == expected
        # One file: the copy is root's, so setuid would make a root program of the user's.
        sc = await call("ssh_cp", src_path=f"{src}/both", dst_path=f"{work_dir}/one")
        assert sc["mode"] == "0711"
        st = (work_dir / "one").stat()
        assert (st.st_mode & 0o7777, st.st_uid) == (0o711, 0)
    assert (src / "both").stat().st_mode & 0o7777 == 0o6711  # the source is untouched
