"""Group pkg: a cancelled install leaves no apt or dpkg running and dpkg's lock free; a host
without APT is refused as unsupported."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest
from fleet import SystemdHost
from harness import (
    OPEN,
    assert_audit,
    error_line,
    ok,
    poll,
    refused,
    scratch_settings,
    serve,
    wait_for_audit,
)
from pkg_repo import GO, SLOW, STARTED, dpkg_status, install_repo, locked, path_without
from sshd import Sshd, TestKeys, TestUser
from test_pkg import fleet_settings

from ssh_mcp.core.remote import CappedBuffer, ProcessResult
from ssh_mcp.tools.pkg._run import NO_APT, unsupported

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
def slow_host(
    systemd_host: SystemdHost, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SystemdHost]:
    install_repo(systemd_host, tmp_path_factory.mktemp("lrepo"))
    systemd_host.exec("rm", "-f", STARTED, GO)
    try:
        yield systemd_host
    finally:
        systemd_host.sh(
            f"touch {GO}; apt-get purge -y -q {SLOW} >/dev/null 2>&1; rm -f {GO} {STARTED}"
        )


def _alive(host: SystemdHost) -> str:
    return host.sh("pgrep -a 'apt-get|dpkg|mcp-h12-slow' || true").strip()


async def test_cancel_mid_install_stops_apt_and_frees_the_dpkg_lock(
    tmp_path: Path, slow_host: SystemdHost
) -> None:
    reports: list[tuple[float, float | None, str | None]] = []
    args = {"host": "fleet1", "packages": [SLOW], "refresh": True}
    async with serve(fleet_settings(tmp_path, slow_host, root=True, **OPEN)) as (client, app):

        async def on_progress(progress: float, total: float | None, message: str | None) -> None:
            reports.append((progress, total, message))

        async with anyio.create_task_group() as tg:
            tg.start_soon(
                lambda: client.call_tool("ssh_pkg_install", args, progress_callback=on_progress)
            )
            # The postinst is running (dpkg holds its lock) and progress says it is
            # configuring the package: cancel the call now.
            await poll(
                lambda: "started" in slow_host.sh(f"cat {STARTED} 2>/dev/null || true"),
                "the postinst runs",
                60,
            )
            await poll(
                lambda: any(f"Configuring {SLOW}" in (m or "") for _, _, m in reports),
                "progress names the step in progress",
            )
            assert locked(slow_host), "dpkg should hold its lock while the postinst runs"
            tg.cancel_scope.cancel()
        line = await wait_for_audit(app, 1)
        assert (line["tool"], line["outcome"], line["error"]) == (
            "ssh_pkg_install",
            "error",
            "Cancelled",
        )
        assert line["packages_hash"] == app.audit.digest(SLOW)
        assert reports and all(total == 100.0 for _, total, _ in reports), reports

        # Outcome on the host: apt, dpkg and the maintainer script are gone, no lock is held.
        await poll(lambda: _alive(slow_host) == "", "apt and dpkg stopped", 20)
        assert locked(slow_host) == []
        # dpkg was stopped inside the postinst: the package is unpacked but half-configured.
        assert dpkg_status(slow_host, SLOW) == "iF 1.0"
        shown = await ok(client, "ssh_pkg_show", {"host": "fleet1", "package": SLOW})
        assert shown["state"] == "half-configured"

        # The next change finishes it (apt runs dpkg --configure --pending first).
        slow_host.exec("touch", GO)
        await ok(client, "ssh_pkg_install", {"host": "fleet1", "packages": [SLOW]})
        assert dpkg_status(slow_host, SLOW) == "ii 1.0"
        assert_audit(app, {"tool": "ssh_pkg_install", "outcome": "ok"})


async def test_the_deadline_stops_apt_like_a_cancel(tmp_path: Path, slow_host: SystemdHost) -> None:
    slow_host.sh(f"touch {GO}; apt-get purge -y -q {SLOW} >/dev/null 2>&1; rm -f {GO} {STARTED}")
    settings = fleet_settings(tmp_path, slow_host, root=True, ssh_transfer_timeout=3.0, **OPEN)
    async with serve(settings) as (client, app):
        r = await client.call_tool("ssh_pkg_install", {"host": "fleet1", "packages": [SLOW]})
        error_line(r, "ssh_pkg_install did not finish within")
        assert_audit(app, {"tool": "ssh_pkg_install", "error": "OperationTimeout"})
    await poll(lambda: _alive(slow_host) == "", "apt and dpkg stopped", 20)
    assert locked(slow_host) == []
    assert dpkg_status(slow_host, SLOW) == "iF 1.0"


@pytest.fixture
def no_apt_path() -> Iterator[Path]:
    with path_without("apt", "dpkg") as bin_dir:
        yield bin_dir


async def test_a_host_without_apt_is_not_supported(
    tmp_path: Path,
    scratch_sshd: Sshd,
    test_user: TestUser,
    test_keys: TestKeys,
    no_apt_path: Path,
) -> None:
    scratch_sshd.reconfigure({"SetEnv": f"PATH={no_apt_path}"})
    settings = scratch_settings(tmp_path / "s", scratch_sshd, test_user, test_keys, **OPEN)
    async with serve(settings) as (client, app):
        await refused(
            client, "ssh_pkg_list", {"host": "s"}, "not supported on this host", "no apt-get"
        )
        assert_audit(app, {"tool": "ssh_pkg_list", "outcome": "error", "error": "RemoteError"})


def _result(code: int, err: bytes) -> ProcessResult:
    out, stderr = CappedBuffer(100), CappedBuffer(1000)
    stderr.add(err)
    return ProcessResult(out, stderr, code, None, False, 1)


def test_detection_names_the_manager_it_found_instead() -> None:
    error = unsupported(_result(NO_APT, b"ssh-mcp-no-apt:dnf\n"))
    assert error is not None and "it has dnf" in str(error)
    assert unsupported(_result(NO_APT, b"some program's own exit 86\n")) is None
    assert unsupported(_result(0, b"")) is None
