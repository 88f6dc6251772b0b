"""ssh_read_redacted through MCP against real sshd: secrets never reach the result or the audit."""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import asyncssh
import pytest
from harness import assert_audit, text
from mcp import Client
from sshd import TestUser

from ssh_mcp.config.settings import Settings
from ssh_mcp.core.app import App, build_app
from ssh_mcp.mcp.server import build_server
from ssh_mcp.tools import ALL_TOOLS
from ssh_mcp.tools.sftp_read import redacted

pytestmark = pytest.mark.anyio
MARKER = r"\[REDACTED:hmac-sha256:[0-9a-f]{12}\]"
TOOL = "ssh_read_redacted"
# Until the tool is in ALL_TOOLS, the app is built with it added.
TOOLS = ALL_TOOLS if any(t.name == TOOL for t in ALL_TOOLS) else ALL_TOOLS + redacted.TOOLS

ENV_SECRETS = ("hunter2-db", "sk_live_4eC39HqLyjWDarjtT1zdp7dc", "pg-pass-9", "tok-abc-123")
ENV = (
    "# app settings\n"
    "DB_HOST=db.internal\n"
    f"DB_PASSWORD={ENV_SECRETS[0]}\n"
    f'export STRIPE_KEY="{ENV_SECRETS[1]}"\n'
    f"DATABASE_URL=postgres://app:{ENV_SECRETS[2]}@db:5432/app\n"
    f"API_TOKEN={ENV_SECRETS[3]}\n"
    f"BACKUP_PASSWORD={ENV_SECRETS[0]}\n"
    "PASSWORD_MIN_LENGTH=8\n"
)


@asynccontextmanager
async def serve(settings: Settings) -> AsyncIterator[tuple[Client, App]]:
    """harness.serve, with ssh_read_redacted registered."""
    app = build_app(settings, tools=TOOLS)
    try:
        async with Client(build_server(app)) as client:
            yield client, app
    finally:
        await app.aclose()


def _put(path: Path, data: bytes, user: TestUser) -> Path:
    path.write_bytes(data)
    os.chown(path, user.uid, user.uid)
    return path


def _assert_hidden(secrets: tuple[str, ...], *blobs: Any) -> None:
    for blob in blobs:
        dumped = blob if isinstance(blob, str) else json.dumps(blob)
        for secret in secrets:
            assert secret not in dumped, f"{secret!r} leaked into {dumped[:200]!r}"


async def test_env_file_is_redacted(
    settings_for: Callable[..., Settings], work_dir: Path, test_user: TestUser
) -> None:
    data = ENV.encode()
    f = _put(work_dir / ".env", data, test_user)
    async with serve(settings_for()) as (client, app):
        r = await client.call_tool(TOOL, {"host": "target", "path": str(f)})
        assert not r.is_error, text(r)
        sc = r.structured_content
        assert sc is not None
        assert {k: sc[k] for k in ("path", "size", "sha256", "redactions")} == {
            "path": str(f),
            "size": len(data),
            "sha256": hashlib.sha256(data).hexdigest(),
            "redactions": 5,
        }
        assert sc["kinds"] == ["key:password", "key:token", "url-password", "token:stripe"]
        lines = sc["content"].splitlines()
        assert lines[:2] == ["# app settings", "DB_HOST=db.internal"]
        assert lines[-1] == "PASSWORD_MIN_LENGTH=8"
        assert lines[4].startswith("DATABASE_URL=postgres://app:[REDACTED:")
        # The same secret under two keys: the same marker, so the model sees they are equal.
        assert lines[2].split("=", 1)[1] == lines[6].split("=", 1)[1]
        assert lines[2].split("=", 1)[1] != lines[5].split("=", 1)[1]
        assert text(r).startswith(f"{f}: {len(data)} bytes, sha256 {sc['sha256']}, 5 secret(s)")
        line = assert_audit(
            app,
            {
                "tool": TOOL,
                "tier": "read",
                "outcome": "ok",
                "host": "target",
                "path_hash": app.audit.digest(str(f)),
                "bytes": len(data),
                "redactions": "5",
            },
        )
        _assert_hidden(ENV_SECRETS, text(r), sc, line, app.settings.ssh_audit_log.read_text())

        # The hash is of the original bytes: it matches ssh_file_hash, and markers are
        # stable across calls within this server run.
        h = await client.call_tool("ssh_file_hash", {"host": "target", "path": str(f)})
        assert h.structured_content and h.structured_content["digest"] == sc["sha256"]
        again = await client.call_tool(TOOL, {"host": "target", "path": str(f)})
        assert again.structured_content and again.structured_content["content"] == sc["content"]


#: Issue 8 item 11: everyday spellings, one file per format, as they sit on a host.
SPELLINGS = {
    ".env": (
        "DB_PASS=db-pass-771\nSMTP_PASS='smtp pass 772'\nPASSAGE=kept-1\nbypass_cache=true\n",
        ("db-pass-771", "smtp pass 772"),
    ),
    ".npmrc": (
        "registry=https://registry.npmjs.org/\n//registry.npmjs.org/:_authToken=npm_tok773\n"
        "//npm.example.com/:_auth=YXV0aDc3NA==\n//npm.example.com/:_password=cHc3NzU=\n",
        ("npm_tok773", "YXV0aDc3NA==", "cHc3NzU="),
    ),
    "app.toml": (
        'name = "kept-2"\nprivate_key = """\nkey-776\nkey-777\n"""\n'
        "secret = '''lit-778'''\ntokens = [\n  \"arr-779\",\n]\n",
        ("key-776", "key-777", "lit-778", "arr-779"),
    ),
    "app.yaml": (
        "passwords:\n  - list-780\n  - 'list 781'\napi_tokens: [flow-782]\nhosts:\n  - kept-3\n",
        ("list-780", "list 781", "flow-782"),
    ),
}


async def test_everyday_spellings_are_redacted(
    settings_for: Callable[..., Settings], work_dir: Path, test_user: TestUser
) -> None:
    async with serve(settings_for()) as (client, app):
        for name, (content, secrets) in SPELLINGS.items():
            f = _put(work_dir / name, content.encode(), test_user)
            r = await client.call_tool(TOOL, {"host": "target", "path": str(f)})
            sc = r.structured_content
            assert sc is not None and not r.is_error, text(r)
            # One marker per value: the two lines of the TOML multi-line string are one.
            count = len(secrets) - (name == "app.toml")
            assert sc["redactions"] == count and re.search(MARKER, sc["content"]), name
            for kept in ("kept-1", "bypass_cache=true", "registry.npmjs.org", "kept-2", "kept-3"):
                assert (kept in content) == (kept in sc["content"]), (name, kept)
            line = assert_audit(
                app,
                {
                    "tool": TOOL,
                    "outcome": "ok",
                    "path_hash": app.audit.digest(str(f)),
                    "redactions": str(sc["redactions"]),
                },
            )
            log = app.settings.ssh_audit_log.read_text()
            _assert_hidden(secrets, text(r), sc, line, log)


async def test_pem_key_file_becomes_one_marker(
    settings_for: Callable[..., Settings], work_dir: Path, test_user: TestUser
) -> None:
    pem = asyncssh.generate_private_key("ssh-ed25519").export_private_key().decode()
    body = pem.splitlines()[1]
    data = f"# deploy key\n{pem}".encode()
    f = _put(work_dir / "id_deploy", data, test_user)
    async with serve(settings_for()) as (client, app):
        r = await client.call_tool(TOOL, {"host": "target", "path": str(f)})
        sc = r.structured_content
        assert not r.is_error and sc is not None, text(r)
        assert sc["redactions"] == 1 and sc["kinds"] == ["pem"]
        head, marker, rest = sc["content"].split("\n")
        assert head == "# deploy key" and rest == ""
        assert marker.startswith("[REDACTED:hmac-sha256:") and len(marker) == 35
        assert sc["sha256"] == hashlib.sha256(data).hexdigest()
        line = assert_audit(app, {"tool": TOOL, "outcome": "ok", "redactions": "1"})
        _assert_hidden((body, "PRIVATE KEY"), text(r), sc, line)


async def test_too_large_is_refused(
    settings_for: Callable[..., Settings], work_dir: Path, test_user: TestUser
) -> None:
    f = _put(work_dir / "big.env", b"PASSWORD=leak-me\n" + b"x" * 5000, test_user)
    async with serve(settings_for(ssh_inline_max_bytes=1000)) as (client, app):
        r = await client.call_tool(TOOL, {"host": "target", "path": str(f)})
        assert r.is_error and r.structured_content is None
        msg = text(r)
        assert "5017 bytes" in msg and "SSH_INLINE_MAX_BYTES" in msg and "ssh_file_hash" in msg
        assert "\n" not in msg and "leak-me" not in msg
        assert_audit(app, {"tool": TOOL, "outcome": "error", "error": "CapExceeded"})


@pytest.mark.parametrize(
    "data",
    [b"PASSWORD=x\0y\n", b"password=caf\xe9\n", bytes(range(256))],
    ids=["nul", "latin1", "bin"],
)
async def test_binary_is_refused(
    settings_for: Callable[..., Settings], work_dir: Path, test_user: TestUser, data: bytes
) -> None:
    f = _put(work_dir / "blob", data, test_user)
    async with serve(settings_for()) as (client, app):
        r = await client.call_tool(TOOL, {"host": "target", "path": str(f)})
        assert r.is_error, text(r)
        msg = text(r)
        assert "not UTF-8 text" in msg and "ssh_file_hash" in msg and "ssh_sftp_download" in msg
        assert_audit(app, {"tool": TOOL, "outcome": "error", "error": "RemoteError"})


async def test_paths_are_confined(
    settings_for: Callable[..., Settings], work_dir: Path, test_user: TestUser
) -> None:
    link = work_dir / "shadow-link"
    link.symlink_to("/etc/shadow")
    os.lchown(link, test_user.uid, test_user.uid)
    async with serve(settings_for()) as (client, app):
        for path in ("/etc/passwd", str(link), f"{work_dir}/../../../../etc/passwd"):
            r = await client.call_tool(TOOL, {"host": "target", "path": path})
            assert r.is_error and "outside the path allowlist" in text(r), text(r)
            assert_audit(app, {"tool": TOOL, "outcome": "denied", "error": "PathNotAllowed"})
        r = await client.call_tool(TOOL, {"host": "target", "path": str(work_dir)})
        assert r.is_error and "not a regular file" in text(r), text(r)
        assert_audit(app, {"tool": TOOL, "outcome": "error", "error": "RemoteError"})


async def test_listed_as_read_only(settings_for: Callable[..., Settings]) -> None:
    async with serve(settings_for()) as (client, _):
        tools = {t.name: t for t in (await client.list_tools()).tools}
        tool = tools[TOOL]
        assert tool.annotations and tool.annotations.read_only_hint is True
        # destructiveHint means nothing for a read-only tool, so tools/list leaves it out.
        assert tool.annotations.destructive_hint is None
        assert set(tool.input_schema["properties"]) == {"host", "path"}
