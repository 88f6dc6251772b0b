"""Copies within a host lose setuid and setgid (DECISIONS.md 86): ssh_cp of a file and of a
tree, like ssh_transfer's, under a root login, modes and owners asserted on the host."""

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
    """The test user's tree of MODES, in a setgid directory ``sub``."""
    (root / "sub").mkdir(parents=True)
    for rel in MODES:
        (root / rel).write_text(rel)
    for p in [root, *root.rglob("*")]:
        os.lchown(p, user.uid, user.uid)
    for rel, mode in MODES.items():  # after the chown, which clears setuid and setgid
        (root / rel).chmod(mode)
    (root / "sub").chmod(0o2775)


def _modes(root: Path) -> dict[str, tuple[int, int]]:
    """Each entry below ``root``: (mode bits with setuid, setgid and sticky, owner uid)."""
    return {
        str(p.relative_to(root)): (p.lstat().st_mode & 0o7777, p.lstat().st_uid)
        for p in root.rglob("*")
    }


async def test_root_copies_lose_setuid_and_setgid(
    as_root: Settings, work_dir: Path, test_user: TestUser
) -> None:
    src = work_dir / "tree"
    _tree(src, test_user)
    expected = {rel: (mode & 0o777, test_user.uid) for rel, mode in MODES.items()}
    expected["sub"] = (0o2775, test_user.uid)  # directories keep setgid (new files' group)

    async def call(tool: str, **args: Any) -> dict[str, Any]:
        return await ok(client, tool, {"host": "target", **args})

    async with serve(as_root) as (client, _):
        sc = await call("ssh_cp", src_path=str(src), dst_path=f"{work_dir}/cp", recursive=True)
        assert sc["entries"] == 1 + len(expected)
        # A root login's tar keeps the owners; the bits go all the same.
        assert _modes(work_dir / "cp") == expected
        # ssh_transfer lands a tree as the login user's, with the same modes.
        args = {"src_host": "target", "src_path": str(src), "dst_host": "target",
                "dst_path": f"{work_dir}/tr", "recursive": True}  # fmt: skip
        await ok(client, "ssh_transfer", args)
        assert _modes(work_dir / "tr") == {rel: (mode, 0) for rel, (mode, _) in expected.items()}
        # One file: the copy is root's, so setuid would make a root program of the user's.
        sc = await call("ssh_cp", src_path=f"{src}/both", dst_path=f"{work_dir}/one")
        assert sc["mode"] == "0711"
        st = (work_dir / "one").stat()
        assert (st.st_mode & 0o7777, st.st_uid) == (0o711, 0)
    assert (src / "both").stat().st_mode & 0o7777 == 0o6711  # the source is untouched
