"""Low-access tier, group ``file-ops``: make directories, delete, copy, move and link.

Dispatch has canonicalized and confined every path, both ends of the two-path
tools, and refused a tree that holds a restricted zone. Tools that act on a
link itself (delete, move, the new link) get the path with its final
component kept as named (``RemotePath(follow=False)``). ``ssh_cp`` lives in
:mod:`ssh_mcp.tools.file_ops.copy`. Deleting a folder and moving run on the host relative
to verified directory handles (:mod:`ssh_mcp.tools._anchored`), so a directory or
ancestor swapped for a symlink meanwhile cannot redirect them outside the allowlist;
so does deleting a file.
"""

from __future__ import annotations

import posixpath
from typing import Annotated

from pydantic import Field

from ssh_mcp.core.access import Group, Tier
from ssh_mcp.core.remote import Remote
from ssh_mcp.core.spec import (
    ADDS,
    CHANGES,
    HOST,
    Output,
    RemotePath,
    StrictInput,
    ToolContext,
    ToolSpec,
)
from ssh_mcp.errors import RemoteError
from ssh_mcp.tools._anchored import (
    SAMPLE,
    delete_tree,
    hard_link,
    move,
    refuse_in_flight,
    unlink,
)
from ssh_mcp.tools._fields import INSIDE, UNLISTED, Kind, field_details, kind_of
from ssh_mcp.tools.file_ops._shared import inside, octal, quietly

#: mkdir adds a directory and overwrites nothing: not destructive, and idempotent with parents.


# -- ssh_mkdir ------------------------------------------------------------------------

ModeText = Annotated[str, Field(pattern=r"^0?[0-7]{3}$")]


class MkdirInput(StrictInput):
    host: str = HOST
    path: Annotated[
        str,
        RemotePath(create=True),
        Field(
            description="Directory to create (absolute or ~/).",
            json_schema_extra=INSIDE,
            min_length=1,
        ),
    ]
    parents: bool = Field(
        False,
        description="Create missing parents; an existing directory is fine (mkdir -p).",
        json_schema_extra=UNLISTED,
    )
    mode: ModeText | None = Field(
        None,
        description='Octal mode, e.g. "0750", for the new directory.',
        json_schema_extra=field_details(
            "Parents get the default. Default: 0777 minus the server's umask.", listed=False
        ),
    )


class MkdirResult(Output):
    path: str = Field(description="Canonical path of the directory.")
    mode: str = Field(description="Its permission bits in octal.")
    created: list[str] = Field(description="Directories created, outermost first; [] if none.")


async def mkdir(ctx: ToolContext, args: MkdirInput) -> MkdirResult:
    async def op(remote: Remote) -> MkdirResult:
        missing: list[str] = []
        here = args.path
        while here != "/" and await remote.lstat(here, action="mkdir") is None:
            missing.insert(0, here)
            here = posixpath.dirname(here)
        if not missing and not args.parents:
            raise RemoteError(f"{args.path} already exists; pass parents=true to accept that")
        if len(missing) > 1 and not args.parents:
            raise RemoteError(f"the parent of {args.path} does not exist; pass parents=true")
        for path in missing:
            await remote.mkdir(path)
        if missing and args.mode is not None:
            await remote.chmod(args.path, int(args.mode, 8), action="mkdir")
        attrs = await remote.lstat(args.path, action="mkdir")
        if attrs is None:
            raise RemoteError("mkdir failed: no such file or directory; check the path")
        if not attrs.is_dir:
            raise RemoteError(f"{args.path} exists and is not a directory")
        return MkdirResult(path=args.path, mode=octal(attrs.mode or 0), created=missing)

    return await ctx.remote(op, replay=False)


# -- ssh_delete -----------------------------------------------------------------------


class DeleteInput(StrictInput):
    host: str = HOST
    path: Annotated[
        str,
        RemotePath(follow=False),
        Field(
            description="File or symlink to delete (absolute or ~/).",
            json_schema_extra=field_details(
                "It must lie inside the host's path allowlist. A symlink is deleted itself, "
                "never its target.",
                listed=False,
            ),
            min_length=1,
        ),
    ]


class DeleteResult(Output):
    path: str = Field(description="Canonical path that was deleted.")
    kind: Kind = Field(description="What it was: file, symlink or other.")
    size: int | None = Field(description="Its size in bytes.")


async def delete(ctx: ToolContext, args: DeleteInput) -> DeleteResult:
    # From the verified parent (_anchored): a parent swapped for a symlink after dispatch's
    # check cannot turn this into the removal of a same-named file outside the allowlist.
    perm, size = await unlink(ctx, args.path)
    return DeleteResult(path=args.path, kind=kind_of(perm), size=size)


# -- ssh_delete_folder ----------------------------------------------------------------


class DeleteFolderInput(StrictInput):
    host: str = HOST
    path: Annotated[
        str,
        RemotePath(recursive=True, follow=False),
        Field(
            description="Directory to delete (absolute or ~/); not a symlink.",
            json_schema_extra=field_details(
                "It must lie inside the host's path allowlist and must hold no restricted "
                "zone. A symlink is refused: ssh_delete removes a link.",
                listed=False,
            ),
            min_length=1,
        ),
    ]
    recursive: bool = Field(
        False,
        description="Delete its contents too; else it must be empty.",
        json_schema_extra=UNLISTED,
    )
    dry_run: bool = Field(
        False,
        description="Only count and list what would go; delete nothing.",
        json_schema_extra=UNLISTED,
    )


class DeleteFolderResult(Output):
    path: str = Field(description="Canonical path of the directory.")
    dry_run: bool = Field(description="True when nothing was deleted.")
    removed: int = Field(description="Entries deleted, the directory itself included.")
    would_remove: int | None = Field(description="Dry run: entries that would be deleted.")
    paths: list[str] = Field(description=f"Dry run: the first {SAMPLE} paths that would go.")


async def delete_folder(ctx: ToolContext, args: DeleteFolderInput) -> DeleteFolderResult:
    # On the host, relative to the verified parent: GNU rm never follows a symlink swapped
    # in mid-walk, and a swapped ancestor is noticed before anything goes (_anchored).
    parent, name = posixpath.split(args.path)
    if args.recursive:
        mode = "list" if args.dry_run else "delete"
    else:
        mode = "empty-dry" if args.dry_run else "empty"
    done = await delete_tree(ctx, parent, name, cap=ctx.limits.delete_folder_max_entries, mode=mode)
    if args.dry_run:
        return DeleteFolderResult(
            path=args.path, dry_run=True, removed=0, would_remove=done.total, paths=done.sample
        )
    return DeleteFolderResult(
        path=args.path, dry_run=False, removed=done.total, would_remove=None, paths=[]
    )


# -- ssh_mv ---------------------------------------------------------------------------


class MoveInput(StrictInput):
    host: str = HOST
    src_path: Annotated[
        str,
        RemotePath(recursive=True, follow=False),
        Field(
            description="File, directory or link to move (a link moves itself).",
            json_schema_extra=field_details(
                "It must lie inside the host's path allowlist and a directory must hold no "
                "restricted zone.",
                listed=False,
            ),
            min_length=1,
        ),
    ]
    dst_path: Annotated[
        str,
        RemotePath(create=True, recursive=True, follow=False),
        Field(
            description="New full path; its parent must exist.",
            json_schema_extra=INSIDE,
            min_length=1,
        ),
    ]
    overwrite: bool = Field(
        False,
        description="Replace an existing file, link or empty directory.",
        json_schema_extra=UNLISTED,
    )


class MoveResult(Output):
    path: str = Field(description="Canonical new path.")
    kind: Kind = Field(description="What was moved: file, dir, symlink or other.")
    size: int | None = Field(description="Size in bytes.")
    mode: str = Field(description="Permission bits in octal.")


async def mv(ctx: ToolContext, args: MoveInput) -> MoveResult:
    src, dst = args.src_path, args.dst_path
    if inside(dst, src):
        raise RemoteError(f"{dst} is {src} or inside it; move it somewhere outside itself")

    refuse_in_flight(dst)
    # One rename(2) on the host between verified directory handles (_anchored): a parent
    # swapped for a symlink meanwhile cannot redirect it outside the allowlist.
    perm, size = await move(ctx, src, dst, overwrite=args.overwrite)
    return MoveResult(path=dst, kind=kind_of(perm), size=size, mode=octal(perm))


# -- ssh_link -------------------------------------------------------------------------


class LinkInput(StrictInput):
    host: str = HOST
    target_path: Annotated[
        str,
        RemotePath(create=True),
        Field(
            description="What the link points to (absolute or ~/).",
            json_schema_extra=field_details(
                "Symlinks resolved, it must lie inside the host's path allowlist. A symbolic "
                "link may point to a path that does not exist yet.",
                listed=False,
            ),
            min_length=1,
        ),
    ]
    link_path: Annotated[
        str,
        RemotePath(create=True, follow=False),
        Field(
            description="Where to create the link; must not exist.",
            json_schema_extra=INSIDE,
            min_length=1,
        ),
    ]
    symbolic: bool = Field(
        True, description="False makes a hard link (files only).", json_schema_extra=UNLISTED
    )


class LinkResult(Output):
    path: str = Field(description="Canonical path of the new link.")
    target: str = Field(description="Canonical path it points to (symbolic links store it).")
    symbolic: bool = Field(description="True for a symbolic link, false for a hard link.")


async def link(ctx: ToolContext, args: LinkInput) -> LinkResult:
    target, path = args.target_path, args.link_path
    refuse_in_flight(path)
    if not args.symbolic:
        # On the host between verified directories (_anchored): over SFTP a parent of the
        # target swapped for a symlink meanwhile made the new name a second name of a file
        # outside the allowlist, readable and writable by every later call.
        await hard_link(ctx, target, path)
        return LinkResult(path=path, target=target, symbolic=False)

    async def op(remote: Remote) -> LinkResult:
        if await remote.lstat(path, action="link") is not None:
            raise RemoteError(f"{path} exists; remove it first with ssh_delete")
        await remote.symlink(target, path, action="link")
        stored = await remote.readlink(path, action="link")
        if stored != target:  # the SSH_FXP_SYMLINK argument order quirk, mishandled
            await quietly(lambda: remote.remove(path))
            raise RemoteError(f"the server stored link text {stored!r}; link removed")
        return LinkResult(path=path, target=target, symbolic=True)

    return await ctx.remote(op, replay=False)


TOOLS = (
    ToolSpec(
        name="ssh_mkdir",
        title="Make a directory",
        description="Create a directory; parents=true works like mkdir -p.",
        details=("Returns the canonical path, its mode and the directories created."),
        tier=Tier.LOW_ACCESS,
        group=Group.FILE_OPS,
        input=MkdirInput,
        output=MkdirResult,
        annotations=ADDS,
        handler=mkdir,
    ),
    ToolSpec(
        name="ssh_delete",
        title="Delete a file",
        description=(
            "Delete a file or symlink (never its target). For directories use ssh_delete_folder."
        ),
        details="Returns the path, kind and size of what was deleted.",
        tier=Tier.LOW_ACCESS,
        group=Group.FILE_OPS,
        input=DeleteInput,
        output=DeleteResult,
        annotations=CHANGES,
        handler=delete,
    ),
    ToolSpec(
        name="ssh_delete_folder",
        title="Delete a directory",
        description=(
            "Delete an empty directory, or with recursive=true its tree. Run dry_run=true first."
        ),
        details=(
            "Links are removed, never followed. Refused: /, the home directory, a tree holding a "
            "restricted zone or one over SSH_DELETE_FOLDER_MAX_ENTRIES entries. The host's GNU rm "
            "works from a verified directory, so even a symlink swapped in meanwhile is removed, "
            "not followed; hosts without GNU coreutils are refused. Every refusal comes before "
            "anything is deleted. dry_run returns the count and the first paths. Returns the "
            "number removed."
        ),
        tier=Tier.LOW_ACCESS,
        group=Group.FILE_OPS,
        input=DeleteFolderInput,
        output=DeleteFolderResult,
        annotations=CHANGES,
        handler=delete_folder,
        long_running=True,
    ),
    ToolSpec(
        name="ssh_mv",
        title="Move or rename",
        description=(
            "Move or rename a file, directory or link within one filesystem; overwrite=true to "
            "replace dst_path."
        ),
        details=(
            "One atomic rename; dst_path's parent must exist. A link moves itself. Returns the new "
            "path, kind, size and mode. The rename runs between verified directories, on a Linux "
            "host with GNU coreutils."
        ),
        tier=Tier.LOW_ACCESS,
        group=Group.FILE_OPS,
        input=MoveInput,
        output=MoveResult,
        annotations=CHANGES,
        handler=mv,
    ),
    ToolSpec(
        name="ssh_link",
        title="Make a link",
        description=(
            "Create a symbolic link (or, symbolic=false, a hard link) at link_path to target_path."
        ),
        details=(
            "link_path must not exist; a hard link is for files only. Returns the link path and "
            "its target. A symbolic link stores the target's canonical absolute path; a hard link "
            "is made on the host between verified directories (GNU coreutils needed)."
        ),
        tier=Tier.LOW_ACCESS,
        group=Group.FILE_OPS,
        input=LinkInput,
        output=LinkResult,
        annotations=CHANGES,
        handler=link,
    ),
)
