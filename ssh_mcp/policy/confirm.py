"""Human confirmation: what needs it, and what the human reads before answering.

Commands are checked by the rules of :mod:`ssh_mcp.policy.deny` (always on) and
the operator's ``SSH_CONFIRM_PATTERNS`` (regexes over the normalized command);
file tools by :data:`PATH_PATTERNS` over the paths they change. It is a tripwire
for confirmation, not a sandbox: the command allowlist and the path policy are
what refuse. The one-shot tokens of a round trip, which read the clock, are
:mod:`ssh_mcp.state.confirm_tokens`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from ssh_mcp.errors import ConfigError, escape_for_display
from ssh_mcp.policy.deny import DenyMatch, match_command, normalize, segments

#: (label, regex) over the path a file tool changes, canonical and as given: files that
#: grant access, or that a login, a session, a scheduler or a service runs (so a write is
#: code that runs later, as the owner or as root), and the directories that hold them
#: (creating, moving or linking a whole directory into place is the same write). Per-user
#: files match under any directory (``(?:^|/)``): a home is not always under /home, and
#: ``~/x`` as given must match too. CONFIGURATION.md lists them; DECISIONS.md 43.
_HOME_RC = (
    r"bashrc|bash_profile|bash_login|bash_logout|bash_aliases|profile|zshenv|zprofile|zshrc"
    r"|zlogin|zlogout|kshrc|mkshrc|cshrc|tcshrc|login|logout|pam_environment|xprofile"
    r"|xsession|xsessionrc|xinitrc|forward|procmailrc|gitconfig|bash_completion|Xsession"
    r"|Xclients|xserverrc"
)
_ETC_RC = (
    r"bash\.bashrc|bash\.bash_logout|profile|environment|zshenv|zprofile|zshrc|zlogin|zlogout"
    r"|csh\.cshrc|csh\.login|csh\.logout|kshrc|mkshrc|rc\.local|anacrontab|logrotate\.conf"
    r"|sudo\.conf|X11/Xsession|gitconfig|inittab|doas\.conf|sysctl\.conf|bash_completion"
    r"|apt/apt\.conf"
)
_ETC_RC_DIRS = (
    r"profile\.d|zsh|fish|bash_completion\.d|init\.d|rc[0-6S]\.d|update-motd\.d|xdg/autostart"
    r"|X11/Xsession\.d|X11/xinit|environment\.d|security|logrotate\.d|apt/apt\.conf\.d"
    r"|udev/rules\.d|tmpfiles\.d|modprobe\.d|sysctl\.d|binfmt\.d|polkit-1|dpkg"
)
PATH_PATTERNS: tuple[tuple[str, str], ...] = (
    ("write to authorized_keys", r"(?:^|/)\.ssh(?:/authorized_keys2?)?/?$"),
    (
        "write to a file ssh runs or reads at login",
        r"(?:^|/)\.ssh/(?:rc|environment|config)/?$"
        r"|^/etc/ssh/(?:sshrc|ssh_config(?:\.d(?:/.*)?)?)/?$",
    ),
    ("write to a shell or login startup file", rf"(?:^|/)\.(?:{_HOME_RC})/?$"),
    (
        "write to a per-user autostart, service or shell directory",
        r"(?:^|/)\.config(?:/(?:fish|autostart|systemd|environment\.d|git)(?:/.*)?)?/?$"
        r"|(?:^|/)\.local(?:/share(?:/(?:systemd|bash-completion)(?:/.*)?)?|/bin(?:/.*)?)?/?$"
        r"|(?:^|/)Library/LaunchAgents(?:/.*)?/?$",
    ),
    ("write to git hooks or git configuration", r"(?:^|/)\.git(?:/(?:hooks(?:/.*)?|config))?/?$"),
    ("write to sudoers", r"^/etc/sudoers(?:\.d(?:/.*)?)?/?$"),
    ("write to passwd / shadow / group", r"^/etc/(?:passwd|shadow|gshadow|group)$"),
    (
        "write to cron or at",
        r"^/etc/(?:crontab|cron\.\w+(?:/.*)?)/?$|^/var/spool/(?:cron|at)(?:/|$)",
    ),
    (
        "write to sshd or PAM configuration",
        r"^/etc/ssh(?:/sshd_config(?:\.d(?:/.*)?)?)?/?$|^/etc/pam\.d(?:/|$)",
    ),
    (
        "write to systemd configuration or a unit",
        r"^/(?:etc|run|lib|usr/lib|usr/local/lib)/systemd(?:/|$)",
    ),
    (
        "write to a system login, boot or scheduled script",
        rf"^/etc/(?:{_ETC_RC})$|^/etc/(?:{_ETC_RC_DIRS})(?:/|$)",
    ),
    (
        "write to a configuration a boot or a device event runs as root",
        r"^/(?:usr/)?lib/(?:udev/rules|tmpfiles|modprobe|sysctl|binfmt)\.d(?:/|$)",
    ),
    (
        "write to ld.so or /boot",
        r"^/etc/ld\.so\.(?:conf|preload)$|^/etc/ld\.so\.conf\.d(?:/|$)|^/boot(?:/|$)",
    ),
    (
        "write to a directory on PATH",
        r"^/(?:usr/(?:local/)?)?s?bin(?:/|$)|^(?:~|/root|/home/[^/]+)/bin(?:/|$)",
    ),
    ("write to /etc itself", r"^/etc/?$"),
)


@dataclass(frozen=True)
class DenyPatterns:
    """The default rules (:mod:`ssh_mcp.policy.deny`), the operator's patterns, and the
    sensitive-file patterns for file tools."""

    operator: tuple[tuple[str, re.Pattern[str]], ...] = ()
    paths: tuple[tuple[str, re.Pattern[str]], ...] = ()

    @classmethod
    def build(cls, extra: Iterable[str] = ()) -> DenyPatterns:
        operator = []
        for rx in extra:
            try:
                operator.append((f"operator pattern {rx}", re.compile(rx, re.MULTILINE)))
            except re.error as exc:
                raise ConfigError(
                    f"invalid environment variable SSH_CONFIRM_PATTERNS: {rx!r}: {exc}"
                ) from None
        paths = tuple((label, re.compile(rx)) for label, rx in PATH_PATTERNS)
        return cls(tuple(operator), paths)

    def match_path(self, path: str) -> str | None:
        """The label of the first sensitive-file pattern ``path`` matches, in any case: on a
        case-insensitive disk (macOS, an ext4 casefold directory) ``~/.BASHRC`` is
        ``~/.bashrc``."""
        for spelling in dict.fromkeys((path, path.lower())):
            for label, rx in self.paths:
                if rx.search(spelling):
                    return label
        return None

    def find(self, command: str, cwd: str | None = None) -> DenyMatch | None:
        """The first rule or operator pattern ``command`` matches, and where, or None."""
        found = match_command(command, cwd)
        if found is not None or not self.operator:
            return found
        text = normalize(command)
        for label, rx in self.operator:
            if rx.search(text):
                for seg in segments(command):  # the first simple command it matches alone
                    if rx.search(" ".join(seg.words)):
                        return DenyMatch(label, seg.start, seg.end)
                return DenyMatch(label, 0, len(command))
        return None

    def match(self, command: str, cwd: str | None = None) -> str | None:
        """The label of the first rule or operator pattern ``command`` matches, or None."""
        found = self.find(command, cwd)
        return found.label if found else None


#: Characters shown in full; a longer subject shows the matched part and some context.
SHOW_ALL = 800
CONTEXT = 200
MATCH_HEAD = 400


def _cut(n: int) -> str:
    return f"[... {n} characters not shown ...]"


def _excerpt(text: str, start: int, end: int) -> str:
    """``text[start:end]`` with up to CONTEXT characters either side, every omission
    marked with how much it leaves out."""
    if end - start > 2 * MATCH_HEAD:  # a huge match: its head and tail
        middle = end - start - 2 * MATCH_HEAD
        shown = text[start : start + MATCH_HEAD] + _cut(middle) + text[end - MATCH_HEAD : end]
    else:
        shown = text[start:end]
    lo, hi = max(0, start - CONTEXT), min(len(text), end + CONTEXT)
    before = (_cut(lo) if lo else "") + text[lo:start]
    after = text[end:hi] + (_cut(len(text) - hi) if hi < len(text) else "")
    return before + shown + after


def confirm_message(
    tool: str,
    hosts: Sequence[str],
    label: str,
    command: str,
    what: str = "run this",
    span: tuple[int, int] | None = None,
) -> str:
    """What the human reads before answering: the whole subject when it is short, else
    the part that matched (``span``) with its context, the total length, and a marker
    wherever text is left out, so padding cannot push the dangerous part out of view.
    Controls and format characters other than newline and tab are shown as escapes, so
    ``\r``, terminal sequences or bidi overrides cannot repaint or reorder what is shown."""
    where = ", ".join(hosts[:10]) + (f" and {len(hosts) - 10} more" if len(hosts) > 10 else "")
    head = (
        f"An AI agent wants to {what} with {tool} on {where or 'a host'}. It matches the "
        f"deny pattern: {label}."
    )
    if len(command) <= SHOW_ALL:
        return f"{head}\n\n{escape_for_display(command)}\n\nAllow it?"
    start, end = span if span is not None else (0, 0)
    start, end = max(0, min(start, len(command))), max(0, min(end, len(command)))
    matched = command[start:end].strip()
    if len(matched) > 2 * MATCH_HEAD:
        matched = matched[:MATCH_HEAD] + _cut(len(matched) - 2 * MATCH_HEAD) + matched[-MATCH_HEAD:]
    shown = _excerpt(command, start, end) if end > start else _excerpt(command, 0, MATCH_HEAD)
    matched, shown = escape_for_display(matched), escape_for_display(shown)
    return (
        f"{head}\n\nThe matched part: {matched or '(the text as a whole)'}\n\n"
        f"It is {len(command)} characters long; only parts are shown:\n\n{shown}\n\nAllow it?"
    )
