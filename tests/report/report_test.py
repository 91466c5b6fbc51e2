#!/usr/bin/python3
"""Tests of `kappa report` and scripts/plot/plot_study.py on real results files of `kappa study`.

usage: report_test.py --kappa KAPPA --plot PLOT_SCRIPT --work DIR MODE
modes:
  summary   the report of a small study (converged, failed, diverged and failed-to-build tasks):
            every number of its tables and its best grid points equal the statistics computed
            here with numpy from the results file itself; --where and --metric select and rank
  plots     the plot script writes non-empty PNG files (curves, two heatmaps) of sane size
  partial   a study killed part-way: the report of its (complete, shorter) file and its journal
            says so and counts exactly the rows in them (the journal decoded here)
Prints "ok: ..." and exits 0 on success; otherwise the reason and exits 1.
"""

import argparse
import math
import os
import re
import signal
import struct
import subprocess
import sys
import time
import zlib

try:
    import h5py
    import numpy as np
except ImportError as error:
    print(f"FAIL: {error} (run with /usr/bin/python3 and python3-h5py installed)")
    sys.exit(1)

ENV = dict(os.environ, OPENBLAS_NUM_THREADS="1")

# A small grid whose tasks end in every way: converged (cg, direct), max-iterations (gd, lr auto,
# cond 1e3), diverged (gd, lr 100 > 2/L), failed (cond 1e9: the problem cannot be built, since
# its Cholesky reference refuses a forward-error bound eps cond(X)^2 > 1e-6; an invalid spec would be refused up front).
SMALL_GRID = """optimizer = gd cg direct
synthetic = kind=spectrum,n=40,d=6,noise=0.01,n_test=10
synthetic.cond = 10 1e3 1e9
reference = cholesky
max_iterations = 200
repeats = 2
[gd]
lr = auto 100
"""


class Failure(Exception):
    pass


def check(condition, message):
    if not condition:
        raise Failure(message)


def run(command, expect=0, **kwargs):
    done = subprocess.run(command, env=ENV, capture_output=True, text=True, timeout=300, **kwargs)
    if expect is not None and done.returncode != expect:
        raise Failure(f"{' '.join(command)}: exit {done.returncode}, expected {expect}\n"
                      f"stdout: {done.stdout}\nstderr: {done.stderr}")
    return done


def study(args, name, text, *options):
    grid = os.path.join(args.work, name + ".ini")
    with open(grid, "w") as out:
        out.write(text)
    results = os.path.join(args.work, name + ".h5")
    run([args.kappa, "study", grid, "-o", results, "--force", *options])
    return results


def read_tasks(path):
    """The columns of the results file `path`: its /tasks, then the rows of its journal."""
    with h5py.File(path, "r") as f:
        t = f["tasks"]
        names = t.attrs["columns"].split(",")
        table = {c: list(t[c].asstr()[()] if t[c].dtype.kind == "O" else t[c][()]) for c in names}
        kinds = [t[c].dtype.kind for c in names]
        journal_id = int(f.attrs["journal_id"], 16) if "journal_id" in f.attrs else 0
    for row in journal_rows(path + ".journal", journal_id, names[:-2], kinds[:-2]):
        for c in names:
            table[c].append(row.get(c, -1))
    return {c: np.array(table[c], dtype=object if kind == "O" else None) for c, kind in zip(names, kinds)}


def journal_rows(path, journal_id, names, kinds):
    """The rows of a results journal (docs/study.md, Results files) that belongs to the file of
    `journal_id`, decoded independently of kappa: {column: value} each (no trace columns)."""
    try:
        with open(path, "rb") as journal:
            data = journal.read()
    except FileNotFoundError:
        return []
    if data[:8] != b"KAPPAJNL" or struct.unpack_from("<Q", data, 8)[0] != journal_id:
        return []
    at, rows = 20, []
    while len(data) - at >= 12:
        length, crc = struct.unpack_from("<II", data, at)
        payload = data[at + 12:at + 12 + length]
        if len(payload) < length or zlib.crc32(payload) != crc:
            break  # a torn tail
        at += 12 + length
        cursor = [0]

        def take(form):
            value = struct.unpack_from(form, payload, cursor[0])[0]
            cursor[0] += struct.calcsize(form)
            return value

        def text():
            size = take("=Q")
            cursor[0] += size
            return payload[cursor[0] - size:cursor[0]].decode()
        # The outcome message: u32 magic, u64 task, key, the outcome columns, the trace; then
        # the plan cells, each with its type byte.
        outcome_end = 8 + take("=Q")
        cursor[0] = outcome_end
        plan = []
        for _ in range(take("=Q")):
            kind = payload[cursor[0]:cursor[0] + 1]
            cursor[0] += 1
            plan.append(take("=q") if kind == b"i" else take("=d") if kind == b"r" else text())
        cursor[0] = 8 + 4 + 8
        text()  # the key, also a plan column
        outcome = [take("=q") if kind == "i" else take("=d") if kind == "f" else text() for kind in kinds[len(plan):]]
        rows.append(dict(zip(names, plan + outcome)))
    return rows


def median(values):
    values = [v for v in values if not math.isnan(v)]
    return float(np.median(values)) if values else float("nan")


def stats(tasks, rows, metric="relative_weight_error"):
    """What the report must show for a group of rows, computed independently."""
    status = [tasks["status"][r] for r in rows]
    return {
        "tasks": len(rows),
        "converged": sum(s in ("converged-gradient", "converged-loss") for s in status) / len(rows),
        "failed": status.count("failed"),
        "diverged": status.count("diverged"),
        "metric": median([float(tasks[metric][r]) for r in rows]),
        "iters": median([float(tasks["iterations"][r]) for r in rows]),
        "epochs": median([float(tasks["epochs"][r]) for r in rows]),
    }


def close(printed, expected, relative):
    if printed == "-":
        return math.isnan(expected)
    value = float(printed)
    return value == expected or abs(value - expected) <= relative * abs(expected)


def check_row(fields, expected, where):
    """fields: tasks converged failed diverged metric [CI] iters [CI] epochs [CI], as printed; each
    median inside its bootstrap interval (profiles_test.py recomputes the intervals)."""
    check(len(fields) == 10, f"{where}: {len(fields)} fields, expected 10: {fields}")
    for median_field, interval in ((fields[4], fields[5]), (fields[6], fields[7]), (fields[8], fields[9])):
        if median_field == "-":
            check(interval == "-", f"{where}: interval {interval} of no median")
            continue
        low, high = (float(x) for x in interval.strip("[]").split(","))
        # The median is printed rounded (%.3e, %g), the interval with 3 digits.
        check(low * (1 - 1e-2) - 1e-300 <= float(median_field) <= high * (1 + 1e-2) + 1e-300 or
              (low <= float(median_field) <= high), f"{where}: median {median_field} outside {interval}")
    fields = [fields[0], fields[1], fields[2], fields[3], fields[4], fields[6], fields[8]]
    check(int(fields[0]) == expected["tasks"], f"{where}: tasks {fields[0]}, expected {expected['tasks']}")
    check(abs(float(fields[1]) - expected["converged"]) <= 0.005, f"{where}: converged {fields[1]}, expected {expected['converged']:.3f}")
    check(int(fields[2]) == expected["failed"], f"{where}: failed {fields[2]}, expected {expected['failed']}")
    check(int(fields[3]) == expected["diverged"], f"{where}: diverged {fields[3]}, expected {expected['diverged']}")
    check(close(fields[4], expected["metric"], 1e-3), f"{where}: median {fields[4]}, expected {expected['metric']:.4e}")
    check(close(fields[5], expected["iters"], 1e-5), f"{where}: iterations {fields[5]}, expected {expected['iters']}")
    check(close(fields[6], expected["epochs"], 1e-5), f"{where}: epochs {fields[6]}, expected {expected['epochs']}")


def section(text, title):
    """The lines of the table under the line `title`, up to the next blank line."""
    lines = text.splitlines()
    check(title in lines, f"no section '{title}' in the report:\n{text}")
    start = lines.index(title) + 2  # title, header
    body = []
    for line in lines[start:]:
        if not line.strip():
            break
        body.append(line.split())
    return body


def same_value(cell, written):
    if isinstance(cell, str):
        return cell == written
    try:
        return float(cell) == float(written)
    except ValueError:
        return False


def applies(cell):
    """A key that does not apply to a task leaves its cell NaN or '' (docs/study.md)."""
    return cell != "" if isinstance(cell, str) else not math.isnan(float(cell))


def mode_summary(args):
    path = study(args, "small", SMALL_GRID)
    tasks = read_tasks(path)
    rows = range(len(tasks["task"]))
    report = run([args.kappa, "report", path]).stdout
    check("tasks: 24 of 24\n" in report, f"header: expected 'tasks: 24 of 24':\n{report}")
    check("axes: optimizer (3), synthetic.cond (3), gd.lr (2)\n" in report, f"axes line:\n{report}")
    check("statuses: 8 converged-gradient, 4 diverged, 8 failed, 4 max-iterations\n" in report, f"statuses line:\n{report}")
    # Readable at 150 columns, the tables with an interval beside each median (the lines naming
    # the files are as long as their paths).
    width = max(len(line) for line in report.splitlines() if not line.startswith(("results: ", "grid: ")))
    check(width <= 150, f"a report line is {width} columns wide (at most 150)")

    # Per optimizer, in the grid's order.
    table = section(report, "by optimizer")
    check([line[0] for line in table] == ["gd", "cg", "direct"], f"optimizers {[line[0] for line in table]}")
    for line in table:
        check_row(line[1:], stats(tasks, [r for r in rows if tasks["optimizer"][r] == line[0]]), f"optimizer {line[0]}")
    # gd's failed, diverged and converged counts are known from the grid itself, not just recomputed.
    check(table[0][1:5] == ["12", "0.00", "4", "4"], f"gd row {table[0]}")
    check(table[1][1:5] == ["6", "0.67", "2", "0"], f"cg row {table[1]}")

    # Per value of each axis and optimizer, values in the grid's order and spelling.
    for axis, values in (("synthetic.cond", ["10", "1e3", "1e9"]), ("gd.lr", ["auto", "100"])):
        title = next(line for line in report.splitlines() if line.startswith(f"by {axis}"))
        table = section(report, title)
        check(sorted({line[0] for line in table}, key=values.index) == values, f"{axis}: values {[l[0] for l in table]}")
        check([line[0] for line in table] == sorted((line[0] for line in table), key=values.index), f"{axis}: order")
        column = axis + "_spec" if axis + "_spec" in tasks else axis  # lr = auto 100: grouped by gd.lr_spec
        for line in table:
            group = [r for r in rows if tasks["optimizer"][r] == line[1] and same_value(tasks[column][r], line[0])]
            check_row(line[2:], stats(tasks, group), f"{axis}={line[0]} {line[1]}")
        expected_rows = sum(1 for r in rows if applies(tasks[column][r]))
        check(sum(int(line[2]) for line in table) == expected_rows, f"{axis}: rows {expected_rows}")
    check("by gd.lr (12 tasks to which it does not apply left out)" in report, "gd.lr: the left-out count")

    # Best grid point: the lowest median over the repeats, with its axis values.
    best = {}
    for line in report.splitlines()[report.splitlines().index(
            "best grid point per optimizer (lowest median relative_weight_error over its repeats)") + 1:]:
        if not line.strip():
            break
        fields = line.split()
        best[fields[0]] = fields
    for name in ("gd", "cg", "direct"):
        cells = {}
        for r in rows:
            if tasks["optimizer"][r] != name:
                continue
            key = (float(tasks["synthetic.cond"][r]), str(tasks["gd.lr_spec"][r]), tasks["params"][r])
            cells.setdefault(key, []).append(float(tasks["relative_weight_error"][r]))
        medians = {k: median(v) for k, v in cells.items() if not math.isnan(median(v))}
        key = min(medians, key=medians.get)
        fields = best[name]
        check(close(fields[1], medians[key], 1e-3), f"best {name}: {fields[1]}, expected {medians[key]:.4e}")
        check(f"synthetic.cond={'10' if key[0] == 10 else '1e3'}" in fields, f"best {name}: {fields}")
    check("gd.lr=auto" in best["gd"], f"best gd: {best['gd']} (lr=100 diverges)")
    direct_ok = [float(tasks["relative_weight_error"][r]) for r in rows
                 if tasks["optimizer"][r] == "direct" and tasks["iterations"][r] > 0]
    check(re.search(rf"direct optimizer: rel_w_err median {median(direct_ok):.3e} \[[-+.e0-9]+,[-+.e0-9]+\], "
                    rf"max {max(direct_ok):.3e} over 4 tasks; 2 failed without a step", report), f"direct line:\n{report}")

    # --where and --metric: the same numbers for the selected rows, ranked by test_mae.
    report = run([args.kappa, "report", path, "--where", "synthetic.cond=1e3", "--metric", "test_mae", "--by", "gd.lr"]).stdout
    check("tasks: 8 of 24 (those with synthetic.cond=1e3)" in report, f"--where header:\n{report}")
    table = section(report, "by optimizer")
    check("median test_mae" in report, "--metric: header")
    for line in table:
        group = [r for r in rows if tasks["optimizer"][r] == line[0] and float(tasks["synthetic.cond"][r]) == 1e3]
        check_row(line[1:], stats(tasks, group, "test_mae"), f"--where: optimizer {line[0]}")
    check("by synthetic.cond" not in report, "--by gd.lr shows only gd.lr")
    return "summary: every table row and best grid point equals numpy's statistics of the file"


def png_size(path):
    with open(path, "rb") as f:
        head = f.read(24)
    check(head[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG file")
    width, height = struct.unpack(">II", head[16:24])
    return width, height, os.path.getsize(path)


def mode_plots(args):
    path = study(args, "small", SMALL_GRID)
    out = os.path.join(args.work, "figures")
    os.makedirs(out, exist_ok=True)
    for name in os.listdir(out):
        os.remove(os.path.join(out, name))
    done = run([args.plot, path, "--curves", "--heatmap", "synthetic.cond", "gd.lr",
                "--heatmap", "synthetic.cond", "optimizer", "--out", out])
    expected = ["curves_relative_weight_error.png", "heatmap_synthetic.cond_gd.lr_share.png",
                "heatmap_synthetic.cond_optimizer_share.png"]
    check(sorted(os.listdir(out)) == sorted(expected), f"files {sorted(os.listdir(out))}, expected {expected}")
    for name in expected:
        check(f"wrote {os.path.join(out, name)}" in done.stdout, f"'wrote {name}' missing: {done.stdout}")
        width, height, size = png_size(os.path.join(out, name))
        check(300 <= width <= 4000 and 200 <= height <= 4000 and size > 5000, f"{name}: {width}x{height}, {size} bytes")
    # A selection and another trace metric.
    done = run([args.plot, path, "--curves", "--metric", "loss", "--where", "optimizer=gd", "--out", out])
    png_size(os.path.join(out, "curves_loss.png"))
    return "plots: 4 PNG files written, each a PNG of sane size"


def mode_partial(args):
    """Kill a study after some rows are on disk; the report of that file counts them."""
    grid = """optimizer = gd
synthetic = kind=spectrum,n=200,d=40,noise=0.01
synthetic.seed = 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20
lr = 1e-3 2e-3 3e-3 4e-3 5e-3 6e-3 7e-3 8e-3 9e-3 1e-2
max_iterations = 3000
grad_tol = 0
"""
    name = os.path.join(args.work, "partial")
    with open(name + ".ini", "w") as out:
        out.write(grid)
    for suffix in (".h5", ".csv", ".h5.journal"):
        if os.path.exists(name + suffix):
            os.remove(name + suffix)
    process = subprocess.Popen([args.kappa, "study", name + ".ini", "-o", name + ".h5", "--flush-interval", "0"],
                               env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    rows = 0
    deadline = time.time() + 120
    try:
        while time.time() < deadline and process.poll() is None:
            time.sleep(0.05)
            try:
                rows = len(read_tasks(name + ".h5")["task"])  # the .h5 and its journal
            except (OSError, KeyError):
                continue
            if 5 <= rows:
                break
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    tasks = read_tasks(name + ".h5")
    rows = len(tasks["task"])
    check(0 < rows < 200, f"the study was not caught part-way ({rows} of 200 rows on disk); the machine is too fast or slow")
    report = run([args.kappa, "report", name + ".h5"]).stdout
    check(f"tasks: {rows} of 200 - incomplete: the study is running or was stopped" in report, f"header:\n{report}")
    table = section(report, "by optimizer")
    check_row(table[0][1:], stats(tasks, range(rows)), "optimizer gd")
    return f"partial: the report of a study killed after {rows} of 200 tasks counts exactly those"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--kappa", required=True)
    parser.add_argument("--plot", required=True)
    parser.add_argument("--work", required=True)
    parser.add_argument("mode", choices=["summary", "plots", "partial"])
    args = parser.parse_args()
    os.makedirs(args.work, exist_ok=True)
    try:
        message = {"summary": mode_summary, "plots": mode_plots, "partial": mode_partial}[args.mode](args)
    except Failure as failure:
        print(f"FAIL: {failure}")
        return 1
    print(f"ok: {message}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
