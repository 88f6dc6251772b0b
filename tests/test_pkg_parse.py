"""Group pkg's pure parts: the parsers of dpkg and APT output (the name rules are
policy/names.py's, tested in tests/test_name_kinds.py)."""

from __future__ import annotations

from ssh_mcp.tools.pkg import _apt

POLICY = """mcp-hello:
  Installed: 1.0
  Candidate: 1.1
  Version table:
     1.1 500
        500 file:/srv/lrepo ./ Packages
 *** 1.0 500
        500 file:/srv/lrepo ./ Packages
        100 /var/lib/dpkg/status
"""


def test_policy_lists_versions_newest_first_with_origins() -> None:
    p = _apt.policy(POLICY)
    assert (p.installed, p.candidate) == ("1.0", "1.1")
    assert p.versions == [
        ("1.1", ["file:/srv/lrepo ./ Packages"]),
        ("1.0", ["file:/srv/lrepo ./ Packages", "/var/lib/dpkg/status"]),
    ]
    assert _apt.policy("").versions == []


def test_status_lines_and_dpkg_actions() -> None:
    feed = _apt.StatusFeed()
    assert feed.feed(b"pmstatus:mcp-hello:40.0000:Installing mcp-hel") == []
    got = feed.feed(b"lo (amd64)\ndlstatus:1:100.0000:Retrieving file 1 of 1\nnoise\n")
    assert [(s.kind, s.subject, s.percent) for s in got] == [
        ("pmstatus", "mcp-hello", 40.0),
        ("dlstatus", "1", 100.0),
    ]
    log = (
        "Unpacking mcp-dep (1.0) ...\nUnpacking mcp-hello (1.1) over (1.0) ...\n"
        "Setting up mcp-hello:amd64 (1.1) ...\nRemoving old (2.0) ...\n"
        "Purging configuration files for old (2.0) ...\n"
    )
    assert _apt.changes(log) == [
        ("mcp-dep", "unpacked", "1.0"),
        ("mcp-hello", "set up", "1.1"),
        ("old", "removed", "2.0"),
        ("old", "purged", "2.0"),
    ]


def test_dpkg_states_and_rows() -> None:
    assert _apt.dpkg_state("ii ") == ("installed", False)
    assert _apt.dpkg_state("hi ") == ("installed", True)
    assert _apt.dpkg_state("iF ") == ("half-configured", False)
    rows = _apt.installed_rows("ii \tbash\t5.2\tamd64\nun \tgone\t\t\nrc \told\t1\tall\n")
    assert [(r.name, r.state) for r in rows] == [("bash", "installed"), ("old", "config-files")]
    up = _apt.upgradable_rows("Listing...\nmcp-hello/unknown 1.1 all [upgradable from: 1.0]\n")
    assert up == [_apt.Upgradable("mcp-hello", "1.1", "all", "1.0")]


def test_a_search_term_is_meant_literally() -> None:
    assert _apt.literal_regex("g++") == r"g\+\+"
    assert _apt.literal_regex("python3.11") == r"python3\.11"
