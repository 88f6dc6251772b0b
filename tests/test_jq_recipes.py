"""The README's jq recipes, run with the real `jq` against an audit log written by real calls.

The log comes from our server driven through the MCP client against the test sshd: ok calls
(read and dangerous tier), a denial for an unknown host, a path denial on `target`, and a
remote error. Each ```sh block of README.md that starts with `jq` is a recipe.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
from collections import Counter
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import anyio
import pytest
from harness import OPEN, Target, serve, text

from ssh_mcp.config.settings import Settings
from ssh_mcp.state import audit

pytestmark = pytest.mark.anyio
ROOT = Path(__file__).resolve().parent.parent
_FENCE = re.compile(r"^```sh\n(.*?)^```\s*$", re.MULTILINE | re.DOTALL)


def _recipes() -> list[str]:
    blocks = _FENCE.findall((ROOT / "README.md").read_text(encoding="utf-8"))
    return [b.strip() for b in blocks if b.lstrip().startswith("jq")]


RECIPES = _recipes()


def _kind(recipe: str) -> str:
    if "fromdateiso8601" in recipe:
        return "errors-last-hour"
    if '"dangerous"' in recipe:
        return "slowest-dangerous"
    if "group_by(.tool)" in recipe:
        return "calls-per-tool"
    if '"denied"' in recipe:
        return "denials-per-host"
    if "select(.confirmation)" in recipe:
        return "confirmations"
    return "other"


def _lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


async def _jq(recipe: str, log: Path) -> str:
    assert shutil.which("jq"), "jq is not installed (apt-get install jq)"
    env = {**os.environ, "SSH_AUDIT_LOG": str(log)}
    proc = await anyio.run_process(["bash", "-c", recipe], env=env, check=False)
    stderr = proc.stderr.decode()
    assert proc.returncode == 0, f"recipe failed ({proc.returncode}): {stderr}\n{recipe}"
    assert not stderr, stderr
    out: str = proc.stdout.decode()
    assert out.strip(), f"recipe printed nothing:\n{recipe}"
    return out


@pytest.fixture
async def audit_log(settings_for: Callable[..., Settings], target: Target) -> AsyncIterator[Path]:
    """An audit log with ok, denied and error lines, written through the MCP path."""
    root = target.path_allowlist[0]
    settings = settings_for(**OPEN)
    async with serve(settings) as (client, app):
        r = await client.call_tool("ssh_host_info", {"host": "target"})
        assert not r.is_error, text(r)
        r = await client.call_tool("ssh_exec_run", {"host": "target", "command": "echo hi"})
        assert not r.is_error, text(r)
        r = await client.call_tool("ssh_host_info", {"host": "nowhere.invalid"})
        assert r.is_error
        r = await client.call_tool("ssh_sftp_list", {"host": "target", "path": "/etc"})
        assert r.is_error
        r = await client.call_tool("ssh_sftp_stat", {"host": "target", "path": f"{root}/missing"})
        assert r.is_error
        # A deny-pattern command, and a client that cannot ask a human: refused.
        r = await client.call_tool("ssh_exec_run", {"host": "target", "command": "reboot"})
        assert r.is_error and "no elicitation support" in text(r)
        log = app.settings.ssh_audit_log
    outcomes = [(line["tool"], line["outcome"]) for line in _lines(log)]
    assert outcomes == [
        ("ssh_host_info", "ok"),
        ("ssh_exec_run", "ok"),
        ("ssh_host_info", "denied"),
        ("ssh_sftp_list", "denied"),
        ("ssh_sftp_stat", "error"),
        ("ssh_exec_run", "denied"),
    ]
    yield log


def test_readme_has_the_five_recipes() -> None:
    kinds = sorted(_kind(r) for r in RECIPES)
    assert kinds == [
        "calls-per-tool",
        "confirmations",
        "denials-per-host",
        "errors-last-hour",
        "slowest-dangerous",
    ]
    for recipe in RECIPES:
        assert '"$SSH_AUDIT_LOG"' in recipe, recipe


@pytest.mark.parametrize("recipe", RECIPES, ids=[_kind(r) for r in RECIPES])
async def test_recipe_runs_on_a_real_log(recipe: str, audit_log: Path, tmp_path: Path) -> None:
    kind = _kind(recipe)
    if kind == "errors-last-hour":
        # Add an error from two hours ago: it must be left out.
        old = (datetime.now(UTC) - timedelta(hours=2)).isoformat(timespec="milliseconds")
        stale = {"ts": old.replace("+00:00", "Z"), "tool": "stale_tool", "outcome": "error"}
        log = tmp_path / "with-stale.jsonl"
        log.write_text(audit_log.read_text() + json.dumps(stale) + "\n")
        out = await _jq(recipe, log)
        assert "ssh_sftp_stat" in out and "RemoteError" in out
        assert "stale_tool" not in out
        assert "ssh_host_info" not in out  # ok and denied lines are not errors
    elif kind == "slowest-dangerous":
        out = await _jq(recipe, audit_log)
        assert "ssh_exec_run" in out and "duration_ms" in out
        assert "ssh_host_info" not in out and "ssh_sftp" not in out
    elif kind == "calls-per-tool":
        out = await _jq(recipe, audit_log)
        counts = {tool: int(n) for n, tool in (row.split("\t") for row in out.splitlines())}
        assert counts == dict(Counter(line["tool"] for line in _lines(audit_log)))
    elif kind == "denials-per-host":
        out = await _jq(recipe, audit_log)
        rows = {host: int(n) for n, host in (row.split("\t") for row in out.splitlines())}
        assert rows == {"target": 2, "nowhere.invalid": 1}
    elif kind == "confirmations":
        out = await _jq(recipe, audit_log)
        asked = [json.loads(row) for row in out.splitlines()]
        assert [(r["tool"], r["confirmation"], r["outcome"]) for r in asked] == [
            ("ssh_exec_run", "unsupported", "denied")
        ]
        assert asked[0]["deny_pattern"] == "shutdown / reboot / halt / poweroff"
    else:
        await _jq(recipe, audit_log)


def test_readme_documents_every_audit_field() -> None:
    # The audit module's docstring lists the fields the dispatcher writes.
    fields = re.findall(r"^    ([a-z_]+) {2,}\S", audit.__doc__ or "", re.M)
    assert len(fields) == 13, fields
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    documented = set(re.findall(r"^\| `([a-z_]+)` \|", readme, re.M))
    assert set(fields) <= documented, f"README's audit table lacks {set(fields) - documented}"


async def test_logged_fields_are_documented_and_verify_passes(audit_log: Path) -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    documented = set(re.findall(r"^\| `([a-z_]+)` \|", readme, re.M))
    logged = {key for line in _lines(audit_log) for key in line}
    assert logged <= documented, f"undocumented audit fields {sorted(logged - documented)}"

    env = {k: v for k, v in os.environ.items() if k != "SSH_AUDIT_KEY"}
    verify = [sys.executable, "-m", "ssh_mcp", "audit", "verify"]
    ok = await anyio.run_process([*verify, str(audit_log)], env=env, check=False)
    assert ok.returncode == 0, ok.stderr.decode()
    assert ok.stdout.decode().startswith("ok: 6 lines")

    lines = audit_log.read_text().splitlines(keepends=True)
    del lines[2]
    tampered = audit_log.with_name("tampered.jsonl")
    tampered.write_text("".join(lines))
    bad = await anyio.run_process([*verify, str(tampered)], env=env, check=False)
    assert bad.returncode == 1
    assert "line 3" in bad.stderr.decode()
