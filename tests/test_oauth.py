"""The OAuth 2.1 resource server over real HTTP: `ssh-mcp serve --http` with SSH_OAUTH_*
set, tokens from a real authorization server (oidc-provider, tests/oidc.py), and the
SDK's streamable HTTP client."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2
import pytest
from cli_run import cli_env, run_cli
from harness import LOW, server_env, text
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from oidc import OAuthClient, Provider, free_port, provider

from ssh_mcp.config.settings import Settings

CLIENTS = [
    OAuthClient("ops", "ssh:read ssh:low-access"),
    OAuthClient("reader", "ssh:read ssh:host:web*"),
    OAuthClient("brief", "ssh:read", ttl=1),
]
POST = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}
LIST = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}).encode()


@dataclass
class OAuthServer:
    url: str  # http://127.0.0.1:PORT
    resource: str  # url + /mcp: the audience tokens must carry
    issuer: Provider
    stderr: Path

    def post(self, token: str | None, body: bytes = LIST) -> httpx2.Response:
        auth = {"Authorization": f"Bearer {token}"} if token is not None else {}
        return httpx2.post(self.resource, headers=POST | auth, content=body, timeout=10)

    def token(self, client_id: str) -> str:
        return self.issuer.token(client_id, self.resource)


@pytest.fixture
def oauth_server(tmp_path: Path) -> Iterator[Callable[..., OAuthServer]]:
    """The authorization server, and `ssh-mcp serve --http` trusting it; both stopped by PID."""
    procs: list[subprocess.Popen[bytes]] = []
    with provider(CLIENTS, tmp_path / "oidc.log") as issuer:

        def start(settings: Settings, **extra: str) -> OAuthServer:
            port = free_port()
            url = f"http://127.0.0.1:{port}"
            env = server_env(
                settings,
                SSH_HTTP_PORT=str(port),
                SSH_OAUTH_ISSUER=issuer.issuer,
                SSH_OAUTH_AUDIENCE=f"{url}/mcp",
                SSH_OAUTH_JWKS_URL=issuer.jwks_url,
                ALLOW_LOW_ACCESS_TOOLS="true" if settings.allow_low_access_tools else "false",
                SSH_TOOL_MODE=settings.ssh_tool_mode.value,
                **extra,
            )
            stderr = tmp_path / "stderr"
            with stderr.open("wb") as err:
                proc = subprocess.Popen(
                    [sys.executable, "-m", "ssh_mcp", "serve", "--http"],
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                    stderr=err,
                    env=env,
                    cwd="/",
                )
            procs.append(proc)
            deadline = time.monotonic() + 30
            while True:
                assert proc.poll() is None, stderr.read_text()
                try:
                    if httpx2.get(f"{url}/health", timeout=5).status_code == 200:
                        return OAuthServer(url, f"{url}/mcp", issuer, stderr)
                except httpx2.TransportError:
                    pass
                assert time.monotonic() < deadline, "the HTTP server did not come up in 30 s"
                time.sleep(0.05)  # polling the port: nothing announces that it listens

        try:
            yield start
        finally:
            for proc in procs:
                proc.terminate()
                proc.wait(15)


@asynccontextmanager
async def oauth_client(server: OAuthServer, token: str) -> AsyncIterator[Client]:
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(30, read=60)) as http:
        transport = streamable_http_client(server.resource, http_client=http)
        async with Client(transport) as client:
            yield client


def _audit(settings: Settings) -> list[dict[str, Any]]:
    return [json.loads(line) for line in settings.ssh_audit_log.read_text().splitlines()]


def _challenge(reply: httpx2.Response, server: OAuthServer) -> None:
    """A 401 whose WWW-Authenticate names the protected-resource metadata."""
    assert reply.status_code == 401, (reply.status_code, reply.text)
    metadata = f"{server.url}/.well-known/oauth-protected-resource/mcp"
    challenge = reply.headers["www-authenticate"]
    assert challenge.startswith("Bearer ") and f'resource_metadata="{metadata}"' in challenge


def test_metadata_and_the_401s(
    settings_for: Callable[..., Settings],
    oauth_server: Callable[..., OAuthServer],
) -> None:
    server = oauth_server(settings_for())
    for path in (
        "/.well-known/oauth-protected-resource/mcp",
        "/.well-known/oauth-protected-resource",
    ):
        reply = httpx2.get(server.url + path, timeout=10)
        assert reply.status_code == 200, path
        document = reply.json()
        assert document["resource"] == server.resource
        assert document["authorization_servers"] == [server.issuer.issuer], path
    _challenge(server.post(None), server)
    _challenge(server.post("not-a-jwt"), server)
    # A real token from the same issuer, but for another resource: wrong `aud`.
    elsewhere = server.issuer.token("ops", "http://127.0.0.1:1/mcp")
    _challenge(server.post(elsewhere), server)
    assert server.post(server.token("ops")).status_code == 200
    assert httpx2.get(server.url + "/health", timeout=10).status_code == 200


def test_an_expired_token_gets_401(
    settings_for: Callable[..., Settings],
    oauth_server: Callable[..., OAuthServer],
) -> None:
    server = oauth_server(settings_for())
    token = server.token("brief")  # lives 1 s, plus the server's clock leeway
    deadline = time.monotonic() + 30
    while (reply := server.post(token)).status_code == 200:
        assert time.monotonic() < deadline, "a 1-second token still works after 30 s"
        time.sleep(0.2)  # polling the clock: expiry announces itself to nobody
    _challenge(reply, server)
    assert "expired" in server.stderr.read_text().lower()


@pytest.mark.anyio
async def test_a_valid_token_works_and_is_audited_by_its_principal(
    settings_for: Callable[..., Settings],
    oauth_server: Callable[..., OAuthServer],
) -> None:
    settings = settings_for(**LOW)
    server = oauth_server(settings)
    token = server.token("ops")
    async with oauth_client(server, token) as client:
        names = {t.name for t in (await client.list_tools()).tools}
        assert {"ssh_host_ping", "ssh_host_notes_append"} <= names
        r = await client.call_tool("ssh_host_ping", {"host": "target"})
        assert not r.is_error, text(r)
    last = _audit(settings)[-1]
    assert (last["tool"], last["token"], last["outcome"]) == ("ssh_host_ping", "ops", "ok")
    assert token not in settings.ssh_audit_log.read_text()
    assert token not in server.stderr.read_text()


@pytest.mark.anyio
async def test_scopes_narrow_tiers_and_hosts(
    settings_for: Callable[..., Settings],
    oauth_server: Callable[..., OAuthServer],
) -> None:
    settings = settings_for(**LOW)  # the server opens low-access; "reader" has only ssh:read
    server = oauth_server(settings)
    async with oauth_client(server, server.token("reader")) as client:
        names = {t.name for t in (await client.list_tools()).tools}
        assert "ssh_host_ping" in names and "ssh_host_notes_append" not in names
        listed = await client.call_tool("ssh_host_list", {})
        assert listed.structured_content is not None, text(listed)
        assert listed.structured_content["hosts"] == []  # "target" is not web*
        hosts = await client.read_resource("ssh-mcp://hosts")
        assert "target" not in json.dumps(hosts.model_dump(mode="json"))
        r = await client.call_tool("ssh_host_notes_append", {"host": "web1", "text": "x"})
        assert r.is_error and "unknown" in text(r).lower(), text(r)
        r = await client.call_tool("ssh_host_ping", {"host": "target"})  # not web*
        assert r.is_error and "unknown host 'target'" in text(r), text(r)
    records = _audit(settings)
    assert [(x["tool"], x["token"]) for x in records] == [
        ("ssh_host_list", "reader"),
        ("ssh_host_notes_append", "reader"),
        ("ssh_host_ping", "reader"),
    ]
    assert all(x["outcome"] != "ok" for x in records[1:]), records


@pytest.mark.anyio
async def test_scopes_narrow_calls_through_search_mode(
    settings_for: Callable[..., Settings],
    oauth_server: Callable[..., OAuthServer],
) -> None:
    settings = settings_for(**LOW, ssh_tool_mode="search")
    server = oauth_server(settings)
    async with oauth_client(server, server.token("reader")) as client:
        found = await client.call_tool("ssh_tool_search", {"query": "append notes to a host"})
        assert found.structured_content is not None, text(found)
        names = [t["name"] for t in found.structured_content["tools"]]
        assert "ssh_host_notes_append" not in names and "ssh_host_notes" in names, names
        r = await client.call_tool("ssh_tool_describe", {"name": "ssh_host_notes_append"})
        assert r.is_error, text(r)
        wrapped = {"name": "ssh_host_notes_append", "arguments": {"host": "web1", "text": "x"}}
        r = await client.call_tool("ssh_tool_call", wrapped)
        assert r.is_error and "unknown" in text(r).lower(), text(r)
        wrapped = {"name": "ssh_host_ping", "arguments": {"host": "target"}}
        r = await client.call_tool("ssh_tool_call", wrapped)
        assert r.is_error and "unknown host 'target'" in text(r), text(r)


@pytest.mark.anyio
async def test_scoped_tokens_work_beside_oauth(
    settings_for: Callable[..., Settings],
    oauth_server: Callable[..., OAuthServer],
    tmp_path: Path,
) -> None:
    settings = settings_for(**LOW)
    home = tmp_path / "cli"
    tokens = home / "tokens.json"
    env = cli_env(home, SSH_HTTP_TOKENS_FILE=str(tokens))
    made = run_cli(env, "token", "create", "ci-bot", "--tiers", "read")
    assert made.returncode == 0, made.stderr
    server = oauth_server(settings, SSH_HTTP_TOKENS_FILE=str(tokens))
    async with oauth_client(server, made.stdout.strip()) as client:
        names = {t.name for t in (await client.list_tools()).tools}
        assert "ssh_host_ping" in names and "ssh_host_notes_append" not in names
        r = await client.call_tool("ssh_host_ping", {"host": "target"})
        assert not r.is_error, text(r)
    async with oauth_client(server, server.token("ops")) as client:
        r = await client.call_tool("ssh_host_ping", {"host": "target"})
        assert not r.is_error, text(r)
    assert [(x["tool"], x["token"]) for x in _audit(settings)] == [
        ("ssh_host_ping", "ci-bot"),
        ("ssh_host_ping", "ops"),
    ]
