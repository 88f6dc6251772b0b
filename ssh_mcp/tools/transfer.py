"""Low-access tier, group ``file-ops``: copy a file from one host to another.

The bytes stream through this server in chunks (never whole in memory):
parallel SFTP reads on the source feed an atomic write on the destination
(temp file next to the target, fsync, chmod, rename). Dispatch has already
canonicalized and confined both paths on their own hosts.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncGenerator
from typing import TYPE_CHECKING, Annotated

from pydantic import Field

from ssh_mcp.core.access import Group, Tier
from ssh_mcp.core.spec import (
    CHANGES,
    HostRef,
    Output,
    RemotePath,
    StrictInput,
    ToolContext,
    ToolSpec,
)
from ssh_mcp.ssh.pooled import PooledConnection, StaleConnection
from ssh_mcp.ssh.transfer import (
    WriteInterrupted,
    Written,
    after_drop,
    existing_mode,
    read_chunks,
    regular_file,
    write_atomic,
)
from ssh_mcp.tools._progress import Throttle

if TYPE_CHECKING:
    import asyncssh
else:
    from ssh_mcp.ssh._lazy import asyncssh

HOST_REF = (
    "alias from hosts.toml (see ssh_host_list), or a hostname that SSH_HOSTS_ALLOWLIST admits"
)


class TransferInput(StrictInput):
    src_host: Annotated[
        str,
        HostRef(),
        Field(description=f"Host to copy from: {HOST_REF}.", min_length=1, max_length=253),
    ]
    src_path: Annotated[
        str,
        RemotePath(host="src_host"),
        Field(
            description=(
                "Absolute path (or ~/…) of an existing regular file on src_host. Symlinks are "
                "resolved and the result must lie inside src_host's path allowlist."
            ),
            min_length=1,
        ),
    ]
    dst_host: Annotated[
        str,
        HostRef(),
        Field(
            description=f"Host to copy to (may equal src_host): {HOST_REF}.",
            min_length=1,
            max_length=253,
        ),
    ]
    dst_path: Annotated[
        str,
        RemotePath(create=True, host="dst_host"),
        Field(
            description=(
                "Absolute file path (or ~/…) on dst_host to write; its directory must exist and "
                "lie inside dst_host's path allowlist. Give the full file name, not a directory."
            ),
            min_length=1,
        ),
    ]
    overwrite: bool = Field(
        False,
        description="Replace dst_path if it exists (keeping its mode); otherwise that is an error.",
    )


class TransferResult(Output):
    path: str = Field(description="Canonical destination path on dst_host.")
    size: int = Field(description="Bytes written.")
    mode: str = Field(description="Permission bits of the destination file in octal, e.g. 0644.")
    sha256: str = Field(description="SHA-256 of the bytes written, hex.")


class _SourceLost(Exception):
    """The source connection dropped. Not a StaleConnection, so neither write_atomic nor the
    destination's pool run takes it for their own; the source's pool run retries the copy."""

    def __init__(self, cause: StaleConnection) -> None:
        super().__init__(str(cause))
        self.cause = cause


async def _source_chunks(
    sftp: asyncssh.SFTPClient, path: str, max_bytes: int
) -> AsyncGenerator[bytes, None]:
    try:
        # Closed with this generator, not later by the garbage collector, whose close
        # would raise into the event loop once the connection is gone.
        async with contextlib.aclosing(read_chunks(sftp, path, max_bytes=max_bytes)) as chunks:
            async for chunk in chunks:
                yield chunk
    except StaleConnection as exc:
        raise _SourceLost(exc) from None


async def transfer(ctx: ToolContext, args: TransferInput) -> TransferResult:
    max_bytes = ctx.limits.transfer_max_bytes
    throttle = Throttle(ctx, "ssh_transfer")
    # One host on both ends: one channel slot and one SFTP session, so a host allowed a
    # single slot cannot wait on itself.
    same_host = ctx.on("src_host").host == ctx.on("dst_host").host

    async def from_source(src_pc: PooledConnection) -> Written:
        src = await src_pc.sftp()
        size, src_mode = await regular_file(src, args.src_path, max_bytes)

        async def to_destination(dst_pc: PooledConnection) -> Written:
            dst = await dst_pc.sftp()
            # New file: the source's permission bits (as cp); a replaced one keeps its own.
            keep = await existing_mode(dst, args.dst_path) is not None
            # A retry on a fresh destination connection restarts the stream from byte 0.
            async with contextlib.aclosing(_source_chunks(src, args.src_path, max_bytes)) as chunks:
                return await write_atomic(
                    dst,
                    args.dst_path,
                    chunks,
                    mode=None if keep else src_mode,
                    overwrite=args.overwrite,
                    max_bytes=max_bytes,
                    total=size,
                    progress=throttle,
                )

        try:
            if same_host:
                return await to_destination(src_pc)
            return await ctx.on("dst_host").with_connection(to_destination)
        except _SourceLost as exc:
            raise exc.cause from None  # the source's pool run retries on a fresh connection

    try:
        written = await ctx.on("src_host").with_connection(from_source)
    except WriteInterrupted as exc:  # the destination dropped: remove its temp file, or name it
        raise await after_drop(ctx.on("dst_host").with_connection, exc) from None
    await throttle.finish()
    return TransferResult(
        path=written.path, size=written.size, mode=f"{written.mode:04o}", sha256=written.sha256
    )


TOOLS = (
    ToolSpec(
        name="ssh_transfer",
        title="Copy a file between hosts",
        description=(
            "Copy one file from src_host:src_path to dst_host:dst_path (the hosts may be the "
            "same), streamed through this server in chunks, so size is limited only by "
            "SSH_TRANSFER_MAX_BYTES. The destination is written atomically: a temp file next "
            "to it is renamed into place, so readers see the old file or the new one, never "
            "half. Refuses to replace an existing file unless overwrite=true. Returns the "
            "destination path, size, mode and sha256. Reports progress for files over 1 MiB. "
            "Use ssh_upload to write content you have, ssh_sftp_download to fetch a file here."
        ),
        tier=Tier.LOW_ACCESS,
        group=Group.FILE_OPS,
        input=TransferInput,
        output=TransferResult,
        annotations=CHANGES,
        handler=transfer,
        long_running=True,
        audit_bytes="size",
    ),
)
