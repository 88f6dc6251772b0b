"""A throwaway local SSH host on 127.0.0.1 for ``ssh-mcp demo`` and ``bench/``.

Two backends, both logging in as the *current* user with a fresh ed25519 key:

``openssh``
    The real ``/usr/sbin/sshd -D -e`` on a free port with its own config, host key,
    authorized key and pidfile in the sandbox directory (``AllowUsers`` admits only the
    current user). As root, root logs in with ``PermitRootLogin prohibit-password``; as
    a non-root user, sshd skips privilege separation and only that user can log in.
    With ``UsePAM no`` sshd refuses even key logins to an account whose shadow password
    is locked (``!...``, the Debian default for a root created without a password), so
    for a locked account the config says ``UsePAM yes`` instead: PAM's account stage
    does not look at the lock, and sshd skips its own check when PAM is on.
    Sessions get ``HOME=<dir>/home`` (see ``start_sshd_sandbox``) and the marker
    ``SSH_MCP_SANDBOX=<dir>``. Stopping freezes the listener and its descendants, collects
    them from /proc (after the listener exits they are reparented and cannot be found), plus
    every process carrying the marker (a command orphaned when its connection closed),
    then SIGTERMs, waits and SIGKILLs stragglers, each by PID checked against its /proc
    start time. Note: for a *root* login OpenSSH refuses the channel ``signal`` request
    ("session signalling requires privilege separation"), so a client cannot stop a
    root command by signal; only closing the sandbox does.

``asyncssh`` (:mod:`ssh_mcp.demo.sandbox_asyncssh`, imported only when it runs)
    An in-process asyncssh server for machines without sshd. Commands really run; SFTP
    sees the data directory as ``/data``. A demo's path mapping, **not a security
    boundary**: see that module.

Start the openssh backend from a long-lived thread (PDEATHSIG fires when the spawning
thread exits), and always close the sandbox (``await sandbox.aclose()``).
"""

from __future__ import annotations

import asyncio
import getpass
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from ssh_mcp.demo import proctree

SSHD = "/usr/sbin/sshd"  # absolute: sshd re-execs itself
Backend = Literal["auto", "openssh", "asyncssh"]


class SandboxError(RuntimeError):
    """The sandbox could not be started or stopped."""


@dataclass
class Sandbox:
    """Where the throwaway host listens and how to log in to it."""

    kind: Literal["openssh", "asyncssh"]
    host: str
    port: int
    user: str
    client_key: Path  # unencrypted ed25519 private key file
    known_hosts_line: str  # "[127.0.0.1]:PORT ssh-ed25519 AAAA..."
    data_dir: Path  # local directory holding the demo files
    remote_data_dir: str  # the same directory as the host's SFTP sees it: the path allowlist
    pids: tuple[int, ...] = ()  # long-lived processes started (the sshd listener)
    _close: Callable[[], Awaitable[None]] | None = field(default=None, repr=False)
    note: str = ""  # why "auto" did not pick the backend it prefers

    async def aclose(self) -> None:
        """Stop the host and everything it started. Idempotent."""
        close, self._close = self._close, None
        if close is not None:
            await close()


MARKER = "SSH_MCP_SANDBOX"  # env var every sandbox session carries: <MARKER>=<sandbox dir>


# -- helpers shared with the test fixtures (tests/sshd.py) ------------------------------


def free_port(host: str) -> int:
    """A port on ``host`` that was free a moment ago (another process may still take it)."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as s:
        s.bind((host, 0))
        port: int = s.getsockname()[1]
        return port


def ssh_banner(host: str, port: int) -> bool:
    """True if ``host:port`` accepts a connection and sends an ``SSH-2.0-`` version line."""
    try:
        with socket.create_connection((host, port), timeout=2) as s:
            data = b""
            while b"\n" not in data and len(data) < 512 and (chunk := s.recv(512)):
                data += chunk
            return data.startswith(b"SSH-2.0-")
    except OSError:
        return False


def run(
    argv: Sequence[str], *, input: str | None = None, env: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run a short setup command (30 s at most); raise SandboxError with its stderr on failure."""
    res = subprocess.run(
        argv, input=input, env=env, capture_output=True, text=True, timeout=30, check=False,
        stdin=None if input is not None else subprocess.DEVNULL,
    )  # fmt: skip
    if res.returncode != 0:
        raise SandboxError(f"{' '.join(argv)} failed ({res.returncode}): {res.stderr.strip()}")
    return res


def keygen(path: Path, comment: str, passphrase: str = "") -> str:
    """A fresh ed25519 key pair at ``path`` and ``path.pub``; returns the public key line
    (``ssh-ed25519 AAAA... comment``)."""
    pub = path.with_name(path.name + ".pub")
    for old in (path, pub):  # ssh-keygen would ask to overwrite
        old.unlink(missing_ok=True)
    run(["ssh-keygen", "-q", "-t", "ed25519", "-N", passphrase, "-C", comment, "-f", str(path)])
    return pub.read_text().strip()


def _account_locked(user: str) -> bool:
    """True when root can read the user's shadow entry and its password is locked."""
    try:
        for line in Path("/etc/shadow").read_text().splitlines():
            name, _, rest = line.partition(":")
            if name == user:
                pw = rest.partition(":")[0]
                return pw.startswith("!") or pw == "*LK*"
    except OSError:
        pass
    return False


def stop_marked(token: str, timeout: float = 5.0) -> list[int]:
    """Stop every process carrying ``MARKER=token`` (a session command orphaned when its
    connection closed, and its children); return the PIDs that survived SIGKILL."""
    return [p.pid for p in proctree.terminate(proctree.with_env(MARKER, token), timeout)]


def stop_tree(proc: subprocess.Popen[bytes], token: str, timeout: float = 5.0) -> list[int]:
    """Stop ``proc``, its descendants and every process marked with ``token``; return the
    PIDs that survived SIGKILL. A session forked while we collect carries the marker."""
    return [p.pid for p in proctree.stop_tree(proc, timeout)] + stop_marked(token, timeout)


# -- openssh ----------------------------------------------------------------------------


SSHD_DEFAULTS: dict[str, str] = {  # a loopback sshd for one test user; tests/sshd.py too
    key: value
    for key, _, value in (
        line.partition(" ")
        for line in """\
StrictModes no
UsePAM no
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
MaxSessions 10
MaxStartups 200:30:400
AllowTcpForwarding no
X11Forwarding no
PrintMotd no
PrintLastLog no
UseDNS no
Subsystem sftp internal-sftp
LogLevel VERBOSE
""".splitlines()
    )
}


def _sshd_config(dir: Path, port: int, user: str, clean_home: bool) -> str:
    use_pam = os.geteuid() == 0 and _account_locked(user) and Path("/etc/pam.d/sshd").exists()
    options = {
        "Port": str(port),
        "ListenAddress": "127.0.0.1",
        "HostKey": f"{dir}/host_ed25519_key",
        "PidFile": f"{dir}/sshd.pid",
        "SetEnv": f"{MARKER}={dir}" + (f" HOME={dir}/home" if clean_home else ""),
        "AuthorizedKeysFile": f"{dir}/authorized_keys",
        "AllowUsers": user,
        **SSHD_DEFAULTS,
        "UsePAM": "yes" if use_pam else "no",
    }
    return "".join(f"{key} {value}\n" for key, value in options.items())


def start_sshd_sandbox(dir: Path, *, clean_home: bool = True, timeout: float = 10.0) -> Sandbox:
    """Start the real sshd as described in the module docstring; files live in ``dir``.

    ``clean_home`` sets ``HOME=<dir>/home`` (empty) in sessions, so the login user's
    dotfiles do not run on every exec: bash sources ``~/.bashrc`` even for ``bash -c``
    when started by sshd, and a ``.bashrc`` that runs e.g. ``pyenv init`` adds ~90 ms to
    each command. The login directory stays the user's real home."""
    if not os.access(SSHD, os.X_OK):
        raise SandboxError(f"{SSHD} is not installed")
    dir = dir.resolve()
    if any(c.isspace() for c in str(dir)):
        raise SandboxError(f"whitespace in {dir} would break sshd_config")
    user = getpass.getuser()
    if os.geteuid() == 0:
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # privsep dir, made only at boot
    host_key = " ".join(keygen(dir / "host_ed25519_key", "ssh-mcp-sandbox-host").split()[:2])
    client_pub = keygen(dir / "client_ed25519_key", "ssh-mcp-sandbox-client")
    (dir / "authorized_keys").write_text(client_pub + "\n")
    data = dir / "data"
    data.mkdir(exist_ok=True)
    (dir / "home").mkdir(exist_ok=True)
    log_path, cfg = dir / "sshd.log", dir / "sshd_config"
    for _ in range(5):  # retry if another process takes the free port first
        port = free_port("127.0.0.1")
        cfg.write_text(_sshd_config(dir, port, user, clean_home))
        run([SSHD, "-t", "-f", str(cfg)])
        with log_path.open("ab") as log:
            since = log.tell()
            proc = subprocess.Popen(  # preexec_fn only sets PDEATHSIG
                [SSHD, "-D", "-e", "-f", str(cfg)], stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL, stderr=log, start_new_session=True,
                preexec_fn=proctree.pdeathsig(),
            )  # fmt: skip
        deadline = time.monotonic() + timeout
        while proc.poll() is None and not ssh_banner("127.0.0.1", port):
            if time.monotonic() > deadline:
                stop_tree(proc, str(dir))
                raise SandboxError(f"sshd did not answer on port {port} within {timeout}s")
            time.sleep(0.005)
        if proc.poll() is None:
            break
        with log_path.open("rb") as f:
            f.seek(since)
            failure = f.read().decode(errors="replace")
        if "Cannot bind any address" not in failure:
            raise SandboxError(f"sshd exited with {proc.returncode}: {failure.strip()[-300:]}")
    else:
        raise SandboxError("sshd could not bind a free port on 127.0.0.1")

    async def close() -> None:
        if left := await asyncio.to_thread(stop_tree, proc, str(dir)):
            raise SandboxError(f"sshd processes survived SIGKILL: {left}")

    return Sandbox("openssh", "127.0.0.1", port, user, dir / "client_ed25519_key",
                   f"[127.0.0.1]:{port} {host_key}", data, str(data), (proc.pid,),
                   close)  # fmt: skip


async def start_sandbox(dir: Path, backend: Backend = "auto") -> Sandbox:
    """``openssh`` when ``/usr/sbin/sshd`` and ``ssh-keygen`` exist and sshd starts (or when
    asked), else ``asyncssh``. ``dir`` must exist; it is the caller's to remove after
    ``aclose()``."""
    from ssh_mcp.demo.sandbox_asyncssh import start_asyncssh_sandbox  # asyncssh only when used

    if backend == "auto":
        if not (os.access(SSHD, os.X_OK) and shutil.which("ssh-keygen")):
            return await start_asyncssh_sandbox(dir)
        try:
            return start_sshd_sandbox(dir)
        except SandboxError as exc:  # e.g. no privsep user: the fallback still works
            sandbox = await start_asyncssh_sandbox(dir)
            sandbox.note = f"sshd failed, so the asyncssh fallback runs: {exc}"[:300]
            return sandbox
    if backend == "openssh":
        return start_sshd_sandbox(dir)
    return await start_asyncssh_sandbox(dir)
