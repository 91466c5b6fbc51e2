#!/usr/bin/env python3
"""kappa report --profiles, --tuning and --profiles-csv against numpy (docs/report-semantics.md).

A small real study (3 condition numbers x 2 preconditioners = 6 problems; gd at two learning
rates, sgd at two batch sizes, cg, lbfgs; 3 repeats) is run with the real kappa. From the
results file alone (h5py) this test computes, independently of kappa's code, the cost to the
target of every task (first trace point with rel_w_err <= 1e-6, failed/diverged/crashed never),
the repeat-combined cost, the ratios, rho_s(tau), d_s(alpha), the area, the work to target, the
best of k (by enumerating every k-subset, not kappa's closed form) and the percentile-bootstrap
intervals (SplitMix64 written out here), and compares them with the CSV and the printed tables.
Then a hand-checkable case: gd with max_iterations 100 and 200 on three problems and a target
every run meets (test_mae <= 1e9) under --cost iterations: the 200 solver costs exactly twice
the 100 one, so its rho jumps from 0 to 1 at tau = 2 and its area is (4 - 2) / 3.
"""
import argparse
import csv
import itertools
import math
import os
import subprocess
import sys

try:
    import h5py
    import numpy as np
except ImportError as error:
    print(f"FAIL: {error} (run with /usr/bin/python3 and python3-h5py installed)")
    sys.exit(1)

ENV = dict(os.environ, OPENBLAS_NUM_THREADS="1")
INF = float("inf")

GRID = """optimizer = gd sgd cg lbfgs
synthetic = kind=spectrum,n=60,d=8,noise=0.01,n_test=20
synthetic.cond = 10 100 1e3
preconditioner = none standardize
max_iterations = 3000
grad_tol = 0
repeats = 3
[gd]
lr = auto 1e-3
[sgd]
lr = auto
batch_size = 8 16
"""
TWICE = """optimizer = gd
synthetic = kind=spectrum,n=40,d=5,noise=0.01,n_test=10
synthetic.cond = 10 100 1e3
max_iterations = 100 200
grad_tol = 0
[gd]
lr = 1e-3
"""
PROBLEM_SETTINGS = ["x_train", "y_train", "x_test", "y_test", "loss", "huber_delta", "ridge", "intercept",
                    "preconditioner", "reference", "formulation", "precision"]
RUN_SETTINGS = ["max_iterations", "max_epochs", "grad_tol", "loss_tol", "time_limit", "divergence_factor",
                "trace_points_per_decade"]


def check(condition, message):
    if not condition:
        print(f"FAIL: {message}")
        sys.exit(1)


def run(command):
    result = subprocess.run(command, capture_output=True, text=True, env=ENV)
    check(result.returncode == 0, f"{' '.join(command)} exited {result.returncode}: {result.stderr}")
    return result.stdout


def read(path):
    with h5py.File(path, "r") as f:
        t = f["tasks"]
        tasks = {c: (t[c].asstr()[()] if t[c].dtype.kind == "O" else t[c][()]) for c in t.attrs["columns"].split(",")}
        tasks["trace_start"], tasks["trace_length"] = t["trace_start"][()], t["trace_length"][()]
        traces = {c: f["traces"][c][()] for c in f["traces"]}
    return tasks, traces


# --- the bootstrap, as docs/report-semantics.md states it ---------------------------------------
MASK = (1 << 64) - 1


def splitmix64(seed):
    state = seed
    while True:
        state = (state + 0x9E3779B97F4A7C15) & MASK
        z = state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
        yield z ^ (z >> 31)


def interval(values, resamples=1000, seed=1):
    values = [v for v in values if not math.isnan(v)]
    if not values:
        return None
    generator = splitmix64(seed)
    n = len(values)
    medians = [float(np.median([values[next(generator) % n] for _ in range(n)])) for _ in range(resamples)]
    return (float(np.quantile(medians, 0.025, method="lower")), float(np.quantile(medians, 0.975, method="higher")))


def median(values):
    values = [v for v in values if not math.isnan(v)]
    return float(np.median(values)) if values else float("nan")


def same(printed, expected, digits):
    """A printed number against the value, to the printed digits."""
    if printed == "-":
        return expected is None or (isinstance(expected, float) and math.isnan(expected))
    value = float(printed)
    return value == expected or abs(value - expected) <= 0.51 * 10 ** (-digits) * max(abs(expected), 1e-300)


def same_interval(printed, expected, scientific):
    if expected is None:
        return printed == "-"
    low, high = (float(x) for x in printed.strip("[]").split(","))
    digits = 1e-2 if scientific else 1e-5
    return all(abs(a - b) <= digits * abs(b) for a, b in ((low, expected[0]), (high, expected[1])))


def table(report, title_start):
    lines = report.splitlines()
    starts = [i for i, line in enumerate(lines) if line.startswith(title_start)]
    check(starts, f"no table '{title_start}' in:\n{report}")
    rows = []
    for line in lines[starts[0] + 2:]:
        if not line.strip():
            break
        rows.append(line.split())
    return lines[starts[0] + 1].split(), rows


def problem_and_setting(tasks, r):
    problem = tuple([tasks["data"][r]] + [str(tasks[c][r]) for c in PROBLEM_SETTINGS if c in tasks])
    setting = tuple([tasks["optimizer"][r], tasks["params"][r]] + [str(tasks[c][r]) for c in RUN_SETTINGS if c in tasks])
    return problem, setting


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--kappa", required=True)
    parser.add_argument("--work", required=True)
    args = parser.parse_args()
    os.makedirs(args.work, exist_ok=True)
    grid, path, csv_path = (os.path.join(args.work, name) for name in ("profiles.ini", "profiles.h5", "profiles.csv"))
    with open(grid, "w") as f:
        f.write(GRID)
    run([args.kappa, "study", grid, "-o", path, "--force"])
    report = run([args.kappa, "report", path, "--profiles", "--tuning", "--profiles-csv", csv_path])
    tasks, traces = read(path)
    rows = range(len(tasks["task"]))

    # Cost to the target per task, data passes (and seconds) from the traces.
    hit = {}
    for r in rows:
        hit[r] = None
        if tasks["status"][r] in ("failed", "crashed", "diverged"):
            continue
        start, length = tasks["trace_start"][r], tasks["trace_length"][r]
        for i in range(start, start + length):
            if traces["relative_weight_error"][i] <= 1e-6:
                hit[r] = (float(traces["epochs"][i]), float(traces["seconds"][i]))
                break
    check(any(h is not None for h in hit.values()) and any(h is None for h in hit.values()),
          "the study should have tasks that reach the target and tasks that do not")

    # Problems, solvers (settings), their labels for this grid, and the combined costs.
    runs = {}
    labels = {}
    for r in rows:
        problem, setting = problem_and_setting(tasks, r)
        runs.setdefault((problem, setting), []).append(INF if hit[r] is None else hit[r][0])
        cond = "cond=" + tasks["data"][r].rsplit("cond=", 1)[1]
        labels[problem] = f"{cond} preconditioner={tasks['preconditioner'][r]}"
        optimizer = tasks["optimizer"][r]
        # The parameter in which the optimizer's settings differ, as its params column spells it.
        labels[setting] = {"gd": f"gd lr={tasks['gd.lr_spec'][r]}",
                           "sgd": f"sgd batch_size={tasks['sgd.batch_size'][r]:g}"}.get(optimizer, optimizer)
    problems = sorted({p for p, _ in runs}, key=lambda p: labels[p])
    settings = sorted({s for _, s in runs}, key=lambda s: labels[s])
    check(len(problems) == 6 and len(settings) == 6, f"{len(problems)} problems, {len(settings)} settings")
    cost = {(p, s): float(np.median(runs[(p, s)])) for p in problems for s in settings}  # +inf included
    # Solved exactly when a strict majority of the repeats solved (docs).
    for (p, s), costs in runs.items():
        check(math.isfinite(cost[(p, s)]) == (sum(math.isfinite(c) for c in costs) * 2 > len(costs)), f"majority {costs}")
    ratio = {}
    for p in problems:
        least = min(cost[(p, s)] for s in settings)
        for s in settings:
            ratio[(p, s)] = INF if math.isinf(cost[(p, s)]) else cost[(p, s)] / least

    # The CSV: every cost and ratio, every profile point and the areas.
    with open(csv_path) as f:
        records = list(csv.DictReader(f))
    by_label = {labels[k]: k for k in list(problems) + list(settings)}
    seen = 0
    for record in records:
        kind, value = record["kind"], float(record["value"])
        if kind in ("cost", "ratio"):
            key = (by_label[record["problem"]], by_label[record["solver"]])
            expected = cost[key] if kind == "cost" else ratio[key]
            check(value == expected or abs(value - expected) <= 1e-12 * expected, f"{kind} {key}: {value} vs {expected}")
            seen += 1
        elif kind in ("performance", "data"):
            s = by_label[record["solver"]]
            x = float(record["x"])
            values = [ratio[(p, s)] if kind == "performance" else cost[(p, s)] for p in problems]
            check(value == sum(v <= x for v in values) / len(problems), f"{kind} {record}")
        elif kind == "area":
            s = by_label[record["solver"]]
            grid_tau = np.linspace(1, 4, 300001)
            rho = np.array([[ratio[(p, s)] <= t for t in grid_tau[::1000]] for p in problems]).mean(axis=0)
            exact = sum(max(0.0, 4 - max(ratio[(p, s)], 1)) for p in problems if ratio[(p, s)] <= 4) / 3 / len(problems)
            # The closed form and a numerical integral of the step function.
            check(abs(value - exact) <= 1e-12, f"area {record} vs {exact}")
            check(abs(value - np.trapz(rho, grid_tau[::1000]) / 3) <= 0.01, f"area {record} vs the integral")
    check(seen == 2 * len(problems) * len(settings), f"{seen} cost/ratio rows")

    # The printed profile tables.
    header, body = table(report, "performance profile rho(tau)")
    taus = [float(h[4:-1]) for h in header if h.startswith("rho(")]
    check(taus == [1, 1.5, 2, 4, 10], f"tau {taus}")
    for fields in body:
        label = " ".join(fields[:-(len(taus) + 2)])
        s = by_label[label]
        numbers = fields[-(len(taus) + 2):]
        check(int(numbers[0]) == sum(math.isfinite(cost[(p, s)]) for p in problems), f"solved {fields}")
        for tau, printed in zip(taus, numbers[1:]):
            check(abs(float(printed) - sum(ratio[(p, s)] <= tau for p in problems) / 6) <= 5e-4, f"rho({tau}) {fields}")
    header, body = table(report, "data profile d(alpha)")
    alphas = [float(h[2:-1]) for h in header if h.startswith("d(")]
    finite = [c for c in cost.values() if math.isfinite(c) and c > 0]
    check(alphas == [10.0 ** e for e in range(math.floor(math.log10(min(finite))), math.ceil(math.log10(max(finite))) + 1)],
          f"default alphas {alphas}")
    for fields in body:
        s = by_label[" ".join(fields[:-(len(alphas) + 1)])]
        for alpha, printed in zip(alphas, fields[-len(alphas):]):
            check(abs(float(printed) - sum(cost[(p, s)] <= alpha for p in problems) / 6) <= 5e-4, f"d({alpha}) {fields}")

    # Work to target per optimizer: medians and intervals over the tasks that reached it.
    _, body = table(report, "work to target rel_w_err<=1e-6 per optimizer")
    for fields in body:
        reached = [hit[r] for r in rows if tasks["optimizer"][r] == fields[0] and hit[r] is not None]
        passes, seconds = [h[0] for h in reached], [h[1] for h in reached]
        check(int(fields[2]) == len(reached), f"reached {fields}")
        if reached:
            check(float(fields[3]) == median(passes) or abs(float(fields[3]) / median(passes) - 1) < 1e-5, f"passes {fields}")
            check(same_interval(fields[4], interval(passes), False), f"passes interval {fields} vs {interval(passes)}")
            check(abs(float(fields[5]) / median(seconds) - 1) < 1e-3, f"seconds {fields}")
            check(same_interval(fields[6], interval(seconds), True), f"seconds interval {fields} vs {interval(seconds)}")
        else:
            check(fields[3:] == ["-"] * 4, f"no task reached: {fields}")

    # The intervals of the by-optimizer table.
    _, body = table(report, "by optimizer")
    for fields in body:
        group = [r for r in rows if tasks["optimizer"][r] == fields[0]]
        for column, position, scientific in (("relative_weight_error", 6, True), ("iterations", 8, False), ("epochs", 10, False)):
            values = [float(tasks[column][r]) for r in group]
            check(same_interval(fields[position], interval(values), scientific), f"{column} interval {fields}")

    # Best of k by enumeration, and the sensitivity to the tuned axis, for gd (lr) and sgd (batch_size).
    for optimizer, axis in (("gd", "gd.lr"), ("sgd", "sgd.batch_size")):
        mine = [s for s in settings if s[0] == optimizer]
        value = {}
        for p in problems:
            for s in mine:
                metric = [float(tasks["relative_weight_error"][r]) for r in rows if problem_and_setting(tasks, r) == (p, s)]
                v = median(metric)
                value[(p, s)] = INF if math.isnan(v) else v
        _, body = table(report, f"tuning {optimizer}: best of k of its {len(mine)} settings over {axis}")
        for fields in body:
            k = int(fields[0])
            per_problem = [float(np.mean([min(value[(p, s)] for s in subset) for subset in itertools.combinations(mine, k)]))
                           for p in problems]
            check(same(fields[1], median(per_problem), 3), f"{optimizer} best of {k}: {fields} vs {median(per_problem)}")
            check(same_interval(fields[2], interval(per_problem), True), f"{optimizer} best of {k} interval {fields}")
        check(len(body) == len(mine), f"{optimizer}: k = 1..{len(mine)}")
        best_all = median([min(value[(p, s)] for s in mine) for p in problems])
        check(same(body[-1][1], best_all, 3), f"{optimizer}: best of all settings {body[-1]} vs {best_all}")
        _, body = table(report, f"sensitivity of {optimizer} to {axis}")
        check(len(body) == 2, f"sensitivity rows {body}")
        for fields, s in zip(body, sorted(mine, key=lambda s: [labels[s].split("=")[1] != ("auto" if optimizer == "gd" else "8")])):
            per_problem = [value[(p, s)] for p in problems]
            check(same(fields[2], median(per_problem), 3), f"sensitivity {fields} vs {median(per_problem)} ({labels[s]})")

    # The closed-form case: exactly twice the cost on every problem.
    twice, twice_path = os.path.join(args.work, "twice.ini"), os.path.join(args.work, "twice.h5")
    with open(twice, "w") as f:
        f.write(TWICE)
    run([args.kappa, "study", twice, "-o", twice_path, "--force"])
    twice_csv = os.path.join(args.work, "twice.csv.out")
    report = run([args.kappa, "report", twice_path, "--profiles", "--target", "test_mae<=1e9", "--cost", "iterations",
                  "--tau", "1,1.99,2,3", "--alpha", "100,199,200", "--profiles-csv", twice_csv])
    _, body = table(report, "performance profile rho(tau)")
    rows_by_solver = {" ".join(f[:2]): f[2:] for f in body}
    check(rows_by_solver.get("gd max_iterations=100") == ["3", "1.000", "1.000", "1.000", "1.000", "1.0000"],
          f"the cheaper solver: {body}")
    check(rows_by_solver.get("gd max_iterations=200") == ["3", "0.000", "0.000", "1.000", "1.000", "0.6667"],
          f"twice the cost: rho jumps from 0 to 1 at tau = 2, area (4 - 2) / 3: {body}")
    _, body = table(report, "data profile d(alpha)")
    rows_by_solver = {" ".join(f[:2]): f[2:] for f in body}
    check(rows_by_solver.get("gd max_iterations=100") == ["3", "1.000", "1.000", "1.000"] and
          rows_by_solver.get("gd max_iterations=200") == ["3", "0.000", "0.000", "1.000"], f"data profile: {body}")
    with open(twice_csv) as f:
        areas = {r["solver"]: float(r["value"]) for r in csv.DictReader(f) if r["kind"] == "area"}
    check(areas == {"gd max_iterations=100": 1.0, "gd max_iterations=200": 2 / 3}, f"areas {areas}")
    # --solvers tuned: one solver, the best setting per problem, so every ratio is 1.
    report = run([args.kappa, "report", twice_path, "--profiles", "--target", "test_mae<=1e9", "--cost", "iterations",
                  "--solvers", "tuned"])
    _, body = table(report, "performance profile rho(tau)")
    check(body == [["gd", "3", "1.000", "1.000", "1.000", "1.000", "1.000", "1.0000"]], f"tuned: {body}")
    print("ok: profiles, data profiles, areas, work to target, best of k, sensitivity and bootstrap intervals equal "
          "numpy's from the results file; twice the cost gives rho 0 -> 1 at tau = 2")


if __name__ == "__main__":
    main()
