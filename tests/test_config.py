"""Settings from env and hosts.toml parsing: defaults, list syntax, and one-line startup errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from ssh_mcp.config.inventory import load_hosts, parse_hosts
from ssh_mcp.config.settings import Settings, load_settings
from ssh_mcp.core.access import Tier
from ssh_mcp.errors import ConfigError


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    for name in Settings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "cfg"))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    return monkeypatch


def test_defaults_are_read_only_and_xdg(clean_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    s = load_settings()
    assert s.open_tiers() == {Tier.READ}
    assert s.ssh_hosts_file == tmp_path / "cfg" / "ssh-mcp" / "hosts.toml"
    assert s.ssh_audit_log == tmp_path / "state" / "ssh-mcp" / "audit.jsonl"
    assert s.ssh_config_file is None and not s.allow_any_command


def test_sudo_needs_dangerous(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("ALLOW_SUDO", "true")
    assert Tier.SUDO not in load_settings().open_tiers()
    clean_env.setenv("ALLOW_DANGEROUS_TOOLS", "1")
    assert load_settings().open_tiers() == {Tier.READ, Tier.DANGEROUS, Tier.SUDO}


@pytest.mark.parametrize("value", ["echo,ls", '["echo", "ls"]', " echo , ls ,"])
def test_lists_accept_commas_or_json(clean_env: pytest.MonkeyPatch, value: str) -> None:
    clean_env.setenv("SSH_COMMAND_ALLOWLIST", value)
    assert load_settings().ssh_command_allowlist == ["echo", "ls"]


def test_bad_env_is_one_line(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("SSH_ENABLED_GROUPS", "host,bogus")
    with pytest.raises(ConfigError, match=r"SSH_ENABLED_GROUPS.*unknown group 'bogus'"):
        load_settings()
    clean_env.setenv("SSH_ENABLED_GROUPS", "")
    clean_env.setenv("SSH_COMMAND_TIMEOUT", "-1")
    with pytest.raises(ConfigError, match="SSH_COMMAND_TIMEOUT"):
        load_settings()


S = Settings(_env_file=None)


def test_merge_defaults_and_host() -> None:
    inv = parse_hosts(
        """
        [defaults]
        user = "deploy"
        path_allowlist = ["/srv"]
        restricted_paths = ["/srv/secrets"]
        [defaults.auth]
        method = "agent"
        [hosts.web]
        hostname = "web.example"
        restricted_paths = ["/srv/keys"]
        max_channels = 5
        [hosts.db]
        user = "pg"
        path_allowlist = ["/var/lib/pg"]
        proxy_jump = ["web"]
        [hosts.db.auth]
        method = "key"
        key = "~/.ssh/id_db"
        passphrase_cmd = "pass show db-key"
        """,
        "h.toml",
        S,
    )
    web, db = inv.hosts["web"], inv.hosts["db"]
    assert (web.user, web.port, web.path_allowlist) == ("deploy", 22, ("/srv",))
    assert web.restricted_paths == ("/srv/secrets", "/srv/keys") and web.max_channels == 5
    assert (db.user, db.hostname, db.proxy_jump) == ("pg", "db", ("web",))
    assert db.auth.passphrase_cmd == ["pass", "show", "db-key"]
    adhoc = inv.adhoc("10.0.0.9")
    assert adhoc.user == "deploy" and not adhoc.configured


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[hosts.a]\nprot = 1\n", "h.toml: key hosts.a.prot: unknown key; did you mean `port`?"),
        ('[hosts.a]\nport = "x"\n', "h.toml: key hosts.a.port:"),
        (
            '[hosts.a.auth]\nmethod = "key"\npassword = "hunter2"\n',
            "key hosts.a.auth.password: literal",
        ),
        ('[defaults]\npassphrase = "x"\n', "key defaults.passphrase: literal secrets"),
        ('[hosts.a]\nsudo_password = "x"\n', "key hosts.a.sudo_password: literal secrets"),
        ('[hosts.a]\npath_allowlist = ["*"]\n', 'hosts.a.path_allowlist: Value error, "*" is not'),
        ('[defaults]\ncommand_allowlist = ["ls", "*"]\n', "ALLOW_ANY_COMMAND=true"),
        ('[hosts.a]\nproxy_jump = ["zz"]\n', "hosts.a.proxy_jump: unknown alias 'zz'"),
        ('[hosts.a.auth]\nmethod = "password"\npassword_cmd = ["x"]\n', "ALLOW_PASSWORD_AUTH"),
        ('[hosts.a.auth]\nmethod = "key"\n', "hosts.a.auth.key: required"),
        ("[hosts.a\n", "h.toml: not valid TOML"),
        ("[bogus]\n", "key bogus: unknown key; remove it"),
    ],
)
def test_bad_hosts_files(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_hosts(text, "h.toml", S)
    assert message in str(info.value)
    assert "hunter2" not in str(info.value)
    assert "\n" not in str(info.value)


def test_missing_default_hosts_file_is_empty_with_a_warning(
    clean_env: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    s = load_settings()
    assert load_hosts(s).hosts == {}
    assert f"no hosts file at {s.ssh_hosts_file}" in caplog.text
    assert "zero configured hosts" in caplog.text


def test_missing_explicit_hosts_file_is_an_error(tmp_path: Path) -> None:
    s = Settings(_env_file=None, ssh_hosts_file=tmp_path / "none.toml")
    with pytest.raises(ConfigError) as info:
        load_hosts(s)
    assert str(info.value).startswith(f"SSH_HOSTS_FILE={tmp_path / 'none.toml'}: no such file;")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            '[hosts.a]\npath_alowlist = ["/srv"]\n',
            "key hosts.a.path_alowlist: unknown key; did you mean `path_allowlist`?",
        ),
        ("[defaults]\ncomand_allowlist = []\n", "did you mean `command_allowlist`?"),
        ('[hosts.a.auth]\nkye = "/k"\n', "key hosts.a.auth.kye: unknown key; did you mean `key`?"),
        ('[grups]\nweb = ["a"]\n', "key grups: unknown key; did you mean `groups`?"),
        ("[hosts.a]\nzzzzzz = 1\n", "key hosts.a.zzzzzz: unknown key; remove it"),
    ],
)
def test_unknown_hosts_keys_suggest_the_known_name(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_hosts(text, "h.toml", S)
    assert message in str(info.value)
    assert "Extra inputs" not in str(info.value)


def test_misspelled_env_names_are_warned_about(
    clean_env: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    clean_env.setenv("ALLOW_DANGEROUS_TOOL", "true")
    clean_env.setenv("SSH_COMAND_TIMEOUT", "5")
    clean_env.setenv("SSH_CONNECTION", "1.2.3.4 5 6.7.8.9 22")  # OpenSSH's own
    clean_env.setenv("SSH_SOMETHING_ELSE", "x")  # ours by prefix, close to nothing
    load_settings()
    warned = [r.getMessage() for r in caplog.records]
    assert warned == [
        "environment variable ALLOW_DANGEROUS_TOOL is not one ssh-mcp reads; "
        "did you mean ALLOW_DANGEROUS_TOOLS?",
        "environment variable SSH_COMAND_TIMEOUT is not one ssh-mcp reads; "
        "did you mean SSH_COMMAND_TIMEOUT?",
    ]


def test_jump_chains_expand_first_hop_and_defaults() -> None:
    inv = parse_hosts(
        """
        [defaults]
        proxy_jump = ["b1", "b2"]
        [hosts.b1]
        [hosts.b2]
        [hosts.web]
        [hosts.inner]
        proxy_jump = ["web"]
        [hosts.direct]
        proxy_jump = []
        """,
        "h.toml",
        S,
    )
    chains = {a: h.proxy_jump for a, h in inv.hosts.items()}
    assert chains == {
        "b1": (),
        "b2": ("b1",),
        "web": ("b1", "b2"),
        "inner": ("b1", "b2", "web"),
        "direct": (),
    }


def test_jump_loops_are_refused() -> None:
    text = '[hosts.a]\nproxy_jump = ["b"]\n[hosts.b]\nproxy_jump = ["a"]\n'
    with pytest.raises(ConfigError, match="jump loop"):
        parse_hosts(text, "h.toml", S)


def test_host_named_like_a_secret_key_is_fine() -> None:
    assert "token" in parse_hosts('[hosts.token]\nhostname = "x"\n', "h.toml", S).hosts


def test_python_ssh_mcp_style_values() -> None:
    """A one-alias proxy_jump string is a list of one; "*" is refused in env lists too."""
    inv = parse_hosts('[hosts.b]\n[hosts.a]\nproxy_jump = "b"\n', "h.toml", S)
    assert inv.hosts["a"].proxy_jump == ("b",)
    for env in ("ssh_path_allowlist", "ssh_command_allowlist", "ssh_restricted_paths"):
        with pytest.raises(ConfigError, match=r'invalid environment variable SSH_\w+: .*"\*"'):
            load_settings(_env_file=None, **{env: "*"})


def test_one_table_of_defaults_feeds_hosts_settings_and_the_pool(
    clean_env: pytest.MonkeyPatch,
) -> None:
    """An unset value comes from config/defaults.py wherever it is read."""
    from ssh_mcp.config.defaults import DEFAULTS
    from ssh_mcp.config.host_tables import HostTable
    from ssh_mcp.config.inventory import HostConfig
    from ssh_mcp.core.app import build_app, summary

    host = parse_hosts('[hosts.bare]\nhostname = "b.example"\n', "h.toml", S).hosts["bare"]
    fields = (
        "port",
        "max_channels",
        "max_connections",
        "alert_disk_percent",
        "alert_load_per_cpu",
        "alert_memory_available_percent",
    )
    for name in fields:
        assert getattr(host, name) == getattr(DEFAULTS, name), name
        assert getattr(HostConfig("a", "a"), name) == getattr(DEFAULTS, name), name
        description = HostTable.model_fields[name].description or ""
        assert f"{getattr(DEFAULTS, name)}." in description, name
    settings = load_settings()
    assert settings.ssh_connect_timeout == DEFAULTS.connect_timeout
    assert settings.ssh_keepalive_interval == DEFAULTS.keepalive_interval
    assert settings.ssh_idle_timeout == DEFAULTS.idle_timeout
    app = build_app(settings)
    opts = app.pool.opts
    assert (opts.connect_timeout, opts.keepalive_interval, opts.keepalive_count_max) == (
        DEFAULTS.connect_timeout,
        DEFAULTS.keepalive_interval,
        DEFAULTS.keepalive_count_max,
    )
    spec = app.connect_spec(host)
    assert (spec.max_channels, spec.max_connections) == (
        DEFAULTS.max_channels,
        DEFAULTS.max_connections,
    )
    assert summary(host).alerts == (
        DEFAULTS.alert_disk_percent,
        DEFAULTS.alert_load_per_cpu,
        DEFAULTS.alert_memory_available_percent,
    )
