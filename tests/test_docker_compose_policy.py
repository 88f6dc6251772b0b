"""The compose check, pure: PyYAML's block dialect read without a YAML library (the texts
below are what PyYAML 6 and docker-compose 1.29 write), and ssh_docker_run's refusals
found in a normalized compose configuration, v1's YAML or v2's JSON (DECISIONS.md 84)."""

from __future__ import annotations

import json
from typing import Any

import pytest

import ssh_mcp.policy.docker as rules
from ssh_mcp.policy import yamlblock

#: safe_dump(default_flow_style=False, indent=2, width=80, allow_unicode=True) of DUMPED.
DUMP = """\
services:
  a:
    command:
    - sh
    - -c
    - 'echo ''hi: there'' # x; a very long string that goes past eighty columns surely
      yes indeed'
    devices: []
    environment:
      L: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa
        bbbbbbbbbb
      T: "tab\\there é \\a end "
      X: 'multi


        line'
      "Y": ''
      Z: 'yes'
    labels:
      a.b: '1'
      c: null
    n:
    - - 1
      - 2
    - j:
      - true
      k: v
    privileged: false
    s: '  lead'
    D: "\\aword word word word word word word word word word word word word word word word\\
      \\ word word word word   two spaces\\\\back"
    shared: &id001
      c:
      - 1
    again: *id001
    empty: {}
version: '3.9'
"""

DUMPED: dict[str, Any] = {
    "services": {
        "a": {
            "command": [
                "sh",
                "-c",
                "echo 'hi: there' # x; a very long string that goes past eighty columns "
                "surely yes indeed",
            ],
            "devices": [],
            "environment": {
                "L": "a" * 90 + " " + "b" * 10,
                "T": "tab\there é \x07 end ",
                "X": "multi\n\nline",
                "Y": "",
                "Z": "yes",
            },
            "labels": {"a.b": "1", "c": None},
            "n": [[1, 2], {"j": [True], "k": "v"}],
            "privileged": False,
            "s": "  lead",
            "D": "\x07" + "word " * 20 + "  two spaces\\back",
            "shared": {"c": [1]},
            "again": {"c": [1]},
            "empty": {},
        }
    },
    "version": "3.9",
}


def test_pyyamls_block_dialect_reads_as_pyyaml_reads_it() -> None:
    assert yamlblock.load(DUMP) == DUMPED


@pytest.mark.parametrize(
    "text",
    [
        "a: {b: 1}\n",  # flow collections other than {} and []
        "a: [1, 2]\n",
        "a: |\n  x\n",  # block scalars
        "a: !!python/object x\n",  # tags
        "? x\n: y\n",  # complex keys
        "a: 'open\n",  # an unclosed quote
        "a: *nothing\n",  # an alias to no anchor
        "a: 1\n---\nb: 2\n",  # a second document
        "a: '$SECRET' trailing\n",
    ],
)
def test_anything_outside_the_dialect_is_refused_without_its_text(text: str) -> None:
    with pytest.raises(ValueError) as raised:
        yamlblock.load(text)
    assert "SECRET" not in str(raised.value) and "python" not in str(raised.value)


V1_PRIVILEGED = """\
services:
  box:
    image: busybox
    privileged: true
version: '3'
"""


def _v2(**service: Any) -> str:
    return json.dumps({"name": "p", "services": {"web": {"image": "busybox", **service}}})


#: What docker-compose 1.29 ``config`` prints for file secrets (relative paths made absolute).
V1_SECRETS = """\
secrets:
  ok:
    file: /srv/p/s.txt
  sock:
    file: /var/run/docker.sock
services:
  box:
    image: busybox
    secrets:
    - source: ok
    - source: sock
      target: /x
version: '3.7'
"""


@pytest.mark.parametrize(
    ("text", "why"),
    [
        (V1_PRIVILEGED, "service 'box': privileged: true gives the container the host"),
        (_v2(privileged=True), "service 'web': privileged: true"),
        (_v2(cap_add=["SYS_ADMIN"]), "service 'web': cap_add gives the container the host"),
        (_v2(devices=[{"source": "/dev/sda", "target": "/dev/sda"}]), "'web': devices"),
        (_v2(security_opt=["seccomp=unconfined"]), "'web': security_opt"),
        (_v2(network_mode="host"), "'web': network_mode: host shares the host's namespace"),
        (_v2(pid="host"), "pid: host"),
        (_v2(ipc="host"), "ipc: host"),
        (_v2(userns_mode="host"), "userns_mode: host"),
        (_v2(volumes=[{"type": "bind", "source": "/", "target": "/h"}]), "the host's root"),
        (
            _v2(volumes=[{"type": "bind", "source": "/var/run/docker.sock", "target": "/s"}]),
            "a bind mount mounts the docker socket",
        ),
        ("services:\n  a:\n    volumes:\n    - /etc/ssl:/e:ro\n", "'a': a bind mount mounts /etc"),
        (
            json.dumps(
                {
                    "services": {"a": {}},
                    "volumes": {"v": {"driver_opts": {"o": "bind", "device": "/root"}}},
                }
            ),
            "volume 'v': a bind mount mounts /root",
        ),
        (V1_SECRETS, "secret 'sock': a bind mount mounts the docker socket"),
        (
            "secrets:\n  s:\n    file: /etc/shadow\nservices:\n  a:\n    image: x\n",
            "secret 's': a bind mount mounts /etc",
        ),
        (
            json.dumps({"services": {"a": {}}, "configs": {"c": {"file": "/root/.ssh/id"}}}),
            "config 'c': a bind mount mounts /root",
        ),
        (
            json.dumps({"services": {"a": {}}, "secrets": {"s": {"file": "/"}}}),
            "secret 's': a bind mount mounts the host's root",
        ),
        (
            "services:\n  a:\n    volumes_from:\n    - container:rootfs:rw\n",
            "service 'a': volumes_from gives the container another container's mounts",
        ),
        (_v2(volumes_from=["service:other"]), "service 'web': volumes_from"),
        (
            json.dumps(
                {
                    "services": {"a": {"networks": {"hostnet": None}}},
                    "networks": {"hostnet": {"name": "host", "external": True}},
                }
            ),
            "'a': a network that is the host's",
        ),
    ],
)
def test_compose_settings_that_hand_over_the_host_are_named(text: str, why: str) -> None:
    found = rules.compose_refusal(rules.compose_config(text))
    assert found is not None and why in found and "\n" not in found


def test_an_ordinary_project_passes_and_lists_its_bind_sources() -> None:
    text = (
        "services:\n  a:\n    cap_add: []\n    network_mode: bridge\n    privileged: false\n"
        "    volumes:\n    - /srv/app:/app:rw\n    - named:/data:rw\n    - /cache\n"
        "    - source: /srv/x$$y\n      target: /x\n      type: bind\n"
        "volumes:\n  named: {}\n"
    )
    config = rules.compose_config(text)
    assert rules.compose_refusal(config) is None
    assert rules.compose_binds(config) == [
        ("service 'a'", "/srv/app"),
        ("service 'a'", "/srv/x$$y"),
        ("service 'a'", "/srv/x$y"),
    ]


def test_file_secrets_and_configs_are_bind_sources_and_harmless_ones_pass() -> None:
    """compose bind-mounts a secret's or config's ``file``: it is checked as a bind source,
    then resolved on the host like any other; other kinds of secret mount nothing."""
    text = (
        "configs:\n  c:\n    file: /srv/p/app.conf\n"
        "secrets:\n  e:\n    external: true\n    name: e\n  s:\n    file: /srv/p/a$$b\n"
        "services:\n  a:\n    configs:\n    - source: c\n    image: busybox\n"
        "    secrets:\n    - mode: 288\n      source: s\n      target: /x\n      uid: '103'\n"
        "version: '3.7'\n"
    )
    config = rules.compose_config(text)
    assert rules.compose_refusal(config) is None
    assert rules.compose_binds(config) == [
        ("secret 's'", "/srv/p/a$$b"),
        ("config 'c'", "/srv/p/app.conf"),
        ("secret 's'", "/srv/p/a$b"),
    ]
    v2 = {"services": {"a": {}}, "secrets": {"s": {"environment": "TOKEN"}, "k": {"file": "/k"}}}
    assert rules.compose_binds(rules.compose_config(json.dumps(v2))) == [("secret 'k'", "/k")]


def test_a_configuration_that_does_not_read_is_an_error() -> None:
    for text in ("a: {b: 1}\n", "[1]", "services: [a]\n", '{"services": 1'):
        with pytest.raises(ValueError, match="compose's normalized configuration"):
            rules.compose_config(text)


def test_a_dollar_compose_did_not_double_is_refused_without_its_value() -> None:
    """up reads the checked text again: ``$$`` is a literal ``$`` there, a lone ``$`` a
    variable that could have changed since the check (DECISIONS.md 84)."""
    doubled = (
        "services:\n  a:\n    command: sh -c 'echo $$HOME $$$$'\n    environment:\n      K: x$$y\n"
    )
    assert rules.compose_reread_refusal(rules.compose_config(doubled)) is None
    for text in (
        "services:\n  a:\n    volumes:\n    - /srv/a${SECRET}:/x:rw\n",
        _v2(environment={"K": "$$$SECRET"}),
        json.dumps({"services": {}, "volumes": {"v": {"name": "$SECRET"}}}),
    ):
        found = rules.compose_reread_refusal(rules.compose_config(text))
        assert found is not None and "did not write as $$" in found, text
        assert "SECRET" not in found
