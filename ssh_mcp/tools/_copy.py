"""``ssh_cp`` (registered through :mod:`ssh_mcp.tools.file_ops`): copy within one host.

A file is copied into a hidden temp sibling of the destination, by the host
itself when it offers ``copy-data`` (else streamed through this server), then
renamed (or, without overwrite, hard-linked) into place. A tree is copied by
the host itself (:func:`ssh_mcp.tools._anchored.copy_tree`): GNU tar reads it
relative to verified directory handles, never following a symlink (not even
one swapped in mid-walk), into a hidden sibling directory renamed into place
whole; its symlinks are recreated as links.
"""

from __future__ import annotations

import contextlib
import posixpath
import stat as statmod
from typing import TYPE_CHECKING, Annotated

from pydantic import Field

from ssh_mcp.core.access import Group, Tier
from ssh_mcp.core.spec import CHANGES, HOST, Output, RemotePath, StrictInput, ToolContext, ToolSpec
from ssh_mcp.errors import CapExceeded, RemoteError
from ssh_mcp.ssh.sftp import free_bytes
from ssh_mcp.ssh.transfer import (
    MAX_REQUESTS,
    block_size,
    disk_full,
    disk_full_error,
    read_chunks,
    temp_name,
)
from ssh_mcp.tools._anchored import copy_tree, refuse_in_flight
from ssh_mcp.tools._progress import Throttle
from ssh_mcp.tools._sftp_ops import (
    INSIDE,
    discard,
    inside,
    lstat_or_none,
    mutate,
)

if TYPE_CHECKING:
    import asyncssh
else:
    from ssh_mcp.ssh._lazy import asyncssh


class CopyInput(StrictInput):
    host: str = HOST
    src_path: Annotated[
        str,
        RemotePath(recursive=True),
        Field(
            description=f"File or directory to copy, absolute or ~/…; symlinks resolved, it "
            f"{INSIDE}, and a directory must hold no restricted zone.",
            min_length=1,
        ),
    ]
    dst_path: Annotated[
        str,
        RemotePath(create=True, recursive=True),
        Field(
            description=f"Full path of the copy (not a directory to copy into); it {INSIDE}.",
            min_length=1,
        ),
    ]
    recursive: bool = Field(False, description="Required to copy a directory tree.")
    overwrite: bool = Field(
        False,
        description="Replace an existing destination file (it keeps its mode). Directory "
        "copies never replace or merge.",
    )


class CopyResult(Output):
    path: str = Field(description="Canonical destination path.")
    size: int = Field(description="Bytes copied.")
    mode: str = Field(description="Permission bits of the destination in octal.")
    entries: int = Field(description="Files, directories and symlinks created.")
    skipped: int = Field(description="Special files (sockets, devices, fifos) not copied.")
    server_side: bool = Field(description="True when the host copied the data itself.")


async def _copy_into(
    sftp: asyncssh.SFTPClient,
    src: str,
    dst: str,
    mode: int,
    cap: int,
    progress: Throttle,
    base: int,
) -> None:
    """Create ``dst`` (it must not exist) with the content of ``src``, then give it ``mode``."""
    attrs = asyncssh.SFTPAttrs(permissions=0o600)
    size = block_size(sftp)
    async with sftp.open(dst, "xb", attrs, block_size=size, max_requests=MAX_REQUESTS) as out:
        if sftp.supports_remote_copy:
            async with sftp.open(src, "rb", block_size=0) as f:
                await sftp.remote_copy(f, out)
        else:
            total = progress.total

            def report(done: int, _: int | None) -> None:
                progress(base + done, total)

            chunks = read_chunks(sftp, src, max_bytes=cap, progress=report)
            async with contextlib.aclosing(chunks):
                async for chunk in chunks:
                    await out.write(chunk)
        with contextlib.suppress(asyncssh.SFTPOpUnsupported):
            await out.fsync()
    await sftp.chmod(dst, mode)


async def _copy_file(
    sftp: asyncssh.SFTPClient,
    args: CopyInput,
    src: asyncssh.SFTPAttrs,
    max_bytes: int,
    progress: Throttle,
) -> int:
    """Copy one file through a temp sibling of dst, renamed (or linked) into place."""
    old = await lstat_or_none(sftp, args.dst_path)
    if old is not None and not args.overwrite:
        raise RemoteError(f"{args.dst_path} exists; pass overwrite=true to replace it")
    if old is not None and statmod.S_ISDIR(old.permissions or 0):
        raise RemoteError(f"{args.dst_path} is a directory; give the full path of the copy")
    mode = statmod.S_IMODE((old or src).permissions or 0o644)  # as cp: a replaced file's own
    tmp = temp_name(args.dst_path)
    try:
        await _copy_into(sftp, args.src_path, tmp, mode, max_bytes, progress, 0)
        if args.overwrite:
            await sftp.posix_rename(tmp, args.dst_path)
        else:
            try:
                await sftp.link(tmp, args.dst_path)  # fails if dst appeared meanwhile
            except asyncssh.SFTPFailure:
                raise RemoteError(f"{args.dst_path} appeared while copying; not replaced") from None
            await sftp.remove(tmp)
    except asyncssh.SFTPFailure as exc:
        # Full disk: the generic Failure of SFTP v3; asked while the partial temp still fills it.
        full = await disk_full(sftp, tmp)
        await discard(exc, tmp, lambda: sftp.remove(tmp))
        if not full:
            raise
        free = await free_bytes(sftp, posixpath.dirname(args.dst_path))
        raise disk_full_error(args.dst_path, free) from None
    except BaseException as exc:
        await discard(exc, tmp, lambda: sftp.remove(tmp))
        raise
    return mode


async def _copy_tree(ctx: ToolContext, args: CopyInput, max_bytes: int) -> CopyResult:
    """On the host, between verified directory handles (:func:`_anchored.copy_tree`)."""
    src, dst = args.src_path, args.dst_path
    if inside(dst, src):
        raise RemoteError(f"{dst} is inside {src}; copy a directory somewhere outside itself")
    done = await copy_tree(ctx, src, dst, temp_name(dst), max_bytes)
    return CopyResult(
        path=dst,
        size=done.size,
        mode=done.mode,
        entries=done.entries,
        skipped=done.skipped,
        server_side=True,
    )


async def cp(ctx: ToolContext, args: CopyInput) -> CopyResult:
    max_bytes = ctx.limits.transfer_max_bytes
    throttle = Throttle(ctx, "ssh_cp")

    refuse_in_flight(args.dst_path)

    async def body(sftp: asyncssh.SFTPClient) -> CopyResult | None:
        attrs = await sftp.stat(args.src_path)
        perm = attrs.permissions or 0
        if statmod.S_ISDIR(perm):
            if not args.recursive:
                raise RemoteError(f"{args.src_path} is a directory; pass recursive=true")
            return None  # a tree is copied on the host, below
        if not statmod.S_ISREG(perm):
            raise RemoteError(f"{args.src_path} is not a regular file or a directory")
        size = attrs.size or 0
        if size > max_bytes:
            raise CapExceeded(
                f"{args.src_path} is {size} bytes, over SSH_TRANSFER_MAX_BYTES ({max_bytes})"
            )
        throttle.total = size
        mode = await _copy_file(sftp, args, attrs, max_bytes, throttle)
        throttle(size, size)
        return CopyResult(
            path=args.dst_path,
            size=size,
            mode=f"{mode:04o}",
            entries=1,
            skipped=0,
            server_side=sftp.supports_remote_copy,
        )

    out = await mutate(ctx, "copy", body)
    if out is None:
        out = await _copy_tree(ctx, args, max_bytes)
        throttle(out.size, out.size)
    await throttle.finish()
    return out


CP = ToolSpec(
    name="ssh_cp",
    title="Copy on a host",
    description=(
        "Copy a file, or with recursive=true a directory tree, to a new path on the same "
        "host; the data never leaves the host when it supports copy-data. A file lands "
        "atomically (temp file, then rename) with the source's mode, or the replaced "
        "file's. A tree is copied by the host's GNU tar from a verified directory, never "
        "following a symlink (links are recreated as links), built hidden, then renamed into "
        "place; if the tree changes while read, nothing is copied: retry. Returns path, size, "
        "mode and entry counts. For two hosts use ssh_transfer."
    ),
    tier=Tier.LOW_ACCESS,
    group=Group.FILE_OPS,
    input=CopyInput,
    output=CopyResult,
    annotations=CHANGES,
    handler=cp,
    long_running=True,
    audit_bytes="size",
)
