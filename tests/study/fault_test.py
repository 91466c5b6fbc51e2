#!/usr/bin/python3
"""Fault injection (docs/study.md, "Crash-isolated tasks" and "Lost ranks"): plugins that bring
down the process running them, and a rank that stops answering.

usage: fault_test.py --kappa KAPPA --mpiexec MPIEXEC --work DIR --plugin-dir FAULT_PLUGINS MODE
modes:
  crash   3 ranks (--oversubscribe), tasks of tests/plugins/fault_crashing.cpp that segfault,
          abort(), exit(0), stop reporting (time_limit 1 s) and, in a Release build, allocate
          without bound under RLIMIT_AS: exit 0, every task has its row, the faulty ones
          `crashed` with the signal, exit status or limit named and the last iteration they
          reported, every other row identical to a run of a grid without faults (isolated or with
          --isolation none), kappa report counting them apart; --resume runs
          nothing and leaves every row as it was; --resume --retry-failed runs exactly the
          crashed tasks again
  frozen  3 ranks; rank 1 is SIGSTOPped while it runs a task and never continued: rank 0 says
          within --worker-timeout that rank 1 is lost, its task runs elsewhere, the study exits 4
          with every row, each equal to a serial run's; nothing hangs. Then the same with rank 1
          killed (SIGKILL) under mpirun --enable-recovery, and stopped after its last task; and a
          serial study whose task process is SIGSTOPped: killed after --worker-timeout, its task
          crashed, the others run in a new one
  solve   kappa solve with crashing optimizers among healthy ones: every healthy row printed,
          equal to a run without the faulty ones; the crashed rows name the signal or exit
  signals SIGTERM and SIGINT while a 1e7-task grid is planned (serial, 3 ranks): the study
          ends at once with one line, 128 + signal, and no results file
Prints "ok: ..." and exits 0 on success; otherwise the reason and exits 1.
"""

import os
import re
import signal
import subprocess
import sys
import time

import study_test as st
from study_test import Failure, check

CRASH_GRID = """optimizer = gd {faulty}
synthetic = kind=spectrum,n=40,d=6,noise=0.01,n_test=10
synthetic.cond = 10 100 1000
max_iterations = 200
time_limit = 2
fault_at = {fault_at}
max_gb = 8
"""

# The row message each faulty optimizer must get (its task process ended this way).
DEATHS = {
    "fault_segfault": r"was killed by signal 11 \(SIGSEGV\)$",
    "fault_abort": r"was killed by signal 6 \(SIGABRT\)$",
    "fault_exit": r"exited with status 0$",
    "fault_silent": r"was killed: still running 5 s after its time_limit of 2 s \(the optimizer stopped reporting\)$",
    # malloc fails at the limit and the plugin writes through NULL; or the kernel's OOM killer.
    "fault_alloc": r"was killed by signal (11 \(SIGSEGV\)|9 \(SIGKILL\), e\.g\. by the kernel when memory ran out)$",
}


def sanitized(kappa):
    """Whether kappa is an AddressSanitizer build (which cannot run under RLIMIT_AS)."""
    libraries = subprocess.run(["ldd", kappa], capture_output=True, text=True).stdout
    return "libasan" in libraries


def address_space_limit(limit):
    import resource

    def apply():
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    return apply


def without_task(row):
    """The row without its task index (its place in another grid), also in its trace."""
    row = dict(row, trace={c: v for c, v in row["trace"].items() if c != "task"})
    del row["task"]
    return row


def test_crash(args):
    faulty = ["fault_segfault", "fault_abort", "fault_exit", "fault_silent"]
    limited = not sanitized(args.kappa)
    if limited:
        faulty.append("fault_alloc")
    plugins = ["--plugin-dir", args.plugin_dir]
    grid = st.write_grid(args, "crash.ini", CRASH_GRID.format(faulty=" ".join(faulty), fault_at="2 -1"))
    healthy = st.write_grid(args, "healthy.ini", CRASH_GRID.format(faulty=" ".join(faulty), fault_at="-1"))
    st.remove(args, "crash.h5", "crash.csv", "healthy.h5", "healthy.csv")
    command = st.kappa_command(args, 3) + [grid, "-o", "crash.h5"] + plugins
    # 1.5 GB of address space per process: enough for a rank and its task process (their peak is
    # under 0.5 GB), not for fault_alloc's 8 GB.
    done = subprocess.run(command, env=st.ENV, cwd=args.work, capture_output=True, text=True, timeout=600,
                          preexec_fn=address_space_limit(3 << 29) if limited else None)
    check(done.returncode == 0, f"exit {done.returncode}\n{done.stdout}\n{done.stderr}")
    rows, task_count = st.read_results(args, "crash.h5")
    check(len(rows) == task_count == 3 * (1 + 2 * len(faulty)), f"{len(rows)} rows of {task_count}")
    crashed = [row for row in rows.values() if row["status"] == "crashed"]
    check(f"{len(crashed)} crashed)" in done.stdout and len(crashed) == 3 * len(faulty), done.stdout)
    for row in rows.values():
        what = f"task {row['task']} ({row['optimizer']}, fault_at {row['fault_at']}): {row['status']}: {row['message']}"
        if row["optimizer"] == "gd" or row["fault_at"] == -1:
            check(row["status"] == "max-iterations", what)
            continue
        check(row["status"] == "crashed", what)
        check(re.match(r"^the task process \(pid \d+\) " + DEATHS[row["optimizer"]], row["message"]), what)
        # The fault comes at iteration 2, before its report: 1 was the last one reported.
        check(row["iterations"] == 1 and row["grad_norm"] > 0 and row["mpi_rank"] in (0, 1, 2), what)
        check(f"task {row['task']} (key {row['key']}) crashed on rank {row['mpi_rank']}: {row['message']}" in done.stderr, what)

    # Every other row is what a run without any fault gives, isolated or not.
    st.remove(args, "in_process.h5", "in_process.csv")
    st.run(args, None, healthy, "-o", "healthy.h5", *plugins)
    st.run(args, None, healthy, "-o", "in_process.h5", "--isolation", "none", *plugins)
    reference, _ = st.read_results(args, "healthy.h5")
    in_process, _ = st.read_results(args, "in_process.h5")
    for key, row in reference.items():
        check(key in rows, f"task {key} of the healthy grid missing")
        st.compare_rows(without_task(row), without_task(rows[key]), f"task {key}")
        st.compare_rows(row, in_process[key], f"task {key} with --isolation none")

    # kappa report counts them apart in its statuses line and says what they are.
    report = subprocess.run([args.kappa, "report", "crash.h5"], env=st.ENV, cwd=args.work, capture_output=True, text=True)
    check(report.returncode == 0 and re.search(rf"^statuses: .*\b{len(crashed)} crashed\b", report.stdout, re.M) and
          f"crashed: {len(crashed)} tasks whose task process died or was killed" in report.stdout, f"report:\n{report.stdout}")

    # --resume does nothing: crashed rows are rows.
    resumed = st.run(args, 3, grid, "-o", "crash.h5", "--resume", *plugins)
    check("(0 in this run" in resumed.stdout, resumed.stdout)
    again, _ = st.read_results(args, "crash.h5")
    for key, row in rows.items():
        st.compare_rows(row, again[key], f"task {key} after --resume", ignore=set())

    # --retry-failed runs exactly the crashed ones again (and they crash again).
    retried = subprocess.run(command + ["--resume", "--retry-failed"], env=st.ENV, cwd=args.work, capture_output=True,
                             text=True, timeout=600, preexec_fn=address_space_limit(3 << 29) if limited else None)
    check(retried.returncode == 0, f"retry: exit {retried.returncode}\n{retried.stderr}")
    check(f"--retry-failed: {len(crashed)} failed or crashed tasks of crash.h5 run again" in retried.stderr, retried.stderr)
    check(f"({len(crashed)} in this run: 0 failed, 0 diverged, {len(crashed)} crashed)" in retried.stdout, retried.stdout)
    note = "" if limited else "; fault_alloc skipped: an AddressSanitizer build cannot run under RLIMIT_AS"
    return (f"{task_count} tasks on 3 ranks, {len(crashed)} crashed as their plugin did ({', '.join(faulty)}), "
            f"every other row equal to the fault-free run; --resume ran nothing, --retry-failed {len(crashed)}{note}")


FROZEN_GRID = """optimizer = gd
synthetic = kind=spectrum,n=200,d=40,cond=100
synthetic.seed = 1 2 3 4 5 6 7 8 9 10 11 12
lr = 1e-3
grad_tol = 0
max_iterations = {iterations}
"""


def rank_pid(mpiexec_pid, rank):
    deadline = time.time() + 60
    while time.time() < deadline:
        for pid in st.children(mpiexec_pid):
            try:
                with open(f"/proc/{pid}/environ", "rb") as environ:
                    if f"OMPI_COMM_WORLD_RANK={rank}\0".encode() in environ.read():
                        return pid
            except OSError:
                pass
        time.sleep(0.01)
    raise Failure(f"rank {rank} did not start")


def zombie(pid):
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


def lose_rank_1(args, grid, how, *mpirun_options):
    """Runs the grid on 3 ranks and, once rows appear, sends rank 1 `how`; returns the results."""
    st.remove(args, "frozen.h5", "frozen.csv")
    timeout = 3
    command = ([args.mpiexec, "--oversubscribe", *mpirun_options, "-np", "3", args.kappa, "study", grid, "-o", "frozen.h5",
                "--chunk", "1", "--worker-timeout", str(timeout)])
    process = subprocess.Popen(command, env=st.ENV, cwd=args.work, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    stopped = None
    try:
        # Rank 1 starts its task process with its first task (each takes about 1.5 s): stopped
        # half a second after that, it is inside a task.
        stopped = rank_pid(process.pid, 1)
        deadline = time.time() + 120
        while not st.children(stopped):
            if process.poll() is not None or time.time() > deadline:
                raise st.TooLate("rank 1 never started a task process")
            time.sleep(0.01)
        time.sleep(0.5)
        os.kill(stopped, how)
        when = time.time()
        stdout, stderr = process.communicate(timeout=300)
    finally:
        if process.poll() is None:
            process.kill()
        if stopped:
            try:
                os.kill(stopped, signal.SIGKILL)
            except ProcessLookupError:
                pass
    took = time.time() - when
    match = re.search(rf"^kappa study: rank 1 sent nothing for {timeout} s \(--worker-timeout\) with (\d+) unfinished tasks?: "
                      r"lost; its tasks go to the other ranks$", stderr, re.M)
    check(match and int(match.group(1)) >= 1, f"no lost-rank line:\n{stderr}")
    check(re.search(r"^kappa study: 1 rank was lost; 12 of 12 tasks in frozen.h5; exit status 4$", stderr, re.M), stderr)
    rows, task_count = st.read_results(args, "frozen.h5")
    check(len(rows) == task_count == 12, f"{len(rows)} rows of {task_count}")
    check(all(row["mpi_rank"] != 1 or row["status"] == "max-iterations" for row in rows.values()), "a row of rank 1 is wrong")
    return rows, process.returncode, int(match.group(1)), took


def stopped_task_process(args, iterations):
    """A serial study whose task process is SIGSTOPped inside its first task: the rank kills it
    after --worker-timeout, records the task as crashed, and runs the others in a new one."""
    grid = st.write_grid(args, "stopped_child.ini", FROZEN_GRID.format(iterations=iterations).replace(
        "synthetic.seed = 1 2 3 4 5 6 7 8 9 10 11 12", "synthetic.seed = 1 2 3"))
    st.remove(args, "stopped_child.h5", "stopped_child.csv")
    process = subprocess.Popen([args.kappa, "study", grid, "-o", "stopped_child.h5", "--worker-timeout", "2"], env=st.ENV,
                               cwd=args.work, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 60
    while not st.children(process.pid):
        check(process.poll() is None and time.time() < deadline, "no task process started")
        time.sleep(0.01)
    child = st.children(process.pid)[0]
    time.sleep(0.5)
    os.kill(child, signal.SIGSTOP)
    stdout, stderr = process.communicate(timeout=120)
    check(process.returncode == 0, f"exit {process.returncode}\n{stderr}")
    rows, task_count = st.read_results(args, "stopped_child.h5")
    statuses = sorted(row["status"] for row in rows.values())
    check(len(rows) == task_count == 3 and statuses == ["crashed", "max-iterations", "max-iterations"], f"statuses {statuses}")
    crashed = next(row for row in rows.values() if row["status"] == "crashed")
    check(crashed["message"] == f"the task process (pid {child}) was killed: no sign of life for 2 s (--worker-timeout; stopped or wedged)",
          f"message {crashed['message']!r}")
    return crashed["seconds"]


def test_frozen(args):
    # About 1.5 s per task (an AddressSanitizer build is about 10 x slower): rank 1 is surely
    # inside one when it is stopped.
    grid = st.write_grid(args, "frozen.ini", FROZEN_GRID.format(iterations=100000 if sanitized(args.kappa) else 1000000))
    st.remove(args, "serial.h5", "serial.csv")
    st.run(args, None, grid, "-o", "serial.h5")
    serial, _ = st.read_results(args, "serial.h5")
    child_seconds = stopped_task_process(args, 100000 if sanitized(args.kappa) else 1000000)
    # SIGSTOP, never continued: plain mpirun cannot see it; rank 0 must.
    rows, code, in_flight, took = lose_rank_1(args, grid, signal.SIGSTOP)
    check(code == 4, f"SIGSTOP: exit {code}, expected 4")
    for key, row in serial.items():
        st.compare_rows(row, rows[key], f"task {key}")
    # SIGKILL under --enable-recovery: the job goes on without rank 1, which rank 0 must notice.
    # (Open MPI 4.1's mpirun then exits 0 whatever rank 0's MPI_Abort says: docs/study.md.)
    recovered, _, killed_in_flight, killed_took = lose_rank_1(args, grid, signal.SIGKILL, "--enable-recovery")
    for key, row in serial.items():
        st.compare_rows(row, recovered[key], f"task {key} (--enable-recovery)")
    # Rank 1 stopped after its last task, when rank 0 has written everything and waits for the
    # job's end: rank 0 must still end (exit 4 after --worker-timeout, or at once if rank 1 was
    # through the collective end). mpirun itself waits for the stopped process (MPI's business):
    # it is killed here once rank 0 has ended.
    quick = st.write_grid(args, "quick.ini", FROZEN_GRID.format(iterations=1000))
    st.remove(args, "quick.h5", "quick.csv")
    process = subprocess.Popen([args.mpiexec, "--oversubscribe", "-np", "3", args.kappa, "study", quick, "-o", "quick.h5",
                                "--worker-timeout", "3"], env=st.ENV, cwd=args.work, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    coordinator, late = rank_pid(process.pid, 0), rank_pid(process.pid, 1)
    try:
        line = process.stdout.readline()
        while line and "tasks done" not in line:
            line = process.stdout.readline()
        try:
            os.kill(late, signal.SIGSTOP)
        except ProcessLookupError:
            pass
        start = time.time()
        while coordinator in st.children(process.pid) and not zombie(coordinator):
            check(time.time() - start < 30, "rank 0 did not end within 30 s of rank 1's stop after its last task")
            time.sleep(0.05)
        ended = time.time() - start
        try:
            os.kill(late, signal.SIGKILL)
        except ProcessLookupError:
            pass
        process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
        try:
            os.kill(late, signal.SIGKILL)
        except ProcessLookupError:
            pass
    check(len(st.read_results(args, "quick.h5")[0]) == 12, "late stop: rows missing")
    return (f"rank 1 stopped with {in_flight} task(s) in flight: found lost after --worker-timeout 3 s, the study ended "
            f"{took:.1f} s after the stop with exit 4 and all 12 rows, equal to a serial run; killed under "
            f"--enable-recovery ({killed_in_flight} in flight): found lost, all 12 rows after {killed_took:.1f} s; stopped after "
            f"its last task: rank 0 ended {ended:.1f} s later; a stopped task process was killed after {child_seconds:.1f} s "
            "and its task recorded crashed")


def solve(args, optimizers, *options):
    faults = ["--set", "fault_at=3"] if any(name.startswith("fault_") for name in optimizers) else []
    command = [args.kappa, "solve", "--synthetic", "kind=spectrum,n=60,d=8,cond=100,noise=0.01,n_test=10", "--optimizer",
               ",".join(optimizers), "--max-iterations", "300", "--time-limit", "1", "--plugin-dir", args.plugin_dir,
               *faults, *options]
    done = subprocess.run(command, env=st.ENV, cwd=args.work, capture_output=True, text=True, timeout=300)
    check(done.returncode == 0, f"{' '.join(command)}: exit {done.returncode}\n{done.stdout}\n{done.stderr}")
    return {line.split()[0]: line.split() for line in done.stdout.splitlines() if line and line.split()[0] in optimizers}, done.stdout


def test_solve(args):
    healthy = ["gd", "cg", "lbfgs"]
    faulty = ["fault_segfault", "fault_silent", "fault_exit"]
    mixed = ["gd", "fault_segfault", "cg", "fault_silent", "fault_exit", "lbfgs"]
    rows, text = solve(args, mixed)
    reference, _ = solve(args, healthy)
    for name in healthy:
        # Everything but the seconds column (index 5) is the same as without the faulty runs.
        check(name in rows and rows[name][:5] + rows[name][6:] == reference[name][:5] + reference[name][6:],
              f"{name}: {rows.get(name)} != {reference[name]}\n{text}")
    deaths = {"fault_segfault": r"was killed by signal 11 \(SIGSEGV\)", "fault_exit": r"exited with status 0",
              "fault_silent": r"was killed: still running 5 s after its time_limit of 1 s"}
    for name in faulty:
        check(rows[name][1] == "crashed" and rows[name][2] == "2", f"{name}: {rows[name]}")
        check(re.search(rf"^{name}: its process \(pid \d+\) {deaths[name]}", text, re.M), f"{name} message:\n{text}")
    return f"kappa solve: {len(faulty)} crashed rows (last iteration 2) named, the {len(healthy)} others as without them"


def test_signals(args):
    # 1e7 tasks: planning takes minutes. SIGTERM/SIGINT 1 s in must end the study at once.
    grid = st.write_grid(args, "huge.ini", "optimizer = gd\nsynthetic = kind=spectrum,n=20,d=4\n"
                         "max_iterations = 1 2 3 4 5 6 7 8 9 10\nrepeats = 1000000\n")
    results = []
    for ranks, sig, options in ((None, signal.SIGTERM, ["--dry-run"]), (None, signal.SIGINT, ["-o", "huge.h5"]),
                                (3, signal.SIGTERM, ["-o", "huge.h5"])):
        st.remove(args, "huge.h5", "huge.csv")
        process = subprocess.Popen(st.kappa_command(args, ranks) + [grid] + options, env=st.ENV, cwd=args.work,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(1.5)
        check(process.poll() is None, "the study ended before the signal")
        os.kill(process.pid, sig)
        sent = time.time()
        try:
            stdout, stderr = process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            raise Failure(f"{sig.name} while planning was ignored for 30 s")
        took = time.time() - sent
        name = "SIGTERM" if sig == signal.SIGTERM else "SIGINT"
        line = f"kappa study: stopped by {name} before any task ran; no results were written"
        what = f"{'serial' if ranks is None else f'{ranks} ranks'}, {name}: exit {process.returncode} after {took:.2f} s\n{stderr}"
        if ranks is None:
            check(process.returncode == 128 + sig and stderr.strip() == line, what)
        else:  # mpirun forwards the signal to every rank and reports their end itself
            check(process.returncode != 0 and line in stderr, what)
        check(took < 10 and not os.path.exists(os.path.join(args.work, "huge.h5")), what)
        results.append(f"{'serial' if ranks is None else f'{ranks} ranks'} {name} {took:.2f} s")
    return "signals while planning a 1e7-task grid end the study at once: " + ", ".join(results)


def main():
    return st.main_of(["crash", "frozen", "solve", "signals"], "the directory of libkappa_plugin_fault_crashing.so", globals())


if __name__ == "__main__":
    sys.exit(main())
