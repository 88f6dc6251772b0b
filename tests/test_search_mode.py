"""SSH_TOOL_MODE=search through the real MCP path: find, describe and call the catalogue."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from harness import (
    OPEN,
    Mode,
    assert_audit,
    audit_lines,
    make_settings,
    ok,
    refused,
    serve,
    structured,
    text,
)
from mcp.client.session import ClientRequestContext
from mcp.types import (
    ElicitRequestFormParams,
    ElicitRequestParams,
    ElicitResult,
    ErrorData,
    TextResourceContents,
)

from ssh_mcp.config.settings import Settings, load_settings
from ssh_mcp.core.access import Group, Tier, ToolMode
from ssh_mcp.core.search import rank, summary
from ssh_mcp.errors import ConfigError
from ssh_mcp.tools import ALL_TOOLS

pytestmark = pytest.mark.anyio
ERAS: list[Mode] = ["auto", "legacy"]
SEARCH = {"ssh_tool_mode": ToolMode.SEARCH}
HIDDEN_TEXT = "unknown tool 'ssh_exec_run'; call ssh_tool_search to find the tools"


def _local(tmp_path: Path, **overrides: Any) -> Settings:
    """Settings with no host: enough for what never reaches one."""
    return make_settings(tmp_path, "", tmp_path / "known_hosts", **{**SEARCH, **overrides})


async def _found(client: Any, query: str, limit: int = 50) -> list[str]:
    out = await ok(client, "ssh_tool_search", {"query": query, "limit": limit})
    return [t["name"] for t in out["tools"]]


async def test_search_finds_what_is_offered_and_never_what_is_hidden(tmp_path: Path) -> None:
    groups = [g.value for g in Group if g is not Group.SESSION]
    async with serve(_local(tmp_path, ssh_enabled_groups=groups)) as (client, app):
        assert client.instructions and "ssh_tool_search" in client.instructions
        assert (await _found(client, "disk usage"))[0] == "ssh_host_disk_usage"
        hit = (await ok(client, "ssh_tool_search", {"query": "disk usage"}))["tools"][0]
        assert (hit["tier"], hit["group"]) == ("read", "host") and hit["summary"] and hit["score"]
        # A closed tier (dangerous) and a disabled group (session) hide their tools.
        assert "ssh_exec_run" not in await _found(client, "run a command ssh_exec_run")
        assert "ssh_session_list" not in await _found(client, "pooled connections session")
        # A query of no meaningful word lists the whole offered catalogue, nothing else.
        offered = {t.name for t in app.visible_tools() if ToolMode.FULL in t.listed_in}
        everything = await _found(client, "the", limit=50)
        assert set(everything) == offered
        assert all(
            t.tier is Tier.READ and t.group is not Group.SESSION
            for t in ALL_TOOLS
            if t.name in everything
        )
        page = await ok(client, "ssh_tool_search", {"query": "", "limit": 3})
        assert len(page["tools"]) == 3 and page["truncated"] and page["total"] == len(offered)


async def test_the_groups_resource_says_what_search_mode_lists(tmp_path: Path) -> None:
    async with serve(_local(tmp_path, ssh_enabled_groups=["sftp-read"])) as (client, _):
        body = (await client.read_resource("ssh-mcp://groups")).contents[0]
        assert isinstance(body, TextResourceContents)
        groups = json.loads(body.text)
        assert groups["tool_mode"] == "search"
        # The host group is disabled: its two host tools go, the search tools stay.
        assert groups["listed"] == ["ssh_tool_search", "ssh_tool_describe", "ssh_tool_call"]
        offered = [name for g in groups["groups"] for name in g["tools"]]
        assert offered and all(name.startswith("ssh_") for name in offered)
        assert not {"ssh_tool_search", "ssh_host_list"} & set(offered)
        listed = [t.name for t in (await client.list_tools()).tools]
        assert listed == groups["listed"]


async def test_describe_sends_what_full_mode_lists_and_hides_the_hidden(tmp_path: Path) -> None:
    async with serve(_local(tmp_path / "full", ssh_tool_mode=ToolMode.FULL)) as (client, _):
        listed = {t.name: t for t in (await client.list_tools()).tools}
    async with serve(_local(tmp_path)) as (client, _):
        got = await ok(client, "ssh_tool_describe", {"name": "ssh_sftp_list"})
        full = listed["ssh_sftp_list"]
        assert got["input_schema"] == full.input_schema
        assert got["output_schema"] == full.output_schema
        assert got["description"] == full.description and got["title"] == full.title
        assert full.annotations is not None
        assert got["annotations"] == full.annotations.model_dump(by_alias=True, exclude_none=True)
        assert got["tier"] == "read" and got["details"]
        # What tools/list leaves out of a field (name_says, details) describe gives back.
        assert "description" not in full.input_schema["properties"]["offset"]
        assert got["arguments"]["offset"] and got["arguments"]["path"]
        hidden = await refused(client, "ssh_tool_describe", {"name": "ssh_exec_run"})
        unknown = await refused(client, "ssh_tool_describe", {"name": "ssh_no_such_tool"})
        assert hidden.startswith(HIDDEN_TEXT)
        assert hidden.replace("ssh_exec_run", "X") == unknown.replace("ssh_no_such_tool", "X")


@pytest.mark.parametrize("mode", ERAS)
async def test_calling_a_hidden_tool_is_refused_as_unknown_and_audited(
    mode: Mode, tmp_path: Path
) -> None:
    args = {"host": "target", "command": "true"}
    async with serve(_local(tmp_path), mode) as (client, app):
        via = await refused(client, "ssh_tool_call", {"name": "ssh_exec_run", "arguments": args})
        assert via.startswith(HIDDEN_TEXT)
        line = assert_audit(
            app,
            {
                "tool": "ssh_exec_run",
                "outcome": "denied",
                "error": "ToolNotAvailable",
                "via": "ssh_tool_call",
            },
        )
        assert line.get("tier") is None and line.get("host") is None
        assert await refused(client, "ssh_exec_run", args) == via  # directly: the same answer
        assert len(audit_lines(app)) == 2
    # A disabled group hides its tools from ssh_tool_call as a closed tier does.
    settings = _local(tmp_path / "groups", ssh_enabled_groups=["host"])
    async with serve(settings, mode) as (client, app):
        await ok(client, "ssh_tool_call", {"name": "ssh_host_list", "arguments": {}})
        message = await refused(
            client, "ssh_tool_call", {"name": "ssh_session_list", "arguments": {}}
        )
        assert message.startswith("unknown tool 'ssh_session_list'; call ssh_tool_search")
        assert_audit(app, {"tool": "ssh_session_list", "outcome": "denied", "via": "ssh_tool_call"})


async def test_full_mode_has_no_search_tools(tmp_path: Path) -> None:
    settings = _local(tmp_path, ssh_tool_mode=ToolMode.FULL)
    async with serve(settings) as (client, app):
        names = {t.name for t in (await client.list_tools()).tools}
        assert not names & {"ssh_tool_search", "ssh_tool_describe", "ssh_tool_call"}
        assert client.instructions and "ssh_tool_search" not in client.instructions
        message = await refused(client, "ssh_tool_call", {"name": "ssh_host_list", "arguments": {}})
        assert message.startswith("unknown tool 'ssh_tool_call'; call tools/list")
        assert_audit(app, {"tool": "ssh_tool_call", "outcome": "denied"})


@pytest.mark.parametrize("mode", ERAS)
async def test_a_tool_called_through_ssh_tool_call_runs_as_itself(
    mode: Mode, settings_for: Callable[..., Settings]
) -> None:
    args = {"host": "target", "command": "echo via-search"}
    async with serve(settings_for(**OPEN, **SEARCH), mode) as (client, app):
        out = await ok(client, "ssh_tool_call", {"name": "ssh_exec_run", "arguments": args})
        assert out["stdout"] == "via-search\n" and out["exit_code"] == 0
        lines = audit_lines(app)
        assert len(lines) == 1, "one audit line, under the real tool's name"
        assert lines[0]["tool"] == "ssh_exec_run" and lines[0]["via"] == "ssh_tool_call"
        assert (lines[0]["host"], lines[0]["outcome"], lines[0]["tier"]) == (
            "target",
            "ok",
            "dangerous",
        )
        # A client that cached the name may still call the tool directly, governed the same.
        direct = await ok(client, "ssh_exec_run", args)
        assert direct["stdout"] == out["stdout"]
        assert "via" not in audit_lines(app)[-1]


async def test_progress_passes_through(settings_for: Callable[..., Settings]) -> None:
    reports: list[str | None] = []

    async def report(progress: float, total: float | None, message: str | None) -> None:
        reports.append(message)

    command = "for i in 1 2 3; do echo line$i; sleep 0.3; done"
    async with serve(settings_for(**OPEN, **SEARCH)) as (client, _):
        r = await client.call_tool(
            "ssh_tool_call",
            {"name": "ssh_exec_run_streaming", "arguments": {"host": "target", "command": command}},
            progress_callback=report,
        )
        assert structured(r)["stdout"].splitlines()[-1] == "line3"
        assert reports and all(m and "line" in m for m in reports), reports


@pytest.mark.parametrize("mode", ERAS)
async def test_the_inner_tool_s_validation_errors_come_back_as_its_own(
    mode: Mode, settings_for: Callable[..., Settings]
) -> None:
    async with serve(settings_for(**OPEN, **SEARCH), mode) as (client, app):
        for bad in ({"host": "target"}, {"host": "target", "command": "true", "colour": 1}):
            via = await refused(
                client,
                "ssh_tool_call",
                {"name": "ssh_exec_run", "arguments": bad},
                "invalid arguments for ssh_exec_run: ",
            )
            assert await refused(client, "ssh_exec_run", bad) == via
            assert_audit(app, {"tool": "ssh_exec_run", "error": "InvalidArguments"})
        # ssh_tool_call's own arguments are its own to refuse.
        await refused(
            client, "ssh_tool_call", {"arguments": {}}, "invalid arguments for ssh_tool_call: name"
        )
        assert_audit(app, {"tool": "ssh_tool_call", "error": "InvalidArguments"})
        inner = {"name": "ssh_host_list", "arguments": {}}
        await refused(
            client,
            "ssh_tool_call",
            {"name": "ssh_tool_call", "arguments": inner},
            "ssh_tool_call cannot call 'ssh_tool_call'",
        )


class Human:
    """Answers a confirmation like a person at the client."""

    def __init__(self, action: str) -> None:
        self.action = action
        self.asked: list[str] = []

    async def __call__(
        self, context: ClientRequestContext, params: ElicitRequestParams
    ) -> ElicitResult | ErrorData:
        assert isinstance(params, ElicitRequestFormParams)
        self.asked.append(params.message)
        content = {"confirm": True} if self.action == "accept" else None
        return ElicitResult(action=self.action, content=content)


@pytest.mark.parametrize("mode", ERAS)
@pytest.mark.parametrize("action", ["accept", "decline"])
async def test_a_command_that_needs_a_human_asks_through_ssh_tool_call(
    mode: Mode, action: str, settings_for: Callable[..., Settings], work_dir: Path
) -> None:
    path = work_dir / f"search-confirm-{action}"
    settings = settings_for(**OPEN, **SEARCH, ssh_confirm_patterns=[r"\btouch\b.*search-confirm"])
    human = Human(action)
    call = {"name": "ssh_exec_run", "arguments": {"host": "target", "command": f"touch {path}"}}
    async with serve(settings, mode, human) as (client, app):
        r = await client.call_tool("ssh_tool_call", call)
        assert len(human.asked) == 1 and str(path) in human.asked[0]
        assert "ssh_exec_run" in human.asked[0]
        if action == "accept":
            assert not r.is_error and path.exists(), text(r)
            want = {"tool": "ssh_exec_run", "outcome": "ok", "confirmation": "confirmed"}
        else:
            assert r.is_error and "a human declined" in text(r) and not path.exists()
            want = {"tool": "ssh_exec_run", "outcome": "denied", "confirmation": "declined"}
        assert_audit(app, {**want, "via": "ssh_tool_call"})
        if mode == "auto":  # 2026-07-28: the first round asked, the retried ssh_tool_call ran
            first = audit_lines(app)[-2]
            assert (first["tool"], first["outcome"]) == ("ssh_exec_run", "input_required")


# -- the ranking and the setting, without a server ---------------------------------------


def test_rank_scores_shared_words_and_keeps_registry_order_among_equals() -> None:
    names = [h.spec.name for h in rank(ALL_TOOLS, "run a command")]
    assert names[:2] == ["ssh_exec_run", "ssh_exec_run_streaming"]  # tied: registry order
    assert rank(ALL_TOOLS, "ssh_exec_run")[0].spec.name == "ssh_exec_run"
    # A word's beginning counts for half (dir, directory); two letters count only whole.
    assert "ssh_delete_folder" in [h.spec.name for h in rank(ALL_TOOLS, "dir")]
    assert [h.spec.name for h in rank(ALL_TOOLS, "cp")] == ["ssh_cp", "ssh_docker_cp"]
    assert rank(ALL_TOOLS, "zebra quux") == []
    everything = rank(ALL_TOOLS, "the tool for it")  # stop words only
    assert [h.spec.name for h in everything] == [t.name for t in ALL_TOOLS]
    assert summary("One. Two.") == "One." and len(summary("x" * 400)) == 160


def test_a_bad_tool_mode_fails_at_startup_naming_the_variable() -> None:
    assert load_settings(_env_file=None, ssh_tool_mode="search").ssh_tool_mode is ToolMode.SEARCH
    with pytest.raises(ConfigError, match="SSH_TOOL_MODE"):
        load_settings(_env_file=None, ssh_tool_mode="compact")
