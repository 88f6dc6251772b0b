"""The one runner of the operator's secret commands.

A secret never sits in a configuration file or the environment: the operator
names a command that prints it (hosts.toml's ``passphrase_cmd``,
``password_cmd``, ``sudo_password_cmd``; ``SSH_HTTP_TOKEN_CMD``). The command
runs locally, without a shell, with stdin closed and stderr dropped; one
trailing newline (LF or CRLF) is taken off its stdout. Every failure is one
line that names the setting and the program, never the arguments or the
output: either may be the secret.

``ssh/`` may not import this package: the app hands :func:`read_secret` to the
pool in ``ConnectOptions``, so connecting reads the passphrase or password
without knowing where it comes from.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from ssh_mcp.errors import ConfigError

#: Seconds a secret command may take before it is killed.
SECRET_CMD_TIMEOUT = 30.0
#: What a hosts.toml secret command's errors end with.
_HOSTS_FIX = "; fix it in hosts.toml"


async def run_secret_cmd(argv: Sequence[str], name: str, fix: str = "") -> bytes:
    """Run ``argv`` (no shell) and return its stdout minus one trailing newline.

    The command is killed after SECRET_CMD_TIMEOUT seconds, or when the caller is
    cancelled. Raises ConfigError ``"<name> <what went wrong><fix>"`` when it cannot
    start, times out, exits non-zero or prints nothing.
    """
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
        )
    except OSError as exc:
        raise ConfigError(f"{name} could not start ({exc.strerror}){fix}") from None
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), SECRET_CMD_TIMEOUT)
    except TimeoutError:
        raise ConfigError(f"{name} did not finish within {SECRET_CMD_TIMEOUT:g}s{fix}") from None
    finally:
        if proc.returncode is None:
            proc.kill()
            # Shielded: a cancelled caller (anyio cancels again at every await) must not
            # leave the killed child unreaped.
            await asyncio.shield(proc.wait())
    if proc.returncode != 0:
        raise ConfigError(f"{name} exited {proc.returncode}{fix}")
    secret = out.removesuffix(b"\n").removesuffix(b"\r")
    if not secret:
        raise ConfigError(f"{name} printed nothing{fix}")
    return secret


async def read_secret(argv: Sequence[str], what: str) -> str:
    """The text a hosts.toml ``<what>_cmd`` prints (``what``: passphrase, password,
    sudo_password); it must be UTF-8."""
    name = f"{what}_cmd {argv[0]!r}"
    secret = await run_secret_cmd(argv, name, _HOSTS_FIX)
    try:
        return secret.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"{name} printed bytes that are not UTF-8{_HOSTS_FIX}") from None
