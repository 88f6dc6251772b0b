"""Faults from outside: oversized and unreadable stdin lines are answered, not fatal or silent;
error texts quote the caller's input bounded and escaped.

The stdin tests drive a real `python -m ssh_mcp` over its stdin and stdout, line by line, and
check that the server answers the bad line with a JSON-RPC error and then serves the next request.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import time
from collections.abc import Callable, Iterator
from typing import Any

import anyio
import anyio.to_thread
import pytest
from harness import (
    OPEN,
    OPEN_SUDO,
    StdioServer,
    Target,
    as_env,
    hosts_toml,
    serve,
    server_env,
    text,
    wait_for_audit,
)
from mcp import MCPError
from sshd import TestUser, remote_pids, wait_gone

from ssh_mcp.config.settings import Settings
from ssh_mcp.demo.proctree import wait_until
from ssh_mcp.errors import MESSAGE_LIMIT, PathNotAllowed, shown
from ssh_mcp.tools import ALL_TOOLS

MiB = 1 << 20


class Wire(StdioServer):
    """Raw JSON-RPC lines to and from a spawned `python -m ssh_mcp` (handshake era)."""

    def __init__(self, env: dict[str, str]) -> None:
        super().__init__(env)
        assert self.proc.stdin and self.proc.stdout
        self.stdin, self.stdout = self.proc.stdin, self.proc.stdout
        self._buf = b""

    def line(self, raw: bytes) -> None:
        self.stdin.write(raw + b"\n")
        self.stdin.flush()

    def request(self, rid: int, method: str, params: dict[str, Any] | None = None) -> None:
        msg: dict[str, Any] = {"jsonrpc": "2.0", "id": rid, "method": method}
        if params is not None:
            msg["params"] = params
        self.line(json.dumps(msg).encode())

    def recv(self, within: float = 30.0) -> dict[str, Any]:
        """The next message the server writes; fails if none comes within ``within`` s (a
        server that drops a line answers nothing, ever)."""
        deadline = time.monotonic() + within
        while b"\n" not in self._buf:
            left = deadline - time.monotonic()
            assert left > 0, "no reply: the server dropped the message"
            ready, _, _ = select.select([self.stdout.fileno()], [], [], left)
            if ready:
                chunk = os.read(self.stdout.fileno(), 1 << 16)
                assert chunk, f"the server closed stdout; exit {self.proc.poll()}"
                self._buf += chunk
        raw, self._buf = self._buf.split(b"\n", 1)
        reply: dict[str, Any] = json.loads(raw)
        return reply

    def initialize(self) -> None:
        self.request(
            0,
            "initialize",
            {
                "protocolVersion": "2025-11-25",
                "capabilities": {},
                "clientInfo": {"name": "wire", "version": "0"},
            },
        )
        assert self.recv()["result"]["protocolVersion"] == "2025-11-25"
        self.line(b'{"jsonrpc":"2.0","method":"notifications/initialized"}')

    def peak_rss(self) -> int:
        """VmHWM of the server process, in bytes."""
        with open(f"/proc/{self.proc.pid}/status") as f:
            for row in f:
                if row.startswith("VmHWM:"):
                    return int(row.split()[1]) * 1024
        raise AssertionError("no VmHWM")


@pytest.fixture
def wire(settings_for: Callable[..., Settings]) -> Iterator[Wire]:
    w = Wire(server_env(settings_for()))
    try:
        w.initialize()
        yield w
    finally:
        w.close()


def _serves_on(w: Wire, rid: int) -> None:
    """The server is alive and answers a normal request after the fault."""
    w.request(rid, "tools/call", {"name": "ssh_host_ping", "arguments": {"host": "target"}})
    reply = w.recv()
    assert reply["id"] == rid and reply["result"]["structuredContent"]["auth_ok"] is True, reply
    assert w.proc.poll() is None


def test_a_line_over_64_mib_is_answered_and_the_server_carries_on(wire: Wire) -> None:
    size = 300 * MiB  # far over the cap: a server that kept the line would hold all of it
    before = wire.peak_rss()
    wire.stdin.write(b'{"jsonrpc":"2.0","id":7,"method":"tools/list","params":{"pad":"')
    chunk = b"x" * MiB
    for _ in range(size // MiB):
        wire.stdin.write(chunk)
    wire.stdin.write(b'"}}\n')
    wire.stdin.flush()
    reply = wire.recv()
    assert reply["id"] is None and reply["error"]["code"] == -32600, reply
    assert reply["error"]["message"].startswith("request too large"), reply
    _serves_on(wire, 8)
    # The line was dropped as it streamed: memory grew by about the reader's bound, not by 300 MiB.
    assert wire.peak_rss() - before < 200 * MiB, (before, wire.peak_rss())


def test_a_line_just_under_the_cap_is_still_read(wire: Wire) -> None:
    pad = "x" * (60 * MiB)
    wire.request(9, "tools/list", {"pad": pad})
    reply = wire.recv()
    assert reply["id"] == 9 and "result" in reply and reply["result"]["tools"], str(reply)[:200]


#: (line, id of the reply, code, words in the message)
UNREADABLE: list[tuple[bytes, int | None, int, str]] = [
    # JavaScript's JSON.stringify writes a lone surrogate as this escape.
    (
        rb'{"jsonrpc":"2.0","id":11,"method":"tools/call",'
        rb'"params":{"name":"ssh_host_ping","arguments":{"host":"x\ud800"}}}',
        11,
        -32700,
        "lone surrogate",
    ),
    (rb'{"jsonrpc":"2.0","id":"s\udc00","method":"tools/list"}', None, -32600, "id must"),
    (rb'{"jsonrpc":"2.0","id":12,"method":"tools/list","params":[]}', 12, -32602, "object"),
    (
        rb'{"jsonrpc":"2.0","id":13,"method":"tools/call","params":["ssh_host_ping"]}',
        13,
        -32602,
        "object",
    ),
    (rb'{"jsonrpc":"2.0","id":true,"method":"tools/list"}', None, -32600, "id must"),
    (rb'{"jsonrpc":"2.0","id":1.5,"method":"tools/list"}', None, -32600, "id must"),
    (rb'{"jsonrpc":"1.0","id":14,"method":"tools/list"}', 14, -32600, '"jsonrpc": "2.0"'),
    (rb'{"jsonrpc":"2.0","id":15}', 15, -32600, "method"),
    (rb"[1, 2]", None, -32600, "no batches"),
    (rb"not json at all", None, -32700, "not JSON"),
]


def test_unreadable_requests_get_a_json_rpc_error(wire: Wire) -> None:
    for raw, rid, code, words in UNREADABLE:
        wire.line(raw)
        reply = wire.recv()
        assert reply["id"] == rid and reply["error"]["code"] == code, (raw, reply)
        message = reply["error"]["message"]
        assert words in message and "\n" not in message and len(message) < 200, message
        assert "\x00" not in message and "\x1b" not in message, message
        _serves_on(wire, 20)
    # A readable request for an unknown method: the SDK answers, and quotes the method bounded.
    wire.request(16, "\x00\x1b" + "m" * MiB)
    reply = wire.recv()
    assert reply["id"] == 16 and reply["error"]["code"] == -32601, str(reply)[:300]
    assert reply["error"]["data"].startswith("'\\x00\\x1bmmm") and len(str(reply)) < 300, reply
    _serves_on(wire, 21)


@pytest.mark.parametrize("depth", [450, 5000])
def test_deeply_nested_arguments_are_answered_and_the_server_reads_on(
    wire: Wire, depth: int
) -> None:
    """Nesting the SDK's parser refuses (over 200 levels) but json reads: the screen that
    looks for surrogates must not recurse past Python's limit and stop reading stdin."""
    nested = '{"a":' * depth + "1" + "}" * depth
    call = {"name": "ssh_host_ping", "arguments": {"host": "target"}}
    wire.line(json.dumps({"jsonrpc": "2.0", "id": 30, "method": "tools/call", "params": call})
              .replace('"target"}', '"target", "x": ' + nested + "}").encode())  # fmt: skip
    reply = wire.recv()
    assert reply["id"] in (30, None) and reply["error"]["code"] in (-32600, -32700), reply
    assert "nested" in reply["error"]["message"], reply
    _serves_on(wire, 31)


def test_notifications_and_responses_are_never_answered(wire: Wire) -> None:
    """JSON-RPC answers neither, even malformed ones: the next reply is the next request's."""
    wire.line(rb'{"jsonrpc":"2.0","method":"notifications/x","params":[1]}')
    wire.line(rb'{"jsonrpc":"2.0","method":"notifications/y","params":{"a":"\ud800"}}')
    wire.line(rb'{"jsonrpc":"2.0","id":99,"result":[]}')
    _serves_on(wire, 21)


# -- error texts quote the caller's input bounded and escaped --------------------------------

BIG = 1_000_000
NASTY = "\x00\x1b[2J\x1b]0;pwned\x07\u202e"  # NUL, terminal escapes, a bidi override


def _clean_and_small(message: str) -> None:
    assert len(message.encode()) < 1024, len(message)
    assert "\n" not in message
    for raw in ("\x00", "\x1b", "\x07", "\u202e"):
        assert raw not in message, message


@pytest.mark.anyio
async def test_huge_and_nasty_arguments_get_small_escaped_errors(
    settings_for: Callable[..., Settings],
) -> None:
    async with serve(settings_for(**OPEN)) as (client, app):
        calls: list[tuple[str, dict[str, Any], str, str]] = [
            # A megabyte unknown key: the key is the location pydantic reports.
            (
                "ssh_exec_run",
                {"host": "target", "command": "true", NASTY + "k" * BIG: 1},
                "unknown field",
                "InvalidArguments",
            ),
            # A megabyte value: its length is reported, never the value.
            ("ssh_exec_run", {"host": NASTY + "h" * BIG, "command": "true"}, "at most 253", ""),
            ("ssh_broadcast", {"hosts": ["h" * BIG], "command": "true"}, "hosts.0", ""),
            ("ssh_broadcast", {"group": "g" * BIG, "command": "true"}, "group", ""),
            # A short nasty host name reaches host resolution, which quotes it escaped.
            ("ssh_exec_run", {"host": NASTY, "command": "true"}, "\\x1b[2J", "HostNotAllowed"),
            ("ssh_broadcast", {"hosts": [NASTY], "command": "true"}, "\\x00", "HostNotAllowed"),
            (NASTY + "t" * BIG, {}, "unknown tool", "ToolNotAvailable"),
        ]
        for n, (tool, arguments, words, error) in enumerate(calls, start=1):
            r = await client.call_tool(tool, arguments)
            message = text(r)
            assert r.is_error and words in message, (tool, message[:300])
            _clean_and_small(message)
            audit = await wait_for_audit(app, n)
            assert audit["outcome"] == "denied", audit
            assert audit["error"] == (error or "InvalidArguments"), audit
            assert len(json.dumps(audit)) < 2048  # the audit line is bounded too
        with pytest.raises(MCPError) as caught:
            await client.read_resource(NASTY + "u" * BIG)
        _clean_and_small(caught.value.error.message)


def test_every_error_text_is_bounded_and_escaped_whoever_builds_it() -> None:
    """The safety net under `shown`: an error that quotes raw input without it is still cut
    (head and remedy kept) and escaped."""
    exc = PathNotAllowed(f"/{NASTY}{'p' * BIG} is outside the path allowlist; use a path in it")
    message = str(exc)
    assert len(message) <= MESSAGE_LIMIT and message.endswith("use a path in it")
    assert message.startswith("/\\x00\\x1b[2J")
    _clean_and_small(" ".join(message.split())[:1000])
    assert shown("a\x00b") == "'a\\x00b'"
    assert shown("x" * 500).endswith("…' (500 characters)") and len(shown("x" * 500)) < 130


def test_every_list_item_in_every_tool_input_is_bounded() -> None:
    def arrays(schema: dict[str, Any], defs: dict[str, Any]) -> Iterator[dict[str, Any]]:
        if "$ref" in schema:
            yield from arrays(defs[schema["$ref"].rsplit("/", 1)[1]], defs)
        for sub in schema.get("anyOf", []) + list(schema.get("properties", {}).values()):
            yield from arrays(sub, defs)
        if schema.get("type") == "array":
            yield schema

    for spec in ALL_TOOLS:
        schema = spec.input.model_json_schema()
        for array in arrays(schema, schema.get("$defs", {})):
            assert "maxItems" in array, spec.name
            items = array.get("items", {})
            assert items.get("type") != "string" or "maxLength" in items, (spec.name, array)


# -- a server killed with SIGKILL leaves nothing running on the host --------------------------


@pytest.fixture
def sudo_settings(
    sudo_target: Target, settings_for: Callable[..., Settings]
) -> Callable[[], Settings]:
    """The target with a sudo_password_cmd (``cat`` of a 0600 file)."""
    return lambda: settings_for(hosts=hosts_toml(sudo_target))


@pytest.fixture
def as_root(root_target: Target, settings_for: Callable[..., Settings]) -> Settings:
    """The target, logged in as root (no privilege separation: sshd ignores channel signals)."""
    return settings_for(hosts=hosts_toml(root_target))


def _appears(user: str, pattern: str) -> bool:
    return wait_until(lambda: bool(remote_pids(user, pattern)), 15.0, 0.02)


def _killed_server_leaves_nothing(
    settings: Settings, user: str, tool: str, arguments: dict[str, Any], marker: str
) -> None:
    """Call ``tool``, `kill -9` the server once ``marker`` runs on the host as ``user``, and
    poll until it is gone (up to 15 s)."""
    w = Wire(server_env(settings, **as_env(OPEN_SUDO)))
    try:
        w.initialize()
        w.request(49, "tools/call", {"name": tool, "arguments": arguments})
        assert _appears(user, marker), f"{marker} never started"
        w.proc.kill()  # SIGKILL: no stop ladder, no channel close, sshd just sees the TCP drop
        w.proc.wait()
        assert wait_gone(user, marker, 15.0), remote_pids(user, marker)
    finally:
        w.close()


@pytest.mark.parametrize(
    "tool",
    [
        "ssh_exec_run",
        # The script goes to `sh -s` on stdin: the watchdog cannot watch stdin, only sshd.
        "ssh_exec_script",
    ],
)
def test_sigkilled_server_leaves_no_exec_running(
    settings_for: Callable[..., Settings], test_user: TestUser, tool: str
) -> None:
    marker = f"sleep 347.{len(tool)}"
    field = "command" if tool == "ssh_exec_run" else "script"
    arguments = {"host": "target", field: f"echo start; {marker}; echo never"}
    _killed_server_leaves_nothing(settings_for(), test_user.name, tool, arguments, marker)


def test_sigkilled_server_leaves_no_sudo_command_running(
    sudo_settings: Callable[..., Settings],
) -> None:
    marker = "sleep 347.3"
    arguments = {"host": "target", "command": marker}
    _killed_server_leaves_nothing(sudo_settings(), "root", "ssh_sudo_exec", arguments, marker)


def test_sigkilled_server_leaves_no_root_login_command_running(as_root: Settings) -> None:
    marker = "sleep 347.4"
    arguments = {"host": "target", "command": marker}
    _killed_server_leaves_nothing(as_root, "root", "ssh_exec_run", arguments, marker)


def test_sigkilled_server_ends_its_shell_sessions(
    settings_for: Callable[..., Settings], test_user: TestUser
) -> None:
    """Shell sessions live in the server's memory: they end with it, running command and all."""
    marker = "sleep 347.5"
    w = Wire(server_env(settings_for(), **as_env(OPEN_SUDO)))
    try:
        w.initialize()
        w.request(40, "tools/call", {"name": "ssh_shell_open", "arguments": {"host": "target"}})
        session = w.recv()["result"]["structuredContent"]["session_id"]
        command = {"session_id": session, "command": f"cd /; {marker}"}
        w.request(41, "tools/call", {"name": "ssh_shell_exec", "arguments": command})
        assert _appears(test_user.name, marker)
        w.proc.kill()
        w.proc.wait()
        assert wait_gone(test_user.name, marker, 15.0), remote_pids(test_user.name, marker)
    finally:
        w.close()


def test_jobs_survive_a_sigkilled_server(
    settings_for: Callable[..., Settings], test_user: TestUser
) -> None:
    """Jobs are meant to outlive the server (a new one reattaches them: test_server); its exec
    calls are not. The job runs in a session of its own, out of the watchdog's reach."""
    job_marker, exec_marker = "sleep 347.6", "sleep 347.7"
    w = Wire(server_env(settings_for(), **as_env(OPEN_SUDO)))
    job: list[int] = []
    try:
        w.initialize()
        w.request(40, "tools/call", {"name": "ssh_job_start", "arguments": {
            "host": "target", "command": job_marker}})  # fmt: skip
        assert w.recv()["result"]["structuredContent"]["job_id"]
        assert _appears(test_user.name, f"^{job_marker}$")
        job = remote_pids(test_user.name, f"^{job_marker}$")
        w.request(41, "tools/call", {"name": "ssh_exec_run", "arguments": {
            "host": "target", "command": exec_marker}})  # fmt: skip
        assert _appears(test_user.name, exec_marker)
        w.proc.kill()
        w.proc.wait()
        assert wait_gone(test_user.name, exec_marker, 15.0), remote_pids(
            test_user.name, exec_marker
        )
        assert remote_pids(test_user.name, f"^{job_marker}$") == job  # the job runs on
    finally:
        w.close()
        for pid in job:  # the job's process group, by the PID it was seen with
            with contextlib.suppress(ProcessLookupError):
                os.killpg(os.getpgid(pid), signal.SIGKILL)
    assert wait_gone(test_user.name, f"^{job_marker}$", 10.0)


@pytest.mark.anyio
async def test_the_watchdog_changes_no_result_and_leaves_nothing_behind(
    settings_for: Callable[..., Settings], test_user: TestUser
) -> None:
    """A bare `wait` does not wait for the watchdog, output and exit code are the command's,
    and the watchdog (there while the command runs) is gone soon after it exits."""
    user = test_user.name
    async with serve(settings_for(**OPEN)) as (client, _):
        command = "sleep 1 & wait; echo waited $?; echo err >&2; exit 3 # wd-347.8"
        result: list[dict[str, Any] | None] = []

        async def call() -> None:
            r = await client.call_tool("ssh_exec_run", {"host": "target", "command": command})
            result.append(r.structured_content)

        async with anyio.create_task_group() as tg:
            tg.start_soon(call)
            assert await anyio.to_thread.run_sync(_appears, user, "wd-347.8")
            shell = remote_pids(user, "wd-347.8")[0]  # the command's shell, its group leader
            watchdog = f"ssh-mcp-watchdog {shell} "
            assert await anyio.to_thread.run_sync(_appears, user, watchdog)
        sc = result[0]
        assert sc is not None and (sc["stdout"], sc["stderr"], sc["exit_code"]) == (
            "waited 0\n",
            "err\n",
            3,
        ), sc
        assert await anyio.to_thread.run_sync(wait_gone, user, watchdog, 5.0)


def test_sigkilled_server_leaves_no_background_child_of_a_finished_shell(
    settings_for: Callable[..., Settings], test_user: TestUser
) -> None:
    """The shell ends at once, but its background child keeps the channel's output open, so
    the call is still running when the server dies: the child must go with it."""
    marker = "sleep 452.1"
    arguments = {"host": "target", "command": f"echo start; {marker} & exit 0"}
    _killed_server_leaves_nothing(settings_for(), test_user.name, "ssh_exec_run", arguments, marker)
