#!/usr/bin/env python3
"""Rank-deficient problems get one consistent answer, judged against numpy.

1. One condition number: on a design with exactly dependent columns (rank 6 of 8) and on
   unscaled degree-2 polynomial features with a binary input (whose square depends on it and
   the constant column), `kappa solve`'s reference line and `kappa diagnose` print the same
   text, "inf (rank r of d; nonzero spectrum sigma_1/sigma_r = ...)", with r and the ratio
   those of numpy's SVD under the cutoff eps max(n, d) sigma_max (numpy.linalg.matrix_rank's).
2. The minimum-norm convention and rel_w_err_range: kappa's w* is numpy's lstsq (minimum-norm)
   solution; CG with --preconditioner standardize converges to another minimizer, for which
   numpy's |P (w - w*)| / |w*| (P = pinv(A) A, onto range(A^T)) is <= 1e-8 while |w - w*| / |w*|
   is O(1); kappa reports both as numpy computes them, says that w* is the minimum-norm
   minimizer, and shows the rel_w_err_range column. The same with --intercept (A = [X 1]).
3. Full rank: no rel_w_err_range column and no note, and relative_weight_error_range equals
   relative_weight_error in the JSON.

usage: rank_test.py KAPPA PLUGIN_DIR WORK_DIR
"""
import json
import os
import re
import sys

from truth import Truth, np, polynomial_design, write_problem

t = Truth(sys.argv)
plugin_dir, work = t.plugin_dir, t.work
run = t.run


def check(condition, message):
    if not condition:
        t.fail(message)
        print("FAIL:", message)


def write(name, X, y):
    path = os.path.join(work, name)
    write_problem(path, X, y)
    return path


def dependent_columns(rng):
    """60 x 8, column 6 = 50 x column 1 and column 7 = column 0 - 3 column 2: rank 6. The scale
    of column 6 makes standardize's change of variables far from orthogonal, so that CG from
    z = 0 ends on a minimizer with a large null-space component."""
    X = rng.standard_normal((60, 8))
    X[:, 6] = 50 * X[:, 1]
    X[:, 7] = X[:, 0] - 3 * X[:, 2]
    return X


def polynomial(rng):
    """Degree-2 features of 4 inputs (one binary, values 1 and 2), unscaled, with a constant
    column: x_b^2 = 3 x_b - 2, so rank 14 of 15."""
    n = 120
    return polynomial_design(np.column_stack([rng.normal(50, 10, n), rng.choice([1.0, 2.0], n),
                                              rng.normal(25, 4, n), rng.normal(5, 1, n)]))


def numpy_rank(A):
    s = np.linalg.svd(A, compute_uv=False)
    tol = s.max() * max(A.shape) * np.finfo(float).eps  # numpy.linalg.matrix_rank's default
    kept = s[s > tol]
    return len(kept), kept[0] / kept[-1]


def condition_of_solve(stdout):
    line = next(l for l in stdout.splitlines() if l.startswith("reference:"))
    return line.split(", cond ", 1)[1]


def condition_of_diagnose(stdout):
    line = next(l for l in stdout.splitlines() if "cond(X) = sigma_max / sigma_min" in l)
    return line.split("cond(X) = sigma_max / sigma_min", 1)[1].strip()


def solve(path, *options):
    out = os.path.join(work, "rank.json")
    stdout = run("solve", "--data", path, "--plugin-dir", plugin_dir, "--output", out, *options)
    return stdout, {row["optimizer"]: row for row in json.load(open(out))["rows"]}


rng = np.random.default_rng(7)
y_weights = rng.standard_normal(15)
for name, X in [("dependent", dependent_columns(rng)), ("polynomial", polynomial(rng))]:
    n, d = X.shape
    y = X @ (y_weights[:d] / np.abs(X).mean(axis=0)) + 0.1 * rng.standard_normal(n)
    path = write(f"rank_{name}.h5", X, y)

    # 1. the same condition number text, numpy's rank and ratio
    rank, ratio = numpy_rank(X)
    check(rank < d, f"{name}: the test data should be rank-deficient (numpy rank {rank} of {d})")
    stdout, rows = solve(path, "--optimizer", "cg", "--preconditioner", "standardize", "--grad-tol", "1e-13",
                         "--max-iterations", "2000")
    in_solve, in_diagnose = condition_of_solve(stdout), condition_of_diagnose(run("diagnose", path))
    check(in_solve == in_diagnose, f"{name}: solve prints cond {in_solve!r}, diagnose {in_diagnose!r}")
    match = re.fullmatch(r"inf \(rank (\d+) of (\d+); nonzero spectrum sigma_1/sigma_r = (\S+)\)", in_solve)
    check(match is not None, f"{name}: cond text {in_solve!r} is not 'inf (rank r of d; nonzero spectrum ...)'")
    if match:
        check((int(match[1]), int(match[2])) == (rank, d), f"{name}: rank {match[1]} of {match[2]}, numpy {rank} of {d}")
        check(abs(float(match[3]) / ratio - 1) <= 1e-4, f"{name}: sigma_1/sigma_r {match[3]}, numpy {ratio:.6g}")

    # 2. w* is numpy's minimum-norm solution; CG + standardize finds another minimizer
    for intercept in (False, True):
        label = f"{name}{' --intercept' if intercept else ''}"
        options = ["--intercept", "--preconditioner", "center,standardize"] if intercept else ["--preconditioner", "standardize"]
        stdout, rows = solve(path, "--optimizer", "cg", "--grad-tol", "1e-13", "--max-iterations", "2000", *options)
        A = np.column_stack([X, np.ones(n)]) if intercept else X
        if intercept:  # scikit-learn's fit_intercept: minimum-norm feature weights of the centred problem
            w_f = np.linalg.lstsq(X - X.mean(axis=0), y - y.mean(), rcond=None)[0]
            w_star = np.append(w_f, y.mean() - X.mean(axis=0) @ w_f)
        else:
            w_star = np.linalg.lstsq(X, y, rcond=None)[0]
        reference, cg = np.array(rows["direct:svd"]["weights"]), rows["cg"]
        check(np.linalg.norm(reference - w_star) <= 1e-8 * np.linalg.norm(w_star),
              f"{label}: kappa's w* is {np.linalg.norm(reference - w_star) / np.linalg.norm(w_star):.3g} from numpy's minimum-norm one")
        w = np.array(cg["weights"])
        projector = np.linalg.pinv(A) @ A
        rel = np.linalg.norm(w - w_star) / np.linalg.norm(w_star)
        rel_range = np.linalg.norm(projector @ (w - w_star)) / np.linalg.norm(w_star)
        print(f"{label}: cg {cg['status']}, numpy rel_w_err {rel:.3e}, rel_w_err_range {rel_range:.3e}; "
              f"kappa {cg['relative_weight_error']:.3e}, {cg['relative_weight_error_range']:.3e}")
        check(cg["status"] == "converged-gradient", f"{label}: cg ended {cg['status']}")
        check(np.linalg.norm(A @ w - A @ w_star) <= 1e-6 * np.linalg.norm(A @ w_star), f"{label}: cg's w is no minimizer")
        check(rel >= 0.05, f"{label}: cg should end far from the minimum-norm w* (numpy rel_w_err {rel:.3g})")
        check(rel_range <= 1e-8, f"{label}: numpy's rel_w_err_range {rel_range:.3g} > 1e-8")
        check(abs(cg["relative_weight_error"] - rel) <= 1e-8 * rel, f"{label}: kappa's rel_w_err {cg['relative_weight_error']}, numpy {rel}")
        check(abs(cg["relative_weight_error_range"] - rel_range) <= 1e-9,
              f"{label}: kappa's rel_w_err_range {cg['relative_weight_error_range']}, numpy {rel_range}")
        header = next(l for l in stdout.splitlines() if l.startswith("method "))
        check("rel_w_err_range" in header.split(), f"{label}: the table has no rel_w_err_range column: {header!r}")
        check(("w* has the minimum-norm feature weights" if intercept else "w* is the minimum-norm minimizer") in stdout,
              f"{label}: kappa solve does not say what w* is")

# 3. full rank: neither column nor note; the two errors coincide
X = rng.standard_normal((50, 6))
path = write("rank_full.h5", X, X @ rng.standard_normal(6) + 0.1 * rng.standard_normal(50))
stdout, rows = solve(path, "--optimizer", "gd", "--max-iterations", "20")
check("rel_w_err_range" not in stdout and "minimizers are not unique" not in stdout, "full rank: a rank-deficiency column or note")
check(condition_of_solve(stdout) == condition_of_diagnose(run("diagnose", path)), "full rank: solve and diagnose print another cond")
check(rows["gd"]["relative_weight_error_range"] == rows["gd"]["relative_weight_error"], "full rank: the two errors differ")

t.finish("rank-deficient problems, one condition number, rel_w_err_range against numpy")
