"""Read tier, group ``sftp-read``: list and stat remote paths over SFTP."""

from __future__ import annotations

import stat as statmod
from typing import Annotated

from pydantic import Field

from ssh_mcp.core.access import Group, Tier
from ssh_mcp.core.remote import DirEntry, FileAttrs, Remote
from ssh_mcp.core.spec import (
    HOST,
    READS,
    Output,
    RemotePath,
    StrictInput,
    ToolContext,
    ToolSpec,
)
from ssh_mcp.tools._fields import CONFINED, Entry, Kind, field_details, kind_of, utc_stamp
from ssh_mcp.tools._pages import OFFSET, limit_field
from ssh_mcp.tools._text import decode


class PathInput(StrictInput):
    host: str = HOST
    path: Annotated[
        str,
        RemotePath(),
        Field(
            description="Absolute or ~/ path.",
            json_schema_extra=field_details(CONFINED, listed=False),
            min_length=1,
        ),
    ]


class ListInput(PathInput):
    offset: int = OFFSET
    limit: int = limit_field()


class Listing(Output):
    path: str = Field(description="Canonical directory path.")
    entries: list[Entry] = Field(description="Entries sorted by name.")
    total: int = Field(description="Entries in the directory.")
    next_offset: int | None = Field(description="Offset of the next page; null on the last.")


async def sftp_list(ctx: ToolContext, args: ListInput) -> Listing:
    async def op(remote: Remote) -> list[DirEntry]:
        return await remote.listdir(args.path, action="list")

    names = sorted(await ctx.remote(op, replay=True), key=lambda n: n.name)
    page = names[args.offset : args.offset + args.limit]
    end = args.offset + len(page)
    return Listing(
        path=args.path,
        entries=[
            Entry(
                name=n.name,
                kind=kind_of(n.attrs.mode),
                size=n.attrs.size,
                mode=f"{statmod.S_IMODE(n.attrs.mode):04o}" if n.attrs.mode else None,
                mtime=utc_stamp(n.attrs.mtime),
            )
            for n in page
        ],
        total=len(names),
        next_offset=end if end < len(names) else None,
    )


class StatResult(Output):
    path: str = Field(description="Canonical path (symlinks resolved).")
    kind: Kind = Field(description="file, dir, symlink or other.")
    size: int | None = Field(description="Size in bytes.")
    mode: str | None = Field(description="Permission bits in octal.")
    uid: int | None = Field(description="Owner uid.")
    gid: int | None = Field(description="Group gid.")
    owner: str | None = Field(description="Owner's user name, when the host can tell.")
    group: str | None = Field(description="Group name, when the host can tell.")
    mtime: str | None = Field(description="Modification time (RFC 3339 UTC).")
    atime: str | None = Field(description="Access time (RFC 3339 UTC).")


async def sftp_stat(ctx: ToolContext, args: PathInput) -> StatResult:
    async def op(remote: Remote) -> FileAttrs:
        return await remote.stat(args.path, action="stat")

    attrs = await ctx.remote(op, replay=True)
    # SFTP v3 carries ids only; names come from stat(1), best effort (GNU and busybox).
    names = await ctx.run(["stat", "-L", "-c", "%U %G", "--", args.path])
    words: list[str | None] = [*decode(names.stdout).split()] if names.exit_code == 0 else []
    owner, group = [*words, None, None][:2]
    return StatResult(
        path=args.path,
        kind=kind_of(attrs.mode),
        size=attrs.size,
        mode=f"{statmod.S_IMODE(attrs.mode):04o}" if attrs.mode else None,
        uid=attrs.uid,
        gid=attrs.gid,
        owner=owner,
        group=group,
        mtime=utc_stamp(attrs.mtime),
        atime=utc_stamp(attrs.atime),
    )


TOOLS = (
    ToolSpec(
        name="ssh_sftp_list",
        title="List a directory",
        description="List a directory by name, a page at a time.",
        details="Pass next_offset as offset for the next page. Each entry has name, kind, size, "
        "mode and mtime.",
        tier=Tier.READ,
        group=Group.SFTP_READ,
        input=ListInput,
        output=Listing,
        annotations=READS,
        handler=sftp_list,
    ),
    ToolSpec(
        name="ssh_sftp_stat",
        title="Stat a path",
        description=(
            "Return a path's kind, size, mode, owner and times. For contents use ssh_sftp_list."
        ),
        details="Symlinks are resolved.",
        tier=Tier.READ,
        group=Group.SFTP_READ,
        input=PathInput,
        output=StatResult,
        annotations=READS,
        handler=sftp_stat,
    ),
)
