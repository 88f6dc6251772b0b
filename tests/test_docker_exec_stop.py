"""ssh_docker_exec's command is stopped inside the container when its call times out or is
cancelled (docker itself cannot kill an exec): proved with the container's process list,
against the real dockerd and the busybox image (DECISIONS.md 85)."""

from __future__ import annotations

from collections.abc import Callable

import anyio
import fleet
import pytest
from docker_helpers import container, docker_settings, role
from harness import Target, assert_audit, error_line, ok, poll, serve, wait_for_audit

from ssh_mcp.config.settings import Settings

pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("dockerd")]


@pytest.fixture
def name(request: pytest.FixtureRequest) -> str:
    return fleet.container_name(role(request.node.name))


def processes(name: str) -> str:
    """The container's processes as the host's ps sees them."""
    return fleet.docker("top", name)


async def test_a_timed_out_exec_is_stopped_inside_the_container(
    settings_for: Callable[..., Settings], root_target: Target, name: str
) -> None:
    with container(name):
        async with serve(docker_settings(settings_for, root_target)) as (client, app):
            # sh with a child in the background; it execs the last command: two processes.
            command = "sleep 301 & sleep 302"
            args = {"host": "target", "container": name, "command": command, "timeout": 1}
            r = await client.call_tool("ssh_docker_exec", args)
            error_line(
                r,
                "ssh_docker_exec timed out after 1 s",
                "its 2 processes were stopped inside the container (TERM, then KILL)",
            )
            assert_audit(app, {"tool": "ssh_docker_exec", "outcome": "error"})

            def gone() -> bool:
                return not any(f"sleep {n}" in processes(name) for n in (301, 302))

            await poll(gone, "the exec's sleeps are gone")
            assert "sleep 300" in processes(name)  # the container's own process is untouched

            # An exec that ends in time is a result, exit status and all, as before.
            args.update(command="echo done-h12d; exit 4", timeout=30)
            sc = await ok(client, "ssh_docker_exec", args)
            assert (sc["text"], sc["exit_code"]) == ("done-h12d\n", 4)


async def test_a_cancelled_exec_is_stopped_inside_the_container(
    settings_for: Callable[..., Settings], root_target: Target, name: str
) -> None:
    with container(name):
        async with serve(docker_settings(settings_for, root_target)) as (client, app):
            args = {"host": "target", "container": name, "command": "sleep 303"}
            async with anyio.create_task_group() as tg:
                tg.start_soon(lambda: client.call_tool("ssh_docker_exec", args))
                await poll(lambda: "sleep 303" in processes(name), "the exec runs", 30)
                tg.cancel_scope.cancel()
            line = await wait_for_audit(app, 1)
            assert (line["tool"], line["outcome"]) == ("ssh_docker_exec", "error")
            await poll(lambda: "sleep 303" not in processes(name), "the exec's sleep is gone")
            assert "sleep 300" in processes(name)
