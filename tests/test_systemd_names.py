"""Pure rules of the systemd group: unit names and patterns (policy/names.py), and the
systemd time syntax ssh_journalctl takes (each form checked against journalctl 252 in
tests/test_systemd.py)."""

from __future__ import annotations

import pytest

from ssh_mcp.policy import names
from ssh_mcp.tools.systemd.journal import grep_pattern, systemd_time
from ssh_mcp.tools.systemd.reads import unit_rows


@pytest.mark.parametrize(
    "unit",
    [
        "ssh",
        "nginx.service",
        "getty@tty1.service",
        "getty@.service",
        "user@1000.service",
        "-.mount",
        "-.slice",
        "dev-disk-by\\x2duuid-1234.device",
        "systemd-fsck@dev-sda1.service",
        "sys-kernel-config.mount",
        "a:b_c.timer",
        "x" * 247 + ".service",
    ],
)
def test_unit_names_accepted(unit: str) -> None:
    assert names.problem("unit", unit) is None


@pytest.mark.parametrize(
    "unit",
    [
        "",
        "-x.service",
        "--help",
        "-",
        "a b",
        "a;b",
        "$(id)",
        "`id`",
        "a\nb",
        "a\tb",
        "x.service\n",
        "a/b.service",
        "a@b",
        "a@b@c.service",
        "é.service",
        "x" * 256,
        "*.service",
    ],
)
def test_unit_names_refused(unit: str) -> None:
    assert names.problem("unit", unit)


@pytest.mark.parametrize("pattern", ["ssh*", "*.timer", "getty@*.service", "h12-[ab]?.service"])
def test_unit_patterns_accepted(pattern: str) -> None:
    assert names.problem("unit_pattern", pattern) is None


@pytest.mark.parametrize("pattern", ["-*", "--all", "a b*", "*;id", "*\n", "$(x)*"])
def test_unit_patterns_refused(pattern: str) -> None:
    assert names.problem("unit_pattern", pattern)


@pytest.mark.parametrize(
    ("given", "sent"),
    [
        ("now", "now"),
        ("yesterday", "yesterday"),
        ("-1h", "-1h"),
        ("-1h 30min", "-1h 30min"),
        ("+5min", "+5min"),
        ("5 min ago", "5 min ago"),
        ("2026-12-02", "2026-12-02"),
        ("2026-12-02 10:00", "2026-12-02 10:00"),
        ("2026-12-02 10:00:00.123 UTC", "2026-12-02 10:00:00.123 UTC"),
        ("Wed 2026-12-02 10:00", "Wed 2026-12-02 10:00"),
        ("10:00", "10:00"),
        ("@1764660000", "@1764660000"),
        ("2026-12-02T10:00:00Z", "2026-12-02 10:00:00 UTC"),
        ("2026-12-02T10:00:00+01:00", "2026-12-02 09:00:00 UTC"),
    ],
)
def test_systemd_times(given: str, sent: str) -> None:
    assert systemd_time(given) == sent


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "1h",
        "next week",
        "-1h; id",
        "$(date)",
        "now\n--all",
        "-1h\n30min",
        "-1h\t30min",
        "\u0663h ago",
        "2026-12-02T10:00",
        "--since=x",
        " now",
    ],
)
def test_systemd_times_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="not a systemd time"):
        systemd_time(bad)


def test_grep_refuses_control_characters_only() -> None:
    assert grep_pattern("$(touch x) ; | `id`") == "$(touch x) ; | `id`"
    for bad in ("a\nb", "a\rb", "a\x00b", "a\u202eb"):
        with pytest.raises(ValueError):
            grep_pattern(bad)


def test_list_units_reads_the_plain_table_of_an_older_systemd() -> None:
    table = (
        "cron.service    loaded active   running Regular background program processing daemon\n"
        "h12-fail.service loaded failed failed  h12 failing unit\n"
        "bare.service loaded inactive dead\n"
    )
    rows = [r.model_dump() for r in unit_rows(table)]
    assert rows == [
        {
            "unit": "cron.service",
            "active": "active",
            "sub": "running",
            "description": "Regular background program processing daemon",
        },
        {
            "unit": "h12-fail.service",
            "active": "failed",
            "sub": "failed",
            "description": "h12 failing unit",
        },
        {"unit": "bare.service", "active": "inactive", "sub": "dead", "description": ""},
    ]
    assert unit_rows("[]") == []
