"""Read tier, group ``pkg``: what is installed, upgradable, available and held.

Reads run as the login user (dpkg-query, apt-cache, apt list and apt-mark read world-readable
state) and see the package lists as of the host's last ``apt-get update``; the change tools
refresh them with ``refresh=true``.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from ssh_mcp.core.access import Group, Tier
from ssh_mcp.core.spec import HOST, READS, Output, StrictInput, ToolContext, ToolSpec
from ssh_mcp.errors import RemoteError
from ssh_mcp.tools._fields import field_details
from ssh_mcp.tools._pages import limit_field, truncated_field
from ssh_mcp.tools.pkg import _apt
from ssh_mcp.tools.pkg._apt import PackageName, Pattern, Term
from ssh_mcp.tools.pkg._run import read

_FORMAT = r"${db:Status-Abbrev}\t${Package}\t${Version}\t${Architecture}\n"
_SEP = "@@ssh-mcp@@"


def _row(name: str, version: str, state: str, held: bool, old: str | None = None) -> str:
    words = [name, version]
    words += [f"from {old}"] if old else []
    words += [state] if state != "installed" else []
    words += ["held"] if held else []
    return " ".join(words)


class ListInput(StrictInput):
    host: str = HOST
    upgradable: bool = Field(False, description="Only upgradable ones.")
    pattern: Annotated[
        Pattern,
        Field(description="Name glob.", json_schema_extra=field_details("For example 'nginx*'.")),
    ] = None
    limit: int = limit_field(200)


class PkgList(Output):
    packages: list[str] = Field(
        description="By name, one line each: NAME VERSION (upgradable: the new one, then "
        "'from OLD'), then the dpkg state unless installed (config-files, unpacked, "
        "half-configured, ...), then 'held' when on hold."
    )
    truncated: bool = truncated_field()


async def pkg_list(ctx: ToolContext, args: ListInput) -> PkgList:
    operands = [args.pattern] if args.pattern else []
    if not args.upgradable:
        # Exit 1 is "no package matched": an empty list, not an error.
        script = 'f=$1; shift; dpkg-query -W -f "$f" -- "$@" 2>/dev/null; [ $? -le 1 ]'
        text = await read(ctx, script, [_FORMAT, *operands], "dpkg-query")
        rows = [_row(r.name, r.version, r.state, r.held) for r in _apt.installed_rows(text)]
    else:
        script = (
            f'apt list --upgradable -- "$@" 2>/dev/null || exit; echo {_SEP}; apt-mark showhold'
        )
        text = await read(ctx, script, operands, "apt list")
        listed, _, holds = text.partition(_SEP)
        held = set(holds.split())
        rows = [
            _row(u.name, u.version, "installed", u.name in held, u.from_version)
            for u in _apt.upgradable_rows(listed)
        ]
    rows.sort()
    return PkgList(packages=rows[: args.limit], truncated=len(rows) > args.limit)


class SearchInput(StrictInput):
    host: str = HOST
    term: Annotated[Term, Field(description="Word to find, e.g. 'nginx'.")]
    limit: int = limit_field(50)


class PkgSearch(Output):
    matches: list[str] = Field(description="By name, one line each: NAME - SUMMARY.")
    truncated: bool = truncated_field()


async def pkg_search(ctx: ToolContext, args: SearchInput) -> PkgSearch:
    regex = _apt.literal_regex(args.term)
    text = await read(ctx, 'apt-cache search -- "$1"', [regex], "apt-cache search")
    rows = sorted(_apt.search_rows(text))
    return PkgSearch(
        matches=[f"{n} - {s}" for n, s in rows[: args.limit]],
        truncated=len(rows) > args.limit,
    )


class ShowInput(StrictInput):
    host: str = HOST
    package: Annotated[PackageName, Field(description="Name.")]


class PkgInfo(Output):
    state: str = Field(
        description="dpkg state (installed, not-installed, half-configured, ...), then ', held' "
        "when on hold."
    )
    installed: str = Field(description="Installed version; empty: none.")
    candidate: str = Field(description="Version apt would install; empty: none.")
    versions: dict[str, str] = Field(
        description="Each known version, newest first, and where it comes from with apt's "
        "pin priority, e.g. '500 http://deb.debian.org/debian bookworm/main amd64 Packages'."
    )
    summary: str = Field(description="One-line description.")
    depends: list[str] = Field(description="Pre-Depends and Depends of the candidate.")


# $1 the package; $2 dpkg-query's format.
_SHOW = (
    f'dpkg-query -W -f "$2" -- "$1" 2>/dev/null; echo; echo {_SEP}; apt-cache policy -- "$1"; '
    f'echo {_SEP}; apt-cache show --no-all-versions -- "$1" 2>/dev/null; true'
)


async def pkg_show(ctx: ToolContext, args: ShowInput) -> PkgInfo:
    text = await read(ctx, _SHOW, [args.package, "${db:Status-Abbrev}"], "apt-cache")
    status, policy_text, show_text = ([*text.split(_SEP + "\n"), "", ""])[:3]
    fields = _apt.control_fields(show_text)
    policy = _apt.policy(policy_text)
    state, held = (
        _apt.dpkg_state(status.strip("\n")) if status.strip() else ("not-installed", False)
    )
    if not fields and not policy.versions and state == "not-installed":
        raise RemoteError(
            f"apt knows no package {args.package}; use ssh_pkg_search, or refresh the lists "
            "with refresh=true on ssh_pkg_install"
        )
    return PkgInfo(
        state=f"{state}, held" if held else state,
        installed=policy.installed or "",
        candidate=policy.candidate or "",
        versions={v: "; ".join(o) for v, o in policy.versions},
        summary=fields.get("Description", "").split("\n")[0],
        depends=_apt.relations(fields.get("Pre-Depends")) + _apt.relations(fields.get("Depends")),
    )


class HostInput(StrictInput):
    host: str = HOST


class Holds(Output):
    held: list[str] = Field(description="Packages on hold, by name.")


async def pkg_holds(ctx: ToolContext, args: HostInput) -> Holds:
    return Holds(held=sorted((await read(ctx, "apt-mark showhold", [], "apt-mark")).split()))


TOOLS = (
    ToolSpec(
        name="ssh_pkg_list",
        title="Packages",
        description="List installed packages.",
        details=(
            "upgradable=true lists those with a newer version, as of the host's last apt-get "
            "update; ssh_pkg_upgrade refresh=true updates the lists. APT hosts only."
        ),
        tier=Tier.READ,
        group=Group.PKG,
        input=ListInput,
        output=PkgList,
        annotations=READS,
        handler=pkg_list,
    ),
    ToolSpec(
        name="ssh_pkg_search",
        title="Search packages",
        description="Find installable packages by a word in name or description.",
        tier=Tier.READ,
        group=Group.PKG,
        input=SearchInput,
        output=PkgSearch,
        annotations=READS,
        handler=pkg_search,
    ),
    ToolSpec(
        name="ssh_pkg_show",
        title="Show a package",
        description="Show a package: state, versions with origins, dependencies.",
        tier=Tier.READ,
        group=Group.PKG,
        input=ShowInput,
        output=PkgInfo,
        annotations=READS,
        handler=pkg_show,
    ),
    ToolSpec(
        name="ssh_pkg_holds",
        title="Held packages",
        description="List packages on hold (kept from upgrades). Change: ssh_pkg_mark.",
        tier=Tier.READ,
        group=Group.PKG,
        input=HostInput,
        output=Holds,
        annotations=READS,
        handler=pkg_holds,
    ),
)
