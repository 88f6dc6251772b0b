"""Turning captured bytes into text for the model."""

from __future__ import annotations

from ssh_mcp.ssh.process import CappedBuffer


def decode(buf: CappedBuffer) -> str:
    """UTF-8 text of the buffer (invalid bytes replaced), with a marker where bytes were cut."""
    head = bytes(buf.head).decode("utf-8", "replace")
    tail = bytes(buf.tail).decode("utf-8", "replace")
    if not buf.truncated:
        return head + tail
    return f"{head}\n[... {buf.omitted} bytes omitted ...]\n{tail}"
