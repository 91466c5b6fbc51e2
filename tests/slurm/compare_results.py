#!/usr/bin/env python3
"""compare_results.py LOCAL.h5 SLURM.h5 WHAT: every task of the grid exactly once in SLURM.h5,
and every row (each column and trace but times, rank and host) equal bit for bit to LOCAL.h5."""
import math
import sys

import h5py
import numpy as np

RUN_DEPENDENT = {"seconds", "setup_seconds", "mpi_rank", "host", "trace_start"}


def rows(path):
    with h5py.File(path, "r") as f:
        tasks = f["tasks"]
        columns = tasks.attrs["columns"].split(",")
        table = {c: (tasks[c].asstr()[()] if tasks[c].dtype.kind == "O" else tasks[c][()]) for c in columns}
        traces = {c: f["traces"][c][()] for c in f["traces"]}
        task_count = int(f.attrs["task_count"])
    keys = list(table["key"])
    by_key = {}
    for i, key in enumerate(keys):
        if key in by_key:
            sys.exit(f"FAIL: {path}: task {key} is in the file twice")
        row = {c: table[c][i] for c in columns}
        start, length = int(row["trace_start"]), int(row["trace_length"])
        row["trace"] = {c: traces[c][start:start + length] for c in traces if c != "seconds"}
        by_key[key] = row
    return by_key, task_count


def same(a, b):
    if isinstance(a, np.ndarray):
        return a.shape == b.shape and all(same(x, y) for x, y in zip(a.tolist(), b.tolist()))
    if isinstance(a, (float, np.floating)):
        return (math.isnan(a) and math.isnan(b)) or a == b
    return a == b


def main():
    local_path, slurm_path, what = sys.argv[1:4]
    local, local_count = rows(local_path)
    slurm, slurm_count = rows(slurm_path)
    if len(local) != local_count:
        sys.exit(f"FAIL: {local_path}: {len(local)} rows of {local_count} tasks")
    if slurm_count != local_count or set(slurm) != set(local):
        sys.exit(f"FAIL: {what}: {len(slurm)} rows of {slurm_count} tasks, the local run has {local_count} "
                 f"({len(set(local) - set(slurm))} missing, {len(set(slurm) - set(local))} unknown)")
    for key, row in local.items():
        for column, value in row.items():
            if column in RUN_DEPENDENT:
                continue
            other = slurm[key][column]
            if column == "trace":
                for c, points in value.items():
                    if not same(points, other[c]):
                        sys.exit(f"FAIL: {what}: task {key}: trace column {c} differs from the local run")
            elif not same(value, other):
                sys.exit(f"FAIL: {what}: task {key}: {column} {other!r}, the local run {value!r}")
    ranks = sorted({int(r["mpi_rank"]) for r in slurm.values()})
    print(f"{what}: {len(slurm)} tasks, each once, identical to the local run (ranks used: {ranks})")


main()
