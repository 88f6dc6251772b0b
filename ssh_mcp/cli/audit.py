"""``ssh-mcp audit verify|tail``: the audit log for a human at a terminal.

Both default to the configured log (``SSH_AUDIT_LOG``, or its default when
unset) and read nothing else of the settings, so a broken configuration does
not stop an operator from checking the log. ``tail`` is a quick look; ``jq``
over the JSON lines stays the tool for real questions.
"""

from __future__ import annotations

import json
import sys
from collections import deque
from pathlib import Path
from typing import TextIO

from ssh_mcp.config.environ import audit_key_text, audit_log_path

#: tail's columns: (header, record key).
_COLUMNS = (
    ("TIME", "ts"),
    ("TOOL", "tool"),
    ("HOST", "host"),
    ("OUTCOME", "outcome"),
    ("ERROR", "error"),
    ("MS", "duration_ms"),
)


def _resolve(path: Path | None) -> Path | None:
    """The log to read, or None after a one-line error when it does not exist."""
    target = path or audit_log_path()
    if not target.is_file():
        hint = "" if path else " (SSH_AUDIT_LOG, or its default; pass FILE to read another)"
        print(f"ssh-mcp audit: no audit log at {target}{hint}", file=sys.stderr)
        return None
    return target


def verify_log(path: Path | None) -> int:
    """0 when the chain is intact, 1 when broken, 2 when there is no such file."""
    from ssh_mcp.state.audit import verify

    target = _resolve(path)
    if target is None:
        return 2
    key_text = audit_key_text()
    try:
        report = verify(target, key_text.encode() if key_text else None)
    except OSError as exc:
        print(f"ssh-mcp audit: cannot read {target}: {exc.strerror}", file=sys.stderr)
        return 2
    if report.ok:
        print(f"ok: {report.lines} lines, chain intact ({target})")
        return 0
    print(f"broken: {report.reason} ({target})", file=sys.stderr)
    return 1


def _cell(record: dict[str, object], key: str) -> str:
    value = record.get(key)
    if value is None:
        return "-"
    if key == "ts" and isinstance(value, str):
        return value.replace("T", " ").rstrip("Z")
    return str(value)


def tail_log(path: Path | None, count: int, out: TextIO = sys.stdout) -> int:
    """Print the last ``count`` records as a table; 2 when there is no such file."""
    target = _resolve(path)
    if target is None:
        return 2
    rows: deque[list[str]] = deque(maxlen=max(count, 0))
    try:
        with target.open("rb") as f:
            for number, raw in enumerate(f, 1):
                try:
                    record = json.loads(raw)
                except ValueError:
                    rows.append([f"(line {number} is not JSON)"] + ["-"] * (len(_COLUMNS) - 1))
                    continue
                if isinstance(record, dict):
                    rows.append([_cell(record, key) for _, key in _COLUMNS])
    except OSError as exc:
        print(f"ssh-mcp audit: cannot read {target}: {exc.strerror}", file=sys.stderr)
        return 2
    table = [[h for h, _ in _COLUMNS], *rows]
    widths = [max(len(r[i]) for r in table) for i in range(len(_COLUMNS))]
    for row in table:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip(), file=out)
    return 0
