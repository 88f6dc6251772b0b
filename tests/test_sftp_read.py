"""ssh_sftp_list and ssh_sftp_stat through MCP against real sshd, and path confinement."""

from __future__ import annotations

import grp
import os
import pwd
from collections.abc import Callable
from pathlib import Path

import pytest
from harness import Target, assert_audit, hosts_toml, serve, text
from sshd import TestUser

from ssh_mcp.config.settings import Settings

pytestmark = pytest.mark.anyio


def _own(path: Path, user: TestUser) -> None:
    os.lchown(path, user.uid, user.uid)


@pytest.fixture
def tree(work_dir: Path, test_user: TestUser) -> Path:
    for i in range(7):
        (work_dir / f"f{i}.txt").write_text("x" * i)
    (work_dir / "sub").mkdir()
    (work_dir / "sub" / "inner").write_text("inner")
    (work_dir / "link-in").symlink_to(work_dir / "sub")
    (work_dir / "link-out").symlink_to("/etc")
    (work_dir / "rel-out").symlink_to("../../../../etc/passwd")
    for p in [work_dir, *work_dir.rglob("*")]:
        _own(p, test_user)
    return work_dir


async def test_list_pages(settings_for: Callable[..., Settings], tree: Path) -> None:
    async with serve(settings_for()) as (client, app):
        r = await client.call_tool(
            "ssh_sftp_list", {"host": "target", "path": str(tree), "limit": 4}
        )
        assert not r.is_error, text(r)
        sc = r.structured_content
        assert sc is not None and sc["total"] == 11 and sc["next_offset"] == 4
        assert [e["name"] for e in sc["entries"]] == ["f0.txt", "f1.txt", "f2.txt", "f3.txt"]
        assert sc["entries"][1] | {"mtime": None} == {
            "name": "f1.txt",
            "kind": "file",
            "size": 1,
            "mode": "0644",
            "mtime": None,
        }
        line = assert_audit(app, {"tool": "ssh_sftp_list", "outcome": "ok", "host": "target"})
        assert line["path_hash"] == app.audit.digest(str(tree))
        r = await client.call_tool(
            "ssh_sftp_list", {"host": "target", "path": str(tree), "offset": 8, "limit": 4}
        )
        sc = r.structured_content
        assert sc is not None and sc["next_offset"] is None
        assert [(e["name"], e["kind"]) for e in sc["entries"]] == [
            ("link-out", "symlink"),
            ("rel-out", "symlink"),
            ("sub", "dir"),
        ]
        assert str(tree) not in app.settings.ssh_audit_log.read_text()


async def test_stat_follows_links_inside(settings_for: Callable[..., Settings], tree: Path) -> None:
    async with serve(settings_for()) as (client, app):
        r = await client.call_tool("ssh_sftp_stat", {"host": "target", "path": f"{tree}/link-in"})
        assert not r.is_error, text(r)
        sc = r.structured_content
        assert sc is not None and sc["path"] == f"{tree}/sub" and sc["kind"] == "dir"
        st = (tree / "sub").stat()
        assert (sc["uid"], sc["gid"]) == (st.st_uid, st.st_gid)
        assert (sc["owner"], sc["group"]) == (
            pwd.getpwuid(st.st_uid).pw_name,
            grp.getgrgid(st.st_gid).gr_name,
        )
        assert_audit(app, {"tool": "ssh_sftp_stat", "outcome": "ok"})


@pytest.mark.parametrize(
    "suffix",
    ["link-out", "link-out/passwd", "rel-out", "../..", "sub/../../..", "/etc/passwd", "//etc"],
)
async def test_escapes_are_denied(
    settings_for: Callable[..., Settings], tree: Path, suffix: str
) -> None:
    path = suffix if suffix.startswith("/") else f"{tree}/{suffix}"
    async with serve(settings_for()) as (client, app):
        for tool in ("ssh_sftp_list", "ssh_sftp_stat"):
            r = await client.call_tool(tool, {"host": "target", "path": path})
            assert r.is_error and "outside the path allowlist" in text(r), text(r)
            assert_audit(app, {"tool": tool, "outcome": "denied", "error": "PathNotAllowed"})


async def test_component_wise_allowlist(
    settings_for: Callable[..., Settings], tree: Path, target: Target
) -> None:
    (tree / "app").mkdir()
    (tree / "application").mkdir()
    narrowed = Target(target.alias, target.port, target.user, target.key, (f"{tree}/app",))
    async with serve(settings_for(hosts=hosts_toml(narrowed))) as (client, _):
        ok = await client.call_tool("ssh_sftp_list", {"host": "target", "path": f"{tree}/app"})
        assert not ok.is_error, text(ok)
        r = await client.call_tool(
            "ssh_sftp_list", {"host": "target", "path": f"{tree}/application"}
        )
        assert r.is_error and "outside the path allowlist" in text(r)


async def test_restricted_zone_covers_subtree(
    settings_for: Callable[..., Settings], tree: Path
) -> None:
    async with serve(settings_for(ssh_restricted_paths=[f"{tree}/sub"])) as (client, app):
        for path in (f"{tree}/sub", f"{tree}/sub/inner", f"{tree}/link-in"):
            r = await client.call_tool("ssh_sftp_stat", {"host": "target", "path": path})
            assert r.is_error and "restricted zone" in text(r), text(r)
        assert_audit(app, {"outcome": "denied", "error": "PathNotAllowed"})
        r = await client.call_tool("ssh_sftp_stat", {"host": "target", "path": f"{tree}/f1.txt"})
        assert not r.is_error


async def test_empty_allowlist_denies(
    settings_for: Callable[..., Settings], tree: Path, target: Target
) -> None:
    bare = Target(target.alias, target.port, target.user, target.key, ())
    hosts = hosts_toml(bare).replace("path_allowlist = []\n", "")
    async with serve(settings_for(hosts=hosts)) as (client, _):
        r = await client.call_tool("ssh_sftp_list", {"host": "target", "path": str(tree)})
        assert r.is_error and "no path allowlist" in text(r)


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("relative/path", "must be absolute"),
        ("/tmp/a\x00b", "U+0000"),
        ("/tmp/a\nb", "U+000A"),
        ("/tmp/a\u202eb", "U+202E"),
    ],
)
async def test_bad_paths_are_refused(
    settings_for: Callable[..., Settings], path: str, expected: str
) -> None:
    async with serve(settings_for()) as (client, app):
        r = await client.call_tool("ssh_sftp_stat", {"host": "target", "path": path})
        assert r.is_error and expected in text(r), text(r)
        assert_audit(app, {"outcome": "denied", "error": "PathNotAllowed"})


async def test_missing_path_is_a_clear_error(
    settings_for: Callable[..., Settings], tree: Path
) -> None:
    async with serve(settings_for()) as (client, app):
        r = await client.call_tool("ssh_sftp_stat", {"host": "target", "path": f"{tree}/nope"})
        assert r.is_error and "no such file" in text(r)
        assert_audit(app, {"outcome": "error", "error": "RemoteError"})


async def test_home_tilde_expands(settings_for: Callable[..., Settings], tree: Path) -> None:
    async with serve(settings_for()) as (client, _):
        name = tree.name
        r = await client.call_tool(
            "ssh_sftp_stat", {"host": "target", "path": f"~/{tree.parent.name}/{name}"}
        )
        assert not r.is_error, text(r)
        assert r.structured_content and r.structured_content["path"] == str(tree)
