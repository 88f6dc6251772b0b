"""Turning per-block transfer callbacks into a few MCP progress reports a second."""

from __future__ import annotations

import asyncio
import time

from ssh_mcp.core.spec import ToolContext

#: Bytes below which a transfer reports no progress at all.
MIN_REPORTED = 1024 * 1024
#: Seconds between two reports.
INTERVAL = 0.25


class Throttle:
    """A ``(done, total)`` callback for the ssh layer that reports at most every INTERVAL.

    The SSH layer calls progress handlers synchronously, once per block; this keeps
    the newest figures and sends them from a task of its own, so a slow client
    never stalls the transfer. ``ctx.progress`` is a no-op when the client
    asked for no progress. Call :meth:`finish` when done.
    """

    def __init__(self, ctx: ToolContext, what: str) -> None:
        self._ctx, self._what = ctx, what
        self._last = 0.0
        self._sent = -1
        self._pending: asyncio.Task[None] | None = None
        self.done: int = 0
        self.total: int | None = None
        #: Appended to each report, e.g. ", 3 of 10 files" (directory transfers).
        self.note = ""

    def __call__(self, done: int, total: int | None) -> None:
        if done < self.done:  # a retried read starts over; progress must never go back
            return
        self.done, self.total = done, total
        now = time.monotonic()
        if (total or done) < MIN_REPORTED or now - self._last < INTERVAL:
            return
        if self._pending is not None and not self._pending.done():
            return
        self._last = now
        self._pending = asyncio.get_running_loop().create_task(self._send(done, total))

    async def _send(self, done: int, total: int | None) -> None:
        if done <= self._sent:
            return
        self._sent = done
        of = f" of {total}" if total is not None else ""
        await self._ctx.progress(done, total, f"{self._what}: {done}{of} bytes{self.note}")

    async def finish(self) -> None:
        """Wait for a report in flight, then send the final figures once."""
        if self._pending is not None:
            await self._pending
        if (self.total or self.done) >= MIN_REPORTED:
            await self._send(self.done, self.total)
