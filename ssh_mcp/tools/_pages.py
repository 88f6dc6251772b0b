"""How a tool that returns a list keeps its result cheap (DECISIONS.md 61).

Every listing takes ``limit``, with a default that fits a model's context and a ceiling. A
listing in a stable order pages: it also takes ``offset`` and says ``total`` and
``next_offset`` (null on the last page), as ssh_sftp_list does. A listing that is a top-N or
a snapshot says ``truncated`` when it left entries out.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

from pydantic import Field

from ssh_mcp.core.spec import StrictInput
from ssh_mcp.tools._fields import UNLISTED

T = TypeVar("T")

#: Entries a listing returns unless asked for another number, and the most it returns.
DEFAULT_LIMIT = 100
MAX_LIMIT = 1000


def limit_field(
    default: int = DEFAULT_LIMIT,
    most: int = MAX_LIMIT,
    description: str = "Entries to return at most.",
) -> Any:
    return Field(default, ge=1, le=most, description=description, json_schema_extra=UNLISTED)


def next_offset_field() -> Any:
    return Field(description="Offset of the next page; null on the last.")


def truncated_field() -> Any:
    return Field(description="True when entries were left out; raise limit to see more.")


#: A page's offset: the result's next_offset says what to pass.
OFFSET: Any = Field(
    0, ge=0, description="Entries to skip; use next_offset.", json_schema_extra=UNLISTED
)


class LimitInput(StrictInput):
    limit: int = limit_field()


class PageInput(StrictInput):
    offset: int = OFFSET
    limit: int = limit_field()


def page(items: Sequence[T], offset: int, limit: int) -> tuple[list[T], int | None]:
    """The entries from ``offset``, at most ``limit``, and the next page's offset (None when
    none is left)."""
    end = offset + limit
    return list(items[offset:end]), (end if end < len(items) else None)
