"""The compose tools through MCP against the real dockerd with Debian's docker-compose (v1,
the one this machine has: DECISIONS.md 80); the compose file is confined like any path."""

from __future__ import annotations

import logging
import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import fleet
import pytest
from docker_helpers import docker_settings, remove, remove_image, running, state
from harness import Target, assert_audit, audit_lines, error_line, ok, serve, text

from ssh_mcp.config.settings import Settings

pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("dockerd")]

PROJECT = f"sshmcptest{os.getpid()}"
#: The project's image, tagged under a registry on 127.0.0.1 that does not answer: up uses
#: the local image, pull fails at once without leaving the machine.
IMAGE = f"127.0.0.1:1/ssh-mcp-test-compose:{os.getpid()}"


def write_project(path: Path, extra: str = "") -> None:
    """A one-service project whose container has this session's name; ``extra`` is more of
    the service's settings, each line indented for it."""
    path.write_text(
        "version: '3'\nservices:\n  box:\n"
        f"    image: {IMAGE}\n    container_name: {fleet.container_name('compose')}\n"
        "    command: sh -c 'echo compose-up-h12d; sleep 300'\n"
        "    stop_grace_period: 1s\n" + extra  # sh as PID 1 ignores TERM: KILL after a second
    )


def project_containers() -> str:
    """Every container of the test project on the daemon, running or not."""
    return fleet.docker(
        "ps", "-a", "--filter", f"label=com.docker.compose.project={PROJECT}",
        "--filter", f"name={fleet.container_name('compose')}", "--format", "{{.Names}}",
    )  # fmt: skip


@pytest.fixture
def compose_file(work_dir: Path) -> Iterator[Path]:
    """``write_project``'s file, downed afterwards."""
    path = work_dir / "compose.yml"
    name = fleet.container_name("compose")
    fleet.docker("tag", fleet.busybox_image(), IMAGE)
    write_project(path)
    try:
        yield path
    finally:
        subprocess.run(
            ["docker-compose", "--file", str(path), "--project-name", PROJECT, "down"],
            capture_output=True,
        )
        remove(name)
        remove_image(IMAGE)


async def test_compose_project_lifecycle(
    settings_for: Callable[..., Settings], root_target: Target, compose_file: Path
) -> None:
    name = fleet.container_name("compose")
    base = {"host": "target", "file": str(compose_file), "project": PROJECT}
    async with serve(docker_settings(settings_for, root_target)) as (client, app):
        sc = await ok(client, "ssh_docker_compose_up", base)
        assert running(name) and not sc["truncated"]
        line = assert_audit(app, {"tool": "ssh_docker_compose_up", "tier": "dangerous"})
        assert line["outcome"] == "ok" and line["path_hash"] and line["project_hash"]

        sc = await ok(client, "ssh_docker_compose_ps", base)
        assert name in sc["text"] and "Up" in sc["text"]
        assert_audit(app, {"tool": "ssh_docker_compose_ps", "tier": "read", "outcome": "ok"})

        await ok(client, "ssh_docker_compose_stop", {**base, "services": ["box"]})
        assert not running(name)
        assert_audit(app, {"tool": "ssh_docker_compose_stop", "tier": "low-access"})
        await ok(client, "ssh_docker_compose_start", base)
        assert running(name)
        assert_audit(app, {"tool": "ssh_docker_compose_start", "outcome": "ok"})
        before = state(name)
        await ok(client, "ssh_docker_compose_restart", base)
        after = state(name)
        assert before and after and after["Running"] and after["StartedAt"] != before["StartedAt"]
        assert_audit(app, {"tool": "ssh_docker_compose_restart", "outcome": "ok"})

        sc = await ok(client, "ssh_docker_compose_logs", {**base, "tail": 5})
        assert "compose-up-h12d" in sc["text"]
        assert_audit(app, {"tool": "ssh_docker_compose_logs", "outcome": "ok"})

        # No registry answers: the pull fails, and says so.
        r = await client.call_tool("ssh_docker_compose_pull", base)
        error_line(r, "docker-compose", "failed on the host", "127.0.0.1:1")
        assert_audit(app, {"tool": "ssh_docker_compose_pull", "outcome": "error"})

        await ok(client, "ssh_docker_compose_down", base)
        assert state(name) is None
        networks = fleet.docker("network", "ls", "--format", "{{.Name}}").split()
        assert f"{PROJECT}_default" not in networks
        assert_audit(app, {"tool": "ssh_docker_compose_down", "outcome": "ok"})


async def test_compose_file_is_confined(
    settings_for: Callable[..., Settings], root_target: Target, drop: Path
) -> None:
    outside = drop / "compose.yml"
    outside.write_text("services: {}\n")
    async with serve(docker_settings(settings_for, root_target)) as (client, app):
        args = {"host": "target", "file": str(outside), "project": PROJECT}
        r = await client.call_tool("ssh_docker_compose_up", args)
        error_line(r, "allowlist")
        assert_audit(app, {"tool": "ssh_docker_compose_up", "outcome": "denied"})
        r = await client.call_tool("ssh_docker_compose_ps", {**args, "file": "/nonexistent.yml"})
        assert r.is_error, text(r)


async def test_a_host_without_compose_gets_a_clear_error(
    settings_for: Callable[..., Settings], root_target: Target, work_dir: Path, tmp_path: Path
) -> None:
    nodocker = tmp_path / "nodocker"  # answers nothing, and has no nodocker-compose beside it
    nodocker.write_text("#!/bin/sh\nexit 1\n")
    nodocker.chmod(0o755)
    compose = work_dir / "compose.yml"
    compose.write_text("services: {}\n")
    settings = docker_settings(settings_for, root_target, f'docker_cmd = ["{nodocker}"]\n')
    async with serve(settings) as (client, app):
        r = await client.call_tool(
            "ssh_docker_compose_ps", {"host": "target", "file": str(compose)}
        )
        error_line(r, "compose is not installed", f"{nodocker} compose", f"{nodocker}-compose")
        assert_audit(app, {"tool": "ssh_docker_compose_ps", "outcome": "error"})


@pytest.mark.parametrize(
    ("extra", "why"),
    [
        ("    privileged: true\n", "service 'box': privileged: true gives the container the host"),
        ("    cap_add: [NET_ADMIN]\n", "service 'box': cap_add gives the container the host"),
        ("    network_mode: host\n", "service 'box': network_mode: host shares the host's"),
        ("    volumes: ['/var/run/docker.sock:/s']\n", "mounts the docker socket"),
        ("    volumes: ['./innocent:/x:ro']\n", "mounts /etc of the host (symlinks followed)"),
        # v1 writes volume specs without doubling $: up would look ${R} up again.
        ("    volumes: ['./a$${R}:/x']\n", "service 'box': a $ that compose did not write as $$"),
        # compose bind-mounts a file secret (read-only; a unix socket connects all the same).
        (
            "    secrets: [sock]\nsecrets:\n  sock:\n    file: /var/run/docker.sock\n",
            "secret 'sock': a bind mount mounts the docker socket",
        ),
        (
            "    secrets: [s]\nsecrets:\n  s:\n    file: ./innocent/shadow\n",
            "secret 's': a bind mount mounts /etc of the host (symlinks followed)",
        ),
    ],
)
async def test_compose_up_refuses_what_run_refuses_and_creates_nothing(
    settings_for: Callable[..., Settings],
    root_target: Target,
    compose_file: Path,
    extra: str,
    why: str,
) -> None:
    (compose_file.parent / "innocent").symlink_to("/etc")
    write_project(compose_file, extra)
    base = {"host": "target", "file": str(compose_file), "project": PROJECT}
    async with serve(docker_settings(settings_for, root_target)) as (client, app):
        r = await client.call_tool("ssh_docker_compose_up", base)
        error_line(r, "ssh_docker_compose_up refused", why, "SSH_DOCKER_RUN_PRIVILEGED=true")
        assert_audit(app, {"tool": "ssh_docker_compose_up", "outcome": "denied"})
    assert project_containers() == ""
    assert state(fleet.container_name("compose")) is None


async def test_compose_up_refuses_volumes_from_and_creates_nothing(
    settings_for: Callable[..., Settings], root_target: Target, compose_file: Path
) -> None:
    """A container the operator made with the host's root mounted: volumes_from would hand
    the project that mount, which ssh_docker_run cannot ask for."""
    rootfs = fleet.container_name("rootfs")
    fleet.docker("create", "--name", rootfs, "-v", "/:/host", fleet.busybox_image(), "true")
    try:
        write_project(compose_file, f"    volumes_from: ['container:{rootfs}']\n")
        base = {"host": "target", "file": str(compose_file), "project": PROJECT}
        async with serve(docker_settings(settings_for, root_target)) as (client, app):
            r = await client.call_tool("ssh_docker_compose_up", base)
            error_line(r, "refused", "service 'box': volumes_from gives the container another")
            assert_audit(app, {"tool": "ssh_docker_compose_up", "outcome": "denied"})
        assert project_containers() == ""
        assert state(fleet.container_name("compose")) is None
    finally:
        remove(rootfs)


async def test_compose_up_with_a_file_secret_in_the_project_comes_up(
    settings_for: Callable[..., Settings], root_target: Target, compose_file: Path
) -> None:
    name, value = fleet.container_name("compose"), f"harmless-{os.getpid()}"
    (compose_file.parent / "s.txt").write_text(value)
    write_project(compose_file, "    secrets: [s]\nsecrets:\n  s:\n    file: ./s.txt\n")
    base = {"host": "target", "file": str(compose_file), "project": PROJECT}
    async with serve(docker_settings(settings_for, root_target)) as (client, app):
        await ok(client, "ssh_docker_compose_up", base)
        assert_audit(app, {"tool": "ssh_docker_compose_up", "outcome": "ok"})
    assert running(name)
    assert fleet.docker("exec", name, "cat", "/run/secrets/s") == value


async def test_compose_up_with_the_operators_leave_passes_the_check(
    settings_for: Callable[..., Settings], root_target: Target, compose_file: Path
) -> None:
    name = fleet.container_name("compose")
    base = {"host": "target", "file": str(compose_file), "project": PROJECT}
    settings = docker_settings(settings_for, root_target, ssh_docker_run_privileged=True)
    async with serve(settings) as (client, app):
        write_project(compose_file, "    cap_add: [NET_ADMIN]\n")
        await ok(client, "ssh_docker_compose_up", base)
        assert_audit(app, {"tool": "ssh_docker_compose_up", "outcome": "ok"})
        assert running(name)
        assert (
            fleet.docker("inspect", "--format", "{{.HostConfig.CapAdd}}", name) == "[NET_ADMIN]\n"
        )

        # A privileged container reaches the daemon, which creates it; whether runc may then
        # start one depends on the machine (not inside an unprivileged container).
        write_project(compose_file, "    privileged: true\n")
        r = await client.call_tool("ssh_docker_compose_up", base)
        assert not r.is_error or "failed on the host" in text(r)
        assert fleet.docker("inspect", "--format", "{{.HostConfig.Privileged}}", name) == "true\n"


@pytest.mark.parametrize(
    "swap", ["    privileged: true\n", "    volumes: ['/var/run/docker.sock:/s']\n"]
)
async def test_compose_up_runs_the_configuration_it_checked_not_the_file_again(
    settings_for: Callable[..., Settings],
    root_target: Target,
    compose_file: Path,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    swap: str,
) -> None:
    """The race DECISIONS.md 84 closes: the host's compose rewrites the file as soon as
    ``config`` has answered, before ``up`` runs. What runs is what was checked: the
    container has neither what the new file asks for, and the environment value the
    checked configuration holds reached it on stdin, never an argv, the audit or a log."""
    caplog.set_level(logging.DEBUG)
    name, secret = fleet.container_name("compose"), f"s3cret-{os.getpid()}-q7"
    write_project(compose_file, f"    environment:\n      TOKEN: {secret}\n")
    swapped = tmp_path / "swapped.yml"
    write_project(swapped, swap)
    argvs = tmp_path / "argv.log"
    racer = tmp_path / "racer"  # docker_cmd; its v1 compose is racer-compose beside it
    racer.write_text(
        "#!/bin/sh\n"
        'real=docker; case "$0" in *-compose) real=docker-compose;; esac\n'
        f'echo "$*" >> {argvs}\n'
        '"$real" "$@"; rc=$?\n'
        f'case " $* " in *" config "*) cat {swapped} > {compose_file};; esac\n'
        "exit $rc\n"
    )
    racer.chmod(0o755)
    (tmp_path / "racer-compose").symlink_to(racer)
    settings = docker_settings(settings_for, root_target, f'docker_cmd = ["{racer}"]\n')
    base = {"host": "target", "file": str(compose_file), "project": PROJECT}
    async with serve(settings) as (client, app):
        sc = await ok(client, "ssh_docker_compose_up", base)
        assert_audit(app, {"tool": "ssh_docker_compose_up", "outcome": "ok"})
        audit = str(audit_lines(app))
    assert compose_file.read_text() == swapped.read_text()  # the race did happen
    assert running(name)
    assert fleet.docker("inspect", "--format", "{{.HostConfig.Privileged}}", name) == "false\n"
    mounts = fleet.docker("inspect", "--format", "{{range .Mounts}}{{.Source}} {{end}}", name)
    assert "docker.sock" not in mounts
    env = fleet.docker("inspect", "--format", "{{json .Config.Env}}", name)
    assert f"TOKEN={secret}" in env
    assert " config" in argvs.read_text() and " up --detach" in argvs.read_text()
    for seen in (argvs.read_text(), audit, sc["text"], caplog.text):
        assert secret not in seen
