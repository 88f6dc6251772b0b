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

import json
import logging
import os
import secrets
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

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
    """Job records by id, persisted to ``path``; finished jobs expire after ``ttl`` seconds."""

    def __init__(self, path: Path, ttl: float) -> None:
        self.path, self.ttl = path, ttl
        self._jobs: dict[str, JobRecord] = {}
        self._load()

    def _load(self) -> None:
        try:
            raw = json.loads(self.path.read_text())
            self._jobs = {r["id"]: JobRecord(**r) for r in raw["jobs"]}
        except FileNotFoundError:
            return
        except (OSError, ValueError, KeyError, TypeError):
            # A damaged table must not stop the server; its jobs' directories stay on
            # their hosts, where the next job start's sweep removes them after the TTL.
            log.warning("ignoring unreadable job table %s", self.path)

    def _save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = self.path.with_name(f".{self.path.name}.{secrets.token_hex(4)}")
        body = json.dumps({"jobs": [asdict(r) for r in self._jobs.values()]}, indent=1)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "w") as f:
                f.write(body)
            os.replace(tmp, self.path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise

    def put(self, record: JobRecord) -> None:
        self._jobs[record.id] = record
        self._save()

    def get(self, job_id: str) -> JobRecord | None:
        self.expire()
        return self._jobs.get(job_id)

    def remove(self, job_id: str) -> None:
        if self._jobs.pop(job_id, None) is not None:
            self._save()

    def all(self) -> list[JobRecord]:
        self.expire()
        return sorted(self._jobs.values(), key=lambda r: r.started_at)

    def running(self) -> int:
        return sum(r.state == "running" for r in self._jobs.values())

    def expire(self, now: float | None = None) -> list[JobRecord]:
        """Drop finished jobs older than the TTL; returns them (their host dirs remain)."""
        now = time.time() if now is None else now
        old = [
            r
            for r in self._jobs.values()
            if r.finished_at is not None and now - r.finished_at > self.ttl
        ]
        for r in old:
            del self._jobs[r.id]
        if old:
            self._save()
        return old
