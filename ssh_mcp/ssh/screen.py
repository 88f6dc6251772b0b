"""What a terminal's bytes look like to a person. Pure: no I/O.

:class:`Screen` runs the bytes through a VT100/xterm emulator (pyte,
DECISIONS.md 72), so a full-screen program (``top``, ``less``) reads back as the
grid a person would see, cursor moves and colours applied. :func:`plain` turns a
stream into text for line-oriented callers (a read's output since the last
read, a device CLI's reply): escape sequences removed, CR LF as LF, a line
rewritten with CR or backspace kept as it ended.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pyte

_ESCAPES = re.compile(
    rb"\x1b\[[0-?]*[ -/]*[@-~]"  # CSI: colours, cursor moves, modes
    rb"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?"  # OSC: window titles, hyperlinks
    rb"|\x1b[P^_X][^\x1b]*(?:\x1b\\)?"  # DCS, PM, APC, SOS strings
    rb"|\x1b[()*+#%][0-9A-Za-z@]"  # charset designations
    rb"|\x1b[ -~]?"  # any other two-byte escape, or a lone ESC
)
_CONTROLS = re.compile("[\x00-\x07\x0b\x0c\x0e-\x1f\x7f]")


def _line(text: str) -> str:
    """One line as it ends on a terminal: CR returns to its start, BS steps back."""
    cells: list[str] = []
    at = 0
    for ch in text:
        if ch == "\r":
            at = 0
        elif ch == "\b":
            at = max(0, at - 1)
        else:
            if at < len(cells):
                cells[at] = ch
            else:
                cells.append(ch)
            at += 1
    return "".join(cells)


def plain(data: bytes) -> str:
    """``data`` as text: no escape sequences, no control characters but LF and TAB."""
    text = _ESCAPES.sub(b"", data).decode("utf-8", "replace")
    lines = [_line(line.rstrip("\r")) for line in text.split("\n")]
    return _CONTROLS.sub("", "\n".join(lines))


class Screen:
    """A terminal's visible grid, fed with the bytes the program writes."""

    def __init__(self, cols: int, rows: int) -> None:
        # Loaded with the first terminal: pyte and its width tables cost a server that
        # opens none about 15 ms and 2 MiB at start (DECISIONS.md 83).
        import pyte

        self._screen: pyte.Screen = pyte.Screen(cols, rows)
        self._stream = pyte.ByteStream(self._screen)

    def feed(self, data: bytes) -> None:
        self._stream.feed(data)

    def resize(self, cols: int, rows: int) -> None:
        self._screen.resize(rows, cols)

    @property
    def size(self) -> tuple[int, int]:
        return self._screen.columns, self._screen.lines

    @property
    def cursor(self) -> tuple[int, int]:
        """Column and row of the cursor, from 0."""
        return self._screen.cursor.x, self._screen.cursor.y

    def text(self) -> str:
        """The rows top to bottom, trailing blanks and trailing empty rows dropped."""
        return "\n".join(row.rstrip() for row in self._screen.display).rstrip("\n")
