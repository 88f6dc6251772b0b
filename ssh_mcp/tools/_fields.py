"""What the tool modules declare alike: input fields, the entry model, the one timestamp style.

A limit written once here is the same limit in every tool that takes a command, a text, a
timeout or a working directory; the descriptions stay with each tool, because they say what
the field means there.
"""

from __future__ import annotations

import base64
import binascii
import stat as statmod
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field

from ssh_mcp.core.schema import NAME_SAYS
from ssh_mcp.core.spec import CWD_DESCRIPTION, CWD_DETAILS, Output, RemotePath

#: Longest command line or note text a tool accepts, in characters.
TEXT_MAX = 65536
#: Longest timeout a tool accepts, in seconds.
TIMEOUT_MAX = 3600
#: Longest remote path a tool accepts, in characters (PATH_MAX on Linux).
PATH_MAX = 4096


#: The longer text of a remote path field (tools/list says only "absolute or ~/").
CONFINED = "Symlinks are resolved and the result must lie inside the host's path allowlist."


def field_details(text: str = "", *, listed: bool = True) -> dict[str, Any]:
    """``json_schema_extra`` for a field's longer text: TOOLS.md shows it, tools/list does not.
    ``listed=False`` leaves the description out of tools/list too, for a field whose name and
    type, with its tool's description, already say it (DECISIONS.md 67)."""
    extra: dict[str, Any] = {"details": text} if text else {}
    return extra if listed else {**extra, NAME_SAYS: True}


#: ``json_schema_extra`` of a field tools/list sends without its description.
UNLISTED = field_details(listed=False)
#: ``json_schema_extra`` of a path to create: its longer text, and no description in
#: tools/list (ssh_host_list's says once that paths are absolute or ~/).
INSIDE = field_details("It must lie inside the host's path allowlist.", listed=False)

#: The content sources, mode and overwrite flag of the tools that write a whole file
#: (ssh_upload, ssh_deploy, ssh_sudo_write), whose descriptions name them.
ContentText = Annotated[
    str | None, Field(description="Content as text (UTF-8).", json_schema_extra=UNLISTED)
]
ContentBase64 = Annotated[
    str | None, Field(description="Content, base64: for binary data.", json_schema_extra=UNLISTED)
]
FileMode = Annotated[
    str | None,
    Field(
        pattern=r"^0?[0-7]{3,4}$",
        description='Octal mode, e.g. "0644"; default: the replaced file\'s.',
        json_schema_extra=field_details(
            "0644 for a new file. setuid and setgid bits are refused, and a replaced file's "
            "are not kept.",
            listed=False,
        ),
    ),
]
Overwrite = Annotated[
    bool,
    Field(
        description="Replace an existing file.",
        json_schema_extra=field_details("Without it an existing path is refused.", listed=False),
    ),
]


#: An optional remote working directory, checked against the path allowlist like any path.
Cwd = Annotated[
    str | None,
    RemotePath(),
    Field(
        description=CWD_DESCRIPTION,
        max_length=PATH_MAX,
        json_schema_extra=field_details(CWD_DETAILS, listed=False),
    ),
]


def command_field(description: str, details: str = "", *, listed: bool = True) -> Any:
    """The ``Field`` of a command line; put ``CommandText()`` beside it in the ``Annotated``."""
    extra = field_details(details, listed=listed)
    return Field(
        description=description, min_length=1, max_length=TEXT_MAX, json_schema_extra=extra
    )


def text_field(description: str, details: str = "", *, listed: bool = True) -> Any:
    """The ``Field`` of a required free text such as a note."""
    extra = field_details(details, listed=listed)
    return Field(
        min_length=1, max_length=TEXT_MAX, description=description, json_schema_extra=extra
    )


def timeout_field(description: str, details: str = "", *, listed: bool = False) -> Any:
    """The ``Field`` of an optional timeout in seconds; None means the host's default.
    ssh_host_list's description says once that timeouts are seconds."""
    extra = field_details(details, listed=listed)
    return Field(None, gt=0, le=TIMEOUT_MAX, description=description, json_schema_extra=extra)


Kind = Literal["file", "dir", "symlink", "other"]


def kind_of(mode: int | None) -> Kind:
    """The kind of a file from its stat mode; a link is a link, never its target."""
    if mode is None:
        return "other"
    if statmod.S_ISDIR(mode):
        return "dir"
    if statmod.S_ISREG(mode):
        return "file"
    if statmod.S_ISLNK(mode):
        return "symlink"
    return "other"


class Entry(Output):
    name: str = Field(description="Entry name within the directory.")
    kind: Kind = Field(description="file, dir, symlink or other (links are not followed).")
    size: int | None = Field(description="Size in bytes.")
    mode: str | None = Field(description="Permission bits in octal, e.g. 0644.")
    mtime: str | None = Field(description="Modification time (RFC 3339 UTC).")


def utc_stamp(ts: float | None) -> str | None:
    """Epoch seconds as RFC 3339 UTC to the second with a ``Z`` suffix; None (or 0) as None.

    The one style every tool sends: an agent that compares or parses times sees one form.
    0 counts as unknown because SFTP servers send it for a time they do not have.
    """
    if not ts:
        return None
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


#: The three fields of an exact-text edit (ssh_edit, ssh_sudo_edit).
OldString = Annotated[
    str,
    Field(
        min_length=1,
        description="Exact text to replace, whitespace included.",
        json_schema_extra=field_details(
            "Add surrounding lines until it occurs only once, or use occurrence=all."
        ),
    ),
]
NewString = Annotated[
    str, Field(description="Replacement; empty deletes old_string.", json_schema_extra=UNLISTED)
]
Occurrence = Annotated[
    Literal["single", "all"],
    Field(
        description="single: must occur exactly once; all: every occurrence.",
        json_schema_extra=UNLISTED,
    ),
]


def check_content(args: BaseModel, sources: tuple[str, ...]) -> None:
    """Exactly one of ``sources`` given, valid base64, and no setuid/setgid in ``mode``."""
    given = [n for n in sources if getattr(args, n) is not None]
    if len(given) != 1:
        got = f" (got {' and '.join(given)})" if given else ""
        raise ValueError(f"give exactly one of {', '.join(sources)}{got}")
    encoded: str | None = getattr(args, "content_base64", None)
    if encoded is not None:
        try:
            base64.b64decode(encoded, validate=True)
        except binascii.Error:
            raise ValueError("content_base64 is not valid base64") from None
    mode: str | None = getattr(args, "mode", None)
    if mode is not None and int(mode, 8) & 0o6000:
        raise ValueError("mode may not set the setuid or setgid bit")
