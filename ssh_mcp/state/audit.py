"""A tamper-evident JSON-lines audit log: one line per MCP tool call.

Each line is a compact JSON object that operators query with ``jq``. The
dispatcher writes these fields (absent or ``None`` ones are dropped)::

    ts            RFC 3339 UTC with milliseconds, e.g. 2026-11-21T22:01:02.123Z
    id            a random per-call id (16 hex), also named in internal-error replies
    tool          tool name
    tier          the tool's tier
    host          the resolved alias; the raw `host` argument when resolution failed
    hostname      the resolved hostname actually contacted
    outcome       ok | error | denied
    duration_ms   wall time of the call
    exit_code     remote exit status, when there is one
    error         the exception class name only, never its message
    path_hash     AuditLog.digest() of the path
    command_hash  AuditLog.digest() of the command
    prev          chain link to the previous line (added by AuditLog.write)

Invariant: no plaintext command, path, password or file content is ever
written; callers log only ``digest()`` values, which are keyed (HMAC-SHA256)
when an audit key is configured so short inputs cannot be brute-forced.

Chain: ``prev`` of line 1 is the genesis link ``sha256:`` + 64 zeros
(``hmac-sha256:`` + 64 zeros for keyed logs); ``prev`` of line N is the digest
of line N-1's exact bytes without its newline. ``verify`` therefore detects
edited, deleted, inserted and reordered lines, and with a key an attacker
cannot rebuild the chain. Limits: truncating the tail (dropping the last lines)
cannot be detected, and a wrong key of the right kind only shows up at line 2.
One process should write a given file; two writers would fork the chain. A
torn trailing line left by a crash is terminated and chained over, so
``verify`` reports it rather than it swallowing the next record.

This module owns the file, its lock and the clock; the chain's arithmetic is
the pure :mod:`ssh_mcp.policy.audit`.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from ssh_mcp.policy import audit as chain

_CHUNK = 64 * 1024


def _read_last_line(path: Path) -> bytes | None:
    """The file's last line with its newline if any, reading backwards in chunks."""
    try:
        f = path.open("rb")
    except FileNotFoundError:
        return None
    with f:
        pos = f.seek(0, os.SEEK_END)
        buf = b""
        while pos > 0:
            step = min(_CHUNK, pos)
            pos -= step
            f.seek(pos)
            buf = f.read(step) + buf
            cut = buf.rfind(b"\n", 0, len(buf) - 1)
            if cut != -1:
                return buf[cut + 1 :]
        return buf or None


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class AuditLog:
    """Appends hash-chained JSON records to ``path``; see the module docstring."""

    def __init__(self, path: Path, key: bytes | None = None) -> None:
        chain.check_key(key)
        self._path = path
        self._key = key
        self._lock = threading.Lock()
        self._fd: int | None = None
        self._prev = chain.genesis(key)
        self._torn = False  # the file ends in a partial line that needs a newline

    @property
    def path(self) -> Path:
        return self._path

    def digest(self, value: str) -> str:
        """``sha256:<hex>`` of ``value``, or ``hmac-sha256:<hex>`` when keyed."""
        return chain.digest(value.encode("utf-8"), self._key)

    def _open(self) -> int:
        self._path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC
        fd = os.open(self._path, flags, 0o600)
        last = _read_last_line(self._path)
        if last is not None:
            self._torn = not last.endswith(b"\n")
            self._prev = chain.digest(last if self._torn else last[:-1], self._key)
        return fd

    def write(self, record: Mapping[str, object]) -> dict[str, object]:
        """Append one record and return it as written; ``OSError`` propagates.

        Adds ``ts`` (first) when absent and ``prev`` (last), drops ``None``
        values. Raises ``TypeError``/``ValueError`` for non-JSON values.
        """
        with self._lock:
            if self._fd is None:
                self._fd = self._open()
            out: dict[str, object] = {"ts": record.get("ts") or _now()}
            out.update((k, v) for k, v in record.items() if v is not None and k not in out)
            out.pop("prev", None)
            out["prev"] = self._prev
            text = json.dumps(out, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
            # Lone surrogates become \\udcXX escapes, exactly as ensure_ascii would write them.
            line = text.encode("utf-8", "backslashreplace")
            data = (b"\n" if self._torn else b"") + line + b"\n"
            view = memoryview(data)
            while view:
                view = view[os.write(self._fd, view) :]
            self._torn = False
            self._prev = chain.digest(line, self._key)
            return out

    def close(self) -> None:
        """Close the file; a later ``write`` reopens it and continues the chain."""
        with self._lock:
            if self._fd is not None:
                fd, self._fd = self._fd, None
                os.close(fd)


@dataclass(frozen=True)
class VerifyReport:
    ok: bool
    lines: int  # lines checked
    first_bad_line: int | None  # 1-based
    reason: str | None  # one line, e.g. "line 7: prev does not match line 6"


def verify(path: Path, key: bytes | None = None) -> VerifyReport:
    """Walk ``path`` line by line and report the first line that breaks the chain."""
    chain.check_key(key)
    expected = chain.genesis(key)
    count = 0

    def bad(why: str) -> VerifyReport:
        return VerifyReport(False, count, count, f"line {count}: {why}")

    with path.open("rb") as f:
        for raw in f:
            count += 1
            if (why := chain.line_fault(raw, count, expected)) is not None:
                return bad(why)
            expected = chain.digest(raw[:-1], key)
    return VerifyReport(True, count, None, None)
