"""Dangerous tier, group ``pkg``: install, upgrade, remove, autoremove and hold, as root.

Root is the login's when it is root, else sudo's (:mod:`ssh_mcp.tools._root`). apt-get runs
non-interactively and reports progress (:mod:`ssh_mcp.tools.pkg._run`); a cancel or a timeout
stops apt, dpkg and the maintainer scripts together, so dpkg's lock is never left held
(DECISIONS.md 75).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from ssh_mcp.core.access import Group, Tier
from ssh_mcp.core.spec import (
    CHANGES,
    CHANGES_IDEMPOTENT,
    HOST,
    Output,
    StrictInput,
    ToolContext,
    ToolSpec,
)
from ssh_mcp.tools.pkg import _apt
from ssh_mcp.tools.pkg._apt import MaybePackageNames, PackageNames, PackageSpecs
from ssh_mcp.tools.pkg._run import change, read
from ssh_mcp.tools.pkg.reads import Holds

#: Characters of apt's output a change returns, from its end.
LOG_TAIL = 2000

_REFRESH = Field(False, description="Run apt-get update first.")


class PkgChanges(Output):
    changes: list[str] = Field(
        description="What dpkg did, in order, as 'PACKAGE VERSION ACTION' (set up, removed, "
        "purged, or unpacked: not set up yet); empty: nothing to do."
    )
    log: str = Field(description="The end of apt's output.")


def _result(log: str) -> PkgChanges:
    found = [f"{p} {v} {a}" for p, a, v in _apt.changes(log)]
    return PkgChanges(changes=found, log=log[-LOG_TAIL:])


class InstallInput(StrictInput):
    host: str = HOST
    packages: Annotated[
        PackageSpecs,
        Field(min_length=1, max_length=50, description="Names, or name=version."),
    ]
    refresh: bool = _REFRESH


async def pkg_install(ctx: ToolContext, args: InstallInput) -> PkgChanges:
    log = await change(
        ctx,
        ["install", "--", *args.packages],
        what="apt-get install",
        refresh=args.refresh,
    )
    return _result(log)


class UpgradeInput(StrictInput):
    host: str = HOST
    packages: Annotated[
        MaybePackageNames,
        Field(max_length=50, description="Only these; default: all."),
    ] = None
    refresh: bool = _REFRESH


async def pkg_upgrade(ctx: ToolContext, args: UpgradeInput) -> PkgChanges:
    named = ["install", "--only-upgrade", "--", *args.packages] if args.packages else None
    argv = named or ["upgrade"]
    log = await change(ctx, argv, what="apt-get upgrade", refresh=args.refresh)
    return _result(log)


class RemoveInput(StrictInput):
    host: str = HOST
    packages: Annotated[PackageNames, Field(min_length=1, max_length=50, description="Names.")]
    purge: bool = Field(False, description="Also delete their config files.")


async def pkg_remove(ctx: ToolContext, args: RemoveInput) -> PkgChanges:
    flags = ["--purge"] if args.purge else []
    log = await change(ctx, ["remove", *flags, "--", *args.packages], what="apt-get remove")
    return _result(log)


class AutoremoveInput(StrictInput):
    host: str = HOST
    purge: bool = Field(False, description="Also delete their config files.")


async def pkg_autoremove(ctx: ToolContext, args: AutoremoveInput) -> PkgChanges:
    flags = ["--purge"] if args.purge else []
    log = await change(ctx, ["autoremove", *flags], what="apt-get autoremove")
    return _result(log)


class MarkInput(StrictInput):
    host: str = HOST
    packages: Annotated[PackageNames, Field(min_length=1, max_length=50, description="Names.")]
    action: Literal["hold", "unhold"] = Field(description="hold or unhold.")


async def pkg_mark(ctx: ToolContext, args: MarkInput) -> Holds:
    await change(ctx, ["apt-mark", args.action, "--", *args.packages], what="apt-mark")
    return Holds(held=sorted((await read(ctx, "apt-mark showhold", [], "apt-mark")).split()))


_ROOT = (
    " Runs as root (sudo unless the login is root), for up to SSH_TRANSFER_TIMEOUT "
    "(at most an hour)."
)

TOOLS = (
    ToolSpec(
        name="ssh_pkg_install",
        title="Install packages",
        description="Install packages with apt-get; returns what dpkg did.",
        details=(
            "Reports progress; a cancel or timeout stops apt and dpkg together and frees "
            "dpkg's lock, and the next change finishes a half-configured package. Config file "
            "conflicts keep the old file." + _ROOT
        ),
        tier=Tier.DANGEROUS,
        group=Group.PKG,
        input=InstallInput,
        output=PkgChanges,
        annotations=CHANGES_IDEMPOTENT,
        long_running=True,
        handler=pkg_install,
    ),
    ToolSpec(
        name="ssh_pkg_upgrade",
        title="Upgrade packages",
        description="Upgrade installed packages, all or those named; held ones stay.",
        details="apt-get upgrade, never dist-upgrade: nothing is removed." + _ROOT,
        tier=Tier.DANGEROUS,
        group=Group.PKG,
        input=UpgradeInput,
        output=PkgChanges,
        annotations=CHANGES,
        long_running=True,
        handler=pkg_upgrade,
    ),
    ToolSpec(
        name="ssh_pkg_remove",
        title="Remove packages",
        description="Remove packages (purge=true: with their config files).",
        details="Packages depending on them are removed too; apt-get remove." + _ROOT,
        tier=Tier.DANGEROUS,
        group=Group.PKG,
        input=RemoveInput,
        output=PkgChanges,
        annotations=CHANGES_IDEMPOTENT,
        long_running=True,
        handler=pkg_remove,
    ),
    ToolSpec(
        name="ssh_pkg_autoremove",
        title="Remove unneeded packages",
        description="Remove packages installed as dependencies that nothing needs now.",
        details="apt-get autoremove." + _ROOT,
        tier=Tier.DANGEROUS,
        group=Group.PKG,
        input=AutoremoveInput,
        output=PkgChanges,
        annotations=CHANGES,
        long_running=True,
        handler=pkg_autoremove,
    ),
    ToolSpec(
        name="ssh_pkg_mark",
        title="Hold or unhold packages",
        description="Hold packages at their version, or release them; returns all holds.",
        details="apt-mark hold/unhold." + _ROOT,
        tier=Tier.DANGEROUS,
        group=Group.PKG,
        input=MarkInput,
        output=Holds,
        annotations=CHANGES_IDEMPOTENT,
        long_running=True,
        handler=pkg_mark,
    ),
)
