"""Path work as root through sudo, for the sudo tier's path-bearing tools.

The login user cannot resolve paths inside directories only root may enter
(``/root``, a 0700 config directory), so those tools' paths are resolved by
``realpath -e`` run through sudo; the result is then confined like any other
path. :func:`sudo_refusal` turns sudo's own refusals into one clear error.
"""

from __future__ import annotations

import shlex
from typing import TYPE_CHECKING

from ssh_mcp.errors import PathNotAllowed, RemoteError
from ssh_mcp.ssh.pool import PooledConnection
from ssh_mcp.ssh.process import ProcessResult, run_process
from ssh_mcp.ssh.sftp import sftp_error
from ssh_mcp.ssh.sudo_io import Elevation

if TYPE_CHECKING:
    import asyncssh
else:
    from ssh_mcp.ssh._lazy import asyncssh

#: sudo's own words, and what the operator should do about each.
_REFUSALS = (
    ("a password is required", "it needs a password: set sudo_password_cmd for this host"),
    ("incorrect password", "it rejected the password from sudo_password_cmd"),
    ("no password was provided", "it got no password: check sudo_password_cmd"),
    ("not in the sudoers", "the login user is not in sudoers"),
    ("is not allowed to", "sudoers does not allow the login user to run this as root"),
    ("may not run sudo", "sudoers does not allow the login user to run sudo here"),
    ("command not found", "sudo is not installed on the host"),
)


def _stderr(result: ProcessResult) -> str:
    return result.stderr.kept.decode("utf-8", "replace")


def sudo_refusal(result: ProcessResult) -> RemoteError:
    """The error for a command sudo did not run (``result.elevated`` is False)."""
    text = _stderr(result)
    for needle, why in _REFUSALS:
        if needle in text:
            return RemoteError(f"sudo did not run the command: {why}; nothing ran as root")
    last = (text.strip().splitlines() or ["no message"])[-1][:200]
    return RemoteError(f"sudo did not run the command ({last}); nothing ran as root")


# $1 the path. Existing: every link resolved. Missing (create): its directory resolved and
# the name appended; the directory must exist. A dangling final link counts as missing.
_RESOLVE_NEW = r"""
realpath -e -- "$1" 2>/dev/null && exit 0
n=$(basename -- "$1")
case $n in ""|.|..|/) echo "$1: not a file name" >&2; exit 1;; esac
p=$(realpath -e -- "$(dirname -- "$1")") || exit 1
printf '%s/%s\n' "${p%/}" "$n"
"""


async def realpath_as_root(
    pc: PooledConnection, path: str, elevate: Elevation, timeout: float, create: bool = False
) -> str:
    """``path`` with every symlink resolved, as root sees it; it must exist, or with
    ``create`` its directory must.

    ``~`` is the login user's home, as for every other path argument."""
    if path == "~" or path.startswith("~/"):
        try:
            home = str(await (await pc.sftp()).realpath("."))
        except asyncssh.SFTPError as exc:
            raise sftp_error(exc, "resolving ~") from None
        path = home + path[1:]
    if not path.startswith("/"):
        raise PathNotAllowed("path must be absolute or start with ~/, got a relative path")
    argv = ["sh", "-c", _RESOLVE_NEW, "sh", path] if create else ["realpath", "-e", "--", path]
    result = await run_process(
        pc,
        shlex.join(argv),
        timeout=timeout,
        stdout_cap=65536,
        stderr_cap=4096,
        elevate=elevate,
    )
    if result.elevated is False:
        raise sudo_refusal(result)
    out = result.stdout.kept.decode("utf-8", "replace")
    if result.exit_code != 0 or not out.startswith("/"):
        why = _stderr(result).strip().rpartition(": ")[2][:120] or "it could not be resolved"
        raise RemoteError(f"{path}: {why}; check the path")
    return out.rstrip("\n")
