"""Deny patterns: commands that run only after a human says yes.

A command matches when any pattern finds it in the command's normalized form.
Normalization undoes the cheap disguises a shell would undo too: quotes and
backslashes are dropped (``'r''m' -rf /`` is ``rm -rf /``), line continuations
joined, and runs of blanks collapsed to one space. It is a tripwire for
confirmation, not a parser: the command allowlist (:mod:`ssh_mcp.policy.commands`)
is what refuses; this only decides when to ask first, so a false positive
costs a click and a false negative is what the default set tries hard to avoid.

The default set is always on; ``SSH_CONFIRM_PATTERNS`` adds to it.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from ssh_mcp.errors import ConfigError

# Paths whose recursive removal or re-permissioning wrecks a system.
_TOP = r"(?:bin|boot|dev|etc|home|lib\w*|opt|proc|root|sbin|srv|sys|usr|var)"
_SYSTEM = rf"(?:/|/\*|~/?|\$HOME/?|/{_TOP}/?\*?)"
_END = r"(?=\s|;|&|\||\)|$)"
# A -r/-R/--recursive flag somewhere in the same simple command.
_RECURSIVE = r"(?=[^;&|\n]*\s(?:-[a-zA-Z]*[rR]|--recursive\b))"
# Command position: a line start, after a list/pipe operator, or after sudo/exec/xargs.
_CMD = r"(?:^|[;&|(`]\s*|\b(?:sudo|exec|xargs|nohup|env)\s+(?:-\S+\s+)*)(?:\S*/)?"

#: (label, regex): the label is what the human and the model are told.
DEFAULT_PATTERNS: tuple[tuple[str, str], ...] = (
    (
        "recursive rm of / or a system directory",
        rf"\brm{_RECURSIVE}[^;&|\n]*\s{_SYSTEM}{_END}",
    ),
    ("rm --no-preserve-root", r"\brm\b.*--no-preserve-root"),
    ("mkfs (format a filesystem)", rf"{_CMD}mkfs(?:\.\w+)?\b"),
    ("wipefs / shred", rf"{_CMD}(?:wipefs|shred)\b"),
    ("dd writing to a device", r"\bdd\b.*\bof=/dev/"),
    (
        "redirect onto a disk device",
        r">\s*/dev/(?:sd|hd|vd|xvd|nvme|mmcblk|md|dm-|mapper/)",
    ),
    ("shutdown / reboot / halt / poweroff", rf"{_CMD}(?:shutdown|reboot|halt|poweroff)\b"),
    ("init 0 / init 6", r"\b(?:init|telinit)\s+[06]\b"),
    (
        "systemctl reboot / poweroff / halt",
        r"\bsystemctl\s+(?:-\S+\s+)*(?:reboot|poweroff|halt|kexec|emergency|rescue)\b",
    ),
    ("fork bomb", r":\s*\(\s*\)\s*\{"),
    (
        "download piped into a shell",
        r"\b(?:curl|wget|fetch)\b[^|]*\|\s*(?:sudo\s+)?(?:\S*/)?(?:ba|da|z|k|c|tc|fi|a)?sh\b",
    ),
    (
        "write to authorized_keys",
        r"(?:>|\btee\b|\bcp\b|\bmv\b|\bsed\s+-i|\bln\b|\binstall\b|\bchmod\b).*authorized_keys",
    ),
    (
        "write to passwd / shadow / sudoers",
        r"(?:>|\btee\b|\bcp\b|\bmv\b|\bsed\s+-i).*/etc/(?:passwd|shadow|gshadow|group|sudoers)\b",
    ),
    (
        "recursive chmod / chown of / or a system directory",
        rf"\bch(?:mod|own|grp){_RECURSIVE}[^;&|\n]*\s{_SYSTEM}{_END}",
    ),
    ("find / … -delete", r"\bfind\s+/\s.*-delete\b"),
    ("firewall flush", r"\b(?:iptables|ip6tables)\s+(?:-\S+\s+)*-F\b|\bnft\s+flush\b"),
    ("kill every process", r"\bkill\s+(?:-\S+\s+)*-1\b|\bkillall5\b"),
    ("crontab -r (remove all cron jobs)", r"\bcrontab\s+(?:-\S+\s+)*-r\b"),
    ("delete a user", rf"{_CMD}(?:userdel|deluser)\b"),
)

_QUOTES = re.compile(r"[\"'\\]")


def normalize(command: str) -> str:
    """The form patterns see: continuations joined, quotes and backslashes dropped,
    blanks collapsed (newlines kept, so ``^`` still means a line start)."""
    text = command.replace("\\\n", "")
    text = _QUOTES.sub("", text)
    lines = (" ".join(line.split()) for line in text.splitlines())
    return "\n".join(line for line in lines if line)


@dataclass(frozen=True)
class DenyPatterns:
    """The compiled default set plus the operator's patterns."""

    patterns: tuple[tuple[str, re.Pattern[str]], ...]

    @classmethod
    def build(cls, extra: Iterable[str] = ()) -> DenyPatterns:
        compiled = [(label, re.compile(rx, re.MULTILINE)) for label, rx in DEFAULT_PATTERNS]
        for rx in extra:
            try:
                compiled.append((f"operator pattern {rx}", re.compile(rx, re.MULTILINE)))
            except re.error as exc:
                raise ConfigError(
                    f"invalid environment variable SSH_CONFIRM_PATTERNS: {rx!r}: {exc}"
                ) from None
        return cls(tuple(compiled))

    def match(self, command: str) -> str | None:
        """The label of the first pattern ``command`` matches, or None."""
        text = normalize(command)
        for label, rx in self.patterns:
            if rx.search(text):
                return label
        return None


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
        if not 0 <= now - int(issued) <= self.ttl:
            return False
        for old in [n for n, t in self._used.items() if now - t > self.ttl]:
            del self._used[old]
        if nonce in self._used:
            return False
        self._used[nonce] = now
        return True


def confirm_message(tool: str, hosts: Sequence[str], label: str, command: str) -> str:
    """What the human reads before answering."""
    shown = command if len(command) <= 800 else command[:800] + " …"
    where = ", ".join(hosts[:10]) + (f" and {len(hosts) - 10} more" if len(hosts) > 10 else "")
    return (
        f"An AI agent wants to run this with {tool} on {where or 'a host'}. It matches the "
        f"deny pattern: {label}.\n\n{shown}\n\nRun it?"
    )
