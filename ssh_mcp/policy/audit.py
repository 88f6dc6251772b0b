"""The audit chain's arithmetic: digests, the genesis link, and the check of one line.

Pure: :mod:`ssh_mcp.state.audit` owns the file, the lock and the clock, and
its docstring describes the record and the chain.
"""

from __future__ import annotations

import hashlib
import hmac
import json

from ssh_mcp.errors import ConfigError


def digest(data: bytes, key: bytes | None) -> str:
    """``sha256:<hex>`` of ``data``, or ``hmac-sha256:<hex>`` when keyed."""
    if key is None:
        return "sha256:" + hashlib.sha256(data).hexdigest()
    return "hmac-sha256:" + hmac.new(key, data, hashlib.sha256).hexdigest()


def genesis(key: bytes | None) -> str:
    """The ``prev`` link of line 1."""
    return ("sha256:" if key is None else "hmac-sha256:") + "0" * 64


def check_key(key: bytes | None) -> None:
    if key is not None and not key:
        raise ConfigError("The audit key is empty: set a non-empty SSH_AUDIT_KEY or unset it.")


def line_fault(raw: bytes, number: int, expected: str) -> str | None:
    """Why line ``number`` (``raw``, with its newline) breaks a chain whose next link is
    ``expected``; None when it holds. The next link is then ``digest(raw[:-1], key)``."""
    if not raw.endswith(b"\n"):
        return "partial line without a trailing newline"
    try:
        obj = json.loads(raw[:-1])
    except ValueError:
        return "not valid JSON"
    if not isinstance(obj, dict):
        return "not a JSON object"
    prev = obj.get("prev")
    if not isinstance(prev, str):
        return "missing string field prev"
    if prev != expected:
        if number == 1:
            return "prev is not the genesis link (wrong key?)"
        return f"prev does not match line {number - 1}"
    return None
