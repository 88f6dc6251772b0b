"""Read tier, group ``sftp-read``: download a file, hash a file remotely (ssh_find is
:mod:`ssh_mcp.tools.sftp_read.find`)."""

from __future__ import annotations

import hashlib
from typing import Annotated, Literal

from pydantic import Field

from ssh_mcp.core.access import Group, Tier
from ssh_mcp.core.remote import ProcessResult, Remote, Written
from ssh_mcp.core.spec import (
    HOST,
    READS,
    LocalPath,
    Output,
    RemotePath,
    StrictInput,
    ToolContext,
    ToolSpec,
)
from ssh_mcp.errors import CapExceeded, OperationTimeout, RemoteError
from ssh_mcp.tools._fields import CONFINED, UNLISTED, field_details, timeout_field
from ssh_mcp.tools._progress import Throttle
from ssh_mcp.tools._text import encode_bytes


def _stderr_lines(result: ProcessResult) -> list[str]:
    return bytes(result.stderr.head).decode("utf-8", "replace").strip().splitlines()


async def _stat(remote: Remote, path: str) -> int:
    """Size of ``path``; an error unless it is a regular file."""
    attrs = await remote.stat(path, action="stat")
    if not attrs.is_file:
        raise RemoteError(f"{path} is not a regular file; use ssh_sftp_stat or ssh_find for it")
    return attrs.size or 0


# -- ssh_sftp_download ------------------------------------------------------------------


class DownloadInput(StrictInput):
    host: str = HOST
    path: Annotated[
        str,
        RemotePath(),
        Field(
            description="File to read (absolute or ~/).",
            json_schema_extra=field_details(CONFINED, listed=False),
        ),
    ]
    local_path: Annotated[
        str | None,
        LocalPath(create=True),
        Field(
            description="Stream to this path on this server; omit to read inline.",
            json_schema_extra=field_details(
                "Absolute; for files over the inline cap. It must resolve inside "
                "SSH_LOCAL_TRANSFER_ROOTS (unset: refused)."
            ),
            min_length=1,
        ),
    ] = None
    overwrite: bool = Field(
        False,
        description="Replace an existing local_path.",
        json_schema_extra=field_details("Without it an existing file is kept.", listed=False),
    )


class Download(Output):
    path: str = Field(description="Canonical remote path (symlinks resolved).")
    size: int = Field(description="Bytes read; 0 for an empty file.")
    sha256: str = Field(description="SHA-256 of the bytes read, hex.")
    encoding: Literal["text", "base64"] | None = Field(
        None,
        description=(
            "Inline only: text when the file is UTF-8 without NUL bytes, else base64. "
            "Null when streamed to local_path."
        ),
    )
    content: str | None = Field(
        None, description="Inline only: the file content in the given encoding."
    )
    local_path: str | None = Field(
        None, description="Where the file was written (resolved), when local_path was given."
    )


def _inline_cap_message(path: str, size: int, cap: int, local_transfer: bool) -> str:
    how = (
        "pass local_path (inside SSH_LOCAL_TRANSFER_ROOTS) to stream it to disk"
        if local_transfer
        else "to stream it to disk with local_path the operator must set SSH_LOCAL_TRANSFER_ROOTS"
    )
    return (
        f"{path} is {size} bytes, over the inline cap of {cap} bytes (SSH_INLINE_MAX_BYTES); "
        f"{how}, or use ssh_file_hash to compare it without reading it"
    )


async def _download_inline(ctx: ToolContext, path: str, throttle: Throttle) -> Download:
    limits = ctx.limits
    cap = limits.inline_max_bytes

    async def op(remote: Remote) -> bytes:
        try:
            return await remote.read(path, max_bytes=cap, progress=throttle)
        except CapExceeded:
            size = await _stat(remote, path)
            raise CapExceeded(_inline_cap_message(path, size, cap, limits.local_transfer)) from None

    data = await ctx.remote(op, replay=True)
    await throttle.finish()
    encoding, content = encode_bytes(data)
    return Download(
        path=path,
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        encoding=encoding,
        content=content,
    )


async def _download_to(ctx: ToolContext, args: DownloadInput, throttle: Throttle) -> Download:
    local = str(args.local_path)
    max_bytes = ctx.limits.transfer_max_bytes

    async def op(remote: Remote) -> Written:
        try:
            return await remote.download(
                args.path, local, overwrite=args.overwrite, max_bytes=max_bytes, progress=throttle
            )
        except CapExceeded as exc:
            raise CapExceeded(f"{exc} (SSH_TRANSFER_MAX_BYTES); nothing written") from None

    # A replay starts over into a fresh local temp file; the target is only ever renamed into.
    written = await ctx.remote(op, replay=True)
    await throttle.finish()
    return Download(
        path=args.path, size=written.size, sha256=written.sha256, local_path=written.path
    )


async def sftp_download(ctx: ToolContext, args: DownloadInput) -> Download:
    throttle = Throttle(ctx, f"download {args.path}")
    if args.local_path is None:
        return await _download_inline(ctx, args.path, throttle)
    return await _download_to(ctx, args, throttle)


def render_download(out: Download) -> str:
    head = f"{out.path}: {out.size} bytes, sha256 {out.sha256}"
    if out.local_path is not None:
        return f"{head}, written to {out.local_path}"
    return f"{head}, encoding {out.encoding}\n{out.content}"


# -- ssh_file_hash ----------------------------------------------------------------------

Algorithm = Literal["md5", "sha1", "sha256", "sha512"]
_HEX_LEN = {"md5": 32, "sha1": 40, "sha256": 64, "sha512": 128}


class HashInput(StrictInput):
    host: str = HOST
    path: Annotated[
        str,
        RemotePath(),
        Field(
            description="File to hash (absolute or ~/).",
            json_schema_extra=field_details(
                "A regular file. Symlinks are resolved and the result must lie inside the "
                "host's path allowlist.",
                listed=False,
            ),
        ),
    ]
    algorithm: Algorithm = Field(
        "sha256", description="Digest algorithm.", json_schema_extra=UNLISTED
    )
    timeout: float | None = timeout_field(
        ("Seconds before hashing is stopped."), details="Default SSH_COMMAND_TIMEOUT."
    )


class HashResult(Output):
    path: str = Field(description="Canonical path (symlinks resolved).")
    algorithm: Algorithm = Field(description="The algorithm used.")
    digest: str = Field(description="Lowercase hex digest of the file's content.")
    size: int = Field(description="Size in bytes, from a stat just before hashing.")


async def file_hash(ctx: ToolContext, args: HashInput) -> HashResult:
    size = await ctx.remote(lambda remote: _stat(remote, args.path), replay=True)
    timeout = args.timeout or ctx.command_timeout
    result = await ctx.run([f"{args.algorithm}sum", "--", args.path], timeout=timeout)
    if result.timed_out:
        raise OperationTimeout(
            f"{args.algorithm}sum did not finish within {timeout:g}s; raise timeout"
        )
    out = result.stdout.kept.decode("utf-8", "replace")
    # GNU prefixes the line with a backslash when the name needed escaping.
    digest = out.split(maxsplit=1)[0].lstrip("\\").lower() if out.strip() else ""
    if result.exit_code != 0 or len(digest) != _HEX_LEN[args.algorithm]:
        why = (_stderr_lines(result) or [f"exit status {result.exit_code}"])[0][:300]
        raise RemoteError(f"{args.algorithm}sum failed on the host: {why}")
    return HashResult(path=args.path, algorithm=args.algorithm, digest=digest, size=size)


TOOLS = (
    ToolSpec(
        name="ssh_sftp_download",
        title="Download a file",
        description=(
            "Read a file inline (text, else base64) up to SSH_INLINE_MAX_BYTES, or stream it to"
            " local_path."
        ),
        details=(
            "An existing local file is never replaced unless overwrite=true. Returns path, size"
            " and sha256. A file over the inline cap is an error, not a partial read. "
            "local_path must lie inside SSH_LOCAL_TRANSFER_ROOTS; the file lands there "
            "atomically. Transfers over 1 MiB report progress."
        ),
        tier=Tier.READ,
        group=Group.SFTP_READ,
        input=DownloadInput,
        output=Download,
        annotations=READS,
        handler=sftp_download,
        render=render_download,
        long_running=True,
        audit_bytes="size",
    ),
    ToolSpec(
        name="ssh_file_hash",
        title="Hash a file",
        description="Hash a file on the host; returns digest and size. Use it to compare files.",
        details="Nothing is transferred. Use it to verify a transfer too.",
        tier=Tier.READ,
        group=Group.SFTP_READ,
        input=HashInput,
        output=HashResult,
        annotations=READS,
        handler=file_hash,
    ),
)
