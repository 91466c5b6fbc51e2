#!/usr/bin/env python3
"""The reproducibility manifest of `kappa study` and `kappa solve`, checked independently.

Generates a data file with `kappa generate`, runs a small study of it (on 2 ranks under mpirun
when there is one) and a `kappa solve --output X.json`, then checks each manifest against facts
found here: every key is present; the git commit is `git rev-parse HEAD` of the source or one of its
ancestors (when it is a git checkout; a commit after the build); the plugin files are those of the plugin directory and their content hashes are
StableHasher (lib/study/fingerprint.cpp) of their bytes, computed here in Python; the data
fingerprint is the hash of the data's values, computed here from h5py, and changes with the file;
ranks and hosts; the command line as run; start <= end within this test's time window; the MPI
library is the one `mpirun --version` names; `kappa report --manifest` prints the same entries,
for the results file and the JSON; a resumed study records the earlier session; a file without
manifest gives exit 1 and one line naming it.
"""
import argparse
import calendar
import glob
import json
import math
import os
import re
import shlex
import shutil
import socket
import struct
import subprocess
import sys
import time

import h5py
import numpy as np

ENV = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
           OMPI_MCA_rmaps_base_oversubscribe="1")
KEYS = ["kappa.version", "kappa.git_describe", "kappa.git_commit", "build.compiler", "build.type", "build.cxx_flags",
        "armadillo.version", "hdf5.version", "boost.version", "blas.library", "blas.vendor", "blas.threads", "lapack.library",
        "mpi.library", "mpi.ranks", "hosts", "plugin_count", "data_count", "command_line", "sessions", "start_time", "end_time"]
MASK = (1 << 64) - 1


def check(condition, message):
    if not condition:
        print(f"FAIL: {message}")
        sys.exit(1)


def run(command, expect=0):
    result = subprocess.run(command, capture_output=True, text=True, env=ENV, timeout=120)
    check(result.returncode == expect, f"{shlex.join(command)} exited {result.returncode}, not {expect}: {result.stderr[-2000:]}")
    return result


# StableHasher (lib/study/fingerprint.hpp), written again from its description.
def rotl(x, r):
    return ((x << r) | (x >> (64 - r))) & MASK


def scramble(k):
    return (rotl((k * 0x87c37b91114253d5) & MASK, 31) * 0x4cf5ad432745937f) & MASK


class StableHasher:
    def __init__(self):
        self.state, self.length, self.tail = 0x6b617070615f6670, 0, b""

    def add(self, data):
        self.length += len(data)
        data = self.tail + data
        whole = len(data) - len(data) % 8
        state = self.state
        for (word,) in struct.iter_unpack("<Q", data[:whole]):
            state = (rotl(state ^ scramble(word), 27) * 5 + 0x52dce729) & MASK
        self.state, self.tail = state, data[whole:]

    def add_text(self, text):
        data = text.encode()
        self.add(struct.pack("<Q", len(data)) + data)

    def hex(self):
        state = self.state
        if self.tail:
            state ^= scramble(struct.unpack("<Q", self.tail.ljust(8, b"\0"))[0])
        k = state ^ self.length
        k ^= k >> 33
        k = (k * 0xff51afd7ed558ccd) & MASK
        k ^= k >> 33
        k = (k * 0xc4ceb9fe1a85ec53) & MASK
        k ^= k >> 33
        return f"{k:016x}"


def file_hash(path):
    hasher = StableHasher()
    with open(path, "rb") as f:
        hasher.add(f.read())
    return hasher.hex()


def data_fingerprint(path):
    """hash_data_file with the seed layout: each dataset's path and shape, then its values as float64."""
    hasher = StableHasher()
    with h5py.File(path, "r") as f:
        names = ["kernels/train_kernel", "vectors/train_vector"]
        if "kernels/test_kernel" in f and "vectors/test_vector" in f:
            names += ["kernels/test_kernel", "vectors/test_vector"]
        for name in names:
            values = f[name][()]
            hasher.add_text(name + "".join(f",{extent}" for extent in values.shape))
            hasher.add(np.ascontiguousarray(values, dtype="<f8").tobytes())
    return hasher.hex()


def seconds(text):
    check(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", text), f"not an ISO 8601 UTC time: {text!r}")
    return calendar.timegm(time.strptime(text, "%Y-%m-%dT%H:%M:%SZ"))


def check_common(manifest, what, command, window, ranks, source):
    for key in KEYS:
        check(key in manifest, f"{what}: no key {key} (keys: {list(manifest)})")
    check(list(manifest)[-1] == "end_time", f"{what}: end_time is not the last key")
    # The build: the commit of the source this kappa was built from.
    git = subprocess.run(["git", "--no-optional-locks", "-C", source, "rev-parse", "HEAD"], capture_output=True, text=True)
    if git.returncode == 0 and os.path.exists(os.path.join(source, ".git")):
        head = git.stdout.strip()
        commit = manifest["kappa.git_commit"]
        # The build records the commit it was built from: HEAD, or (when commits were made after
        # the build, before this test) one of HEAD's ancestors; never a commit foreign to the source.
        ancestor = subprocess.run(["git", "--no-optional-locks", "-C", source, "merge-base", "--is-ancestor", commit, head],
                                  capture_output=True, text=True).returncode == 0
        check(commit == head or ancestor, f"{what}: git commit {commit} is neither HEAD {head} nor one of its ancestors")
        check(commit.startswith(manifest["kappa.git_describe"].split("-g")[-1].removesuffix("-dirty")),
              f"{what}: git describe {manifest['kappa.git_describe']} does not name {commit}")
    else:
        check(manifest["kappa.git_commit"] == "unknown", f"{what}: not a git checkout, yet commit {manifest['kappa.git_commit']}")
    with open(os.path.join(source, "CMakeLists.txt")) as f:
        version = re.search(r"project\(kappa VERSION ([0-9.]+)", f.read()).group(1)
    check(manifest["kappa.version"] == version, f"{what}: version {manifest['kappa.version']}, CMakeLists.txt says {version}")
    arma = "/usr/include/armadillo_bits/arma_version.hpp"
    if os.path.exists(arma):
        text = open(arma).read()
        parts = [re.search(rf"#define ARMA_VERSION_{p} (\d+)", text).group(1) for p in ("MAJOR", "MINOR", "PATCH")]
        check(manifest["armadillo.version"].startswith(".".join(parts)), f"{what}: armadillo {manifest['armadillo.version']}, header {parts}")
    check(os.path.exists(manifest["blas.library"]), f"{what}: blas.library {manifest['blas.library']} does not exist")
    if manifest["blas.vendor"] == "OpenBLAS":
        check(manifest["blas.threads"] == "1", f"{what}: OPENBLAS_NUM_THREADS=1 but blas.threads {manifest['blas.threads']}")
        check("OpenBLAS" in manifest["blas.config"], f"{what}: blas.config {manifest['blas.config']}")
    # MPI: the library mpirun belongs to.
    mpirun = shutil.which("mpirun")
    if mpirun:
        printed = subprocess.run([mpirun, "--version"], capture_output=True, text=True, env=ENV).stdout
        found = re.search(r"\(([^)]+)\) ([0-9][0-9.]*)", printed)
        if found:
            check(found.group(1) in manifest["mpi.library"] and found.group(2) in manifest["mpi.library"],
                  f"{what}: mpi.library {manifest['mpi.library']!r}, mpirun --version says {printed.splitlines()[0]!r}")
    check(manifest["mpi.ranks"] == str(ranks), f"{what}: {manifest['mpi.ranks']} ranks, ran on {ranks}")
    check(manifest["hosts"] == socket.gethostname(), f"{what}: hosts {manifest['hosts']}, this host {socket.gethostname()}")
    # Plugins: every library of the plugin directory, with the hash of its bytes.
    count = int(manifest["plugin_count"])
    files = [manifest[f"plugin.{k}.file"] for k in range(1, count + 1)]
    check(count > 0, f"{what}: no plugins")
    directory = os.path.dirname(files[0])
    expected = sorted(glob.glob(os.path.join(directory, "libkappa_plugin_*.so")))
    check(sorted(files) == expected, f"{what}: plugins {files}, the directory holds {expected}")
    for k, path in enumerate(files, 1):
        check(manifest[f"plugin.{k}.content_hash"] == file_hash(path), f"{what}: content hash of {path}")
        check(manifest[f"plugin.{k}.abi"].isdigit() and manifest[f"plugin.{k}.optimizers"], f"{what}: plugin {k}")
    # The command line and the times.
    check(manifest["command_line"] == shlex.join(command), f"{what}: command line {manifest['command_line']!r}, ran {shlex.join(command)!r}")
    start, end = seconds(manifest["start_time"]), seconds(manifest["end_time"])
    check(window[0] <= start <= end <= window[1], f"{what}: start {start}, end {end} outside [{window[0]}, {window[1]}]")


def report_manifest(kappa, path):
    lines = run([kappa, "report", "--manifest", path]).stdout.splitlines()
    return [tuple(line.split(": ", 1)) for line in lines]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--kappa", required=True)
    parser.add_argument("--source", required=True)
    parser.add_argument("--work", required=True)
    args = parser.parse_args()
    kappa = os.path.abspath(args.kappa)
    shutil.rmtree(args.work, ignore_errors=True)
    os.makedirs(args.work)
    data = os.path.join(args.work, "data.h5")
    grid = os.path.join(args.work, "grid.ini")
    results = os.path.join(args.work, "results.h5")
    output = os.path.join(args.work, "solve.json")
    window_start = math.floor(time.time())
    run([kappa, "generate", "--synthetic", "kind=spectrum,n=40,d=6,noise=0.01,n_test=10,seed=3", "--output", data])
    with open(grid, "w") as f:
        f.write("optimizer = gd cg\ndata = data.h5\nmax_iterations = 40 80\n")

    # The study, on 2 ranks when mpirun is there.
    mpirun = shutil.which("mpirun")
    study = [kappa, "study", grid, "-o", results, "--force"]
    ranks = 2 if mpirun else 1
    run(([mpirun, "-np", "2"] if mpirun else []) + study)
    solve = [kappa, "solve", "--data", data, "--optimizer", "gd,cg", "--max-iterations", "30", "--output", output]
    run(solve)
    window = (window_start, math.ceil(time.time()))

    with h5py.File(results, "r") as f:
        check("manifest" in f, "the results file has no group manifest")
        study_manifest = dict(f["manifest"].attrs.items())
        study_order = list(f["manifest"].attrs.keys())
        stored = [line.split("\t") for line in f.attrs["fingerprints"].splitlines()]
    check(study_order[0] == "kappa.version" and study_order[-1] == "end_time", f"manifest attributes out of order: {study_order}")
    check_common(study_manifest, "study", study, window, ranks, args.source)
    check(study_manifest["sessions"] == "1", f"study: sessions {study_manifest['sessions']}")
    check(study_manifest["data_count"] == "1" and study_manifest["data.1.name"] == data,
          f"study: data {study_manifest.get('data.1.name')}, not {data}")
    fingerprint = data_fingerprint(data)
    check(study_manifest["data.1.fingerprint"] == fingerprint, f"study: data fingerprint {study_manifest['data.1.fingerprint']}, computed {fingerprint}")
    check(["data", data, fingerprint] == stored[0][:3], f"study: the manifest's data fingerprint is not the root attribute's: {stored[0]}")

    with open(output) as f:
        solve_manifest = json.load(f)["manifest"]
    check_common(solve_manifest, "solve", solve, window, 1, args.source)
    check(solve_manifest["data.1.name"] == data and solve_manifest["data.1.fingerprint"] == fingerprint,
          f"solve: data {solve_manifest.get('data.1.name')} {solve_manifest.get('data.1.fingerprint')}, computed {fingerprint}")

    # kappa report --manifest prints the same entries, in order.
    check(report_manifest(kappa, results) == [(k, study_manifest[k]) for k in study_order], "report --manifest of the results file")
    check(report_manifest(kappa, output) == list(solve_manifest.items()), "report --manifest of the JSON")

    # Another data file: another fingerprint, computed alike.
    run([kappa, "generate", "--synthetic", "kind=spectrum,n=40,d=6,noise=0.01,n_test=10,seed=4", "--output", data])
    run(solve)
    with open(output) as f:
        changed = json.load(f)["manifest"]["data.1.fingerprint"]
    check(changed != fingerprint and changed == data_fingerprint(data), f"solve: fingerprint {changed} after the data changed")

    # --resume (serially, with the data back as they were): the earlier session is recorded.
    run([kappa, "generate", "--synthetic", "kind=spectrum,n=40,d=6,noise=0.01,n_test=10,seed=3", "--output", data])
    resume = [kappa, "study", grid, "-o", results, "--resume"]
    run(resume)
    with h5py.File(results, "r") as f:
        resumed = dict(f["manifest"].attrs.items())
    check(resumed["sessions"] == "2", f"resumed: sessions {resumed['sessions']}")
    check(resumed["command_line"] == shlex.join(resume) and resumed["mpi.ranks"] == "1", "resumed: this session's command line and ranks")
    for key in ("start_time", "end_time", "command_line", "mpi.ranks", "hosts"):
        check(resumed.get(f"earlier_session.1.{key}") == study_manifest[key],
              f"resumed: earlier_session.1.{key} = {resumed.get(f'earlier_session.1.{key}')!r}, the first session's {study_manifest[key]!r}")
    check(seconds(resumed["start_time"]) >= seconds(study_manifest["end_time"]), "resumed: started before the first session ended")

    # Without a manifest (an older kappa's file): exit 1, one line naming the file; the report still reads it.
    bare = os.path.join(args.work, "bare.h5")
    shutil.copy(results, bare)
    with h5py.File(bare, "a") as f:
        del f["manifest"]
    failed = run([kappa, "report", "--manifest", bare], expect=1)
    check(failed.stdout == "" and len(failed.stderr.splitlines()) == 1 and bare in failed.stderr and "no manifest" in failed.stderr,
          f"no manifest: {failed.stderr!r}")
    run([kappa, "report", bare])
    failed = run([kappa, "report", "--manifest", grid], expect=1)
    check(len(failed.stderr.splitlines()) == 1 and grid in failed.stderr, f"not HDF5: {failed.stderr!r}")
    print(f"ok: manifests of a {ranks}-rank study, a resumed study and a solve, {study_manifest['plugin_count']} plugins hashed")


if __name__ == "__main__":
    main()
