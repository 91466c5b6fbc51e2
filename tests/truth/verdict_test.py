#!/usr/bin/env python3
"""The verdict tests: every claim `kappa diagnose` makes, run, on problems this test generates.

For each problem, `kappa diagnose --claims` writes the verdict's claims (lib/core/theory/
claims.hpp); each claim names a `kappa solve` command with its budget. This test runs every one
and judges it against numpy's minimum-norm w* (np.linalg.lstsq), not against kappa's reference:
  reaches    |w - w*| / |w*| <= bound, and the status is not failed or diverged;
  stalls     |w - w*| / |w*| >= bound after the whole budget (status max-iterations);
  diverges   status diverged.
It also checks that the printed verdict states exactly the claims of the file (one "Reaches
w*:", "Does not reach w*:" or "Diverges:" paragraph per claim), that it never says a method
"cannot" reach w*, and that every kind of claim occurs somewhere (else the test proves
little). Problems:
  seedlike   a 600 x 600 Gaussian kernel with cond(X) ~ 4e8, shaped like the forum thread's
             (kappa generate seedlike): kappa_H ~ 1e17, yet reachable;
  cond-1e4   a 300 x 80 regression with cond(X) = 1e4 and noise (a nonzero residual);
  polynomial a rank-deficient design: degree-2 polynomial features of 10 unscaled raw inputs,
             one of them binary (so x^2 is a combination of x and 1), 342 x 66, rank 65, as
             scikit-learn's diabetes data with PolynomialFeatures(2);
  easy       a 200 x 40 regression with cond(X) = 3, where gradient descent reaches w*.

usage: verdict_test.py KAPPA PLUGIN_DIR WORK_DIR
"""
import json
import math
import os
import shlex
import sys

from truth import Truth, np, numpy_solution, polynomial_design, relative_error, write_problem

t = Truth(sys.argv)


def polynomial_problem(path, seed=3):
    rng = np.random.default_rng(seed)
    n = 342
    raw = [rng.uniform(19, 79, n), rng.integers(1, 3, n).astype(float), rng.uniform(18, 42, n), rng.uniform(62, 133, n)]
    raw += [rng.uniform(low, high, n) for low, high in [(97, 301), (41, 242), (22, 99), (2, 9), (3.2, 6.1), (58, 124)]]
    X = polynomial_design(np.column_stack(raw))
    w = rng.normal(size=X.shape[1]) / np.abs(X).mean(axis=0)
    y = X @ w + rng.normal(scale=1.0, size=n)
    write_problem(path, X, y)
    return int(np.linalg.matrix_rank(X)), X.shape[1]


problems = {
    "seedlike": t.generate("seedlike", "verdict-seedlike"),
    "cond-1e4": t.generate("kind=spectrum,n=300,d=80,cond=1e4,noise=1e-3", "verdict-cond-1e4"),
    "easy": t.generate("kind=spectrum,n=200,d=40,cond=3,noise=1e-2", "verdict-easy"),
}
problems["polynomial"] = os.path.join(t.work, "verdict-polynomial.h5")
rank, columns = polynomial_problem(problems["polynomial"])
if not rank < columns:
    t.fail(f"the polynomial design is not rank-deficient (rank {rank} of {columns}): the check would be vacuous")

budget = "2000"
seen = {"reaches": 0, "stalls": 0, "diverges": 0}
for label, data in problems.items():
    claims_file = os.path.join(t.work, f"verdict-{label}-claims.json")
    verdict = t.run("diagnose", "--data", data, "--budget", budget, "--claims", claims_file)
    verdict = verdict[verdict.index("\nverdict\n"):]
    claims = json.load(open(claims_file))["claims"]
    flat = " ".join(verdict.split())
    printed = sum(flat.count(marker) for marker in ("Reaches w*:", "Does not reach w*:", "Diverges:"))
    if printed != len(claims):
        t.fail(f"{label}: the verdict prints {printed} claims, the claims file has {len(claims)}")
    if "cannot" in flat:
        t.fail(f"{label}: the verdict says 'cannot': {flat}")
    w_star = numpy_solution(data)
    for index, claim in enumerate(claims):
        (row,) = t.solve_command(data, shlex.split(claim["solve_options"]), name=f"verdict-{label}-{index}")
        error = relative_error(row["weights"], w_star)
        kind, bound = claim["kind"], claim["bound"]
        seen[kind] += 1
        held = {"reaches": lambda: error <= bound and row["status"] not in ("failed", "diverged"),
                "stalls": lambda: error >= bound and row["status"] == "max-iterations",
                "diverges": lambda: row["status"] == "diverged"}[kind]()
        bound_text = "" if bound is None or (isinstance(bound, float) and math.isnan(bound)) else f" (bound {bound:.2e})"
        print(f"{'ok  ' if held else 'FAIL'} {label:10s} {kind:8s} {claim['method']:62s} {row['status']:20s} "
              f"{row['iterations']:6d} its, |w - w*|/|w*| = {error:.2e}{bound_text}")
        if not held:
            t.fail(f"{label}: claim '{kind}: {claim['method']}' is false: {row['status']}, |w - w*|/|w*| = {error:.2e}"
                   f"{bound_text}: kappa solve --data {data} {claim['solve_options']} ({row['message']})")
for kind, count in seen.items():
    if count == 0:
        t.fail(f"no problem produced a '{kind}' claim: that part of the verdict is untested")
t.finish(f"{sum(seen.values())} claims of kappa diagnose held when run ({seen})")
