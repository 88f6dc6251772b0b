"""Directories moved as one tar stream: host to host (ssh_transfer), host to here
(ssh_sftp_download with local_path) and here to host (ssh_upload with local_path), with
``recursive=true``.

The source host runs GNU ``tar -c`` from its verified parent directory
(the ``hold`` of :mod:`ssh_mcp.tools._anchored`: ``cd -P`` then
``pwd -P``), so no swap of an ancestor redirects it, and tar walks with
``openat``/``O_NOFOLLOW``: a directory swapped for a symlink mid-walk is
archived as a link, never followed. It first counts entries and bytes
(the caps, refused before a byte moves) and prints them for progress.

A destination host unpacks into a fresh hidden temp directory entered and
verified by identity, then renames it into place whole, never over anything
(as ``ssh_cp`` of a tree, DECISIONS.md 45); this server's disk does the same
through directory descriptors (:class:`~ssh_mcp.core.remote.LocalTree`). An upload
reads this server's directory the same way (:class:`~ssh_mcp.core.remote.LocalTar`).
The stream is followed as it passes (:class:`~ssh_mcp.core.remote.TarReader`):
progress by bytes and files, the caps again (a tree can grow), and a stream
that did not end with tar's end blocks, or a source tar that failed, stops
the destination before anything lands. DECISIONS.md 78.
"""

from __future__ import annotations

import os
import posixpath
from collections.abc import AsyncIterator
from dataclasses import dataclass

from pydantic import Field

from ssh_mcp.core.remote import LocalTar, LocalTree, Member, Piped, Remote, TarReader, temp_name
from ssh_mcp.core.spec import ToolContext
from ssh_mcp.errors import CapExceeded, InvalidArguments, RemoteError
from ssh_mcp.tools._anchored import PRELUDE, UNPACK
from ssh_mcp.tools._fields import field_details
from ssh_mcp.tools._progress import Throttle

#: $1 parent, $2 name, $3 entry cap, $4 byte cap. Prints "entries bytes mode", then the tar.
TAR_OUT = r"""
sp=$1 sn=$2 cap=$3 max=$4
hold "$sp"
[ ! -L "./$sn" ] && [ -d "./$sn" ] || exit 92
gnu
case $(tar --version 2>/dev/null) in *"GNU tar"*) ;; *) exit 93 ;; esac
c=$(count "./$sn" "$((cap + 1))")
[ "$c" -le "$cap" ] || { echo "$c 0 0"; exit 95; }
sz=$(find "./$sn" -xdev -type f -printf '%s\n' | awk '{s += $1} END {printf "%.0f\n", s}')
echo "$c $sz $(stat -c %a -- "./$sn")"
[ "$sz" -le "$max" ] || exit 98
exec tar --one-file-system --format=gnu -cf - "./$sn"
"""

#: $1 parent, $2 name, $3 temp name, $4 mode of the top. stdin: the tar of ./<src name>,
#: unpacked as ssh_cp's copy of a tree (:data:`~ssh_mcp.tools._anchored.UNPACK`), owned by
#: the login user. Prints the number of entries created.
TAR_IN = (
    UNPACK
    + r"""
dp=$1 dn=$2 tn=$3 m=$4
hold "$dp"
gnu
case $(tar --version 2>/dev/null) in *"GNU tar"*) ;; *) exit 93 ;; esac
{ [ -e "./$dn" ] || [ -L "./$dn" ]; } && exit 95
mkdir -m 700 -- "./$tn" || exit 96
( into || { echo "ssh-mcp: the temp directory was swapped meanwhile" >&2; exit 1; }
  unpack "$m" ) >&2 || { clean; exit 96; }
mv -n -T -- "./$tn" "./$dn" || { clean; exit 96; }
[ -e "./$tn" ] && { clean; exit 97; }
count "./$dn" 2147483647
"""
)

_MARK = b"\x1essh-mcp-out:\n"
POISON = b"\xff" * 1024
_CODES = {
    90: "a directory on the way to {path} vanished or cannot be entered; check and retry",
    91: "a directory on the way to {path} was swapped for a symlink or moved meanwhile; "
    "nothing was transferred",
    92: "{path} is not a directory (or is a symlink); drop recursive for a file",
    93: "the host lacks GNU coreutils, findutils, tar or /proc, which a directory transfer "
    "needs to walk without following symlinks swapped in mid-walk",
    95: "{path} exists; a directory transfer never merges or replaces: pick a new path",
    97: "{path} appeared while transferring; nothing replaced",
}


@dataclass
class Tree:
    """What a directory transfer moved."""

    entries: int = 0  # on the source, counted before
    bytes: int = 0  # of its regular files, counted before
    mode: int = 0o755  # of the top directory
    files: int = 0  # regular files moved
    size: int = 0  # their bytes
    skipped: int = 0  # links, devices, fifos: not made (local) / links made (host)
    made: int = 0  # entries created on the destination


def _error(code: int | None, path: str, err: str) -> Exception:
    if code in _CODES:
        return RemoteError(_CODES[code].format(path=path))
    why = err.splitlines()[-1][-200:] if err else f"exit {code}"
    return RemoteError(f"the directory transfer of {path} failed: {why}; nothing landed")


class Source:
    """The source host's ``tar -c`` of ``path``: its counts, then its stream, followed."""

    def __init__(self, ctx: ToolContext, path: str, throttle: Throttle) -> None:
        self.path, self.throttle = path, throttle
        self.cap, self.max = ctx.limits.transfer_max_entries, ctx.limits.transfer_max_bytes
        self.parent, self.name = posixpath.split(path)
        self.tree = Tree()
        self.reader = TarReader(max_entries=self.cap, max_bytes=self.max)
        self.raw = b""  # the chunk being followed, for a relay
        self._rest = b""

    def argv(self) -> list[str]:
        return ["sh", "-c", PRELUDE + TAR_OUT, "sh", self.parent, self.name,
                str(self.cap), str(self.max)]  # fmt: skip

    async def start(self, run: Piped) -> None:
        """Read the host's counts and refuse a tree over the caps, before a byte moves."""
        self._run = run
        self._chunks = chunks = run.chunks()
        head = b""
        async for chunk in chunks:
            head += chunk
            at = head.find(_MARK)
            line_end = head.find(b"\n", at + len(_MARK)) if at >= 0 else -1
            if line_end >= 0:
                self._counts(head[at + len(_MARK) : line_end])
                self._rest = head[line_end + 1 :]
                break
        else:
            raise _error(await run.finish(), self.path, run.stderr)
        if self.tree.entries > self.cap:
            raise CapExceeded(
                f"{self.path} holds more than {self.cap} entries (SSH_TRANSFER_MAX_ENTRIES); "
                "nothing was transferred; move its subtrees one call at a time"
            )
        if self.tree.bytes > self.max:
            raise CapExceeded(
                f"{self.path} holds {self.tree.bytes} bytes, over SSH_TRANSFER_MAX_BYTES "
                f"({self.max}); nothing was transferred"
            )
        self.throttle.total = self.tree.bytes

    async def members(self) -> AsyncIterator[tuple[Member | None, bytes]]:
        """Each header (with b"") and each data piece (member None), checked; after each
        chunk ``(None, b"")``, with the chunk itself in :attr:`raw` for a relay."""
        run, chunks = self._run, self._chunks
        pending = [self._rest] if self._rest else []
        while True:
            for chunk in pending:
                self.raw = chunk
                try:
                    for member, data in self.reader.feed(chunk):
                        if member is not None:
                            yield member, b""
                        else:
                            assert data is not None
                            self.tree.size += len(data)
                            self._progress()
                            yield None, data
                except CapExceeded as exc:
                    raise CapExceeded(f"{self.path} grew while transferring: {exc}") from None
                yield None, b""  # the chunk is done: a relay sends it now
            pending = []
            try:
                pending = [await anext(chunks)]
            except StopAsyncIteration:
                break
        code = await run.finish()
        if code != 0 or not self.reader.ended:
            raise _error(code, self.path, run.stderr)
        self.tree.files = self.reader.files
        self._progress()

    def _counts(self, line: bytes) -> None:
        parts = line.split()
        if len(parts) != 3 or not all(p.isdigit() for p in parts):
            raise RemoteError(f"the host's count of {self.path} was unreadable: {line[:80]!r}")
        self.tree.entries, self.tree.bytes = int(parts[0]), int(parts[1])
        self.tree.mode = int(parts[2], 8)

    def _progress(self) -> None:
        self.throttle.note = f", {self.reader.files} files of {self.tree.entries} entries"
        self.throttle(self.tree.size, self.tree.bytes)


async def host_to_host(
    src_ctx: ToolContext, dst_ctx: ToolContext, src: str, dst: str, temp: str, same: bool,
    throttle: Throttle,
) -> Tree:  # fmt: skip
    """``src`` (a directory on src_ctx's host) copied as the new ``dst`` on dst_ctx's."""
    source = Source(src_ctx, src, throttle)
    dp, dn = posixpath.split(dst)

    async def from_source(s: Remote) -> Tree:
        async with s.piped(source.argv()) as out:
            await source.start(out)
            failed: list[Exception] = []

            async def relay() -> AsyncIterator[bytes]:
                try:
                    async for member, data in source.members():
                        if member is None and not data:
                            yield source.raw
                except Exception as exc:
                    # The destination must fail on its own, so that its script removes its
                    # temp directory: a block no tar reads as a header, then EOF.
                    failed.append(exc)
                    yield POISON

            async def to_destination(d: Remote) -> int:
                argv = ["sh", "-c", PRELUDE + TAR_IN, "sh", dp, dn, posixpath.basename(temp)]
                async with d.piped(
                    [*argv, f"{source.tree.mode:o}"], stdin=relay(), abort=POISON
                ) as into:
                    text = b"".join([c async for c in into.chunks()])
                    code = await into.finish()
                if failed:
                    raise failed[0]
                if code != 0:
                    raise _error(code, dst, into.stderr)
                tail = text[text.find(_MARK) + len(_MARK) :] if _MARK in text else text
                return int(tail.split()[-1]) if tail.split() else 0

            made = await (
                to_destination(s) if same else dst_ctx.remote(to_destination, replay=False)
            )
            if not source.reader.ended:  # the source is stopped as the block is left
                raise RemoteError(f"the copy of {src} stopped before its end; nothing landed")
        source.tree.made, source.tree.files = made, source.reader.files
        return source.tree

    # Never replayed: the destination may have landed by the time the source drops.
    return await src_ctx.remote(from_source, replay=False)


async def host_to_local(ctx: ToolContext, src: str, local: str, throttle: Throttle) -> Tree:
    """``src`` (a directory on the host) unpacked as the new local directory ``local``."""
    source = Source(ctx, src, throttle)
    lp, ln = posixpath.split(local)

    async def op(r: Remote) -> Tree:
        async with r.piped(source.argv()) as out:
            await source.start(out)
            try:
                with LocalTree(lp, ln, ctx.local_refusal) as tree:
                    async for member, data in source.members():
                        if member is not None:
                            tree.begin(member, source.name)
                        elif data:
                            tree.write(data)
                    tree.land()
            except OSError as exc:  # the local disk's, never taken for a dropped connection
                raise RemoteError(
                    f"writing the local directory {local} failed: {exc.strerror or exc}; "
                    "nothing landed"
                ) from None
        source.tree.skipped, source.tree.made = tree.skipped, tree.files + tree.dirs
        return source.tree

    # Never replayed: a drop leaves nothing here (the temp tree is removed), retry the call.
    return await ctx.remote(op, replay=False)


async def local_to_host(ctx: ToolContext, local: str, dst: str, throttle: Throttle) -> Tree:
    """The local directory ``local`` (confined) unpacked as the new ``dst`` on the host."""
    limits = ctx.limits
    src = LocalTar(
        local, ctx.local_refusal, max_entries=limits.transfer_max_entries,
        max_bytes=limits.transfer_max_bytes,
    )  # fmt: skip
    try:
        counted = src.scan()
        mode = os.stat(local).st_mode & 0o777
    except OSError as exc:
        raise RemoteError(f"reading local_path {local} failed: {exc.strerror or exc}") from None
    tree = Tree(entries=counted.entries, bytes=counted.bytes, mode=mode)
    dp, dn = posixpath.split(dst)
    failed: list[Exception] = []

    async def stream() -> AsyncIterator[bytes]:
        try:
            async for chunk in src.chunks():
                throttle.note = f", {src.sent.files} files of {counted.entries} entries"
                throttle(src.sent.bytes, counted.bytes)
                yield chunk
        except OSError as exc:
            failed.append(RemoteError(f"reading local_path {local} failed: {exc.strerror}"))
            yield POISON
        except Exception as exc:  # the host's tar must fail, so that its script cleans up
            failed.append(exc)
            yield POISON

    async def op(r: Remote) -> Tree:
        argv = ["sh", "-c", PRELUDE + TAR_IN, "sh", dp, dn, posixpath.basename(temp_name(dst))]
        async with r.piped([*argv, f"{mode:o}"], stdin=stream(), abort=POISON) as into:
            text = b"".join([c async for c in into.chunks()])
            code = await into.finish()
        if failed:
            raise failed[0]
        if code != 0:
            raise _error(code, dst, into.stderr)
        tail = text[text.find(_MARK) + len(_MARK) :] if _MARK in text else text
        tree.made = int(tail.split()[-1]) if tail.split() else 0
        tree.files, tree.size, tree.skipped = src.sent.files, src.sent.bytes, src.sent.skipped
        return tree

    return await ctx.remote(op, replay=False)


#: ssh_upload's ``recursive`` (declared here: its module is at its size limit).
UPLOAD_RECURSIVE: bool = Field(
    False,
    description="Send local_path, a directory, to a new path.",
    json_schema_extra=field_details(
        "One tar stream, landed whole by one rename; symlinks are sent as links, special "
        "files skipped. Caps: SSH_TRANSFER_MAX_ENTRIES and SSH_TRANSFER_MAX_BYTES."
    ),
)


async def upload_tree(
    ctx: ToolContext, local: str | None, path: str, args: object
) -> dict[str, object]:
    """ssh_upload with recursive=true: the fields of its WriteResult."""
    if local is None or getattr(args, "overwrite", False) or getattr(args, "mode", None):
        raise InvalidArguments(
            "recursive sends a local_path directory to a new path: no content, mode or "
            "overwrite (a tree never replaces)"
        )
    throttle = Throttle(ctx, f"upload {path}")
    tree = await local_to_host(ctx, local, path, throttle)
    await throttle.finish()
    return {"path": path, "size": tree.size, "mode": f"{tree.mode:04o}", "sha256": ""}
