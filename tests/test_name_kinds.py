"""policy/names.py's docker and package kinds, pure (the systemd ones are in
tests/test_systemd_names.py), and dispatch holding every ``Name(kind)`` field to its rule,
item by item, with the name hashed in the audit, on the in-memory host of tests/fakes.py."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fakes import fake_app
from harness import audit_lines

from ssh_mcp.core.dispatch import run_call
from ssh_mcp.core.spec import Name
from ssh_mcp.policy import names
from ssh_mcp.tools import ALL_TOOLS

#: What every kind refuses: options, shell syntax, second lines, blanks, the empty name.
INJECTIONS = ["-x", "--help", "a;b", "x; rm -rf /", "$(id)", "`id`", "a b", "a\nb", "a\n", ""]

ACCEPTED = {
    "container": ["web", "a1b2c3", "my_app.1-x", "Web", "x" * 255],
    "image": [
        "busybox",
        "nginx:1.25",
        "127.0.0.1:5000/a/b:v1",
        "library/busybox@sha256:" + "a" * 64,
        "sha256:" + "a" * 64,
        "abc1234def12",
        "a__b/c-d.e",
    ],
    "docker_object": ["web", "Web_1", "my-net", "nginx:1.25", "127.0.0.1:5000/a/b:v1"],
    "compose_project": ["myproj", "a_b-1", "0", "x" * 63],
    "compose_service": ["web", "db.1", "Web_2", "x" * 63],
    "package": ["nginx", "libc6", "g++", "python3.11", "libc6:amd64", "0ad", "a" * 128],
    "package_spec": ["nginx", "nginx=1.22.1-9+deb12u1", "foo=2:1.0~rc1", "libc6:amd64=2.36"],
    "package_pattern": ["nginx*", "*", "lib?c6", "python3.*:amd64", "a"],
    "package_term": ["nginx", "python3.11", "g++", "Web_1", "x" * 64],
}
REFUSED = {
    "container": ["_web", ".web", "a:b", "a/b", "é", "x" * 256],
    "image": ["Busybox", "a:b:c", "a//b", "a@sha256:abc", "_a", "a:-1", "a..b"],
    "docker_object": ["_web", "a:b:c", "a/B", "é"],
    "compose_project": ["My", "a.b", "_a", "x" * 64],
    "compose_service": ["_web", ".web", "a:b", "x" * 64],
    "package": ["a", "Nginx", "x=1", "a_b", "a:", "a" * 129],
    "package_spec": ["nginx=", "nginx=$(id)", "nginx=-1", "nginx=1 2", "nginx=a1", "a" * 257],
    "package_pattern": ["Nginx*", "[ab]*", "-*", "a" * 129],
    "package_term": ["-nginx", "a.*", "a|b", "(a)", "é", "x" * 65],
}
DOCKER_AND_PACKAGES = sorted(ACCEPTED)


@pytest.mark.parametrize(
    ("kind", "value"), [(k, v) for k in DOCKER_AND_PACKAGES for v in ACCEPTED[k]]
)
def test_names_accepted(kind: str, value: str) -> None:
    assert names.problem(kind, value) is None


@pytest.mark.parametrize(
    ("kind", "value"),
    [(k, v) for k in DOCKER_AND_PACKAGES for v in REFUSED[k] + INJECTIONS],
)
def test_names_refused_in_one_line(kind: str, value: str) -> None:
    why = names.problem(kind, value)
    assert why and "\n" not in why


def test_every_name_marker_has_a_rule_and_every_rule_a_field() -> None:
    """A ``Name(kind)`` whose kind policy/names.py does not know would fail at call time."""
    kinds = set()
    for spec in ALL_TOOLS:
        for field in spec.marked_fields(Name):
            marker = spec.field_marker(field, Name)
            assert marker is not None and marker.kind in names.CHECKS, (spec.name, field)
            kinds.add(marker.kind)
    assert kinds == set(names.CHECKS)


#: One read-tier tool per docker and package kind, with the field and its other arguments.
CALLS: list[tuple[str, str, dict[str, Any], str]] = [
    ("ssh_docker_ps", "name", {}, "web"),
    ("ssh_docker_images", "reference", {}, "nginx:1.25"),
    ("ssh_docker_inspect", "names", {}, "my-net"),
    ("ssh_docker_compose_ps", "project", {"file": "/srv/app/compose.yml"}, "myproj"),
    ("ssh_docker_compose_logs", "services", {"file": "/srv/app/compose.yml"}, "web"),
    ("ssh_pkg_show", "package", {}, "nginx"),
    ("ssh_pkg_list", "pattern", {}, "nginx*"),
    ("ssh_pkg_search", "term", {}, "nginx"),
]
LISTS = {"names", "services"}
FILES: dict[str, bytes | None] = {"/srv": None, "/srv/app": None, "/srv/app/compose.yml": b""}


@pytest.mark.anyio
@pytest.mark.parametrize(("tool", "field", "rest", "good"), CALLS)
async def test_dispatch_checks_each_name_and_audits_its_hash(
    tmp_path: Path, tool: str, field: str, rest: dict[str, Any], good: str
) -> None:
    app, reach = fake_app(tmp_path, FILES)
    for bad in ["x; touch /tmp/pwned", "$(touch /tmp/pwned)", "-x", "x\ntouch"]:
        # In a list, a bad name after a good one is refused all the same.
        value: Any = [good, bad] if field in LISTS else bad
        call = await run_call(app, tool, {"host": "fake", field: value, **rest})
        assert call.outcome is not None and not call.outcome.ok
        text = call.outcome.text
        assert text.startswith(f"invalid arguments for {tool}: {field} ") and "\n" not in text
        assert call.passed == ["visibility", "audit", "error mapping"], call.passed
        line = audit_lines(app)[-1]
        assert (line["outcome"], line["error"]) == ("denied", "InvalidArguments")
        items = value if isinstance(value, list) else [value]
        assert line[f"{field}_hash"] == app.audit.digest("\n".join(items))
        assert "pwned" not in str(line) and "host" not in line
    assert reach.entries == []  # nothing reached the host
    value = [good] if field in LISTS else good
    call = await run_call(app, tool, {"host": "fake", field: value, **rest})
    assert "host" in call.passed, call.outcome
    line = audit_lines(app)[-1]
    assert line[f"{field}_hash"] == app.audit.digest(good) and good not in str(line)
