"""The OAuth settings check, the scope rule, and the JWT verifier's refusals.

The verifier cases here use a JWKS the test controls (served over real HTTP on
127.0.0.1) ONLY for what a real issuer will not produce on request: a future `nbf`, an
HMAC-signed token, a key rotation. Valid tokens and the whole HTTP path are tested
against a real authorization server in test_oauth.py."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from fakes import fake_app
from mcp.server.auth.provider import AccessToken

from ssh_mcp.config.settings import Settings
from ssh_mcp.errors import ConfigError
from ssh_mcp.mcp import oauth
from ssh_mcp.mcp.auth import Principal
from ssh_mcp.mcp.http import http_options
from ssh_mcp.policy.scope import Scope, group_in_scope, host_in_scope, tier_in_scope

ISSUER = "https://id.example"
AUDIENCE = "https://mcp.example/mcp"


class Jwks:
    """A JWKS over HTTP whose keys the test swaps, counting the fetches."""

    def __init__(self) -> None:
        self.keys: dict[str, rsa.RSAPrivateKey] = {}
        self.fetches = 0
        jwks = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                jwks.fetches += 1
                body = json.dumps({"keys": [jwks.public(kid) for kid in jwks.keys]}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/jwks"

    def public(self, kid: str) -> dict[str, Any]:
        jwk: dict[str, Any] = json.loads(
            jwt.algorithms.RSAAlgorithm.to_jwk(self.keys[kid].public_key())
        )
        return jwk | {"kid": kid, "use": "sig", "alg": "RS256"}

    def add(self, kid: str) -> None:
        self.keys[kid] = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    def token(self, kid: str, **claims: Any) -> str:
        now = int(time.time())
        body = {"iss": ISSUER, "aud": AUDIENCE, "sub": "alice", "iat": now, "exp": now + 300}
        return jwt.encode(body | claims, self.keys[kid], algorithm="RS256", headers={"kid": kid})


@pytest.fixture
def jwks() -> Iterator[Jwks]:
    served = Jwks()
    thread = threading.Thread(target=served.server.serve_forever, daemon=True)
    thread.start()
    try:
        yield served
    finally:
        served.server.shutdown()
        served.server.server_close()
        thread.join()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _hs256(claims: dict[str, Any], jwks: Jwks) -> str:
    header = _b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": "k1"}).encode())
    signing = f"{header}.{_b64(json.dumps(claims).encode())}"
    key = json.dumps(jwks.public("k1")).encode()
    return f"{signing}.{_b64(hmac.new(key, signing.encode(), hashlib.sha256).digest())}"


def _verifier(jwks: Jwks) -> oauth.JwtVerifier:
    return oauth.JwtVerifier(oauth.OAuthOptions(ISSUER, AUDIENCE, jwks.url))


@pytest.mark.anyio
async def test_the_verifier_checks_signature_claims_and_algorithm(jwks: Jwks) -> None:
    jwks.add("k1")
    verify = _verifier(jwks).verify_token
    good = await verify(jwks.token("k1", scope="ssh:read ssh:host:web*"))
    assert (
        good is not None
        and good.subject == "alice"
        and good.scopes == ["ssh:read", "ssh:host:web*"]
    )
    now = int(time.time())
    for bad in (
        jwks.token("k1", nbf=now + 600),  # not yet valid
        jwks.token("k1", exp=now - 600),
        jwks.token("k1", aud="https://other.example/mcp"),
        jwks.token("k1", iss="https://evil.example"),
    ):
        assert await verify(bad) is None
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    forged = jwt.encode(
        {"iss": ISSUER, "aud": AUDIENCE, "exp": now + 60}, other, "RS256", {"kid": "k1"}
    )
    assert await verify(forged) is None
    # Algorithm confusion: an HMAC token keyed with the public JWK's bytes, built by hand
    # (pyjwt itself refuses to sign one).
    assert await verify(_hs256({"iss": ISSUER, "aud": AUDIENCE, "exp": now + 60}, jwks)) is None


@pytest.mark.anyio
async def test_an_unknown_kid_refetches_the_jwks_but_not_too_often(
    jwks: Jwks, monkeypatch: pytest.MonkeyPatch
) -> None:
    jwks.add("k1")
    verify = _verifier(jwks).verify_token
    assert await verify(jwks.token("k1")) is not None
    assert await verify(jwks.token("k1")) is not None
    assert jwks.fetches == 1  # cached
    jwks.add("k2")  # the issuer rotates its key
    assert await verify(jwks.token("k2")) is None  # within JWKS_MIN_GAP of the last fetch
    assert jwks.fetches == 1
    monkeypatch.setattr(oauth, "JWKS_MIN_GAP", 0.0)
    assert await verify(jwks.token("k2")) is not None
    assert jwks.fetches == 2


def test_scopes_map_to_a_principal() -> None:
    scopes = ["openid", "ssh:read", "ssh:sudo", "ssh:group:exec", "ssh:host:web*", "ssh:bogus"]
    who = oauth.principal(AccessToken(token="t", client_id="agent", scopes=scopes, subject="bob"))
    assert who.name == "bob"
    assert who.scope == Scope(("web*",), frozenset({"read", "sudo"}), frozenset({"exec"}))
    assert host_in_scope(who.scope, "web1") and not host_in_scope(who.scope, "db1")
    assert not tier_in_scope(who.scope, "dangerous")
    bare = oauth.principal(AccessToken(token="t", client_id="agent", scopes=[]))
    # No tier scope grants no tier; no group or host scope narrows nothing there.
    assert bare == Principal("agent", Scope(tiers=frozenset()))
    assert host_in_scope(bare.scope, "anything") and group_in_scope(bare.scope, "sudo")


def test_without_a_read_scope_no_read_tool_is_visible(tmp_path: Path) -> None:
    """No flag closes the read tier, so App.scoped applies a scope's tiers to the tools."""
    app, _ = fake_app(tmp_path, {}, allow_low_access_tools=True)
    token = AccessToken(token="t", client_id="agent", scopes=["ssh:low-access"])
    who = oauth.principal(token)
    view = app.scoped(who.scope, who.name)
    tiers = {t.tier.value for t in view.visible_tools()}
    assert tiers == {"low-access"}, tiers
    assert {t.tier.value for t in app.visible_tools()} == {"read", "low-access"}
    assert view.facts().open_tiers == ("low-access",)  # ssh-mcp://server-info says so too


@pytest.mark.parametrize(
    ("values", "says"),
    [
        ({"ssh_oauth_issuer": ISSUER}, "SSH_OAUTH_AUDIENCE, SSH_OAUTH_JWKS_URL"),
        (
            {
                "ssh_oauth_issuer": ISSUER,
                "ssh_oauth_audience": AUDIENCE,
                "ssh_oauth_jwks_url": "jwks",
            },
            "SSH_OAUTH_JWKS_URL must be an http(s) URL",
        ),
        (
            {
                "ssh_oauth_issuer": ISSUER,
                "ssh_oauth_audience": AUDIENCE,
                "ssh_oauth_jwks_url": ISSUER + "/jwks",
                "ssh_http_token_cmd": ["echo", "x" * 32],
            },
            "SSH_HTTP_TOKEN_CMD and SSH_OAUTH_* are both set",
        ),
    ],
)
def test_oauth_settings_are_checked(values: dict[str, Any], says: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(says)):
        http_options(Settings(_env_file=None, **values))


def test_oauth_replaces_the_token_command() -> None:
    settings = Settings(
        _env_file=None,
        ssh_oauth_issuer=ISSUER,
        ssh_oauth_audience=AUDIENCE,
        ssh_oauth_jwks_url=ISSUER + "/jwks",
    )
    options = http_options(settings)
    assert options.oauth == oauth.OAuthOptions(ISSUER, AUDIENCE, ISSUER + "/jwks")
    assert options.token is None
