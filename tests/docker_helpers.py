"""Shared parts of the docker tool tests: settings for a root login to the test sshd (the
host whose dockerd the tools drive), and containers named by ``fleet.container_name`` that
each test removes by name."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import re
import subprocess
from collections.abc import Callable, Iterator
from typing import Any

import fleet
from harness import OPEN, Target, hosts_toml

from ssh_mcp.config.settings import Settings

#: Every tier a docker tool sits in, open; any command allowed.
ALL_DOCKER: dict[str, Any] = {**OPEN, "allow_low_access_tools": True}


def role(name: str) -> str:
    """A container role from a test's name (docker's name grammar)."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", name)[-40:].strip("-")


def docker_settings(
    settings_for: Callable[..., Settings], root: Target, extra: str = "", **overrides: Any
) -> Settings:
    host = dataclasses.replace(root, extra=root.extra + extra)
    return settings_for(hosts=hosts_toml(host), **{**ALL_DOCKER, **overrides})


def state(name: str) -> dict[str, Any] | None:
    """The container's State as docker reports it now, or None when it does not exist."""
    proc = subprocess.run(
        ["docker", "inspect", "--type", "container", "--format", "{{json .State}}", name],
        capture_output=True,
        text=True,
    )
    return json.loads(proc.stdout) if proc.returncode == 0 else None


def running(name: str) -> bool:
    found = state(name)
    return bool(found and found["Running"])


def image_exists(ref: str) -> bool:
    return fleet._image_exists(ref)


def remove_image(ref: str) -> None:
    subprocess.run(["docker", "rmi", ref], capture_output=True)


def remove(*names: str) -> None:
    """Remove this test's own containers by name, whatever state they are in."""
    subprocess.run(["docker", "rm", "-f", *names], capture_output=True)


@contextlib.contextmanager
def container(
    name: str, *options: str, command: tuple[str, ...] = ("sleep", "300")
) -> Iterator[str]:
    """A running busybox container named ``name``, removed afterwards."""
    remove(name)
    fleet.docker("run", "-d", "--name", name, *options, fleet.busybox_image(), *command)
    try:
        yield name
    finally:
        remove(name)
