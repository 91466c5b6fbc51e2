#!/usr/bin/python3
"""End-to-end tests of `kappa study`: the real executable, serially and under mpiexec.

usage: study_test.py --kappa KAPPA --mpiexec MPIEXEC --work DIR MODE
modes:
  ranks        the same grid serially and with 1, 2, 3 ranks: the same rows, the same numbers
  kill         SIGKILL part-way (serial, then 2 ranks), --resume: every task exactly once,
               the rows written before the kill unchanged
  term         SIGTERM part-way (serial; then 3 ranks, every rank signalled as srun does):
               in-flight results written, exit 143, --resume finishes
  failures     a failing task, a diverging one and a missing data file (2 ranks): the rows are
               marked and every other task is done; an existing results file is refused
               without --resume; --resume refuses another grid
Prints "ok: ..." and exits 0 on success; otherwise the reason and exits 1.
"""

import argparse
import math
import os
import re
import signal
import subprocess
import sys
import time

try:
    import h5py
    import numpy as np
except ImportError as error:  # the system python3 with python3-h5py is required
    print(f"FAIL: {error} (run with /usr/bin/python3 and python3-h5py installed)")
    sys.exit(1)

# The environment every test runs kappa in: root-safe mpiexec, one BLAS thread per rank.
ENV = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1", OPENBLAS_NUM_THREADS="1",
           OMPI_MCA_rmaps_base_oversubscribe="1")

# Columns that legitimately differ between runs of the same task.
RUN_DEPENDENT = {"seconds", "setup_seconds", "rank", "host", "trace_start"}


class Failure(Exception):
    pass


def check(condition, message):
    if not condition:
        raise Failure(message)


def kappa_command(args, ranks):
    command = [args.kappa, "study"]
    if ranks is None:
        return command
    return [args.mpiexec, "--oversubscribe", "-np", str(ranks)] + command


def run(args, ranks, *options, expect=0):
    command = kappa_command(args, ranks) + list(options)
    done = subprocess.run(command, env=ENV, cwd=args.work, capture_output=True, text=True, timeout=600)
    if expect is not None and done.returncode != expect:
        raise Failure(f"{' '.join(command)}: exit {done.returncode}, expected {expect}\nstdout: {done.stdout}\nstderr: {done.stderr}")
    return done


def write_grid(args, name, text):
    with open(os.path.join(args.work, name), "w") as out:
        out.write(text)
    return name


def remove(args, *names):
    for name in names:
        for suffix in ("", ".tmp"):
            path = os.path.join(args.work, name + suffix)
            if os.path.exists(path):
                os.remove(path)


def grid_keys(args, grid):
    """The keys of every task, from --dry-run (independent of any results file)."""
    listing = run(args, None, grid, "--dry-run", "--show", "1000000").stdout
    return [match.group(1) for match in re.finditer(r"^  \d+  ([0-9a-f]{16})  ", listing, re.M)]


def read_results(args, name):
    """{key: {column: value}} and {key: trace arrays}; checks that every key is there once."""
    with h5py.File(os.path.join(args.work, name), "r") as f:
        check(f.attrs["format"] == "kappa study results", "format attribute")
        tasks = f["tasks"]
        columns = tasks.attrs["columns"].split(",")
        table = {c: (tasks[c].asstr()[()] if tasks[c].dtype.kind == "O" else tasks[c][()]) for c in columns}
        traces = {c: f["traces"][c][()] for c in f["traces"]}
        rows = int(f.attrs["row_count"])
        task_count = int(f.attrs["task_count"])
        check(len(table["key"]) == rows, "row_count attribute")
    keys = list(table["key"])
    check(len(set(keys)) == len(keys), f"{name}: a task is in the file twice")
    by_key = {}
    for i, key in enumerate(keys):
        row = {c: table[c][i] for c in columns}
        start, length = int(row["trace_start"]), int(row["trace_length"])
        row["trace"] = {c: traces[c][start:start + length] for c in traces}
        check((row["trace"]["task"] == row["task"]).all(), "trace slice of another task")
        by_key[key] = row
    return by_key, task_count


def same_value(a, b):
    if isinstance(a, np.ndarray):
        return a.shape == b.shape and all(same_value(x, y) for x, y in zip(a.tolist(), b.tolist()))
    if isinstance(a, float) or isinstance(a, np.floating):
        return (math.isnan(a) and math.isnan(b)) or a == b
    return a == b


def compare_rows(first, second, what, ignore=RUN_DEPENDENT):
    """Every column (and the trace but its times) equal, bit for bit."""
    for column, value in first.items():
        if column in ignore:
            continue
        if column == "trace":
            for c, points in value.items():
                if c != "seconds":
                    check(same_value(points, second["trace"][c]), f"{what}: trace column {c} differs")
            continue
        check(same_value(value, second[column]), f"{what}: column {column}: {value!r} != {second[column]!r}")


def children(pid):
    """The processes whose parent is `pid` (for mpiexec: the ranks)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(entry))
    return found


def wait_for_rows(args, process, name, minimum):
    """Waits until the results file has at least `minimum` rows (the study still running)."""
    path = os.path.join(args.work, name)
    deadline = time.time() + 300
    while time.time() < deadline:
        check(process.poll() is None, "the study finished before it could be stopped: make the grid longer")
        if os.path.exists(path):
            try:
                with h5py.File(path, "r") as f:
                    if int(f.attrs["row_count"]) >= minimum:
                        return
            except OSError:
                pass  # between the rename and the open: try again
        time.sleep(0.05)
    raise Failure("no results appeared")


# ---------------------------------------------------------------------------------------------

def test_ranks(args):
    grid = write_grid(args, "ranks.ini", """# deterministic optimizers (sgd is seeded by the run seed)
optimizer = gd nesterov cg lbfgs sgd
synthetic = kind=spectrum,n=80,d=10,noise=0.01,n_test=20
synthetic.cond = 10 1000
ridge = 0 0.01
max_iterations = 300
gd.lr = auto 0.01
sgd.batch_size = 8
repeats = 2
""")
    keys = grid_keys(args, grid)
    check(len(keys) == 2 * 2 * (2 + 1 + 1 + 1 + 1) * 2, f"{len(keys)} tasks")
    results = {}
    for ranks in (None, 1, 2, 3):
        name = f"ranks_{ranks or 0}.h5"
        remove(args, name, name.replace(".h5", ".csv"))
        run(args, ranks, grid, "-o", name)
        rows, task_count = read_results(args, name)
        check(task_count == len(keys) and sorted(rows) == sorted(keys), f"{ranks} ranks: not every task exactly once")
        results[ranks] = rows
    serial = results[None]
    for ranks in (1, 2, 3):
        for key, row in serial.items():
            compare_rows(row, results[ranks][key], f"{ranks} ranks, task {row['task']} ({row['optimizer']})")
    used = sorted({int(r["rank"]) for r in results[3].values()})
    statuses = sorted({r["status"] for r in serial.values()})
    return f"{len(keys)} tasks, identical rows serially and with 1, 2, 3 ranks (3 ranks used ranks {used}); statuses {statuses}"


SLOW_GRID = """optimizer = gd
synthetic = kind=spectrum,n=300,d=60,cond=100
synthetic.seed = 1 2 3 4
lr = auto 1e-3 2e-3 3e-3 4e-3 5e-3 6e-3 7e-3
max_iterations = 6000
grad_tol = 0
"""


def stop_and_resume(args, ranks, sig, label):
    grid = write_grid(args, "slow.ini", SLOW_GRID)
    name = f"{label}.h5"
    remove(args, name, f"{label}.csv")
    keys = grid_keys(args, grid)
    command = kappa_command(args, ranks) + [grid, "-o", name, "--flush-interval", "0.2", "--progress-interval", "0.5"]
    process = subprocess.Popen(command, env=ENV, cwd=args.work, start_new_session=True, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    try:
        wait_for_rows(args, process, name, 2)
        if ranks and sig == signal.SIGTERM:
            # As srun's time limit does: SIGTERM to every rank. (mpiexec itself, when signalled,
            # kills the ranks 1 s later: odls_base_sigkill_timeout; docs/study.md.)
            ranks_running = children(process.pid)
            check(len(ranks_running) == ranks, f"found {len(ranks_running)} ranks under mpiexec")
            for pid in ranks_running:
                os.kill(pid, sig)
        else:
            # Every process of the job, as Slurm does (mpiexec puts each rank in its own group).
            for pid in children(process.pid):
                os.kill(pid, sig)
            os.killpg(process.pid, sig)
        stdout, stderr = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    if sig == signal.SIGTERM:
        check(process.returncode == 143, f"exit {process.returncode}\n{stderr}")
        check("stopped by SIGTERM" in stderr and "--resume" in stderr, f"no stop message:\n{stderr}")
    else:
        check(process.returncode == -signal.SIGKILL, f"exit {process.returncode}")
    before, task_count = read_results(args, name)  # a valid file after the kill
    check(0 < len(before) < task_count, f"{len(before)} of {task_count} rows after the signal")

    run(args, ranks, grid, "-o", name, "--resume")
    after, task_count = read_results(args, name)
    check(task_count == len(keys) and sorted(after) == sorted(keys), "after --resume: not every task exactly once")
    for key, row in before.items():
        compare_rows(row, after[key], f"row {row['task']} written before the {label}", ignore={"trace_start"})
    with h5py.File(os.path.join(args.work, name), "r") as f:
        check(int(f.attrs["complete"]) == 1, "complete attribute")
    return f"{label}: {len(before)} of {task_count} rows survived, --resume ran the other {task_count - len(before)}"


def test_kill(args):
    return "; ".join([stop_and_resume(args, None, signal.SIGKILL, "kill_serial"),
                      stop_and_resume(args, 2, signal.SIGKILL, "kill_2_ranks")])


def test_term(args):
    return "; ".join([stop_and_resume(args, None, signal.SIGTERM, "term_serial"),
                      stop_and_resume(args, 3, signal.SIGTERM, "term_3_ranks")])


def test_failures(args):
    subprocess.run([args.kappa, "generate", "--synthetic", "kind=spectrum,n=60,d=6,cond=30,noise=0.01,n_test=10",
                    "--output", os.path.join(args.work, "good.h5")], env=ENV, check=True, capture_output=True)
    grid = write_grid(args, "failures.ini", """data = good.h5 missing.h5
optimizer = gd cg
loss = l2 l1
gd.lr = auto 100
max_iterations = 300
""")
    remove(args, "failures.h5", "failures.csv")
    done = run(args, 2, grid, "-o", "failures.h5")
    check("missing.h5' does not exist: its 6 tasks will fail" in done.stderr, f"no warning:\n{done.stderr}")
    rows, task_count = read_results(args, "failures.h5")
    check(len(rows) == task_count == 12, f"{len(rows)} rows of {task_count}")
    seen = set()
    for row in rows.values():
        what = f"task {row['task']}: {row['optimizer']} {row['params']} {row['data']} {row['loss']}: {row['status']} {row['message']}"
        if row["data"] == "missing.h5":
            check(row["status"] == "failed" and "problem cannot be built" in row["message"] and "does not exist" in row["message"], what)
            seen.add("missing")
        elif row["optimizer"] == "gd" and row["gd.lr"] == "auto" and row["loss"] == "l1":
            check(row["status"] == "failed" and "smooth" in row["message"], what)  # no smoothness constant for l1
            seen.add("failed")
        elif row["optimizer"] == "cg" and row["loss"] == "l1":
            check(row["status"] == "failed" and "quadratic" in row["message"], what)  # cg needs l2
            seen.add("failed")
        elif row["optimizer"] == "gd" and row["gd.lr"] == "100" and row["loss"] == "l2":
            check(row["status"] == "diverged", what)
            seen.add("diverged")
        else:
            check(row["status"] not in ("failed",), what)
    check(seen == {"missing", "failed", "diverged"}, f"cases seen: {seen}")
    # The CSV beside it: the same rows.
    with open(os.path.join(args.work, "failures.csv")) as csv_file:
        import csv
        csv_rows = list(csv.DictReader(csv_file))
    check(sorted(r["key"] for r in csv_rows) == sorted(rows), "CSV rows")
    check(all(r["status"] == rows[r["key"]]["status"] for r in csv_rows), "CSV statuses")

    refused = run(args, None, grid, "-o", "failures.h5", expect=1)
    check("exists: add --resume" in refused.stderr, refused.stderr)
    again = run(args, None, grid, "-o", "failures.h5", "--resume")
    check("0 in this run" in again.stdout, again.stdout)
    other = write_grid(args, "other.ini", open(os.path.join(args.work, grid)).read().replace("max_iterations = 300", "max_iterations = 301"))
    refused = run(args, None, other, "-o", "failures.h5", "--resume", expect=1)
    check("written for another grid" in refused.stderr, refused.stderr)
    # A results file of another format version is refused too (and left as it is).
    with h5py.File(os.path.join(args.work, "failures.h5"), "r+") as f:
        f.attrs["format_version"] = 99
    refused = run(args, None, grid, "-o", "failures.h5", "--resume", expect=1)
    check("has format version 99, this kappa writes version 1" in refused.stderr, refused.stderr)
    return f"{task_count} tasks: missing file, failing and diverging tasks marked, the others done; reruns refused as expected"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--kappa", required=True)
    parser.add_argument("--mpiexec", required=True)
    parser.add_argument("--work", required=True)
    parser.add_argument("mode", choices=["ranks", "kill", "term", "failures"])
    args = parser.parse_args()
    os.makedirs(args.work, exist_ok=True)
    try:
        message = globals()["test_" + args.mode](args)
    except Failure as failure:
        print(f"FAIL: {failure}")
        return 1
    print(f"ok: {message}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
