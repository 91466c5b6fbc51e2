#!/usr/bin/python3
"""The default figures of scripts/plot/plot_study.py answer "which combinations reach w*".

usage: plots_test.py --kappa KAPPA --plot PLOT_SCRIPT --readme README.md --work DIR

A small study where some combinations reach rel_w_err <= 1e-6 (cg, direct) and others do not
(gd and sgd with a tiny step), over two formulations and two preconditioners. Checks:
  - plot_study.py with no flags (kappa found through $KAPPA) writes exactly the profiles, the
    curves and the default share heatmap beside the results file, and each PNG decodes to an
    image that is not blank;
  - with --csv, every cell of the default heatmap (optimizer x formulation / preconditioner)
    is the share of its tasks reaching the target, recomputed here from the HDF5 file with h5py
    (first trace point with relative_weight_error <= 1e-6, never a failed or diverged task),
    and, in this study, also the share by final value; cg and direct reach it everywhere, gd
    nowhere;
  - the profiles' CSV is byte for byte what `kappa report --profiles --profiles-csv` writes;
  - `--heatmap preconditioner optimizer` is one panel, `--heatmap sgd.lr sgd.batch_size` one
    panel (sgd's);
  - the README's plot command, verbatim but for the script's path, creates its missing --out;
  - mistakes: one line on stderr, exit 2 for a usage mistake, 1 otherwise, and no --out left.
Prints "ok: ..." and exits 0 on success; otherwise the reason and exits 1.
"""

import argparse
import csv
import os
import shlex
import shutil
import subprocess
import sys

try:
    import h5py
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.image
except ImportError as error:
    print(f"FAIL: {error} (run with /usr/bin/python3, python3-h5py and python3-matplotlib installed)")
    sys.exit(1)

GRID = """optimizer = gd sgd cg direct
synthetic = kind=kernel,n=60,width=0.3,noise=0.01,n_test=10
formulation = regression kernel-system
preconditioner = none standardize
max_iterations = 300
repeats = 2
[gd]
lr = 1e-4
[sgd]
lr = 1e-4 1e-5
batch_size = 4 full
"""
TARGET = 1e-6


class Failure(Exception):
    pass


def check(condition, message):
    if not condition:
        raise Failure(message)


def run(command, expect=0, env=None, cwd=None):
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, env=env, cwd=cwd)
    if expect is not None and done.returncode != expect:
        raise Failure(f"{' '.join(command)}: exit {done.returncode}, expected {expect}\n"
                      f"stdout: {done.stdout}\nstderr: {done.stderr}")
    return done


def check_png(path):
    image = matplotlib.image.imread(path)
    check(image.ndim == 3 and image.shape[2] in (3, 4), f"{path}: shape {image.shape}")
    check(300 <= image.shape[1] <= 5000 and 200 <= image.shape[0] <= 5000, f"{path}: {image.shape[1]}x{image.shape[0]}")
    check(float(image[..., :3].std()) > 0.01, f"{path}: a blank image")


def read_csv(path):
    with open(path, newline="") as source:
        return list(csv.DictReader(source))


def tasks_of(path):
    """Per task: optimizer, formulation, preconditioner, status, final error, reached by trace."""
    with h5py.File(path, "r") as f:
        t = f["tasks"]
        text = {c: t[c].asstr()[()] for c in ("optimizer", "formulation", "preconditioner", "status")}
        final, start, length = t["relative_weight_error"][()], t["trace_start"][()], t["trace_length"][()]
        trace = f["traces"]["relative_weight_error"][()]
    tasks = []
    for i in range(len(final)):
        ok = text["status"][i] not in ("failed", "crashed", "diverged")
        tasks.append({"optimizer": text["optimizer"][i], "cell": f"{text['formulation'][i]} / {text['preconditioner'][i]}",
                      "status": text["status"][i],
                      "by_trace": ok and bool((trace[start[i]:start[i] + length[i]] <= TARGET).any()),
                      "by_final": ok and bool(final[i] <= TARGET)})
    return tasks


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--kappa", required=True)
    parser.add_argument("--plot", required=True)
    parser.add_argument("--readme", required=True)
    parser.add_argument("--work", required=True)
    args = parser.parse_args()
    shutil.rmtree(args.work, ignore_errors=True)
    study_dir = os.path.join(args.work, "study")
    os.makedirs(study_dir)
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", KAPPA=os.path.abspath(args.kappa))
    grid = os.path.join(args.work, "grid.ini")
    with open(grid, "w") as out:
        out.write(GRID)
    results = os.path.join(study_dir, "seed.h5")
    run([args.kappa, "study", grid, "-o", results, "--force"], env=env)
    for extra in ("seed.csv",):  # kappa study's own CSV export, not a figure
        if os.path.exists(os.path.join(study_dir, extra)):
            os.remove(os.path.join(study_dir, extra))
    before = set(os.listdir(study_dir))

    # 1. No flags at all: the default figures beside the results file.
    done = run(["/usr/bin/python3", args.plot, results], env=env)
    expected = ["profiles.png", "curves_relative_weight_error.png", "heatmap_formulation+preconditioner_optimizer_share.png"]
    check(sorted(set(os.listdir(study_dir)) - before) == sorted(expected),
          f"default run wrote {sorted(set(os.listdir(study_dir)) - before)}, expected {sorted(expected)}")
    for name in expected:
        check(f"wrote {os.path.join(study_dir, name)}" in done.stdout, f"'wrote {name}' missing: {done.stdout}")
        check_png(os.path.join(study_dir, name))

    # 2. The numbers of the same figures.
    numbers = os.path.join(args.work, "numbers")
    run(["/usr/bin/python3", args.plot, results, "--csv", "--out", numbers], env=env)
    tasks = tasks_of(results)
    cells = read_csv(os.path.join(numbers, "heatmap_formulation+preconditioner_optimizer_share.csv"))
    check(len(cells) == 4 * 4, f"{len(cells)} heatmap cells, expected 4 optimizers x 4 problems")
    check({c["panel"] for c in cells} == {""}, "the default heatmap is one panel")
    for c in cells:
        mine = [t for t in tasks if t["optimizer"] == c["y"] and t["cell"] == c["x"]]
        check(mine and int(c["tasks"]) == len(mine), f"cell {c['y']} {c['x']}: {c['tasks']} tasks, h5py {len(mine)}")
        share = sum(t["by_trace"] for t in mine) / len(mine)
        check(abs(float(c["value"]) - share) < 1e-12 and int(c["reached"]) == sum(t["by_trace"] for t in mine),
              f"cell {c['y']} {c['x']}: share {c['value']}, h5py {share}")
        check(share == sum(t["by_final"] for t in mine) / len(mine), f"cell {c['y']} {c['x']}: trace and final value disagree")
        expect = {"cg": 1.0, "direct": 1.0, "gd": 0.0}.get(c["y"])
        check(expect is None or share == expect, f"cell {c['y']} {c['x']}: share {share}, the study is built for {expect}")
    check(any(float(c["value"]) == 0 for c in cells) and any(float(c["value"]) == 1 for c in cells), "no contrast")

    # The profiles are kappa report's, not a second implementation.
    direct = os.path.join(args.work, "kappa_profiles.csv")
    run([args.kappa, "report", results, "--profiles", "--profiles-csv", direct], env=env)
    with open(direct) as a, open(os.path.join(numbers, "profiles.csv")) as b:
        check(a.read() == b.read(), "profiles.csv differs from kappa report --profiles-csv")
    costs = [row for row in read_csv(direct) if row["kind"] == "cost"]
    for solver, solved in (("cg", 4), ("direct", 4), ("gd", 0)):
        mine = [row for row in costs if row["solver"].split(" ")[0] == solver]
        check(sum(row["value"] != "inf" for row in mine) == solved * len(mine) // 4,
              f"{solver}: {[row['value'] for row in mine]}")
    curve = read_csv(os.path.join(numbers, "curves_relative_weight_error.csv"))
    check({row["group"] for row in curve} >= {"gd", "sgd", "cg"} and "direct" not in {row["group"] for row in curve},
          "median curves for the iterative methods, none for the one-step direct solve")

    # 3. One heatmap for --heatmap preconditioner optimizer; sgd's axes are one panel too.
    run(["/usr/bin/python3", args.plot, results, "--heatmap", "preconditioner", "optimizer", "--heatmap", "sgd.lr",
         "sgd.batch_size", "--csv", "--out", numbers], env=env)
    cells = read_csv(os.path.join(numbers, "heatmap_preconditioner_optimizer_share.csv"))
    check({c["panel"] for c in cells} == {""} and [c["y"] for c in cells[::2]] == ["gd", "sgd", "cg", "direct"],
          f"--heatmap preconditioner optimizer: {[(c['panel'], c['x'], c['y']) for c in cells]}")
    cells = read_csv(os.path.join(numbers, "heatmap_sgd.lr_sgd.batch_size_share.csv"))
    check({c["panel"] for c in cells} == {"sgd"} and len(cells) == 4, f"sgd.lr x sgd.batch_size: {cells}")
    check_png(os.path.join(numbers, "heatmap_sgd.lr_sgd.batch_size_share.png"))

    # 4. The README's command, verbatim but for the script's path, in a folder without its --out.
    with open(args.readme) as source:
        lines = [line.split("#")[0].strip() for line in source if "plot_study.py seed.h5 --curves --heatmap" in line]
    check(lines, "README.md has no 'plot_study.py seed.h5 --curves --heatmap' command")
    command = shlex.split(lines[0])
    check(command[:2] == ["/usr/bin/python3", "scripts/plot/plot_study.py"], f"README command {command}")
    command[1] = os.path.abspath(args.plot)
    out = command[command.index("--out") + 1]
    readme_dir = os.path.join(args.work, "readme")
    os.makedirs(readme_dir)
    shutil.copy(results, os.path.join(readme_dir, "seed.h5"))
    run(command, env=env, cwd=readme_dir)
    written = sorted(os.listdir(os.path.join(readme_dir, out)))
    check(written == ["curves_relative_weight_error.png", "heatmap_sgd.lr_sgd.batch_size_share.png"], f"README command wrote {written}")
    for name in written:
        check_png(os.path.join(readme_dir, out, name))

    # 5. Mistakes: one line, the exit status, and nothing left behind.
    missing = os.path.join(args.work, "never")
    for options, code in ((["--agg", "mean"], 2), (["--target", "rel_w_err<1e-6"], 2),
                          (["--heatmap", "optimizer", "lerning_rate"], 1), (["--kappa", "/nonexistent/kappa"], 1)):
        done = run(["/usr/bin/python3", args.plot, results, *options, "--out", missing], expect=code, env=env)
        check(done.stderr.count("\n") == 1 and done.stderr.startswith("plot_study.py: "), f"{options}: stderr {done.stderr!r}")
        check(not os.path.exists(missing), f"{options}: left {missing} behind")
    return f"ok: default figures (profiles, curves, share heatmap) decode; {len(tasks)} tasks, every heatmap share equals h5py's; README command creates {out}/"


if __name__ == "__main__":
    try:
        print(main())
    except Failure as failure:
        print(f"FAIL: {failure}")
        sys.exit(1)
