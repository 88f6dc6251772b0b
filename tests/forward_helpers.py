"""What the port forward tests share: a page server on the host's loopback, a SOCKS5
client, and who owns a TCP connection.

Everything runs on one machine, so "reachable only from the host" cannot mean another
network. The page server runs as the test user on 127.0.0.2 and puts the peer port of
each request in the page; while the client keeps that HTTP/1.1 connection open, the
test asks the kernel (``ss -p``) which process holds the connection's other end. When
it is sshd, the request came out of the SSH tunnel, not from the test process.
"""

from __future__ import annotations

import http.client
import socket
import struct
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from sshd import TestUser

#: The page server: answers every GET with its token and the peer's port, keeping the
#: connection open (HTTP/1.1), and prints its port once listening.
_PAGE_SERVER = r"""
import http.server, sys
token = sys.argv[1]
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        body = f"{token} peer={self.client_address[1]}\n".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass
s = http.server.ThreadingHTTPServer(("127.0.0.2", 0), H)
print(s.server_address[1], flush=True)
s.serve_forever()
"""


@dataclass
class PageServer:
    port: int
    token: str
    proc: subprocess.Popen[str]


@contextmanager
def page_server(user: TestUser, token: str) -> Iterator[PageServer]:
    """The page server as the test user on 127.0.0.2; stopped by PID afterwards."""
    proc = subprocess.Popen(
        ["/usr/bin/python3", "-c", _PAGE_SERVER, token],
        stdout=subprocess.PIPE,
        text=True,
        user=user.uid,
        cwd="/",
    )
    try:
        assert proc.stdout is not None
        port = int(proc.stdout.readline())
        yield PageServer(port, token, proc)
    finally:
        proc.kill()
        proc.wait(5)
        if proc.stdout is not None:
            proc.stdout.close()


def owner_of_peer(peer_port: int) -> str:
    """The ``ss -tnp`` line of the TCP socket whose local port is ``peer_port``: which
    process opened the connection the page server saw."""
    out = subprocess.run(
        ["ss", "-tnpH", "state", "established", f"( sport = :{peer_port} )"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return out


def fetch_and_trace(host: str, port: int) -> tuple[str, str]:
    """GET / from ``host:port``; the body, and who holds the page server's peer socket
    (asked while the connection is still open)."""
    conn = http.client.HTTPConnection(host, port, timeout=10)
    try:
        conn.request("GET", "/")
        body = conn.getresponse().read().decode()
        peer = int(body.split("peer=")[1])
        return body, owner_of_peer(peer)
    finally:
        conn.close()


def keep_alive_get(host: str, port: int) -> socket.socket:
    """GET / over a raw socket and read the response, leaving the connection open."""
    sock = socket.create_connection((host, port), timeout=10)
    _get(sock)
    return sock


def _get(sock: socket.socket) -> str:
    """Send GET / on ``sock`` and read the page server's response body."""
    sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    data = b""
    while b"peer=" not in data or not data.endswith(b"\n"):
        chunk = sock.recv(4096)
        assert chunk, data
        data += chunk
    return data.split(b"\r\n\r\n", 1)[1].decode()


def socks_connect(proxy: tuple[str, int], host: str, port: int) -> tuple[int, socket.socket]:
    """A minimal SOCKS5 client: no authentication, CONNECT to an IPv4 ``host``. The reply
    code and the socket (open when the code is 0)."""
    sock = socket.create_connection(proxy, timeout=10)
    sock.sendall(b"\x05\x01\x00")
    assert sock.recv(2) == b"\x05\x00"
    sock.sendall(b"\x05\x01\x00\x01" + socket.inet_aton(host) + struct.pack("!H", port))
    reply = b""
    while len(reply) < 10:
        chunk = sock.recv(10 - len(reply))
        if not chunk:
            break
        reply += chunk
    return (reply[1] if len(reply) > 1 else -1), sock


def socks_fetch(proxy: tuple[str, int], host: str, port: int) -> tuple[str, str]:
    """GET / through the SOCKS5 proxy; the body and who holds the peer socket."""
    code, sock = socks_connect(proxy, host, port)
    with sock:
        assert code == 0, code
        body = _get(sock)
        return body, owner_of_peer(int(body.split("peer=")[1]))


@contextmanager
def idle_listener(host: str = "127.0.0.2") -> Iterator[socket.socket]:
    """A listening socket nobody should reach: ``accepted(sock)`` tells if anyone did."""
    sock = socket.socket()
    sock.bind((host, 0))
    sock.listen(4)
    sock.setblocking(False)
    try:
        yield sock
    finally:
        sock.close()


def accepted(sock: socket.socket) -> bool:
    try:
        conn, _ = sock.accept()
    except BlockingIOError:
        return False
    conn.close()
    return True


def port_free(port: int, host: str = "127.0.0.1") -> bool:
    """Nothing listens on ``host:port`` (a connect is refused)."""
    try:
        socket.create_connection((host, port), timeout=2).close()
    except ConnectionRefusedError:
        return True
    return False
