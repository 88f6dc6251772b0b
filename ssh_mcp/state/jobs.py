"""The server's memory of its background jobs, kept on disk so a restart reattaches them.

The jobs themselves live on their hosts (:mod:`ssh_mcp.ssh.jobs`); this table
only says which host and directory each job id means, and what was last seen
of it. It is rewritten atomically (temp file, rename, mode 0600) after every
change, so a server killed at any moment leaves either the old table or the
new one. A restarted server reads it back: running jobs are found running
(their processes never depended on us), finished ones keep their results
until the TTL passes.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import secrets
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from ssh_mcp.state._files import write_private

log = logging.getLogger("ssh_mcp")

FINISHED = frozenset({"exited", "killed", "lost"})


@dataclass(frozen=True)
class JobRecord:
    """One job as the server last saw it."""

    id: str
    host: str  # alias
    dir: str  # the job's directory on the host
    pgid: int
    segment: int  # ring segment size, bytes
    name: str  # the caller's label, maybe empty
    started_at: float  # epoch seconds
    state: str = "running"  # running, exited, killed, lost
    exit_code: int | None = None
    signal: str | None = None
    finished_at: float | None = None  # when the server first saw it finished

    def seen(self, state: str, exit_code: int | None, signal: str | None) -> JobRecord:
        """This record updated with a fresh probe."""
        finished = self.finished_at
        if state in FINISHED and finished is None:
            finished = time.time()
        return replace(self, state=state, exit_code=exit_code, signal=signal, finished_at=finished)


def new_job_id() -> str:
    return "j" + secrets.token_hex(8)


class JobTable:
    """Job records by id, persisted to ``path``; finished jobs expire after ``ttl`` seconds.

    Several servers may share the file (one per MCP client, all with the default
    ``SSH_JOB_TABLE``), so every operation reads it afresh under an exclusive
    ``flock`` on a sibling lock file, and every change is written back before the
    lock is released: no server overwrites another's jobs.
    """

    def __init__(self, path: Path, ttl: float) -> None:
        self.path, self.ttl = path, ttl
        self._lock = path.with_name(path.name + ".lock")

    @contextlib.contextmanager
    def _locked(self) -> Iterator[dict[str, JobRecord]]:
        """The table, loaded under the lock; changes to the dict are saved on exit."""
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(self._lock, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            jobs = self._load()
            before = dict(jobs)
            yield jobs
            if jobs != before:
                self._save(jobs)
        finally:
            os.close(fd)  # releases the lock

    def _load(self) -> dict[str, JobRecord]:
        try:
            raw = json.loads(self.path.read_text())
            return {r["id"]: JobRecord(**r) for r in raw["jobs"]}
        except FileNotFoundError:
            return {}
        except (OSError, ValueError, KeyError, TypeError):
            # A damaged table must not stop the server; its jobs' directories stay on
            # their hosts, where the next job start's sweep removes them after the TTL.
            log.warning("ignoring unreadable job table %s", self.path)
            return {}

    def _save(self, jobs: dict[str, JobRecord]) -> None:
        body = json.dumps({"jobs": [asdict(r) for r in jobs.values()]}, indent=1)
        write_private(self.path, body.encode())

    def _expire(self, jobs: dict[str, JobRecord], now: float | None = None) -> None:
        now = time.time() if now is None else now
        for r in list(jobs.values()):
            if r.finished_at is not None and now - r.finished_at > self.ttl:
                del jobs[r.id]

    def put(self, record: JobRecord) -> None:
        with self._locked() as jobs:
            jobs[record.id] = record

    def remove(self, job_id: str) -> None:
        with self._locked() as jobs:
            jobs.pop(job_id, None)

    def get(self, job_id: str) -> JobRecord | None:
        with self._locked() as jobs:
            self._expire(jobs)
            return jobs.get(job_id)

    def all(self) -> list[JobRecord]:
        """Every job, oldest first, finished ones past the TTL dropped."""
        with self._locked() as jobs:
            self._expire(jobs)
            return sorted(jobs.values(), key=lambda r: r.started_at)

    def running(self) -> int:
        with self._locked() as jobs:
            return sum(r.state == "running" for r in jobs.values())
