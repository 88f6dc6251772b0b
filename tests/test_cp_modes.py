"""Copies within a host lose setuid and setgid and are the login user's (DECISIONS.md 86):
ssh_cp of a file and of a tree, like ssh_transfer's, under a root login, modes and owners
asserted on the host."""

from __future__ import annotations

import os
import stat as statmod
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from harness import Target, hosts_toml, ok, serve
from sshd import TestUser

from ssh_mcp.config.settings import Settings
from ssh_mcp.core.app import build_app
from ssh_mcp.core.dispatch import dispatch
from ssh_mcp.ssh.host_copy import copy_file
from ssh_mcp.ssh.pooled import PooledConnection

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


#: Programs of another user, each replaced with new content by a root login through one tool.
SETID = {"cp": 0o4755, "upload": 0o2755, "deploy": 0o6755, "edit": 0o4711, "transfer": 0o4750}


async def test_root_replacements_lose_setuid_and_setgid(
    as_root: Settings, work_dir: Path, test_user: TestUser
) -> None:
    for name, mode in SETID.items():
        (work_dir / name).write_text("port = 80\n")
        os.chown(work_dir / name, test_user.uid, test_user.uid)
        (work_dir / name).chmod(mode)  # after the chown, which clears setuid and setgid
    payload = work_dir / "payload"
    payload.write_text("port = 81\n")  # root's, 0644

    async def call(tool: str, **args: Any) -> dict[str, Any]:
        return await ok(client, tool, args)

    async with serve(as_root) as (client, _):
        sc = await call("ssh_cp", host="target", src_path=str(payload),
                        dst_path=f"{work_dir}/cp", overwrite=True)  # fmt: skip
        assert sc["mode"] == "0755"
        await call("ssh_upload", host="target", path=f"{work_dir}/upload", content_text="x",
                   overwrite=True)  # fmt: skip
        await call("ssh_deploy", host="target", path=f"{work_dir}/deploy", content_text="x")
        await call("ssh_edit", host="target", path=f"{work_dir}/edit", old_string="80",
                   new_string="8080")  # fmt: skip
        await call("ssh_transfer", src_host="target", src_path=str(payload), dst_host="target",
                   dst_path=f"{work_dir}/transfer", overwrite=True)  # fmt: skip
    # Each keeps its permission bits, is root's now (a new inode), and is no setuid program.
    for name, mode in SETID.items():
        st = (work_dir / name).stat()
        assert (st.st_mode & 0o7777, st.st_uid) == (mode & 0o777, 0), name
    assert (work_dir / "edit").read_text() == "port = 8080\n"
    # Nothing there is setuid or setgid, the backup ssh_deploy made included.
    left = {p.name: p.lstat().st_mode & 0o7777 for p in work_dir.iterdir()}
    assert len(left) == len(SETID) + 2 and not [m for m in left.values() if m & 0o7000], left


async def test_cp_over_a_symlink_takes_the_mode_of_its_target(
    as_root: Settings, work_dir: Path
) -> None:
    """ssh_cp resolves the destination, so the link's target is replaced, keeping its bits.
    A link swapped in after that is what copy_file finds: it replaces the link itself, with
    the bits of the regular file it led to, else the source's; never the link's own 0777."""
    (work_dir / "real").write_text("old")
    (work_dir / "real").chmod(0o640)
    (work_dir / "other").write_text("old")
    (work_dir / "other").chmod(0o604)
    (work_dir / "dir").mkdir()
    for name, to in {"link": "real", "swapped": "other", "dangling": "nowhere",
                     "to_dir": "dir"}.items():  # fmt: skip
        (work_dir / name).symlink_to(to)
    src = work_dir / "src"
    src.write_text("new")
    src.chmod(0o600)
    app = build_app(as_root)
    try:
        args = {"host": "target", "src_path": str(src), "dst_path": f"{work_dir}/link",
                "overwrite": True}  # fmt: skip
        outcome = await dispatch(app, "ssh_cp", args)
        assert outcome.ok and outcome.structured, outcome.text
        assert outcome.structured["mode"] == "0640"

        async def copy(pc: PooledConnection) -> list[int]:
            sftp = await pc.sftp()
            opts: dict[str, Any] = {"src_mode": 0o100600, "overwrite": True, "max_bytes": 1 << 20}
            names = ("swapped", "dangling", "to_dir")
            dsts = [f"{work_dir}/{n}" for n in names]
            return [(await copy_file(sftp, str(src), dst, **opts)).mode for dst in dsts]

        spec = app.connect_spec(app.inventory.hosts["target"])
        assert await app.pool.run(spec, copy, replay=False) == [0o604, 0o600, 0o600]
    finally:
        await app.aclose()
    assert (work_dir / "link").is_symlink() and (work_dir / "real").read_text() == "new"
    assert (work_dir / "real").stat().st_mode & 0o7777 == 0o640
    for name, mode in {"swapped": 0o604, "dangling": 0o600, "to_dir": 0o600}.items():
        st = (work_dir / name).lstat()
        assert statmod.S_ISREG(st.st_mode) and st.st_mode & 0o7777 == mode, name
    assert (work_dir / "other").read_text() == "old" and list((work_dir / "dir").iterdir()) == []
