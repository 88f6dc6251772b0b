"""Dispatch as a list of named steps, run against an in-memory host (``tests/fakes.py``).

No sshd and no root: the remote API is faked, everything else (settings, hosts.toml,
policy, confirmation, audit log) is the real thing. ``test_dispatch_sshd.py`` proves
the same properties where a real host is involved.
"""

from __future__ import annotations

import dataclasses
import stat as statmod
from pathlib import Path
from typing import Any

import pytest
from fakes import fake_app, result
from harness import audit_lines
from pydantic import Field

from ssh_mcp.core.access import Group, Tier
from ssh_mcp.core.call import Decision, Redeem
from ssh_mcp.core.dispatch import STEPS, Outcome, dispatch, run_call
from ssh_mcp.core.remote import FileAttrs, ProcessResult, Remote
from ssh_mcp.core.spec import READS, Output, ToolContext, ToolSpec
from ssh_mcp.ssh.sudo_io import Elevation
from ssh_mcp.tools import ALL_TOOLS
from ssh_mcp.tools.sftp_read.listing import PathInput

pytestmark = pytest.mark.anyio

ORDER = [
    "visibility",
    "validation",
    "host",
    "elevation",
    "paths",
    "commands",
    "confirmation",
    "handler",
    "audit",
    "error mapping",
]
FILES: dict[str, bytes | None] = {
    "/srv": None,
    "/srv/app": None,
    "/srv/app/config.toml": b"x = 1\n",
    "/etc": None,
    "/etc/passwd": b"root:x:0:0::/root:/bin/sh\n",
    "/home": None,
    "/home/agent": None,
}


class Size(Output):
    path: str = Field(description="Canonical path.")
    size: int | None = Field(description="Bytes.")
    regular: bool = Field(description="A regular file.")


async def size_of(ctx: ToolContext, args: PathInput) -> Size:
    async def op(remote: Remote) -> FileAttrs:
        return await remote.stat(args.path)

    attrs = await ctx.remote(op, replay=True)
    regular = attrs.mode is not None and statmod.S_ISREG(attrs.mode)
    return Size(path=args.path, size=attrs.size, regular=regular)


#: A stat-class tool written the way tools reach a host: one read through ctx.remote.
T_SIZE = ToolSpec("t_size", "Size", "Stat.", Tier.READ, Group.SFTP_READ, PathInput, Size, READS,
                  size_of)  # fmt: skip


def test_dispatch_is_a_list_of_named_steps_in_order() -> None:
    assert [s.name for s in STEPS] == ORDER
    assert [s.name for s in STEPS if s.always] == ["audit", "error mapping"]


async def test_a_call_passes_every_step_in_order_and_reaches_its_host_once_per_need(
    tmp_path: Path,
) -> None:
    app, reach = fake_app(tmp_path, FILES, tools=(*ALL_TOOLS, T_SIZE))
    call = await run_call(app, "t_size", {"host": "fake", "path": "/srv/app/./config.toml"})
    assert call.outcome is not None and call.outcome.ok, call.outcome
    assert call.passed == ORDER
    assert call.outcome.structured == {"path": "/srv/app/config.toml", "size": 6, "regular": True}
    # Dispatch resolved the path, the roots and the zones in one operation; the handler's
    # stat is the second.
    assert reach.entries == [("remote", True), ("remote", True)]
    line = audit_lines(app)[-1]
    assert (line["tool"], line["outcome"], line["host"]) == ("t_size", "ok", "fake")
    assert "error" not in line
    assert line["path_hash"] == app.audit.digest("/srv/app/config.toml")


async def test_a_tool_of_a_closed_tier_is_unknown_and_still_audited(tmp_path: Path) -> None:
    app, reach = fake_app(tmp_path, FILES)  # the read tier only
    call = await run_call(app, "ssh_exec_run", {"host": "fake", "command": "id"})
    assert call.outcome is not None and not call.outcome.ok
    assert call.outcome.text.startswith("unknown tool 'ssh_exec_run'")
    assert call.passed == ["audit", "error mapping"] and reach.entries == []
    line = audit_lines(app)[-1]
    assert (line["outcome"], line["error"], line.get("tier")) == (
        "denied",
        "ToolNotAvailable",
        None,
    )


async def test_a_path_outside_the_allowlist_is_refused_at_the_paths_step(tmp_path: Path) -> None:
    app, reach = fake_app(tmp_path, FILES, tools=(*ALL_TOOLS, T_SIZE))
    call = await run_call(app, "t_size", {"host": "fake", "path": "/etc/passwd"})
    assert call.outcome is not None and not call.outcome.ok
    assert "outside the path allowlist" in call.outcome.text, call.outcome.text
    assert call.passed == [*ORDER[:4], "audit", "error mapping"]
    assert reach.entries == [("remote", True)]  # the handler never ran
    line = audit_lines(app)[-1]
    assert (line["outcome"], line["error"]) == ("denied", "PathNotAllowed")
    assert line["path_hash"] == app.audit.digest("/etc/passwd")  # denials show the path


async def test_a_deny_pattern_command_needs_a_human_and_runs_once_confirmed(
    tmp_path: Path,
) -> None:
    open_exec: dict[str, Any] = {"allow_dangerous_tools": True, "allow_any_command": True}
    app, reach = fake_app(tmp_path, FILES, **open_exec)
    args = {"host": "fake", "command": "shutdown -h now"}
    call = await run_call(app, "ssh_exec_run", args)  # this client cannot ask
    assert call.outcome is not None and not call.outcome.ok
    assert "needs a human's confirmation" in call.outcome.text
    assert call.passed == [*ORDER[:6], "audit", "error mapping"] and reach.entries == []
    line = audit_lines(app)[-1]
    assert (line["error"], line["confirmation"]) == ("NotConfirmed", "unsupported")

    asked: list[str] = []

    async def yes(message: str, redeem: Redeem) -> Decision:
        asked.append(message)
        return "confirmed"

    outcome = await dispatch(app, "ssh_exec_run", args, confirm=yes)
    assert outcome.ok, outcome.text
    assert "shutdown" in asked[0] and reach.entries == [("process", "shutdown -h now")]
    line = audit_lines(app)[-1]
    assert (line["outcome"], line["confirmation"], line["exit_code"]) == ("ok", "confirmed", 0)


async def test_the_sudo_password_command_runs_once_per_call(tmp_path: Path) -> None:
    """Dispatch resolves the path as root and the handler reads it as root: one password read."""
    counter = tmp_path / "reads"
    password_cmd = ["sh", "-c", f"echo read >> {counter}; echo pw"]
    open_sudo: dict[str, Any] = {"allow_dangerous_tools": True, "allow_sudo": True}
    extra = f"sudo_password_cmd = {password_cmd!r}\n".replace("'", '"')
    extra += 'restricted_paths = ["/srv/app/secret"]\n'  # zones resolved by root too
    app, reach = fake_app(tmp_path, FILES, host_extra=extra, **open_sudo)
    given: list[Elevation | None] = []

    def answer(command: str, elevate: Elevation | None) -> ProcessResult:
        given.append(elevate)
        return result(b"x = 1\n", elevated=True)

    reach.answer = answer
    args = {"host": "fake", "path": "/srv/app/config.toml"}
    outcome = await dispatch(app, "ssh_sudo_read", args)
    assert outcome.ok, outcome.text
    assert counter.read_text().splitlines() == ["read"]
    assert given and given[0] is not None and given[0].secret == b"pw\n"
    await dispatch(app, "ssh_sudo_read", args)
    assert counter.read_text().splitlines() == ["read", "read"]  # once per call, not per server


def _broken_render(out: Size) -> str:
    raise ValueError("cannot render")


async def test_a_failing_render_is_the_handlers_internal_error_and_audited_so(
    tmp_path: Path,
) -> None:
    broken = dataclasses.replace(T_SIZE, name="t_broken", render=_broken_render)
    app, _ = fake_app(tmp_path, FILES, tools=(*ALL_TOOLS, broken))
    call = await run_call(app, "t_broken", {"host": "fake", "path": "/srv/app/config.toml"})
    line = audit_lines(app)[-1]
    assert call.outcome == Outcome(
        ok=False, text=f"internal error (id {line['id']}); the server log has the details"
    )
    assert call.passed == [*ORDER[:7], "audit", "error mapping"]
    assert (line["outcome"], line["error"]) == ("error", "ValueError")


def test_dispatch_reaches_hosts_only_through_the_remote_api() -> None:
    """Dispatch's modules name no asyncssh, hold no pooled connection and call no pool:
    what they do on a host goes through App.reach and the typed Remote."""
    core = Path(__file__).resolve().parent.parent / "ssh_mcp" / "core"
    modules = ("dispatch", "call", "steps", "confirm_step", "confine", "command_step")
    for name in modules:
        source = (core / f"{name}.py").read_text()
        for banned in ("asyncssh", "PooledConnection", "pool.run", "ssh_mcp.ssh.sftp"):
            assert banned not in source, f"core/{name}.py names {banned}"


async def test_the_real_read_tools_run_whole_on_the_fake_host(tmp_path: Path) -> None:
    """ssh_sftp_stat and ssh_sftp_list, as shipped, through every step against in-memory files:
    dispatch, policy and audit are testable without sshd now that tools reach hosts only
    through the remote API."""
    app, reach = fake_app(tmp_path, FILES)
    stat = await run_call(app, "ssh_sftp_stat", {"host": "fake", "path": "/srv/app/config.toml"})
    assert stat.outcome is not None and stat.outcome.ok, stat.outcome
    assert stat.passed == ORDER
    got = stat.outcome.structured or {}
    assert (got["kind"], got["size"], got["mode"], got["owner"]) == ("file", 6, "0644", None)
    assert [kind for kind, _ in reach.entries] == ["remote", "remote", "process"]
    listing = await run_call(app, "ssh_sftp_list", {"host": "fake", "path": "/srv"})
    assert listing.outcome is not None and listing.outcome.ok, listing.outcome
    entries = (listing.outcome.structured or {})["entries"]
    assert [(e["name"], e["kind"]) for e in entries] == [("app", "dir")]
    assert [line["tool"] for line in audit_lines(app)] == ["ssh_sftp_stat", "ssh_sftp_list"]
