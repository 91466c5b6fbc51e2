#!/usr/bin/env python3
"""Checks the results files of the cli.results_* runs (see CMakeLists.txt): a JSON and a CSV of

  kappa solve --synthetic kind=spectrum,...,seed=1 --seed 5 --optimizer gd,adam,cg
              --set gd.lr=1e-3 --set lr=2e-3 --ridge 0.01 --intercept
              --preconditioner standardize --max-iterations 50

They must record the setup (reproducibility), each optimizer's validated parameters, and the
reference solution's residuals. Usage: check_results.py RESULTS.json RESULTS.csv
"""
import json
import math
import sys

failures = []


def check(condition, what):
    if not condition:
        failures.append(what)


def check_setup(setup):
    expected = {"loss": "l2", "huber_delta": 1, "ridge": 0.01, "intercept": True,
                "preconditioner": "standardize", "reference": "svd", "max_iterations": 50,
                "grad_tol": 1e-10, "loss_tol": 0, "time_limit": 0}
    for key, value in expected.items():
        check(setup.get(key) == value, f"setup.{key} is {setup.get(key)!r}, expected {value!r}")
    data = setup.get("data", "")
    check(data.startswith("kind=spectrum,") and data.endswith(",seed=5") and "seed=1" not in data,
          f"setup.data {data!r} should carry --seed 5 in place of the spec's seed=1")


def check_json_rows(rows):
    methods = [row.get("optimizer") for row in rows]
    check(methods == ["direct:svd", "gd", "adam", "cg"], f"methods {methods}")
    if len(rows) != 4:
        return
    for row in rows:
        check(isinstance(row.get("params"), dict), f"{row.get('optimizer')}: no params object")
    reference, gd, adam = rows[0], rows[1], rows[2]
    for key in ("residual_norm", "normal_residual_norm"):
        value = reference.get(key)
        check(isinstance(value, (int, float)) and math.isfinite(value) and value >= 0, f"reference {key} = {value!r}")
        check(all(key not in row for row in rows[1:]), f"{key} on an optimizer row")
    # In solver coordinates, at the exact minimizer: rounding level.
    check(0 <= reference.get("grad_norm", -1) < 1e-8, f"reference grad_norm {reference.get('grad_norm')!r}")
    check(gd["params"].get("lr") == "1e-3", f"gd params {gd['params']} (gd.lr=1e-3 must win over lr=2e-3)")
    check(gd["params"].get("batch_size") == "full", f"gd params {gd['params']}: every parameter, defaults included")
    check(adam["params"].get("lr") == "2e-3" and "beta1" in adam["params"], f"adam params {adam['params']}")


def split_csv_line(line):
    """Splits one CSV line (RFC 4180 quoting, no embedded newlines)."""
    fields, field, quoted, i = [], "", False, 0
    while i < len(line):
        c = line[i]
        if quoted and c == '"' and line[i + 1:i + 2] == '"':
            field += '"'
            i += 1
        elif c == '"':
            quoted = not quoted
        elif c == "," and not quoted:
            fields.append(field)
            field = ""
        else:
            field += c
        i += 1
    return fields + [field]


def check_csv(text):
    lines = text.splitlines()
    header = split_csv_line(lines[0])
    for column in ("loss", "ridge", "intercept", "preconditioner", "reference", "params", "data",
                   "residual_norm", "normal_residual_norm", "max_iterations"):
        check(column in header, f"CSV has no column {column!r}")
    rows = [dict(zip(header, split_csv_line(line))) for line in lines[1:]]
    check(all(len(split_csv_line(line)) == len(header) for line in lines[1:]), "CSV rows of another width than the header")
    check([row.get("optimizer") for row in rows] == ["direct:svd", "gd", "adam", "cg"], "CSV: one row per method")
    for row in rows:
        check((row.get("loss"), row.get("ridge"), row.get("intercept"), row.get("preconditioner"), row.get("reference")) ==
              ("l2", "0.01", "true", "standardize", "svd"), f"CSV setup columns of {row.get('optimizer')}")
    if len(rows) == 4:
        check("lr=1e-3" in rows[1]["params"].split(";"), f"CSV gd params {rows[1]['params']!r}")
        check("lr=2e-3" in rows[2]["params"].split(";"), f"CSV adam params {rows[2]['params']!r}")
        check(float(rows[0]["residual_norm"]) >= 0, "CSV reference residual_norm")


def main():
    with open(sys.argv[1]) as file:
        results = json.load(file)
    check_setup(results.get("setup", {}))
    check_json_rows(results.get("rows", []))
    with open(sys.argv[2]) as file:
        check_csv(file.read())
    for failure in failures:
        print("FAIL:", failure)
    if not failures:
        print("ok: results files record setup, parameters and residuals")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
