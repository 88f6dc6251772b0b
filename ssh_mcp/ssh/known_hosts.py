"""Strict known_hosts: loaded read-only, re-read when the file changes, never written."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import asyncssh


@dataclass(frozen=True)
class _Stamp:
    ino: int
    size: int
    mtime_ns: int


class KnownHosts:
    """A cached view of one known_hosts file.

    asyncssh raises the same ``HostKeyNotVerifiable`` for an unknown and for a
    changed key; :meth:`is_pinned` lets the caller tell the two apart.
    """

    def __init__(self, path: Path) -> None:
        self.path = path.expanduser()
        self._stamp: _Stamp | None = None
        self._parsed = asyncssh.import_known_hosts("")

    def current(self) -> asyncssh.SSHKnownHosts:
        """The parsed file, re-read if its inode, size or mtime changed since the last call."""
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            self._stamp, self._parsed = None, asyncssh.import_known_hosts("")
            return self._parsed
        stamp = _Stamp(st.st_ino, st.st_size, st.st_mtime_ns)
        if stamp != self._stamp:
            self._parsed = asyncssh.import_known_hosts(self.path.read_text(encoding="utf-8"))
            self._stamp = stamp
        return self._parsed

    def is_pinned(self, host: str, port: int) -> bool:
        """True when any key (or CA) is pinned for host:port, so a failure is a mismatch."""
        host_keys, ca_keys, *_ = self.current().match(host, "", port)
        return bool(host_keys or ca_keys)

    def pinned_fingerprints(self, host: str, port: int) -> list[str]:
        host_keys, *_ = self.current().match(host, "", port)
        return [key.get_fingerprint("sha256") for key in host_keys]
