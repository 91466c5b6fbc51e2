#!/usr/bin/python3
"""Memory of `kappa study` independent of the number of distinct optimizer settings.

usage: memory_test.py --kappa KAPPA --work DIR [--mpiexec MPIEXEC] [--relative-only]

A grid of 1e5 tasks on a tiny synthetic problem, each with its own optimizer setting
(momentum: 100 lr x 100 momentum x 10 batch sizes, max_iterations = 1), against the same 1e5
tasks with 10 settings (10 lr x repeats 10000):
  - `kappa study --dry-run` (the planner): peak RSS of the many-settings grid <= 100 MB, and at
    most 40 MB more than the 10-settings grid (before the settings were held compactly: 490 MB
    against 29 MB);
  - a real run of the many-settings grid, serially and with 2 ranks under MPIEXEC, stopped by
    SIGTERM a few seconds after rank 0 created its results file (every rank then holds the
    plan): every kappa process <= 100 MB (before: 540 MB serial, 490 MB worker, 545 MB rank 0).
--relative-only (sanitizer builds, whose shadow memory inflates RSS) keeps only the comparison
of the two dry runs. Peaks are VmHWM (/proc/PID/status) and ru_maxrss (wait4) of the process
tree. Prints "ok: ..." and exits 0 on success; otherwise the reason and exits 1.
"""

import argparse
import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "bench"))
import pss  # noqa: E402  (bench/pss.py: the processes of a study)

ENV = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1", OPENBLAS_NUM_THREADS="1",
           OMPI_MCA_rmaps_base_oversubscribe="1")
BOUND_MB = 100.0       # issue 14: 1e5 distinct settings <= 100 MB per rank
SETTINGS_MB = 40.0     # what 1e5 settings may add over 10 settings (about 7 MB)
SYNTHETIC = "synthetic = kind=spectrum,n=40,d=6,noise=0.01,n_test=10\nmax_iterations = 1\n"


class Failure(Exception):
    pass


def check(condition, message):
    if not condition:
        raise Failure(message)


def write_grids(work):
    lr = " ".join(f"{1e-4 * (1 + i):g}" for i in range(100))
    momentum = " ".join(f"{0.001 * i:g}" for i in range(100))
    batch = " ".join(str(1 + i) for i in range(10))
    many = os.path.join(work, "many.ini")
    few = os.path.join(work, "few.ini")
    with open(many, "w") as out:
        out.write(f"optimizer = momentum\n{SYNTHETIC}lr = {lr}\nmomentum = {momentum}\nbatch_size = {batch}\n")
    with open(few, "w") as out:
        out.write(f"optimizer = momentum\n{SYNTHETIC}lr = {' '.join(lr.split()[:10])}\nrepeats = 10000\n")
    return many, few


def kappa_peaks(pid, peaks):
    """Records the VmHWM (MB) of every kappa process under pid."""
    for process in pss.descendants(pid):
        try:
            with open(f"/proc/{process}/status") as status:
                fields = dict(line.split(":", 1) for line in status.read().splitlines() if ":" in line)
            if fields["Name"].strip() == "kappa" and "VmHWM" in fields:
                peaks[process] = max(peaks.get(process, 0.0), int(fields["VmHWM"].split()[0]) / 1024)
        except (OSError, KeyError, ValueError):
            pass


def wait_peak(process):
    """Waits for process; returns (exit status, the largest ru_maxrss in MB of it and its reaped descendants)."""
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    return process.returncode, usage.ru_maxrss / 1024


def dry_run(args, grid):
    env = ENV
    if args.relative_only:
        # AddressSanitizer keeps freed memory resident (its quarantine, 256 MB by default): the
        # planner's temporaries would read as memory held. Without it the comparison counts what
        # is allocated and live (with redzones).
        env = dict(ENV, ASAN_OPTIONS=":".join(filter(None, [ENV.get("ASAN_OPTIONS", ""), "quarantine_size_mb=0"])))
    process = subprocess.Popen([args.kappa, "study", grid, "--dry-run"], env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    out = process.stdout.read()
    err = process.stderr.read()
    code, peak = wait_peak(process)
    check(code == 0, f"kappa study {grid} --dry-run: exit {code}: {err.strip()}")
    check(" 100000 tasks " in out, f"dry run of {grid}: not 100000 tasks: {out.splitlines()[:1]}")
    return out.splitlines()[0], peak


def stopped_run(args, grid, command, output, label):
    """A real run stopped by SIGTERM (to every process, as srun does) once rank 0 has started."""
    for name in (output, output[:-3] + ".csv"):
        if os.path.exists(name):
            os.remove(name)
    process = subprocess.Popen(command + [args.kappa, "study", grid, "-o", output], env=ENV, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, text=True, start_new_session=True)
    peaks = {}
    started = None
    deadline = time.time() + 60
    while process.poll() is None and time.time() < deadline:
        kappa_peaks(process.pid, peaks)
        if started is None and os.path.exists(output):
            started = time.time()
        if started is not None and time.time() > started + 3:
            break
        time.sleep(0.1)
    kappa_peaks(process.pid, peaks)
    check(started is not None or process.poll() is not None, f"{label}: no results file {output} within 60 s")
    for pid in sorted(peaks):  # the ranks and their task processes, not mpiexec
        try:
            os.kill(pid, signal.SIGTERM)
        except OSError:
            pass
    stderr = process.stderr.read()
    code, peak = wait_peak(process)
    check(code == 0 or "stopped by SIGTERM" in stderr, f"{label}: exit {code}: {stderr.strip()[-400:]}")
    check(peaks, f"{label}: no kappa process seen")
    shown = ", ".join(f"{value:.1f}" for _, value in sorted(peaks.items()))
    check(max(peaks.values()) <= BOUND_MB and peak <= BOUND_MB,
          f"{label}: peak RSS {max(max(peaks.values()), peak):.1f} MB > {BOUND_MB:.0f} MB (VmHWM per kappa process: {shown})")
    return f"{label} {shown} MB"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--kappa", required=True)
    parser.add_argument("--mpiexec")
    parser.add_argument("--work", required=True)
    parser.add_argument("--relative-only", action="store_true")
    args = parser.parse_args()
    os.makedirs(args.work, exist_ok=True)
    try:
        many, few = write_grids(args.work)
        summary, many_peak = dry_run(args, many)
        check("100000 optimizer settings" in summary, f"dry run of {many}: {summary}")
        _, few_peak = dry_run(args, few)
        check(many_peak - few_peak <= SETTINGS_MB,
              f"dry run: 1e5 settings take {many_peak:.1f} MB, 10 settings {few_peak:.1f} MB: "
              f"more than {SETTINGS_MB:.0f} MB for the settings (memory grows with them again)")
        report = [f"dry run {many_peak:.1f} MB (10 settings: {few_peak:.1f} MB)"]
        if not args.relative_only:
            check(many_peak <= BOUND_MB, f"dry run of 1e5 settings: peak RSS {many_peak:.1f} MB > {BOUND_MB:.0f} MB")
            report.append(stopped_run(args, many, [], os.path.join(args.work, "serial.h5"), "serial"))
            if args.mpiexec:
                report.append(stopped_run(args, many, [args.mpiexec, "--oversubscribe", "-np", "2"],
                                          os.path.join(args.work, "ranks.h5"), "2 ranks"))
    except Failure as failure:
        print(f"FAIL: {failure}")
        return 1
    print("ok: 1e5 optimizer settings: " + "; ".join(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
