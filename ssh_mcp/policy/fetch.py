"""What fetch-then-execute looks like in one simple command, for the deny rules
(:mod:`ssh_mcp.policy.deny`): the files a download saves, the programs that run text
they are given (shells, ``eval``, ``source``, interpreters), and which of them would
run a saved file or read their program from a pipe."""

from __future__ import annotations

import posixpath
import re
from collections.abc import Sequence


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


FETCHERS = frozenset(_words("curl wget fetch aria2c axel http https xh lwp-download"))
SHELLS = frozenset(_words("sh bash dash zsh ksh mksh ash csh tcsh fish busybox"))
INTERPRETERS = frozenset(_words("python python2 python3 perl ruby node nodejs php lua"))
#: What runs text it is given as code: a shell, an interpreter, a builtin that sources.
RUNS_TEXT = SHELLS | INTERPRETERS | {"eval", "source", "."}
#: An interpreter flag that gives it the program on the command line (or a module).
_PROGRAM_GIVEN = frozenset(_words("-c -m -e -E -r -n -p"))
_OUTPUT = re.compile(r"-[A-Za-z]*o|-[A-Za-z]*O|--output|--output-document")
_REMOTE_NAME = re.compile(r"-[A-Za-z]*O|--remote-name(?:-all)?")


def _base(word: str) -> str:
    return posixpath.basename(word.split("?", 1)[0].rstrip("/"))


def saved_files(words: Sequence[str], i: int) -> set[str]:
    """Base names of the files the download at ``words[i]`` saves (``-o F``, ``-O F``,
    ``--output=F``, ``> F``; curl ``-O`` and a plain wget save under the URL's name)."""
    saved: set[str] = set()
    curl = _base(words[i]) != "wget"
    remote, given = False, False
    rest = words[i + 1 :]
    for k, w in enumerate(rest):
        value = rest[k + 1] if k + 1 < len(rest) else ""
        if w.startswith(("--output=", "--output-document=")):
            saved.add(_base(w.split("=", 1)[1]))
            given = True
        elif w.lstrip("0123456789").startswith(">"):
            saved.add(_base(w.lstrip("0123456789>&") or value))
        elif curl and _REMOTE_NAME.fullmatch(w):
            remote = True
        elif _OUTPUT.fullmatch(w) and value:
            saved.add(_base(value))
            given = True
    urls = [_base(w) for w in rest if "://" in w]
    if remote or (not curl and not given):
        saved.update(u for u in urls if u)
    return saved


def runs_saved(words: Sequence[str], i: int, saved: set[str]) -> bool:
    """The command at ``words[i]`` runs one of ``saved``: a shell or interpreter with it as
    its script, or the file itself run by path (``./install.sh``)."""
    name = _base(words[i])
    if "/" in words[i] and name in saved:
        return True
    if name not in RUNS_TEXT:
        return False
    args = [w for w in words[i + 1 :] if not w.startswith("-")]
    return bool(args) and _base(args[0]) in saved


def reads_program(words: Sequence[str], i: int) -> bool:
    """``words[i]`` is a shell or an interpreter that takes its program from stdin."""
    name = _base(words[i])
    if name in SHELLS:
        return True
    if name not in INTERPRETERS:
        return False
    rest = words[i + 1 :]
    if any(w[:2] in _PROGRAM_GIVEN or w == "--eval" for w in rest if w.startswith("-")):
        return False
    args = [w for w in rest if not w.startswith("-") or w == "-"]
    return not args or args[0] == "-"
