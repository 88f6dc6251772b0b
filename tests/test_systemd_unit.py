"""The HTTP team server's systemd unit (`ssh-mcp unit`), run under the real systemd of a
booted Debian container, reached through a port published on 127.0.0.1 (issue 11).

The container gets this checkout's package, its venv's site-packages and its Python
read-only under /opt, and a venv at /opt/ssh-mcp, the path the unit runs; everything else
is the unit as shipped, its sandboxing included, installed the way CONFIGURATION.md tells
an operator to.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import httpx2 as httpx
import pytest
from fleet import SystemdHost, published_port, systemd_host
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from sshd import TestKeys

from ssh_mcp.demo.proctree import wait_until

ROOT = Path(__file__).resolve().parent.parent
HTTP_PORT = 8765
PY = f"python{sys.version_info.major}.{sys.version_info.minor}"

_INSTALL = f"""set -e
echo /opt/python/lib > /etc/ld.so.conf.d/ssh-mcp-python.conf && ldconfig
/opt/python/bin/{PY} -m venv --without-pip /opt/ssh-mcp
printf '%s\\n' /opt/src /opt/deps \\
    > /opt/ssh-mcp/lib/{PY}/site-packages/ssh_mcp_src.pth
printf '#!/opt/ssh-mcp/bin/python\\n%s\\n%s\\n' 'from ssh_mcp.cli.main import main' \\
    'raise SystemExit(main())' > /opt/ssh-mcp/bin/ssh-mcp
chmod 755 /opt/ssh-mcp/bin/ssh-mcp
useradd --system --home-dir /var/lib/ssh-mcp --shell /usr/sbin/nologin ssh-mcp
/opt/ssh-mcp/bin/ssh-mcp unit > /etc/systemd/system/ssh-mcp.service
install -d -m 0750 -g ssh-mcp /etc/ssh-mcp
install -m 0640 -g ssh-mcp /dev/stdin /etc/ssh-mcp/ops.key
for k in /etc/ssh/ssh_host_*_key.pub; do printf '127.0.0.1 %s\\n' "$(cut -d' ' -f1,2 "$k")"; done \\
    > /etc/ssh-mcp/known_hosts
cat > /etc/ssh-mcp/hosts.toml <<'TOML'
[hosts.self]
hostname = "127.0.0.1"
user = "ops"
[hosts.self.auth]
method = "key"
key = "/etc/ssh-mcp/ops.key"
TOML
cat > /etc/ssh-mcp/ssh-mcp.env <<'ENV'
SSH_HTTP_HOST=0.0.0.0
SSH_HTTP_ALLOWED_HOSTS=127.0.0.1:*
ENV
chmod 0640 /etc/ssh-mcp/hosts.toml /etc/ssh-mcp/known_hosts /etc/ssh-mcp/ssh-mcp.env
chgrp ssh-mcp /etc/ssh-mcp/hosts.toml /etc/ssh-mcp/known_hosts /etc/ssh-mcp/ssh-mcp.env
install -d -o ssh-mcp -g ssh-mcp -m 0700 /var/lib/ssh-mcp
runuser -u ssh-mcp -- env SSH_HTTP_TOKENS_FILE=/var/lib/ssh-mcp/http-tokens.json \\
    /opt/ssh-mcp/bin/ssh-mcp token create team | head -n 1 > /root/team.token
systemctl daemon-reload
systemctl start ssh-mcp
"""


@pytest.fixture(scope="module")
def unit_host(dockerd: None, ssh_root_dir: Path, test_keys: TestKeys) -> Iterator[SystemdHost]:
    # Each mount's own directory is what the container sees: a checkout in a 0700 directory
    # (mktemp -d) would hide the package from the service's user if its parent were mounted.
    volumes = (
        f"{ROOT / 'ssh_mcp'}:/opt/src/ssh_mcp:ro",
        f"{Path(sys.prefix) / 'lib' / PY / 'site-packages'}:/opt/deps:ro",
        f"{sys.base_prefix}:/opt/python:ro",
    )
    if sys.base_prefix == "/usr":
        pytest.fail("this test mounts the venv's base Python at /opt/python; /usr cannot be")
    with systemd_host(
        ssh_root_dir,
        test_keys.plain_pub,
        test_keys.plain,
        role="unit",
        volumes=volumes,
        ports=(HTTP_PORT,),
    ) as host:
        host.exec("sh", "-c", _INSTALL, input=test_keys.plain.read_bytes())
        yield host


def _healthy(url: str) -> bool:
    try:
        return httpx.get(url + "/health", timeout=2).status_code == 200
    except httpx.TransportError:
        return False


def _main_pid(host: SystemdHost) -> int:
    return int(host.exec("systemctl", "show", "-p", "MainPID", "--value", "ssh-mcp").strip())


@pytest.mark.anyio
async def test_unit_serves_http_under_systemd_and_stops(unit_host: SystemdHost) -> None:
    url = f"http://127.0.0.1:{published_port(unit_host.name, HTTP_PORT)}"
    assert wait_until(lambda: _healthy(url), 60, 0.1), unit_host.sh(
        "systemctl status ssh-mcp --no-pager; journalctl -u ssh-mcp --no-pager | tail -n 30"
    )
    token = unit_host.exec("cat", "/root/team.token").strip()
    pid = _main_pid(unit_host)
    assert unit_host.exec("ps", "-o", "user=", "-p", str(pid)).strip() == "ssh-mcp"
    # The sandbox is in force, not only written down.
    status = unit_host.exec("cat", f"/proc/{pid}/status")
    assert "NoNewPrivs:\t1" in status and "CapEff:\t0000000000000000" in status

    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(headers=headers, timeout=httpx.Timeout(30)) as http:
        transport = streamable_http_client(url + "/mcp", http_client=http)
        async with Client(transport) as client:
            names = {t.name for t in (await client.list_tools()).tools}
            assert "ssh_host_ping" in names
            result = await client.call_tool("ssh_host_ping", {"host": "self"})
            assert not result.is_error, result.content
            assert result.structured_content and result.structured_content["auth_ok"] is True
    async with httpx.AsyncClient(timeout=httpx.Timeout(30)) as http:
        refused = await http.post(url + "/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "ping"})
        assert refused.status_code == 401

    audit = unit_host.exec("tail", "-n", "1", "/var/lib/ssh-mcp/audit.jsonl")
    assert '"tool":"ssh_host_ping"' in audit.replace(" ", "")
    assert token not in unit_host.exec("cat", "/var/lib/ssh-mcp/http-tokens.json")

    unit_host.exec("systemctl", "stop", "ssh-mcp")
    gone = wait_until(
        lambda: (
            unit_host.sh("pgrep -u ssh-mcp >/dev/null && echo up || echo gone").strip() == "gone"
        ),
        30,
        0.1,
    )
    assert gone, unit_host.sh("ps -ef")
    assert not _healthy(url)
