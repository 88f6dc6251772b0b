"""ssh_sftp_download, ssh_find and ssh_file_hash through MCP against real sshd."""

from __future__ import annotations

import base64
import hashlib
import os
from collections.abc import Callable
from pathlib import Path

import anyio
import pytest
from harness import assert_audit, serve, text, wait_for_audit
from sshd import TestUser

from ssh_mcp.config.settings import Settings

pytestmark = pytest.mark.anyio
MiB = 1024 * 1024


def _put(path: Path, data: bytes, user: TestUser) -> Path:
    path.write_bytes(data)
    os.chown(path, user.uid, user.uid)
    return path


def _sized(path: Path, size: int, user: TestUser) -> Path:
    """A sparse file of ``size`` zero bytes, owned by the test user."""
    with open(path, "wb") as f:
        f.truncate(size)
    os.chown(path, user.uid, user.uid)
    return path


@pytest.fixture
def roots(tmp_path: Path) -> Path:
    root = tmp_path / "dl"
    root.mkdir()
    return root


def _temps(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if ".ssh-mcp-" in p.name]


# -- ssh_sftp_download inline -----------------------------------------------------------


async def test_download_inline_text(
    settings_for: Callable[..., Settings], work_dir: Path, test_user: TestUser
) -> None:
    data = "héllo\nwörld\n".encode()
    f = _put(work_dir / "a.txt", data, test_user)
    async with serve(settings_for()) as (client, app):
        r = await client.call_tool("ssh_sftp_download", {"host": "target", "path": str(f)})
        assert not r.is_error, text(r)
        assert r.structured_content == {
            "path": str(f),
            "size": len(data),
            "sha256": hashlib.sha256(data).hexdigest(),
            "encoding": "text",
            "content": data.decode(),
            "local_path": None,
            "files": None,
        }
        assert text(r).endswith("encoding text\n" + data.decode())
        assert_audit(
            app,
            {
                "tool": "ssh_sftp_download",
                "tier": "read",
                "outcome": "ok",
                "host": "target",
                "path_hash": app.audit.digest(str(f)),
                "bytes": len(data),
            },
        )


@pytest.mark.parametrize(
    "data", [bytes(range(256)) * 40, b"text with a NUL\0 byte", b"\xff\xfe latin-1 \xe9"]
)
async def test_download_inline_binary_is_base64(
    settings_for: Callable[..., Settings], work_dir: Path, test_user: TestUser, data: bytes
) -> None:
    f = _put(work_dir / "b.bin", data, test_user)
    async with serve(settings_for()) as (client, app):
        r = await client.call_tool("ssh_sftp_download", {"host": "target", "path": str(f)})
        sc = r.structured_content
        assert not r.is_error and sc is not None, text(r)
        assert sc["encoding"] == "base64" and base64.b64decode(sc["content"]) == data
        assert sc["size"] == len(data) and sc["sha256"] == hashlib.sha256(data).hexdigest()
        assert_audit(app, {"tool": "ssh_sftp_download", "outcome": "ok", "bytes": len(data)})


async def test_download_empty_file_says_size_zero(
    settings_for: Callable[..., Settings], work_dir: Path, test_user: TestUser
) -> None:
    f = _put(work_dir / "empty", b"", test_user)
    async with serve(settings_for()) as (client, app):
        r = await client.call_tool("ssh_sftp_download", {"host": "target", "path": str(f)})
        sc = r.structured_content
        assert sc is not None and sc["size"] == 0 and sc["encoding"] == "text"
        assert sc["content"] == "" and sc["sha256"] == hashlib.sha256(b"").hexdigest()
        assert_audit(app, {"outcome": "ok", "bytes": 0})


@pytest.mark.parametrize("local_roots", [False, True])
async def test_download_over_inline_cap_suggests_local_path(
    settings_for: Callable[..., Settings],
    work_dir: Path,
    test_user: TestUser,
    roots: Path,
    local_roots: bool,
) -> None:
    f = _put(work_dir / "big.txt", b"x" * 5000, test_user)
    extra = {"ssh_local_transfer_roots": [str(roots)]} if local_roots else {}
    async with serve(settings_for(ssh_inline_max_bytes=1000, **extra)) as (client, app):
        r = await client.call_tool("ssh_sftp_download", {"host": "target", "path": str(f)})
        assert r.is_error and r.structured_content is None
        msg = text(r)
        assert "5000 bytes" in msg and "1000 bytes" in msg and "SSH_INLINE_MAX_BYTES" in msg
        assert "local_path" in msg and "SSH_LOCAL_TRANSFER_ROOTS" in msg
        assert ("operator must set" in msg) is not local_roots
        assert_audit(
            app,
            {
                "tool": "ssh_sftp_download",
                "outcome": "error",
                "error": "CapExceeded",
                "path_hash": app.audit.digest(str(f)),
                "bytes": None,
            },
        )


async def test_download_refuses_non_files(
    settings_for: Callable[..., Settings], work_dir: Path
) -> None:
    async with serve(settings_for()) as (client, app):
        r = await client.call_tool("ssh_sftp_download", {"host": "target", "path": str(work_dir)})
        assert r.is_error and "not a regular file" in text(r), text(r)
        assert_audit(app, {"outcome": "error", "error": "RemoteError"})
        r = await client.call_tool(
            "ssh_sftp_download", {"host": "target", "path": f"{work_dir}/missing"}
        )
        assert r.is_error and "no such file" in text(r)
        r = await client.call_tool("ssh_sftp_download", {"host": "target", "path": "/etc/passwd"})
        assert r.is_error and "outside the path allowlist" in text(r)
        assert_audit(app, {"outcome": "denied", "error": "PathNotAllowed"})


# -- ssh_sftp_download to local_path ----------------------------------------------------


async def test_local_path_is_off_without_roots(
    settings_for: Callable[..., Settings], work_dir: Path, test_user: TestUser, roots: Path
) -> None:
    f = _put(work_dir / "a.txt", b"abc", test_user)
    async with serve(settings_for()) as (client, app):
        r = await client.call_tool(
            "ssh_sftp_download",
            {"host": "target", "path": str(f), "local_path": str(roots / "a.txt")},
        )
        assert r.is_error and "local_path is off" in text(r), text(r)
        assert "SSH_LOCAL_TRANSFER_ROOTS" in text(r)
        assert_audit(
            app, {"tool": "ssh_sftp_download", "outcome": "denied", "error": "PathNotAllowed"}
        )
    assert list(roots.iterdir()) == []


async def test_local_path_stays_inside_roots(
    settings_for: Callable[..., Settings],
    work_dir: Path,
    test_user: TestUser,
    roots: Path,
    tmp_path: Path,
) -> None:
    f = _put(work_dir / "a.txt", b"abc", test_user)
    outside = tmp_path / "outside"
    outside.mkdir()
    (roots / "dir-out").symlink_to(outside)
    (roots / "file-out").symlink_to(outside / "dangling.txt")
    (roots / "rel-out").symlink_to("../outside")
    attempts = [
        str(outside / "a.txt"),
        str(roots / "dir-out" / "a.txt"),
        str(roots / "file-out"),
        str(roots / "rel-out" / "a.txt"),
        str(roots / ".." / "outside" / "a.txt"),
        "relative/a.txt",
        str(roots / "a\x00.txt"),
    ]
    async with serve(settings_for(ssh_local_transfer_roots=[str(roots)])) as (client, app):
        for local in attempts:
            r = await client.call_tool(
                "ssh_sftp_download", {"host": "target", "path": str(f), "local_path": local}
            )
            assert r.is_error, local
            assert_audit(app, {"outcome": "denied", "error": "PathNotAllowed"})
        r = await client.call_tool(
            "ssh_sftp_download",
            {"host": "target", "path": str(f), "local_path": str(roots / "dir-out" / "a.txt")},
        )
        assert "outside SSH_LOCAL_TRANSFER_ROOTS" in text(r), text(r)
    assert list(outside.iterdir()) == []
    assert sorted(p.name for p in roots.iterdir()) == ["dir-out", "file-out", "rel-out"]


async def test_local_download_never_overwrites_unless_asked(
    settings_for: Callable[..., Settings], work_dir: Path, test_user: TestUser, roots: Path
) -> None:
    data = os.urandom(300_000)
    f = _put(work_dir / "blob.bin", data, test_user)
    dest = roots / "blob.bin"
    dest.write_bytes(b"old")
    args = {"host": "target", "path": str(f), "local_path": str(dest)}
    async with serve(settings_for(ssh_local_transfer_roots=[str(roots)])) as (client, app):
        r = await client.call_tool("ssh_sftp_download", args)
        assert r.is_error and "exists" in text(r) and "overwrite=true" in text(r), text(r)
        assert_audit(app, {"outcome": "error", "error": "RemoteError"})
        assert dest.read_bytes() == b"old"
        r = await client.call_tool("ssh_sftp_download", {**args, "overwrite": True})
        assert not r.is_error, text(r)
        assert r.structured_content == {
            "path": str(f),
            "size": len(data),
            "sha256": hashlib.sha256(data).hexdigest(),
            "encoding": None,
            "content": None,
            "local_path": str(dest),
            "files": None,
        }
        assert_audit(
            app,
            {
                "tool": "ssh_sftp_download",
                "tier": "read",
                "outcome": "ok",
                "path_hash": app.audit.digest(str(f)),
                "bytes": len(data),
            },
        )
        # A new name needs no overwrite.
        r = await client.call_tool(
            "ssh_sftp_download", {**args, "local_path": str(roots / "fresh.bin")}
        )
        assert not r.is_error, text(r)
    assert dest.read_bytes() == data and (roots / "fresh.bin").read_bytes() == data
    assert (dest.stat().st_mode & 0o777) == 0o600
    assert _temps(roots) == []


async def test_local_download_respects_transfer_cap(
    settings_for: Callable[..., Settings], work_dir: Path, test_user: TestUser, roots: Path
) -> None:
    f = _sized(work_dir / "big", 10_000, test_user)
    settings = settings_for(ssh_local_transfer_roots=[str(roots)], ssh_transfer_max_bytes=4096)
    async with serve(settings) as (client, app):
        r = await client.call_tool(
            "ssh_sftp_download",
            {"host": "target", "path": str(f), "local_path": str(roots / "big")},
        )
        assert r.is_error and "10000 bytes" in text(r) and "SSH_TRANSFER_MAX_BYTES" in text(r)
        assert_audit(app, {"outcome": "error", "error": "CapExceeded"})
    assert list(roots.iterdir()) == []


async def test_local_write_failure_is_no_drop(
    settings_for: Callable[..., Settings], work_dir: Path, test_user: TestUser, roots: Path
) -> None:
    """A local disk error says so once: it is never taken for a dropped connection."""
    f = _put(work_dir / "a.txt", b"abc", test_user)
    local = roots / ("n" * 250)  # a valid name, but its temp file's name is too long
    settings = settings_for(ssh_local_transfer_roots=[str(roots)])
    async with serve(settings) as (client, app):
        r = await client.call_tool(
            "ssh_sftp_download", {"host": "target", "path": str(f), "local_path": str(local)}
        )
        assert r.is_error, text(r)
        assert text(r).endswith(
            f"writing local_path {local} failed: File name too long; nothing written"
        ), text(r)
        assert_audit(app, {"outcome": "error", "error": "RemoteError"})
    assert list(roots.iterdir()) == []


# -- progress and cancellation ----------------------------------------------------------


class Reports:
    def __init__(self) -> None:
        self.calls: list[tuple[float, float | None]] = []

    async def __call__(self, progress: float, total: float | None, message: str | None) -> None:
        self.calls.append((progress, total))


async def test_large_download_reports_throttled_progress(
    settings_for: Callable[..., Settings], work_dir: Path, test_user: TestUser, roots: Path
) -> None:
    size = 20 * MiB
    f = _sized(work_dir / "twenty", size, test_user)
    small = _put(work_dir / "small", b"s" * 100_000, test_user)
    settings = settings_for(ssh_local_transfer_roots=[str(roots)], ssh_inline_max_bytes=4 * MiB)
    async with serve(settings) as (client, app):
        reports = Reports()
        r = await client.call_tool(
            "ssh_sftp_download",
            {"host": "target", "path": str(f), "local_path": str(roots / "twenty")},
            progress_callback=reports,
        )
        assert not r.is_error, text(r)
        assert 0 < len(reports.calls) < 50, reports.calls
        done = [p for p, _ in reports.calls]
        assert done == sorted(done) and done[-1] == size
        assert all(total == size for _, total in reports.calls)
        assert_audit(app, {"outcome": "ok", "bytes": size})

        # Inline reads report too, when the cap lets them pass 1 MiB.
        inline = Reports()
        two = _sized(work_dir / "two", 2 * MiB, test_user)
        r = await client.call_tool(
            "ssh_sftp_download", {"host": "target", "path": str(two)}, progress_callback=inline
        )
        assert not r.is_error and inline.calls and inline.calls[-1] == (2 * MiB, 2 * MiB)

        # Under 1 MiB: no progress at all, even when asked for.
        quiet = Reports()
        r = await client.call_tool(
            "ssh_sftp_download", {"host": "target", "path": str(small)}, progress_callback=quiet
        )
        assert not r.is_error and quiet.calls == []

        # No callback: no progress token, and the call works the same.
        r = await client.call_tool(
            "ssh_sftp_download",
            {"host": "target", "path": str(f), "local_path": str(roots / "again")},
        )
        assert not r.is_error and r.structured_content is not None
        assert r.structured_content["size"] == size
    assert (roots / "twenty").stat().st_size == size


async def test_cancel_removes_the_local_temp_file(
    settings_for: Callable[..., Settings], work_dir: Path, test_user: TestUser, roots: Path
) -> None:
    f = _sized(work_dir / "huge", 300 * MiB, test_user)
    dest = roots / "huge"
    async with serve(settings_for(ssh_local_transfer_roots=[str(roots)])) as (client, app):
        with anyio.CancelScope() as scope:

            async def cancel_on_progress(
                progress: float, total: float | None, message: str | None
            ) -> None:
                assert total == 300 * MiB and progress < total
                scope.cancel()  # mid-transfer, not after a guessed delay

            await client.call_tool(
                "ssh_sftp_download",
                {"host": "target", "path": str(f), "local_path": str(dest)},
                progress_callback=cancel_on_progress,
            )
        assert scope.cancelled_caught
        line = await wait_for_audit(app, 1)
        assert line["tool"] == "ssh_sftp_download" and line["error"] == "Cancelled"
        assert not dest.exists() and _temps(roots) == []
        # The pooled connection still serves the next call.
        r = await client.call_tool("ssh_file_hash", {"host": "target", "path": str(f)})
        assert not r.is_error, text(r)
    assert list(roots.iterdir()) == []


# -- ssh_find ---------------------------------------------------------------------------


@pytest.fixture
def tree(work_dir: Path, test_user: TestUser) -> Path:
    (work_dir / "sub" / "deep" / "deeper").mkdir(parents=True)
    (work_dir / "many").mkdir()
    for rel in ("a.log", "b.txt", "sub/c.log", "sub/deep/d.log", "sub/deep/deeper/e.log"):
        (work_dir / rel).write_text(rel)
    (work_dir / "we ird\n\tname.log").write_text("x")
    for i in range(30):
        (work_dir / "many" / f"m{i:02}").write_text("m")
    (work_dir / "link").symlink_to("/etc")
    for p in [work_dir, *work_dir.rglob("*")]:
        os.lchown(p, test_user.uid, test_user.uid)
    return work_dir


def _paths(sc: dict[str, object] | None, root: Path) -> list[str]:
    assert sc is not None
    entries = sc["entries"]
    assert isinstance(entries, list)
    return [str(e["path"]).removeprefix(f"{root}/") for e in entries]


async def test_find_by_pattern_kind_and_depth(
    settings_for: Callable[..., Settings], tree: Path
) -> None:
    base = {"host": "target", "path": str(tree)}
    async with serve(settings_for()) as (client, app):
        r = await client.call_tool("ssh_find", {**base, "name_pattern": "*.log"})
        assert not r.is_error, text(r)
        assert _paths(r.structured_content, tree) == [
            "a.log",
            "sub/c.log",
            "sub/deep/d.log",
            "sub/deep/deeper/e.log",
            "we ird\n\tname.log",
        ]
        sc = r.structured_content
        assert sc is not None and sc["truncated"] is False and sc["limit"] == 200
        assert sc["entries"][0] == {"path": f"{tree}/a.log", "kind": "file", "size": 5}
        assert_audit(
            app,
            {
                "tool": "ssh_find",
                "tier": "read",
                "outcome": "ok",
                "host": "target",
                "path_hash": app.audit.digest(str(tree)),
            },
        )

        r = await client.call_tool("ssh_find", {**base, "name_pattern": "*.log", "max_depth": 2})
        assert _paths(r.structured_content, tree) == ["a.log", "sub/c.log", "we ird\n\tname.log"]

        r = await client.call_tool("ssh_find", {**base, "kind": "dir"})
        assert _paths(r.structured_content, tree) == ["many", "sub", "sub/deep", "sub/deep/deeper"]

        r = await client.call_tool("ssh_find", {**base, "kind": "symlink"})
        sc = r.structured_content
        assert _paths(sc, tree) == ["link"] and sc is not None
        assert sc["entries"][0]["kind"] == "symlink"

        # Links are listed, never followed out of the tree.
        r = await client.call_tool("ssh_find", {**base, "max_depth": 20, "limit": 5000})
        sc = r.structured_content
        assert sc is not None and len(sc["entries"]) == 4 + 30 + 7
        assert all(str(e["path"]).startswith(f"{tree}/") for e in sc["entries"])


async def test_find_limit_is_reported(settings_for: Callable[..., Settings], tree: Path) -> None:
    many = {"host": "target", "path": str(tree / "many")}
    async with serve(settings_for()) as (client, app):
        r = await client.call_tool("ssh_find", {**many, "limit": 10})
        sc = r.structured_content
        assert sc is not None and len(sc["entries"]) == 10
        assert sc["truncated"] is True and sc["limit"] == 10
        assert "truncated at limit 10" in text(r)
        r = await client.call_tool("ssh_find", {**many, "limit": 30})
        sc = r.structured_content
        assert sc is not None and len(sc["entries"]) == 30 and sc["truncated"] is False
        assert_audit(app, {"tool": "ssh_find", "outcome": "ok"})


async def test_find_output_cap_truncates_cleanly(
    settings_for: Callable[..., Settings], tree: Path
) -> None:
    async with serve(settings_for(ssh_stdout_cap_bytes=2000)) as (client, _):
        r = await client.call_tool(
            "ssh_find", {"host": "target", "path": str(tree / "many"), "limit": 5000}
        )
        sc = r.structured_content
        assert sc is not None and sc["truncated"] is True and 0 < len(sc["entries"]) < 30
        assert all(e["kind"] == "file" and e["size"] == 1 for e in sc["entries"])


async def test_find_pattern_is_one_argument_not_shell(
    settings_for: Callable[..., Settings], tree: Path, test_user: TestUser
) -> None:
    canary = test_user.home / "mcp-find-canary"  # relative touch lands in the login home
    async with serve(settings_for()) as (client, _):
        for pattern in (
            "$(touch mcp-find-canary)*",
            "`touch mcp-find-canary`",
            "x'; touch mcp-find-canary; '",
        ):
            r = await client.call_tool(
                "ssh_find", {"host": "target", "path": str(tree), "name_pattern": pattern}
            )
            assert not r.is_error, text(r)
            assert r.structured_content and r.structured_content["entries"] == []
    assert not canary.exists()


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ({"name_pattern": "-delete"}, "no leading '-'"),
        ({"name_pattern": "a/b"}, "no '/'"),
        ({"max_depth": 21}, "max_depth"),
        ({"max_depth": 0}, "max_depth"),
        ({"limit": 5001}, "limit"),
        ({"kind": "socket"}, "kind"),
    ],
)
async def test_find_arguments_are_bounded(
    settings_for: Callable[..., Settings], tree: Path, args: dict[str, object], expected: str
) -> None:
    async with serve(settings_for()) as (client, app):
        r = await client.call_tool("ssh_find", {"host": "target", "path": str(tree), **args})
        assert r.is_error and "invalid arguments" in text(r) and expected in text(r), text(r)
        assert_audit(app, {"tool": "ssh_find", "outcome": "denied", "error": "InvalidArguments"})


async def test_find_is_confined(settings_for: Callable[..., Settings], tree: Path) -> None:
    restricted = settings_for(ssh_restricted_paths=[f"{tree}/sub/deep"])
    async with serve(restricted) as (client, app):
        for path in ("/etc", f"{tree}/link", f"{tree}/../.."):
            r = await client.call_tool("ssh_find", {"host": "target", "path": path})
            assert r.is_error and "outside the path allowlist" in text(r), text(r)
            assert_audit(app, {"tool": "ssh_find", "outcome": "denied", "error": "PathNotAllowed"})
        r = await client.call_tool("ssh_find", {"host": "target", "path": f"{tree}/sub/deep"})
        assert r.is_error and "inside the restricted zone" in text(r), text(r)
        assert_audit(app, {"outcome": "denied", "error": "PathNotAllowed"})
        r = await client.call_tool("ssh_find", {"host": "target", "path": f"{tree}/many"})
        assert not r.is_error, text(r)
        r = await client.call_tool("ssh_find", {"host": "target", "path": f"{tree}/a.log"})
        assert r.is_error and "not a directory" in text(r)
        assert_audit(app, {"outcome": "error", "error": "RemoteError"})


@pytest.mark.parametrize("name_pattern", [None, "*.log", "deep*"])
async def test_find_skips_a_restricted_zone_and_says_so(
    settings_for: Callable[..., Settings], tree: Path, test_user: TestUser, name_pattern: str | None
) -> None:
    """A tree holding a zone is searched all the same: the zone is pruned, the rest listed.
    A zone written through a link in the tree is pruned by both spellings."""
    (tree / "to-deep").symlink_to("sub/deep")
    os.lchown(tree / "to-deep", test_user.uid, test_user.uid)
    args: dict[str, object] = {"host": "target", "path": str(tree), "max_depth": 10}
    if name_pattern:
        args["name_pattern"] = name_pattern
    async with serve(settings_for(ssh_restricted_paths=[f"{tree}/to-deep"])) as (client, app):
        r = await client.call_tool("ssh_find", args)
        assert not r.is_error, text(r)
        found = _paths(r.structured_content, tree)
        inside = [p for p in found if p.split("/")[:2] == ["sub", "deep"] or p == "to-deep"]
        assert not inside, found
        if name_pattern != "deep*":
            assert "sub/c.log" in found and "a.log" in found  # the rest of the tree is there
        sc = r.structured_content
        assert sc is not None and sc["pruned"] == [f"{tree}/sub/deep", f"{tree}/to-deep"]
        assert "skipped 2 restricted zone(s)" in text(r)
        line = assert_audit(app, {"tool": "ssh_find", "outcome": "ok", "pruned_count": "2"})
        assert line["path_hash"]


# -- ssh_file_hash ----------------------------------------------------------------------


@pytest.mark.parametrize("algorithm", ["md5", "sha1", "sha256", "sha512"])
async def test_file_hash_matches_hashlib(
    settings_for: Callable[..., Settings], work_dir: Path, test_user: TestUser, algorithm: str
) -> None:
    data = os.urandom(200_000)
    f = _put(work_dir / "back\\slash.bin", data, test_user)
    async with serve(settings_for()) as (client, app):
        r = await client.call_tool(
            "ssh_file_hash", {"host": "target", "path": str(f), "algorithm": algorithm}
        )
        assert not r.is_error, text(r)
        assert r.structured_content == {
            "path": str(f),
            "algorithm": algorithm,
            "digest": hashlib.new(algorithm, data).hexdigest(),
            "size": len(data),
        }
        assert_audit(
            app,
            {
                "tool": "ssh_file_hash",
                "tier": "read",
                "outcome": "ok",
                "path_hash": app.audit.digest(str(f)),
            },
        )


async def test_file_hash_errors(
    settings_for: Callable[..., Settings], work_dir: Path, test_user: TestUser
) -> None:
    f = _put(work_dir / "a", b"a", test_user)
    async with serve(settings_for()) as (client, app):
        r = await client.call_tool("ssh_file_hash", {"host": "target", "path": str(f)})
        sc = r.structured_content
        assert sc is not None and sc["algorithm"] == "sha256"
        assert sc["digest"] == hashlib.sha256(b"a").hexdigest()
        r = await client.call_tool("ssh_file_hash", {"host": "target", "path": str(work_dir)})
        assert r.is_error and "not a regular file" in text(r)
        assert_audit(app, {"tool": "ssh_file_hash", "outcome": "error", "error": "RemoteError"})
        r = await client.call_tool(
            "ssh_file_hash", {"host": "target", "path": str(f), "algorithm": "crc32"}
        )
        assert r.is_error and "algorithm" in text(r)
        assert_audit(app, {"outcome": "denied", "error": "InvalidArguments"})
        r = await client.call_tool("ssh_file_hash", {"host": "target", "path": "/etc/shadow"})
        assert r.is_error and "outside the path allowlist" in text(r)
        assert_audit(app, {"outcome": "denied", "error": "PathNotAllowed"})
