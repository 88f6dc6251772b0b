"""Read tier, group ``host``: a host's network (interfaces, routes, listening sockets) and the
login user (ids, groups, sudo rights), each from one or a few fixed programs.

Lines rather than nested objects keep tools/list small (DECISIONS.md 76); each line reads
like the program's own brief form (``ip -br``, ``ss``).
"""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any, Literal

from pydantic import Field

from ssh_mcp.core.access import Group, Tier
from ssh_mcp.core.spec import HOST, READS, Output, StrictInput, ToolContext, ToolSpec
from ssh_mcp.errors import RemoteError
from ssh_mcp.tools._pages import limit_field, truncated_field
from ssh_mcp.tools._text import decode


async def _json(ctx: ToolContext, argv: list[str]) -> list[dict[str, Any]]:
    result = await ctx.run(argv)
    if result.exit_code != 0:
        raise RemoteError(
            f"`{' '.join(argv)}` failed on the host (exit {result.exit_code}): "
            f"{decode(result.stderr).strip()[:200]}; ssh_host_network needs iproute2's ip"
        )
    try:
        data = json.loads(decode(result.stdout) or "[]")
    except ValueError:
        raise RemoteError(f"`{' '.join(argv)}` gave no JSON: this ip is too old for -j") from None
    return [d for d in data if isinstance(d, dict)]


def interface_line(link: dict[str, Any]) -> str:
    words = [str(link.get("ifname", "?")), str(link.get("operstate", "?"))]
    if link.get("link_type") != "loopback" and link.get("address"):
        words.append(str(link["address"]))
    words += [
        f"{a.get('local')}/{a.get('prefixlen')}"
        for a in link.get("addr_info", [])
        if a.get("local")
    ]
    return " ".join(words)


def route_line(route: dict[str, Any]) -> str:
    words = [str(route.get("dst", "?"))]
    for key, label in (
        ("gateway", "via"),
        ("dev", "dev"),
        ("prefsrc", "src"),
        ("metric", "metric"),
    ):
        if route.get(key) is not None:
            words += [label, str(route[key])]
    return " ".join(words)


_USER = re.compile(r'\("([^"]*)",pid=(\d+)')


def socket_lines(text: str) -> list[str]:
    """``ss -H -tulpn``: ``PROTO LOCAL`` and ``name/pid`` of each process that is visible."""
    out = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) < 5:
            continue
        procs = ",".join(f"{name}/{pid}" for name, pid in _USER.findall(line))
        out.append(" ".join([parts[0], parts[4], *([procs] if procs else [])]))
    return sorted(set(out))


class NetworkInput(StrictInput):
    host: str = HOST
    limit: int = limit_field()


class Network(Output):
    interfaces: list[str] = Field(
        description="One line each: NAME STATE [MAC] ADDRESS/PREFIX... (every address)."
    )
    routes: list[str] = Field(
        description="IPv4 then IPv6, one line each: DST [via GW] dev DEV [src ADDR] [metric N]."
    )
    listening: list[str] = Field(
        description="Listening TCP and bound UDP sockets: PROTO ADDRESS:PORT [process/pid,...]; "
        "processes of other users show only when the login is root."
    )
    truncated: bool = truncated_field()


async def host_network(ctx: ToolContext, args: NetworkInput) -> Network:
    links, v4, v6, ss = await asyncio.gather(
        _json(ctx, ["ip", "-j", "addr", "show"]),
        _json(ctx, ["ip", "-j", "-4", "route", "show"]),
        _json(ctx, ["ip", "-j", "-6", "route", "show"]),
        ctx.run(["ss", "-H", "-tulpn"]),
    )
    if ss.exit_code != 0:
        raise RemoteError(f"`ss -H -tulpn` failed on the host: {decode(ss.stderr).strip()[:200]}")
    routes = [route_line(r) for r in v4 + v6]
    sockets = socket_lines(decode(ss.stdout))
    lists = [[interface_line(link) for link in links], routes, sockets]
    return Network(
        interfaces=lists[0][: args.limit],
        routes=lists[1][: args.limit],
        listening=lists[2][: args.limit],
        truncated=any(len(x) > args.limit for x in lists),
    )


# -- ssh_user_info ------------------------------------------------------------------

_SEP = "ssh-mcp"
# Never prompts: -n fails instead of asking for a password.
_WHO = (
    'u=$(id -un) && id -u && id -g && echo "$u" && id -Gn && getent passwd "$u"; '
    f'echo {_SEP}; sudo -n -l 2>&1; echo "{_SEP}$?"'
)

Sudo = Literal["rules", "password required", "not allowed", "not installed"]


def sudo_answer(text: str, code: int) -> tuple[Sudo, list[str]]:
    """What ``sudo -n -l`` said: its rules, or why it listed none."""
    lines = text.splitlines()
    if code == 0:
        start = next((i for i, ln in enumerate(lines) if "may run the following" in ln), -1)
        return "rules", [ln.strip() for ln in lines[start + 1 :] if ln.strip()]
    if code == 127 or "not found" in text:
        return "not installed", []
    if "password is required" in text:
        return "password required", []
    return "not allowed", []


class UserInfo(Output):
    user: str = Field(description="Login user name.")
    uid: int = Field(description="User id.")
    groups: list[str] = Field(description="Group names, primary first.")
    home: str = Field(description="Home directory.")
    shell: str = Field(description="Login shell.")
    sudo: Sudo = Field(description="What `sudo -n -l` answered, never prompting.")
    sudo_rules: list[str] = Field(description="The rules it listed, e.g. '(ALL : ALL) ALL'.")


class HostInput(StrictInput):
    host: str = HOST


async def user_info(ctx: ToolContext, args: HostInput) -> UserInfo:
    result = await ctx.run(["sh", "-c", _WHO])
    text = decode(result.stdout)
    ids, _, rest = text.partition(_SEP + "\n")
    sudo_text, _, code = rest.rpartition(_SEP)
    lines = ids.splitlines()
    if len(lines) < 4 or not lines[0].isdigit() or not lines[1].isdigit():
        raise RemoteError(f"`id` failed on the host: {decode(result.stderr).strip()[:200]}")
    passwd = lines[4].split(":") if len(lines) > 4 else []
    sudo, rules = sudo_answer(sudo_text, int(code.strip() or 1))
    return UserInfo(
        user=lines[2],
        uid=int(lines[0]),
        groups=lines[3].split(),
        home=passwd[5] if len(passwd) > 6 else "",
        shell=passwd[6] if len(passwd) > 6 else "",
        sudo=sudo,
        sudo_rules=rules,
    )


TOOLS = (
    ToolSpec(
        name="ssh_host_network",
        title="Host network",
        description="List interfaces, routes and listening sockets.",
        details="From `ip -j` and `ss -H -tulpn` (iproute2); each list is cut at limit. "
        "Sockets name their processes where the login user may see them.",
        tier=Tier.READ,
        group=Group.HOST,
        input=NetworkInput,
        output=Network,
        annotations=READS,
        handler=host_network,
    ),
    ToolSpec(
        name="ssh_user_info",
        title="Who the login user is",
        description="Show the login user: uid, groups, home, shell, sudo rights.",
        details="Sudo rights come from `sudo -n -l`, which never prompts: a sudo that wants a "
        "password for the listing says 'password required'.",
        tier=Tier.READ,
        group=Group.HOST,
        input=HostInput,
        output=UserInfo,
        annotations=READS,
        handler=user_info,
    ),
)
