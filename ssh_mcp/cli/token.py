"""``ssh-mcp token create|list|revoke``: the scoped bearer tokens of the HTTP server.

The token is printed once, by ``create``, and never stored: the file
(SSH_HTTP_TOKENS_FILE) keeps its SHA-256. A running server re-reads the file when it
changes, so a new or revoked token counts on the next request, without a restart.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from datetime import UTC, datetime

from ssh_mcp.config.settings import load_settings
from ssh_mcp.policy.scope import GROUPS, TIERS, Scope, parse_names
from ssh_mcp.state.http_tokens import TokenEntry, digest, editing, new_token, read_entries

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_UNITS = {"m": 60, "h": 3600, "d": 86400}


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    token = sub.add_parser("token", help="scoped bearer tokens for the HTTP server")
    token_sub = token.add_subparsers(dest="token_command", metavar="ACTION", required=True)
    create = token_sub.add_parser("create", help="make a token, print it once, store its hash")
    create.add_argument("name", metavar="NAME", help="the name the audit log will show")
    create.add_argument("--hosts", help="comma-separated globs on host aliases (default: all)")
    create.add_argument("--tiers", help=f"comma-separated, of {','.join(TIERS)} (default: all)")
    create.add_argument("--groups", help=f"comma-separated, of {','.join(GROUPS)} (default: all)")
    create.add_argument("--expires", help="lifetime: 30d, 12h or 90m (default: never)")
    token_sub.add_parser("list", help="every token's name, scope, creation and expiry")
    revoke = token_sub.add_parser("revoke", help="remove a token; servers refuse it at once")
    revoke.add_argument("name", metavar="NAME")


def _duration(text: str) -> float:
    m = re.fullmatch(r"(\d+)([mhd])", text.strip())
    if not m or int(m.group(1)) == 0:
        raise ValueError(f"--expires {text!r}: give a number and a unit, as 30d, 12h or 90m")
    return int(m.group(1)) * _UNITS[m.group(2)]


def _stamp(t: float | None) -> str:
    if t is None:
        return "never"
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def create(args: argparse.Namespace) -> int:
    if not _NAME.fullmatch(args.name):
        raise ValueError(f"name {args.name[:64]!r}: use letters, digits, '.', '_' and '-'")
    hosts = None
    if args.hosts is not None:
        hosts = tuple(h.strip() for h in args.hosts.split(",") if h.strip())
    scope = Scope(
        hosts, parse_names(args.tiers, TIERS, "tier"), parse_names(args.groups, GROUPS, "group")
    )
    now = time.time()
    expires = now + _duration(args.expires) if args.expires else None
    path = load_settings().ssh_http_tokens_file.expanduser()
    token = new_token()
    with editing(path) as entries:
        if args.name in entries:
            raise ValueError(f"a token named {args.name!r} exists; revoke it first")
        entries[args.name] = TokenEntry(args.name, digest(token), scope, now, expires)
    print(token)
    print(
        f"created {args.name} ({scope.describe()}, expires {_stamp(expires)}) in {path}; "
        "the token is shown only this once",
        file=sys.stderr,
    )
    return 0


def list_tokens() -> int:
    path = load_settings().ssh_http_tokens_file.expanduser()
    rows = [("NAME", "SCOPE", "CREATED", "EXPIRES")]
    now = time.time()
    for e in read_entries(path).values():
        expires = _stamp(e.expires) + (" (expired)" if e.expired(now) else "")
        rows.append((e.name, e.scope.describe(), _stamp(e.created), expires))
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r[:3], widths, strict=True)) + "  " + r[3])
    return 0


def revoke(name: str) -> int:
    path = load_settings().ssh_http_tokens_file.expanduser()
    with editing(path) as entries:
        if entries.pop(name, None) is None:
            raise ValueError(f"no token named {name[:64]!r} in {path}")
    print(f"revoked {name}: servers reading {path} refuse it from their next request")
    return 0


def run(args: argparse.Namespace) -> int:
    action = args.token_command
    try:
        if action == "create":
            return create(args)
        if action == "list":
            return list_tokens()
        return revoke(args.name)
    except ValueError as exc:
        print(f"ssh-mcp token {action}: {exc}", file=sys.stderr)
        return 1
