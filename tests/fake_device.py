"""A Cisco-style device CLI for tests, run as the forced login command of a test sshd.

``fake_device.py LOG [SECRET]``: appends every line it reads to LOG. It starts in
privileged mode (``fake1#``), or with SECRET in user mode (``fake1>``) until
``enable`` and the secret. A pager stops long replies at ``--More--`` until
``terminal length 0``; ``show hang`` never returns the prompt.
"""

from __future__ import annotations

import sys
import termios
import time

LOG = sys.argv[1]
SECRET = sys.argv[2] if len(sys.argv) > 2 else None
LONG = [f"line {i:02d} of the long reply" for i in range(1, 31)]


def say(text: str) -> None:
    sys.stdout.write(text)
    sys.stdout.flush()


def read_line() -> str:
    line = sys.stdin.readline()
    if not line:
        raise EOFError
    with open(LOG, "a") as log:
        log.write(line)
    return line.strip()


def read_key() -> str:
    """One key, unechoed and without Enter, as a pager reads it."""
    fd = sys.stdin.fileno()
    old = termios.tcgetattr(fd)
    new = old[:]
    new[3] &= ~(termios.ICANON | termios.ECHO)
    termios.tcsetattr(fd, termios.TCSANOW, new)
    try:
        key = sys.stdin.read(1)
    finally:
        termios.tcsetattr(fd, termios.TCSANOW, old)
    with open(LOG, "a") as log:
        log.write(f"<key {key!r}>\n")
    return key


def secret_prompt() -> str:
    fd = sys.stdin.fileno()
    old = termios.tcgetattr(fd)
    new = old[:]
    new[3] &= ~termios.ECHO
    termios.tcsetattr(fd, termios.TCSANOW, new)
    try:
        say("Password: ")
        return read_line()
    finally:
        termios.tcsetattr(fd, termios.TCSANOW, old)
        say("\n")


def main() -> None:
    say("Fake Router OS 1.0\nAuthorized access only\n\n")
    pager, enabled, config = True, SECRET is None, False
    while True:
        say("fake1" + ("(config)" if config else "") + ("#" if enabled else ">") + " ")
        try:
            cmd = " ".join(read_line().split())
        except EOFError:
            return
        if cmd == "terminal length 0":
            pager = False
        elif cmd == "show version":
            say("Fake Router OS 1.0\nuptime is 3 days\n")
        elif cmd == "show long":
            for i, line in enumerate(LONG):
                if pager and i and i % 10 == 0:
                    say(" --More-- ")
                    read_key()
                    say("\b" * 10 + " " * 10 + "\b" * 10)  # erased, as IOS does
                say(line + "\n")
        elif cmd == "show interface brief":
            say("Interface  Status  VRF\neth0       up      default\nlo         up      default\n")
        elif cmd == "show privileged":
            say("the crown jewels\n" if enabled else "% Not privileged\n")
        elif cmd == "show hang":
            time.sleep(3600)
        elif cmd == "enable" and not enabled:
            enabled = secret_prompt() == SECRET
            if not enabled:
                say("% Bad secret\n")
        elif cmd.startswith("conf"):
            config = True
        elif cmd == "end":
            config = False
        elif cmd in ("exit", "quit"):
            return
        elif cmd:
            say("% Unknown command\n")


if __name__ == "__main__":
    main()
