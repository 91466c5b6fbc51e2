#!/usr/bin/python3
"""Help text that is true and readable.

usage: help_test.py --kappa KAPPA --work DIR

  - Every command's --help: exit 0, no line wider than 100 columns except a line that is one
    word (a token longer than the description column), and the long tokens of the option
    descriptions whole (Boost's own printer cut `sketch[:sparse][:ga` / `mma=G]`).
  - `kappa generate --help` lists the keys of each synthetic kind with their defaults: the keys
    are exactly those the parser accepts (its "known:" list for a misspelt key), and a spec
    that sets every key to the listed default generates the same data, bit for bit, as the
    bare kind.
Prints "ok: ..." and exits 0 on success; otherwise the reason and exits 1.
"""

import argparse
import os
import re
import subprocess
import sys

import h5py
import numpy

COMMANDS = ("solve", "study", "diagnose", "report", "generate", "plugins")
WIDTH = 100
# Tokens of option descriptions that a line break must not cut.
WHOLE = {
    "solve": ["sketch[:sparse][:gamma=G][:seed=S]", "equilibrate[:max]"],
    "generate": ["'kind=kernel,kernel=laplacian,n=400,width=0.2',",
                 "'kind=spectrum,n=500,d=100,cond=1e8,profile=geometric,noise=1e-3'"],
}


class Failure(Exception):
    pass


def check(condition, message):
    if not condition:
        raise Failure(message)


def kappa(args, *arguments, expect=0):
    done = subprocess.run([args.kappa, *arguments], capture_output=True, text=True, timeout=120)
    check(done.returncode == expect, f"kappa {' '.join(arguments)}: exit {done.returncode}, expected {expect}: "
                                     f"{done.stderr.strip()[:300]}")
    return done


def check_layout(args):
    widest = 0
    for command in COMMANDS:
        text = kappa(args, command, "--help").stdout
        for number, line in enumerate(text.splitlines(), 1):
            widest = max(widest, len(line))
            check(len(line) <= WIDTH or len(line.split()) == 1,
                  f"kappa {command} --help, line {number}: {len(line)} columns: {line!r}")
        words = text.split()
        for token in WHOLE.get(command, []):
            check(token in words, f"kappa {command} --help: {token!r} is not one word of the help (cut by a line break?)")
    return widest


def listed_keys(text):
    """{kind: {key: default}} from the spec section of `kappa generate --help`."""
    kinds, kind = {}, None
    for line in text.splitlines():
        header = re.match(r"^kind=(\w+):$", line)
        if header:
            kind = kinds.setdefault(header.group(1), {})
            continue
        entry = re.match(r"^  (\w+) \(=([^)]*)\)\s+\S", line)
        if kind is not None and entry:
            kind[entry.group(1)] = entry.group(2)
        elif not line.startswith("  "):
            kind = None
    return kinds


def datasets(path):
    with h5py.File(path, "r") as f:
        found = {}
        f.visititems(lambda name, item: found.__setitem__(name, numpy.array(item)) if isinstance(item, h5py.Dataset) else None)
        return found


def check_spec_keys(args):
    kinds = listed_keys(kappa(args, "generate", "--help").stdout)
    check(set(kinds) == {"spectrum", "kernel"}, f"generate --help: kinds {sorted(kinds)}, expected spectrum and kernel")
    for kind, keys in kinds.items():
        check(keys, f"generate --help: no keys listed for kind={kind}")
        error = kappa(args, "generate", "--synthetic", f"kind={kind},bogus_key=1", "-o",
                      os.path.join(args.work, "never.h5"), expect=1).stderr
        known = re.search(r"\(known: ([^)]*)\)", error)
        check(known, f"kind={kind}: no known-keys list in {error!r}")
        check(known.group(1).split(", ") == list(keys),
              f"kind={kind}: the parser knows {known.group(1)}, the help lists {', '.join(keys)}")
        bare = os.path.join(args.work, f"{kind}_bare.h5")
        explicit = os.path.join(args.work, f"{kind}_defaults.h5")
        spec = f"kind={kind}," + ",".join(f"{key}={value}" for key, value in keys.items())
        kappa(args, "generate", "--synthetic", f"kind={kind}", "-o", bare)
        kappa(args, "generate", "--synthetic", spec, "-o", explicit)
        a, b = datasets(bare), datasets(explicit)
        check(sorted(a) == sorted(b) and all(numpy.array_equal(a[name], b[name]) for name in a),
              f"kind={kind}: the listed defaults ({spec}) generate other data than the bare kind")
    return {kind: len(keys) for kind, keys in kinds.items()}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--kappa", required=True)
    parser.add_argument("--work", required=True)
    args = parser.parse_args()
    os.makedirs(args.work, exist_ok=True)
    try:
        widest = check_layout(args)
        keys = check_spec_keys(args)
    except Failure as failure:
        print(f"FAIL: {failure}")
        return 1
    print(f"ok: {len(COMMANDS)} help texts within {WIDTH} columns (widest {widest}), long tokens whole; "
          f"generate --help lists {keys} keys, as the parser knows them, defaults reproduce the bare kinds")
    return 0


if __name__ == "__main__":
    sys.exit(main())
