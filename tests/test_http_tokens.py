"""Scoped HTTP tokens and per-token rate limits, over real HTTP with the SDK's client:
a real `python -m ssh_mcp serve --http`, tokens made and revoked by the real CLI."""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest
from cli_run import cli_env, run_cli
from harness import OPEN, Mode, Target, hosts_toml, poll, text
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.types import CallToolResult, ElicitResult, InputRequiredResult, TextResourceContents
from test_http import HttpServer, http_server

from ssh_mcp.config.settings import Settings

__all__ = ["http_server"]  # the fixture, shared with test_http

POST = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}
LIST = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}).encode()


class Tokens:
    """``ssh-mcp token`` against one tokens file."""

    def __init__(self, home: Path) -> None:
        self.file = home / "tokens.json"
        self.env = cli_env(home, SSH_HTTP_TOKENS_FILE=str(self.file))

    def create(self, name: str, *scope: str) -> str:
        done = run_cli(self.env, "token", "create", name, *scope)
        assert done.returncode == 0, done.stderr
        return done.stdout.strip()

    def revoke(self, name: str) -> None:
        assert run_cli(self.env, "token", "revoke", name).returncode == 0


@asynccontextmanager
async def client_as(
    server: HttpServer, token: str, mode: Mode = "auto", elicitation: Any = None
) -> AsyncIterator[Client]:
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(30, read=60)) as http:
        transport = streamable_http_client(server.url + "/mcp", http_client=http)
        async with Client(transport, mode=mode, elicitation_callback=elicitation) as client:
            yield client


def status(server: HttpServer, token: str, **headers: str) -> tuple[int, Any]:
    code, got, _ = server.get("/mcp", POST | {"Authorization": f"Bearer {token}"} | headers, LIST)
    return code, got


def _text(content: object) -> str:
    assert isinstance(content, TextResourceContents)
    return content.text


def _audit(settings: Settings) -> list[dict[str, Any]]:
    return [json.loads(line) for line in settings.ssh_audit_log.read_text().splitlines()]


@pytest.fixture
def two_hosts(target: Target, settings_for: Callable[..., Settings]) -> Settings:
    """``web1`` and ``db1``, both the test sshd, with every command open."""
    web, db = dataclasses.replace(target, alias="web1"), dataclasses.replace(target, alias="db1")
    return settings_for(hosts=hosts_toml(web, db), **OPEN)


def _serve(
    http_server: Callable[..., HttpServer], settings: Settings, tokens: Tokens, **extra: str
) -> HttpServer:
    return http_server(
        settings,
        SSH_HTTP_TOKENS_FILE=str(tokens.file),
        ALLOW_DANGEROUS_TOOLS="true",
        ALLOW_ANY_COMMAND="true",
        **extra,
    )


@pytest.mark.anyio
@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_a_token_sees_and_reaches_only_its_scope(
    two_hosts: Settings,
    http_server: Callable[..., HttpServer],
    tmp_path: Path,
    drop: Path,
    mode: Mode,
) -> None:
    tokens = Tokens(tmp_path / "cli")
    reader = tokens.create("reader", "--hosts", "web*", "--tiers", "read")
    ops = tokens.create("ops", "--hosts", "web*", "--tiers", "read,dangerous")
    server = _serve(http_server, two_hosts, tokens)

    async with client_as(server, reader, mode) as client:
        names = {t.name for t in (await client.list_tools()).tools}
        assert "ssh_host_ping" in names and "ssh_exec_run" not in names
        refused = await client.call_tool("ssh_exec_run", {"host": "web1", "command": "true"})
        assert refused.is_error and "unknown tool 'ssh_exec_run'" in text(refused)
        r = await client.call_tool("ssh_host_ping", {"host": "web1"})
        assert not r.is_error, text(r)
        r = await client.call_tool("ssh_host_ping", {"host": "db1"})
        assert r.is_error and "unknown host 'db1'" in text(r)
        listed = await client.call_tool("ssh_host_list", {})
        assert "web1" in text(listed) and "db1" not in text(listed)
        hosts = await client.read_resource("ssh-mcp://hosts")
        body = json.loads(_text(hosts.contents[0]))
        assert [h["alias"] for h in body["hosts"]] == ["web1"]
        info = await client.read_resource("ssh-mcp://server-info")
        facts = json.loads(_text(info.contents[0]))
        assert facts["open_tiers"] == ["read"] and facts["host_count"] == 1

    marker_db, marker_web = drop / "db", drop / "web"
    async with client_as(server, ops, mode) as client:
        run = {"command": f"touch {marker_db}"}
        r = await client.call_tool("ssh_exec_run", {"host": "db1", **run})
        assert r.is_error and "unknown host 'db1'" in text(r)
        r = await client.call_tool(
            "ssh_exec_run", {"host": "web1", "command": f"touch {marker_web}"}
        )
        assert not r.is_error, text(r)
    assert not marker_db.exists() and marker_web.exists()
    records = _audit(two_hosts)
    assert [(r["token"], r["host"], r["outcome"]) for r in records[-2:]] == [
        ("ops", "db1", "denied"),
        ("ops", "web1", "ok"),
    ]
    assert {r["token"] for r in records} == {"reader", "ops"}
    log = two_hosts.ssh_audit_log.read_text()
    assert reader not in log and ops not in log

    # The static SSH_HTTP_TOKEN_CMD token keeps the server's whole scope.
    async with client_as(server, server.token, mode) as client:
        r = await client.call_tool("ssh_host_ping", {"host": "db1"})
        assert not r.is_error, text(r)
        job = await client.call_tool("ssh_job_start", {"host": "db1", "command": "true"})
        assert not job.is_error, text(job)
    assert _audit(two_hosts)[-1]["token"] == "static"
    # Lists of what is shared across tokens leave out hosts outside the scope.
    async with client_as(server, ops, mode) as client:
        jobs = (await client.call_tool("ssh_job_list", {})).structured_content or {}
        assert jobs["jobs"] == [] and jobs["total"] == 0
        sessions = (await client.call_tool("ssh_session_list", {})).structured_content or {}
        assert {s["host"] for s in sessions["sessions"]} == {"web1"}


@pytest.mark.anyio
async def test_a_revoked_token_stops_on_the_next_request_on_every_replica(
    two_hosts: Settings, http_server: Callable[..., HttpServer], tmp_path: Path
) -> None:
    tokens = Tokens(tmp_path / "cli")
    token = tokens.create("ci", "--hosts", "web1")
    one = _serve(http_server, two_hosts, tokens)
    two = _serve(http_server, two_hosts, tokens)
    async with client_as(one, token) as client:
        assert (await client.call_tool("ssh_host_ping", {"host": "web1"})).is_error is False
        assert status(two, token)[0] == 200
        tokens.revoke("ci")
        with pytest.raises(Exception):  # noqa: B017 - the SDK's error for a 401
            await client.list_tools()
    assert status(one, token)[0] == 401 and status(two, token)[0] == 401
    # A token made after the servers started counts at once, on both.
    later = tokens.create("later")
    assert status(one, later)[0] == 200 and status(two, later)[0] == 200


def test_an_expired_token_is_refused(
    two_hosts: Settings, http_server: Callable[..., HttpServer], tmp_path: Path
) -> None:
    tokens = Tokens(tmp_path / "cli")
    token = tokens.create("brief", "--expires", "1m")
    server = _serve(http_server, two_hosts, tokens)
    assert status(server, token)[0] == 200
    data = json.loads(tokens.file.read_text())
    data["tokens"][0]["expires"] = data["tokens"][0]["created"]  # as a minute later
    tokens.file.write_text(json.dumps(data))
    assert status(server, token)[0] == 401


def test_rate_limit_per_token_answers_429_with_retry_after(
    two_hosts: Settings, http_server: Callable[..., HttpServer], tmp_path: Path
) -> None:
    tokens = Tokens(tmp_path / "cli")
    a, b = tokens.create("a"), tokens.create("b")
    server = _serve(http_server, two_hosts, tokens, SSH_HTTP_RATE_LIMIT="3")
    assert [status(server, a)[0] for _ in range(3)] == [200, 200, 200]
    code, headers = status(server, a)
    assert code == 429 and 1 <= int(headers["retry-after"]) <= 20
    assert status(server, b)[0] == 200  # another token has its own bucket


@pytest.mark.anyio
async def test_concurrency_per_token_answers_429(
    two_hosts: Settings, http_server: Callable[..., HttpServer], tmp_path: Path, drop: Path
) -> None:
    tokens = Tokens(tmp_path / "cli")
    a, b = tokens.create("a"), tokens.create("b")
    server = _serve(http_server, two_hosts, tokens, SSH_HTTP_MAX_CONCURRENCY="1")
    started, stop = drop / "started", drop / "stop"
    command = f"touch {started}; while [ ! -e {stop} ]; do sleep 0.05; done"
    async with client_as(server, a) as client, anyio.create_task_group() as tg:
        results: list[Any] = []

        async def long_call() -> None:
            results.append(
                await client.call_tool("ssh_exec_run", {"host": "web1", "command": command})
            )

        tg.start_soon(long_call)
        await poll(started.exists, "the long call started", 30)
        code, headers = await anyio.to_thread.run_sync(lambda: status(server, a))
        assert code == 429 and headers["retry-after"] == "1"
        assert (await anyio.to_thread.run_sync(lambda: status(server, b)))[0] == 200
        stop.touch()
    assert results and not results[0].is_error, text(results[0])
    assert status(server, a)[0] == 200  # released when the call ended


def test_body_cap_host_and_origin_with_a_file_token(
    two_hosts: Settings, http_server: Callable[..., HttpServer], tmp_path: Path
) -> None:
    tokens = Tokens(tmp_path / "cli")
    token = tokens.create("ci")
    server = _serve(http_server, two_hosts, tokens)
    auth = POST | {"Authorization": f"Bearer {token}"}
    big = b'{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"x":"' + b"a" * (5 << 20)
    assert server.get("/mcp", auth, big + b'"}}')[0] == 413
    assert status(server, token, Host="evil.example")[0] == 421
    assert status(server, token, Origin="http://evil.example")[0] == 403
    assert status(server, token, Origin=server.url)[0] == 200
    assert os.stat(tokens.file).st_mode & 0o777 == 0o600


@pytest.mark.anyio
async def test_a_confirmation_belongs_to_the_token_it_was_asked_for(
    two_hosts: Settings, http_server: Callable[..., HttpServer], tmp_path: Path, drop: Path
) -> None:
    tokens = Tokens(tmp_path / "cli")
    a, b = tokens.create("a"), tokens.create("b")
    server = _serve(http_server, two_hosts, tokens, SSH_CONFIRM_PATTERNS=r"\btouch\b")
    marker = drop / "confirmed"
    args = {"host": "web1", "command": f"touch {marker}"}
    yes = ElicitResult(action="accept", content={"confirm": True})

    async def human(context: Any, params: Any) -> ElicitResult:
        return yes  # never asked here: each call below answers through request_state

    async with client_as(server, a, elicitation=human) as client:
        first = await client.session.call_tool("ssh_exec_run", args, allow_input_required=True)
        assert isinstance(first, InputRequiredResult) and first.request_state
    state = first.request_state
    async with client_as(server, b, elicitation=human) as client:
        stolen = await client.session.call_tool(
            "ssh_exec_run",
            args,
            input_responses={"confirm": yes},
            request_state=state,
            allow_input_required=True,
        )
        assert isinstance(stolen, InputRequiredResult) and not marker.exists()
    async with client_as(server, a, elicitation=human) as client:
        ran = await client.session.call_tool(
            "ssh_exec_run", args, input_responses={"confirm": yes}, request_state=state
        )
        assert isinstance(ran, CallToolResult) and not ran.is_error and marker.exists()
    tail = [(r["token"], r.get("confirmation")) for r in _audit(two_hosts)[-3:]]
    assert tail == [("a", "requested"), ("b", "requested"), ("a", "confirmed")]


@pytest.mark.anyio
async def test_search_mode_finds_and_calls_only_what_the_scope_allows(
    two_hosts: Settings, http_server: Callable[..., HttpServer], tmp_path: Path, drop: Path
) -> None:
    tokens = Tokens(tmp_path / "cli")
    reader = tokens.create("reader", "--tiers", "read", "--groups", "host")
    server = _serve(http_server, two_hosts, tokens, SSH_TOOL_MODE="search")
    marker = drop / "searched"
    async with client_as(server, reader) as client:
        found = await client.call_tool("ssh_tool_search", {"query": "the", "limit": 50})
        assert not found.is_error, text(found)
        names = {t["name"] for t in (found.structured_content or {})["tools"]}
        assert "ssh_host_ping" in names, names
        assert "ssh_exec_run" not in names and "ssh_sftp_list" not in names
        wrapped = {"host": "web1", "command": f"touch {marker}"}
        r = await client.call_tool("ssh_tool_call", {"name": "ssh_exec_run", "arguments": wrapped})
        assert r.is_error and "unknown tool 'ssh_exec_run'" in text(r)
    assert not marker.exists()
    last = _audit(two_hosts)[-1]
    assert (last["tool"], last["token"], last["outcome"]) == ("ssh_exec_run", "reader", "denied")


def test_a_tokens_file_alone_is_enough_to_serve(tmp_path: Path) -> None:
    from ssh_mcp.errors import ConfigError
    from ssh_mcp.mcp.http import http_options

    file = tmp_path / "tokens.json"
    with pytest.raises(ConfigError, match="ssh-mcp token create"):
        http_options(Settings(ssh_http_tokens_file=file))
    Tokens(tmp_path).create("only")
    options = http_options(Settings(ssh_http_tokens_file=file))
    assert options.token is None and options.tokens_file == file
