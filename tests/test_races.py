"""Recursive tools against a racer that swaps directories for symlinks to outside ones (issue 8.4).

A separate process, running as the test user like a concurrent ``ssh_mv`` would, swaps a
directory for a symlink to a directory outside the allowlist and back, as fast as it can,
while the tool runs over many trees through MCP against the real sshd. Afterwards the host
must show that nothing outside was deleted, moved, read into the allowlist or written to.
The racer counts its swaps, and the test requires that swaps happened during the calls.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from harness import audit_lines, serve, text
from mcp import Client
from sshd import TestUser

from ssh_mcp.config.settings import Settings

pytestmark = pytest.mark.anyio
Make = Callable[..., Settings]

#: The racer runs as the test user, who cannot reach this checkout's venv.
PYTHON = shutil.which("python3", path="/usr/bin:/bin") or "/usr/bin/python3"
#: Calls per test, each one over its own tree.
ROUNDS = 20
#: Most calls per test: under the race some calls are refused, and a test goes on until
#: one succeeded (each refusal step has about even odds while the racer runs).
LIMIT = 3 * ROUNDS
#: ssh_mv checks four directories, each swapped half of the time: more calls to get one through.
MOVES = 12 * ROUNDS
#: Files in each swapped directory, and in the outside directory it is swapped with.
FILES = 100

#: argv: count file, then (path, link target) pairs. Each swap exchanges the directory with
#: a symlink to the target atomically (renameat2 RENAME_EXCHANGE, as a concurrent mv -T
#: --exchange would), then exchanges it back: the path is a symlink about half of the time.
#: The count of swaps is written to the count file (pwrite: cheap enough per swap).
RACER = r"""
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
def exchange(a, b):
    return libc.renameat2(-100, a, -100, b, 2) == 0  # AT_FDCWD, RENAME_EXCHANGE
out = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT, 0o644)
pairs = []
for path, target in zip(sys.argv[2::2], sys.argv[3::2]):
    os.symlink(target, path + ".link")
    pairs.append((path.encode(), (path + ".link").encode()))
n = 0
while True:
    for path, link in pairs:
        if exchange(path, link):
            n += 1
            os.pwrite(out, str(n).encode().ljust(20), 0)
            exchange(path, link)
"""


class Racer:
    def __init__(self, proc: subprocess.Popen[bytes], count_file: Path) -> None:
        self.proc, self._count_file = proc, count_file

    def swaps(self) -> int:
        raw = self._count_file.read_bytes().strip() if self._count_file.exists() else b""
        return int(raw or 0)


@contextmanager
def racing(user: TestUser, scratch: Path, pairs: list[tuple[Path, Path]]) -> Iterator[Racer]:
    count_file = scratch / "swaps"
    argv = [PYTHON, "-c", RACER, str(count_file)]
    for path, target in pairs:
        argv += [str(path), str(target)]
    proc = subprocess.Popen(argv, user=user.uid, group=user.uid, cwd="/")
    try:
        yield Racer(proc, count_file)
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def own(root: Path, user: TestUser) -> None:
    for p in [root, *root.rglob("*")]:
        os.lchown(p, user.uid, user.uid)


def fill(d: Path, content: str, count: int = FILES) -> None:
    d.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        (d / f"f{i:03}").write_text(content)


def files_of(d: Path) -> dict[str, str]:
    return {p.name: p.read_text() for p in d.iterdir()} if d.is_dir() else {}


def leaked(root: Path) -> list[Path]:
    """Regular files under root (links not followed) holding outside content."""
    out = []
    for dirpath, _, names in os.walk(root):
        for name in names:
            p = Path(dirpath, name)
            if p.is_file() and not p.is_symlink() and p.read_text() == "OUTSIDE":
                out.append(p)
    return out


@pytest.fixture
def scratch(test_user: TestUser, request: pytest.FixtureRequest) -> Iterator[Path]:
    """A directory of the test user outside the allowlist (the outside world)."""
    path = Path(f"/tmp/ssh-mcp-race-{os.getpid()}-{request.node.name[:40]}")
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir()
    os.chown(path, test_user.uid, test_user.uid)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def low(settings_for: Make) -> Settings:
    return settings_for(allow_low_access_tools=True, ssh_delete_folder_max_entries=100_000)


async def race_calls(
    client: Client,
    racer: Racer,
    tool: str,
    make: Callable[[int], dict[str, Any]],
    *,
    limit: int,
    need_ok: bool = True,
) -> list[str]:
    """Call ``make(0)``, ``make(1)``… while the racer swaps: ROUNDS calls, and with
    ``need_ok`` until one succeeded (at most ``limit``). Under the race a call may be refused
    (that is safe); the racer must have swapped during the calls."""
    during = 0
    outcomes: list[str] = []
    for i in range(limit):
        if len(outcomes) >= ROUNDS and (not need_ok or "ok" in outcomes):
            break
        before = racer.swaps()
        r = await client.call_tool(tool, {"host": "target", **make(i)})
        during += racer.swaps() - before
        outcomes.append("error: " + text(r) if r.is_error else "ok")
    assert during >= len(outcomes), f"the racer swapped only {during} times during the calls"
    assert not need_ok or "ok" in outcomes, outcomes  # the tool still works under the race
    return outcomes


# -- ssh_delete_folder ----------------------------------------------------------------


async def test_delete_folder_never_follows_a_directory_swapped_mid_walk(
    low: Settings, work_dir: Path, scratch: Path, test_user: TestUser
) -> None:
    outside = scratch / "outside"
    fill(outside, "OUTSIDE")
    trees = [work_dir / f"t{i}" for i in range(LIMIT)]
    for t in trees:
        for d in ("a", "sub"):
            fill(t / d, "inside")
    own(work_dir, test_user)
    own(scratch, test_user)
    pairs = [(t / "sub", outside) for t in trees]
    async with serve(low) as (client, app):
        with racing(test_user, scratch, pairs) as racer:
            outcomes = await race_calls(
                client,
                racer,
                "ssh_delete_folder",
                lambda i: {"path": str(trees[i]), "recursive": True},
                limit=LIMIT,
            )
        assert len(audit_lines(app)) == len(outcomes)
    assert files_of(outside) == {f"f{i:03}": "OUTSIDE" for i in range(FILES)}, outcomes
    for t, outcome in zip(trees, outcomes, strict=False):
        assert (outcome == "ok") == (not t.exists()), outcome


async def test_delete_folder_refuses_an_ancestor_swapped_for_a_symlink(
    low: Settings, work_dir: Path, scratch: Path, test_user: TestUser
) -> None:
    decoy = scratch / "decoy"
    for i in range(LIMIT):
        fill(decoy / f"t{i}", "OUTSIDE")
        fill(work_dir / "a" / f"t{i}", "inside")
    own(work_dir, test_user)
    own(scratch, test_user)
    async with serve(low) as (client, _):
        with racing(test_user, scratch, [(work_dir / "a", decoy)]) as racer:
            outcomes = await race_calls(
                client,
                racer,
                "ssh_delete_folder",
                lambda i: {"path": f"{work_dir}/a/t{i}", "recursive": True},
                limit=LIMIT,
            )
    for i in range(LIMIT):
        assert len(files_of(decoy / f"t{i}")) == FILES, outcomes


async def test_delete_is_not_redirected_by_a_parent_swapped_for_a_symlink(
    low: Settings, work_dir: Path, scratch: Path, test_user: TestUser
) -> None:
    fill(scratch / "decoy", "OUTSIDE", LIMIT)
    fill(work_dir / "a", "inside", LIMIT)
    own(work_dir, test_user)
    own(scratch, test_user)
    async with serve(low) as (client, _):
        with racing(test_user, scratch, [(work_dir / "a", scratch / "decoy")]) as racer:
            outcomes = await race_calls(
                client,
                racer,
                "ssh_delete",
                lambda i: {"path": f"{work_dir}/a/f{i:03}"},
                limit=LIMIT,
            )
    assert files_of(scratch / "decoy") == {f"f{i:03}": "OUTSIDE" for i in range(LIMIT)}, outcomes


# -- ssh_mv ---------------------------------------------------------------------------


async def test_mv_is_not_redirected_by_a_parent_swapped_for_a_symlink(
    low: Settings, work_dir: Path, scratch: Path, test_user: TestUser
) -> None:
    fill(scratch / "decoy-src", "OUTSIDE", MOVES)
    (scratch / "decoy-dst").mkdir()
    fill(work_dir / "a", "inside", MOVES)
    (work_dir / "b").mkdir()
    own(work_dir, test_user)
    own(scratch, test_user)
    pairs = [(work_dir / "a", scratch / "decoy-src"), (work_dir / "b", scratch / "decoy-dst")]
    async with serve(low) as (client, _):
        with racing(test_user, scratch, pairs) as racer:
            outcomes = await race_calls(
                client,
                racer,
                "ssh_mv",
                lambda i: {
                    "src_path": f"{work_dir}/a/f{i:03}",
                    "dst_path": f"{work_dir}/b/f{i:03}",
                },
                limit=MOVES,
            )
    expected = {f"f{i:03}": "OUTSIDE" for i in range(MOVES)}
    assert files_of(scratch / "decoy-src") == expected, outcomes  # nothing moved out of it
    assert files_of(scratch / "decoy-dst") == {}, outcomes  # nothing moved into it
    assert leaked(work_dir) == [], outcomes
    real_b = work_dir / ("b.link" if (work_dir / "b").is_symlink() else "b")  # racer's last state
    moved = files_of(real_b)
    assert len(moved) == outcomes.count("ok") and set(moved.values()) == {"inside"}, outcomes


# -- ssh_cp (recursive) ---------------------------------------------------------------


async def test_cp_tree_never_reads_a_directory_swapped_mid_walk(
    low: Settings, work_dir: Path, scratch: Path, test_user: TestUser
) -> None:
    outside = scratch / "outside"
    fill(outside, "OUTSIDE")
    trees = [work_dir / f"s{i}" for i in range(ROUNDS)]
    for t in trees:
        for d in ("a", "sub", "z"):
            fill(t / d, "inside")
    own(work_dir, test_user)
    own(scratch, test_user)
    async with serve(low) as (client, _):
        with racing(test_user, scratch, [(t / "sub", outside) for t in trees]) as racer:
            outcomes = await race_calls(
                client,
                racer,
                "ssh_cp",
                lambda i: {
                    "src_path": str(trees[i]),
                    "dst_path": f"{work_dir}/d{i}",
                    "recursive": True,
                },
                limit=ROUNDS,
                need_ok=False,
            )
    assert leaked(work_dir) == [], outcomes  # no outside file was read into the copies
    assert files_of(outside) == {f"f{i:03}": "OUTSIDE" for i in range(FILES)}
    # GNU tar notices the tree changing under it ("file changed as we read it"): such a copy
    # fails whole and leaves nothing behind, rather than landing torn.
    assert not list(work_dir.glob(".*.ssh-mcp-*")), outcomes
    for i, outcome in enumerate(outcomes):
        copy = work_dir / f"d{i}"
        assert copy.is_dir() == (outcome == "ok"), outcome
        assert outcome == "ok" or "nothing was copied" in outcome, outcome


async def test_cp_tree_is_not_redirected_by_a_destination_parent_swap(
    low: Settings, work_dir: Path, scratch: Path, test_user: TestUser
) -> None:
    decoy = scratch / "decoy"
    decoy.mkdir()
    fill(work_dir / "src" / "sub", "inside")
    (work_dir / "b").mkdir()
    own(work_dir, test_user)
    own(scratch, test_user)
    async with serve(low) as (client, _):
        with racing(test_user, scratch, [(work_dir / "b", decoy)]) as racer:
            outcomes = await race_calls(
                client,
                racer,
                "ssh_cp",
                lambda i: {
                    "src_path": f"{work_dir}/src",
                    "dst_path": f"{work_dir}/b/c{i}",
                    "recursive": True,
                },
                limit=LIMIT,
            )
    assert list(decoy.iterdir()) == [], outcomes  # nothing was written into it
    real_b = work_dir / ("b.link" if (work_dir / "b").is_symlink() else "b")  # racer's last state
    assert not list(real_b.glob(".*.ssh-mcp-*")), outcomes


async def test_nothing_is_moved_linked_or_copied_into_a_temp_tree(
    low: Settings, work_dir: Path, test_user: TestUser
) -> None:
    """A tree copy unpacks by name below its temp directory: no tool may swap things there."""
    temp = work_dir / ".copy.ssh-mcp-0123456789ab"
    (temp / "sub").mkdir(parents=True)
    (work_dir / "f").write_text("inside")
    own(work_dir, test_user)
    async with serve(low) as (client, app):
        for tool, args in [
            ("ssh_mv", {"src_path": f"{work_dir}/f", "dst_path": f"{temp}/sub/x"}),
            ("ssh_link", {"target_path": f"{work_dir}/f", "link_path": f"{temp}/sub/x"}),
            ("ssh_cp", {"src_path": f"{work_dir}/f", "dst_path": f"{temp}/sub/x"}),
        ]:
            r = await client.call_tool(tool, {"host": "target", **args})
            assert r.is_error and "inside a temp tree ssh-mcp is building" in text(r), text(r)
            assert audit_lines(app)[-1]["error"] == "PathNotAllowed"
    assert list((temp / "sub").iterdir()) == [] and (work_dir / "f").read_text() == "inside"


# -- hosts without the GNU tools --------------------------------------------------------


@pytest.mark.skipif(not shutil.which("busybox"), reason="needs busybox")
@pytest.mark.parametrize("script", ["DELETE", "MOVE", "COPY"])
def test_busybox_tools_are_refused_before_anything_changes(tmp_path: Path, script: str) -> None:
    """busybox rm -r, find and tar re-resolve each path by name: the scripts refuse them."""
    from ssh_mcp.tools import _anchored

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for applet in ("rm", "find", "tar", "mv", "stat", "mkdir", "rmdir", "chmod"):
        (bin_dir / applet).symlink_to(shutil.which("busybox") or "busybox")
    fill(tmp_path / "t" / "sub", "inside")
    argv = {
        "DELETE": [str(tmp_path), "t", "1000", "delete", "100"],
        "MOVE": [str(tmp_path), "t", str(tmp_path), "u", "no"],
        "COPY": [str(tmp_path), "t", str(tmp_path), "u", ".u.tmp", "1000000"],
    }[script]
    body = _anchored.PRELUDE + getattr(_anchored, script)
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "HOME": str(tmp_path)}
    done = subprocess.run(["sh", "-c", body, "sh", *argv], env=env, capture_output=True)
    assert done.returncode == 93, done
    assert files_of(tmp_path / "t" / "sub") == {f"f{i:03}": "inside" for i in range(FILES)}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bin", "t"]


# -- ssh_link (hard) ------------------------------------------------------------------


async def test_a_hard_link_is_not_redirected_to_an_outside_file_by_a_parent_swap(
    low: Settings, work_dir: Path, scratch: Path, test_user: TestUser
) -> None:
    """A hard link to a file outside the allowlist would hand every later call that file
    under an inside name, no race needed any more: its target's parent is swapped for a
    symlink to an outside directory while ssh_link runs."""
    outside = scratch / "outside"
    fill(outside, "OUTSIDE", 1)
    fill(work_dir / "d", "inside", 1)
    (work_dir / "links").mkdir()
    own(work_dir, test_user)
    own(scratch, test_user)
    async with serve(low) as (client, _):
        with racing(test_user, scratch, [(work_dir / "d", outside)]) as racer:
            outcomes = await race_calls(
                client,
                racer,
                "ssh_link",
                lambda i: {
                    "target_path": str(work_dir / "d" / "f000"),
                    "link_path": str(work_dir / "links" / f"k{i}"),
                    "symbolic": False,
                },
                limit=MOVES,
                need_ok=False,
            )
    assert not leaked(work_dir), outcomes
    assert (outside / "f000").stat().st_nlink == 1, outcomes
