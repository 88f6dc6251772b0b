"""A real OAuth authorization server for the OAuth tests: the npm package ``oidc-provider``
(a certified OpenID provider) run by node on 127.0.0.1 from ``oidc/provider.mjs``.

The package is installed once into a cache directory outside the checkout, keyed by its
version; an install goes to a scratch directory first and is renamed into place, so that
concurrent test runs never see half of one.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx2

#: The newest release that runs on Debian 12's node 18 (9.x calls crypto.hash: node 20.12+).
VERSION = "8.8.1"
SCRIPT = Path(__file__).parent / "oidc" / "provider.mjs"


def module_dir() -> Path:
    """The cache directory holding oidc-provider VERSION, installed with npm when missing."""
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    target = cache / "ssh-mcp-test" / f"oidc-provider-{VERSION}"
    if (target / "node_modules" / "oidc-provider" / "package.json").is_file():
        return target
    npm = shutil.which("npm")
    assert npm, "the OAuth tests need node and npm (apt-get install nodejs npm)"
    target.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix="oidc-install.", dir=target.parent))
    (scratch / "package.json").write_text('{"name": "ssh-mcp-test-oidc", "private": true}\n')
    subprocess.run(
        [npm, "install", "--no-audit", "--no-fund", "--silent", f"oidc-provider@{VERSION}"],
        cwd=scratch,
        check=True,
        stdin=subprocess.DEVNULL,
        timeout=300,
    )
    try:
        scratch.rename(target)
    except OSError:  # another run installed it first
        shutil.rmtree(scratch, ignore_errors=True)
    return target


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass(frozen=True)
class OAuthClient:
    client_id: str
    scope: str
    ttl: int = 600  # the access token's life, in seconds
    secret: str = field(default_factory=lambda: secrets.token_urlsafe(24), repr=False)


@dataclass
class Provider:
    issuer: str
    clients: dict[str, OAuthClient]

    @property
    def jwks_url(self) -> str:
        return f"{self.issuer}/jwks"

    def token(self, client_id: str, resource: str, scope: str | None = None) -> str:
        """An access token from the client-credentials grant, for ``resource``."""
        client = self.clients[client_id]
        reply = httpx2.post(
            f"{self.issuer}/token",
            data={
                "grant_type": "client_credentials",
                "scope": client.scope if scope is None else scope,
                "resource": resource,
            },
            auth=(client.client_id, client.secret),
            timeout=10,
        )
        assert reply.status_code == 200, reply.text
        token: str = reply.json()["access_token"]
        return token


@contextmanager
def provider(clients: list[OAuthClient], log: Path) -> Iterator[Provider]:
    """Run oidc-provider with ``clients`` until the block ends; stopped by its PID."""
    node = shutil.which("node")
    assert node, "the OAuth tests need node (apt-get install nodejs npm)"
    port = free_port()
    spec = [
        {"client_id": c.client_id, "client_secret": c.secret, "scope": c.scope, "ttl": c.ttl}
        for c in clients
    ]
    argv = [node, str(SCRIPT), str(module_dir()), str(port), json.dumps(spec)]
    with log.open("wb") as out:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=out)
    try:
        issuer = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            assert proc.poll() is None, log.read_text()
            try:
                if httpx2.get(f"{issuer}/.well-known/openid-configuration").status_code == 200:
                    break
            except httpx2.TransportError:
                pass
            assert time.monotonic() < deadline, "oidc-provider did not come up within 30 s"
            time.sleep(0.05)  # polling the port: nothing announces that it listens
        yield Provider(issuer, {c.client_id: c for c in clients})
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
