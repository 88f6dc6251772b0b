"""Reading a tar stream as it passes: members, their data, and whether it ended properly.

A tree moves as one GNU tar stream (``tar -c`` on the source host). This
reader follows it incrementally, chunk by chunk, without holding more than
one header: it counts files and bytes for progress and caps, tells a stream
that was cut short from one that ended with its end-of-archive blocks, and
hands each member's data to whoever writes it (:mod:`ssh_mcp.ssh.local_tree`).
It understands ustar, GNU (long names ``L``/``K``, base-256 sizes) and pax
(``x``: ``path``, ``linkpath``, ``size``) headers.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from ssh_mcp.errors import CapExceeded, RemoteError

BLOCK = 512
#: Long-name and pax records larger than this are refused (a name is at most PATH_MAX).
_META_MAX = 1024 * 1024
_FILE = (b"0", b"\0", b"7")
_KIND = {b"5": "dir", b"2": "symlink", b"1": "hardlink"}


@dataclass(frozen=True)
class Member:
    """One archived entry. ``kind``: file, dir, symlink, hardlink or other (devices, fifos,
    sparse files: never written)."""

    name: str
    kind: str
    size: int
    mode: int


def _number(field: bytes) -> int:
    if field[:1] and field[0] & 0x80:  # GNU base-256
        return int.from_bytes(field[1:], "big")
    text = field.split(b"\0", 1)[0].strip()
    return int(text, 8) if text else 0


def _pax(data: bytes) -> dict[str, str]:
    out: dict[str, str] = {}
    while data:
        length, _, rest = data.partition(b" ")
        n = int(length)
        record = rest[: n - len(length) - 1].rstrip(b"\n")
        key, _, value = record.partition(b"=")
        out[key.decode("utf-8", "surrogateescape")] = value.decode("utf-8", "surrogateescape")
        data = data[n:]
    return out


class TarReader:
    """Feed chunks, get events: ``(Member, None)`` when a header is complete, then
    ``(None, bytes)`` for pieces of its data. :attr:`ended` once the end-of-archive
    blocks were read; :attr:`files`, :attr:`entries` and :attr:`file_bytes` so far.
    Passing ``max_entries`` or ``max_bytes`` raises CapExceeded at once."""

    def __init__(self, *, max_entries: int, max_bytes: int) -> None:
        self.max_entries, self.max_bytes = max_entries, max_bytes
        self.entries = self.files = self.file_bytes = 0
        self.ended = False
        self._buf = bytearray()
        self._left = 0  # data bytes of the current member still to come
        self._pad = 0  # padding after them
        self._meta: bytes | None = None  # type of a long-name/pax record being read
        self._meta_data = bytearray()
        self._next: dict[str, str] = {}  # overrides for the next header
        self._zeros = 0

    def feed(self, chunk: bytes) -> Iterator[tuple[Member | None, bytes | None]]:
        if self.ended:
            return  # what follows the end blocks (tar's record padding) is ignored
        self._buf += chunk
        while True:
            if self._left:
                take = min(self._left, len(self._buf))
                if not take:
                    return
                piece = bytes(self._buf[:take])
                del self._buf[:take]
                self._left -= take
                if self._meta is not None:
                    self._meta_data += piece
                    if not self._left:
                        self._end_meta()
                else:
                    yield None, piece
                continue
            if self._pad:
                take = min(self._pad, len(self._buf))
                del self._buf[:take]
                self._pad -= take
                if self._pad:
                    return
            if len(self._buf) < BLOCK:
                return
            header = bytes(self._buf[:BLOCK])
            del self._buf[:BLOCK]
            if header == bytes(BLOCK):
                self._zeros += 1
                if self._zeros == 2:
                    self.ended = True
                    return
                continue
            self._zeros = 0
            member = self._header(header)
            if member is not None:
                yield member, None

    def _data(self, size: int) -> None:
        self._left, self._pad = size, -size % BLOCK

    def _header(self, h: bytes) -> Member | None:
        check = _number(h[148:156])
        if check != sum(h[:148]) + 8 * 32 + sum(h[156:]):
            raise RemoteError("the tar stream is corrupt (a header checksum does not match)")
        flag, size = h[156:157], _number(h[124:136])
        if flag in (b"L", b"K", b"x", b"g"):
            if size > _META_MAX:
                raise RemoteError("the tar stream holds an oversized name record")
            self._meta, self._meta_data = flag, bytearray()
            self._data(size)
            if not size:
                self._end_meta()
            return None
        name = h[0:100].split(b"\0", 1)[0]
        if h[257:263] == b"ustar\0":  # POSIX: a prefix field (GNU puts times there)
            prefix = h[345:500].split(b"\0", 1)[0]
            name = prefix + b"/" + name if prefix else name
        extra, self._next = self._next, {}
        path = extra.get("path", name.decode("utf-8", "surrogateescape"))
        size = int(extra.get("size", size))
        kind = "file" if flag in _FILE else _KIND.get(flag, "other")
        data = size if kind in ("file", "other") else 0
        self._data(data)
        self.entries += 1
        if kind == "file":
            self.files += 1
            self.file_bytes += size
        if self.entries > self.max_entries:
            raise CapExceeded(f"the tree holds more than {self.max_entries} entries")
        if self.file_bytes > self.max_bytes:
            raise CapExceeded(f"the tree holds more than {self.max_bytes} bytes")
        return Member(path, kind, size, _number(h[100:108]) & 0o7777)

    def _end_meta(self) -> None:
        flag, data = self._meta, bytes(self._meta_data)
        self._meta = None
        text = data.split(b"\0", 1)[0].decode("utf-8", "surrogateescape")
        if flag == b"L":
            self._next["path"] = text
        elif flag == b"x":
            self._next.update({k: v for k, v in _pax(data).items() if k in ("path", "size")})
