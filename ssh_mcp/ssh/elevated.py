"""Path work as root through sudo, for the sudo tier's path-bearing tools.

The login user cannot resolve paths inside directories only root may enter
(``/root``, a 0700 config directory), so those tools' paths are resolved by
``realpath -e`` run through sudo; the result is then confined like any other
path. :func:`sudo_refusal` turns sudo's own refusals into one clear error.
"""

from __future__ import annotations

import shlex

from ssh_mcp.errors import RemoteError
from ssh_mcp.ssh.pooled import PooledConnection
from ssh_mcp.ssh.process import ProcessResult, run_process
from ssh_mcp.ssh.sftp import require_absolute
from ssh_mcp.ssh.sudo_io import Elevation

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
_NOT_SENT = "the password was not sent and nothing ran as root"
#: Timed out before root's shell started, by how far the password exchange got.
_TIMEOUTS = {
    "login": "the login shell{on} did not reach sudo before the timeout (a login startup file "
    f"may be waiting for input); {_NOT_SENT}",
    "waiting": "sudo{on} did not ask for the password before the timeout (it may want "
    f"something else, such as a one-time code); {_NOT_SENT}",
    "sent": "sudo{on} did not answer before the timeout after the password was sent; "
    "nothing ran as root",
    "rejected": "sudo{on} asked for the password again and did not stop before the timeout; "
    "nothing ran as root",
    "nopassword": "sudo{on} did not answer before the timeout; nothing ran as root",
}


def _stderr(result: ProcessResult) -> str:
    return result.stderr.kept.decode("utf-8", "replace")


def sudo_refusal(result: ProcessResult) -> RemoteError:
    """The error for a command that did not run as root (``result.elevated`` is False):
    what sudo, or whatever answered in its place, did."""
    text, report = _stderr(result), result.sudo
    on = f" on {report.host}" if report else ""
    if report and report.impostor:
        if report.stage in ("login", "waiting"):
            return RemoteError(
                f"something other than sudo printed the sudo prompt marker{on}, so {_NOT_SENT}; "
                "the login account's startup files (~/.bashrc, ~/.zshenv, ~/.ssh/rc) may be "
                "compromised: have a human check them"
            )
        return RemoteError(
            f"something other than sudo printed the sudo prompt marker{on} after the password "
            "was sent: treat the sudo password as exposed and change it, and have a human "
            "check the login account's startup files (~/.bashrc, ~/.zshenv, ~/.ssh/rc)"
        )
    for needle, why in _REFUSALS:
        if needle in text:
            return RemoteError(f"sudo{on} did not run the command: {why}; nothing ran as root")
    if result.timed_out:
        return RemoteError(_TIMEOUTS[report.stage if report else "nopassword"].format(on=on))
    last = (text.strip().splitlines() or ["no message"])[-1][:200]
    if report and report.stage == "sent":
        return RemoteError(
            f"sudo{on} took the password but did not run the command, without a known reason "
            f"({last}); nothing ran as root. If this repeats, something in the login "
            "account's startup files may be taking sudo's place"
        )
    return RemoteError(f"sudo{on} did not run the command ({last}); nothing ran as root")


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
    ``create`` its directory must. ``path`` is absolute (``~`` already expanded)."""
    require_absolute(path)
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
