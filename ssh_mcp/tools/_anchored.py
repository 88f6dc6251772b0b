"""Changes to trees run on the host, relative to a verified directory handle.

SFTP names every path from ``/`` on each request, so a directory swapped for a
symlink between a walk and the change (or an ancestor swapped after
dispatch's confinement check) redirects the change outside the allowlist. So
the tree tools run one ``sh`` script instead: it ``cd -P``-s into the
canonical parent and checks that ``pwd -P`` (the kernel's name for the
directory it now holds as its working directory) still is that parent. From
then on it names only ``./<name>``: a later swap of an ancestor cannot move
the working directory. Below it, GNU ``rm``, ``find`` and ``tar`` walk with
``openat``/``O_NOFOLLOW`` (fts with FTS_PHYSICAL), so a symlink swapped in
mid-walk is removed or archived as a link, never followed. A second
directory is held open as fd 3 and reached as ``/proc/self/fd/3`` (Linux).

Hosts without GNU coreutils or ``/proc`` (busybox) are refused: busybox
``rm -r`` re-resolves every path by name. Every operand is a positional
parameter, never part of the script text.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass

from ssh_mcp.errors import CapExceeded, PathNotAllowed, RemoteError
from ssh_mcp.spec import ToolContext
from ssh_mcp.ssh.process import ProcessResult

#: Generous: the call's own deadline (SSH_TRANSFER_TIMEOUT for these long-running
#: tools) stops the script first, and its stop ladder kills it on the host.
LONG = 24 * 3600.0

#: Shared head of every script: C messages (parsed below), then the anchor.
#: ``hold DIR`` enters DIR and proves it is DIR; it never follows a link there
#: without noticing, because ``pwd -P`` reports where the shell actually is.
PRELUDE = r"""
export LC_ALL=C
hold() {
  cd -P -- "$1" 2>/dev/null || exit 90
  [ "$(pwd -P)" = "$1" ] || exit 91
}
gnu() {
  case $(rm --version 2>/dev/null; find --version 2>/dev/null) in
    *"GNU coreutils"*"GNU findutils"*) ;;
    *) exit 93 ;;
  esac
}
count() { find "$1" -print0 2>/dev/null | tr -cd '\000' | head -c "$2" | wc -c; }
"""

_CODES = {
    90: "{path}: its directory vanished or cannot be entered; check the path and retry",
    91: "{path}: a directory on the way was swapped for a symlink meanwhile; nothing was changed",
    93: "the host lacks GNU coreutils/findutils or /proc, which this tool needs to change a "
    "tree without following symlinks swapped in mid-walk; use ssh_exec instead",
}


@dataclass(frozen=True)
class Script:
    """A finished script run: exit code and its outputs, decoded."""

    code: int
    out: bytes
    err: str


async def run(ctx: ToolContext, body: str, *args: str, path: str) -> Script:
    """Run ``PRELUDE + body`` with ``args`` as $1…; the shared exit codes become errors."""
    result: ProcessResult = await ctx.run(["sh", "-c", PRELUDE + body, "sh", *args], timeout=LONG)
    err = result.stderr.kept.decode("utf-8", "replace").strip()
    if result.exit_code is None:
        why = "timed out" if result.timed_out else f"was killed ({result.signal or 'no status'})"
        raise RemoteError(f"{path}: the change on the host {why}; check what is left and retry")
    if result.exit_code in _CODES:
        raise RemoteError(_CODES[result.exit_code].format(path=path))
    return Script(result.exit_code, result.stdout.kept, err)


def under(parent: str, rel: str) -> str:
    """The absolute path of ``./<rel>`` as printed from inside ``parent``."""
    rel = rel[2:] if rel.startswith("./") else rel
    return parent.rstrip("/") + "/" + rel


_CANNOT = re.compile(r"^\w+: cannot remove '(.+)': (.+)$", re.MULTILINE)


def first_failure(parent: str, err: str) -> tuple[str, str]:
    """(path, reason) of the first ``rm: cannot remove`` line, else a generic pair."""
    m = _CANNOT.search(err)
    if m is None:
        return parent, (err.splitlines() or ["no message"])[-1][-200:]
    return under(parent, m.group(1)), m.group(2)


# -- delete a tree --------------------------------------------------------------------

#: Paths a dry run lists at most.
SAMPLE = 100

#: $1 parent, $2 name, $3 cap, $4 mode (empty | empty-dry | list | delete), $5 SAMPLE. Prints the
#: entry count first (capped at cap + 1), then for list the first SAMPLE paths (NUL-ended).
DELETE = r"""
p=$1 n=$2 cap=$3 mode=$4
hold "$p"
[ ! -L "./$n" ] || exit 92
[ -d "./$n" ] || exit 98
h=$(cd -P ~ 2>/dev/null && pwd -P) || h=
case "$h/" in "${p%/}/$n/"*) exit 97 ;; esac
gnu
case $mode in empty*)
  [ -z "$(find "./$n" -mindepth 1 -maxdepth 1 -print -quit)" ] || exit 94
  [ "$mode" = empty-dry ] || rmdir -- "./$n" || exit 96
  echo 1; exit 0
esac
c=$(count "./$n" "$((cap + 1))")
echo "$c"
[ "$c" -le "$cap" ] || exit 95
if [ "$mode" = list ]; then find "./$n" -print0 | head -z -n "$5"; exit 0; fi
rm -rf -- "./$n" && exit 0
echo "$(count "./$n" "$((cap + 1))")"
exit 96
"""


@dataclass(frozen=True)
class Deleted:
    total: int
    sample: list[str]


async def delete_tree(ctx: ToolContext, parent: str, name: str, *, cap: int, mode: str) -> Deleted:
    """Delete (or, mode ``list``, only count) ``parent/name``; see :data:`DELETE`."""
    path = under(parent, name)
    s = await run(ctx, DELETE, parent, name, str(cap), mode, str(SAMPLE), path=path)
    head, _, rest = s.out.partition(b"\n")
    if s.code in (92, 98):
        what = "a symbolic link" if s.code == 92 else "not a directory"
        raise RemoteError(f"{path} is {what}; use ssh_delete for files and links")
    if s.code == 97:
        raise PathNotAllowed(f"{path} is / or holds the login user's home; refused")
    if s.code == 94:
        raise RemoteError(f"{path} is not empty; pass recursive=true (dry_run first)")
    if s.code == 95:
        raise CapExceeded(
            f"{path} holds more than {cap} entries (SSH_DELETE_FOLDER_MAX_ENTRIES); "
            "nothing was removed; delete its subtrees one call at a time"
        )
    if s.code == 96:
        counts = [int(x) for x in s.out.split() if x.isdigit()]
        total, left = [*counts, 0, 0][:2] if mode == "delete" else (1, 1)
        where, why = first_failure(parent, s.err)
        raise RemoteError(
            f"deleting stopped at {where} after {total - left} of {total} entries: {why}"
        )
    if s.code != 0:
        raise RemoteError(f"deleting {path} failed: {s.err[-200:] or f'exit {s.code}'}")
    sample = [under(parent, p.decode("utf-8", "replace")) for p in rest.split(b"\0") if p]
    if mode == "empty-dry":
        sample = [path]
    return Deleted(int(head.strip() or 0), sample)


# -- move -----------------------------------------------------------------------------

#: $1 src parent, $2 src name, $3 dst parent, $4 dst name, $5 overwrite (yes | no).
#: The destination directory is held as fd 3 and named through /proc/self/fd/3, so the
#: rename lands in the verified directory whatever happens to its path meanwhile. Prints
#: the moved entry's raw mode (hex) and size.
MOVE = r"""
sp=$1 sn=$2 dp=$3 dn=$4 ow=$5
hold "$dp"
exec 3<.
[ -d /proc/self/fd/3/ ] || exit 93
hold "$sp"
[ -e "./$sn" ] || [ -L "./$sn" ] || exit 92
gnu
d=/proc/self/fd/3/$dn
[ "$(stat -c %d .)" = "$(stat -L -c %d /proc/self/fd/3)" ] || exit 94
if [ "$ow" = yes ]; then
  mv -f -T -- "./$sn" "$d" || exit 96
else
  { [ -e "$d" ] || [ -L "$d" ]; } && exit 95
  mv -n -T -- "./$sn" "$d" || exit 96
  { [ -e "./$sn" ] || [ -L "./$sn" ]; } && exit 97
fi
stat -c '%f %s' -- "$d"
"""


async def move(ctx: ToolContext, src: str, dst: str, *, overwrite: bool) -> tuple[int, int]:
    """rename(2) ``src`` to ``dst`` between verified directories: (st_mode, size) of it."""
    sp, sn = posixpath.split(src)
    dp, dn = posixpath.split(dst)
    s = await run(ctx, MOVE, sp, sn, dp, dn, "yes" if overwrite else "no", path=src)
    if s.code == 92:
        raise RemoteError(f"{src}: no such file or directory; check the path")
    if s.code == 94:
        raise RemoteError(
            f"{src} and {dst} are on different filesystems and a move is one rename; "
            "use ssh_cp, then ssh_delete or ssh_delete_folder"
        )
    if s.code == 95:
        raise RemoteError(f"{dst} exists; pass overwrite=true to replace it")
    if s.code == 97:
        raise RemoteError(f"{dst} appeared meanwhile; nothing moved")
    if s.code != 0:
        why = s.err.splitlines()[-1][-200:] if s.err else f"exit {s.code}"
        raise RemoteError(f"moving {src} failed: {why}")
    raw, size = s.out.split()[:2]
    return int(raw, 16), int(size)
