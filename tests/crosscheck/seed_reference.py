#!/usr/bin/env python3
"""Cross-check against figures computed independently with NumPy/LAPACK and scikit-learn.

usage: seed_reference.py KAPPA DATA_DIR WORK_DIR

Runs `kappa solve` on DATA_DIR/seedlike-600.h5 and compares the direct solution's weight norm
and test MAE with DATA_DIR/seedlike-600.reference.json to 6 significant digits; checks that
gd, adam and lbfgs stop far from w* with a truthful status (the seed's observation). Exits 77
(CTest's skip code) when the shared data are not there: the project's own tests never need them.
"""
import csv
import json
import os
import subprocess
import sys

SKIP = 77


def main():
    kappa, data_dir, work_dir = sys.argv[1:4]
    data = os.path.join(data_dir, "seedlike-600.h5")
    reference_file = os.path.join(data_dir, "seedlike-600.reference.json")
    if not (os.path.exists(data) and os.path.exists(reference_file)):
        print(f"skipped: {data} not found")
        return SKIP
    with open(reference_file) as f:
        reference = json.load(f)
    output = os.path.join(work_dir, "seed_reference.csv")
    subprocess.run([kappa, "solve", "--data", data, "--optimizer", "gd,adam,lbfgs", "--max-iterations", "2000",
                    "--output", output], check=True, stdout=subprocess.DEVNULL)
    with open(output) as f:
        rows = {row["optimizer"]: row for row in csv.DictReader(f)}

    failures = []

    def agree(name, measured, expected, digits=6):
        relative = abs(measured - expected) / abs(expected)
        ok = relative < 0.5 * 10 ** (1 - digits)
        print(f"{'ok  ' if ok else 'FAIL'} {name}: kappa {measured:.10g}, reference {expected:.10g} (relative {relative:.2e})")
        if not ok:
            failures.append(name)

    direct = rows["direct:svd"]
    agree("weight norm of w*", float(direct["weight_norm"]), reference["lstsq_weight_norm"])
    agree("test MAE of w*", float(direct["test_mae"]), reference["lstsq_test_mae"])
    for method in ("gd", "adam", "lbfgs"):
        row = rows[method]
        error = float(row["relative_weight_error"])
        ok = row["status"] == "max-iterations" and error > 0.5
        print(f"{'ok  ' if ok else 'FAIL'} {method}: {row['status']}, relative weight error {error:.3g}")
        if not ok:
            failures.append(method)
    print(f"{5 - len(failures)} passed, {len(failures)} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
