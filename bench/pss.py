#!/usr/bin/python3
"""Memory of a `kappa study` process tree, sampled from /proc while it runs.

usage: pss.py --data-mb MB [--interval S] [--segments] -- COMMAND...

Runs COMMAND (e.g. mpiexec ... kappa study ...) and samples, every --interval seconds, every
process named kappa under it (ranks and task processes): PSS and RSS from
/proc/PID/smaps_rollup. PSS charges a page shared by k processes 1/k to each, so the sum of
the PSS over the processes is the memory the job holds; a read-only data segment that every
process maps counts once. Prints one JSON object:
  steady_pss_mb    the median PSS sum of the samples at which every process that holds the
                   data has it: `holders` processes have RSS >= 0.9 x data (the median, so that
                   a process still loading or computing its reference at that moment does not
                   count as the run's state)
  peak_pss_mb      the largest PSS sum of any sample (transients: loading, the reference)
  peak_rss_mb      the largest RSS of one process
  holders          the number of processes seen with RSS >= 0.9 x data at once (the most)
  segments         with --segments: the /dev/shm/kappa-data-* files the processes mapped
                   (name -> bytes) and the most processes that mapped one at once
  exit             COMMAND's exit status
A process is counted from when it is seen; the interval (default 0.1 s) bounds what is missed.
"""

import argparse
import json
import os
import subprocess
import sys
import time


def descendants(pid):
    found = [pid]
    try:
        for thread in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{thread}/children") as children:
                for child in children.read().split():
                    found += descendants(int(child))
    except OSError:
        pass
    return found


def memory_of(pid):
    """(pss_kb, rss_kb) of a kappa process, or None."""
    try:
        with open(f"/proc/{pid}/comm") as comm:
            if comm.read().strip() != "kappa":
                return None
        values = {}
        with open(f"/proc/{pid}/smaps_rollup") as rollup:
            for line in rollup:
                parts = line.split()
                if len(parts) >= 2 and parts[0] in ("Pss:", "Rss:"):
                    values[parts[0]] = int(parts[1])
        return values["Pss:"], values["Rss:"]
    except (OSError, KeyError, ValueError):
        return None


def mapped_segments(pid):
    try:
        with open(f"/proc/{pid}/maps") as maps:
            return {line.split()[-1] for line in maps if "/dev/shm/kappa-data-" in line}
    except OSError:
        return set()


def sample(root, data_kb, with_segments):
    pss = 0
    rss_max = 0
    holders = 0
    mappers = {}
    for pid in descendants(root):
        memory = memory_of(pid)
        if memory is None:
            continue
        pss += memory[0]
        rss_max = max(rss_max, memory[1])
        holders += memory[1] >= 0.9 * data_kb
        if with_segments:
            for name in mapped_segments(pid):
                mappers[name] = mappers.get(name, 0) + 1
    return pss, rss_max, holders, mappers


def measure(command, data_mb, interval=0.1, with_segments=False, env=None, cwd=None):
    """Runs command, sampling its kappa processes; returns the dict described above."""
    data_kb = data_mb * 1024
    process = subprocess.Popen(command, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    samples = []
    segments = {}
    most_mappers = 0
    while process.poll() is None:
        pss, rss_max, holders, mappers = sample(process.pid, data_kb, with_segments)
        if pss > 0:
            samples.append((pss, rss_max, holders))
        if with_segments:
            most_mappers = max([most_mappers] + list(mappers.values()))
            for path in mappers:  # this job's segments only (not other jobs'), once published
                if path.endswith(".tmp"):
                    continue
                try:
                    segments[os.path.basename(path)] = os.path.getsize(path)
                except OSError:
                    pass
        time.sleep(interval)
    stdout, stderr = process.communicate()
    holders = max((s[2] for s in samples), default=0)
    steady = sorted(s[0] for s in samples if holders > 0 and s[2] == holders)
    result = {
        "steady_pss_mb": round(steady[len(steady) // 2] / 1024, 1) if steady else 0,
        "peak_pss_mb": round(max((s[0] for s in samples), default=0) / 1024, 1),
        "peak_rss_mb": round(max((s[1] for s in samples), default=0) / 1024, 1),
        "holders": holders,
        "samples": len(samples),
        "exit": process.returncode,
    }
    if with_segments:
        result["segments"] = {"files": segments, "most_mappers": most_mappers}
    return result, stdout, stderr


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--data-mb", type=float, required=True)
    parser.add_argument("--interval", type=float, default=0.1)
    parser.add_argument("--segments", action="store_true")
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    result, _, stderr = measure(command, args.data_mb, args.interval, args.segments)
    if result["exit"] != 0:
        sys.stderr.write(stderr)
    print(json.dumps(result))
    return 0 if result["exit"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
