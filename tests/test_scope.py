"""policy/scope.py and policy/ratelimit.py: pure decisions, a clock passed in."""

from __future__ import annotations

import pytest

from ssh_mcp.config.inventory import parse_hosts
from ssh_mcp.config.settings import Settings
from ssh_mcp.policy.ratelimit import RateLimits
from ssh_mcp.policy.scope import (
    FULL,
    Scope,
    host_in_scope,
    narrow_inventory,
    narrow_settings,
    parse_names,
)


def test_hosts_match_globs_on_the_alias_and_every_jump_host() -> None:
    web = Scope(hosts=("web*",))
    assert host_in_scope(web, "web1") and not host_in_scope(web, "db1")
    assert not host_in_scope(web, "web1", ["bastion"])  # jumping through it is using it
    assert host_in_scope(Scope(hosts=("web*", "bastion")), "web1", ["bastion"])
    assert host_in_scope(FULL, "anything", ["at-all"])


def test_a_scope_only_ever_narrows_the_servers_flags() -> None:
    server = Settings(allow_low_access_tools=True, ssh_hosts_allowlist=["web9.example", "db"])
    s = narrow_settings(server, Scope(hosts=("web*",), tiers=frozenset({"read", "dangerous"})))
    assert {t.value for t in s.open_tiers()} == {"read"}  # dangerous is off on the server
    assert s.ssh_hosts_allowlist == ["web9.example"]
    g = narrow_settings(server, Scope(groups=frozenset({"host", "exec"})))
    assert {x.value for x in g.enabled_groups()} == {"host", "exec"}
    assert narrow_settings(server, FULL) is server


def test_hosts_and_group_members_are_narrowed_with_their_jump_hosts() -> None:
    text = """
[hosts.bastion]
hostname = "10.0.0.1"
[hosts.web1]
hostname = "10.0.0.2"
proxy_jump = "bastion"
[hosts.web2]
hostname = "10.0.0.3"
[hosts.db1]
hostname = "10.0.0.4"
[groups]
all = ["web1", "web2", "db1"]
dbs = ["db1"]
"""
    inv = parse_hosts(text, "hosts.toml", Settings())
    web = narrow_inventory(inv, Scope(hosts=("web*",)))
    assert sorted(web.hosts) == ["web2"]  # web1 jumps through bastion, outside the globs
    assert web.groups == {"all": ("web2",)}
    both = narrow_inventory(inv, Scope(hosts=("web*", "bastion")))
    assert sorted(both.hosts) == ["bastion", "web1", "web2"]
    assert narrow_inventory(inv, FULL) is inv


def test_parse_names_refuses_unknown_ones() -> None:
    assert parse_names(None, ("a",), "tier") is None
    assert parse_names("a, b", ("a", "b"), "tier") == frozenset({"a", "b"})
    with pytest.raises(ValueError, match="unknown tier 'c'"):
        parse_names("a,c", ("a", "b"), "tier")


def test_token_bucket_with_a_controlled_clock() -> None:
    limits = RateLimits(per_minute=2, max_concurrency=0)
    assert limits.acquire("a", 0.0) is None and limits.acquire("a", 0.0) is None
    assert limits.acquire("a", 0.0) == 30  # one request refills every 30 s
    assert limits.acquire("b", 0.0) is None  # per token
    assert limits.acquire("a", 20.0) == 10
    assert limits.acquire("a", 30.0) is None
    assert limits.acquire("a", 1000.0) is None and limits.acquire("a", 1000.0) is None
    assert limits.acquire("a", 1000.0) is not None  # the bucket holds a minute's worth


def test_concurrency_counts_requests_in_flight() -> None:
    limits = RateLimits(per_minute=0, max_concurrency=2)
    assert limits.acquire("a", 0) is None and limits.acquire("a", 0) is None
    assert limits.acquire("a", 0) == 1
    limits.release("a")
    assert limits.acquire("a", 0) is None
