"""What the truth tests share: running kappa, reading its results, and the independent truth
they are judged against (numpy's minimum-norm least-squares solution).

Every test here is `python3 TEST.py KAPPA PLUGIN_DIR WORK_DIR`; `Truth(sys.argv)` takes those.
Without numpy or h5py (the Debian packages python3-numpy and python3-h5py) importing this
module prints "skip: ..." and exits 77, which CTest counts as skipped.
"""
import json
import os
import subprocess
import sys

try:
    import h5py
    import numpy as np
except ImportError as error:
    print(f"skip: {error}")
    sys.exit(77)

X_TRAIN, Y_TRAIN = "kernels/train_kernel", "vectors/train_vector"


def read_problem(path):
    with h5py.File(path, "r") as f:
        return np.array(f[X_TRAIN], dtype=np.float64), np.array(f[Y_TRAIN], dtype=np.float64).reshape(-1)


def write_problem(path, X, y):
    with h5py.File(path, "w") as f:
        f[X_TRAIN], f[Y_TRAIN] = X, y


def polynomial_design(raw):
    """Degree-2 polynomial features of the raw (unscaled) input columns of `raw`, with a constant
    column, as scikit-learn's PolynomialFeatures(2): 1, x_i, x_i x_j (i <= j). A binary input
    makes it rank-deficient (x_b^2 is a combination of x_b and 1)."""
    n, inputs = raw.shape
    columns = [np.ones(n)] + [raw[:, i] for i in range(inputs)]
    columns += [raw[:, i] * raw[:, j] for i in range(inputs) for j in range(i, inputs)]
    return np.column_stack(columns)


def numpy_solution(path):
    """numpy's minimum-norm least-squares solution of X w = y (lstsq: SVD, rcond eps max(n, d))."""
    X, y = read_problem(path)
    return np.linalg.lstsq(X, y, rcond=None)[0]


def relative_error(w, w_star):
    return float(np.linalg.norm(np.asarray(w) - w_star) / np.linalg.norm(w_star))


class Truth:
    def __init__(self, argv):
        self.kappa, self.plugin_dir, self.work = argv[1:4]
        os.makedirs(self.work, exist_ok=True)
        self.failures = []

    def run(self, *args):
        result = subprocess.run([self.kappa, *args], capture_output=True, text=True)
        if result.returncode != 0:
            sys.exit(f"FAIL: kappa {' '.join(args)} exited {result.returncode}: {result.stderr.strip()}")
        return result.stdout

    def generate(self, spec, name):
        path = os.path.join(self.work, name + ".h5")
        self.run("generate", "--synthetic", spec, "--output", path)
        return path

    def optimizers(self):
        return [line.split(" - ")[0] for line in self.run("plugins", "--plugin-dir", self.plugin_dir).splitlines()
                if " - " in line and not line.startswith(" ")]

    def solve(self, data, optimizers, *options, name=None):
        """The result rows of `kappa solve` for the given optimizers (a list or one name)."""
        names = [optimizers] if isinstance(optimizers, str) else list(optimizers)
        return self.solve_command(data, ["--optimizer", ",".join(names), *options], name)

    def solve_command(self, data, options, name=None):
        """The optimizers' result rows of `kappa solve --data DATA OPTIONS` (options naming them)."""
        names = options[options.index("--optimizer") + 1].split(",")
        out = os.path.join(self.work, (name or os.path.basename(data).replace(".h5", "")) + ".json")
        self.run("solve", "--data", data, "--plugin-dir", self.plugin_dir, *options, "--output", out)
        return [row for row in json.load(open(out))["rows"] if row["optimizer"] in names]

    def fail(self, text):
        self.failures.append(text)

    def finish(self, ok_message):
        if self.failures:
            print("FAIL:\n  " + "\n  ".join(self.failures))
            sys.exit(1)
        print("ok: " + ok_message)
        sys.exit(0)
