"""Strict known_hosts: loaded read-only, re-read when the file changes, never written.

Lookups follow OpenSSH, not asyncssh: port 22 is looked up as ``host``, any
other port only as ``[host]:port``. asyncssh alone retries a failed non-22
lookup without the port, so a key pinned for port 22 would vouch for every
port of that host; :meth:`KnownHosts.verifier` hands asyncssh a lookup
without that retry. The key is looked up under the name as configured only,
never under the address it resolved to (OpenSSH's ``CheckHostIP no``): a pin
for ``[127.0.0.1]:2222`` does not vouch for ``localhost``. X.509 entries are
ignored (X.509 host certs are off).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ssh_mcp.errors import ConfigError, shown

if TYPE_CHECKING:
    import asyncssh
else:
    from ssh_mcp.ssh._lazy import asyncssh

#: A ``known_hosts=`` callable for asyncssh: (host, addr, port, None for 22) ->
#: (trusted host keys, trusted CA keys, revoked keys). asyncssh annotates the
#: result as ``Sequence[str]`` but loads key objects as they are.
HostKeyLookup = Callable[[str, str, int | None], Sequence[Any]]
if TYPE_CHECKING:
    _Keys = tuple[list[asyncssh.SSHKey], list[asyncssh.SSHKey], list[asyncssh.SSHKey]]


def known_hosts_name(host: str, port: int | None) -> str:
    """The known_hosts spelling of host:port, as OpenSSH writes and matches it."""
    return host if port in (None, 22) else f"[{host}]:{port}"


_name = known_hosts_name


def exact_match(known: asyncssh.SSHKnownHosts, host: str, port: int | None) -> _Keys:
    """Entries for exactly ``host`` on ``port``: no portless fallback, no address.

    The name goes to asyncssh already in its ``[host]:port`` form with
    ``port=None`` and no address, which makes asyncssh match that string alone.
    """
    host_keys, ca_keys, revoked, *_ = known.match(_name(host, port), "", None)
    return list(host_keys), list(ca_keys), list(revoked)


def _parses(data: str) -> bool:
    try:
        asyncssh.import_public_key(data)
    except asyncssh.KeyImportError:
        try:
            asyncssh.import_certificate(data)
        except asyncssh.KeyImportError:
            return False
    return True


def malformed_lines(text: str) -> list[tuple[int, str]]:
    """(line number, what is wrong) of each line asyncssh would reject or skip.

    asyncssh skips a line whose key does not parse without a word, so a pin pasted
    short would look like no pin at all; here it is an error. X.509 lines are ignored
    on purpose (X.509 host certs are off), as comments and blank lines are.
    """
    bad = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        marked = line.startswith("@")
        fields = line[1:].split(None, 2) if marked else ["", *line.split(None, 1)]
        if len(fields) < 3:
            bad.append((number, "no key after the host names"))
            continue
        marker, hosts, data = fields
        if marked and marker not in ("cert-authority", "revoked"):
            bad.append((number, f"unknown marker {shown('@' + marker, 40)}"))
        elif not data.startswith("x509v3-") and not _parses(data):
            kind = shown(data.split()[0], 40)
            bad.append((number, f"the {kind} key for {shown(hosts, 60)} does not parse"))
    return bad


@dataclass(frozen=True)
class _Stamp:
    ino: int
    size: int
    mtime_ns: int
    ctime_ns: int


class KnownHosts:
    """A cached, read-only view of one known_hosts file.

    asyncssh raises the same ``HostKeyNotVerifiable`` for an unknown and for a
    changed key; :meth:`is_pinned` lets the caller tell the two apart.
    """

    def __init__(self, path: Path) -> None:
        self.path = path.expanduser()
        self._stamp: _Stamp | None = None
        self._parsed: asyncssh.SSHKnownHosts | None = None

    def current(self) -> asyncssh.SSHKnownHosts:
        """The parsed file, re-read if its inode, size, mtime or ctime changed.

        A missing file is an empty one. Raises ConfigError when the file
        cannot be read or has a malformed line.
        """
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            self._stamp, self._parsed = None, asyncssh.SSHKnownHosts()
            return self._parsed
        except OSError as exc:
            raise ConfigError(f"cannot read known_hosts {self.path}: {exc.strerror}") from None
        stamp = _Stamp(st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
        if stamp != self._stamp:
            try:
                text = self.path.read_text(encoding="utf-8")
                if bad := malformed_lines(text):
                    number, what = bad[0]
                    raise ConfigError(
                        f"known_hosts {self.path} line {number}: {what}; fix or delete that "
                        "line (a pin appended below it does not replace it)"
                    )
                parsed = asyncssh.import_known_hosts(text)
            except OSError as exc:
                raise ConfigError(
                    f"cannot read known_hosts {self.path}: {exc.strerror}; "
                    "fix its permissions or SSH_KNOWN_HOSTS"
                ) from None
            except ValueError as exc:  # a malformed line, or not UTF-8
                reason = str(exc).splitlines()[0][:200]
                raise ConfigError(
                    f"known_hosts {self.path} is invalid ({reason}); fix the file"
                ) from None
            self._parsed, self._stamp = parsed, stamp
        assert self._parsed is not None  # set together with the stamp
        return self._parsed

    def verifier(self) -> HostKeyLookup:
        """Refresh (see :meth:`current`) and return the ``known_hosts=`` lookup for asyncssh.

        The lookup matches host:port exactly over this snapshot, so it never
        touches the disk or raises inside asyncssh's handshake. ``addr``, the
        address ``host`` resolved to, is ignored: a name never borrows an
        address's pin.
        """
        snapshot = self.current()

        def lookup(host: str, addr: str, port: int | None) -> _Keys:
            return exact_match(snapshot, host, port)

        return lookup

    def is_pinned(self, host: str, port: int) -> bool:
        """True when a key (or CA) is pinned for exactly host:port, so a failure is a mismatch."""
        host_keys, ca_keys, _ = exact_match(self.current(), host, port)
        return bool(host_keys or ca_keys)

    def pinned_fingerprints(self, host: str, port: int) -> list[str]:
        """SHA256 fingerprints of the plain keys pinned for exactly host:port."""
        host_keys, _, _ = exact_match(self.current(), host, port)
        return [key.get_fingerprint("sha256") for key in host_keys]
