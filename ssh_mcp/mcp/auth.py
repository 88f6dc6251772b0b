"""Who an HTTP request comes from, and how much it may do: bearer authentication and
per-token rate limits, as pure-ASGI middleware in front of the SDK's app.

An :class:`Authenticator` turns a bearer credential into a :class:`Principal` (a name
for the audit and a :class:`~ssh_mcp.policy.scope.Scope`) or None; :class:`BearerAuth`
asks each in turn, so another verifier (OAuth access tokens) slots in beside the
static SSH_HTTP_TOKEN_CMD token and the SSH_HTTP_TOKENS_FILE tokens. The principal rides
in the ASGI scope's ``state``; :func:`principal_of` reads it back in the MCP handlers.
"""

from __future__ import annotations

import hmac
import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from ssh_mcp.errors import ConfigError
from ssh_mcp.policy.ratelimit import RateLimits
from ssh_mcp.policy.scope import FULL
from ssh_mcp.policy.scope import Scope as Reach
from ssh_mcp.state.http_tokens import TokenFile

log = logging.getLogger(__name__)

#: The key of the principal in the ASGI scope's ``state`` (``request.state``).
STATE_KEY = "ssh_mcp_principal"
#: The principal of the SSH_HTTP_TOKEN_CMD token.
STATIC_NAME = "static"


@dataclass(frozen=True)
class Principal:
    """Who a request comes from: the name the audit shows, and what it may reach."""

    name: str
    scope: Reach = FULL


class Authenticator(Protocol):
    async def authenticate(self, credential: bytes) -> Principal | None:
        """The principal ``credential`` proves, or None when it proves nothing here."""
        ...


class StaticToken:
    """SSH_HTTP_TOKEN_CMD's one token: the full scope, named ``static``."""

    def __init__(self, token: bytes) -> None:
        self._token = token

    async def authenticate(self, credential: bytes) -> Principal | None:
        if hmac.compare_digest(credential, self._token):
            return Principal(STATIC_NAME)
        return None


class TokenFileAuth:
    """The tokens ``ssh-mcp token create`` made: re-read when the file changes, so a revoke
    counts on the next request, on every replica reading the same file."""

    def __init__(self, path: Path) -> None:
        self._file = TokenFile(path)

    async def authenticate(self, credential: bytes) -> Principal | None:
        try:
            entry = self._file.lookup(credential)
        except (ConfigError, OSError) as exc:
            log.error("HTTP tokens file unusable, its tokens are refused: %s", exc)
            return None
        return Principal(entry.name, entry.scope) if entry is not None else None


def bearer(scope: Scope) -> bytes | None:
    for key, value in scope["headers"]:
        if key == b"authorization":
            kind, _, credential = bytes(value).partition(b" ")
            return credential.strip() if kind.lower() == b"bearer" else None
    return None


def principal_of(request: Any) -> Principal | None:
    """The principal :class:`BearerAuth` put on a Starlette request; None off HTTP."""
    state = getattr(request, "scope", {}).get("state") or {}
    found = state.get(STATE_KEY)
    return found if isinstance(found, Principal) else None


class BearerAuth:
    """Every HTTP request but the open paths needs ``Authorization: Bearer <token>`` that
    one authenticator accepts; anything else gets 401 before the SDK sees it, with
    ``challenge`` as its ``WWW-Authenticate`` (OAuth names its metadata there)."""

    def __init__(
        self,
        app: ASGIApp,
        authenticators: Sequence[Authenticator],
        open_paths: frozenset[str],
        challenge: str = "Bearer",
    ) -> None:
        self.app, self._auths, self._open = app, tuple(authenticators), open_paths
        self._challenge = challenge

    async def _principal(self, scope: Scope) -> Principal | None:
        credential = bearer(scope)
        if not credential:
            return None
        for auth in self._auths:
            if (found := await auth.authenticate(credential)) is not None:
                return found
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan" or (scope["type"] == "http" and scope["path"] in self._open):
            await self.app(scope, receive, send)
            return
        principal = await self._principal(scope) if scope["type"] == "http" else None
        if principal is not None:
            scope.setdefault("state", {})[STATE_KEY] = principal
            await self.app(scope, receive, send)
            return
        log.info("HTTP request without a valid bearer token from %s", scope.get("client"))
        if scope["type"] != "http":  # no websocket routes exist; refuse without a body
            await send({"type": "websocket.close", "code": 1008})
            return
        response = PlainTextResponse(
            "unauthorized\n", status_code=401, headers={"WWW-Authenticate": self._challenge}
        )
        await response(scope, receive, send)


class RateLimit:
    """SSH_HTTP_RATE_LIMIT and SSH_HTTP_MAX_CONCURRENCY per principal, after BearerAuth:
    over either, ``429`` with ``Retry-After``. The clock is passed in for tests."""

    def __init__(
        self, app: ASGIApp, limits: RateLimits, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.app, self._limits, self._clock = app, limits, clock

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        principal = (scope.get("state") or {}).get(STATE_KEY)
        if scope["type"] != "http" or not isinstance(principal, Principal):
            await self.app(scope, receive, send)
            return
        wait = self._limits.acquire(principal.name, self._clock())
        if wait is not None:
            log.info("HTTP token %s is over its rate limit", principal.name)
            headers = {"Retry-After": str(max(1, math.ceil(wait)))}
            await PlainTextResponse("too many requests\n", 429, headers)(scope, receive, send)
            return
        try:
            await self.app(scope, receive, send)
        finally:
            self._limits.release(principal.name)
