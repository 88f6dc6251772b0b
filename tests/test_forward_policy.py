"""The forward policy alone (pure): patterns, sides, host names and the bind address."""

from __future__ import annotations

import pytest

from ssh_mcp.errors import ConfigError, PolicyDenied
from ssh_mcp.policy.forward import (
    bind_address,
    check_destination,
    check_host,
    check_socks,
    matches,
)

PATTERNS = ("db.internal:5432", "10.0.0.*:80*", "[::1]:8080", "server:127.0.0.1:3000", "bad")


@pytest.mark.parametrize(
    ("host", "port", "server_side", "allowed"),
    [
        ("db.internal", 5432, False, True),
        ("DB.Internal", 5432, False, True),  # names are matched lowercased
        ("db.internal", 5433, False, False),
        ("db.internal.evil", 5432, False, False),
        ("10.0.0.7", 8080, False, True),
        ("10.0.0.7", 443, False, False),
        ("10.0.1.7", 80, False, False),
        ("::1", 8080, False, True),
        ("[::1]", 8080, False, True),
        # The sides never stand for each other.
        ("127.0.0.1", 3000, False, False),
        ("127.0.0.1", 3000, True, True),
        ("db.internal", 5432, True, False),
    ],
)
def test_patterns_match_host_and_port_on_their_side(
    host: str, port: int, server_side: bool, allowed: bool
) -> None:
    assert matches(PATTERNS, host, port, server_side=server_side) is allowed


def test_refusals_say_why_and_what_to_add() -> None:
    with pytest.raises(PolicyDenied, match=r"has no forward_allowlist.*'127.0.0.2:22'"):
        check_destination((), "web", "127.0.0.2", 22, server_side=False)
    with pytest.raises(PolicyDenied, match=r"on this server is not in.*'server:127.0.0.1:9'"):
        check_destination(PATTERNS, "web", "127.0.0.1", 9, server_side=True)
    check_destination(PATTERNS, "web", "db.internal", 5432, server_side=False)


def test_socks_needs_a_pattern_for_the_hosts_side() -> None:
    check_socks(PATTERNS, "web")
    for patterns in ((), ("server:127.0.0.1:*",)):
        with pytest.raises(PolicyDenied, match="could reach nothing"):
            check_socks(patterns, "web")


@pytest.mark.parametrize("value", ["db.internal", "10.0.0.7", "::1", "[fe80::1]", "a-b.c"])
def test_host_names_and_addresses_pass(value: str) -> None:
    assert check_host(value, "remote_host") == value


@pytest.mark.parametrize("value", ["-oProxyCommand", "a b", "a;b", "$(x)", "a\nb", ".x", ""])
def test_anything_else_as_a_host_is_refused(value: str) -> None:
    with pytest.raises(PolicyDenied, match="not a host name"):
        check_host(value, "remote_host")


def test_the_bind_address_must_be_an_ip() -> None:
    assert bind_address("127.0.0.1") == "127.0.0.1"
    assert bind_address("::1") == "::1"
    with pytest.raises(ConfigError, match="not an IP address"):
        bind_address("localhost")
