"""Prompts: the jobs operators most often give an agent, written out as a plan of tool calls.

Each prompt names the tools it expects and works in the default read tier: its steps use
read-tier tools, and a step that a higher tier would do better (a command through exec or
broadcast) is written for whichever way is open here. A tool this server hides is never
named (hidden equals unknown, as in tools/list); the text says which tier to ask the
operator for instead. Arguments are checked before anything is written: a host must
resolve as a tool's ``host`` argument would, a group must be a hosts.toml group.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from ssh_mcp.core.access import Tier
from ssh_mcp.core.app import App
from ssh_mcp.errors import InvalidArguments, shown
from ssh_mcp.policy.hosts import resolve_host

_UNIT = re.compile(r"[A-Za-z0-9@._:-]{1,200}")


@dataclass(frozen=True)
class PromptArg:
    name: str
    description: str
    required: bool = True


@dataclass(frozen=True)
class Plan:
    """What a prompt's body sees: the app and the arguments, checked."""

    app: App
    args: Mapping[str, str]

    def has(self, tool: str) -> bool:
        return self.app.tool(tool) is not None


@dataclass(frozen=True)
class PromptSpec:
    name: str
    title: str
    description: str
    arguments: tuple[PromptArg, ...]
    #: Read-tier tools the prompt's steps call.
    tools: tuple[str, ...]
    #: Tools of higher tiers a step uses instead, when they are open here.
    optional: tuple[str, ...]
    body: Callable[[Plan], list[str]]


def _no_exec(plan: Plan) -> str:
    """What to do when commands cannot run: name the setting that would allow them."""
    if Tier.DANGEROUS in plan.app.settings.open_tiers():
        why, setting = "the exec group is disabled", "`exec` in SSH_ENABLED_GROUPS"
    else:
        why, setting = "the dangerous tier is closed", "ALLOW_DANGEROUS_TOOLS=true"
    return (
        f"Commands cannot be run here ({why}); if the read-only evidence is not enough, say "
        f"what you would run and that it needs {setting}."
    )


def _host(plan: Plan) -> str:
    return plan.args["host"]


def _steps(plan: Plan, steps: list[tuple[str, str]]) -> list[str]:
    """Numbered steps, each ``(tool, what for)``; a step whose tool is hidden is skipped."""
    out: list[str] = []
    n = 0
    for tool, why in steps:
        if tool and not plan.has(tool):
            continue
        n += 1
        out.append(f"{n}. {why}")
    return out


def _triage(plan: Plan) -> list[str]:
    h = _host(plan)
    lines = [
        f"Triage host `{h}`: is it healthy, and if not, what is wrong? Read only: change "
        "nothing on the host.",
        "",
        *_steps(
            plan,
            [
                ("ssh_host_notes", f"`ssh_host_notes` host={h}: what earlier sessions learned."),
                (
                    "ssh_host_alerts",
                    "`ssh_host_alerts`: disk use, load per CPU and available memory against "
                    "the host's thresholds; the quick verdict.",
                ),
                ("ssh_host_info", "`ssh_host_info`: uptime, load averages, CPU count, memory."),
                (
                    "ssh_host_disk_usage",
                    "`ssh_host_disk_usage`: every filesystem; note any above 85 %.",
                ),
                ("ssh_host_processes", "`ssh_host_processes`: the top CPU and memory users."),
            ],
        ),
        "",
        "Failing services and recent errors:",
    ]
    if plan.has("ssh_exec_run"):
        lines.append(
            "- `ssh_exec_run`: `systemctl --failed --no-legend --plain`, then "
            "`journalctl -p err -n 50 --no-pager` (or the tail of /var/log/syslog). If the "
            "command allowlist refuses them, fall back to the log files below."
        )
    else:
        lines.append(f"- {_no_exec(plan)}")
    if plan.has("ssh_find"):
        lines.append(
            "- `ssh_find` path=/var/log name_pattern='*.log' (and 'syslog*', 'messages*'), "
            "then read the newest with `ssh_sftp_download`; if /var/log is outside the "
            "path allowlist, say so."
        )
    lines += [
        "",
        "Report: a verdict (healthy, degraded or failing), the evidence for it check by "
        "check, and the next step you recommend. Mark what you could not check and why.",
    ]
    return lines


def _service(plan: Plan) -> list[str]:
    h, svc = _host(plan), plan.args["service"]
    lines = [
        f"Investigate why service `{svc}` on host `{h}` is failing. Find the cause; do not "
        "restart or change anything without the operator's explicit go-ahead.",
        "",
        *_steps(
            plan,
            [
                ("ssh_host_notes", f"`ssh_host_notes` host={h}: known quirks of this host."),
                (
                    "ssh_host_alerts",
                    "`ssh_host_alerts` and `ssh_host_disk_usage`: a full disk or memory "
                    "pressure is a common cause.",
                ),
                (
                    "ssh_host_processes",
                    f"`ssh_host_processes`: is a `{svc}` process running, and how hungry?",
                ),
                (
                    "ssh_find",
                    f"`ssh_find` name_pattern='{svc}*' under /etc/systemd/system and "
                    "/lib/systemd/system: its unit file; and under /var/log: its logs.",
                ),
                (
                    "ssh_read_redacted",
                    "`ssh_read_redacted`: the unit file and the config it names (secrets "
                    "masked); `ssh_sftp_download` for its log files.",
                ),
            ],
        ),
        "",
    ]
    if plan.has("ssh_exec_run"):
        lines.append(
            f"With `ssh_exec_run`: `systemctl status {svc} --no-pager -l` and "
            f"`journalctl -u {svc} -n 100 --no-pager` give the exit reason and the last errors."
        )
    else:
        lines.append(_no_exec(plan))
    lines += [
        "",
        "Report: the state of the service, the cause (quote the log lines that show it), "
        "and the fix you propose, with the exact change or command for the operator.",
    ]
    return lines


def _fleet(plan: Plan) -> list[str]:
    group, given = plan.args.get("group") or "", plan.args.get("command")
    command = given or "uptime"
    which = f"the hosts of group `{group}`" if group else "every configured host"
    if plan.has("ssh_broadcast"):
        target = f"group={group}" if group else "hosts=<every alias>"
        check = (
            "ssh_broadcast",
            f"`ssh_broadcast` {target} command={command!r}: one read-only command on all of "
            "them at once. Never broadcast a command that changes anything.",
        )
    else:
        check = (
            "ssh_host_alerts",
            "`ssh_host_alerts` on each host (independent calls may run in parallel): disk, "
            f"load and memory against each host's thresholds. Broadcasting "
            f"{repr(given) if given else 'a command'} "
            "needs the dangerous tier (ALLOW_DANGEROUS_TOOLS=true), which is closed here.",
        )
    return [
        f"Check {which} and summarize their health. Read only.",
        "",
        *_steps(
            plan,
            [
                (
                    "",
                    "Read the resource `ssh-mcp://hosts` for the aliases, their groups and "
                    "reachability as last seen.",
                ),
                check,
                (
                    "ssh_host_info",
                    "For a host that breaches or fails, `ssh_host_info` and "
                    "`ssh_host_disk_usage` give the figures behind it.",
                ),
            ],
        ),
        "",
        "Report: one line per host (alias, verdict, the figure that matters), unreachable "
        "hosts with their error, then the hosts that need attention first.",
    ]


def _disk(plan: Plan) -> list[str]:
    h, path = _host(plan), plan.args.get("path") or "/"
    lines = [
        f"Find what fills the disk holding `{path}` on host `{h}`. Read only: propose what "
        "to delete or rotate, delete nothing.",
        "",
        *_steps(
            plan,
            [
                (
                    "ssh_host_disk_usage",
                    "`ssh_host_disk_usage`: which filesystem it is, its size and use.",
                ),
                (
                    "ssh_sftp_list",
                    f"`ssh_sftp_list` on {path} and the directories below it that you "
                    "suspect (logs, caches, backups, core dumps): sizes and mtimes.",
                ),
                (
                    "ssh_find",
                    "`ssh_find` kind=file with a name_pattern such as '*.log', '*.gz', "
                    "'core*' or '*.tar*' to find large or old files; sizes come back.",
                ),
            ],
        ),
        "",
    ]
    if plan.has("ssh_exec_run"):
        lines.append(
            f"With `ssh_exec_run`: `du -xh --max-depth=2 {shlex.quote(path)} | sort -h | tail "
            "-20` ranks the biggest directories in one call."
        )
    else:
        lines.append(_no_exec(plan))
    lines += ["", "Report: the biggest consumers with sizes, and a cleanup plan."]
    return lines


HOST_ARG = PromptArg("host", "Host alias from hosts.toml (see ssh-mcp://hosts).")
PROMPTS: tuple[PromptSpec, ...] = (
    PromptSpec(
        "triage_host",
        "Triage a host",
        "Check one host's load, disk, memory, failing services and recent errors; give a verdict.",
        (HOST_ARG,),
        (
            "ssh_host_notes",
            "ssh_host_alerts",
            "ssh_host_info",
            "ssh_host_disk_usage",
            "ssh_host_processes",
            "ssh_find",
            "ssh_sftp_download",
        ),
        ("ssh_exec_run",),
        _triage,
    ),
    PromptSpec(
        "investigate_service",
        "Investigate a failing service",
        "Find why a systemd service on a host fails, from its unit, config and logs.",
        (HOST_ARG, PromptArg("service", "Service (systemd unit) name, e.g. nginx.")),
        (
            "ssh_host_notes",
            "ssh_host_alerts",
            "ssh_host_disk_usage",
            "ssh_host_processes",
            "ssh_find",
            "ssh_read_redacted",
            "ssh_sftp_download",
        ),
        ("ssh_exec_run",),
        _service,
    ),
    PromptSpec(
        "check_fleet",
        "Check a fleet",
        "Run a read-only health check on every host (or one hosts.toml group) and summarize.",
        (
            PromptArg("group", "hosts.toml group to check; omit for every host.", False),
            PromptArg("command", "Read-only command to broadcast when exec is open.", False),
        ),
        ("ssh_host_alerts", "ssh_host_info", "ssh_host_disk_usage"),
        ("ssh_broadcast",),
        _fleet,
    ),
    PromptSpec(
        "disk_full",
        "Find what fills a disk",
        "Find the biggest consumers of space on a host's filesystem and propose a cleanup.",
        (HOST_ARG, PromptArg("path", "Mount point or directory to look at; default /.", False)),
        ("ssh_host_disk_usage", "ssh_sftp_list", "ssh_find"),
        ("ssh_exec_run",),
        _disk,
    ),
)


def find_prompt(name: str) -> PromptSpec | None:
    return next((p for p in PROMPTS if p.name == name), None)


def _checked(app: App, spec: PromptSpec, given: Mapping[str, str]) -> dict[str, str]:
    known = {a.name for a in spec.arguments}
    extra = sorted(set(given) - known)
    if extra:
        raise InvalidArguments(f"prompt {spec.name} has no argument {shown(extra[0])}")
    args = {k: v.strip() for k, v in given.items() if v.strip()}
    for a in spec.arguments:
        if a.required and a.name not in args:
            raise InvalidArguments(f"prompt {spec.name} needs the argument {a.name!r}")
    for key, value in args.items():
        if len(value) > 1000 or not value.isprintable():
            raise InvalidArguments(f"{key}: {shown(value)} is not a printable line")
    if "host" in args:
        args["host"] = resolve_host(args["host"], app.inventory, app.settings).alias
    if "group" in args and args["group"] not in app.inventory.groups:
        raise InvalidArguments(f"group {shown(args['group'])} is not a group in hosts.toml")
    if "service" in args and not _UNIT.fullmatch(args["service"]):
        raise InvalidArguments(f"service {shown(args['service'])} is not a systemd unit name")
    if "path" in args and not args["path"].startswith("/"):
        raise InvalidArguments(f"path {shown(args['path'])} is not absolute")
    return args


def render_prompt(app: App, name: str, given: Mapping[str, str] | None) -> tuple[PromptSpec, str]:
    """The prompt called ``name`` and its text for these arguments; raises InvalidArguments
    (unknown prompt, bad argument) or HostNotAllowed (a host no tool could reach)."""
    spec = find_prompt(name)
    if spec is None:
        raise InvalidArguments(f"unknown prompt {shown(name)}; see prompts/list")
    plan = Plan(app, _checked(app, spec, given or {}))
    lines = spec.body(plan)
    if not all(plan.has(t) for t in spec.tools):
        lines += [
            "",
            "Some steps are left out: their tools are not open on this server (see the "
            "resource ssh-mcp://groups). Say what you could not check.",
        ]
    return spec, "\n".join(lines) + "\n"
