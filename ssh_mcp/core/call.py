"""One tool call as it passes through dispatch: its state, its audit record, its result.

Dispatch (:mod:`ssh_mcp.core.dispatch`) is a list of named steps, each a
function of one :class:`Call`; each step reads what earlier steps put on the
call and adds its own part (the tool, the validated arguments, the targets,
the handler's output). The call also remembers the steps it passed through,
in order, and holds what lives exactly as long as one call: its sudo
credentials (:class:`~ssh_mcp.core.context.Elevations`), the remote paths
already resolved (:class:`~ssh_mcp.core.confine.Resolver`) and its standing
reservation on each host's pool (:class:`~ssh_mcp.ssh.pool.Lease`).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel

from ssh_mcp.core.app import App
from ssh_mcp.core.command_step import CommandStep
from ssh_mcp.core.confine import Resolver
from ssh_mcp.core.context import Elevations, ProgressFn, Target
from ssh_mcp.core.spec import ToolSpec
from ssh_mcp.ssh.pool import Lease

Decision = Literal["confirmed", "declined", "cancelled", "unsupported", "no_channel", "requested"]


#: ``confirm(message, redeem)`` asks a human, through the MCP client, whether a
#: deny-pattern command may run. It returns the human's decision; ``unsupported``
#: when the client cannot ask; ``no_channel`` when it could, but the transport gives
#: the server no way to ask it (stateless HTTP, handshake era); ``requested`` when
#: the answer will come in a retried call (2026-07-28): an answer carried by this
#: call counts only if ``redeem(request_state)`` accepts the token echoed back.
Redeem = Callable[[str | None], bool]
Confirmer = Callable[[str, Redeem], Awaitable[Decision]]


async def cannot_ask(message: str, redeem: Redeem) -> Decision:
    return "unsupported"


async def no_progress(done: float, total: float | None, message: str | None) -> None:
    return None


@dataclass(frozen=True)
class Outcome:
    """What the MCP layer turns into a CallToolResult."""

    ok: bool
    text: str
    structured: dict[str, Any] | None = None
    #: (message, state) when a human must confirm first and the client asks on retry.
    input_required: tuple[str, str] | None = None


class InputRequired(Exception):
    """The confirmation step's answer: ask the human in a retried call."""

    def __init__(self, message: str, state: str) -> None:
        super().__init__(message)
        self.message, self.state = message, state


@dataclass
class Record:
    """The audit record being built for one call."""

    tool: str
    id: str = field(default_factory=lambda: uuid.uuid4().hex[:16])
    tier: str | None = None
    host: str | None = None
    hostname: str | None = None
    path_hash: str | None = None
    command_hash: str | None = None
    exit_code: int | None = None
    bytes: int | None = None
    extra: dict[str, str] = field(default_factory=dict)

    def set_host(self, field_name: str, primary: bool, alias: str, hostname: str | None) -> None:
        """``host``/``hostname`` for the tool's first host field; ``<field>`` for others."""
        if primary:
            self.host, self.hostname = alias, hostname
        else:
            self.extra[field_name] = alias

    def add_path(self, field_name: str, digest: str) -> None:
        """``path_hash`` for the first path field; ``<field>_hash`` for others."""
        if self.path_hash is None:
            self.path_hash = digest
        else:
            self.extra[f"{field_name}_hash"] = digest


@dataclass
class Call:
    """The state of one call; see the module docstring."""

    app: App
    name: str
    arguments: Mapping[str, Any]
    progress: ProgressFn = no_progress
    confirm: Confirmer = cannot_ask
    started: float = field(default_factory=time.monotonic)
    rec: Record = field(init=False)
    #: Set by the elevation step: the call's sudo credentials and, through them, the
    #: resolution of its remote paths.
    elevations: Elevations = field(init=False, repr=False)
    resolver: Resolver = field(init=False, repr=False)
    #: The slot dispatch's path resolution reserved, reused by the handler's operations
    #: one after another (DECISIONS.md 57).
    lease: Lease = field(default_factory=Lease, repr=False)
    #: Names of the steps this call passed through, in order.
    passed: list[str] = field(default_factory=list)
    # Filled in by the steps, in order.
    tool: ToolSpec[Any, Any] | None = None
    args: BaseModel | None = None
    targets: dict[str, Target] = field(default_factory=dict)
    updates: dict[str, str] = field(default_factory=dict)
    commands: CommandStep = field(default_factory=CommandStep)
    #: The handler's output, rendered for the client.
    out: Outcome | None = None
    #: What ended the call early: a refusal, a failure, a confirmation to ask for.
    failure: BaseException | None = None
    outcome: Outcome | None = None

    def __post_init__(self) -> None:
        self.rec = Record(tool=self.name[:128])

    @property
    def spec(self) -> ToolSpec[Any, Any]:
        if self.tool is None:
            raise RuntimeError("the visibility step has not run")
        return self.tool

    @property
    def model(self) -> BaseModel:
        if self.args is None:
            raise RuntimeError("the validation step has not run")
        return self.args


@dataclass(frozen=True)
class Step:
    """One named step of dispatch."""

    name: str
    run: Callable[[Call], Awaitable[None]]
    #: Runs whatever happened before (audit, error mapping), not only after success.
    always: bool = False
