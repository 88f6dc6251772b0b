"""Tests for the hash-chained audit log."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import stat
from itertools import pairwise
from pathlib import Path

import pytest

from ssh_mcp.errors import ConfigError
from ssh_mcp.state.audit import AuditLog, verify

GENESIS = "sha256:" + "0" * 64
KEY = b"k" * 32


def _fill(path: Path, n: int, key: bytes | None = None) -> list[dict[str, object]]:
    log = AuditLog(path, key)
    out = [log.write({"id": i, "tool": "ssh_exec", "outcome": "ok"}) for i in range(n)]
    log.close()
    return out


def _lines(path: Path) -> list[bytes]:
    return path.read_bytes().splitlines(keepends=True)


def test_chain_links_and_continues_across_instances(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    first = _fill(path, 2)
    assert first[0]["prev"] == GENESIS
    AuditLog(path).write({"id": 99})
    raw = [line.rstrip(b"\n") for line in _lines(path)]
    assert len(raw) == 3
    for before, after in pairwise(raw):
        assert json.loads(after)["prev"] == "sha256:" + hashlib.sha256(before).hexdigest()
    assert verify(path).ok


def test_digest_formats(tmp_path: Path) -> None:
    plain = AuditLog(tmp_path / "a").digest("rm -rf /")
    keyed = AuditLog(tmp_path / "a", KEY).digest("rm -rf /")
    assert re.fullmatch(r"sha256:[0-9a-f]{64}", plain)
    assert re.fullmatch(r"hmac-sha256:[0-9a-f]{64}", keyed)
    assert plain[7:] != keyed[12:]
    assert keyed[12:] == hmac.new(KEY, b"rm -rf /", hashlib.sha256).hexdigest()


def test_empty_key_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        AuditLog(tmp_path / "a", b"")


def test_record_shape(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    log = AuditLog(path)
    rec = log.write({"tool": "ls", "exit_code": None, "prev": "forged", "note": "é\n"})
    log.write({"id": 2, "ts": "2026-11-21T22:01:02.123Z"})
    log.close()
    assert list(rec) == ["ts", "tool", "note", "prev"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", str(rec["ts"]))
    first, second = _lines(path)
    assert json.loads(first) == rec
    assert b"\xc3\xa9" in first and b" " not in first  # ensure_ascii=False, compact
    assert list(json.loads(second)) == ["ts", "id", "prev"]
    assert json.loads(second)["ts"] == "2026-11-21T22:01:02.123Z"


def test_file_and_dir_modes(tmp_path: Path) -> None:
    path = tmp_path / "new" / "audit.jsonl"
    log = AuditLog(path)
    assert not path.parent.exists()  # lazy
    log.write({"id": 1})
    log.close()
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(path.parent).st_mode) == 0o700


def test_verify_ok_and_empty(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    path.touch()
    assert verify(path).ok and verify(path).lines == 0
    _fill(path, 5, KEY)
    report = verify(path, KEY)
    assert report.ok and report.lines == 5 and report.reason is None


def _tamper(path: Path, edit: str) -> None:
    lines = _lines(path)
    if edit == "edit":
        lines[2] = lines[2].replace(b'"id":2', b'"id":7')
    elif edit == "delete":
        del lines[2]
    elif edit == "swap":
        lines[2], lines[3] = lines[3], lines[2]
    elif edit == "garbage":
        lines[2] = b"not json\n"
    path.write_bytes(b"".join(lines))


@pytest.mark.parametrize(
    ("edit", "bad", "reason"),
    [
        ("edit", 4, "line 4: prev does not match line 3"),
        ("delete", 3, "line 3: prev does not match line 2"),
        ("swap", 3, "line 3: prev does not match line 2"),
        ("garbage", 3, "line 3: not valid JSON"),
    ],
)
def test_verify_detects_tampering(tmp_path: Path, edit: str, bad: int, reason: str) -> None:
    path = tmp_path / "audit.jsonl"
    _fill(path, 6)
    _tamper(path, edit)
    report = verify(path)
    assert not report.ok
    assert report.first_bad_line == bad
    assert report.reason == reason


def test_verify_wrong_key(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    _fill(path, 3, KEY)
    assert verify(path, KEY).ok
    assert verify(path, b"other").first_bad_line == 2
    assert verify(path).first_bad_line == 1


def test_keyed_chain_cannot_be_rebuilt_without_key(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    _fill(path, 6, KEY)
    _tamper(path, "edit")
    lines = [line.rstrip(b"\n") for line in _lines(path)]
    for i in range(3, len(lines)):  # re-chain after the edit with a guessed key
        rec = json.loads(lines[i])
        rec["prev"] = "hmac-sha256:" + hmac.new(b"guess", lines[i - 1], "sha256").hexdigest()
        lines[i] = json.dumps(rec, separators=(",", ":")).encode()
    path.write_bytes(b"\n".join(lines) + b"\n")
    report = verify(path, KEY)
    assert report.first_bad_line == 4
    assert verify(path, b"guess").first_bad_line == 2


def test_partial_trailing_line(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    _fill(path, 2)
    with path.open("ab") as f:
        f.write(b'{"ts":"x","id":')
    report = verify(path)
    assert (report.ok, report.first_bad_line) == (False, 3)
    assert report.reason == "line 3: partial line without a trailing newline"
    _fill(path, 2)  # terminates the torn line and chains over it
    assert len(_lines(path)) == 5
    assert verify(path).reason == "line 3: not valid JSON"
    lines = _lines(path)
    assert json.loads(lines[3])["prev"] == (
        "sha256:" + hashlib.sha256(lines[2].rstrip(b"\n")).hexdigest()
    )


def test_large_existing_file_continues_chain(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    log = AuditLog(path)
    for i in range(5):  # ~5 MB; the last line alone spans many read chunks
        log.write({"id": i, "pad": "x" * 1_000_000})
    log.close()
    assert path.stat().st_size > 5_000_000
    _fill(path, 2)
    report = verify(path)
    assert report.ok and report.lines == 7
