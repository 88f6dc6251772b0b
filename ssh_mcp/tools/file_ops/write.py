"""Low-access tier, group ``file-ops``: atomic uploads, deploys with a backup, edits, patches.

Every write goes through :meth:`Remote.write_atomic <ssh_mcp.core.remote.Remote>`: a hidden
temp file next to the target, fsynced, given its mode, then renamed into
place, so the target is always the old file or the new one. Without ``mode``
the existing permission bits are kept, never setuid, setgid or sticky: the new
inode is the login's (0644 for a new file; DECISIONS.md 86). Edits and patches read the
file whole, up to ``EDIT_FACTOR`` times SSH_INLINE_MAX_BYTES (8 MiB by default),
change it in memory, and are refused when the file changed in between.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any, Self

from pydantic import Field, model_validator

from ssh_mcp.core.access import Group, Tier
from ssh_mcp.core.remote import Remote, Stamp, Written
from ssh_mcp.core.spec import (
    CHANGES,
    CHANGES_IDEMPOTENT,
    HOST,
    LocalPath,
    Output,
    RemotePath,
    StrictInput,
    ToolContext,
    ToolSpec,
)
from ssh_mcp.errors import CapExceeded, InvalidArguments, RemoteError
from ssh_mcp.tools._fields import (
    CONFINED,
    ContentBase64,
    ContentText,
    FileMode,
    NewString,
    Occurrence,
    OldString,
    Overwrite,
    check_content,
    field_details,
)
from ssh_mcp.tools._patch import PatchError, apply, decode_text, parse, replace_exact
from ssh_mcp.tools._progress import Throttle
from ssh_mcp.tools._tree import UPLOAD_RECURSIVE, upload_tree

#: Edits and patches hold the file in memory: at most this many times the inline cap.
EDIT_FACTOR = 8
#: Backups per second per file before deploy gives up (``.bak-<stamp>``, ``-1`` … ``-9``).
BACKUP_SLOTS = 10

#: The ``path`` of ssh_edit and ssh_patch.
TEXT_PATH = Field(
    description="UTF-8 text file to change (absolute or ~/).",
    json_schema_extra=field_details(
        "It must exist and lie inside the host's path allowlist; symlinks are resolved and the "
        "file they point to is changed.",
        listed=False,
    ),
    min_length=1,
)


class _SourceInput(StrictInput):
    host: str = HOST
    path: Annotated[
        str,
        RemotePath(create=True, recursive=True),  # a tree upload: no zone may lie inside
        Field(
            description="File to write (absolute or ~/); its directory must exist.",
            json_schema_extra=field_details(CONFINED, listed=False),
            min_length=1,
        ),
    ]
    # ssh_upload's and ssh_deploy's descriptions say to give exactly one content source.
    content_text: ContentText = None
    content_base64: ContentBase64 = None
    local_path: Annotated[
        str | None,
        LocalPath(),
        Field(
            description="File on this server's disk to send, for large content.",
            json_schema_extra=field_details(
                "Absolute; for content over SSH_INLINE_MAX_BYTES. It must resolve inside "
                "SSH_LOCAL_TRANSFER_ROOTS (unset: refused). Streamed, with progress.",
                listed=False,
            ),
        ),
    ] = None
    mode: FileMode = None

    @model_validator(mode="after")
    def _one_source(self) -> Self:
        check_content(self, ("content_text", "content_base64", "local_path"))
        return self


class UploadInput(_SourceInput):
    overwrite: Overwrite = False
    recursive: bool = UPLOAD_RECURSIVE


class DeployInput(_SourceInput):
    pass


class EditInput(StrictInput):
    host: str = HOST
    path: Annotated[str, RemotePath(), TEXT_PATH]
    old_string: OldString
    new_string: NewString
    occurrence: Occurrence = "single"

    @model_validator(mode="after")
    def _changes(self) -> Self:
        if self.old_string == self.new_string:
            raise ValueError("old_string and new_string are the same; there is nothing to change")
        return self


class PatchInput(StrictInput):
    host: str = HOST
    path: Annotated[str, RemotePath(), TEXT_PATH]
    unified_diff: str = Field(
        min_length=1,
        description="Unified diff of this file, numbered as the file is now.",
        json_schema_extra=field_details(
            "Optional ---/+++ lines (their names are ignored), then hunks `@@ -start,count "
            "+start,count @@` whose lines start with ' ', '-' or '+'.",
            listed=False,
        ),
    )


class WriteResult(Output):
    path: str = Field(description="Canonical path written (symlinks resolved).")
    size: int = Field(description="Bytes written.")
    mode: str = Field(description="Resulting permission bits in octal, e.g. 0644.")
    sha256: str = Field(description="SHA-256 of the bytes written, hex.")


class DeployResult(WriteResult):
    backup_path: str | None = Field(
        description=(
            "Where the previous file was copied, <path>.bak-<UTC yyyymmddThhmmssZ>; null when "
            "there was no previous file."
        )
    )


class EditResult(WriteResult):
    replacements: int = Field(description="How many occurrences of old_string were replaced.")


class PatchResult(WriteResult):
    hunks: int = Field(description="How many hunks were applied (all of them, or none).")


def _fields(w: Written) -> dict[str, object]:
    return {"path": w.path, "size": w.size, "mode": f"{w.mode:04o}", "sha256": w.sha256}


def _render(out: WriteResult) -> str:
    extra = out.model_dump(exclude=set(WriteResult.model_fields))
    tail = "".join(f"; {k} {'null' if v is None else v}" for k, v in extra.items())
    return f"wrote {out.size} bytes to {out.path} (mode {out.mode}, sha256 {out.sha256}){tail}"


def _source(ctx: ToolContext, args: _SourceInput) -> bytes | str:
    """The content as bytes (inline, capped) or the confined local file path."""
    if args.local_path is not None:
        if not os.path.isfile(args.local_path):
            raise InvalidArguments(f"local_path {args.local_path} is not a regular file")
        if not os.access(args.local_path, os.R_OK):
            raise InvalidArguments(f"local_path {args.local_path} is not readable by the server")
        return args.local_path
    if args.content_text is not None:
        data = args.content_text.encode("utf-8")  # JSON strings cannot hold lone surrogates
    else:
        data = base64.b64decode(args.content_base64 or "")
    cap = ctx.limits.inline_max_bytes
    if len(data) > cap:
        raise CapExceeded(
            f"the content is {len(data)} bytes, over SSH_INLINE_MAX_BYTES ({cap}) for inline "
            "content; save it under SSH_LOCAL_TRANSFER_ROOTS and pass local_path instead"
        )
    return data


async def _backup(remote: Remote, path: str, max_bytes: int) -> str:
    """Copy ``path`` atomically to a fresh ``<path>.bak-<UTC stamp>[-n]``; its name."""
    base = f"{path}.bak-{datetime.now(UTC):%Y%m%dT%H%M%SZ}"
    for n in range(BACKUP_SLOTS):
        name = f"{base}-{n}" if n else base
        if await remote.lstat(name) is None:
            _, mode = await remote.regular_file(path, max_bytes)
            await remote.copy_as_cp(path, name, src_mode=mode, overwrite=False, max_bytes=max_bytes)
            return name
    raise RemoteError(f"{BACKUP_SLOTS} backups of {path} exist for this second; retry in a second")


async def _send(
    ctx: ToolContext, args: _SourceInput, *, overwrite: bool, backup: bool
) -> tuple[Written, str | None]:
    """Write the source to ``args.path``, first copying an existing file aside if ``backup``."""
    source = _source(ctx, args)
    throttle = Throttle(ctx, f"{'deploy' if backup else 'upload'} {args.path}")
    cap = ctx.limits.transfer_max_bytes

    async def op(remote: Remote) -> tuple[Written, str | None]:
        saved = None
        if backup and await remote.existing_mode(args.path) is not None:
            saved = await _backup(remote, args.path, cap)
        mode = None if args.mode is None else int(args.mode, 8)
        written = await remote.write_atomic(
            args.path, source, mode=mode, overwrite=overwrite, max_bytes=cap, progress=throttle
        )
        return written, saved

    result = await ctx.remote(op, replay=False)
    await throttle.finish()
    return result


async def upload(ctx: ToolContext, args: UploadInput) -> WriteResult:
    if args.recursive:
        return WriteResult.model_validate(await upload_tree(ctx, args.local_path, args.path, args))
    written, _ = await _send(ctx, args, overwrite=args.overwrite, backup=False)
    return WriteResult.model_validate(_fields(written))


async def deploy(ctx: ToolContext, args: DeployInput) -> DeployResult:
    written, saved = await _send(ctx, args, overwrite=True, backup=True)
    return DeployResult.model_validate({**_fields(written), "backup_path": saved})


async def _rewrite(
    ctx: ToolContext, path: str, change: Callable[[str], tuple[str, int]]
) -> tuple[Written, int]:
    """Read ``path`` as text, ``change`` it, write it back keeping the mode; refused if it moved."""
    cap = min(ctx.limits.inline_max_bytes * EDIT_FACTOR, ctx.limits.transfer_max_bytes)

    async def read(remote: Remote) -> tuple[Stamp, bytes]:
        before = await remote.stamp(path)
        return before, await remote.read(path, max_bytes=cap)

    try:
        before, data = await ctx.remote(read, replay=True)
    except CapExceeded:
        raise CapExceeded(
            f"{path} is over the {cap}-byte limit for in-place changes ({EDIT_FACTOR} x "
            "SSH_INLINE_MAX_BYTES); download it with ssh_sftp_download local_path, change it "
            "there and send it back with ssh_upload"
        ) from None
    changed, count = change(decode_text(data, path))
    # The stamp taken before the read guards the write: another writer in between wins.
    written = await ctx.remote(
        lambda remote: remote.write_atomic(
            path,
            changed.encode("utf-8"),
            mode=None,
            overwrite=True,
            max_bytes=ctx.limits.transfer_max_bytes,
            expect=before,
        ),
        replay=False,
    )
    return written, count


async def edit(ctx: ToolContext, args: EditInput) -> EditResult:
    def change(text: str) -> tuple[str, int]:
        every = args.occurrence == "all"
        return replace_exact(text, args.old_string, args.new_string, every=every, path=args.path)

    written, count = await _rewrite(ctx, args.path, change)
    return EditResult.model_validate({**_fields(written), "replacements": count})


async def patch(ctx: ToolContext, args: PatchInput) -> PatchResult:
    try:
        hunks = parse(args.unified_diff)
    except PatchError as exc:
        raise InvalidArguments(f"unified_diff: {exc}; {args.path} is unchanged") from None

    def change(text: str) -> tuple[str, int]:
        try:
            return apply(text, hunks), len(hunks)
        except PatchError as exc:
            raise RemoteError(
                f"{exc}; {args.path} is unchanged. Re-read the file and rebuild the diff against "
                "its current content"
            ) from None

    written, count = await _rewrite(ctx, args.path, change)
    return PatchResult.model_validate({**_fields(written), "hunks": count})


def _spec(**kw: Any) -> ToolSpec[Any, Any]:
    """A ``file-ops`` write tool: low-access tier, size in the audit, the one text rendering."""
    return ToolSpec(
        tier=Tier.LOW_ACCESS, group=Group.FILE_OPS, render=_render, audit_bytes="size", **kw
    )


TOOLS = (
    _spec(
        name="ssh_upload",
        title="Upload a file",
        description=(
            "Write a file from one of content_text, content_base64 or local_path (on this "
            "server); overwrite=true to replace one."
        ),
        details=(
            "Give exactly one content source. For a backup use ssh_deploy; to change part of a "
            "file, ssh_edit or ssh_patch. Returns path, size, mode and sha256. Temp file, fsync, "
            "rename: readers see the old file or the new one, never a partial one. local_path, a "
            "file on this server's disk, is for large files, streamed with progress. A replaced "
            "file keeps its mode unless mode is given."
        ),
        input=UploadInput,
        output=WriteResult,
        annotations=CHANGES_IDEMPOTENT,
        handler=upload,
        long_running=True,
    ),
    _spec(
        name="ssh_deploy",
        title="Deploy a file with a backup",
        description=(
            "Replace a file, first copying the old one to backup_path. Roll back by deploying "
            "the backup."
        ),
        details=(
            "Atomic. backup_path is null if the file was new. The backup is <path>.bak-<UTC "
            "yyyymmddThhmmssZ>. Returns backup_path plus path, size, mode and sha256. The new "
            "content is written like ssh_upload (overwrite implied; the mode is kept unless mode "
            "is given). ssh_mv can roll back too."
        ),
        input=DeployInput,
        output=DeployResult,
        annotations=CHANGES,
        handler=deploy,
        long_running=True,
    ),
    _spec(
        name="ssh_edit",
        title="Edit a text file",
        description=(
            "Replace exact text in a UTF-8 file. With occurrence=single, old_string must occur "
            "exactly once. For many changes use ssh_patch."
        ),
        details=(
            "Atomic: if old_string does not occur as occurrence requires, nothing is written. Use "
            "ssh_upload for rewrites. old_string must match exactly, whitespace included, and "
            "under occurrence=single exactly once. The file keeps its mode; the error gives the "
            "match count. Returns path, size, mode, sha256 and replacements. ssh_upload also "
            "handles binary files."
        ),
        input=EditInput,
        output=EditResult,
        annotations=CHANGES,
        handler=edit,
    ),
    _spec(
        name="ssh_patch",
        title="Patch a text file",
        description=(
            "Apply a unified diff, numbered as the file is now (no fuzz), to one UTF-8 file; if "
            "a hunk fails nothing is written."
        ),
        details=(
            "Atomic. Use ssh_edit for a single replacement. Every context and removed line must "
            "match at the line numbers of its hunk header; the error names the hunk and the first "
            "line that differs. Names in ---/+++ lines are ignored: the target is path. The file "
            "keeps its mode. Returns path, size, mode, sha256 and hunks."
        ),
        input=PatchInput,
        output=PatchResult,
        annotations=CHANGES,
        handler=patch,
    ),
)
