"""Port forwards on a pooled connection: local, remote and dynamic (SOCKS5).

Each forward pumps the bytes itself instead of using asyncssh's forwarders, so that
it can count them, report every connection it opens (or refuses) to a callback
before any byte moves, and ask a predicate about every SOCKS destination. The
layer decides nothing: the caller passes the predicate and records the reports.

A forward holds one channel slot of its connection while it lives
(:meth:`PooledConnection.hold`), which also keeps the pool's reaper off the
connection; it ends on :meth:`Forward.aclose`, or when the connection drops.
asyncssh errors end here, as one-line errors of the project's tree.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from ssh_mcp.errors import ChannelFailed, RemoteError
from ssh_mcp.ssh.pooled import PooledConnection, connection_lost

if TYPE_CHECKING:
    import asyncssh
else:
    from ssh_mcp.ssh._lazy import asyncssh

Kind = Literal["local", "remote", "socks"]
_CHUNK = 65536
#: Seconds a SOCKS client has to finish its handshake.
SOCKS_HANDSHAKE_TIMEOUT = 10.0


@dataclass(frozen=True)
class Opened:
    """One connection a forward opened or refused; ``outcome`` ok, denied or error."""

    host: str
    port: int
    outcome: Literal["ok", "denied", "error"]
    #: Why not, as a fixed word: not_allowed, prohibited (by sshd), open_failed, connection_lost.
    error: str | None = None


Report = Callable[[Opened], None]
Allow = Callable[[str, int], bool]


@dataclass
class Traffic:
    connections: int = 0  # opened through the forward (refusals are only reported)
    bytes_to_dest: int = 0
    bytes_from_dest: int = 0


def _prohibited(exc: Any) -> bool:
    return getattr(exc, "code", None) == asyncssh.OPEN_ADMINISTRATIVELY_PROHIBITED


def refused_forwarding(label: str) -> ChannelFailed:
    return ChannelFailed(
        f"sshd on {label} refuses TCP forwarding (AllowTcpForwarding or PermitOpen in its "
        "sshd_config); ask its operator"
    )


class Forward:
    """A live forward: its listener, its connections' tasks and their traffic."""

    def __init__(
        self, pc: PooledConnection, kind: Kind, report: Report, dest: tuple[str, int] | None
    ) -> None:
        self.pc, self.kind, self.report, self.dest = pc, kind, report, dest
        self.traffic = Traffic()
        self.address = ""  # host:port of the listener (on the host for a remote forward)
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._listener: asyncio.Server | asyncssh.SSHListener | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._watch: asyncio.Task[None] | None = None

    @property
    def alive(self) -> bool:
        return not self.closed.done() and self.pc.alive

    def _started(
        self, listener: asyncio.Server | asyncssh.SSHListener, host: str, port: int
    ) -> None:
        self._listener = listener
        self.address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        self.pc.hold(self.closed)
        self._watch = asyncio.get_running_loop().create_task(self._until_dropped())

    async def _until_dropped(self) -> None:
        with contextlib.suppress(Exception):
            await self.pc.conn.wait_closed()
        await self.aclose()

    async def aclose(self) -> None:
        """Stop listening, end every connection through it, and free the slot."""
        if self.closed.done():
            return
        self.closed.set_result(None)
        if self._listener is not None:
            with contextlib.suppress(Exception):  # a dropped connection cannot cancel it
                self._listener.close()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        # After the connections: a server's wait_closed may wait for them (Python 3.12+).
        if self._listener is not None:
            with contextlib.suppress(Exception):
                await self._listener.wait_closed()
        if self._watch is not None and self._watch is not asyncio.current_task():
            self._watch.cancel()

    def _track(self) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _splice(
        self, near_r: Any, near_w: Any, far_r: Any, far_w: Any, opened: Opened
    ) -> None:
        """Pump both ways between the accepted side (near) and the destination (far)."""
        t = self.traffic
        t.connections += 1
        self.report(opened)

        def to_dest(n: int) -> None:
            t.bytes_to_dest += n

        def from_dest(n: int) -> None:
            t.bytes_from_dest += n

        pumps = {
            asyncio.ensure_future(_pump(near_r, far_w, to_dest)),
            asyncio.ensure_future(_pump(far_r, near_w, from_dest)),
        }
        try:
            # A clean EOF one way leaves the other way open (a half-close); a broken side
            # ends both.
            while pumps:
                done, pumps = await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
                if not all(task.result() for task in done):
                    break
        finally:
            for task in pumps:
                task.cancel()
            await asyncio.gather(*pumps, return_exceptions=True)
            for w in (near_w, far_w):
                with contextlib.suppress(Exception):
                    w.close()

    def _refused(self, host: str, port: int, outcome: Literal["denied", "error"], why: str) -> None:
        self.report(Opened(host, port, outcome, why))

    async def _open_far(self, host: str, port: int) -> tuple[Any, Any] | str:
        """A direct-tcpip channel to ``host:port`` from the host, or why not."""
        try:
            return await self.pc.conn.open_connection(host, port)
        except asyncssh.ChannelOpenError as exc:
            return "prohibited" if _prohibited(exc) else "open_failed"
        except connection_lost():
            return "connection_lost"

    # -- local and SOCKS: a listener on this machine ------------------------------------

    async def _local_client(self, reader: asyncio.StreamReader, writer: Any) -> None:
        self._track()
        assert self.dest is not None
        host, port = self.dest
        far = await self._open_far(host, port)
        if isinstance(far, str):
            self._refused(host, port, "error", far)
            writer.close()
            return
        await self._splice(reader, writer, *far, Opened(host, port, "ok"))

    async def _socks_client(self, reader: asyncio.StreamReader, writer: Any, allow: Allow) -> None:
        self._track()
        try:
            async with asyncio.timeout(SOCKS_HANDSHAKE_TIMEOUT):
                dest = await _socks_request(reader, writer)
        except (TimeoutError, OSError, asyncio.IncompleteReadError, ValueError):
            writer.close()
            return
        host, port = dest
        if not allow(host, port):
            self._refused(host, port, "denied", "not_allowed")
            writer.write(_socks_reply(2))  # connection not allowed by ruleset
            writer.close()
            return
        far = await self._open_far(host, port)
        if isinstance(far, str):
            self._refused(host, port, "error", far)
            writer.write(_socks_reply(2 if far == "prohibited" else 5))
            writer.close()
            return
        writer.write(_socks_reply(0))
        await self._splice(reader, writer, *far, Opened(host, port, "ok"))

    # -- remote: sshd listens on the host, connections come back here -------------------

    def _remote_handler(self, _orig_host: str, _orig_port: int) -> Callable[..., Any]:
        async def handle(ssh_r: Any, ssh_w: Any) -> None:
            self._track()
            assert self.dest is not None
            host, port = self.dest
            try:
                near_r, near_w = await asyncio.open_connection(host, port)
            except OSError:
                self._refused(host, port, "error", "open_failed")
                ssh_w.close()
                return
            # The destination is on this side: bytes_to_dest are those that came from the host.
            await self._splice(ssh_r, ssh_w, near_r, near_w, Opened(host, port, "ok"))

        return handle


async def _pump(reader: Any, writer: Any, count: Callable[[int], None]) -> bool:
    """Copy until EOF and pass the EOF on: True; False when either side broke."""
    try:
        while data := await reader.read(_CHUNK):
            count(len(data))
            writer.write(data)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()
    except Exception:  # a reset, a closed channel: the connection is over both ways
        return False
    return True


async def _socks_request(reader: asyncio.StreamReader, writer: Any) -> tuple[str, int]:
    """Read a SOCKS5 greeting and CONNECT request (no authentication); the destination."""
    version, count = await reader.readexactly(2)
    methods = await reader.readexactly(count)
    if version != 5 or 0 not in methods:
        writer.write(b"\x05\xff")
        raise ValueError("not SOCKS5 without authentication")
    writer.write(b"\x05\x00")
    version, command, _, atyp = await reader.readexactly(4)
    if atyp == 1:
        host = str(ipaddress.IPv4Address(await reader.readexactly(4)))
    elif atyp == 4:
        host = str(ipaddress.IPv6Address(await reader.readexactly(16)))
    elif atyp == 3:
        (size,) = await reader.readexactly(1)
        host = (await reader.readexactly(size)).decode("ascii", "replace")
    else:
        writer.write(_socks_reply(8))
        raise ValueError("address type")
    (port,) = struct.unpack("!H", await reader.readexactly(2))
    if version != 5 or command != 1:  # CONNECT only: no BIND, no UDP
        writer.write(_socks_reply(7))
        raise ValueError("command")
    return host, port


def _socks_reply(code: int) -> bytes:
    return bytes([5, code, 0, 1, 0, 0, 0, 0, 0, 0])


async def _probe(pc: PooledConnection) -> None:
    """Whether sshd forwards TCP at all: a channel to port 0 is refused by the kernel
    (connect failed) when it does, and administratively prohibited when it does not.
    Nothing is contacted either way."""
    try:
        _, writer = await pc.conn.open_connection("127.0.0.1", 0)
        writer.close()
    except asyncssh.ChannelOpenError as exc:
        if _prohibited(exc):
            raise refused_forwarding(pc.spec.label) from None
    except connection_lost() as exc:
        raise RemoteError(f"the connection to {pc.spec.label} dropped: {exc}") from None


async def _listen_here(fwd: Forward, handler: Callable[..., Any], bind: str, port: int) -> Forward:
    try:
        server = await asyncio.start_server(handler, bind, port)
    except OSError as exc:
        raise RemoteError(
            f"cannot listen on {bind}:{port} on the server ({exc.strerror or exc}); "
            "pick another local_port or omit it"
        ) from None
    fwd._started(server, bind, server.sockets[0].getsockname()[1])
    return fwd


async def forward_local(
    pc: PooledConnection, bind: str, port: int, dest: tuple[str, int], report: Report
) -> Forward:
    """Listen on ``bind:port`` here; each connection reaches ``dest`` from the host."""
    await _probe(pc)
    fwd = Forward(pc, "local", report, dest)
    return await _listen_here(fwd, fwd._local_client, bind, port)


async def forward_socks(
    pc: PooledConnection, bind: str, port: int, allow: Allow, report: Report
) -> Forward:
    """A SOCKS5 proxy on ``bind:port`` here whose CONNECTs leave from the host when
    ``allow(host, port)``; others get "not allowed by ruleset"."""
    await _probe(pc)
    fwd = Forward(pc, "socks", report, None)

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await fwd._socks_client(reader, writer, allow)

    return await _listen_here(fwd, handler, bind, port)


async def forward_remote(
    pc: PooledConnection, port: int, dest: tuple[str, int], report: Report
) -> Forward:
    """sshd listens on the host's 127.0.0.1:``port``; each connection reaches ``dest`` here."""
    fwd = Forward(pc, "remote", report, dest)
    try:
        listener = await pc.conn.start_server(fwd._remote_handler, "127.0.0.1", port)
    except asyncssh.ChannelListenError:
        await _probe(pc)  # says so when forwarding is off altogether
        raise ChannelFailed(
            f"sshd on {pc.spec.label} refused to listen on 127.0.0.1:{port}: the port is in "
            "use, or its AllowTcpForwarding forbids remote forwards"
        ) from None
    except connection_lost() as exc:
        raise RemoteError(f"the connection to {pc.spec.label} dropped: {exc}") from None
    fwd._started(listener, "127.0.0.1", listener.get_port())
    return fwd
