"""Sudo tier, group ``sudo``: read root-only files and directories, inside path policy.

Without these, an agent would reach for ``sudo cat`` through ``ssh_sudo_exec`` and step
around the path allowlist. Here the path is resolved as root (``RemotePath(sudo=True)``:
``realpath -e`` through sudo, since the login user cannot enter root's directories) and then
confined like every other path, so restricted zones such as ``/etc/shadow`` stay out of reach.
"""

from __future__ import annotations

import base64
import hashlib
import posixpath
from typing import Annotated, Literal, Self

from pydantic import Field, model_validator

from ssh_mcp.core.access import Group, Tier
from ssh_mcp.core.remote import ProcessResult, sudo_refusal
from ssh_mcp.core.spec import (
    CHANGES,
    CHANGES_IDEMPOTENT,
    HOST,
    READS,
    Output,
    RemotePath,
    StrictInput,
    ToolContext,
    ToolSpec,
)
from ssh_mcp.errors import CapExceeded, RemoteError
from ssh_mcp.tools._fields import (
    ContentBase64,
    ContentText,
    Entry,
    FileMode,
    Kind,
    NewString,
    Occurrence,
    OldString,
    Overwrite,
    field_details,
    utc_stamp,
)
from ssh_mcp.tools._pages import OFFSET, limit_field, next_offset_field, page
from ssh_mcp.tools._patch import decode_text, replace_exact
from ssh_mcp.tools._text import encode_bytes
from ssh_mcp.tools.file_ops.write import check_content

_KINDS: dict[str, Kind] = {"f": "file", "d": "dir", "l": "symlink"}


class SudoPathInput(StrictInput):
    host: str = HOST
    path: Annotated[
        str,
        RemotePath(sudo=True),
        Field(
            description="Existing path (absolute or ~/), resolved as root.",
            json_schema_extra=field_details(
                "Every symlink is followed, then it is checked against the host's path "
                "allowlist and restricted zones.",
                listed=False,
            ),
            min_length=1,
        ),
    ]


def _out(result: ProcessResult) -> bytes:
    if result.elevated is False:
        raise sudo_refusal(result)
    if result.exit_code == 21:
        raise RemoteError("the path is not a regular file; nothing was read")
    if result.exit_code == 19:
        raise RemoteError(f"the path {_MOVED}")
    if result.exit_code != 0:
        err = result.stderr.kept.decode("utf-8", "replace")
        raise RemoteError(f"reading as root failed: {err.strip()[-200:] or 'no message'}")
    return result.stdout.kept


async def read_as_root(ctx: ToolContext, path: str, remedy: str) -> bytes:
    """The checked file's bytes, read as root; over the inline cap, an error naming ``remedy``."""
    cap = ctx.limits.inline_max_bytes
    # One byte over the cap tells "too large" from "exactly the cap".
    data = _out(await ctx.run(["sh", "-c", _READ, "sh", path, str(cap + 1)], sudo=True))
    if len(data) > cap:
        raise CapExceeded(
            f"{path} is over the inline cap of {cap} bytes (SSH_INLINE_MAX_BYTES); {remedy}"
        )
    return data


class RootFile(Output):
    path: str = Field(description="Canonical path read.")
    size: int = Field(description="Bytes in the file.")
    sha256: str = Field(description="SHA-256 of the content, hex.")
    encoding: Literal["text", "base64"] = Field(
        description="text when the file is UTF-8 without NUL bytes, else base64."
    )
    content: str = Field(description="The file content in the given encoding.")


async def sudo_read(ctx: ToolContext, args: SudoPathInput) -> RootFile:
    remedy = "read parts of it with ssh_sudo_exec (head, tail, grep) instead"
    data = await read_as_root(ctx, args.path, remedy)
    encoding, content = encode_bytes(data)
    return RootFile(
        path=args.path,
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        encoding=encoding,
        content=content,
    )


# Runs as root. $1 target, $2 mode (or empty), $3 1 to overwrite, $4 the sha256 the
# target must still have (or empty); the content is stdin. Temp file next to the target,
# owner and mode of the file it replaces, synced, then renamed over it (overwrite) or
# hard-linked into place (so an existing file is never hit).
_WRITE = r"""
t=$1; mode=$2; over=$3; expect=$4
d=$(dirname -- "$t"); n=$(basename -- "$t")
# Work inside the directory as checked: a directory or file swapped for a symlink since
# dispatch resolved the path must not redirect a root write (exit 19).
cd -P -- "$d" && [ "$(pwd -P)" = "$d" ] && [ ! -L "$n" ] || { echo "moved" >&2; exit 19; }
# Only where nobody but root can rename or replace entries: elsewhere the login user could
# swap our temp file for a symlink between mktemp and chown (exit 20).
perm=$(stat -c %a .) && [ "$(stat -c %u .)" = 0 ] && [ $((0$perm & 022)) -eq 0 ] ||
  { echo "unsafe directory" >&2; exit 20; }
[ "$over" = 1 ] || [ ! -e "$n" ] || { echo "exists" >&2; exit 17; }
tmp=$(mktemp -- "./.$n.ssh-mcp-XXXXXX") || exit 1
trap 'rm -f -- "$tmp"' EXIT
cat > "$tmp" || exit 1
if [ -f "$n" ]; then
  chown --reference="$n" -- "$tmp" && chmod --reference="$n" -- "$tmp" || exit 1
  chmod u-s,g-s -- "$tmp" || exit 1  # never carry setuid/setgid over to new content
else
  chmod 0644 -- "$tmp" || exit 1
fi
if [ -n "$mode" ]; then chmod -- "$mode" "$tmp" || exit 1; fi
sync -- "$tmp" 2>/dev/null || sync
if [ -n "$expect" ]; then
  now=$(sha256sum < "$n") || exit 1
  [ "${now%% *}" = "$expect" ] || { echo "changed" >&2; exit 18; }
fi
if [ "$over" = 1 ]; then mv -f -- "$tmp" "$n" || exit 1
else ln -- "$tmp" "$n" 2>/dev/null || { echo "exists" >&2; exit 17; }; fi
stat -c '%s %a' -- "$n"
"""

# Runs as root. $1 the checked path, $2 bytes to read at most. Opens it, then makes sure
# the open file is the checked path (not a symlink swapped in since), then reads it.
_READ = r"""
[ -f "$1" ] || { echo "not a regular file" >&2; exit 21; }  # a FIFO would block the open
exec 3< "$1" || exit 1
if [ -e "/proc/$$/fd/3" ] && [ "$(readlink "/proc/$$/fd/3")" != "$1" ]; then
  echo "moved" >&2; exit 19
fi
head -c "$2" <&3
"""

# Runs as root. $1 the checked directory: entered, checked, then listed by relative name.
_LIST = r"""
cd -P -- "$1" && [ "$(pwd -P)" = "$1" ] || { echo "moved" >&2; exit 19; }
find . -mindepth 1 -maxdepth 1 -printf '%y\t%s\t%m\t%T@\t%P\0'
"""
_MOVED = "changed into or behind a symlink after it was checked; nothing was done. Retry"


class SudoWriteInput(StrictInput):
    host: str = HOST
    path: Annotated[
        str,
        RemotePath(sudo=True, create=True),
        Field(
            description="File to write as root (absolute or ~/); its directory must exist.",
            json_schema_extra=field_details(
                "Resolved as root, then confined like any path.", listed=False
            ),
            min_length=1,
        ),
    ]
    content_text: ContentText = None
    content_base64: ContentBase64 = None
    mode: FileMode = None
    overwrite: Overwrite = False

    @model_validator(mode="after")
    def _one_source(self) -> Self:
        check_content(self, ("content_text", "content_base64"))
        return self


class RootWrite(Output):
    path: str = Field(description="Canonical path written.")
    size: int = Field(description="Bytes written.")
    mode: str = Field(description="Resulting permission bits in octal, e.g. 0644.")
    sha256: str = Field(description="SHA-256 of the bytes written, hex.")


async def sudo_write(ctx: ToolContext, args: SudoWriteInput) -> RootWrite:
    if args.content_text is not None:
        data = args.content_text.encode("utf-8")
    else:
        data = base64.b64decode(args.content_base64 or "")
    if len(data) > ctx.limits.inline_max_bytes:
        raise CapExceeded(
            f"the content is {len(data)} bytes, over SSH_INLINE_MAX_BYTES "
            f"({ctx.limits.inline_max_bytes}); write large files with ssh_upload and move them "
            "into place with ssh_sudo_exec"
        )
    return await _write_as_root(ctx, args.path, data, args.mode, args.overwrite)


async def _write_as_root(
    ctx: ToolContext,
    path: str,
    data: bytes,
    mode: str | None,
    overwrite: bool,
    expect: str = "",
) -> RootWrite:
    argv = ["sh", "-c", _WRITE, "sh", path, mode or "", "1" if overwrite else "0", expect]
    result = await ctx.run(argv, stdin=data, sudo=True)
    if result.elevated is False:
        raise sudo_refusal(result)
    if result.exit_code == 17:
        raise RemoteError(f"{path} exists; pass overwrite=true to replace it")
    if result.exit_code == 18:
        raise RemoteError(f"{path} changed while it was being edited; it is unchanged, retry")
    if result.exit_code == 20:
        raise RemoteError(
            f"{posixpath.dirname(path)} can be changed by users other than root, so writing "
            "into it as root is refused; write the file with ssh_upload as the login user"
        )
    out = _out(result).decode("utf-8", "replace").split()
    if len(out) != 2 or not out[0].isdigit():
        raise RemoteError(f"writing {path} as root gave no result; check the file")
    return RootWrite(
        path=path,
        size=int(out[0]),
        mode=f"{int(out[1], 8):04o}",
        sha256=hashlib.sha256(data).hexdigest(),
    )


class SudoEditInput(StrictInput):
    host: str = HOST
    path: Annotated[
        str,
        RemotePath(sudo=True),
        Field(
            description="Existing file (absolute or ~/), resolved as root.",
            json_schema_extra=field_details(
                "Every symlink is followed, then it is checked against the host's path "
                "allowlist and restricted zones.",
                listed=False,
            ),
            min_length=1,
        ),
    ]
    old_string: OldString
    new_string: NewString
    occurrence: Occurrence = "single"


class RootEdit(RootWrite):
    replacements: int = Field(description="How many occurrences of old_string were replaced.")


async def sudo_edit(ctx: ToolContext, args: SudoEditInput) -> RootEdit:
    data = await read_as_root(ctx, args.path, "it is unchanged")
    text = decode_text(data, args.path)
    every = args.occurrence == "all"
    changed, count = replace_exact(
        text, args.old_string, args.new_string, every=every, path=args.path
    )
    written = await _write_as_root(
        ctx, args.path, changed.encode("utf-8"), None, True, hashlib.sha256(data).hexdigest()
    )
    return RootEdit(**written.model_dump(), replacements=count)


class SudoListInput(SudoPathInput):
    offset: int = OFFSET
    limit: int = limit_field()


class RootListing(Output):
    path: str = Field(description="Canonical directory path.")
    entries: list[Entry] = Field(description="Entries sorted by name.")
    total: int = Field(description="Entries in the directory.")
    next_offset: int | None = next_offset_field()


async def sudo_list(ctx: ToolContext, args: SudoListInput) -> RootListing:
    records = _out(await ctx.run(["sh", "-c", _LIST, "sh", args.path], sudo=True)).split(b"\0")
    entries = []
    for record in records:
        parts = record.decode("utf-8", "replace").split("\t", 4)
        if len(parts) != 5:
            continue
        kind, size, mode, mtime, name = parts
        stamp = utc_stamp(float(mtime))
        entries.append(
            Entry(
                name=name,
                kind=_KINDS.get(kind, "other"),
                size=int(size),
                mode=f"{int(mode, 8):04o}",
                mtime=stamp,
            )
        )
    entries.sort(key=lambda e: e.name)
    shown, next_offset = page(entries, args.offset, args.limit)
    return RootListing(path=args.path, entries=shown, total=len(entries), next_offset=next_offset)


TOOLS = (
    ToolSpec(
        name="ssh_sudo_write",
        title="Write a file as root",
        description=(
            "Write a file as root from content_text or content_base64, keeping owner and mode; "
            "overwrite=true to replace one."
        ),
        details=(
            "Use ssh_upload where root is not needed. The mode is kept unless mode is given. A "
            "temp file next to it gets the owner and mode, is synced, then renamed into place, so "
            "the file is always either old or new. Within the host's path allowlist, up to "
            "SSH_INLINE_MAX_BYTES."
        ),
        tier=Tier.SUDO,
        group=Group.SUDO,
        input=SudoWriteInput,
        output=RootWrite,
        annotations=CHANGES_IDEMPOTENT,
        handler=sudo_write,
        audit_bytes="size",
    ),
    ToolSpec(
        name="ssh_sudo_edit",
        title="Edit a file as root",
        description=(
            "Replace exact text in a file as root, like ssh_edit, keeping owner and mode."
        ),
        details=(
            "It fails if old_string is missing, or ambiguous under occurrence=single. Use ssh_edit "
            "where root is not needed. It also fails when the file changed meanwhile, and leaves "
            "it as it was. Returns path, size, mode, sha256 and replacements."
        ),
        tier=Tier.SUDO,
        group=Group.SUDO,
        input=SudoEditInput,
        output=RootEdit,
        annotations=CHANGES,
        handler=sudo_edit,
        audit_bytes="size",
    ),
    ToolSpec(
        name="ssh_sudo_read",
        title="Read a file as root",
        description=(
            "Read a file only root can read (text, or base64). Use it instead of `sudo cat`."
        ),
        details=(
            "Up to SSH_INLINE_MAX_BYTES. For files the login user can read, use ssh_sftp_download. "
            "Within the host's path allowlist. Returns path, size, sha256, encoding and content."
        ),
        tier=Tier.SUDO,
        group=Group.SUDO,
        input=SudoPathInput,
        output=RootFile,
        annotations=READS,
        handler=sudo_read,
    ),
    ToolSpec(
        name="ssh_sudo_sftp_list",
        title="List a directory as root",
        description="List a directory only root can enter, a page at a time.",
        details=(
            "By name. For other directories use ssh_sftp_list. Each entry has name, kind, size, "
            "mode and mtime. Within the host's path allowlist."
        ),
        tier=Tier.SUDO,
        group=Group.SUDO,
        input=SudoListInput,
        output=RootListing,
        annotations=READS,
        handler=sudo_list,
    ),
)
