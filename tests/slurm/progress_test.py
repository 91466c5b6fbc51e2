#!/usr/bin/python3
"""kappa study --progress (issue 15, item 6), with the real executable and the real mpirun:
  tty    on a pseudo-terminal (script(1)): the line is redrawn in place (carriage returns);
  auto   on a pseudo-terminal, serially and under mpirun (rank 0's stderr is mpirun's pipe, but
         mpirun's own stderr is the terminal): redrawn;
  lines  under mpirun with stderr a pipe: plain lines, the first within 5 s of the start;
  none   no progress line at all.
  progress_test.py KAPPA MPIEXEC WORK
"""
import os
import re
import subprocess
import sys
import time

kappa, mpiexec, work = sys.argv[1:4]
os.makedirs(work, exist_ok=True)
env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1", OPENBLAS_NUM_THREADS="1",
           OMPI_MCA_rmaps_base_oversubscribe="1")
grid = os.path.join(work, "progress.ini")
with open(grid, "w") as out:  # about 10 s of work on one core
    out.write("optimizer = gd\nsynthetic = kind=spectrum,n=1000,d=100,cond=100\nsynthetic.seed = 1 2 3 4 5 6 7 8 9 10\n"
              "lr = auto 1e-3 2e-3 3e-3 4e-3\nmax_iterations = 8000\ngrad_tol = 0\n")
PROGRESS = re.compile(r"kappa study: \d+/50 done")


def fail(message):
    print(f"FAIL: {message}")
    sys.exit(1)


def on_terminal(command, name):
    """Runs command on a pseudo-terminal (script -qec); returns what the terminal received."""
    typescript = os.path.join(work, name + ".typescript")
    shell = " ".join(command) + f" -o {os.path.join(work, name + '.h5')} --force"
    done = subprocess.run(["script", "-qec", shell, typescript], env=env, capture_output=True, timeout=300)
    if done.returncode != 0:
        fail(f"{shell}: exit {done.returncode}: {done.stdout!r} {done.stderr!r}")
    return done.stdout.decode(errors="replace")


def redrawn(text):
    return re.search(r"\r" + PROGRESS.pattern, text) is not None


results = []
for mode in ("tty", "auto"):
    text = on_terminal([kappa, "study", grid, "--progress", mode], "serial_" + mode)
    if not redrawn(text):
        fail(f"--progress {mode} on a terminal: no line redrawn in place: {text!r}")
    results.append(f"{mode} redraws on a terminal")
text = on_terminal([mpiexec, "--oversubscribe", "-np", "2", kappa, "study", grid], "mpirun_auto")
if not redrawn(text):
    fail(f"mpirun -np 2 kappa study (auto) on a terminal: no line redrawn in place: {text!r}")
results.append("auto redraws under mpirun on a terminal")


def timed_lines(mode):
    """mpirun -np 2 with stderr a pipe; returns [(seconds since start, line)] of stderr."""
    start = time.monotonic()
    process = subprocess.Popen([mpiexec, "--oversubscribe", "-np", "2", kappa, "study", grid, "-o",
                                os.path.join(work, mode + ".h5"), "--force", "--progress", mode],
                               env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    lines = [(time.monotonic() - start, line) for line in process.stderr]
    if process.wait() != 0:
        fail(f"--progress {mode} under mpirun: exit {process.returncode}: {lines}")
    return lines


lines = [(t, line) for t, line in timed_lines("lines") if PROGRESS.search(line)]
if not lines:
    fail("--progress lines under mpirun: no progress line")
if any("\r" in line for _, line in lines):
    fail(f"--progress lines: a carriage return in {lines}")
if lines[0][0] > 5:
    fail(f"--progress lines under mpirun: the first progress line came after {lines[0][0]:.1f} s")
results.append(f"lines under mpirun: first line after {lines[0][0]:.1f} s")
quiet = [line for _, line in timed_lines("none") if PROGRESS.search(line)]
if quiet:
    fail(f"--progress none printed progress: {quiet}")
results.append("none prints none")
print("ok: " + "; ".join(results))
