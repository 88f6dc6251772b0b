"""Tool schemas kept between runs (DECISIONS.md 83): read back only for the same code,
never trusted for validation, and a cache that cannot be used costs time, not a start."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cli_run import cli_env

from ssh_mcp.core import schema
from ssh_mcp.core.spec import StrictInput
from ssh_mcp.state.schema_cache import SchemaCache, code_key
from ssh_mcp.tools import ALL_TOOLS

INIT = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-11-25",
        "capabilities": {},
        "clientInfo": {"name": "t", "version": "0"},
    },
}
LIST = [
    INIT,
    {"jsonrpc": "2.0", "method": "notifications/initialized"},
    {"jsonrpc": "2.0", "id": 2, "method": "tools/list"},
]


class Probe(StrictInput):
    size: int = 0


@pytest.fixture
def fresh() -> Iterator[None]:
    """The process's schemas as a server starts: none built, no cache."""
    saved = dict(schema._built), schema._cache
    schema._built.clear()
    yield
    schema._built.clear()
    schema._built.update(saved[0])
    schema._cache = saved[1]


def _stored(path: Path) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(path.read_text())
    return body


def test_a_run_reads_back_what_the_same_code_stored(tmp_path: Path, fresh: None) -> None:
    path = tmp_path / "schemas.json"
    cache = schema.use_cache(path)
    built = schema.input_schema(Probe)
    cache.save()
    name = f"{Probe.__module__}.{Probe.__qualname__}:in"
    assert _stored(path)["schemas"][name] == built
    assert os.stat(path).st_mode & 0o777 == 0o600
    # The next run: what the file says is what it sends, without generating it again.
    planted = {"type": "object", "properties": {"planted": {"type": "string"}}}
    body = _stored(path)
    body["schemas"][name] = planted
    path.write_text(json.dumps(body))
    schema._built.clear()
    schema.use_cache(path)
    assert schema.input_schema(Probe) == planted
    # Validation is the model's own, whatever the cache says.
    assert Probe.model_validate({"size": 3}).size == 3
    with pytest.raises(ValueError, match="planted"):
        Probe.model_validate({"planted": "x"})


def test_other_code_ignores_the_cache(tmp_path: Path, fresh: None) -> None:
    package = tmp_path / "pkg"
    package.mkdir()
    module = package / "tools.py"
    module.write_text("X = 1\n")
    before = code_key(package, "1.0")
    assert code_key(package, "1.0") == before
    assert code_key(package, "1.1") != before  # a version
    module.write_text("X = 22\n")
    assert code_key(package, "1.0") != before  # an edit
    path = tmp_path / "schemas.json"
    name = f"{Probe.__module__}.{Probe.__qualname__}:in"
    path.write_text(json.dumps({"key": before, "schemas": {name: {"planted": True}}}))
    schema.use_cache(path)  # this package's key, not ``before``
    assert "planted" not in schema.input_schema(Probe)


@pytest.mark.parametrize("content", [b"{not json", b"[]", b'{"key": 1, "schemas": 2}'])
def test_an_unreadable_cache_is_ignored(tmp_path: Path, content: bytes, fresh: None) -> None:
    path = tmp_path / "schemas.json"
    path.write_bytes(content)
    cache = schema.use_cache(path)
    assert schema.input_schema(Probe)["properties"] == {"size": {"type": "integer"}}
    cache.save()  # and replaced by a good one
    assert f"{Probe.__module__}.{Probe.__qualname__}:in" in _stored(path)["schemas"]


def test_an_unwritable_cache_costs_nothing_but_time(tmp_path: Path, fresh: None) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    cache = SchemaCache(blocker / "sub" / "schemas.json", "k")  # a parent that is a file
    cache.put("x", {})
    cache.save()
    assert blocker.read_text() == ""


def _tools_list(env: dict[str, str]) -> list[dict[str, Any]]:
    """tools/list from ``python -m ssh_mcp``, stdin held open until the answer is read."""
    with subprocess.Popen(
        [sys.executable, "-m", "ssh_mcp"],
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        cwd="/",
    ) as proc:
        assert proc.stdin is not None and proc.stdout is not None
        proc.stdin.write("".join(json.dumps(m) + "\n" for m in LIST))
        proc.stdin.flush()
        tools: list[dict[str, Any]] = []
        for line in proc.stdout:
            reply = json.loads(line)
            if reply.get("id") == 2:
                tools = reply["result"]["tools"]
                break
        proc.stdin.close()
        assert proc.wait(timeout=30) == 0
    assert tools, "no tools/list answer"
    return tools


def test_the_real_server_sends_the_same_tools_list_from_its_cache(tmp_path: Path) -> None:
    hosts = tmp_path / "hosts.toml"
    hosts.write_text('[hosts.box]\nhostname = "127.0.0.1"\n')
    env = cli_env(
        tmp_path / "home",
        SSH_HOSTS_FILE=str(hosts),
        ALLOW_LOW_ACCESS_TOOLS="true",
        ALLOW_DANGEROUS_TOOLS="true",
        ALLOW_SUDO="true",
    )
    first = _tools_list(env)
    path = tmp_path / "home" / "cache" / "ssh-mcp" / "schemas.json"
    stored = _stored(path)
    assert len(first) == len([s for s in ALL_TOOLS if s.name in {t["name"] for t in first}])
    written = path.stat().st_mtime_ns
    assert _tools_list(env) == first
    assert path.stat().st_mtime_ns == written  # all found, nothing new to write
    # The schemas the file holds are the ones this code generates.
    for spec in ALL_TOOLS:
        name = f"{spec.input.__module__}.{spec.input.__qualname__}:in"
        if name in stored["schemas"]:
            schema._built.pop((spec.input, "in"), None)
            assert stored["schemas"][name] == schema._caller_view(spec.input), spec.name
