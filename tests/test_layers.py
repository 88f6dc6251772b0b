"""The import rules that keep the layers honest, checked by walking every module's AST."""

from __future__ import annotations

import ast
from pathlib import Path

PKG = Path(__file__).resolve().parent.parent / "ssh_mcp"


def _imports(path: Path) -> set[str]:
    return _imports_of(ast.parse(path.read_text(), str(path)))


def _imports_of(tree: ast.AST) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def _modules(sub: str = "") -> dict[str, set[str]]:
    root = PKG / sub if sub else PKG
    return {str(p.relative_to(PKG)): _imports(p) for p in root.rglob("*.py")}


def _hits(imports: set[str], prefix: str) -> list[str]:
    return sorted(i for i in imports if i == prefix or i.startswith(prefix + "."))


def test_only_the_mcp_package_imports_the_sdk() -> None:
    users = sorted(m for m, imps in _modules().items() if _hits(imps, "mcp"))
    assert users and all(u.startswith("mcp/") for u in users), users


def test_ssh_layer_imports_only_itself_and_the_error_tree() -> None:
    """ssh/ knows no MCP, policy, config, state or tools: it moves bytes and makes no decisions."""
    for module, imps in _modules("ssh").items():
        ours = {i for i in imps if _hits({i}, "ssh_mcp")}
        allowed = {i for i in ours if _hits({i}, "ssh_mcp.ssh") or i == "ssh_mcp.errors"}
        assert ours == allowed, f"ssh/{module} imports {sorted(ours - allowed)}"
        assert not _hits(imps, "mcp"), f"ssh/{module} imports the SDK"


#: Pure grammars of operation arguments (docker times and label filters, run options) that a
#: tool's input model validates with before anything runs: the one part of policy/ tools may
#: import, by module. Names are policy/names.py's, which dispatch applies (DECISIONS.md 87).
TOOL_GRAMMARS = {"ssh_mcp.policy.docker"}


def test_tools_import_neither_mcp_nor_policy() -> None:
    for module, imps in _modules("tools").items():
        for banned in ("mcp", "ssh_mcp.policy", "ssh_mcp.core.dispatch", "ssh_mcp.mcp"):
            hits = [i for i in _hits(imps, banned) if i not in TOOL_GRAMMARS]
            assert not hits, f"tools/{module} imports {banned}"


def below_the_context(source: str) -> list[str]:
    """What a tool module may not do (DECISIONS.md 55): import ``ssh_mcp.ssh`` (at run time or
    for type checking) or asyncssh, or name asyncssh at all; hosts are reached via its context."""
    tree = ast.parse(source)
    imps = _imports_of(tree)
    found = [f"imports {b}" for b in ("ssh_mcp.ssh", "asyncssh") if _hits(imps, b)]
    found += [
        f"names asyncssh on line {node.lineno}"
        for node in ast.walk(tree)
        if isinstance(node, ast.Name) and node.id == "asyncssh"
    ]
    return found


def test_tools_reach_hosts_only_through_their_context() -> None:
    for path in (PKG / "tools").rglob("*.py"):
        assert below_the_context(path.read_text()) == [], f"tools/{path.relative_to(PKG)}"


def test_only_the_ssh_layer_touches_asyncssh() -> None:
    """Its exceptions are translated at that edge (DECISIONS.md 55); the demo's in-process SSH
    *server* is the one other user."""
    for path in PKG.rglob("*.py"):
        rel = str(path.relative_to(PKG))
        if rel.startswith("ssh/") or rel == "demo/sandbox_asyncssh.py":
            continue
        found = [f for f in below_the_context(path.read_text()) if "asyncssh" in f]
        assert found == [], rel


def test_the_context_check_fails_on_a_planted_violation() -> None:
    planted = (
        "from typing import TYPE_CHECKING\n"
        "from ssh_mcp.ssh.pool import Pool\n"
        "if TYPE_CHECKING:\n"
        "    import asyncssh\n"
        "async def f(sftp):\n"
        "    return isinstance(sftp, asyncssh.SFTPClient)\n"
    )
    assert below_the_context(planted) == [
        "imports ssh_mcp.ssh",
        "imports asyncssh",
        "names asyncssh on line 6",
    ]
    assert below_the_context("from ssh_mcp.core.remote import Remote\n") == []


#: What a policy module may not import: I/O, the clock, randomness, processes, the network,
#: and the layers above and below it. Policy decides over strings and config (DECISIONS.md 52).
POLICY_BANNED = (
    "os",
    "pathlib",
    "time",
    "secrets",
    "socket",
    "subprocess",
    "asyncssh",
    "mcp",
    "ssh_mcp.ssh",
    "ssh_mcp.tools",
    "ssh_mcp.state",
)


def impurities(source: str) -> list[str]:
    """Every banned import and every call of ``open`` (``open(...)`` or ``x.open(...)``)."""
    tree = ast.parse(source)
    found = [f"imports {banned}" for banned in POLICY_BANNED if _hits(_imports_of(tree), banned)]
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
            if name == "open":
                found.append(f"calls open on line {node.lineno}")
    return found


def test_policy_is_pure() -> None:
    for path in (PKG / "policy").rglob("*.py"):
        assert impurities(path.read_text()) == [], f"policy/{path.name}"


def test_the_purity_check_fails_on_a_planted_violation() -> None:
    planted = (
        "import os.path\n"
        "from pathlib import Path\n"
        "from time import time\n"
        "import secrets, socket, subprocess\n"
        "from asyncssh import connect\n"
        "from mcp.types import Tool\n"
        "from ssh_mcp.state.audit import AuditLog\n"
        "def f(p):\n"
        "    open(p).read()\n"
        "    return Path(p).open()\n"
    )
    found = impurities(planted)
    assert [f for f in found if f.startswith("imports")] == [
        f"imports {banned}"
        for banned in POLICY_BANNED
        if banned not in ("ssh_mcp.ssh", "ssh_mcp.tools")
    ]
    assert sorted(f for f in found if f.startswith("calls")) == [
        "calls open on line 10",
        "calls open on line 9",
    ]
    assert impurities("import posixpath, re\nfrom ssh_mcp.policy.paths import is_within\n") == []


def test_modules_stay_small() -> None:
    for path in PKG.rglob("*.py"):
        assert len(path.read_text().splitlines()) <= 400, f"{path.name} is over 400 lines"


def test_serving_does_not_import_asyncssh_until_a_connection() -> None:
    """Cold start: asyncssh (0.1 s) loads on the first connection, not at import, PyJWT
    (with the cryptography modules it pulls in) only when OAuth verifies a token, and pyte
    with the first terminal."""
    import subprocess
    import sys

    code = (
        "import sys, ssh_mcp.cli.main, ssh_mcp.mcp.server, ssh_mcp.core.app, ssh_mcp.core.dispatch;"
        "print('asyncssh' in sys.modules, 'jwt' in sys.modules, 'pyte' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False False False"


# -- the environment is read in one place ----------------------------------------------

_ENV_NAMES = {"environ", "environb", "getenv", "getenvb"}


def _reads_env(node: ast.AST) -> bool:
    """``os.environ``, ``os.getenv(...)`` and the like, or ``from os import environ``."""
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
        return node.attr in _ENV_NAMES and node.value.id in ("os", "posix")
    if isinstance(node, ast.ImportFrom) and node.module in ("os", "posix"):
        return any(a.name in _ENV_NAMES for a in node.names)
    return False


def _env_reads(source: str) -> list[int]:
    """Lines of ``source`` that read the process environment through ``os``."""
    nodes = ast.walk(ast.parse(source))
    return [getattr(node, "lineno", 0) for node in nodes if _reads_env(node)]


def test_only_config_reads_the_environment() -> None:
    """Every env var is read in config/, where CONFIGURATION.md's list is kept."""
    readers = {
        str(p.relative_to(PKG)): _env_reads(p.read_text())
        for p in PKG.rglob("*.py")
        if PKG / "config" not in p.parents
    }
    assert {m: lines for m, lines in readers.items() if lines} == {}


def test_the_environment_check_catches_every_form() -> None:
    """The check above can fail: each planted read is found, and a mere mention is not."""
    planted = [
        "import os\nx = os.environ.get('X')",
        "import os\nx = os.environ['X']",
        "import os\nx = os.getenv('X')",
        "import os\nx = dict(os.environb)",
        "from os import environ\n",
        "from os import getenv as g\n",
    ]
    for source in planted:
        assert _env_reads(source), source
    assert not _env_reads("import os\nx = os.path.join('a', 'environ')  # os.environ\n")
