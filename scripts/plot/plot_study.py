#!/usr/bin/python3
"""PNG figures, or the report's aggregates as text, from the results file of `kappa study`.

  plot_study.py RESULTS.h5 --curves                       convergence curves, one panel per optimizer
  plot_study.py RESULTS.h5 --heatmap synthetic.cond sgd.batch_size
                                                          median final metric over two axes, per optimizer
  plot_study.py RESULTS.h5 --table [--by AXIS]...         what `kappa report` aggregates, tab-separated
  options: --metric COLUMN (relative_weight_error), --color-by AXIS (curves), --where KEY=VALUE
           (keep only those tasks; repeatable), --out DIR (default: beside the results file)

Which tasks --where keeps (KEY=VALUE: numbers compared as numbers only in numeric columns, text
as the file stores it; several --where must all hold), which columns are axes, how an axis's
values are grouped, ordered and labelled, which statuses count as converged, what the medians
are taken over (NaN ignored, every other task counts) and which rows are the exact solves: the
rules of `kappa report`, written once in docs/report-semantics.md and implemented here in the
section "The report's rules". tests/report/semantics_test.py checks that `--table` prints the
same groups, counts and medians as `kappa report` for the same --where, --by and --metric.

Curves: every task's trace (metric against data passes, log-log), coloured by the value of one
axis. Heatmaps: the median over the tasks of each cell (repeats and the axes not shown) of the
final value of the metric, log colour scale, the value written in each cell. --table: one line
per aggregate (docs/report-semantics.md, "plot_study.py --table"), no figure. Needs the system
python3 with python3-numpy and python3-h5py, and python3-matplotlib for the figures
(docs/studies-howto.md). A mistake is one line on stderr: exit 2 for a usage mistake (unknown
option, the same axis twice in --heatmap, a --where without '='), 1 for the others (missing
file, not a results file, unknown axis, no task matching --where); no figure is left behind by
a run that fails.
"""

import argparse
import math
import os
import re
import sys

FORMAT = "kappa study results"
FORMAT_VERSION = 4  # kStudyFormatVersion (lib/study/schema.hpp)
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
        self.axes = [Axis(name, column_of_key(name), values) for name, values in self.file_axes
                     if len(values) >= 2 and name != "zip" and column_of_key(name) in self.columns]

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
        text (a text column's cells as stored, e.g. '0.001' for a grid's 1e-3)."""
        rows = list(range(self.rows))
        for condition in where:
            if "=" not in condition:
                raise UsageMistake(f"--where '{condition}': expected KEY=VALUE")
            key, value = condition.split("=", 1)
            column = column_of_key(key)
            if column not in self.columns:
                raise PlotError(f"--where '{condition}': no column '{column}' in '{self.path}'")
            cells = self.cells(column)
            number = as_number(value) if self.kinds[column] != "text" else None
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


def plot_curves(results, rows, metric, color_by, out_dir, plt, np):
    if metric not in TRACE_METRICS:
        raise PlotError(f"--metric '{metric}': the traces have {', '.join(TRACE_METRICS)} (curves need one of them)")
    optimizers = results.optimizer_order(rows)
    if color_by is None:  # the first axis other than the optimizer
        axis = next((a for a in results.axes if a.column != "optimizer"), None)
    else:
        axis = results.find_axis(color_by)
    starts, lengths = results.columns["trace_start"], results.columns["trace_length"]

    values, label_of = results.labels(axis, rows) if axis else ([], {})
    index_of = {label: i for i, label in enumerate(values)}
    colors = plt.get_cmap("viridis")(np.linspace(0, 0.9, max(len(values), 1)))
    grid_rows, grid_columns = panel_grid(len(optimizers))
    figure, panels = plt.subplots(grid_rows, grid_columns, figsize=(5 * grid_columns, 3.8 * grid_rows),
                                  squeeze=False, sharey=True, constrained_layout=True)
    plotted = 0
    names = results.cells("optimizer")
    for o, name in enumerate(optimizers):
        ax = panels[o // grid_columns][o % grid_columns]
        labelled = set()
        for r in rows:
            if names[r] != name:
                continue
            part = slice(starts[r], starts[r] + lengths[r])
            x, y = results.traces["epochs"][part], results.traces[metric][part]
            keep = (x > 0) & np.isfinite(y) & (y > 0)
            if not keep.any():
                continue
            color, legend = "tab:blue", None
            if axis is not None:
                cell = results.cells(axis.column)[r]
                index = index_of[label_of[text_of(cell)]] if applies(cell) else None
                if index is not None:
                    color = colors[index]
                    legend = f"{axis.name}={values[index]}" if index not in labelled else None
                    labelled.add(index)
                else:
                    color, legend = "0.6", None
            ax.plot(x[keep], y[keep], color=color, alpha=0.7, linewidth=1, label=legend)
            plotted += 1
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_title(name)
        ax.set_xlabel("data passes (epochs)")
        ax.set_ylabel(metric)
        ax.grid(True, which="major", alpha=0.3)
        if labelled:
            ax.legend(fontsize="x-small")
    for o in range(len(optimizers), grid_rows * grid_columns):
        panels[o // grid_columns][o % grid_columns].set_visible(False)
    if plotted == 0:
        plt.close(figure)
        raise PlotError(f"no task of '{results.path}' has a positive finite {metric} in its trace")
    figure.suptitle(f"{os.path.basename(results.path)}: {metric} per task")
    path = os.path.join(out_dir, f"curves_{metric}.png")
    save_figure(figure, path, plt)
    return path


def heatmap_panels(results, rows, axis_x, axis_y, metric):
    """Per optimizer (the report's order) to which both axes apply: its x and y labels (the
    report's values of the axes in all selected rows, those this optimizer has) and the median
    of the metric over the tasks of each cell, NaN where there is none."""
    axis_x, axis_y = results.find_axis(axis_x), results.find_axis(axis_y)
    results.check_metric(metric)
    order_x, label_x = results.labels(axis_x, rows)
    order_y, label_y = results.labels(axis_y, rows)
    cells_x, cells_y, names = results.cells(axis_x.column), results.cells(axis_y.column), results.cells("optimizer")
    panels = []
    for name in results.optimizer_order(rows):
        mine = [r for r in rows if names[r] == name and applies(cells_x[r]) and applies(cells_y[r])]
        if not mine:
            continue  # the axes do not apply to this optimizer (e.g. sgd.lr for adam)
        groups = {}
        for r in mine:
            groups.setdefault((label_y[text_of(cells_y[r])], label_x[text_of(cells_x[r])]), []).append(
                real_of(results.cells(metric)[r]))
        xs = [x for x in order_x if any(key[1] == x for key in groups)]
        ys = [y for y in order_y if any(key[0] == y for key in groups)]
        grid = [[median(groups.get((y, x), [])) for x in xs] for y in ys]
        panels.append((name, xs, ys, grid))
    if not panels:
        raise PlotError(f"no optimizer of '{results.path}' has both '{axis_x.name}' and '{axis_y.name}'")
    return panels


def plot_heatmap(results, rows, axis_x, axis_y, metric, out_dir, plt, np):
    from matplotlib.colors import LogNorm

    panels_data = [(name, xs, ys, np.array(grid, dtype=float).reshape(len(ys), len(xs)))
                   for name, xs, ys, grid in heatmap_panels(results, rows, axis_x, axis_y, metric)]
    positive = np.concatenate([g[np.isfinite(g) & (g > 0)] for _, _, _, g in panels_data])
    norm = LogNorm(vmin=positive.min(), vmax=max(positive.max(), positive.min() * 10)) if positive.size else None
    grid_rows, grid_columns = panel_grid(len(panels_data))
    figure, panels = plt.subplots(grid_rows, grid_columns, figsize=(5.2 * grid_columns, 4.2 * grid_rows), squeeze=False,
                                  constrained_layout=True)
    image = None
    for p, (name, xs, ys, grid) in enumerate(panels_data):
        ax = panels[p // grid_columns][p % grid_columns]
        shown = np.where(np.isfinite(grid) & (grid > 0), grid, np.nan) if norm else grid
        image = ax.imshow(shown, norm=norm, cmap="viridis_r", aspect="auto", origin="lower")
        ax.set_xticks(range(len(xs)))
        ax.set_xticklabels([x[:14] for x in xs], rotation=45, ha="right", fontsize="small")
        ax.set_yticks(range(len(ys)))
        ax.set_yticklabels([y[:14] for y in ys], fontsize="small")
        ax.set_xlabel(axis_x)
        ax.set_ylabel(axis_y)
        ax.set_title(name)
        if len(xs) * len(ys) <= 100:  # values in the cells while they stay readable
            for y in range(len(ys)):
                for x in range(len(xs)):
                    text = "-" if math.isnan(grid[y, x]) else f"{grid[y, x]:.1e}"
                    ax.text(x, y, text, ha="center", va="center", fontsize="x-small", color="white" if norm and
                            math.isfinite(grid[y, x]) and grid[y, x] > 0 and norm(grid[y, x]) > 0.5 else "black")
    for p in range(len(panels_data), grid_rows * grid_columns):
        panels[p // grid_columns][p % grid_columns].set_visible(False)
    if image is not None and norm is not None:
        figure.colorbar(image, ax=panels.ravel().tolist(), label=f"median final {metric}")
    figure.suptitle(f"{os.path.basename(results.path)}: median final {metric}")
    path = os.path.join(out_dir, f"heatmap_{safe(axis_x)}_{safe(axis_y)}_{metric}.png")
    save_figure(figure, path, plt)
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
        figure.savefig(temporary, dpi=100, format="png")
        os.replace(temporary, path)
    except OSError as error:
        if os.path.exists(temporary):
            os.remove(temporary)
        raise PlotError(f"cannot write '{path}' ({error.strerror})")
    finally:
        plt.close(figure)


def safe(name):
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a usage mistake is one line on stderr (exit 2), as in kappa."""

    def error(self, message):
        self.exit(2, f"{self.prog}: {message} (see --help)\n")


def main(argv):
    parser = OneLineParser(prog="plot_study.py", description=__doc__.split("\n")[0])
    parser.add_argument("results", help="results file of kappa study (.h5)")
    parser.add_argument("--curves", action="store_true", help="convergence curves per optimizer")
    parser.add_argument("--heatmap", nargs=2, action="append", metavar=("AXIS_X", "AXIS_Y"), default=[],
                        help="heatmap of the median final metric over two axes (repeatable)")
    parser.add_argument("--table", action="store_true",
                        help="print the aggregates of `kappa report` (same --where, --by, --metric) as tab-separated lines")
    parser.add_argument("--by", action="append", default=[], metavar="AXIS",
                        help="--table: the per-axis groups of this axis or column (repeatable; default: every axis)")
    parser.add_argument("--metric", default="relative_weight_error",
                        help="column (heatmaps, --table) or trace column (curves: relative_weight_error, loss, grad_norm)")
    parser.add_argument("--color-by", metavar="AXIS", help="colour the curves by this axis (default: the first axis)")
    parser.add_argument("--where", action="append", default=[], metavar="KEY=VALUE",
                        help="keep only the tasks with this value (repeatable; all must hold), e.g. preconditioner=none")
    parser.add_argument("--out", metavar="DIR", help="directory of the PNG files (default: beside the results file)")
    args = parser.parse_args(argv)
    if args.table and (args.curves or args.heatmap):
        parser.error("--table prints text: give it without --curves and --heatmap")
    if not args.table and not args.curves and not args.heatmap:
        parser.error("nothing to do: give --curves, --heatmap AXIS_X AXIS_Y or --table")
    if args.by and not args.table:
        parser.error("--by selects the groups of --table")
    for axis_x, axis_y in args.heatmap:
        if column_of_key(axis_x) == column_of_key(axis_y):
            parser.error(f"--heatmap {axis_x} {axis_y}: the two axes must differ")
    try:
        np, h5py, plt = load_libraries(plots=not args.table)
        results = Results(args.results, np, h5py, traces=args.curves)
        if args.table:  # the report's order of checks: columns, metric, --where, --by
            for needed in ("optimizer", "status", "iterations", "epochs", "method_class"):
                if needed not in results.columns:
                    raise PlotError(f"results file '{args.results}' has no column '{needed}'")
            results.check_metric(args.metric)
            rows = results.select(args.where)
            print_table(results.summary(rows, args.by, args.metric))
            return 0
        if args.color_by:
            results.find_axis(args.color_by)
        for axis_x, axis_y in args.heatmap:  # every axis is checked before anything is drawn
            results.find_axis(axis_x)
            results.find_axis(axis_y)
        if results.rows == 0:
            raise PlotError(f"results file '{args.results}' has no finished task yet")
        rows = results.select(args.where)
        out_dir = args.out or os.path.dirname(os.path.abspath(args.results))
        require_writable_directory(out_dir)
        written = []
        try:
            if args.curves:
                written.append(plot_curves(results, rows, args.metric, args.color_by, out_dir, plt, np))
            for axis_x, axis_y in args.heatmap:
                written.append(plot_heatmap(results, rows, axis_x, axis_y, args.metric, out_dir, plt, np))
        except BaseException:
            for path in written:  # all the figures or none: never a partial set
                os.remove(path)
            raise
    except UsageMistake as error:
        print(f"plot_study.py: {error}", file=sys.stderr)
        return 2
    except PlotError as error:
        print(f"plot_study.py: {error}", file=sys.stderr)
        return 1
    for path in written:
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
