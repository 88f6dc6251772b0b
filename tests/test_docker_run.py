"""ssh_docker_exec, ssh_docker_run and ssh_docker_cp through MCP against the real dockerd:
the command policy on agent command text, run's refusals proved on the daemon (no container
created), cp's host side confined, and every name argument refused before anything runs."""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any

import fleet
import pytest
from docker_helpers import container, docker_settings, remove, role, running, state
from harness import Target, assert_audit, audit_lines, error_line, ok, serve, text

from ssh_mcp.config.settings import Settings

pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("dockerd")]


@pytest.fixture
def name(request: pytest.FixtureRequest) -> str:
    return fleet.container_name(role(request.node.name))


async def test_exec_runs_in_the_container_under_the_command_policy(
    settings_for: Callable[..., Settings], root_target: Target, name: str
) -> None:
    with container(name):
        async with serve(docker_settings(settings_for, root_target)) as (client, app):
            command = "echo in-$HOSTNAME; exit 3"  # expanded by the container's sh
            args = {"host": "target", "container": name, "command": command}
            sc = await ok(client, "ssh_docker_exec", args)
            assert sc["text"] == "in-" + fleet.docker("exec", name, "sh", "-c", "echo $HOSTNAME")
            assert sc["exit_code"] == 3  # a result, not an error
            line = assert_audit(app, {"tool": "ssh_docker_exec", "tier": "dangerous"})
            assert line["outcome"] == "ok" and line["command_hash"] and line["container_hash"]

        allowlisted = docker_settings(
            settings_for,
            root_target,
            allow_any_command=False,
            ssh_command_allowlist=["echo"],
            ssh_confirm_patterns=[r"\becho\s+boom\b"],
        )
        async with serve(allowlisted) as (client, app):
            args = {"host": "target", "container": name, "command": "echo ok-h12d"}
            assert (await ok(client, "ssh_docker_exec", args))["text"] == "ok-h12d\n"
            args["command"] = "echo x; touch /tmp/h12d-denied"
            r = await client.call_tool("ssh_docker_exec", args)
            error_line(r, "touch", "allowlist")
            assert_audit(app, {"outcome": "denied", "error": "CommandNotAllowed"})
            probe = fleet.docker("exec", name, "ls", "/tmp")
            assert "h12d-denied" not in probe
            args["command"] = "echo boom"  # a deny pattern: a human must confirm
            r = await client.call_tool("ssh_docker_exec", args)
            assert r.is_error and "confirm" in text(r)


async def test_exec_is_refused_on_a_host_with_exec_off(
    settings_for: Callable[..., Settings], root_target: Target, name: str
) -> None:
    with container(name):
        settings = docker_settings(settings_for, root_target, "exec = false\n")
        async with serve(settings) as (client, app):
            for tool, args in [
                ("ssh_docker_exec", {"container": name, "command": "touch /tmp/h12d-off"}),
                ("ssh_docker_run", {"image": fleet.busybox_image(), "name": name + "-run"}),
            ]:
                r = await client.call_tool(tool, {"host": "target", **args})
                error_line(r, "exec = false")
                assert_audit(app, {"tool": tool, "outcome": "denied"})
            assert "h12d-off" not in fleet.docker("exec", name, "ls", "/tmp")
            assert state(name + "-run") is None


async def test_run_starts_a_container_with_env_over_stdin(
    settings_for: Callable[..., Settings], root_target: Target, name: str
) -> None:
    secret = "h12d-" + secrets.token_hex(12)
    try:
        async with serve(docker_settings(settings_for, root_target)) as (client, app):
            args: dict[str, Any] = {
                "host": "target",
                "image": fleet.busybox_image(),
                "name": name,
                "command": "echo started; sleep 300",
                "options": ["--label", "ssh-mcp-test=h12d", "--read-only"],
                "env": {"APP_SECRET": secret},
            }
            sc = await ok(client, "ssh_docker_run", args)
            found = state(name)
            assert found is not None and found["Running"]
            assert sc["text"].strip() == json.loads(fleet.docker("inspect", name))[0]["Id"]
            env = fleet.docker("exec", name, "sh", "-c", "echo $APP_SECRET")
            assert env.strip() == secret
            line = assert_audit(app, {"tool": "ssh_docker_run", "outcome": "ok"})
            assert line["name_hash"] and line["image_hash"] and line["command_hash"]
            assert secret not in app.settings.ssh_audit_log.read_text() + text(
                await client.call_tool("ssh_docker_inspect", {"host": "target", "names": [name]})
            )
    finally:
        remove(name)


@pytest.mark.parametrize(
    ("options", "why"),
    [
        (["--privileged"], "--privileged gives the container the host"),
        (["--cap-add", "SYS_ADMIN"], "--cap-add gives the container the host"),
        (["--network=host"], "--network=host shares the host's namespace"),
        (["--pid", "host"], "--pid=host"),
        (["--userns=host"], "--userns=host"),
        (["-v", "/:/host"], "mounts the host's root"),
        (["-v", "/var/run/docker.sock:/s"], "docker socket"),
        (["--mount", "type=bind,source=/etc,target=/e"], "mounts /etc of the host"),
        (["--volumes-from", "x"], "is not supported here"),
        (["-e", "K=V"], "over stdin"),
    ],
)
async def test_run_refuses_what_hands_over_the_host(
    settings_for: Callable[..., Settings],
    root_target: Target,
    name: str,
    options: list[str],
    why: str,
) -> None:
    async with serve(docker_settings(settings_for, root_target)) as (client, app):
        args = {"host": "target", "image": fleet.busybox_image(), "name": name, "options": options}
        r = await client.call_tool("ssh_docker_run", args)
        message = error_line(r, why)
        if "not supported" not in why and "stdin" not in why:
            assert "SSH_DOCKER_RUN_PRIVILEGED=true" in message
        assert_audit(app, {"tool": "ssh_docker_run", "outcome": "denied"})
        assert state(name) is None


async def test_run_resolves_bind_sources_and_the_operator_can_allow(
    settings_for: Callable[..., Settings], root_target: Target, name: str, work_dir: Path
) -> None:
    link = work_dir / "innocent"
    link.symlink_to("/etc")
    args = {
        "host": "target",
        "image": fleet.busybox_image(),
        "name": name,
        "options": ["-v", f"{link}:/x:ro"],
    }
    try:
        async with serve(docker_settings(settings_for, root_target)) as (client, app):
            r = await client.call_tool("ssh_docker_run", args)
            error_line(r, "mounts /etc of the host", "SSH_DOCKER_RUN_PRIVILEGED")
            assert state(name) is None
        allowed = docker_settings(settings_for, root_target, ssh_docker_run_privileged=True)
        async with serve(allowed) as (client, app):
            args["options"] = ["--cap-add", "NET_ADMIN", "-v", f"{link}:/x:ro"]
            args["command"] = "sleep 300"
            await ok(client, "ssh_docker_run", args)
            assert running(name)
            assert "passwd" in fleet.docker("exec", name, "ls", "/x")
            assert_audit(app, {"tool": "ssh_docker_run", "outcome": "ok"})
    finally:
        remove(name)


async def test_cp_both_ways_with_the_host_side_confined(
    settings_for: Callable[..., Settings],
    root_target: Target,
    name: str,
    work_dir: Path,
    drop: Path,
) -> None:
    with container(name, command=("sh", "-c", "echo from-box > /tmp/f; sleep 300")):
        async with serve(docker_settings(settings_for, root_target)) as (client, app):
            dest = work_dir / "got"
            base = {"host": "target", "container": name}
            args = {**base, "in_container": "/tmp/f", "host_path": str(dest)}
            await ok(client, "ssh_docker_cp", {**args, "direction": "to_host"})
            assert dest.read_text() == "from-box\n"
            line = assert_audit(app, {"tool": "ssh_docker_cp", "outcome": "ok"})
            assert line["path_hash"] and line["container_hash"]

            up = work_dir / "up"
            up.write_text("to-box\n")
            args = {**base, "in_container": "/tmp/up", "host_path": str(up)}
            await ok(client, "ssh_docker_cp", {**args, "direction": "to_container"})
            assert fleet.docker("exec", name, "cat", "/tmp/up") == "to-box\n"

            outside = drop / "escaped"
            args = {**base, "in_container": "/tmp/f", "host_path": str(outside)}
            r = await client.call_tool("ssh_docker_cp", {**args, "direction": "to_host"})
            error_line(r, "allowlist")
            assert_audit(app, {"tool": "ssh_docker_cp", "outcome": "denied"})
            assert not outside.exists()


INJECTIONS = ["x; touch {drop}/pwned", "$(touch {drop}/pwned)", "-x", "x\ntouch {drop}/pwned"]
NAMED: list[tuple[str, str, dict[str, Any]]] = [
    ("ssh_docker_logs", "container", {}),
    ("ssh_docker_top", "container", {}),
    ("ssh_docker_ps", "name", {}),
    ("ssh_docker_events", "container", {}),
    ("ssh_docker_images", "reference", {}),
    ("ssh_docker_exec", "container", {"command": "true"}),
    ("ssh_docker_run", "image", {}),
    ("ssh_docker_run", "name", {"image": "busybox"}),
    ("ssh_docker_pull", "image", {}),
    ("ssh_docker_cp", "container", {"in_container": "/f", "host_path": "/tmp/x",
                                    "direction": "to_host"}),
    ("ssh_docker_inspect", "names", {}),
    ("ssh_docker_start", "names", {}),
    ("ssh_docker_stop", "names", {}),
    ("ssh_docker_restart", "names", {}),
    ("ssh_docker_rm", "names", {}),
    ("ssh_docker_rmi", "images", {}),
    ("ssh_docker_prune", "label", {"what": "container"}),
    ("ssh_docker_compose_ps", "project", {"file": "/tmp/c.yml"}),
    ("ssh_docker_compose_up", "services", {"file": "/tmp/c.yml"}),
]  # fmt: skip


async def test_every_name_argument_refuses_injection(
    settings_for: Callable[..., Settings], root_target: Target, drop: Path
) -> None:
    list_fields = {"names", "images", "services"}
    async with serve(docker_settings(settings_for, root_target)) as (client, app):
        for tool, field, rest in NAMED:
            for payload in INJECTIONS:
                value: Any = payload.format(drop=drop)
                value = [value] if field in list_fields else value
                r = await client.call_tool(tool, {"host": "target", field: value, **rest})
                error_line(r, "invalid arguments", field)
                assert_audit(app, {"tool": tool, "outcome": "denied"})
        assert not (drop / "pwned").exists()
        assert "pwned" not in "".join(json.dumps(x) for x in audit_lines(app))


async def test_run_without_a_command_is_the_images_own_not_agent_text(
    settings_for: Callable[..., Settings], root_target: Target, name: str
) -> None:
    allowlisted = docker_settings(
        settings_for, root_target, allow_any_command=False, ssh_command_allowlist=["echo"]
    )
    try:
        async with serve(allowlisted) as (client, app):
            args = {"host": "target", "image": fleet.busybox_image(), "name": name}
            r = await client.call_tool("ssh_docker_run", args)
            # The command policy let it through; docker refuses an image without a command.
            error_line(r, "failed on the host", "No command specified")
            assert_audit(app, {"tool": "ssh_docker_run", "outcome": "error"})
            args["command"] = "sleep 300"  # agent text: sleep is not on the allowlist
            error_line(await client.call_tool("ssh_docker_run", args), "sleep", "allowlist")
    finally:
        remove(name)
