#!/usr/bin/python3
"""`kappa report` and scripts/plot/plot_study.py follow one set of rules (docs/report-semantics.md).

usage: semantics_test.py --kappa KAPPA --plot PLOT_SCRIPT --work DIR

Runs a small study (text and numeric axes, a keyword value, tasks that converge, diverge, fail
and cannot be built, exact solves, a measured column), then for many --where, --by and --metric
compares what `kappa report` prints with what `plot_study.py --table` prints: the selected task
count, the axes, the statuses, the converged statuses, every group of every table (label,
optimizer, tasks, converged share, failed, diverged, the three medians at the report's
precision), the best grid points, the reference and exact-solve lines; --where mistakes end both
with the same exit status and message. The heatmap cells of plot_study.py equal the report's
groups too. A few examples of docs/report-semantics.md are checked against the file itself, so
that both sides changing together is caught as well. Prints "ok: ..." and exits 0 on success;
otherwise the reason and exits 1.
"""

import argparse
import importlib.util
import math
import os
import subprocess
import sys

try:
    import h5py
except ImportError as error:
    print(f"FAIL: {error} (run with /usr/bin/python3 and python3-h5py installed)")
    sys.exit(1)

ENV = dict(os.environ, OPENBLAS_NUM_THREADS="1")

# Axes: optimizer; synthetic.cond (numeric, written 1e3 and 1e9: grid spelling differs from the
# stored 1000); reference (text; with cholesky cond 1e9 cannot be built: NaN metrics, iterations
# 0, exact solves without a step; with svd condition_number is measured, else NaN); gd.lr (a text
# float64 column, NaN for `auto`, with the text column gd.lr_spec: 1e-3 is stored there as 0.001;
# 100 diverges); grad_tol (a study setting,
# float64, written in decreasing order: the grid's order is not the numeric one). `data` varies through synthetic.cond without being an axis.
GRID = """optimizer = gd cg direct
synthetic = kind=spectrum,n=40,d=6,noise=0.01,n_test=10
synthetic.cond = 10 1e3 1e9
reference = cholesky svd
max_iterations = 200
grad_tol = 1e-6 1e-10
repeats = 2
[gd]
lr = auto 100 1e-3
"""
SPEC_10 = "kind=spectrum,n=40,d=6,noise=0.01,n_test=10,cond=10"

# (--where list, --by list, --metric or None)
CASES = [
    ([], [], None),
    ([], ["synthetic.cond"], "test_mae"),
    ([], ["gd.lr", "data"], None),
    ([], ["condition_number", "reference"], "loss_gap"),
    ([], ["status", "iterations"], "predicted_iterations"),
    ([], ["optimizer", "grad_tol"], "epochs"),
    ([], ["synthetic.cond", "synthetic.cond"], "grad_norm"),
    (["synthetic.cond=1e3"], [], None),
    (["synthetic.cond=1000"], ["data"], None),
    (["synthetic.cond=1e+3", "reference=svd"], ["condition_number"], "test_rmse"),
    (["gd.lr=0.001"], [], None),
    (["gd.lr=1e-3"], [], None),
    (["gd.lr_spec=0.001"], ["gd.lr"], None),
    (["gd.lr=auto", "synthetic.cond=10"], ["gd.lr", "grad_tol"], None),
    (["gd.lr=100"], [], "final_loss"),
    (["gd.lr="], ["optimizer", "data"], None),
    (["status=failed"], ["status", "reference"], None),
    (["reference=svd"], ["condition_number"], None),
    (["reference=cholesky", "synthetic.cond=1e9"], [], None),
    ([f"synthetic={SPEC_10}"], ["data", "gd.lr"], None),
    ([f"data={SPEC_10}", "optimizer=direct"], ["data"], None),
    (["grad_tol=1e-6"], ["gd.lr"], "test_mae"),
    (["grad_tol=0.000001", "optimizer=cg"], [], None),
    (["iterations=200"], ["iterations", "epochs"], None),
    (["optimizer=direct"], [], None),
    (["method_class=exact"], ["optimizer"], None),
    (["repeat=1", "optimizer=gd"], ["gd.lr", "synthetic.cond"], None),
]

# --where that both refuse: (where list, exit status).
MISTAKES = [
    (["gd.lr_spec=1e-3"], 1),                 # a text column matches the stored spelling only
    (["optimizer=gd", "optimizer=cg"], 1),    # several --where must all hold
    (["synthetic.cond=7"], 1),
    (["synthetic.cond=abc"], 1),              # not a number: as text, and no cell's text is abc
    (["lerning_rate=1"], 1),                  # no such column
    (["optimizer"], 2),                       # no '='
    (["synthetic.cond=1e3", "optimizer"], 2),
]


class Failure(Exception):
    pass


def check(condition, message):
    if not condition:
        raise Failure(message)


def run(command, expect=0):
    done = subprocess.run(command, env=ENV, capture_output=True, text=True, timeout=300)
    if expect is not None and done.returncode != expect:
        raise Failure(f"{' '.join(command)}: exit {done.returncode}, expected {expect}\n"
                      f"stdout: {done.stdout}\nstderr: {done.stderr}")
    return done


def options(where, by, metric):
    args = []
    for condition in where:
        args += ["--where", condition]
    for name in by:
        args += ["--by", name]
    if metric:
        args += ["--metric", metric]
    return args


# --- what the report prints, parsed -----------------------------------------------------------

def joined(lines, start):
    """A line print_wrapped may have continued on indented lines, joined."""
    text = lines[start]
    index = start + 1
    while index < len(lines) and lines[index].startswith("   ") and lines[index].strip():
        text += " " + lines[index].strip()
        index += 1
    return text, index


def parse_group(fields):
    """tasks converged failed diverged metric iters epochs, as printed (each median is followed by
    its bootstrap interval, which profiles_test.py checks: left out here)."""
    check(len(fields) == 10, f"a table row with {len(fields)} statistics: {fields}")
    return tuple(fields[:5] + [fields[6], fields[8]])


def parse_report(text):
    lines = text.splitlines()
    report = {"by": [], "best": {}, "exact": None}
    index = 0
    while index < len(lines):
        line = lines[index]
        if line.startswith("tasks: "):
            words = line.split()
            report["tasks"] = (int(words[1]), int(words[3]))
        elif line.startswith("axes: "):
            line, index = joined(lines, index)
            body = line[len("axes: "):]
            report["axes"] = [] if body == "none" else [
                (item.rsplit(" (", 1)[0], int(item.rsplit(" (", 1)[1].rstrip(")"))) for item in body.split(", ")]
            continue
        elif line.startswith("statuses: "):
            line, index = joined(lines, index)
            body = line[len("statuses: "):]
            report["statuses"] = [(item.split(" ", 1)[1], int(item.split(" ", 1)[0])) for item in body.split(", ")]
            continue
        elif line.startswith("converged = share of the tasks with status "):
            names = line[len("converged = share of the tasks with status "):]
            first, _, last = names.rpartition(" or ")
            report["converged"] = first.split(", ") + [last]
        elif line == "by optimizer":
            rows, index = table(lines, index + 2)
            report["optimizers"] = [(fields[0], parse_group(fields[1:])) for fields in rows]
            continue
        elif line.startswith("by "):
            title = line[3:]
            name, left_out = title, 0
            if title.endswith(" tasks to which it does not apply left out)"):
                name, count = title[:-len(" tasks to which it does not apply left out)")].rsplit(" (", 1)
                left_out = int(count)
            rows, index = table(lines, index + 2)
            report["by"].append((name, left_out, [(f[0], f[1], parse_group(f[2:])) for f in rows]))
            continue
        elif line.startswith("best grid point per optimizer"):
            index += 1
            while index < len(lines) and lines[index].startswith("  ") and lines[index].strip():
                entry, index = joined(lines, index)
                words = entry.split()
                if " no task with a " in entry:
                    report["best"][words[0]] = None
                else:
                    converged, tasks = words[3].split("/")  # words[2]: the median's interval
                    report["best"][words[0]] = (words[1], converged, tasks, " ".join(words[5:]))
            continue
        elif line.startswith("reference w*: "):
            names = line[len("reference w*: "):].rsplit(" (", 1)[0]
            report["references"] = names.split(", ") if names else []
        elif " optimizer: " in line or " optimizers: " in line:
            head, _, body = line.partition(": ")
            names = head.rsplit(" ", 1)[0].split(", ")
            median = maximum = None
            count = failed = 0
            for part in body.split("; "):
                words = part.split()
                if " median " in part:
                    median, maximum, count = words[2], words[5], int(words[7])  # words[3]: "[low,high],"
                else:
                    failed = int(words[0])
            report["exact"] = (names, median, maximum, count, failed)
        index += 1
    return report


def table(lines, start):
    rows = []
    index = start
    while index < len(lines) and lines[index].strip():
        rows.append(lines[index].split())
        index += 1
    return rows, index


# --- what plot_study.py --table prints, in the report's formats -------------------------------

def fit(text, width):
    return text if len(text) <= width else "..." + text[len(text) - (width - 3):]


def scientific(value):
    return "-" if math.isnan(value) else "%.3e" % value


def plain(value):
    return "-" if math.isnan(value) else "%g" % value


def as_printed(fields):
    tasks, converged, failed, diverged, metric, iterations, epochs = fields
    return (tasks, "%.2f" % (int(converged) / int(tasks)), failed, diverged,
            scientific(float(metric)), plain(float(iterations)), plain(float(epochs)))


def parse_table(text):
    table = {"by": [], "best": {}, "exact": None, "optimizers": []}
    for line in text.splitlines():
        fields = line.split("\t")
        kind, rest = fields[0], fields[1:]
        if kind == "tasks":
            table["tasks"] = (int(rest[0]), int(rest[1]))
        elif kind == "axes":
            table["axes"] = [(item.rsplit("=", 1)[0], int(item.rsplit("=", 1)[1])) for item in rest]
        elif kind == "statuses":
            table["statuses"] = [(item.rsplit("=", 1)[0], int(item.rsplit("=", 1)[1])) for item in rest]
        elif kind == "converged":
            table["converged"] = rest
        elif kind == "optimizer":
            table["optimizers"].append((fit(rest[0], 12), as_printed(rest[1:])))
        elif kind == "by":
            table["by"].append((rest[0], int(rest[1]), []))
        elif kind == "group":
            check(table["by"] and table["by"][-1][0] == rest[0], f"--table: a group outside its axis: {line}")
            table["by"][-1][2].append((fit(rest[1], 15), fit(rest[2], 12), as_printed(rest[3:])))
        elif kind == "best":
            table["best"][rest[0]] = None if rest[1] == "-" else (scientific(float(rest[1])), rest[2], rest[3], rest[4])
        elif kind == "reference":
            table["references"] = rest
        elif kind == "exact":
            count = int(rest[3])  # the report shows no median of none
            table["exact"] = (rest[0].split(","), scientific(float(rest[1])) if count else None,
                              scientific(float(rest[2])) if count else None, count, int(rest[4]))
        elif kind != "metric":
            raise Failure(f"--table: unknown line {line!r}")
    return table


def compare(report, table, what):
    for key in ("tasks", "axes", "statuses", "converged", "optimizers", "references", "exact"):
        check(report.get(key) == table.get(key), f"{what}: {key}: report {report.get(key)}, plot_study.py {table.get(key)}")
    check(len(report["by"]) == len(table["by"]),
          f"{what}: axis tables: report {[b[0] for b in report['by']]}, plot_study.py {[b[0] for b in table['by']]}")
    for (name, left_out, groups), (t_name, t_left_out, t_groups) in zip(report["by"], table["by"]):
        check(name == t_name, f"{what}: axis table {name} against {t_name}")
        check(left_out == t_left_out, f"{what}: by {name}: left out: report {left_out}, plot_study.py {t_left_out}")
        check(len(groups) == len(t_groups),
              f"{what}: by {name}: report groups {[g[:2] for g in groups]}, plot_study.py {[g[:2] for g in t_groups]}")
        for group, t_group in zip(groups, t_groups):
            check(group == t_group, f"{what}: by {name}: report {group}, plot_study.py {t_group}")
    check(report["best"] == table["best"], f"{what}: best: report {report['best']}, plot_study.py {table['best']}")


# --- the test -------------------------------------------------------------------------------

def load_plot_module(path):
    spec = importlib.util.spec_from_file_location("plot_study", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def read_tasks(path):
    with h5py.File(path, "r") as f:
        t = f["tasks"]
        return {c: (list(t[c].asstr()[()]) if t[c].dtype.kind == "O" else t[c][()].tolist())
                for c in t.attrs["columns"].split(",")}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--kappa", required=True)
    parser.add_argument("--plot", required=True)
    parser.add_argument("--work", required=True)
    args = parser.parse_args()
    os.makedirs(args.work, exist_ok=True)
    plot = ["/usr/bin/python3", args.plot]
    try:
        grid = os.path.join(args.work, "semantics.ini")
        with open(grid, "w") as out:
            out.write(GRID)
        path = os.path.join(args.work, "semantics.h5")
        run([args.kappa, "study", grid, "-o", path, "--force"])
        tasks = read_tasks(path)
        rows = len(tasks["task"])
        check(rows == 120, f"the study has {rows} tasks, expected 120")

        # Examples of docs/report-semantics.md, from the file itself.
        check(tasks["gd.lr_spec"].count("0.001") == 24 and "1e-3" not in tasks["gd.lr_spec"],
              f"gd.lr_spec is stored as {sorted(set(tasks['gd.lr_spec']))}: the doc's example (1e-3 stored as 0.001) is wrong")
        check(sum(1 for v in tasks["gd.lr"] if v == 0.001) == 24 and
              sum(1 for v, t in zip(tasks["gd.lr"], tasks["gd.lr_spec"]) if v != v and t == "auto") == 24,
              "gd.lr is float64: 0.001 for the 24 lr-1e-3 tasks, NaN where gd.lr_spec is auto")
        check(any(math.isnan(v) for v in tasks["relative_weight_error"]), "no task without a metric (cond 1e9, cholesky)")
        check(any(math.isnan(v) for v in tasks["condition_number"]) and not all(math.isnan(v) for v in tasks["condition_number"]),
              "condition_number should apply to some tasks only")
        statuses = set(tasks["status"])
        check({"failed", "diverged", "max-iterations", "converged-gradient"} <= statuses, f"statuses {statuses}")

        compared = 0
        for where, by, metric in CASES:
            what = f"--where {where} --by {by} --metric {metric}"
            report_text = run([args.kappa, "report", path, *options(where, by, metric)]).stdout
            table_text = run(plot + [path, "--table", *options(where, by, metric)]).stdout
            report, table = parse_report(report_text), parse_table(table_text)
            compare(report, table, what)
            selected = report["tasks"][0]
            groups = sum(len(g) for _, _, g in report["by"])
            check(selected > 0 and report["optimizers"], f"{what}: nothing compared")
            compared += groups + len(report["optimizers"])
            # The doc's examples of --where.
            if where in (["gd.lr=0.001"], ["gd.lr=1e-3"], ["gd.lr_spec=0.001"]):
                check(selected == 24, f"{what}: {selected} tasks, expected the 24 with lr 1e-3")
            if where == ["gd.lr="]:
                check(selected == 48, f"{what}: {selected} tasks, expected the 48 of cg and direct")
            if where in (["synthetic.cond=1e3"], ["synthetic.cond=1000"]):
                check(selected == 40, f"{what}: {selected} tasks, expected 40")
            if where == ["synthetic.cond=1e+3", "reference=svd"]:
                check(selected == 20, f"{what}: {selected} tasks, expected 20 (both --where hold)")
            exact = sorted({tasks["optimizer"][r] for r in range(rows) if tasks["method_class"][r] == "exact"
                            and (not where or where == ["optimizer=direct"])})
            if not where or where == ["optimizer=direct"]:
                check(report["exact"] and sorted(report["exact"][0]) == exact,
                      f"{what}: exact solves {report['exact']}, expected those of method_class exact: {exact}")
            if not where and not by:
                check([name for name, _ in report["axes"]] == ["optimizer", "synthetic.cond", "reference", "grad_tol", "gd.lr"],
                      f"axes {report['axes']}")
                check(report["converged"] == ["converged-gradient", "converged-loss", "converged-precision"],
                      f"converged statuses {report['converged']} (docs/report-semantics.md lists three)")
                check([b[0] for b in report["by"]] == ["synthetic.cond", "reference", "grad_tol", "gd.lr"],
                      f"default tables {[b[0] for b in report['by']]}: every axis but optimizer")
                tol = next(b for b in report["by"] if b[0] == "grad_tol")
                check([g[0] for g in tol[2]][::3] == ["1e-6", "1e-10"], f"grad_tol labels {[g[0] for g in tol[2]]} (grid order)")
                cond = next(b for b in report["by"] if b[0] == "synthetic.cond")
                check([g[0] for g in cond[2]][::3] == ["10", "1e3", "1e9"], f"synthetic.cond labels {[g[0] for g in cond[2]]}")
            if by == ["gd.lr", "data"] and not where:
                lr = report["by"][0]
                check([g[0] for g in lr[2]] == ["auto", "100", "1e-3"] and lr[1] == 48, f"gd.lr table {lr}")
                check([g[0] for g in report["by"][1][2]][::3] == ["cond=10", "cond=1000", "cond=1000000000"],
                      f"data labels {report['by'][1][2]}")

        for where, code in MISTAKES:
            done_report = run([args.kappa, "report", path, *options(where, [], None)], expect=code)
            done_plot = run(plot + [path, "--table", *options(where, [], None)], expect=code)
            message_report = done_report.stderr.strip().replace("kappa report: ", "", 1)
            message_plot = done_plot.stderr.strip().replace("plot_study.py: ", "", 1)
            check(message_report == message_plot, f"--where {where}: report says {message_report!r}, "
                  f"plot_study.py {message_plot!r}")
        for by in (["synthetic"], ["lerning_rate"]):  # not an axis nor a column
            run([args.kappa, "report", path, *options([], by, None)], expect=1)
            run(plot + [path, "--table", *options([], by, None)], expect=1)

        # The heatmap cells of plot_study.py: per optimizer and reference, the groups of the
        # report's synthetic.cond table under --where reference=R.
        module = load_plot_module(args.plot)
        import numpy
        results = module.Results(path, numpy, h5py, traces=False)
        # agg median: the report's medians (the hits only count reached tasks, unused here)
        no_hits = [False] * len(results.cells("optimizer"))
        panels = module.heatmap_panels(results, results.select([]), "synthetic.cond", "reference", "median",
                                       "relative_weight_error", no_hits)
        cells = 0
        for reference in ("cholesky", "svd"):
            report = parse_report(run([args.kappa, "report", path, "--where", f"reference={reference}",
                                       "--by", "synthetic.cond"]).stdout)
            medians = {(label, name): fields[4] for label, name, fields in report["by"][0][2]}
            for name, xs, ys, grid_values, _, _ in panels:
                y = ys.index(reference)
                for x, label in enumerate(xs):
                    check(scientific(grid_values[y][x]) == medians[(label, name)],
                          f"heatmap {name} cond={label} reference={reference}: {grid_values[y][x]}, "
                          f"report {medians[(label, name)]}")
                    cells += 1
        check(cells == 18, f"{cells} heatmap cells compared, expected 18")
    except Failure as failure:
        print(f"FAIL: {failure}")
        return 1
    print(f"ok: kappa report and plot_study.py agree on {len(CASES)} selections ({compared} groups), "
          f"{len(MISTAKES)} refused --where and {cells} heatmap cells")
    return 0


if __name__ == "__main__":
    sys.exit(main())
