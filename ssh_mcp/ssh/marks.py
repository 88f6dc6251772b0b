"""Marks in a session's streams, and what the login shell can be sent.

Commands carry a prefix that prints their shell's PID (the session's process
group) as a marked line on stderr, so the stop ladder can kill by group;
elevated commands mark stdout when root's shell starts. :class:`MarkFilter`
takes such lines out of a stream. :func:`posix_login` says whether the login
shell reads sh syntax at all, which every command ssh-mcp sends assumes.

The prefix also starts a watchdog. Without a PTY, sshd signals nobody when the
connection drops: a server killed with SIGKILL (no stop ladder) would leave
its commands running. The watchdog polls, once a second, the shell (``$$``)
and the shell's parent, sshd's process for this connection (``$PPID``); when
sshd is gone first, it sends TERM to the shell's process group, and KILL to
whatever of it is left after up to five seconds. When the shell ends first, it
just exits. The shell pays one fork; the rest (an ``sh`` that forks the loop and
exits) runs beside the command, so a ``wait`` in the command never waits for
the watchdog. It holds none of the channel's streams, so a finished command's
channel closes at once, and its command line (``ssh-mcp-watchdog PID PPID``)
never carries the command. Jobs run in sessions of their own (``setsid``) and
are not in the group: they survive, as documented. Root's shell under sudo
starts one of its own (:data:`ROOT_WATCH`), since the login user's cannot
signal root's processes.
"""

from __future__ import annotations

import asyncio
import re
import shlex
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING

from ssh_mcp.ssh.pooled import PooledConnection

if TYPE_CHECKING:
    import asyncssh
else:
    from ssh_mcp.ssh._lazy import asyncssh

#: Marks the PID line a command's shell prints on stderr; taken out before callers see it.
_PID_MARK = b"\x1essh-mcp-pgid:"
#: The watchdog, run as ``setsid sh -c _WATCHDOG ssh-mcp-watchdog SHELL_PID SSHD_PID``: its
#: command line names it and never carries the command's text. That ``sh`` forks the loop and
#: exits at once, so a ``wait`` in the command is not held up by it. In a session of its own it
#: can watch the shell's whole process group (``kill -0 -PGID``): a background child that
#: outlives the shell and keeps the channel open is still the call's, and goes when sshd does.
#: Without ``setsid`` it runs in the group (no ``$3``) and watches the shell alone. dash's kill
#: needs ``--`` before a negative PID, busybox's refuses it: both spellings.
_ALIVE = '{ kill -0 $1 || { [ "$3" ] && { kill -0 -- -$1 || kill -0 -$1; }; }; } 2>/dev/null'
#: After TERM it waits, a second at a time and at most five, for the group to go before it
#: sends KILL: sudo relays TERM to a root command through its monitor, and a KILL that comes
#: before the relay (a loaded host) would orphan the command instead.
_WATCHDOG = (
    f'(trap "" TERM; while kill -0 $2 && {_ALIVE}; do sleep 1; done; {_ALIVE} && '
    "{ kill -s TERM -- -$1 || kill -s TERM -$1; n=0; "
    f"while [ $n -lt 5 ] && {_ALIVE}; do sleep 1; n=$((n+1)); done; "
    f"{_ALIVE} && {{ kill -s KILL -- -$1 || kill -s KILL -$1; }}; }}"
    ") &"
)
_WATCH = f"sh -c {shlex.quote(_WATCHDOG)} ssh-mcp-watchdog $$ $PPID"
_WATCH_ROOT = f"sh -c {shlex.quote(_WATCHDOG)} ssh-mcp-watchdog $PPID"
#: The same watchdog for root's shell under sudo, which the login user's watchdog cannot
#: signal (only sudo itself, which relays TERM to root's shell alone, orphaning its
#: children). Root's shell runs in the login shell's group, whose leader is sudo (``$PPID``,
#: exec'd by the login shell); this one, as root, ends that group when the connection's sshd
#: (sudo's parent) is gone, or when sudo is, if ``ps`` cannot name sshd.
ROOT_WATCH = (
    'p=$(ps -o ppid= -p $PPID 2>/dev/null | tr -d " "); '
    f'{{ setsid {_WATCH_ROOT} "${{p:-$PPID}}" g || {_WATCH_ROOT} "${{p:-$PPID}}"; }} '
    "</dev/null >/dev/null 2>&1 & "
)
PID_PREFIX = (
    "printf '\\036ssh-mcp-pgid:%s\\n' \"$$\" >&2; "
    f"{{ setsid {_WATCH} g || {_WATCH}; }} </dev/null >/dev/null 2>&1 & "
)
_POSIX_PROBE = "case x in x) printf '\\036ssh-mcp-posix:%s\\n' \"$$\";; esac"
_POSIX_LINE = re.compile("\x1essh-mcp-posix:[0-9]+\n")


class MarkFilter:
    """Takes a marker line out of the head of a stream and remembers what followed the mark.

    The mark is looked for at the start of every line of the first :attr:`LIMIT` bytes,
    not only the first line: a login shell's startup files may print before it (an
    ``stty`` warning on stderr, a banner from ``.bashrc`` on stdout). Text before the
    mark passes through; a partial line that could be the mark is held back until its
    newline.
    """

    LIMIT = 65536

    def __init__(self, mark: bytes = _PID_MARK, on_mark: Callable[[], None] | None = None) -> None:
        self.mark, self._on_mark = mark, on_mark
        self.value: bytes | None = None
        self._pending = b""
        self._seen = 0
        self._done = False

    @property
    def pgid(self) -> int | None:
        """The process group from a PID mark; never 0 or 1 (``kill -- -1`` hits everyone)."""
        if self.value and self.value.isdigit() and int(self.value) > 1:
            return int(self.value)
        return None

    def feed(self, chunk: bytes) -> bytes:
        if self._done:
            return chunk
        data, self._pending = self._pending + chunk, b""
        out = bytearray()
        while not self._done:
            nl = data.find(b"\n")
            if nl < 0:
                maybe_mark = self.mark.startswith(data[: len(self.mark)]) and len(data) < 4096
                if data and maybe_mark:
                    self._pending = data
                else:
                    out += data
                    self._seen += len(data)
                break
            line, data = data[:nl], data[nl + 1 :]
            if line.startswith(self.mark):
                self.value, self._done = line[len(self.mark) :], True
                if self._on_mark is not None:
                    self._on_mark()
                out += data
                break
            out += line + b"\n"
            self._seen += nl + 1
            if self._seen >= self.LIMIT:
                self._done = True
                out += data
        return bytes(out)

    def flush(self) -> bytes:
        data, self._pending, self._done = self._pending, b"", True
        return data


#: Per connection: can commands carry the PID prefix (is the login shell POSIX-family)?
_prefix_ok: weakref.WeakKeyDictionary[PooledConnection, asyncio.Future[bool | None]] = (
    weakref.WeakKeyDictionary()
)


async def posix_login(pc: PooledConnection) -> bool | None:
    """Whether ``pc``'s login shell runs POSIX sh syntax (None: could not tell just now).

    Every command ssh-mcp sends is sh-quoted (``shlex.join``); a shell that reads
    quotes otherwise (fish treats ``\\'`` inside single quotes as an escape) would
    let argument text become code. The probe is sh syntax that csh and fish reject,
    printing to stdout (no redirection, which csh would read as a file name). It
    runs once per connection, on the first caller's channel slot while concurrent
    first callers wait for its answer; startup noise around its line is fine. Only
    a clear answer is kept: an exit status from 0 to 125 without the line means
    "not sh"; a failed channel, a signal or 126+ decides nothing and is retried.
    """
    if pc.login_user == "root":
        return True
    known = _prefix_ok.get(pc)
    if known is None:
        known = _prefix_ok[pc] = asyncio.get_running_loop().create_future()
        try:
            res = await asyncio.wait_for(pc.conn.run(_POSIX_PROBE, check=False), 10)
        except (asyncssh.Error, OSError, TimeoutError):
            del _prefix_ok[pc]  # a busy or failing channel says nothing of the shell
            known.set_result(None)
            return None
        except BaseException:
            del _prefix_ok[pc]
            known.cancel()
            raise
        out = res.stdout or b""  # pooled connections run with encoding=None
        text = out.decode("utf-8", "replace") if isinstance(out, bytes) else str(out)
        status = res.exit_status
        answer: bool | None = True if _POSIX_LINE.search(text) else None
        if answer is None and status is not None and 0 <= status <= 125:
            answer = False
        if answer is None:
            del _prefix_ok[pc]
        known.set_result(answer)
        return answer
    try:
        return await asyncio.shield(known)
    except asyncio.CancelledError:
        if known.cancelled():  # the prober was cancelled, not us: ask again next time
            return None
        raise
