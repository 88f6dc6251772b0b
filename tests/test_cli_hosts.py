"""`ssh-mcp hosts add|list|remove` through the real command, and the server reading hosts.d/."""

from __future__ import annotations

from pathlib import Path

import pytest
from cli_run import cli_env, run_cli

from ssh_mcp.config.inventory import load_hosts
from ssh_mcp.config.settings import Settings
from ssh_mcp.errors import ConfigError

HAND = """\
# The fleet, by hand. This comment and the layout below must survive.
[defaults]
user = "ops"   # everyone logs in as ops

[hosts.bastion]
hostname = "10.0.0.1"

[groups]
web = []
"""


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    (tmp_path / "hosts.toml").write_text(HAND)
    return cli_env(
        tmp_path / "home",
        SSH_HOSTS_FILE=str(tmp_path / "hosts.toml"),
        SSH_KNOWN_HOSTS=str(tmp_path / "known_hosts"),
    )


def _settings(tmp_path: Path) -> Settings:
    return Settings(_env_file=None, ssh_hosts_file=tmp_path / "hosts.toml")


def test_add_writes_a_drop_in_the_server_loads(tmp_path: Path, env: dict[str, str]) -> None:
    key = tmp_path / "id_web"
    r = run_cli(
        env, "hosts", "add", "web1", "--hostname", "10.0.0.2", "--port", "2222",
        "--key", str(key), "--proxy-jump", "bastion", "--group", "web", "--group", "all",
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    drop = tmp_path / "hosts.d" / "web1.toml"
    assert f"added web1: {drop}" in r.stdout and "ssh-mcp hosts pin web1" in r.stdout
    assert f"warning: key file {key} does not exist (yet)" in r.stderr
    assert (tmp_path / "hosts.toml").read_text() == HAND  # untouched, comments and all
    inventory = load_hosts(_settings(tmp_path))
    web1 = inventory.hosts["web1"]
    assert (web1.hostname, web1.port, web1.user) == ("10.0.0.2", 2222, "ops")  # [defaults] apply
    assert web1.auth.method == "key" and web1.auth.key == str(key)
    assert web1.proxy_jump == ("bastion",)
    assert inventory.groups == {"web": ("web1",), "all": ("web1",)}

    r = run_cli(env, "hosts", "list")
    assert r.returncode == 0, r.stderr
    rows = [line.split() for line in r.stdout.splitlines()]
    assert rows[0] == ["ALIAS", "ADDRESS", "USER", "AUTH", "GROUPS", "PINNED", "FROM"]
    assert rows[1] == ["bastion", "10.0.0.1:22", "ops", "agent", "-", "no", "file"]
    assert rows[2] == [
        "web1", "10.0.0.2:2222", "via", "bastion", "ops", "key", str(key), "web,all", "no",
        "hosts.d",
    ]  # fmt: skip


def test_add_refuses_what_the_server_would_refuse(tmp_path: Path, env: dict[str, str]) -> None:
    cases = [
        (("--port", "0"), "key hosts.x.port: Input should be greater than or equal to 1"),
        (("--proxy-jump", "nowhere"), "key hosts.x.proxy_jump: unknown alias 'nowhere'"),
        (("--key", "k", "--agent"), "not allowed with argument"),
    ]
    for extra, message in cases:
        r = run_cli(env, "hosts", "add", "x", "--hostname", "h", *extra)
        assert r.returncode != 0 and message in r.stderr, r.stderr
        assert "Traceback" not in r.stderr
    r = run_cli(env, "hosts", "add", "bastion", "--hostname", "h")
    assert r.returncode == 1 and f"already defined in {tmp_path / 'hosts.toml'}" in r.stderr
    r = run_cli(env, "hosts", "add", "../x", "--hostname", "h")
    assert r.returncode == 1 and "it names a file" in r.stderr
    assert not (tmp_path / "hosts.d").exists() or not list((tmp_path / "hosts.d").iterdir())


def test_remove_only_what_add_wrote(tmp_path: Path, env: dict[str, str]) -> None:
    assert run_cli(env, "hosts", "add", "db1", "--hostname", "10.0.0.3").returncode == 0
    assert (
        run_cli(env, "hosts", "add", "db2", "--hostname", "h", "--proxy-jump", "db1").returncode
        == 0
    )
    r = run_cli(env, "hosts", "remove", "bastion")
    assert r.returncode == 1 and "written by hand in" in r.stderr and "[hosts.bastion]" in r.stderr
    r = run_cli(env, "hosts", "remove", "db1")  # db2 jumps through it
    assert r.returncode == 1 and "unknown alias 'db1'" in r.stderr, r.stderr
    r = run_cli(env, "hosts", "remove", "nope")
    assert r.returncode == 1 and "no host 'nope'" in r.stderr
    for alias in ("db2", "db1"):
        r = run_cli(env, "hosts", "remove", alias)
        assert r.returncode == 0, r.stderr
    assert list((tmp_path / "hosts.d").iterdir()) == []
    assert set(load_hosts(_settings(tmp_path)).hosts) == {"bastion"}


def test_drop_in_rules(tmp_path: Path) -> None:
    (tmp_path / "hosts.toml").write_text(HAND)
    d = tmp_path / "hosts.d"
    d.mkdir()
    (d / ".web1.toml.tmp").write_text("not toml [")  # skipped: a temporary file
    (d / "README").write_text("skipped: not .toml")
    (d / "a.toml").write_text('[hosts.web1]\nhostname = "w"\n[groups]\nweb = ["web1"]\n')
    assert load_hosts(_settings(tmp_path)).groups["web"] == ("web1",)
    (d / "b.toml").write_text('[hosts.bastion]\nhostname = "b"\n')
    with pytest.raises(
        ConfigError, match=r"b\.toml: key hosts.bastion: already defined in .*hosts\.toml"
    ):
        load_hosts(_settings(tmp_path))
    (d / "b.toml").write_text("[defaults]\nport = 2\n")
    with pytest.raises(ConfigError, match=r"b\.toml: key defaults: a drop-in holds only"):
        load_hosts(_settings(tmp_path))
    (d / "b.toml").write_text('[hosts.web2]\nport = "x"\n')
    with pytest.raises(ConfigError, match=r"b\.toml: key hosts.web2.port"):
        load_hosts(_settings(tmp_path))
    (d / "b.toml").write_text('[hosts.web2.auth]\npassword = "x"\n')
    with pytest.raises(ConfigError, match=r"b\.toml: key hosts.web2.auth.password: literal"):
        load_hosts(_settings(tmp_path))
    (d / "b.toml").unlink()
    (tmp_path / "hosts.toml").unlink()  # drop-ins alone are an inventory too
    assert set(load_hosts(_settings(tmp_path)).hosts) == {"web1"}
