"""The tar stream reader that follows a directory transfer (pure, no host)."""

from __future__ import annotations

import io
import os
import tarfile

import pytest

from ssh_mcp.errors import CapExceeded, RemoteError
from ssh_mcp.ssh.tarstream import Member, TarReader

LONG = "d/" + "x" * 150 + "/" + "é" * 80 + ".txt"  # past ustar's 100 and 155 bytes


def _archive(fmt: int) -> tuple[bytes, dict[str, bytes]]:
    files = {"./top/a.txt": b"alpha\n", f"./top/{LONG}": os.urandom(70_000), "./top/e": b""}
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as tar:
        top = tarfile.TarInfo("./top")
        top.type, top.mode = tarfile.DIRTYPE, 0o755
        tar.addfile(top)
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o640
            tar.addfile(info, io.BytesIO(data))
        link = tarfile.TarInfo("./top/link")
        link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
        tar.addfile(link)
    return buf.getvalue(), files


def _read(stream: bytes, step: int, **caps: int) -> tuple[list[Member], dict[str, bytes], bool]:
    reader = TarReader(max_entries=caps.get("entries", 100), max_bytes=caps.get("bytes", 10**9))
    members: list[Member] = []
    data: dict[str, bytes] = {}
    for i in range(0, len(stream), step):
        for member, piece in reader.feed(stream[i : i + step]):
            if member is not None:
                members.append(member)
                data[member.name] = b""
            else:
                assert piece
                data[members[-1].name] += piece
    return members, data, reader.ended


@pytest.mark.parametrize("fmt", [tarfile.GNU_FORMAT, tarfile.PAX_FORMAT, tarfile.USTAR_FORMAT])
@pytest.mark.parametrize("step", [1, 511, 513, 65536])
def test_members_and_data_in_any_chunking(fmt: int, step: int) -> None:
    if fmt == tarfile.USTAR_FORMAT:
        with pytest.raises(ValueError):  # ustar cannot hold LONG; tarfile refuses
            _archive(fmt)
        return
    stream, files = _archive(fmt)
    if step == 1:
        stream = stream[: 64 * 1024]  # byte by byte is slow: the start is enough
    members, data, ended = _read(stream, step)
    if step == 1:
        assert members[0] == Member("./top/", "dir", 0, 0o755)  # tarfile marks a dir
        return
    assert ended
    assert [m.kind for m in members] == ["dir", "file", "file", "file", "symlink"]
    assert {m.name: data[m.name] for m in members if m.kind == "file"} == files
    assert all(m.mode == 0o640 for m in members if m.kind == "file")


def test_a_stream_cut_short_has_not_ended() -> None:
    stream, _ = _archive(tarfile.GNU_FORMAT)
    for cut in (512, 1024, 40_000):  # at a header boundary, after a header, mid-data
        *_, ended = _read(stream[:cut], 4096)
        assert not ended, cut


def test_caps_stop_at_once() -> None:
    stream, _ = _archive(tarfile.GNU_FORMAT)
    with pytest.raises(CapExceeded, match="more than 2 entries"):
        _read(stream, 4096, entries=2)
    with pytest.raises(CapExceeded, match="more than 1000 bytes"):
        _read(stream, 4096, bytes=1000)


def test_a_corrupt_header_is_refused() -> None:
    stream, _ = _archive(tarfile.GNU_FORMAT)
    bad = bytearray(stream)
    bad[0:4] = b"evil"
    with pytest.raises(RemoteError, match="checksum"):
        _read(bytes(bad), 4096)
