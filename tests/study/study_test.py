#!/usr/bin/python3
"""End-to-end tests of `kappa study`: the real executable, serially and under mpiexec.

usage: study_test.py --kappa KAPPA --mpiexec MPIEXEC --work DIR [--plugin-dir DIR] MODE
modes:
  ranks        the same grid serially and with 1, 2, 3 ranks: the same rows, the same numbers
  kill         SIGKILL part-way (serial, then 2 ranks), --resume: every task exactly once,
               the rows written before the kill unchanged
  term         SIGTERM part-way (serial; then 3 ranks, every rank signalled as srun does):
               in-flight results written (no task dropped, more rows than flushed before the
               signal, as many as the stop message says), exit 143, --resume finishes
  failures     a failing task, a diverging one and a missing data file (2 ranks): the rows are
               marked and every other task is done; an existing results file is refused
               without --resume; --resume refuses another grid and another format version
               (one line)
  nonfinite    a grid of diverging (gd/sgd/momentum/adam, lr up to 1e200) and failing tasks
               (l1 without a smoothness constant, cg on l1/huber, and with --plugin-dir the
               throwing plugin of tests/plugins) on 2 ranks: every task has its row, the diverging ones say so, and no NaN or
               inf appears in a row (HDF5, CSV, trace) whose status is not diverged or failed,
               except the documented "not applicable" markers
  time_limit   tasks that reach their own time_limit inside a study (2 ranks) end with status
               time-limit; the other tasks complete normally
  disk_full    the results file cannot grow (RLIMIT_FSIZE: writes fail with EFBIG), serially
               and with 2 ranks: one error line, exit 1, the file of the last successful flush
               intact (every row complete and equal to an unconstrained run's), no .tmp left;
               --resume with space completes the study, every task once
  vanished     the output directory is removed while the study runs (serial, 2 ranks): one
               error line naming the file, exit 1
  fingerprints a data file regenerated with other content and a plugin library changed under
               the same name since the results were written: --resume refuses at once (one line
               naming it and both fingerprints, the file byte-identical); --rerun-changed reruns
               exactly the affected tasks (equal to a fresh run), the others' rows kept
  journal      SIGKILL at a random moment of a study of 3000 tiny tasks: the .h5 and its journal
               hold the rows reported done 2 flush intervals before the kill; --resume equals an
               uninterrupted run; a damaged journal record is refused naming it
  lock         a second study on the results file of a running one (serial, then 2 ranks) is
               refused at once naming the holder's host and pid; after the holder is killed
               (its lock file left behind) --resume proceeds; a finished study leaves no lock
Prints "ok: ..." and exits 0 on success; otherwise the reason and exits 1.
"""

import argparse
import math
import os
import re
import resource
import shutil
import signal
import socket
import subprocess
import sys
import struct
import threading
import time
import zlib

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
# lockstep_size and shared_epochs: how many runs shared its passes, which a resume that runs only
# part of a group changes (the row's results do not change: docs/study.md, "Lockstep groups").
RUN_DEPENDENT = {"seconds", "setup_seconds", "mpi_rank", "host", "trace_start", "lockstep_size", "shared_epochs"}


class Failure(Exception):
    pass


class TooLate(Failure):
    """The study finished before the fault could be injected: a slow machine, not a kappa bug."""


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


def journal_records(path, journal_id):
    """(task, key) of each complete record of the journal `path` if it belongs to the results file
    of `journal_id` (docs/study.md; checksums checked with zlib's CRC-32); [] for a stale or
    missing journal."""
    try:
        with open(path, "rb") as journal:
            data = journal.read()
    except FileNotFoundError:
        return []
    if len(data) < 20 or data[:8] != b"KAPPAJNL" or struct.unpack_from("<Q", data, 8)[0] != journal_id:
        return []
    at, found = 20, []
    while len(data) - at >= 12:
        length, crc, header_crc = struct.unpack_from("<III", data, at)
        payload = data[at + 12:at + 12 + length]
        if header_crc != zlib.crc32(data[at:at + 8]) or len(payload) < length or zlib.crc32(payload) != crc:
            break  # torn (or damaged: kappa itself tells which)
        # payload: the outcome message (u64 length; u32 magic, u64 task, u64 key length, key), ...
        task, key_length = struct.unpack_from("=QQ", payload, 12)
        found.append((task, payload[28:28 + key_length].decode()))
        at += 12 + length
    return found


def saved_rows(path):
    """Rows in the results file `path` and in its journal; None while it cannot be read."""
    try:
        with h5py.File(path, "r") as f:
            rows = int(f.attrs["row_count"])
            journal_id = int(f.attrs["journal_id"], 16) if "journal_id" in f.attrs else 0
    except OSError:
        return None  # between the rename and the open
    return rows + len(journal_records(path + ".journal", journal_id))


def wait_for_rows(args, process, name, minimum):
    """Waits until the results file has at least `minimum` rows (the study still running)."""
    path = os.path.join(args.work, name)
    deadline = time.time() + 300
    while time.time() < deadline:
        if process.poll() is not None:
            raise TooLate("the study finished before it could be stopped")
        if os.path.exists(path) and (saved_rows(path) or 0) >= minimum:
            return
        time.sleep(0.05)
    raise Failure("no results appeared")


def rows_in_file(args, name):
    """Rows saved: in the .h5 and in its journal."""
    for _ in range(100):
        rows = saved_rows(os.path.join(args.work, name))
        if rows is not None:
            return rows
        time.sleep(0.01)  # between the rename and the open: try again
    raise Failure(f"{name} cannot be read")


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
    used = sorted({int(r["mpi_rank"]) for r in results[3].values()})
    statuses = sorted({r["status"] for r in serial.values()})
    return f"{len(keys)} tasks, identical rows serially and with 1, 2, 3 ranks (3 ranks used ranks {used}); statuses {statuses}"


def slow_grid(iterations):
    return f"""optimizer = gd
synthetic = kind=spectrum,n=300,d=60,cond=100
synthetic.seed = 1 2 3 4
lr = auto 1e-3 2e-3 3e-3 4e-3 5e-3 6e-3 7e-3
max_iterations = {iterations}
grad_tol = 0
"""


def with_longer_runs(inject_fault):
    """Runs inject_fault(iterations), a fault injected into a running study of slow_grid(iterations).

    The fault must land while tasks remain. On a loaded machine (CI runs two tests at a time, the
    sanitizer build is slower) the 32 tasks of 6000 iterations (about 1 s) can all finish between
    the moment the test sees the first rows and the moment the signal arrives. Then the test is
    repeated with four times longer tasks, rather than failing on the machine's timing.
    """
    iterations = 6000
    for attempt in range(3):
        try:
            message = inject_fault(iterations)
            return message if attempt == 0 else f"{message} (with {iterations} iterations per task)"
        except TooLate as too_late:
            if attempt == 2:
                raise Failure(f"{too_late} even with {iterations} iterations per task")
            iterations *= 4


def stop_and_resume(args, ranks, sig, label):
    return with_longer_runs(lambda iterations: stop_and_resume_once(args, ranks, sig, label, iterations))


def stop_and_resume_once(args, ranks, sig, label, iterations):
    grid = write_grid(args, "slow.ini", slow_grid(iterations))
    name = f"{label}.h5"
    remove(args, name, f"{label}.csv")
    keys = grid_keys(args, grid)
    # Lockstep groups of 2: more units than ranks, so that a signal finds some not yet started.
    command = kappa_command(args, ranks) + [grid, "-o", name, "--flush-interval", "0.2", "--progress-interval", "0.5",
                                            "--lockstep-size", "2"]
    process = subprocess.Popen(command, env=ENV, cwd=args.work, start_new_session=True, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    try:
        wait_for_rows(args, process, name, 2)
        rows_at_signal = rows_in_file(args, name)  # flushed before the signal (a lower bound)
        if ranks and sig == signal.SIGTERM:
            # As srun's time limit does: SIGTERM to every rank. (mpiexec itself, when signalled,
            # kills the ranks 1 s later: odls_base_sigkill_timeout; docs/study.md.)
            ranks_running = children(process.pid)
            if len(ranks_running) < ranks:
                raise TooLate(f"only {len(ranks_running)} of {ranks} ranks were still running")  # done ranks exit
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
    if process.returncode == 0:
        raise TooLate("the study was done before the signal arrived")
    if sig == signal.SIGTERM:
        check(process.returncode == 143, f"exit {process.returncode}\n{stderr}")
        check("stopped by SIGTERM" in stderr and "--resume" in stderr, f"no stop message:\n{stderr}")
        # In-flight results written: no task was dropped, the file has what the message counts,
        # and more than was flushed before the signal (the tasks running then, at least).
        check("dropped" not in stderr, f"tasks were dropped:\n{stderr}")
        stopped = re.search(r"stopped by SIGTERM: (\d+) of \d+ tasks", stderr)
        check(stopped and int(stopped.group(1)) == rows_in_file(args, name), f"stop message and file disagree:\n{stderr}")
        check(rows_in_file(args, name) > rows_at_signal, f"{rows_at_signal} rows before the signal, none written after it")
    else:
        check(process.returncode == -signal.SIGKILL, f"exit {process.returncode}")
    before, task_count = read_results(args, name)  # a valid file after the kill (its journal may hold more)
    saved = rows_in_file(args, name)
    check(saved > 0, "no rows after the signal")
    if saved == task_count:
        raise TooLate(f"all {task_count} tasks were done before the signal arrived")

    run(args, ranks, grid, "-o", name, "--resume", "--lockstep-size", "2")
    after, task_count = read_results(args, name)
    check(task_count == len(keys) and sorted(after) == sorted(keys), "after --resume: not every task exactly once")
    for key, row in before.items():
        compare_rows(row, after[key], f"row {row['task']} written before the {label}", ignore={"trace_start"})
    with h5py.File(os.path.join(args.work, name), "r") as f:
        check(int(f.attrs["complete"]) == 1, "complete attribute")
    return f"{label}: {saved} of {task_count} rows survived, --resume ran the other {task_count - saved}"


def test_journal(args):
    """A study of 3000 tiny tasks (2 ms each, 5 s in all) killed with SIGKILL at a random moment: the .h5 and
    its journal hold every row the progress output reported more than two flush intervals (and
    a scheduling allowance) before the kill; --resume completes it, every task once and equal to
    an uninterrupted run; a damaged journal record makes --resume refuse naming it."""
    import random
    interval = 0.2
    grid = write_grid(args, "journal.ini", "optimizer = gd\nsynthetic = kind=spectrum,n=100,d=10\nmax_iterations = 2000\ngrad_tol = 0\nrepeats = 3000\n")
    remove(args, "journal_ref.h5", "journal_ref.csv")
    run(args, None, grid, "-o", "journal_ref.h5", "--force")
    reference, task_count = read_results(args, "journal_ref.h5")
    check(len(reference) == task_count == 3000, "the uninterrupted run")

    def killed_run(name, wait):
        remove(args, name, name.replace(".h5", ".csv"), name + ".journal")
        command = kappa_command(args, None) + [grid, "-o", name, "--flush-interval", str(interval), "--progress-interval", "0.05"]
        process = subprocess.Popen(command, env=ENV, cwd=args.work, start_new_session=True, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.PIPE, text=True)
        reported = []  # (time read, tasks done)

        def read_progress():
            for line in process.stderr:
                match = re.search(r"(\d+)/\d+ done", line)
                if match:
                    reported.append((time.time(), int(match.group(1))))
        reader = threading.Thread(target=read_progress, daemon=True)
        reader.start()
        try:
            wait(process)
            os.killpg(process.pid, signal.SIGKILL)
            killed_at = time.time()
            process.wait(timeout=60)
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        reader.join(timeout=10)
        if process.returncode == 0:
            raise TooLate("the study was done before the kill")
        return killed_at, reported

    name = "journal.h5"
    killed_at, reported = killed_run(name, lambda process: (wait_for_rows(args, process, name, 1), time.sleep(random.uniform(0.5, 2.5))))
    saved = rows_in_file(args, name)
    margin = 2 * interval + 0.2
    promised = max([done for when, done in reported if when <= killed_at - margin], default=0)
    last = max([done for when, done in reported], default=0)
    check(promised > 0, f"no progress reported {margin} s before the kill: the check would be vacuous")
    check(saved >= promised, f"{saved} rows saved, but {promised} were reported done {margin} s before the kill")
    with h5py.File(os.path.join(args.work, name), "r") as f:
        in_h5 = int(f.attrs["row_count"])
    report = run(args, None, grid, "-o", name, "--resume")
    check(f"({saved} already in" in report.stdout, f"--resume did not take the {saved} saved rows:\n{report.stdout}")
    after, _ = read_results(args, name)
    check(sorted(after) == sorted(reference), "after --resume: not every task exactly once")
    for key, row in reference.items():
        compare_rows(row, after[key], f"row {row['task']}")

    # A damaged record before the end: --resume refuses, naming the journal and the record.
    damaged = "journal_damaged.h5"
    journal = os.path.join(args.work, damaged + ".journal")
    killed_run(damaged, lambda process: wait_for_rows(args, process, damaged, 3) or time.sleep(0.05))
    with h5py.File(os.path.join(args.work, damaged), "r") as f:
        records = journal_records(journal, int(f.attrs["journal_id"], 16))
    check(len(records) >= 2, f"{len(records)} journal records: cannot damage one before the end")
    with open(journal, "r+b") as out:
        out.seek(20 + 12 + 40)  # in the payload of record 1
        byte = out.read(1)
        out.seek(-1, os.SEEK_CUR)
        out.write(bytes([byte[0] ^ 0x20]))
    refused = run(args, None, grid, "-o", damaged, "--resume", expect=1)
    check(re.search(r"^kappa study: results journal '[^']*journal_damaged.h5.journal': bad checksum in record 1 at byte offset 20", refused.stderr, re.M)
          and len(refused.stderr.strip().splitlines()) == 1, f"the refusal:\n{refused.stderr}")
    return (f"killed after {last} reported done: {saved} rows saved ({in_h5} in the .h5), >= the {promised} reported "
            f"{margin:.1f} s before the kill; --resume equal to an uninterrupted run; a damaged record refused")


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
        elif row["optimizer"] == "gd" and row["gd.lr_spec"] == "auto" and row["loss"] == "l1":
            check(row["status"] == "failed" and "smooth" in row["message"], what)  # no smoothness constant for l1
            seen.add("failed")
        elif row["optimizer"] == "cg" and row["loss"] == "l1":
            check(row["status"] == "failed" and "quadratic" in row["message"], what)  # cg needs l2
            seen.add("failed")
        elif row["optimizer"] == "gd" and row["gd.lr_spec"] == "100" and row["loss"] == "l2":
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
    check("has format version 99, this kappa writes version 5" in refused.stderr and len(refused.stderr.strip().splitlines()) == 1,
          refused.stderr)
    return f"{task_count} tasks: missing file, failing and diverging tasks marked, the others done; reruns refused as expected"


# ---------------------------------------------------------------------------------------------
# Non-finite values: only in rows that say why.

# Float columns whose NaN (or inf) is a documented "not applicable / not known" marker in a row
# of any status (docs/study.md, /tasks columns). Returns whether `value` is allowed there.
def documented_marker(row, column, value, grid_keys):
    if column == "huber_delta":
        return row["loss"] != "huber" and math.isnan(value)           # applies to huber rows only
    if column in ("test_mae", "test_rmse"):
        return "n_test=0" in row["data"] and math.isnan(value)        # no test part
    if column == "condition_number":
        return row["loss"] != "l2" and math.isnan(value)              # l2 regression only
    if column == "predicted_iterations":
        return math.isnan(value) or value == math.inf                  # no prediction / cannot converge
    if column == "lr_used":
        return math.isnan(value) and "lr=" not in row["params"]         # no step size (cg, lbfgs, direct)
    if column == "setup_epochs":
        return row["status"] == "crashed" and math.isnan(value)         # not known after a crash
    if column == "shared_epochs":
        return int(row["lockstep_size"]) == 1 and math.isnan(value)   # ran alone: nothing shared
    if row.get(column + "_spec", "") not in ("", None):                 # a keyword (lr=auto): its text in COLUMN_spec
        try:
            float(row[column + "_spec"])
        except ValueError:
            return math.isnan(value)
    if column in grid_keys:                                            # a grid key that does not apply
        optimizer = column.split(".")[0] if "." in column and not column.startswith("synthetic.") else None
        return math.isnan(value) and optimizer is not None and optimizer != row["optimizer"]
    return False


def check_nonfinite(rows, float_columns, grid_keys, source):
    """Every non-finite float is in a diverged/failed row or a documented marker; returns the
    number of non-finite values found in diverged/failed rows."""
    in_bad_rows = 0
    for row in rows:
        for column in float_columns:
            value = float(row[column])
            if math.isfinite(value):
                continue
            if row["status"] in ("diverged", "failed"):
                in_bad_rows += 1
                continue
            check(documented_marker(row, column, value, grid_keys),
                  f"{source}: task {row['task']} ({row['optimizer']} {row['params']} {row['loss']}, status {row['status']}): "
                  f"column {column} = {value}")
    return in_bad_rows


def test_nonfinite(args):
    # Diverging first-order methods (lr 1e3 diverges geometrically, lr 1e200 overflows at once),
    # failing tasks (no smoothness constant for l1 with lr=auto; cg needs l2; a plugin whose
    # minimize() throws, when the build has it), with and without a test part.
    throwing = ["bad_minimize_std", "bad_minimize_int"] if args.plugin_dir else []
    grid = write_grid(args, "nonfinite.ini", f"""optimizer = gd sgd momentum adam cg {' '.join(throwing)}
synthetic = kind=spectrum,n=60,d=8,cond=30,noise=0.01
synthetic.n_test = 0 10
loss = l2 l1 huber
gd.lr = auto 1e3 1e200
sgd.lr = auto 1e3 1e200
momentum.lr = auto 1e3 1e200
adam.lr = 1e-2 1e200
sgd.batch_size = 8
max_iterations = 200
""")
    extra = ["--plugin-dir", args.plugin_dir] if args.plugin_dir else []
    remove(args, "nonfinite.h5", "nonfinite.csv")
    done = run(args, 2, grid, "-o", "nonfinite.h5", *extra)
    rows, task_count = read_results(args, "nonfinite.h5")
    check(len(rows) == task_count == 2 * 3 * (3 + 3 + 3 + 2 + 1 + len(throwing)), f"{len(rows)} rows of {task_count}")
    check(len({int(r["mpi_rank"]) for r in rows.values()}) == 2, "both ranks ran tasks")
    counts = {}
    for row in rows.values():
        counts[row["status"]] = counts.get(row["status"], 0) + 1
        what = f"task {row['task']}: {row['optimizer']} {row['params']} {row['loss']}: {row['status']} {row['message']}"
        lr = float(row.get(f"{row['optimizer']}.lr", math.nan))  # NaN for auto (its text in .lr_spec)
        if row["loss"] == "l2" and lr in (1e3, 1e200) or (row["optimizer"] == "adam" and lr == 1e200):
            check(row["status"] == "diverged" and row["message"], what)
        if row["optimizer"] in throwing:
            check(row["status"] == "failed" and "threw" in row["message"], what)
    check(counts.get("diverged", 0) > 0 and counts.get("failed", 0) > 0, f"statuses {counts}")

    with h5py.File(os.path.join(args.work, "nonfinite.h5"), "r") as f:
        tasks = f["tasks"]
        columns = tasks.attrs["columns"].split(",")
        float_columns = [c for c in columns if tasks[c].dtype.kind == "f"]
        grid_keys = set(f["axes"].attrs["order"].split(","))
    grid_keys.update(c for c in columns if c.endswith(".lr") or c == "sgd.batch_size")
    table = list(rows.values())
    found = check_nonfinite(table, float_columns, grid_keys, "HDF5")
    check(found > 0, "no non-finite value in any diverged/failed row: the grid does not test what it should")
    # The traces: a non-finite loss or gradient norm only in a task that diverged or failed.
    for row in table:
        for c in ("loss", "grad_norm", "relative_weight_error"):
            points = row["trace"][c]
            check(np.isfinite(points).all() or row["status"] in ("diverged", "failed"),
                  f"task {row['task']} ({row['status']}): non-finite trace {c}")
    # The CSV: the same values ('nan', 'inf' as text), so the same check.
    import csv
    with open(os.path.join(args.work, "nonfinite.csv")) as csv_file:
        csv_rows = list(csv.DictReader(csv_file))
    check(len(csv_rows) == len(table), "CSV rows")
    for csv_row in csv_rows:
        row = rows[csv_row["key"]]
        for c in float_columns:
            text = csv_row[c]
            check(same_value(float(text), float(row[c])), f"CSV task {row['task']} column {c}: {text!r} != {row[c]!r}")
    csv_found = check_nonfinite(csv_rows, float_columns, grid_keys, "CSV")
    check(csv_found == found, f"{csv_found} non-finite values in the CSV, {found} in the HDF5 file")
    return f"{task_count} tasks ({counts}); {found} non-finite values, all in diverged/failed rows" + \
        (" (with a throwing plugin)" if throwing else " (no throwing plugin given)")


# ---------------------------------------------------------------------------------------------

def test_time_limit(args):
    # max_iterations 200 / no time limit, or 1e8 iterations (minutes) / 0.5 s: zipped.
    grid = write_grid(args, "time_limit.ini", """optimizer = gd
synthetic = kind=spectrum,n=200,d=40,cond=100
synthetic.seed = 1 2 3
lr = 1e-3
grad_tol = 0
max_iterations = 200 100000000
time_limit = 0 0.5
zip = max_iterations,time_limit
""")
    remove(args, "time_limit.h5", "time_limit.csv")
    run(args, 2, grid, "-o", "time_limit.h5")
    rows, task_count = read_results(args, "time_limit.h5")
    check(len(rows) == task_count == 6, f"{len(rows)} rows of {task_count}")
    for row in rows.values():
        what = f"task {row['task']}: time_limit {row['time_limit']}: {row['status']} after {row['iterations']} iterations, {row['seconds']} s"
        if row["time_limit"] > 0:
            check(row["status"] == "time-limit", what)
            check(0 < row["iterations"] < row["max_iterations"], what)
            # The limit is checked at every report (one per GD iteration, microseconds apart).
            check(row["time_limit"] <= row["seconds"] < row["time_limit"] + 5, what)
            check(row["trace"]["iteration"][-1] == row["iterations"], what)
        else:
            check(row["status"] == "max-iterations" and row["iterations"] == 200, what)
    return f"{task_count} tasks: the 3 time-limited ones stopped with status time-limit, the others completed"


# ---------------------------------------------------------------------------------------------
# The results file cannot be written: a full disk, a vanished directory.

DISK_GRID = """optimizer = gd
synthetic = kind=spectrum,n=200,d=40,cond=100
synthetic.seed = 1 2 3 4 5 6 7 8 9 10
lr = 1e-3 2e-3 3e-3 4e-3 5e-3 6e-3
max_iterations = 3000
grad_tol = 0
"""


def file_size_limit(limit):
    """preexec_fn: files of the process (and of mpiexec's ranks) cannot grow beyond `limit`
    bytes; a write past it fails with EFBIG, as on a full disk (SIGXFSZ ignored)."""
    def apply():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    return apply


# kappa study's live progress lines ("kappa study: 16/32 done, 0 failed, ..."): on a loaded
# machine (a sanitizer build) one may come before an error; they are not errors.
PROGRESS_LINE = re.compile(r"^kappa study: \d+/\d+ done, ")


def without_progress(stderr):
    return "\n".join(line for line in stderr.splitlines() if not PROGRESS_LINE.match(line)).strip()


def kappa_error_lines(stderr):
    return [line for line in without_progress(stderr).splitlines() if line.startswith("kappa study")]


def rank_zero(mpiexec_pid):
    """The pid of rank 0 under mpiexec, once it has started."""
    deadline = time.time() + 60
    while time.time() < deadline:
        for pid in children(mpiexec_pid):
            try:
                with open(f"/proc/{pid}/environ", "rb") as environ:
                    if b"OMPI_COMM_WORLD_RANK=0\0" in environ.read():
                        return pid
            except OSError:
                pass
        time.sleep(0.01)
    raise Failure("rank 0 did not start")


def disk_full(args, ranks, full_rows):
    label = f"disk_full_{ranks or 0}"
    name = f"{label}.h5"
    remove(args, name, f"{label}.csv")
    # Half the size of the complete file: the first writes fit, a later one does not.
    limit = os.path.getsize(os.path.join(args.work, "disk_reference.h5")) // 2
    command = kappa_command(args, ranks) + ["disk.ini", "-o", name, "--flush-interval", "0"]
    if ranks is None:
        done = subprocess.run(command, env=ENV, cwd=args.work, capture_output=True, text=True, timeout=300,
                              preexec_fn=file_size_limit(limit))
        returncode, stderr = done.returncode, done.stderr
    else:
        # Under mpiexec only rank 0, which writes the results, gets the limit (Open MPI's own
        # shared-memory files would hit it too), set after its first write (of no rows, a third
        # of the limit) and before its results grow past it; it must itself ignore SIGXFSZ
        # (install_stop_signals): nothing here sets that for it.
        process = subprocess.Popen(command, env=ENV, cwd=args.work, start_new_session=True, stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, text=True)
        try:
            pid = rank_zero(process.pid)
            # After MPI_Init (its shared-memory files) and the first write: the file exists.
            path = os.path.join(args.work, name)
            while not os.path.exists(path) and process.poll() is None:
                time.sleep(0.005)
            resource.prlimit(pid, resource.RLIMIT_FSIZE, (limit, limit))
            _, stderr = process.communicate(timeout=300)
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        returncode = process.returncode
    check(returncode != 0, f"{label}: exit 0 on a full disk\n{stderr}")
    errors = kappa_error_lines(stderr)
    check(len(errors) == 1 and name in errors[0] and "disk full" in errors[0],
          f"{label}: expected one error line naming {name} and the full disk, got:\n{stderr}")
    if ranks is None:
        check(returncode == 1 and without_progress(stderr) == errors[0], f"{label}: exit {returncode}, stderr:\n{stderr}")
    check(not os.path.exists(os.path.join(args.work, name + ".tmp")), f"{label}: a temporary file was left")
    # The file of the last successful flush: readable, every row complete and equal to the
    # unconstrained run's row of the same task.
    before, task_count = read_results(args, name)
    # Serially the limit holds from the start and the first rows always fit; under mpiexec it is
    # set a moment after the first write, by which time a loaded machine may have finished
    # enough tasks for the next write not to fit: a file of no rows is then the right result.
    saved = rows_in_file(args, name)  # the .h5 and its journal
    check((0 if ranks else 1) <= saved < task_count, f"{label}: {saved} of {task_count} rows (expected a partial file)")
    for key, row in before.items():
        compare_rows(full_rows[key], row, f"{label}: row {row['task']}")
    # With space again, --resume completes it: every task once, the old rows unchanged.
    run_output = run(args, ranks, "disk.ini", "-o", name, "--resume")
    after, task_count = read_results(args, name)
    check(sorted(after) == sorted(full_rows), f"{label}: after --resume, not every task exactly once")
    for key, row in before.items():
        compare_rows(row, after[key], f"{label}: row {row['task']} kept by --resume", ignore={"trace_start"})
    for key, row in after.items():  # the journal's rows too (and those run again)
        compare_rows(full_rows[key], row, f"{label}: row {row['task']} after --resume")
    check(f"({saved} already in" in run_output.stdout, f"{label}: --resume did not take the {saved} saved rows:\n{run_output.stdout}")
    return f"{label}: '{errors[0]}', {saved} of {task_count} rows intact ({len(before)} in the .h5), --resume ran the rest"


def test_disk_full(args):
    write_grid(args, "disk.ini", DISK_GRID)
    remove(args, "disk_reference.h5", "disk_reference.csv")
    run(args, None, "disk.ini", "-o", "disk_reference.h5")
    full_rows, _ = read_results(args, "disk_reference.h5")
    return "; ".join(disk_full(args, ranks, full_rows) for ranks in (None, 2))


def vanished(args, ranks):
    return with_longer_runs(lambda iterations: vanished_once(args, ranks, iterations))


def vanished_once(args, ranks, iterations):
    write_grid(args, "slow.ini", slow_grid(iterations))
    directory = os.path.join(args.work, f"vanished_{ranks or 0}")
    shutil.rmtree(directory, ignore_errors=True)  # no results of an earlier attempt
    os.makedirs(directory)
    name = os.path.join(directory, "results.h5")
    command = kappa_command(args, ranks) + ["slow.ini", "-o", name, "--flush-interval", "0.1"]
    process = subprocess.Popen(command, env=ENV, cwd=args.work, start_new_session=True, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    try:
        wait_for_rows(args, process, name, 1)
        shutil.rmtree(directory)
        stdout, stderr = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    label = f"vanished directory, {ranks or 1} rank{'s' if ranks else ''}"
    if process.returncode == 0:
        raise TooLate(f"{label}: the study was done before its directory was removed")
    errors = kappa_error_lines(stderr)
    check(len(errors) == 1 and "results file" in errors[0] and directory in errors[0],
          f"{label}: expected one error line naming the results file, got:\n{stderr}")
    if ranks is None:
        check(process.returncode == 1 and without_progress(stderr) == errors[0], f"{label}: exit {process.returncode}, stderr:\n{stderr}")
    check(not os.path.exists(directory), f"{label}: the directory was created again")
    return f"{label}: exit {process.returncode}, '{errors[0]}'"


def lock_once(args, ranks):
    grid = write_grid(args, "lock.ini", slow_grid(200000))
    # A lock file left by a killed run would hold an old holder's text: the wait below needs the new one.
    remove(args, "lock.h5", "lock.csv", "lock.h5.lock")
    holder = subprocess.Popen(kappa_command(args, ranks) + [grid, "-o", "lock.h5"], env=ENV, cwd=args.work,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    lock_file = os.path.join(args.work, "lock.h5.lock")
    try:
        deadline = time.time() + 60
        while not (os.path.exists(lock_file) and open(lock_file).read()) and time.time() < deadline:
            time.sleep(0.05)
        check(os.path.exists(lock_file), "the running study made no lock file")
        pid = rank_zero(holder.pid) if ranks else holder.pid
        second = run(args, None, grid, "-o", "lock.h5", "--force", expect=1)
        lines = kappa_error_lines(second.stderr)
        expected = f"is in use by another study (host {socket.gethostname()}, pid {pid}; lock file 'lock.h5.lock')"
        check(len(lines) == 1 and expected in lines[0], f"second study: {second.stderr!r}, expected one line with {expected!r}")
    finally:
        # The ranks first (once mpiexec is gone they are no longer its children), then mpiexec,
        # and wait until every one has exited: a surviving rank 0 would still hold the lock.
        ranks_running = children(holder.pid)
        for child in ranks_running:
            try:
                os.kill(child, signal.SIGKILL)
            except ProcessLookupError:
                pass
        holder.kill()
        holder.wait()
        def alive(pid):
            try:
                with open(f"/proc/{pid}/stat") as stat:
                    return stat.read().split()[2] != "Z"
            except OSError:
                return False
        deadline = time.time() + 30
        while any(alive(pid) for pid in ranks_running) and time.time() < deadline:
            time.sleep(0.05)
    check(os.path.exists(lock_file), "the killed study's lock file is gone (the test would not show a stale lock is harmless)")
    # A stale lock file does not block: flock's lock died with its process.
    write_grid(args, "lock.ini", slow_grid(20))
    remove(args, "lock.h5", "lock.csv")
    run(args, ranks, grid, "-o", "lock.h5")
    check(not os.path.exists(lock_file), "a finished study left its lock file")
    return f"{'serial' if ranks is None else f'{ranks} ranks'}: refused naming pid {pid}"


def generate(args, name, spec):
    subprocess.run([args.kappa, "generate", "--synthetic", spec, "--output", os.path.join(args.work, name)],
                   env=ENV, check=True, capture_output=True)


def file_bytes(args, name):
    with open(os.path.join(args.work, name), "rb") as f:
        return f.read()


def refused_for_change(args, grid, output, what, subject, *options):
    """--resume after a change: exit 1 at once, one line naming it and both fingerprints, the file
    unchanged. Returns the two fingerprints (now, then)."""
    before = file_bytes(args, output)
    refused = run(args, None, grid, "-o", output, "--resume", *options, expect=1)
    lines = refused.stderr.strip().splitlines()
    pattern = (rf"^kappa study: results file '{re.escape(output)}' was written with other {what}: {subject} has fingerprint "
               r"([0-9a-f]{16}) now, ([0-9a-f]{16}) when the results were written; rerun the changed tasks with --rerun-changed, "
               r"or choose another --output$")
    match = re.match(pattern, lines[0]) if len(lines) == 1 else None
    check(match and match.group(1) != match.group(2), f"refusal:\n{refused.stderr}")
    check(file_bytes(args, output) == before, f"{output} changed by a refused --resume")
    return match.group(1), match.group(2)


def rerun_changed(args, grid, output, dropped, *options):
    done = run(args, None, grid, "-o", output, "--resume", "--rerun-changed", *options)
    note = f"--rerun-changed: {dropped} task{'s' if dropped != 1 else ''} of {output} run again"
    check(note in done.stderr and f"({dropped} in this run" in done.stdout, f"rerun note:\n{done.stderr}{done.stdout}")
    again = run(args, None, grid, "-o", output, "--resume", *options)  # the file now has the new fingerprints
    check("(0 in this run" in again.stdout, again.stdout)


def test_fingerprints(args):
    spec = "kind=spectrum,n=40,d=6,noise=0.01,n_test=10,cond={}"
    generate(args, "fa.h5", spec.format(10))
    generate(args, "fb.h5", spec.format(100))
    grid = write_grid(args, "fingerprints.ini", "data = fa.h5 fb.h5\noptimizer = gd cg\nmax_iterations = 200\n")
    remove(args, "fingerprints.h5", "fingerprints.csv", "fresh.h5", "fresh.csv")
    run(args, None, grid, "-o", "fingerprints.h5")
    before, task_count = read_results(args, "fingerprints.h5")
    # The same values written again (a new file, other HDF5 metadata) and a touch change nothing.
    generate(args, "fa.h5", spec.format(10))
    os.utime(os.path.join(args.work, "fb.h5"))
    same = run(args, None, grid, "-o", "fingerprints.h5", "--resume")
    check("(0 in this run" in same.stdout, same.stdout)

    # fa.h5 regenerated with other content: refused, then only its tasks rerun.
    generate(args, "fa.h5", spec.format(1000))
    refused_for_change(args, grid, "fingerprints.h5", "data", "data file 'fa.h5'")
    changed = [key for key, row in before.items() if row["data"] == "fa.h5"]
    rerun_changed(args, grid, "fingerprints.h5", len(changed))
    after, _ = read_results(args, "fingerprints.h5")
    run(args, None, grid, "-o", "fresh.h5")
    fresh, _ = read_results(args, "fresh.h5")
    check(len(after) == task_count and 0 < len(changed) < task_count, f"{len(after)} rows, {len(changed)} changed")
    for key, row in after.items():
        if key in changed:
            compare_rows(row, fresh[key], f"rerun task {key} against a fresh run")
            check(row["final_loss"] != before[key]["final_loss"], f"task {key}: the same loss on other data")
        else:
            compare_rows(row, before[key], f"kept task {key}", ignore={"trace_start"})

    # A plugin library changed under the same name (one byte appended: it still loads).
    plugins = os.path.join(args.work, "plugins")
    os.makedirs(plugins, exist_ok=True)
    library = os.path.join(plugins, "libkappa_plugin_gd.so")
    shutil.copyfile(os.path.join(args.plugin_dir, "libkappa_plugin_gd.so"), library)
    remove(args, "plugin.h5", "plugin.csv")
    plugin_grid = write_grid(args, "plugin.ini", "data = fb.h5\noptimizer = gd cg\nlr = 1e-3 1e-2\nmax_iterations = 100\n")
    run(args, None, plugin_grid, "-o", "plugin.h5", "--plugin-dir", plugins)
    plugin_rows, plugin_tasks = read_results(args, "plugin.h5")
    with open(library, "ab") as out:
        out.write(b"\0")
    refused_for_change(args, plugin_grid, "plugin.h5", "plugins", f"plugin library '{re.escape(library)}'", "--plugin-dir", plugins)
    gd_tasks = [key for key, row in plugin_rows.items() if row["optimizer"] == "gd"]
    rerun_changed(args, plugin_grid, "plugin.h5", len(gd_tasks), "--plugin-dir", plugins)
    rerun_rows, _ = read_results(args, "plugin.h5")
    for key, row in rerun_rows.items():
        compare_rows(row, plugin_rows[key], f"plugin task {key}", ignore=RUN_DEPENDENT if key in gd_tasks else {"trace_start"})
    return (f"a regenerated data file refused (file unchanged), --rerun-changed reran its {len(changed)} of {task_count} tasks "
            f"(equal to a fresh run), the other file's rows kept; a changed plugin: {len(gd_tasks)} of {plugin_tasks} tasks rerun")


def test_lock(args):
    return "; ".join(lock_once(args, ranks) for ranks in (None, 2))


def test_vanished(args):
    return "; ".join(vanished(args, ranks) for ranks in (None, 2))


def transparent_huge_pages():
    """The kernel's THP mode (always, madvise or never), None without THP."""
    try:
        with open("/sys/kernel/mm/transparent_hugepage/enabled") as enabled:
            return re.search(r"\[(\w+)\]", enabled.read()).group(1)
    except (OSError, AttributeError):
        return None


def task_process_huge_pages(args, tunables):
    """Runs a one-task study of about a second with GLIBC_TUNABLES=`tunables` (None: unset) and
    returns the most AnonHugePages (kB) its task process held while it ran."""
    env = {k: v for k, v in ENV.items() if k != "GLIBC_TUNABLES"}
    if tunables is not None:
        env["GLIBC_TUNABLES"] = tunables
    remove(args, "huge.h5", "huge.csv")
    process = subprocess.Popen([args.kappa, "study", "huge.ini", "-o", "huge.h5"], env=env, cwd=args.work,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    most = 0
    try:
        while process.poll() is None:
            for pid in children(process.pid):
                try:
                    with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
                        if b"task-process" not in cmdline.read():
                            continue
                    with open(f"/proc/{pid}/smaps_rollup") as rollup:
                        found = re.search(r"^AnonHugePages:\s+(\d+) kB", rollup.read(), re.M)
                    most = max(most, int(found.group(1)) if found else 0)
                except OSError:
                    pass
            time.sleep(0.005)
        _, stderr = process.communicate(timeout=600)
    finally:
        if process.poll() is None:
            process.kill()
    check(process.returncode == 0, f"the study with GLIBC_TUNABLES={tunables}: exit {process.returncode}\n{stderr}")
    return most


def test_huge_pages(args):
    """Task processes back their heap with transparent huge pages (task_process_environment):
    measured in the task process's own mappings, with the user's GLIBC_TUNABLES kept."""
    mode = transparent_huge_pages()
    if mode not in ("always", "madvise"):
        return f"skipped: this kernel has transparent huge pages {mode or 'absent'}"
    linked = subprocess.run(["ldd", args.kappa], capture_output=True, text=True).stdout
    if "libasan" in linked:
        return "skipped: AddressSanitizer's allocator replaces glibc's malloc in this build"
    glibc = os.confstr("CS_GNU_LIBC_VERSION").split()[-1]
    if tuple(int(part) for part in glibc.split(".")[:2]) < (2, 35):
        return f"skipped: glibc {glibc} has no glibc.malloc.hugetlb (2.35 on)"
    write_grid(args, "huge.ini", "optimizer = gd\nsynthetic = kind=spectrum,n=600,d=600,cond=1e3,n_test=0\n"
               "lr = 1e-4\nmax_iterations = 12000\ngrad_tol = 0\n")
    default = task_process_huge_pages(args, None)
    check(default > 0, f"no huge pages in the task process under THP {mode} (AnonHugePages 0 kB)")
    other = task_process_huge_pages(args, "glibc.malloc.arena_max=2")
    check(other > 0, "the user's GLIBC_TUNABLES=glibc.malloc.arena_max=2 lost the huge pages of the task process")
    empty = task_process_huge_pages(args, "")
    check(empty > 0, "an empty GLIBC_TUNABLES lost the huge pages of the task process")
    refused = task_process_huge_pages(args, "glibc.malloc.hugetlb=0")
    if mode == "madvise":
        check(refused == 0, f"GLIBC_TUNABLES=glibc.malloc.hugetlb=0 was overridden: {refused} kB of huge pages")
    return (f"THP {mode}: task process AnonHugePages {default} kB by default, {other} kB with another tunable set, "
            f"{empty} kB with an empty GLIBC_TUNABLES, {refused} kB with glibc.malloc.hugetlb=0")


def main_of(modes, plugin_help, tests):
    """The command line of a test script (this one, fault_test.py): runs tests["test_" + mode],
    prints "ok: ..." or "FAIL: ..." and returns the exit status."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--kappa", required=True)
    parser.add_argument("--mpiexec", required=True)
    parser.add_argument("--work", required=True)
    parser.add_argument("--plugin-dir", help=plugin_help)
    parser.add_argument("mode", choices=modes)
    args = parser.parse_args()
    os.makedirs(args.work, exist_ok=True)
    try:
        message = tests["test_" + args.mode](args)
    except Failure as failure:
        print(f"FAIL: {failure}")
        return 1
    print(f"ok: {message}")
    return 0


def main():
    return main_of(["ranks", "kill", "term", "failures", "nonfinite", "time_limit", "disk_full", "vanished", "lock", "fingerprints",
                    "journal", "huge_pages"], "a directory with the bad_throwing_minimize plugin (mode nonfinite), "
                   "or with libkappa_plugin_gd.so (mode fingerprints)", globals())


if __name__ == "__main__":
    sys.exit(main())
