"""Low-access tier, group ``file-ops``: copy a file from one host to another.

The bytes stream through this server in chunks (never whole in memory):
parallel SFTP reads on the source feed an atomic write on the destination
(temp file next to the target, fsync, chmod, rename). Dispatch has already
canonicalized and confined both paths on their own hosts. A drop of the
source restarts the copy once on a fresh connection; a drop of the
destination is reported, never replayed (DECISIONS.md 23).
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from ssh_mcp.core.access import Group, Tier
from ssh_mcp.core.remote import Remote, Written, temp_name
from ssh_mcp.core.schema import SAID_ONCE
from ssh_mcp.core.spec import (
    CHANGES,
    HostRef,
    Output,
    RemotePath,
    StrictInput,
    ToolContext,
    ToolSpec,
)
from ssh_mcp.errors import InvalidArguments, RemoteError
from ssh_mcp.tools._anchored import refuse_in_flight
from ssh_mcp.tools._fields import field_details
from ssh_mcp.tools._progress import Throttle
from ssh_mcp.tools._tree import host_to_host

HOST_REF = (
    "alias from hosts.toml (see ssh_host_list), or a hostname that SSH_HOSTS_ALLOWLIST admits"
)


class TransferInput(StrictInput):
    src_host: Annotated[
        str,
        HostRef(),
        Field(
            description="Host to copy from (see ssh_host_list).",
            json_schema_extra={
                **field_details(
                    "An alias from hosts.toml, or a hostname that SSH_HOSTS_ALLOWLIST admits."
                ),
                SAID_ONCE: True,
            },
            min_length=1,
            max_length=253,
        ),
    ]
    src_path: Annotated[
        str,
        RemotePath(host="src_host", recursive=True),
        Field(
            description="File (or, with recursive, directory) on src_host (absolute or ~/).",
            json_schema_extra=field_details(
                "An existing regular file. Symlinks are resolved and the result must lie "
                "inside src_host's path allowlist.",
                listed=False,
            ),
            min_length=1,
        ),
    ]
    dst_host: Annotated[
        str,
        HostRef(),
        Field(
            description="Host to copy to; may equal src_host.",
            json_schema_extra=field_details(
                "An alias from hosts.toml (see ssh_host_list), or a hostname that "
                "SSH_HOSTS_ALLOWLIST admits.",
                listed=False,
            ),
            min_length=1,
            max_length=253,
        ),
    ]
    dst_path: Annotated[
        str,
        RemotePath(create=True, host="dst_host", recursive=True),
        Field(
            description="Full file path on dst_host, not a directory.",
            json_schema_extra=field_details(
                "Absolute or ~/…; its directory must exist and lie inside dst_host's path "
                "allowlist.",
                listed=False,
            ),
            min_length=1,
        ),
    ]
    recursive: bool = Field(
        False,
        description="Copy a directory; dst_path must be new.",
        json_schema_extra=field_details(
            "Streamed as one tar stream, landed whole by one rename; symlinks are copied as "
            "links. Caps: SSH_TRANSFER_MAX_ENTRIES and SSH_TRANSFER_MAX_BYTES."
        ),
    )
    overwrite: bool = Field(
        False,
        description="Replace dst_path if it exists.",
        json_schema_extra=field_details(
            "It keeps its mode; without overwrite an existing dst_path is an error.",
            listed=False,
        ),
    )


class TransferResult(Output):
    path: str = Field(description="Canonical destination path on dst_host.")
    size: int = Field(description="Bytes written.")
    mode: str = Field(description="Permission bits of the destination file in octal, e.g. 0644.")
    sha256: str = Field(description="SHA-256 of the bytes written, hex.")
    files: int | None = Field(None, description="Files in a tree.")


async def transfer(ctx: ToolContext, args: TransferInput) -> TransferResult:
    max_bytes = ctx.limits.transfer_max_bytes
    throttle = Throttle(ctx, "ssh_transfer")
    # One host on both ends: one channel slot and one SFTP session, so a host allowed a
    # single slot cannot wait on itself.
    same_host = ctx.on("src_host").host == ctx.on("dst_host").host
    if args.recursive:
        return await _transfer_tree(ctx, args, same_host, throttle)

    async def from_source(src: Remote) -> Written:
        size, src_mode = await src.regular_file(args.src_path, max_bytes)

        async def to_destination(dst: Remote) -> Written:
            # New file: the source's permission bits (as cp); a replaced one keeps its own.
            keep = await dst.existing_mode(args.dst_path) is not None
            async with src.read_stream(args.src_path, max_bytes=max_bytes) as chunks:
                return await dst.write_atomic(
                    args.dst_path,
                    chunks,
                    mode=None if keep else src_mode,
                    overwrite=args.overwrite,
                    max_bytes=max_bytes,
                    total=size,
                    progress=throttle,
                )

        if same_host:
            return await to_destination(src)
        # A half-sent stream cannot be sent again: a destination drop is reported (its temp
        # file removed over a fresh connection, or named). A source drop passes through
        # this run to the source's, which starts the copy over from byte 0.
        return await ctx.on("dst_host").remote(to_destination, replay=False)

    written = await ctx.on("src_host").remote(from_source, replay=True)
    await throttle.finish()
    return TransferResult(
        path=written.path, size=written.size, mode=f"{written.mode:04o}", sha256=written.sha256
    )


async def _transfer_tree(
    ctx: ToolContext, args: TransferInput, same_host: bool, throttle: Throttle
) -> TransferResult:
    src, dst = args.src_path, args.dst_path
    if args.overwrite:
        raise InvalidArguments("a directory transfer never replaces: drop overwrite")
    if same_host and (dst + "/").startswith(src.rstrip("/") + "/"):
        raise RemoteError(f"{dst} is inside {src}; copy a directory somewhere outside itself")
    refuse_in_flight(dst)
    tree = await host_to_host(
        ctx.on("src_host"), ctx.on("dst_host"), src, dst, temp_name(dst), same_host, throttle
    )
    await throttle.finish()
    return TransferResult(
        path=dst, size=tree.size, mode=f"{tree.mode:04o}", sha256="", files=tree.files
    )


TOOLS = (
    ToolSpec(
        name="ssh_transfer",
        title="Copy a file between hosts",
        description=(
            "Copy a file from src_host:src_path to dst_host:dst_path (a file path, not a "
            "directory); overwrite=true to replace it."
        ),
        details=(
            "Copied through this server, atomically. Returns the destination path, size, mode "
            "and sha256. The hosts may be the same. "
            "Size is limited only by SSH_TRANSFER_MAX_BYTES. A temp file next to the "
            "destination is renamed into place, so readers see the old file or the new one, "
            "never half. Reports progress for files over 1 MiB. Use ssh_upload to write "
            "content you have, ssh_sftp_download to fetch a file here."
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
