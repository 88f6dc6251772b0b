"""Read tier, group ``sftp-read``: ssh_find, a search of a tree that skips restricted zones.

A tree that holds a restricted zone is searched all the same: find prunes every
spelling of the zone dispatch resolved on the host (DECISIONS.md 44), so
nothing at or below it is listed, and the result names the zones it skipped.
Links are never followed, so a link out of the tree leads nowhere.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Sequence
from typing import Annotated, Literal

from pydantic import Field, field_validator

from ssh_mcp.core.access import Group, Tier
from ssh_mcp.core.remote import ProcessResult, Remote
from ssh_mcp.core.spec import HOST, READS, Output, RemotePath, StrictInput, ToolContext, ToolSpec
from ssh_mcp.errors import OperationTimeout, RemoteError
from ssh_mcp.tools._fields import UNLISTED, Kind, field_details, timeout_field
from ssh_mcp.tools._pages import limit_field

_KINDS: dict[str, Kind] = {"f": "file", "d": "dir", "l": "symlink"}
_TYPE_FLAG = {"file": "f", "dir": "d", "symlink": "l"}
#: The record find prints for a pruned zone instead of its type letter (%y never prints it).
_PRUNED = "pruned"
#: Runs find and keeps only the first N NUL-terminated records: head's exit stops find
#: with SIGPIPE, so a huge tree costs no more than the entries asked for. Every operand
#: is a positional parameter, never part of the script.
_FIND_SCRIPT = 'n=$1; shift; find "$@" | head -z -n "$n"'


def _stderr_lines(result: ProcessResult) -> list[str]:
    return bytes(result.stderr.head).decode("utf-8", "replace").strip().splitlines()


class FindInput(StrictInput):
    host: str = HOST
    path: Annotated[
        str,
        RemotePath(),
        Field(
            description="Directory to search below (absolute or ~/).",
            json_schema_extra=field_details(
                "Symlinks are resolved and the result must lie inside the host's path "
                "allowlist. Restricted zones inside it are skipped (listed in pruned), never "
                "searched.",
                listed=False,
            ),
        ),
    ]
    name_pattern: str | None = Field(
        None,
        min_length=1,
        max_length=255,
        description="Glob on the name, e.g. '*.log'; no '/'.",
        json_schema_extra=field_details(
            "No leading '-'. Matched against the name only (find -name). Omit to match every name."
        ),
    )
    kind: Literal["file", "dir", "symlink"] | None = Field(
        None,
        description="Only entries of this kind.",
        json_schema_extra=field_details("Links are never followed. Omit for all.", listed=False),
    )
    max_depth: int = Field(
        5,
        ge=1,
        le=20,
        description="Levels to descend (1 = path's entries).",
        json_schema_extra=UNLISTED,
    )
    limit: int = limit_field(200, 5000)
    timeout: float | None = timeout_field(
        ("Seconds before the search is stopped."), details="Default SSH_COMMAND_TIMEOUT."
    )

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
    pruned: list[str] = Field(
        default_factory=list,
        description=(
            "Restricted zones met in the tree and skipped: neither they nor anything below "
            "them is in entries."
        ),
    )

    @property
    def pruned_count(self) -> int:
        return len(self.pruned)


def _glob_literal(path: str) -> str:
    """``path`` as a find -path pattern that matches only itself."""
    return re.sub(r"([*?\[\]\\])", r"\\\1", path)


def zones_inside(tree: str, zones: Sequence[str]) -> list[str]:
    """The zone spellings strictly below ``tree`` (a zone holding the tree was refused)."""
    prefix = tree.rstrip("/") + "/"
    norm = ("/" + posixpath.normpath(z).lstrip("/") for z in zones)
    return [z for z in dict.fromkeys(norm) if z.startswith(prefix)]


def _find_argv(args: FindInput, prune: Sequence[str]) -> list[str]:
    # Pruned records count against head's cut too: each zone spelling is met at most once.
    argv = ["sh", "-c", _FIND_SCRIPT, "sh", str(args.limit + 1 + len(prune))]
    argv += ["-P", args.path, "-mindepth", "1", "-maxdepth", str(args.max_depth)]
    if prune:
        alternatives = [x for z in prune for x in ("-o", "-path", _glob_literal(z))][1:]
        argv += ["(", *alternatives, ")", "-prune", "-printf", f"{_PRUNED}\\t0\\t%p\\0", "-o"]
    if args.name_pattern is not None:
        argv += ["-name", args.name_pattern]
    if args.kind is not None:
        argv += ["-type", _TYPE_FLAG[args.kind]]
    return [*argv, "-printf", "%y\\t%s\\t%p\\0"]


def _parse_found(raw: bytes) -> tuple[list[FoundEntry], list[str]]:
    entries, pruned = [], []
    for record in raw.split(b"\0"):
        kind, sep1, rest = record.partition(b"\t")
        size, sep2, path = rest.partition(b"\t")
        if not (sep1 and sep2 and size.isdigit()):
            continue  # a record cut by the stdout cap
        name = path.decode("utf-8", "replace")
        if kind == _PRUNED.encode():
            pruned.append(name)
            continue
        entries.append(
            FoundEntry(
                path=name,
                kind=_KINDS.get(kind.decode("ascii", "replace"), "other"),
                size=int(size),
            )
        )
    return entries, pruned


async def _require_dir(remote: Remote, path: str) -> None:
    if not (await remote.stat(path, action="stat")).is_dir:
        raise RemoteError(f"{path} is not a directory; use ssh_sftp_stat for a single path")


async def find(ctx: ToolContext, args: FindInput) -> FindResult:
    await ctx.remote(lambda remote: _require_dir(remote, args.path), replay=True)
    timeout = args.timeout or ctx.command_timeout
    prune = zones_inside(args.path, ctx.restricted_paths())
    result = await ctx.run(_find_argv(args, prune), timeout=timeout)
    if result.timed_out:
        raise OperationTimeout(
            f"find did not finish within {timeout:g}s; lower max_depth, add name_pattern or "
            "kind, or raise timeout"
        )
    cut = result.stdout.truncated
    # Only whole records count: the head part of a capped buffer, up to its last NUL.
    raw = bytes(result.stdout.head) if cut else result.stdout.kept
    raw = raw[: raw.rfind(b"\0") + 1]
    entries, pruned = _parse_found(raw)
    stderr = _stderr_lines(result)
    if not entries and not pruned and stderr:
        raise RemoteError(f"find failed: {stderr[0][:300]}")
    truncated = cut or len(entries) > args.limit
    return FindResult(
        path=args.path,
        entries=sorted(entries[: args.limit], key=lambda e: e.path),
        truncated=truncated,
        limit=args.limit,
        warnings=[line[:300] for line in stderr[:5]],
        pruned=sorted(pruned),
    )


def render_find(out: FindResult) -> str:
    lines = [f"{e.kind}\t{e.size}\t{e.path}" for e in out.entries]
    more = f"; truncated at limit {out.limit}, narrow the search" if out.truncated else ""
    if out.pruned:
        more += f"; skipped {len(out.pruned)} restricted zone(s): {', '.join(out.pruned)}"
    return "\n".join([f"{len(out.entries)} entries under {out.path}{more}", *lines])


TOOLS = (
    ToolSpec(
        name="ssh_find",
        title="Find files in a tree",
        description=(
            "Find entries below a directory by name glob and kind. If truncated, narrow the "
            "search. For one directory use ssh_sftp_list."
        ),
        details=(
            "Links are not followed. Returns up to limit paths. "
            "Runs GNU find on the host. Restricted zones in the tree are skipped and named in "
            "pruned."
        ),
        tier=Tier.READ,
        group=Group.SFTP_READ,
        input=FindInput,
        output=FindResult,
        annotations=READS,
        handler=find,
        render=render_find,
        audit_fields=("pruned_count",),
    ),
)
