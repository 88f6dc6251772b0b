"""The default deny rules: which commands a human must confirm before they run.

A command is normalized (quotes and backslashes dropped, continuations joined,
blanks collapsed, absolute paths normalized so ``/usr//``, ``/./etc`` and
``/var/../etc`` read as what they are), cut into simple commands and pipelines,
and each simple command is split into words. Its command word is found in
plain Python, past leading assignments and redirections and past programs that
run their arguments as a command (``sudo -u root``, ``timeout 9``, ``sh -c``,
``env X=1``): every word that might be the wrapped command is tried. Rules are
then checked against that word and facts gathered once per command (is there a
recursive flag, a system path, ``of=/dev/…``). Everything is a single pass per
command, so no input, however crafted, makes matching slow; regexes over the
whole command (an earlier design) could backtrack for seconds or worse.

It is a tripwire for confirmation, not a parser: the command allowlist
(:mod:`ssh_mcp.policy.commands`) is what refuses. A false positive costs a
click; the rules lean that way.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


#: Programs that run their arguments (or a later one) as a command.
WRAPPERS = frozenset(
    _words("sudo doas exec xargs nohup env nice ionice time timeout busybox setsid stdbuf")
    + _words("chroot sh bash dash zsh ksh mksh ash su command eval builtin runuser nsenter")
    + _words("flock watch pkexec systemd-run unshare script coproc strace ltrace")
)
_OPTION = re.compile(r"-\S*|\d+[smhd]?|\w+=\S*")
_ASSIGN = re.compile(r"[A-Za-z_]\w*=\S*")
_REDIR = re.compile(r"\d*(?:>>?|<<?|&>>?|>&|<&)\S*")
_BARE_REDIR = re.compile(r"\d*(?:>>?|<<?|&>>?|>&|<&)")
_TOP = _words("bin boot dev etc home lib lib32 lib64 libx32 opt proc root sbin srv sys usr var")
_SYSTEM = {"/", "/*", "~", "~/", "$HOME", "$HOME/"} | {f"/{t}" for t in _TOP}
_SYSTEM |= {f"/{t}/*" for t in _TOP}
_RECURSIVE = re.compile(r"-[a-zA-Z]*[rR][a-zA-Z]*|--recursive")
_RECURSIVE_UPPER = re.compile(r"-[a-zA-Z]*R[a-zA-Z]*|--recursive")
_SSH_DIR = re.compile(r"(?:~|\$HOME)/\.ssh(?:/.*)?")
_DISK = re.compile(r"/dev/(?:sd|hd|vd|xvd|nvme|mmcblk|md|dm-|mapper/)")
_SHELLS = frozenset(["sh", "bash", "dash", "zsh", "ksh", "mksh", "ash", "csh", "tcsh", "fish"])
_GRAVE = re.compile(r"/etc/(?:passwd|shadow|gshadow|group|sudoers)\b")
_AUTHORIZED_KEYS = re.compile(r"authorized_keys")

# Where a simple command ends (pipes are kept apart, to see what feeds a shell).
_SEPARATOR = re.compile(r"[;&\n(){}`!]|(?<!\S)(?:then|do|else|elif|if|while|until)(?!\S)")
_QUOTES = re.compile(r"[\"'\\]")
_PATH = re.compile(r"(?<![^\s=])/\S*")


def _path(match: re.Match[str]) -> str:
    raw = match.group(0)
    star = raw.endswith("/*")
    norm = posixpath.normpath(raw[:-1] if star else raw)
    norm = "/" + norm.lstrip("/")  # normpath keeps a leading "//"
    return (norm.rstrip("/") + "/*") if star else norm


def normalize(command: str) -> str:
    """The form rules see: continuations joined, quotes and backslashes dropped, blanks
    collapsed (newlines kept), absolute paths normalized, ``${HOME}`` as ``$HOME``."""
    text = command.replace("\\\n", "")
    text = _QUOTES.sub("", text).replace("${HOME}", "$HOME")
    lines = (_PATH.sub(_path, " ".join(line.split())) for line in text.splitlines())
    return "\n".join(line for line in lines if line)


def pipelines(text: str) -> Iterator[list[list[str]]]:
    """Each pipeline of a normalized text, as its simple commands' words."""
    for part in _SEPARATOR.split(text):
        stages = [stage.split() for stage in part.split("|")]
        yield [words for words in stages if words]


def command_words(words: Sequence[str]) -> list[int]:
    """Indexes of the words that may be the command: past assignments and redirections,
    and past wrappers, where each word after an option may be its value or the command."""
    starts: list[int] = []
    i, n = 0, len(words)
    while i < n:
        while i < n and (_ASSIGN.fullmatch(words[i]) or _REDIR.fullmatch(words[i])):
            i += 2 if _BARE_REDIR.fullmatch(words[i]) else 1
        if i >= n:
            break
        starts.append(i)
        if _name(words[i]) not in WRAPPERS:
            break
        i += 1
        after_option = positional = False
        while i < n:
            if _OPTION.fullmatch(words[i]):
                after_option, i = True, i + 1
            elif _name(words[i]) in WRAPPERS:
                break  # another wrapper: the outer loop takes it
            elif after_option or not positional:
                # An option's value, or a wrapper's own argument (flock's lock file, su's
                # user, chroot's directory), or the command itself: try it, then read on.
                starts.append(i)
                positional = positional or not after_option
                after_option, i = False, i + 1
            else:
                break
    return starts


def _name(word: str) -> str:
    return word.rsplit("/", 1)[-1]


@dataclass(frozen=True)
class Facts:
    """What one simple command holds, gathered in one pass over its words, so that each
    rule is O(1) however many words might be the command."""

    recursive: bool
    recursive_upper: bool
    system_path: bool
    ssh_dir: bool
    disk: bool
    flags: frozenset[str]  # every word, for membership tests (-1, -F, --no-preserve-root…)
    of_dev: bool
    crontab_r: bool

    @classmethod
    def of(cls, words: Sequence[str]) -> Facts:
        return cls(
            recursive=any(_RECURSIVE.fullmatch(w) for w in words),
            recursive_upper=any(_RECURSIVE_UPPER.fullmatch(w) for w in words),
            system_path=any(w in _SYSTEM for w in words),
            ssh_dir=any(_SSH_DIR.fullmatch(w) for w in words),
            disk=any(_DISK.match(w) for w in words),
            flags=frozenset(words),
            of_dev=any(w.startswith("of=/dev/") for w in words),
            crontab_r=any(_CRONTAB_R.fullmatch(w) for w in words),
        )


_CRONTAB_R = re.compile(r"-\w*r\w*")
_SYSTEMCTL = frozenset({"reboot", "poweroff", "halt", "kexec", "emergency", "rescue"})
#: (command name, the word after it, facts of the simple command) -> matches
Rule = Callable[[str, str, Facts], bool]


def _named(*names: str) -> Rule:
    dotted = tuple(n + "." for n in names)
    return lambda name, first, f: name in names or name.startswith(dotted)


#: (label, rule), tried on every word that may be the command of a simple command.
RULES: tuple[tuple[str, Rule], ...] = (
    (
        "recursive rm of / or a system directory",
        lambda n, a, f: n == "rm" and f.recursive and f.system_path,
    ),
    ("recursive rm of ~/.ssh", lambda n, a, f: n == "rm" and f.recursive and f.ssh_dir),
    ("rm --no-preserve-root", lambda n, a, f: n == "rm" and "--no-preserve-root" in f.flags),
    ("mkfs (format a filesystem)", _named("mkfs")),
    ("wipefs / shred", _named("wipefs", "shred")),
    ("dd writing to a device", lambda n, a, f: n == "dd" and f.of_dev),
    ("copy onto a disk device", lambda n, a, f: n in ("cp", "mv", "tee", "install") and f.disk),
    ("shutdown / reboot / halt / poweroff", _named("shutdown", "reboot", "halt", "poweroff")),
    ("init 0 / init 6", lambda n, a, f: n in ("init", "telinit") and a in ("0", "6")),
    (
        "systemctl reboot / poweroff / halt",
        lambda n, a, f: n == "systemctl" and not _SYSTEMCTL.isdisjoint(f.flags),
    ),
    (
        "recursive chmod / chown of / or a system directory",
        lambda n, a, f: n in ("chmod", "chown", "chgrp") and f.recursive_upper and f.system_path,
    ),
    ("find / … -delete", lambda n, a, f: n == "find" and a == "/" and "-delete" in f.flags),
    (
        "firewall flush",
        lambda n, a, f: (
            (n in ("iptables", "ip6tables") and not f.flags.isdisjoint({"-F", "--flush"}))
            or (n == "nft" and a == "flush")
        ),
    ),
    ("kill every process", lambda n, a, f: (n == "kill" and "-1" in f.flags) or n == "killall5"),
    ("crontab -r (remove all cron jobs)", lambda n, a, f: n == "crontab" and f.crontab_r),
    ("delete a user", _named("userdel", "deluser")),
)
#: (label, regex) searched in the whole normalized text: shapes that span commands, each
#: scanning linearly.
TEXT_PATTERNS: tuple[tuple[str, str], ...] = (
    ("redirect onto a disk device", r">\s*/dev/(?:sd|hd|vd|xvd|nvme|mmcblk|md|dm-|mapper/)"),
    ("fork bomb", r":\s*\(\s*\)\s*\{"),
    ("sysrq trigger", r"/proc/sysrq-trigger(?![\w-])"),
)
_TEXTS = tuple((label, re.compile(rx, re.MULTILINE)) for label, rx in TEXT_PATTERNS)


def _writes(words: Sequence[str], names: Sequence[str], target: re.Pattern[str]) -> bool:
    """The command writes a file matching ``target``: as a redirection's target, or as
    what a writing program writes (cp/mv/ln/install: the last word; tee, sed -i, chmod:
    any argument; dd: ``of=``)."""
    for k, w in enumerate(words):
        if ">" in w:
            dest = words[k + 1] if _BARE_REDIR.fullmatch(w) and k + 1 < len(words) else w
            if target.search(dest):
                return True
    if any(n in ("cp", "mv", "ln", "install") for n in names) and target.search(words[-1]):
        return True
    if any(n in ("tee", "chmod") for n in names) or (
        "sed" in names and any(w.startswith("-i") for w in words)
    ):
        return any(target.search(w) for w in words)
    return "dd" in names and any(w.startswith("of=") and target.search(w) for w in words)


def match_command(text: str) -> str | None:
    """The label of the first default rule the normalized ``text`` matches, or None."""
    for stages in pipelines(text):
        downloading = False  # an earlier stage of this pipeline downloads
        for words in stages:
            facts = Facts.of(words)
            starts = command_words(words)
            names = [_name(words[i]) for i in starts]
            for i, name in zip(starts, names, strict=True):
                first = words[i + 1] if i + 1 < len(words) else ""
                for label, rule in RULES:
                    if rule(name, first, facts):
                        return label
            if _writes(words, names, _AUTHORIZED_KEYS):
                return "write to authorized_keys"
            if _writes(words, names, _GRAVE):
                return "write to passwd / shadow / sudoers"
            if downloading and any(n in _SHELLS for n in names):
                return "download piped into a shell"
            downloading = downloading or any(n in ("curl", "wget", "fetch") for n in names)
    for label, rx in _TEXTS:
        if rx.search(text):
            return label
    return None
