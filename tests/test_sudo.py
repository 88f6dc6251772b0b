"""The sudo tier through MCP against real sshd and a real sudo that wants a password."""

from __future__ import annotations

import logging
import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import anyio
import pytest
from harness import OPEN_SUDO, Target, assert_audit, gone, hosts_toml, serve, text
from sshd import TestUser, remote_pids

from ssh_mcp.config.settings import Settings

pytestmark = pytest.mark.anyio


@pytest.fixture
def sudo_settings(
    tmp_path: Path, target: Target, test_user: TestUser, settings_for: Callable[..., Settings]
) -> Callable[..., Settings]:
    """Settings whose host has a sudo_password_cmd (``cat`` of a 0600 file) unless told."""
    secret = tmp_path / "sudo.pw"
    secret.write_text(test_user.password + "\n")
    secret.chmod(0o600)

    def make(password_cmd: list[str] | None = None, **overrides: object) -> Settings:
        argv = ["cat", str(secret)] if password_cmd is None else password_cmd
        extra = f"sudo_password_cmd = {argv!r}\n".replace("'", '"') if argv else ""
        host = Target(target.alias, target.port, target.user, target.key, target.path_allowlist,
                      extra)  # fmt: skip
        values = {**OPEN_SUDO, **overrides}
        return settings_for(hosts=hosts_toml(host), **values)

    return make


async def test_runs_as_root_and_the_password_stays_secret(
    sudo_settings: Callable[..., Settings],
    test_user: TestUser,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    marker = "sleep 0.81"
    async with serve(sudo_settings()) as (client, app):
        r = await client.call_tool(
            "ssh_sudo_exec", {"host": "target", "command": f"id -u; {marker}; echo done"}
        )
        sc = r.structured_content
        assert sc is not None and not r.is_error, text(r)
        assert (sc["stdout"], sc["stderr"], sc["exit_code"]) == ("0\ndone\n", "", 0)
        line = assert_audit(app, {"tool": "ssh_sudo_exec", "tier": "sudo", "outcome": "ok"})
        assert line["exit_code"] == 0
        # A command reading stdin gets nothing: the password line was sudo's alone.
        r = await client.call_tool("ssh_sudo_exec", {"host": "target", "command": "cat; id -un"})
        assert r.structured_content and r.structured_content["stdout"] == "root\n"
        everything = text(r) + app.settings.ssh_audit_log.read_text() + caplog.text
        assert test_user.password not in everything


async def test_password_never_appears_in_any_process_argv(
    sudo_settings: Callable[..., Settings], test_user: TestUser
) -> None:
    marker = "sleep 306.81"
    async with serve(sudo_settings()) as (client, _):
        async with anyio.create_task_group() as tg:
            tg.start_soon(
                client.call_tool,
                "ssh_sudo_exec",
                {"host": "target", "command": marker, "timeout": 3},
            )
            for _ in range(500):
                if remote_pids("root", f"^{marker}$"):
                    break
                await anyio.sleep(0.01)
            assert remote_pids("root", f"^{marker}$")
            argvs = [p.read_bytes() for p in Path("/proc").glob("[0-9]*/cmdline") if p.exists()]
            assert not any(test_user.password.encode() in a for a in argvs)
        assert await gone("root", marker)


@pytest.mark.parametrize(
    ("password_cmd", "says"),
    [
        ([], "did not run the command: it needs a password: set sudo_password_cmd"),
        (["echo", "wrong-password"], "it rejected the password from sudo_password_cmd"),
        (["false"], "sudo_password_cmd 'false' exited 1; fix it in hosts.toml"),
    ],
    ids=["no-password-cmd", "wrong-password", "failing-cmd"],
)
async def test_sudo_refusals_are_one_clear_line(
    password_cmd: list[str], says: str, sudo_settings: Callable[..., Settings], work_dir: Path
) -> None:
    flag = work_dir / "ran-as-root"
    async with serve(sudo_settings(password_cmd)) as (client, app):
        r = await client.call_tool("ssh_sudo_exec", {"host": "target", "command": f"touch {flag}"})
        assert r.is_error and says in text(r) and "\n" not in text(r), text(r)
        assert not flag.exists()
        assert_audit(app, {"tool": "ssh_sudo_exec", "outcome": "error"})


@pytest.mark.parametrize("how", ["timeout", "cancel"])
async def test_stop_ladder_reaches_root_processes(
    how: str, sudo_settings: Callable[..., Settings]
) -> None:
    """The user's sshd cannot signal root's processes; the ladder kills them through sudo,
    even a command that ignores INT and TERM."""
    marker = f"sleep 307.{len(how)}"
    command = f"trap '' INT TERM; {marker} & {marker}; wait"
    async with serve(sudo_settings(), mode="legacy") as (client, app):
        if how == "timeout":
            r = await client.call_tool(
                "ssh_sudo_exec", {"host": "target", "command": command, "timeout": 3}
            )
            assert r.structured_content and r.structured_content["timed_out"]
            assert_audit(app, {"tool": "ssh_sudo_exec", "outcome": "ok"})
        else:
            with anyio.move_on_after(1.0):
                await client.call_tool("ssh_sudo_exec", {"host": "target", "command": command})
        assert await gone("root", marker), remote_pids("root", marker)


async def test_sudo_tier_needs_both_flags(sudo_settings: Callable[..., Settings]) -> None:
    for flags in (
        {"allow_sudo": False},
        {"allow_dangerous_tools": False},
    ):
        async with serve(sudo_settings(**flags)) as (client, app):
            names = {t.name for t in (await client.list_tools()).tools}
            assert "ssh_sudo_exec" not in names
            r = await client.call_tool("ssh_sudo_exec", {"host": "target", "command": "id"})
            assert r.is_error and "unknown tool 'ssh_sudo_exec'" in text(r)
            assert_audit(app, {"outcome": "denied", "error": "ToolNotAvailable"})


async def test_command_policy_and_confirmation_apply(
    sudo_settings: Callable[..., Settings],
) -> None:
    settings = sudo_settings(allow_any_command=False, ssh_command_allowlist=["id", "reboot"])
    async with serve(settings) as (client, app):
        ok = await client.call_tool("ssh_sudo_exec", {"host": "target", "command": "id -u"})
        assert ok.structured_content and ok.structured_content["stdout"] == "0\n"
        r = await client.call_tool("ssh_sudo_exec", {"host": "target", "command": "rm -f /x"})
        assert r.is_error and "command not allowed" in text(r)
        assert_audit(app, {"outcome": "denied", "error": "CommandNotAllowed"})
        r = await client.call_tool("ssh_sudo_exec", {"host": "target", "command": "reboot"})
        assert r.is_error and "no elicitation support" in text(r)
        assert_audit(app, {"outcome": "denied", "confirmation": "unsupported"})


async def test_sudo_runs_in_cwd(sudo_settings: Callable[..., Settings], work_dir: Path) -> None:
    async with serve(sudo_settings()) as (client, _):
        r = await client.call_tool(
            "ssh_sudo_exec", {"host": "target", "command": "pwd; id -u", "cwd": str(work_dir)}
        )
        assert r.structured_content and r.structured_content["stdout"] == f"{work_dir}\n0\n"


async def test_sudo_script_goes_over_stdin_after_the_password(
    sudo_settings: Callable[..., Settings], test_user: TestUser
) -> None:
    script = 'x=private-value\necho "$x as $(id -un)"\ncat\nexit 3\n'
    async with serve(sudo_settings()) as (client, app):
        r = await client.call_tool("ssh_sudo_run_script", {"host": "target", "script": script})
        sc = r.structured_content
        assert sc is not None and not r.is_error, text(r)
        # `cat` read the script's own rest (nothing after exit's line), never the password.
        assert (sc["stdout"], sc["exit_code"]) == ("private-value as root\n", 3)
        line = assert_audit(app, {"tool": "ssh_sudo_run_script", "tier": "sudo", "exit_code": 3})
        assert line["command_hash"] == app.audit.digest(script)
        log = app.settings.ssh_audit_log.read_text()
        assert "private-value" not in log and test_user.password not in log + text(r)
    async with serve(sudo_settings(["echo", "nope"])) as (client, app):
        r = await client.call_tool("ssh_sudo_run_script", {"host": "target", "script": "id\n"})
        assert r.is_error and "it rejected the password" in text(r)


@pytest.fixture
def root_dir(work_dir: Path) -> Path:
    """A 0700 root-owned directory the login user cannot enter, with a secret file."""
    d = work_dir / "rootonly"
    d.mkdir(mode=0o700)
    (d / "app.conf").write_text("password = not-for-agents\n")
    (d / "app.conf").chmod(0o600)
    (d / "blob.bin").write_bytes(b"\x00\xff" * 8)
    (d / "to-etc").symlink_to("/etc/hostname")  # resolves outside the allowlist
    return d


async def test_sudo_read_and_list_root_only_paths(
    sudo_settings: Callable[..., Settings], root_dir: Path
) -> None:
    async with serve(sudo_settings()) as (client, app):
        plain = await client.call_tool(
            "ssh_sftp_download", {"host": "target", "path": str(root_dir / "app.conf")}
        )
        assert plain.is_error  # the login user cannot even resolve the path
        r = await client.call_tool(
            "ssh_sudo_read", {"host": "target", "path": str(root_dir / "app.conf")}
        )
        sc = r.structured_content
        assert sc is not None and not r.is_error, text(r)
        assert (sc["encoding"], sc["content"], sc["size"]) == (
            "text",
            "password = not-for-agents\n",
            26,
        )
        line = assert_audit(app, {"tool": "ssh_sudo_read", "tier": "sudo", "outcome": "ok"})
        assert line["path_hash"] == app.audit.digest(str(root_dir / "app.conf"))
        blob = await client.call_tool(
            "ssh_sudo_read", {"host": "target", "path": str(root_dir / "blob.bin")}
        )
        assert blob.structured_content and blob.structured_content["encoding"] == "base64"
        listed = await client.call_tool(
            "ssh_sudo_sftp_list", {"host": "target", "path": str(root_dir)}
        )
        ls = listed.structured_content
        assert ls is not None and not listed.is_error, text(listed)
        assert [(e["name"], e["kind"], e["mode"]) for e in ls["entries"]] == [
            ("app.conf", "file", "0600"),
            ("blob.bin", "file", "0644"),
            ("to-etc", "symlink", "0777"),
        ]
        assert (ls["total"], ls["next_offset"]) == (3, None)
        paged = await client.call_tool(
            "ssh_sudo_sftp_list", {"host": "target", "path": str(root_dir), "limit": 2}
        )
        ls = paged.structured_content
        assert ls is not None and [e["name"] for e in ls["entries"]] == ["app.conf", "blob.bin"]
        assert (ls["total"], ls["next_offset"]) == (3, 2)
        args = {"host": "target", "path": str(root_dir), "offset": 2, "limit": 2}
        ls = (await client.call_tool("ssh_sudo_sftp_list", args)).structured_content
        assert ls is not None and [e["name"] for e in ls["entries"]] == ["to-etc"]
        assert ls["next_offset"] is None


async def test_sudo_paths_are_confined_as_root_resolves_them(
    sudo_settings: Callable[..., Settings], root_dir: Path, work_dir: Path
) -> None:
    settings = sudo_settings(ssh_restricted_paths=[str(root_dir / "app.conf")])
    async with serve(settings) as (client, app):
        for path, says in [
            (root_dir / "to-etc", "outside the path allowlist"),  # a link out, seen as root
            (Path("/etc/shadow"), "outside the path allowlist"),
            (root_dir / "app.conf", "restricted"),
            (root_dir / "missing", "No such file or directory"),
        ]:
            r = await client.call_tool("ssh_sudo_read", {"host": "target", "path": str(path)})
            assert r.is_error and says in text(r) and "\n" not in text(r), (path, text(r))
        assert_audit(app, {"tool": "ssh_sudo_read", "outcome": "error"})
    async with serve(sudo_settings(["echo", "wrong"])) as (client, _):
        r = await client.call_tool(
            "ssh_sudo_read", {"host": "target", "path": str(root_dir / "app.conf")}
        )
        assert r.is_error and "it rejected the password" in text(r)


async def test_sudo_read_cap(sudo_settings: Callable[..., Settings], root_dir: Path) -> None:
    (root_dir / "big").write_bytes(b"x" * 5000)
    async with serve(sudo_settings(ssh_inline_max_bytes=4096)) as (client, app):
        r = await client.call_tool(
            "ssh_sudo_read", {"host": "target", "path": str(root_dir / "big")}
        )
        assert r.is_error and "over the inline cap of 4096 bytes" in text(r)
        assert_audit(app, {"outcome": "error", "error": "CapExceeded"})


async def test_sudo_write_is_atomic_and_keeps_owner_and_mode(
    sudo_settings: Callable[..., Settings], root_dir: Path, test_user: TestUser
) -> None:
    conf = root_dir / "app.conf"
    os.chown(conf, test_user.uid, 0)  # an owner to keep
    conf.chmod(0o640)
    new = root_dir / "new.conf"
    async with serve(sudo_settings()) as (client, app):
        r = await client.call_tool(
            "ssh_sudo_write",
            {"host": "target", "path": str(conf), "content_text": "password = new\n"},
        )
        assert r.is_error and "exists; pass overwrite=true" in text(r)
        assert conf.read_text() == "password = not-for-agents\n"
        r = await client.call_tool(
            "ssh_sudo_write",
            {
                "host": "target",
                "path": str(conf),
                "content_text": "password = new\n",
                "overwrite": True,
            },
        )
        sc = r.structured_content
        assert sc is not None and not r.is_error, text(r)
        assert (sc["size"], sc["mode"]) == (15, "0640")
        st = conf.stat()
        assert conf.read_text() == "password = new\n"
        assert (st.st_uid, st.st_gid, st.st_mode & 0o777) == (test_user.uid, 0, 0o640)
        line = assert_audit(app, {"tool": "ssh_sudo_write", "outcome": "ok", "bytes": 15})
        assert line["path_hash"] == app.audit.digest(str(conf))
        assert "password = new" not in app.settings.ssh_audit_log.read_text()
        r = await client.call_tool(
            "ssh_sudo_write",
            {"host": "target", "path": str(new), "content_base64": "AAE=", "mode": "600"},
        )
        assert r.structured_content and r.structured_content["mode"] == "0600", text(r)
        assert new.read_bytes() == b"\x00\x01" and new.stat().st_uid == 0
        # Outside the allowlist, in a restricted zone, or with sudo refusing: nothing written.
        for path in ("/etc/ssh-mcp-test.conf", str(root_dir / "to-etc")):
            r = await client.call_tool(
                "ssh_sudo_write",
                {"host": "target", "path": path, "content_text": "x", "overwrite": True},
            )
            assert r.is_error and "outside the path allowlist" in text(r), text(r)
    async with serve(sudo_settings(["echo", "wrong"])) as (client, _):
        r = await client.call_tool(
            "ssh_sudo_write",
            {"host": "target", "path": str(new), "content_text": "x", "overwrite": True},
        )
        assert r.is_error and "it rejected the password" in text(r)
    assert new.read_bytes() == b"\x00\x01"
    assert not Path("/etc/ssh-mcp-test.conf").exists()
    assert not [p.name for p in root_dir.iterdir() if ".ssh-mcp-" in p.name]  # no temp files


async def test_sudo_edit_replaces_exact_text_and_keeps_the_file_otherwise(
    sudo_settings: Callable[..., Settings], root_dir: Path
) -> None:
    conf = root_dir / "app.conf"
    args = {"host": "target", "path": str(conf)}
    async with serve(sudo_settings()) as (client, app):
        r = await client.call_tool(
            "ssh_sudo_edit", {**args, "old_string": "not-for-agents", "new_string": "rotated"}
        )
        sc = r.structured_content
        assert sc is not None and not r.is_error, text(r)
        assert (sc["replacements"], sc["mode"]) == (1, "0600")
        assert conf.read_text() == "password = rotated\n" and conf.stat().st_uid == 0
        assert_audit(app, {"tool": "ssh_sudo_edit", "outcome": "ok"})
        r = await client.call_tool(
            "ssh_sudo_edit", {**args, "old_string": "absent", "new_string": "x"}
        )
        assert r.is_error and "not found" in text(r).lower(), text(r)
        assert conf.read_text() == "password = rotated\n"


def test_root_scripts_refuse_a_path_swapped_after_the_check(tmp_path: Path) -> None:
    """What dispatch confined is what root touches: the scripts themselves check it again
    (run here with the real sh, standing in for the swap an agent could race in)."""
    from ssh_mcp.tools.sudo import files as sudo_files

    real = tmp_path / "real"
    real.mkdir()
    (real / "f").write_text("inside\n")
    outside = tmp_path / "outside"
    outside.write_text("secret\n")
    swapped_file = real / "g"
    swapped_file.symlink_to(outside)  # was a plain file when checked
    swapped_dir = tmp_path / "dir"
    swapped_dir.symlink_to(real)  # was a real directory when checked

    def sh(script: str, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        argv = ["sh", "-c", script, "sh", *args]
        return subprocess.run(argv, input=stdin, capture_output=True, text=True, check=False)

    ok = sh(sudo_files._READ, str(real / "f"), "100")
    assert (ok.returncode, ok.stdout) == (0, "inside\n")
    assert sh(sudo_files._READ, str(swapped_file), "100").returncode == 19
    os.mkfifo(real / "fifo")  # would block the open for good
    assert sh(sudo_files._READ, str(real / "fifo"), "100").returncode == 21
    (real / "fifo").unlink()
    assert sh(sudo_files._LIST, str(real)).returncode == 0
    assert sh(sudo_files._LIST, str(swapped_dir)).returncode == 19
    w = sh(sudo_files._WRITE, str(swapped_file), "", "1", "", stdin="new\n")
    assert w.returncode == 19 and outside.read_text() == "secret\n"
    w = sh(sudo_files._WRITE, str(swapped_dir / "f"), "", "1", "", stdin="new\n")
    assert w.returncode == 19 and (real / "f").read_text() == "inside\n"
    w = sh(sudo_files._WRITE, str(real / "f"), "", "1", "", stdin="new\n")
    assert w.returncode == 0 and (real / "f").read_text() == "new\n"
    assert not [p for p in real.iterdir() if ".ssh-mcp-" in p.name]


async def test_sudo_write_refuses_directories_others_can_change(
    sudo_settings: Callable[..., Settings], work_dir: Path
) -> None:
    """In a directory the login user can write, it could swap root's temp file for a
    symlink between mktemp and chown; root writes only where nobody else can."""
    target = work_dir / "app.conf"
    async with serve(sudo_settings()) as (client, _):
        r = await client.call_tool(
            "ssh_sudo_write", {"host": "target", "path": str(target), "content_text": "x"}
        )
        assert r.is_error and "can be changed by users other than root" in text(r), text(r)
        assert "ssh_upload" in text(r) and not target.exists()
