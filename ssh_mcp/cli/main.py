"""The ``ssh-mcp`` command line: serve (default), demo, hosts, check, audit, token, docs."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

from ssh_mcp import __version__
from ssh_mcp.config.environ import log_level
from ssh_mcp.core.access import Group
from ssh_mcp.errors import ConfigError, SSHMCPError

if TYPE_CHECKING:
    from ssh_mcp.core.app import App


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="ssh-mcp",
        description="A strict MCP server that gives LLM agents audited SSH access.",
    )
    p.add_argument("--version", action="version", version=f"ssh-mcp {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    serve = sub.add_parser("serve", help="serve MCP on stdio (the default) or HTTP")
    serve.add_argument(
        "--http",
        action="store_true",
        help="serve Streamable HTTP on SSH_HTTP_HOST:SSH_HTTP_PORT/mcp (as SSH_MCP_TRANSPORT=http)",
    )
    sub.add_parser("demo", help="run a throwaway local SSH host and drive the server against it")
    hosts = sub.add_parser("hosts", help="hosts.toml tools")
    hosts_sub = hosts.add_subparsers(dest="hosts_command", metavar="ACTION", required=True)
    check = hosts_sub.add_parser(
        "check", help="ping every configured host (or those named) as an agent's call would"
    )
    check.add_argument("aliases", nargs="*", metavar="ALIAS", help="hosts to check (default all)")
    add = hosts_sub.add_parser("add", help="add a host as hosts.d/ALIAS.toml next to hosts.toml")
    add.add_argument("alias", metavar="ALIAS")
    add.add_argument("--hostname", required=True, metavar="H", help="DNS name or address")
    add.add_argument("--port", type=int, metavar="P", help="SSH port (default 22)")
    add.add_argument("--user", metavar="U", help="login user (default: the local user)")
    auth = add.add_mutually_exclusive_group()
    auth.add_argument("--key", metavar="PATH", help="authenticate with this private key")
    auth.add_argument("--agent", action="store_true", help="authenticate with the ssh-agent")
    add.add_argument(
        "--proxy-jump", action="append", default=[], metavar="A", help="a bastion alias (repeat)"
    )
    add.add_argument(
        "--group", action="append", default=[], metavar="G", help="add to this group (repeat)"
    )
    hosts_sub.add_parser("list", help="a table of every host the server would load")
    remove = hosts_sub.add_parser("remove", help="remove a host that `hosts add` added")
    remove.add_argument("alias", metavar="ALIAS")
    pin = hosts_sub.add_parser("pin", help="fetch a host's key and pin it in known_hosts")
    pin.add_argument("alias", metavar="ALIAS")
    pin.add_argument(
        "--fingerprint", metavar="SHA256:...", help="the fingerprint the host must offer"
    )
    pin.add_argument("--yes", action="store_true", help="pin without asking (needs --fingerprint)")
    sub.add_parser("check", help="check the configuration, one line per check, with fixes")
    audit = sub.add_parser("audit", help="audit log tools")
    audit_sub = audit.add_subparsers(dest="audit_command", metavar="ACTION", required=True)
    verify = audit_sub.add_parser("verify", help="check the hash chain of an audit log")
    verify.add_argument(
        "file", type=Path, nargs="?", help="the audit.jsonl file (default: SSH_AUDIT_LOG)"
    )
    tail = audit_sub.add_parser("tail", help="print the last records as a table")
    tail.add_argument(
        "file", type=Path, nargs="?", help="the audit.jsonl file (default: SSH_AUDIT_LOG)"
    )
    tail.add_argument("-n", type=int, default=20, metavar="N", help="records to show (20)")
    from ssh_mcp.cli import token

    token.add_parser(sub)
    sub.add_parser("unit", help="print a systemd unit for the HTTP team server")
    docs = sub.add_parser("docs", help="write TOOLS.md from the tool registry")
    docs.add_argument("--check", action="store_true", help="fail if TOOLS.md is stale")
    docs.add_argument("--output", type=Path, default=Path("TOOLS.md"))
    return p


def startup_line(app: App, url: str | None) -> str:
    """What the server opened, in one line for stderr (stdout is the protocol on stdio)."""
    s, facts = app.settings, app.facts()
    groups = facts.enabled_groups
    groups_text = "all" if len(groups) == len(Group) else ",".join(groups)
    where = f"http {url}" if url else "stdio"
    return (
        f"ssh-mcp {__version__}: serving {where}; tiers {','.join(facts.open_tiers)}; "
        f"groups {groups_text}; {facts.host_count} hosts from {app.inventory.source}; "
        f"audit log {s.ssh_audit_log}"
    )


def _serve(http: bool) -> int:
    from ssh_mcp.config.settings import load_settings
    from ssh_mcp.core.app import build_app

    settings = load_settings()
    if http or settings.ssh_mcp_transport == "http":
        from ssh_mcp.mcp.http import MCP_PATH, http_options
        from ssh_mcp.mcp.server import serve_http

        options = http_options(settings)  # before anything opens: bad HTTP config exits 2
        app = build_app(settings)
        host = f"[{options.host}]" if ":" in options.host else options.host
        callers = [
            *(["the static token"] if options.token else []),
            f"tokens in {options.tokens_file}",
            *([f"OAuth from {options.oauth.issuer}"] if options.oauth else []),
        ]
        line = startup_line(app, f"http://{host}:{options.port}{MCP_PATH}")
        print(f"{line}; callers: {', '.join(callers)}", file=sys.stderr)
        asyncio.run(serve_http(app, options))
        return 0
    from ssh_mcp.mcp.server import serve_stdio

    app = build_app(settings)
    print(startup_line(app, None), file=sys.stderr, flush=True)
    asyncio.run(serve_stdio(app))
    return 0


def _hosts(args: argparse.Namespace) -> int:
    from ssh_mcp.cli import hosts

    action = args.hosts_command
    try:
        if action == "check":
            from ssh_mcp.cli.hostcheck import check_hosts

            return asyncio.run(check_hosts(args.aliases))
        if action == "list":
            return hosts.list_hosts()
        if action == "pin":
            from ssh_mcp.cli.pin import pin_host

            if args.yes and not args.fingerprint:
                raise hosts.HostsCliError("--yes needs --fingerprint SHA256:... to check against")
            return asyncio.run(pin_host(args.alias, args.fingerprint, args.yes))
        if action == "remove":
            print(f"removed {args.alias}: deleted {hosts.remove_host(args.alias)}")
            print("a running server drops it when it next starts; its known_hosts pin stays")
            return 0
        table = hosts.host_table(
            args.hostname, args.port, args.user, args.key, args.agent, args.proxy_jump
        )
        print(f"added {args.alias}: {hosts.add_host(args.alias, table, args.group)}")
        print("a running server loads it when it next starts")
        if args.key and not Path(args.key).expanduser().is_file():
            print(f"warning: key file {args.key} does not exist (yet)", file=sys.stderr)
        return _offer_pin(args.alias)
    except ConfigError:
        raise
    except (hosts.HostsCliError, SSHMCPError) as exc:
        print(f"ssh-mcp hosts {action}: {exc}", file=sys.stderr)
        return 1


def _offer_pin(alias: str) -> int:
    """After `hosts add`: pin now if a human at a terminal says so, else say how."""
    if sys.stdin.isatty():
        print(f"Fetch and pin {alias}'s host key now? [y/N] ", end="", flush=True)
        if sys.stdin.readline().strip().lower() in ("y", "yes"):
            from ssh_mcp.cli.pin import pin_host

            return asyncio.run(pin_host(alias, None, False))
    print(f"its host key is not pinned yet: run `ssh-mcp hosts pin {alias}`")
    return 0


def _docs(output: Path, check: bool) -> int:
    from ssh_mcp.core.tooldocs import render_tools_md

    text = render_tools_md()
    if check:
        current = output.read_text(encoding="utf-8") if output.exists() else ""
        if current != text:
            print(f"{output} is stale: run `ssh-mcp docs`", file=sys.stderr)
            return 1
        return 0
    output.write_text(text, encoding="utf-8")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=log_level(),
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        if args.command in (None, "serve"):
            return _serve(getattr(args, "http", False))
        if args.command == "audit":
            from ssh_mcp.cli.audit import tail_log, verify_log

            if args.audit_command == "tail":
                return tail_log(args.file, args.n)
            return verify_log(args.file)
        if args.command == "hosts":
            return _hosts(args)
        if args.command == "token":
            from ssh_mcp.cli import token

            return token.run(args)
        if args.command == "check":
            from ssh_mcp.cli.doctor import doctor

            return doctor()
        if args.command == "docs":
            return _docs(args.output, args.check)
        if args.command == "unit":
            unit = resources.files("ssh_mcp.cli").joinpath("ssh-mcp.service")
            print(unit.read_text(encoding="utf-8"), end="")
            return 0
        if args.command == "demo":
            from ssh_mcp.demo.run import run_demo

            return run_demo()
    except ConfigError as exc:
        print(f"ssh-mcp: configuration error: {exc}", file=sys.stderr)
        return 2
    return 0
