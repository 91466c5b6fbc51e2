#!/usr/bin/python3
"""PNG figures from the results file of `kappa study` (layout: docs/study.md, format version 1).

  plot_study.py RESULTS.h5 --curves                       convergence curves, one panel per optimizer
  plot_study.py RESULTS.h5 --heatmap synthetic.cond sgd.batch_size
                                                          median final metric over two axes, per optimizer
  options: --metric COLUMN (relative_weight_error), --color-by AXIS (curves), --where KEY=VALUE
           (keep only those tasks; repeatable), --out DIR (default: beside the results file)

Curves: every task's trace (metric against data passes, log-log), coloured by the value of one
axis. Heatmaps: the median over the tasks of each cell (repeats and the axes not shown) of the
final value of the metric, log colour scale, the value written in each cell. Needs the system
python3 with python3-numpy, python3-h5py and python3-matplotlib (docs/studies-howto.md).
A mistake is one line on stderr: exit 2 for a usage mistake (unknown option, the same axis twice
in --heatmap), 1 for the others (missing file, not a results file, unknown axis); no figure is
left behind by a run that fails.
"""

import argparse
import math
import os
import sys

FORMAT = "kappa study results"
FORMAT_VERSION = 1
TRACE_METRICS = ("relative_weight_error", "loss", "grad_norm")


class PlotError(Exception):
    """A mistake of the user or the input file: reported as one line."""


def load_libraries():
    try:
        import numpy
        import h5py
        import matplotlib
    except ImportError as error:
        raise PlotError(f"{error.name} is missing: run with /usr/bin/python3 and install python3-numpy, "
                        "python3-h5py and python3-matplotlib")
    matplotlib.use("Agg")  # files only, no display needed
    import matplotlib.pyplot
    return numpy, h5py, matplotlib.pyplot


class Results:
    """The /tasks columns, /traces columns and /axes of a results file, read into memory."""

    def __init__(self, path, np, h5py):
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
                self.columns = {}
                for name in tasks.attrs["columns"].split(","):
                    data = tasks[name]
                    self.columns[name] = data.asstr()[()] if data.dtype.kind == "O" else data[()]
                self.traces = {name: f["traces"][name][()] for name in f["traces"]}
                self.axes = []  # (name, values as written in the grid), in grid order
                if "axes" in f:
                    order = f["axes"].attrs.get("order", "")
                    for name in [n for n in order.split(",") if n]:
                        self.axes.append((name, list(f["axes"][name].asstr()[()])))
                self.grid_file = str(f.attrs.get("grid_file", ""))
        except PlotError:
            raise
        except (OSError, KeyError, ValueError) as error:
            raise PlotError(f"'{path}' is not a readable kappa study results file ({error})")
        self.path = path
        self.rows = len(self.columns.get("task", []))
        self.np = np

    @staticmethod
    def column_name(axis):
        """The /tasks column that holds an axis: its own name, but 'synthetic' is 'data'."""
        return "data" if axis == "synthetic" else axis

    def column_of(self, axis):
        """The /tasks column of an axis or column name, checked to exist."""
        name = Results.column_name(axis)
        if name not in self.columns:
            names = ", ".join(a for a, _ in self.axes) or "none"
            raise PlotError(f"'{axis}' is not an axis or column of '{self.path}' (axes: {names})")
        return name

    def grid_values(self, axis):
        for name, values in self.axes:
            if name == axis:
                return values
        return []

    def select(self, where):
        """Indices of the rows that match every KEY=VALUE (numbers compared as numbers)."""
        keep = self.np.ones(self.rows, dtype=bool)
        for condition in where:
            if "=" not in condition:
                raise PlotError(f"--where '{condition}': expected KEY=VALUE")
            key, value = condition.split("=", 1)
            column = self.columns[self.column_of(key)]
            keep &= self.np.array([same_value(cell, value) for cell in column], dtype=bool)
        if not keep.any():
            raise PlotError(f"no task of '{self.path}' matches {' '.join(where)}")
        return self.np.flatnonzero(keep)


def as_number(text):
    try:
        return float(text)
    except (TypeError, ValueError):
        return None


def same_value(cell, text):
    number, wanted = as_number(cell), as_number(text)  # NaN never equals: not applicable
    if number is not None and wanted is not None:
        return number == wanted
    return str(cell) == text


def applies(cell):
    """A key that does not apply to a task leaves its cell NaN or '' (docs/study.md)."""
    if isinstance(cell, str):
        return cell != ""
    return not (isinstance(cell, float) and math.isnan(cell))


def label(cell, written=()):
    """How a value is shown: as the grid wrote it (1e4 rather than 10000) when it did."""
    for text in written:
        if matches_written(cell, text):
            return text
    return cell if isinstance(cell, str) else f"{float(cell):g}"


def cell_key(cell):
    """A hashable key of a cell: numbers by value (1e-3 and 0.001 are one), text as it is."""
    return ("text", cell) if isinstance(cell, str) else ("number", float(cell))


def matches_written(cell, written):
    """Whether a cell holds the value the grid wrote as `written`: numbers as numbers (a text
    column such as lr = 1e-8 ... auto stores '1e-08'), other text as it is."""
    return same_value(cell, written)


def ordered_values(results, axis, column, rows):
    """The distinct values of an axis in these rows: in the grid's order where the grid spells
    them, numbers in increasing order otherwise, text in order of appearance."""
    seen = {}
    for r in rows:
        cell = results.columns[column][r]
        if applies(cell):
            seen.setdefault(cell_key(cell), cell)
    grid = results.grid_values(axis)

    def order(cell):
        for position, written in enumerate(grid):
            if matches_written(cell, written):
                return (position, 0.0)
        return (len(grid), 0.0 if isinstance(cell, str) else float(cell))

    return sorted(seen.values(), key=order)


def optimizers_in(results, rows):
    names = []
    for r in rows:
        name = results.columns["optimizer"][r]
        if name not in names:
            names.append(name)
    grid = results.grid_values("optimizer")
    return sorted(names, key=lambda n: grid.index(n) if n in grid else len(grid))


def panel_grid(count):
    columns = min(count, 3)
    return (count + columns - 1) // columns, columns


def plot_curves(results, rows, metric, color_by, out_dir, plt, np):
    if metric not in TRACE_METRICS:
        raise PlotError(f"--metric '{metric}': the traces have {', '.join(TRACE_METRICS)} (curves need one of them)")
    optimizers = optimizers_in(results, rows)
    if color_by is None:  # the first axis other than the optimizer
        color_by = next((a for a, _ in results.axes if a != "optimizer"), None)
    color_column = results.column_of(color_by) if color_by else None
    starts, lengths = results.columns["trace_start"], results.columns["trace_length"]

    values = ordered_values(results, color_by, color_column, rows) if color_column else []
    index_of = {cell_key(v): i for i, v in enumerate(values)}
    colors = plt.get_cmap("viridis")(np.linspace(0, 0.9, max(len(values), 1)))
    grid_rows, grid_columns = panel_grid(len(optimizers))
    figure, panels = plt.subplots(grid_rows, grid_columns, figsize=(5 * grid_columns, 3.8 * grid_rows),
                                  squeeze=False, sharey=True, constrained_layout=True)
    plotted = 0
    for o, name in enumerate(optimizers):
        ax = panels[o // grid_columns][o % grid_columns]
        labelled = set()
        for r in rows:
            if results.columns["optimizer"][r] != name:
                continue
            part = slice(starts[r], starts[r] + lengths[r])
            x, y = results.traces["epochs"][part], results.traces[metric][part]
            keep = (x > 0) & np.isfinite(y) & (y > 0)
            if not keep.any():
                continue
            color, legend = "tab:blue", None
            if color_column is not None:
                cell = results.columns[color_column][r]
                index = index_of.get(cell_key(cell)) if applies(cell) else None
                if index is not None:
                    color = colors[index]
                    legend = f"{color_by}={label(values[index], results.grid_values(color_by))}" if index not in labelled else None
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


def plot_heatmap(results, rows, axis_x, axis_y, metric, out_dir, plt, np):
    column_x, column_y = results.column_of(axis_x), results.column_of(axis_y)
    if metric not in results.columns or results.columns[metric].dtype.kind not in "fi":
        raise PlotError(f"--metric '{metric}': not a numeric column of '{results.path}'")
    from matplotlib.colors import LogNorm

    panels_data = []
    for name in optimizers_in(results, rows):
        mine = [r for r in rows if results.columns["optimizer"][r] == name
                and applies(results.columns[column_x][r]) and applies(results.columns[column_y][r])]
        if not mine:
            continue  # the axes do not apply to this optimizer (e.g. sgd.lr for adam)
        xs = ordered_values(results, axis_x, column_x, mine)
        ys = ordered_values(results, axis_y, column_y, mine)
        x_of = {cell_key(v): i for i, v in enumerate(xs)}
        y_of = {cell_key(v): i for i, v in enumerate(ys)}
        cells = {}
        for r in mine:
            x, y = x_of[cell_key(results.columns[column_x][r])], y_of[cell_key(results.columns[column_y][r])]
            cells.setdefault((y, x), []).append(float(results.columns[metric][r]))
        grid = np.full((len(ys), len(xs)), np.nan)
        for (y, x), values in cells.items():
            finite = [v for v in values if not math.isnan(v)]
            if finite:
                grid[y, x] = np.median(finite)
        panels_data.append((name, xs, ys, grid))
    if not panels_data:
        raise PlotError(f"no optimizer of '{results.path}' has both '{axis_x}' and '{axis_y}'")

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
        ax.set_xticklabels([label(v, results.grid_values(axis_x))[:14] for v in xs], rotation=45, ha="right", fontsize="small")
        ax.set_yticks(range(len(ys)))
        ax.set_yticklabels([label(v, results.grid_values(axis_y))[:14] for v in ys], fontsize="small")
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
    parser.add_argument("--metric", default="relative_weight_error",
                        help="column (heatmaps) or trace column (curves: relative_weight_error, loss, grad_norm)")
    parser.add_argument("--color-by", metavar="AXIS", help="colour the curves by this axis (default: the first axis)")
    parser.add_argument("--where", action="append", default=[], metavar="KEY=VALUE",
                        help="keep only the tasks with this value (repeatable), e.g. preconditioner=none")
    parser.add_argument("--out", metavar="DIR", help="directory of the PNG files (default: beside the results file)")
    args = parser.parse_args(argv)
    if not args.curves and not args.heatmap:
        parser.error("nothing to plot: give --curves and/or --heatmap AXIS_X AXIS_Y")
    for axis_x, axis_y in args.heatmap:
        if Results.column_name(axis_x) == Results.column_name(axis_y):
            parser.error(f"--heatmap {axis_x} {axis_y}: the two axes must differ")
    try:
        np, h5py, plt = load_libraries()
        results = Results(args.results, np, h5py)
        if args.color_by:
            results.column_of(args.color_by)
        for axis_x, axis_y in args.heatmap:  # every axis is checked before anything is drawn
            results.column_of(axis_x)
            results.column_of(axis_y)
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
    except PlotError as error:
        print(f"plot_study.py: {error}", file=sys.stderr)
        return 1
    for path in written:
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
