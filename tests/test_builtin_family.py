"""Builtins that evaluate data as code cannot run anything under a command allowlist, in
bash, dash and busybox sh as the login shell (issue 8, item 1), through MCP against sshd.

Each member builds ``$(touch <file>)`` at run time (``\\x24`` is ``$``) and hands it to a
builtin that evaluates array subscripts, arithmetic or a callback. Three runs per member:

* the allowlisted call (every name of the family allowlisted): refused by the policy or
  run behind ``env --``; the file is never created;
* the rewritten text sent verbatim to the same login shell (no allowlist, so nothing is
  refused): proves the rewrite itself is harmless, also for names the policy refuses;
* the text as sent, verbatim, under bash: the file IS created, so the payloads are live
  (the control; dash and busybox have none of these builtins' evaluating forms).
"""

from __future__ import annotations

import json
import os
import pwd
import secrets
import shutil
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from harness import Target, hosts_toml, last_audit, make_settings, serve, text
from sshd import Sshd, TestKeys, TestUser, authorize_keys

from ssh_mcp.config.settings import Settings
from ssh_mcp.errors import CommandNotAllowed
from ssh_mcp.policy.commands import rewrite

pytestmark = pytest.mark.anyio

NAMES = "printf echo cat read declare typeset local export let unset test [ mapfile readarray"
ALLOWLIST = [*NAMES.split(), "getopts", "true"]
MAKE = "printf -v x 'a[\\x24(touch {p})]'; "
#: (id, command with {p} for the file, creates the file under bash when run as sent)
FAMILY = [
    ("test-v", MAKE + 'test -v "$x"', True),
    ("bracket-v", MAKE + '[ -v "$x" ]', True),
    ("printf-v", MAKE + 'printf -v "$x" y', True),
    ("printf-v-fmt", MAKE + 'printf -v "$x" %s 1', True),
    ("declare", MAKE + 'declare "$x=1"', True),
    ("typeset", MAKE + 'typeset "$x=1"', True),
    ("let", MAKE + "let x", True),
    ("read", MAKE + 'read "$x" <<E\ny\nE', True),
    ("read-a", MAKE + 'read -a "$x" <<E\ny\nE', False),
    ("local", MAKE + 'local "$x=1"', False),
    ("export-integer", MAKE + 'export "n=$x"; declare -i n; n=n', True),
    ("export", MAKE + 'export "$x=1"', False),
    ("unset", MAKE + 'unset -v "$x"', False),
    ("getopts", MAKE + 'getopts a: o -a "$x"; printf -v "$OPTARG" 1', True),
    ("mapfile-callback", "mapfile -t -C 'touch {p} #' -c 1 a <<E\ny\nE", True),
    ("readarray-callback", "readarray -t -C 'touch {p} #' -c 1 a <<E\ny\nE", True),
    ("expansion-suffix", MAKE + 'test -v "${{x%z}}"', True),
    ("expansion-braced", MAKE + 'printf -v "${{x}}" y', True),
    ("mapfile-from-var", MAKE + 'mapfile -t "$x" <<E\ny\nE', False),
    ("read-herestring", MAKE + 'read "$x" <<< y', True),
    # Compound syntax that evaluates too: refused by the parser, so never rewritten.
    ("arith-command", MAKE + "((x))", True),
    ("double-bracket-v", MAKE + '[[ -v "$x" ]]', True),
]


@dataclass(frozen=True)
class Shell:
    name: str
    user: str
    home: Path


def _user_with_shell(name: str, shell: str, keys_dir: Path, pub: str) -> Shell:
    """A user of this module only (no sudo), created once, with ``shell`` as login shell
    and a random password (without one the account is locked and sshd refuses keys)."""
    try:
        pw = pwd.getpwnam(name)
    except KeyError:
        subprocess.run(["useradd", "--create-home", "--shell", shell, name], check=True)
        pw = pwd.getpwnam(name)
    subprocess.run(["usermod", "--shell", shell, name], check=True)
    password = f"{name}:{secrets.token_urlsafe(24)}\n"
    subprocess.run(["chpasswd"], input=password.encode(), check=True)
    authorize_keys(keys_dir, name, [pub])
    return Shell(shell, name, Path(pw.pw_dir))


@pytest.fixture(scope="module")
def shells(
    ssh_root_dir: Path, test_keys: TestKeys, sshd: Sshd, test_user: TestUser
) -> Iterator[list[Shell]]:
    """The test user (bash) and two users of this module whose login shell is dash and
    busybox's ash (sshd runs the shell as argv[0] = its file name, so a link named
    ``ash`` makes busybox act as ash)."""
    if not shutil.which("busybox") or not shutil.which("dash"):
        pytest.fail("busybox and dash are needed: apt-get install -y busybox dash")
    keys = ssh_root_dir / "authorized_keys"
    ash = ssh_root_dir / "ash"
    if not ash.exists():
        ash.symlink_to(shutil.which("busybox") or "")
    yield [
        Shell("/bin/bash", test_user.name, test_user.home),
        _user_with_shell("mcp-ssh-dash", shutil.which("dash") or "", keys, test_keys.plain_pub),
        _user_with_shell("mcp-ssh-ash", str(ash), keys, test_keys.plain_pub),
    ]


def _settings(
    work: Path, sshd: Sshd, keys: TestKeys, known: Path, shell: Shell, allowlist: bool
) -> Settings:
    extra = f"command_allowlist = {json.dumps(ALLOWLIST)}" if allowlist else ""
    target = Target("box", sshd.port, shell.user, keys.plain, (str(shell.home),), extra)
    return make_settings(
        work / ("allow" if allowlist else "any"),
        hosts_toml(target),
        known,
        allow_dangerous_tools=True,
        allow_any_command=not allowlist,
    )


@pytest.mark.parametrize("shell_index", [0, 1, 2], ids=["bash", "dash", "busybox-ash"])
async def test_the_family_runs_nothing_under_an_allowlist(
    shell_index: int,
    shells: list[Shell],
    drop: Path,
    tmp_path: Path,
    sshd: Sshd,
    test_keys: TestKeys,
    known_hosts_file: Path,
) -> None:
    shell = shells[shell_index]
    make: Callable[[bool], Settings] = lambda allow: _settings(  # noqa: E731
        tmp_path, sshd, test_keys, known_hosts_file, shell, allow
    )
    async with serve(make(True)) as (strict, strict_app), serve(make(False)) as (loose, _):
        probe = await loose.call_tool("ssh_exec_run", {"host": "box", "command": "echo $0"})
        assert not probe.is_error and Path(shell.name).name in text(probe), text(probe)
        for name, template, works_in_bash in FAMILY:
            command = template.format(p=drop / f"{name}-policy")
            r = await strict.call_tool("ssh_exec_run", {"host": "box", "command": command})
            line = last_audit(strict_app)
            assert line["command_hash"] == strict_app.audit.digest(command)
            if r.is_error:  # refused before the host: a name that is never allowed
                assert "command not allowed" in text(r) and line["outcome"] == "denied", text(r)
            else:
                assert line["outcome"] == "ok", line
            assert not (drop / f"{name}-policy").exists(), f"{name}: {text(r)}"

            try:
                rewritten = rewrite(template.format(p=drop / f"{name}-rewrite"))
            except CommandNotAllowed:  # refused outright: nothing would run, nothing to send
                assert r.is_error, name
            else:
                r = await loose.call_tool("ssh_exec_run", {"host": "box", "command": rewritten})
                assert not r.is_error, text(r)
                assert not (drop / f"{name}-rewrite").exists(), f"{name}: {text(r)}"

            if shell.name == "/bin/bash":
                command = template.format(p=drop / f"{name}-control")
                r = await loose.call_tool("ssh_exec_run", {"host": "box", "command": command})
                assert (drop / f"{name}-control").exists() == works_in_bash, f"{name}: {text(r)}"
        assert not [f for f in os.listdir(drop) if not f.endswith("-control")]


async def test_legit_commands_still_work_behind_env(
    shells: list[Shell], tmp_path: Path, sshd: Sshd, test_keys: TestKeys, known_hosts_file: Path
) -> None:
    for shell in shells:
        settings = _settings(tmp_path / shell.user, sshd, test_keys, known_hosts_file, shell, True)
        async with serve(settings) as (client, _):
            for command, out in [
                ("echo hi | cat", "hi\n"),
                ("printf '%s\\n' a b | cat -n", "     1\ta\n     2\tb\n"),
                ("cat <<EOF\n$HOME\nEOF", f"{shell.home}\n"),
                ("true && echo yes || echo no", "yes\n"),
            ]:
                r = await client.call_tool("ssh_exec_run", {"host": "box", "command": command})
                assert r.structured_content is not None, text(r)
                assert r.structured_content["stdout"] == out, (shell.name, command, text(r))
            # A builtin-only name fails on the host: it has no program to run.
            r = await client.call_tool("ssh_exec_run", {"host": "box", "command": "read x"})
            assert r.structured_content and r.structured_content["exit_code"] == 127, text(r)
