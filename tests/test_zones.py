"""Restricted zones and allowlist roots are resolved on the host, as tool paths are.

A zone written through a symlinked directory, with ``~``, or before it exists is
enforced for reads and writes: the secret is not returned, the file is not written.
Through MCP against the real sshd; the host's files are checked after each call.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest
from harness import Target, assert_audit, hosts_toml, refused, serve, text
from mcp import Client
from sshd import TestUser

from ssh_mcp.config.inventory import parse_hosts
from ssh_mcp.config.settings import Settings
from ssh_mcp.core.app import App
from ssh_mcp.errors import ConfigError, PathNotAllowed
from ssh_mcp.policy.paths import check_entry
from ssh_mcp.ssh.spellings import spellings

pytestmark = pytest.mark.anyio
SECRET = "TOP-SECRET-VALUE"


def _own(root: Path, user: TestUser) -> None:
    for p in [root, *root.rglob("*")]:
        os.lchown(p, user.uid, user.uid)


@pytest.fixture
def release(work_dir: Path, test_user: TestUser) -> Path:
    """wd/releases/r1/{secret/key, public.txt} and wd/current -> releases/r1."""
    r1 = work_dir / "releases" / "r1"
    (r1 / "secret").mkdir(parents=True)
    (r1 / "secret" / "key").write_text(SECRET + "\n")
    (r1 / "public.txt").write_text("public\n")
    (work_dir / "current").symlink_to("releases/r1")
    _own(work_dir, test_user)
    return work_dir


async def _refused(client: Client, app: App, tool: str, args: Mapping[str, Any]) -> str:
    message = await refused(client, tool, args, "restricted zone")
    assert SECRET not in message, message
    assert_audit(app, {"tool": tool, "outcome": "denied", "error": "PathNotAllowed"})
    return message


async def test_a_zone_written_through_a_symlink_is_enforced(
    settings_for: Callable[..., Settings], release: Path
) -> None:
    wd = release
    settings = settings_for(
        allow_low_access_tools=True, ssh_restricted_paths=[f"{wd}/current/secret"]
    )
    async with serve(settings) as (client, app):
        for spelling in (f"{wd}/releases/r1/secret/key", f"{wd}/current/secret/key"):
            await _refused(client, app, "ssh_sftp_download", {"host": "target", "path": spelling})
        new = wd / "releases" / "r1" / "secret" / "planted.txt"
        for spelling in (str(new), f"{wd}/current/secret/planted.txt"):
            args = {"host": "target", "path": spelling, "content_text": "x\n"}
            await _refused(client, app, "ssh_upload", args)
            assert not new.exists()
        # Beside the zone, the same release is readable.
        r = await client.call_tool(
            "ssh_sftp_download", {"host": "target", "path": f"{wd}/current/public.txt"}
        )
        assert (
            not r.is_error
            and r.structured_content
            and r.structured_content["content"] == "public\n"
        )


async def test_a_tilde_zone_is_the_login_users_home(
    settings_for: Callable[..., Settings], work_dir: Path, test_user: TestUser
) -> None:
    (work_dir / "vault").mkdir()
    (work_dir / "vault" / "key").write_text(SECRET + "\n")
    _own(work_dir, test_user)
    zone = "~/" + str(work_dir.relative_to(test_user.home)) + "/vault"
    settings = settings_for(allow_low_access_tools=True, ssh_restricted_paths=[zone])
    async with serve(settings) as (client, app):
        path = str(work_dir / "vault" / "key")
        message = await _refused(client, app, "ssh_sftp_download", {"host": "target", "path": path})
        assert f"{work_dir}/vault" in message  # named by where it is, not /~/...
        args = {"host": "target", "path": str(work_dir / "vault" / "new"), "content_text": "x"}
        await _refused(client, app, "ssh_upload", args)
        assert not (work_dir / "vault" / "new").exists()


async def test_a_zone_that_appears_later_is_enforced_from_then_on(
    settings_for: Callable[..., Settings], work_dir: Path, test_user: TestUser
) -> None:
    """The zone wd/later/secret does not exist; a path beneath its spelling is refused all
    the same. Then wd/later appears as a link to wd/real: the same app refuses wd/real/secret
    on the very next call (nothing was cached)."""
    (work_dir / "real" / "secret").mkdir(parents=True)
    (work_dir / "real" / "secret" / "key").write_text(SECRET + "\n")
    _own(work_dir, test_user)
    key = {"host": "target", "path": str(work_dir / "real" / "secret" / "key")}
    settings = settings_for(
        allow_low_access_tools=True, ssh_restricted_paths=[f"{work_dir}/later/secret"]
    )
    async with serve(settings) as (client, app):
        args = {"host": "target", "path": f"{work_dir}/later/secret/x", "content_text": "x"}
        await _refused(client, app, "ssh_upload", args)
        assert not (work_dir / "later").exists()
        r = await client.call_tool("ssh_sftp_download", key)
        assert not r.is_error, text(r)  # not a zone yet: nothing names it one
        (work_dir / "later").symlink_to("real")
        os.lchown(work_dir / "later", test_user.uid, test_user.uid)
        await _refused(client, app, "ssh_sftp_download", key)
        new = work_dir / "real" / "secret" / "new"
        await _refused(client, app, "ssh_upload", {**key, "path": str(new), "content_text": "x"})
        assert not new.exists()


async def test_allowlist_roots_resolve_on_the_host_too(
    settings_for: Callable[..., Settings], release: Path, test_user: TestUser, target: Target
) -> None:
    """A root written through a link (and with ~) admits what it points at, and no more."""
    root = "~/" + str(release.relative_to(test_user.home)) + "/current"
    host = Target(target.alias, target.port, target.user, target.key, (root,))
    async with serve(settings_for(hosts=hosts_toml(host))) as (client, app):
        r = await client.call_tool(
            "ssh_sftp_download", {"host": "target", "path": f"{release}/current/public.txt"}
        )
        assert not r.is_error, text(r)
        assert r.structured_content and r.structured_content["path"].endswith("r1/public.txt")
        r = await client.call_tool("ssh_sftp_list", {"host": "target", "path": str(release)})
        assert r.is_error and "outside the path allowlist" in text(r), text(r)
        assert_audit(app, {"outcome": "denied", "error": "PathNotAllowed"})


async def test_a_zone_behind_a_root_only_directory_is_resolved_as_root(
    settings_for: Callable[..., Settings], work_dir: Path, test_user: TestUser, tmp_path: Path,
    target: Target,
) -> None:  # fmt: skip
    """The login user cannot enter rootonly/, so only root can resolve the zone's link."""
    d = work_dir / "rootonly"
    (d / "releases" / "r1" / "secret").mkdir(parents=True)
    d.chmod(0o700)
    (d / "releases" / "r1" / "secret" / "key").write_text(SECRET + "\n")
    (d / "releases" / "r1" / "ok.txt").write_text("ok\n")
    (d / "current").symlink_to("releases/r1")
    pw = tmp_path / "sudo.pw"
    pw.write_text(test_user.password + "\n")
    pw.chmod(0o600)
    extra = f'sudo_password_cmd = ["cat", "{pw}"]\n'
    host = Target(target.alias, target.port, target.user, target.key, target.path_allowlist, extra)
    settings = settings_for(
        hosts=hosts_toml(host),
        allow_dangerous_tools=True,
        allow_sudo=True,
        ssh_restricted_paths=[f"{d}/current/secret"],
    )
    async with serve(settings) as (client, app):
        await _refused(
            client, app, "ssh_sudo_read", {"host": "target", "path": f"{d}/releases/r1/secret/key"}
        )
        r = await client.call_tool(
            "ssh_sudo_read", {"host": "target", "path": f"{d}/current/ok.txt"}
        )
        assert not r.is_error and r.structured_content and r.structured_content["content"] == "ok\n"


@pytest.mark.parametrize("entry", ["vault", "./vault", "~root/vault", "srv/app"])
def test_relative_roots_and_zones_are_refused_at_startup(entry: str) -> None:
    with pytest.raises(ValueError, match="is not absolute"):
        Settings(_env_file=None, ssh_restricted_paths=[entry])
    with pytest.raises(ValueError, match="is not absolute"):
        Settings(_env_file=None, ssh_path_allowlist=[entry])
    for key in ("restricted_paths", "path_allowlist"):
        with pytest.raises(ConfigError, match="is not absolute"):
            parse_hosts(f'[hosts.a]\n{key} = ["{entry}"]\n', "hosts.toml", Settings(_env_file=None))


async def test_an_agent_cannot_re_point_a_zone_or_a_root(
    settings_for: Callable[..., Settings], release: Path, test_user: TestUser, target: Target
) -> None:
    """Roots and zones are resolved afresh on every call, so the links on their paths must
    stay as the operator left them: deleting the zone's `current` link and linking it to a
    release without the secret, or moving a link that points out onto a root, is refused."""
    wd = release
    (wd / "releases" / "r2").mkdir()
    (wd / "outside").mkdir()
    (wd / "outside" / "canary").write_text(SECRET + "\n")
    (wd / "app").mkdir()
    (wd / "app" / "out").symlink_to(wd / "outside")  # a link out, as found on real hosts
    _own(wd, test_user)
    roots = (str(wd / "releases"), str(wd / "current"), str(wd / "app"), str(wd / "later"))
    host = Target(target.alias, target.port, target.user, target.key, roots)
    settings = settings_for(
        hosts=hosts_toml(host),
        allow_low_access_tools=True,
        ssh_restricted_paths=[f"{wd}/current/secret"],
    )
    async with serve(settings) as (client, app):
        calls: list[tuple[str, dict[str, Any]]] = [
            ("ssh_delete", {"path": f"{wd}/current"}),
            ("ssh_delete_folder", {"path": f"{wd}/app", "recursive": True}),
            ("ssh_mv", {"src_path": f"{wd}/app/out", "dst_path": f"{wd}/later"}),
            ("ssh_link", {"target_path": f"{wd}/releases/r2", "link_path": f"{wd}/later"}),
        ]
        for tool, args in calls:
            r = await client.call_tool(tool, {"host": "target", **args})
            assert r.is_error and "would re-point the" in text(r), (tool, text(r))
            assert_audit(app, {"tool": tool, "outcome": "denied", "error": "PathNotAllowed"})
        assert os.readlink(wd / "current") == "releases/r1" and not (wd / "later").exists()
        assert (wd / "app" / "out").is_symlink()
        r = await client.call_tool("ssh_sftp_download", {"host": "target", "path": f"{wd}/later"})
        assert r.is_error and SECRET not in text(r)


def test_entry_operations_on_a_root_or_zone_path_are_refused() -> None:
    roots, zones = ["/srv/app", "/srv/releases/r1"], ["/srv/app/current/secret"]
    for path in ("/srv/app", "/srv", "/", "/srv/app/current", "/srv/app/current/secret"):
        with pytest.raises(PathNotAllowed, match="would re-point"):
            check_entry(path, roots, zones)
    for path in ("/srv/app/x", "/srv/app/current-old", "/srv/application", "/srv/app/current2"):
        check_entry(path, roots, zones)


async def test_a_zone_behind_a_locked_directory_keeps_its_best_resolved_spelling(
    settings_for: Callable[..., Settings], work_dir: Path, test_user: TestUser
) -> None:
    """The login user cannot resolve below real/locked (root's, mode 0700): the zone still
    gets the spelling of its deepest resolvable ancestor, links resolved, besides the
    written one."""
    (work_dir / "real" / "locked").mkdir(parents=True)
    (work_dir / "link").symlink_to("real")
    os.lchown(work_dir / "link", test_user.uid, test_user.uid)
    (work_dir / "real" / "locked").chmod(0o700)  # root's
    zone = f"{work_dir}/link/locked/secret"
    async with serve(settings_for()) as (_, app):
        host = app.inventory.hosts["target"]
        found = await app.pool.run(
            app.connect_spec(host), lambda pc: spellings(pc, [zone], parents=True), replay=True
        )
    assert found == [(zone, f"{work_dir}/real/locked/secret")]


async def test_a_link_met_only_while_resolving_a_zone_cannot_be_re_pointed(
    settings_for: Callable[..., Settings], work_dir: Path, test_user: TestUser
) -> None:
    """The zone is written as wd/app/current/secret with wd/app -> data/app (moved to a bigger
    disk) and current -> releases/r1 inside it: the `current` link sits at wd/data/app/current,
    on neither the written nor the resolved spelling. Deleting it must be refused, or the
    zone re-resolves to a missing path and the secret under releases/r1 is open."""
    wd = work_dir
    r1 = wd / "data" / "app" / "releases" / "r1"
    (r1 / "secret").mkdir(parents=True)
    (r1 / "secret" / "key").write_text(SECRET + "\n")
    (wd / "data" / "app" / "current").symlink_to("releases/r1")
    (wd / "app").symlink_to("data/app")
    _own(wd, test_user)
    settings = settings_for(
        allow_low_access_tools=True, ssh_restricted_paths=[f"{wd}/app/current/secret"]
    )
    async with serve(settings) as (client, app):
        link = f"{wd}/data/app/current"
        for tool, args in (
            ("ssh_delete", {"path": link}),
            ("ssh_mv", {"src_path": link, "dst_path": f"{wd}/data/app/old"}),
            ("ssh_delete_folder", {"path": f"{wd}/data/app/releases", "recursive": True}),
        ):
            r = await client.call_tool(tool, {"host": "target", **args})
            assert r.is_error and "restricted zone" in text(r), (tool, text(r))
        assert os.readlink(link) == "releases/r1"  # the link is still there
        key = f"{wd}/data/app/releases/r1/secret/key"
        await _refused(client, app, "ssh_sftp_download", {"host": "target", "path": key})


async def test_a_zone_with_dot_dot_after_a_link_is_resolved_as_the_host_would(
    settings_for: Callable[..., Settings], release: Path, test_user: TestUser
) -> None:
    """`current/../shared/secret` with current -> releases/r1 is releases/shared/secret on
    the host; normalized as text first it became wd/shared/secret, and the real one was open."""
    wd = release
    shared = wd / "releases" / "shared" / "secret"
    shared.mkdir(parents=True)
    (shared / "key").write_text(SECRET + "\n")
    _own(wd, test_user)
    settings = settings_for(
        allow_low_access_tools=True, ssh_restricted_paths=[f"{wd}/current/../shared/secret"]
    )
    async with serve(settings) as (client, app):
        await _refused(
            client, app, "ssh_sftp_download", {"host": "target", "path": str(shared / "key")}
        )


async def test_a_root_with_dot_dot_after_a_link_admits_only_what_the_host_resolves(
    settings_for: Callable[..., Settings], release: Path, test_user: TestUser, target: Target
) -> None:
    """`current/../shared` is releases/shared on the host; as text it was wd/shared too."""
    wd = release
    (wd / "releases" / "shared").mkdir()
    (wd / "releases" / "shared" / "ok.txt").write_text("ok\n")
    (wd / "shared").mkdir()
    (wd / "shared" / "key").write_text(SECRET + "\n")
    _own(wd, test_user)
    root = Target(target.alias, target.port, target.user, target.key, (f"{wd}/current/../shared",))
    async with serve(settings_for(hosts=hosts_toml(root))) as (client, _):
        r = await client.call_tool(
            "ssh_sftp_download", {"host": "target", "path": f"{wd}/shared/key"}
        )
        assert r.is_error and "outside the path allowlist" in text(r) and SECRET not in text(r)
        ok = f"{wd}/releases/shared/ok.txt"
        r = await client.call_tool("ssh_sftp_download", {"host": "target", "path": ok})
        assert not r.is_error, text(r)
