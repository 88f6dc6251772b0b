"""Files that a login, a session or a scheduler runs are code: writing one needs a human.

Pure table tests over :data:`ssh_mcp.policy.confirm.PATH_PATTERNS`, then file tools through
MCP against the real sshd. The through-MCP tests log in as a user of their own
(``mcp-ssh-paths``), never the shared test user: its real ``~/.bashrc`` and ``~/.ssh/rc``
are the targets, and a write that wrongly went through must not reach anyone else's logins.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from harness import Target, audit_lines, hosts_toml, make_settings, serve, text
from mcp.client.session import ClientRequestContext
from mcp.types import ElicitRequestFormParams, ElicitRequestParams, ElicitResult, ErrorData
from sshd import Sshd, TestKeys, TestUser, authorize_keys, ensure_user

from ssh_mcp.config.settings import Settings
from ssh_mcp.policy.confirm import DenyPatterns

pytestmark = pytest.mark.anyio

CODE_FILES = [
    "~/.ssh/rc",
    "/home/u/.ssh/rc",
    "/root/.ssh/environment",
    "/srv/home/u/.ssh/config",
    "/etc/ssh/sshrc",
    "/etc/ssh/ssh_config",
    "/etc/ssh/ssh_config.d/10-proxy.conf",
    *(
        f"/home/u/.{name}"
        for name in [
            "bashrc",
            "bash_profile",
            "bash_login",
            "bash_logout",
            "bash_aliases",
            "profile",
            "zshenv",
            "zprofile",
            "zshrc",
            "zlogin",
            "zlogout",
            "kshrc",
            "mkshrc",
            "cshrc",
            "tcshrc",
            "login",
            "logout",
            "pam_environment",
            "xprofile",
            "xsession",
            "xsessionrc",
            "xinitrc",
            "forward",
            "procmailrc",
            "gitconfig",
        ]
    ),
    "~/.bashrc",
    "/var/lib/svc/.profile",
    "~/.config/fish/config.fish",
    "/home/u/.config/fish/conf.d/x.fish",
    "/home/u/.config/fish/functions/ls.fish",
    "/home/u/.config/fish",
    "/home/u/.config",
    "~/.config/systemd/user/evil.service",
    "/home/u/.config/systemd/user.conf",
    "/home/u/.config/environment.d/10-path.conf",
    "/home/u/.config/autostart/evil.desktop",
    "/home/u/.config/autostart",
    "/home/u/.config/git/config",
    "/home/u/.local/share/systemd/user/evil.service",
    "/home/u/.local/bin/ls",
    "/home/u/.local",
    "~/bin/ls",
    "/root/bin",
    "/usr/local/bin/ls",
    "/usr/sbin/sshd",
    "/bin/sh",
    "/srv/repo/.git/hooks/pre-commit",
    "/srv/repo/.git/hooks",
    "/srv/repo/.git/config",
    "/srv/repo/.git",
    "/etc/bash.bashrc",
    "/etc/profile",
    "/etc/profile.d/evil.sh",
    "/etc/zsh/zshrc",
    "/etc/fish/config.fish",
    "/etc/environment",
    "/etc/bash_completion.d/x",
    "/etc/security/pam_env.conf",
    "/etc/rc.local",
    "/etc/init.d/evil",
    "/etc/rc2.d/S01evil",
    "/etc/update-motd.d/99-evil",
    "/etc/xdg/autostart/evil.desktop",
    "/etc/X11/Xsession.d/99evil",
    "/etc/logrotate.d/app",
    "/etc/apt/apt.conf.d/99hook",
    "/etc/udev/rules.d/99-evil.rules",
    "/etc/anacrontab",
    "/etc/ld.so.conf",
    "/etc/ld.so.conf.d/evil.conf",
    "/etc/ld.so.preload",
    "/etc/sudo.conf",
    "/etc/systemd/system.conf",
    "/etc/systemd/user/evil.service",
    "/usr/lib/systemd/user/evil.service",
    "/run/systemd/system/evil.service",
    "/var/spool/cron/crontabs/u",
    "/var/spool/cron/atjobs/a0001",
    "/var/spool/at/a0001",
    "/etc/cron.hourly/x",
    # review rev2: what an interactive bash on Debian, an X login, a boot or a device runs
    "/home/u/.bash_completion",
    "/home/u/.local/share/bash-completion/completions/ls",
    "/home/u/.Xsession",
    "/Users/u/Library/LaunchAgents/evil.plist",
    "/home/u/.Xclients",
    "/home/u/.xserverrc",
    "/etc/bash_completion",
    "/etc/gitconfig",
    "/etc/inittab",
    "/etc/doas.conf",
    "/etc/apt/apt.conf",
    "/etc/dpkg/dpkg.cfg.d/hook",
    "/etc/sysctl.conf",
    "/etc/sysctl.d/99-core.conf",
    "/etc/tmpfiles.d/keys.conf",
    "/usr/lib/tmpfiles.d/keys.conf",
    "/etc/modprobe.d/install.conf",
    "/etc/binfmt.d/x.conf",
    "/etc/polkit-1/rules.d/00-yes.rules",
    "/lib/udev/rules.d/99-run.rules",
    "/usr/lib/udev/rules.d/99-run.rules",
]

DATA_FILES = [
    "/srv/app/.bashrc.md",
    "/srv/app/bashrc",
    "notes/profile.txt",
    "/home/u/profile",
    "/home/u/.ssh/known_hosts",
    "/home/u/.ssh/id_ed25519.pub",
    "/home/u/.ssh/rc.bak",
    "/home/u/.sshrc-notes",
    "/home/u/.config/app/settings.json",
    "/home/u/.local/share/app/data.db",
    "/home/u/work/bin/tool",
    "/srv/app/bin/run",
    "/usr/share/doc/x",
    "/srv/repo/.git/objects/ab/cdef",
    "/srv/repo/.gitignore",
    "/srv/repo/.github/workflows/ci.yml",
    "/etc/hosts",
    "/etc/profile.bak/x",
    "/etc/environment-notes",
    "/var/spool/mail/u",
    "/srv/cron/job",
]


@pytest.mark.parametrize("path", CODE_FILES)
def test_files_that_run_later_need_a_human(path: str) -> None:
    assert DenyPatterns.build().match_path(path) is not None


@pytest.mark.parametrize("path", DATA_FILES)
def test_ordinary_files_are_not_asked_about(path: str) -> None:
    assert DenyPatterns.build().match_path(path) is None


# -- through MCP against the real sshd, as a user of the tests' own ---------------------

OWN_USER = "mcp-ssh-paths"


class Human:
    """Answers every confirmation the same way, and remembers what it was asked."""

    def __init__(self, action: str = "accept") -> None:
        self.action, self.asked = action, list[ElicitRequestFormParams]()

    async def __call__(
        self, context: ClientRequestContext, params: ElicitRequestParams
    ) -> ElicitResult | ErrorData:
        assert isinstance(params, ElicitRequestFormParams)
        self.asked.append(params)
        content = {"confirm": True} if self.action == "accept" else None
        return ElicitResult(action=self.action, content=content)


BASHRC = b"# the test's own bashrc: must never change\n"


@pytest.fixture
def own_user(test_user: TestUser, ssh_root_dir: Path, test_keys: TestKeys) -> Iterator[TestUser]:
    """A login of these tests alone, with a known ~/.bashrc and an empty ~/.ssh."""
    user = ensure_user(OWN_USER)
    authorize_keys(ssh_root_dir / "authorized_keys", user.name, [test_keys.plain_pub])
    ssh_dir = user.home / ".ssh"
    shutil.rmtree(ssh_dir, ignore_errors=True)
    ssh_dir.mkdir(mode=0o700)
    (user.home / ".bashrc").write_bytes(BASHRC)
    staged = user.home / f"staged-{os.getpid()}"
    staged.write_text("touch /tmp/pwned\n")
    for p in (ssh_dir, user.home / ".bashrc", staged):
        os.chown(p, user.uid, user.uid)
    try:
        yield user
    finally:
        staged.unlink(missing_ok=True)
        shutil.rmtree(ssh_dir, ignore_errors=True)


@pytest.fixture
def own_settings(
    own_user: TestUser, sshd: Sshd, test_keys: TestKeys, known_hosts_file: Path, tmp_path: Path
) -> Callable[..., Settings]:
    def make(**overrides: object) -> Settings:
        own = Target("own", sshd.port, own_user.name, test_keys.plain, (str(own_user.home),))
        return make_settings(
            tmp_path, hosts_toml(own), known_hosts_file, allow_low_access_tools=True, **overrides
        )

    return make


def _calls(home: Path) -> list[tuple[str, dict[str, object]]]:
    staged = str(home / f"staged-{os.getpid()}")
    return [
        ("ssh_upload", {"host": "own", "path": "~/.ssh/rc", "content_text": "touch /tmp/x\n"}),
        ("ssh_upload", {"host": "own", "path": str(home / ".ssh" / "rc"), "content_text": "x\n"}),
        ("ssh_mv", {"host": "own", "src_path": staged, "dst_path": "~/.ssh/rc"}),
        (
            "ssh_upload",
            {"host": "own", "path": "~/.bashrc", "content_text": "x\n", "overwrite": True},
        ),
        (
            "ssh_edit",
            {"host": "own", "path": "~/.bashrc", "old_string": "never", "new_string": "now"},
        ),
        ("ssh_mv", {"host": "own", "src_path": staged, "dst_path": str(home / ".bashrc")}),
    ]


@pytest.mark.parametrize("who", ["declines", "cannot-ask"])
async def test_planting_a_login_script_without_a_yes_changes_nothing(
    who: str, own_settings: Callable[..., Settings], own_user: TestUser
) -> None:
    human = Human("decline") if who == "declines" else None
    rc, bashrc = own_user.home / ".ssh" / "rc", own_user.home / ".bashrc"
    staged = own_user.home / f"staged-{os.getpid()}"
    async with serve(own_settings(), "legacy", human) as (client, app):
        for i, (tool, args) in enumerate(_calls(own_user.home), start=1):
            r = await client.call_tool(tool, args)
            assert r.is_error, f"{tool} {args}: {text(r)}"
            expect = "a human declined" if human else "needs a human's confirmation"
            assert expect in text(r), text(r)
            # the outcome on the host: nothing planted, nothing changed, nothing moved
            assert not rc.exists() and bashrc.read_bytes() == BASHRC and staged.exists()
            lines = [ln for ln in audit_lines(app) if ln["tool"] == tool]
            assert len(audit_lines(app)) == i and lines[-1]["outcome"] == "denied"
            assert lines[-1]["confirmation"] == ("declined" if human else "unsupported")
            assert lines[-1]["deny_pattern"] in (
                "write to a file ssh runs or reads at login",
                "write to a shell or login startup file",
            )
    if human:
        assert len(human.asked) == len(_calls(own_user.home))


async def test_a_confirmed_write_to_a_startup_file_goes_through(
    own_settings: Callable[..., Settings], own_user: TestUser
) -> None:
    """The patterns ask, they do not forbid: a human's yes writes the file (in a scratch
    directory, so no login of this user ever runs it)."""
    scratch = own_user.home / f"scratch-{os.getpid()}"
    scratch.mkdir()
    os.chown(scratch, own_user.uid, own_user.uid)
    try:
        human = Human()
        async with serve(own_settings(), "legacy", human) as (client, app):
            args = {"host": "own", "path": f"{scratch}/.profile", "content_text": "x=1\n"}
            r = await client.call_tool("ssh_upload", args)
            assert not r.is_error, text(r)
            assert (scratch / ".profile").read_text() == "x=1\n" and len(human.asked) == 1
            assert "write to a shell or login startup file" in human.asked[0].message
            assert audit_lines(app)[-1]["confirmation"] == "confirmed"
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


@pytest.mark.parametrize(
    "name",
    [
        ".bash_completion",
        ".Xsession",
        ".local/share/bash-completion/completions/ls",
        ".BASHRC",  # ~/.bashrc on a case-insensitive disk (macOS, ext4 casefold)
        ".Profile",
    ],
)
async def test_files_an_interactive_or_x_login_runs_are_not_planted_without_a_yes(
    name: str, own_settings: Callable[..., Settings], own_user: TestUser
) -> None:
    """Debian's bash-completion sources ~/.bash_completion (and loads completions from
    ~/.local/share) in every interactive bash; its Xsession runs ~/.Xsession."""
    planted = own_user.home / name
    try:
        async with serve(own_settings(), "legacy", None) as (client, app):
            args = {"host": "own", "path": f"~/{name}", "content_text": "touch /tmp/x\n"}
            r = await client.call_tool("ssh_upload", args)
            assert r.is_error and "needs a human's confirmation" in text(r), text(r)
            assert not planted.exists()
            assert audit_lines(app)[-1]["confirmation"] == "unsupported"
    finally:
        planted.unlink(missing_ok=True)


ELSEWHERE = "mcp-ssh-rev2home"


@pytest.fixture
def elsewhere_user(test_user: TestUser, ssh_root_dir: Path, test_keys: TestKeys) -> TestUser:
    """A login of its own whose home is not under /home (a service account's)."""
    user = ensure_user(ELSEWHERE)
    home = Path(f"/var/lib/{ELSEWHERE}")
    if user.home != home:
        subprocess.run(["usermod", "-d", str(home), "-m", ELSEWHERE], check=True)
        user = ensure_user(ELSEWHERE)
    authorize_keys(ssh_root_dir / "authorized_keys", user.name, [test_keys.plain_pub])
    (home / "bin").mkdir(exist_ok=True)
    os.chown(home / "bin", user.uid, user.uid)
    return user


@pytest.mark.parametrize("spelling", ["absolute", "tilde", "redirect"])
async def test_bin_in_a_home_outside_home_needs_a_yes(
    spelling: str,
    elsewhere_user: TestUser,
    sshd: Sshd,
    test_keys: TestKeys,
    known_hosts_file: Path,
    tmp_path: Path,
) -> None:
    """Debian's .profile puts ~/bin first on PATH wherever the home is."""
    home = elsewhere_user.home
    planted = home / "bin" / "ls"
    own = Target("own", sshd.port, elsewhere_user.name, test_keys.plain, (str(home),))
    settings = make_settings(
        tmp_path,
        hosts_toml(own),
        known_hosts_file,
        allow_low_access_tools=True,
        allow_dangerous_tools=True,
        ssh_command_allowlist=["echo"],
    )
    path = "~/bin/ls" if spelling == "tilde" else str(planted)
    try:
        async with serve(settings, "legacy", None) as (client, _):
            if spelling == "redirect":
                tool, args = "ssh_exec_run", {"host": "own", "command": f"echo x > {path}"}
            else:
                tool, args = "ssh_upload", {"host": "own", "path": path, "content_text": "x\n"}
            r = await client.call_tool(tool, args)
            assert r.is_error and "needs a human's confirmation" in text(r), text(r)
            assert not planted.exists()
    finally:
        planted.unlink(missing_ok=True)
