"""Cold start: what ``import mcp`` costs on its own, and what ssh-mcp adds on top.

    uv run python bench/coldstart.py [--runs 7] [--top 12] [--compare TREE] [--instructions]

Each figure comes from fresh interpreters (this ``sys.executable``), interleaved so that
machine noise hits them alike; the median counts. Needs no SSH host: no connection is
made before the first tool call.

* ``python -c pass``: the interpreter alone;
* ``python -c "import mcp"``: the SDK's top level;
* ``python bench/bare_server.py``: a bare low-level SDK server, spawn until its
  ``initialize`` answer arrives (raw JSON-RPC over pipes);
* ``python -m ssh_mcp``: ours, the same way, with a one-host hosts.toml: with the tool
  schemas a previous run kept (DECISIONS.md 83), and as a first run without them.

Time is wall and CPU time (user + system; steadier than wall time on a busy machine) to
exit (``-c``) or to the answer (servers); memory is peak RSS (VmHWM). Then ``-X
importtime`` of ``import mcp`` and of ours up to the answer, summed per top-level package
(self time), shows where the time goes and what ours imports that ``import mcp`` does not.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from _common import HERE, BenchError, print_table

INIT = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
    "protocolVersion": "2025-11-25", "capabilities": {},
    "clientInfo": {"name": "bench", "version": "0"}}}  # fmt: skip


#: Appended to ``-c`` code: print CPU seconds and peak RSS. (A child's ``ru_maxrss`` would
#: not do: Linux keeps the parent's high-water mark across fork and exec.)
HWM = (
    ";import os;t=os.times();print(t.user+t.system,"
    "next(l for l in open('/proc/self/status') if l.startswith('VmHWM')).split()[1])"
)

Figure = tuple[float, float, float]  # wall s, CPU s, peak RSS MiB


def run_exit(code: str, env: dict[str, str]) -> Figure:
    """Wall and CPU seconds of ``python -c code``, and its peak RSS in MiB."""
    started = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", code + HWM], env=env, capture_output=True,
                         text=True, check=True).stdout.split()  # fmt: skip
    return time.perf_counter() - started, float(out[-2]), int(out[-1]) / 1024


def cpu_of(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def status_mib(pid: int, key: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{key}:"):
            return int(line.split()[1]) / 1024
    raise BenchError(f"no {key} for {pid}")


def run_server(argv: list[str], env: dict[str, str]) -> tuple[Figure, str]:
    """Wall and CPU seconds from spawn to the initialize answer, peak RSS then, and stderr."""
    with tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        proc = subprocess.Popen(
            argv, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err
        )
        assert proc.stdin is not None and proc.stdout is not None
        try:
            proc.stdin.write((json.dumps(INIT) + "\n").encode())
            proc.stdin.flush()
            line = proc.stdout.readline()
            wall = time.perf_counter() - started
            if "result" not in json.loads(line or "{}"):
                raise BenchError(f"{argv}: no initialize answer: {line!r}")
            hwm, cpu = status_mib(proc.pid, "VmHWM"), cpu_of(proc.pid)
        finally:
            proc.stdin.close()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        err.seek(0)
        return (wall, cpu, hwm), err.read().decode(errors="replace")


def instructions(argv: list[str], env: dict[str, str]) -> int:
    """Instructions ``argv`` runs to its exit, an initialize line on stdin (a server answers
    it, then sees EOF and exits), as valgrind's callgrind counts them."""
    out = subprocess.run(
        ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", *argv],
        env=env, input=json.dumps(INIT) + "\n", capture_output=True, text=True, check=True,
    )  # fmt: skip
    found = re.search(r"Collected : (\d+)", out.stderr)
    if found is None:
        raise BenchError(f"{argv}: no callgrind count: {out.stderr[-300:]}")
    return int(found.group(1))


def import_times(stderr: str) -> dict[str, int]:
    """``-X importtime``: self microseconds per module."""
    per: dict[str, int] = {}
    for line in stderr.splitlines():
        if line.startswith("import time:") and "|" in line and "self [us]" not in line:
            self_us, _, name = (p.strip() for p in line[len("import time:") :].split("|"))
            per[name] = int(self_us)
    return per


def by_package(modules: dict[str, int]) -> Counter[str]:
    per: Counter[str] = Counter()
    for name, us in modules.items():
        per[name.split(".")[0]] += us
    return per


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=7, help="interleaved runs (7)")
    parser.add_argument("--top", type=int, default=12, help="packages listed (12)")
    parser.add_argument("--compare", type=Path, help="also ours from this checkout (a git tree)")
    parser.add_argument(
        "--instructions", action="store_true", help="also count instructions (callgrind, slow)"
    )
    args = parser.parse_args()
    py = sys.executable
    with tempfile.TemporaryDirectory(prefix="ssh-mcp-bench-cold-") as d:
        tmp = Path(d)
        (tmp / "hosts.toml").write_text('[hosts.box]\nhostname = "127.0.0.1"\nport = 22\n')
        (tmp / "known_hosts").write_text("")
        base = {"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", "/")}
        ours_env = {**base, "SSH_HOSTS_FILE": str(tmp / "hosts.toml"),
                    "SSH_KNOWN_HOSTS": str(tmp / "known_hosts"),
                    "SSH_AUDIT_LOG": str(tmp / "audit.jsonl"),
                    "SSH_JOB_TABLE": str(tmp / "jobs.json"),
                    "SSH_HOST_NOTES_DIR": str(tmp / "notes"),
                    "XDG_CACHE_HOME": str(tmp / "cache"),
                    "PYTHONPATH": str(HERE.parent)}  # fmt: skip
        first = iter(range(1_000_000))
        cases: dict[str, Callable[[], Figure]] = {
            "python -c pass": lambda: run_exit("pass", base),
            "python -c 'import mcp'": lambda: run_exit("import mcp", base),
            "bare SDK server, to initialize": lambda: run_server(
                [py, str(HERE / "bare_server.py")], base)[0],
            "python -m ssh_mcp, to initialize": lambda: run_server(
                [py, "-m", "ssh_mcp"], ours_env)[0],
            "  same, first run (no schema cache)": lambda: run_server(
                [py, "-m", "ssh_mcp"],
                {**ours_env, "XDG_CACHE_HOME": str(tmp / f"cache-{next(first)}")})[0],
            **({f"  same, from {args.compare}": lambda: run_server(
                [py, "-m", "ssh_mcp"], {**ours_env, "PYTHONPATH": str(args.compare),
                                  "XDG_CACHE_HOME": str(tmp / "cache-compare")})[0]}
               if args.compare else {}),
        }  # fmt: skip
        for case in cases.values():  # warm the page cache and .pyc files
            case()
        got: dict[str, list[Figure]] = {name: [] for name in cases}
        for _ in range(args.runs):
            for name, case in cases.items():
                got[name].append(case())
        counts: dict[str, int] = {}
        if args.instructions:
            fresh = {**ours_env, "XDG_CACHE_HOME": str(tmp / "cache-counted")}
            counted = {
                "python -c pass": ([py, "-c", "pass"], base),
                "python -c 'import mcp'": ([py, "-c", "import mcp"], base),
                "bare SDK server, to initialize": ([py, str(HERE / "bare_server.py")], base),
                "python -m ssh_mcp, to initialize": ([py, "-m", "ssh_mcp"], ours_env),
                "  same, first run (no schema cache)": ([py, "-m", "ssh_mcp"], fresh),
                **({f"  same, from {args.compare}": ([py, "-m", "ssh_mcp"], {
                    **ours_env, "PYTHONPATH": str(args.compare),
                    "XDG_CACHE_HOME": str(tmp / "cache-compare")})} if args.compare else {}),
            }  # fmt: skip
            counts = {name: instructions(argv, env) for name, (argv, env) in counted.items()}
        mcp_err = subprocess.run([py, "-X", "importtime", "-c", "import mcp"], env=base,
                                 capture_output=True, text=True, check=True).stderr  # fmt: skip
        ours_err = run_server([py, "-X", "importtime", "-m", "ssh_mcp"], ours_env)[1]
    load = os.getloadavg()[0]
    med = {n: [statistics.median(f[i] for f in v) for i in range(3)] for n, v in got.items()}
    _, sdk_c, sdk_m = med["python -c 'import mcp'"]
    rows = [[n, f"{t * 1000:.0f} ms", f"{c * 1000:.0f} ms", f"{m:.1f} MiB",
             f"{(c - sdk_c) * 1000:+.0f} ms CPU, {m - sdk_m:+.1f} MiB"]
            for n, (t, c, m) in med.items()]  # fmt: skip
    print(f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs, load {load:.2f}, "
          f"{args.runs} interleaved runs, medians\n")  # fmt: skip
    print_table(["figure", "wall", "CPU", "peak RSS", "vs import mcp"], rows)
    if counts:
        sdk_i = counts["python -c 'import mcp'"]
        print("\nInstructions (callgrind: the same count whatever the load), one run each:\n")
        print_table(["figure", "instructions", "vs import mcp"],
                    [[n, f"{i / 1e9:.3f} G", f"{(i - sdk_i) / 1e9:+.3f} G"]
                     for n, i in counts.items()])  # fmt: skip
    sdk_mods, ours_mods = import_times(mcp_err), import_times(ours_err)
    sdk = by_package(sdk_mods)
    print(f"\n-X importtime, self time per top-level package (ms), `import mcp` "
          f"(total {sum(sdk.values()) / 1000:.0f} ms, {len(sdk_mods)} modules):")  # fmt: skip
    print_table(["package", "ms"], [[p, f"{us / 1000:.1f}"] for p, us in sdk.most_common(args.top)])
    # Only modules `import mcp` does not load: two runs' self times differ by noise alone.
    extra = by_package({m: us for m, us in ours_mods.items() if m not in sdk_mods})
    n_extra = sum(1 for m in ours_mods if m not in sdk_mods)
    print(f"\nours up to initialize (total {sum(ours_mods.values()) / 1000:.0f} ms): the "
          f"{n_extra} modules `import mcp` does not load, "
          f"{sum(extra.values()) / 1000:.0f} ms:")  # fmt: skip
    print_table(["package", "ms"],
                [[p, f"{us / 1000:.1f}"] for p, us in extra.most_common(args.top)])  # fmt: skip
    ours_pkgs = by_package({m.removeprefix("ssh_mcp."): us for m, us in ours_mods.items()
                            if m.startswith("ssh_mcp.")})  # fmt: skip
    print("\nssh_mcp by subpackage (ms): " + ", ".join(
        f"{p} {us / 1000:.0f}" for p, us in ours_pkgs.most_common()))  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
