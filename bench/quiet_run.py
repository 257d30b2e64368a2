#!/usr/bin/env python3
"""bench/quiet_run.py: run groups of a benchmark binary on a shared machine, keeping undisturbed runs.

On a small machine that other jobs share (2 cores here), a benchmark that another process
interrupts is worthless, OpenMP ones above all: a thread that loses its core stalls the barrier.
For each group (a --benchmark_filter regex) this script waits until the machine has been idle
(>= 90% idle over 3 consecutive seconds), runs the binary on that group, and measures through
/proc/stat how much CPU all other processes used meanwhile. A run during which they used more
than --max-other of one core on average (default 0.05) is thrown away and the group runs again,
up to --attempts times. The output of the accepted run is printed (or of the last run, marked as
disturbed, when none was accepted).

Usage:
  bench/quiet_run.py [--attempts N] [--max-other F] [--wait S] BINARY GROUP_REGEX... [-- ARGS...]
Example:
  bench/quiet_run.py build/bench/trustml_bench_gemm 'gemm/.*/t2/1024' 'gemm/.*/t2/2048' \\
      -- --benchmark_repetitions=3
"""
import argparse
import os
import subprocess
import sys
import time


def cpu_busy_jiffies():
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:9]]
    total = sum(v)
    return total - v[3] - v[4], total  # minus idle and iowait


def wait_idle(limit):
    start, ok = time.time(), 0
    busy0, total0 = cpu_busy_jiffies()
    while time.time() - start < limit:
        time.sleep(1)
        busy1, total1 = cpu_busy_jiffies()
        idle = 1 - (busy1 - busy0) / max(total1 - total0, 1)
        busy0, total0 = busy1, total1
        ok = ok + 1 if idle >= 0.9 else 0
        if ok >= 3:
            return True
    return False


def run_once(cmd):
    """Runs cmd; returns (returncode, output, elapsed seconds, CPU seconds of other processes)."""
    hz = os.sysconf("SC_CLK_TCK")
    busy0, _ = cpu_busy_jiffies()
    t0 = time.time()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    out = proc.stdout.read()
    proc.stdout.close()
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.time() - t0
    busy1, _ = cpu_busy_jiffies()
    own = usage.ru_utime + usage.ru_stime
    other = max((busy1 - busy0) / hz - own, 0.0)
    return os.waitstatus_to_exitcode(status), out, elapsed, other


def main():
    argv = sys.argv[1:]
    extra = []
    if "--" in argv:
        i = argv.index("--")
        argv, extra = argv[:i], argv[i + 1:]
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--attempts", type=int, default=5)
    p.add_argument("--max-other", type=float, default=0.05,
                   help="largest average share of one core the other processes may use during a run")
    p.add_argument("--wait", type=float, default=600, help="seconds to wait for an idle machine per attempt")
    p.add_argument("binary")
    p.add_argument("groups", nargs="+")
    args = p.parse_args(argv)
    status = 0
    for group in args.groups:
        for attempt in range(1, args.attempts + 1):
            idle = wait_idle(args.wait)
            rc, out, elapsed, other = run_once([args.binary, f"--benchmark_filter={group}"] + extra)
            load = other / elapsed
            ok = rc == 0 and load <= args.max_other
            print(f"# group {group!r} attempt {attempt}: idle before: {'yes' if idle else 'NO'}, "
                  f"{elapsed:.1f} s, other processes used {load:.2f} cores -> {'accepted' if ok else 'disturbed'}",
                  flush=True)
            if ok or attempt == args.attempts:
                print(out, flush=True)
                if not ok:
                    print(f"# group {group!r}: no undisturbed run in {args.attempts} attempts", flush=True)
                    status = 2
                break
    return status


if __name__ == "__main__":
    sys.exit(main())
