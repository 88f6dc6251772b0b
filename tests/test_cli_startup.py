"""The one startup line on stderr, for stdio and HTTP, through the real command."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from cli_run import run_cli
from harness import server_env
from test_http import HttpServer, http_server  # noqa: F401 (the fixture)

from ssh_mcp.config.settings import Settings


def test_stdio_says_one_line_on_stderr_and_nothing_on_stdout(
    settings_for: Callable[..., Settings],
) -> None:
    settings = settings_for()
    env = server_env(settings, ALLOW_LOW_ACCESS_TOOLS="true", SSH_ENABLED_GROUPS="host,sftp-read")
    r = run_cli(env, stdin="")  # stdin at EOF: the server starts, says its line, and ends
    assert r.returncode == 0, r.stderr
    assert r.stdout == ""
    line = r.stderr.splitlines()[0]
    assert re.fullmatch(
        rf"ssh-mcp \S+: serving stdio; tiers low-access,read; groups host,sftp-read; "
        rf"1 hosts from {re.escape(str(settings.ssh_hosts_file))}; "
        rf"audit log {re.escape(str(settings.ssh_audit_log))}",
        line,
    ), line


def test_http_says_its_url(
    settings_for: Callable[..., Settings],
    http_server: Callable[..., HttpServer],  # noqa: F811
) -> None:
    server = http_server(settings_for())
    line = Path(server.stderr).read_text().splitlines()[0]
    assert f"serving http {server.url}/mcp; tiers read; groups all; 1 hosts from " in line, line
    # Who may call: here the static token of SSH_HTTP_TOKEN_CMD and the scoped tokens file.
    assert line.endswith(
        f"; callers: the static token, tokens in {settings_for().ssh_http_tokens_file}"
    ), line
