"""Real operations targets for tests: dockerd, local images, and a Debian host booted with
systemd as PID 1 that runs sshd, in a container published on 127.0.0.1 only
(../shared/notes/real-fleet.md has the measured recipes).

The expensive part, a debootstrap rootfs, is cached as a tarball under ``~/.cache`` keyed by
its recipe, and the imported image is kept by docker under the same key, so that a warm run
pays only for booting a container (one or two seconds). A fresh machine builds both from nothing.

Everything this module starts is stopped by name or PID: the containers named by
:func:`container_name` (``ssh-mcp-test-<pid>-<role>``) and a dockerd it started itself
(one that was already running is left alone).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from ssh_mcp.demo.proctree import wait_until
from ssh_mcp.demo.sandbox import ssh_banner

CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "ssh-mcp-tests"

#: What the systemd host carries: sshd and sudo for logins, procps for pgrep, iproute2 for
#: ssh_host_network, frr for a real router CLI (vtysh). Changing it changes the cache key.
SYSTEMD_PACKAGES = (
    "systemd",
    "systemd-sysv",
    "openssh-server",
    "dbus",
    "sudo",
    "procps",
    "iproute2",
    "frr",
)
_RECIPE = "1"  # bump when the image build below changes in a way the package list does not show
BUSYBOX_APPLETS = ("sh", "sleep", "echo", "cat", "ls", "env", "printenv", "true", "wc", "top")
CONTAINER_PREFIX = "ssh-mcp-test-"


class FleetError(RuntimeError):
    """A fleet part could not be built, started or stopped; the message says which."""


def container_name(role: str) -> str:
    """This test session's name for a container: removed by name when the session ends."""
    return f"{CONTAINER_PREFIX}{os.getpid()}-{role}"


def run(argv: Sequence[str], *, input: bytes | None = None, timeout: float = 120) -> str:
    """Run a local command; its stdout, or a FleetError with its stderr."""
    proc = subprocess.run(list(argv), input=input, capture_output=True, timeout=timeout)
    if proc.returncode != 0:
        err = proc.stderr.decode(errors="replace").strip()
        raise FleetError(f"{' '.join(argv[:4])}… exited {proc.returncode}: {err[-2000:]}")
    return proc.stdout.decode(errors="replace")


def docker(*args: str, input: bytes | None = None, timeout: float = 120) -> str:
    return run(["docker", *args], input=input, timeout=timeout)


def _answers() -> bool:
    try:
        return (
            subprocess.run(["docker", "version"], capture_output=True, timeout=10).returncode == 0
        )
    except (OSError, subprocess.TimeoutExpired):
        return False


@contextlib.contextmanager
def running_dockerd(logdir: Path) -> Iterator[None]:
    """A dockerd that answers: the machine's own if one runs, else one started (and stopped,
    by PID) here. No systemd on the test machine, so nobody else would start it."""
    if _answers():
        yield
        return
    if shutil.which("dockerd") is None:
        raise FleetError("dockerd is not installed (apt-get install docker.io)")
    log = open(logdir / "dockerd.log", "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(["dockerd"], stdout=log, stderr=subprocess.STDOUT)
    try:
        if not wait_until(lambda: proc.poll() is not None or _answers(), 60, 0.1) or not _answers():
            raise FleetError(f"dockerd did not answer; see {logdir / 'dockerd.log'}")
        yield
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
        log.close()


def _image_exists(ref: str) -> bool:
    return subprocess.run(["docker", "image", "inspect", ref], capture_output=True).returncode == 0


def _copy_libraries(binary: str, root: Path) -> None:
    """The shared libraries and loader ``binary`` needs, at their own paths under ``root``."""
    out = subprocess.run(["ldd", binary], capture_output=True, text=True).stdout
    for line in out.splitlines():
        path = next((w for w in line.split() if w.startswith("/")), None)
        if path is None:
            continue
        dest = root / path.lstrip("/")
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, dest)  # follows the symlink: the real file under the link's name


def busybox_image() -> str:
    """A tiny image made from the machine's busybox (no registry is reachable)."""
    # The tag names the applets and the recipe: an image without them is never reused.
    key = hashlib.sha256(f"2:{','.join(BUSYBOX_APPLETS)}".encode()).hexdigest()[:12]
    ref = f"ssh-mcp-test-bb:{key}"
    if _image_exists(ref):
        return ref
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "root"
        (root / "bin").mkdir(parents=True)
        (root / "tmp").mkdir()
        busybox = shutil.which("busybox") or "/bin/busybox"
        shutil.copy(busybox, root / "bin" / "busybox")
        _copy_libraries(busybox, root)  # Debian's plain busybox is dynamically linked
        for applet in BUSYBOX_APPLETS:
            (root / "bin" / applet).symlink_to("busybox")
        data = subprocess.run(["tar", "-C", str(root), "-c", "."], capture_output=True, check=True)
        docker("import", "-", ref, input=data.stdout)
    return ref


def _mirror() -> str:
    sources = Path("/etc/apt/sources.list.d/debian.sources")
    if sources.exists():
        for line in sources.read_text().splitlines():
            if line.startswith("URIs:"):
                return line.split()[1]
    return "http://deb.debian.org/debian"


def systemd_image() -> str:
    """A Debian bookworm image that boots systemd and runs sshd, built once per recipe."""
    key = hashlib.sha256(f"{_RECIPE}:{','.join(SYSTEMD_PACKAGES)}".encode()).hexdigest()[:12]
    ref = f"ssh-mcp-test-sysd:{key}"
    if _image_exists(ref):
        return ref
    CACHE.mkdir(parents=True, exist_ok=True)
    tarball = CACHE / f"sysd-rootfs-{key}.tar"
    if not tarball.exists():
        if shutil.which("debootstrap") is None:
            raise FleetError("debootstrap is not installed (apt-get install debootstrap)")
        with tempfile.TemporaryDirectory(dir=CACHE) as tmp:
            rootfs = Path(tmp) / "rootfs"
            run(
                [
                    "debootstrap",
                    "--variant=minbase",
                    f"--include={','.join(SYSTEMD_PACKAGES)}",
                    "bookworm",
                    str(rootfs),
                    _mirror(),
                ],
                timeout=900,
            )
            # Hermetic apt inside: only repositories a test adds itself.
            (rootfs / "etc/apt/sources.list").write_text("")
            partial = tarball.with_suffix(".part")
            run(["tar", "-C", str(rootfs), "-cf", str(partial), "."], timeout=300)
            partial.rename(tarball)
    with tarball.open("rb") as f:
        proc = subprocess.run(["docker", "import", "-", ref], stdin=f, capture_output=True)
    if proc.returncode != 0:
        raise FleetError(f"docker import failed: {proc.stderr.decode(errors='replace')}")
    return ref


@dataclass(frozen=True)
class SystemdHost:
    """A booted systemd container: sshd published on 127.0.0.1:``port``."""

    name: str
    port: int
    known_hosts: Path
    user: str  # a non-root login with sudo (password over stdin), key auth
    sudo_password_file: Path  # 0600, holds the user's sudo password
    key: Path

    def exec(self, *argv: str, input: bytes | None = None, timeout: float = 120) -> str:
        """Run a command in the container as root (test setup and outcome checks)."""
        return docker("exec", "-i", self.name, *argv, input=input, timeout=timeout)

    def sh(self, script: str, timeout: float = 120) -> str:
        return self.exec("sh", "-c", script, timeout=timeout)


def published_port(name: str, port: int = 22) -> int:
    """The 127.0.0.1 port docker published for the container's ``port``."""
    out = docker("port", name, f"{port}/tcp").split()
    for item in out:
        address, _, published = item.rpartition(":")
        if address == "127.0.0.1":
            return int(published)
    raise FleetError(f"{name}: port {port} is not published on 127.0.0.1: {out}")


def _booted(name: str) -> bool:
    proc = subprocess.run(
        ["docker", "exec", name, "systemctl", "is-system-running"], capture_output=True
    )
    state = proc.stdout.decode().strip()
    return state in ("running", "degraded")


@contextlib.contextmanager
def systemd_host(
    workdir: Path,
    pubkey: str,
    key: Path,
    user: str = "ops",
    *,
    role: str = "sysd",
    volumes: Sequence[str] = (),
    ports: Sequence[int] = (),
) -> Iterator[SystemdHost]:
    """Boot a systemd container with sshd, a login ``user`` (key auth, sudo by password) and
    root (key auth); pin its host keys in a known_hosts file. Removed by name at the end.
    ``volumes`` are ``-v`` specs; each of ``ports`` is published on 127.0.0.1 too."""
    image = systemd_image()
    name = container_name(role)
    extra = [arg for v in volumes for arg in ("-v", v)]
    extra += [arg for p in ports for arg in ("-p", f"127.0.0.1::{p}")]
    subprocess.run(["docker", "rm", "-f", name], capture_output=True)
    docker(
        "run", "-d", "--name", name, "--hostname", "fleet1",
        "--cap-add", "SYS_ADMIN", "--cap-add", "NET_ADMIN",
        "-p", "127.0.0.1::22",
        "-v", "/sys/fs/cgroup:/sys/fs/cgroup:rw", "--tmpfs", "/run", "--tmpfs", "/run/lock",
        *extra, image, "/lib/systemd/systemd",
    )  # fmt: skip
    try:
        if not wait_until(lambda: _booted(name), 90, 0.2):
            raise FleetError(f"{name} did not boot: {docker('logs', '--tail', '40', name)}")
        port = published_port(name)
        password = hashlib.sha256(os.urandom(16)).hexdigest()[:20]
        setup = (
            f"set -e; useradd -m -s /bin/bash {user}; usermod -p '*' {user}; "
            f"echo '{user}:{password}' | chpasswd; adduser -q {user} sudo; "
            f"for h in /root /home/{user}; do mkdir -p $h/.ssh; "
            f"printf '%s\\n' \"$KEY\" > $h/.ssh/authorized_keys; chmod 700 $h/.ssh; "
            f"chmod 600 $h/.ssh/authorized_keys; done; chown -R {user}: /home/{user}/.ssh; "
            "sed -i 's/^#\\?PermitRootLogin.*/PermitRootLogin prohibit-password/' "
            "/etc/ssh/sshd_config; systemctl restart ssh"
        )
        docker("exec", "-e", f"KEY={pubkey}", name, "sh", "-c", setup)
        if not wait_until(lambda: ssh_banner("127.0.0.1", port), 30, 0.1):
            raise FleetError(f"{name}: sshd does not answer on 127.0.0.1:{port}")
        keys = docker("exec", name, "sh", "-c", "cat /etc/ssh/ssh_host_*_key.pub")
        known = workdir / f"{name}.known_hosts"
        known.write_text(
            "".join(
                f"[127.0.0.1]:{port} {' '.join(line.split()[:2])}\n"
                for line in keys.splitlines()
                if line.strip()
            )
        )
        secret = workdir / f"{name}.sudo"
        secret.write_text(password + "\n")
        secret.chmod(0o600)
        yield SystemdHost(name, port, known, user, secret, key)
    finally:
        subprocess.run(["docker", "rm", "-f", name], capture_output=True, timeout=60)


def remove_containers(prefix: str) -> None:
    """Remove every container whose name starts with ``prefix`` (a test's own names)."""
    out = docker("ps", "-a", "--format", "{{json .Names}}")
    names = [json.loads(line) for line in out.splitlines() if line.strip()]
    mine = [n for n in names if n.startswith(prefix)]
    if mine:
        docker("rm", "-f", *mine)
