// kappa report: a summary of a study's results file (docs/studies-howto.md). For each optimizer,
// and for each value of each axis of the grid, the share of tasks that converged, the median of
// a metric (relative weight error by default), the median iterations and data passes, and the
// failed and diverged counts; then the best grid point per optimizer. It reads the file through
// read_results_file, so it works on the file of a study that is still running or was killed:
// that file is always complete on disk (docs/study.md), and its journal adds the rows saved since.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iomanip>
#include <iostream>
#include <limits>
#include <map>
#include <set>
#include <sstream>

#include <kappa/monitor.hpp>
#include <kappa/optimizer.hpp>
#include <kappa/parse.hpp>
#include "study/grid.hpp"
#include "study/results.hpp"
#include "study/schema.hpp"

#include "cli.hpp"

namespace kappa::cli {
namespace {

constexpr const char* usage = R"(usage: kappa report RESULTS.h5 [--by AXIS]... [--where KEY=VALUE]... [--metric COLUMN]

Summarizes the results file of `kappa study` (also one that is still being written, or of a
study that was stopped). First per optimizer, then per value of each axis of the grid and
optimizer: tasks, the share that converged (a converged-* status), the failed and diverged
counts, and the medians of the metric, of the iterations and of the data passes (epochs).
Then the best grid point of each optimizer: the lowest median of the metric over its
repeats, with its axis values. Medians ignore NaN (a task whose problem could
not be built has none). docs/studies-howto.md explains the tables. Example:
  kappa report build/laptop.h5 --by synthetic.width --where preconditioner=none --metric test_mae)";

struct ReportOptions {
  std::string file;
  std::vector<std::string> by;
  std::vector<std::string> where;
  std::string metric = column_name(&TaskOutcome::relative_weight_error);
};

const double nan = std::numeric_limits<double>::quiet_NaN();

// The columns the report reads, named by the results schema (study/schema.hpp).
constexpr const char* kOptimizerColumn = column_name(PlanColumn::optimizer);
constexpr const char* kDataColumn = column_name(PlanColumn::data);
constexpr const char* kStatusColumn = column_name(&TaskOutcome::status);
constexpr const char* kIterationsColumn = column_name(&TaskOutcome::iterations);
constexpr const char* kEpochsColumn = column_name(&TaskOutcome::epochs);
constexpr const char* kMethodClassColumn = column_name(&TaskOutcome::method_class);
constexpr const char* kWeightErrorColumn = column_name(&TaskOutcome::relative_weight_error);

// Column lookup by name in a results file.
class Columns {
 public:
  explicit Columns(const std::vector<ColumnSpec>& columns) : columns_(columns) {
    for (std::size_t c = 0; c < columns.size(); ++c) index_.emplace(columns[c].name, c);
  }
  bool has(const std::string& name) const { return index_.count(name) > 0; }
  std::size_t at(const std::string& name) const {
    const auto found = index_.find(name);
    if (found == index_.end()) throw InputError("column '" + name + "' is missing");
    return found->second;
  }
  ColumnType type(const std::string& name) const { return columns_[at(name)].type; }
  std::vector<std::string> names() const {
    std::vector<std::string> names;
    for (const ColumnSpec& column : columns_) names.push_back(column.name);
    return names;
  }

 private:
  const std::vector<ColumnSpec>& columns_;
  std::map<std::string, std::size_t> index_;
};

double real_of(const Cell& cell) {
  if (const auto* value = std::get_if<double>(&cell)) return *value;
  if (const auto* value = std::get_if<long long>(&cell)) return static_cast<double>(*value);
  return nan;
}

std::string text_of(const Cell& cell) {
  if (const auto* value = std::get_if<std::string>(&cell)) return *value;
  return cell_text(cell);
}

// A key that does not apply to a row leaves its cell empty: NaN or "" (docs/study.md).
bool applies(const Cell& cell) {
  if (const auto* value = std::get_if<double>(&cell)) return !std::isnan(*value);
  if (const auto* value = std::get_if<std::string>(&cell)) return !value->empty();
  return true;
}

bool is_number(const std::string& text, double& value) {
  if (text.empty()) return false;
  char* end = nullptr;
  value = std::strtod(text.c_str(), &end);
  return end == text.c_str() + text.size();
}

// Median of the values that are not NaN (+-inf count: a diverged run's error is real); NaN when
// there are none.
double median(std::vector<double> values) {
  values.erase(std::remove_if(values.begin(), values.end(), [](double v) { return std::isnan(v); }), values.end());
  if (values.empty()) return nan;
  std::sort(values.begin(), values.end());
  const std::size_t half = values.size() / 2;
  return values.size() % 2 ? values[half] : (values[half - 1] + values[half]) / 2;
}

// The converged statuses, as the header line names them: "converged-gradient, ... or converged-precision".
std::string converged_statuses() {
  std::vector<std::string> names;
  for (const Status status : all_statuses())
    if (is_converged(status)) names.push_back(to_string(status));
  const std::string last = names.back();
  names.pop_back();
  return join(names, ", ") + " or " + last;
}

std::string scientific(double value) {
  if (std::isnan(value)) return "-";
  char text[32];
  std::snprintf(text, sizeof text, "%.3e", value);
  return text;
}

std::string plain(double value) { return std::isnan(value) ? "-" : format_number(value); }

// A shorter name of a metric for table headers.
std::string short_name(const std::string& metric) {
  if (metric == kWeightErrorColumn) return "rel_w_err";
  return metric;
}

// One axis of the report: a column, and how its values are shown and ordered.
struct Axis {
  std::string name;    // as in the grid ("synthetic.cond", "adam.lr", "preconditioner")
  std::string column;  // the results column ("data" for the grid key "synthetic")
  std::vector<std::string> grid_values;  // as written in the grid, for order and spelling
};

// The column of a grid key: "data" for "synthetic" (the final specs), else the key itself.
std::string column_of_key(const std::string& key) { return key == "synthetic" ? kDataColumn : key; }

// The axes of the grid the file was written for: its keys with several values (docs/study.md).
// The grid text is in the file; a grid this kappa cannot parse (another version) has none.
std::vector<Axis> grid_axes(const ResultsFile& results, const Columns& columns) {
  std::vector<Axis> axes;
  GridFile grid;
  try {
    grid = parse_grid(results.grid_text, results.grid_file);
  } catch (const Error&) {
    return axes;
  }
  for (const GridEntry& entry : grid.entries) {
    if (entry.values.size() < 2 || entry.key == "zip") continue;
    const std::string column = column_of_key(entry.key);
    if (columns.has(column)) axes.push_back({entry.key, column, entry.values});
  }
  return axes;
}

// The values of an axis in the rows, in the grid's order (numbers compared as numbers) and
// spelling; values the grid does not spell (the final synthetic specs) in order of appearance.
struct AxisValue {
  std::string key;    // the cell text, for grouping
  std::string label;  // what the report shows
};

// Synthetic specs are long; of "kind=spectrum,n=60,cond=10" and "...,cond=1e4" show only the
// key=value items in which they differ ("cond=10", "cond=1e4").
std::vector<std::string> distinguishing_parts(const std::vector<std::string>& specs) {
  if (specs.size() < 2) return specs;
  std::vector<std::vector<std::string>> parts;
  std::map<std::string, std::size_t> count;
  for (const std::string& spec : specs) {
    std::vector<std::string> items;
    std::stringstream stream(spec);
    for (std::string item; std::getline(stream, item, ',');) items.push_back(item);
    std::set<std::string> unique(items.begin(), items.end());
    for (const std::string& item : unique) ++count[item];
    parts.push_back(items);
  }
  std::vector<std::string> labels;
  for (std::size_t s = 0; s < specs.size(); ++s) {
    std::vector<std::string> differing;
    for (const std::string& item : parts[s])
      if (count[item] < specs.size()) differing.push_back(item);
    labels.push_back(differing.empty() ? specs[s] : join(differing, ","));
  }
  return labels;
}

std::vector<AxisValue> axis_values(const Axis& axis, const ResultsFile& results, const Columns& columns) {
  const std::size_t c = columns.at(axis.column);
  std::vector<std::string> seen;  // in order of appearance
  std::set<std::string> known;
  for (const ResultsRow& row : results.rows) {
    if (!applies(row.cells[c])) continue;
    std::string key = text_of(row.cells[c]);
    if (known.insert(key).second) seen.push_back(std::move(key));
  }
  const auto grid_position = [&](const std::string& key) {
    double value = 0, grid_value = 0;
    const bool numeric = is_number(key, value);
    for (std::size_t g = 0; g < axis.grid_values.size(); ++g)
      if (axis.grid_values[g] == key || (numeric && is_number(axis.grid_values[g], grid_value) && grid_value == value)) return g;
    return axis.grid_values.size();
  };
  // Values the grid does not spell: numbers in increasing order, text in order of appearance.
  const bool numeric_column = columns.type(axis.column) != ColumnType::text;
  const auto order = [&](const std::string& key) {
    double value = 0;
    const double rank = numeric_column && is_number(key, value) ? value : 0.0;
    return std::make_pair(grid_position(key), rank);
  };
  std::stable_sort(seen.begin(), seen.end(), [&](const std::string& a, const std::string& b) { return order(a) < order(b); });
  const std::vector<std::string> shortened = axis.column == kDataColumn ? distinguishing_parts(seen) : seen;
  std::vector<AxisValue> values;
  for (std::size_t v = 0; v < seen.size(); ++v) {
    const std::size_t g = grid_position(seen[v]);
    // A measured column (--by condition_number): 6 significant digits, equal ones grouped.
    double number = 0;
    const std::string label = g < axis.grid_values.size() && axis.column != kDataColumn ? axis.grid_values[g]
                              : numeric_column && is_number(seen[v], number) ? format_number(number)
                                                                             : shortened[v];
    values.push_back({seen[v], label});
  }
  return values;
}

// Tasks of one group (an optimizer, an axis value and an optimizer, a grid point).
struct Group {
  std::size_t tasks = 0, converged = 0, failed = 0, diverged = 0;
  std::vector<double> metric, iterations, epochs;
};

class Summary {
 public:
  Summary(const ResultsFile& results, const Columns& columns, const std::string& metric)
      : results_(results), columns_(columns), status_(columns.at(kStatusColumn)), optimizer_(columns.at(kOptimizerColumn)),
        metric_(columns.at(metric)), iterations_(columns.at(kIterationsColumn)), epochs_(columns.at(kEpochsColumn)),
        method_class_(columns.at(kMethodClassColumn)) {}

  void add(Group& group, const ResultsRow& row) const {
    const Status status = parse_status(std::get<std::string>(row.cells[status_]));
    ++group.tasks;
    group.converged += is_converged(status);
    group.failed += status == Status::failed || status == Status::crashed;  // both: no result
    group.diverged += status == Status::diverged;
    group.metric.push_back(real_of(row.cells[metric_]));
    group.iterations.push_back(real_of(row.cells[iterations_]));
    group.epochs.push_back(real_of(row.cells[epochs_]));
  }
  std::string optimizer(const ResultsRow& row) const { return std::get<std::string>(row.cells[optimizer_]); }
  // An optimizer that declares itself an exact solve (MethodClass::direct).
  bool exact(const ResultsRow& row) const {
    return std::get<std::string>(row.cells[method_class_]) == to_string(MethodClass::direct);
  }
  double metric(const ResultsRow& row) const { return real_of(row.cells[metric_]); }
  const ResultsFile& results() const { return results_; }
  const Columns& columns() const { return columns_; }

 private:
  const ResultsFile& results_;
  const Columns& columns_;
  std::size_t status_, optimizer_, metric_, iterations_, epochs_, method_class_;
};

// The optimizers in the grid's order, then any others in order of appearance.
std::vector<std::string> optimizer_order(const Summary& summary, const std::vector<Axis>& axes) {
  std::vector<std::string> order;
  for (const Axis& axis : axes)
    if (axis.column == kOptimizerColumn) order = axis.grid_values;
  std::vector<std::string> present;
  for (const ResultsRow& row : summary.results().rows) {
    const std::string name = summary.optimizer(row);
    if (std::find(present.begin(), present.end(), name) == present.end()) present.push_back(name);
  }
  std::vector<std::string> result;
  for (const std::string& name : order)
    if (std::find(present.begin(), present.end(), name) != present.end()) result.push_back(name);
  for (const std::string& name : present)
    if (std::find(result.begin(), result.end(), name) == result.end()) result.push_back(name);
  return result;
}

// Prints `first` followed by the items, separated by `separator`, wrapped before column 100
// with continuation lines indented by `indent` blanks.
void print_wrapped(const std::string& first, const std::vector<std::string>& items, const std::string& separator,
                   std::size_t indent) {
  constexpr std::size_t width = 100;
  std::string line = first;
  for (std::size_t i = 0; i < items.size(); ++i) {
    const std::string item = items[i] + (i + 1 < items.size() ? separator : "");
    if (line.size() + item.size() > width && line.size() > indent) {
      std::cout << line.substr(0, line.find_last_not_of(' ') + 1) << '\n';
      line = std::string(indent, ' ');
    }
    line += item;
  }
  std::cout << line << '\n';
}

std::string fit(const std::string& text, std::size_t width) {
  if (text.size() <= width) return text;
  return "..." + text.substr(text.size() - (width - 3));
}

// One table: a leading label column (optional), then the optimizer and the statistics.
void print_table(const std::string& label_name, const std::vector<std::pair<std::string, std::string>>& keys,
                 const std::map<std::pair<std::string, std::string>, Group>& groups, const std::string& metric) {
  std::size_t label_width = label_name.size(), optimizer_width = 10;
  for (const auto& [label, optimizer] : keys) {
    label_width = std::max(label_width, label.size());
    optimizer_width = std::max(optimizer_width, optimizer.size());
  }
  // Fits in 100 columns with labels up to 15 characters (longer ones are cut from the left).
  label_width = std::min<std::size_t>(label_width, 15);
  optimizer_width = std::min<std::size_t>(optimizer_width, 12);
  const std::string median_metric = "median " + short_name(metric);
  const int metric_width = static_cast<int>(std::max<std::size_t>(18, median_metric.size() + 2));
  std::ostream& out = std::cout;
  const auto header = [&] {
    if (!label_name.empty()) out << std::left << std::setw(static_cast<int>(label_width) + 2) << fit(label_name, label_width);
    out << std::left << std::setw(static_cast<int>(optimizer_width)) << "optimizer" << std::right << std::setw(6) << "tasks"
        << std::setw(11) << "converged" << std::setw(8) << "failed" << std::setw(10) << "diverged" << std::setw(metric_width)
        << median_metric << std::setw(9) << "iters" << std::setw(10) << "epochs" << '\n';
  };
  header();
  for (const auto& key : keys) {
    const Group& group = groups.at(key);
    char share[16];
    std::snprintf(share, sizeof share, "%.2f", static_cast<double>(group.converged) / static_cast<double>(group.tasks));
    if (!label_name.empty()) out << std::left << std::setw(static_cast<int>(label_width) + 2) << fit(key.first, label_width);
    out << std::left << std::setw(static_cast<int>(optimizer_width)) << fit(key.second, optimizer_width) << std::right
        << std::setw(6) << group.tasks << std::setw(11) << share << std::setw(8) << group.failed << std::setw(10)
        << group.diverged << std::setw(metric_width) << scientific(median(group.metric)) << std::setw(9)
        << plain(median(group.iterations)) << std::setw(10) << plain(median(group.epochs)) << '\n';
  }
}

void print_by_optimizer(const Summary& summary, const std::vector<std::string>& optimizers, const std::string& metric) {
  std::map<std::pair<std::string, std::string>, Group> groups;
  std::vector<std::pair<std::string, std::string>> keys;
  for (const std::string& name : optimizers) keys.push_back({"", name});
  for (const ResultsRow& row : summary.results().rows) summary.add(groups[{"", summary.optimizer(row)}], row);
  std::cout << "\nby optimizer\n";
  print_table("", keys, groups, metric);
}

void print_by_axis(const Summary& summary, const Axis& axis, const std::vector<std::string>& optimizers,
                   const std::string& metric) {
  const std::vector<AxisValue> values = axis_values(axis, summary.results(), summary.columns());
  std::map<std::string, std::string> label_of;
  for (const AxisValue& value : values) label_of[value.key] = value.label;
  const std::size_t c = summary.columns().at(axis.column);
  std::map<std::pair<std::string, std::string>, Group> groups;
  std::size_t not_applicable = 0;
  for (const ResultsRow& row : summary.results().rows) {
    if (!applies(row.cells[c])) {
      ++not_applicable;
      continue;
    }
    summary.add(groups[{label_of.at(text_of(row.cells[c])), summary.optimizer(row)}], row);
  }
  std::vector<std::pair<std::string, std::string>> keys;
  for (const AxisValue& value : values)
    for (const std::string& optimizer : optimizers)
      if (groups.count({value.label, optimizer}) &&
          std::find(keys.begin(), keys.end(), std::make_pair(value.label, optimizer)) == keys.end())
        keys.push_back({value.label, optimizer});
  std::cout << "\nby " << axis.name;
  if (not_applicable) std::cout << " (" << not_applicable << " tasks to which it does not apply left out)";
  std::cout << '\n';
  print_table(axis.name, keys, groups, metric);
}

// The best grid point of each optimizer: the lowest median of the metric over its repeats.
void print_best(const Summary& summary, const std::vector<Axis>& axes, const std::vector<std::string>& optimizers,
                const std::string& metric) {
  std::map<std::string, std::map<std::string, std::string>> label_of;  // axis column -> cell text -> label
  for (const Axis& axis : axes)
    for (const AxisValue& value : axis_values(axis, summary.results(), summary.columns()))
      label_of[axis.column][value.key] = value.label;
  struct Point {
    std::vector<std::string> settings;  // axis=value of the axes that apply
    Group group;
  };
  std::map<std::string, std::vector<Point>> points;  // per optimizer, in order of appearance
  std::map<std::string, std::map<std::string, std::size_t>> index;
  for (const ResultsRow& row : summary.results().rows) {
    std::vector<std::string> settings;
    for (const Axis& axis : axes) {
      if (axis.column == kOptimizerColumn) continue;
      const Cell& cell = row.cells[summary.columns().at(axis.column)];
      if (!applies(cell)) continue;
      settings.push_back(axis.name + "=" + label_of[axis.column].at(text_of(cell)));
    }
    const std::string optimizer = summary.optimizer(row);
    auto [found, inserted] = index[optimizer].emplace(join(settings, " "), points[optimizer].size());
    if (inserted) points[optimizer].push_back({settings.empty() ? std::vector<std::string>{"(no axis)"} : settings, Group{}});
    summary.add(points[optimizer][found->second].group, row);
  }
  std::size_t width = 9;
  for (const std::string& optimizer : optimizers) width = std::max(width, optimizer.size());
  std::cout << "\nbest grid point per optimizer (lowest median " << metric << " over its repeats)\n";
  for (const std::string& optimizer : optimizers) {
    const Point* best = nullptr;
    double best_value = nan;
    for (const Point& point : points[optimizer]) {
      const double value = median(point.group.metric);
      if (!std::isnan(value) && (best == nullptr || value < best_value)) {
        best = &point;
        best_value = value;
      }
    }
    std::ostringstream head;
    head << "  " << std::left << std::setw(static_cast<int>(width) + 2) << optimizer;
    if (best == nullptr) {
      std::cout << head.str() << "no task with a " << metric << " (all failed)\n";
      continue;
    }
    head << scientific(best_value) << "  " << best->group.converged << "/" << best->group.tasks << " converged  ";
    print_wrapped(head.str(), best->settings, " ", head.str().size());
  }
}

// An optimizer of method class direct solves the least-squares problem by a factorization: its
// distance to the reference w* shows how well w* itself is determined (docs/seed-question.md).
void print_reference(const Summary& summary, const std::string& metric) {
  const Columns& columns = summary.columns();
  std::set<std::string> references;
  if (columns.has("reference"))
    for (const ResultsRow& row : summary.results().rows) references.insert(text_of(row.cells[columns.at("reference")]));
  // An exact solve that made no step (a formulation it does not handle) still has w = 0: left
  // out. One that solved but was marked failed for rounding above grad_tol keeps its value.
  std::vector<double> exact;
  std::size_t exact_failed = 0;
  std::vector<std::string> exact_optimizers;  // their names, in order of appearance
  const std::size_t iterations = columns.at(kIterationsColumn);
  for (const ResultsRow& row : summary.results().rows) {
    if (!summary.exact(row)) continue;
    const std::string name = summary.optimizer(row);
    if (std::find(exact_optimizers.begin(), exact_optimizers.end(), name) == exact_optimizers.end()) exact_optimizers.push_back(name);
    if (real_of(row.cells[iterations]) == 0) ++exact_failed;
    else if (!std::isnan(summary.metric(row))) exact.push_back(summary.metric(row));
  }
  std::cout << "\nreference w*: " << join({references.begin(), references.end()}, ", ")
            << " (" << kWeightErrorColumn << " = |w - w*| / |w*|)\n";
  if (!exact.empty() || exact_failed > 0) {
    std::cout << join(exact_optimizers, ", ") << " optimizer" << (exact_optimizers.size() > 1 ? "s" : "") << ": ";
    if (!exact.empty())
      std::cout << short_name(metric) << " median " << scientific(median(exact)) << ", max "
                << scientific(*std::max_element(exact.begin(), exact.end())) << " over " << exact.size() << " tasks";
    if (exact_failed > 0) std::cout << (exact.empty() ? "" : "; ") << exact_failed << " failed without a step";
    std::cout << '\n';
  }
}

void print_header(const ReportOptions& o, const ResultsFile& results, std::size_t total_rows, const Columns& columns,
                  const std::vector<Axis>& axes) {
  const std::size_t rows = results.rows.size();
  std::cout << "results: " << o.file << "\ngrid: " << results.grid_file << " (hash " << results.grid_hash << ")\n";
  std::cout << "tasks: " << rows << " of " << results.task_count;
  if (!o.where.empty()) std::cout << " (those with " << join(o.where, " ") << ")";
  if (static_cast<long long>(total_rows) < results.task_count)
    std::cout << " - incomplete: the study is running or was stopped (kappa study --resume finishes it)";
  std::cout << '\n';
  std::vector<std::string> axis_names;
  for (const Axis& axis : axes) axis_names.push_back(axis.name + " (" + std::to_string(axis.grid_values.size()) + ")");
  if (axis_names.empty()) axis_names.push_back("none");
  print_wrapped("axes: ", axis_names, ", ", 6);
  std::map<std::string, std::size_t> statuses;
  const std::size_t status = columns.at(kStatusColumn);
  for (const ResultsRow& row : results.rows) ++statuses[std::get<std::string>(row.cells[status])];
  std::vector<std::string> counts;
  for (const auto& [name, count] : statuses) counts.push_back(std::to_string(count) + " " + name);
  if (counts.empty()) counts.push_back("none yet");
  print_wrapped("statuses: ", counts, ", ", 10);
  const auto crashed = statuses.find(to_string(Status::crashed));
  if (crashed != statuses.end())
    std::cout << "crashed: " << crashed->second << " task" << (crashed->second == 1 ? " whose" : "s whose")
              << " task process died or was killed (the message says how; counted as failed below); "
                 "kappa study --resume --retry-failed runs them again\n";
}

}  // namespace

int run_report(int argc, char** argv) {
  ReportOptions o;
  po::options_description options("report options");
  options.add_options()
    ("file", po::value(&o.file)->value_name("RESULTS.h5"), "the results file of kappa study (also the first positional argument)")
    ("by", po::value(&o.by)->composing()->value_name("AXIS"),
     "summarize per value of this axis or column (repeatable; default: every axis of the grid)")
    ("where", po::value(&o.where)->composing()->value_name("KEY=VALUE"),
     "keep only the tasks whose column KEY has this value (numbers compared as numbers; repeatable), "
     "e.g. --where preconditioner=none --where synthetic.width=0.8")
    ("metric", po::value(&o.metric)->default_value(o.metric)->value_name("COLUMN"),
     "numeric column whose medians are shown and that ranks the grid points, e.g. test_mae, loss_gap");
  po::positional_options_description positional;
  positional.add("file", 1);
  if (!parse_command_line(argc, argv, usage, options, &positional)) return 0;
  if (o.file.empty()) throw UsageError("give the results file, e.g. kappa report results.h5 (see --help)");
  std::error_code error;
  if (!std::filesystem::exists(o.file, error)) throw InputError("results file '" + o.file + "' does not exist");
  require_regular_input(o.file, "results file");

  ResultsFile results = read_results_file(o.file);
  for (const std::string& note : results.notes) std::cerr << "kappa report: note: " << note << '\n';
  if (results.format_version != kStudyFormatVersion)
    throw InputError("results file '" + o.file + "' has format version " + std::to_string(results.format_version) +
                     ", this kappa reads version " + std::to_string(kStudyFormatVersion));
  const Columns columns(results.columns);
  for (const char* needed : {kOptimizerColumn, kStatusColumn, kIterationsColumn, kEpochsColumn, kMethodClassColumn})
    if (!columns.has(needed)) throw InputError("results file '" + o.file + "' has no column '" + needed + "'");
  if (!columns.has(o.metric) || columns.type(o.metric) == ColumnType::text)
    throw InputError("--metric '" + o.metric + "': not a numeric column of '" + o.file +
                     "' (e.g. relative_weight_error, test_mae, test_rmse, loss_gap, final_loss, grad_norm, seconds)");

  const std::size_t total_rows = results.rows.size();
  for (const std::string& condition : o.where) {
    const std::size_t equals = condition.find('=');
    if (equals == std::string::npos) throw UsageError("--where '" + condition + "': expected KEY=VALUE");
    const std::string key = column_of_key(condition.substr(0, equals));
    const std::string value = condition.substr(equals + 1);
    if (!columns.has(key)) throw InputError("--where '" + condition + "': no column '" + key + "' in '" + o.file + "'");
    const std::size_t c = columns.at(key);
    double number = 0;
    const bool numeric = columns.type(key) != ColumnType::text && is_number(value, number);
    std::vector<ResultsRow> kept;
    for (ResultsRow& row : results.rows)
      if (numeric ? real_of(row.cells[c]) == number : text_of(row.cells[c]) == value) kept.push_back(std::move(row));
    results.rows = std::move(kept);
  }
  if (!o.where.empty() && results.rows.empty())
    throw InputError("no task of '" + o.file + "' matches " + join(o.where, " "));

  const std::vector<Axis> axes = grid_axes(results, columns);
  std::vector<Axis> shown;
  if (o.by.empty()) {
    for (const Axis& axis : axes)
      if (axis.column != kOptimizerColumn) shown.push_back(axis);
  } else {
    for (const std::string& name : o.by) {
      const auto found = std::find_if(axes.begin(), axes.end(), [&](const Axis& a) { return a.name == name || a.column == name; });
      if (found != axes.end()) {
        if (found->column != kOptimizerColumn) shown.push_back(*found);
      } else if (columns.has(name)) {
        shown.push_back({name, name, {}});
      } else {
        std::vector<std::string> names;
        for (const Axis& axis : axes) names.push_back(axis.name);
        throw InputError("--by '" + name + "': no such axis or column in '" + o.file + "' (axes: " +
                         (names.empty() ? "none" : join(names, ", ")) + "; any column of " + o.file + " works too)");
      }
    }
  }

  print_header(o, results, total_rows, columns, axes);
  if (results.rows.empty()) {
    std::cout << "\nno finished tasks yet\n";
    return 0;
  }
  const Summary summary(results, columns, o.metric);
  const std::vector<std::string> optimizers = optimizer_order(summary, axes);
  std::cout << "converged = share of the tasks with status " << converged_statuses() << "\n"
            << short_name(o.metric) << ", iters, epochs = medians over the tasks (NaN ignored; failed tasks count too)\n";
  print_by_optimizer(summary, optimizers, o.metric);
  for (const Axis& axis : shown) print_by_axis(summary, axis, optimizers, o.metric);
  print_best(summary, axes, optimizers, o.metric);
  print_reference(summary, o.metric);
  return 0;
}

}  // namespace kappa::cli
