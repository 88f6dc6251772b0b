"""`ssh-mcp check`, the doctor, through the real command: one line per check, exit 1 on any
error, each problem with its fix."""

from __future__ import annotations

import shutil
from pathlib import Path

from cli_run import cli_env, run_cli
from harness import Target, hosts_toml
from sshd import Sshd, TestKeys, TestUser


def _setup(tmp_path: Path, sshd: Sshd, user: TestUser, keys: TestKeys) -> dict[str, str]:
    key = tmp_path / "id_ed25519"
    shutil.copy(keys.plain, key)
    key.chmod(0o600)
    (tmp_path / "hosts.toml").write_text(hosts_toml(Target("t", sshd.port, user.name, key)))
    (tmp_path / "known_hosts").write_text(sshd.known_hosts_entry + "\n")
    return cli_env(
        tmp_path / "home",
        SSH_HOSTS_FILE=str(tmp_path / "hosts.toml"),
        SSH_KNOWN_HOSTS=str(tmp_path / "known_hosts"),
        SSH_AUDIT_LOG=str(tmp_path / "state" / "audit.jsonl"),
        ALLOW_LOW_ACCESS_TOOLS="true",
    )


def _lines(out: str) -> dict[str, str]:
    """check name -> "level  text" (the last line for a repeated name)."""
    found = {}
    for line in out.splitlines()[:-1]:
        level, rest = line.split(None, 1)
        name, text = rest.split(": ", 1)
        found[name] = f"{level}  {text}"
    return found


def test_a_sound_configuration_passes(
    tmp_path: Path, sshd: Sshd, test_user: TestUser, test_keys: TestKeys
) -> None:
    r = run_cli(_setup(tmp_path, sshd, test_user, test_keys), "check")
    assert r.returncode == 0, r.stdout + r.stderr
    found = _lines(r.stdout)
    assert found["settings"].startswith("ok")
    assert (
        found["hosts file"]
        == f"ok  {tmp_path / 'hosts.toml'}; 0 drop-ins in {tmp_path / 'hosts.d'}"
    )
    assert found["hosts"] == "ok  1 valid"
    assert found["host keys"] == f"ok  every host pinned in {tmp_path / 'known_hosts'}"
    assert found["key t"] == f"ok  {tmp_path / 'id_ed25519'} readable, mode 0600"
    assert found["audit log"] == f"ok  {tmp_path / 'state' / 'audit.jsonl'} writable"
    assert found["access"] == "ok  tiers low-access,read; groups all"
    assert r.stdout.splitlines()[-1] == "0 errors, 0 warnings"
    assert not (tmp_path / "state").exists()  # the doctor writes nothing


def test_each_problem_is_named_with_its_fix(
    tmp_path: Path, sshd: Sshd, test_user: TestUser, test_keys: TestKeys
) -> None:
    env = _setup(tmp_path, sshd, test_user, test_keys)
    (tmp_path / "id_ed25519").chmod(0o644)
    (tmp_path / "known_hosts").write_text(f"# pins\n{sshd.known_hosts_entry}\nnot a key line\n")
    (tmp_path / "blocker").write_text("a file where a directory should be")
    env["SSH_AUDIT_LOG"] = str(tmp_path / "blocker" / "audit.jsonl")
    env["ALLOW_SUDO"] = "true"
    r = run_cli(env, "check")
    assert r.returncode == 1
    found = _lines(r.stdout)
    key = tmp_path / "id_ed25519"
    assert found["key t"] == f"error  {key} has mode 0644, open to others; fix: chmod 600 {key}"
    assert found["known_hosts"].startswith(f"error  {tmp_path / 'known_hosts'} line 3: ")
    assert "delete or correct that line" in found["known_hosts"]
    assert (
        found["audit log"].startswith("error  ") and "blocker is in the way" in found["audit log"]
    )
    assert "ALLOW_DANGEROUS_TOOLS" in found["access"]
    assert r.stdout.splitlines()[-1] == "3 errors, 1 warnings"

    (tmp_path / "known_hosts").write_text("")
    r = run_cli(env, "check")
    assert "error  host key: t ([127.0.0.1]:" in r.stdout
    assert "fix: ssh-mcp hosts pin t" in r.stdout


def test_a_missing_hosts_file_set_explicitly_is_an_error(tmp_path: Path) -> None:
    env = cli_env(tmp_path, SSH_HOSTS_FILE=str(tmp_path / "hots.toml"))
    r = run_cli(env, "check")
    assert r.returncode == 1
    assert f"error  hosts file: SSH_HOSTS_FILE={tmp_path / 'hots.toml'} does not exist" in r.stdout
    del env["SSH_HOSTS_FILE"]  # the default location, missing: only a warning
    r = run_cli(env, "check")
    assert r.returncode == 0, r.stdout
    assert "warn   hosts file: none at the default" in r.stdout


def test_bad_settings_and_bad_hosts_are_errors(tmp_path: Path) -> None:
    (tmp_path / "hosts.toml").write_text("[hosts.a]\nport = 0\n")
    env = cli_env(tmp_path, SSH_HOSTS_FILE=str(tmp_path / "hosts.toml"))
    r = run_cli(env, "check")
    assert r.returncode == 1
    assert "error  hosts: " in r.stdout and "key hosts.a.port" in r.stdout
    r = run_cli({**env, "SSH_CONNECT_TIMEOUT": "soon"}, "check")
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert r.stdout.startswith("error  settings: invalid environment variable SSH_CONNECT_TIMEOUT")


def test_allow_any_command_with_an_empty_host_allowlist_is_flagged(tmp_path: Path) -> None:
    (tmp_path / "hosts.toml").write_text("[hosts.bastion]\ncommand_allowlist = []\n")
    env = cli_env(tmp_path, SSH_HOSTS_FILE=str(tmp_path / "hosts.toml"), ALLOW_ANY_COMMAND="true")
    r = run_cli(env, "check")
    assert "warn   exec bastion: command_allowlist = [] with ALLOW_ANY_COMMAND=true" in r.stdout


def test_an_agent_host_needs_an_agent(tmp_path: Path) -> None:
    (tmp_path / "hosts.toml").write_text("[hosts.a]\n")
    env = cli_env(tmp_path, SSH_HOSTS_FILE=str(tmp_path / "hosts.toml"))
    r = run_cli(env, "check")
    assert r.returncode == 1
    assert "error  agent a: no agent socket; start ssh-agent" in r.stdout
    r = run_cli({**env, "SSH_AUTH_SOCK": str(tmp_path / "gone.sock")}, "check")
    assert f"error  agent a: {tmp_path / 'gone.sock'} is not a socket" in r.stdout


def test_the_http_callers_are_checked(tmp_path: Path) -> None:
    """The scoped tokens file (its mode, its expired tokens) and the OAuth settings."""
    (tmp_path / "hosts.toml").write_text("")
    file = tmp_path / "tokens.json"
    env = cli_env(
        tmp_path / "home",
        SSH_HOSTS_FILE=str(tmp_path / "hosts.toml"),
        SSH_HTTP_TOKENS_FILE=str(file),
    )
    assert "http tokens" not in _lines(run_cli(env, "check").stdout)  # none made: nothing to say
    assert run_cli(env, "token", "create", "ci", "--tiers", "read").returncode == 0
    assert _lines(run_cli(env, "check").stdout)["http tokens"] == f"ok  1 in {file}"
    file.chmod(0o644)
    r = run_cli(env, "check")
    assert r.returncode == 1
    assert _lines(r.stdout)["http tokens"] == f"error  {file} is mode 0644; chmod 600 it"
    file.chmod(0o600)
    r = run_cli({**env, "SSH_OAUTH_ISSUER": "https://idp.example"}, "check")
    assert r.returncode == 1
    assert _lines(r.stdout)["oauth"] == (
        "error  OAuth needs all three of its settings: set SSH_OAUTH_AUDIENCE, SSH_OAUTH_JWKS_URL"
    )
