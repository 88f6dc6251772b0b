"""The remote path rules' one home (policy/paths.py), its use in core/home.py, and the
SSH layer's contract of absolute paths; no sshd needed."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any, cast

import pytest

from ssh_mcp.config.settings import absolute_paths
from ssh_mcp.core.home import absolute, absolute_configured
from ssh_mcp.errors import PathNotAllowed
from ssh_mcp.policy.paths import (
    RELATIVE,
    check_spelling,
    expand_configured,
    expand_home,
    home_form,
    is_anchored,
    names_home,
)
from ssh_mcp.ssh.elevated import realpath_as_root
from ssh_mcp.ssh.sftp import canonicalize
from ssh_mcp.ssh.spellings import links_met, spellings
from ssh_mcp.ssh.sudo_io import Elevation

PKG = Path(__file__).resolve().parent.parent / "ssh_mcp"


@pytest.mark.parametrize(
    ("path", "home", "anchored"),
    [
        ("/", False, True),
        ("/srv/app", False, True),
        ("~", True, True),
        ("~/", True, True),
        ("~/x/y", True, True),
        ("~root/x", False, False),
        ("~x", False, False),
        ("x/~/y", False, False),
        ("./x", False, False),
        ("$HOME/x", False, False),
        ("", False, False),
    ],
)
def test_what_is_home_and_what_is_anchored(path: str, home: bool, anchored: bool) -> None:
    assert names_home(path) is home
    assert is_anchored(path) is anchored


def test_a_relative_tool_path_is_refused_with_one_text() -> None:
    with pytest.raises(PathNotAllowed) as err:
        check_spelling("etc/passwd")
    assert (
        str(err.value)
        == RELATIVE
        == ("path must be absolute or start with ~/, got a relative path")
    )
    with pytest.raises(PathNotAllowed, match=r"^path must be absolute"):
        expand_home("~root/.ssh", "/home/u")


def test_expansion_replaces_only_the_leading_tilde_and_does_not_normalize() -> None:
    assert expand_home("~", "/home/u") == "/home/u"
    assert expand_home("~/a/../b/~/c", "/home/u") == "/home/u/a/../b/~/c"
    assert expand_home("/srv/~/x", None) == "/srv/~/x"
    assert expand_home("~/x", "/") == "//x"  # as the host spells it; canonicalization follows


def test_a_relative_configured_path_names_the_operator() -> None:
    assert expand_configured("~/vault", "/home/u") == "/home/u/vault"
    with pytest.raises(PathNotAllowed, match="the configured path 'vault' is relative; the op"):
        expand_configured("vault", "/home/u")
    with pytest.raises(ValueError, match="'vault' is not absolute; write it from / or from ~/"):
        absolute_paths(["/srv", "~", "~/x", "vault"])


@pytest.mark.parametrize(
    ("canonical", "home", "form"),
    [
        ("/home/u/bin/x", "/home/u", "~/bin/x"),
        ("/home/u/bin/x", "/home/u/", "~/bin/x"),
        ("/home/u", "/home/u", None),
        ("/home/user2/bin", "/home/u", None),
        ("/bin/x", "/", None),
    ],
)
def test_the_home_form_of_a_canonical_path(canonical: str, home: str, form: str | None) -> None:
    assert home_form(canonical, home) == form


class _FakeSftp:
    def __init__(self) -> None:
        self.asked = 0

    async def realpath(self, path: str) -> str:
        assert path == "."
        self.asked += 1
        return "/home/u"


class _FakeConnection:
    def __init__(self) -> None:
        self.sftp_client = _FakeSftp()

    async def sftp(self) -> _FakeSftp:
        return self.sftp_client


class _FakeRemote:
    """The one Remote method core's ``~`` expansion uses."""

    def __init__(self) -> None:
        self.asked = 0

    async def home(self, *, action: str = "resolving ~") -> str:
        self.asked += 1
        return "/home/u"


@pytest.mark.anyio
async def test_core_asks_the_host_for_home_only_when_a_path_names_it() -> None:
    fake = _FakeRemote()
    remote = cast(Any, fake)
    assert await absolute(remote, "/srv/x") == "/srv/x"
    assert await absolute_configured(remote, ["/srv", "/opt"]) == ("/srv", "/opt")
    assert fake.asked == 0
    assert await absolute(remote, "~/x") == "/home/u/x"
    assert await absolute_configured(remote, ["~", "/srv", "~/vault"]) == (
        "/home/u",
        "/srv",
        "/home/u/vault",
    )
    assert fake.asked == 2  # once per call, not once per path
    with pytest.raises(PathNotAllowed, match="relative"):
        await absolute(remote, "x")


@pytest.mark.anyio
async def test_the_ssh_layer_takes_only_absolute_paths() -> None:
    """A ``~`` reaching ssh/ is a caller's bug: SFTP would read it as a file named ``~``."""
    pc = cast(Any, _FakeConnection())
    for call in (
        canonicalize(cast(Any, pc.sftp_client), "~/x", create=False),
        realpath_as_root(pc, "~/x", Elevation(), 1.0),
        spellings(pc, ["/srv", "~/vault"], parents=False),
        links_met(pc, ["~/vault"]),
    ):
        with pytest.raises(ValueError, match="absolute paths; expand ~ first"):
            await call


def _tilde_tests(tree: ast.AST) -> list[int]:
    """Lines that test a string for a leading ``~`` or compare it with ``~``."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "startswith":
            texts = [a.value for a in ast.walk(node.args[0]) if isinstance(a, ast.Constant)]
            if any(isinstance(t, str) and t.startswith("~") for t in texts):
                found.append(node.lineno)
        elif isinstance(node, ast.Compare):
            sides = [node.left, *node.comparators]
            if any(isinstance(s, ast.Constant) and s.value in ("~", "~/") for s in sides):
                found.append(node.lineno)
    return found


def test_the_tilde_rule_is_written_only_in_policy() -> None:
    """Outside policy/ (where the shell lexer and the deny rules read a command's own
    tildes) nothing decides what a leading ``~`` means: policy/paths.py does."""
    readers = {
        str(p.relative_to(PKG)): lines
        for p in PKG.rglob("*.py")
        if PKG / "policy" not in p.parents and (lines := _tilde_tests(ast.parse(p.read_text())))
    }
    assert readers == {}


def test_the_tilde_check_finds_each_form() -> None:
    for planted in ('p.startswith("~/")', 'p.startswith(("/", "~/"))', 'p == "~"', '"~" != p'):
        assert _tilde_tests(ast.parse(planted)) == [1], planted
    assert _tilde_tests(ast.parse('p.startswith("/")\nx = "~"\n')) == []
