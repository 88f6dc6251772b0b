"""Background jobs on a host: detached processes that outlive calls, clients and servers.

A job is a process group of its own (``setsid``) whose state lives on the host,
in ``~/.cache/ssh-mcp/jobs/<id>/`` (mode 0700), so nothing about it depends on
the SSH connection or on this server staying up:

* ``pgid``: the job's process group, written once it runs;
* ``o.aaaaaa``, ``o.aaaaab``, …: stdout cut by ``split -b N`` into segments of
  N bytes, ``e.*`` the same for stderr. A janitor in the job keeps the newest
  two of each, so each stream holds at most about 2N bytes: a ring whose
  absolute offsets stay meaningful (segment k covers ``[k*N, (k+1)*N)``);
* ``rc``: the exit status, written after the output is complete;
* ``killed``: the last signal ``stop`` sent, written before it is sent.

State is read in that order: ``rc`` means exited; a live group leader (the
job's shell, checked to be ours by its command line) means running; ``killed`` means killed;
anything else is lost (the host rebooted, or someone else killed it).

The host needs ``setsid``, ``split`` and ``mkfifo`` (util-linux and coreutils,
or busybox). ``kill`` is spelled ``kill -SIG -PGID``: dash's builtin takes
neither ``--`` nor ``-s SIG`` before a negative PID. Every script is passed
as an argv element of ``sh -c``, never spliced into a command line.
"""

from __future__ import annotations

import posixpath
import re
import string
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, cast

from ssh_mcp.errors import RemoteError
from ssh_mcp.ssh.pooled import PooledConnection
from ssh_mcp.ssh.sftp import sftp_error

if TYPE_CHECKING:
    import asyncssh
else:
    from ssh_mcp.ssh._lazy import asyncssh

JOB_ID = re.compile(r"^j[0-9a-f]{16}$")
#: The start script's exit status when the job forked but had not written its pgid yet.
SLOW_START = 98
SIGNALS = ("INT", "TERM", "HUP", "QUIT", "KILL")
_SUFFIX = 6  # split -a 6: 26**6 segments before split gives up

# The job itself: runs as the session leader of its own process group.
# $1 dir, $2 segment bytes, $3 the command.
_INNER = r"""
d=$1; n=$2
prune() {
  for s in o e; do
    set -- "$d/$s".??????
    while [ $# -gt 2 ]; do rm -f -- "$1"; shift; done
  done
}
split -b "$n" -a 6 - "$d/o." < "$d/o.fifo" & so=$!
split -b "$n" -a 6 - "$d/e." < "$d/e.fifo" & se=$!
p=$$
( while sleep 1; do kill -0 "$p" 2>/dev/null || exit 0; prune; done ) >/dev/null 2>&1 & j=$!
echo $$ > "$d/pgid.tmp" && mv -f -- "$d/pgid.tmp" "$d/pgid"
"${SHELL:-/bin/sh}" -c "$3" > "$d/o.fifo" 2> "$d/e.fifo" < /dev/null
rc=$?
wait "$so" "$se"
kill "$j" 2>/dev/null
prune
echo "$rc" > "$d/rc.tmp" && mv -f -- "$d/rc.tmp" "$d/rc"
"""

# $1 job id, $2 segment bytes, $3 command, $4 the inner script, $5 ttl minutes.
_START = r"""
base="$HOME/.cache/ssh-mcp/jobs"; d="$base/$1"
umask 077
for p in setsid split mkfifo; do
  command -v "$p" >/dev/null 2>&1 || { echo "the host has no $p" >&2; exit 97; }
done
mkdir -p -- "$base" && mkdir -- "$d" && mkfifo -- "$d/o.fifo" "$d/e.fifo" || exit 97
# Sweep finished jobs older than the TTL, whichever server started them.
find "$base" -mindepth 2 -maxdepth 2 \( -name rc -o -name killed \) -mmin +"$5" \
  -path "$base/j*/*" -exec sh -c 'rm -rf -- "${1%/*}"' sh {} \; 2>/dev/null
# `setsid -f` forks by itself: a job started with `&` would have SIGINT ignored (POSIX
# asynchronous lists), and an ignored signal cannot be restored by the job's shell.
if setsid -f true </dev/null >/dev/null 2>&1; then
  setsid -f sh -c "$4" ssh-mcp-job "$d" "$2" "$3" </dev/null >/dev/null 2>&1
else
  setsid sh -c "$4" ssh-mcp-job "$d" "$2" "$3" </dev/null >/dev/null 2>&1 &
fi
i=0
while [ ! -s "$d/pgid" ]; do
  i=$((i+1)); [ "$i" -gt 500 ] && { echo "the job is slow to start" >&2; exit 98; }
  sleep 0.01
done
printf '%s %s\n' "$(cat -- "$d/pgid")" "$d"
"""

# Shared by probe and stop: is the job's shell (the group leader) alive, and still ours?
# The leader, not the group: helpers started with `&` ignore SIGINT and may linger.
_ALIVE = r"""
alive() {
  kill -0 "$g" 2>/dev/null || return 1
  [ ! -r "/proc/$g/cmdline" ] || tr '\0' ' ' < "/proc/$g/cmdline" | grep -qF -- "$d"
}
"""

# $1 dir. Prints: exited RC | running | killed SIG | lost | gone
_PROBE = (
    _ALIVE
    + r"""
d=$1
[ -d "$d" ] || { echo gone; exit 0; }
g=$(cat -- "$d/pgid" 2>/dev/null)
if [ -f "$d/rc" ]; then echo "exited $(cat -- "$d/rc")"
elif [ -n "$g" ] && alive; then echo running
# Again: the job may have written rc and exited between the two checks above.
elif [ -f "$d/rc" ]; then echo "exited $(cat -- "$d/rc")"
elif [ -f "$d/killed" ]; then echo "killed $(cat -- "$d/killed")"
else echo lost; fi
"""
)

# $1 dir, $2.. signals to climb. Prints the probe's words after the ladder.
_STOP = (
    _ALIVE
    + r"""
d=$1; shift
[ -f "$d/rc" ] && { echo "exited $(cat -- "$d/rc")"; exit 0; }
g=$(cat -- "$d/pgid" 2>/dev/null)
if [ -z "$g" ] || ! alive; then
  if [ -f "$d/rc" ]; then echo "exited $(cat -- "$d/rc")"  # it ended meanwhile
  elif [ -f "$d/killed" ]; then echo "killed $(cat -- "$d/killed")"
  else echo lost; fi
  exit 0
fi
for s in "$@"; do
  printf '%s\n' "$s" > "$d/killed"
  kill "-$s" "-$g" 2>/dev/null
  i=0
  while alive && [ "$i" -lt 10 ]; do sleep 0.05; i=$((i+1)); done
  # The job's shell is gone: sweep what is left of its group (split, janitor, strays).
  if ! alive; then
    kill -KILL "-$g" 2>/dev/null
    # A job that trapped the signal may have ended on its own and written rc.
    if [ -f "$d/rc" ]; then echo "exited $(cat -- "$d/rc")"; else echo "killed $s"; fi
    exit 0
  fi
done
echo running
"""
)


@dataclass(frozen=True)
class Started:
    pgid: int
    dir: str


@dataclass(frozen=True)
class Probe:
    """A job's state as the host shows it."""

    state: str  # running, exited, killed, lost, gone
    exit_code: int | None = None
    signal: str | None = None


@dataclass(frozen=True)
class Chunk:
    """Output read from one stream's ring."""

    data: bytes
    start: int  # absolute offset of data[0]
    end: int  # offset to ask for next
    dropped: int  # bytes between the asked offset and ``start``, lost to the ring
    more: bool  # the ring holds more beyond ``end``


def home_dir(job_id: str) -> str:
    """The job's directory relative to the login's home (where commands and SFTP start)."""
    return f".cache/ssh-mcp/jobs/{job_id}"


def start_argv(job_id: str, command: str, segment: int, ttl_minutes: int) -> list[str]:
    return ["sh", "-c", _START, "ssh-mcp-job", job_id, str(segment), command, _INNER,
            str(ttl_minutes)]  # fmt: skip


def parse_started(stdout: bytes, stderr: bytes, exit_code: int | None) -> Started:
    words = stdout.decode("utf-8", "replace").split(maxsplit=1)
    if exit_code != 0 or len(words) != 2 or not words[0].isdigit():
        why = stderr.decode("utf-8", "replace").strip().splitlines()[-1:] or ["no reason given"]
        raise RemoteError(f"the job could not start: {why[0][:200]}")
    return Started(int(words[0]), words[1].strip())


def probe_argv(job_dir: str) -> list[str]:
    return ["sh", "-c", _PROBE, "ssh-mcp-job", job_dir]


def stop_argv(job_dir: str, first: str) -> list[str]:
    ladder = [first] + [s for s in ("TERM", "KILL") if SIGNALS.index(s) > SIGNALS.index(first)]
    if first == "KILL":
        ladder = ["KILL"]
    return ["sh", "-c", _STOP, "ssh-mcp-job", job_dir, *ladder]


def remove_argv(job_dir: str) -> list[str]:
    return ["rm", "-rf", "--", job_dir]


def parse_probe(stdout: bytes) -> Probe:
    words = stdout.decode("utf-8", "replace").split()
    if not words:
        return Probe("lost")
    state, rest = words[0], words[1:]
    if state == "exited" and rest and rest[0].lstrip("-").isdigit():
        return Probe("exited", exit_code=int(rest[0]))
    if state == "killed":
        return Probe("killed", signal=rest[0] if rest else None)
    if state in ("running", "lost", "gone"):
        return Probe(state)
    return Probe("lost")


def _index(suffix: str) -> int:
    n = 0
    for ch in suffix:
        n = n * 26 + string.ascii_lowercase.index(ch)
    return n


def _segments(names: Sequence[str], stream: str) -> list[int]:
    prefix = stream + "."
    out = []
    for name in names:
        suffix = name[len(prefix) :]
        if name.startswith(prefix) and len(suffix) == _SUFFIX and suffix.isalpha():
            out.append(_index(suffix))
    return sorted(out)


def _suffix(index: int) -> str:
    chars = []
    for _ in range(_SUFFIX):
        index, r = divmod(index, 26)
        chars.append(string.ascii_lowercase[r])
    return "".join(reversed(chars))


async def read_streams(
    pc: PooledConnection, job_dir: str, segment: int, since: dict[str, int], cap: dict[str, int]
) -> dict[str, Chunk]:
    """Read each stream (``o``, ``e``) from ``since[stream]``, at most ``cap[stream]`` bytes."""
    sftp = await pc.sftp()
    try:
        names = [str(n) for n in await sftp.listdir(job_dir)]
    except asyncssh.SFTPError as exc:
        raise sftp_error(exc, "reading the job's output") from None
    return {s: await _read_ring(sftp, job_dir, s, _segments(names, s), segment, since[s], cap[s])
            for s in ("o", "e")}  # fmt: skip


async def _read_ring(
    sftp: asyncssh.SFTPClient,
    job_dir: str,
    stream: str,
    indexes: list[int],
    segment: int,
    since: int,
    cap: int,
) -> Chunk:
    data = bytearray()
    first = indexes[0] * segment if indexes else since
    start = max(since, first)
    pos, end_of_ring = start, start
    for k in indexes:
        lo = k * segment
        if lo + segment <= pos:
            continue  # a full segment wholly before the offset asked for
        path = posixpath.join(job_dir, f"{stream}.{_suffix(k)}")
        try:
            async with sftp.open(path, "rb") as f:
                if len(data) < cap:
                    await f.seek(pos - lo)
                    got = cast(bytes, await f.read(min(cap - len(data), lo + segment - pos)))
                    data += got
                    pos += len(got)
                end_of_ring = max(end_of_ring, lo + ((await f.stat()).size or 0))
        except asyncssh.SFTPNoSuchFile:
            # The janitor rotated this segment away while we read: it is dropped output.
            if data:
                end_of_ring = max(end_of_ring, pos + 1)  # say `more`: ask again from `end`
                break
            start = pos = end_of_ring = max(pos, lo + segment)
            continue
        except asyncssh.SFTPError as exc:
            raise sftp_error(exc, "reading the job's output") from None
    return Chunk(bytes(data), start, pos, start - since if start > since else 0, end_of_ring > pos)
