"""What the orphan watchdog in every command's prefix costs a call (DECISIONS 47).

    uv run python bench/watchdog.py [-n 1200]

Runs ``echo hi`` on one warm asyncssh connection to the sandbox host, three ways, in
interleaved blocks so that machine noise hits them alike: with the PID prefix alone (before
the watchdog), with the prefix plus one bare background fork (the floor: what "a fork" costs),
and with today's prefix (PID line + watchdog).
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from _common import BenchError, connect_raw

from ssh_mcp.demo.sandbox import start_sandbox
from ssh_mcp.ssh.marks import PID_PREFIX

BLOCK = 25
PID_LINE = "printf '\\036ssh-mcp-pgid:%s\\n' \"$$\" >&2; "
VARIANTS = {
    "PID line only (before)": PID_LINE,
    "PID line + one bare fork": PID_LINE + "(:) </dev/null >/dev/null 2>&1 & ",
    "PID line + watchdog (now)": PID_PREFIX,
}


async def run(n: int) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="ssh-mcp-watchdog-")).resolve()
    samples: dict[str, list[float]] = {k: [] for k in VARIANTS}
    try:
        (tmp / "host").mkdir()
        sandbox = await start_sandbox(tmp / "host")
        try:
            async with connect_raw(sandbox) as conn:
                for prefix in VARIANTS.values():  # warm-up
                    for _ in range(10):
                        await conn.run(prefix + "echo hi")
                for _ in range(max(1, n // BLOCK)):
                    for name, prefix in VARIANTS.items():
                        for _ in range(BLOCK):
                            started = time.perf_counter()
                            result = await conn.run(prefix + "echo hi")
                            samples[name].append((time.perf_counter() - started) * 1000)
                            if result.stdout != "hi\n":
                                raise BenchError(f"{name}: unexpected output {result.stdout!r}")
        finally:
            await sandbox.aclose()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"{sandbox.kind} sandbox, login {sandbox.user}, {n} calls each, interleaved")
    for name, values in samples.items():
        p90 = statistics.quantiles(values, n=10)[-1]
        print(f"{name:28} median {statistics.median(values):6.2f} ms   p90 {p90:6.2f} ms")


def main() -> int:
    parser = argparse.ArgumentParser(description="per-call cost of the orphan watchdog")
    parser.add_argument("-n", type=int, default=1200, help="calls per variant (1200)")
    asyncio.run(run(parser.parse_args().n))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
