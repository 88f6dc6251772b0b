"""Read tier, group ``host``: what a host is and how it is doing."""

from __future__ import annotations

import asyncio
import time

from pydantic import Field

from ssh_mcp.core.access import Group, Tier
from ssh_mcp.core.spec import (
    EVERY_MODE,
    HOST,
    READS,
    Output,
    StrictInput,
    ToolContext,
    ToolSpec,
)
from ssh_mcp.errors import AuthFailed, ConnectFailed, RemoteError
from ssh_mcp.tools._pages import limit_field, truncated_field
from ssh_mcp.tools._text import decode
from ssh_mcp.tools.host import _parse


class HostInput(StrictInput):
    host: str = HOST


async def _text(ctx: ToolContext, argv: list[str]) -> str:
    result = await ctx.run(argv)
    if result.exit_code != 0:
        raise RemoteError(
            f"`{argv[0]}` failed on the host (exit {result.exit_code}): "
            f"{decode(result.stderr).strip()[:200]}"
        )
    return decode(result.stdout)


# -- ssh_host_ping -------------------------------------------------------------------


class PingResult(Output):
    reachable: bool = Field(description="True when TCP and the SSH handshake succeeded.")
    auth_ok: bool = Field(description="True when authentication succeeded.")
    latency_ms: float | None = Field(
        description="Round trip of a `true` exec on a warm connection."
    )
    host_key_fingerprint: str | None = Field(description="SHA256 fingerprint of the pinned key.")
    error: str | None = Field(description="Why the host is unreachable or auth failed.")


async def host_ping(ctx: ToolContext, args: HostInput) -> PingResult:
    # A network device runs no `true`: connecting and authenticating is the whole check.
    probe = ctx.terminals.connect if ctx.terminals.device else (lambda: ctx.run(["true"]))
    try:
        await probe()  # warms the connection; the second run measures the channel
        started = time.perf_counter()
        await probe()
        latency = round((time.perf_counter() - started) * 1000, 2)
    except ConnectFailed as exc:
        return PingResult(
            reachable=False,
            auth_ok=False,
            latency_ms=None,
            host_key_fingerprint=None,
            error=str(exc),
        )
    except AuthFailed as exc:
        return PingResult(
            reachable=True,
            auth_ok=False,
            latency_ms=None,
            host_key_fingerprint=None,
            error=str(exc),
        )
    pinned = ctx.pinned_fingerprints()
    return PingResult(
        reachable=True,
        auth_ok=True,
        latency_ms=latency,
        host_key_fingerprint=pinned[0] if pinned else None,
        error=None,
    )


# -- ssh_host_info -------------------------------------------------------------------


class HostInfo(Output):
    hostname: str = Field(description="The host's own name (uname -n).")
    kernel: str = Field(description="Kernel name and release (uname -sr).")
    arch: str = Field(description="Machine architecture (uname -m).")
    os: str = Field(description="PRETTY_NAME from /etc/os-release, or empty.")
    uptime_seconds: float = Field(description="Seconds since boot.")
    load_average: list[float] = Field(description="1, 5 and 15 minute load averages.")
    cpus: int = Field(description="Online CPUs.")
    cpu_model: str = Field(description="CPU model name from /proc/cpuinfo, or empty.")
    memory_total_bytes: int = Field(description="MemTotal.")
    memory_available_bytes: int = Field(description="MemAvailable.")


async def host_info(ctx: ToolContext, args: HostInput) -> HostInfo:
    (uname, uptime, loadavg, cpus, mem), (osrel, cpuinfo) = await asyncio.gather(
        asyncio.gather(
            _text(ctx, ["uname", "-nsrm"]),
            _text(ctx, ["cat", "--", "/proc/uptime"]),
            _text(ctx, ["cat", "--", "/proc/loadavg"]),
            _text(ctx, ["getconf", "_NPROCESSORS_ONLN"]),
            _text(ctx, ["cat", "--", "/proc/meminfo"]),
        ),
        asyncio.gather(
            ctx.run(["cat", "--", "/etc/os-release"]),
            ctx.run(["cat", "--", "/proc/cpuinfo"]),
        ),
    )
    sysname, nodename, release, machine = [*uname.split(), "", "", "", ""][:4]
    meminfo = _parse.meminfo(mem)
    return HostInfo(
        hostname=nodename,
        kernel=f"{sysname} {release}",
        arch=machine,
        os=_parse.os_release(decode(osrel.stdout)).get("PRETTY_NAME", ""),
        uptime_seconds=float(uptime.split()[0]),
        load_average=[float(x) for x in loadavg.split()[:3]],
        cpus=int(cpus.strip() or 0),
        cpu_model=_parse.cpu_model(decode(cpuinfo.stdout)),
        memory_total_bytes=meminfo.get("MemTotal", 0),
        memory_available_bytes=meminfo.get("MemAvailable", 0),
    )


# -- ssh_host_disk_usage -------------------------------------------------------------


class Filesystem(Output):
    filesystem: str = Field(description="Device or source.")
    fs_type: str | None = Field(
        description="Filesystem type (ext4, xfs, tmpfs, ...), if df -T works."
    )
    mount: str = Field(description="Mount point.")
    size_bytes: int = Field(description="Total size.")
    used_bytes: int = Field(description="Used space.")
    available_bytes: int = Field(description="Space available to unprivileged users.")
    use_percent: int = Field(description="Used percentage as df reports it.")


class DiskUsageInput(HostInput):
    limit: int = limit_field()


class DiskUsage(Output):
    filesystems: list[Filesystem] = Field(description="One entry per mounted filesystem.")
    truncated: bool = truncated_field()


async def host_disk_usage(ctx: ToolContext, args: DiskUsageInput) -> DiskUsage:
    typed = await ctx.run(["df", "-P", "-k", "-T"])
    text = decode(typed.stdout) if typed.exit_code == 0 else await _text(ctx, ["df", "-P", "-k"])
    rows = _parse.df_posix(text)
    return DiskUsage(
        filesystems=[Filesystem.model_validate(r) for r in rows[: args.limit]],
        truncated=len(rows) > args.limit,
    )


# -- ssh_host_alerts -----------------------------------------------------------------


class Breach(Output):
    metric: str = Field(description="disk, load or memory.")
    subject: str = Field(description="The mount point for disk; the host otherwise.")
    value: float = Field(description="The measured value (percent, or load per CPU).")
    threshold: float = Field(description="The configured limit it crossed.")


class AlertsInput(HostInput):
    # Overlay and bind mounts repeat the disk under them: one full disk can be many breaches.
    limit: int = limit_field(20, description="Disk breaches to return at most.")


class Alerts(Output):
    ok: bool = Field(description="True when nothing crossed its threshold.")
    breaches: list[Breach] = Field(
        description="Each threshold crossed, worst disk first (at most limit disks), then load "
        "and memory."
    )
    disk_max_percent: int = Field(description="The fullest filesystem's use %.")
    load_per_cpu: float = Field(description="1-minute load average divided by online CPUs.")
    memory_available_percent: float = Field(description="MemAvailable as a share of MemTotal.")
    truncated: bool = Field(description="True when disk breaches were left out (see limit).")


async def host_alerts(ctx: ToolContext, args: AlertsInput) -> Alerts:
    assert ctx.host is not None
    disk_limit, load_limit, mem_limit = ctx.host.alerts
    df, loadavg, cpus, mem = await asyncio.gather(
        _text(ctx, ["df", "-P", "-k"]),
        _text(ctx, ["cat", "--", "/proc/loadavg"]),
        _text(ctx, ["getconf", "_NPROCESSORS_ONLN"]),
        _text(ctx, ["cat", "--", "/proc/meminfo"]),
    )
    # Pseudo filesystems report 0 size (or are always full, like squashfs images).
    disks = [r for r in _parse.df_posix(df) if int(r["size_bytes"] or 0) > 0]
    disks = [r for r in disks if not str(r["filesystem"]).startswith("/dev/loop")]
    breaches = [
        Breach(metric="disk", subject=str(r["mount"]), value=pct, threshold=disk_limit)
        for r in sorted(disks, key=lambda r: -int(r["use_percent"] or 0))
        if (pct := int(r["use_percent"] or 0)) >= disk_limit
    ]
    truncated = len(breaches) > args.limit
    breaches = breaches[: args.limit]
    per_cpu = round(float(loadavg.split()[0]) / max(int(cpus.strip() or 1), 1), 2)
    if per_cpu > load_limit:
        breaches.append(Breach(metric="load", subject="host", value=per_cpu, threshold=load_limit))
    meminfo = _parse.meminfo(mem)
    total = meminfo.get("MemTotal", 0)
    avail = round(100 * meminfo.get("MemAvailable", 0) / total, 1) if total else 100.0
    if avail < mem_limit:
        breaches.append(Breach(metric="memory", subject="host", value=avail, threshold=mem_limit))
    return Alerts(
        ok=not breaches,
        breaches=breaches,
        disk_max_percent=max((int(r["use_percent"] or 0) for r in disks), default=0),
        load_per_cpu=per_cpu,
        memory_available_percent=avail,
        truncated=truncated,
    )


# -- ssh_host_processes --------------------------------------------------------------


class ProcessesInput(HostInput):
    limit: int = limit_field(10, 200, "Processes to return, by CPU.")


class ProcessRow(Output):
    pid: int = Field(description="Process id.")
    user: str = Field(description="Owner.")
    cpu_percent: float = Field(description="CPU use as ps reports it.")
    mem_percent: float = Field(description="Share of physical memory.")
    rss_bytes: int = Field(description="Resident set size.")
    elapsed_seconds: int = Field(description="Seconds since the process started.")
    command: str = Field(description="Executable name (no arguments, which may hold secrets).")


class Processes(Output):
    processes: list[ProcessRow] = Field(description="Top processes, highest CPU first.")
    truncated: bool = truncated_field()


async def host_processes(ctx: ToolContext, args: ProcessesInput) -> Processes:
    text = await _text(ctx, ["ps", "-eo", "pid=,user=,pcpu=,pmem=,rss=,etimes=,comm="])
    rows = sorted(_parse.ps_rows(text), key=lambda r: -float(r["cpu_percent"]))
    return Processes(
        processes=[ProcessRow.model_validate(r) for r in rows[: args.limit]],
        truncated=len(rows) > args.limit,
    )


# -- ssh_known_hosts_verify ----------------------------------------------------------


class KnownHostsVerify(Output):
    expected: list[str] = Field(description="SHA256 fingerprints pinned in known_hosts.")
    live: str = Field(description="SHA256 fingerprint the host offers now.")
    match: bool = Field(description="True when the live key is among the pinned ones.")


async def known_hosts_verify(ctx: ToolContext, args: HostInput) -> KnownHostsVerify:
    live = await ctx.live_fingerprint()
    expected = ctx.pinned_fingerprints()
    return KnownHostsVerify(expected=expected, live=live, match=live in expected)


TOOLS = (
    ToolSpec(
        name="ssh_host_ping",
        title="Ping a host",
        description=(
            "Check that a host is reachable and we can log in; returns latency and key "
            "fingerprint. On a host key error, use ssh_known_hosts_verify."
        ),
        details="An unpinned or changed host key is an error with the steps to fix it.",
        tier=Tier.READ,
        group=Group.HOST,
        input=HostInput,
        output=PingResult,
        annotations=READS,
        handler=host_ping,
        listed_in=EVERY_MODE,
    ),
    ToolSpec(
        name="ssh_host_info",
        title="Describe a host",
        description="Return a host's OS, kernel, uptime, load, CPUs and memory.",
        details="Disks: ssh_host_disk_usage; processes: ssh_host_processes.",
        tier=Tier.READ,
        group=Group.HOST,
        input=HostInput,
        output=HostInfo,
        annotations=READS,
        handler=host_info,
    ),
    ToolSpec(
        name="ssh_host_disk_usage",
        title="Disk usage",
        description="Return each mounted filesystem's size, use and free space.",
        details=("Filesystems in the order df lists them."),
        tier=Tier.READ,
        group=Group.HOST,
        input=DiskUsageInput,
        output=DiskUsage,
        annotations=READS,
        handler=host_disk_usage,
    ),
    ToolSpec(
        name="ssh_host_alerts",
        title="Check alert thresholds",
        description=(
            "Check disk, load and memory against the host's thresholds; returns each breach."
        ),
        details=(
            "For raw figures use ssh_host_info or ssh_host_disk_usage. Thresholds: hosts.toml "
            "alert_disk_percent, alert_load_per_cpu (1-minute load per CPU) and "
            "alert_memory_available_percent; defaults 90 %, 2.0 and 10 %."
        ),
        tier=Tier.READ,
        group=Group.HOST,
        input=AlertsInput,
        output=Alerts,
        annotations=READS,
        handler=host_alerts,
    ),
    ToolSpec(
        name="ssh_host_processes",
        title="Top processes",
        description="Return the top processes by CPU, executable names only.",
        details=(
            "Each with pid, user, CPU and memory use, RSS and age. Command-line arguments are left "
            "out because they may hold secrets."
        ),
        tier=Tier.READ,
        group=Group.HOST,
        input=ProcessesInput,
        output=Processes,
        annotations=READS,
        handler=host_processes,
    ),
    ToolSpec(
        name="ssh_known_hosts_verify",
        title="Verify a host key",
        description=(
            "Compare the host's live key with those pinned in known_hosts, trusting nothing. "
            "Use it on a host key error."
        ),
        tier=Tier.READ,
        group=Group.HOST,
        input=HostInput,
        output=KnownHostsVerify,
        annotations=READS,
        handler=known_hosts_verify,
    ),
)
