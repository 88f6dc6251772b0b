"""Running APT on a host for the package tools: detection, the non-interactive change, progress.

Every script starts with the same detection (:data:`DETECT`): a host without ``apt-get`` and
``dpkg-query`` gets "not supported on this host", naming the manager it has instead
(DECISIONS.md 75). Operands reach the scripts as ``"$@"``, never inside the script text.

A change runs as root (:mod:`ssh_mcp.tools._root`) with ``DEBIAN_FRONTEND=noninteractive``,
the old config file kept on a conflict, stdin closed, and ``Dpkg::Use-Pty=0``: without it apt
starts dpkg in a session of its own, which a cancel's stop of the process group would miss,
leaving dpkg running and holding its lock. apt's own output goes to stderr; its
``APT::Status-Fd`` lines come on stdout and become MCP progress.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from ssh_mcp.core.remote import ProcessResult
from ssh_mcp.core.spec import ToolContext
from ssh_mcp.errors import OperationTimeout, RemoteError
from ssh_mcp.tools._fields import TIMEOUT_MAX
from ssh_mcp.tools._progress import INTERVAL
from ssh_mcp.tools._root import run_as_root
from ssh_mcp.tools._text import decode
from ssh_mcp.tools.pkg._apt import Status, StatusFeed

#: Exit status of the detection when the host has no APT; stderr names what it has.
NO_APT = 86
_NO_APT_MARK = "ssh-mcp-no-apt:"
DETECT = (
    "if ! command -v apt-get >/dev/null 2>&1 || ! command -v dpkg-query >/dev/null 2>&1; "
    "then for m in dnf yum zypper apk pacman; do "
    f'command -v $m >/dev/null 2>&1 && {{ echo "{_NO_APT_MARK}$m" >&2; exit {NO_APT}; }}; '
    f'done; echo "{_NO_APT_MARK}" >&2; exit {NO_APT}; fi\n'
)

#: The change: $1 the apt-get subcommand or apt-mark; the rest its options and operands.
CHANGE = (
    DETECT
    + "export DEBIAN_FRONTEND=noninteractive APT_LISTCHANGES_FRONTEND=none\n"
    + "exec 3>&1 1>&2 </dev/null\n"
    + 'if [ "$1" = apt-mark ]; then shift; exec apt-mark "$@"; fi\n'
    + 'if [ "$1" = update ]; then apt-get -q -o APT::Status-Fd=3 update || exit; shift; fi\n'
    + "exec apt-get -y -q -o APT::Status-Fd=3 -o Dpkg::Use-Pty=0 "
    + "-o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "
    + '-o APT::Get::Show-Versions=0 "$@"\n'
)


def unsupported(result: ProcessResult) -> RemoteError | None:
    """The "not supported on this host" error when the detection refused, else None."""
    if result.exit_code != NO_APT:
        return None
    err = decode(result.stderr)
    other = ""
    for line in err.splitlines():
        if line.startswith(_NO_APT_MARK):
            other = line.removeprefix(_NO_APT_MARK).strip()
    if not other and _NO_APT_MARK not in err:
        return None
    has = f" (it has {other}, which these tools do not drive yet)" if other else ""
    return RemoteError(
        f"package tools are not supported on this host: no apt-get/dpkg-query{has}; "
        "use ssh_exec_run"
    )


def _failed(what: str, result: ProcessResult) -> RemoteError:
    err = decode(result.stderr).strip()
    lines = [ln for ln in err.splitlines() if ln.startswith(("E:", "dpkg:"))] or err.splitlines()
    detail = " | ".join(lines[-4:])[-600:] or "no message"
    return RemoteError(f"{what} failed (exit {result.exit_code}): {detail}")


async def read(ctx: ToolContext, script: str, operands: Sequence[str], what: str) -> str:
    """Run a read script as the login user; its stdout, or the error."""
    result = await ctx.run(["sh", "-c", DETECT + script, "sh", *operands])
    if (no := unsupported(result)) is not None:
        raise no
    if result.exit_code != 0:
        raise _failed(what, result)
    return decode(result.stdout)


class _Progress:
    """Status lines to MCP progress (0-100): the newest line, at most every INTERVAL, sent
    from a task of its own so that a slow client never stalls the output pumps. The newest
    line is always sent in the end, so a step that stalls (a long maintainer script) shows."""

    def __init__(self, ctx: ToolContext) -> None:
        self._ctx = ctx
        self._feed = StatusFeed()
        self._latest: Status | None = None
        self._task: asyncio.Task[None] | None = None

    def __call__(self, stream: str, chunk: bytes) -> None:
        if stream != "stdout":
            return
        shown = [s for s in self._feed.feed(chunk) if s.kind in ("pmstatus", "dlstatus")]
        if not shown:
            return
        self._latest = shown[-1]
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._send())

    async def _send(self) -> None:
        sent = None
        while (status := self._latest) is not sent and status is not None:
            sent = status
            await self._ctx.progress(round(status.percent, 1), 100.0, status.message)
            await asyncio.sleep(INTERVAL)

    def stop(self) -> None:
        """No more reports: the call is over (its result, or its cancel, follows)."""
        if self._task is not None:
            self._task.cancel()


async def change(
    ctx: ToolContext,
    argv: Sequence[str],
    *,
    what: str,
    refresh: bool = False,
) -> str:
    """Run ``apt-get ARGV`` (``apt-mark ...`` when argv[0] is apt-mark) as root; apt's output.

    With ``refresh`` ``apt-get update`` runs first. The tools are ``long_running``: the call's
    deadline is SSH_TRANSFER_TIMEOUT, and the process's own at most TIMEOUT_MAX. A timeout or
    a cancel stops the whole process group (apt, dpkg, maintainer scripts), which releases
    dpkg's locks.
    """
    progress = _Progress(ctx)
    full = ["sh", "-c", CHANGE, "sh", *(["update"] if refresh else []), *argv]
    try:
        result = await run_as_root(ctx, full, what=what, timeout=TIMEOUT_MAX, on_output=progress)
    finally:
        progress.stop()
    if (no := unsupported(result)) is not None:
        raise no
    if result.timed_out:
        raise OperationTimeout(
            f"{what} was stopped at its timeout with apt and dpkg, so dpkg's lock is free; a "
            "package may be left unpacked or half-configured (see ssh_pkg_show): the next "
            "install, remove or upgrade finishes it"
        )
    if result.exit_code != 0:
        raise _failed(what, result)
    return decode(result.stderr)
