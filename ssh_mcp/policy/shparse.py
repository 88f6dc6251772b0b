"""Shell parsing for the command allowlist: cut a command line into simple commands.

The host's login shell parses the command, so this module re-parses it as the
POSIX-family shells (sh, dash, bash, ksh, mksh, zsh) do. The tokenizer knows just
enough grammar to find command words with certainty: quotes, backslashes, plain
parameter expansions, redirections, here-documents, comments, list and pipeline
operators. Anything else, including constructs these shells read differently, is
refused rather than guessed at; :mod:`ssh_mcp.policy.commands` has the policy.
Every word keeps its offset in the text, so the policy can rewrite the command
around it without touching anything else. Choices worth knowing:

* ``$(`` and backticks are refused even as quoted data or in here-documents, and
  so are ``${a[i]}``, ``${x:1}``, ``${!x}``, ``$'…'`` and arithmetic expansion.
* Cross-shell traps are refused: unquoted ``{``/``}`` (zsh syntax), ``>|`` (a fish
  pipe), targets starting with ``!`` (zsh ``>!``), redirection-only commands (zsh
  runs ``$NULLCMD``), fds above 9 (dash), words after an ``&>`` target (dash).
  fish is best effort: it reads backslash escapes in words differently.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from itertools import chain

from ssh_mcp.errors import CommandNotAllowed


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


_SEPARATORS = frozenset(_words("; & && || | |&")) | {"\n"}
_JOINERS = frozenset(_words("&& || | |&"))  # a command must follow these
# Longest first, so that "<" is tried only after "<<<", "<<-", "<<", "<>" and "<&".
_OPERATORS = _words("<<< <<- << <> <& < >> >| >& > &>> &> && & ||  |& | ;")
_META = frozenset(" \t\n;&|()<>")
_GLOB = frozenset("*?[]")
_BAD_CATEGORIES = frozenset(_words("Cc Cf Cs Zl Zp"))
_ASSIGNMENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\+?=")
_PARAM = re.compile(r"[A-Za-z_][A-Za-z0-9_]*|[0-9@*#?$!-]")
# Braced expansions accepted: ${NAME}, ${#NAME}, ${NAME:-word} and the other
# :- - :+ + :? ? forms, ${NAME#pat} and ${NAME%pat}. The word has no quotes, $,
# braces or blanks, so the first "}" really closes it; ${x:1}, ${!x}, ${x@P},
# ${a[i]} and zsh's ${(f)x} are refused.
_BRACED = re.compile(
    r"#?(?:[A-Za-z_][A-Za-z0-9_]*|[0-9]+|[@*#?$!-])(?:(?::?[-+?]|##?|%%?)[\w./,:%+*?@=^~-]*)?",
    re.ASCII,
)


_SPLIT = "run each program as a separate plain command"


def show(text: str) -> str:
    """Quote ``text`` for a one-line message, escaping control and non-ASCII characters."""
    shown = text.encode("unicode_escape").decode("ascii")
    return f"'{shown[:57]}...'" if len(shown) > 60 else f"'{shown}'"


def deny(reason: str, todo: str = _SPLIT) -> CommandNotAllowed:
    return CommandNotAllowed(f"command not allowed: {reason}; {todo}")


def _scan_dollar(s: str, i: int) -> int:
    """Return the index past the expansion at ``s[i] == "$"``; refuse substitutions."""
    nxt = s[i + 1 : i + 2]
    if nxt == "(" and s.startswith("((", i + 1):
        raise deny("arithmetic expansion $((...)) is not allowed")
    if nxt == "(":
        raise deny("command substitution $(...) is not allowed")
    if nxt == "[":
        raise deny("arithmetic expansion $[...] is not allowed")
    if nxt == "{":
        end = s.find("}", i + 2)
        if end < 0 or not _BRACED.fullmatch(s, i + 2, end):
            shown = show(s[i : end + 1] if end >= 0 else s[i:])
            raise deny(f"parameter expansion {shown} is not allowed", "use $NAME or ${NAME}")
        return end + 1
    match = _PARAM.match(s, i + 1)
    return match.end() if match else i + 1  # a "$" that starts nothing is literal


def _check_data(text: str) -> None:
    if "$(" in text or "`" in text:
        raise deny("'$(' or a backtick appears, even as quoted data", "match them as [$]( or [`]")


@dataclass(frozen=True)
class Word:
    value: str  # after quote and backslash removal; expansions kept as written
    literal: bool  # no expansion, glob, leading ~ or = can change it
    quoted: bool  # a quote or backslash appeared (a quoted here-doc delimiter)
    fd: bool  # digits written right before a < or >: an fd, not a word
    start: int = 0  # offset of the word's first character in the command text
    home: bool = False  # starts with an unquoted "~/" and is otherwise literal


class _Lexer:
    """Cut a command line into words and operators, consuming here-document bodies."""

    def __init__(self, text: str) -> None:
        self.s, self.i = text, 0
        self.heredocs: list[tuple[str, bool, bool, int]] = []  # delim, quoted, -, where

    def token(self) -> Word | str | None:
        """Return the next word, the next operator, or None at the end."""
        s = self.s
        while self.i < len(s):
            c = s[self.i]
            if c in " \t":
                self.i += 1
            elif s.startswith("\\\n", self.i):
                self.i += 2
            elif c == "#":  # only reached at a word start: a comment to end of line
                end = s.find("\n", self.i)
                self.i = len(s) if end < 0 else end
            elif c == "\n":
                self._read_heredocs()
                return "\n"
            else:
                return self._operator() if c in _META else self._word()
        return None

    def _operator(self) -> str:
        s, i = self.s, self.i
        if s[i] in "<>" and s.startswith("(", i + 1):
            raise deny(f"process substitution {s[i]}(...) is not allowed")
        if s[i] in "()":
            raise deny(f"subshells and grouping with '{s[i]}' are not allowed")
        if s.startswith((";;", ";&"), i):
            raise deny("case terminators ';;' and ';&' are not allowed")
        if s.startswith(">|", i):  # the clobbering ">|" of sh is a pipe in fish
            raise deny("'>|' is not allowed", "use '>'")
        op = next((op for op in _OPERATORS if s.startswith(op, i)), "")
        if not op:  # unreachable while _META and _OPERATORS agree; fail closed anyway
            raise deny(f"operator {show(s[i])} is not understood")
        self.i = j = i + len(op)
        if op in ("<&", ">&"):
            # bash reads a "-" after these as a token of its own, so ">&-x" is
            # ">&-" then the word "x" there, but one target word in other shells.
            while s.startswith(("\\\n", " ", "\t"), j):
                j += 2 if s[j] == "\\" else 1
            if s.startswith("-", j) and s[j + 1 : j + 2] not in _META | {""}:
                raise deny(f"'{op}-' must be followed by a blank", "add one")
        return op

    def _word(self) -> Word:
        s, start = self.s, self.i
        out: list[str] = []
        literal, quoted, i = True, False, start
        home = s.startswith("~/", start)  # "~/" is the one tilde form a target may use
        while i < len(s) and s[i] not in _META:
            c = s[i]
            if c == "\\":
                if i + 1 >= len(s):
                    raise deny("the command ends with a backslash", "remove it")
                if s[i + 1] != "\n":  # else a line continuation: removed, joins the word
                    out.append(s[i + 1])
                    quoted = True
                i += 2
            elif c == "'":
                end = s.find("'", i + 1)
                if end < 0:
                    raise deny("a single quote is not terminated", "close it")
                text = s[i + 1 : end]
                # fish reads \' inside single quotes as an escaped quote, so there a
                # string ending in an odd run of backslashes closes somewhere else.
                if (len(text) - len(text.rstrip("\\"))) % 2:
                    raise deny("a single-quoted string ends with a backslash", "drop it")
                out.append(text)
                quoted, i = True, end + 1
            elif c == '"':
                i, expanded = self._double_quoted(i + 1, out)
                literal, quoted = literal and not expanded, True
            elif c == "`":
                raise deny("command substitution with backticks is not allowed")
            elif s.startswith(("$'", '$"'), i):  # bash-only quoting that decodes escapes
                raise deny("$'...' and $\"...\" quoting are not allowed", "use plain quotes")
            elif c == "$":
                end = _scan_dollar(s, i)
                out.append(s[i:end])
                literal, i = False, end
            elif c in "{}":  # zsh reads an unquoted "}" as syntax nearly anywhere
                raise deny("unquoted braces are not allowed", "quote them, e.g. '{}'")
            else:
                if c in _GLOB or (i == start and c in "~=" and not home):  # globs, ~, =cmd
                    literal = False
                out.append(c)
                i += 1
        self.i, value = i, "".join(out)
        fd = s[start:i].isascii() and s[start:i].isdigit() and s.startswith(("<", ">"), i)
        if fd and i - start > 1:  # bash reads "12>" as fd 12, dash as the word "12"
            raise deny(f"file descriptor {value} has more than one digit", "use fds 0-9")
        return Word(value, literal and not home, quoted, fd, start, home and literal)

    def _double_quoted(self, i: int, out: list[str]) -> tuple[int, bool]:
        """Read a double-quoted string from ``i``; return its end and if it expands."""
        s, expanded = self.s, False
        while i < len(s):
            c = s[i]
            if c == '"':
                return i + 1, expanded
            if c == "`":
                raise deny("command substitution with backticks is not allowed")
            if c == "\\" and s[i + 1 : i + 2] in ("$", "`", '"', "\\", "\n"):
                out.append(s[i + 1] if s[i + 1] != "\n" else "")  # backslash-newline: removed
                i += 2
            elif c == "$":
                end = _scan_dollar(s, i)
                out.append(s[i:end])
                expanded, i = True, end
            else:
                out.append(c)
                i += 1
        raise deny("a double quote is not terminated", "close it")

    def _read_heredocs(self) -> None:
        """Consume the bodies of the here-documents opened on the line ending at ``i``."""
        s = self.s
        # Shells disagree on where a body starts when the line that opens it goes on
        # past a quoted or escaped newline, so such a line is refused.
        if self.heredocs and "\n" in s[self.heredocs[0][3] : self.i]:
            raise deny("a here-document's line continues past a newline")
        self.i += 1
        for delimiter, quoted, strip_tabs, _ in self.heredocs:
            while True:
                if self.i >= len(s):
                    raise deny(f"here-document {show(delimiter)} is not terminated", "end it")
                end = s.find("\n", self.i)
                end = len(s) if end < 0 else end
                line, self.i = s[self.i : end], min(end + 1, len(s))
                if (line.lstrip("\t") if strip_tabs else line) == delimiter:
                    break
                # An unquoted body joins a line ending in "\" to the next, which can
                # hide the delimiter line; refused in both kinds for certainty.
                if line.endswith("\\"):
                    raise deny("a here-document line ends with a backslash", "remove it")
                _check_data(line)
                j = 0
                while not quoted and j < len(line):  # unquoted bodies expand $...
                    c = line[j]
                    j = j + 2 if c == "\\" else _scan_dollar(line, j) if c == "$" else j + 1
        self.heredocs.clear()


def parse(command: str) -> tuple[list[list[Word]], list[tuple[str, Word]]]:
    """Parse ``command`` into its simple commands and its redirections (operator,
    target), refusing what is not certain."""
    for ch in command:
        if ch not in "\t\n" and unicodedata.category(ch) in _BAD_CATEGORIES:
            raise deny(f"control or invisible character U+{ord(ch):04X}", "remove it")
    lexer = _Lexer(command)
    commands: list[list[Word]] = []
    redirections: list[tuple[str, Word]] = []
    words: list[Word] = []
    redirected, amp_target, dangling = False, False, ""
    for item in chain[Word | str](iter(lexer.token, None), [""]):  # "" marks the end
        if isinstance(item, Word):
            _check_data(item.value)
            if item.fd:
                continue
            if amp_target:  # dash reads "&>f x" as "&" then ">f x": x would be a program
                raise deny("a word follows the target of '&>'", "put '&>' redirections last")
            words.append(item)
        elif item in _SEPARATORS or not item:
            if redirected and not words:  # zsh runs $NULLCMD (cat) or $READNULLCMD here
                raise deny("a command made only of redirections is not allowed", "add a program")
            if words:
                commands.append(words)
                words, redirected, amp_target = [], False, False
                dangling = item if item in _JOINERS else ""
            elif not item and dangling:
                raise deny(f"the command ends with {show(dangling)}", "complete or remove it")
            elif item not in ("\n", ""):  # blank lines are fine; `; ls` or `ls | | x` are not
                raise deny(f"operator {show(item)} has no command before it")
        else:  # a redirection; its target is a file name or delimiter, not a command word
            target = lexer.token()
            if not isinstance(target, Word) or target.fd:
                raise deny(f"redirection {show(item)} has no target", "name a file")
            _check_data(target.value)
            if target.value.startswith("!"):  # zsh's ">!" clobbers: "!" is not the target
                raise deny("a redirection target starting with '!'", "rename the file")
            if item in ("<<", "<<-"):
                if not target.literal or not target.value or "\n" in target.value:
                    raise deny("a here-document delimiter must be a plain word", "use 'EOF'")
                lexer.heredocs.append((target.value, target.quoted, item == "<<-", lexer.i))
            redirections.append((item, target))
            redirected, amp_target = True, amp_target or item.startswith("&")
    if lexer.heredocs:
        raise deny("a here-document has no body", "add the body and its delimiter line")
    return commands, redirections


def split_simple_commands(command: str) -> list[list[str]]:
    """Tokenize a POSIX shell command line and return its simple commands as word lists.

    Words are given after quote and backslash removal; parameter expansions stay
    as written (``$HOME``). Redirections with their targets and fds, comments and
    here-document bodies are left out. Raises CommandNotAllowed for anything that
    cannot be split with certainty or that could run code the split does not show.
    """
    return [[word.value for word in words] for words in parse(command)[0]]
