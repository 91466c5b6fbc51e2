#!/usr/bin/python3
"""One copy of the data per node (`kappa study --share-data`, docs/study.md): end to end.

usage: share_test.py --kappa KAPPA --mpiexec MPIEXEC --work DIR [--relative-only] MODE
modes:
  identical  grids over a file (tall l2, with and without intercept and ridge, double and
             float precision, preconditioners none, standardize, whiten) and synthetic data
             (n < 4 (d + 1), l1 and huber losses; a kernel system) run with --share-data on
             (4 ranks with task processes, 3 ranks with --isolation none, serially) and off
             (4 ranks): every row identical bit for bit, no problem that cannot be built.
             During the 4-rank run every task process maps the same segment
             (/dev/shm/kappa-data-*, /proc/PID/maps), and the summed PSS of the kappa
             processes (bench/pss.py) is at most 1.2 x data + 150 MB per rank and smaller than
             with off by at least (ranks - 1.5) x data (--relative-only, for sanitizer
             builds: only the latter, and at least one holder per task process); after each run
             no segment is left.
  kill       a study (2 ranks) killed with SIGKILL, every process at once, once its segment is
             there: the segment is left behind; a study that starts meanwhile (another job)
             leaves a live job's segment alone; the next study after the kill removes the
             leftovers at its start and runs; a segment that cannot be reserved (1 MB file
             size limit) fails the tasks naming it and leaves nothing; and --share-data maybe
             is refused (exit 2).
Prints "ok: ..." and exits 0 on success; otherwise the reason and exits 1.
"""

import os
import resource
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "bench"))
from study_test import ENV, Failure, check, compare_rows, main_of, read_results, remove, run, write_grid  # noqa: E402
import pss  # noqa: E402

SHM = "/dev/shm"
RELATIVE_ONLY = False  # --relative-only: no absolute PSS bound (sanitizer builds)


def generate(args, name, spec):
    path = os.path.join(args.work, name)
    if not os.path.exists(path):
        subprocess.run([args.kappa, "generate", "--synthetic", spec, "--output", path], env=ENV, check=True,
                       capture_output=True, timeout=300)
    return name


def segments_of(pids):
    """The files in /dev/shm of the jobs led by any of pids (kappa-data-<pid>-...)."""
    prefixes = tuple(f"kappa-data-{pid}-" for pid in pids)
    return sorted(name for name in os.listdir(SHM) if name.startswith(prefixes))


def kappa_pids(root):
    found = []
    for pid in pss.descendants(root):
        try:
            with open(f"/proc/{pid}/comm") as comm:
                if comm.read().strip() == "kappa":
                    found.append(pid)
        except OSError:
            pass
    return found


def test_identical(args):
    data = generate(args, "tall.h5", "kind=spectrum,n=3000,d=20,cond=1e4,noise=0.01,n_test=50")
    grids = [
        write_grid(args, "identical_file.ini", f"""optimizer = gd cg lbfgs
data = {data}
intercept = false true
ridge = 0 1e-3
precision = double float
preconditioner = none standardize whiten
max_iterations = 40
"""),
        # n < 4 (d + 1): w* from the dense solvers; and the l1 and huber losses (IRLS).
        write_grid(args, "identical_small.ini", """optimizer = gd sgd
synthetic = kind=spectrum,n=60,d=20,cond=100,noise=0.01,n_test=20 kind=spectrum,n=400,d=12,cond=100,noise=0.01,n_test=20
loss = l2 l1 huber
max_iterations = 40
sgd.batch_size = 8
"""),
        write_grid(args, "identical_kernel.ini", """optimizer = cg
synthetic = kind=kernel,n=120,width=0.5,n_test=10
formulation = kernel-system
max_iterations = 50
"""),
    ]
    ways = [("off", 4, ["--share-data", "off"]), ("on", 4, []), ("none", 3, ["--isolation", "none"]),
            ("serial", None, ["--share-data", "on"])]
    tasks = 0
    statuses = set()
    for grid in grids:
        results = {}
        for label, ranks, options in ways:
            name = f"{grid[:-4]}_{label}.h5"
            remove(args, name, name[:-3] + ".csv")
            run(args, ranks, grid, "-o", name, *options)
            results[label] = read_results(args, name)[0]
        reference = results["off"]
        unbuilt = [row["message"] for row in reference.values() if row["message"].startswith("problem cannot be built")]
        check(not unbuilt, f"{grid}: problems not built: {unbuilt[:3]}")
        for label in ("on", "none", "serial"):
            check(sorted(results[label]) == sorted(reference), f"{grid}, {label}: other tasks than with --share-data off")
            for key, row in reference.items():
                compare_rows(row, results[label][key], f"{grid}, --share-data {label}, task {row['task']} ({row['optimizer']})")
        tasks += len(reference)
        statuses |= {row["status"] for row in reference.values()}
    statuses = sorted(statuses)

    # Memory: 4 ranks on one file of 100 MB, on and off.
    n, d = 50000, 250
    data_mb = n * d * 8 / 1048576
    big = generate(args, "big.h5", f"kind=spectrum,n={n},d={d},cond=1e3,noise=0.01,n_test=0")
    # Methods that run one task at a time (gd tasks of one problem would run in lockstep groups).
    memory_grid = write_grid(args, "memory.ini", f"optimizer = cg lbfgs\ndata = {big}\nmax_iterations = 40\ngrad_tol = 0\n"
                                                 "repeats = 6\n")
    ranks = 4
    measured = {}
    for share in ("on", "off"):
        remove(args, f"memory_{share}.h5", f"memory_{share}.csv")
        command = [args.mpiexec, "--oversubscribe", "-np", str(ranks), args.kappa, "study", memory_grid, "-o",
                   f"memory_{share}.h5", "--share-data", share]
        result, _, stderr = pss.measure(command, data_mb, 0.1, True, env=ENV, cwd=args.work)
        check(result["exit"] == 0, f"--share-data {share}: exit {result['exit']}: {stderr[-400:]}")
        # Under a sanitizer the ranks too may keep data-sized memory resident (AddressSanitizer's
        # quarantine of freed buffers), so there only a lower bound holds.
        check(result["holders"] == ranks or (RELATIVE_ONLY and result["holders"] > ranks),
              f"--share-data {share}: {result['holders']} processes held the data at once, "
              f"expected {ranks} task processes ({result})")
        # The job's segments (and their lock files), not those other jobs on the node may make meanwhile.
        job_prefixes = tuple(name.rsplit("-", 1)[0] + "-" for name in result["segments"]["files"])
        leftovers = sorted(name for name in os.listdir(SHM) if job_prefixes and name.startswith(job_prefixes))
        check(not leftovers, f"--share-data {share}: left in {SHM}: {leftovers}")
        measured[share] = result
    on, off = measured["on"], measured["off"]
    files = on["segments"]["files"]
    check(len(files) == 1 and abs(list(files.values())[0] / 1048576 - data_mb) < 1,
          f"--share-data on: expected one segment of {data_mb:.1f} MiB, saw {files}")
    check(on["segments"]["most_mappers"] == ranks, f"--share-data on: the segment was mapped by "
                                                   f"{on['segments']['most_mappers']} processes at once, expected {ranks}")
    check(not off["segments"]["files"], f"--share-data off: segments appeared: {off['segments']['files']}")
    target = 1.2 * data_mb + 150 * ranks
    check(RELATIVE_ONLY or on["steady_pss_mb"] <= target, f"--share-data on: summed PSS {on['steady_pss_mb']} MB > target {target:.0f} MB")
    check(off["steady_pss_mb"] - on["steady_pss_mb"] >= (ranks - 1.5) * data_mb,
          f"summed PSS {on['steady_pss_mb']} MB (on) against {off['steady_pss_mb']} MB (off): "
          f"saves less than {ranks - 1.5} x {data_mb:.0f} MB")
    return (f"{tasks} tasks identical with --share-data off, on (4 ranks), --isolation none (3 ranks), serially "
            f"(statuses {statuses}); {ranks} ranks on {data_mb:.0f} MB: summed PSS {on['steady_pss_mb']} MB shared "
            f"(peak {on['peak_pss_mb']}), {off['steady_pss_mb']} MB not (peak {off['peak_pss_mb']}); no segment left")


def wait_for(condition, seconds, what):
    deadline = time.time() + seconds
    while time.time() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise Failure(f"timed out after {seconds} s waiting for {what}")


def test_kill(args):
    bad = subprocess.run([args.kappa, "study", "x.ini", "--share-data", "maybe"], env=ENV, cwd=args.work,
                         capture_output=True, text=True, timeout=60)
    check(bad.returncode == 2 and bad.stderr.strip() == "kappa study: --share-data 'maybe': expected on or off",
          f"--share-data maybe: exit {bad.returncode}, stderr {bad.stderr!r}")

    data = generate(args, "kill.h5", "kind=spectrum,n=20000,d=100,cond=100,noise=0.01,n_test=0")
    slow = write_grid(args, "slow.ini", f"optimizer = gd\ndata = {data}\nmax_iterations = 100000\ngrad_tol = 0\n"
                                        "lr = 1e-5\nrepeats = 40\n")
    quick = write_grid(args, "quick.ini", f"optimizer = gd\ndata = {data}\nmax_iterations = 5\n")
    remove(args, "slow.h5", "slow.csv")
    victim = subprocess.Popen([args.mpiexec, "--oversubscribe", "-np", "2", args.kappa, "study", slow, "-o", "slow.h5"],
                              env=ENV, cwd=args.work, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                              start_new_session=True)
    try:
        def published():
            names = segments_of(kappa_pids(victim.pid))
            return [name for name in names if not name.endswith((".lock", ".tmp"))] and names

        left = wait_for(published, 120, "the study's data segment")
        # Another job on the node meanwhile: it must leave the live job's segment alone.
        remove(args, "other.h5", "other.csv")
        run(args, None, quick, "-o", "other.h5")
        for name in left:
            check(os.path.exists(os.path.join(SHM, name)), f"another study removed {name} of a running job")
        os.killpg(victim.pid, signal.SIGKILL)
        victim.wait(timeout=60)
    finally:
        if victim.poll() is None:
            os.killpg(victim.pid, signal.SIGKILL)
            victim.wait()
    # Every process of the job is gone (the task processes die with their ranks).
    wait_for(lambda: all(not os.path.exists(f"/proc/{name.split('-')[2]}") for name in left), 30, "the killed job to end")
    still = [name for name in left if os.path.exists(os.path.join(SHM, name))]
    check(still, f"nothing of the killed job was left in {SHM} (the test saw {left}): the kill came too late")
    remove(args, "next.h5", "next.csv")
    run(args, 2, quick, "-o", "next.h5")
    remaining = [name for name in left if os.path.exists(os.path.join(SHM, name))]
    check(not remaining, f"the next study did not remove the killed job's {remaining}")
    rows, _ = read_results(args, "next.h5")
    check(rows and all(row["status"] != "failed" for row in rows.values()), "the next study's tasks failed")

    # A segment whose space cannot be reserved (here a 1 MB file size limit; a full /dev/shm
    # alike): the tasks fail at once naming the file, nothing is left behind.
    remove(args, "limited.h5", "limited.csv")
    limited = subprocess.Popen([args.kappa, "study", quick, "-o", "limited.h5"], env=ENV, cwd=args.work,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                               preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 20, 1 << 20)))
    _, stderr = limited.communicate(timeout=300)
    check(limited.returncode == 0, f"study under a 1 MB file size limit: exit {limited.returncode}: {stderr[-300:]}")
    limited_rows, _ = read_results(args, "limited.h5")
    messages = {row["message"] for row in limited_rows.values()}
    expected = (f"problem cannot be built: cannot reserve 15 MiB for the shared data segment '{SHM}/kappa-data-{limited.pid}-")
    check(len(messages) == 1 and all(m.startswith(expected) and m.endswith(".tmp' (use --share-data off, or free /dev/shm): "
                                                                            "File too large") for m in messages),
          f"under a file size limit: {messages}")
    check(not segments_of([limited.pid]), f"under a file size limit: left {segments_of([limited.pid])}")
    return (f"a kill -9 left {still}; a concurrent job kept them, the next job removed them and ran {len(rows)} tasks; "
            f"an unreservable segment: {sorted(messages)[0]!r}")


def main():
    # --relative-only (sanitizer builds): main_of's parser does not know it, so it is taken here.
    global RELATIVE_ONLY
    RELATIVE_ONLY = "--relative-only" in sys.argv
    if RELATIVE_ONLY:
        sys.argv.remove("--relative-only")
    return main_of(["identical", "kill"], "unused", globals())


if __name__ == "__main__":
    sys.exit(main())
