"""Deny patterns: commands that run only after a human says yes.

The command is normalized first, undoing the cheap disguises a shell would undo
too: quotes and backslashes are dropped (``'r''m' -rf /`` is ``rm -rf /``), line
continuations joined, blanks collapsed, ``//`` and ``/./`` shortened. It is then
cut into simple commands (at ``; & | ( ) { } ! `` `` and ``then``/``do``/...),
and each is matched from its start, past wrappers such as ``sudo -u root`` or
``timeout 9``: one anchored pass per command keeps a long crafted line linear,
where searching everywhere could take seconds. A few shapes that span commands
(a download piped into a shell, a redirect onto a disk, a fork bomb) are
checked across them. It is a tripwire for
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
_SYSTEM = rf"(?:/|/\*|~/?|\$HOME/?|/{_TOP}/?\*?)(?:\s|$)"
# Programs that run their next word as a command, with their options (an option may take a
# value: `sudo -u root`, `nice -n 5`, `timeout 9`), and a path in front of a program.
_WRAPPERS = r"sudo|doas|exec|xargs|nohup|env|nice|ionice|time|timeout|busybox|setsid|stdbuf|chroot"
_ARG = r"(?:-\S+(?:\s+[^-\s]\S*)?|\d+[smhd]?|\w+=\S*)"
_W = rf"(?:(?:\S*/)?(?:{_WRAPPERS})(?:\s+{_ARG})*\s+)*(?:\S*/)?"
# A -r/-R/--recursive flag somewhere in the same simple command.
_RECURSIVE = r"(?=(?:.*\s)?(?:-[a-zA-Z]*[rR]|--recursive\b))"
_DISK = r"/dev/(?:sd|hd|vd|xvd|nvme|mmcblk|md|dm-|mapper/)"
_WRITER = rf"{_W}(?:(?:tee|cp|mv|ln|install|chmod|dd)\b|sed\s+(?:-\S+\s+)*-i)|[^>]*>"

#: (label, regex) checked against each simple command on its own, anchored at its start
#: (after wrappers): one pass per command, so a long crafted line stays linear.
COMMAND_PATTERNS: tuple[tuple[str, str], ...] = (
    ("recursive rm of / or a system directory", rf"{_W}rm\s{_RECURSIVE}(?:.*\s)?{_SYSTEM}"),
    ("recursive rm of ~/.ssh", rf"{_W}rm\s{_RECURSIVE}(?:.*\s)?(?:~|\$HOME)/\.ssh(?:/|\s|$)"),
    ("rm --no-preserve-root", rf"{_W}rm\s.*--no-preserve-root"),
    ("mkfs (format a filesystem)", rf"{_W}mkfs(?:\.\w+)?\b"),
    ("wipefs / shred", rf"{_W}(?:wipefs|shred)\b"),
    ("dd writing to a device", rf"{_W}dd\s.*\bof=/dev/"),
    ("copy onto a disk device", rf"{_W}(?:cp|mv|tee|install)\s.*\s{_DISK}"),
    ("shutdown / reboot / halt / poweroff", rf"{_W}(?:shutdown|reboot|halt|poweroff)\b"),
    ("init 0 / init 6", rf"{_W}(?:init|telinit)\s+[06]\b"),
    (
        "systemctl reboot / poweroff / halt",
        rf"{_W}systemctl\s+(?:-\S+\s+)*(?:reboot|poweroff|halt|kexec|emergency|rescue)\b",
    ),
    ("write to authorized_keys", rf"(?=.*authorized_keys)(?:{_WRITER})"),
    (
        "write to passwd / shadow / sudoers",
        rf"(?=.*/etc/(?:passwd|shadow|gshadow|group|sudoers)\b)(?:{_WRITER})",
    ),
    (
        "recursive chmod / chown of / or a system directory",
        rf"{_W}ch(?:mod|own|grp)\s(?=(?:.*\s)?(?:-[a-zA-Z]*R|--recursive\b))(?:.*\s)?{_SYSTEM}",
    ),
    ("find / … -delete", rf"{_W}find\s+/\s.*-delete\b"),
    ("firewall flush", rf"{_W}(?:(?:iptables|ip6tables)\s+(?:-\S+\s+)*-F\b|nft\s+flush\b)"),
    ("kill every process", rf"{_W}(?:kill\s+(?:-\S+\s+)*-1\b|killall5\b)"),
    ("crontab -r (remove all cron jobs)", rf"{_W}crontab\s+(?:-\S+\s+)*-\w*r\w*\b"),
    ("delete a user", rf"{_W}(?:userdel|deluser)\b"),
)
#: (label, regex) searched in the whole normalized text: shapes that span commands, each
#: written to scan linearly.
TEXT_PATTERNS: tuple[tuple[str, str], ...] = (
    ("redirect onto a disk device", rf">\s*{_DISK}"),
    ("fork bomb", r":\s*\(\s*\)\s*\{"),
    ("sysrq trigger", r"/proc/sysrq-trigger(?![\w-])"),
)
#: (label, regex) over the canonical path a file tool changes: files that grant access,
#: run code at boot or login, or keep users, where a write is as grave as a command.
PATH_PATTERNS: tuple[tuple[str, str], ...] = (
    ("write to authorized_keys", r"(?:^|/)\.ssh/authorized_keys2?$"),
    ("write to sudoers", r"^/etc/sudoers(?:\.d/.*)?$"),
    ("write to passwd / shadow / group", r"^/etc/(?:passwd|shadow|gshadow|group)$"),
    ("write to cron", r"^/etc/(?:crontab|cron\.\w+/.*)$|^/var/spool/cron/"),
    ("write to sshd or PAM configuration", r"^/etc/ssh/sshd_config(?:\.d/.*)?$|^/etc/pam\.d/"),
    ("write to a systemd unit", r"^/(?:etc|lib|usr/lib)/systemd/system/"),
    ("write to ld.so.preload or /boot", r"^/etc/ld\.so\.preload$|^/boot/"),
)
#: A download command, and a shell it is piped into (checked on pipeline neighbours).
_DOWNLOAD = re.compile(rf"{_W}(?:curl|wget|fetch)\b")
_SHELL = re.compile(rf"{_W}(?:ba|da|z|k|c|tc|fi|a)?sh(?:\s|$)")
DEFAULT_PATTERNS = (*COMMAND_PATTERNS, *TEXT_PATTERNS)  # for docs and tests

_QUOTES = re.compile(r"[\"'\\]")
_SLASHES = re.compile(r"/(?:\./|/)+")
# Where a simple command ends (pipes are kept apart, to see what feeds a shell).
_SEPARATOR = re.compile(r"[;&\n(){}`!]|(?<!\S)(?:then|do|else|elif|if|while|until)(?!\S)")


def normalize(command: str) -> str:
    """The form patterns see: continuations joined, quotes and backslashes dropped,
    blanks collapsed (newlines kept), and //, /./ and ${HOME} spelled the short way."""
    text = command.replace("\\\n", "")
    text = _QUOTES.sub("", text)
    text = _SLASHES.sub("/", text).replace("${HOME}", "$HOME")
    lines = (" ".join(line.split()) for line in text.splitlines())
    return "\n".join(line for line in lines if line)


def _pipelines(text: str) -> list[list[str]]:
    """Each list of simple commands joined by ``|``, stripped."""
    out = []
    for part in _SEPARATOR.split(text):
        stages = [stage.strip() for stage in part.split("|")]
        out.append([stage for stage in stages if stage])
    return out


@dataclass(frozen=True)
class DenyPatterns:
    """The compiled default set plus the operator's patterns."""

    commands: tuple[tuple[str, re.Pattern[str]], ...]
    texts: tuple[tuple[str, re.Pattern[str]], ...]
    paths: tuple[tuple[str, re.Pattern[str]], ...] = ()

    @classmethod
    def build(cls, extra: Iterable[str] = ()) -> DenyPatterns:
        commands = [(label, re.compile(rx)) for label, rx in COMMAND_PATTERNS]
        texts = [(label, re.compile(rx, re.MULTILINE)) for label, rx in TEXT_PATTERNS]
        for rx in extra:
            try:
                texts.append((f"operator pattern {rx}", re.compile(rx, re.MULTILINE)))
            except re.error as exc:
                raise ConfigError(
                    f"invalid environment variable SSH_CONFIRM_PATTERNS: {rx!r}: {exc}"
                ) from None
        paths = tuple((label, re.compile(rx)) for label, rx in PATH_PATTERNS)
        return cls(tuple(commands), tuple(texts), paths)

    def match_path(self, path: str) -> str | None:
        """The label of the first sensitive-file pattern a canonical ``path`` matches."""
        for label, rx in self.paths:
            if rx.search(path):
                return label
        return None

    def match(self, command: str) -> str | None:
        """The label of the first pattern ``command`` matches, or None."""
        text = normalize(command)
        for stages in _pipelines(text):
            downloading = False  # an earlier stage of this pipeline downloads
            for stage in stages:
                for label, rx in self.commands:
                    if rx.match(stage):
                        return label
                if downloading and _SHELL.match(stage):
                    return "download piped into a shell"
                downloading = downloading or _DOWNLOAD.match(stage) is not None
        for label, rx in self.texts:
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


def confirm_message(
    tool: str, hosts: Sequence[str], label: str, command: str, what: str = "run this"
) -> str:
    """What the human reads before answering."""
    shown = command if len(command) <= 800 else command[:800] + " …"
    where = ", ".join(hosts[:10]) + (f" and {len(hosts) - 10} more" if len(hosts) > 10 else "")
    return (
        f"An AI agent wants to {what} with {tool} on {where or 'a host'}. It matches the "
        f"deny pattern: {label}.\n\n{shown}\n\nAllow it?"
    )
