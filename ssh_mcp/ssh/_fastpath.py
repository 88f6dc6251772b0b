"""The hot loops of streamed transfers: a sliding window of SFTP reads, and work off the loop.

Private to :mod:`ssh_mcp.ssh.transfer`. One Python process moves every byte
through asyncssh's framing and crypto, which keeps the event loop's core busy;
anything else (hashing, local file writes) goes to a worker thread, where
hashlib and the file write release the GIL and run beside the loop.

:func:`read_blocks` keeps ``depth`` single-block reads in flight at all times
(asyncssh's ``read(n)`` with a block size drains its whole batch before the
next call can start, so the window empties every ``n`` bytes).
:class:`Offload` runs hash-and-write jobs one at a time, in order, while the
loop keeps receiving.
"""

from __future__ import annotations

import asyncio
import collections
import functools
import hashlib
import os
import threading
from collections.abc import AsyncGenerator, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    import asyncssh

T = TypeVar("T")


async def read_blocks(
    f: asyncssh.SFTPClientFile, block: int, depth: int, limit: int, expect: int | None = None
) -> AsyncGenerator[bytes]:
    """Yield ``f``'s content in order, in blocks of up to ``block`` bytes, until EOF.

    Requests are at explicit offsets, so they are independent of the file's
    own position. Nothing is requested past ``limit`` bytes: a caller that
    passes its cap plus one sees a file that grew past the cap without reading
    the rest. A short read (OpenSSH only gives one at EOF) drops the requests
    after it and asks again from where it ended, so no byte is skipped.
    ``expect``, the size a stat gave, keeps the window from reaching past
    the end: one request at or past it finds EOF, instead of ``depth``
    requests that each come back empty. A file that turns out longer (a
    full block at the expected end) opens the window again.
    Closing the generator cancels whatever is still in flight.
    """
    loop = asyncio.get_running_loop()
    pending: dict[int, asyncio.Task[bytes]] = {}  # offset -> read; insertion order = offset order
    ask = 0  # the next offset to request
    horizon = limit if expect is None else expect  # no request starts past it

    def fill() -> None:
        nonlocal ask
        while len(pending) < depth and ask < limit and ask <= horizon:
            pending[ask] = loop.create_task(f.read(min(block, limit - ask), ask))
            ask += block

    def drop() -> None:
        # Not awaited, so a cancelled caller is not held up: the server answers the
        # dropped requests before it closes the handle, and asyncssh discards replies
        # to cancelled requests.
        for task in pending.values():
            task.cancel()
            task.add_done_callback(retrieve)
        pending.clear()

    try:
        fill()
        while pending:
            offset = next(iter(pending))
            data = await pending.pop(offset)  # replies come in request order: no waiting idle
            if not data:  # EOF
                return
            if offset + len(data) > horizon:  # longer than the stat said: full window again
                horizon = limit
            if len(data) < min(block, limit - offset):
                drop()  # the blocks after a short read start at the wrong offset
                ask = offset + len(data)
            fill()
            yield data
    finally:
        drop()


def retrieve(future: asyncio.Future[T]) -> None:
    """Mark an abandoned future's error as seen: the caller is already raising its own."""
    if not future.cancelled():
        future.exception()


class Offload:
    """Ordered jobs in a worker thread of its own, each started without waiting for it.

    The thread runs them one at a time, in order. :meth:`submit` waits only when
    ``depth`` jobs are outstanding (so at most that many jobs' data is held): a
    worker held up a moment (its every return to the GIL waits behind the busy
    loop) no longer stalls the loop's receiving. :meth:`drain` waits for them
    all and re-raises the first error.
    """

    def __init__(self, depth: int = 3) -> None:
        self._jobs: collections.deque[asyncio.Future[None]] = collections.deque()
        self._depth = depth
        self._pool: ThreadPoolExecutor | None = None

    async def submit(self, fn: Callable[..., None], *args: object) -> None:
        while len(self._jobs) >= self._depth:
            await self._jobs.popleft()
        if self._pool is None:
            self._pool = ThreadPoolExecutor(1, thread_name_prefix="ssh-mcp-offload")
        loop = asyncio.get_running_loop()
        self._jobs.append(loop.run_in_executor(self._pool, functools.partial(fn, *args)))

    async def drain(self) -> None:
        try:
            while self._jobs:
                await self._jobs.popleft()
        finally:
            self.abandon()

    def abandon(self) -> None:
        """On failure: forget the jobs (a thread cannot be stopped), drop their errors.

        Not awaited, so a cancelled caller still cleans up at once. A job still
        writing a file the caller then closes fails there, unseen.
        """
        for job in self._jobs:
            job.add_done_callback(retrieve)
        self._jobs.clear()
        if self._pool is not None:
            self._pool.shutdown(wait=False)  # its thread ends after the jobs it holds
            self._pool = None


class LocalSink:
    """A local file written and hashed by :class:`Offload` jobs, closable from the loop.

    Each batch is handed to the kernel's writeback as soon as it is written
    (``POSIX_FADV_DONTNEED``: start writing, drop once clean), so the final
    fsync waits for the last batch only, and the page cache does not fill up
    with a file nobody is reading. The lock makes :meth:`close` wait for a
    write in progress: the descriptor is never closed under a job (its number
    could be reused by another file).
    """

    def __init__(self, fd: int) -> None:
        self.fd, self.size, self.digest = fd, 0, hashlib.sha256()
        self._lock = threading.Lock()
        self._closed = False
        self._advised = 0  # bytes before this were already handed to writeback

    def put(self, blocks: list[bytes]) -> None:
        """Hash and append ``blocks`` (in a worker thread)."""
        with self._lock:
            if self._closed:
                raise ValueError("write to a closed download")
            start = self.size
            # One buffer: each call below releases the GIL, and each return must win it
            # back from the busy loop thread, so few large calls beat many small ones.
            data = b"".join(blocks)
            self.digest.update(data)
            view = memoryview(data)
            while view:
                view = view[os.write(self.fd, view) :]
            self.size += len(data)
            if hasattr(os, "posix_fadvise"):
                os.posix_fadvise(self.fd, self._advised, self.size - self._advised, DONTNEED)
                self._advised = start

    def sync(self) -> None:
        with self._lock:
            os.fsync(self.fd)

    def close(self) -> None:
        with self._lock:
            if not self._closed:
                self._closed = True
                os.close(self.fd)


DONTNEED = getattr(os, "POSIX_FADV_DONTNEED", 4)
