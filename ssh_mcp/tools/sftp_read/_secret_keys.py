"""Which key names hold secrets, for :mod:`ssh_mcp.tools.sftp_read._redact`: pure, no I/O.

A name counts when it contains a secret word (``db_password``, ``apiKey``) or a
word of it ends with a short one (``authToken``, ``sentry_dsn``), unless it
describes a secret rather than holding one (``password_min_length``,
``token_count``, ``keyfile``).
"""

from __future__ import annotations

import re

#: Matched inside the key with separators removed (``db_password``, ``dbPassword``, ``apiKey``).
#: First match names the kind, so the specific names come first.
_SUBSTRINGS = (
    ("clientsecret", "client_secret"), ("privatekey", "private_key"), ("apikey", "api_key"),
    ("password", "password"), ("passwd", "password"), ("passphrase", "password"),
    ("secret", "secret"),
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
#: Abbreviations that count only as a whole word of the key: ``DB_PASS``, ``smtpPass``,
#: ``DB_PASS_PROD``, ``ADMIN_PW``, but not ``PASSAGE``, ``bypass_cache`` or ``compass``.
_WHOLE_WORDS = {"pass": "password", "pw": "password"}
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
    for word in words:
        if word in _WHOLE_WORDS:
            return _WHOLE_WORDS[word]
    return None
