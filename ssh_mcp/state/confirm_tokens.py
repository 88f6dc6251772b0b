"""The one-shot tokens of a 2026-07-28 confirmation round trip: a clock and a used set.

Which calls need a human's yes is the pure :mod:`ssh_mcp.policy.confirm`.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time


class ConfirmTokens:
    """One-shot tokens binding a 2026-07-28 confirmation round trip to one exact call.

    That flow has the client call again with the human's answer and our
    ``request_state`` echoed back. An answer counts only with a token issued for
    the very same tool and arguments (HMAC), not older than ``ttl`` seconds, and
    not used before: a confirmed call cannot be replayed.
    """

    def __init__(self, key: bytes, ttl: float) -> None:
        self._key, self.ttl = key, ttl
        self._used: dict[str, float] = {}

    def _mac(self, nonce: str, issued: str, tool: str, arguments: str) -> str:
        msg = "\0".join((nonce, issued, tool, arguments)).encode()
        return hmac.new(self._key, msg, hashlib.sha256).hexdigest()

    def issue(self, tool: str, arguments: str) -> str:
        nonce, issued = secrets.token_hex(12), str(int(time.time()))
        return f"c2.{nonce}.{issued}.{self._mac(nonce, issued, tool, arguments)}"

    def redeem(self, token: str | None, tool: str, arguments: str) -> bool:
        """True once for a genuine, fresh token of this call; False otherwise."""
        parts = (token or "").split(".")
        if len(parts) != 4 or parts[0] != "c2" or not parts[2].isdigit():
            return False
        _, nonce, issued, mac = parts
        if not hmac.compare_digest(mac, self._mac(nonce, issued, tool, arguments)):
            return False
        now = time.time()
        if not -60 <= now - int(issued) <= self.ttl:  # a replica's clock may run ahead
            return False
        for old in [n for n, t in self._used.items() if now - t > self.ttl]:
            del self._used[old]
        if nonce in self._used:
            return False
        self._used[nonce] = now
        return True
