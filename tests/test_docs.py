"""The docs agree with the code: hosts.toml.example loads, every env var and hosts.toml key is
documented, the README has its sections, and its quick-start test command is what CI runs."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from ssh_mcp.config.host_tables import AuthConfig, DefaultsTable, HostTable
from ssh_mcp.config.inventory import Inventory, parse_hosts
from ssh_mcp.config.settings import Settings
from ssh_mcp.core.access import Group
from ssh_mcp.errors import ConfigError
from ssh_mcp.tools import ALL_TOOLS

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = "hosts.toml.example"
HOST_KEYS = sorted(set(DefaultsTable.model_fields) | set(HostTable.model_fields))
AUTH_KEYS = sorted(AuthConfig.model_fields)
README_SECTIONS = (
    "Tiers",
    "Quick start",
    "Use it from an MCP client",
    "Pinning a host key",
    "Security model",
    "Audit log",
    "Tests",
)
_FENCE = re.compile(r"^```([\w-]*)\n(.*?)^```\s*$", re.MULTILINE | re.DOTALL)


def read(name: str) -> str:
    return (ROOT / name).read_text(encoding="utf-8")


def fenced_blocks(markdown: str, lang: str | None = None) -> list[str]:
    """The bodies of the fenced code blocks, optionally only those of one language."""
    return [body for tag, body in _FENCE.findall(markdown) if lang is None or tag == lang]


def section(markdown: str, heading: str) -> str:
    """The text under ``## heading`` up to the next ``##`` heading."""
    match = re.search(rf"^## {re.escape(heading)}\n(.*?)(?=^## |\Z)", markdown, re.M | re.S)
    assert match, f"no '## {heading}' section"
    return match.group(1)


def quick_start_commands() -> list[str]:
    """The command lines of the first fenced block under README's '## Quick start'."""
    blocks = fenced_blocks(section(read("README.md"), "Quick start"))
    assert blocks, "the quick start has no fenced block"
    lines = [line.strip() for line in blocks[0].splitlines()]
    return [line for line in lines if line and not line.startswith("#")]


def _example_inventory(*, allow_password_auth: bool = False) -> Inventory:
    settings = Settings(allow_password_auth=allow_password_auth, _env_file=None)
    return parse_hosts(read(EXAMPLE), EXAMPLE, settings)


def _example_sections() -> dict[str, str]:
    """hosts.toml.example split at its table headers: header -> the text below it."""
    parts = re.split(r"^\[([^\]\n]+)\][ \t]*$", read(EXAMPLE), flags=re.M)
    return {parts[i]: parts[i + 1] for i in range(1, len(parts), 2)}


def _sets(key: str, text: str) -> bool:
    """True when ``text`` assigns ``key``, in a live line or a commented-out example."""
    return re.search(rf"^[ \t]*(#[ \t]*)?{re.escape(key)}[ \t]*=", text, re.M) is not None


# -- hosts.toml.example ------------------------------------------------------------


def test_hosts_example_loads() -> None:
    inventory = _example_inventory(allow_password_auth=True)
    hosts = inventory.hosts.values()
    assert {h.auth.method for h in hosts} == {"agent", "key", "password"}
    assert any(len(h.proxy_jump) == 2 for h in hosts), "no proxy_jump chain with two bastions"
    assert any(h.auth.passphrase_cmd for h in hosts)
    assert any(h.auth.identity_agent and h.auth.identity_fingerprint for h in hosts)


def test_hosts_example_password_host_needs_the_flag() -> None:
    with pytest.raises(ConfigError, match="ALLOW_PASSWORD_AUTH"):
        _example_inventory()


@pytest.mark.parametrize("key", HOST_KEYS)
def test_hosts_example_shows_every_host_key(key: str) -> None:
    sections = _example_sections()
    hosts = [body for name, body in sections.items() if re.fullmatch(r"hosts\.[^.]+", name)]
    if key == "auth":
        assert "defaults.auth" in sections
        assert any(re.fullmatch(r"hosts\.[^.]+\.auth", name) for name in sections)
        return
    if key in DefaultsTable.model_fields:
        assert _sets(key, sections["defaults"]), f"[defaults] does not show {key}"
    assert any(_sets(key, body) for body in hosts), f"no [hosts.<alias>] shows {key}"


@pytest.mark.parametrize("key", AUTH_KEYS)
def test_hosts_example_shows_every_auth_key(key: str) -> None:
    auth = [body for name, body in _example_sections().items() if name.endswith("auth")]
    assert any(_sets(key, body) for body in auth), f"no auth table shows {key}"


# -- CONFIGURATION.md --------------------------------------------------------------


@pytest.mark.parametrize("name", [field.upper() for field in Settings.model_fields])
def test_configuration_documents_every_env_var(name: str) -> None:
    table = section(read("CONFIGURATION.md"), "Environment variables")
    assert f"| `{name}` |" in table, f"{name} has no row in the env var table"


@pytest.mark.parametrize("key", HOST_KEYS + AUTH_KEYS)
def test_configuration_documents_every_hosts_key(key: str) -> None:
    assert f"| `{key}` |" in section(read("CONFIGURATION.md"), "hosts.toml")


def test_configuration_names_every_group_and_the_sudo_rule() -> None:
    text = read("CONFIGURATION.md")
    for group in Group:
        assert f"`{group.value}`" in text
    tiers = section(text, "Tiers and groups")
    assert "`ALLOW_SUDO=true` **and** `ALLOW_DANGEROUS_TOOLS=true`" in tiers


# -- README.md ---------------------------------------------------------------------


def test_readme_has_its_sections() -> None:
    headings = re.findall(r"^## (.+)$", read("README.md"), re.M)
    missing = [s for s in README_SECTIONS if s not in headings]
    assert not missing, f"README.md lacks sections {missing}"


def test_quick_start_has_two_commands_and_ci_runs_the_second() -> None:
    commands = quick_start_commands()
    assert len(commands) == 2, commands
    demo, tests = commands
    assert demo.startswith("pip install uv") and demo.endswith("uv run ssh-mcp demo")
    assert tests.startswith("pip install uv") and tests.endswith("uv run pytest")
    for package in ("openssh-server", "sudo", "jq", "procps", "busybox", "debootstrap", "dpkg-dev"):
        assert f" {package}" in tests
    assert not any(c.endswith("\\") for c in commands), "each command must be one line"
    ci = ROOT / ".ci" / "run"
    assert tests in ci.read_text(encoding="utf-8"), ".ci/run does not run the README test command"
    assert os.access(ci, os.X_OK), ".ci/run is not executable"


def test_readme_client_setup() -> None:
    readme = read("README.md")
    client = section(readme, "Use it from an MCP client")
    config = json.loads(fenced_blocks(client, "json")[0])
    entry = config["mcpServers"]["ssh-mcp"]
    assert entry["command"] == "uvx"
    assert entry["args"] == ["--from", "/path/to/ssh-mcp", "ssh-mcp"]
    env_names = {field.upper() for field in Settings.model_fields}
    assert set(entry["env"]) <= env_names
    assert {"ALLOW_LOW_ACCESS_TOOLS", "ALLOW_DANGEROUS_TOOLS", "ALLOW_SUDO"} <= set(entry["env"])
    claude = "claude mcp add --transport stdio ssh-mcp -- uvx --from /path/to/ssh-mcp ssh-mcp"
    assert claude in client


def test_readme_pinning_steps() -> None:
    pinning = section(read("README.md"), "Pinning a host key")
    steps = ("ssh-mcp hosts pin", "--yes --fingerprint", "out of band")
    for step in (*steps, "ssh-keyscan", "ssh-keygen -lf", ">> ~/.ssh/known_hosts"):
        assert step in pinning


def test_readme_security_model_is_ten_lines() -> None:
    model = section(read("README.md"), "Security model")
    items = re.findall(r"^\d+\. ", model, re.M)
    assert len(items) == 10


def test_readme_names_only_real_tools() -> None:
    names = {t.name for t in ALL_TOOLS}
    mentioned = set(re.findall(r"`(ssh_[a-z_]+)`", read("README.md")))
    assert mentioned, "the README names no tools"
    assert mentioned <= names, f"README names unknown tools {sorted(mentioned - names)}"


def test_readme_tests_section_names_the_checks() -> None:
    tests = section(read("README.md"), "Tests")
    for check in ("uv run pytest", "uv run ruff check", "uv run mypy", "ssh-mcp docs --check"):
        assert check in tests


# -- DECISIONS.md ------------------------------------------------------------------


def _decisions() -> list[str]:
    """Each numbered entry of DECISIONS.md, from its heading text to the next heading."""
    entries = re.split(r"^## ", read("DECISIONS.md"), flags=re.M)[1:]
    return [entry for entry in entries if re.match(r"\d+\. ", entry)]


def _github_anchor(heading: str) -> str:
    """The anchor GitHub gives a heading: lowercase, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def test_decisions_are_adr_shaped() -> None:
    entries = _decisions()
    assert len(entries) >= 5
    for number, entry in enumerate(entries, 1):
        title = entry.splitlines()[0]
        assert title.startswith(f"{number}. "), f"decision {title!r} is out of order"
        for part in ("**Context.**", "**Decision.**", "**Consequences.**"):
            assert part in entry, f"decision {title!r} lacks {part}"
        status = entry.splitlines()[2]
        assert re.fullmatch(
            r"Status: (accepted|accepted; amended by [\d, and]+|superseded by \d+)\.", status
        ), f"decision {title!r} has no status line under its heading"


def test_decisions_index_lists_every_entry_with_a_working_anchor() -> None:
    text = read("DECISIONS.md")
    index = section(text, "Index")
    want = []
    for entry in _decisions():
        lines = entry.splitlines()
        number, title = lines[0].split(". ", 1)
        status = lines[2].removeprefix("Status: ").removesuffix(".")
        want.append(f"{number}. [{title}](#{_github_anchor(lines[0])}) — {status}")
    got = [line for line in index.splitlines() if line.strip()]
    assert got == want
