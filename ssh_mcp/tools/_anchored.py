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

from ssh_mcp.core.remote import ProcessResult
from ssh_mcp.core.spec import ToolContext
from ssh_mcp.errors import CapExceeded, PathNotAllowed, RemoteError

#: Generous: the call's own deadline (SSH_TRANSFER_TIMEOUT for these long-running
#: tools) stops the script first, and its stop ladder kills it on the host.
LONG = 24 * 3600.0

#: Shared head of every script: C messages (parsed below), a mark that starts our stdout
#: (a login shell's startup files may print before it), then the anchor.
#: ``hold DIR`` enters DIR and proves it is DIR; it never follows a link there
#: without noticing, because ``pwd -P`` reports where the shell actually is.
PRELUDE = r"""
export LC_ALL=C
printf '\036ssh-mcp-out:\n'
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
count() { find "$1" -xdev -print0 2>/dev/null | tr -cd '\000' | head -c "$2" | wc -c; }
"""

_MARK = b"\x1essh-mcp-out:\n"
_CODES = {
    90: "a directory on the way to {path} vanished or cannot be entered; check and retry",
    91: "a directory on the way to {path} was swapped for a symlink or moved meanwhile; "
    "nothing was changed",
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
    out = result.stdout.kept
    out = out[out.find(_MARK) + len(_MARK) :] if _MARK in out else out
    if result.exit_code is None:
        why = "timed out" if result.timed_out else f"was killed ({result.signal or 'no status'})"
        raise RemoteError(f"{path}: the change on the host {why}; check what is left and retry")
    if result.exit_code in _CODES:
        raise RemoteError(_CODES[result.exit_code].format(path=path))
    return Script(result.exit_code, out, err)


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


# -- delete one file or link ---------------------------------------------------------

#: $1 parent, $2 name. Prints the raw mode (hex) and size of what it removed.
UNLINK = r"""
hold "$1"
[ -e "./$2" ] || [ -L "./$2" ] || exit 92
[ -L "./$2" ] || [ ! -d "./$2" ] || exit 98
stat -c '%f %s' -- "./$2" && rm -f -- "./$2" || exit 96
"""


async def unlink(ctx: ToolContext, path: str) -> tuple[int, int]:
    """Remove the file or link ``path`` from its verified parent: (st_mode, size) of it."""
    parent, name = posixpath.split(path)
    s = await run(ctx, UNLINK, parent, name, path=path)
    if s.code == 92:
        raise RemoteError(f"{path}: no such file or directory; check the path")
    if s.code == 98:
        raise RemoteError(f"{path} is a directory; use ssh_delete_folder")
    if s.code != 0:
        why = s.err.splitlines()[-1][-200:] if s.err else f"exit {s.code}"
        raise RemoteError(f"deleting {path} failed: {why}")
    raw, size = s.out.split()[:2]
    return int(raw, 16), int(size)


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
rm -rf --one-file-system -- "./$n" && exit 0
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
    s = await run(ctx, MOVE, sp, sn, dp, dn, "yes" if overwrite else "no", path=f"{src} or {dst}")
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
        why = why.replace("/proc/self/fd/3/", dp.rstrip("/") + "/")  # the held dst parent
        raise RemoteError(f"moving {src} failed: {why}")
    raw, size = s.out.split()[:2]
    return int(raw, 16), int(size)


# -- hard link ------------------------------------------------------------------------

#: $1 target parent, $2 target name, $3 link parent, $4 link name. The link's directory is
#: held as fd 3, the target's is the working directory: a parent swapped for a symlink after
#: dispatch's check cannot make the new name a second name of a file outside the allowlist.
#: ``ln -P`` links a link swapped in for the target itself, never what it points to.
HARD_LINK = r"""
tp=$1 tn=$2 lp=$3 ln=$4
hold "$lp"
exec 3<.
[ -d /proc/self/fd/3/ ] || exit 93
hold "$tp"
[ -e "./$tn" ] || [ -L "./$tn" ] || exit 92
[ -L "./$tn" ] || [ ! -d "./$tn" ] || exit 98
gnu
d=/proc/self/fd/3/$ln
{ [ -e "$d" ] || [ -L "$d" ]; } && exit 95
ln -P -T -- "./$tn" "$d" || exit 96
"""


async def hard_link(ctx: ToolContext, target: str, path: str) -> None:
    """link(2) ``target`` as ``path`` between verified directories."""
    tp, tn = posixpath.split(target)
    lp, ln = posixpath.split(path)
    s = await run(ctx, HARD_LINK, tp, tn, lp, ln, path=f"{target} or {path}")
    if s.code == 92:
        raise RemoteError(f"{target}: no such file; check the path")
    if s.code == 98:
        raise RemoteError(f"{target} is a directory; hard links need a file: symbolic=true")
    if s.code == 95:
        raise RemoteError(f"{path} exists; remove it first with ssh_delete")
    if s.code != 0:
        why = s.err.splitlines()[-1][-200:] if s.err else f"exit {s.code}"
        why = why.replace("/proc/self/fd/3/", lp.rstrip("/") + "/")
        raise RemoteError(f"linking {path} failed: {why}")


# -- copy a tree ----------------------------------------------------------------------

#: The fresh temp directory ``./$tn`` a tree is built in, for :data:`COPY` and the transfers'
#: ``TAR_IN`` (:mod:`ssh_mcp.tools._tree`) alike. ``into`` enters it and proves by identity
#: (dev:inode), not by path, that it is tn of the held parent: an ancestor swapped meanwhile
#: does not matter, tn swapped does. ``unpack MODE`` extracts the tar on stdin there as the
#: login's (``--no-same-owner``: root's tar would restore the source's owners, minting files
#: of any user), takes setuid and setgid off every file (ssh_upload refuses them; a root
#: login's would be root's), gives the top MODE. DECISIONS.md 86.
UNPACK = r"""
ident() { stat -c %d:%i -- "$1"; }
into() {
  pi=$(ident .) && cd -P -- "./$tn" && [ "$(ident ..)" = "$pi" ] &&
    [ "$(ident "../$tn")" = "$(ident .)" ]
}
unpack() {
  tar -xpf - --strip-components=2 --no-same-owner &&
    find . -xdev -type f -perm /6000 -exec chmod ug-s -- {} + && chmod -- "$1" .
}
clean() { (into && chmod -R u+w .) 2>/dev/null; rm -rf -- "./$tn"; }
"""

#: $1 src parent, $2 src name, $3 dst parent, $4 dst name, $5 temp name, $6 max bytes.
#: GNU tar reads the source from the verified directory held as fd 4 (openat, O_NOFOLLOW
#: all the way down) and unpacks into a fresh temp directory (:data:`UNPACK`), which is
#: renamed into place without replacing anything. Prints "bytes sockets mode", then the
#: number of entries created.
COPY = (
    UNPACK
    + r"""
sp=$1 sn=$2 dp=$3 dn=$4 tn=$5 max=$6
hold "$sp"
[ ! -L "./$sn" ] && [ -d "./$sn" ] || exit 92
gnu
case $(tar --version 2>/dev/null) in *"GNU tar"*) ;; *) exit 93 ;; esac
exec 4<.
[ -d /proc/self/fd/4/ ] || exit 93
m=$(stat -c %a -- "./$sn") || exit 92
sz=$(find "./$sn" -xdev -type f -printf '%s\n' | awk '{s += $1} END {printf "%.0f\n", s}')
echo "$sz $(find "./$sn" -xdev -type s -print0 | tr -cd '\000' | wc -c) $m"
[ "$sz" -le "$max" ] || exit 98
hold "$dp"
{ [ -e "./$dn" ] || [ -L "./$dn" ]; } && exit 95
mkdir -m 700 -- "./$tn" || exit 96
r=$( { { tar -C /proc/self/fd/4 --one-file-system -cf - "./$sn"; echo "c$?" >&5; } |
  { if into; then unpack "$m"
    else echo "ssh-mcp: the temp directory was swapped meanwhile" >&2; false; fi
    echo "x$?" >&5; } >&2
  } 5>&1 )
case $r in *c0*x0* | *x0*c0*) ;; *) clean; exit 96 ;; esac
mv -n -T -- "./$tn" "./$dn" || { clean; exit 96; }
[ -e "./$tn" ] && { clean; exit 97; }
count "./$dn" 2147483647
"""
)

_TAR = re.compile(r"^tar: (\./.+?): (.+)$", re.MULTILINE)


@dataclass(frozen=True)
class Copied:
    size: int
    entries: int
    skipped: int
    mode: str


async def copy_tree(ctx: ToolContext, src: str, dst: str, tmp: str, max_bytes: int) -> Copied:
    """Copy the tree ``src`` to the new ``dst`` through the temp sibling ``tmp``."""
    sp, sn = posixpath.split(src)
    dp, dn = posixpath.split(dst)
    tn, both = posixpath.basename(tmp), f"{src} or {dst}"
    s = await run(ctx, COPY, sp, sn, dp, dn, tn, str(max_bytes), path=both)
    lines = s.out.decode().split()
    if s.code == 92:
        raise RemoteError(f"{src} is no longer a directory; check the path")
    if s.code == 95:
        raise RemoteError(
            f"{dst} exists; a directory copy never merges or replaces: pick a new dst_path"
        )
    if s.code == 97:
        raise RemoteError(f"{dst} appeared while copying; nothing replaced")
    if s.code == 98:
        raise CapExceeded(
            f"{src} holds {lines[0]} bytes, over SSH_TRANSFER_MAX_BYTES ({max_bytes})"
        )
    if s.code != 0:
        m = _TAR.search(s.err)
        ours = [line[9:] for line in s.err.splitlines() if line.startswith("ssh-mcp: ")]
        where, why = (under(sp, m.group(1)), m.group(2)) if m else (src, s.err[-200:])
        if ours:
            where, why = dst, ours[0]
        raise RemoteError(f"copying stopped at {where}: {why or 'no message'}; nothing was copied")
    size, skipped, mode, entries = lines[:4]
    return Copied(int(size), int(entries), int(skipped), f"{int(mode, 8):04o}")


#: The hidden temp siblings the tools build in (``.<name>.ssh-mcp-<hex>``, _staging).
_IN_FLIGHT = re.compile(r"/\.[^/]*\.ssh-mcp-[0-9a-f]{12}(/|$)")


def refuse_in_flight(path: str) -> None:
    """A tool must not put anything inside another call's temp tree while it is built.

    A tree copy unpacks by name below its verified temp directory: a directory there
    swapped for a symlink would redirect the unpacking, so nothing may create a link or
    move anything into such a path.
    """
    if _IN_FLIGHT.search(path):
        raise PathNotAllowed(
            f"{path} is inside a temp tree ssh-mcp is building or left behind; "
            "pick another path, or remove the temp with ssh_delete_folder"
        )
