"""Read tier, group ``sftp-read``: download a file, find in a tree, hash a file remotely."""

from __future__ import annotations

import hashlib
import stat as statmod
from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import Field, field_validator

from ssh_mcp.access import Group, Tier
from ssh_mcp.errors import CapExceeded, OperationTimeout, RemoteError
from ssh_mcp.spec import (
    HOST,
    LocalPath,
    Output,
    RemotePath,
    StrictInput,
    ToolContext,
    ToolSpec,
)
from ssh_mcp.ssh.pool import PooledConnection
from ssh_mcp.ssh.process import ProcessResult
from ssh_mcp.ssh.sftp import sftp_error
from ssh_mcp.ssh.transfer import Written, download_atomic, read_chunks
from ssh_mcp.tools._progress import Throttle
from ssh_mcp.tools._text import encode_bytes
from ssh_mcp.tools.sftp_read import PATH_DESCRIPTION, READ, Kind

if TYPE_CHECKING:
    import asyncssh
else:
    from ssh_mcp.ssh._lazy import asyncssh

TIMEOUT_DESCRIPTION = "Seconds before the remote command is stopped. Default SSH_COMMAND_TIMEOUT."


def _stderr_lines(result: ProcessResult) -> list[str]:
    return bytes(result.stderr.head).decode("utf-8", "replace").strip().splitlines()


async def _stat(pc: PooledConnection, path: str, want_dir: bool = False) -> int:
    """Size of ``path``; an error unless it is a regular file (a directory if ``want_dir``)."""
    sftp = await pc.sftp()
    try:
        mode, size = (a := await sftp.stat(path)).permissions or 0, a.size or 0
    except asyncssh.SFTPError as exc:
        raise sftp_error(exc, "stat") from None
    if want_dir and not statmod.S_ISDIR(mode):
        raise RemoteError(f"{path} is not a directory; use ssh_sftp_stat for a single path")
    if not want_dir and not statmod.S_ISREG(mode):
        raise RemoteError(f"{path} is not a regular file; use ssh_sftp_stat or ssh_find for it")
    return size


# -- ssh_sftp_download ------------------------------------------------------------------


class DownloadInput(StrictInput):
    host: str = HOST
    path: Annotated[
        str, RemotePath(), Field(description="Remote file to read. " + PATH_DESCRIPTION)
    ]
    local_path: Annotated[
        str | None,
        LocalPath(create=True),
        Field(
            description=(
                "Absolute path on the MCP server's own disk to stream the file to, for files "
                "over the inline cap. It must resolve inside SSH_LOCAL_TRANSFER_ROOTS "
                "(unset: refused). Omit it to get the content inline."
            ),
            min_length=1,
        ),
    ] = None
    overwrite: bool = Field(
        False, description="Replace an existing local_path; without it an existing file is kept."
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

    async def op(pc: PooledConnection) -> bytes:
        sftp = await pc.sftp()
        try:
            chunks = read_chunks(sftp, path, max_bytes=cap, progress=throttle)
            return b"".join([c async for c in chunks])
        except CapExceeded:
            size = await _stat(pc, path)
            raise CapExceeded(_inline_cap_message(path, size, cap, limits.local_transfer)) from None

    data = await ctx.with_connection(op)
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

    async def op(pc: PooledConnection) -> Written:
        sftp = await pc.sftp()
        try:
            return await download_atomic(
                sftp,
                args.path,
                local,
                overwrite=args.overwrite,
                max_bytes=max_bytes,
                progress=throttle,
            )
        except CapExceeded as exc:
            raise CapExceeded(f"{exc} (SSH_TRANSFER_MAX_BYTES); nothing written") from None
        except ConnectionError:
            raise
        except OSError as exc:
            raise RemoteError(
                f"writing local_path {local} failed: {exc.strerror or exc}; nothing written"
            ) from None

    written = await ctx.with_connection(op)
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


# -- ssh_find ---------------------------------------------------------------------------

_KINDS: dict[str, Kind] = {"f": "file", "d": "dir", "l": "symlink"}
_TYPE_FLAG = {"file": "f", "dir": "d", "symlink": "l"}
#: Runs find and keeps only the first N NUL-terminated records: head's exit stops find
#: with SIGPIPE, so a huge tree costs no more than the entries asked for. Every operand
#: is a positional parameter, never part of the script.
_FIND_SCRIPT = 'n=$1; shift; find "$@" | head -z -n "$n"'


class FindInput(StrictInput):
    host: str = HOST
    path: Annotated[
        str,
        RemotePath(recursive=True),
        Field(
            description=(
                "Directory to search below. " + PATH_DESCRIPTION + " A tree that contains a "
                "restricted zone is refused; search a subtree beside the zone."
            )
        ),
    ]
    name_pattern: str | None = Field(
        None,
        min_length=1,
        max_length=255,
        description=(
            "Shell glob matched against the entry's name only (find -name), e.g. '*.log'. "
            "Must not start with '-' or contain '/'. Omit to match every name."
        ),
    )
    kind: Literal["file", "dir", "symlink"] | None = Field(
        None, description="Only entries of this kind (links are never followed). Omit for all."
    )
    max_depth: int = Field(
        5, ge=1, le=20, description="Levels below path to descend (1 = its entries)."
    )
    limit: int = Field(200, ge=1, le=5000, description="Entries to return at most.")
    timeout: float | None = Field(None, gt=0, le=3600, description=TIMEOUT_DESCRIPTION)

    @field_validator("name_pattern")
    @classmethod
    def _plain_glob(cls, value: str | None) -> str | None:
        if value is not None and (value.startswith("-") or "/" in value or "\0" in value):
            raise ValueError("give a glob for the name only: no leading '-', no '/', no NUL")
        return value


class FoundEntry(Output):
    path: str = Field(description="Full path (as found, symlinks not resolved).")
    kind: Kind = Field(description="file, dir, symlink or other.")
    size: int = Field(description="Size in bytes (of the link itself for a symlink).")


class FindResult(Output):
    path: str = Field(description="Canonical directory searched.")
    entries: list[FoundEntry] = Field(description="Matches, sorted by path.")
    truncated: bool = Field(
        description="True when more matches exist than returned: narrow the search."
    )
    limit: int = Field(description="The limit applied to this search.")
    warnings: list[str] = Field(
        description="find's complaints, e.g. unreadable subdirectories (first 5)."
    )


def _find_argv(args: FindInput) -> list[str]:
    argv = ["sh", "-c", _FIND_SCRIPT, "sh", str(args.limit + 1)]  # then find's own argv:
    argv += ["-P", args.path, "-mindepth", "1", "-maxdepth", str(args.max_depth)]
    if args.name_pattern is not None:
        argv += ["-name", args.name_pattern]
    if args.kind is not None:
        argv += ["-type", _TYPE_FLAG[args.kind]]
    return [*argv, "-printf", "%y\\t%s\\t%p\\0"]


def _parse_found(raw: bytes) -> list[FoundEntry]:
    entries = []
    for record in raw.split(b"\0"):
        kind, sep1, rest = record.partition(b"\t")
        size, sep2, path = rest.partition(b"\t")
        if not (sep1 and sep2 and size.isdigit()):
            continue  # a record cut by the stdout cap
        entries.append(
            FoundEntry(
                path=path.decode("utf-8", "replace"),
                kind=_KINDS.get(kind.decode("ascii", "replace"), "other"),
                size=int(size),
            )
        )
    return entries


async def find(ctx: ToolContext, args: FindInput) -> FindResult:
    await ctx.with_connection(lambda pc: _stat(pc, args.path, want_dir=True))
    timeout = args.timeout or ctx.command_timeout
    result = await ctx.run(_find_argv(args), timeout=timeout)
    if result.timed_out:
        raise OperationTimeout(
            f"find did not finish within {timeout:g}s; lower max_depth, add name_pattern or "
            "kind, or raise timeout"
        )
    cut = result.stdout.truncated
    # Only whole records count: the head part of a capped buffer, up to its last NUL.
    raw = bytes(result.stdout.head) if cut else result.stdout.kept
    raw = raw[: raw.rfind(b"\0") + 1]
    entries = _parse_found(raw)
    stderr = _stderr_lines(result)
    if not entries and stderr:
        raise RemoteError(f"find failed: {stderr[0][:300]}")
    truncated = cut or len(entries) > args.limit
    return FindResult(
        path=args.path,
        entries=sorted(entries[: args.limit], key=lambda e: e.path),
        truncated=truncated,
        limit=args.limit,
        warnings=[line[:300] for line in stderr[:5]],
    )


def render_find(out: FindResult) -> str:
    lines = [f"{e.kind}\t{e.size}\t{e.path}" for e in out.entries]
    more = f"; truncated at limit {out.limit}, narrow the search" if out.truncated else ""
    return "\n".join([f"{len(out.entries)} entries under {out.path}{more}", *lines])


# -- ssh_file_hash ----------------------------------------------------------------------

Algorithm = Literal["md5", "sha1", "sha256", "sha512"]
_HEX_LEN = {"md5": 32, "sha1": 40, "sha256": 64, "sha512": 128}


class HashInput(StrictInput):
    host: str = HOST
    path: Annotated[
        str, RemotePath(), Field(description="Remote regular file to hash. " + PATH_DESCRIPTION)
    ]
    algorithm: Algorithm = Field("sha256", description="md5, sha1, sha256 or sha512.")
    timeout: float | None = Field(None, gt=0, le=3600, description=TIMEOUT_DESCRIPTION)


class HashResult(Output):
    path: str = Field(description="Canonical path (symlinks resolved).")
    algorithm: Algorithm = Field(description="The algorithm used.")
    digest: str = Field(description="Lowercase hex digest of the file's content.")
    size: int = Field(description="Size in bytes, from a stat just before hashing.")


async def file_hash(ctx: ToolContext, args: HashInput) -> HashResult:
    size = await ctx.with_connection(lambda pc: _stat(pc, args.path))
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
            "Read a remote file over SFTP. Without local_path the content comes back inline "
            "(encoding text for UTF-8, else base64) up to SSH_INLINE_MAX_BYTES; a larger file "
            "is an error, not a partial read. With local_path the file streams to the MCP "
            "server's disk (inside SSH_LOCAL_TRANSFER_ROOTS) atomically, never replacing a "
            "file unless overwrite=true. Always returns path, size and sha256. Transfers over "
            "1 MiB report progress."
        ),
        tier=Tier.READ,
        group=Group.SFTP_READ,
        input=DownloadInput,
        output=Download,
        annotations=READ,
        handler=sftp_download,
        render=render_download,
        long_running=True,
        audit_bytes="size",
    ),
    ToolSpec(
        name="ssh_find",
        title="Find files in a tree",
        description=(
            "Search a remote directory tree (GNU find, links not followed) by name glob and "
            "kind, down to max_depth, returning up to limit entries with path, kind and size. "
            "truncated=true means more matched: narrow the search. Use ssh_sftp_list for one "
            "directory."
        ),
        tier=Tier.READ,
        group=Group.SFTP_READ,
        input=FindInput,
        output=FindResult,
        annotations=READ,
        handler=find,
        render=render_find,
    ),
    ToolSpec(
        name="ssh_file_hash",
        title="Hash a file",
        description=(
            "Compute a file's md5, sha1, sha256 or sha512 on the host itself (nothing is "
            "transferred) and return the hex digest and size. Use it to compare files or "
            "verify a transfer."
        ),
        tier=Tier.READ,
        group=Group.SFTP_READ,
        input=HashInput,
        output=HashResult,
        annotations=READ,
        handler=file_hash,
    ),
)
