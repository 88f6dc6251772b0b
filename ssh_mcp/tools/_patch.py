"""Pure text changes for ``ssh_edit`` and ``ssh_patch``: exact replacement, strict diffs.

``replace_exact`` replaces a string that must occur once (or every time).
``apply_patch`` applies a unified diff strictly. Every context (`` ``) and removed (``-``) line
must equal the file's line at the position its hunk header states; there is
no offset search and no fuzz, so a diff made against another version of the
file fails instead of landing in the wrong place. ``new_start`` in a header is
not checked (it follows from the old positions). File names in ``---``/``+++``
headers are ignored (the caller names the target), but a second file section
is refused. ``\\ No newline at end of file`` is honoured on either side. A
line that is entirely empty inside a hunk counts as an empty context line,
since editors and chat transports strip the lone space of one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ssh_mcp.errors import RemoteError

_HEADER = re.compile(r"@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@(?: .*)?")
_PREAMBLE = ("diff ", "index ", "--- ", "+++ ", "old mode ", "new mode ", "similarity index ")
_NO_EOL = "\\"

#: One line: its text without the newline, and whether a newline ends it.
Line = tuple[str, bool]


class PatchError(ValueError):
    """The diff is malformed or does not apply; the message says which hunk and line."""


@dataclass(frozen=True)
class Hunk:
    """One ``@@ -a,b +c,d @@`` section: its 1-based number, header and lines."""

    number: int
    header: str
    old_start: int
    old_count: int
    #: (op, text, ends_with_newline) with op one of " ", "-", "+".
    lines: tuple[tuple[str, str, bool], ...]

    @property
    def label(self) -> str:
        return f"hunk {self.number} ({self.header})"


def _show(text: str, limit: int = 80) -> str:
    return repr(text if len(text) <= limit else text[:limit] + "…")


def split_lines(text: str) -> list[Line]:
    """``text`` as lines split on ``\\n`` only (a ``\\r`` stays part of its line)."""
    if not text:
        return []
    parts = text.split("\n")
    if parts[-1] == "":
        return [(p, True) for p in parts[:-1]]
    return [(p, True) for p in parts[:-1]] + [(parts[-1], False)]


def join_lines(lines: list[Line]) -> str:
    return "".join(t + ("\n" if eol else "") for t, eol in lines)


def _header(line: str, number: int, lineno: int) -> tuple[int, int, int]:
    """(old_start, old_count, new_count) of a hunk header line."""
    m = _HEADER.fullmatch(line.rstrip("\r"))
    if m is None:
        raise PatchError(
            f"diff line {lineno}: bad hunk header {_show(line)}; "
            "write it as @@ -start,count +start,count @@"
        )
    start, count = int(m.group(1)), int(m.group(2) or "1")
    if count and not start:
        raise PatchError(f"diff line {lineno}: hunk {number} starts at line 0 but removes lines")
    return start, count, int(m.group(4) or "1")


def _body(
    rows: list[str], i: int, number: int, header: str, old: int, new: int
) -> tuple[list[tuple[str, str, bool]], int]:
    """Read one hunk's lines from ``rows[i:]`` until both counts are used up."""
    out: list[tuple[str, str, bool]] = []
    seen_old = seen_new = 0
    while seen_old < old or seen_new < new:
        if i >= len(rows) or rows[i].startswith(("@@", "diff ")):
            raise PatchError(
                f"hunk {number} ({header}) ends after {seen_old} old and {seen_new} new lines "
                f"but its header counts {old} and {new}; fix the counts in the header"
            )
        row = rows[i]
        op, text = (" ", "") if row == "" else (row[0], row[1:])
        if op == _NO_EOL and out:
            out[-1] = (out[-1][0], out[-1][1], False)
        elif op in " -+":
            out.append((op, text, True))
            seen_old += op != "+"
            seen_new += op != "-"
            if seen_old > old or seen_new > new:
                raise PatchError(
                    f"hunk {number} ({header}) has more {'old' if seen_old > old else 'new'} "
                    f"lines than its header counts ({old} old, {new} new); fix the counts"
                )
        else:
            raise PatchError(
                f"diff line {i + 1} in hunk {number} ({header}) starts with {op!r}; every hunk "
                "line starts with ' ' (context), '-' (removed) or '+' (added)"
            )
        i += 1
    if i < len(rows) and rows[i].startswith(_NO_EOL) and out:
        out[-1] = (out[-1][0], out[-1][1], False)
        i += 1
    return out, i


def _more_files(i: int) -> PatchError:
    return PatchError(
        f"diff line {i + 1}: the diff touches more than one file; ssh_patch changes only "
        "`path`: send one diff per file"
    )


def parse(diff: str) -> list[Hunk]:
    """The hunks of a one-file unified diff, in order; PatchError when malformed."""
    rows = diff.split("\n")
    if rows and rows[-1] == "":
        rows.pop()
    hunks: list[Hunk] = []
    i, headers = 0, 0
    while i < len(rows):
        row = rows[i]
        if row.startswith("@@"):
            number = len(hunks) + 1
            header = row.rstrip("\r")
            start, count, new_count = _header(row, number, i + 1)
            lines, i = _body(rows, i + 1, number, header, count, new_count)
            hunks.append(Hunk(number, header, start, count, tuple(lines)))
            continue
        if hunks:
            if not row.strip() and not "".join(rows[i:]).strip():
                break  # blank lines at the very end
            if row.startswith(("--- ", "+++ ", "diff ")):
                raise _more_files(i)
            raise PatchError(
                f"diff line {i + 1}: unexpected text {_show(row)} after hunk {len(hunks)}; "
                "check that hunk's header counts"
            )
        if row.startswith("--- "):
            headers += 1
            if headers > 1:
                raise _more_files(i)
        elif row.startswith("+++ ") and row[4:].split("\t")[0].strip() == "/dev/null":
            raise PatchError("the diff deletes the file; use ssh_delete for that")
        elif row.strip() and not row.startswith(_PREAMBLE):
            raise PatchError(
                f"diff line {i + 1}: unexpected text {_show(row)} before the first hunk; a diff "
                "has optional ---/+++ headers, then hunks that start with @@"
            )
        i += 1
    if not hunks:
        raise PatchError("the diff has no hunks: expected a line like @@ -12,4 +12,5 @@")
    return hunks


def _mismatch(hunk: Hunk, lineno: int, want: Line, have: Line | None) -> PatchError:
    prefix = f"{hunk.label} does not apply: line {lineno}"
    if have is None:
        return PatchError(
            f"{prefix} is past the end of the file; the diff expects {_show(want[0])}"
        )
    if have[0] == want[0]:
        if have[1]:
            return PatchError(
                f"{prefix} ends with a newline but the diff marks it '\\ No newline at end of "
                "file'; drop the marker"
            )
        return PatchError(
            f"{prefix} is the last line and has no newline; add '\\ No newline at end of file' "
            "after it in the diff"
        )
    return PatchError(f"{prefix} is {_show(have[0])} but the diff expects {_show(want[0])}")


def apply(text: str, hunks: list[Hunk]) -> str:
    """``text`` with every hunk applied; PatchError naming the first hunk that fails."""
    src = split_lines(text)
    out: list[Line] = []
    cursor = 0
    for hunk in hunks:
        start = hunk.old_start if hunk.old_count == 0 else hunk.old_start - 1
        if start < cursor:
            raise PatchError(
                f"{hunk.label} starts at line {hunk.old_start}, inside or before the previous "
                "hunk; hunks must be in file order and must not overlap"
            )
        if start > len(src):
            raise PatchError(
                f"{hunk.label} does not apply: it starts at line {hunk.old_start} but the file "
                f"has {len(src)} lines"
            )
        out.extend(src[cursor:start])
        pos = start
        for op, line, eol in hunk.lines:
            if op == "+":
                out.append((line, eol))
                continue
            have = src[pos] if pos < len(src) else None
            if have != (line, eol):
                raise _mismatch(hunk, pos + 1, (line, eol), have)
            if op == " ":
                out.append(have)
            pos += 1
        cursor = pos
    out.extend(src[cursor:])
    for n, (_, eol) in enumerate(out[:-1], 1):
        if not eol:
            raise PatchError(
                f"the result would have line {n} without a newline in the middle of the file; "
                "drop the misplaced '\\ No newline at end of file' marker"
            )
    return join_lines(out)


def apply_patch(text: str, diff: str) -> tuple[str, int]:
    """Parse ``diff`` and apply it to ``text``: the new text and the number of hunks."""
    hunks = parse(diff)
    return apply(text, hunks), len(hunks)


def decode_text(data: bytes, path: str) -> str:
    """``data`` as UTF-8 text; RemoteError for anything binary."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RemoteError(
            f"{path} is not UTF-8 text (invalid byte at offset {exc.start}); it is unchanged. "
            "Replace binary files whole with ssh_upload content_base64"
        ) from None
    if "\0" in text:
        raise RemoteError(
            f"{path} contains NUL bytes, so it is binary; it is unchanged. Replace binary files "
            "whole with ssh_upload content_base64"
        )
    return text


def replace_exact(text: str, old: str, new: str, *, every: bool, path: str) -> tuple[str, int]:
    """``text`` with ``old`` replaced, and the count; ``old`` must occur once unless ``every``."""
    count = text.count(old)
    if count == 0:
        hint = "Re-read the file and copy the exact text, whitespace and indentation included"
        if "\r\n" in text and "\n" in old and "\r\n" not in old:
            hint = "The file has CRLF line endings: put \\r\\n in old_string"
        raise RemoteError(f"old_string was not found in {path}; it is unchanged. {hint}")
    if count > 1 and not every:
        raise RemoteError(
            f"old_string occurs {count} times in {path}; it is unchanged. Add surrounding lines "
            f'to old_string until it is unique, or pass occurrence="all" to replace all {count}'
        )
    return text.replace(old, new), count
