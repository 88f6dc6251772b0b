"""The one declaration of a tool, and the context its handler receives.

A ``ToolSpec`` is read by several consumers, the way Starlette's route list
is: tools/list, the tier and group filters, argument validation, the path and
command policy (through field markers), the audit record and TOOLS.md.
Handlers never see MCP; they get a :class:`ToolContext`
(:mod:`ssh_mcp.core.toolcontext`, re-exported here).
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar, cast

from pydantic import BaseModel, ConfigDict, Field

from ssh_mcp.core.access import Group, Tier, ToolMode
from ssh_mcp.core.schema import SAID_ONCE
from ssh_mcp.core.toolcontext import HostSummary as HostSummary
from ssh_mcp.core.toolcontext import Limits as Limits
from ssh_mcp.core.toolcontext import ServerFacts as ServerFacts
from ssh_mcp.core.toolcontext import ToolContext as ToolContext

In = TypeVar("In", bound=BaseModel)
Out = TypeVar("Out", bound=BaseModel)
T = TypeVar("T")


# -- field markers, used inside Annotated[...] ------------------------------------


@dataclass(frozen=True)
class HostRef:
    """Marks a field naming a host; dispatch resolves it (a field named ``host`` is one too)."""


@dataclass(frozen=True)
class HostSet:
    """Marks a ``list[str] | None`` field of hosts to fan out to.

    When it is empty, the hosts.toml group named by field ``group`` is used.
    Every host is resolved before anything runs (one unknown host denies the
    call); the command policy is applied per host, and a host it refuses gets
    an error entry instead of running.
    """

    group: str = "group"


@dataclass(frozen=True)
class RemotePath:
    """Marks a remote path field: dispatch canonicalizes it on the host and confines it.

    Symlinks are followed, the final one too (a dangling link resolves to its
    target). ``create=True`` means the path may not exist yet: its deepest
    existing ancestor is resolved and the missing names appended.
    ``follow=False`` keeps the final component as named, for tools that act
    on a link itself (delete, move). ``host`` names the host field the path
    lives on. ``recursive=True`` marks a tree the tool will walk or copy
    whole: it is denied when any restricted zone lies inside. ``sudo=True``
    resolves it as root (``realpath -e`` through sudo), for sudo-tier tools
    whose paths the login user cannot enter; it must exist.
    """

    create: bool = False
    host: str = "host"
    recursive: bool = False
    follow: bool = True
    sudo: bool = False


@dataclass(frozen=True)
class LocalPath:
    """Marks a path on the server's own disk, confined to SSH_LOCAL_TRANSFER_ROOTS.

    ``create=True`` allows a path that does not exist yet (its parent must).
    The handler gets the resolved path.
    """

    create: bool = False


@dataclass(frozen=True)
class HandleRef:
    """Marks the id of something the server keeps on a host (a job, a shell, a terminal).

    Dispatch finds it and binds its host as ``host``; an unknown (or expired) id is refused,
    and the host passes host policy again, so a host blocklisted since is out of reach.
    """

    kind = ""


@dataclass(frozen=True)
class JobRef(HandleRef):
    """A background job id (:mod:`ssh_mcp.state.jobs`)."""

    kind = "job"


@dataclass(frozen=True)
class ShellRef(HandleRef):
    """A shell session id (:mod:`ssh_mcp.state.shells`)."""

    kind = "shell"


@dataclass(frozen=True)
class CommandText:
    """Marks a shell command field: dispatch applies the command policy and hashes it.
    ``absent_is_shell``: leaving it out starts a login shell (ssh_pty_open), which the
    login-shell rule governs; otherwise an absent command has nothing to check."""

    absent_is_shell: bool = False


@dataclass(frozen=True)
class Name:
    """Marks the name of a thing on the host (a unit, a container, a package), or a list of
    them: dispatch checks it against ``kind``'s rule in :mod:`ssh_mcp.policy.names` before
    anything runs (a list item by item), and the audit records its hash as
    ``<field>_hash``, never the name. The field's own type only bounds its length."""

    kind: str


class StrictInput(BaseModel):
    """Base of every input model: unknown fields are errors, values are frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)


class Output(BaseModel):
    """Base of every output model."""

    model_config = ConfigDict(frozen=True, defer_build=True)


# -- the declaration ---------------------------------------------------------------


@dataclass(frozen=True)
class Annotations:
    """MCP tool annotations, declared per tool and checked against the tier by a test."""

    read_only: bool
    destructive: bool
    idempotent: bool
    open_world: bool = True


@dataclass(frozen=True)
class ToolSpec(Generic[In, Out]):
    """Everything about one tool, in one place."""

    name: str
    title: str
    #: What tools/list sends: imperative, what comes back, when to use another tool.
    description: str
    tier: Tier
    group: Group
    input: type[In]
    output: type[Out]
    annotations: Annotations
    handler: Callable[[ToolContext, In], Awaitable[Out]]
    #: One short text rendering of the result for clients that ignore structuredContent.
    render: Callable[[Out], str] | None = None
    #: Streams data: the deadline is SSH_TRANSFER_TIMEOUT, not the command timeout.
    long_running: bool = False
    #: Output field whose value the audit records as ``bytes``.
    audit_bytes: str | None = None
    #: Output fields the audit line copies as they are (ids, never content).
    audit_fields: tuple[str, ...] = ()
    #: The longer explanation TOOLS.md adds after ``description``; tools/list leaves it out.
    #: A field's own longer text is ``Field(json_schema_extra={"details": ...})``.
    details: str = ""
    #: The modes whose tools/list shows it. A tool listed in full mode is part of the
    #: catalogue, callable in either mode; one listed only in search mode is that mode's
    #: own machinery (ssh_tool_search, ...), which exists only there (DECISIONS.md 62).
    listed_in: frozenset[ToolMode] = frozenset({ToolMode.FULL})

    @property
    def host_fields(self) -> list[str]:
        """Fields naming a host, ``host`` first when present."""
        names = [n for n in self.input.model_fields if n == "host"]
        return names + [n for n in self.marked_fields(HostRef) if n != "host"]

    @property
    def targets_host(self) -> bool:
        return bool(
            self.host_fields or self.marked_fields(HostSet) or self.marked_fields(HandleRef)
        )

    def field_marker(self, name: str, kind: type[T]) -> T | None:
        for meta in self.input.model_fields[name].metadata:
            if isinstance(meta, kind):
                return meta
        return None

    def marked_fields(self, kind: type[Any]) -> list[str]:
        return list(_marked(self.input, cast(Hashable, kind)))


@functools.cache
def _marked(model: type[BaseModel], kind: Hashable) -> tuple[str, ...]:
    """Fields of ``model`` carrying a ``kind`` marker; dispatch asks on every call."""
    assert isinstance(kind, type)
    return tuple(
        n for n, f in model.model_fields.items() if any(isinstance(m, kind) for m in f.metadata)
    )


#: Listed in both modes: what a search-mode client needs before it searches.
EVERY_MODE = frozenset(ToolMode)
#: Listed only in search mode: the search machinery.
SEARCH_ONLY = frozenset({ToolMode.SEARCH})

#: The annotation sets tools share.
READS = Annotations(read_only=True, destructive=False, idempotent=True)
READS_LOCAL = Annotations(read_only=True, destructive=False, idempotent=True, open_world=False)
CHANGES = Annotations(read_only=False, destructive=True, idempotent=False)
CHANGES_IDEMPOTENT = Annotations(read_only=False, destructive=True, idempotent=True)
#: Adds without destroying (a new directory, a note appended), so not safe to repeat.
ADDS = Annotations(read_only=False, destructive=False, idempotent=False)
ADDS_LOCAL = Annotations(read_only=False, destructive=False, idempotent=False, open_world=False)
CHANGES_IDEMPOTENT_LOCAL = Annotations(
    read_only=False, destructive=True, idempotent=True, open_world=False
)


#: The ``cwd`` argument of the command tools, and its longer text for TOOLS.md.
CWD_DESCRIPTION = "Directory to run in (absolute or ~/); default: home."
CWD_DETAILS = (
    "Home is the login user's. Confined like any path argument. The command allowlist "
    "applies to the command, not to this."
)

#: The ``host`` argument every host-facing tool takes. tools/list sends it without its
#: description: ssh_host_list's says once that its aliases are what ``host`` takes.
HOST_DESCRIPTION = "Alias from ssh_host_list."
HOST = Field(
    description=HOST_DESCRIPTION,
    json_schema_extra={
        "details": "Or a hostname that SSH_HOSTS_ALLOWLIST admits.",
        SAID_ONCE: True,
    },
    min_length=1,
    max_length=253,
)
