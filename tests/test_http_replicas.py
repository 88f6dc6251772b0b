"""Two real `ssh-mcp serve --http` replicas behind one (imaginary) load balancer: a
2026-07-28 confirmation asked on one replica is answered on the other."""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio.to_thread
import pytest
from harness import text
from mcp.types import CallToolResult, ElicitResult, InputRequiredResult
from sshd import TestUser, wait_gone
from test_http import HttpServer, http_server
from test_http_tokens import Tokens, client_as

from ssh_mcp.config.settings import Settings

__all__ = ["http_server"]  # the fixture, shared with test_http

YES = ElicitResult(action="accept", content={"confirm": True})


async def _never_asked(context: Any, params: Any) -> ElicitResult:
    return YES  # each call below answers through request_state, nothing is pushed


def _confirmations(log: Path) -> list[str | None]:
    return [json.loads(line).get("confirmation") for line in log.read_text().splitlines()]


@pytest.mark.anyio
async def test_a_confirmation_asked_on_one_replica_runs_on_another_once_per_replica(
    settings_for: Callable[..., Settings],
    http_server: Callable[..., HttpServer],
    tmp_path: Path,
    drop: Path,
    test_user: TestUser,
) -> None:
    """Replicas sharing SSH_AUDIT_KEY accept each other's confirmation tokens. Each
    remembers the tokens it redeemed in its own memory only: the same yes is refused
    on the replica that ran it, but another replica that has not seen it runs it again
    (within SSH_CONFIRM_TIMEOUT). A replica with another key asks afresh."""
    settings = settings_for()  # for its files: the replicas get their settings by env
    tokens = Tokens(tmp_path / "cli")
    agent = tokens.create("agent")
    shared = {
        "SSH_HTTP_TOKENS_FILE": str(tokens.file),
        "SSH_CONFIRM_PATTERNS": r"\btouch\b",
        "ALLOW_DANGEROUS_TOOLS": "true",
        "ALLOW_ANY_COMMAND": "true",
    }
    key = secrets.token_hex(32)
    # Each replica on its own machine: its own audit log, the shared key.
    logs = {name: tmp_path / f"audit-{name}.jsonl" for name in ("a", "b", "other")}
    a = http_server(settings, SSH_AUDIT_KEY=key, SSH_AUDIT_LOG=str(logs["a"]), **shared)
    b = http_server(settings, SSH_AUDIT_KEY=key, SSH_AUDIT_LOG=str(logs["b"]), **shared)
    other = http_server(
        settings, SSH_AUDIT_KEY=secrets.token_hex(32), SSH_AUDIT_LOG=str(logs["other"]), **shared
    )
    marker = drop / "deployed"
    args = {"host": "target", "command": f"touch {marker}; echo $$"}  # $$: its shell

    async def answer(server: HttpServer, state: str) -> CallToolResult | InputRequiredResult:
        async with client_as(server, agent, "auto", _never_asked) as client:
            return await client.session.call_tool(
                "ssh_exec_run",
                args,
                input_responses={"confirm": YES},
                request_state=state,
                allow_input_required=True,
            )

    async with client_as(a, agent, "auto", _never_asked) as client:
        first = await client.session.call_tool("ssh_exec_run", args, allow_input_required=True)
    assert isinstance(first, InputRequiredResult) and first.request_state
    assert not marker.exists()
    state = first.request_state

    asked = await answer(other, state)  # another key: the token is not its own
    assert isinstance(asked, InputRequiredResult) and not marker.exists()

    ran = await answer(b, state)
    assert isinstance(ran, CallToolResult)
    assert not ran.is_error, text(ran)
    assert marker.exists()
    marker.unlink()

    again = await answer(b, state)  # replayed where it ran: asked afresh
    assert isinstance(again, InputRequiredResult) and not marker.exists()

    # Replayed on the replica that only issued it: it has no record of B's
    # redemption, so the command runs a second time.
    replayed = await answer(a, state)
    assert isinstance(replayed, CallToolResult)
    assert not replayed.is_error, text(replayed)
    assert marker.exists()
    marker.unlink()
    assert isinstance(await answer(a, state), InputRequiredResult) and not marker.exists()

    assert _confirmations(logs["a"]) == ["requested", "confirmed", "requested"]
    assert _confirmations(logs["b"]) == ["confirmed", "requested"]
    assert _confirmations(logs["other"]) == ["requested"]

    # Each run's watchdog exits within a second of its shell; wait for that while the
    # replicas still hold their connections, or their kill at teardown can find it mid-poll
    # and send it down the dropped-connection path (TERM, two seconds, KILL).
    for result in (ran, replayed):
        shell = (result.structured_content or {})["stdout"].strip()
        assert shell.isdigit(), shell
        watchdog = f"ssh-mcp-watchdog {shell} "
        assert await anyio.to_thread.run_sync(wait_gone, test_user.name, watchdog, 5.0)
