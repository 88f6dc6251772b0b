"""Resources, resource templates and prompts: listed and read in both protocol eras through
the real client, no secret in any of them, hidden tools unreadable, prompts naming real tools."""

from __future__ import annotations

import json
import re
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from harness import Target, hosts_toml, make_settings, poll, serve
from mcp import Client, MCPError
from mcp.types import PromptReference, ResourceTemplateReference, TextContent, TextResourceContents

from ssh_mcp.config.settings import Settings
from ssh_mcp.core import catalog
from ssh_mcp.core.access import Tier
from ssh_mcp.core.app import build_app
from ssh_mcp.core.prompts import PROMPTS, render_prompt
from ssh_mcp.core.tooldocs import render_tools_md, tool_doc
from ssh_mcp.errors import HostNotAllowed, InvalidArguments
from ssh_mcp.mcp.resources import read
from ssh_mcp.tools import ALL_TOOLS

pytestmark = pytest.mark.anyio

REGISTRY = {t.name: t for t in ALL_TOOLS}
TOOL_NAME = re.compile(r"\bssh_[a-z_]+\b")
#: Planted in every secret-bearing setting; no resource text may contain it.
SECRET = "S3CRET-never-shown"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _inventory(target: Target, tmp: Path) -> str:
    """``target`` (with a sudo password helper) in group ``web``, a password-auth host whose
    helper argv holds the secret, and ``down`` on a port nothing listens on."""
    secret_file = tmp / f"{SECRET}.pw"
    secret_file.write_text("pw\n")
    target = Target(
        target.alias,
        target.port,
        target.user,
        target.key,
        target.path_allowlist,
        f'sudo_password_cmd = ["cat", "{secret_file}", "--{SECRET}"]\n'
        'command_allowlist = ["uptime", "df"]\n',
    )
    return hosts_toml(target) + (
        f'\n[hosts.vault]\nhostname = "127.0.0.1"\nport = {_free_port()}\nuser = "ops"\n'
        '[hosts.vault.auth]\nmethod = "password"\n'
        f'password_cmd = ["sh", "-c", "echo {SECRET}"]\n'
        f'\n[hosts.down]\nhostname = "127.0.0.1"\nport = {_free_port()}\n'
        f'[hosts.down.auth]\nmethod = "key"\nkey = "{target.key}"\n'
        f'passphrase_cmd = ["echo", "{SECRET}"]\nidentity_agent = "{tmp}/{SECRET}.sock"\n'
        '\n[groups]\nweb = ["target"]\nall = ["target", "vault", "down"]\n'
    )


@pytest.fixture
def secret_settings(
    tmp_path: Path, target: Target, known_hosts_file: Path
) -> Callable[..., Settings]:
    def make(**overrides: Any) -> Settings:
        return make_settings(
            tmp_path,
            _inventory(target, tmp_path),
            known_hosts_file,
            allow_password_auth=True,
            ssh_http_token_cmd=["echo", SECRET],
            **overrides,
        )

    return make


async def _read(client: Client, uri: str) -> tuple[str, str | None]:
    result = await client.read_resource(uri)
    assert len(result.contents) == 1
    content = result.contents[0]
    assert isinstance(content, TextResourceContents) and content.uri == uri
    return content.text, content.mime_type


async def _prompt_text(client: Client, name: str, arguments: dict[str, str]) -> str:
    result = await client.get_prompt(name, arguments)
    assert len(result.messages) == 1 and result.messages[0].role == "user"
    content = result.messages[0].content
    assert isinstance(content, TextContent)
    return content.text


@pytest.mark.parametrize(("mode", "version"), [("auto", "2026-07-28"), ("legacy", "2025-11-25")])
async def test_every_resource_template_and_prompt_in_both_eras(
    secret_settings: Callable[..., Settings], target: Target, mode: str, version: str
) -> None:
    async with serve(secret_settings(), mode=mode) as (client, _):  # type: ignore[arg-type]
        assert client.protocol_version == version
        caps = client.server_capabilities
        assert client.instructions and "ssh-mcp://tools/{name}" in client.instructions
        assert caps.resources is not None and caps.prompts is not None
        r = await client.call_tool("ssh_host_ping", {"host": "target"})
        assert not r.is_error
        r = await client.call_tool("ssh_host_ping", {"host": "down"})
        assert r.structured_content and not r.structured_content["reachable"]

        resources = (await client.list_resources()).resources
        assert [r.uri for r in resources] == [
            "ssh-mcp://server-info",
            "ssh-mcp://hosts",
            "ssh-mcp://groups",
        ]
        templates = (await client.list_resource_templates()).resource_templates
        assert [t.uri_template for t in templates] == [
            "ssh-mcp://hosts/{alias}",
            "ssh-mcp://tools/{name}",
        ]
        texts: dict[str, str] = {}
        for resource in resources:
            texts[resource.uri], mime = await _read(client, resource.uri)
            assert mime == resource.mime_type == "application/json"
        for alias in ("target", "vault", "down"):
            uri = f"ssh-mcp://hosts/{alias}"
            texts[uri], mime = await _read(client, uri)
            assert mime == "application/json"
        visible = [t.name for t in (await client.list_tools()).tools]
        for name in visible:
            uri = f"ssh-mcp://tools/{name}"
            texts[uri], mime = await _read(client, uri)
            assert mime == "text/markdown"
            assert texts[uri] == tool_doc(REGISTRY[name])
            assert texts[uri] in render_tools_md()  # the very text of TOOLS.md

        hosts = json.loads(texts["ssh-mcp://hosts"])
        by_alias = {h["alias"]: h for h in hosts["hosts"]}
        assert sorted(by_alias) == ["down", "target", "vault"]
        assert by_alias["target"]["reachability"]["state"] == "connected"
        assert by_alias["target"]["reachability"]["checked_at"].endswith("Z")
        assert by_alias["target"]["groups"] == ["all", "web"]
        assert by_alias["target"]["policy"]["commands"] == "allowlist"
        assert by_alias["target"]["policy"]["path_roots"] == list(target.path_allowlist)
        assert by_alias["down"]["reachability"]["state"] == "unreachable"
        assert by_alias["down"]["reachability"]["error"] == "ConnectFailed"
        assert by_alias["vault"]["reachability"] == {
            "state": "unknown",
            "checked_at": None,
            "error": None,
        }
        assert by_alias["vault"]["policy"]["commands"] == "refused"
        assert hosts["groups"] == {"all": ["target", "vault", "down"], "web": ["target"]}

        one = json.loads(texts["ssh-mcp://hosts/target"])
        assert one["alias"] == "target" and one["blocked"] is False
        assert one["commands"]["allowlist"] == ["uptime", "df"]
        assert one["commands"]["exec_tier_open"] is False
        assert one["sudo"] == {
            "tier_open": False,
            "password": "from the operator's helper command",
        }
        assert json.loads(texts["ssh-mcp://hosts/down"])["sudo"]["password"].startswith("none")

        groups = json.loads(texts["ssh-mcp://groups"])
        tiers = {t["tier"]: t["open"] for t in groups["tiers"]}
        assert tiers == {"read": True, "low-access": False, "dangerous": False, "sudo": False}
        listed = [name for g in groups["groups"] for name in g["tools"]]
        assert sorted(listed) == sorted(visible)

        # No secret and no credential location anywhere: not the *_cmd argvs (password,
        # passphrase, sudo password, HTTP token), not the key paths.
        for uri, body in texts.items():
            assert SECRET not in body, uri
            assert str(target.key) not in body, uri

        # A hidden tool reads exactly like a tool that does not exist.
        assert REGISTRY["ssh_exec_run"].tier is Tier.DANGEROUS and "ssh_exec_run" not in visible
        for uri in ("ssh-mcp://tools/ssh_exec_run", "ssh-mcp://tools/ssh_nope"):
            with pytest.raises(MCPError) as caught:
                await client.read_resource(uri)
            assert caught.value.error.message == f"unknown resource '{uri}'"
        with pytest.raises(MCPError, match="unknown resource 'ssh-mcp://hosts/nowhere'"):
            await client.read_resource("ssh-mcp://hosts/nowhere")

        prompts = (await client.list_prompts()).prompts
        assert [p.name for p in prompts] == [p.name for p in PROMPTS]
        args = {"host": "target", "service": "nginx.service", "group": "web", "path": "/var"}
        args["command"] = "uptime"
        for prompt in prompts:
            given = {a.name: args[a.name] for a in prompt.arguments or []}
            text = await _prompt_text(client, prompt.name, given)
            assert set(TOOL_NAME.findall(text)) <= set(visible), prompt.name
            assert "ALLOW_DANGEROUS_TOOLS=true" in text  # what to ask for, exec being closed
            for value in given.values():
                assert value in text
            required = {a.name: args[a.name] for a in prompt.arguments or [] if a.required}
            if required != given:  # optional arguments may be left out
                assert await _prompt_text(client, prompt.name, required)
        with pytest.raises(MCPError, match="unknown host 'nowhere'"):
            await client.get_prompt("triage_host", {"host": "nowhere"})
        with pytest.raises(MCPError, match="needs the argument 'host'"):
            await client.get_prompt("triage_host", {})
        with pytest.raises(MCPError, match="unknown prompt"):
            await client.get_prompt("nope", {})

        ref = ResourceTemplateReference(type="ref/resource", uri="ssh-mcp://hosts/{alias}")
        done = await client.complete(ref, {"name": "alias", "value": "t"})
        assert done.completion.values == ["target"]
        ref = ResourceTemplateReference(type="ref/resource", uri="ssh-mcp://tools/{name}")
        done = await client.complete(ref, {"name": "name", "value": "ssh_exec"})
        assert done.completion.values == []  # hidden tools are not offered either
        done = await client.complete(ref, {"name": "name", "value": "ssh_host_d"})
        assert done.completion.values == ["ssh_host_disk_usage"]
        prompt_ref = PromptReference(type="ref/prompt", name="check_fleet")
        done = await client.complete(prompt_ref, {"name": "group", "value": ""})
        assert done.completion.values == ["all", "web"]


async def test_open_tiers_are_readable_and_prompts_use_them(
    secret_settings: Callable[..., Settings],
) -> None:
    settings = secret_settings(allow_dangerous_tools=True, allow_sudo=True)
    async with serve(settings) as (client, _):
        text, _ = await _read(client, "ssh-mcp://tools/ssh_exec_run")
        assert text.startswith("## `ssh_exec_run`: ")
        body = json.loads((await _read(client, "ssh-mcp://hosts/target"))[0])
        assert body["commands"]["exec_tier_open"] and body["sudo"]["tier_open"]
        text = await _prompt_text(client, "check_fleet", {"group": "web", "command": "df -h"})
        assert "`ssh_broadcast` group=web command='df -h'" in text
        text = await _prompt_text(client, "triage_host", {"host": "target"})
        assert "`ssh_exec_run`" in text and "ALLOW_DANGEROUS_TOOLS" not in text
        text = await _prompt_text(client, "disk_full", {"host": "target", "path": "/a b;x"})
        assert "du -xh --max-depth=2 '/a b;x' |" in text


# -- the prompts themselves, without a client ------------------------------------------


def test_prompts_name_only_registered_tools_and_need_only_the_read_tier() -> None:
    for prompt in PROMPTS:
        assert prompt.tools, prompt.name
        for name in prompt.tools:
            assert name in REGISTRY, (prompt.name, name)
            assert REGISTRY[name].tier is Tier.READ, (prompt.name, name)
        for name in prompt.optional:
            assert name in REGISTRY, (prompt.name, name)


@pytest.mark.parametrize(
    "overrides",
    [
        {},
        {"allow_low_access_tools": True, "allow_dangerous_tools": True, "allow_sudo": True},
        {"ssh_enabled_groups": ["sftp-read"]},
        {"ssh_enabled_groups": ["host"], "allow_dangerous_tools": True},
    ],
)
async def test_prompt_texts_name_only_tools_open_in_that_configuration(
    tmp_path: Path, overrides: dict[str, Any]
) -> None:
    hosts = (
        '[hosts.web1]\nhostname = "192.0.2.10"\nuser = "ops"\n'
        '[hosts.web1.auth]\nmethod = "agent"\n[groups]\nweb = ["web1"]\n'
    )
    app = build_app(make_settings(tmp_path, hosts, tmp_path / "known_hosts", **overrides))
    try:
        visible = {t.name for t in app.visible_tools()}
        args = {"host": "web1", "service": "sshd", "group": "web", "path": "/srv", "command": "df"}
        for prompt in PROMPTS:
            given = {a.name: args[a.name] for a in prompt.arguments}
            _, text = render_prompt(app, prompt.name, given)
            named = set(TOOL_NAME.findall(text))
            assert named <= visible, (prompt.name, named - visible)
            assert named <= set(REGISTRY)
            if not all(t in visible for t in prompt.tools):
                assert "ssh-mcp://groups" in text
            if prompt.optional == ("ssh_exec_run",) and "ssh_exec_run" not in visible:
                dangerous = overrides.get("allow_dangerous_tools", False)
                remedy = "`exec` in SSH_ENABLED_GROUPS" if dangerous else "ALLOW_DANGEROUS_TOOLS"
                assert remedy in text, prompt.name
        with pytest.raises(HostNotAllowed):
            render_prompt(app, "disk_full", {"host": "web2"})
        found = read(app, "ssh-mcp://hosts/web%31")  # as a client expands the template
        assert found and json.loads(found[0])["alias"] == "web1"
        for bad in (
            {"host": "web1", "service": "x; reboot"},
            {"host": "web1", "service": "ok", "extra": "1"},
            {"host": "web1\x1b[2J", "service": "ok"},
        ):
            with pytest.raises((InvalidArguments, HostNotAllowed)):
                render_prompt(app, "investigate_service", bad)
        with pytest.raises(InvalidArguments, match="not a group"):
            render_prompt(app, "check_fleet", {"group": "db"})
        with pytest.raises(InvalidArguments, match="not absolute"):
            render_prompt(app, "disk_full", {"host": "web1", "path": "var"})
    finally:
        await app.aclose()


async def test_reachability_outlives_the_connection_it_was_seen_on(
    settings_for: Callable[..., Settings],
) -> None:
    async with serve(settings_for(ssh_idle_timeout=0.2)) as (client, app):
        assert catalog.reachability(app, "target")["state"] == "unknown"
        assert not (await client.call_tool("ssh_host_ping", {"host": "target"})).is_error
        seen = catalog.reachability(app, "target")
        assert seen["state"] == "connected" and seen["error"] is None
        # The idle connection is reaped; the handshake it came from is still the last seen.
        await poll(lambda: catalog.reachability(app, "target")["state"] == "reachable", "reaped")
        assert catalog.reachability(app, "target")["checked_at"] == seen["checked_at"]
