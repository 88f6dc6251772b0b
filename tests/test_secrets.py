"""The one secret-command runner (config/secrets.py), without sshd: what it returns and how
it fails, never echoing the secret."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest
from harness import poll

from ssh_mcp.config import secrets
from ssh_mcp.config.secrets import read_secret, run_secret_cmd
from ssh_mcp.errors import ConfigError

pytestmark = pytest.mark.anyio

SECRET = "s3cr3t-value"


async def test_one_trailing_newline_is_dropped() -> None:
    assert await run_secret_cmd(["printf", f"{SECRET}\r\n"], "X") == SECRET.encode()
    assert await run_secret_cmd(["printf", f"{SECRET}\n\n"], "X") == f"{SECRET}\n".encode()
    assert await read_secret(["printf", f"{SECRET}\n"], "password") == SECRET


async def test_no_shell_reads_the_argv() -> None:
    assert await run_secret_cmd(["echo", "$HOME;", "`id`"], "X") == b"$HOME; `id`"


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (
            ["sh", "-c", f"echo {SECRET}; exit 3"],
            "password_cmd 'sh' exited 3; fix it in hosts.toml",
        ),
        (["/nonexistent/cmd", SECRET], "password_cmd '/nonexistent/cmd' could not start ("),
        (["true", SECRET], "password_cmd 'true' printed nothing; fix it in hosts.toml"),
        (["printf", "\\377"], "password_cmd 'printf' printed bytes that are not UTF-8; fix it"),
    ],
)
async def test_failures_are_one_line_without_the_secret(argv: list[str], says: str) -> None:
    with pytest.raises(ConfigError) as err:
        await read_secret(argv, "password")
    line = str(err.value)
    assert says in line and SECRET not in line and "\n" not in line, line


async def test_the_setting_name_and_fix_are_the_callers() -> None:
    with pytest.raises(ConfigError, match=r"^SSH_HTTP_TOKEN_CMD 'false' exited 1$"):
        await run_secret_cmd(["false"], "SSH_HTTP_TOKEN_CMD 'false'")


async def test_a_slow_command_is_killed(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(secrets, "SECRET_CMD_TIMEOUT", 0.2)
    pid_file = tmp_path / "pid"
    argv = ["sh", "-c", f"echo $$ > {pid_file}; exec sleep 300"]
    with pytest.raises(ConfigError, match=r"'sh' did not finish within 0.2s; fix it in hosts"):
        await read_secret(argv, "sudo_password")
    assert not Path(f"/proc/{int(pid_file.read_text())}").exists()


async def test_cancelling_the_reader_kills_the_command(tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    argv = ["sh", "-c", f"echo $$ > {pid_file}.tmp; mv {pid_file}.tmp {pid_file}; exec sleep 300"]
    async with anyio.create_task_group() as tg:
        tg.start_soon(read_secret, argv, "passphrase")
        await poll(pid_file.exists, "the command started")
        tg.cancel_scope.cancel()
    proc = Path(f"/proc/{int(pid_file.read_text())}")
    await poll(lambda: not proc.exists(), "the command was killed and reaped")
