"""Problems the scipy cross-checks generate, in kappa's HDF5 layout. Without numpy, h5py or
scipy (Debian's python3-numpy, python3-h5py, python3-scipy) importing this module prints
"skip: ..." and exits 77, which CTest counts as skipped."""
import sys

try:
    import h5py
    import numpy as np
    import scipy  # noqa: F401  (the cross-checks' truth)
except ImportError as error:
    print(f"skip: {error}")
    sys.exit(77)


def spectrum_problem(rng, m, n, cond, noise, scale=1.0):
    """X = U diag(s) V^T with s geometric from scale to scale / cond, y = X w + noise."""
    U, _ = np.linalg.qr(rng.standard_normal((m, n)))
    V, _ = np.linalg.qr(rng.standard_normal((n, n)))
    X = (U * np.geomspace(1, 1 / cond, n)) @ V.T * scale
    return X, X @ rng.standard_normal(n) + noise * rng.standard_normal(m)


def write_problem(path, X, y):
    with h5py.File(path, "w") as f:
        f["kernels/train_kernel"], f["vectors/train_vector"] = X, y
