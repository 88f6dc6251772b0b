"""A device CLI for tests, run as the forced login command of a test sshd.

``fake_device.py LOG [--secret S] [--tries N] [--style cisco|junos|generic]``: appends
every line it reads to LOG. It starts in privileged mode (``fake1#``), or with a secret
in user mode (``fake1>``) until ``enable`` and the secret; a wrong secret is asked for
again up to N times in all (3, as IOS does), then refused with the user prompt back. A
pager stops long replies at ``--More--`` until ``terminal length 0``; ``show hang``
never returns the prompt. ``--style junos`` prompts ``admin@fake1>`` under a
``{master:0}`` line and takes ``set cli screen-length 0``; ``--style generic`` prompts
``fake1$``.
"""

from __future__ import annotations

import argparse
import sys
import termios
import time

_ARGS = argparse.ArgumentParser()
_ARGS.add_argument("log")
_ARGS.add_argument("--secret")
_ARGS.add_argument("--tries", type=int, default=3)
_ARGS.add_argument("--style", choices=("cisco", "junos", "generic"), default="cisco")
OPTS = _ARGS.parse_args()
LOG, SECRET, STYLE = OPTS.log, OPTS.secret, OPTS.style
PAGER_OFF = {"cisco": "terminal length 0", "junos": "set cli screen-length 0"}.get(STYLE)
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


def prompt(enabled: bool, config: bool) -> str:
    if STYLE == "junos":
        return "\n{master:0}\nadmin@fake1" + ("#" if config else ">") + " "
    if STYLE == "generic":
        return "fake1$ "
    return "fake1" + ("(config)" if config else "") + ("#" if enabled else ">") + " "


def enable() -> bool:
    for _ in range(OPTS.tries):
        if secret_prompt() == SECRET:
            return True
    say("% Bad secrets\n")
    return False


def main() -> None:
    say("Fake Router OS 1.0\nAuthorized access only\n\n")
    pager, enabled, config = True, SECRET is None, False
    while True:
        say(prompt(enabled, config))
        try:
            cmd = " ".join(read_line().split())
        except EOFError:
            return
        if cmd == PAGER_OFF:
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
            enabled = enable()
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
