"""ssh_broadcast to many host aliases: its wall time as a ratio to the slowest single
host, and the server's RSS per pooled connection.

    uv run python bench/broadcast.py [--hosts 500] [--sshds 20] [--rounds 3] \
        [--cold-rounds 1] [--sleep 0.5] [--cap N]

Starts ``--sshds`` real OpenSSH sshds (``ssh_mcp.demo.sandbox``; the asyncssh fallback is
refused) and writes a hosts.toml with ``--hosts`` aliases spread over them round-robin,
all in ``[groups] all``. Aliases sharing an sshd are still distinct hosts to ssh-mcp:
each has its own pool entry, TCP connection, handshake and sshd session processes, which
is what a fleet costs the client. What the machine cannot stand in for is each host's own
CPU: here every remote session shares the same cores, so the figures are pessimistic.
Every ssh-mcp figure goes through ``python -m ssh_mcp`` over stdio, as operators run it,
for ``sleep 0.5; echo hi`` (a command that takes a moment) and ``echo hi`` (bound by the
CPU cost of the remote sessions):

* warm: one ``ssh_broadcast(group="all")`` with every alias's connection pooled, next to
  the slowest single host: ``ssh_exec_run`` of the same command on one alias per sshd,
  the largest of the per-sshd medians. Rounds interleave broadcasts and single calls.
* cold: a fresh server whose pool is empty for the measured aliases, so the broadcast
  makes one handshake per alias. One call on a spare alias first pays imports and
  first-call costs off the clock. Baseline: a fresh server's first call on one alias.
* with SSH_BROADCAST_CONCURRENCY unset (the default: all hosts at once; the target
  applies) and, with ``--cap N``, set to N (for information: the hosts run in waves).
  SSH_CONNECT_TIMEOUT is 60 s: a cold broadcast's handshakes queue, 8 per sshd, for
  longer than the default 10 s on 2 shared cores.
* floors, for diagnosis: the same fan-out with raw asyncssh in this process.
* RSS (VmRSS, peak VmHWM) of the server after its warm broadcasts, next to the same
  server after single-host calls only.

"cores busy" is the whole machine's (/proc/stat) during the call: near the core count,
the fan-out is bound by CPU (handshakes, sshd forking sessions), not by waiting.
Target, the issue's: broadcast / slowest single host <= 1.5x (PASS/MISS). A miss does not
fail the script (exit 0); an error does.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path

import asyncssh
from _common import BenchError, check, cpu_seconds, open_stdio, print_table, run_main
from mcp import Client
from mcp.types import CallToolResult

import ssh_mcp
from ssh_mcp.demo.sandbox import Sandbox, start_sandbox
from ssh_mcp.ssh.connect import CIPHERS

TARGET = 1.5
SPARE = "spare"  # an alias outside the group: a fresh server's untimed first call
GROUP = "all"
SINGLE_REPS = 3  # single-host calls per alias per round: they are the short, noisy ones


@dataclass
class Stat:
    """One series: wall seconds, the server's CPU seconds and machine cores busy per call."""

    wall: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)
    cores: list[float] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.wall)

    def cells(self) -> list[str]:
        cpu = f"{statistics.median(self.cpu) * 1000:.0f}" if self.cpu else ""
        return [f"{self.median * 1000:.0f} ms", cpu, f"{statistics.median(self.cores):.2f}"]


def machine_busy() -> float:
    """CPU seconds all cores spent busy since boot (/proc/stat, minus idle and iowait)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    return (sum(fields) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")


async def timed(stat: Stat, call: Awaitable[None], pid: int | None = None) -> None:
    cpu0, busy0 = cpu_seconds(pid) if pid else 0.0, machine_busy()
    started = time.perf_counter()
    await call
    wall = time.perf_counter() - started
    stat.wall.append(wall)
    stat.cores.append((machine_busy() - busy0) / wall)
    if pid:
        stat.cpu.append(cpu_seconds(pid) - cpu0)


def vm_mib(pid: int, key: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{key}:"):
            return int(line.split()[1]) / 1024
    raise BenchError(f"no {key} for pid {pid}")


# -- setup --------------------------------------------------------------------------------


def write_inventory(
    tmp: Path, sandboxes: list[Sandbox], aliases: list[str]
) -> tuple[dict[str, Sandbox], dict[str, str]]:
    """hosts.toml with ``aliases`` (and SPARE) round-robin over the sshds; the server env."""
    where = {a: sandboxes[i % len(sandboxes)] for i, a in enumerate(aliases)}
    where[SPARE] = sandboxes[0]
    toml = []
    for alias, sb in where.items():
        toml += [
            f'[hosts.{alias}]\nhostname = "127.0.0.1"\nport = {sb.port}',
            f"user = {json.dumps(sb.user)}",
            f'[hosts.{alias}.auth]\nmethod = "key"\nkey = {json.dumps(str(sb.client_key))}\n',
        ]
    toml.append(f"[groups]\n{GROUP} = {json.dumps(aliases)}\n")
    (tmp / "hosts.toml").write_text("\n".join(toml))
    (tmp / "known_hosts").write_text("".join(sb.known_hosts_line + "\n" for sb in sandboxes))
    env = {
        "SSH_HOSTS_FILE": str(tmp / "hosts.toml"),
        "SSH_KNOWN_HOSTS": str(tmp / "known_hosts"),
        "SSH_AUDIT_LOG": str(tmp / "audit.jsonl"),
        "ALLOW_DANGEROUS_TOOLS": "true",
        "SSH_COMMAND_ALLOWLIST": json.dumps(["echo", "sleep"]),
        "SSH_CONNECT_TIMEOUT": "60",
        "PYTHONPATH": str(Path(ssh_mcp.__file__).resolve().parent.parent),
    }
    return where, env


def sshd_limits(sb: Sandbox) -> str:
    """MaxStartups and MaxSessions as the sandbox's sshd_config sets them."""
    cfg = dict(
        line.split(None, 1)
        for line in (sb.data_dir.parent / "sshd_config").read_text().splitlines()
        if " " in line
    )
    return f"MaxStartups {cfg.get('MaxStartups', '10:30:100 (default)')}, " + (
        f"MaxSessions {cfg.get('MaxSessions', '10 (default)')}"
    )


# -- ssh-mcp over stdio -------------------------------------------------------------------


@dataclass
class Server:
    client: Client
    pid: int

    async def broadcast(self, command: str, hosts: int) -> None:
        r = await self.client.call_tool("ssh_broadcast", {"group": GROUP, "command": command})
        check_broadcast(r, hosts)

    async def single(self, alias: str, command: str) -> None:
        check(await self.client.call_tool("ssh_exec_run", {"host": alias, "command": command}))


def check_broadcast(result: CallToolResult, hosts: int) -> None:
    data = result.structured_content or {}
    results: dict[str, dict[str, object]] = data.get("results", {})
    bad = {a: r for a, r in results.items() if r.get("stdout") != "hi\n"}
    if result.is_error or data.get("ok") != hosts or len(results) != hosts or bad:
        first = next(iter(bad.items()), None)
        raise BenchError(f"ssh_broadcast failed: ok={data.get('ok')} first bad: {first} "
                         f"{'' if data else result.content!r}")  # fmt: skip


async def spawn(stack: AsyncExitStack, env: dict[str, str], tmp: Path, *running: int) -> Server:
    client, pid = await open_stdio(stack, ["-m", "ssh_mcp"], env, tmp, "ssh_mcp", running)
    return Server(client, pid)


# -- raw asyncssh floors ------------------------------------------------------------------


async def raw_connect(sb: Sandbox) -> asyncssh.SSHClientConnection:
    return await asyncssh.connect(
        sb.host, sb.port, username=sb.user, client_keys=[str(sb.client_key)],
        known_hosts=asyncssh.import_known_hosts(sb.known_hosts_line + "\n"), config=None,
        encryption_algs=CIPHERS,  # as ssh-mcp negotiates: a like-for-like floor
    )  # fmt: skip


async def raw_run(conn: asyncssh.SSHClientConnection, command: str) -> None:
    result = await conn.run(command)
    if result.stdout != "hi\n":
        raise BenchError(f"raw asyncssh: unexpected output {result.stdout!r}")


async def raw_cold(sb: Sandbox, command: str) -> None:
    async with await raw_connect(sb) as conn:
        await raw_run(conn, command)


async def gather(calls: list[Awaitable[None]]) -> None:
    await asyncio.gather(*calls)


# -- the runs -----------------------------------------------------------------------------


Stats = dict[tuple[str, str], Stat]  # (series, command) -> Stat


@dataclass
class Setup:
    tmp: Path
    env: dict[str, str]
    where: dict[str, Sandbox]  # alias -> its sshd
    aliases: list[str]  # the group, SPARE excluded
    firsts: list[str]  # one alias per sshd: the single-host baselines
    commands: list[str]
    conc: list[int | None]  # SSH_BROADCAST_CONCURRENCY (None: unset); the first has the target


def slowest(stats: Stats, prefix: str, command: str) -> tuple[str, Stat]:
    """The single-host series of ``prefix`` with the largest median."""
    mine = {k[0]: s for k, s in stats.items() if k[0].startswith(prefix) and k[1] == command}
    name = max(mine, key=lambda n: mine[n].median)
    return name.removeprefix(prefix), mine[name]


async def cold_rounds(stats: Stats, rounds: int, su: Setup) -> list[float]:
    """Fresh servers per call; returns the peak RSS (VmHWM, MiB) after each cold broadcast."""
    env, tmp, where, aliases, conc = su.env, su.tmp, su.where, su.aliases, su.conc
    hwm = []
    for r in range(rounds):
        print(f"cold round {r + 1}/{rounds}", flush=True)
        for cmd in su.commands:
            for alias in su.firsts:
                async with AsyncExitStack() as stack:
                    srv = await spawn(stack, env, tmp)
                    await srv.single(SPARE, cmd)
                    await timed(stats.setdefault((f"single {alias}", cmd), Stat()),
                                srv.single(alias, cmd), srv.pid)  # fmt: skip
            for c in conc:
                async with AsyncExitStack() as stack:
                    srv = await spawn(stack, with_cap(env, c), tmp)
                    await srv.single(SPARE, cmd)
                    await timed(stats.setdefault((f"broadcast {c}", cmd), Stat()),
                                srv.broadcast(cmd, len(aliases)), srv.pid)  # fmt: skip
                    if c == conc[0]:
                        hwm.append(vm_mib(srv.pid, "VmHWM"))
            for alias in su.firsts:
                await timed(stats.setdefault((f"raw single {alias}", cmd), Stat()),
                            raw_cold(where[alias], cmd))  # fmt: skip
            await timed(stats.setdefault(("raw broadcast", cmd), Stat()),
                        gather([raw_cold(where[a], cmd) for a in aliases]))  # fmt: skip
    return hwm


async def warm_rounds(stats: Stats, rss: dict[str, float], rounds: int, su: Setup) -> None:
    env, tmp, where, aliases, conc = su.env, su.tmp, su.where, su.aliases, su.conc
    async with AsyncExitStack() as stack:
        servers: dict[int | None, Server] = {}
        for c in conc:
            servers[c] = await spawn(
                stack, with_cap(env, c), tmp, *(s.pid for s in servers.values())
            )
        main = servers[conc[0]]
        for alias in su.firsts:  # warm-up, one connection per sshd
            await main.single(alias, su.commands[-1])
        rss["single"] = vm_mib(main.pid, "VmRSS")
        raw: dict[str, asyncssh.SSHClientConnection] = {}
        for alias in aliases:
            raw[alias] = await stack.enter_async_context(await raw_connect(where[alias]))
        for srv in servers.values():
            await srv.broadcast(su.commands[-1], len(aliases))
        for r in range(rounds):
            print(f"warm round {r + 1}/{rounds}", flush=True)
            for cmd in su.commands:
                for c, srv in servers.items():
                    await timed(stats.setdefault((f"broadcast {c}", cmd), Stat()),
                                srv.broadcast(cmd, len(aliases)), srv.pid)  # fmt: skip
                for alias in su.firsts:
                    for _ in range(SINGLE_REPS):
                        await timed(stats.setdefault((f"single {alias}", cmd), Stat()),
                                    main.single(alias, cmd), main.pid)  # fmt: skip
                await timed(stats.setdefault(("raw broadcast", cmd), Stat()),
                            gather([raw_run(raw[a], cmd) for a in aliases]))  # fmt: skip
                for alias in su.firsts:
                    for _ in range(SINGLE_REPS):
                        await timed(stats.setdefault((f"raw single {alias}", cmd), Stat()),
                                    raw_run(raw[alias], cmd))  # fmt: skip
        rss["broadcast"] = vm_mib(main.pid, "VmRSS")
        rss["peak"] = vm_mib(main.pid, "VmHWM")


def with_cap(env: dict[str, str], cap: int | None) -> dict[str, str]:
    return env if cap is None else {**env, "SSH_BROADCAST_CONCURRENCY": str(cap)}


def rows_for(
    phase: str, stats: Stats, commands: list[str], conc: list[int | None]
) -> list[list[str]]:
    rows = []
    for cmd in commands:
        base_alias, base = slowest(stats, "single ", cmd)
        raw_alias, raw_base = slowest(stats, "raw single ", cmd)
        raw = stats[("raw broadcast", cmd)]
        for c in conc:
            s = stats[(f"broadcast {c}", cmd)]
            ratio = s.median / base.median
            label = "default: all at once" if c is None else f"cap {c}: in waves"
            verdict = ("PASS" if ratio <= TARGET else "MISS") if c == conc[0] else ""
            rows.append([f"{phase} `{cmd}`, {label}", *s.cells(),
                         f"{s.median / raw.median:.2f}x",
                         f"{base.median * 1000:.0f} ms ({base_alias})", f"{ratio:.2f}x",
                         f"<= {TARGET:g}x" if verdict else "", verdict])  # fmt: skip
        rows.append([f"  floor: raw asyncssh {phase}, in-process", *raw.cells(), "",
                     f"{raw_base.median * 1000:.0f} ms ({raw_alias})",
                     f"{raw.median / raw_base.median:.2f}x", "", ""])  # fmt: skip
    return rows


async def run(args: argparse.Namespace) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="ssh-mcp-bench-bc-")).resolve()
    sandboxes: list[Sandbox] = []
    commands = [f"sleep {args.sleep:g}; echo hi", "echo hi"]
    # All at once (the target), then the default when it makes waves.
    conc: list[int | None] = [None, *([args.cap] if args.cap else [])]
    aliases = [f"h{i:03d}" for i in range(args.hosts)]
    rss: dict[str, float] = {}
    try:
        for i in range(args.sshds):
            (tmp / f"sshd{i}").mkdir()
            sandboxes.append(await start_sandbox(tmp / f"sshd{i}", "openssh"))
        where, env = write_inventory(tmp, sandboxes, aliases)
        su = Setup(tmp, env, where, aliases, aliases[: args.sshds], commands, conc)
        print(
            f"machine: {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f}, Python "
            f"{platform.python_version()}, asyncssh {asyncssh.__version__}\n"
            f"target: {args.hosts} aliases over {args.sshds} real sshds on 127.0.0.1 (ports "
            f"{', '.join(str(s.port) for s in sandboxes)}); each sshd: {sshd_limits(sandboxes[0])}"
            f"\n  (MaxStartups raised from the default 10:30:100 by ssh_mcp.demo.sandbox, for the "
            "raw floor's unthrottled handshakes; ssh-mcp keeps 8 in flight per sshd)",
            flush=True,
        )
        stats: Stats = {}
        hwm = await cold_rounds(stats, args.cold_rounds, su)
        rows = rows_for("cold", stats, commands, conc)
        stats = {}
        await warm_rounds(stats, rss, args.rounds, su)
        rows += rows_for("warm", stats, commands, conc)
    finally:
        for sb in sandboxes:  # each stops its sshd and sessions by PID
            await sb.aclose()
        shutil.rmtree(tmp, ignore_errors=True)
    more = args.hosts - args.sshds
    rows += [
        ["RSS after warm broadcasts (VmRSS)", f"{rss['broadcast']:.1f} MiB", "", "", "",
         f"{rss['single']:.1f} MiB after single-host calls",
         f"+{(rss['broadcast'] - rss['single']) * 1024 / more:.0f} KiB/conn", "", ""],
        ["  peak (VmHWM) warm; after a cold broadcast", f"{rss['peak']:.1f} MiB", "", "", "",
         f"{statistics.median(hwm):.1f} MiB", "", "", ""],
    ]  # fmt: skip
    print()
    head = ["figure", "median", "srv CPU ms", "cores busy", "vs floor", "slowest single host",
            "ratio", "target", ""]  # fmt: skip
    print_table(head, rows)
    print(
        f"cold: {args.cold_rounds} fresh servers per figure; warm: {args.rounds} interleaved "
        f"rounds, single hosts {SINGLE_REPS}x per round. srv CPU: the stdio server's per call."
        "\nvs floor: ssh-mcp's broadcast / raw asyncssh's (what ssh-mcp and MCP add)."
        f"\ncores busy: whole machine, of {os.cpu_count()}. load at end "
        f"{os.getloadavg()[0]:.2f}."
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--hosts", type=int, default=500, help="host aliases (500)")
    parser.add_argument("--sshds", type=int, default=20, help="real sshds behind them (20)")
    parser.add_argument("--rounds", type=int, default=3, help="warm rounds (3)")
    parser.add_argument("--cold-rounds", type=int, default=1, help="cold rounds (1)")
    parser.add_argument("--cap", type=int, default=0, help="also SSH_BROADCAST_CONCURRENCY=N")
    parser.add_argument("--sleep", type=float, default=0.5, help="seconds slept (0.5)")
    args = parser.parse_args()
    if not 1 <= args.sshds <= args.hosts or args.rounds < 1 or args.cold_rounds < 1:
        parser.error("need 1 <= --sshds <= --hosts and at least one round of each")
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    return run_main(run(args))


if __name__ == "__main__":
    raise SystemExit(main())
