"""A local APT repository in the systemd host, for the package tool tests.

Packages are built here with ``dpkg-deb`` (two versions of ``mcp-h12-hello``, so that one is
upgradable; a dependency that autoremove can take away; one whose postinst waits for a
marker file, to cancel an install mid-way), indexed with ``dpkg-scanpackages -m`` (every
version), copied into the container and named in its sources: the image's own sources are
empty, so apt sees nothing else.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

from fleet import SystemdHost, docker

REPO_DIR = "/srv/lrepo-h12"
SOURCES = "/etc/apt/sources.list.d/lrepo-h12.list"
HELLO, DEP, SLOW = "mcp-h12-hello", "mcp-h12-dep", "mcp-h12-slow"
#: The slow package's postinst writes STARTED, then waits until GO exists.
STARTED, GO = "/tmp/mcp-h12-slow-started", "/tmp/mcp-h12-slow-go"

_POSTINST_WAIT = f"""#!/bin/sh
echo started > {STARTED}
while [ ! -e {GO} ]; do sleep 0.1; done
"""


def _deb(out: Path, name: str, version: str, depends: str = "", postinst: str = "") -> None:
    root = out / f"{name}-{version}"
    (root / "DEBIAN").mkdir(parents=True)
    (root / "usr/share" / name).mkdir(parents=True)
    (root / "usr/share" / name / "version").write_text(version + "\n")
    control = (
        f"Package: {name}\nVersion: {version}\nArchitecture: all\n"
        "Maintainer: ssh-mcp tests <tests@example.invalid>\n"
        + (f"Depends: {depends}\n" if depends else "")
        + f"Description: {name} for the ssh-mcp package tests\n a test package\n"
    )
    (root / "DEBIAN/control").write_text(control)
    if postinst:
        (root / "DEBIAN/postinst").write_text(postinst)
        (root / "DEBIAN/postinst").chmod(0o755)
    repo = out / "repo"
    repo.mkdir(exist_ok=True)
    deb = repo / f"{name}_{version}_all.deb"
    subprocess.run(["dpkg-deb", "--build", str(root), str(deb)], check=True, capture_output=True)


def install_repo(host: SystemdHost, workdir: Path) -> None:
    """Build the packages, index them and make them the host's only APT source."""
    _deb(workdir, HELLO, "1.0", depends=DEP)
    _deb(workdir, HELLO, "1.1", depends=DEP)
    _deb(workdir, DEP, "1.0")
    _deb(workdir, SLOW, "1.0", postinst=_POSTINST_WAIT)
    repo = workdir / "repo"
    index = subprocess.run(
        ["dpkg-scanpackages", "-m", ".", "/dev/null"],
        cwd=repo,
        check=True,
        capture_output=True,
    )
    (repo / "Packages").write_bytes(index.stdout)
    host.exec("rm", "-rf", REPO_DIR)
    docker("cp", str(repo), f"{host.name}:{REPO_DIR}")
    host.sh(f"echo 'deb [trusted=yes] file:{REPO_DIR} ./' > {SOURCES}")


def dpkg_status(host: SystemdHost, name: str) -> str:
    """``${db:Status-Abbrev}`` and version as the host's dpkg has them ('' when unknown)."""
    proc = subprocess.run(
        [
            "docker",
            "exec",
            host.name,
            "dpkg-query",
            "-W",
            "-f",
            "${db:Status-Abbrev}${Version}",
            name,
        ],
        capture_output=True,
    )
    return proc.stdout.decode().strip() if proc.returncode == 0 else ""


def locked(host: SystemdHost) -> list[str]:
    """Lines of /proc/locks on dpkg's lock files (fcntl locks, which ``flock -n`` cannot see)."""
    inodes = host.sh(
        "stat -c %i /var/lib/dpkg/lock-frontend /var/lib/dpkg/lock 2>/dev/null || true"
    ).split()
    locks = host.exec("cat", "/proc/locks").splitlines()
    return [line for line in locks for ino in inodes if f":{ino} " in line]


@contextlib.contextmanager
def path_without(*prefixes: str) -> Iterator[Path]:
    """A PATH directory any user can enter, linking every program of /usr/bin, /usr/sbin,
    /bin and /sbin except those whose names start with one of ``prefixes``: a host without
    them, for sshd's ``SetEnv PATH=``."""
    bin_dir = Path(tempfile.mkdtemp(prefix="ssh-mcp-path-"))
    bin_dir.chmod(0o755)
    try:
        for d in ("/usr/bin", "/usr/sbin", "/bin", "/sbin"):
            for name in os.listdir(d):
                if not name.startswith(prefixes) and not (bin_dir / name).exists():
                    (bin_dir / name).symlink_to(os.path.join(d, name))
        yield bin_dir
    finally:
        shutil.rmtree(bin_dir)
