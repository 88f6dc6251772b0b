"""Device CLI profiles: what a host's ``cli`` table means once its profile fills the gaps.

A host with a ``cli`` table is a network device whose login shell is a vendor CLI
(DECISIONS.md 74). Its profile (``cisco_ios``, ``junos`` or ``generic``) supplies
every value the table leaves out; the table overrides any of them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

LineEnding = Literal["lf", "cr", "crlf"]
ENDINGS: dict[str, str] = {"lf": "\n", "cr": "\r", "crlf": "\r\n"}


@dataclass(frozen=True)
class CliConfig:
    """A device host's CLI, resolved."""

    profile: str
    #: Matches a prompt line (searched per line, MULTILINE).
    prompt_regex: str
    #: Sent once after login to turn the pager off; empty: nothing is sent.
    pager_off: str
    #: The command that asks for privileged mode, sent when ``enable_cmd`` is set.
    enable: str
    #: argv whose stdout is the enable secret; None: no enable step.
    enable_cmd: tuple[str, ...] | None
    #: Matches the prompt line once the enable step has succeeded (privileged mode).
    privileged_regex: str
    #: Device commands that may run: glob patterns (``show *``) on the whitespace-normalized line.
    commands: tuple[str, ...]
    line_ending: LineEnding
    #: Whether a configuration mode may be entered (after a human's confirmation).
    allow_config: bool
    #: Matches a command that enters a configuration mode.
    config_regex: str

    @property
    def newline(self) -> str:
        return ENDINGS[self.line_ending]

    @property
    def prompt(self) -> re.Pattern[str]:
        return re.compile(self.prompt_regex, re.MULTILINE)


_READS = ("show *", "ping *", "traceroute *")

PROFILES: dict[str, CliConfig] = {
    # Cisco IOS and the CLIs modelled on it (FRRouting's vtysh, Arista EOS): `name>` or `name#`,
    # `(config)#` inside configuration mode.
    "cisco_ios": CliConfig(
        profile="cisco_ios",
        prompt_regex=r"^[A-Za-z0-9_.:/@-]+(\([A-Za-z0-9_. -]+\))?[>#] ?$",
        pager_off="terminal length 0",
        enable="enable",
        enable_cmd=None,
        privileged_regex=r"# ?$",
        commands=_READS,
        line_ending="lf",
        allow_config=False,
        config_regex=r"^\s*conf(i(g(u(r(e)?)?)?)?)?(\s|$)",
    ),
    # Junos: `user@host>` operational, `user@host#` in configure, `[edit]` above it.
    "junos": CliConfig(
        profile="junos",
        prompt_regex=r"^(\{[^}]*\}\s*)?[A-Za-z0-9_.-]+@[A-Za-z0-9_.-]+[>#%] ?$",
        pager_off="set cli screen-length 0",
        enable="",
        enable_cmd=None,
        privileged_regex=r"# ?$",
        commands=_READS,
        line_ending="lf",
        allow_config=False,
        config_regex=r"^\s*(conf(i(g(u(r(e)?)?)?)?)?|edit)(\s|$)",
    ),
    # Anything else: a line ending in >, #, $ or %; no pager command; set what you need.
    "generic": CliConfig(
        profile="generic",
        prompt_regex=r"[>#$%] ?$",
        pager_off="",
        enable="",
        enable_cmd=None,
        privileged_regex=r"# ?$",
        commands=_READS,
        line_ending="lf",
        allow_config=False,
        config_regex=r"^\s*conf(i(g(u(r(e)?)?)?)?)?(\s|$)",
    ),
}
