"""Throwaway sshd instances, a test user, keys and an ssh-agent for integration tests (Linux;
users, password auth and sudo need root). Only PIDs this module started, or their descendants,
are ever signalled (identity checked by /proc start time). Start servers from a long-lived
thread (e.g. a sync fixture): PDEATHSIG fires when the spawning *thread* exits.

The process-tree work (/proc, freeze, terminate, PDEATHSIG) is ssh_mcp.demo.proctree's, and the
free port, banner, key and setup-command helpers are ssh_mcp.demo.sandbox's, shared with the demo's
sandbox sshd."""

from __future__ import annotations

import contextlib
import fcntl
import os
import pwd
import re
import secrets
import shutil
import signal
import stat
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from ssh_mcp.demo.proctree import (
    alive,
    descendants,
    freeze_tree,
    pdeathsig,
    stop_tree,
    terminate,
    wait_until,
)
from ssh_mcp.demo.proctree import pid_alive as pid_alive  # public here too
from ssh_mcp.demo.sandbox import (
    SSHD,
    SSHD_DEFAULTS,
    SandboxError,
    free_port,
    keygen,
    run,
    ssh_banner,
)

TEST_USER = "mcp-ssh-test"
_RESERVED = frozenset({"port", "listenaddress", "pidfile", "hostkey"})  # managed by Sshd
_TEMPLATE = {**SSHD_DEFAULTS, "PasswordAuthentication": "yes", "AllowTcpForwarding": "yes"}


class SshdError(SandboxError):
    """A fixture could not set something up, or could not clean it up. (The shared helpers
    from ssh_mcp.demo.sandbox, e.g. a failed ssh-keygen or `sshd -t`, raise the base class.)"""


def descendant_pids(pid: int) -> list[int]:
    """PIDs of the live (non-zombie) descendants of `pid`, found by walking /proc by PPid."""
    return [p.pid for p in descendants(pid) if alive(p)]


def check_traversable(path: Path) -> None:
    """sshd opens AuthorizedKeysFile as the login user, so every ancestor must be o+x."""
    for p in (path, *path.parents):
        if p.exists() and not p.stat().st_mode & stat.S_IXOTH:
            raise SshdError(
                f"{p} is mode {stat.S_IMODE(p.stat().st_mode):o} (not o+x), so sshd, reading "
                f"as the login user, cannot reach {path}. Keep sshd files out of pytest's 0700 "
                "tmp_path: use make_shared_dir()."
            )


def make_shared_dir(path: Path | None = None) -> Path:
    """Create `path` (default: a fresh mkdtemp under /tmp) with mode 0755, o+x all the way up."""
    if path is None:
        path = Path(tempfile.mkdtemp(prefix="ssh-mcp-test-", dir="/tmp"))
    path.mkdir(parents=True, exist_ok=True)
    path.chmod(0o755)
    check_traversable(path)
    return path


@dataclass(frozen=True)
class TestKeys:
    __test__: ClassVar[bool] = False  # not a pytest test class
    plain: Path  # ed25519 private key, no passphrase
    plain_pub: str  # "ssh-ed25519 AAAA... comment"
    encrypted: Path  # ed25519 private key, OpenSSH format (bcrypt KDF), needs `passphrase`
    encrypted_pub: str
    passphrase: str


def make_keys(dir: Path) -> TestKeys:
    """A plain and a passphrase-protected ed25519 key pair in `dir`; fresh passphrase per call."""
    dir.mkdir(parents=True, exist_ok=True)
    passphrase = secrets.token_urlsafe(18)
    plain_pub = keygen(dir / "id_plain", "mcp-test-plain")
    enc_pub = keygen(dir / "id_encrypted", "mcp-test-encrypted", passphrase)
    return TestKeys(dir / "id_plain", plain_pub, dir / "id_encrypted", enc_pub, passphrase)


def authorize_keys(authorized_keys_dir: Path, user: str, pubkeys: Sequence[str]) -> Path:
    """(Over)write `<authorized_keys_dir>/<user>` (mode 0644) with `pubkeys`."""
    path = make_shared_dir(authorized_keys_dir) / user
    path.write_text("".join(k.strip() + "\n" for k in pubkeys))
    path.chmod(0o644)
    return path


def write_known_hosts(path: Path, entries: Sequence[str]) -> Path:
    path.write_text("".join(e.strip() + "\n" for e in entries))
    path.chmod(0o644)
    return path


class Sshd:
    """One `sshd -D -e` listener, its files named `<name>*` in `workdir`. See start_sshd()."""

    def __init__(
        self,
        workdir: Path,
        listen: str,
        name: str,
        options: Mapping[str, str],
        authorized_keys_dir: Path,
    ) -> None:
        self.workdir, self.host, self.name, self.port = workdir, listen, name, 0
        self.authorized_keys_dir = authorized_keys_dir
        self.config_path = workdir / f"{name}_config"
        self.log_path = workdir / f"{name}.log"  # sshd -e stderr, appended across restarts
        self.host_key_path = workdir / f"{name}_host_ed25519_key"
        self.known_hosts_path = workdir / f"{name}_known_hosts"  # just this server's entry
        self.host_key_line = ""  # "ssh-ed25519 AAAA..."
        self.fingerprint = ""  # "SHA256:...", as ssh-keygen -lf prints it
        self.options: dict[str, str] = dict(options)  # the overrides in effect
        self._base = dict(options)
        self._proc: subprocess.Popen[bytes] | None = None

    def __repr__(self) -> str:
        return f"<Sshd {self.name} {self.host}:{self.port} pid={self._proc and self._proc.pid}>"

    @property
    def pid(self) -> int:
        assert self._proc is not None, "sshd not started"
        return self._proc.pid

    @property
    def known_hosts_entry(self) -> str:
        host = self.host if self.port == 22 else f"[{self.host}]:{self.port}"
        return f"{host} {self.host_key_line}"

    def render_config(self, options: Mapping[str, str]) -> str:
        lines = [
            ("Port", str(self.port)),
            ("ListenAddress", self.host),
            ("HostKey", str(self.host_key_path)),
            ("PidFile", str(self.workdir / f"{self.name}.pid")),
            ("AuthorizedKeysFile", f"{self.authorized_keys_dir}/%u"),
        ]
        lines += _TEMPLATE.items()
        index = {k.lower(): i for i, (k, _) in enumerate(lines)}
        for key, value in options.items():  # sshd uses the first occurrence: replace, not append
            if key.lower() in _RESERVED or not re.fullmatch(r"[A-Za-z]+", key) or "\n" in value:
                raise ValueError(f"sshd option {key!r}={value!r} cannot be set")
            if key.lower() in index:
                lines[index[key.lower()]] = (key, value)
            else:
                lines.append((key, value))  # so a Match block must be the last option
        return "".join(f"{k} {v}\n" for k, v in lines)

    def _write_config(self, options: Mapping[str, str]) -> None:
        tmp = self.config_path.with_name(self.config_path.name + ".new")
        tmp.write_text(self.render_config(options))
        run([SSHD, "-t", "-f", str(tmp)])
        tmp.replace(self.config_path)  # same path: sshd re-reads it on SIGHUP

    def log_text(self, since: int = 0) -> str:
        with contextlib.suppress(FileNotFoundError), self.log_path.open("rb") as f:
            f.seek(since)
            return f.read().decode(errors="replace")
        return ""

    def _wait_listening(self, since: int, timeout: float) -> str | None:
        """Wait for this start's "Server listening" log line, then the banner: None when ready,
        else (sshd exited) its log."""
        assert self._proc is not None
        needle, deadline = f"listening on {self.host} port {self.port}.", time.monotonic() + timeout
        while self._proc.poll() is None:
            if needle in self.log_text(since) and ssh_banner(self.host, self.port):
                return None
            if time.monotonic() > deadline:
                raise SshdError(f"{self!r} not ready after {timeout}s:\n{self.log_text(since)}")
            time.sleep(0.005)
        return self.log_text(since)

    def _start(self, timeout: float) -> None:
        for _ in range(10):
            self.port = free_port(self.host)
            self._write_config(self.options)
            with self.log_path.open("ab") as log:
                since = log.tell()
                self._proc = subprocess.Popen(
                    [SSHD, "-D", "-e", "-f", str(self.config_path)],
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                    stderr=log,
                    start_new_session=True,
                    preexec_fn=pdeathsig(),
                )
            try:
                failure = self._wait_listening(since, timeout)
            except BaseException:
                self.stop()
                raise
            if failure is None:
                return
            self._proc.wait()
            if "Cannot bind any address" not in failure:  # else it lost the port race: retry
                raise SshdError(f"sshd exited with {self._proc.returncode}:\n{failure}")
        raise SshdError(f"sshd could not bind a free port on {self.host}")

    def reconfigure(self, options: Mapping[str, str] | None = None, timeout: float = 10.0) -> None:
        """Rewrite the config as template + start options + `options` (not cumulative: no
        argument restores the start config), SIGHUP (sshd re-execs, same PID), wait until it
        listens again. Established connections survive."""
        options = {**self._base, **(options or {})}
        self._write_config(options)  # validated first: a bad config would kill the listener
        since = self.log_path.stat().st_size
        assert self._proc is not None
        self._proc.send_signal(signal.SIGHUP)
        if (failure := self._wait_listening(since, timeout)) is not None:
            raise SshdError(f"sshd died after SIGHUP:\n{failure}")
        self.options = options

    @contextlib.contextmanager
    def reconfigured(self, options: Mapping[str, str]) -> Iterator[Sshd]:
        """`with sshd.reconfigured({...}):` adds `options`, and restores the previous ones."""
        previous = self.options
        self.reconfigure({**previous, **options})
        try:
            yield self
        finally:
            self.reconfigure(previous)

    def kill_connections(self, timeout: float = 5.0) -> list[int]:
        """SIGTERM every descendant of the listener (the `sshd: user [priv]` chains and their
        commands), but not the listener; SIGKILL stragglers. Simulates dropped connections.
        Returns the PIDs signalled."""
        procs = freeze_tree(self.pid)
        if left := terminate(procs, timeout):
            raise SshdError(f"connection processes survived SIGKILL: {[p.pid for p in left]}")
        return [p.pid for p in procs]

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the listener and all its descendants (idempotent). The descendants are collected
        first: once the listener is gone they are reparented to PID 1 and cannot be found."""
        if (proc := self._proc) is None:
            return
        left = stop_tree(proc, timeout)
        if left or proc.poll() is None:
            raise SshdError(f"{self!r}: processes survived SIGKILL: {[p.pid for p in left]}")


def start_sshd(
    workdir: Path,
    *,
    listen: str = "127.0.0.1",
    options: Mapping[str, str] | None = None,
    name: str = "sshd",
    authorized_keys_dir: Path | None = None,
    timeout: float = 10.0,
) -> Sshd:
    """Start `sshd -D -e` on `listen`:<free port>; its files are `<workdir>/<name>*`.

    `options` replace template keywords (others are appended). Public keys are read from
    `<authorized_keys_dir>/%u`, by default `<workdir>/../authorized_keys` (kept 0755)."""
    if os.geteuid() == 0:  # privsep dir; Debian creates it only at boot
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
    workdir.mkdir(parents=True, exist_ok=True)
    keys_dir = make_shared_dir(authorized_keys_dir or workdir.parent / "authorized_keys")
    if re.search(r"\s", f"{keys_dir}{workdir}{name}"):
        raise SshdError(f"whitespace in {keys_dir} or {workdir / name} breaks sshd_config")
    server = Sshd(workdir, listen, name, options or {}, keys_dir)
    server.host_key_line = " ".join(keygen(server.host_key_path, name).split()[:2])
    fingerprint = run(["ssh-keygen", "-lf", f"{server.host_key_path}.pub"]).stdout
    server.fingerprint = fingerprint.split()[1]
    server._start(timeout)
    write_known_hosts(server.known_hosts_path, [server.known_hosts_entry])
    return server


@dataclass(frozen=True)
class JumpHosts:
    """A proxy-jump chain: `target` is reached via `b1`, then `b2`; `known_hosts` has all three."""

    b1: Sshd
    b2: Sshd
    target: Sshd
    known_hosts: Path


def remote_pids(user: str, pattern: str) -> list[int]:
    """Live (non-zombie) PIDs of `user` whose full command line matches `pattern` (pgrep -f)."""
    res = subprocess.run(
        ["pgrep", "-u", user, "-f", pattern],
        capture_output=True,
        text=True,
        check=False,
        timeout=10,
    )
    if res.returncode not in (0, 1):
        raise SshdError(f"pgrep failed: {res.stderr.strip()}")
    return [pid for pid in map(int, res.stdout.split()) if pid_alive(pid)]


def wait_gone(user: str, pattern: str, timeout: float = 5.0) -> bool:
    """Wait until remote_pids(user, pattern) is empty; False on timeout."""
    return wait_until(lambda: not remote_pids(user, pattern), timeout, 0.02)


@dataclass(frozen=True)
class TestUser:
    __test__: ClassVar[bool] = False  # not a pytest test class
    name: str
    password: str = field(repr=False)  # random, set by this session
    home: Path
    uid: int


_LOCKS = Path("/run/mcp-ssh-test")  # root-only: locks and the current password
_session_fds: dict[str, int] = {}  # user -> fd holding a shared flock while this process lives


def ensure_user(name: str = TEST_USER) -> TestUser:
    """Create `name` (idempotent) with a home and bash, a random password (without one the account
    is locked and sshd refuses even keys) and sudo *with* password. Concurrent sessions (other
    pytest runs, xdist workers) share the user: the first one alone sets a fresh password, the
    others read it from a root-only file, so nobody's password changes under a running session."""
    if os.geteuid() != 0:
        raise SshdError("ensure_user() needs root")
    if not re.fullmatch(r"[a-z_][a-z0-9_-]{0,30}", name):
        raise ValueError(f"bad user name {name!r}")
    _LOCKS.mkdir(mode=0o700, exist_ok=True)
    setup = os.open(_LOCKS / f"{name}.setup", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(setup, fcntl.LOCK_EX)  # one session at a time sets up
        try:
            pw = pwd.getpwnam(name)
        except KeyError:
            run(["useradd", "--create-home", "--shell", "/bin/bash", name])
            pw = pwd.getpwnam(name)
        if pw.pw_shell != "/bin/bash":
            run(["usermod", "--shell", "/bin/bash", name])
        home = Path(pw.pw_dir)
        if not home.is_dir():
            home.mkdir(mode=0o755, parents=True)
            os.chown(home, pw.pw_uid, pw.pw_gid)
        sudoers, rule = Path(f"/etc/sudoers.d/90-{name}"), f"{name} ALL=(ALL:ALL) ALL\n"
        tmp = sudoers.with_name(f".90-{name}.tmp")  # sudo ignores files whose name has a dot
        tmp.write_text(rule)
        tmp.chmod(0o440)
        run(["visudo", "-cf", str(tmp)])
        tmp.replace(sudoers)
        pwfile = _LOCKS / f"{name}.password"
        if name not in _session_fds:
            _session_fds[name] = os.open(_LOCKS / f"{name}.session", os.O_RDWR | os.O_CREAT, 0o600)
        if not shared_with_others(name) or not pwfile.exists():
            password = secrets.token_urlsafe(24)
            pwfile.touch(mode=0o600)
            pwfile.write_text(password)
            run(["chpasswd"], input=f"{name}:{password}\n")
        password = pwfile.read_text()
    finally:
        os.close(setup)
    return TestUser(name, password, home, pw.pw_uid)


def shared_with_others(name: str = TEST_USER) -> bool:
    """True if another process (e.g. a concurrent pytest session) is also using test user `name`
    via ensure_user(); False if only this one is."""
    fd = _session_fds.get(name)
    if fd is None:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return False
    except BlockingIOError:
        return True
    finally:
        fcntl.flock(fd, fcntl.LOCK_SH)  # (a failed conversion drops the old lock: take it again)


@dataclass
class Agent:
    sock: str  # for agent_path= / SSH_AUTH_SOCK
    pid: int
    _proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    def stop(self, timeout: float = 5.0) -> None:
        """Kill the agent by PID (it is our child: SIGTERM, wait, SIGKILL). Idempotent."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(timeout)


def start_agent(dir: Path, keys: Sequence[Path]) -> Agent:
    """`ssh-agent -D -s -a <dir>/agent.sock` (-D: it stays our child and gets PDEATHSIG), then
    `ssh-add` each key. Only unencrypted keys: no askpass is available."""
    dir.mkdir(parents=True, exist_ok=True)
    sock, out = dir / "agent.sock", dir / "agent.out"
    if len(os.fsencode(sock)) > 100:
        raise SshdError(f"{sock} is too long for a unix socket path")
    sock.unlink(missing_ok=True)
    exe = shutil.which("ssh-agent") or "ssh-agent"  # Debian: setgid _ssh, see pdeathsig()
    st = os.stat(exe)
    gid = st.st_gid if st.st_mode & stat.S_ISGID and os.geteuid() == 0 else None
    with out.open("wb") as f:
        proc = subprocess.Popen(
            [exe, "-D", "-s", "-a", str(sock)],
            stdout=f,
            stdin=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=pdeathsig(gid),
        )
    agent, pid_re = Agent(str(sock), proc.pid, proc), re.compile(r"(?:_PID=|Agent pid )(\d+)")
    try:  # with -D it prints "echo Agent pid N;" instead of SSH_AGENT_PID=N
        wait_until(lambda: proc.poll() is not None or bool(pid_re.search(out.read_text())), 10)
        m = pid_re.search(out.read_text())
        if proc.poll() is not None or m is None or int(m.group(1)) != proc.pid:
            raise SshdError(f"ssh-agent failed to start: {out.read_text()!r}")
        env = {k: v for k, v in os.environ.items() if k not in ("SSH_ASKPASS", "DISPLAY")}
        env |= {"SSH_AUTH_SOCK": str(sock), "SSH_ASKPASS_REQUIRE": "never"}
        for key in keys:
            run(["ssh-add", str(key)], env=env)
    except BaseException:
        agent.stop()
        raise
    return agent
