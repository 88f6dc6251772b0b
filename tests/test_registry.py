"""The registry is the single source: its declarations must be complete and consistent."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from ssh_mcp.core.access import Tier
from ssh_mcp.core.spec import RemotePath, ToolSpec
from ssh_mcp.core.tooldocs import render_tools_md
from ssh_mcp.tools import ALL_TOOLS

ROOT = Path(__file__).resolve().parent.parent
IDS = [t.name for t in ALL_TOOLS]
#: Write tools that only ever add (they can neither overwrite nor delete).
ADDS_ONLY = {"ssh_mkdir"}
#: Read-only tools of a higher tier: they observe what that tier started (job output),
#: or read what only root may read.
OBSERVERS = {"ssh_job_status", "ssh_job_list", "ssh_shell_list", "ssh_sudo_read"}
OBSERVERS |= {"ssh_sudo_sftp_list", "ssh_sudo_read_redacted", "ssh_pty_list", "ssh_forward_list"}
#: Always open, but it calls any tool the tiers open: hinted like the worst of them.
DISPATCHERS = {"ssh_tool_call"}


def test_names_are_unique_and_prefixed() -> None:
    assert len(IDS) == len(set(IDS))
    assert all(n.startswith("ssh_") for n in IDS)


@pytest.mark.parametrize("spec", ALL_TOOLS, ids=IDS)
def test_annotations_match_tier(spec: ToolSpec[Any, Any]) -> None:
    a = spec.annotations
    if spec.name in DISPATCHERS:
        assert (a.read_only, a.destructive, a.idempotent, a.open_world) == (
            False,
            True,
            False,
            True,
        )
        return
    if spec.tier is Tier.READ or spec.name in OBSERVERS:
        assert a.read_only and not a.destructive
    else:
        assert not a.read_only
    changes = ("exec", "shell", "sudo", "file-ops")
    if spec.group.value in changes and spec.name not in ADDS_ONLY | OBSERVERS:
        assert a.destructive, "anything that can overwrite or delete is destructive"
    if spec.name in ADDS_ONLY:
        assert not a.destructive
    if not spec.targets_host:
        assert not a.open_world, "a purely local tool is not open-world"


@pytest.mark.parametrize("spec", ALL_TOOLS, ids=IDS)
def test_every_field_is_described(spec: ToolSpec[Any, Any]) -> None:
    for model in (spec.input, spec.output):
        assert model.model_config.get("extra") == "forbid" or model is spec.output
        for name, info in model.model_fields.items():
            assert info.description, f"{model.__name__}.{name} has no description"
    assert spec.description.strip() and spec.title.strip()
    schema = spec.input.model_json_schema()
    assert schema["type"] == "object"


@pytest.mark.parametrize("spec", ALL_TOOLS, ids=IDS)
def test_path_fields_are_marked(spec: ToolSpec[Any, Any]) -> None:
    for name in spec.input.model_fields:
        if "path" in name and not name.startswith("local"):
            assert spec.field_marker(name, RemotePath) is not None, f"{name} is not confined"


def test_tools_md_is_fresh() -> None:
    assert (ROOT / "TOOLS.md").read_text() == render_tools_md(), "run `ssh-mcp docs`"


def test_a_group_catalogue_names_each_declared_tool_exactly_once() -> None:
    """A tool declared in a group's module but left out of its catalogue (or named twice, or
    misspelt) stops the import: no tool can silently vanish from tools/list."""
    import types

    from ssh_mcp.tools._catalog import catalog
    from ssh_mcp.tools.exec import run

    assert [s.name for s in catalog(("ssh_exec_run_streaming", "ssh_exec_run"), run)] == [
        "ssh_exec_run_streaming",
        "ssh_exec_run",
    ]
    for order in (("ssh_exec_run",), ("ssh_exec_run", "ssh_exec_run", "ssh_exec_run_streaming")):
        with pytest.raises(RuntimeError, match="does not match"):
            catalog(order, run)
    empty = types.ModuleType("empty")
    empty.TOOLS = ()  # type: ignore[attr-defined]
    with pytest.raises(RuntimeError):
        catalog(("ssh_exec_run",), empty)
