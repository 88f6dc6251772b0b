"""Local process trees read from /proc (Linux), for stopping what a sandbox started.

Used by :mod:`ssh_mcp.demo.sandbox` and the test fixtures (``tests/sshd.py``); stdlib only.
A process is named by :class:`Proc`, its PID *and* /proc start time, so a PID reused by an
unrelated process after ours exited is never signalled. Zombies count as dead: PID 1 in a
container may not reap reparented orphans promptly.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path


@dataclass(frozen=True)
class Proc:
    """One process: its PID and /proc/<pid>/stat field 22 (start time, in clock ticks)."""

    pid: int
    start: int


def stat(pid: int) -> tuple[str, int, int] | None:
    """(state, ppid, starttime) of a process, or None if it does not exist."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = raw.rpartition(")")[2].split()  # comm may contain spaces and parentheses
    return fields[0], int(fields[1]), int(fields[19])


def alive(p: Proc) -> bool:
    """True if ``p`` (the same process, not a reused PID) exists and is not a zombie."""
    st = stat(p.pid)
    return st is not None and st[2] == p.start and st[0] not in "ZXx"


def pid_alive(pid: int) -> bool:
    """True if ``pid`` exists and is not a zombie."""
    st = stat(pid)
    return st is not None and st[0] not in "ZXx"


def descendants(pid: int) -> list[Proc]:
    """Every process below ``pid``, found by walking /proc by PPid (zombies included)."""
    children: dict[int, list[Proc]] = {}
    for name in os.listdir("/proc"):
        if name.isdigit() and (st := stat(int(name))) is not None:
            children.setdefault(st[1], []).append(Proc(int(name), st[2]))
    out, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child.pid)
    return out


def with_env(name: str, value: str) -> list[Proc]:
    """Processes (other than this one) whose environment holds ``name=value``; finds them even
    after they were reparented to PID 1. Only processes we may read are seen."""
    needle, found = f"\0{name}={value}\0".encode(), []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        with contextlib.suppress(OSError):
            env = b"\0" + Path(f"/proc/{pid}/environ").read_bytes()
            if needle in env and (st := stat(int(pid))) is not None and int(pid) != os.getpid():
                found.append(Proc(int(pid), st[2]))
    return found


def send(p: Proc, sig: int) -> None:
    """Signal ``p`` if it is still the same process; a vanished one is ignored."""
    st = stat(p.pid)
    if st is not None and st[2] == p.start:
        with contextlib.suppress(ProcessLookupError):
            os.kill(p.pid, sig)


def wait_until(cond: Callable[[], bool], timeout: float, step: float = 0.005) -> bool:
    """Poll ``cond`` every ``step`` seconds; False if it is still false after ``timeout``."""
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            return False
        time.sleep(step)
    return True


def _stopped(procs: Sequence[Proc]) -> bool:
    return all((stat(p.pid) or ("Z",))[0] in "tTZXx" for p in procs)


def freeze_tree(pid: int) -> list[Proc]:
    """SIGSTOP the descendants of ``pid`` until no new one appears, so that none can fork a
    child that escapes (is reparented) while the rest are killed. Returns the frozen ones."""
    frozen: dict[int, Proc] = {}
    for _ in range(100):
        new = [p for p in descendants(pid) if p.pid not in frozen and alive(p)]
        if not new:
            break
        for p in new:
            send(p, signal.SIGSTOP)
            frozen[p.pid] = p
        wait_until(partial(_stopped, new), 1.0)  # a fork in flight completes before the stop
    return list(frozen.values())


def terminate(procs: Sequence[Proc], timeout: float) -> list[Proc]:
    """SIGTERM, SIGCONT (for frozen ones), wait, SIGKILL stragglers. Returns the survivors."""
    for sig in (signal.SIGTERM, signal.SIGCONT):
        for p in procs:
            send(p, sig)
    if not wait_until(lambda: not any(map(alive, procs)), timeout):
        for p in procs:
            send(p, signal.SIGKILL)
        wait_until(lambda: not any(map(alive, procs)), 2.0)
    return [p for p in procs if alive(p)]


def stop_tree(proc: subprocess.Popen[bytes], timeout: float = 5.0) -> list[Proc]:
    """Stop ``proc`` (a listener we started) and all its descendants; return the survivors.
    The descendants are collected first, with the listener frozen so that it accepts and
    forks nothing meanwhile: once it is gone they are reparented and cannot be found."""
    procs: list[Proc] = []
    if proc.poll() is None and (st := stat(proc.pid)) is not None:
        proc.send_signal(signal.SIGSTOP)
        procs = [Proc(proc.pid, st[2]), *freeze_tree(proc.pid)]
    left = terminate(procs, timeout)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=2)
    return left


def pdeathsig(gid: int | None = None) -> Callable[[], None]:
    """A ``preexec_fn``: SIGTERM the child when the spawning *thread* dies (or if it already
    has). Exec'ing a setgid binary clears PDEATHSIG unless the egid stays the same: pass its
    ``gid`` (needs root)."""
    libc, parent = ctypes.CDLL(None, use_errno=True), os.getpid()

    def preexec() -> None:
        if gid is not None:
            os.setgid(gid)  # before prctl: changing the egid clears PDEATHSIG too
        if libc.prctl(1, int(signal.SIGTERM), 0, 0, 0) != 0:  # 1 = PR_SET_PDEATHSIG
            os._exit(126)
        if os.getppid() != parent:
            os._exit(125)

    return preexec
