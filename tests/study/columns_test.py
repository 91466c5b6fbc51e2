#!/usr/bin/python3
"""Columns a data scientist can use (issue 16, items 6 and 7), against independent truth.

  columns_test.py --kappa KAPPA --work DIR --scripts SCRIPTS [--mpiexec MPIEXEC]

Generates a data file (numpy) and a grid with an `sgd.lr = auto 1e-3` axis, a ridge axis and
the dataset path columns, runs it (2 ranks under MPIEXEC when given, else serially) and checks:
the CSV read with pandas (the call docs/study.md gives) and the HDF5 file read with h5py have the
same column names, order, dtypes and values; mpi_rank is there and rank is not; sgd.lr is float64
with NaN exactly where sgd.lr_spec is 'auto'; lr_used equals 1/L (and 1/L_b for minibatches)
computed here with numpy's eigvalsh from the data; epochs <= max_epochs with the set-up passes
in setup_epochs, the last trace point at epochs + setup_epochs; scripts/read_results.py returns
the same frames; kappa report groups the auto values. Then kappa solve: its JSON and CSV keys
are the study's column names for the shared quantities, `--max-epochs 50 --set batch_size=2`
runs 50 epochs (more than the default 1000 iterations), and a misspelt parameter fails that
optimizer's row only, with one prefix. Prints "ok: ..." or "FAIL: ...".
"""

import argparse
import json
import math
import os
import shutil
import subprocess
import sys

import h5py
import numpy as np

try:
    import pandas as pd
except ImportError:  # scripts/test.sh installs python3-pandas; elsewhere the test skips
    print("skip: python3-pandas not installed")
    sys.exit(77)

N, D, MAX_EPOCHS = 100, 5, 20
SHARED = ["optimizer", "status", "message", "iterations", "predicted_iterations", "epochs", "setup_epochs", "lr_used",
          "seconds", "final_loss", "loss_gap", "grad_norm", "relative_weight_error", "relative_weight_error_range",
          "weight_norm", "test_mae", "test_rmse"]
failures = []


def check(condition, message):
    if not condition:
        failures.append(message)
        print(f"  not ok: {message}")
    return condition


def run(command, expect=0):
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    if done.returncode != expect:
        raise SystemExit(f"FAIL: {' '.join(command)} exited {done.returncode}, expected {expect}:\n{done.stderr}")
    return done


def make_data(path):
    rng = np.random.default_rng(7)
    X = rng.standard_normal((N, D)) * np.array([1.0, 2.0, 0.5, 3.0, 1.5])
    y = X @ rng.standard_normal(D) + 0.01 * rng.standard_normal(N)
    with h5py.File(path, "w") as f:
        f["kernels/train_kernel"] = X
        f["vectors/train_vector"] = y
        f["kernels/test_kernel"] = X[:10]
        f["vectors/test_vector"] = y[:10]
    return X


def expected_step(X, ridge, batch):
    """lr=auto as docs/study.md states it: 1/L, L = lambda_max((2/n) X^T X + ridge I); for a
    minibatch of b < n rows 1/L_b, L_b = (n-b)/(b(n-1)) max_i L_i + n(b-1)/(b(n-1)) L with
    L_i = 2 |x_i|^2 + ridge lambda_max(P^T P), P = I (no preconditioner): ridge."""
    n = X.shape[0]
    L = np.linalg.eigvalsh(2.0 / n * X.T @ X + ridge * np.eye(X.shape[1]))[-1]
    if batch >= n:
        return 1.0 / L
    sample = 2.0 * np.max(np.sum(X * X, axis=1)) + ridge
    return 1.0 / ((n - batch) / (batch * (n - 1)) * sample + n * (batch - 1) / (batch * (n - 1)) * L)


def h5_frame(path):
    with h5py.File(path, "r") as f:
        tasks = f["tasks"]
        names = tasks.attrs["columns"].split(",")
        kinds = {name: tasks[name].dtype.kind for name in names}
        frame = pd.DataFrame({name: (tasks[name].asstr()[()] if kinds[name] == "O" else tasks[name][()]) for name in names},
                             columns=names)
        traces = pd.DataFrame({name: f["traces"][name][()] for name in f["traces"]})
    return frame, kinds, traces


def same_cells(a, b):
    if isinstance(a, float) or isinstance(b, float):
        return (math.isnan(a) and math.isnan(b)) if (isinstance(a, float) and math.isnan(a)) else a == b
    return a == b


def test_study(args, data, X):
    grid = os.path.join(args.work, "columns.ini")
    with open(grid, "w") as f:
        f.write(f"data = {os.path.basename(data)}\noptimizer = gd sgd cg\nridge = 0 0.01\nmax_epochs = {MAX_EPOCHS}\n"
                "grad_tol = 0\ngd.lr = auto\nsgd.lr = auto 1e-3\nsgd.batch_size = 1 5\n")
    results = os.path.join(args.work, "columns.h5")
    for name in (results, results[:-3] + ".csv", results + ".journal"):
        if os.path.exists(name):
            os.remove(name)
    ranks = ["--oversubscribe", "-np", "2"] if args.mpiexec else []
    command = ([args.mpiexec] + ranks if args.mpiexec else []) + [args.kappa, "study", grid, "-o", results, "--progress", "none"]
    run(command)
    frame, kinds, traces = h5_frame(results)
    sys.path.insert(0, args.scripts)
    import read_results
    csv = pd.read_csv(results[:-3] + ".csv", **read_results.CSV_OPTIONS)

    # Names, order and dtypes of the CSV against the HDF5 file.
    names = list(frame.columns)
    check(list(csv.columns) == names, f"CSV columns {list(csv.columns)} != HDF5 columns {names}")
    wanted = {"i": "int64", "f": "float64", "O": "object"}
    for name in names:
        if name in csv.columns:
            check(str(frame[name].dtype) == wanted[kinds[name]], f"HDF5 column {name}: dtype {frame[name].dtype}")
            check(str(csv[name].dtype) == wanted[kinds[name]], f"CSV column {name}: dtype {csv[name].dtype}, HDF5 {kinds[name]}")
            if len(csv) == len(frame):
                bad = [r for r in range(len(frame)) if not same_cells(frame[name].iloc[r], csv[name].iloc[r])]
                check(not bad, f"column {name}: CSV and HDF5 differ in rows {bad[:5]}")
    for name in ("x_train", "y_train", "x_test", "y_test"):
        check(kinds.get(name) == "O" and set(frame[name]) != {""}, f"{name}: a text column with the dataset paths")
    check(kinds.get("ridge") == "f" and str(csv["ridge"].dtype) == "float64", "ridge is float64 in both")
    check(kinds.get("divergence_factor") == "f", "divergence_factor is float64")
    check("mpi_rank" in names and "rank" not in names, "mpi_rank is a column and rank is not")
    if args.mpiexec:
        check(set(frame["mpi_rank"]) <= {0, 1}, f"mpi_rank values {set(frame['mpi_rank'])}")

    # sgd.lr numeric, its keyword in sgd.lr_spec.
    check(kinds.get("sgd.lr") == "f", f"sgd.lr is float64 (kind {kinds.get('sgd.lr')})")
    check(kinds.get("sgd.lr_spec") == "O", "sgd.lr_spec is a text column")
    check(kinds.get("sgd.batch_size") in ("f", "i"), "sgd.batch_size is numeric")
    sgd = frame[frame["optimizer"] == "sgd"]
    check(set(sgd["sgd.lr_spec"]) == {"auto", "0.001"}, f"sgd.lr_spec values {set(sgd['sgd.lr_spec'])}")
    check(all(math.isnan(v) == (s == "auto") for v, s in zip(sgd["sgd.lr"], sgd["sgd.lr_spec"])), "sgd.lr NaN exactly where auto")
    check(all(v == 1e-3 for v, s in zip(sgd["sgd.lr"], sgd["sgd.lr_spec"]) if s != "auto"), "sgd.lr 0.001 where given")
    others = frame[frame["optimizer"] != "sgd"]
    check(all(s == "" for s in others["sgd.lr_spec"]) and all(math.isnan(v) for v in others["sgd.lr"]),
          "sgd.lr and sgd.lr_spec empty where they do not apply")

    # lr_used against numpy.
    for _, row in frame.iterrows():
        what = f"task {row['task']} ({row['optimizer']}, ridge {row['ridge']}, {row['params']})"
        if row["optimizer"] == "cg":
            check(math.isnan(row["lr_used"]), f"{what}: lr_used NaN without a step size")
            continue
        auto = row["optimizer"] == "gd" or row["sgd.lr_spec"] == "auto"
        batch = N if row["optimizer"] == "gd" else int(row["sgd.batch_size"])
        expected = expected_step(X, row["ridge"], batch) if auto else 1e-3
        check(abs(row["lr_used"] - expected) <= 1e-8 * expected, f"{what}: lr_used {row['lr_used']!r}, numpy {expected!r}")

    # epochs and setup_epochs.
    for _, row in frame.iterrows():
        what = f"task {row['task']} ({row['optimizer']}, {row['params']})"
        batch = 1.0 if row["optimizer"] in ("gd", "cg") else row["sgd.batch_size"] / N
        check(row["epochs"] <= MAX_EPOCHS + 2 * batch + 1e-9, f"{what}: epochs {row['epochs']} > max_epochs {MAX_EPOCHS}")
        check(row["status"] != "max-iterations", f"{what}: stopped by the default iteration cap (max_epochs alone is the budget)")
        check(row["setup_epochs"] >= 0, f"{what}: setup_epochs {row['setup_epochs']}")
        auto = row["optimizer"] == "gd" or row["sgd.lr_spec"] == "auto"
        if auto:
            check(row["setup_epochs"] >= 2, f"{what}: lr=auto's Lanczos passes not in setup_epochs ({row['setup_epochs']})")
        else:
            check(row["setup_epochs"] <= 1, f"{what}: setup_epochs {row['setup_epochs']} without lr=auto")
        points = traces[traces["task"] == row["task"]].sort_values("iteration")
        check(len(points) > 0 and abs(points["epochs"].iloc[-1] - (row["epochs"] + row["setup_epochs"])) < 1e-9,
              f"{what}: the last trace point's epochs is not epochs + setup_epochs")
        check(len(points) > 0 and abs(points["epochs"].iloc[0] - row["setup_epochs"]) < 1e-9,
              f"{what}: the first trace point's epochs is not setup_epochs")
    gd = frame[frame["optimizer"] == "gd"]
    check(all(gd["epochs"] == MAX_EPOCHS), f"gd epochs {list(gd['epochs'])}, expected {MAX_EPOCHS}")

    # scripts/read_results.py
    rows, trace_frame = read_results.read(results)
    check(list(rows.columns) == names + ["trace_start", "trace_length"] or list(rows.columns) == names,
          f"read_results columns {list(rows.columns)}")
    for name in names:
        check(str(rows[name].dtype) == str(frame[name].dtype), f"read_results {name}: dtype {rows[name].dtype}")
        bad = [r for r in range(len(frame)) if not same_cells(frame[name].iloc[r], rows[name].iloc[r])]
        check(not bad, f"read_results {name}: rows {bad[:5]} differ")
    check(len(trace_frame) == len(traces) and list(trace_frame["task"]) == sorted(traces["task"]),
          "read_results traces: every point, sorted by task")
    csv_rows, none = read_results.read(results[:-3] + ".csv")
    check(none is None and list(csv_rows.columns) == list(csv.columns) and
          all(str(csv_rows[c].dtype) == str(csv[c].dtype) for c in csv.columns), "read_results of the CSV")
    cli = run(["/usr/bin/python3", os.path.join(args.scripts, "read_results.py"), results, "--head", "2"])
    check("mpi_rank (int64)" in cli.stdout and "sgd.lr (float64)" in cli.stdout, "read_results.py prints the columns and types")

    # kappa report: the auto group labelled as in the grid, ordered as the grid writes it.
    report = run([args.kappa, "report", results, "--by", "sgd.lr"])
    lines = [line for line in report.stdout.splitlines() if line.startswith(("auto ", "1e-3 "))]
    check([line.split()[0] for line in lines] == ["auto", "1e-3"], f"kappa report --by sgd.lr groups: {lines}")
    return frame


def test_solve(args, data, study_columns):
    out = os.path.join(args.work, "solve.json")
    run([args.kappa, "solve", "--data", data, "--optimizer", "gd,sgd,cg", "--set", "gd.lr=auto", "--max-iterations", "50",
         "-o", out])
    rows = json.load(open(out))["rows"]
    for row in rows:
        check(all(key in row for key in SHARED), f"solve JSON row {row.get('optimizer')}: missing {set(SHARED) - set(row)}")
        check(not {"method", "train_loss", "data_passes"} & set(row), f"solve JSON keeps old names {set(row)}")
        for point in row["trace"]:
            check("epochs" in point and "data_passes" not in point, "solve JSON trace points: epochs")
            break
    check(all(key in study_columns for key in SHARED), f"shared keys not study columns: {set(SHARED) - set(study_columns)}")
    gd = next(row for row in rows if row["optimizer"] == "gd")
    check(abs(gd["lr_used"] - expected_step(np.asarray(h5py.File(data, "r")["kernels/train_kernel"]), 0.0, N)) <= 1e-8 * gd["lr_used"],
          f"solve gd lr_used {gd['lr_used']}")
    check(gd["epochs"] == 50 and gd["setup_epochs"] >= 2, f"solve gd epochs {gd['epochs']}, setup {gd['setup_epochs']}")
    out_csv = os.path.join(args.work, "solve.csv")
    run([args.kappa, "solve", "--data", data, "--optimizer", "gd,cg", "--max-iterations", "20", "-o", out_csv])
    sys.path.insert(0, args.scripts)
    import read_results
    frame = pd.read_csv(out_csv, **read_results.CSV_OPTIONS)
    check(all(key in frame.columns for key in SHARED), f"solve CSV misses {set(SHARED) - set(frame.columns)}")
    check(str(frame["ridge"].dtype) == "float64" and str(frame["epochs"].dtype) == "float64"
          and str(frame["message"].dtype) == "object", f"solve CSV dtypes {frame.dtypes.to_dict()}")

    # --max-epochs lifts the default iteration cap.
    out = os.path.join(args.work, "epochs.json")
    run([args.kappa, "solve", "--data", data, "--optimizer", "sgd", "--set", "batch_size=2", "--max-epochs", "50", "-o", out])
    (sgd,) = json.load(open(out))["rows"][1:]
    check(sgd["status"] == "max-epochs" and abs(sgd["epochs"] - 50) <= 2 / N + 1e-9 and sgd["iterations"] > 1000,
          f"solve --max-epochs 50 --set batch_size=2: {sgd['status']}, {sgd['epochs']} epochs, {sgd['iterations']} iterations")

    # A misspelt parameter fails its row only, named once.
    out = os.path.join(args.work, "misspelt.json")
    done = run([args.kappa, "solve", "--data", data, "--optimizer", "gd,sgd", "--set", "sgd.bacth_size=2", "-o", out], expect=1)
    lines = done.stderr.splitlines()
    check(len(lines) == 1 and lines[0].startswith("kappa solve: optimizer 'sgd': unknown parameter 'bacth_size' (known: ")
          and lines[0].count("optimizer 'sgd'") == 1, f"misspelt parameter: stderr {done.stderr!r}")
    table = done.stdout.splitlines()
    check(any(line.split()[:2] == ["sgd", "failed"] for line in table if line.split()), "the sgd row failed in the table")
    check(any(line.split()[:1] == ["gd"] and line.split()[1] != "failed" for line in table if line.split()), "gd still ran")
    rows = {row["optimizer"]: row for row in json.load(open(out))["rows"]}
    check(rows["sgd"]["status"] == "failed" and rows["sgd"]["message"].startswith("unknown parameter 'bacth_size'"),
          f"sgd's JSON row: {rows['sgd']['status']}, {rows['sgd']['message']!r}")
    check(rows["gd"]["status"] != "failed", "gd's JSON row ran")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--kappa", required=True)
    parser.add_argument("--work", required=True)
    parser.add_argument("--scripts", required=True)
    parser.add_argument("--mpiexec", default="")
    args = parser.parse_args()
    if os.path.isdir(args.work):
        shutil.rmtree(args.work)
    os.makedirs(args.work)
    data = os.path.join(args.work, "data.h5")
    X = make_data(data)
    frame = test_study(args, data, X)
    test_solve(args, data, list(frame.columns))
    if failures:
        print(f"FAIL: {len(failures)} checks failed; first: {failures[0]}")
        return 1
    print("ok: study CSV and HDF5 columns agree; sgd.lr numeric with sgd.lr_spec; lr_used = numpy's 1/L; epochs and "
          "setup_epochs; read_results.py; solve keys, --max-epochs and a misspelt parameter")
    return 0


if __name__ == "__main__":
    sys.exit(main())
