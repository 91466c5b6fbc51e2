#!/usr/bin/env python3
"""kappa's lbfgs with scipy's stopping tests (--set lbfgs.gtol=1e-5 --set lbfgs.ftol=2.2e-9,
history 10 = maxcor) against scipy.optimize.minimize(method="L-BFGS-B") with its defaults, on
problems generated here, f(w) = mean((X w - y)^2) from w = 0. The line searches differ (kappa's
strong Wolfe, scipy's Moré-Thuente dcsrch), so iterates are not compared; what must agree is the
test that ends the run (scipy's "REL_REDUCTION_OF_F" is kappa's ftol, "PROJECTED_GRADIENT" its
gtol), that the test holds for kappa's reported values, and the final loss (to 1e-6 relative,
the accuracy that stopping at a relative reduction of 2.2e-9 leaves).

usage: lbfgs_scipy_tests.py KAPPA PLUGIN_DIR WORK_DIR
"""
import json
import subprocess
import sys

from generated import np, spectrum_problem, write_problem
from scipy.optimize import minimize

kappa, plugin_dir, work = sys.argv[1:4]
rng = np.random.default_rng(29)


def problem(m, n, cond, noise, scale):
    return spectrum_problem(rng, m, n, cond, noise, scale * np.sqrt(m))


# Which test fires first is a matter of scale: near the end a step reduces f by about |g|^2 / L,
# so with f ~ 100 the relative ftol fires long before max|g| <= 1e-5 ("ftol"); with L ~ 1e-3 and
# f ~ 0 the gradient test fires while steps still reduce f by more than 2.2e-9 ("gtol").


failures = []
for label, (X, y) in (("ftol", problem(300, 60, 30, 10.0, 1.0)), ("gtol", problem(300, 60, 3, 0.0, 0.02))):
    path = f"{work}/lbfgs-scipy-{label}.h5"
    write_problem(path, X, y)
    n = X.shape[0]

    def fun(w):
        r = X @ w - y
        return r @ r / n, 2 * X.T @ r / n

    reference = minimize(fun, np.zeros(X.shape[1]), jac=True, method="L-BFGS-B")
    message = reference.message if isinstance(reference.message, str) else reference.message.decode()
    scipy_rule = "ftol" if "REL_REDUCTION_OF_F" in message else "gtol" if "PROJECTED_GRADIENT" in message else message
    out = f"{work}/lbfgs-scipy-{label}.json"
    done = subprocess.run([kappa, "solve", "--data", path, "--plugin-dir", plugin_dir, "--optimizer", "lbfgs",
                           "--set", "lbfgs.gtol=1e-5", "--set", "lbfgs.ftol=2.2e-9", "--grad-tol", "0",
                           "--max-iterations", "15000", "--output", out], capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"FAIL: kappa exited {done.returncode}: {done.stderr.strip()}")
    (row,) = [r for r in json.load(open(out))["rows"] if r["optimizer"] == "lbfgs"]
    kappa_rule = row["message"].split(":")[0]
    loss_gap = abs(row["final_loss"] - reference.fun) / max(abs(reference.fun), 1.0)
    print(f"{label:9s} scipy: {scipy_rule} after {reference.nit} iterations, f = {reference.fun:.10g}; kappa: "
          f"{row['status']} {kappa_rule} after {row['iterations']}, f = {row['final_loss']:.10g}: {row['message']}")
    if row["status"] != "optimizer-rule" or kappa_rule != scipy_rule:
        failures.append(f"{label}: kappa ended {row['status']} ({row['message']}), scipy by {scipy_rule}")
    if not loss_gap <= 1e-6:
        failures.append(f"{label}: final losses differ by {loss_gap:.1e} (relative)")
if failures:
    print("FAIL:\n  " + "\n  ".join(failures))
    sys.exit(1)
print("ok: kappa's lbfgs with scipy's tests stops by scipy's rule at scipy's loss")
