"""The file-ops tools (mkdir, delete, delete_folder, cp, mv, link) through MCP against real sshd."""

from __future__ import annotations

import os
import shutil
import stat
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import asyncssh
import pytest
from harness import Target, assert_audit, hosts_toml, make_settings, ok, refused, serve, text
from mcp import Client
from sshd import Sshd, TestKeys, TestUser

from ssh_mcp.config.settings import Settings
from ssh_mcp.core.app import App

pytestmark = pytest.mark.anyio
Make = Callable[..., Settings]


def own(root: Path, user: TestUser) -> None:
    for p in [root, *root.rglob("*")]:
        os.lchown(p, user.uid, user.uid)


def temps(root: Path) -> list[Path]:
    return list(root.rglob(".*.ssh-mcp-*"))


def snapshot(root: Path) -> dict[str, str]:
    """Every entry under root: file content, link text, or 'dir'."""
    out = {}
    for p in sorted(root.rglob("*")):
        rel = str(p.relative_to(root))
        if p.is_symlink():
            out[rel] = "-> " + os.readlink(p)
        elif p.is_dir():
            out[rel] = "dir"
        else:
            out[rel] = p.read_text()
    return out


async def call(client: Client, tool: str, **args: Any) -> dict[str, Any]:
    """``ok`` on the target, the arguments as keywords."""
    return await ok(client, tool, {"host": "target", **args})


async def fails(client: Client, tool: str, expected: str, **args: Any) -> str:
    """``refused`` on the target, the arguments as keywords."""
    return await refused(client, tool, {"host": "target", **args}, expected)


def hashed(app: App, path: Path | str) -> str:
    return app.audit.digest(str(path))


@pytest.fixture
def low(settings_for: Make) -> Callable[..., Settings]:
    return lambda **kw: settings_for(allow_low_access_tools=True, **kw)


@pytest.fixture
def outside(test_user: TestUser, request: pytest.FixtureRequest) -> Iterator[Path]:
    """A directory of the test user outside the allowlist, with one file."""
    path = Path(f"/tmp/ssh-mcp-fileops-{os.getpid()}-{request.node.name[:40]}")
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir()
    (path / "keep").write_text("outside")
    own(path, test_user)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def tree(work_dir: Path, test_user: TestUser, outside: Path) -> Path:
    """work_dir/tree: files with modes, subdirs, links in and out."""
    t = work_dir / "tree"
    (t / "sub" / "deep").mkdir(parents=True)
    (t / "a.txt").write_text("alpha")
    (t / "run.sh").write_text("#!/bin/sh\n")
    (t / "run.sh").chmod(0o750)
    (t / "sub" / "b.txt").write_text("beta")
    (t / "sub" / "deep" / "c.txt").write_text("gamma")
    (t / "rel-link").symlink_to("sub/b.txt")
    (t / "out-link").symlink_to(outside)
    (t / "out-file-link").symlink_to(outside / "keep")
    own(work_dir, test_user)
    return t


# -- ssh_mkdir ---------------------------------------------------------------------


async def test_mkdir_one_level_mode_and_exists(
    settings_for: Make, low: Make, work_dir: Path
) -> None:
    new = work_dir / "new"
    async with serve(settings_for()) as (client, _):
        await fails(client, "ssh_mkdir", "ssh_mkdir", path=str(new))  # tier closed
    async with serve(low()) as (client, app):
        sc = await call(client, "ssh_mkdir", path=str(new), mode="0750")
        assert sc == {"path": str(new), "mode": "0750", "created": [str(new)]}
        assert stat.S_IMODE(new.stat().st_mode) == 0o750 and new.is_dir()
        assert_audit(app, {"tool": "ssh_mkdir", "outcome": "ok", "path_hash": hashed(app, new)})
        await fails(client, "ssh_mkdir", "already exists", path=str(new))
        sc = await call(client, "ssh_mkdir", path=str(new), parents=True)
        assert sc["created"] == []
        (work_dir / "file").write_text("x")
        await fails(client, "ssh_mkdir", "not a directory", path=f"{work_dir}/file", parents=True)


async def test_mkdir_parents_creates_every_missing_level(
    low: Make, work_dir: Path, test_user: TestUser
) -> None:
    (work_dir / "real").mkdir()
    (work_dir / "via").symlink_to(work_dir / "real")
    own(work_dir, test_user)
    async with serve(low()) as (client, app):
        await fails(client, "ssh_mkdir", "pass parents=true", path=f"{work_dir}/a/b/c")
        assert not (work_dir / "a").exists()
        sc = await call(client, "ssh_mkdir", path=f"{work_dir}/via/a/b/c", parents=True)
        base = work_dir / "real"
        assert sc["path"] == f"{base}/a/b/c"
        assert sc["created"] == [f"{base}/a", f"{base}/a/b", f"{base}/a/b/c"]
        assert (base / "a" / "b" / "c").is_dir()
        assert_audit(app, {"tool": "ssh_mkdir", "path_hash": hashed(app, f"{base}/a/b/c")})


async def test_mkdir_outside_or_escaping_is_denied(low: Make, work_dir: Path) -> None:
    gone = f"/tmp/ssh-mcp-never-{os.getpid()}"
    async with serve(low()) as (client, app):
        await fails(
            client, "ssh_mkdir", "outside the path allowlist", path=f"{gone}/x", parents=True
        )
        assert_audit(app, {"tool": "ssh_mkdir", "outcome": "denied", "error": "PathNotAllowed"})
        escape = f"{work_dir}/missing/../../../../../tmp/ssh-mcp-never-{os.getpid()}"
        await fails(client, "ssh_mkdir", "plain components", path=escape, parents=True)
    assert not Path(gone).exists() and not (work_dir / "missing").exists()


# -- ssh_delete --------------------------------------------------------------------


async def test_delete_files_and_links_not_their_targets(
    low: Make, tree: Path, outside: Path
) -> None:
    async with serve(low()) as (client, app):
        sc = await call(client, "ssh_delete", path=f"{tree}/a.txt")
        assert sc == {"path": f"{tree}/a.txt", "kind": "file", "size": 5}
        assert not (tree / "a.txt").exists()
        assert_audit(app, {"tool": "ssh_delete", "path_hash": hashed(app, tree / "a.txt")})
        sc = await call(client, "ssh_delete", path=f"{tree}/rel-link")
        assert sc["kind"] == "symlink" and (tree / "sub" / "b.txt").read_text() == "beta"
        # The link lies inside the allowlist; deleting it never touches its target outside.
        sc = await call(client, "ssh_delete", path=f"{tree}/out-file-link")
        assert sc["path"] == f"{tree}/out-file-link" and not (tree / "out-file-link").is_symlink()
        assert (outside / "keep").read_text() == "outside"
        await fails(client, "ssh_delete", "use ssh_delete_folder", path=f"{tree}/sub")
        assert (tree / "sub" / "b.txt").exists()
        # Through a link to a directory outside: the parent resolves outside, so denied.
        await fails(
            client, "ssh_delete", "outside the path allowlist", path=f"{tree}/out-link/keep"
        )
        assert_audit(app, {"tool": "ssh_delete", "outcome": "denied"})
        assert (outside / "keep").exists()


# -- ssh_delete_folder --------------------------------------------------------------


async def test_delete_folder_empty_and_not_empty(low: Make, work_dir: Path, tree: Path) -> None:
    (work_dir / "empty").mkdir()
    async with serve(low()) as (client, app):
        sc = await call(client, "ssh_delete_folder", path=f"{work_dir}/empty")
        assert sc["removed"] == 1 and not sc["dry_run"] and not (work_dir / "empty").exists()
        assert_audit(app, {"tool": "ssh_delete_folder", "outcome": "ok"})
        await fails(client, "ssh_delete_folder", "not empty; pass recursive=true", path=str(tree))
        await fails(client, "ssh_delete_folder", "use ssh_delete", path=f"{tree}/a.txt")
        await fails(client, "ssh_delete_folder", "symbolic link", path=f"{tree}/out-link")
    assert (tree / "a.txt").exists()


async def test_delete_folder_dry_run_then_recursive(low: Make, tree: Path, outside: Path) -> None:
    before = snapshot(tree)
    count = 1 + len(before)
    async with serve(low()) as (client, app):
        sc = await call(client, "ssh_delete_folder", path=str(tree), recursive=True, dry_run=True)
        assert sc["dry_run"] and sc["removed"] == 0 and sc["would_remove"] == count
        assert sc["paths"][0] == str(tree) and f"{tree}/out-link" in sc["paths"]
        assert snapshot(tree) == before
        sc = await call(client, "ssh_delete_folder", path=str(tree), recursive=True)
        assert sc["removed"] == count and not tree.exists()
        assert_audit(app, {"tool": "ssh_delete_folder", "path_hash": hashed(app, tree)})
    assert (outside / "keep").read_text() == "outside"  # links were removed, not followed


async def test_delete_folder_cap_leaves_everything(low: Make, tree: Path) -> None:
    before = snapshot(tree)
    async with serve(low(ssh_delete_folder_max_entries=5)) as (client, app):
        msg = await fails(
            client, "ssh_delete_folder", "more than 5 entries", path=str(tree), recursive=True
        )
        assert "SSH_DELETE_FOLDER_MAX_ENTRIES" in msg and "nothing was removed" in msg
        assert_audit(app, {"tool": "ssh_delete_folder", "outcome": "error", "error": "CapExceeded"})
    assert snapshot(tree) == before


async def test_delete_folder_with_a_restricted_zone_inside_is_denied(low: Make, tree: Path) -> None:
    before = snapshot(tree)
    async with serve(low(ssh_restricted_paths=[f"{tree}/sub/deep"])) as (client, app):
        for dry_run in (True, False):
            await fails(
                client,
                "ssh_delete_folder",
                "contains the restricted zone",
                path=str(tree),
                recursive=True,
                dry_run=dry_run,
            )
            assert_audit(app, {"outcome": "denied", "error": "PathNotAllowed"})
    assert snapshot(tree) == before


async def test_delete_folder_failing_midway_says_how_far(low: Make, tree: Path) -> None:
    (tree / "sub" / "deep").chmod(0o555)  # its file cannot be unlinked
    async with serve(low()) as (client, app):
        msg = await fails(
            client, "ssh_delete_folder", "deleting stopped at", path=str(tree), recursive=True
        )
        assert f"{tree}/sub/deep/c.txt after " in msg and f" of {1 + 9} entries" in msg
        assert_audit(app, {"tool": "ssh_delete_folder", "outcome": "error"})
    assert (tree / "sub" / "deep" / "c.txt").exists()


async def test_delete_folder_refuses_the_login_home(
    settings_for: Make, target: Target, test_user: TestUser
) -> None:
    # The allowlist holds the home (an allowlist root itself is never deleted, DECISIONS 43).
    home = Target(target.alias, target.port, target.user, target.key, (str(test_user.home.parent),))
    settings = settings_for(hosts=hosts_toml(home), allow_low_access_tools=True)
    async with serve(settings) as (client, app):
        await fails(client, "ssh_delete_folder", "login user's home", path="~", recursive=True)
        assert_audit(app, {"outcome": "denied", "error": "PathNotAllowed"})
    assert test_user.home.is_dir()


# -- ssh_cp -------------------------------------------------------------------------


async def test_cp_file_server_side_atomic_with_modes(low: Make, tree: Path) -> None:
    src, dst = tree / "run.sh", tree / "copy.sh"
    async with serve(low()) as (client, app):
        sc = await call(client, "ssh_cp", src_path=str(src), dst_path=str(dst))
        assert sc == {
            "path": str(dst),
            "size": 10,
            "mode": "0750",
            "entries": 1,
            "skipped": 0,
            "server_side": True,
        }
        assert dst.read_text() == "#!/bin/sh\n" and stat.S_IMODE(dst.stat().st_mode) == 0o750
        assert_audit(
            app,
            {
                "tool": "ssh_cp",
                "outcome": "ok",
                "path_hash": hashed(app, src),
                "dst_path_hash": hashed(app, dst),
                "bytes": 10,
            },
        )
        await fails(
            client, "ssh_cp", "pass overwrite=true", src_path=f"{tree}/a.txt", dst_path=str(dst)
        )
        assert dst.read_text() == "#!/bin/sh\n"
        dst.chmod(0o600)
        sc = await call(
            client, "ssh_cp", src_path=f"{tree}/a.txt", dst_path=str(dst), overwrite=True
        )
        assert sc["mode"] == "0600" and dst.read_text() == "alpha"  # a replaced file keeps its mode
        await fails(
            client, "ssh_cp", "pass recursive=true", src_path=f"{tree}/sub", dst_path=f"{tree}/x"
        )
    assert temps(tree) == []


async def test_cp_streams_when_the_server_cannot_copy(
    low: Make, work_dir: Path, test_user: TestUser, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(asyncssh.SFTPClient, "supports_remote_copy", property(lambda _: False))
    data = os.urandom(3 * 1024 * 1024 + 17)
    (work_dir / "big.bin").write_bytes(data)
    own(work_dir, test_user)
    async with serve(low()) as (client, app):
        sc = await call(client, "ssh_cp", src_path=f"{work_dir}/big.bin", dst_path=f"{work_dir}/b2")
        assert sc["server_side"] is False and sc["size"] == len(data)
        assert_audit(app, {"tool": "ssh_cp", "bytes": len(data)})
    assert (work_dir / "b2").read_bytes() == data and temps(work_dir) == []


async def test_cp_tree_recreates_links_and_modes(
    low: Make, tree: Path, work_dir: Path, test_user: TestUser
) -> None:
    (tree / "ro").mkdir()
    (tree / "ro" / "r.txt").write_text("in a read-only dir")
    own(tree, test_user)
    (tree / "ro").chmod(0o555)
    dst = work_dir / "copy"
    async with serve(low()) as (client, app):
        sc = await call(client, "ssh_cp", src_path=str(tree), dst_path=str(dst), recursive=True)
        assert sc["path"] == str(dst) and sc["entries"] == 1 + len(snapshot(tree))
        assert sc["size"] == sum(
            p.stat().st_size for p in tree.rglob("*") if p.is_file() and not p.is_symlink()
        )
        assert_audit(app, {"tool": "ssh_cp", "dst_path_hash": hashed(app, dst)})
        assert snapshot(dst) == snapshot(tree)
        assert (dst / "out-link").is_symlink()  # a link, not a copy of the outside dir
        assert stat.S_IMODE((dst / "ro").stat().st_mode) == 0o555
        assert stat.S_IMODE((dst / "run.sh").stat().st_mode) == 0o750
        await fails(
            client, "ssh_cp", "never merges", src_path=str(tree), dst_path=str(dst), recursive=True
        )
        await fails(
            client,
            "ssh_cp",
            "outside itself",
            src_path=str(tree),
            dst_path=f"{tree}/sub/x",
            recursive=True,
        )
    assert temps(work_dir) == [] and not (tree / "sub" / "x").exists()


async def test_cp_failing_midway_leaves_no_trace(low: Make, tree: Path, work_dir: Path) -> None:
    (tree / "sub" / "secret").write_text("root only")
    (tree / "sub" / "secret").chmod(0o600)  # owned by root: the login user cannot read it
    dst = work_dir / "copy"
    async with serve(low()) as (client, app):
        await fails(
            client,
            "ssh_cp",
            "sub/secret: Cannot open: Permission denied; nothing was copied",
            src_path=str(tree),
            dst_path=str(dst),
            recursive=True,
        )
        assert_audit(app, {"tool": "ssh_cp", "outcome": "error", "error": "RemoteError"})
    assert not dst.exists() and temps(work_dir) == []


async def test_cp_into_an_unwritable_directory_says_so(low: Make, tree: Path) -> None:
    """The temp file could not even be created: the error names no leftover."""
    (tree / "locked").mkdir()  # owned by root: the login user cannot create files in it
    async with serve(low()) as (client, app):
        msg = await fails(
            client,
            "ssh_cp",
            "copy failed: permission denied for the login user",
            src_path=f"{tree}/a.txt",
            dst_path=f"{tree}/locked/a.txt",
        )
        assert "left behind" not in msg, msg
        assert_audit(app, {"tool": "ssh_cp", "outcome": "error", "error": "RemoteError"})
    assert list((tree / "locked").iterdir()) == []


async def test_cp_dropped_mid_copy_leaves_no_trace_and_is_not_replayed(
    tmp_path: Path,
    scratch_sshd: Sshd,
    test_user: TestUser,
    test_keys: TestKeys,
    work_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A copy is a change: a drop mid-way is reported, and its temp file removed over a new
    connection; the destination never appears."""
    monkeypatch.setattr(asyncssh.SFTPClient, "supports_remote_copy", property(lambda _: False))
    size = 400 * 1024 * 1024
    src, dst = work_dir / "huge.bin", work_dir / "copy.bin"
    src.touch()
    os.truncate(src, size)  # sparse: cheap to make, not to stream
    own(work_dir, test_user)
    host = Target("target", scratch_sshd.port, test_user.name, test_keys.plain, (str(work_dir),))
    settings = make_settings(
        tmp_path / "srv",
        hosts_toml(host),
        scratch_sshd.known_hosts_path,
        allow_low_access_tools=True,
    )
    killed: list[int] = []

    async def kill_mid_copy(progress: float, total: float | None, message: str | None) -> None:
        if not killed:
            assert total == size and progress < size
            # Blocking on purpose: the in-process server cannot finish meanwhile.
            killed.extend(scratch_sshd.kill_connections())

    async with serve(settings) as (client, app):
        r = await client.call_tool(
            "ssh_cp",
            {"host": "target", "src_path": str(src), "dst_path": str(dst)},
            progress_callback=kill_mid_copy,
        )
        assert killed and r.is_error, text(r)
        message = text(r)
        assert f"the connection dropped while writing {dst}; it is unchanged" in message, message
        assert "no temp file remains" in message, message
        assert_audit(app, {"tool": "ssh_cp", "outcome": "error", "error": "ConnectionDropped"})
    assert not dst.exists() and temps(work_dir) == []


async def test_cp_of_a_parent_of_a_restricted_zone_is_denied(
    low: Make, tree: Path, work_dir: Path
) -> None:
    async with serve(low(ssh_restricted_paths=[f"{tree}/sub/deep"])) as (client, app):
        await fails(
            client,
            "ssh_cp",
            "contains the restricted zone",
            src_path=str(tree),
            dst_path=f"{work_dir}/copy",
            recursive=True,
        )
        assert_audit(app, {"tool": "ssh_cp", "outcome": "denied", "error": "PathNotAllowed"})
    # A destination that would cover a zone is refused too.
    async with serve(low(ssh_restricted_paths=[f"{work_dir}/copy/deep"])) as (client, _):
        await fails(
            client,
            "ssh_cp",
            "contains the restricted zone",
            src_path=f"{tree}/sub",
            dst_path=f"{work_dir}/copy",
            recursive=True,
        )
    assert not (work_dir / "copy").exists()


async def test_cp_and_mv_to_outside_are_denied(low: Make, tree: Path, outside: Path) -> None:
    before = snapshot(tree)
    async with serve(low()) as (client, app):
        for tool in ("ssh_cp", "ssh_mv"):
            for dst in (f"{outside}/stolen", f"{tree}/out-link/stolen"):
                await fails(
                    client,
                    tool,
                    "outside the path allowlist",
                    src_path=f"{tree}/a.txt",
                    dst_path=dst,
                )
                line = assert_audit(app, {"tool": tool, "outcome": "denied"})
                assert line["path_hash"] == hashed(app, tree / "a.txt") and line["dst_path_hash"]
        await fails(
            client,
            "ssh_cp",
            "outside the path allowlist",
            src_path=f"{tree}/out-file-link",
            dst_path=f"{tree}/leak",
        )
    assert snapshot(tree) == before and sorted(p.name for p in outside.iterdir()) == ["keep"]


# -- ssh_mv -------------------------------------------------------------------------


async def test_mv_within_the_allowlist(low: Make, tree: Path, work_dir: Path) -> None:
    async with serve(low()) as (client, app):
        sc = await call(client, "ssh_mv", src_path=f"{tree}/a.txt", dst_path=f"{tree}/moved.txt")
        assert sc == {"path": f"{tree}/moved.txt", "kind": "file", "size": 5, "mode": "0644"}
        assert not (tree / "a.txt").exists() and (tree / "moved.txt").read_text() == "alpha"
        assert_audit(
            app,
            {
                "tool": "ssh_mv",
                "path_hash": hashed(app, tree / "a.txt"),
                "dst_path_hash": hashed(app, tree / "moved.txt"),
            },
        )
        await fails(
            client,
            "ssh_mv",
            "pass overwrite=true",
            src_path=f"{tree}/moved.txt",
            dst_path=f"{tree}/run.sh",
        )
        assert (tree / "moved.txt").exists() and (tree / "run.sh").read_text() == "#!/bin/sh\n"
        await call(
            client,
            "ssh_mv",
            src_path=f"{tree}/moved.txt",
            dst_path=f"{tree}/run.sh",
            overwrite=True,
        )
        assert (tree / "run.sh").read_text() == "alpha"
        # A link moves itself: its text is unchanged, its target stays put.
        sc = await call(client, "ssh_mv", src_path=f"{tree}/out-link", dst_path=f"{work_dir}/ol")
        assert sc["kind"] == "symlink" and (work_dir / "ol").is_symlink()
        sc = await call(client, "ssh_mv", src_path=f"{tree}/sub", dst_path=f"{work_dir}/sub2")
        assert sc["kind"] == "dir" and (work_dir / "sub2" / "deep" / "c.txt").read_text() == "gamma"
        await fails(
            client,
            "ssh_mv",
            "outside itself",
            src_path=f"{work_dir}/sub2",
            dst_path=f"{work_dir}/sub2/deep/x",
        )


async def test_mv_of_a_tree_holding_a_restricted_zone_is_denied(
    low: Make, tree: Path, work_dir: Path
) -> None:
    before = snapshot(tree)
    async with serve(low(ssh_restricted_paths=[f"{tree}/sub/deep"])) as (client, app):
        await fails(
            client,
            "ssh_mv",
            "contains the restricted zone",
            src_path=str(tree),
            dst_path=f"{work_dir}/t2",
        )
        assert_audit(app, {"tool": "ssh_mv", "outcome": "denied"})
    assert snapshot(tree) == before and not (work_dir / "t2").exists()


# -- ssh_link -----------------------------------------------------------------------


async def test_link_symbolic_and_hard(low: Make, tree: Path, outside: Path) -> None:
    async with serve(low()) as (client, app):
        sc = await call(client, "ssh_link", target_path=f"{tree}/rel-link", link_path=f"{tree}/sym")
        assert sc == {"path": f"{tree}/sym", "target": f"{tree}/sub/b.txt", "symbolic": True}
        assert os.readlink(tree / "sym") == f"{tree}/sub/b.txt"
        assert_audit(
            app,
            {
                "tool": "ssh_link",
                "path_hash": hashed(app, tree / "sub" / "b.txt"),
                "link_path_hash": hashed(app, tree / "sym"),
            },
        )
        sc = await call(
            client,
            "ssh_link",
            target_path=f"{tree}/a.txt",
            link_path=f"{tree}/hard",
            symbolic=False,
        )
        assert (
            not sc["symbolic"] and (tree / "hard").stat().st_ino == (tree / "a.txt").stat().st_ino
        )
        await fails(
            client, "ssh_link", "exists", target_path=f"{tree}/a.txt", link_path=f"{tree}/hard"
        )
        await fails(
            client,
            "ssh_link",
            "hard links need a file",
            target_path=f"{tree}/sub",
            link_path=f"{tree}/hd",
            symbolic=False,
        )
        sc = await call(
            client, "ssh_link", target_path=f"{tree}/not-yet", link_path=f"{tree}/dangling"
        )
        assert os.readlink(tree / "dangling") == f"{tree}/not-yet"
        for symbolic in (True, False):
            await fails(
                client,
                "ssh_link",
                "outside the path allowlist",
                target_path=f"{outside}/keep",
                link_path=f"{tree}/l{symbolic}",
                symbolic=symbolic,
            )
            assert not (tree / f"l{symbolic}").exists()
    async with serve(low(ssh_restricted_paths=[f"{tree}/sub"])) as (client, app):
        await fails(
            client,
            "ssh_link",
            "restricted zone",
            target_path=f"{tree}/sub/b.txt",
            link_path=f"{tree}/h2",
            symbolic=False,
        )
        assert not (tree / "h2").exists()
