"""How a shell session's commands travel over its stdin, so that no byte of it is ever
read as code.

Any process of the login user can open the session shell's stdin through
``/proc/<pid>/fd/0`` and read from it: a background ``head -c N`` started by an earlier
command takes the first N bytes of the next frame. Had the shell parsed stdin as code, it
would go on parsing in the middle of the next command's quoted text, and that text would
run as commands the policy never saw. So the shell runs one fixed loop (:data:`LOOP`,
passed in argv) and reads each frame as data, one line::

    \\036<nonce> <cksum of nonce+payload> <length> <payload>

The payload is the command in ``printf %b`` escapes, pure ASCII without newlines. The
shell recomputes the POSIX ``cksum`` over the nonce and the payload; any byte taken out
of the line changes it, and a thief cannot forge one, since the nonce is fresh and unknown
before the frame is sent. A damaged frame ends the session (exit 125) with nothing run.
Only then is the command decoded and run with ``eval`` (``</dev/null``) inside a function,
so ``break`` and ``continue`` in it do not reach the loop (in bash and dash).
"""

from __future__ import annotations

import secrets


def _table() -> list[int]:
    table = []
    for byte in range(256):
        crc = byte << 24
        for _ in range(8):
            crc = ((crc << 1) ^ 0x04C11DB7) if crc & 0x80000000 else crc << 1
        table.append(crc & 0xFFFFFFFF)
    return table


_TABLE = _table()


def cksum(data: bytes) -> str:
    """What POSIX ``cksum`` prints for ``data`` on stdin: the CRC and the length."""
    crc = 0
    for byte in data:
        crc = ((crc << 8) & 0xFFFFFFFF) ^ _TABLE[(crc >> 24) ^ byte]
    n = len(data)
    while n:
        crc = ((crc << 8) & 0xFFFFFFFF) ^ _TABLE[(crc >> 24) ^ (n & 0xFF)]
        n >>= 8
    return f"{~crc & 0xFFFFFFFF} {len(data)}"


def _escape(command: str) -> str:
    """``command`` as ``printf %b`` input: printable ASCII kept, backslash doubled, every
    other byte (newline, controls, UTF-8) as ``\\0ooo``."""
    out = []
    for byte in command.encode("utf-8", "surrogateescape"):
        if byte == 0x5C:
            out.append("\\\\")
        elif 0x20 <= byte < 0x7F:
            out.append(chr(byte))
        else:
            out.append(f"\\0{byte:03o}")
    return "".join(out)


def frame(command: str) -> tuple[str, bytes]:
    """A fresh nonce, and the stdin line that makes the session's loop run ``command``."""
    nonce = secrets.token_hex(16)
    payload = _escape(command)
    return nonce, f"\x1e{nonce} {cksum((nonce + payload).encode())} {payload}\n".encode()


#: The session's shell runs this, reading frames (see the module docstring); after each
#: command both streams get a sentinel line with the nonce, stdout's with status and $PWD.
LOOP = r"""
__ssh_mcp_rs=$(printf '\036')
__ssh_mcp_run() { eval "$__ssh_mcp_c"; }
while IFS= read -r __ssh_mcp_l; do
  case $__ssh_mcp_l in
  "$__ssh_mcp_rs"*) __ssh_mcp_l=${__ssh_mcp_l#?} ;;
  *) echo "ssh-mcp: a damaged command frame; the session ends, nothing ran" >&2; exit 125 ;;
  esac
  __ssh_mcp_n=${__ssh_mcp_l%% *}; __ssh_mcp_l=${__ssh_mcp_l#* }
  __ssh_mcp_k=${__ssh_mcp_l%% *}; __ssh_mcp_l=${__ssh_mcp_l#* }
  __ssh_mcp_k="$__ssh_mcp_k ${__ssh_mcp_l%% *}"; __ssh_mcp_e=${__ssh_mcp_l#* }
  if [ "$(printf '%s%s' "$__ssh_mcp_n" "$__ssh_mcp_e" | cksum)" != "$__ssh_mcp_k" ]; then
    echo "ssh-mcp: a damaged command frame; the session ends, nothing ran" >&2; exit 125
  fi
  __ssh_mcp_c=$(printf '%b.' "$__ssh_mcp_e"); __ssh_mcp_c=${__ssh_mcp_c%.}
  if sh -n -c "$__ssh_mcp_c"; then __ssh_mcp_run </dev/null; else (exit 2); fi
  printf '\n\036ssh-mcp:%s:%s:%s\n' "$__ssh_mcp_n" "$?" "$PWD"
  printf '\n\036ssh-mcp:%s\n' "$__ssh_mcp_n" >&2
done
"""
