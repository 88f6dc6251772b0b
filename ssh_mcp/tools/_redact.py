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
   See :func:`secret_label` for which names count.
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

#: Per-process key: markers are comparable within one server run, never across runs.
PROCESS_KEY = secrets.token_bytes(32)
MARKER_PREFIX = "[REDACTED:hmac-sha256:"
_MARKER = re.compile(r"\[REDACTED:hmac-sha256:[0-9a-f]{12}\]")


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


# -- key names -----------------------------------------------------------------------

#: Matched inside the key with separators removed (``db_password``, ``dbPassword``, ``apiKey``).
#: First match names the kind, so the specific names come first.
_SUBSTRINGS = (
    ("clientsecret", "client_secret"), ("privatekey", "private_key"), ("apikey", "api_key"),
    ("password", "password"), ("passwd", "password"), ("secret", "secret"),
    ("accesskey", "access_key"), ("connectionstring", "connection_string"),
    ("credential", "credential"), ("authorization", "auth"),
)  # fmt: skip
#: Short or ambiguous words: a word of the key must end with one, so ``author``,
#: ``tokenizer`` and ``sessions_dir`` stay plain while ``oauth``, ``authtoken`` and
#: ``sentry_dsn`` do not.
_WORDS = (
    (("token", "tokens"), "token"), (("pwd",), "password"), (("dsn",), "dsn"),
    (("auth",), "auth"), (("session", "sessions"), "session"), (("cookie", "cookies"), "cookie"),
)  # fmt: skip
#: A key whose last word is (or ends with) one of these describes a secret without
#: holding one: ``password_min_length``, ``token_count``, ``session_timeout``, ``keyfile``.
_DESCRIPTIVE_WORDS = {
    "age", "ttl", "dir", "url", "uri", "host", "port", "type", "mode", "min", "max", "len",
    "user", "size", "enable", "disable", "require", "expire", "expires",
}  # fmt: skip
_DESCRIPTIVE_ENDINGS = (
    "count", "length", "timeout", "lifetime", "expiry", "expiration", "duration", "interval",
    "name", "file", "path", "directory", "endpoint", "method", "driver", "handler", "backend",
    "store", "engine", "provider", "enabled", "disabled", "required", "policy", "rounds",
    "iterations", "algorithm", "format", "header", "prefix", "domain", "samesite", "secure",
    "httponly", "limit", "version", "strength", "hint", "label", "description",
)  # fmt: skip
#: ``max_tokens``, ``min_password_length``: limits, not secrets.
_DESCRIPTIVE_FIRST = {"max", "min", "num"}
#: The shell's working directories, not passwords.
_NOT_SECRET_KEYS = {"pwd", "oldpwd"}


def _words(key: str) -> list[str]:
    words: list[str] = []
    for part in re.split(r"[^A-Za-z0-9]+", key):
        words += re.findall(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+", part)
    return [w.lower() for w in words]


def secret_label(key: str) -> str | None:
    """``password``, ``token``, … when ``key`` names a secret, else None.

    Case-insensitive; a key whose last word is descriptive (``_DESCRIPTIVE_*``)
    names a setting about a secret, not a secret, and is left alone.
    """
    words = _words(key)
    joined, last = "".join(words), words[-1] if words else ""
    if not words or joined in _NOT_SECRET_KEYS:
        return None
    if words[0] in _DESCRIPTIVE_FIRST or last in _DESCRIPTIVE_WORDS:
        return None
    if last.endswith(_DESCRIPTIVE_ENDINGS):
        return None
    for needle, label in _SUBSTRINGS:
        if needle in joined:
            return label
    for ends, label in _WORDS:
        if any(w.endswith(ends) for w in words):
            return label
    return None


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


# -- pass 2: key = value ---------------------------------------------------------------

_PAIR = re.compile(
    r"(?:^|(?<=[\s{,\[;(]))(?P<dash>--?)?"
    r"(?P<key>\"[^\"\n]{1,128}\"|'[^'\n]{1,128}'|\$?[A-Za-z_][\w.\-]{0,127})"
    r"(?P<sep>\s*(?:=>|:=|=|:(?=\s|$|[\"'])|(?<=[\"']):)[ \t]*)"
)
_QUERY = re.compile(r"(?<=[?&])(?P<key>[A-Za-z_][\w.\-]{0,127})=(?P<value>[^&#\s\"'<>]+)")
_BLOCK_SCALAR = re.compile(r"[|>][+-]?[0-9]?[+-]?")
_COMPACT_END = re.compile(r"[\s,}\]\"']")
_COMMENT = re.compile(r"\s#")
_PLAIN = {"", "true", "false", "yes", "no", "on", "off", "null", "none", "nil", "~"}
_REFERENCE = re.compile(r"\$\{[^}]*\}|\{\{[^}]*\}\}")


def _keep(value: str, quoted: bool) -> bool:
    """Values that are not secrets: empty, booleans, null, ${VAR} and {{ var }} references."""
    if _MARKER.search(value) or _REFERENCE.fullmatch(value.strip()):
        return True
    return value.strip() == "" if quoted else value.strip().lower() in _PLAIN


def _close(line: str, start: int, quote: str) -> int:
    """Index of the ``quote`` that closes a string opened before ``start``, or -1."""
    i = start
    while i < len(line):
        c = line[i]
        if quote == '"' and c == "\\":
            i += 2
            continue
        if c == quote:
            if quote == "'" and line.startswith("''", i):  # YAML's escaped quote
                i += 2
                continue
            return i
        i += 1
    return -1


@dataclass
class _Pending:
    """A secret value that goes on past its line: a YAML block scalar or an open quote."""

    label: str
    quote: str = ""  # empty for a block scalar
    indent: int = 0
    parts: list[str] = field(default_factory=list)

    def takes(self, line: str) -> bool:  # blank, or indented deeper than the key
        return not line.strip() or len(line) - len(line.lstrip(" ")) > self.indent

    def flush(self, sink: _Sink) -> str:
        if self.quote:
            return sink("".join(self.parts), f"key:{self.label}")
        lines, tail = list(self.parts), list[str]()
        while lines and not lines[-1].strip():
            tail.insert(0, lines.pop())  # trailing blank lines are layout, not secret
        body = "".join(lines)
        if _keep(body, True):
            return body + "".join(tail)
        pad = lines[0][: len(lines[0]) - len(lines[0].lstrip(" "))]
        newline = "\n" if body.endswith("\n") else ""
        return f"{pad}{sink(body, f'key:{self.label}')}{newline}" + "".join(tail)


def _plain_end(line: str, start: int, compact: bool) -> int:
    """Where an unquoted value ends: at a delimiter in JSON, flow mappings and ``--flag=v``;
    else at the end of the line or a `` #`` comment, so a value with spaces is never cut."""
    if compact:
        m = _COMPACT_END.search(line, start)
        return m.start() if m else len(line)
    end = len(line.rstrip("\r\n"))
    comment = _COMMENT.search(line, start, end)
    return len(line[: comment.start() if comment else end].rstrip())


def _pairs_in_line(line: str, sink: _Sink) -> tuple[str, _Pending | None]:
    out, pos, done = [], 0, 0
    while (m := _PAIR.search(line, pos)) is not None:
        pos, start = m.end(), m.end()  # a plain key's value may hold pairs of its own
        raw_key = m.group("key")
        label = secret_label(raw_key.strip("\"'").lstrip("$"))
        if label is None or start >= len(line) or line[start] in "{[\r\n":
            continue
        c = line[start]
        if c in "\"'":
            close = _close(line, start + 1, c)
            if close < 0:
                out.append(line[done : start + 1])
                return "".join(out), _Pending(label, quote=c, parts=[line[start + 1 :]])
            vstart, vend, quoted = start + 1, close, True
        else:
            i = m.start()
            while i > 0 and line[i - 1] in " \t":
                i -= 1
            compact = line[i - 1 : i] in ("{", ",", "[") or raw_key[0] in "\"'"
            vstart, quoted = start, False
            vend = _plain_end(line, start, compact or m.group("dash") is not None)
            if _BLOCK_SCALAR.fullmatch(line[vstart:vend]) and not line[vend:].strip():
                out.append(line[done:])
                return "".join(out), _Pending(label, indent=len(line) - len(line.lstrip(" ")))
        value = line[vstart:vend]
        if _keep(value, quoted):
            continue
        out += [line[done:vstart], sink(value, f"key:{label}")]
        done = pos = vend
    out.append(line[done:])
    return "".join(out), None


def _pairs(text: str, sink: _Sink) -> str:
    out: list[str] = []
    pending: _Pending | None = None
    for line in text.splitlines(keepends=True):
        if pending is not None and not pending.quote:
            if pending.takes(line):
                pending.parts.append(line)
                continue
            out.append(pending.flush(sink))
            pending = None
        elif pending is not None:
            close = _close(line, 0, pending.quote)
            if close < 0:
                pending.parts.append(line)
                continue
            pending.parts.append(line[:close])
            out += [pending.flush(sink), pending.quote]
            line, pending = line[close + 1 :], None
        new, pending = _pairs_in_line(line, sink)
        out.append(new)
    if pending is not None:
        out.append(pending.flush(sink))
    return "".join(out)


def _query(text: str, sink: _Sink) -> str:
    def sub(m: re.Match[str]) -> str:
        label, value = secret_label(m.group("key")), m.group("value")
        if label is None or _keep(value, False):
            return m.group(0)
        return f"{m.group('key')}={sink(value, f'key:{label}')}"

    return _QUERY.sub(sub, text)


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
        if _keep(pw, True):
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
    for step in (_pem, _pairs, _query, _url, _tokens, *([_entropy] if entropy else [])):
        text = step(text, sink)
    return Redaction(text, sink.count, tuple(sink.kinds))
