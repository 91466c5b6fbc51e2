#!/usr/bin/python3
"""Whole runs, kappa vs PyTorch (docs/performance.md, target 4).

On the seed-shaped problem (600 x 600 float64 Gaussian kernel regression): (a) full-batch GD,
20000 updates; (b) SGD with batches of 2 rows, 20 epochs (6000 updates), the rows visited in
kappa's MinibatchSampler order (SplitMix64 Fisher-Yates from the run seed, reimplemented
below). Loss: mean over the batch of (a_i^T w - y_i)^2 (torch MSELoss), no intercept, no
ridge, w0 = 0, a constant step, no early stopping. Both sides use one thread. Torch runs
twice: nn.Linear (the seed's model) and a vector parameter with torch.mv (the leanest); the
ratio uses the faster.

kappa's time is the run's own wall time from `kappa solve -o run.json` ("seconds": the
optimizer's run, data loading and the reference solution excluded), and its final weights are
that file's "weights". Fails (exit 1) unless the final weights agree to 1e-8 relative.

usage: bench/vs_torch.py [--kappa build/bin/kappa] [--data FILE.h5] [--tsv OUT.tsv] [--quick]
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

# One BLAS thread for torch as for kappa: Debian's torch does its matrix products in the system
# BLAS (OpenBLAS here), whose own thread pool ignores torch.set_num_threads. Set before import.
os.environ["OPENBLAS_NUM_THREADS"] = "1"
os.environ["OMP_NUM_THREADS"] = "1"
try:
    import torch
except ImportError:
    print("vs_torch: skipped: PyTorch is not installed (apt-get install python3-torch)")
    sys.exit(0)
import h5py

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MASK = (1 << 64) - 1
TOLERANCE = 1e-8


class KappaBatches:
    """kappa::MinibatchSampler (lib/src/first_order.cpp): one permutation, reshuffled in place
    (Fisher-Yates, SplitMix64 with rejection sampling) at the start of every epoch; batches are
    consecutive slices, the last one of an epoch holding the rest. Python ints masked to 64
    bits give the exact uint64 arithmetic."""

    def __init__(self, n, batch_size, seed):
        self.order = list(range(n))
        self.batch_size = batch_size
        self.position = n
        self.state = seed & MASK

    def random_below(self, bound):
        limit = MASK - MASK % bound
        while True:
            self.state = (self.state + 0x9E3779B97F4A7C15) & MASK
            z = self.state
            z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
            z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
            z ^= z >> 31
            if z < limit:
                return z % bound

    def next(self):
        n = len(self.order)
        if self.position >= n:
            for i in range(n - 1, 0, -1):
                j = self.random_below(i + 1)
                self.order[i], self.order[j] = self.order[j], self.order[i]
            self.position = 0
        rows = self.order[self.position:self.position + min(self.batch_size, n - self.position)]
        self.position += len(rows)
        return rows


class VectorModel(torch.nn.Module):
    """w as one vector and X w as a matrix-vector product (torch.mv): the leanest torch model;
    nn.Linear computes X w^T as a matrix-matrix product with one column."""

    def __init__(self, d):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.zeros(1, d, dtype=torch.float64))

    def forward(self, X):
        return torch.mv(X, self.weight[0]).unsqueeze(1)


def torch_run(X, y, lr, updates, batch_size, seed, style):
    """torch.optim.SGD with MSELoss on nn.Linear(d, 1, bias=False) as the seed's user wrote it
    (style "linear"), or on VectorModel (style "mv"). The batch index tensors are made before
    the clock starts (a DataLoader would cost more)."""
    n, d = X.shape
    Xt = torch.from_numpy(X)
    yt = torch.from_numpy(y)
    if style == "linear":
        model = torch.nn.Linear(d, 1, bias=False, dtype=torch.float64)
        with torch.no_grad():
            model.weight.zero_()
    else:
        model = VectorModel(d)
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    loss_fn = torch.nn.MSELoss()
    if batch_size >= n:
        start = time.perf_counter()
        for _ in range(updates):
            optimizer.zero_grad()
            loss = loss_fn(model(Xt).squeeze(1), yt)
            loss.backward()
            optimizer.step()
        seconds = time.perf_counter() - start
    else:
        sampler = KappaBatches(n, batch_size, seed)
        batches = [torch.tensor(sampler.next(), dtype=torch.long) for _ in range(updates)]
        start = time.perf_counter()
        for rows in batches:
            optimizer.zero_grad()
            loss = loss_fn(model(Xt[rows]).squeeze(1), yt[rows])
            loss.backward()
            optimizer.step()
        seconds = time.perf_counter() - start
    return seconds, model.weight.detach().numpy()[0].copy()


def kappa_solve(kappa, data, optimizer, settings, updates, seed, work):
    out = os.path.join(work, f"{optimizer}.json")
    command = [kappa, "solve", "--data", data, "--optimizer", optimizer, "--max-iterations", str(updates),
               "--grad-tol", "0", "--loss-tol", "0", "--run-seed", str(seed), "-o", out]
    for setting in settings:
        command += ["--set", setting]
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, env=dict(os.environ, OPENBLAS_NUM_THREADS="1"))
    with open(out) as f:
        rows = [row for row in json.load(f)["rows"] if row["optimizer"] == optimizer]
    if len(rows) != 1 or rows[0]["status"] != "max-iterations" or rows[0]["iterations"] != updates:
        sys.exit(f"vs_torch: kappa solve {optimizer}: unexpected run {rows}")
    return rows[0]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kappa", default=os.path.join(ROOT, "build", "bin", "kappa"))
    parser.add_argument("--data", help="HDF5 file (default ../shared/data/seedlike-600.h5, else generated)")
    parser.add_argument("--tsv", help="write key<TAB>value lines here")
    parser.add_argument("--quick", action="store_true", help="200 GD updates and 1 SGD epoch (a smoke run)")
    args = parser.parse_args()
    if not os.access(args.kappa, os.X_OK):
        sys.exit(f"vs_torch: no executable at {args.kappa} (build first: bench/run_all.sh builds)")

    torch.set_num_threads(1)  # kappa runs with one BLAS thread (apps/main.cpp)
    with tempfile.TemporaryDirectory(prefix="kappa-vs-torch.") as work:
        data = args.data or os.path.join(ROOT, "..", "shared", "data", "seedlike-600.h5")
        if not os.path.exists(data):
            if args.data:
                sys.exit(f"vs_torch: data file {data} does not exist")
            data = os.path.join(work, "seedlike.h5")
            subprocess.run([args.kappa, "generate", "--synthetic", "seedlike", "--output", data], check=True,
                           stdout=subprocess.DEVNULL)
        with h5py.File(data, "r") as f:
            X = np.ascontiguousarray(f["kernels/train_kernel"][:], dtype=np.float64)
            y = np.asarray(f["vectors/train_vector"][:], dtype=np.float64)
        n = X.shape[0]
        print(f"vs_torch: {data}: {X.shape[0]} x {X.shape[1]}, torch {torch.__version__}, "
              f"torch threads {torch.get_num_threads()}, kappa BLAS threads 1")

        epochs = 1 if args.quick else 20
        # Steps: GD at 0.9/L (L = 448.7 for the seed-like data); SGD at 1e-3 (2 max|a_i|^2 = 685).
        cases = [("gd", "full-batch GD", 2e-3, n, 200 if args.quick else 20000),
                 ("sgd", "SGD, batch 2", 1e-3, 2, epochs * -(-n // 2))]
        seed = 0
        results = {}
        failed = False
        print(f"\n| run | updates | kappa solve s | torch nn.Linear s | torch mv s | "
              f"torch (faster) / kappa | rel. weight diff |\n|---|---:|---:|---:|---:|---:|---:|")
        for optimizer, label, lr, batch, updates in cases:
            settings = [f"lr={lr!r}", f"batch_size={batch if batch < n else 'full'}"]
            if optimizer == "sgd":
                settings.append("averaging=none")
            solved = kappa_solve(args.kappa, data, optimizer, settings, updates, seed, work)
            w_kappa = np.asarray(solved["weights"], dtype=np.float64)
            linear_seconds, w_torch = torch_run(X, y, lr, updates, batch, seed, "linear")
            mv_seconds, w_mv = torch_run(X, y, lr, updates, batch, seed, "mv")
            torch_seconds = min(linear_seconds, mv_seconds)
            weight_diff = max(np.linalg.norm(w_torch - w_kappa), np.linalg.norm(w_mv - w_kappa)) / np.linalg.norm(w_torch)
            ratio = torch_seconds / solved["seconds"]
            print(f"| {label} | {updates} | {solved['seconds']:.4f} | {linear_seconds:.4f} | {mv_seconds:.4f} | "
                  f"{ratio:.1f} | {weight_diff:.2e} |")
            results.update({f"vs_torch.{optimizer}.updates": updates, f"vs_torch.{optimizer}.kappa_s": solved["seconds"],
                            f"vs_torch.{optimizer}.torch_s": torch_seconds,
                            f"vs_torch.{optimizer}.torch_linear_s": linear_seconds,
                            f"vs_torch.{optimizer}.torch_mv_s": mv_seconds,
                            f"vs_torch.{optimizer}.weight_rel_diff": weight_diff})
            if not weight_diff <= TOLERANCE:
                print(f"vs_torch: FAIL: {label}: kappa and torch weights differ by {weight_diff:.3e}, "
                      f"more than {TOLERANCE:g}", file=sys.stderr)
                failed = True
        if args.tsv:
            with open(args.tsv, "w") as f:
                for key, value in results.items():
                    f.write(f"{key}\t{value!r}\n")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
