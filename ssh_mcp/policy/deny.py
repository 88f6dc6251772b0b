"""The default deny rules: which commands a human must confirm before they run.

A command is cut into simple commands where a shell could end one (``;``, ``&``,
``|``, newlines, parentheses, braces, backticks, ``!`` and the compound keywords;
an escaped character or a line continuation never cuts), keeping each one's place
in the text so the confirmation prompt can show it. Each is normalized (quotes and
backslashes dropped, blanks collapsed, absolute paths normalized so ``/usr//``,
``/./etc`` and ``/var/../etc`` read as what they are) and split into words. Its
command word is found in plain Python, past leading assignments and redirections
and past programs that run their arguments as a command (``sudo -u root``,
``timeout 9``, ``sh -c``, ``env X=1``, ``xargs``): every word that might be the
wrapped command is tried. Rules are checked against that word and facts gathered
once per command (is there a recursive flag, a wide target such as ``/``, ``~/*``
or ``*`` after ``cd /``, ``of=/dev/…``), and a little state is carried between
commands: the directory ``cd`` entered, a download earlier in a pipeline, a
download inside ``$(…)``, backticks or ``<(…)`` with a shell in the same command.
Everything is a single pass, so no input, however crafted, makes matching slow;
regexes over the whole command (an earlier design) could backtrack for seconds.

It is a tripwire for confirmation, not a parser: the command allowlist
(:mod:`ssh_mcp.policy.commands`) is what refuses. A false positive costs a
click; the rules lean that way.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import NamedTuple

from ssh_mcp.policy.fetch import FETCHERS, RUNS_TEXT, reads_program, runs_saved, saved_files


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


#: Programs that run their arguments (or a later one) as a command.
WRAPPERS = frozenset(
    _words("sudo doas exec xargs nohup env nice ionice time timeout busybox setsid stdbuf")
    + _words("chroot sh bash dash zsh ksh mksh ash su command eval builtin runuser nsenter")
    + _words("flock watch pkexec systemd-run unshare script coproc strace ltrace parallel")
)
_OPTION = re.compile(r"-\S*|\d+[smhd]?|\w+=\S*")
_ASSIGN = re.compile(r"[A-Za-z_]\w*=\S*")
_REDIR = re.compile(r"\d*(?:>>?|<<?|&>>?|>&|<&)\S*")
_BARE_REDIR = re.compile(r"\d*(?:>>?|<<?|&>>?|>&|<&)")
_TOP = _words("bin boot dev etc home lib lib32 lib64 libx32 opt proc root sbin srv sys usr var")
_SYSTEM = frozenset({"", "/", "~", "$HOME"} | {f"/{t}" for t in _TOP})
#: Words that name the current directory or all in it: wide after ``cd /``.
_HERE = frozenset(_words("* .* ./* ./.* . ./ .."))
_WIDE_SUFFIXES = ("/*", "/.*", "/.", "/")
_GLOB = re.compile(r"[*?\[]")
_RECURSIVE = re.compile(r"-[a-zA-Z]*[rR][a-zA-Z]*|--recursive")
_RECURSIVE_UPPER = re.compile(r"-[a-zA-Z]*R[a-zA-Z]*|--recursive")
_SSH_DIR = re.compile(r"(?:~|\$HOME)/\.ssh(?:/.*)?")
_DISK = re.compile(r"/dev/(?:sd|hd|vd|xvd|nvme|mmcblk|md|dm-|mapper/)")

_GRAVE = re.compile(r"/etc/(?:passwd|shadow|gshadow|group|sudoers)\b")
_AUTHORIZED_KEYS = re.compile(r"authorized_keys")

# Where a simple command may end; an escaped character or ${NAME} (group 1) does not.
_CUT = re.compile(
    r"(\\[\s\S]|\$\{[\w#%:?=+@*.~/-]*\})"
    r"|[;&\n(){}`|]|(?<!\S)(?:!|then|do|else|elif|if|while|until)(?!\S)"
)
_QUOTES = re.compile(r"[\"'\\]")
#: ``${HOME}``, ``${HOME:?}``, ``${HOME-x}``, ``${HOME%/}``: still the home.
_HOME_BRACED = re.compile(r"\$\{HOME(?::?[-?=][^}]*|%+/*)?\}")
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
    text = _HOME_BRACED.sub("$HOME", _QUOTES.sub("", text))
    lines = (_PATH.sub(_path, " ".join(line.split())) for line in text.splitlines())
    return "\n".join(line for line in lines if line)


@dataclass(frozen=True)
class Segment:
    """One simple command: its place in the original text, its normalized words, and the
    text that ended it (``|`` keeps a pipeline going; ``(`` after ``$`` or ``<`` and a
    backtick open a substitution)."""

    start: int
    end: int
    words: list[str]
    cut: str


def segments(command: str) -> Iterator[Segment]:
    """The simple commands of ``command``, in order, each cut where a shell could end it."""
    last = 0
    for m in _CUT.finditer(command):
        if m.group(1) is None:
            yield Segment(last, m.start(), normalize(command[last : m.start()]).split(), m[0])
            last = m.end()
    yield Segment(last, len(command), normalize(command[last:]).split(), "")


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


def _wide(word: str) -> bool:
    """``/``, a top-level system directory or a home, or everything in one (``/*``,
    ``~/*``, ``$HOME/.*``, ``~user``)."""
    while len(word) > 1 and word.endswith(_WIDE_SUFFIXES):
        word = word[: -len(next(x for x in _WIDE_SUFFIXES if word.endswith(x)))]
    head, sep, last = word.rpartition("/")
    if sep and _GLOB.search(last):  # /e*, ~/.[!.]*: a glob over a wide place
        word = head
    return word in _SYSTEM or (word.startswith("~") and "/" not in word)


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
    def of(cls, words: Sequence[str], here_wide: bool = False) -> Facts:
        return cls(
            recursive=any(_RECURSIVE.fullmatch(w) for w in words),
            recursive_upper=any(_RECURSIVE_UPPER.fullmatch(w) for w in words),
            system_path=any(_wide(w) or (here_wide and w in _HERE) for w in words),
            ssh_dir=any(_SSH_DIR.fullmatch(w) for w in words),
            disk=any(_DISK.match(w) for w in words),
            flags=frozenset(words),
            of_dev=any(w.startswith("of=/dev/") for w in words),
            crontab_r=any(_CRONTAB_R.fullmatch(w) for w in words),
        )


_CRONTAB_R = re.compile(r"-\w*r\w*")
_PARTITIONERS = frozenset(_words("fdisk sfdisk cfdisk gdisk sgdisk cgdisk parted"))
_LISTING = frozenset(_words("-l --list -d --dump -J --json -s --show-size -p --print print"))
_FIND_RUNS = frozenset(_words("-exec -execdir -ok -okdir"))
_FIND_DELETERS = frozenset(_words("rm shred unlink rmdir"))
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
    ("mkfs (format a filesystem)", _named("mkfs", "mke2fs", "mkdosfs", "mkntfs", "mkswap")),
    (
        "wipe or partition a disk (wipefs, blkdiscard, shred, fdisk, parted …)",
        lambda n, a, f: (
            n in ("wipefs", "shred", "blkdiscard")
            or (n in _PARTITIONERS and f.flags.isdisjoint(_LISTING))
        ),
    ),
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


def _find_deletes(words: Sequence[str], i: int, here_wide: bool) -> bool:
    """``find`` at ``words[i]`` starts at a wide place and deletes what it finds."""
    k, n = i + 1, len(words)
    while k < n and words[k] in ("-H", "-L", "-P"):
        k += 1
    roots: list[str] = []
    while k < n and len(roots) < 64 and not words[k].startswith(("-", "!", ",")):
        roots.append(words[k])
        k += 1
    if not any(_wide(r) or (here_wide and r in _HERE) for r in roots or ["."]):
        return False
    rest = words[k:]
    if "-delete" in rest:
        return True
    return not _FIND_RUNS.isdisjoint(rest) and any(_name(w) in _FIND_DELETERS for w in rest)


def _entered(words: Sequence[str], starts: Sequence[int], here_wide: bool) -> bool:
    """Whether the current directory is wide after this command (``cd /``, ``cd ~``)."""
    i = starts[-1] if starts else -1
    if i < 0 or _name(words[i]) not in ("cd", "pushd"):
        return here_wide
    args = [w for w in words[i + 1 :] if not w.startswith("-")] or ["~"]
    return _wide(args[0]) or (here_wide and args[0] in _HERE)


def _rule(words: list[str], starts: list[int], names: list[str], here_wide: bool) -> str | None:
    """The label of the first per-command rule ``words`` matches."""
    facts = Facts.of(words, here_wide)
    for i, name in zip(starts, names, strict=True):
        first = words[i + 1] if i + 1 < len(words) else ""
        for label, rule in RULES:
            if rule(name, first, facts):
                return label
        if name == "find" and _find_deletes(words, i, here_wide):
            return "find over / or a system directory that deletes (-delete, -exec rm)"
        if name == "rm" and facts.recursive and "xargs" in names:
            return "xargs rm -r (deletes whatever its input names)"
    if _writes(words, names, _AUTHORIZED_KEYS):
        return "write to authorized_keys"
    if _writes(words, names, _GRAVE):
        return "write to passwd / shadow / sudoers"
    return None


class DenyMatch(NamedTuple):
    """A rule's label and where in the command, as sent, the simple command it matched is."""

    label: str
    start: int
    end: int


def match_command(command: str, cwd: str | None = None) -> DenyMatch | None:
    """The first default rule ``command`` (as sent) matches, or None; ``cwd`` is the
    directory it starts in, when the call names one."""
    here_wide = cwd is not None and _wide(normalize(cwd))
    download = fetch = runner = -1  # where a download in this pipeline, a download in a
    opens = False  # substitution, a shell or eval/source start; the segment opens one
    saved: set[str] = set()  # files an earlier download saved (from saved_at); running one
    saved_at = 0  # is a match
    for seg in segments(command):
        words = seg.words
        if words:
            starts = command_words(words)
            names = [_name(words[i]) for i in starts]
            if (label := _rule(words, starts, names, here_wide)) is not None:
                return DenyMatch(label, seg.start, seg.end)
            if download >= 0 and any(reads_program(words, i) for i in starts):
                return DenyMatch("download piped into a shell", download, seg.end)
            if saved and any(runs_saved(words, i, saved) for i in starts):
                label = "download saved, then run (fetch-then-execute)"
                return DenyMatch(label, saved_at, seg.end)
            fetchers = [i for i in starts if _name(words[i]) in FETCHERS]
            saved_at = seg.start if fetchers and not saved else saved_at
            for i in fetchers:
                saved |= saved_files(words, i)
            if download >= 0 and "tee" in names:  # curl … | tee f: f is the download too
                saved.update(_name(w) for w in words[starts[names.index("tee")] + 1 :])
            if fetchers and download < 0:
                download = seg.start
            if fetchers and opens and fetch < 0:
                fetch = seg.start
            if runner < 0 and not RUNS_TEXT.isdisjoint(names):
                runner = seg.start
            if fetch >= 0 and runner >= 0:
                label = "download run by a shell (fetch-then-execute)"
                return DenyMatch(label, min(fetch, runner), seg.end)
            here_wide = _entered(words, starts, here_wide)
        if seg.cut != "|":
            download = -1
        opens = seg.cut == "`" or (seg.cut == "(" and command[seg.end - 1 : seg.end] in ("$", "<"))
    text = normalize(command)
    for label, rx in _TEXTS:
        if rx.search(text):
            raw = rx.search(command)
            return (
                DenyMatch(label, raw.start(), raw.end())
                if raw
                else DenyMatch(label, 0, len(command))
            )
    return None
