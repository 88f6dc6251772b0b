"""Stopping what ssh_docker_exec started inside a container (DECISIONS.md 85).

docker has no way to kill an exec: stopping the docker CLI on the host leaves the process
running in the container. So every exec carries a mark of its own in its environment
(``SSH_MCP_EXEC_ID=<random>``), which its children inherit, and a timeout or a cancel runs a
second ``docker exec`` that finds the processes whose ``/proc/<pid>/environ`` holds the mark
and sends them TERM, then KILL to any left after about two seconds. The script needs only
``sh`` with its ``kill`` builtin, ``cat`` and ``/proc`` (busybox has all three); the mark is an
argument, so the script is fixed text.
"""

from __future__ import annotations

import secrets

import anyio

from ssh_mcp.core.spec import ToolContext
from ssh_mcp.tools._text import decode
from ssh_mcp.tools.docker._common import docker_argv

#: The environment variable that marks one exec's processes.
MARK = "SSH_MCP_EXEC_ID"
#: Seconds the stop may take before it is given up (it waits about 2 s for TERM itself).
STOP_TIMEOUT = 30.0

# Prints "<signalled> <left>": how many processes carried the mark, and how many still do.
_STOP = """\
t=$1
scan() {
  found=
  for d in /proc/[0-9]*; do
    case $(cat "$d/environ" 2>/dev/null) in *"MARK=$t"*) found="$found ${d#/proc/}" ;; esac
  done
}
settle() {
  i=0
  while [ $i -lt 20 ]; do
    scan; [ -z "$found" ] && return
    sleep 0.1 2>/dev/null || return
    i=$((i + 1))
  done
}
scan; set -- $found; n=$#
[ "$n" -gt 0 ] && kill -TERM "$@" 2>/dev/null
settle
[ -n "$found" ] && kill -KILL $found 2>/dev/null && settle
set -- $found; echo "$n $#"
""".replace("MARK", MARK)


def new_mark() -> str:
    return secrets.token_hex(16)


def exec_argv(ctx: ToolContext, container: str, mark: str, command: str) -> list[str]:
    """``docker exec`` of ``sh -c command`` with the exec's mark in its environment."""
    return docker_argv(ctx, "exec", "--env", f"{MARK}={mark}", "--", container, "sh", "-c", command)


async def stop_exec(ctx: ToolContext, container: str, mark: str) -> str:
    """Stop the marked processes; a short clause saying how it went, for the caller's error.
    Shielded and bounded, so a cancelled call still stops its command."""
    argv = docker_argv(ctx, "exec", "--", container, "sh", "-c", _STOP, "sh", mark)
    with anyio.CancelScope(shield=True):
        try:
            result = await ctx.run(argv, timeout=STOP_TIMEOUT)
        except Exception as exc:  # the stop is best effort; the caller's error says so
            return f"its processes could not be stopped ({type(exc).__name__})"
    words = decode(result.stdout).split()
    if result.exit_code != 0 or len(words) != 2 or not all(w.isdigit() for w in words):
        status = "timed out" if result.timed_out else f"exit {result.exit_code}"
        return f"stopping its processes inside the container failed ({status})"
    signalled, left = int(words[0]), int(words[1])
    if left:
        return f"{left} of its {signalled} processes inside the container did not stop"
    if not signalled:
        return "no process of it was left inside the container"
    plural = "process was" if signalled == 1 else "processes were"
    return f"its {signalled} {plural} stopped inside the container (TERM, then KILL)"
