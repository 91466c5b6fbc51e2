#!/usr/bin/python3
"""Runs the bad-input table of docs/errors.md: the table is the test, so the two cannot drift.

  run_errors_table.py --table docs/errors.md --kappa KAPPA --plot plot_study.py \\
                      --build-tests BUILD/tests --work DIR  setup | row N | all

`setup` builds the fixtures once into DIR/data ($DATA) and DIR/plugins ($PLUGINS): HDF5 files
broken in one way each, grid files, a results file of another format version, and one directory
per broken plugin. `row N` runs row N of the table in its own empty scratch directory ($WORK)
and checks what the table says:

  exit 1 or 2          that exit status, nothing on stdout, exactly one line on stderr equal to
                       the message, $WORK still empty and $DATA unchanged (no output, no .tmp);
  0, failed run        `kappa solve` exits 0 and its stdout has the line "<method>: <message>"
                       below a table row whose status is `failed`;
  1, failed row        `kappa solve` refused one optimizer's parameters: exit 1, exactly one
                       line on stderr equal to the message ("kappa solve: optimizer 'NAME': ..."),
                       and on stdout the table with NAME's row failed (the others ran), $WORK
                       still empty;
  0, failed task       `kappa study` exits 0 and every task of the results file in $WORK has
                       status `failed` and the message;
  0, crashed run/task  the same with status `crashed` (the plugin brought its process down);
  0, prints            exit 0, nothing on stderr, and stdout has the message as a line (leading
                       and trailing blanks ignored): what is printed for a degenerate input.

In commands and messages $KAPPA, $PLOT, $WORK, $DATA, $PLUGINS and $READONLY (a directory in
which nobody, root included, can create a file: /sys) are replaced by their paths; in a message,
"…" stands for run-specific text. `all` runs setup and every row and lists the failures.
Prints "ok: ..." on success (CTest checks for it), "FAIL: ..." otherwise.
"""

import argparse
import hashlib
import os
import re
import shlex
import shutil
import stat
import struct
import subprocess
import sys
import zlib

try:
    import h5py
    import numpy as np
except ImportError as error:
    print(f"FAIL: {error} (run with /usr/bin/python3; python3-numpy and python3-h5py are needed)")
    sys.exit(1)

READONLY = "/sys"  # sysfs: creating a regular file there fails for every user, root included
WILDCARD = "…"
TIMEOUT = 120  # seconds per command; every row takes well under one


class Failure(Exception):
    pass


# ---------------------------------------------------------------------------------------------
# The table

class Row:
    def __init__(self, number, area, bad_input, command, exit_text, message):
        self.number, self.area, self.bad_input = number, area, bad_input
        self.command, self.exit_text, self.message = command, exit_text, message


def split_cells(line):
    """The cells of a Markdown table line; `\\|` is a literal bar (also inside code spans)."""
    cells, cell, i = [], "", 1 if line.startswith("|") else 0
    while i < len(line):
        if line[i] == "\\" and i + 1 < len(line) and line[i + 1] == "|":
            cell += "|"
            i += 2
            continue
        if line[i] == "|":
            cells.append(cell.strip())
            cell = ""
        else:
            cell += line[i]
        i += 1
    if cell.strip():
        cells.append(cell.strip())
    return cells


def code(cell):
    """The text of a cell that is one code span."""
    if len(cell) < 2 or not (cell.startswith("`") and cell.endswith("`")):
        raise Failure(f"expected a `code span`, got {cell!r}")
    return cell[1:-1].strip() if cell.startswith("`` ") else cell[1:-1]


def read_table(path):
    """The rows of the table whose header has the columns #, area, bad input, command, exit, message."""
    rows, header = [], None
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            line = line.rstrip("\n")
            if not line.startswith("|"):
                header = None if not line.strip() else header
                continue
            cells = split_cells(line)
            if [c.lower() for c in cells] == ["#", "area", "bad input", "command", "exit", "message"]:
                header = cells
                continue
            if header is None or set(line) <= set("|-: "):
                continue
            if len(cells) != 6:
                raise Failure(f"{path}:{number}: {len(cells)} cells, expected 6")
            try:
                rows.append(Row(int(cells[0]), cells[1], cells[2], code(cells[3]), cells[4], code(cells[5])))
            except (ValueError, Failure) as error:
                raise Failure(f"{path}:{number}: {error}")
    numbers = [r.number for r in rows]
    if numbers != list(range(1, len(rows) + 1)):
        raise Failure(f"{path}: the rows must be numbered 1, 2, 3, ... in order (found {numbers})")
    return rows


# ---------------------------------------------------------------------------------------------
# Fixtures: each broken in exactly one way, next to a good file of the same shape.

def write_h5(path, X, y, X_test=None, y_test=None):
    with h5py.File(path, "w") as f:
        f.create_dataset("kernels/train_kernel", data=X)
        f.create_dataset("vectors/train_vector", data=y)
        if X_test is not None:
            f.create_dataset("kernels/test_kernel", data=X_test)
        if y_test is not None:
            f.create_dataset("vectors/test_vector", data=y_test)


GRIDS = {
    "good.ini": "optimizer = gd cg\nsynthetic = kind=spectrum,n=20,d=4\nsynthetic.cond = 10 100\nmax_iterations = 20\n",
    "unknown_key.ini": "optimizer = gd\nsynthetic = kind=spectrum,n=20,d=4\nlerning_rate = 0.1\n",
    "not_a_number.ini": "optimizer = gd\nsynthetic = kind=spectrum,n=20,d=4\nridge = 0 1e-3 abc\n",
    "empty_axis.ini": "optimizer = gd\nsynthetic = kind=spectrum,n=20,d=4\nlr =\n",
    "unknown_optimizer.ini": "optimizer = gd sgdx\nsynthetic = kind=spectrum,n=20,d=4\n",
    "negative_lr.ini": "optimizer = gd\nsynthetic = kind=spectrum,n=20,d=4\nlr = 1e-3 -1\n",
    "batch_zero.ini": "optimizer = sgd\nsynthetic = kind=spectrum,n=20,d=4\nbatch_size = 0 4\n",
    "zip_mismatch.ini": "optimizer = gd\nsynthetic = kind=spectrum,n=20,d=4\nlr = 1e-3 1e-2 1e-1\n"
                        "max_iterations = 10 20\nzip = lr,max_iterations\n",
    "bad_spec.ini": "optimizer = gd\nsynthetic = kind=spectrum,n=20,d=4,cond=abc\n",
    "batch_too_large.ini": "optimizer = sgd\nsynthetic = kind=spectrum,n=20,d=4\nbatch_size = 21\n",
    "throwing_minimize.ini": "optimizer = bad_minimize_std\nsynthetic = kind=spectrum,n=20,d=4\nrepeats = 2\n",
    "nul.ini": "optimizer = gd\nsynthetic = kind=spectrum,n=20,d=4\x00\n",
    "bom.ini": "\ufeffoptimizer = gd\nsynthetic = kind=spectrum,n=20,d=4\n",
    "cr_only.ini": "optimizer = gd\rsynthetic = kind=spectrum,n=20,d=4\r",
    "seed_overflow.ini": "optimizer = gd\nsynthetic = kind=spectrum,n=20,d=4\nseed = 9223372036854775807\nrepeats = 2\n",
    "trace_points_wrap.ini": "optimizer = gd\nsynthetic = kind=spectrum,n=20,d=4\ntrace_points_per_decade = 4294967297\n",
    # More than 2^64 tasks: 2 x 1e6 repeats x 20^10 = 2e19.
    "too_many_tasks.ini": "optimizer = gd\nsynthetic = kind=spectrum,n=20,d=4\nsynthetic.seed = 1 2\nrepeats = 1000000\n"
                          + "".join(f"{key} = " + " ".join(str(v) for v in range(1, 21)) + "\n"
                                    for key in ("max_iterations", "trace_points_per_decade", "time_limit", "max_epochs",
                                                "lr", "batch_size"))
                          + "".join(f"{key} = " + " ".join(f"1e-{v}" for v in range(1, 21)) + "\n"
                                    for key in ("grad_tol", "loss_tol", "ridge", "decay")),
    "throwing_factory.ini": "optimizer = bad_factory_std\nsynthetic = kind=spectrum,n=20,d=4\n",
    # tests/plugins/fault_crashing.cpp: each task brings its task process down at iteration 2.
    "segfault.ini": "optimizer = fault_segfault\nsynthetic = kind=spectrum,n=20,d=4\nsynthetic.seed = 1 2 3\n",
    "abort.ini": "optimizer = fault_abort\nsynthetic = kind=spectrum,n=20,d=4\nsynthetic.seed = 1 2 3\n",
    "exit0.ini": "optimizer = fault_exit\nsynthetic = kind=spectrum,n=20,d=4\nsynthetic.seed = 1 2 3\nrepeats = 3\n",
    "silent.ini": "optimizer = fault_silent\nsynthetic = kind=spectrum,n=20,d=4\ntime_limit = 0.5\n",
}


def build_fixtures(args, work):
    data, plugins = os.path.join(work, "data"), os.path.join(work, "plugins")
    for directory in (data, plugins):
        if os.path.isdir(directory):
            for root, dirs, _ in os.walk(directory):  # a previous run may have left read-only dirs
                for d in dirs:
                    os.chmod(os.path.join(root, d), 0o755)
            shutil.rmtree(directory)
        os.makedirs(directory)

    rng = np.random.default_rng(7)
    n, d = 12, 4
    X, y = rng.normal(size=(n, d)), rng.normal(size=n)
    X_test, y_test = rng.normal(size=(5, d)), rng.normal(size=5)
    at = lambda name: os.path.join(data, name)  # noqa: E731
    write_h5(at("good.h5"), X, y, X_test, y_test)
    with open(at("good.h5"), "rb") as f:
        good = f.read()
    with open(at("truncated.h5"), "wb") as f:  # a valid HDF5 signature, then nothing
        f.write(good[:len(good) // 2])
    with open(at("not_hdf5.h5"), "w") as f:
        f.write("x,y\n1,2\n")
    write_h5(at("rank3.h5"), rng.normal(size=(3, n, d)), y)
    write_h5(at("y_two_columns.h5"), X, rng.normal(size=(n, 2)))
    write_h5(at("integer.h5"), np.arange(n * d, dtype=np.int64).reshape(n, d), y)
    with h5py.File(at("string.h5"), "w") as f:
        f["kernels/train_kernel"] = X
        f["vectors/train_vector"] = np.array([b"1.5"] * n)
    X_nan = X.copy()
    X_nan[3, 2] = np.nan
    write_h5(at("nan.h5"), X_nan, y)
    # Values that were never written: a contiguous dataset without storage, a virtual dataset whose
    # source file is missing (both read as fill values); and a valid external link and virtual
    # dataset, which must be accepted.
    os.mkfifo(at("fifo.json"))  # an output that exists but is not a regular file
    with h5py.File(at("unwritten.h5"), "w") as f:
        f.create_dataset("kernels/train_kernel", shape=(n, d), dtype="f8")
        f["vectors/train_vector"] = y
    def virtual_design(path, source):  # X as a virtual dataset mapping all of source's X
        with h5py.File(path, "w") as f:
            layout = h5py.VirtualLayout(shape=(n, d), dtype="f8")
            layout[:] = h5py.VirtualSource(source, "kernels/train_kernel", shape=(n, d))
            f.create_virtual_dataset("kernels/train_kernel", layout)
            f["vectors/train_vector"] = y

    virtual_design(at("virtual_missing.h5"), "gone.h5")
    virtual_design(at("virtual_good.h5"), "good.h5")
    with h5py.File(at("external_link.h5"), "w") as f:
        f["kernels/train_kernel"] = h5py.ExternalLink("good.h5", "/kernels/train_kernel")
        f["vectors/train_vector"] = y
    y_inf = y.copy()
    y_inf[5] = np.inf
    write_h5(at("inf.h5"), X, y_inf)
    write_h5(at("empty.h5"), np.zeros((0, d)), np.zeros(0))
    write_h5(at("length_mismatch.h5"), X, y[:n - 1])
    write_h5(at("test_width.h5"), X, y, rng.normal(size=(5, d - 1)), y_test)
    write_h5(at("test_half.h5"), X, y, X_test, None)
    X_huge = X.copy()
    X_huge[0, 0] = 3e200  # one value whose square overflows
    write_h5(at("huge.h5"), X_huge, y)
    write_h5(at("zeros.h5"), np.zeros((n, d)), y)  # valid, but X = 0 has no condition number
    os.mkfifo(at("fifo.h5"))  # a reader that opens it would wait for ever for a writer
    os.makedirs(at("directory.h5"))
    os.makedirs(at("csv_is_dir.csv"))  # where a study would write the CSV beside csv_is_dir.h5
    os.makedirs(at("stale.json.tmp"))  # a directory where solve writes its temporary file
    with open(at("plain_file"), "w") as f:  # a file where a directory is expected
        f.write("not a directory\n")

    grids = at("grids")
    os.makedirs(grids)
    for name, text in GRIDS.items():
        with open(os.path.join(grids, name), "w", encoding="utf-8", newline="") as f:  # bytes as written
            f.write(text)
    os.mkfifo(os.path.join(grids, "fifo.ini"))  # a grid that is not a regular file: must not block
    with open(os.path.join(grids, "missing_data.ini"), "w") as f:
        f.write(f"optimizer = cg\ndata = {at('nonexistent.h5')}\n")
    with open(os.path.join(grids, "nan_data.ini"), "w") as f:
        f.write(f"optimizer = cg\ndata = {at('nan.h5')}\n")

    def study(grid, output, *options):
        done = subprocess.run([args.kappa, "study", os.path.join(grids, grid), "-o", at(output), *options],
                              cwd=data, env=environment(), capture_output=True, text=True, timeout=TIMEOUT)
        if done.returncode != 0:
            raise Failure(f"setup: kappa study of {grid} failed: {done.stderr.strip()}")

    # A real results file (kappa study of good.ini), and a copy relabelled as another format version.
    study("good.ini", "results.h5")
    shutil.copy2(at("results.h5"), at("other_version.h5"))
    with h5py.File(at("other_version.h5"), "r+") as f:
        f.attrs["format_version"] = np.int64(int(f.attrs["format_version"]) + 98)
    # Results whose inputs changed since they were written (docs/study.md, Resume): a data file
    # rewritten with other values, a plugin library changed under its name (one byte appended: it
    # still loads), and a copy of results.h5 whose format fingerprint is another one.
    write_h5(at("changing.h5"), X, y, X_test, y_test)
    with open(os.path.join(grids, "changing_data.ini"), "w") as f:
        f.write(f"optimizer = cg\ndata = {at('changing.h5')}\nmax_iterations = 20\n")
    study("changing_data.ini", "changed_data.h5")
    write_h5(at("changing.h5"), 2 * X, y, X_test, y_test)
    os.makedirs(os.path.join(plugins, "changing_gd"))
    changing_gd = os.path.join(plugins, "changing_gd", "libkappa_plugin_gd.so")
    shutil.copy2(os.path.join(args.build_tests, "..", "plugins", "libkappa_plugin_gd.so"), changing_gd)
    study("good.ini", "changed_plugin.h5", "--plugin-dir", os.path.dirname(changing_gd))
    with open(changing_gd, "ab") as f:
        f.write(b"\0")
    shutil.copy2(at("results.h5"), at("other_format.h5"))
    with h5py.File(at("other_format.h5"), "r+") as f:
        f.attrs["fingerprints"] = re.sub(r"^(format\t[^\t]*\t)[0-9a-f]{16}", r"\g<1>0123456789abcdef", f.attrs["fingerprints"], flags=re.M)
    # A copy of results.h5 with a journal (docs/study.md, Results files) whose first of two records
    # fails its checksum: damage before the end, not a torn tail.
    shutil.copy2(at("results.h5"), at("damaged_journal.h5"))
    with h5py.File(at("damaged_journal.h5"), "r") as f:
        header = b"KAPPAJNL" + struct.pack("<Q", int(f.attrs["journal_id"], 16))
    journal = bytearray(header + struct.pack("<I", zlib.crc32(header)))
    for payload in (b"first row", b"second row"):
        framing = struct.pack("<II", len(payload), zlib.crc32(payload))
        journal += framing + struct.pack("<I", zlib.crc32(framing)) + payload
    journal[20 + 12] ^= 0x01  # a payload byte of record 1
    with open(at("damaged_journal.h5.journal"), "wb") as f:
        f.write(journal)

    # One directory per broken plugin, so that each is the only file of its --plugin-dir.
    def plugin(directory, source_dir, name):
        os.makedirs(os.path.join(plugins, directory))
        shutil.copy2(os.path.join(args.build_tests, source_dir, name), os.path.join(plugins, directory, name))

    with open(os.path.join(plugins, "README"), "w") as f:
        f.write("fixtures of tests/errors: one broken plugin per directory\n")
    os.makedirs(os.path.join(plugins, "not_a_library"))
    with open(os.path.join(plugins, "not_a_library", "libkappa_plugin_text.so"), "w") as f:
        f.write("this is text, not an ELF shared object\n")
    plugin("wrong_abi", "bad_plugins", "libkappa_plugin_bad_wrong_abi.so")
    plugin("missing_factory", "bad_plugins", "libkappa_plugin_bad_missing_factory.so")
    plugin("throwing_register", "bad_plugins", "libkappa_plugin_bad_throwing_register.so")
    plugin("throwing_factory", "factory_plugins", "libkappa_plugin_bad_throwing_factory.so")
    plugin("throwing_minimize", "minimize_plugins", "libkappa_plugin_bad_throwing_minimize.so")
    plugin("fault", "fault_plugins", "libkappa_plugin_fault_crashing.so")
    with open(os.path.join(work, "fixtures.done"), "w") as f:
        f.write("ok\n")


# ---------------------------------------------------------------------------------------------
# Running one row

# A launcher's variable in a row's command makes kappa initialise MPI (command_study.cpp) as a
# singleton; Open MPI 4.1's singleton start and MPI_Finalize leave their own allocations
# (hwloc, opal, MCA components) unfreed, which LeakSanitizer would report as kappa's.
MPI_LAUNCHER_VARIABLES = ("OMPI_COMM_WORLD_SIZE=", "PMIX_RANK=", "PMI_RANK=", "PMI_SIZE=")


def environment(command=()):
    env = dict(os.environ)
    env.pop("KAPPA_PLUGIN_PATH", None)  # only the built-in plugins and the --plugin-dir of the row
    env.update(OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1", OPENBLAS_NUM_THREADS="1")
    if any(word.startswith(MPI_LAUNCHER_VARIABLES) for word in command):
        env["ASAN_OPTIONS"] = ":".join(filter(None, [env.get("ASAN_OPTIONS", ""), "detect_leaks=0"]))
    return env


# Transient files kappa makes beside an output while it runs and always removes: the write probe
# of an output directory and a study's lock (tested on their own: study.lock). Rows run in
# parallel and several use results files in $DATA, so another row's may be seen here.
TRANSIENT = re.compile(r"^\.kappa-write-test-|\.lock$")


def snapshot(directory):
    """Every entry under `directory` with its type and content hash: detects any file written,
    renamed or left behind (but TRANSIENT). FIFOs are never opened."""
    entries = {}
    for root, dirs, files in os.walk(directory):
        for name in dirs + files:
            if TRANSIENT.search(name):
                continue
            path = os.path.join(root, name)
            try:
                mode = os.lstat(path).st_mode
            except FileNotFoundError:  # removed between the listing and here
                continue
            digest = ""
            if stat.S_ISREG(mode):
                with open(path, "rb") as f:
                    digest = hashlib.sha256(f.read()).hexdigest()
            entries[os.path.relpath(path, directory)] = (stat.S_IFMT(mode), digest)
    return entries


def substitute(text, places, quote):
    for name in sorted(places, key=len, reverse=True):  # $PLOT before a shorter prefix, if any
        value = places[name]
        text = text.replace("$" + name, shlex.quote(value) if quote else value)
    return text


def message_pattern(message):
    return "^" + ".*?".join(re.escape(part) for part in message.split(WILDCARD)) + "$"


def run_row(args, row, work):
    scratch = os.path.join(work, f"row{row.number}")
    if os.path.isdir(scratch):
        shutil.rmtree(scratch)
    os.makedirs(scratch)
    places = {"KAPPA": args.kappa, "PLOT": f"/usr/bin/python3 {args.plot}", "WORK": scratch,
              "DATA": os.path.join(work, "data"), "PLUGINS": os.path.join(work, "plugins"), "READONLY": READONLY}
    command = shlex.split(substitute(row.command, {k: v for k, v in places.items() if k != "PLOT"}, True))
    if command and command[0] == "$PLOT":
        command = ["/usr/bin/python3", args.plot] + command[1:]
    message = substitute(row.message, places, False)
    before = snapshot(places["DATA"])
    try:
        done = subprocess.run(command, cwd=scratch, env=environment(command), capture_output=True, text=True, timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        raise Failure(f"no exit within {TIMEOUT} s (a hang)")
    stdout, stderr = done.stdout, done.stderr
    shown = f"\n  exit {done.returncode}\n  stderr: {stderr.rstrip()!r}\n  stdout: {stdout.rstrip()[:400]!r}"
    if snapshot(places["DATA"]) != before:
        raise Failure("the command changed the fixture directory $DATA" + shown)
    left = sorted(os.listdir(scratch))

    outcome = row.exit_text.strip().lower()
    if outcome in ("1", "2"):
        if done.returncode != int(outcome):
            raise Failure(f"exit status {done.returncode}, expected {outcome}" + shown)
        lines = stderr.splitlines()
        if len(lines) != 1:
            raise Failure(f"{len(lines)} lines on stderr, expected exactly 1" + shown)
        if not re.match(message_pattern(message), lines[0]):
            raise Failure(f"stderr is not the documented message\n  expected: {message!r}" + shown)
        if stdout:
            raise Failure("output on stdout before the error" + shown)
        if left:
            raise Failure(f"left in $WORK: {', '.join(left)} (partial output)" + shown)
        return lines[0]
    if outcome == "1, failed row":
        if done.returncode != 1:
            raise Failure(f"exit status {done.returncode}, expected 1" + shown)
        lines = stderr.splitlines()
        if len(lines) != 1 or not re.match(message_pattern(message), lines[0]):
            raise Failure(f"stderr is not exactly the documented message\n  expected: {message!r}" + shown)
        named = re.match(r"kappa solve: optimizer '([^']+)': ", message)
        if not named:
            raise Failure(f"the documented message {message!r} names no optimizer")
        if not any(re.match(rf"^{re.escape(named.group(1))} +failed ", line) for line in stdout.splitlines()):
            raise Failure(f"no table row '{named.group(1)}  failed' on stdout" + shown)
        if left:
            raise Failure(f"left in $WORK: {', '.join(left)} (partial output)" + shown)
        return lines[0]
    recorded = re.fullmatch(r"0, (failed|crashed) (run|task)", outcome)
    if recorded and recorded.group(2) == "run":
        status = recorded.group(1)
        if done.returncode != 0:
            raise Failure(f"exit status {done.returncode}, expected 0 (a {status} run is a result)" + shown)
        method = message.split(":", 1)[0]
        failed = [line for line in stdout.splitlines() if re.match(rf"^{re.escape(method)} +{status} ", line)]
        if not failed:
            raise Failure(f"no table row '{method}  {status}' on stdout" + shown)
        if not any(re.match(message_pattern(message), line) for line in stdout.splitlines()):
            raise Failure(f"stdout has no line {message!r}" + shown)
        return message
    if outcome == "0, prints":
        if done.returncode != 0 or stderr:
            raise Failure("expected exit 0 and nothing on stderr" + shown)
        if not any(re.match(message_pattern(message), line.strip()) for line in stdout.splitlines()):
            raise Failure(f"stdout has no line {message!r}" + shown)
        if left:
            raise Failure(f"left in $WORK: {', '.join(left)}" + shown)
        return message
    if recorded and recorded.group(2) == "task":
        status = recorded.group(1)
        if any(not line.startswith("kappa study: ") for line in stderr.splitlines()):
            raise Failure("stderr has lines that are not kappa study's" + shown)
        if done.returncode != 0:
            raise Failure(f"exit status {done.returncode}, expected 0 (a {status} task is a result)" + shown)
        results = [name for name in left if name.endswith(".h5")]
        if len(results) != 1:
            raise Failure(f"expected one results file in $WORK, found {left}" + shown)
        with h5py.File(os.path.join(scratch, results[0]), "r") as f:
            statuses = list(f["tasks/status"].asstr()[()])
            messages = list(f["tasks/message"].asstr()[()])
        if not statuses or any(s != status for s in statuses):
            raise Failure(f"task statuses {statuses}, expected every one '{status}'" + shown)
        wrong = [m for m in messages if not re.match(message_pattern(message), m)]
        if wrong:
            raise Failure(f"task message {wrong[0]!r}, expected {message!r}" + shown)
        return f"{len(statuses)} {status} tasks: {messages[0]}"
    raise Failure(f"exit column {row.exit_text!r}: expected 1, 2, '0, failed run', '0, failed task', '0, crashed run', "
                  "'0, crashed task' or '0, prints'")


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--table", required=True)
    parser.add_argument("--kappa", required=True)
    parser.add_argument("--plot", required=True)
    parser.add_argument("--build-tests", required=True, help="the build's tests/ directory (the broken plugins)")
    parser.add_argument("--work", required=True)
    parser.add_argument("mode", choices=["setup", "row", "all"])
    parser.add_argument("number", nargs="?", type=int)
    args = parser.parse_args(argv)
    args.kappa, args.plot = os.path.abspath(args.kappa), os.path.abspath(args.plot)
    work = os.path.abspath(args.work)
    os.makedirs(work, exist_ok=True)
    try:
        rows = read_table(args.table)
        if args.mode == "setup":
            build_fixtures(args, work)
            print(f"ok: fixtures in {work} for {len(rows)} rows")
            return 0
        if args.mode == "row":
            if not os.path.exists(os.path.join(work, "fixtures.done")):
                raise Failure("no fixtures: run the setup mode first")
            chosen = [r for r in rows if r.number == args.number]
            if not chosen:
                raise Failure(f"no row {args.number} in {args.table} (rows 1 to {len(rows)})")
            seen = run_row(args, chosen[0], work)
            print(f"ok: row {args.number}: {seen}")
            return 0
        build_fixtures(args, work)
        failures = []
        for row in rows:
            try:
                run_row(args, row, work)
            except Failure as error:
                failures.append(f"row {row.number} ({row.bad_input}): {error}")
        if failures:
            print("FAIL: " + "\n".join(failures))
            return 1
        print(f"ok: all {len(rows)} rows")
        return 0
    except Failure as error:
        print(f"FAIL: row {args.number}: {error}" if args.mode == "row" else f"FAIL: {error}")
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
