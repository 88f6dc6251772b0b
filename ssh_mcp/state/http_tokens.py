"""The HTTP token file (SSH_HTTP_TOKENS_FILE): named, scoped bearer tokens, hashes only.

One JSON file, mode 0600, replaced atomically on every change, so that a server (or two
replicas sharing it) reading it mid-write sees the old list or the new. Each entry keeps
the SHA-256 of its token, never the token: the token is 256 random bits, so a plain hash
cannot be reversed by guessing, and a lookup by hash needs no per-entry salt or slow KDF
(DECISIONS.md 65). Readers re-read the file when its stat changes, so a revoke counts on
the next request.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ssh_mcp.errors import ConfigError
from ssh_mcp.policy.scope import Scope
from ssh_mcp.state._files import write_private

#: Printed tokens start with this, so that a leaked one is recognisable in a scan.
PREFIX = "sshmcp_"


def digest(token: str | bytes) -> str:
    raw = token.encode() if isinstance(token, str) else token
    return hashlib.sha256(raw).hexdigest()


@dataclass(frozen=True)
class TokenEntry:
    name: str
    hash: str
    scope: Scope
    created: float
    expires: float | None = None

    def expired(self, now: float) -> bool:
        return self.expires is not None and now >= self.expires

    def to_json(self) -> dict[str, Any]:
        s = self.scope
        return {
            "name": self.name,
            "sha256": self.hash,
            "hosts": list(s.hosts) if s.hosts is not None else None,
            "tiers": sorted(s.tiers) if s.tiers is not None else None,
            "groups": sorted(s.groups) if s.groups is not None else None,
            "created": self.created,
            "expires": self.expires,
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> TokenEntry:
        def names(key: str) -> frozenset[str] | None:
            v = d.get(key)
            return frozenset(v) if v is not None else None

        hosts = d.get("hosts")
        scope = Scope(tuple(hosts) if hosts is not None else None, names("tiers"), names("groups"))
        return cls(d["name"], d["sha256"], scope, float(d["created"]), d.get("expires"))


def parse(text: str, source: str) -> dict[str, TokenEntry]:
    """The file's entries by name; a malformed file is a one-line ConfigError."""
    try:
        data = json.loads(text) if text.strip() else {"tokens": []}
        entries = [TokenEntry.from_json(e) for e in data["tokens"]]
    except (ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"{source}: not an ssh-mcp token file ({exc})") from None
    return {e.name: e for e in entries}


def render(entries: dict[str, TokenEntry]) -> bytes:
    body = {"tokens": [e.to_json() for e in entries.values()]}
    return (json.dumps(body, indent=2) + "\n").encode()


def read_entries(path: Path) -> dict[str, TokenEntry]:
    try:
        return parse(path.read_text(), str(path))
    except FileNotFoundError:
        return {}


@contextmanager
def editing(path: Path) -> Iterator[dict[str, TokenEntry]]:
    """The entries, to change in place; written back atomically (0600) on exit, under a
    lock file so that two ``ssh-mcp token`` commands do not lose each other's change."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    lock = path.with_name(path.name + ".lock")
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        entries = read_entries(path)
        yield entries
        write_private(path, render(entries))
    finally:
        os.close(fd)


def new_token() -> str:
    return PREFIX + secrets.token_urlsafe(32)


class TokenFile:
    """The file as a server reads it: re-parsed whenever its stat changes (inode, size,
    mtime, ctime), looked up by the hash of a presented token."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._stamp: tuple[int, int, int, int] | None = None
        self._by_hash: dict[str, TokenEntry] = {}

    def _current(self) -> dict[str, TokenEntry]:
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            self._stamp, self._by_hash = None, {}
            return self._by_hash
        stamp = (st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
        if stamp != self._stamp:
            entries = read_entries(self.path)
            self._by_hash = {e.hash: e for e in entries.values()}
            self._stamp = stamp
        return self._by_hash

    def lookup(self, token: bytes, now: float | None = None) -> TokenEntry | None:
        """The unexpired entry for ``token``, or None."""
        entry = self._current().get(digest(token))
        if entry is None or entry.expired(time.time() if now is None else now):
            return None
        return entry
