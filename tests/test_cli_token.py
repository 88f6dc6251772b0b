"""``ssh-mcp token create|list|revoke``, run as the real command."""

from __future__ import annotations

import hashlib
import json
import stat
from pathlib import Path

from cli_run import cli_env, run_cli


def test_create_list_revoke(tmp_path: Path) -> None:
    file = tmp_path / "t" / "tokens.json"
    env = cli_env(tmp_path / "home", SSH_HTTP_TOKENS_FILE=str(file))
    made = run_cli(
        env, "token", "create", "ci", "--hosts", "web*", "--tiers", "read,low-access",
        "--expires", "30d",
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    token = made.stdout.strip()
    assert token.startswith("sshmcp_") and len(token) > 40
    assert stat.S_IMODE(file.stat().st_mode) == 0o600
    stored = file.read_text()
    assert token not in stored  # only the hash is kept
    entry = json.loads(stored)["tokens"][0]
    assert entry["sha256"] == hashlib.sha256(token.encode()).hexdigest()
    assert entry["hosts"] == ["web*"] and entry["tiers"] == ["low-access", "read"]
    assert entry["groups"] is None and entry["expires"] > entry["created"]

    assert run_cli(env, "token", "create", "ci").returncode == 1  # names are unique
    listed = run_cli(env, "token", "list")
    assert "ci" in listed.stdout and "hosts=web*" in listed.stdout
    assert entry["sha256"] not in listed.stdout and token not in listed.stdout

    assert run_cli(env, "token", "revoke", "ci").returncode == 0
    assert json.loads(file.read_text())["tokens"] == []
    gone = run_cli(env, "token", "revoke", "ci")
    assert gone.returncode == 1 and "no token named 'ci'" in gone.stderr


def test_bad_scopes_are_refused(tmp_path: Path) -> None:
    env = cli_env(tmp_path / "home", SSH_HTTP_TOKENS_FILE=str(tmp_path / "tokens.json"))
    bad_tier = run_cli(env, "token", "create", "x", "--tiers", "read,root")
    assert bad_tier.returncode == 1 and "unknown tier 'root'" in bad_tier.stderr
    bad_expiry = run_cli(env, "token", "create", "x", "--expires", "soon")
    assert bad_expiry.returncode == 1 and "30d" in bad_expiry.stderr
    assert not (tmp_path / "tokens.json").exists()
