"""The MCP server: the tool registry as tools/list, each tools/call through dispatch.

It turns the tool registry into ``Tool`` entries, each ``tools/call`` into a
:func:`ssh_mcp.core.dispatch.dispatch` call, and an ``Outcome`` into a
``CallToolResult``; resources and prompts are :mod:`ssh_mcp.mcp.resources`. The
low-level ``Server`` serves both protocol eras from these same handlers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Awaitable, Callable
from typing import Any

import mcp.types as types
from mcp import MCPError
from mcp.server import Server, ServerRequestContext
from mcp.server.context import CallNext, HandlerResult
from mcp.server.stdio import stdio_server
from mcp.server.transport_security import TransportSecuritySettings
from mcp.shared.exceptions import NoBackChannelError
from mcp.shared.message import SessionMessage
from mcp.types.version import MODERN_PROTOCOL_VERSIONS
from pydantic import ValidationError
from starlette.routing import Route

from ssh_mcp import __version__
from ssh_mcp.config.environ import schema_cache_file
from ssh_mcp.core.access import ToolMode
from ssh_mcp.core.app import SERVER_NAME, App
from ssh_mcp.core.dispatch import Decision, Redeem, dispatch
from ssh_mcp.core.schema import use_cache
from ssh_mcp.core.search import entry
from ssh_mcp.core.spec import ToolSpec
from ssh_mcp.errors import shown
from ssh_mcp.mcp import oauth, resources
from ssh_mcp.mcp.auth import (
    Authenticator,
    BearerAuth,
    RateLimit,
    StaticToken,
    TokenFileAuth,
    principal_of,
)
from ssh_mcp.mcp.http import (
    HEALTH_PATH,
    MCP_PATH,
    HttpOptions,
    health,
    listen,
    serve_asgi,
)
from ssh_mcp.mcp.stdio import (
    INVALID_REQUEST,
    TOO_LARGE,
    PipeLines,
    Rejection,
    StdioPipes,
    rejection,
)
from ssh_mcp.policy.ratelimit import RateLimits

log = logging.getLogger(__name__)

INSTRUCTIONS = (
    "SSH access to the hosts the operator configured. Start with ssh_host_list, and read "
    "ssh_host_notes before working on a host. Tools are grouped by access tier; closed tiers "
    "do not appear. Paths are confined to each host's allowlist after symlinks are resolved. "
    "Commands that may outlast a request belong in ssh_job_start. Some commands need a "
    "human's confirmation first. Every call is audited."
)

#: Said in search mode (SSH_TOOL_MODE=search), where tools/list shows only a few tools.
SEARCH_MODE = (
    "Most tools are not listed: find them with ssh_tool_search, read one's arguments with "
    "ssh_tool_describe, and call it with ssh_tool_call."
)


def tool_entry(spec: ToolSpec[Any, Any]) -> types.Tool:
    """The tools/list entry for one declaration, compact (DECISIONS.md 60), as
    :func:`ssh_mcp.core.search.entry` builds it for ssh_tool_describe too."""
    return types.Tool.model_validate(entry(spec))


#: The confirmation form: one boolean, as MCP elicitation's flat schema wants.
CONFIRM_KEY = "confirm"
CONFIRM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        CONFIRM_KEY: {
            "type": "boolean",
            "title": "Run this command",
            "description": "Yes runs it once, as shown. No refuses it.",
            "default": False,
        }
    },
    "required": [CONFIRM_KEY],
}


def _decision(result: types.ElicitResult) -> Decision:
    if result.action == "accept":
        yes = (result.content or {}).get(CONFIRM_KEY) is True
        return "confirmed" if yes else "declined"
    return "declined" if result.action == "decline" else "cancelled"


def _confirmer(
    ctx: ServerRequestContext[Any], params: types.CallToolRequestParams
) -> Callable[[str, Redeem], Awaitable[Decision]]:
    """How this call asks a human: a retried call (``InputRequiredResult``) on 2026-07-28
    connections, a pushed form on handshake-era ones that have a back-channel."""

    async def confirm(message: str, redeem: Redeem) -> Decision:
        caps = ctx.session.client_capabilities
        can_elicit = caps is not None and caps.elicitation is not None
        if ctx.protocol_version in MODERN_PROTOCOL_VERSIONS:
            answer = (params.input_responses or {}).get(CONFIRM_KEY)
            if isinstance(answer, types.ElicitResult) and redeem(params.request_state):
                return _decision(answer)
            return "requested" if can_elicit else "unsupported"
        # Handshake era: an InputRequiredResult would be a protocol error here, so with no
        # back-channel (stateless or JSON-response HTTP) nobody can be asked, whatever the
        # client supports (stateless HTTP does not even keep its capabilities): the
        # transport's doing, not the client's.
        if not ctx.session.can_send_request:
            return "no_channel"
        if not can_elicit:
            return "unsupported"
        try:
            result = await ctx.session.elicit_form(
                message, CONFIRM_SCHEMA, related_request_id=ctx.request_id
            )
        except NoBackChannelError:
            return "no_channel"
        except MCPError:
            return "unsupported"
        return _decision(result)

    return confirm


def app_for(app: App, ctx: ServerRequestContext[Any]) -> App:
    """``app`` as this request's HTTP token may see it; ``app`` itself on stdio."""
    principal = principal_of(ctx.request)
    return app if principal is None else app.scoped(principal.scope, principal.name)


def build_server(app: App) -> Server[Any]:
    """A low-level MCP server bound to ``app``."""
    tools = [tool_entry(t) for t in app.listed_tools()]

    async def list_tools(
        ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
    ) -> types.ListToolsResult:
        view = app_for(app, ctx)
        if view.settings is app.settings and view.inventory is app.inventory:
            return types.ListToolsResult(tools=tools)
        return types.ListToolsResult(tools=[tool_entry(t) for t in view.listed_tools()])

    async def call_tool(
        ctx: ServerRequestContext[Any], params: types.CallToolRequestParams
    ) -> types.CallToolResult | types.InputRequiredResult:
        async def progress(done: float, total: float | None, message: str | None) -> None:
            await ctx.session.report_progress(done, total, message)

        confirm = _confirmer(ctx, params)
        outcome = await dispatch(
            app_for(app, ctx), params.name, params.arguments, progress, confirm
        )
        if outcome.input_required is not None:
            message, state = outcome.input_required
            form = types.ElicitRequestFormParams(message=message, requested_schema=CONFIRM_SCHEMA)
            return types.InputRequiredResult(
                input_requests={CONFIRM_KEY: types.ElicitRequest(params=form)},
                request_state=state,
            )
        return types.CallToolResult(
            content=[types.TextContent(type="text", text=outcome.text)],
            structured_content=outcome.structured,
            is_error=not outcome.ok,
        )

    server: Server[Any] = Server(
        SERVER_NAME,
        version=__version__,
        instructions=" ".join(
            [
                INSTRUCTIONS,
                *([SEARCH_MODE] if app.settings.ssh_tool_mode is ToolMode.SEARCH else []),
                resources.GUIDE,
            ]
        ),
        on_list_tools=list_tools,
        on_call_tool=call_tool,
        **resources.handlers(lambda ctx: app_for(app, ctx)),
    )
    # The default OpenTelemetry middleware does nothing without an exporter but costs
    # a span per request; operators who want tracing can add it back.
    server.middleware.clear()
    server.middleware.append(_bounded_method_not_found)
    return server


async def _bounded_method_not_found(
    ctx: ServerRequestContext[Any, Any], call_next: CallNext
) -> HandlerResult:
    """The SDK's "Method not found" carries the caller's method whole (a megabyte, NUL and
    ESC included) in ``data``, on every transport: quote it through :func:`shown`."""
    try:
        return await call_next(ctx)
    except MCPError as exc:
        if exc.code == types.METHOD_NOT_FOUND and isinstance(exc.data, str):
            raise MCPError(exc.code, exc.message, data=shown(exc.data)) from None
        raise


def _screen(line: str | None) -> Rejection | None:
    """The error for a stdin line the SDK would drop unanswered, or None to pass it on."""
    if line is None:
        return TOO_LARGE
    try:
        message = types.jsonrpc_message_adapter.validate_json(line, by_name=False)
    except ValidationError:
        try:
            return rejection(line)
        except Exception:  # never let one line stop the reader: stdin would go deaf
            log.exception("stdin: could not classify an unreadable message")
            return Rejection(None, INVALID_REQUEST, "invalid request: not a JSON-RPC 2.0 request")
    # An id of another type (true, 1.5, null) makes the SDK read a request as a notification.
    if isinstance(message, types.JSONRPCNotification) and '"id"' in line:
        return rejection(line)
    return None


class _Screened:
    """The stdin lines the SDK can serve; every other line is answered here and skipped."""

    def __init__(self, lines: PipeLines) -> None:
        self._lines = lines
        self.write: Any = None  # the SDK's write stream, set once stdio_server has made it

    def __aiter__(self) -> _Screened:
        return self

    async def __anext__(self) -> str:
        while True:
            line = await anext(self._lines)
            bad = _screen(line)
            if bad is None:
                assert line is not None
                return line
            log.warning("stdin: answered an unreadable message with error %d", bad.code)
            error = types.ErrorData(code=bad.code, message=bad.message)
            reply = types.JSONRPCError(jsonrpc="2.0", id=bad.id, error=error)
            await self.write.send(SessionMessage(reply))


async def serve_stdio(app: App) -> None:
    """Serve on stdio until stdin closes or SIGTERM arrives; then close every connection."""
    schemas = use_cache(schema_cache_file())
    server = build_server(app)
    schemas.save()
    task = asyncio.current_task()
    loop = asyncio.get_running_loop()
    if task is not None:
        loop.add_signal_handler(signal.SIGTERM, task.cancel)
    pipes = await StdioPipes.open()
    lines = _Screened(pipes.stdin) if pipes.stdin else None
    try:
        async with stdio_server(stdin=lines, stdout=pipes.stdout) as (read, write):  # type: ignore[arg-type]
            if lines is not None:
                lines.write = write  # before the reader task first runs
            await server.run(read, write, server.create_initialization_options())
    except asyncio.CancelledError:
        pass  # SIGTERM: a clean exit, not an error
    finally:
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.remove_signal_handler(signal.SIGTERM)
        pipes.close()
        await app.aclose()


async def serve_http(app: App, options: HttpOptions) -> None:
    """Serve Streamable HTTP (stateless, SSE replies so progress flows) until SIGTERM or
    SIGINT; then close every connection. Every path but /health and the OAuth metadata
    needs a bearer token."""
    try:
        sock = listen(options.host, options.port)
        schemas = use_cache(schema_cache_file())
        server = build_server(app)
        schemas.save()
        security = TransportSecuritySettings(
            enable_dns_rebinding_protection=True,
            allowed_hosts=list(options.allowed_hosts),
            allowed_origins=list(options.allowed_origins),
        )
        routes = [Route(HEALTH_PATH, health, methods=["GET"])]
        challenge = "Bearer"
        if options.oauth is not None:
            routes += oauth.metadata_routes(options.oauth)
            challenge = oauth.challenge(options.oauth)
        open_paths = {r.path for r in routes}
        starlette_app = server.streamable_http_app(
            streamable_http_path=MCP_PATH,
            stateless_http=True,  # no sticky sessions; handshake-era clients get no back-channel
            json_response=False,  # SSE replies: progress notifications reach the client
            transport_security=security,
            host=options.host,
            custom_starlette_routes=routes,
        )
        auths: list[Authenticator] = [TokenFileAuth(options.tokens_file)]
        if options.token is not None:
            auths.insert(0, StaticToken(options.token))
        if options.oauth is not None:
            auths.append(oauth.OAuthAuth(options.oauth))
        limits = RateLimits(options.rate_limit, options.max_concurrency)
        limited = RateLimit(starlette_app, limits)
        await serve_asgi(BearerAuth(limited, auths, frozenset(open_paths), challenge), sock)
    finally:
        await app.aclose()
