"""Read tier, group ``sftp-read``: read a config file with its secrets masked.

The redaction itself is :mod:`ssh_mcp.tools.sftp_read._redact` (pure, unit-tested); this
module reads the file over SFTP under the inline cap and shapes the result.
Markers are keyed with a random per-process key: equal within one server run,
meaningless across runs.
"""

from __future__ import annotations

import hashlib
from typing import Annotated

import anyio.to_thread
from pydantic import Field

from ssh_mcp.core.access import Group, Tier
from ssh_mcp.core.remote import Remote
from ssh_mcp.core.spec import (
    HOST,
    READS,
    Output,
    RemotePath,
    StrictInput,
    ToolContext,
    ToolSpec,
)
from ssh_mcp.errors import CapExceeded, RemoteError
from ssh_mcp.tools._fields import CONFINED, field_details
from ssh_mcp.tools._progress import Throttle
from ssh_mcp.tools.sftp_read._redact import redact


class RedactedInput(StrictInput):
    host: str = HOST
    path: Annotated[
        str,
        RemotePath(),
        Field(
            description="Text file to read, e.g. .env (absolute or ~/).",
            json_schema_extra=field_details(CONFINED, listed=False),
            min_length=1,
        ),
    ]


class RedactedFile(Output):
    path: str = Field(description="Canonical remote path (symlinks resolved).")
    size: int = Field(description="Size of the original file in bytes.")
    sha256: str = Field(
        description=(
            "SHA-256 of the ORIGINAL bytes, hex: compare it across reads, or with ssh_file_hash, "
            "to tell whether the file changed."
        )
    )
    content: str = Field(
        description=(
            "The file's text with each secret replaced by [REDACTED:hmac-sha256:<12 hex>]. Equal "
            "secrets get equal markers within this server run, so two markers that match mean "
            "equal values; the value itself is never shown."
        )
    )
    redactions: int = Field(description="How many secrets were replaced.")
    kinds: list[str] = Field(
        description=(
            "Distinct kinds replaced: key:<name> (the value of a key such as password or "
            "api_key), pem, url-password, token:<aws|github|slack|jwt|google|stripe>, entropy."
        )
    )


async def _read(ctx: ToolContext, path: str, throttle: Throttle) -> bytes:
    cap = ctx.limits.inline_max_bytes

    async def op(remote: Remote) -> bytes:
        try:
            return await remote.read(path, max_bytes=cap, progress=throttle)
        except CapExceeded:
            size = (await remote.stat(path, action="stat")).size or 0
            raise CapExceeded(
                f"{path} is {size} bytes, over the inline cap of {cap} bytes "
                "(SSH_INLINE_MAX_BYTES); ssh_read_redacted reads whole files only, so use "
                "ssh_file_hash to compare it or ask the operator to raise the cap"
            ) from None

    data = await ctx.remote(op, replay=True)
    await throttle.finish()
    return data


async def read_redacted(ctx: ToolContext, args: RedactedInput) -> RedactedFile:
    data = await _read(ctx, args.path, Throttle(ctx, f"read {args.path}"))
    try:
        if b"\0" in data:
            raise UnicodeError
        text = data.decode("utf-8")
    except UnicodeError:
        raise RemoteError(
            f"{args.path} is not UTF-8 text (binary or another encoding), so it cannot be "
            "redacted; use ssh_file_hash to compare it, or ssh_sftp_download if you need the "
            "raw bytes (nothing is redacted there)"
        ) from None
    # Regex passes over up to SSH_INLINE_MAX_BYTES of text: keep the event loop free.
    result = await anyio.to_thread.run_sync(redact, text)
    return RedactedFile(
        path=args.path,
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        content=result.text,
        redactions=result.count,
        kinds=list(result.kinds),
    )


def render(out: RedactedFile) -> str:
    kinds = f" ({', '.join(out.kinds)})" if out.kinds else ""
    return (
        f"{out.path}: {out.size} bytes, sha256 {out.sha256}, "
        f"{out.redactions} secret(s) redacted{kinds}\n{out.content}"
    )


TOOLS = (
    ToolSpec(
        name="ssh_read_redacted",
        title="Read a file, secrets masked",
        description=(
            "Read a config file with secrets masked (equal secrets, equal markers). Prefer it to "
            "ssh_sftp_download for files that may hold credentials."
        ),
        details=(
            "Files: .env, YAML, JSON, INI, TOML, .npmrc, shell, PEM. A secret becomes "
            "[REDACTED:hmac-sha256:<12 hex>]. Detection is heuristic. Returns path, size, "
            "sha256 of the original bytes, the content with each secret replaced, the redaction"
            " count and the kinds found. Masked: values (multi-line strings and list items too)"
            " of keys named like password, pass, secret, token, api_key, auth, session, cookie "
            "or dsn; private-key PEM blocks; URL passwords; AWS, GitHub, Slack, JWT, Google and"
            " Stripe tokens; long random-looking strings. Equal secrets get equal markers "
            "within this server run, so you can tell two values match without seeing them. Use "
            "ssh_sftp_download for binary files, files over SSH_INLINE_MAX_BYTES, or when you "
            "need the exact bytes. Treat unmasked values as possibly sensitive."
        ),
        tier=Tier.READ,
        group=Group.SFTP_READ,
        input=RedactedInput,
        output=RedactedFile,
        annotations=READS,
        handler=read_redacted,
        render=render,
        long_running=True,
        audit_bytes="size",
        audit_fields=("redactions",),
    ),
)
