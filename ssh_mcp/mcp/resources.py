"""Resources, resource templates, prompts and completions: the MCP side of the catalog.

The content is computed in :mod:`ssh_mcp.core.catalog` and :mod:`ssh_mcp.core.prompts`;
this module names the URIs, turns the bodies into MCP results and maps a bad request to
``INVALID_PARAMS``. The same handlers serve both protocol eras. A resource for a hidden
tool answers exactly as one for a tool that does not exist.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote

import mcp.types as types
from mcp import MCPError
from mcp.server import ServerRequestContext

from ssh_mcp.core import catalog
from ssh_mcp.core.app import App
from ssh_mcp.core.prompts import PROMPTS, PromptSpec, render_prompt
from ssh_mcp.errors import SSHMCPError, shown

SERVER_INFO_URI = "ssh-mcp://server-info"
HOSTS_URI = "ssh-mcp://hosts"
GROUPS_URI = "ssh-mcp://groups"
HOST_PREFIX = "ssh-mcp://hosts/"
TOOL_PREFIX = "ssh-mcp://tools/"
HOST_TEMPLATE = HOST_PREFIX + "{alias}"
TOOL_TEMPLATE = TOOL_PREFIX + "{name}"
#: Appended to the server's instructions: where to read instead of calling.
GUIDE = (
    "Resources describe the hosts (ssh-mcp://hosts, ssh-mcp://hosts/{alias}: policy and "
    "reachability), what is open (ssh-mcp://groups) and any tool in full "
    "(ssh-mcp://tools/{name}); prompts give plans for common jobs."
)
JSON = "application/json"
MARKDOWN = "text/markdown"

RESOURCES = (
    types.Resource(
        uri=SERVER_INFO_URI,
        name="server-info",
        title="ssh-mcp server info",
        description="Version, open tiers, enabled groups and tool count (JSON).",
        mime_type=JSON,
    ),
    types.Resource(
        uri=HOSTS_URI,
        name="hosts",
        title="Hosts",
        description="Every configured host: alias, groups, reachability as last seen and a "
        "policy summary (JSON). No secrets.",
        mime_type=JSON,
    ),
    types.Resource(
        uri=GROUPS_URI,
        name="groups",
        title="Tiers and tool groups",
        description="Which access tiers and tool groups are open, and their tools (JSON).",
        mime_type=JSON,
    ),
)
TEMPLATES = (
    types.ResourceTemplate(
        uri_template=HOST_TEMPLATE,
        name="host",
        title="One host's policy",
        description="Paths, restricted zones, command policy, sudo, alert thresholds and "
        "reachability of one hosts.toml alias (JSON).",
        mime_type=JSON,
    ),
    types.ResourceTemplate(
        uri_template=TOOL_TEMPLATE,
        name="tool",
        title="One tool's documentation",
        description="The full TOOLS.md section of one tool offered here: every argument and "
        "result field (markdown).",
        mime_type=MARKDOWN,
    ),
)


def _json(body: object) -> str:
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False)


def _server_info(app: App) -> str:
    f = app.facts()
    body = {
        "name": f.name,
        "version": f.version,
        "open_tiers": list(f.open_tiers),
        "enabled_groups": list(f.enabled_groups),
        "tool_count": f.tool_count,
        "host_count": f.host_count,
    }
    return json.dumps(body)


def read(app: App, uri: str) -> tuple[str, str] | None:
    """The text and MIME type of resource ``uri``; None when there is no such resource."""
    if uri == SERVER_INFO_URI:
        return _server_info(app), JSON
    if uri == HOSTS_URI:
        return _json(catalog.hosts_overview(app)), JSON
    if uri == GROUPS_URI:
        return _json(catalog.groups_overview(app)), JSON
    if uri.startswith(HOST_PREFIX):
        # A client expanding the template percent-encodes what a URI may not hold.
        body = catalog.host_policy_doc(app, unquote(uri.removeprefix(HOST_PREFIX)))
        return (_json(body), JSON) if body is not None else None
    if uri.startswith(TOOL_PREFIX):
        text = catalog.tool_markdown(app, uri.removeprefix(TOOL_PREFIX))
        return (text, MARKDOWN) if text is not None else None
    return None


def _prompt_entry(spec: PromptSpec) -> types.Prompt:
    return types.Prompt(
        name=spec.name,
        title=spec.title,
        description=spec.description,
        arguments=[
            types.PromptArgument(name=a.name, description=a.description, required=a.required)
            for a in spec.arguments
        ],
    )


def _completions(app: App, ref: object, argument: str, prefix: str) -> list[str]:
    """Values for a template's or prompt's argument that start with ``prefix``."""
    if argument in ("alias", "host"):
        values = sorted(app.inventory.hosts)
    elif argument == "name" and isinstance(ref, types.ResourceTemplateReference):
        values = [t.name for t in app.visible_tools()]
    elif argument == "group":
        values = sorted(app.inventory.groups)
    else:
        return []
    return [v for v in values if v.startswith(prefix)][:100]


def handlers(app_for: Callable[[ServerRequestContext[Any]], App]) -> dict[str, Any]:
    """The ``on_*`` keyword arguments of ``Server`` for resources, prompts and completion;
    each request reads the app as ``app_for`` its context shows it (an HTTP token's scope)."""
    prompts = [_prompt_entry(p) for p in PROMPTS]

    async def list_resources(
        ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
    ) -> types.ListResourcesResult:
        return types.ListResourcesResult(resources=list(RESOURCES))

    async def list_templates(
        ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
    ) -> types.ListResourceTemplatesResult:
        return types.ListResourceTemplatesResult(resource_templates=list(TEMPLATES))

    async def read_resource(
        ctx: ServerRequestContext[Any], params: types.ReadResourceRequestParams
    ) -> types.ReadResourceResult:
        found = read(app_for(ctx), params.uri)
        if found is None:
            raise MCPError(types.INVALID_PARAMS, f"unknown resource {shown(params.uri)}")
        text, mime = found
        content = types.TextResourceContents(uri=params.uri, text=text, mime_type=mime)
        return types.ReadResourceResult(contents=[content])

    async def list_prompts(
        ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
    ) -> types.ListPromptsResult:
        return types.ListPromptsResult(prompts=prompts)

    async def get_prompt(
        ctx: ServerRequestContext[Any], params: types.GetPromptRequestParams
    ) -> types.GetPromptResult:
        try:
            spec, text = render_prompt(app_for(ctx), params.name, params.arguments)
        except SSHMCPError as exc:
            raise MCPError(types.INVALID_PARAMS, str(exc)) from None
        message = types.PromptMessage(
            role="user", content=types.TextContent(type="text", text=text)
        )
        return types.GetPromptResult(description=spec.description, messages=[message])

    async def complete(
        ctx: ServerRequestContext[Any], params: types.CompleteRequestParams
    ) -> types.CompleteResult:
        values = _completions(app_for(ctx), params.ref, params.argument.name, params.argument.value)
        return types.CompleteResult(completion=types.Completion(values=values))

    return {
        "on_list_resources": list_resources,
        "on_list_resource_templates": list_templates,
        "on_read_resource": read_resource,
        "on_list_prompts": list_prompts,
        "on_get_prompt": get_prompt,
        "on_completion": complete,
    }
