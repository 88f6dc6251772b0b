"""Sudo tier, group ``sudo``: ssh_read_redacted for files only root can read.

The path rules are the sudo file tools' (:mod:`ssh_mcp.tools.sudo.files`): resolved as root,
then confined like any path, restricted zones included; the read is theirs too (checked to
be the path resolved, up to SSH_INLINE_MAX_BYTES). The redaction and the result are
ssh_read_redacted's (:mod:`ssh_mcp.tools.sftp_read.redacted`), so markers compare across both.
"""

from __future__ import annotations

import hashlib

import anyio.to_thread

from ssh_mcp.core.access import Group, Tier
from ssh_mcp.core.spec import READS, ToolContext, ToolSpec
from ssh_mcp.errors import RemoteError
from ssh_mcp.tools.sftp_read._redact import redact
from ssh_mcp.tools.sftp_read.redacted import RedactedFile, render
from ssh_mcp.tools.sudo.files import SudoPathInput, read_as_root


async def sudo_read_redacted(ctx: ToolContext, args: SudoPathInput) -> RedactedFile:
    data = await read_as_root(ctx, args.path, "ssh_sudo_read_redacted reads whole files only")
    try:
        if b"\0" in data:
            raise UnicodeError
        text = data.decode("utf-8")
    except UnicodeError:
        raise RemoteError(
            f"{args.path} is not UTF-8 text, so it cannot be redacted; nothing is returned"
        ) from None
    result = await anyio.to_thread.run_sync(redact, text)
    return RedactedFile(
        path=args.path,
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        content=result.text,
        redactions=result.count,
        kinds=list(result.kinds),
    )


TOOLS = (
    ToolSpec(
        name="ssh_sudo_read_redacted",
        title="Read as root, secrets masked",
        description="ssh_read_redacted for files only root can read.",
        details=(
            "The path is resolved as root, then confined like any path (restricted zones "
            "such as /etc/shadow stay out of reach). Whole UTF-8 files up to "
            "SSH_INLINE_MAX_BYTES; masking and markers as ssh_read_redacted's, so markers "
            "compare across both. Prefer it to ssh_sudo_read for config files."
        ),
        tier=Tier.SUDO,
        group=Group.SUDO,
        input=SudoPathInput,
        output=RedactedFile,
        annotations=READS,
        handler=sudo_read_redacted,
        render=render,
        audit_bytes="size",
        audit_fields=("redactions",),
    ),
)
