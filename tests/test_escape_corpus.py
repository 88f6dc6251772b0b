"""A corpus of path escape attempts through MCP against real sshd.

Every attempt must end in a denial (isError, audit outcome ``denied``, error
``PathNotAllowed``) and touch nothing: the remote tree, an outside canary and
the local transfer roots are snapshotted before and after.

Layout, inside the test's work_dir (``wd``)::

    wd/app/            the host's path allowlist (SSH_RESTRICTED_PATHS = wd/app/secrets)
    wd/out/canary.txt  outside the allowlist
    wd/application/    a prefix-sibling of the allowlisted root
    local/roots/       SSH_LOCAL_TRANSFER_ROOTS; local/elsewhere/ is outside it

The last test documents the check-then-use window (a directory swapped for a
symlink between dispatch's check and the write).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncssh
import pytest
from harness import Target, assert_audit, hosts_toml, serve, text
from mcp.types import CallToolResult
from sshd import TestUser

from ssh_mcp.config.settings import Settings
from ssh_mcp.ssh import remote as ssh_remote
from ssh_mcp.ssh.sftp import canonicalize

pytestmark = pytest.mark.anyio
CANARY = b"canary: must never change\n"


@dataclass(frozen=True)
class Attempt:
    id: str
    tool: str
    args: dict[str, Any]  # str values are templates: {app} {wd} {out} {roots} {elsewhere}


def stat(path: str) -> Attempt:
    return Attempt("", "ssh_sftp_stat", {"host": "target", "path": path})


def ls(path: str) -> Attempt:
    return Attempt("", "ssh_sftp_list", {"host": "target", "path": path})


def dst(path: str, overwrite: bool = False) -> Attempt:
    """ssh_transfer of an allowed file to ``path``, a create target."""
    args = _transfer("{app}/file.txt", path)
    return Attempt("", "ssh_transfer", {**args, "overwrite": overwrite} if overwrite else args)


def src(path: str) -> Attempt:
    return Attempt("", "ssh_transfer", _transfer(path, "{app}/copy.bin"))


def _transfer(src_path: str, dst_path: str) -> dict[str, Any]:
    return {"src_host": "target", "src_path": src_path, "dst_host": "target", "dst_path": dst_path}


def download(local_path: str, path: str = "{app}/file.txt") -> Attempt:
    args = {"host": "target", "path": path, "local_path": local_path}
    return Attempt("", "ssh_sftp_download", args)


def upload(path: str, local_path: str | None = None) -> Attempt:
    source = {"local_path": local_path} if local_path else {"content_text": "x\n"}
    return Attempt("", "ssh_upload", {"host": "target", "path": path, **source})


def find(path: str) -> Attempt:
    return Attempt("", "ssh_find", {"host": "target", "path": path, "name_pattern": "*"})


CORPUS: dict[str, Attempt] = {
    # `..` sequences
    "dotdot-stat": stat("{app}/../out/canary.txt"),
    "dotdot-deep-list": ls("{app}/sub/../../out"),
    "dotdot-to-root": stat("{app}/../../../../../../../../../etc/passwd"),
    "dotdot-dst": dst("{app}/../out/new.bin"),
    "dotdot-dst-is-parent": dst("{app}/.."),
    "dotdot-src": src("{app}/sub/../../out/canary.txt"),
    # absolute symlinks out
    "abs-link-list": ls("{app}/abs-out"),
    "abs-link-file": stat("{app}/abs-out-file"),
    "abs-link-etc": stat("{app}/etc-link/passwd"),
    "abs-link-src": src("{app}/abs-out-file"),
    # relative symlinks out, and a chain of them
    "rel-link-list": ls("{app}/rel-out"),
    "rel-link-stat": stat("{app}/rel-out/canary.txt"),
    "rel-link-chain": stat("{app}/sub/chain/canary.txt"),
    # a symlinked parent directory of a create target
    "create-under-abs-link": dst("{app}/abs-out/new.bin"),
    "create-under-rel-link": dst("{app}/rel-out/new.bin"),
    "create-under-link-chain": dst("{app}/sub/chain/new.bin"),
    # `//` and a trailing `/.`
    "double-slash-root": stat("//etc/passwd"),
    "double-slash-dotdot": ls("{app}//..//out"),
    "double-slash-dst": dst("{app}//..//out//new.bin"),
    "trailing-dot-link": ls("{app}/abs-out/."),
    "trailing-dot-outside": stat("{out}/."),
    "trailing-dot-create": dst("{app}/not-there/."),
    # NUL and control characters
    "nul-stat": stat("{app}/file.txt\x00/../../out"),
    "nul-dst": dst("{app}/new\x00.bin"),
    "newline": stat("{app}/file.txt\n../../out"),
    "carriage-return-dst": dst("{app}/new\r.bin"),
    "escape": ls("{app}/\x1b[2J"),
    "delete-char": stat("{app}/\x7f"),
    # unicode look-alikes: names, never separators or dots
    "division-slash-sibling": dst("{wd}/app\u2215new.bin"),
    "fullwidth-solidus-sibling": stat("{wd}/app\uff0fsecret.txt"),
    "division-slash-link-name": stat("{app}/..\u2215out/canary.txt"),
    "combining-dot-root-name": ls("{wd}/app\u0307"),
    "cyrillic-a-root-name": ls("{wd}/\u0430pp"),
    # bidi controls and zero-width characters
    "bidi-override": stat("{app}/\u202etxt.elif"),
    "bidi-isolate-dst": dst("{app}/\u2067new.bin"),
    "zero-width-space": ls("{app}/\u200bsub"),
    "byte-order-mark": stat("{app}/\ufefffile.txt"),
    "zero-width-joiner-dst": dst("{app}/new\u200d.bin"),
    # a prefix-sibling of the allowlisted root
    "prefix-sibling-list": ls("{wd}/application"),
    "prefix-sibling-file": stat("{wd}/application/file.txt"),
    "prefix-sibling-dst": dst("{wd}/application/new.bin"),
    "prefix-sibling-create": dst("{wd}/app-new.bin"),
    # the restricted zone, below it, and through a symlink
    "restricted-list": ls("{app}/secrets"),
    "restricted-below": stat("{app}/secrets/key"),
    "restricted-dotdot": stat("{app}/sub/../secrets/key"),
    "restricted-via-link": stat("{app}/to-secrets/key"),
    "restricted-link-list": ls("{app}/to-secrets"),
    "restricted-dst": dst("{app}/secrets/new.bin"),
    "restricted-dst-via-link": dst("{app}/to-secrets/new.bin"),
    "restricted-src": src("{app}/secrets/key"),
    "restricted-find-inside": find("{app}/to-secrets"),
    # `~` expansion
    "tilde-home": stat("~"),
    "tilde-dotdot": ls("~/.."),
    "tilde-user": stat("~root"),
    "tilde-dst": dst("~/new.bin"),
    # a dangling symlink whose target lies outside, as a create target
    "dangling-link-dst": dst("{app}/dangling-out"),
    "dangling-link-dst-overwrite": dst("{app}/dangling-out", overwrite=True),
    "dangling-link-missing-dir": dst("{app}/dangling-deep", overwrite=True),
    # relative paths
    "relative-stat": stat("app/file.txt"),
    "relative-dst": dst("new.bin"),
    # local_path escapes (ssh_sftp_download)
    "local-outside-roots": download("{elsewhere}/f.bin"),
    "local-link-out-of-roots": download("{roots}/out/f.bin"),
    "local-dangling-link-out": download("{roots}/dangling"),
    "local-dotdot": download("{roots}/../elsewhere/f.bin"),
    "local-relative": download("f.bin"),
    "local-nul": download("{roots}/f\x00.bin"),
    "local-remote-side-escape": download("{roots}/f.bin", path="{app}/abs-out-file"),
    # the same escapes through ssh_upload: a write tool's create target and its local source
    "upload-under-link": upload("{app}/abs-out/new.txt"),
    "upload-dangling-link": upload("{app}/dangling-out"),
    "upload-restricted": upload("{app}/to-secrets/new.txt"),
    "upload-local-outside-roots": upload("{app}/new.txt", local_path="{elsewhere}/canary.txt"),
    "upload-local-link-out": upload("{app}/new.txt", local_path="{roots}/out/canary.txt"),
}


def _fill(value: Any, names: dict[str, str]) -> Any:
    return value.format(**names) if isinstance(value, str) else value


def _own(path: Path, user: TestUser) -> None:
    os.lchown(path, user.uid, user.uid)


@pytest.fixture
def layout(work_dir: Path, tmp_path: Path, test_user: TestUser) -> dict[str, str]:
    wd = work_dir
    app, out = wd / "app", wd / "out"
    for d in ("app/sub", "app/secrets", "out", "application", "app\u0307", "\u0430pp"):
        (wd / d).mkdir(parents=True)
    (app / "file.txt").write_text("allowed\n")
    (app / "secrets" / "key").write_text("secret\n")
    (out / "canary.txt").write_bytes(CANARY)
    (wd / "application" / "file.txt").write_text("sibling\n")
    (wd / "app\uff0fsecret.txt").write_text("look-alike\n")
    (app / "abs-out").symlink_to(out)
    (app / "abs-out-file").symlink_to(out / "canary.txt")
    (app / "etc-link").symlink_to("/etc")
    (app / "rel-out").symlink_to("../out")
    (app / "sub" / "chain").symlink_to("../rel-out")
    (app / "to-secrets").symlink_to("secrets")
    (app / "..\u2215out").symlink_to("../out")
    (app / "dangling-out").symlink_to(out / "made-through-dangling")
    (app / "dangling-deep").symlink_to(out / "no-dir" / "made-through-dangling")
    for p in [wd, *wd.rglob("*")]:
        _own(p, test_user)
    roots, elsewhere = tmp_path / "local" / "roots", tmp_path / "local" / "elsewhere"
    roots.mkdir(parents=True)
    elsewhere.mkdir()
    (elsewhere / "canary.txt").write_bytes(CANARY)
    (roots / "out").symlink_to(elsewhere)
    (roots / "dangling").symlink_to(elsewhere / "made-through-dangling")
    return {
        "wd": str(wd),
        "app": str(app),
        "out": str(out),
        "roots": str(roots),
        "elsewhere": str(elsewhere),
    }


def snapshot(*roots: str) -> dict[str, tuple[Any, ...]]:
    """Every entry below ``roots``: type, mode, owner, size, mtime, link target, content hash."""
    seen: dict[str, tuple[Any, ...]] = {}
    for root in roots:
        for dirpath, dirs, files in os.walk(root):
            for name in [".", *dirs, *files]:
                p = os.path.join(dirpath, name)
                st = os.lstat(p)
                link = os.readlink(p) if os.path.islink(p) else None
                digest = None
                if os.path.isfile(p) and not link:
                    with open(p, "rb") as f:
                        digest = hashlib.sha256(f.read()).hexdigest()
                seen[p] = (st.st_mode, st.st_uid, st.st_size, st.st_mtime_ns, link, digest)
    return seen


@pytest.fixture
def corpus_settings(
    settings_for: Callable[..., Settings], target: Target, layout: dict[str, str]
) -> Settings:
    confined = Target(target.alias, target.port, target.user, target.key, (layout["app"],))
    return settings_for(
        hosts=hosts_toml(confined),
        allow_low_access_tools=True,
        ssh_restricted_paths=[f"{layout['app']}/secrets"],
        ssh_local_transfer_roots=[layout["roots"]],
    )


def test_corpus_is_large_enough() -> None:
    assert len(CORPUS) >= 30
    kinds = {a.tool for a in CORPUS.values()}
    assert {"ssh_sftp_stat", "ssh_sftp_list", "ssh_transfer", "ssh_sftp_download"} <= kinds
    assert {"ssh_upload", "ssh_find"} <= kinds


@pytest.mark.parametrize("case", list(CORPUS), ids=list(CORPUS))
async def test_escape_attempt_is_denied_and_touches_nothing(
    corpus_settings: Settings, layout: dict[str, str], case: str
) -> None:
    attempt = CORPUS[case]
    args = {k: _fill(v, layout) for k, v in attempt.args.items()}
    watched = (layout["wd"], os.path.dirname(layout["roots"]))
    before = snapshot(*watched)
    async with serve(corpus_settings) as (client, app):
        listed = {t.name for t in (await client.list_tools()).tools}
        assert attempt.tool in listed, f"{attempt.tool} is not offered; update the corpus"
        r = await client.call_tool(attempt.tool, args)
        assert r.is_error, f"{case}: not denied: {r.structured_content}"
        message = text(r)
        assert "Traceback" not in message and "\n" not in message
        assert_audit(app, {"tool": attempt.tool, "outcome": "denied", "error": "PathNotAllowed"})
    assert snapshot(*watched) == before
    assert Path(layout["out"], "canary.txt").read_bytes() == CANARY


async def test_allowed_neighbours_still_work(
    corpus_settings: Settings, layout: dict[str, str]
) -> None:
    """The corpus denies for the right reason: the same tools succeed just inside the lines."""
    ok = [
        stat("{app}/file.txt"),
        ls("{app}/sub"),
        stat("{app}/sub/../file.txt"),
        dst("{app}/sub/new.bin"),
        download("{roots}/f.bin"),
    ]
    async with serve(corpus_settings) as (client, _):
        for attempt in ok:
            args = {k: _fill(v, layout) for k, v in attempt.args.items()}
            r = await client.call_tool(attempt.tool, args)
            assert not r.is_error, f"{attempt}: {text(r)}"
    assert Path(layout["app"], "sub", "new.bin").read_text() == "allowed\n"
    assert Path(layout["roots"], "f.bin").read_text() == "allowed\n"


async def _race(settings: Settings, layout: dict[str, str]) -> tuple[CallToolResult, Path, Path]:
    app = Path(layout["app"])
    args = _transfer("{app}/file.txt", "{app}/d/raced.bin")
    async with serve(settings) as (client, _):
        r = await client.call_tool("ssh_transfer", {k: _fill(v, layout) for k, v in args.items()})
    return r, app / "d.old", Path(layout["out"])


def _swapper(layout: dict[str, str], test_user: TestUser) -> Callable[[], None]:
    """Replace {app}/d by a symlink to the outside directory (as someone on the host could)."""
    app = Path(layout["app"])
    (app / "d").mkdir()
    _own(app / "d", test_user)

    def swap() -> None:
        os.rename(app / "d", app / "d.old")
        os.symlink(layout["out"], app / "d")
        os.lchown(app / "d", test_user.uid, test_user.uid)

    return swap


async def test_race_swap_after_the_check_redirects_the_write(
    corpus_settings: Settings,
    layout: dict[str, str],
    test_user: TestUser,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Documents the remaining check-then-use window (DECISIONS.md, "A path means ...").

    Dispatch resolves and checks dst_path's directory with SFTP lstat/realpath
    requests; the handler creates the temp file there with a later SFTP open.
    SFTP v3 has no openat and no O_NOFOLLOW, so whoever can rename entries of
    an allowlisted directory on the host itself can swap the checked
    directory for a symlink in between. Here the swap happens exactly after
    the check, and the write follows the link: this test pins the window down
    so that closing it shows up here.
    """
    swap = _swapper(layout, test_user)

    async def check_then_swap(sftp: Any, path: str, **kw: Any) -> str:
        canonical = await canonicalize(sftp, path, **kw)
        if kw.get("create"):  # dst_path has passed its check; now the directory is swapped
            swap()
        return canonical

    monkeypatch.setattr(ssh_remote, "canonicalize", check_then_swap)
    r, old, out = await _race(corpus_settings, layout)
    assert not r.is_error, text(r)
    assert r.structured_content and r.structured_content["path"].endswith("/app/d/raced.bin")
    assert (out / "raced.bin").read_text() == "allowed\n"  # landed outside, through the swap
    assert os.listdir(old) == []


async def test_race_swap_after_the_temp_file_is_open_writes_nothing_outside(
    corpus_settings: Settings,
    layout: dict[str, str],
    test_user: TestUser,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Once the temp file exists, a swap cannot redirect the data.

    The bytes go to the temp file's inode in the checked directory; the final
    chmod and rename name the temp file through the swapped path, find
    nothing, and the call fails. Nothing is written outside and the target is
    never created; the temp file stays behind in the swapped-away directory.
    """
    swap = _swapper(layout, test_user)
    real_chmod = asyncssh.SFTPClient.chmod

    async def swap_then_chmod(self: Any, path: Any, mode: int, **kw: Any) -> None:
        swap()  # write_atomic chmods the temp file after writing it, before the rename
        await real_chmod(self, path, mode, **kw)

    monkeypatch.setattr(asyncssh.SFTPClient, "chmod", swap_then_chmod)
    before = snapshot(layout["out"])
    r, old, _ = await _race(corpus_settings, layout)
    assert r.is_error and "no such file" in text(r), text(r)
    assert snapshot(layout["out"]) == before
    assert not (old / "raced.bin").exists()
    assert [n for n in os.listdir(old) if n.startswith(".raced.bin.ssh-mcp-")] == os.listdir(old)
