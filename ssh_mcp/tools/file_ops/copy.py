"""``ssh_cp`` (registered through :mod:`ssh_mcp.tools.file_ops.entries`): copy within one host.

A file is copied by ``remote.copy_as_cp`` (:mod:`ssh_mcp.ssh.host_copy`) into a
hidden temp sibling of the destination, by the host itself when it offers
``copy-data`` (else streamed through this server), then renamed (or, without
overwrite, hard-linked) into place; a drop mid-copy is never replayed. A tree is copied by
the host itself (:func:`ssh_mcp.tools._anchored.copy_tree`): GNU tar reads it
relative to verified directory handles, never following a symlink (not even
one swapped in mid-walk), into a hidden sibling directory renamed into place
whole; its symlinks are recreated as links. Copies are the login user's and files
lose setuid and setgid, as a transfer's do (DECISIONS.md 86).
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from ssh_mcp.core.access import Group, Tier
from ssh_mcp.core.remote import Remote, temp_name
from ssh_mcp.core.spec import CHANGES, HOST, Output, RemotePath, StrictInput, ToolContext, ToolSpec
from ssh_mcp.errors import CapExceeded, RemoteError
from ssh_mcp.tools._anchored import copy_tree, refuse_in_flight
from ssh_mcp.tools._fields import INSIDE, UNLISTED, field_details
from ssh_mcp.tools._progress import Throttle
from ssh_mcp.tools.file_ops._shared import inside


class CopyInput(StrictInput):
    host: str = HOST
    src_path: Annotated[
        str,
        RemotePath(recursive=True),
        Field(
            description="File or directory to copy (absolute or ~/).",
            json_schema_extra=field_details(
                "Symlinks resolved, it must lie inside the host's path allowlist, and a "
                "directory must hold no restricted zone.",
                listed=False,
            ),
            min_length=1,
        ),
    ]
    dst_path: Annotated[
        str,
        RemotePath(create=True, recursive=True),
        Field(
            description="Full path of the copy, not a directory to copy into.",
            json_schema_extra=INSIDE,
            min_length=1,
        ),
    ]
    recursive: bool = Field(
        False, description="Required to copy a directory tree.", json_schema_extra=UNLISTED
    )
    overwrite: bool = Field(
        False,
        description="Replace an existing file; trees never replace or merge.",
        json_schema_extra=field_details("The replaced file keeps its mode.", listed=False),
    )


class CopyResult(Output):
    path: str = Field(description="Canonical destination path.")
    size: int = Field(description="Bytes copied.")
    mode: str = Field(description="Permission bits of the destination in octal.")
    entries: int = Field(description="Files, directories and symlinks created.")
    skipped: int = Field(description="Special files (sockets, devices, fifos) not copied.")
    server_side: bool = Field(description="True when the host copied the data itself.")


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

    async def op(remote: Remote) -> CopyResult | None:
        attrs = await remote.stat(args.src_path, action="copy")
        if attrs.is_dir:
            if not args.recursive:
                raise RemoteError(f"{args.src_path} is a directory; pass recursive=true")
            return None  # a tree is copied on the host, below
        if not attrs.is_file:
            raise RemoteError(f"{args.src_path} is not a regular file or a directory")
        size = attrs.size or 0
        if size > max_bytes:
            raise CapExceeded(
                f"{args.src_path} is {size} bytes, over SSH_TRANSFER_MAX_BYTES ({max_bytes})"
            )
        throttle.total = size
        done = await remote.copy_as_cp(
            args.src_path,
            args.dst_path,
            src_mode=attrs.perms,
            overwrite=args.overwrite,
            max_bytes=max_bytes,
            progress=throttle,
        )
        throttle(size, size)
        return CopyResult(
            path=args.dst_path,
            size=size,
            mode=f"{done.mode:04o}",
            entries=1,
            skipped=0,
            server_side=done.server_side,
        )

    # A copy is a change: a drop mid-way is reported, never replayed.
    out = await ctx.remote(op, replay=False)
    if out is None:
        out = await _copy_tree(ctx, args, max_bytes)
        throttle(out.size, out.size)
    await throttle.finish()
    return out


TOOLS = (
    ToolSpec(
        name="ssh_cp",
        title="Copy on a host",
        description=(
            "Copy a file, or with recursive=true a tree, to a new full path on the same host. "
            "For two hosts use ssh_transfer."
        ),
        details=(
            "Links stay links. A tree never replaces or merges into an existing one. Returns path, "
            "size, mode and entry counts. The data never leaves the host when it supports "
            "copy-data. A file lands atomically (temp file, then rename) with the source's mode, "
            "or the replaced file's; copies lose setuid and setgid, in a tree too. A tree is "
            "copied by the host's GNU tar from a verified "
            "directory, never following a symlink, built hidden, then renamed into place; if the "
            "tree changes while read, nothing is copied: retry."
        ),
        tier=Tier.LOW_ACCESS,
        group=Group.FILE_OPS,
        input=CopyInput,
        output=CopyResult,
        annotations=CHANGES,
        handler=cp,
        long_running=True,
        audit_bytes="size",
    ),
)
