"""ssh_upload, ssh_deploy, ssh_edit and ssh_patch through MCP against real sshd."""

from __future__ import annotations

import base64
import hashlib
import os
import re
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import pytest
from harness import (
    LOW,
    Target,
    assert_audit,
    hosts_toml,
    make_settings,
    serve,
    structured,
    text,
    wait_for_audit,
)
from mcp import Client
from mcp.types import CallToolResult
from sshd import Sshd, TestKeys, TestUser

from ssh_mcp.config.settings import Settings

pytestmark = pytest.mark.anyio
MiB = 1024 * 1024


def _put(path: Path, data: bytes, user: TestUser, mode: int = 0o644) -> Path:
    path.write_bytes(data)
    os.chown(path, user.uid, user.uid)
    path.chmod(mode)
    return path


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _sparse(path: Path, size: int) -> None:
    with open(path, "wb") as f:
        f.truncate(size)


def _temps(root: Path) -> list[str]:
    return sorted(p.name for p in root.iterdir() if ".ssh-mcp-" in p.name)


@pytest.fixture
def roots(tmp_path: Path) -> Path:
    root = tmp_path / "local"
    root.mkdir()
    return root


async def _call(client: Client, tool: str, **args: Any) -> CallToolResult:
    return await client.call_tool(tool, {"host": "target", **args})


# -- ssh_upload ----------------------------------------------------------------------------


async def test_upload_text_creates_a_file(
    settings_for: Callable[..., Settings], work_dir: Path
) -> None:
    path = work_dir / "new.txt"
    data = "héllo\nwörld\n"
    async with serve(settings_for(**LOW)) as (client, app):
        r = await _call(client, "ssh_upload", path=str(path), content_text=data)
        sc = structured(r)
        raw = data.encode()
        assert sc == {
            "path": str(path),
            "size": len(raw),
            "mode": "0644",
            "sha256": hashlib.sha256(raw).hexdigest(),
        }
        assert text(r).startswith(f"wrote {len(raw)} bytes to {path} (mode 0644")
        line = assert_audit(app, {"tool": "ssh_upload", "outcome": "ok", "bytes": len(raw)})
        assert line["path_hash"] == app.audit.digest(str(path)) and line["tier"] == "low-access"
    assert path.read_bytes() == raw and _mode(path) == 0o644 and _temps(work_dir) == []


async def test_upload_binary_with_mode(
    settings_for: Callable[..., Settings], work_dir: Path
) -> None:
    path = work_dir / "blob.bin"
    data = bytes(range(256)) * 10
    async with serve(settings_for(**LOW)) as (client, _):
        payload = base64.b64encode(data).decode()
        r = await _call(client, "ssh_upload", path=str(path), content_base64=payload, mode="600")
        assert structured(r)["mode"] == "0600"
        # mode given on an existing file: it changes.
        r = await _call(
            client,
            "ssh_upload",
            path=str(path),
            content_base64=payload,
            mode="0640",
            overwrite=True,
        )
        assert structured(r)["mode"] == "0640"
    assert path.read_bytes() == data and _mode(path) == 0o640


async def test_upload_refuses_to_overwrite_and_keeps_the_mode(
    settings_for: Callable[..., Settings], work_dir: Path, test_user: TestUser
) -> None:
    path = _put(work_dir / "secret.conf", b"old\n", test_user, 0o600)
    async with serve(settings_for(**LOW)) as (client, app):
        r = await _call(client, "ssh_upload", path=str(path), content_text="new\n")
        assert r.is_error and "exists; pass overwrite=true" in text(r), text(r)
        assert_audit(app, {"tool": "ssh_upload", "outcome": "error", "error": "RemoteError"})
        assert path.read_bytes() == b"old\n"
        r = await _call(client, "ssh_upload", path=str(path), content_text="new\n", overwrite=True)
        assert structured(r)["mode"] == "0600"
    assert path.read_bytes() == b"new\n" and _mode(path) == 0o600 and _temps(work_dir) == []


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ({}, "give exactly one of content_text, content_base64, local_path"),
        ({"content_text": "a", "content_base64": "YQ=="}, "(got content_text and content_base64)"),
        ({"content_base64": "not base64!"}, "content_base64 is not valid base64"),
        ({"content_text": "a", "mode": "0999"}, "mode: String should match pattern"),
        ({"content_text": "a", "mode": "4755"}, "setuid or setgid"),
        ({"content_text": "a", "colour": "red"}, "colour: unknown field"),
    ],
)
async def test_upload_validates_its_arguments(
    settings_for: Callable[..., Settings], work_dir: Path, args: dict[str, Any], expected: str
) -> None:
    async with serve(settings_for(**LOW)) as (client, app):
        r = await _call(client, "ssh_upload", path=str(work_dir / "x"), **args)
        assert r.is_error and expected in text(r), text(r)
        assert_audit(app, {"outcome": "denied", "error": "InvalidArguments"})
    assert list(work_dir.iterdir()) == []


async def test_upload_needs_the_low_access_tier(
    settings_for: Callable[..., Settings], work_dir: Path
) -> None:
    async with serve(settings_for()) as (client, app):
        r = await _call(client, "ssh_upload", path=str(work_dir / "x"), content_text="a")
        assert r.is_error and "unknown tool" in text(r)
        assert_audit(app, {"outcome": "denied", "error": "ToolNotAvailable"})


async def test_upload_inline_content_is_capped(
    settings_for: Callable[..., Settings], work_dir: Path
) -> None:
    async with serve(settings_for(**LOW, ssh_inline_max_bytes=100)) as (client, app):
        r = await _call(client, "ssh_upload", path=str(work_dir / "x"), content_text="a" * 101)
        assert r.is_error and "101 bytes, over SSH_INLINE_MAX_BYTES (100)" in text(r)
        assert "local_path" in text(r)
        assert_audit(app, {"outcome": "error", "error": "CapExceeded"})
    assert list(work_dir.iterdir()) == []


async def test_upload_into_a_symlinked_parent_outside_the_allowlist_is_denied(
    settings_for: Callable[..., Settings], work_dir: Path, test_user: TestUser
) -> None:
    outside = test_user.home / f"outside-{os.getpid()}"
    outside.mkdir(exist_ok=True)
    os.chown(outside, test_user.uid, test_user.uid)
    try:
        (work_dir / "door").symlink_to(outside)
        async with serve(settings_for(**LOW)) as (client, app):
            r = await _call(
                client, "ssh_upload", path=str(work_dir / "door" / "new.txt"), content_text="x"
            )
            assert r.is_error and "outside the path allowlist" in text(r), text(r)
            line = assert_audit(app, {"outcome": "denied", "error": "PathNotAllowed"})
            assert line["path_hash"] == app.audit.digest(str(outside / "new.txt"))
        assert list(outside.iterdir()) == []
    finally:
        for p in outside.iterdir():
            p.unlink()
        outside.rmdir()


async def test_upload_from_local_path_streams_with_progress(
    settings_for: Callable[..., Settings], work_dir: Path, roots: Path
) -> None:
    src = roots / "big.bin"
    data = os.urandom(3 * MiB + 17)
    src.write_bytes(data)
    path = work_dir / "big.bin"
    reports: list[tuple[float, float | None]] = []

    async def report(progress: float, total: float | None, message: str | None) -> None:
        reports.append((progress, total))

    settings = settings_for(**LOW, ssh_local_transfer_roots=[str(roots)])
    async with serve(settings) as (client, app):
        r = await client.call_tool(
            "ssh_upload",
            {"host": "target", "path": str(path), "local_path": str(src)},
            progress_callback=report,
        )
        sc = structured(r)
        assert sc["size"] == len(data) and sc["sha256"] == hashlib.sha256(data).hexdigest()
        assert reports and reports[-1] == (len(data), len(data))
        assert all(total == len(data) for _, total in reports)
        assert_audit(app, {"tool": "ssh_upload", "outcome": "ok", "bytes": len(data)})
        # A local path outside the roots, and a directory, are refused.
        r = await _call(client, "ssh_upload", path=str(path), local_path="/etc/hostname")
        assert r.is_error and "outside SSH_LOCAL_TRANSFER_ROOTS" in text(r), text(r)
        assert_audit(app, {"outcome": "denied", "error": "PathNotAllowed"})
        r = await _call(client, "ssh_upload", path=str(path), local_path=str(roots), overwrite=True)
        assert r.is_error and "is not a regular file" in text(r), text(r)
    assert path.read_bytes() == data


async def test_upload_local_path_is_off_without_roots(
    settings_for: Callable[..., Settings], work_dir: Path, roots: Path
) -> None:
    (roots / "f").write_text("x")
    async with serve(settings_for(**LOW)) as (client, app):
        r = await _call(client, "ssh_upload", path=str(work_dir / "f"), local_path=str(roots / "f"))
        assert r.is_error and "set SSH_LOCAL_TRANSFER_ROOTS" in text(r), text(r)
        assert_audit(app, {"outcome": "denied", "error": "PathNotAllowed"})


# -- ssh_deploy ----------------------------------------------------------------------------

STAMPED = re.compile(r"\.bak-\d{8}T\d{6}Z(-\d)?$")


@pytest.mark.parametrize("copy_data", [True, False], ids=["copy-data", "streamed"])
async def test_deploy_keeps_a_backup(
    settings_for: Callable[..., Settings],
    work_dir: Path,
    test_user: TestUser,
    copy_data: bool,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import asyncssh

    if not copy_data:  # a server without the copy-data extension
        monkeypatch.setattr(asyncssh.SFTPClient, "supports_remote_copy", property(lambda _: False))
    path = _put(work_dir / "app.conf", b"version 1\n", test_user, 0o600)
    async with serve(settings_for(**LOW)) as (client, app):
        r = await _call(client, "ssh_deploy", path=str(path), content_text="version 2\n")
        sc = structured(r)
        backup = Path(sc["backup_path"])
        assert backup.parent == work_dir and STAMPED.search(backup.name), backup
        assert backup.name.startswith("app.conf.bak-")
        assert backup.read_bytes() == b"version 1\n" and _mode(backup) == 0o600
        assert sc["mode"] == "0600" and sc["size"] == 10
        assert f"backup_path {backup}" in text(r)
        line = assert_audit(app, {"tool": "ssh_deploy", "outcome": "ok", "bytes": 10})
        assert line["path_hash"] == app.audit.digest(str(path))
        # Again within the same second: a second backup, never an overwritten one.
        r = await _call(client, "ssh_deploy", path=str(path), content_text="version 3\n")
        second = Path(structured(r)["backup_path"])
        assert second != backup and second.read_bytes() == b"version 2\n"
        assert backup.read_bytes() == b"version 1\n"
        # A new file has no backup and gets 0644, unless mode says otherwise.
        r = await _call(client, "ssh_deploy", path=str(work_dir / "fresh"), content_text="x")
        assert structured(r)["backup_path"] is None and structured(r)["mode"] == "0644"
        r = await _call(client, "ssh_deploy", path=str(path), content_text="v4\n", mode="0640")
        assert structured(r)["mode"] == "0640"
    assert path.read_bytes() == b"v4\n" and _mode(path) == 0o640
    assert len([p for p in work_dir.iterdir() if STAMPED.search(p.name)]) == 3
    assert _temps(work_dir) == []


async def test_deploy_to_a_directory_fails_cleanly(
    settings_for: Callable[..., Settings], work_dir: Path
) -> None:
    (work_dir / "d").mkdir()
    async with serve(settings_for(**LOW)) as (client, app):
        r = await _call(client, "ssh_deploy", path=str(work_dir / "d"), content_text="x")
        assert r.is_error and "is a directory" in text(r), text(r)
        assert_audit(app, {"tool": "ssh_deploy", "outcome": "error", "error": "RemoteError"})
    assert [p.name for p in work_dir.iterdir()] == ["d"]


# -- ssh_edit ------------------------------------------------------------------------------


async def test_edit_replaces_once_and_keeps_the_mode(
    settings_for: Callable[..., Settings], work_dir: Path, test_user: TestUser
) -> None:
    path = _put(work_dir / "c.ini", b"[a]\nport = 80\nhost = x\n", test_user, 0o600)
    (work_dir / "link.ini").symlink_to(path)
    os.lchown(work_dir / "link.ini", test_user.uid, test_user.uid)
    async with serve(settings_for(**LOW)) as (client, app):
        r = await _call(
            client,
            "ssh_edit",
            path=str(work_dir / "link.ini"),
            old_string="port = 80",
            new_string="port = 8080",
        )
        sc = structured(r)
        assert sc["path"] == str(path) and sc["replacements"] == 1 and sc["mode"] == "0600"
        new = b"[a]\nport = 8080\nhost = x\n"
        assert sc["size"] == len(new) and sc["sha256"] == hashlib.sha256(new).hexdigest()
        line = assert_audit(app, {"tool": "ssh_edit", "outcome": "ok", "bytes": len(new)})
        assert line["path_hash"] == app.audit.digest(str(path))
    assert path.read_bytes() == new and _mode(path) == 0o600
    assert (work_dir / "link.ini").is_symlink() and _temps(work_dir) == []


async def test_edit_fails_clearly_and_changes_nothing(
    settings_for: Callable[..., Settings], work_dir: Path, test_user: TestUser
) -> None:
    original = b"x = 1\ny = 1\nz = 1\n"
    path = _put(work_dir / "v.txt", original, test_user)
    binary = _put(work_dir / "b.bin", b"\xff\xfe\x00", test_user)
    async with serve(settings_for(**LOW)) as (client, app):
        r = await _call(client, "ssh_edit", path=str(path), old_string="w = 1", new_string="w")
        assert r.is_error and "old_string was not found" in text(r), text(r)
        assert "it is unchanged" in text(r)
        assert_audit(app, {"tool": "ssh_edit", "outcome": "error", "error": "RemoteError"})
        r = await _call(client, "ssh_edit", path=str(path), old_string=" = 1", new_string=" = 2")
        assert r.is_error and "occurs 3 times" in text(r) and 'occurrence="all"' in text(r)
        assert path.read_bytes() == original
        r = await _call(client, "ssh_edit", path=str(binary), old_string="a", new_string="b")
        assert r.is_error and "not UTF-8 text" in text(r), text(r)
        r = await _call(client, "ssh_edit", path=str(path), old_string="x", new_string="x")
        assert r.is_error and "nothing to change" in text(r)
        assert_audit(app, {"outcome": "denied", "error": "InvalidArguments"})
        r = await _call(
            client, "ssh_edit", path=str(work_dir / "nope"), old_string="a", new_string="b"
        )
        assert r.is_error and "no such file" in text(r), text(r)
        r = await _call(
            client,
            "ssh_edit",
            path=str(path),
            old_string=" = 1",
            new_string=" = 2",
            occurrence="all",
        )
        assert structured(r)["replacements"] == 3
    assert path.read_bytes() == b"x = 2\ny = 2\nz = 2\n"
    assert binary.read_bytes() == b"\xff\xfe\x00"


async def test_edit_of_a_file_over_the_cap_is_refused(
    settings_for: Callable[..., Settings], work_dir: Path, test_user: TestUser
) -> None:
    path = _put(work_dir / "big.txt", b"a" * 1000, test_user)
    async with serve(settings_for(**LOW, ssh_inline_max_bytes=100)) as (client, app):
        r = await _call(client, "ssh_edit", path=str(path), old_string="a", new_string="b")
        assert r.is_error and "over the 800-byte limit for in-place changes" in text(r), text(r)
        assert_audit(app, {"outcome": "error", "error": "CapExceeded"})


async def test_edit_refuses_when_the_file_changed_meanwhile(
    settings_for: Callable[..., Settings],
    work_dir: Path,
    test_user: TestUser,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from ssh_mcp.tools import _patch
    from ssh_mcp.tools.file_ops import write as file_write

    path = _put(work_dir / "race.txt", b"a = 1\n", test_user, 0o600)
    real = _patch.replace_exact

    def racing(text: str, old: str, new: str, *, every: bool, path: str) -> tuple[str, int]:
        with open(path, "ab") as f:  # another writer, between our read and our write
            f.write(b"b = 2\n")
        return real(text, old, new, every=every, path=path)

    monkeypatch.setattr(file_write, "replace_exact", racing)
    async with serve(settings_for(**LOW)) as (client, app):
        r = await _call(client, "ssh_edit", path=str(path), old_string="1", new_string="3")
        assert r.is_error and "changed while this call ran; nothing written" in text(r), text(r)
        assert_audit(app, {"tool": "ssh_edit", "outcome": "error", "error": "RemoteError"})
    assert path.read_bytes() == b"a = 1\nb = 2\n" and _temps(work_dir) == []


# -- ssh_patch -----------------------------------------------------------------------------

LINES = "".join(f"line {i}\n" for i in range(1, 21))
DIFF = """--- a/f.txt
+++ b/f.txt
@@ -2,3 +2,3 @@
 line 2
-line 3
+LINE THREE
 line 4
@@ -18,3 +18,4 @@
 line 18
 line 19
 line 20
+line 21
"""


async def test_patch_applies_every_hunk_and_keeps_the_mode(
    settings_for: Callable[..., Settings], work_dir: Path, test_user: TestUser
) -> None:
    path = _put(work_dir / "f.txt", LINES.encode(), test_user, 0o600)
    async with serve(settings_for(**LOW)) as (client, app):
        r = await _call(client, "ssh_patch", path=str(path), unified_diff=DIFF)
        sc = structured(r)
        assert sc["hunks"] == 2 and sc["mode"] == "0600"
        line = assert_audit(app, {"tool": "ssh_patch", "outcome": "ok", "bytes": sc["size"]})
        assert line["path_hash"] == app.audit.digest(str(path))
    expected = LINES.replace("line 3\n", "LINE THREE\n") + "line 21\n"
    assert path.read_text() == expected and _mode(path) == 0o600 and _temps(work_dir) == []


async def test_patch_failing_hunk_names_it_and_changes_nothing(
    settings_for: Callable[..., Settings], work_dir: Path, test_user: TestUser
) -> None:
    path = _put(work_dir / "f.txt", LINES.replace("line 19", "line nineteen").encode(), test_user)
    before = path.read_bytes()
    async with serve(settings_for(**LOW)) as (client, app):
        r = await _call(client, "ssh_patch", path=str(path), unified_diff=DIFF)
        assert r.is_error, text(r)
        assert "hunk 2 (@@ -18,3 +18,4 @@) does not apply: line 19 is 'line nineteen'" in text(r)
        assert "but the diff expects 'line 19'" in text(r) and "is unchanged" in text(r)
        assert_audit(app, {"tool": "ssh_patch", "outcome": "error", "error": "RemoteError"})
        r = await _call(client, "ssh_patch", path=str(path), unified_diff="@@ -1 +1 @\n-a\n+b\n")
        assert r.is_error and "bad hunk header" in text(r), text(r)
        assert_audit(app, {"tool": "ssh_patch", "outcome": "denied", "error": "InvalidArguments"})
    assert path.read_bytes() == before and _temps(work_dir) == []


# -- atomicity under a dropped connection --------------------------------------------------


async def test_killed_connection_mid_upload_leaves_the_original_intact(
    tmp_path: Path,
    scratch_sshd: Sshd,
    test_user: TestUser,
    test_keys: TestKeys,
    work_dir: Path,
    roots: Path,
) -> None:
    size = 400 * MiB
    src = roots / "huge.bin"
    _sparse(src, size)  # the local read is free, the upload is not
    original = os.urandom(64 * 1024)
    path = _put(work_dir / "data.bin", original, test_user, 0o640)
    host = Target("target", scratch_sshd.port, test_user.name, test_keys.plain, (str(work_dir),))
    settings = make_settings(
        tmp_path / "srv",
        hosts_toml(host),
        scratch_sshd.known_hosts_path,
        **LOW,
        ssh_local_transfer_roots=[str(roots)],
    )
    killed: list[int] = []

    async def kill_mid_transfer(progress: float, total: float | None, message: str | None) -> None:
        if not killed:
            assert total == size and progress < size
            # Blocking on purpose: the in-process server cannot finish meanwhile.
            killed.extend(scratch_sshd.kill_connections())

    async with serve(settings) as (client, app):
        r = await client.call_tool(
            "ssh_upload",
            {"host": "target", "path": str(path), "local_path": str(src), "overwrite": True},
            progress_callback=kill_mid_transfer,
        )
        assert killed and r.is_error, text(r)
        message = text(r)
        assert f"the connection dropped while writing {path}; it is unchanged" in message
        assert_audit(app, {"outcome": "error", "error": "ConnectionDropped"})
        assert path.read_bytes() == original and _mode(path) == 0o640
        # The temp file was removed over a new connection (were the host still unreachable,
        # the error would name it instead: see test_unreachable_host_names_the_temp_file).
        assert "no temp file remains" in message and _temps(work_dir) == [], message
        r = await _call(client, "ssh_upload", path=str(path), content_text="next", overwrite=True)
        assert structured(r)["mode"] == "0640"
    assert path.read_bytes() == b"next" and _temps(work_dir) == []


async def test_unreachable_host_names_the_temp_file(
    tmp_path: Path,
    scratch_sshd: Sshd,
    test_user: TestUser,
    test_keys: TestKeys,
    work_dir: Path,
    roots: Path,
) -> None:
    src = roots / "huge.bin"
    _sparse(src, 400 * MiB)
    path = _put(work_dir / "data.bin", b"original", test_user)
    host = Target("target", scratch_sshd.port, test_user.name, test_keys.plain, (str(work_dir),))
    settings = make_settings(
        tmp_path / "srv",
        hosts_toml(host),
        scratch_sshd.known_hosts_path,
        **LOW,
        ssh_local_transfer_roots=[str(roots)],
    )
    stopped: list[bool] = []

    async def stop_mid_transfer(progress: float, total: float | None, message: str | None) -> None:
        if not stopped:
            scratch_sshd.stop()  # the connection and the listener: no cleanup is possible
            stopped.append(True)

    async with serve(settings) as (client, app):
        r = await client.call_tool(
            "ssh_upload",
            {"host": "target", "path": str(path), "local_path": str(src), "overwrite": True},
            progress_callback=stop_mid_transfer,
        )
        assert stopped and r.is_error, text(r)
        assert_audit(app, {"outcome": "error", "error": "ConnectionDropped"})
    left = _temps(work_dir)
    assert len(left) == 1, left
    assert f"the temp file {work_dir}/{left[0]} is left behind: delete it" in text(r), text(r)
    assert path.read_bytes() == b"original"


async def test_cancel_mid_upload_removes_the_temp_file(
    settings_for: Callable[..., Settings], work_dir: Path, test_user: TestUser, roots: Path
) -> None:
    src = roots / "huge.bin"
    _sparse(src, 300 * MiB)
    path = _put(work_dir / "data.bin", b"original", test_user, 0o600)
    settings = settings_for(**LOW, ssh_local_transfer_roots=[str(roots)])
    async with serve(settings) as (client, app):
        with anyio.CancelScope() as scope:

            async def cancel_on_progress(
                progress: float, total: float | None, message: str | None
            ) -> None:
                assert total == 300 * MiB and progress < total
                scope.cancel()  # mid-transfer, not after a guessed delay

            await client.call_tool(
                "ssh_upload",
                {"host": "target", "path": str(path), "local_path": str(src), "overwrite": True},
                progress_callback=cancel_on_progress,
            )
        assert scope.cancelled_caught
        line = await wait_for_audit(app, 1)
        assert line["tool"] == "ssh_upload" and line["error"] == "Cancelled"
        assert path.read_bytes() == b"original" and _temps(work_dir) == []
        r = await _call(client, "ssh_edit", path=str(path), old_string="orig", new_string="new")
        assert structured(r)["mode"] == "0600"
    assert path.read_bytes() == b"newinal"
