"""The opt-in Streamable HTTP transport, minus the MCP parts (those are in ``server.py``).

What is here: checking the HTTP settings, reading the bearer token from
``SSH_HTTP_TOKEN_CMD``, the listening socket, ``GET /health``, and running uvicorn
until SIGTERM/SIGINT. Who may call, and how often, is :mod:`ssh_mcp.mcp.auth`; with
``SSH_OAUTH_*`` set, JWT access tokens are checked by :mod:`ssh_mcp.mcp.oauth`.

Strict by default: no token command, no token file and no OAuth, no HTTP; a non-loopback
address needs ``SSH_HTTP_ALLOWED_HOSTS`` for the SDK's DNS-rebinding check. The token is held
as bytes, compared in constant time, and never logged or echoed in an error.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import re
import signal
import socket
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import anyio
import uvicorn
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ssh_mcp.config.secrets import run_secret_cmd
from ssh_mcp.config.settings import Settings
from ssh_mcp.errors import ConfigError
from ssh_mcp.mcp.oauth import OAuthOptions, oauth_options

log = logging.getLogger(__name__)

MCP_PATH = "/mcp"
HEALTH_PATH = "/health"
#: A short token is guessable; 16 characters of a random token are ~96 bits.
TOKEN_MIN_CHARS = 16
#: RFC 6750 ``b64token``: what may follow ``Bearer `` in an Authorization header.
_B64TOKEN = re.compile(r"[A-Za-z0-9\-._~+/]+=*")
#: Seconds in-flight requests get to finish after SIGTERM before they are cancelled.
SHUTDOWN_GRACE = 3
#: Host headers that are always fine: a DNS-rebinding attack never sends these.
LOOPBACK_HOSTS = ("127.0.0.1:*", "localhost:*", "[::1]:*", "127.0.0.1", "localhost", "[::1]")


@dataclass(frozen=True)
class HttpOptions:
    """Everything the HTTP transport needs, checked, with the token already read."""

    host: str
    port: int
    allowed_hosts: tuple[str, ...]
    #: SSH_HTTP_TOKEN_CMD's token, when set; the scoped ones are in ``tokens_file``.
    token: bytes | None = field(repr=False)
    tokens_file: Path
    rate_limit: int = 0
    max_concurrency: int = 0
    oauth: OAuthOptions | None = None

    @property
    def allowed_origins(self) -> tuple[str, ...]:
        """Browser origins on the allowed hosts (non-browser clients send no Origin)."""
        return tuple(f"{scheme}://{h}" for h in self.allowed_hosts for scheme in ("http", "https"))


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a hostname: it may resolve to anything


def http_options(settings: Settings) -> HttpOptions:
    """Check the HTTP settings and read the token; raises a one-line ConfigError."""
    host, extra = settings.ssh_http_host, tuple(settings.ssh_http_allowed_hosts)
    tokens_file = settings.ssh_http_tokens_file.expanduser()
    oauth = oauth_options(settings)
    if oauth is not None and settings.ssh_http_token_cmd:
        # One full-scope shared secret beside per-user tokens would undo what OAuth is for.
        raise ConfigError(
            "SSH_HTTP_TOKEN_CMD and SSH_OAUTH_* are both set: OAuth takes the place of the "
            "one static token; unset one of them (scoped tokens may stay)"
        )
    if oauth is None and not settings.ssh_http_token_cmd and not tokens_file.is_file():
        raise ConfigError(
            "the HTTP transport needs a bearer token: set SSH_HTTP_TOKEN_CMD to a command "
            f"that prints it, make scoped tokens with `ssh-mcp token create` ({tokens_file}), "
            "or set SSH_OAUTH_ISSUER, SSH_OAUTH_AUDIENCE and SSH_OAUTH_JWKS_URL"
        )
    if not is_loopback(host) and not extra:
        raise ConfigError(
            f"SSH_HTTP_HOST={host} is not a loopback address: set SSH_HTTP_ALLOWED_HOSTS to "
            "the Host header values clients will send (DNS-rebinding protection)"
        )
    token = read_token(settings.ssh_http_token_cmd) if settings.ssh_http_token_cmd else None
    own = (f"{host}:*",) if is_loopback(host) and ":" not in host else ()
    allowed = (*LOOPBACK_HOSTS, *own, *extra)
    return HttpOptions(
        host,
        settings.ssh_http_port,
        allowed,
        token,
        tokens_file,
        settings.ssh_http_rate_limit,
        settings.ssh_http_max_concurrency,
        oauth,
    )


def read_token(argv: Sequence[str]) -> bytes:
    """SSH_HTTP_TOKEN_CMD's token (run as :mod:`ssh_mcp.config.secrets` runs every secret
    command), checked to be one a bearer header can carry and long enough not to be
    guessed. Read once at startup, before the server's event loop, so it gets its own."""
    name = f"SSH_HTTP_TOKEN_CMD {argv[0]!r}"
    token = asyncio.run(run_secret_cmd(argv, name))
    if not _B64TOKEN.fullmatch(token.decode("latin-1")):
        raise ConfigError(f"{name} printed a token with characters a bearer token cannot hold")
    if len(token) < TOKEN_MIN_CHARS:
        raise ConfigError(f"{name} printed a token shorter than {TOKEN_MIN_CHARS} characters")
    return token


def listen(host: str, port: int) -> socket.socket:
    """Bind and listen now, so that a busy port is a one-line ConfigError, not a traceback."""
    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
        return socket.create_server((host.strip("[]"), port), family=family, backlog=128)
    except OSError as exc:
        raise ConfigError(f"cannot listen on {host}:{port} ({exc.strerror or exc})") from None


async def health(request: Request) -> Response:
    """Liveness for load balancers: no auth, says nothing about the configuration."""
    return PlainTextResponse("ok")


class _InFlight:
    """Runs each HTTP request in a cancel scope so that shutdown can end it cleanly.

    uvicorn's own way (cancelling the request task after its graceful timeout) logs a
    traceback and leaves an SSE stream half-written; here a stopped request either gets
    a 503 or has its stream ended properly."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._scopes: set[anyio.CancelScope] = set()

    def cancel_all(self) -> None:
        for scope in list(self._scopes):
            scope.cancel()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = finished = False

        async def tracked(message: Message) -> None:
            nonlocal started, finished
            if message["type"] == "http.response.start":
                started = True
            elif message["type"] == "http.response.body" and not message.get("more_body"):
                finished = True
            await send(message)

        with anyio.CancelScope() as cancel:
            self._scopes.add(cancel)
            try:
                await self.app(scope, receive, tracked)
            finally:
                self._scopes.discard(cancel)
        if not cancel.cancelled_caught or finished:
            return
        if started:
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        else:
            await PlainTextResponse("shutting down\n", status_code=503)(scope, receive, send)


class _Uvicorn(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        # uvicorn's own handlers re-raise the signal once it has stopped, which would
        # kill the process before the SSH pool is closed; serve_asgi installs ours.
        yield


async def serve_asgi(asgi: ASGIApp, sock: socket.socket) -> None:
    """Run uvicorn on ``sock`` until SIGTERM or SIGINT. In-flight requests get
    SHUTDOWN_GRACE seconds, then are cancelled; a second signal cancels them at once."""
    inflight = _InFlight(asgi)
    config = uvicorn.Config(
        inflight,
        interface="asgi3",
        lifespan="on",
        ws="none",
        log_config=None,  # our logging setup (LOG_LEVEL, stderr) applies
        server_header=False,
        # A backstop only: _InFlight has ended every request by then.
        timeout_graceful_shutdown=SHUTDOWN_GRACE + 5,
    )
    server = _Uvicorn(config)
    loop = asyncio.get_running_loop()

    def stop() -> None:
        if server.should_exit:
            inflight.cancel_all()
            return
        server.should_exit = True
        loop.call_later(SHUTDOWN_GRACE, inflight.cancel_all)

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop)
    try:
        host, port = sock.getsockname()[:2]
        log.info("serving MCP on http://%s:%s%s", host, port, MCP_PATH)
        await server.serve(sockets=[sock])
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.remove_signal_handler(sig)
        sock.close()
