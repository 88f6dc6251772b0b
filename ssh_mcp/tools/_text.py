"""Turning captured bytes into text for the model."""

from __future__ import annotations

import base64
from typing import Literal

from ssh_mcp.core.remote import CappedBuffer


def decode(buf: CappedBuffer) -> str:
    """UTF-8 text of the buffer (invalid bytes replaced), with a marker where bytes were cut."""
    head = bytes(buf.head).decode("utf-8", "replace")
    tail = bytes(buf.tail).decode("utf-8", "replace")
    if not buf.truncated:
        return head + tail
    return f"{head}\n[... {buf.omitted} bytes omitted ...]\n{tail}"


def encode_bytes(data: bytes) -> tuple[Literal["text", "base64"], str]:
    """File content for the model: UTF-8 without NUL bytes is text; anything else base64."""
    if b"\0" not in data:
        try:
            return "text", data.decode("utf-8")
        except UnicodeDecodeError:
            pass
    return "base64", base64.b64encode(data).decode("ascii")
