#!/usr/bin/python3
"""PNG figures that say which combinations reach w*, or the report's aggregates as text, from
the results file of `kappa study`.

  plot_study.py RESULTS.h5                  the default: which optimizer, formulation and
                                            preconditioner reach --target (rel_w_err<=1e-6):
                                            profiles.png, curves_relative_weight_error.png and
                                            heatmap_formulation+preconditioner_optimizer_share.png
  plot_study.py RESULTS.h5 --profiles       performance and data profiles of `kappa report --profiles`
  plot_study.py RESULTS.h5 --curves         median and quartiles per optimizer, status at every run's end
  plot_study.py RESULTS.h5 --heatmap sgd.lr sgd.batch_size [--agg share|min|median]
                                            share of the tasks reaching the target over two axes
  plot_study.py RESULTS.h5 --table [--by AXIS]...   what `kappa report` aggregates, tab-separated
  options: --target METRIC<=VALUE (rel_w_err<=1e-6), --metric COLUMN (relative_weight_error),
           --color-by AXIS, --facet AXIS (curves), --where KEY=VALUE (keep only those tasks;
           repeatable), --kappa PATH (profiles), --csv (the numbers of each figure beside it),
           --out DIR (created if missing; default: beside the results file)

Which tasks --where keeps (KEY=VALUE: numbers compared as numbers only in numeric columns, text
as the file stores it; several --where must all hold), which columns are axes, how an axis's
values are grouped, ordered and labelled, which statuses count as converged, what the medians
are taken over (NaN ignored, every other task counts) and which rows are the exact solves: the
rules of `kappa report`, written once in docs/report-semantics.md and implemented here in the
section "The report's rules". tests/report/semantics_test.py checks that `--table` prints the
same groups, counts and medians as `kappa report` for the same --where, --by and --metric.

Profiles: kappa report computes them (`kappa report --profiles --profiles-csv`, run with --kappa,
else $KAPPA, else build/bin/kappa of this tree or PREFIX/bin/kappa, else kappa on the PATH), so
there is one definition; this script draws the performance profile (Dolan and More 2002) and the
data profile (More and Wild 2009) through every step of its CSV. Curves: one panel per
formulation x preconditioner (--facet; A+B combines axes), per optimizer (--color-by) the median
and the 25-75 % band over its tasks of the trace metric against data passes (each task's last
trace value at or before 40 log-spaced points, as kappa report's page), a marker by status at the
end of every run, no line for one-step methods (direct). Heatmaps: per cell, the share of its
tasks reaching the target (the report's rule: a trace point of relative_weight_error <= VALUE,
never a failed or diverged task), or the min or median final --metric (log scale, the target
marked on the colour bar); one panel when an axis is the optimizer, else one per optimizer to
which both axes apply. --table: one line
per aggregate (docs/report-semantics.md, "plot_study.py --table"), no figure. Needs the system
python3 with python3-numpy and python3-h5py, and python3-matplotlib for the figures
(docs/studies-howto.md). A mistake is one line on stderr: exit 2 for a usage mistake (unknown
option, the same axis twice in --heatmap, a --where without '=', a --target without '<='), 1
for the others (missing file, not a results file, unknown axis, no task matching --where, no
kappa for the profiles); no figure, and no --out it created, is left behind by a run that fails.
"""

import argparse
import math
import os
import re
import sys

FORMAT = "kappa study results"
FORMAT_VERSION = 5  # kStudyFormatVersion (lib/study/schema.hpp)
TRACE_METRICS = ("relative_weight_error", "loss", "grad_norm")


class PlotError(Exception):
    """A mistake of the user or the input file: reported as one line, exit 1."""


class UsageMistake(PlotError):
    """A mistake in the command line: reported as one line, exit 2 (as kappa's usage errors)."""


def load_libraries(plots):
    try:
        import numpy
        import h5py
        if plots:
            import matplotlib
    except ImportError as error:
        needed = "python3-numpy, python3-h5py and python3-matplotlib" if plots else "python3-numpy and python3-h5py"
        raise PlotError(f"{error.name} is missing: run with /usr/bin/python3 and install {needed}")
    if not plots:
        return numpy, h5py, None
    matplotlib.use("Agg")  # files only, no display needed
    import matplotlib.pyplot
    return numpy, h5py, matplotlib.pyplot


# ---------------------------------------------------------------------------------------------
# The report's rules (docs/report-semantics.md). Each function names the function of
# apps/command_report.cpp whose behaviour it repeats.

# The statuses of the results file (docs/study.md), and those that count as converged
# (is_converged in lib/sdk/src/monitor.cpp).
STATUSES = ("converged-gradient", "converged-loss", "max-iterations", "max-epochs", "time-limit",
            "converged-precision", "optimizer-rule", "diverged", "failed", "crashed")
CONVERGED_STATUSES = ("converged-gradient", "converged-loss", "converged-precision")
EXACT_METHOD_CLASS = "exact"  # method_class of the exact solves (MethodClass::direct), e.g. `direct`
SYNTHETIC_KEY, DATA_COLUMN = "synthetic", "data"

# A number as C's strtod reads the whole text: decimal or hexadecimal, inf, infinity, nan.
_NUMBER = re.compile(r"[ \t\n\v\f\r]*[+-]?(?:(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:e[+-]?[0-9]+)?"
                     r"|0x(?:[0-9a-f]+\.?[0-9a-f]*|\.[0-9a-f]+)(?:p[+-]?[0-9]+)?"
                     r"|inf(?:inity)?|nan(?:\([0-9a-z_]*\))?)\Z", re.IGNORECASE)


def as_number(text):
    """The number the whole text spells (is_number), else None."""
    if not isinstance(text, str) or not _NUMBER.match(text):
        return None
    body = text.lstrip(" \t\n\v\f\r")
    sign, digits = (-1.0, body[1:]) if body[:1] == "-" else (1.0, body.lstrip("+"))
    lower = digits.lower()
    if lower.startswith("nan"):
        return math.nan
    if lower.startswith("0x"):
        return sign * float.fromhex(digits)
    return sign * float(digits)


def round_trip(value):
    """The shortest of %.15g, %.16g, %.17g that reads back as the value (cell_text of a real)."""
    for digits in (15, 16, 17):
        text = "%.*g" % (digits, value)
        if float(text) == value:
            break
    return text


def format_number(value):
    """%g, 6 significant digits (format_number in kappa/parse.hpp)."""
    return "%g" % value


def text_of(cell):
    """The text of a cell (text_of): text as stored, an integer in decimal, a real in
    round-trip form (0.001, 1e-08), NaN as 'nan'."""
    if isinstance(cell, str):
        return cell
    if isinstance(cell, int):
        return str(cell)
    return "nan" if math.isnan(cell) else round_trip(cell)


def real_of(cell):
    """The number of a cell (real_of): NaN for text."""
    return math.nan if isinstance(cell, str) else float(cell)


def applies(cell):
    """A key that does not apply to a task leaves its cell NaN or '' (applies; docs/study.md)."""
    if isinstance(cell, str):
        return cell != ""
    return not (isinstance(cell, float) and math.isnan(cell))


def median(values):
    """The median of the values that are not NaN (+-inf count); NaN when there are none."""
    values = sorted(v for v in values if not math.isnan(v))
    if not values:
        return math.nan
    half = len(values) // 2
    return values[half] if len(values) % 2 else (values[half - 1] + values[half]) / 2


def column_of_key(key):
    """The column of a grid key: 'data' for 'synthetic' (the final specs), else the key itself."""
    return DATA_COLUMN if key == SYNTHETIC_KEY else key


SPEC_SUFFIX = "_spec"  # kSpecSuffix (lib/study/schema.hpp)


def axis_column(key, columns):
    """The column an axis groups by (axis_column): KEY_spec where a numeric parameter has
    keyword values (lr = auto 1e-3: the numeric column is NaN for auto), else the key's column."""
    spec = column_of_key(key) + SPEC_SUFFIX
    return spec if spec in columns else column_of_key(key)


class Axis:
    """A column, and the values the grid wrote for it (for their order and spelling)."""

    def __init__(self, name, column, grid_values=()):
        self.name, self.column, self.grid_values = name, column, list(grid_values)


def distinguishing_parts(specs):
    """Of synthetic specs, the comma-separated items in which they differ (distinguishing_parts)."""
    if len(specs) < 2:
        return list(specs)
    parts, count = [], {}
    for spec in specs:
        items = spec.split(",")
        if items and items[-1] == "":  # std::getline yields no empty last item
            items.pop()
        for item in set(items):
            count[item] = count.get(item, 0) + 1
        parts.append(items)
    labels = []
    for spec, items in zip(specs, parts):
        differing = [item for item in items if count[item] < len(specs)]
        labels.append(",".join(differing) if differing else spec)
    return labels


class Group:
    """The tasks of one group and what the report shows of them."""

    def __init__(self):
        self.tasks = self.converged = self.failed = self.diverged = 0
        self.metric, self.iterations, self.epochs = [], [], []


# ---------------------------------------------------------------------------------------------

class Results:
    """The /tasks columns, /traces columns and /axes of a results file, read into memory."""

    def __init__(self, path, np, h5py, traces=True):
        if not os.path.exists(path):
            raise PlotError(f"results file '{path}' does not exist")
        try:
            with h5py.File(path, "r") as f:
                if f.attrs.get("format") != FORMAT:
                    raise PlotError(f"'{path}' is not a kappa study results file (no format attribute '{FORMAT}')")
                version = int(f.attrs.get("format_version", -1))
                if version != FORMAT_VERSION:
                    raise PlotError(f"results file '{path}' has format version {version}, this script reads {FORMAT_VERSION}")
                tasks = f["tasks"]
                self.columns, self.kinds = {}, {}
                for name in tasks.attrs["columns"].split(","):
                    data = tasks[name]
                    text = data.dtype.kind == "O"
                    self.columns[name] = data.asstr()[()] if text else data[()]
                    self.kinds[name] = "text" if text else "integer" if data.dtype.kind in "iu" else "real"
                self.traces = {name: f["traces"][name][()] for name in f["traces"]} if traces else {}
                self.file_axes = []  # (name, values as written in the grid), in grid order
                if "axes" in f:
                    order = f["axes"].attrs.get("order", "")
                    for name in [n for n in order.split(",") if n]:
                        self.file_axes.append((name, list(f["axes"][name].asstr()[()])))
                self.grid_file = str(f.attrs.get("grid_file", ""))
                self.task_count = int(f.attrs.get("task_count", 0))
        except PlotError:
            raise
        except (OSError, KeyError, ValueError) as error:
            raise PlotError(f"'{path}' is not a readable kappa study results file ({error})")
        self.path = path
        self.rows = len(self.columns.get("task", []))
        self.np = np
        self._cells = {}
        # The axes (grid_axes): the grid's keys with two or more values, zip lines not, in the
        # grid's order, each with its column ('data' for 'synthetic') if the file has it.
        self.axes = [Axis(name, axis_column(name, self.columns), values) for name, values in self.file_axes
                     if len(values) >= 2 and name != "zip" and axis_column(name, self.columns) in self.columns]

    def cells(self, column):
        """A column as Python values: str, int or float (NaN: not applicable)."""
        if column not in self._cells:
            data = self.columns[column]
            self._cells[column] = list(data) if self.kinds[column] == "text" else data.tolist()
        return self._cells[column]

    def axis_names(self):
        return ", ".join(axis.name for axis in self.axes) or "none"

    def find_axis(self, name, option=None):
        """An axis named by its name or its column, else any column (as --by of kappa report).
        An unknown name: the report's message when `option` ('--by') is given."""
        for axis in self.axes:
            if name in (axis.name, axis.column):
                return axis
        if name in self.columns:
            return Axis(name, name)
        if option:
            raise PlotError(f"{option} '{name}': no such axis or column in '{self.path}' (axes: {self.axis_names()}; "
                            f"any column of {self.path} works too)")
        raise PlotError(f"'{name}' is not an axis or column of '{self.path}' (axes: {self.axis_names()})")

    def axis(self, name):
        """The axis name of a grid axis, or None."""
        return next((axis for axis in self.axes if axis.name == name), None)

    def select(self, where):
        """The rows that every KEY=VALUE keeps, in file order (the --where of kappa report):
        each condition in turn keeps the rows whose column KEY ('data' for 'synthetic') holds
        VALUE; compared as numbers when the column is numeric and VALUE is a number, else as
        text (a text column's cells as stored, e.g. '0.001' for a grid's 1e-3; for a numeric
        KEY with keyword values, the cells of KEY_spec: 'gd.lr=auto')."""
        rows = list(range(self.rows))
        for condition in where:
            if "=" not in condition:
                raise UsageMistake(f"--where '{condition}': expected KEY=VALUE")
            key, value = condition.split("=", 1)
            column = column_of_key(key)
            if column not in self.columns:
                raise PlotError(f"--where '{condition}': no column '{column}' in '{self.path}'")
            number = as_number(value) if self.kinds[column] != "text" else None
            cells = self.cells(column if number is not None else axis_column(key, self.columns))
            if number is not None:
                rows = [r for r in rows if real_of(cells[r]) == number]
            else:
                rows = [r for r in rows if text_of(cells[r]) == value]
        if where and not rows:
            raise PlotError(f"no task of '{self.path}' matches {' '.join(where)}")
        return rows

    def axis_values(self, axis, rows):
        """The values of an axis in these rows as (cell text, label) pairs (axis_values): in the
        grid's order where the grid writes them (numbers compared as numbers) and with its
        spelling, other values of a numeric column in increasing order labelled with %g, other
        text in order of appearance (synthetic specs shortened to the items in which they
        differ). Tasks are grouped by label."""
        seen = []
        known = set()
        cells = self.cells(axis.column)
        for r in rows:
            if applies(cells[r]):
                key = text_of(cells[r])
                if key not in known:
                    known.add(key)
                    seen.append(key)
        grid = axis.grid_values
        grid_numbers = [as_number(g) for g in grid]

        def grid_position(key):
            value = as_number(key)
            for g, written in enumerate(grid):
                if written == key or (value is not None and grid_numbers[g] is not None and grid_numbers[g] == value):
                    return g
            return len(grid)

        numeric_column = self.kinds[axis.column] != "text"

        def order(key):
            value = as_number(key)
            return (grid_position(key), value if numeric_column and value is not None else 0.0)

        seen.sort(key=order)  # stable: ties in order of appearance
        shortened = distinguishing_parts(seen) if axis.column == DATA_COLUMN else seen
        values = []
        for key, short in zip(seen, shortened):
            g = grid_position(key)
            number = as_number(key)
            if g < len(grid) and axis.column != DATA_COLUMN:
                label = grid[g]
            elif numeric_column and number is not None:
                label = format_number(number)
            else:
                label = short
            values.append((key, label))
        return values

    def labels(self, axis, rows):
        """The labels of an axis in these rows, in order, and each cell text's label."""
        values = self.axis_values(axis, rows)
        order = []
        for _, label in values:
            if label not in order:
                order.append(label)
        return order, dict(values)

    def optimizer_order(self, rows):
        """The optimizers of these rows in the grid's order, then the others in order of
        appearance (optimizer_order)."""
        order = next((axis.grid_values for axis in reversed(self.axes) if axis.column == "optimizer"), [])
        present = []
        for r in rows:
            name = self.cells("optimizer")[r]
            if name not in present:
                present.append(name)
        result = [name for name in order if name in present]
        return result + [name for name in present if name not in result]

    def add(self, group, r, metric):
        """One task into a group (Summary::add): every task counts, whatever its status."""
        status = self.cells("status")[r]
        if status not in STATUSES:
            raise PlotError(f"'{self.path}': unknown status '{status}' (known: {', '.join(STATUSES)})")
        group.tasks += 1
        group.converged += status in CONVERGED_STATUSES
        group.failed += status in ("failed", "crashed")  # neither has a result (report-semantics.md)
        group.diverged += status == "diverged"
        group.metric.append(real_of(self.cells(metric)[r]))
        group.iterations.append(real_of(self.cells("iterations")[r]))
        group.epochs.append(real_of(self.cells("epochs")[r]))

    def check_metric(self, metric):
        if metric not in self.columns or self.kinds[metric] == "text":
            raise PlotError(f"--metric '{metric}': not a numeric column of '{self.path}'")

    def table_axes(self, by):
        """The axes of the per-axis tables: every axis but the optimizer, or those of --by (an
        axis by name or column, the optimizer axis left out, else any column)."""
        if not by:
            return [axis for axis in self.axes if axis.column != "optimizer"]
        shown = []
        for name in by:
            axis = self.find_axis(name, "--by")
            if not (axis in self.axes and axis.column == "optimizer"):
                shown.append(axis)
        return shown

    def summary(self, rows, by, metric):
        """Everything kappa report aggregates, as plain values (see print_table)."""
        summary = {"tasks": (len(rows), self.task_count, self.rows), "metric": metric,
                   "axes": [(axis.name, len(axis.grid_values)) for axis in self.axes]}
        statuses = {}
        for r in rows:
            statuses[self.cells("status")[r]] = statuses.get(self.cells("status")[r], 0) + 1
        summary["statuses"] = sorted(statuses.items())
        shown = self.table_axes(by)
        if not rows:
            return summary
        optimizers = self.optimizer_order(rows)
        names = self.cells("optimizer")

        by_optimizer = {name: Group() for name in optimizers}
        for r in rows:
            self.add(by_optimizer[names[r]], r, metric)
        summary["optimizers"] = [(name, by_optimizer[name]) for name in optimizers]

        summary["by"] = []
        for axis in shown:
            order, label_of = self.labels(axis, rows)
            cells = self.cells(axis.column)
            groups, left_out = {}, 0
            for r in rows:
                if not applies(cells[r]):
                    left_out += 1
                    continue
                self.add(groups.setdefault((label_of[text_of(cells[r])], names[r]), Group()), r, metric)
            keys = [(label, name) for label in order for name in optimizers if (label, name) in groups]
            summary["by"].append((axis.name, left_out, [(label, name, groups[(label, name)]) for label, name in keys]))

        # The best grid point per optimizer (print_best): the settings of the grid's axes other
        # than the optimizer that apply to a task; the lowest median over its tasks, the first
        # (in order of appearance) of equal ones; points whose median is NaN never win.
        label_of = {axis.column: self.labels(axis, rows)[1] for axis in self.axes}
        points = {}  # optimizer -> {settings text: (settings, Group)}, in order of appearance
        for r in rows:
            settings = []
            for axis in self.axes:
                cell = self.cells(axis.column)[r]
                if axis.column != "optimizer" and applies(cell):
                    settings.append(f"{axis.name}={label_of[axis.column][text_of(cell)]}")
            mine = points.setdefault(names[r], {})
            point = mine.setdefault(" ".join(settings), (settings or ["(no axis)"], Group()))
            self.add(point[1], r, metric)
        summary["best"] = []
        for name in optimizers:
            best, best_value = None, math.nan
            for settings, group in points[name].values():
                value = median(group.metric)
                if not math.isnan(value) and (best is None or value < best_value):
                    best, best_value = (settings, group), value
            summary["best"].append((name, best_value, best))

        # The reference and the exact solves (print_reference): rows whose method_class is
        # 'exact'; one that made no step (iterations 0) is counted apart, the others with a
        # metric give its median and maximum.
        summary["references"] = sorted({text_of(self.cells("reference")[r]) for r in rows}) if "reference" in self.columns else []
        exact, exact_failed, exact_names = [], 0, []
        for r in rows:
            if self.cells("method_class")[r] != EXACT_METHOD_CLASS:
                continue
            if names[r] not in exact_names:
                exact_names.append(names[r])
            value = real_of(self.cells(metric)[r])
            if real_of(self.cells("iterations")[r]) == 0:
                exact_failed += 1
            elif not math.isnan(value):
                exact.append(value)
        summary["exact"] = (exact_names, exact, exact_failed)
        return summary


def number_text(value):
    """A real in --table: round-trip form (repr), nan, inf."""
    return repr(float(value))


def group_fields(group):
    return [str(group.tasks), str(group.converged), str(group.failed), str(group.diverged),
            number_text(median(group.metric)), number_text(median(group.iterations)), number_text(median(group.epochs))]


def print_table(summary, out=sys.stdout):
    """--table: one tab-separated line per aggregate (docs/report-semantics.md)."""
    lines = [["tasks", *map(str, summary["tasks"])],
             ["axes", *(f"{name}={count}" for name, count in summary["axes"])],
             ["statuses", *(f"{name}={count}" for name, count in summary["statuses"])],
             ["converged", *CONVERGED_STATUSES],
             ["metric", summary["metric"]]]
    for name, group in summary.get("optimizers", []):
        lines.append(["optimizer", name, *group_fields(group)])
    for axis, left_out, groups in summary.get("by", []):
        lines.append(["by", axis, str(left_out)])
        for label, name, group in groups:
            lines.append(["group", axis, label, name, *group_fields(group)])
    for name, value, best in summary.get("best", []):
        if best is None:
            lines.append(["best", name, "-"])
        else:
            settings, group = best
            lines.append(["best", name, number_text(value), str(group.converged), str(group.tasks), " ".join(settings)])
    if "references" in summary:
        lines.append(["reference", *summary["references"]])
    if "exact" in summary:
        names, values, failed = summary["exact"]
        if values or failed:
            lines.append(["exact", ",".join(names), number_text(median(values)),
                          number_text(max(values) if values else math.nan), str(len(values)), str(failed)])
    for line in lines:
        print("\t".join(line), file=out)


def panel_grid(count):
    columns = min(count, 3)
    return (count + columns - 1) // columns, columns


# ---------------------------------------------------------------------------------------------
# Which tasks reach the target (docs/report-semantics.md, "Profiles"): the rule of kappa report's
# profiles, work to target and page heatmap (load_study in apps/command_report.cpp), so that a
# share drawn here is the share kappa report counts.

TARGET_ALIASES = {"rel_w_err": "relative_weight_error"}
NEVER_REACH = ("failed", "crashed", "diverged")  # those never solve, whatever their final value
BUDGET_STATUSES = ("max-iterations", "max-epochs", "time-limit")


class Target:
    """--target METRIC<=VALUE (rel_w_err names relative_weight_error)."""

    def __init__(self, text):
        metric, separator, value = text.partition("<=")
        number = as_number(value) if separator else None
        if not metric or number is None or math.isnan(number):
            raise UsageMistake(f"--target '{text}': expected METRIC<=VALUE, e.g. rel_w_err<=1e-6")
        self.text, self.column, self.value = text, TARGET_ALIASES.get(metric, metric), number


def reached(results, rows, target):
    """Per row: does the task reach the target? Not when its status is failed, crashed or
    diverged; for relative_weight_error (in the traces) when a trace point is <= the value, a
    row without trace points by its final value; for any other column by its final value."""
    if target.column not in results.columns or results.kinds[target.column] == "text":
        raise PlotError(f"--target '{target.text}': '{target.column}' is not a numeric column of '{results.path}'")
    status, final = results.cells("status"), results.cells(target.column)
    starts, lengths = results.cells("trace_start"), results.cells("trace_length")
    trace = results.traces.get("relative_weight_error")
    out = {}
    for r in rows:
        if status[r] in NEVER_REACH:
            out[r] = False
        elif target.column == "relative_weight_error" and trace is not None and lengths[r] > 0:
            out[r] = bool((trace[starts[r]:starts[r] + lengths[r]] <= target.value).any())
        else:
            out[r] = real_of(final[r]) <= target.value
    return out


def axes_of(results, spec):
    """The axes of an axis argument: one name, or several joined by '+' (formulation+preconditioner),
    whose combinations are then the values."""
    if spec in results.columns or "+" not in spec:
        return [results.find_axis(spec)]
    return [results.find_axis(name) for name in spec.split("+")]


def row_labels(results, axes, rows):
    """The label of each row over these axes ('a / b' for two; None where one does not apply),
    and the labels in order: the report's order of each axis (the optimizers in the report's
    order), combinations in the order of the first axis, then the second, ..., those present."""
    import itertools
    parts = []
    for axis in axes:
        order, label_of = results.labels(axis, rows)
        if axis.column == "optimizer":
            order = [name for name in results.optimizer_order(rows) if name in order]
        parts.append((order, label_of, results.cells(axis.column)))
    label = {}
    for r in rows:
        combo = []
        for order, label_of, cells in parts:
            if not applies(cells[r]):
                combo = None
                break
            combo.append(label_of[text_of(cells[r])])
        label[r] = None if combo is None else " / ".join(combo)
    present = set(label.values())
    ordered = [" / ".join(c) for c in itertools.product(*(p[0] for p in parts)) if " / ".join(c) in present]
    return ordered, label


def varying(results, names, rows):
    """Of these axis names, those that are columns with two or more labels among the rows."""
    shown = []
    for name in names:
        if name in results.columns and len(results.labels(results.find_axis(name), rows)[0]) >= 2:
            shown.append(name)
    return shown


def default_facets(results, rows):
    """Curves: one panel per formulation x preconditioner (those of them that vary)."""
    return "+".join(varying(results, ("formulation", "preconditioner"), rows)) or None


def default_heatmap(results, rows):
    """Heatmap without flags: (formulation, preconditioner) across, optimizer down; without
    those axes, the first axis other than the optimizer; None when there is none."""
    across = "+".join(varying(results, ("formulation", "preconditioner"), rows))
    if not across:
        across = next((a.name for a in results.axes if a.column != "optimizer"), "")
    return (across, "optimizer") if across else None


def write_text(path, text):
    """A file under a temporary name, then renamed: never a truncated one."""
    temporary = path + ".tmp"
    try:
        with open(temporary, "w") as out:
            out.write(text)
        os.replace(temporary, path)
    except OSError as error:
        if os.path.exists(temporary):
            os.remove(temporary)
        raise PlotError(f"cannot write '{path}' ({error.strerror})")


def csv_line(fields):
    return ",".join('"' + f.replace('"', '""') + '"' if any(c in f for c in ',"\n') else f for f in map(str, fields))


STATUS_MARKERS = (  # (statuses, marker, legend): every end of a run has one, so they are told apart
    (CONVERGED_STATUSES, "o", "converged"),
    (BUDGET_STATUSES, "s", "budget (max iterations, epochs, time)"),
    (("optimizer-rule",), "^", "optimizer's own rule"),
    (("diverged",), "X", "diverged"),
    (("failed", "crashed"), "x", "failed (no result; at the top edge)"),
)


def status_marker(status):
    return next(((m, legend) for statuses, m, legend in STATUS_MARKERS if status in statuses), ("d", status))


def plot_curves(results, rows, metric, color_by, facet, target, out_dir, plt, np, write_csv):
    """Per panel (--facet, default formulation x preconditioner) and per group (--color-by,
    default the optimizer): the median and quartiles over the group's tasks of the metric against
    data passes, as kappa report's page draws them (each task's last trace value at or before a
    point, 40 log-spaced points), up to the group's last data pass; a marker at the end of every
    run by its status. A group whose runs have two trace points or fewer (one-step methods such
    as direct) gets its markers only: a line through two points would invent a path."""
    from matplotlib.lines import Line2D
    import matplotlib.transforms as transforms

    if metric not in TRACE_METRICS:
        raise PlotError(f"--metric '{metric}': the traces have {', '.join(TRACE_METRICS)} (curves need one of them)")
    groups, group_of = row_labels(results, axes_of(results, color_by or "optimizer"), rows)
    facet = facet if facet is not None else default_facets(results, rows)
    panels, panel_of = row_labels(results, axes_of(results, facet), rows) if facet else (["all tasks"], {r: "all tasks" for r in rows})
    starts, lengths = results.cells("trace_start"), results.cells("trace_length")
    epochs_trace, values_trace = results.traces["epochs"], results.traces[metric]
    status = results.cells("status")
    palette = plt.get_cmap("tab10" if len(groups) <= 10 else "tab20")
    color = {g: palette(i % palette.N) for i, g in enumerate(groups)}
    positive = epochs_trace[epochs_trace > 0]
    if positive.size == 0:
        raise PlotError(f"no task of '{results.path}' has a trace point after the first data pass")
    grid = np.geomspace(positive.min(), positive.max(), 40)

    grid_rows, grid_columns = panel_grid(len(panels))
    figure, axes = plt.subplots(grid_rows, grid_columns, figsize=(5.2 * grid_columns + 2.5, 4 * grid_rows),
                                squeeze=False, sharex=True, sharey=True, constrained_layout=True)
    lines, statuses_seen, numbers = set(), [], ["panel,group,epochs,q25,median,q75,tasks"]
    # One y range for all panels (they share it), set once at the end: a set_ylim per panel
    # would freeze the range before the later panels' runs (down to 1e-12) are drawn.
    tops, lows = [], []
    for p, panel in enumerate(panels):
        ax = axes[p // grid_columns][p % grid_columns]
        ends, starts_at = [], []  # (x, y, group, status) of every run of the panel; first values
        for group in groups:
            mine = [r for r in rows if panel_of[r] == panel and group_of[r] == group]
            if not mine:
                continue
            stacked, last_pass = [], 0.0
            for r in mine:
                x, y = epochs_trace[starts[r]:starts[r] + lengths[r]], values_trace[starts[r]:starts[r] + lengths[r]]
                if len(x):
                    ends.append((x[-1], y[-1], group, status[r]))
                    starts_at.append(y[0])
                    last_pass = max(last_pass, x[-1])
                else:
                    ends.append((real_of(results.cells("epochs")[r]), math.nan, group, status[r]))
                if len(x) <= 2:
                    continue  # a one-step run: its end marker says it all
                stacked.append((x, y))
            if not stacked:
                continue
            # The page's 40 points up to the group's last data pass, and that pass itself, so
            # that the curve ends where its runs end.
            points = np.append(grid[grid < last_pass], last_pass)
            values = []
            for x, y in stacked:
                at = np.searchsorted(x, points, side="right") - 1  # last point at or before each
                values.append(np.where(at >= 0, y[np.maximum(at, 0)], np.nan))
            stacked = np.array(values, dtype=float)
            keep = np.isfinite(stacked).sum(axis=0) > 0
            with np.errstate(all="ignore"):
                low, mid, high = np.nanquantile(np.where(np.isfinite(stacked), stacked, np.nan)[:, keep], [0.25, 0.5, 0.75], axis=0)
            ax.fill_between(points[keep], low, high, color=color[group], alpha=0.2, linewidth=0)
            ax.plot(points[keep], mid, color=color[group], linewidth=1.8)
            lines.add(group)
            for x, a, b, c in zip(points[keep], low, mid, high):
                numbers.append(csv_line([panel, group, round_trip(x), round_trip(a), round_trip(b), round_trip(c), len(stacked)]))
        # The top: a decade above the start and the ends of the runs that did not diverge, so
        # that a diverged run (1e6 and more) does not flatten the others; it is marked at the top.
        finite = [y for y in starts_at + [y for _, y, _, s in ends if s not in NEVER_REACH] if math.isfinite(y) and y > 0]
        top = max(finite) * 10 if finite else 10.0
        edge = transforms.blended_transform_factory(ax.transData, ax.transAxes)
        for x, y, group, s in ends:
            marker, _ = status_marker(s)
            if s not in statuses_seen:
                statuses_seen.append(s)
            x = x if x > 0 else grid[0]
            if math.isfinite(y) and 0 < y <= top:
                ax.plot([x], [y], marker=marker, color=color[group], markersize=7, linestyle="none",
                        markeredgecolor="black", markeredgewidth=0.5, alpha=0.85)
            else:  # no value, or off the top (a diverged run): at the top edge
                ax.plot([x], [0.97], marker=marker, color=color[group], markersize=7, linestyle="none",
                        transform=edge, clip_on=False, alpha=0.85)
        if target is not None and target.column == metric:
            ax.axhline(target.value, color="black", linestyle="--", linewidth=1)
        ax.set_xscale("log")
        ax.set_yscale("log")
        if finite:
            tops.append(top)
        lows.extend(y for _, y, _, _ in ends if math.isfinite(y) and 0 < y <= top)
        ax.set_title(panel, fontsize="medium")
        ax.set_xlabel("data passes (epochs)")
        ax.set_ylabel(metric)
        ax.grid(True, which="major", alpha=0.3)
    if target is not None and target.column == metric and target.value > 0:
        lows.append(target.value)
    if tops and lows:
        axes[0][0].set_ylim(bottom=min(lows) / 3, top=max(tops))  # every run end and the target in view
    for p in range(len(panels), grid_rows * grid_columns):
        axes[p // grid_columns][p % grid_columns].set_visible(False)
    from matplotlib.patches import Patch
    handles = [Patch(color=color[g], alpha=0.8, label=g if g in lines else f"{g} (run ends only)") for g in groups]
    seen = []
    for s in statuses_seen:
        marker, legend = status_marker(s)
        if legend not in [h.get_label() for h in seen]:
            seen.append(Line2D([], [], color="0.4", marker=marker, linestyle="none", markersize=7, label=legend))
    if target is not None and target.column == metric:
        seen.append(Line2D([], [], color="black", linestyle="--", label=f"target {target.text}"))
    figure.legend(handles=handles + seen, loc="upper left", bbox_to_anchor=(1.0, 0.93), fontsize="small",
                  title=f"{color_by or 'optimizer'} (median, 25-75 %); run ends")
    figure.suptitle(f"{os.path.basename(results.path)}: {metric}, median and quartiles per {color_by or 'optimizer'}"
                    + (f", one panel per {facet.replace('+', ' x ')}" if facet else ""))
    path = os.path.join(out_dir, f"curves_{metric}.png")
    written = [save_figure(figure, path, plt)]
    if write_csv:
        written.append(write_csv_beside(path, numbers))
    return written


AGGREGATES = ("share", "min", "median")


def heatmap_panels(results, rows, spec_x, spec_y, agg, metric, hits):
    """The panels of a heatmap: one when an axis is the optimizer, else one per optimizer (the
    report's order) to which both axes apply. Each: (name, xs, ys, value, reached, tasks) with a
    cell per label of each axis that the panel has; value the share of its tasks that reach the
    target (agg share), or the least or median final metric (NaN ignored), NaN without tasks."""
    axes_x, axes_y = axes_of(results, spec_x), axes_of(results, spec_y)
    order_x, label_x = row_labels(results, axes_x, rows)
    order_y, label_y = row_labels(results, axes_y, rows)
    names = results.cells("optimizer")
    one_panel = any(axis.column == "optimizer" for axis in axes_x + axes_y)
    panel_names = [None] if one_panel else results.optimizer_order(rows)
    panels = []
    for name in panel_names:
        mine = [r for r in rows if (one_panel or names[r] == name) and label_x[r] is not None and label_y[r] is not None]
        if not mine:
            continue  # the axes do not apply to this optimizer (e.g. sgd.lr for adam)
        cells = {}
        for r in mine:
            cells.setdefault((label_y[r], label_x[r]), []).append(r)
        xs = [x for x in order_x if any(key[1] == x for key in cells)]
        ys = [y for y in order_y if any(key[0] == y for key in cells)]
        value, hit, count = [[] for _ in ys], [[] for _ in ys], [[] for _ in ys]
        for row, y in enumerate(ys):
            for x in xs:
                tasks = cells.get((y, x), [])
                finals = [v for v in (real_of(results.cells(metric)[r]) for r in tasks) if not math.isnan(v)]
                if agg == "share":
                    value[row].append(sum(hits[r] for r in tasks) / len(tasks) if tasks else math.nan)
                elif agg == "min":
                    value[row].append(min(finals) if finals else math.nan)
                else:
                    value[row].append(median(finals))
                hit[row].append(sum(hits[r] for r in tasks))
                count[row].append(len(tasks))
        panels.append((name, xs, ys, value, hit, count))
    if not panels:
        raise PlotError(f"no optimizer of '{results.path}' has both '{spec_x}' and '{spec_y}'")
    return panels


def plot_heatmap(results, rows, spec_x, spec_y, agg, metric, target, out_dir, plt, np, write_csv):
    from matplotlib.colors import LogNorm, Normalize
    from matplotlib.patches import Rectangle

    results.check_metric(metric)
    hits = reached(results, rows, target)
    data = heatmap_panels(results, rows, spec_x, spec_y, agg, metric, hits)
    if agg == "share":
        norm, cmap, what = Normalize(0, 1), "RdYlGn", f"share of tasks reaching {target.text}"
        bar_label = "share reaching the target"
    else:
        values = np.array([v for panel in data for row in panel[3] for v in row], dtype=float)
        positive = values[np.isfinite(values) & (values > 0)]
        if target.column == metric:
            positive = np.append(positive, target.value)  # the target is always on the colour bar
        low = positive.min() if positive.size else 1e-16
        norm, cmap = LogNorm(vmin=low, vmax=max(positive.max() if positive.size else 1.0, low * 10)), "viridis_r"
        what = bar_label = f"{agg} final {metric}"
    grid_rows, grid_columns = panel_grid(len(data))
    width = max(len(panel[1]) for panel in data)
    height = max(len(panel[2]) for panel in data)
    figure, axes = plt.subplots(grid_rows, grid_columns, squeeze=False, constrained_layout=True,
                                figsize=(grid_columns * (2.5 + 0.9 * width) + 1.5, grid_rows * (1.8 + 0.45 * height)))
    numbers = ["panel,x_axis,x,y_axis,y,agg,value,reached,tasks"]
    image = None
    for p, (name, xs, ys, value, hit, count) in enumerate(data):
        ax = axes[p // grid_columns][p % grid_columns]
        grid = np.array(value, dtype=float)
        shown = grid if agg == "share" else np.where(np.isfinite(grid) & (grid > 0), grid, np.nan)
        image = ax.imshow(shown, norm=norm, cmap=cmap, aspect="auto", origin="lower")
        ax.set_xticks(range(len(xs)))
        ax.set_xticklabels([x[:32] for x in xs], rotation=30 if len(xs) > 2 else 0, ha="right" if len(xs) > 2 else "center",
                           fontsize="small")
        ax.set_yticks(range(len(ys)))
        ax.set_yticklabels([y[:32] for y in ys], fontsize="small")
        ax.set_xlabel(spec_x.replace("+", " / "))
        ax.set_ylabel(spec_y.replace("+", " / "))
        if name is not None:
            ax.set_title(name)
        for y in range(len(ys)):
            for x in range(len(xs)):
                v = grid[y, x]
                if agg == "share":
                    text = f"{hit[y][x]}/{count[y][x]}" if count[y][x] else "-"
                else:
                    text = "-" if math.isnan(v) else f"{v:.1e}"
                    if target.column == metric and v <= target.value:  # cells at the target outlined
                        ax.add_patch(Rectangle((x - 0.5, y - 0.5), 1, 1, fill=False, edgecolor="black", linewidth=2))
                if len(xs) * len(ys) <= 200:  # values in the cells while they stay readable
                    dark = math.isfinite(v) and ((v < 0.15 or v > 0.85) if agg == "share" else (v > 0 and norm(v) > 0.6))
                    ax.text(x, y, text, ha="center", va="center", fontsize="x-small", color="white" if dark else "black")
                numbers.append(csv_line([name or "", spec_x, xs[x], spec_y, ys[y], agg,
                                         "nan" if math.isnan(v) else round_trip(float(v)), hit[y][x], count[y][x]]))
    for p in range(len(data), grid_rows * grid_columns):
        axes[p // grid_columns][p % grid_columns].set_visible(False)
    bar = figure.colorbar(image, ax=axes.ravel().tolist(), label=bar_label)
    if agg == "share":
        bar.set_ticks([0, 0.25, 0.5, 0.75, 1])
        bar.ax.set_title("cells: reached/tasks", fontsize="x-small")
    elif target.column == metric:
        bar.ax.axhline(target.value, color="black", linewidth=2)
        bar.ax.set_title(f"line: {target.text}", fontsize="x-small")
    figure.suptitle(f"{os.path.basename(results.path)}: {what}")
    stem = f"heatmap_{safe(spec_x)}_{safe(spec_y)}_" + ("share" if agg == "share" else f"{agg}_{metric}")
    path = os.path.join(out_dir, stem + ".png")
    written = [save_figure(figure, path, plt)]
    if write_csv:
        written.append(write_csv_beside(path, numbers))
    return written


def find_kappa(option):
    """--kappa, else $KAPPA (as the Slurm templates), else the kappa of the source tree
    (build/bin/kappa beside scripts/) or of the installation (PREFIX/bin beside
    PREFIX/share/kappa/plot), else kappa on the PATH."""
    import shutil
    for given, name in ((option, "--kappa"), (os.environ.get("KAPPA"), "KAPPA")):
        if given:
            if not (os.path.isfile(given) and os.access(given, os.X_OK)):
                raise PlotError(f"{name} '{given}': not an executable file")
            return given
    here = os.path.dirname(os.path.abspath(__file__))
    for candidate in (os.path.join(here, "..", "..", "build", "bin", "kappa"), os.path.join(here, "..", "..", "..", "bin", "kappa")):
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return os.path.normpath(candidate)
    found = shutil.which("kappa")
    if not found:
        raise PlotError("the profiles need kappa: none in build/bin of this source tree or on the PATH "
                        "(give --kappa PATH or set KAPPA, or draw --curves/--heatmap without --profiles)")
    return found


def kappa_profiles(kappa, results_path, where, target):
    """The costs, ratios and profiles of `kappa report --profiles --profiles-csv` (the one
    definition of them, docs/report-semantics.md): {kind: [(solver, problem, x, value)]}."""
    import csv
    import subprocess
    import tempfile
    with tempfile.TemporaryDirectory() as scratch:
        table = os.path.join(scratch, "profiles.csv")
        command = [kappa, "report", results_path, "--profiles", "--profiles-csv", table, "--target", target.text,
                   "--bootstrap", "1"]  # the intervals are not drawn
        for condition in where:
            command += ["--where", condition]
        try:
            done = subprocess.run(command, capture_output=True, text=True)
        except OSError as error:
            raise PlotError(f"cannot run '{kappa}' ({error.strerror})")
        if done.returncode != 0:
            lines = done.stderr.strip().splitlines() or [f"exit {done.returncode}"]
            raise PlotError(f"{kappa} report --profiles: {lines[-1]}")
        with open(table, newline="") as source:
            text = source.read()
    rows = list(csv.reader(text.splitlines()))
    if not rows or rows[0] != ["kind", "solver", "problem", "x", "value"]:
        raise PlotError(f"{kappa} report --profiles-csv: unexpected header {rows[:1]}")
    kinds = {}
    for kind, solver, problem, x, value in rows[1:]:
        kinds.setdefault(kind, []).append((solver, problem, float(x) if x else math.nan, float(value)))
    return kinds, text


def plot_profiles(results, kappa, where, target, out_dir, plt, np, write_csv):
    """The performance profile rho_s(tau) (Dolan and More 2002) and the data profile d_s(alpha)
    (More and Wild 2009) of kappa report, as step functions through every step of its CSV;
    a solver's colour is its optimizer's."""
    kinds, text = kappa_profiles(kappa, results.path, where, target)
    costs = kinds.get("cost", [])
    if not costs:
        raise PlotError(f"kappa report found no problem and solver in '{results.path}' to profile")
    solvers, problems = [], []
    for solver, problem, _, _ in costs:
        if solver not in solvers:
            solvers.append(solver)
        if problem not in problems:
            problems.append(problem)
    solved = {s: sum(1 for solver, _, _, v in costs if solver == s and math.isfinite(v)) for s in solvers}
    optimizers = []
    for s in solvers:
        if s.split(" ")[0] not in optimizers:
            optimizers.append(s.split(" ")[0])
    palette = plt.get_cmap("tab10" if len(optimizers) <= 10 else "tab20")
    styles = ("-", "--", ":", "-.")
    figure, (left, right) = plt.subplots(1, 2, figsize=(13, 4.8), constrained_layout=True)
    used = {}
    # Every profile is drawn to the same right end, the largest x of its kind: a profile is
    # constant after its last step, and a line stopping early would look like a missing value.
    right_end = {kind: max([x for _, _, x, _ in kinds.get(kind, []) if math.isfinite(x)], default=1.0)
                 for kind in ("performance", "data")}
    for s in solvers:
        optimizer = s.split(" ")[0]
        color = palette(optimizers.index(optimizer) % palette.N)
        style = styles[used.get(optimizer, 0) % len(styles)]
        used[optimizer] = used.get(optimizer, 0) + 1
        for ax, kind, start in ((left, "performance", 1.0), (right, "data", None)):
            points = sorted((x, v) for solver, _, x, v in kinds.get(kind, []) if solver == s and math.isfinite(x))
            if not points:
                continue
            xs, vs = [x for x, _ in points], [v for _, v in points]
            if start is not None and xs[0] > start:
                xs, vs = [start] + xs, [0.0] + vs
            if xs[-1] < right_end[kind]:
                xs, vs = xs + [right_end[kind]], vs + [vs[-1]]
            ax.step(xs, vs, where="post", color=color, linestyle=style, linewidth=1.6,
                    label=f"{s} ({solved[s]}/{len(problems)})" if ax is left else None)
    for ax, title, label in ((left, "performance profile (Dolan & More 2002)", "tau: cost / least cost of any solver"),
                             (right, "data profile (More & Wild 2009)", "alpha: data passes to reach the target")):
        ax.set_xscale("log")
        ax.set_ylim(-0.03, 1.03)
        ax.set_title(title)
        ax.set_xlabel(label)
        ax.grid(True, which="major", alpha=0.3)
    left.set_ylabel(f"share of the {len(problems)} problems solved")
    figure.legend(loc="upper left", bbox_to_anchor=(1.0, 0.93), fontsize="small", title="solver (problems solved)")
    figure.suptitle(f"{os.path.basename(results.path)}: which solver reaches {target.text} (kappa report --profiles)")
    path = os.path.join(out_dir, "profiles.png")
    written = [save_figure(figure, path, plt)]
    if write_csv:
        written.append(write_csv_beside(path, text.rstrip("\n").split("\n")))
    return written


def write_csv_beside(figure_path, lines):
    path = os.path.splitext(figure_path)[0] + ".csv"
    write_text(path, "\n".join(lines) + "\n")
    return path


def require_writable_directory(out_dir):
    """--out must be a directory where files can be created. os.access says yes to root even
    where nothing can be created (/sys, a read-only mount), so a file is created to know."""
    if not os.path.isdir(out_dir):
        raise PlotError(f"--out '{out_dir}': not a directory")
    import tempfile
    try:
        with tempfile.TemporaryFile(dir=out_dir):
            pass
    except OSError as error:
        raise PlotError(f"--out '{out_dir}': not writable ({error.strerror})")


def save_figure(figure, path, plt):
    """Writes the PNG under a temporary name and renames it: never a truncated figure."""
    temporary = path + ".tmp"
    try:
        # A tight box keeps the legends placed beside the axes (matplotlib 3.6 of Debian 12
        # has no "outside" legend location).
        figure.savefig(temporary, dpi=100, format="png", bbox_inches="tight")
        os.replace(temporary, path)
    except OSError as error:
        if os.path.exists(temporary):
            os.remove(temporary)
        raise PlotError(f"cannot write '{path}' ({error.strerror})")
    finally:
        plt.close(figure)
    return path


def safe(name):
    return "".join(c if c.isalnum() or c in "-_.+" else "_" for c in name)


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a usage mistake is one line on stderr (exit 2), as in kappa."""

    def error(self, message):
        self.exit(2, f"{self.prog}: {message} (see --help)\n")


def main(argv):
    parser = OneLineParser(prog="plot_study.py", description=" ".join(__doc__.split("\n\n")[0].split()))
    parser.add_argument("results", help="results file of kappa study (.h5)")
    parser.add_argument("--profiles", action="store_true",
                        help="performance and data profiles of `kappa report --profiles` for --target")
    parser.add_argument("--curves", action="store_true",
                        help="median and quartile curves per optimizer, status markers at the run ends")
    parser.add_argument("--heatmap", nargs=2, action="append", metavar=("AXIS_X", "AXIS_Y"), default=[],
                        help="heatmap over two axes (repeatable; A+B combines axes, e.g. formulation+preconditioner)")
    parser.add_argument("--agg", choices=AGGREGATES, default="share",
                        help="heatmap cells: share of the tasks reaching --target (default), min or median final --metric")
    parser.add_argument("--target", default="rel_w_err<=1e-6", metavar="METRIC<=VALUE",
                        help="what reaching w* means (kappa report's --target; default rel_w_err<=1e-6)")
    parser.add_argument("--table", action="store_true",
                        help="print the aggregates of `kappa report` (same --where, --by, --metric) as tab-separated lines")
    parser.add_argument("--by", action="append", default=[], metavar="AXIS",
                        help="--table: the per-axis groups of this axis or column (repeatable; default: every axis)")
    parser.add_argument("--metric", default="relative_weight_error",
                        help="column (--agg min|median, --table) or trace column (curves: relative_weight_error, loss, grad_norm)")
    parser.add_argument("--color-by", metavar="AXIS", help="curves: one median curve and colour per value of this axis (default optimizer)")
    parser.add_argument("--facet", metavar="AXIS",
                        help="curves: one panel per value of this axis or A+B (default formulation+preconditioner, those that vary)")
    parser.add_argument("--where", action="append", default=[], metavar="KEY=VALUE",
                        help="keep only the tasks with this value (repeatable; all must hold), e.g. preconditioner=none")
    parser.add_argument("--kappa", metavar="PATH", help="kappa for the profiles (default: build/bin/kappa of this tree, else on the PATH)")
    parser.add_argument("--csv", action="store_true", help="also write the numbers of each figure, FIGURE.csv beside it")
    parser.add_argument("--out", metavar="DIR", help="directory of the PNG files, created if missing (default: beside the results file)")
    args = parser.parse_args(argv)
    chosen = args.profiles or args.curves or bool(args.heatmap)
    if args.table and chosen:
        parser.error("--table prints text: give it without --profiles, --curves and --heatmap")
    if args.by and not args.table:
        parser.error("--by selects the groups of --table")
    for axis_x, axis_y in args.heatmap:
        if column_of_key(axis_x) == column_of_key(axis_y):
            parser.error(f"--heatmap {axis_x} {axis_y}: the two axes must differ")
    created = None
    try:
        target = Target(args.target)
        np, h5py, plt = load_libraries(plots=not args.table)
        results = Results(args.results, np, h5py, traces=not args.table)
        if args.table:  # the report's order of checks: columns, metric, --where, --by
            for needed in ("optimizer", "status", "iterations", "epochs", "method_class"):
                if needed not in results.columns:
                    raise PlotError(f"results file '{args.results}' has no column '{needed}'")
            results.check_metric(args.metric)
            rows = results.select(args.where)
            print_table(results.summary(rows, args.by, args.metric))
            return 0
        # Without a choice: the figures that say which combinations reach the target.
        profiles, curves = (args.profiles, args.curves) if chosen else (True, True)
        for spec in [args.color_by, args.facet] + [s for pair in args.heatmap for s in pair]:
            if spec:  # every axis is checked before anything is drawn
                axes_of(results, spec)
        if results.rows == 0:
            raise PlotError(f"results file '{args.results}' has no finished task yet")
        rows = results.select(args.where)
        heatmaps = list(args.heatmap)
        if not chosen:
            heatmaps = [pair for pair in [default_heatmap(results, rows)] if pair]
        if heatmaps and args.agg != "share":
            results.check_metric(args.metric)
        if heatmaps and args.agg == "share" or profiles:
            reached(results, rows[:1], target)  # the target names a numeric column
        kappa = find_kappa(args.kappa) if profiles else None
        out_dir = args.out or os.path.dirname(os.path.abspath(args.results))
        if not os.path.exists(out_dir):
            top = os.path.abspath(out_dir)  # the outermost directory this run creates
            while not os.path.exists(os.path.dirname(top)):
                top = os.path.dirname(top)
            try:
                os.makedirs(out_dir)
            except OSError as error:
                raise PlotError(f"--out '{out_dir}': cannot create it ({error.strerror})")
            created = top
        require_writable_directory(out_dir)
        written = []
        try:
            if profiles:
                written += plot_profiles(results, kappa, args.where, target, out_dir, plt, np, args.csv)
            if curves:
                written += plot_curves(results, rows, args.metric, args.color_by, args.facet, target, out_dir, plt, np, args.csv)
            for axis_x, axis_y in heatmaps:
                written += plot_heatmap(results, rows, axis_x, axis_y, args.agg, args.metric, target, out_dir, plt, np, args.csv)
        except BaseException:
            for path in written:  # all the figures or none: never a partial set
                os.remove(path)
            raise
    except (UsageMistake, PlotError) as error:
        if created and os.path.isdir(created) and not any(files for _, _, files in os.walk(created)):
            import shutil
            shutil.rmtree(created, ignore_errors=True)  # a failed run leaves no trace, not even its --out
        print(f"plot_study.py: {error}", file=sys.stderr)
        return 2 if isinstance(error, UsageMistake) else 1
    for path in written:
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
