"""A hostile login startup file against the sudo password (DECISIONS.md 49).

A dedicated login user (never the shared ``mcp-ssh-test``) gets a ``~/.bashrc``
that plays a thief: bash runs it before every command sshd starts for that
user. The tests assert on the host that the password never reaches the
thief's loot file, and that the error says what really happened.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from harness import OPEN_SUDO, Target, assert_audit, gone, hosts_toml, make_settings, serve, text
from sshd import Sshd, TestKeys, TestUser, authorize_keys, ensure_user, remote_pids

from ssh_mcp.config.settings import Settings

pytestmark = pytest.mark.anyio
VICTIM = "mcp-ssh-sudorc"

#: The reported attack: take the prompt marker from the command line, argv or environment,
#: print it as sudo would, then collect whatever arrives on stdin (for a moment: every
#: session of this user runs it, the stop ladder's kill channels too).
ECHO_MARKER = r"""
m=$( { printf '%s\n' "$BASH_EXECUTION_STRING"; tr '\0' '\n' </proc/$$/cmdline; env; } |
     grep -ao $'\x1essh-mcp-sudo-[0-9a-f]*:' | head -n 1)
[ -n "$m" ] && printf '%s' "$m" >&2
timeout 0.5 cat >> ~/loot/stolen
"""
#: A thief that knows what the prompt looks like but not this call's marker.
FORGED_MARKER = r"""
printf '\036ssh-mcp-sudo-%s:' 0123456789abcdef0123456789abcdef >&2
timeout 5 cat >> ~/loot/stolen
"""
#: A startup file that waits for a line of input before a sudo command may run.
WAITS_FOR_INPUT = r"""
case $BASH_EXECUTION_STRING in
  *sudo*) IFS= read -r line && printf '%s\n' "$line" >> ~/loot/stolen;;
esac
"""


@pytest.fixture(scope="module")
def victim(ssh_root_dir: Path, test_keys: TestKeys) -> Iterator[TestUser]:
    """A login user of its own, with password sudo, our key and an empty loot directory."""
    user = ensure_user(VICTIM)
    authorize_keys(ssh_root_dir / "authorized_keys", user.name, [test_keys.plain_pub])
    loot = user.home / "loot"
    try:
        yield user
    finally:
        (user.home / ".bashrc").unlink(missing_ok=True)
        shutil.rmtree(loot, ignore_errors=True)
        (ssh_root_dir / "authorized_keys" / user.name).unlink(missing_ok=True)


@pytest.fixture
def plant(victim: TestUser) -> Iterator[Callable[[str], Path]]:
    """Install a ``~/.bashrc`` for the victim; returns the loot file it writes to."""
    loot = victim.home / "loot"
    shutil.rmtree(loot, ignore_errors=True)
    loot.mkdir(mode=0o700)
    os.chown(loot, victim.uid, victim.uid)

    def install(script: str) -> Path:
        (victim.home / ".bashrc").write_text(script)
        return loot / "stolen"

    try:
        yield install
    finally:
        (victim.home / ".bashrc").unlink(missing_ok=True)


@pytest.fixture
def settings(
    tmp_path: Path, victim: TestUser, sshd: Sshd, test_keys: TestKeys, known_hosts_file: Path
) -> Settings:
    secret = tmp_path / "sudo.pw"
    secret.write_text(victim.password + "\n")
    secret.chmod(0o600)
    extra = f'sudo_password_cmd = ["cat", "{secret}"]\n'
    host = Target("rc", sshd.port, victim.name, test_keys.plain, (str(victim.home),), extra)
    return make_settings(tmp_path, hosts_toml(host), known_hosts_file, **OPEN_SUDO)


def assert_not_stolen(loot: Path, victim: TestUser) -> None:
    stolen = loot.read_bytes() if loot.exists() else b""
    assert victim.password.encode() not in stolen, "the startup file got the sudo password"


async def test_marker_is_nowhere_a_startup_file_can_read_it(
    plant: Callable[[str], Path], settings: Settings, victim: TestUser
) -> None:
    """The reported attack finds no marker to print: the password goes to sudo alone, also
    on the stop ladder's kill channels, which used to send it up front."""
    loot = plant(ECHO_MARKER)
    flag = victim.home / "loot" / "ran-as-root"
    async with serve(settings) as (client, app):
        r = await client.call_tool(
            "ssh_sudo_exec", {"host": "rc", "command": f"touch {flag}; id -u"}
        )
        sc = r.structured_content
        assert sc is not None and not r.is_error, text(r)
        assert sc["stdout"] == "0\n" and flag.stat().st_uid == 0
        assert_audit(app, {"tool": "ssh_sudo_exec", "outcome": "ok"})
        marker = "sleep 308.25"
        r = await client.call_tool(
            "ssh_sudo_exec", {"host": "rc", "command": f"{marker} & {marker}; wait", "timeout": 3}
        )
        assert r.structured_content and r.structured_content["timed_out"], text(r)
        assert await gone("root", marker), remote_pids("root", marker)
    assert_not_stolen(loot, victim)
    assert await gone(victim.name, ".")


async def test_a_forged_marker_gets_no_password(
    plant: Callable[[str], Path], settings: Settings, victim: TestUser
) -> None:
    loot = plant(FORGED_MARKER)
    flag = victim.home / "loot" / "ran-as-root"
    async with serve(settings) as (client, app):
        r = await client.call_tool("ssh_sudo_exec", {"host": "rc", "command": f"touch {flag}"})
        assert r.is_error and "\n" not in text(r), text(r)
        assert text(r).startswith("something other than sudo printed the sudo prompt marker on rc ")
        assert (
            "so the password was not sent and nothing ran as root; the login account's startup "
            "files (~/.bashrc, ~/.zshenv, ~/.ssh/rc) may be compromised" in text(r)
        ), text(r)
        assert_audit(app, {"tool": "ssh_sudo_exec", "outcome": "error"})
        # The same for the file tools, whose paths are resolved through sudo first.
        r = await client.call_tool("ssh_sudo_read", {"host": "rc", "path": str(victim.home)})
        assert r.is_error and "something other than sudo" in text(r), text(r)
    assert not flag.exists()
    assert_not_stolen(loot, victim)
    assert await gone(victim.name, ".")


async def test_a_startup_file_waiting_for_input_gets_nothing(
    plant: Callable[[str], Path], settings: Settings, victim: TestUser
) -> None:
    loot = plant(WAITS_FOR_INPUT)
    flag = victim.home / "loot" / "ran-as-root"
    async with serve(settings) as (client, app):
        r = await client.call_tool(
            "ssh_sudo_exec", {"host": "rc", "command": f"touch {flag}", "timeout": 2}
        )
        assert r.is_error and "\n" not in text(r), text(r)
        assert text(r).startswith("the login shell on rc ") and text(r).endswith(
            "did not reach sudo before the timeout (a login startup file may be waiting for "
            "input); the password was not sent and nothing ran as root"
        ), text(r)
        assert_audit(app, {"tool": "ssh_sudo_exec", "outcome": "error"})
    assert not flag.exists()
    assert_not_stolen(loot, victim)
    assert await gone(victim.name, ".")


class _Stdin:
    """Stands in for the channel's stdin: records what was written and the EOF."""

    def __init__(self) -> None:
        self.data, self.eof = b"", False

    def write(self, data: bytes) -> None:
        assert not self.eof, "written after EOF"
        self.data += data

    def write_eof(self) -> None:
        self.eof = True


def _feed(secret: bytes = b"pw\n") -> tuple[Any, Any, _Stdin]:
    from ssh_mcp.ssh.sudo_io import Elevation, SudoFeed

    stdin, elevate = _Stdin(), Elevation(secret)
    return SudoFeed(stdin, elevate, b"payload", None), elevate, stdin  # type: ignore[arg-type]


def test_exchange_in_order_with_marks_split_across_reads() -> None:
    feed, elevate, stdin = _feed()
    prompt = elevate.prompt.encode()
    assert prompt not in elevate.wrap(["id"]).encode()  # never in the command line
    out = feed.feed(b"banner\n\x1essh-mcp-rea") + feed.feed(b"dy:\nmore ")
    assert (out, stdin.data, feed.stage) == (b"banner\nmore ", prompt + b"\n", "waiting")
    out = feed.feed(prompt[:9]) + feed.feed(prompt[9:] + b"tail")
    assert (out, stdin.data[-3:], feed.stage, stdin.eof) == (b"tail", b"pw\n", "sent", False)
    feed.started()
    assert stdin.data.endswith(b"pw\npayload") and stdin.eof and feed.elevated
    # Root's command may print anything, marker look-alikes too.
    assert feed.feed(b"\x1essh-mcp-sudo-x\n") == b"\x1essh-mcp-sudo-x\n" and feed.elevated


def test_ready_line_after_startup_noise_without_a_newline() -> None:
    feed, elevate, stdin = _feed()
    assert feed.feed(b"stty: no tty\x1essh-mcp-ready:\n") == b"stty: no tty"
    assert stdin.data == elevate.prompt.encode() + b"\n"


def test_second_prompt_means_rejected() -> None:
    feed, elevate, stdin = _feed()
    feed.feed(b"\x1essh-mcp-ready:\n" + elevate.prompt.encode())
    feed.feed(b"Sorry, try again.\n" + elevate.prompt.encode())
    assert (feed.stage, stdin.eof, stdin.data.count(b"pw\n")) == ("rejected", True, 1)


@pytest.mark.parametrize(
    ("chunks", "stage"),
    [
        ([b"\x1essh-mcp-sudo-00ff:\n", b"\x1essh-mcp-ready:\n"], "login"),  # before the marker
        ([b"\x1essh-mcp-ready:\n\x1essh-mcp-sudo-" + b"0" * 32 + b":"], "waiting"),  # not ours
        ([b"\x1essh-mcp-ready:\n", b"PROMPT", b"\x1essh-mcp-sudo-x"], "sent"),  # after it
    ],
    ids=["before-ready", "foreign-token", "after-password"],
)
def test_a_marker_that_is_not_ours_stops_the_exchange(chunks: list[bytes], stage: str) -> None:
    feed, elevate, stdin = _feed()
    for chunk in chunks:
        feed.feed(chunk.replace(b"PROMPT", elevate.prompt.encode()))
    feed.flush()
    assert feed.impostor and feed.stage == stage and stdin.eof
    assert (b"pw\n" in stdin.data) == (stage == "sent")
    feed.started()
    assert b"payload" not in stdin.data and not feed.elevated


def test_root_mark_before_the_exchange_is_an_impostor() -> None:
    feed, _, stdin = _feed()
    feed.started()
    assert feed.impostor and not feed.elevated and stdin.data == b"" and stdin.eof
