"""Command allowlist: decide whether a shell command line may run on a host, and how.

The line is parsed by :mod:`ssh_mcp.policy.shparse` and accepted only when every
simple command starts with an allowlisted program. Choices worth knowing:

* What runs is rewritten: ``env -- `` goes before every program word, so each
  simple command runs as an external program with literal arguments. No builtin,
  function or alias is reached, so none of bash's builtins that evaluate data as
  code (``printf -v``, ``read``, ``test -v``, ``mapfile`` … with array subscripts)
  can run anything; a builtin-only name (``cd``) fails on the host.
* Quotes and backslashes are removed before comparing, as the shell does: ``l\\s``
  and ``'ls'`` name ``ls``. A program word with any expansion or ``=`` is refused.
* Keywords, wrappers (programs that run a program) and eval-like builtins are
  refused even if allowlisted; wrappers match on basename, case-insensitively.
* ``$(`` and backticks are refused even as quoted data or in here-documents.
* Files that redirections write are returned for the path policy; a target with an
  expansion, glob or tilde (but a leading ``~/``) and ``>&file`` are refused.
  Reads (``<``) are not path-confined, like the programs' own arguments, but must be
  literal and never bash's ``/dev/tcp/`` or ``/dev/udp/`` sockets.
* Cross-shell traps are refused (zsh braces and ``>!``, fish's ``>|``, dash's fds).
* Allowlisting a program that itself runs commands (find -exec, awk, python, git,
  vim, less) grants arbitrary execution; that is the operator's call.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from ssh_mcp.policy.shparse import Word, deny, parse, show, split_simple_commands

__all__ = ["CheckedCommand", "check_command", "rewrite", "split_simple_commands"]


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


_SHELLS = _words("sh bash rbash dash zsh ksh ksh93 mksh lksh oksh pdksh yash posh fish csh tcsh")
_SHELLS += _words("ash pwsh nu elvish xonsh")
# Programs and builtins that run, or evaluate as code, another command or string.
_WRAPPERS = frozenset(
    _SHELLS
    + _words("eval exec source . command builtin env xargs sudo su doas nohup timeout nice")
    + _words("ionice stdbuf setsid chroot unshare nsenter time watch flock busybox toybox")
    + _words("coproc noglob nocorrect - trap alias fc enable emulate zmodload autoload let")
    + _words("declare typeset local readonly export pkexec runuser setpriv systemd-run")
    + _words("taskset chrt prlimit")
)
# Reserved words of sh, bash, zsh and fish open compound syntax whose inner commands
# this parser would misread, so they are refused even if allowlisted.
_KEYWORDS = frozenset(
    _words("if then else elif fi for while until case esac do done function select in")
    + _words("! [[ ]] { } repeat foreach begin end and or not switch")
)
_ASSIGNMENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\+?=")


def _check_program(word: Word, allowed: Sequence[str], source: str) -> None:
    name = word.value
    if name in _KEYWORDS:
        raise deny(f"shell keyword {show(name)} is not allowed")
    if _ASSIGNMENT.match(name):
        raise deny(f"variable assignment {show(name)} before a program is not allowed")
    if not word.literal:
        raise deny(f"program word {show(name)} is not a literal name", "spell it out plainly")
    if "=" in name:  # env would read it as an assignment, not as the program
        raise deny(f"program word {show(name)} contains '='", "rename the program")
    if name.rsplit("/", 1)[-1].casefold() in _WRAPPERS:
        raise deny(f"program {show(name)} runs other commands and is never allowed")
    if name not in allowed:
        listing = ", ".join(allowed[:12]) + (", ..." if len(allowed) > 12 else "")
        raise deny(
            f"program {show(name)} is not in the command allowlist ({listing}), which is {source}",
            "use a listed program, or have the operator add it there",
        )


#: Redirections that write their target (``<>`` opens it for reading and writing).
_WRITES = frozenset(_words("> >> &> &>> <>"))
#: Paths bash opens as TCP/UDP connections instead of files; a read there, with ``>&0``,
#: sends data out. An expansion could spell one (``$_``), so read sources are literal too.
_SOCKETS = ("/dev/tcp/", "/dev/udp/")


def _write_target(op: str, word: Word) -> str | None:
    """The file a redirection writes (absolute, ``~/…`` or relative to the working
    directory, as written), or None when it writes no file."""
    if op in ("<&", ">&"):  # fd duplication or closing; a file word would be a write
        if word.literal and (word.value == "-" or (len(word.value) == 1 and word.value.isdigit())):
            return None
        raise deny(
            f"redirection '{op}' to {show(word.value)} is not fd duplication",
            "use an fd number (2>&1, >&2, >&-) or '>file 2>&1'",
        )
    if op not in _WRITES | {"<"}:  # here-documents and here-strings are data
        return None
    if word.value.startswith(_SOCKETS):
        raise deny(f"redirection to {show(word.value)} opens a network socket (bash)")
    if op == "<":  # a read opens no file for writing, but must not be a socket in disguise
        if not (word.literal or word.home):
            raise deny(
                f"redirection source {show(word.value)} has an expansion or glob",
                "write the file's path literally",
            )
        return None
    if word.home:
        return word.value
    if not word.literal or not word.value:
        raise deny(
            f"redirection target {show(word.value)} has an expansion, glob or tilde",
            "write the file's path literally (a leading ~/ is fine)",
        )
    if word.value == "/dev/null":
        return None
    return "./" + word.value if word.value.startswith("~") else word.value  # a quoted "~"


@dataclass(frozen=True)
class CheckedCommand:
    """What an allowlisted command line becomes, for dispatch to act on."""

    #: The text to run: ``env -- `` inserted before every simple command's program word,
    #: so the shell runs it as an external program and never a builtin, function or alias.
    run: str
    #: Files that redirections write, as written: absolute, ``~/…`` or relative.
    writes: tuple[str, ...]


def rewrite(command: str) -> str:
    """``command`` with ``env -- `` before every program word, whatever the programs are
    (what :func:`check_command` returns for an allowed command, minus the allowlist)."""
    return _rewrite(command, parse(command)[0])


def _rewrite(command: str, commands: Sequence[Sequence[Word]]) -> str:
    out, last = [], 0
    for words in commands:  # in text order; quoting, here-doc bodies and the rest stay as sent
        at = words[0].start
        out += [command[last:at], "env -- "]
        last = at
    out.append(command[last:])
    return "".join(out)


def check_command(
    command: str,
    allowlist: Sequence[str],
    allow_any: bool,
    source: str = "SSH_COMMAND_ALLOWLIST",
) -> CheckedCommand | None:
    """Raise CommandNotAllowed(one-line reason + what to do) unless the command may run.

    An empty command is always refused. With no non-blank allowlist entry the
    command runs, unparsed and as sent (None), only if ``allow_any``. Otherwise the
    line must parse with certainty and every simple command must start with a
    program equal to an entry (``ls`` or ``/usr/bin/ls``); what to run and the
    files it writes are returned; a refusal names ``source``, where the list is set.
    See the module docstring for the details.
    """
    if not command.strip():
        raise deny("the command is empty", "send the shell command to run")
    allowed = [entry for entry in allowlist if entry.strip()]
    if not allowed:
        if allow_any:
            return None
        raise deny(
            "no command allowlist is configured",
            "set SSH_COMMAND_ALLOWLIST (or the host's command_allowlist) or ALLOW_ANY_COMMAND=true",
        )
    commands, redirections = parse(command)
    if not commands:
        raise deny("the command has no program to run", "start it with an allowed program")
    for words in commands:
        _check_program(words[0], allowed, source)
    writes = (_write_target(op, target) for op, target in redirections)
    return CheckedCommand(_rewrite(command, commands), tuple(w for w in writes if w is not None))
