"""Pass 2 of :mod:`ssh_mcp.tools.sftp_read._redact`: the values of keys whose name says secret.

Forms: ``KEY=v``, ``export KEY=v``, ``KEY: v``, ``"key": "v"``, ``key = "v"``,
``--key=v``, ``'key' => 'v'``, ``?key=v`` (URL query). Quotes and the key are
kept. Values spanning lines (YAML block scalars, open quotes) become one
marker. Pure, no I/O; ``sink(secret, kind)`` returns the marker.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from ssh_mcp.tools.sftp_read._secret_keys import secret_label

Sink = Callable[[str, str], str]
MARKER_RE = re.compile(r"\[REDACTED:hmac-sha256:[0-9a-f]{12}\]")

_PAIR = re.compile(
    r"(?:^|(?<=[\s{,\[;(])|(?<=/:))(?P<dash>--?)?"
    r"(?P<key>\"[^\"\n]{1,128}\"|'[^'\n]{1,128}'|\$?[A-Za-z_][\w.\-]{0,127})"
    r"(?P<sep>\s*(?:=>|:=|=|:(?=\s|$|[\"'])|(?<=[\"']):)[ \t]*)"
)
_QUERY = re.compile(r"(?<=[?&])(?P<key>[A-Za-z_][\w.\-]{0,127})=(?P<value>[^&#\s\"'<>]+)")
_YAML_ITEM = re.compile(r"[ \t]*-(?:[ \t]+|(?=\r?\n|$))")
#: An item of a flow list: quoted, or plain up to the next comma.
_FLOW_ITEM = re.compile(r"\"(?:[^\"\\]|\\.)*\"?|'(?:[^']|'')*'?|[^,\s][^,]*")
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
    """Index of the ``quote`` (one character, or TOML's three) that closes a string opened
    before ``start``, or -1."""
    i = start
    while i < len(line):
        if quote[0] == '"' and line[i] == "\\":
            i += 2
            continue
        if line.startswith(quote, i):
            if quote == "'" and line.startswith("''", i):  # YAML's escaped quote
                i += 2
                continue
            for _ in range(2 if len(quote) == 3 else 0):  # TOML: `""""` ends with a quote
                if line.startswith(quote, i + 1):
                    i += 1
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
    then: _List | None = None  # the list this block scalar is an item of

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


def _key_value(line: str, start: int, label: str, sink: Sink) -> str:
    """``line`` with the one value at ``start`` (quoted, or plain to the end or a `` #``
    comment) replaced, unless it is not a secret (see :func:`keep`)."""
    c = line[start : start + 1]
    close = _close(line, start + 1, c) if c in ("'", '"') else -1
    if close >= 0:
        vstart, vend, quoted = start + 1, close, True
    else:
        vstart, vend, quoted = start, _plain_end(line, start, False), False
    value = line[vstart:vend]
    if keep(value, quoted):
        return line
    return line[:vstart] + sink(value, f"key:{label}") + line[vend:]


def _flow_end(line: str, start: int) -> int:
    """Where a flow list's items end on this line: its ``]``, else a comment or the end
    of the line; -1 when it nests a list or mapping (those are left to the key rules)."""
    i, end = start, len(line.rstrip("\r\n"))
    while i < end:
        c = line[i]
        if c in "\"'":
            close = _close(line, i + 1, c)
            i = end if close < 0 else close + 1
            continue
        if c in "[{":
            return -1
        if c == "]" or (c == "#" and (i == 0 or line[i - 1] in " \t")):
            return i
        i += 1
    return end


def _flow_items(line: str, start: int, end: int, label: str, sink: Sink) -> str:
    """``line[start:end]``, part of a flow list (``[a, "b"]``), with each item replaced
    on its own."""
    out, pos = [], start
    for m in _FLOW_ITEM.finditer(line, start, end):
        item = m.group(0).rstrip()
        out += [line[pos : m.start()], _key_value(item, 0, label, sink)]
        pos = m.start() + len(item)
    return "".join([*out, line[pos:end]])


@dataclass
class _List:
    """The items of a secret key's list on the lines after the key: a YAML block sequence
    (``passwords:`` then ``- a``) or a flow list left open (``tokens = [``)."""

    label: str
    indent: int  # column of the key
    flow: bool
    dash: int = -1  # column of the YAML items' dash, once seen

    def take(self, line: str, sink: Sink) -> tuple[str | _Pending | None, bool]:
        """(the line redacted, whether the list goes on); None: not part of the list;
        a block scalar item (``- |``) returns the pending block instead."""
        if self.flow:
            end = _flow_end(line, 0)
            if end < 0:
                return None, False
            closed = line[end : end + 1] == "]"
            return _flow_items(line, 0, end, self.label, sink) + line[end:], not closed
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            return line, True
        col = len(line) - len(line.lstrip(" "))
        item = _YAML_ITEM.match(line)
        if item and col >= self.indent and self.dash in (-1, col):
            self.dash = col
            if _PAIR.match(line, item.end()):  # `- key: v`: a mapping, for the key rules
                return None, False
            if _BLOCK_SCALAR.fullmatch(line[item.end() :].strip()):
                return _Pending(self.label, indent=col, then=self), True
            return _key_value(line, item.end(), self.label, sink), True
        if self.dash >= 0 and col > self.dash:  # inside an item: left to the key rules
            return None, True
        return None, False


def _pairs_in_line(line: str, sink: Sink) -> tuple[str, _Pending | _List | None]:
    out, pos, done = [], 0, 0
    while (m := _PAIR.search(line, pos)) is not None:
        pos, start = m.end(), m.end()  # a plain key's value may hold pairs of its own
        raw_key = m.group("key")
        label = secret_label(raw_key.strip("\"'").lstrip("$"))
        if label is None or start >= len(line) or line[start] == "{":
            continue
        c = line[start]
        if c in "\r\n":
            if ":" in m.group("sep"):  # `key:` alone: a YAML list may follow
                out.append(line[done:])
                return "".join(out), _List(label, m.start("key"), flow=False)
            continue
        if c == "[":
            end = -1 if MARKER_RE.match(line, start) else _flow_end(line, start + 1)
            if end < 0:
                continue
            items = line[start + 1 : end].rstrip()
            if line[end : end + 1] == "]" or not items or items.endswith(","):
                out += [line[done : start + 1], _flow_items(line, start + 1, end, label, sink)]
                done = pos = end
                if line[end : end + 1] != "]":  # open: its items go on on the next lines
                    out.append(line[end:])
                    return "".join(out), _List(label, m.start("key"), flow=True)
                continue
            # else a value that only starts with "[": the plain rules below
        if c in "\"'":
            q = line[start : start + 3] if line.startswith(c * 3, start) else c
            close = _close(line, start + len(q), q)
            if close < 0:
                out.append(line[done : start + len(q)])
                return "".join(out), _Pending(label, quote=q, parts=[line[start + len(q) :]])
            vstart, vend, quoted = start + len(q), close, True
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


Pending = _Pending | _List | None


def _step(line: str, pending: Pending, sink: Sink, out: list[str]) -> tuple[str | None, Pending]:
    """Handle ``line`` given what goes on from earlier lines: (what of the line is still
    to handle, or None, and what goes on now)."""
    if isinstance(pending, _List):
        new, goes_on = pending.take(line, sink)
        if isinstance(new, _Pending):  # `- |`: the block's lines follow
            out.append(line)
            return None, new
        if new is not None:
            out.append(new)
            return None, pending if goes_on else None
        if not goes_on:
            return line, None
        text, inner = _pairs_in_line(line, sink)  # inside a list item: the key rules
        out.append(text)
        return None, inner or pending
    if pending is not None and not pending.quote:
        if pending.takes(line):
            pending.parts.append(line)
            return None, pending
        out.append(pending.flush(sink))
        return line, pending.then
    if pending is not None:
        close = _close(line, 0, pending.quote)
        if close < 0:
            pending.parts.append(line)
            return None, pending
        pending.parts.append(line[:close])
        out += [pending.flush(sink), pending.quote]
        return line[close + len(pending.quote) :], None
    text, pending = _pairs_in_line(line, sink)
    out.append(text)
    return None, pending


def pairs(text: str, sink: Sink) -> str:
    out: list[str] = []
    pending: Pending = None
    for line in text.splitlines(keepends=True):
        rest: str | None = line
        while rest is not None:
            rest, pending = _step(rest, pending, sink, out)
    while pending is not None:
        if isinstance(pending, _List):
            break
        out.append(pending.flush(sink))
        pending = pending.then
    return "".join(out)


def query(text: str, sink: Sink) -> str:
    def sub(m: re.Match[str]) -> str:
        label, value = secret_label(m.group("key")), m.group("value")
        if label is None or keep(value, False):
            return m.group(0)
        return f"{m.group('key')}={sink(value, f'key:{label}')}"

    return _QUERY.sub(sub, text)
