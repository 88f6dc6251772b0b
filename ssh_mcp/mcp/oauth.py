"""The OAuth 2.1 resource server: JWT access tokens from the operator's own issuer.

The SDK builds the RFC 9728 metadata routes and the metadata URL a 401's
``WWW-Authenticate`` names; what is here: checking a JWT against the issuer's JWKS
(signature, ``iss``, ``aud``, ``exp``, ``nbf``) and turning its scopes into a
:class:`~ssh_mcp.mcp.auth.Principal`, as one more :class:`~ssh_mcp.mcp.auth.Authenticator`
beside the token file's (DECISIONS.md 66).
"""

from __future__ import annotations

import json
import logging
import time
import urllib.request
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import anyio
from mcp.server.auth.provider import AccessToken
from mcp.server.auth.routes import build_resource_metadata_url, create_protected_resource_routes
from mcp.server.auth.settings import AuthSettings
from starlette.routing import Route

from ssh_mcp.config.settings import Settings
from ssh_mcp.errors import ConfigError
from ssh_mcp.mcp.auth import Principal
from ssh_mcp.policy.scope import GROUPS, TIERS, Scope

if TYPE_CHECKING:  # PyJWT and its cryptography load only when OAuth is on (DECISIONS.md 82)
    import jwt

log = logging.getLogger(__name__)

#: Asymmetric algorithms only: an ``HS*`` or ``none`` token is never accepted.
ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA")
#: Keys are refetched this often, and on an unknown ``kid`` at most once per JWKS_MIN_GAP.
JWKS_MAX_AGE = 3600.0
JWKS_MIN_GAP = 30.0
JWKS_TIMEOUT = 10.0
#: Seconds of clock skew allowed on ``exp`` and ``nbf``.
LEEWAY = 5
SCOPE_PREFIX = "ssh:"


@dataclass(frozen=True)
class OAuthOptions:
    issuer: str
    audience: str
    jwks_url: str

    def auth_settings(self) -> AuthSettings:
        # Validated from strings: the model keeps an empty path empty, so the metadata names
        # the issuer exactly as its tokens do (RFC 8414 compares issuers as strings).
        return AuthSettings.model_validate(
            {"issuer_url": self.issuer, "resource_server_url": self.audience}
        )


def oauth_options(settings: Settings) -> OAuthOptions | None:
    """The OAuth settings, all three or none; raises a one-line ConfigError."""
    values = {
        "SSH_OAUTH_ISSUER": settings.ssh_oauth_issuer,
        "SSH_OAUTH_AUDIENCE": settings.ssh_oauth_audience,
        "SSH_OAUTH_JWKS_URL": settings.ssh_oauth_jwks_url,
    }
    missing = [k for k, v in values.items() if not v]
    if len(missing) == len(values):
        return None
    if missing:
        raise ConfigError(f"OAuth needs all three of its settings: set {', '.join(missing)}")
    for name, value in values.items():
        if not str(value).startswith(("https://", "http://")):
            raise ConfigError(f"{name} must be an http(s) URL, not {value!r}")
    issuer, audience, jwks = (str(v) for v in values.values())
    return OAuthOptions(issuer, audience, jwks)


def metadata_routes(options: OAuthOptions) -> list[Route]:
    """The SDK's RFC 9728 document at the well-known URL suffixed with the resource's path
    (``/.well-known/oauth-protected-resource/mcp``), which the 401 names, and at the bare
    well-known URL too, for clients that look there first. Both are open (no token)."""
    settings = options.auth_settings()  # its URLs keep an empty path empty (RFC 8414)
    assert settings.resource_server_url is not None
    routes = create_protected_resource_routes(settings.resource_server_url, [settings.issuer_url])
    bare = "/.well-known/oauth-protected-resource"
    extra = [Route(bare, r.endpoint, methods=["GET", "OPTIONS"]) for r in routes if r.path != bare]
    return [*routes, *extra]


def challenge(options: OAuthOptions) -> str:
    """The ``WWW-Authenticate`` of a 401: where the client learns which issuer to ask."""
    settings = options.auth_settings()
    assert settings.resource_server_url is not None
    url = build_resource_metadata_url(settings.resource_server_url)
    return f'Bearer error="invalid_token", resource_metadata="{url}"'


def principal(token: AccessToken) -> Principal:
    """The documented rule (CONFIGURATION.md, "OAuth scopes"): ``ssh:<tier>`` grants that
    tier and only that one (no tier scope: no tools); ``ssh:group:<g>`` and
    ``ssh:host:<glob>`` narrow to the groups and host aliases named, and without any of
    them nothing is narrowed on that axis. Other scopes are ignored. All of it inside what
    the server's own flags open (policy/scope.py)."""
    tiers: set[str] = set()
    groups: set[str] = set()
    hosts: list[str] = []
    for scope in token.scopes:
        rest = scope.removeprefix(SCOPE_PREFIX)
        if rest == scope:
            continue
        kind, _, value = rest.partition(":")
        if rest in TIERS:
            tiers.add(rest)
        elif kind == "group" and value in GROUPS:
            groups.add(value)
        elif kind == "host" and value:
            hosts.append(value)
    reach = Scope(
        hosts=tuple(hosts) if hosts else None,
        tiers=frozenset(tiers),
        groups=frozenset(groups) or None,
    )
    return Principal(token.subject or token.client_id, reach)


class JwksCache:
    """The issuer's signing keys by ``kid``: fetched when first needed, again after
    JWKS_MAX_AGE, and when a token names an unknown ``kid`` (a key rotation), but then
    no more often than JWKS_MIN_GAP, so that junk tokens cannot hammer the issuer."""

    def __init__(self, url: str) -> None:
        self._url = url
        self._keys: dict[str, jwt.PyJWK] = {}
        self._fetched = float("-inf")
        self._lock = anyio.Lock()

    def _download(self) -> dict[str, jwt.PyJWK]:
        import jwt

        # The scheme is http(s): oauth_options checked it.
        headers = {"Accept": "application/json"}
        request = urllib.request.Request(self._url, headers=headers)  # noqa: S310
        with urllib.request.urlopen(request, timeout=JWKS_TIMEOUT) as reply:  # noqa: S310
            data = json.loads(reply.read(1 << 20))
        keys = jwt.PyJWKSet.from_dict(data).keys
        return {str(k.key_id): k for k in keys if k.public_key_use in (None, "sig")}

    async def key(self, kid: str) -> jwt.PyJWK | None:
        import jwt

        async with self._lock:
            age = time.monotonic() - self._fetched
            if age > JWKS_MAX_AGE or (kid not in self._keys and age > JWKS_MIN_GAP):
                try:
                    self._keys = await anyio.to_thread.run_sync(self._download)
                except (OSError, ValueError, jwt.PyJWTError) as exc:
                    log.warning("cannot fetch the OAuth JWKS from %s: %s", self._url, exc)
                self._fetched = time.monotonic()
            return self._keys.get(kid)


class JwtVerifier:
    """The SDK's ``TokenVerifier``: a JWT access token checked against the JWKS, or None."""

    def __init__(self, options: OAuthOptions) -> None:
        self._options = options
        self._jwks = JwksCache(options.jwks_url)

    async def verify_token(self, token: str) -> AccessToken | None:
        import jwt

        try:
            header = jwt.get_unverified_header(token)
            key = await self._jwks.key(str(header.get("kid", "")))
            if key is None:
                log.info("OAuth token refused: unknown signing key")
                return None
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=list(ALGORITHMS),
                audience=self._options.audience,
                issuer=self._options.issuer,
                leeway=LEEWAY,
                options={"require": ["exp", "iss", "aud"]},
            )
        except jwt.PyJWTError as exc:
            log.info("OAuth token refused: %s", exc)
            return None
        scope = claims.get("scope", "")
        client_id = str(claims.get("client_id") or claims.get("azp") or claims.get("sub") or "")
        return AccessToken(
            token=token,
            client_id=client_id,
            scopes=scope.split() if isinstance(scope, str) else [],
            # pyjwt checked exp with the leeway; this is when the token stops working.
            expires_at=int(claims["exp"]) + LEEWAY,
            resource=self._options.audience,  # aud was checked above
            subject=str(claims["sub"]) if claims.get("sub") else None,
            claims={"iss": claims["iss"]},
        )


class OAuthAuth:
    """The :class:`~ssh_mcp.mcp.auth.Authenticator` for JWT access tokens."""

    def __init__(self, options: OAuthOptions) -> None:
        self._verifier = JwtVerifier(options)

    async def authenticate(self, credential: bytes) -> Principal | None:
        if credential.count(b".") != 2:  # not a JWT: another authenticator's token
            return None
        token = await self._verifier.verify_token(credential.decode("ascii", "replace"))
        return principal(token) if token is not None else None
