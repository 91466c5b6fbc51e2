#!/usr/bin/python3
"""Reads a kappa study results file into tidy pandas DataFrames (docs/study.md, "Reading it").

    import read_results
    rows, traces = read_results.read("results.h5")   # or "results.csv" (rows only: traces None)

`rows`: one row per task, the /tasks columns in file order with the file's types (int64,
float64, str; trace_start and trace_length included). `traces`: one row per trace point, the
/traces columns (task, iteration, seconds, epochs, loss, grad_norm, relative_weight_error),
sorted by task and iteration. From the HDF5 file by h5py; a CSV summary is read with the pandas
call docs/study.md gives (CSV_OPTIONS), which gives the same columns and types. Rows written to
the results journal but not yet consolidated into the HDF5 file are not read (kappa report
reads them).

As a command: `read_results.py FILE [--traces] [--head N]` prints the columns with their types
and the first rows. A mistake is one line on stderr and exit status 1.
"""

import argparse
import sys

FORMAT = "kappa study results"
# The keyword arguments of pandas.read_csv that read a kappa CSV with the HDF5 file's types and
# values: an empty text cell ("") stays an empty string, `nan` is NaN, and reals are parsed to
# the double they were written from (pandas' default parser can be one unit in the last place off).
CSV_OPTIONS = {"keep_default_na": False, "na_values": ["nan"], "float_precision": "round_trip"}


class ResultsError(Exception):
    """The file is missing or not a kappa study results file."""


def _text_or_values(dataset):
    return dataset.asstr()[()] if dataset.dtype.kind == "O" else dataset[()]


def read_hdf5(path):
    """(rows, traces) of a results file, as DataFrames."""
    import h5py
    import pandas as pd
    try:
        with h5py.File(path, "r") as f:
            if f.attrs.get("format") != FORMAT:
                raise ResultsError(f"'{path}' is not a kappa study results file (no format attribute '{FORMAT}')")
            tasks = f["tasks"]
            columns = tasks.attrs["columns"].split(",")
            rows = pd.DataFrame({name: _text_or_values(tasks[name]) for name in columns}, columns=columns)
            names = list(f["traces"].keys())
            traces = pd.DataFrame({name: f["traces"][name][()] for name in names})
    except (OSError, KeyError) as error:
        raise ResultsError(f"'{path}' cannot be read as a kappa study results file ({error})")
    for name in rows.columns:
        if rows[name].dtype.kind == "O":
            rows[name] = rows[name].astype(object)
    order = ["task", "iteration", "seconds", "epochs", "loss", "grad_norm", "relative_weight_error"]
    traces = traces[[c for c in order if c in traces.columns] + [c for c in traces.columns if c not in order]]
    traces = traces.sort_values(["task", "iteration"], kind="stable").reset_index(drop=True)
    return rows, traces


def read_csv(path):
    """The rows of a CSV summary, as a DataFrame with the HDF5 file's types."""
    import pandas as pd
    try:
        return pd.read_csv(path, **CSV_OPTIONS)
    except (OSError, ValueError) as error:
        raise ResultsError(f"'{path}' cannot be read as a kappa results CSV ({error})")


def read(path):
    """(rows, traces): from the HDF5 file, or (rows, None) from a .csv file."""
    if path.endswith(".csv"):
        return read_csv(path), None
    return read_hdf5(path)


def main(argv=None):
    parser = argparse.ArgumentParser(description="Print the rows (or traces) of a kappa study results file.")
    parser.add_argument("file", help="results.h5 or results.csv")
    parser.add_argument("--traces", action="store_true", help="the trace points instead of the rows (HDF5 only)")
    parser.add_argument("--head", type=int, default=10, metavar="N", help="rows to print (default 10)")
    args = parser.parse_args(argv)
    try:
        rows, traces = read(args.file)
        if args.traces and traces is None:
            raise ResultsError(f"'{args.file}': a CSV summary has no traces (read the .h5 file)")
    except ResultsError as error:
        print(f"read_results.py: {error}", file=sys.stderr)
        return 1
    frame = traces if args.traces else rows
    print(f"{len(frame)} rows; columns: " + ", ".join(f"{name} ({frame[name].dtype})" for name in frame.columns))
    print(frame.head(args.head).to_string())
    return 0


if __name__ == "__main__":
    sys.exit(main())
