"""The opt-in Streamable HTTP transport: a real `python -m ssh_mcp serve --http` on loopback."""

from __future__ import annotations

import contextlib
import json
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import anyio
import anyio.to_thread
import httpx2
import pytest
from harness import OPEN, Mode, server_env, text
from mcp import Client
from mcp.client.session import ClientRequestContext
from mcp.client.streamable_http import streamable_http_client
from mcp.types import (
    CallToolRequestParams,
    ClientCapabilities,
    ElicitationCapability,
    ElicitRequestParams,
    ElicitResult,
    ErrorData,
)
from sshd import Sshd, TestUser, descendant_pids, remote_pids, wait_gone

from ssh_mcp.config.settings import Settings
from ssh_mcp.mcp.server import _confirmer

ERAS: list[tuple[Mode, str]] = [("auto", "2026-07-28"), ("legacy", "2025-11-25")]
#: Harmless, but an operator deny pattern: it needs a human's yes.
DEPLOY = r"\becho\s+deploy\b"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


_env = server_env


@dataclass
class HttpServer:
    proc: subprocess.Popen[bytes]
    url: str  # http://127.0.0.1:PORT
    token: str
    stderr: Path

    def get(
        self, path: str, headers: dict[str, str] | None = None, body: bytes | None = None
    ) -> tuple[int, httpx2.Headers, bytes]:
        """GET (or POST, with a body) one path of the server, without the MCP client."""
        method = "GET" if body is None else "POST"
        r = httpx2.request(method, self.url + path, headers=headers, content=body, timeout=10)
        return r.status_code, r.headers, r.content


@pytest.fixture
def http_server(tmp_path: Path) -> Iterator[Callable[..., HttpServer]]:
    """Start `ssh-mcp serve --http` with the given settings (+ env); stopped by PID."""
    procs: list[subprocess.Popen[bytes]] = []

    def start(settings: Settings, **extra: str) -> HttpServer:
        token = secrets.token_urlsafe(32)
        token_file = tmp_path / "token"
        token_file.write_text(token + "\n")
        port = _free_port()
        env = _env(
            settings,
            SSH_HTTP_PORT=str(port),
            SSH_HTTP_TOKEN_CMD=json.dumps(["cat", str(token_file)]),
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
        server = HttpServer(proc, f"http://127.0.0.1:{port}", token, stderr)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            assert proc.poll() is None, stderr.read_text()
            try:
                if server.get("/health")[0] == 200:
                    return server
            except httpx2.TransportError:
                time.sleep(0.05)
        raise AssertionError("the HTTP server did not come up within 30 s")

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@asynccontextmanager
async def http_client(
    server: HttpServer, mode: Mode, elicitation: Any = None
) -> AsyncIterator[Client]:
    headers = {"Authorization": f"Bearer {server.token}"}
    async with httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(30, read=60)) as http:
        transport = streamable_http_client(server.url + "/mcp", http_client=http)
        async with Client(transport, mode=mode, elicitation_callback=elicitation) as client:
            yield client


def _audit(settings: Settings) -> list[dict[str, Any]]:
    return [json.loads(line) for line in settings.ssh_audit_log.read_text().splitlines()]


def test_health_is_open_and_mcp_needs_the_token(
    settings_for: Callable[..., Settings], http_server: Callable[..., HttpServer]
) -> None:
    server = http_server(settings_for())
    assert server.get("/health")[::2] == (200, b"ok")
    post = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}).encode()
    for auth in (
        {},
        {"Authorization": "Bearer wrong-token-wrong-token"},
        {"Authorization": server.token},
    ):
        status, headers, _ = server.get("/mcp", post | auth, body)
        assert status == 401 and headers.get("www-authenticate") == "Bearer", (auth, status)
    good = post | {"Authorization": f"Bearer {server.token}"}
    # DNS-rebinding protection: a right token under a foreign Host name is still refused.
    assert server.get("/mcp", good | {"Host": "evil.example"}, body)[0] == 421
    assert server.token not in server.stderr.read_text()


@pytest.mark.anyio
@pytest.mark.parametrize(("mode", "version"), ERAS)
async def test_sdk_client_both_eras(
    settings_for: Callable[..., Settings],
    http_server: Callable[..., HttpServer],
    mode: Mode,
    version: str,
) -> None:
    settings = settings_for()
    server = http_server(settings)
    async with http_client(server, mode) as client:
        assert client.protocol_version == version
        names = {t.name for t in (await client.list_tools()).tools}
        assert {"ssh_host_ping", "ssh_host_list"} <= names
        r = await client.call_tool("ssh_host_ping", {"host": "target"})
        assert not r.is_error, text(r)
        assert r.structured_content and r.structured_content["auth_ok"] is True
    assert _audit(settings)[-1]["tool"] == "ssh_host_ping"


@pytest.mark.anyio
@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_progress_over_http(
    settings_for: Callable[..., Settings], http_server: Callable[..., HttpServer], mode: Mode
) -> None:
    settings = settings_for(**OPEN)
    server = http_server(settings, ALLOW_DANGEROUS_TOOLS="true", ALLOW_ANY_COMMAND="true")
    seen: list[tuple[float, float | None, str | None]] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        seen.append((progress, total, message))

    command = "for i in 1 2 3; do echo step$i; sleep 0.6; done"
    async with http_client(server, mode) as client:
        r = await client.call_tool(
            "ssh_exec_run_streaming",
            {"host": "target", "command": command},
            progress_callback=on_progress,
        )
        assert not r.is_error, text(r)
    assert seen and any("step" in (m or "") for _, _, m in seen), seen


class Yes:
    """An elicitation callback that says yes, and counts how often it was asked."""

    def __init__(self) -> None:
        self.asked = 0

    async def __call__(
        self, context: ClientRequestContext, params: ElicitRequestParams
    ) -> ElicitResult | ErrorData:
        self.asked += 1
        return ElicitResult(action="accept", content={"confirm": True})


@pytest.mark.anyio
@pytest.mark.parametrize(("mode", "version"), ERAS)
async def test_confirmation_over_http(
    settings_for: Callable[..., Settings],
    http_server: Callable[..., HttpServer],
    mode: Mode,
    version: str,
) -> None:
    settings = settings_for(**OPEN)
    env = {
        "ALLOW_DANGEROUS_TOOLS": "true",
        "ALLOW_ANY_COMMAND": "true",
        "SSH_CONFIRM_PATTERNS": DEPLOY,
    }
    server = http_server(settings, **env)
    human = Yes()
    async with http_client(server, mode, human) as client:
        r = await client.call_tool("ssh_exec_run", {"host": "target", "command": "echo deploy"})
        if mode == "auto":  # 2026-07-28: the retried call carries the human's yes
            assert not r.is_error, text(r)
            assert r.structured_content and r.structured_content["stdout"] == "deploy\n"
            assert human.asked == 1
            assert _audit(settings)[-1]["confirmation"] == "confirmed"
        else:  # stateless handshake era: no back-channel to ask on, so refused, not crashed
            assert r.is_error and "this server's stateless HTTP gives a client" in text(r)
            assert "no elicitation support" not in text(r), text(r)
            assert human.asked == 0
            line = _audit(settings)[-1]
            assert (line["error"], line["confirmation"]) == ("NotConfirmed", "no_channel")
        # the connection still serves calls afterwards
        assert not (await client.call_tool("ssh_host_ping", {"host": "target"})).is_error
    assert "Traceback" not in server.stderr.read_text()


@pytest.mark.anyio
@pytest.mark.parametrize("version", ["2025-11-25", "2025-06-18", "2026-07-28"])
async def test_confirmer_never_returns_input_required_in_the_handshake_era(version: str) -> None:
    """A handshake-era client that declares elicitation but has no back-channel (stateless
    HTTP) gets "no_channel", the transport's fault; only the 2026-07-28 era may get an
    InputRequiredResult."""
    session = SimpleNamespace(
        can_send_request=False,
        client_capabilities=ClientCapabilities(elicitation=ElicitationCapability()),
    )
    ctx: Any = SimpleNamespace(session=session, protocol_version=version, request_id=1)
    confirm = _confirmer(ctx, CallToolRequestParams(name="ssh_exec_run", arguments={}))
    expected = "requested" if version == "2026-07-28" else "no_channel"
    assert await confirm("run it?", lambda token: False) == expected


def _connections(sshd: Sshd) -> int:
    return len(descendant_pids(sshd.pid))


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_stops_cleanly_and_closes_the_pool(
    settings_for: Callable[..., Settings],
    http_server: Callable[..., HttpServer],
    sshd: Sshd,
    sig: signal.Signals,
) -> None:
    server = http_server(settings_for())
    before = _connections(sshd)

    async def ping() -> None:
        async with http_client(server, "auto") as client:
            assert not (await client.call_tool("ssh_host_ping", {"host": "target"})).is_error

    anyio.run(ping)
    assert _connections(sshd) > before  # pooled, still open
    server.proc.send_signal(sig)
    assert server.proc.wait(timeout=15) == 0
    assert "Traceback" not in server.stderr.read_text()
    for _ in range(200):
        if _connections(sshd) <= before:
            break
        time.sleep(0.01)
    assert _connections(sshd) <= before


def _fails_at_startup(env: dict[str, str]) -> str:
    proc = subprocess.run(
        [sys.executable, "-m", "ssh_mcp", "serve", "--http"],
        capture_output=True,
        text=True,
        env=env,
        cwd="/",
        timeout=60,
        check=False,
    )
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("ssh-mcp: configuration error: ")
    return lines[0]


def test_missing_token_cmd_is_a_configuration_error(settings_for: Callable[..., Settings]) -> None:
    line = _fails_at_startup(_env(settings_for(), SSH_HTTP_PORT=str(_free_port())))
    assert "SSH_HTTP_TOKEN_CMD" in line


def test_transport_env_var_also_turns_http_on(settings_for: Callable[..., Settings]) -> None:
    env = _env(settings_for(), SSH_MCP_TRANSPORT="http")
    proc = subprocess.run(
        [sys.executable, "-m", "ssh_mcp"],
        capture_output=True,
        text=True,
        env=env,
        cwd="/",
        timeout=60,
        check=False,
    )
    assert proc.returncode == 2 and "SSH_HTTP_TOKEN_CMD" in proc.stderr


def test_non_loopback_host_needs_allowed_hosts(
    settings_for: Callable[..., Settings], tmp_path: Path
) -> None:
    token = tmp_path / "token"
    token.write_text(secrets.token_urlsafe(32))
    host = "0.0.0.0"  # noqa: S104 (refused before anything binds)
    env = _env(settings_for(), SSH_HTTP_HOST=host, SSH_HTTP_TOKEN_CMD=f"cat {token}")
    assert "SSH_HTTP_ALLOWED_HOSTS" in _fails_at_startup(env)


@pytest.mark.parametrize(
    ("content", "says"),
    [
        ("", "printed nothing"),
        ("tiny1\n", "shorter than 16"),
        ("has space in it 123", "cannot hold"),
    ],
)
def test_bad_tokens_are_refused_without_echoing_them(
    settings_for: Callable[..., Settings], tmp_path: Path, content: str, says: str
) -> None:
    token = tmp_path / "token"
    token.write_text(content)
    env = _env(settings_for(), SSH_HTTP_TOKEN_CMD=json.dumps(["cat", str(token)]))
    line = _fails_at_startup(env)
    assert says in line and (not content.strip() or content.strip() not in line)


@pytest.mark.anyio
async def test_sigterm_stops_a_running_exec(
    settings_for: Callable[..., Settings],
    http_server: Callable[..., HttpServer],
    test_user: TestUser,
) -> None:
    marker = "sleep 308.9"
    settings = settings_for(**OPEN)
    server = http_server(settings, ALLOW_DANGEROUS_TOOLS="true", ALLOW_ANY_COMMAND="true")

    async def call() -> None:
        with contextlib.suppress(Exception):  # the server goes away mid-call
            async with http_client(server, "auto") as client:
                await client.call_tool("ssh_exec_run", {"host": "target", "command": marker})

    async with anyio.create_task_group() as tg:
        tg.start_soon(call)
        for _ in range(500):
            if remote_pids(test_user.name, marker):
                break
            await anyio.sleep(0.02)
        assert remote_pids(test_user.name, marker)
        started = time.monotonic()
        server.proc.send_signal(signal.SIGTERM)
        code = await anyio.to_thread.run_sync(lambda: server.proc.wait(timeout=20))
        assert code == 0 and time.monotonic() - started < 10
        tg.cancel_scope.cancel()
    assert await anyio.to_thread.run_sync(wait_gone, test_user.name, marker)
    assert "Traceback" not in server.stderr.read_text()


def test_unreadable_messages_get_a_bounded_json_rpc_error(
    settings_for: Callable[..., Settings], http_server: Callable[..., HttpServer]
) -> None:
    """Unlike stdio, the SDK's HTTP transport answers what it cannot read; the answer must not
    echo a huge input back, and the server serves on."""
    server = http_server(settings_for())
    post = {
        "Content-Type": "application/json",
        "Accept": "application/json, text/event-stream",
        "Authorization": f"Bearer {server.token}",
    }
    huge = "A" * 1_000_000
    for body in (
        rb'{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"x":"\ud800"}}',
        rb'{"jsonrpc":"2.0","id":2,"method":"tools/list","params":[]}',
        json.dumps({"jsonrpc": "2.0", "id": 3, "method": "tools/list", "params": [huge]}).encode(),
        b"not json " + huge.encode(),
    ):
        status, _, reply = server.get("/mcp", post, body)
        assert status == 400 and len(reply) < 2000, (status, reply[:300])
        error = json.loads(reply)["error"]
        assert error["code"] in (-32700, -32600, -32602), error
    # Readable, but an unknown method: the SDK's answer quotes it, bounded and escaped.
    unknown = json.dumps({"jsonrpc": "2.0", "id": 5, "method": "\x00\x1b" + huge}).encode()
    status, _, reply = server.get("/mcp", post, unknown)
    assert b"-32601" in reply and len(reply) < 2000, (status, reply[:300])
    assert b"\\u0000" not in reply and b"\\x00" in reply, reply[:300]
    ok = json.dumps({"jsonrpc": "2.0", "id": 4, "method": "tools/list"}).encode()
    status, _, reply = server.get("/mcp", post, ok)
    assert status == 200 and b"ssh_host_ping" in reply, (status, reply[:300])
