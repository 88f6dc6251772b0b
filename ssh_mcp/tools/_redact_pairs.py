"""Pass 2 of :mod:`ssh_mcp.tools._redact`: the values of keys whose name says secret.

Forms: ``KEY=v``, ``export KEY=v``, ``KEY: v``, ``"key": "v"``, ``key = "v"``,
``--key=v``, ``'key' => 'v'``, ``?key=v`` (URL query). Quotes and the key are
kept. Values spanning lines (YAML block scalars, open quotes) become one
marker. Pure, no I/O; ``sink(secret, kind)`` returns the marker.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from ssh_mcp.tools._secret_keys import secret_label

Sink = Callable[[str, str], str]
MARKER_RE = re.compile(r"\[REDACTED:hmac-sha256:[0-9a-f]{12}\]")

_PAIR = re.compile(
    r"(?:^|(?<=[\s{,\[;(]))(?P<dash>--?)?"
    r"(?P<key>\"[^\"\n]{1,128}\"|'[^'\n]{1,128}'|\$?[A-Za-z_][\w.\-]{0,127})"
    r"(?P<sep>\s*(?:=>|:=|=|:(?=\s|$|[\"'])|(?<=[\"']):)[ \t]*)"
)
_QUERY = re.compile(r"(?<=[?&])(?P<key>[A-Za-z_][\w.\-]{0,127})=(?P<value>[^&#\s\"'<>]+)")
_BLOCK_SCALAR = re.compile(r"[|>][+-]?[0-9]?[+-]?")
_COMPACT_END = re.compile(r"[\s,}\]\"']")
_COMMENT = re.compile(r"\s#")
_PLAIN = {"", "true", "false", "yes", "no", "on", "off", "null", "none", "nil", "~"}
_REFERENCE = re.compile(r"\$\{[^}]*\}|\{\{[^}]*\}\}")


def keep(value: str, quoted: bool) -> bool:
    """Values that are not secrets: empty, booleans, null, ${VAR} and {{ var }} references."""
    if MARKER_RE.search(value) or _REFERENCE.fullmatch(value.strip()):
        return True
    return value.strip() == "" if quoted else value.strip().lower() in _PLAIN


def _close(line: str, start: int, quote: str) -> int:
    """Index of the ``quote`` that closes a string opened before ``start``, or -1."""
    i = start
    while i < len(line):
        c = line[i]
        if quote == '"' and c == "\\":
            i += 2
            continue
        if c == quote:
            if quote == "'" and line.startswith("''", i):  # YAML's escaped quote
                i += 2
                continue
            return i
        i += 1
    return -1


@dataclass
class _Pending:
    """A secret value that goes on past its line: a YAML block scalar or an open quote."""

    label: str
    quote: str = ""  # empty for a block scalar
    indent: int = 0
    parts: list[str] = field(default_factory=list)

    def takes(self, line: str) -> bool:  # blank, or indented deeper than the key
        return not line.strip() or len(line) - len(line.lstrip(" ")) > self.indent

    def flush(self, sink: Sink) -> str:
        if self.quote:
            return sink("".join(self.parts), f"key:{self.label}")
        lines, tail = list(self.parts), list[str]()
        while lines and not lines[-1].strip():
            tail.insert(0, lines.pop())  # trailing blank lines are layout, not secret
        body = "".join(lines)
        if keep(body, True):
            return body + "".join(tail)
        pad = lines[0][: len(lines[0]) - len(lines[0].lstrip(" "))]
        newline = "\n" if body.endswith("\n") else ""
        return f"{pad}{sink(body, f'key:{self.label}')}{newline}" + "".join(tail)


def _plain_end(line: str, start: int, compact: bool) -> int:
    """Where an unquoted value ends: at a delimiter in JSON, flow mappings and ``--flag=v``;
    else at the end of the line or a `` #`` comment, so a value with spaces is never cut."""
    if compact:
        m = _COMPACT_END.search(line, start)
        return m.start() if m else len(line)
    end = len(line.rstrip("\r\n"))
    comment = _COMMENT.search(line, start, end)
    return len(line[: comment.start() if comment else end].rstrip())


def _pairs_in_line(line: str, sink: Sink) -> tuple[str, _Pending | None]:
    out, pos, done = [], 0, 0
    while (m := _PAIR.search(line, pos)) is not None:
        pos, start = m.end(), m.end()  # a plain key's value may hold pairs of its own
        raw_key = m.group("key")
        label = secret_label(raw_key.strip("\"'").lstrip("$"))
        if label is None or start >= len(line) or line[start] in "{[\r\n":
            continue
        c = line[start]
        if c in "\"'":
            close = _close(line, start + 1, c)
            if close < 0:
                out.append(line[done : start + 1])
                return "".join(out), _Pending(label, quote=c, parts=[line[start + 1 :]])
            vstart, vend, quoted = start + 1, close, True
        else:
            i = m.start()
            while i > 0 and line[i - 1] in " \t":
                i -= 1
            compact = line[i - 1 : i] in ("{", ",", "[") or raw_key[0] in "\"'"
            vstart, quoted = start, False
            vend = _plain_end(line, start, compact or m.group("dash") is not None)
            if _BLOCK_SCALAR.fullmatch(line[vstart:vend]) and not line[vend:].strip():
                out.append(line[done:])
                return "".join(out), _Pending(label, indent=len(line) - len(line.lstrip(" ")))
        value = line[vstart:vend]
        if keep(value, quoted):
            continue
        out += [line[done:vstart], sink(value, f"key:{label}")]
        done = pos = vend
    out.append(line[done:])
    return "".join(out), None


def pairs(text: str, sink: Sink) -> str:
    out: list[str] = []
    pending: _Pending | None = None
    for line in text.splitlines(keepends=True):
        if pending is not None and not pending.quote:
            if pending.takes(line):
                pending.parts.append(line)
                continue
            out.append(pending.flush(sink))
            pending = None
        elif pending is not None:
            close = _close(line, 0, pending.quote)
            if close < 0:
                pending.parts.append(line)
                continue
            pending.parts.append(line[:close])
            out += [pending.flush(sink), pending.quote]
            line, pending = line[close + 1 :], None
        new, pending = _pairs_in_line(line, sink)
        out.append(new)
    if pending is not None:
        out.append(pending.flush(sink))
    return "".join(out)


def query(text: str, sink: Sink) -> str:
    def sub(m: re.Match[str]) -> str:
        label, value = secret_label(m.group("key")), m.group("value")
        if label is None or keep(value, False):
            return m.group(0)
        return f"{m.group('key')}={sink(value, f'key:{label}')}"

    return _QUERY.sub(sub, text)
