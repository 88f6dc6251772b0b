"""policy/docker.py and the inspect redaction, pure: docker's time and label grammar, run
options, and what ssh_docker_inspect masks (names: tests/test_name_kinds.py)."""

from __future__ import annotations

import re

import pytest

import ssh_mcp.policy.docker as rules
from ssh_mcp.tools.docker.inspect import redact_inspect

KEY = b"k" * 32


@pytest.mark.parametrize(
    ("pattern", "good", "bad"),
    [
        (rules.TIME, ["10m", "1h30m", "1700000000", "2026-12-02T10:00:00Z", "2026-12-02"],
         ["-1", "now; id", "10 m"]),
        (rules.LABEL, ["app", "app=web", "com.example.x=a/b"], ["-l", "a b", "a=$(id)"]),
    ],
)  # fmt: skip
def test_filter_values_follow_dockers_grammar(
    pattern: re.Pattern[str], good: list[str], bad: list[str]
) -> None:
    assert all(pattern.fullmatch(g) for g in good), [g for g in good if not pattern.fullmatch(g)]
    assert not any(pattern.fullmatch(b) for b in bad), [b for b in bad if pattern.fullmatch(b)]


def test_run_options_are_normalized_and_binds_collected() -> None:
    opts = rules.run_options(
        ["-p", "127.0.0.1:8080:80", "--rm", "-v", "/srv/a:/a:ro", "-v", "data:/d", "-e", "TERM",
         "--mount", "type=bind,src=/srv/b,dst=/b", "--network=bridge"],
        privileged_ok=False,
    )  # fmt: skip
    assert opts.argv == (
        "--publish=127.0.0.1:8080:80", "--rm", "--volume=/srv/a:/a:ro", "--volume=data:/d",
        "--env=TERM", "--mount=type=bind,src=/srv/b,dst=/b", "--network=bridge",
    )  # fmt: skip
    assert opts.bind_sources == ("/srv/a", "/srv/b")


@pytest.mark.parametrize(
    "options",
    [["--privileged"], ["--cap-add=ALL"], ["--device", "/dev/sda"], ["--security-opt",
     "seccomp=unconfined"], ["--net=host"], ["--ipc", "host"], ["--uts=host"],
     ["--cgroupns", "host"], ["-v", "/:/h"], ["-v", "//:/h"], ["-v", "/etc/../:/h"],
     ["-v", "/run/docker.sock:/s"], ["-v", "/var/lib/docker/x:/x"], ["--mount",
     "type=bind,source=/root,target=/r"]],
)  # fmt: skip
def test_what_hands_over_the_host_needs_the_operator(options: list[str]) -> None:
    with pytest.raises(ValueError, match="SSH_DOCKER_RUN_PRIVILEGED=true"):
        rules.run_options(options, privileged_ok=False)
    assert rules.run_options(options, privileged_ok=True).argv


@pytest.mark.parametrize(
    ("options", "why"),
    [(["--volumes-from", "x"], "not supported"), (["-it"], "not supported"), (["-p"],
     "needs a value"), (["-e", "A=b"], "over stdin"), (["--label", "a\nb"], "one line")],
)  # fmt: skip
def test_unknown_or_malformed_options_are_refused(options: list[str], why: str) -> None:
    with pytest.raises(ValueError, match=why):
        rules.run_options(options, privileged_ok=True)


def test_inspect_masks_env_values_secret_keys_and_command_lines() -> None:
    objects = [{
        "Config": {
            "Env": ["PATH=/bin", "DB_PASSWORD=hunter2", "EMPTY="],
            "Cmd": ["sh", "-c", "run --password=swordfish1 https://u:pw@h/"],
            "Labels": {"api_token": "t0k", "team": "ops"},
        },
        "HostConfig": {"AuthConfig": {"password": "p"}},
        "Name": "/web",
    }]  # fmt: skip
    out, count, kinds = redact_inspect(objects, KEY)
    config = out[0]["Config"]
    assert config["Env"][0].startswith("PATH=[REDACTED:hmac-sha256:")
    assert config["Env"][2] == "EMPTY="
    assert "swordfish1" not in str(out) and "hunter2" not in str(out) and "t0k" not in str(out)
    assert out[0]["HostConfig"]["AuthConfig"]["password"].startswith("[REDACTED:")
    assert config["Labels"]["team"] == "ops" and out[0]["Name"] == "/web"
    assert count == 6 and {"env", "key:password", "key:token", "url-password"} <= set(kinds)
