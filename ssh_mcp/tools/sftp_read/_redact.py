"""Secret redaction for text config files: pure functions, no I/O.

A secret becomes ``[REDACTED:hmac-sha256:<12 hex>]``, a keyed HMAC of it:
equal secrets get equal markers, so a model can tell two values are equal
without seeing either. The default key is random per process: markers are
stable within one server run only.

Passes, in order (each skips what an earlier one replaced):

1. ``pem``: whole ``-----BEGIN … PRIVATE KEY-----`` blocks, to their END line
   (an unterminated block to the end of the text); base64-wrapped PEM
   (kubeconfig ``client-key-data: LS0t…``) when it decodes to a private key.
   Certificates and public keys are left alone.
2. ``key:<name>``: the value of a key whose name says secret, in ``KEY=v``,
   ``export KEY=v``, ``KEY: v``, ``"key": "v"``, ``key = "v"``, ``--key=v``
   and ``?key=v`` (URL query) forms. Quotes and the key are kept; YAML block
   scalars (``key: |``) and quoted values spanning lines become one marker.
   The forms are :mod:`ssh_mcp.tools.sftp_read._redact_pairs`; which names count is
   :func:`ssh_mcp.tools.sftp_read._secret_keys.secret_label`.
3. ``url-password``: the password of ``scheme://user:PASSWORD@host``.
4. ``token:<kind>``: AWS, GitHub, Slack, JWT, Google and Stripe token shapes.
5. ``entropy``: conservatively, a free-standing run of >= 32 base64/base64url
   characters that mixes upper case, lower case and digits, has Shannon
   entropy >= 4.0 bits/char and is not made of words (identifiers). Hex is
   never flagged (checksums, digests, commit ids, UUIDs), nor anything after
   ``sha256-``/``sha512:``/``h1:``/``zh:`` or on a line that mentions
   integrity, checksum, shasum, digest or hash (lockfiles), nor SSH public
   key blobs (``AAAA…``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import math
import re
import secrets
from collections import Counter
from dataclasses import dataclass, field

from ssh_mcp.tools.sftp_read._redact_pairs import keep, pairs, query
from ssh_mcp.tools.sftp_read._secret_keys import secret_label as secret_label  # public here too

#: Per-process key: markers are comparable within one server run, never across runs.
PROCESS_KEY = secrets.token_bytes(32)
MARKER_PREFIX = "[REDACTED:hmac-sha256:"


@dataclass(frozen=True)
class Redaction:
    """The redacted text, how many secrets were replaced and their distinct kinds."""

    text: str
    count: int
    kinds: tuple[str, ...]


def marker(secret: str, key: bytes = PROCESS_KEY) -> str:
    digest = hmac.new(key, secret.encode("utf-8", "surrogatepass"), hashlib.sha256).hexdigest()
    return f"{MARKER_PREFIX}{digest[:12]}]"


@dataclass
class _Sink:  # makes markers, counting what it replaced
    key: bytes
    count: int = 0
    kinds: dict[str, None] = field(default_factory=dict)

    def __call__(self, secret: str, kind: str) -> str:
        self.count += 1
        self.kinds[kind] = None
        return marker(secret, self.key)


# -- pass 1: PEM ---------------------------------------------------------------------

_PEM = re.compile(
    r"-----BEGIN (?P<what>[A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?)-----"
    r".*?(?:-----END (?P=what)-----|\Z)",
    re.DOTALL,
)
_B64_PEM = re.compile(r"LS0tLS1CRUdJTi[A-Za-z0-9+/]*={0,2}")  # base64 of "-----BEGIN"


def _pem(text: str, sink: _Sink) -> str:
    text = _PEM.sub(lambda m: sink(m.group(0), "pem"), text)

    def wrapped(m: re.Match[str]) -> str:
        blob = m.group(0)
        try:
            decoded = base64.b64decode(blob + "=" * (-len(blob) % 4))
        except ValueError:  # binascii.Error is one
            return blob
        return sink(blob, "pem") if b"PRIVATE KEY" in decoded else blob

    return _B64_PEM.sub(wrapped, text)


# -- passes 3-5: URLs, token shapes, entropy ---------------------------------------------

_URL = re.compile(r"(?P<head>\b[A-Za-z][A-Za-z0-9+.\-]*://[^:/?#@\s\"']*:)(?P<pw>[^\s/?#\"']+)@")
_TOKENS = (
    ("aws", re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b")),
    ("github", re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{22,})")),
    ("slack", re.compile(r"\bxox[abpr]-[A-Za-z0-9-]{10,}")),
    ("jwt", re.compile(r"\beyJ[A-Za-z0-9_-]{5,}\.eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*")),
    ("google", re.compile(r"\bAIza[0-9A-Za-z_-]{35}(?![0-9A-Za-z_-])")),
    ("stripe", re.compile(r"\b[rs]k_live_[0-9A-Za-z]{16,}")),
)
_CANDIDATE = re.compile(r"(?<![\w+/.\-])[A-Za-z0-9+/_-]{32,}={0,2}(?![\w+/.\-])")
_PUBLIC_PEM = re.compile(r"-----BEGIN [A-Z0-9 ]+-----.*?-----END [A-Z0-9 ]+-----", re.DOTALL)
_LOCKFILE_LINE = re.compile(r"integrity|checksum|shasum|digest|hash", re.IGNORECASE)
_HASH_PREFIX = re.compile(r"(?:sha[0-9]{0,3}|md5|h1|zh)[-:=]$", re.IGNORECASE)
_WORDISH = re.compile(r"[a-z]{4,}|[A-Z][a-z]{3,}")
#: Bits per character a random 32-char base64 string falls below less than 1% of the time.
ENTROPY_MIN = 4.0


def _url(text: str, sink: _Sink) -> str:
    def sub(m: re.Match[str]) -> str:
        pw = m.group("pw")
        if keep(pw, True):
            return m.group(0)
        return f"{m.group('head')}{sink(pw, 'url-password')}@"

    return _URL.sub(sub, text)


def _tokens(text: str, sink: _Sink) -> str:
    for name, pattern in _TOKENS:
        kind = f"token:{name}"
        text = pattern.sub(lambda m: sink(m.group(0), kind), text)  # noqa: B023 - used at once
    return text


def shannon(s: str) -> float:
    """Shannon entropy of ``s`` in bits per character."""
    n = len(s)
    return -sum(c / n * math.log2(c / n) for c in Counter(s).values()) if n else 0.0


def looks_random(token: str) -> bool:
    """True for a high-entropy base64/base64url string of >= 32 chars; see the module doc."""
    body = token.rstrip("=")
    if len(body) < 32 or re.fullmatch(r"[0-9a-fA-F-]+", body):
        return False  # short, or hex: digests, commit ids, UUIDs
    if body.startswith(("AAAA", "LS0tLS1CRUdJTi")):
        return False  # an SSH public key blob; a base64 certificate (private ones are gone)
    if re.match(r"(?:sha[0-9]{1,3}|md5)-", body, re.IGNORECASE) or body.count("/") > 2:
        return False  # an SRI digest (sha512-…) as in lockfiles, or a path
    if re.search(r"[+/]", body) and re.search(r"[_-]", body):
        return False  # two alphabets at once: a path or a name, not base64
    if not (re.search(r"[A-Z]", body) and re.search(r"[a-z]", body) and re.search(r"\d", body)):
        return False
    if sum(len(w) for w in _WORDISH.findall(body)) / len(body) >= 0.4:
        return False  # mostly words: an identifier such as AbstractSingletonProxyFactory2
    return shannon(body) >= ENTROPY_MIN


def _entropy_lines(text: str, sink: _Sink) -> str:
    out = []
    for line in text.splitlines(keepends=True):
        if _LOCKFILE_LINE.search(line):  # once per line: per match would be quadratic
            out.append(line)
            continue

        def sub(m: re.Match[str], line: str = line) -> str:
            token = m.group(0)
            if _HASH_PREFIX.search(line, max(0, m.start() - 8), m.start()):
                return token
            return sink(token, "entropy") if looks_random(token) else token

        out.append(_CANDIDATE.sub(sub, line))
    return "".join(out)


def _entropy(text: str, sink: _Sink) -> str:
    """Entropy pass outside certificates and public keys (their base64 is public)."""
    out, done = [], 0
    for m in _PUBLIC_PEM.finditer(text):
        out += [_entropy_lines(text[done : m.start()], sink), m.group(0)]
        done = m.end()
    out.append(_entropy_lines(text[done:], sink))
    return "".join(out)


def redact(text: str, key: bytes = PROCESS_KEY, *, entropy: bool = True) -> Redaction:
    """``text`` with every secret found replaced by its marker (see the module doc)."""
    sink = _Sink(key)
    for step in (_pem, pairs, query, _url, _tokens, *([_entropy] if entropy else [])):
        text = step(text, sink)
    return Redaction(text, sink.count, tuple(sink.kinds))
