"""The docker read and lifecycle tools through MCP, against the real dockerd, over the test
sshd logged in as root (the docker group is root: DECISIONS.md 79)."""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any

import fleet
import pytest
from docker_helpers import (
    ALL_DOCKER,
    container,
    docker_settings,
    image_exists,
    remove,
    remove_image,
    role,
    running,
    state,
)
from harness import Target, assert_audit, audit_lines, error_line, ok, poll, serve, text

from ssh_mcp.config.settings import Settings

pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("dockerd")]


@pytest.fixture
def name(request: pytest.FixtureRequest) -> str:
    return fleet.container_name(role(request.node.name))


async def test_reads_of_a_running_container(
    settings_for: Callable[..., Settings], root_target: Target, name: str
) -> None:
    with container(name, command=("sh", "-c", "echo hello-h12d; echo oops >&2; sleep 300")):
        async with serve(docker_settings(settings_for, root_target)) as (client, app):
            sc = await ok(client, "ssh_docker_ps", {"host": "target", "name": name})
            assert [r["Names"] for r in sc["rows"]] == [name] and not sc["truncated"]
            line = assert_audit(app, {"tool": "ssh_docker_ps", "tier": "read", "outcome": "ok"})
            assert name not in json.dumps(line) and line["name_hash"].startswith("sha256:")

            await poll(lambda: running(name) and "sleep" in fleet.docker("top", name), "started")
            sc = await ok(client, "ssh_docker_logs", {"host": "target", "container": name})
            assert sc == {"text": "hello-h12d\n[stderr]\noops", "truncated": False}
            assert_audit(app, {"tool": "ssh_docker_logs", "outcome": "ok"})
            cut = {"host": "target", "container": name, "tail": 1, "since": "10m"}
            one = (await ok(client, "ssh_docker_logs", cut))["text"]
            assert one in ("hello-h12d\n", "[stderr]\noops")  # the newer of the two lines

            sc = await ok(client, "ssh_docker_top", {"host": "target", "container": name})
            assert "sleep 300" in sc["text"]
            assert_audit(app, {"tool": "ssh_docker_top", "outcome": "ok"})

            sc = await ok(client, "ssh_docker_stats", {"host": "target", "container": name})
            assert sc["rows"][0]["Name"] == name and "MemUsage" in sc["rows"][0]
            assert_audit(app, {"tool": "ssh_docker_stats", "outcome": "ok"})

            args = {"host": "target", "container": name, "since": "5m"}
            sc = await ok(client, "ssh_docker_events", args)
            assert any(e.get("Action") == "start" for e in sc["rows"]), sc
            assert_audit(app, {"tool": "ssh_docker_events", "outcome": "ok"})

            image = fleet.busybox_image()
            sc = await ok(client, "ssh_docker_images", {"host": "target", "reference": image})
            assert [f"{r['Repository']}:{r['Tag']}" for r in sc["rows"]] == [image]
            assert_audit(app, {"tool": "ssh_docker_images", "outcome": "ok"})

            sc = await ok(client, "ssh_docker_volumes", {"host": "target", "limit": 1})
            assert len(sc["rows"]) <= 1
            assert_audit(app, {"tool": "ssh_docker_volumes", "outcome": "ok"})

            sc = await ok(client, "ssh_docker_system_df", {"host": "target"})
            assert {"Images", "Containers"} <= {r["Type"] for r in sc["rows"]}
            assert_audit(app, {"tool": "ssh_docker_system_df", "outcome": "ok"})


async def test_inspect_never_returns_a_secret(
    settings_for: Callable[..., Settings], root_target: Target, name: str
) -> None:
    secret = "h12d-" + secrets.token_hex(12)
    opts = ("-e", f"API_TOKEN={secret}", "-e", "PLAIN=visible", "--label", f"db_password={secret}")
    with container(name, *opts, command=("sleep", "300")):
        async with serve(docker_settings(settings_for, root_target)) as (client, app):
            r = await client.call_tool("ssh_docker_inspect", {"host": "target", "names": [name]})
            sc = r.structured_content
            assert sc is not None and not r.is_error, text(r)
            env = sc["objects"][0]["Config"]["Env"]
            token = next(e for e in env if e.startswith("API_TOKEN="))
            assert token.startswith("API_TOKEN=[REDACTED:hmac-sha256:")
            assert any(e.startswith("PLAIN=[REDACTED:") for e in env)  # every value, by default
            labels = sc["objects"][0]["Config"]["Labels"]
            assert labels["db_password"].startswith("[REDACTED:hmac-sha256:")
            # Equal values, equal markers: the label and the env value are the same secret.
            assert labels["db_password"] == token.split("=", 1)[1]
            assert sc["redactions"] >= 3 and "env" in sc["kinds"]
            line = assert_audit(app, {"tool": "ssh_docker_inspect", "outcome": "ok"})
            assert line["redactions"] == str(sc["redactions"])
            everything = text(r) + json.dumps(sc) + app.settings.ssh_audit_log.read_text()
            assert secret not in everything
            image = fleet.busybox_image()
            args = {"host": "target", "names": [image], "type": "image"}
            assert image in (await ok(client, "ssh_docker_inspect", args))["objects"][0]["RepoTags"]


async def test_lifecycle_changes_the_container(
    settings_for: Callable[..., Settings], root_target: Target, name: str
) -> None:
    with container(name):
        async with serve(docker_settings(settings_for, root_target)) as (client, app):
            stop = {"host": "target", "names": [name], "wait": 1}
            assert (await ok(client, "ssh_docker_stop", stop))["text"].strip() == name
            assert not running(name)
            assert_audit(app, {"tool": "ssh_docker_stop", "tier": "low-access", "outcome": "ok"})
            await ok(client, "ssh_docker_start", {"host": "target", "names": [name]})
            assert running(name)
            assert_audit(app, {"tool": "ssh_docker_start", "outcome": "ok"})
            started = state(name)
            assert started is not None
            await ok(client, "ssh_docker_restart", stop)
            after = state(name)
            assert after is not None and after["Running"]
            assert after["StartedAt"] != started["StartedAt"]
            assert_audit(app, {"tool": "ssh_docker_restart", "outcome": "ok"})

            r = await client.call_tool("ssh_docker_rm", {"host": "target", "names": [name]})
            error_line(r, "failed on the host", "cannot remove a running container")
            assert state(name) is not None
            assert_audit(app, {"tool": "ssh_docker_rm", "outcome": "error"})
            await ok(client, "ssh_docker_rm", {"host": "target", "names": [name], "force": True})
            assert state(name) is None
            assert_audit(app, {"tool": "ssh_docker_rm", "tier": "dangerous", "outcome": "ok"})


async def test_rmi_and_prune_touch_only_what_they_name(
    settings_for: Callable[..., Settings], root_target: Target, name: str
) -> None:
    tag = f"ssh-mcp-test-h12d-rmi:{fleet.container_name('x').split('-')[3]}"
    fleet.docker("tag", fleet.busybox_image(), tag)
    label = f"ssh-mcp-test-prune={name}"
    remove(name)
    fleet.docker("create", "--name", name, "--label", label, fleet.busybox_image(), "true")
    try:
        async with serve(docker_settings(settings_for, root_target)) as (client, app):
            await ok(client, "ssh_docker_rmi", {"host": "target", "images": [tag]})
            assert not image_exists(tag) and image_exists(fleet.busybox_image())
            assert_audit(app, {"tool": "ssh_docker_rmi", "outcome": "ok"})

            args = {"host": "target", "what": "container", "label": label}
            sc = await ok(client, "ssh_docker_prune", args)
            assert state(name) is None and "Total reclaimed space" in sc["text"]
            assert_audit(app, {"tool": "ssh_docker_prune", "outcome": "ok"})
    finally:
        remove(name)
        remove_image(tag)


async def test_failures_name_the_cause(
    settings_for: Callable[..., Settings], root_target: Target, name: str
) -> None:
    missing = name + "-missing"
    async with serve(docker_settings(settings_for, root_target)) as (client, app):
        cases: list[tuple[str, dict[str, Any]]] = [
            ("ssh_docker_logs", {"container": missing}),
            ("ssh_docker_top", {"container": missing}),
            ("ssh_docker_inspect", {"names": [missing]}),
            ("ssh_docker_start", {"names": [missing]}),
            ("ssh_docker_stop", {"names": [missing]}),
            ("ssh_docker_restart", {"names": [missing]}),
            ("ssh_docker_stats", {"container": missing}),
        ]
        for tool, args in cases:
            r = await client.call_tool(tool, {"host": "target", **args})
            error_line(r, "failed on the host", "No such")
            assert_audit(app, {"tool": tool, "outcome": "error", "error": "RemoteError"})
        assert missing not in "".join(json.dumps(x) for x in audit_lines(app))


async def test_pull_without_a_registry_is_a_clear_error_and_docker_cmd_is_honoured(
    settings_for: Callable[..., Settings], root_target: Target, tmp_path: Path
) -> None:
    log = tmp_path / "argv.log"
    wrapper = tmp_path / "docker-wrap"
    wrapper.write_text(f'#!/bin/sh\nprintf "%s\\n" "$*" >> {log}\nexec docker "$@"\n')
    wrapper.chmod(0o755)
    extra = f'docker_cmd = ["{wrapper}"]\n'
    async with serve(docker_settings(settings_for, root_target, extra)) as (client, app):
        image = "127.0.0.1:1/ssh-mcp-test-nope:1"
        r = await client.call_tool("ssh_docker_pull", {"host": "target", "image": image})
        error_line(r, "`", "pull", "failed on the host", "127.0.0.1:1")
        assert_audit(app, {"tool": "ssh_docker_pull", "outcome": "error", "error": "RemoteError"})
        assert log.read_text().splitlines() == [f"pull --quiet -- {image}"]


async def test_tiers_place_the_docker_tools(settings_for: Callable[..., Settings]) -> None:
    async with serve(settings_for(allow_low_access_tools=True)) as (client, app):
        names = {t.name for t in (await client.list_tools()).tools if "docker" in t.name}
        assert {"ssh_docker_ps", "ssh_docker_inspect", "ssh_docker_compose_logs"} <= names
        assert {"ssh_docker_stop", "ssh_docker_compose_restart"} <= names
        assert not names & {"ssh_docker_exec", "ssh_docker_run", "ssh_docker_rm", "ssh_docker_cp"}
        r = await client.call_tool("ssh_docker_run", {"host": "target", "image": "busybox"})
        error_line(r, "ssh_docker_run")
        assert_audit(app, {"tool": "ssh_docker_run", "outcome": "denied"})
    async with serve(settings_for(**ALL_DOCKER, ssh_enabled_groups=["host"])) as (client, _):
        assert not [t for t in (await client.list_tools()).tools if "docker" in t.name]
