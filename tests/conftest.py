"""Session fixtures: a test user, keys, an agent and real OpenSSH sshd instances on loopback.

Everything that starts a process stops it by PID at teardown (also when tests fail). The user,
password auth and sudo need root: without root, the fixtures that need them skip.
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import os
import re
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

# tests/ has no __init__.py: pytest (rootdir "prepend") and `mypy tests/sshd.py ...` both know the
# helper as top-level `sshd`. Keep that working even if an __init__.py is added later.
if str(Path(__file__).parent) not in sys.path:
    sys.path.insert(0, str(Path(__file__).parent))

from sshd import (
    TEST_USER,
    Agent,
    JumpHosts,
    Sshd,
    SshdError,
    TestKeys,
    TestUser,
    authorize_keys,
    ensure_user,
    make_keys,
    make_shared_dir,
    remote_pids,
    shared_with_others,
    start_agent,
    start_sshd,
    write_known_hosts,
)

_scratch_ids = itertools.count()


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def test_user() -> Iterator[TestUser]:
    """`mcp-ssh-test` with a random password and password-sudo. At teardown (unless another
    session shares the user), fails if a process of that user started during this session is
    still running: a remote process leaked by a test."""
    if os.geteuid() != 0:
        pytest.skip("needs root: creates a user and runs sshd with password auth and sudo")
    user = ensure_user(TEST_USER)
    before = set(remote_pids(user.name, "."))
    yield user
    leaked: set[int] = set()
    for _ in range(100):  # up to ~2 s for processes that are still exiting
        leaked = set(remote_pids(user.name, ".")) - before
        if not leaked or shared_with_others(user.name):
            return
        time.sleep(0.02)
    cmds = {}
    for pid in leaked:
        with contextlib.suppress(OSError):
            cmds[pid] = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    raise SshdError(f"processes of {user.name} leaked by the tests (pid: cmdline): {cmds}")


@pytest.fixture(scope="session")
def ssh_root_dir() -> Iterator[Path]:
    """A mode-0755 directory under /tmp (not pytest's 0700 tmp_path), removed at the end."""
    root = make_shared_dir()
    yield root
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def test_keys(ssh_root_dir: Path, test_user: TestUser) -> TestKeys:
    """Plain + encrypted ed25519 keys, both in `<ssh_root_dir>/authorized_keys/<test_user>`."""
    keys = make_keys(ssh_root_dir / "keys")
    authorize_keys(
        ssh_root_dir / "authorized_keys", test_user.name, [keys.plain_pub, keys.encrypted_pub]
    )
    return keys


@pytest.fixture(scope="session")
def sshd(ssh_root_dir: Path, test_keys: TestKeys) -> Iterator[Sshd]:
    """The main target (template config, MaxSessions 10). Do not reconfigure or kill it: use
    `scratch_sshd` for destructive tests."""
    server = start_sshd(ssh_root_dir / "sshd")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def known_hosts_file(ssh_root_dir: Path, sshd: Sshd) -> Path:
    """A known_hosts file holding the main sshd's `[127.0.0.1]:PORT ssh-ed25519 ...` entry."""
    return write_known_hosts(ssh_root_dir / "known_hosts", [sshd.known_hosts_entry])


@pytest.fixture(scope="session")
def ssh_agent(ssh_root_dir: Path, test_keys: TestKeys) -> Iterator[Agent]:
    """An ssh-agent holding the plain key: `agent_path=ssh_agent.sock`."""
    agent = start_agent(ssh_root_dir / "agent", [test_keys.plain])
    try:
        yield agent
    finally:
        agent.stop()


@pytest.fixture(scope="session")
def jump_sshds(ssh_root_dir: Path, test_keys: TestKeys) -> Iterator[JumpHosts]:
    """Three more sshds (b1 -> b2 -> target) and a known_hosts with all three. Restore any
    reconfigure() (or use `with b.reconfigured({...}):`): they are shared by the session."""
    with ExitStack() as stack:
        servers = []
        for name in ("b1", "b2", "target"):
            servers.append(start_sshd(ssh_root_dir / "jump", name=name))
            stack.callback(servers[-1].stop)
        known_hosts = write_known_hosts(
            ssh_root_dir / "jump" / "known_hosts", [s.known_hosts_entry for s in servers]
        )
        b1, b2, target = servers
        yield JumpHosts(b1, b2, target, known_hosts)


@pytest.fixture
def scratch_sshd(ssh_root_dir: Path, test_keys: TestKeys) -> Iterator[Sshd]:
    """A fresh sshd for one test, free to reconfigure, kill_connections() or stop();
    its own known_hosts is `scratch_sshd.known_hosts_path`."""
    server = start_sshd(ssh_root_dir / "scratch", name=f"scratch{next(_scratch_ids)}")
    try:
        yield server
    finally:
        server.stop()


# -- ssh-mcp under test ------------------------------------------------------------

from harness import Target, hosts_toml, make_settings  # noqa: E402

from ssh_mcp.config.settings import Settings  # noqa: E402


@pytest.fixture(scope="session")
def work_root(test_user: TestUser) -> Iterator[Path]:
    """`~mcp-ssh-test/work-<pid>`, fresh for the session and owned by the test user."""
    root = test_user.home / f"work-{os.getpid()}"
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(mode=0o755)
    os.chown(root, test_user.uid, test_user.uid)
    yield root
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def work_dir(work_root: Path, test_user: TestUser, request: pytest.FixtureRequest) -> Path:
    """A directory of this test's own inside the allowlisted work root."""
    path = work_root / re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name)[:80]
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(mode=0o755)
    os.chown(path, test_user.uid, test_user.uid)
    return path


@pytest.fixture
def target(sshd: Sshd, test_user: TestUser, test_keys: TestKeys, work_root: Path) -> Target:
    """The main sshd as hosts.toml alias `target`, key auth, allowlist = the work root."""
    return Target("target", sshd.port, test_user.name, test_keys.plain, (str(work_root),))


@pytest.fixture
def settings_for(tmp_path: Path, target: Target, known_hosts_file: Path) -> Callable[..., Settings]:
    """Build Settings for the `target` host; keyword arguments override any setting."""

    def make(*, hosts: str | None = None, **overrides: object) -> Settings:
        return make_settings(tmp_path, hosts or hosts_toml(target), known_hosts_file, **overrides)

    return make


@pytest.fixture
def sudo_target(tmp_path: Path, target: Target, test_user: TestUser) -> Target:
    """`target` with a sudo_password_cmd (``cat`` of a 0600 file holding the password)."""
    secret = tmp_path / "sudo.pw"
    secret.write_text(test_user.password + "\n")
    secret.chmod(0o600)
    return dataclasses.replace(target, extra=f'sudo_password_cmd = ["cat", "{secret}"]\n')


@pytest.fixture
def root_target(ssh_root_dir: Path, test_keys: TestKeys, target: Target) -> Iterator[Target]:
    """`target` logged in as root (sshd ignores channel signals without privilege separation)."""
    keys_dir = ssh_root_dir / "authorized_keys"
    authorize_keys(keys_dir, "root", [test_keys.plain_pub])
    try:
        yield dataclasses.replace(target, user="root")
    finally:
        (keys_dir / "root").unlink(missing_ok=True)


@pytest.fixture
def drop() -> Iterator[Path]:
    """A directory outside the allowlist that every test user may create files in (where a
    payload would leave its proof), removed afterwards."""
    path = Path(tempfile.mkdtemp(prefix="ssh-mcp-drop-"))
    path.chmod(0o1777)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


# -- the operations fleet: dockerd and a systemd host (tests/fleet.py) ---------------------


@pytest.fixture(scope="session")
def dockerd(ssh_root_dir: Path) -> Iterator[None]:
    """A dockerd that answers, started here (and stopped by PID) unless one already runs."""
    import fleet

    with fleet.running_dockerd(ssh_root_dir):
        try:
            yield
        finally:
            fleet.remove_containers(f"{fleet.CONTAINER_PREFIX}{os.getpid()}-")


@pytest.fixture(scope="session")
def systemd_host(dockerd: None, ssh_root_dir: Path, test_keys: TestKeys) -> Iterator[Any]:
    """A Debian container booted with systemd, sshd published on 127.0.0.1 (fleet.SystemdHost)."""
    import fleet

    with fleet.systemd_host(ssh_root_dir, test_keys.plain_pub, test_keys.plain) as host:
        yield host
