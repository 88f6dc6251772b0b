"""Agents' notes about hosts, kept by the server between sessions.

One UTF-8 file per alias in ``SSH_HOST_NOTES_DIR`` (mode 0600, directory
0700), at most ``SSH_HOST_NOTES_MAX_BYTES``. Writes go through a temp file and
``os.replace``, so a note is always whole. These are the agent's notes, kept
apart from the operator's ``notes`` in hosts.toml, and read back to a model
later: the tool layer cleans and flags them like command output.
"""

from __future__ import annotations

from pathlib import Path

from ssh_mcp.errors import CapExceeded
from ssh_mcp.state._files import write_private


class NotesStore:
    def __init__(self, directory: Path, max_bytes: int) -> None:
        self.directory, self.max_bytes = directory, max_bytes

    def _path(self, alias: str) -> Path:
        # Aliases come from hosts.toml or a resolved hostname; keep the file name plain.
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in alias).lstrip(".")
        return self.directory / f"{safe or '_'}.md"

    def read(self, alias: str) -> str:
        try:
            return self._path(alias).read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return ""

    def write(self, alias: str, text: str) -> int:
        """Replace the note; returns its size in bytes."""
        data = text.encode("utf-8")
        if len(data) > self.max_bytes:
            raise CapExceeded(
                f"the note would be {len(data)} bytes, over SSH_HOST_NOTES_MAX_BYTES "
                f"({self.max_bytes}); condense it with ssh_host_notes_set"
            )
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        write_private(self._path(alias), data)
        return len(data)

    def append(self, alias: str, text: str) -> int:
        current = self.read(alias)
        joined = current + ("" if not current or current.endswith("\n") else "\n") + text
        return self.write(alias, joined if joined.endswith("\n") else joined + "\n")
