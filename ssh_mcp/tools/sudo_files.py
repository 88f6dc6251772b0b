"""Sudo tier, group ``sudo``: read root-only files and directories, inside path policy.

Without these, an agent would reach for ``sudo cat`` through ``ssh_sudo_exec``
and step around the path allowlist. Here the path is resolved as root
(``RemotePath(sudo=True)``: ``realpath -e`` through sudo, since the login user
cannot enter root's directories) and then confined like every other path, so
restricted zones such as ``/etc/shadow`` stay out of reach.
"""

from __future__ import annotations

import hashlib
import time
from typing import Annotated, Literal

from pydantic import Field

from ssh_mcp.access import Group, Tier
from ssh_mcp.errors import CapExceeded, RemoteError
from ssh_mcp.spec import (
    HOST_DESCRIPTION,
    READS,
    Output,
    RemotePath,
    StrictInput,
    ToolContext,
    ToolSpec,
)
from ssh_mcp.ssh.elevated import sudo_refusal
from ssh_mcp.ssh.process import ProcessResult
from ssh_mcp.tools._text import encode_bytes
from ssh_mcp.tools.sftp_read import Entry, Kind

ROOT_PATH = (
    "Absolute path (or ~/…), resolved as root with every symlink followed, then checked "
    "against the host's path allowlist and restricted zones. It must exist."
)
_KINDS: dict[str, Kind] = {"f": "file", "d": "dir", "l": "symlink"}


class SudoPathInput(StrictInput):
    host: str = Field(description=HOST_DESCRIPTION, min_length=1, max_length=253)
    path: Annotated[str, RemotePath(sudo=True), Field(description=ROOT_PATH, min_length=1)]


def _out(result: ProcessResult) -> bytes:
    if result.elevated is False:
        raise sudo_refusal(result)
    if result.exit_code != 0:
        err = bytes(result.stderr.head + result.stderr.tail).decode("utf-8", "replace")
        raise RemoteError(f"reading as root failed: {err.strip()[-200:] or 'no message'}")
    return bytes(result.stdout.head + result.stdout.tail)


class RootFile(Output):
    path: str = Field(description="Canonical path read.")
    size: int = Field(description="Bytes in the file.")
    sha256: str = Field(description="SHA-256 of the content, hex.")
    encoding: Literal["text", "base64"] = Field(
        description="text when the file is UTF-8 without NUL bytes, else base64."
    )
    content: str = Field(description="The file content in the given encoding.")


async def sudo_read(ctx: ToolContext, args: SudoPathInput) -> RootFile:
    cap = ctx.limits.inline_max_bytes
    # One byte over the cap tells "too large" from "exactly the cap".
    data = _out(await ctx.run(["head", "-c", str(cap + 1), "--", args.path], sudo=True))
    if len(data) > cap:
        raise CapExceeded(
            f"{args.path} is over the inline cap of {cap} bytes (SSH_INLINE_MAX_BYTES); read "
            "parts of it with ssh_sudo_exec (head, tail, grep) instead"
        )
    encoding, content = encode_bytes(data)
    return RootFile(
        path=args.path,
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        encoding=encoding,
        content=content,
    )


class RootListing(Output):
    path: str = Field(description="Canonical directory path.")
    entries: list[Entry] = Field(description="Entries sorted by name (at most 1000).")
    total: int = Field(description="Entries in the directory.")


async def sudo_list(ctx: ToolContext, args: SudoPathInput) -> RootListing:
    # find takes no `--`: the canonical path is absolute, so it cannot read as an option.
    argv = ["find", args.path, "-mindepth", "1", "-maxdepth", "1"]
    argv += ["-printf", "%y\\t%s\\t%m\\t%T@\\t%P\\0"]
    records = _out(await ctx.run(argv, sudo=True)).split(b"\0")
    entries = []
    for record in records:
        parts = record.decode("utf-8", "replace").split("\t", 4)
        if len(parts) != 5:
            continue
        kind, size, mode, mtime, name = parts
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(float(mtime)))
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
    return RootListing(path=args.path, entries=entries[:1000], total=len(entries))


TOOLS = (
    ToolSpec(
        name="ssh_sudo_read",
        title="Read a file as root",
        description=(
            "Read a file only root can read (text, or base64 for binary) up to "
            "SSH_INLINE_MAX_BYTES, within the host's path allowlist; returns path, size, "
            "sha256, encoding and content. Use it instead of `sudo cat` through ssh_sudo_exec. "
            "For files the login user can read, use ssh_sftp_download."
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
        description=(
            "List a directory only root can enter, within the host's path allowlist: name, "
            "kind, size, mode and mtime of each entry, sorted by name. For directories the "
            "login user can read, use ssh_sftp_list."
        ),
        tier=Tier.SUDO,
        group=Group.SUDO,
        input=SudoPathInput,
        output=RootListing,
        annotations=READS,
        handler=sudo_list,
    ),
)
