"""The block YAML that PyYAML's ``safe_dump`` writes, read without a YAML library.

Compose v1 (``docker-compose config``) prints its normalized configuration only as YAML,
and the server has no YAML library at run time. That output is one narrow dialect: block
mappings and sequences (a sequence under a key sits at the key's indent), plain, single- and
double-quoted scalars that may fold over lines, ``{}`` and ``[]`` for empty collections, and
anchors and aliases for an object dumped twice. Anything else (other flow collections, block
scalars, tags, complex keys, several documents) is a ValueError: the caller refuses what it
cannot read rather than guess (DECISIONS.md 84). Errors name a line, never its text: the
configuration holds environment values.
"""

from __future__ import annotations

import re
from typing import Any

_INT = re.compile(r"[-+]?(?:0|[1-9][0-9_]*)")
_FLOAT = re.compile(r"[-+]?(?:[0-9][0-9_]*)?\.[0-9_]*(?:[eE][-+][0-9]+)?")
_ANCHOR = re.compile(r"[&*]([^\s,\[\]{}]+)")
_ESCAPES = {"0": "\0", "a": "\a", "b": "\b", "t": "\t", "\t": "\t", "n": "\n", "v": "\v",
            "f": "\f", "r": "\r", "e": "\x1b", " ": " ", '"': '"', "/": "/", "\\": "\\",
            "N": "\x85", "_": "\xa0", "L": "\u2028", "P": "\u2029"}  # fmt: skip
_HEX = {"x": 2, "u": 4, "U": 8}


def _fold(raw: str) -> str:
    """A flow scalar's line breaks: one break is a space, each blank line a newline."""
    lines = raw.split("\n")
    out = lines[0].rstrip(" \t") if len(lines) > 1 else lines[0]
    blanks = 0
    for n, line in enumerate(lines[1:], 2):
        line = line.strip(" \t") if n < len(lines) else line.lstrip(" \t")
        if not line and n < len(lines):  # the closing quote's line is never a blank one
            blanks += 1
            continue
        out += ("\n" * blanks if blanks else " ") + line
        blanks = 0
    return out


def _plain(text: str) -> Any:
    """A plain scalar's value under YAML 1.1's core types, as PyYAML resolves them."""
    if text in ("", "~", "null", "Null", "NULL"):
        return None
    if text.lower() in ("true", "yes", "on"):
        return True
    if text.lower() in ("false", "no", "off"):
        return False
    if _INT.fullmatch(text):
        return int(text.replace("_", ""))
    if _FLOAT.fullmatch(text) and any(c.isdigit() for c in text):
        return float(text.replace("_", ""))
    if text.startswith(("!", "|", ">", "%", "@", "`", "{", "[")):
        raise ValueError(f"unsupported YAML: a scalar starting with {text[0]!r}")
    return text


class _Reader:
    def __init__(self, text: str) -> None:
        self.lines = text.split("\n")
        self.i = 0
        self.anchors: dict[str, Any] = {}

    # -- lines --------------------------------------------------------------------------

    def _skip_blank(self) -> None:
        while self.i < len(self.lines) and not self.lines[self.i].strip():
            self.i += 1

    def _peek(self) -> tuple[int, str] | None:
        """The next non-blank line's indent and text, or None at the end."""
        self._skip_blank()
        if self.i >= len(self.lines):
            return None
        line = self.lines[self.i]
        if "\t" in line[: len(line) - len(line.lstrip())]:
            raise ValueError(f"line {self.i + 1}: a tab in the indentation")
        text = line.lstrip(" ")
        return len(line) - len(text), text

    # -- scalars ------------------------------------------------------------------------

    def _quoted(self, text: str, parent: int) -> tuple[str, str]:
        """A quoted scalar starting ``text`` (and lines after it): its value and what follows."""
        quote, raw, pos = text[0], text, 1
        while True:
            end = self._closing(raw, quote, pos)
            if end is not None:
                break
            pos = len(raw)
            self.i += 1
            if self.i >= len(self.lines):
                raise ValueError("a quoted scalar is not closed")
            nxt = self.lines[self.i]
            if nxt.strip() and len(nxt) - len(nxt.lstrip(" ")) <= parent:
                raise ValueError(f"line {self.i + 1}: a quoted scalar is not indented")
            raw += "\n" + nxt
        body, rest = raw[1:end], raw[end + 1 :]
        if quote == "'":
            return _fold(body).replace("''", "'"), rest
        return self._unescape(body), rest

    @staticmethod
    def _closing(raw: str, quote: str, pos: int) -> int | None:
        while pos < len(raw):
            c = raw[pos]
            if quote == '"' and c == "\\":
                pos += 2
                continue
            if c == quote:
                if quote == "'" and raw[pos + 1 : pos + 2] == "'":
                    pos += 2
                    continue
                return pos
            pos += 1
        return None

    @staticmethod
    def _unescape(body: str) -> str:
        """A double-quoted body: escapes, an escaped line break joins, others fold."""
        out: list[str] = []
        kept = 0  # out[:kept] came from escapes: folding never strips it
        pos = 0
        while pos < len(body):
            c = body[pos]
            if c == "\\":
                esc = body[pos + 1 : pos + 2]
                pos += 2
                if esc == "\n":
                    while pos < len(body) and body[pos] in " \t":
                        pos += 1
                elif esc in _ESCAPES:
                    out.append(_ESCAPES[esc])
                elif esc in _HEX:
                    out.append(chr(int(body[pos : pos + _HEX[esc]], 16)))
                    pos += _HEX[esc]
                else:
                    raise ValueError(f"unknown escape \\{esc}")
                kept = len(out)
            elif c == "\n":
                while len(out) > kept and out[-1] in " \t":
                    out.pop()
                breaks = 0
                pos += 1
                while True:
                    while pos < len(body) and body[pos] in " \t":
                        pos += 1
                    if pos < len(body) and body[pos] == "\n":
                        breaks += 1
                        pos += 1
                    else:
                        break
                out.append("\n" * breaks if breaks else " ")
                kept = len(out)
            else:
                out.append(c)
                pos += 1
        return "".join(out)

    def _scalar(self, text: str, parent: int) -> Any:
        """The value written from ``text`` on, whose continuation lines are deeper than
        ``parent``; the reader is left after its last line."""
        if text.startswith(("'", '"')):
            value, rest = self._quoted(text, parent)
            if rest.strip():
                raise ValueError(f"line {self.i + 1}: text after a quoted scalar")
            self.i += 1
            return value
        if text in ("{}", "[]"):
            self.i += 1
            return {} if text == "{}" else []
        if text.startswith("*"):
            self.i += 1
            name = text[1:].strip()
            if name not in self.anchors:
                raise ValueError(f"line {self.i}: an alias to no anchor")
            return self.anchors[name]
        raw = text
        self.i += 1
        while (nxt := self._peek()) is not None and nxt[0] > parent:
            raw += "\n" + nxt[1]
            self.i += 1
        return _plain(_fold(raw).strip())

    # -- collections --------------------------------------------------------------------

    def node(self, indent: int, parent: int) -> Any:
        """The node whose first line is the next one, at ``indent``."""
        nxt = self._peek()
        if nxt is None or nxt[0] != indent:
            raise ValueError(f"line {self.i + 1}: unexpected indentation")
        text = nxt[1]
        if text == "-" or text.startswith("- "):
            return self._sequence(indent)
        if self._key(text) is not None:
            return self._mapping(indent)
        return self._scalar(text, parent)

    def _key(self, text: str) -> tuple[str, str] | None:
        """``key: rest`` split, or None when ``text`` is no mapping entry."""
        if text.startswith(("'", '"')):
            saved = self.i
            try:
                key, rest = self._quoted(text, -1)
            finally:
                self.i = saved
            if rest == ":" or rest.startswith(": "):
                return key, rest[1:].strip()
            return None
        if text.startswith("? "):
            raise ValueError("complex mapping keys are not supported")
        match = re.match(r"([^\s'\"#][^:]*?|[^\s'\"#][^\n]*?[^\s]):(?: +|$)(.*)", text)
        if match is None:
            return None
        return match.group(1), match.group(2)

    def _value_after_key(self, rest: str, indent: int) -> Any:
        anchor = None
        if (m := _ANCHOR.match(rest)) and rest.startswith("&"):
            anchor, rest = m.group(1), rest[m.end() :].strip()
        if rest:
            value = self._scalar(rest, indent)
        else:
            self.i += 1
            nxt = self._peek()
            if nxt is not None and nxt[0] > indent:
                value = self.node(nxt[0], indent)
            elif nxt is not None and nxt[0] == indent and (nxt[1] == "-" or nxt[1][:2] == "- "):
                value = self._sequence(indent)
            else:
                value = None
        if anchor is not None:
            self.anchors[anchor] = value
        return value

    def _mapping(self, indent: int) -> dict[Any, Any]:
        out: dict[Any, Any] = {}
        while (nxt := self._peek()) is not None and nxt[0] == indent:
            entry = self._key(nxt[1])
            if entry is None:
                break
            key, rest = entry
            out[_plain(key) if not nxt[1].startswith(("'", '"')) else key] = self._value_after_key(
                rest, indent
            )
        return out

    def _sequence(self, indent: int) -> list[Any]:
        out: list[Any] = []
        while (nxt := self._peek()) is not None and nxt[0] == indent:
            text = nxt[1]
            if text != "-" and not text.startswith("- "):
                break
            rest = text[1:].strip()
            if rest.startswith("&"):
                raise ValueError("anchors on sequence items are not supported")
            if not rest:
                self.i += 1
                deeper = self._peek()
                if deeper is None or deeper[0] <= indent:
                    out.append(None)
                    continue
                out.append(self.node(deeper[0], indent))
                continue
            # The item's first line stands at the column after "- ": read it as that line.
            inner = indent + len(text) - len(text[1:].lstrip(" "))
            self.lines[self.i] = " " * inner + rest
            out.append(self.node(inner, indent))
        return out


def load(text: str) -> Any:
    """The document in ``text``; a ValueError when it is outside the dialect above."""
    reader = _Reader(text)
    first = reader._peek()
    if first is None:
        return None
    if first[1] == "---":
        reader.i += 1
        first = reader._peek()
        if first is None:
            return None
    value = reader.node(first[0], -1)
    rest = reader._peek()
    if rest is not None and rest[1] != "...":
        raise ValueError(f"line {reader.i + 1}: unexpected text after the document")
    return value
