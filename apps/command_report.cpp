// kappa report: a summary of a study's results file (docs/studies-howto.md). For each optimizer,
// and for each value of each axis of the grid, the share of tasks that converged, the median of
// a metric (relative weight error by default), the median iterations and data passes, and the
// failed and diverged counts; then the best grid point per optimizer. It reads the file through
// read_results_file, so it works on the file of a study that is still running or was killed:
// that file is always complete on disk (docs/study.md), and its journal adds the rows saved since.
// With --profiles/--tuning/--html it also computes performance and data profiles, work to target
// and the tuning view (the statistics themselves: study/profiles.hpp; the page: report_html.hpp).
#include <algorithm>
#include <cmath>
#include <cstdint>
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
#include "study/profiles.hpp"
#include "study/results.hpp"
#include "study/schema.hpp"

#include "cli.hpp"
#include "report_html.hpp"
#include "run_manifest.hpp"
#include "svg_plot.hpp"

namespace kappa::cli {
namespace {

constexpr const char* usage = R"(usage: kappa report RESULTS.h5 [--by AXIS]... [--where KEY=VALUE]... [--metric COLUMN]
                          [--profiles] [--tuning] [--target METRIC<=VALUE] [--html OUT.html] ...
       kappa report --manifest FILE        (FILE: a results file, or a kappa solve --output X.json)

Summarizes the results file of `kappa study` (also one that is still being written, or of a
study that was stopped). First per optimizer, then per value of each axis of the grid and
optimizer: tasks, the share that converged (a converged-* status), the failed and diverged
counts, and the medians of the metric, of the iterations and of the data passes (epochs).
Then the best grid point of each optimizer: the lowest median of the metric over its
repeats, with its axis values. Medians ignore NaN (a task whose problem could
not be built has none); each median has a 95% percentile-bootstrap interval. --profiles adds
performance and data profiles over the grid's problems for --target, and the work to it;
--tuning the best of k settings and the sensitivity to each tuned axis; --html one
self-contained page. --manifest FILE prints instead what made a results file or a kappa solve
JSON output (build, libraries, plugins, data, command line, times; docs/study.md).
docs/studies-howto.md explains the tables, docs/report-semantics.md defines them. Examples:
  kappa report build/laptop.h5 --by synthetic.width --where preconditioner=none --metric test_mae
  kappa report build/laptop.h5 --profiles --target rel_w_err<=1e-6 --html laptop.html)";

// The percentile-bootstrap interval of every median the report prints (docs/report-semantics.md).
struct Bootstrap {
  std::size_t resamples = 1000;
  std::uint64_t seed = 1;
  Interval of(const std::vector<double>& values) const { return bootstrap_median_interval(values, resamples, seed); }
};

struct ProfileOptions {
  std::string target = "rel_w_err<=1e-6", cost = "data_passes", solvers = "settings", tau = "1,1.5,2,4,10", alpha;
  double r_max = 4;
};

struct ReportOptions {
  std::string file;
  std::vector<std::string> by;
  std::vector<std::string> where;
  std::string metric = column_name(&TaskOutcome::relative_weight_error);
  bool profiles = false, tuning = false;
  ProfileOptions profile;
  Bootstrap bootstrap;
  std::string profiles_csv, html;
  std::vector<std::string> heatmap;
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

// The column an axis groups by: KEY_spec (kSpecSuffix) where a numeric parameter has keyword
// values (lr = auto 1e-3: its numeric column is NaN for auto), so that the keyword's tasks form
// a group labelled as in the grid; else the key's column.
std::string axis_column(const std::string& key, const Columns& columns) {
  const std::string spec = column_of_key(key) + kSpecSuffix;
  return columns.has(spec) ? spec : column_of_key(key);
}

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
    const std::string column = axis_column(entry.key, columns);
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
                   std::size_t indent, std::ostream& out = std::cout) {
  constexpr std::size_t width = 100;
  std::string line = first;
  for (std::size_t i = 0; i < items.size(); ++i) {
    const std::string item = items[i] + (i + 1 < items.size() ? separator : "");
    if (line.size() + item.size() > width && line.size() > indent) {
      out << line.substr(0, line.find_last_not_of(' ') + 1) << '\n';
      line = std::string(indent, ' ');
    }
    line += item;
  }
  out << line << '\n';
}

std::string fit(const std::string& text, std::size_t width) {
  if (text.size() <= width) return text;
  return "..." + text.substr(text.size() - (width - 3));
}

// "[low,high]" in the format of the median beside it; "-" when there is no value.
std::string interval_text(const Interval& interval, bool scientific_format) {
  if (std::isnan(interval.low)) return "-";
  if (!scientific_format) return "[" + format_number(interval.low) + "," + format_number(interval.high) + "]";
  char text[48];
  std::snprintf(text, sizeof text, "[%.2e,%.2e]", interval.low, interval.high);
  return text;
}

constexpr const char* kInterval = "95% CI";

// One table: a leading label column (optional), then the optimizer and the statistics, each
// median followed by its interval.
ReportTable group_table(const std::string& title, const std::string& label_name,
                        const std::vector<std::pair<std::string, std::string>>& keys,
                        const std::map<std::pair<std::string, std::string>, Group>& groups, const std::string& metric,
                        const Bootstrap& bootstrap) {
  ReportTable table;
  table.title = title;
  if (!label_name.empty()) table.header.push_back(fit(label_name, 15));
  table.left_columns = table.header.size() + 1;
  for (const char* name : {"optimizer", "tasks", "converged", "failed", "diverged"}) table.header.push_back(name);
  for (const std::string& name : {"median " + short_name(metric), std::string(kInterval), std::string("iters"),
                                  std::string(kInterval), std::string("epochs"), std::string(kInterval)})
    table.header.push_back(name);
  for (const auto& key : keys) {
    const Group& group = groups.at(key);
    char share[16];
    std::snprintf(share, sizeof share, "%.2f", static_cast<double>(group.converged) / static_cast<double>(group.tasks));
    std::vector<std::string> row;
    // Labels up to 15 characters, optimizers up to 12 (longer ones are cut from the left).
    if (!label_name.empty()) row.push_back(fit(key.first, 15));
    row.insert(row.end(), {fit(key.second, 12), std::to_string(group.tasks), share, std::to_string(group.failed),
                           std::to_string(group.diverged), scientific(median(group.metric)),
                           interval_text(bootstrap.of(group.metric), true), plain(median(group.iterations)),
                           interval_text(bootstrap.of(group.iterations), false), plain(median(group.epochs)),
                           interval_text(bootstrap.of(group.epochs), false)});
    table.rows.push_back(row);
  }
  return table;
}

ReportTable by_optimizer_table(const Summary& summary, const std::vector<std::string>& optimizers, const std::string& metric,
                               const Bootstrap& bootstrap) {
  std::map<std::pair<std::string, std::string>, Group> groups;
  std::vector<std::pair<std::string, std::string>> keys;
  for (const std::string& name : optimizers) keys.push_back({"", name});
  for (const ResultsRow& row : summary.results().rows) summary.add(groups[{"", summary.optimizer(row)}], row);
  return group_table("by optimizer", "", keys, groups, metric, bootstrap);
}

ReportTable by_axis_table(const Summary& summary, const Axis& axis, const std::vector<std::string>& optimizers,
                          const std::string& metric, const Bootstrap& bootstrap) {
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
  std::string title = "by " + axis.name;
  if (not_applicable) title += " (" + std::to_string(not_applicable) + " tasks to which it does not apply left out)";
  return group_table(title, axis.name, keys, groups, metric, bootstrap);
}

// The best grid point of each optimizer: the lowest median of the metric over its repeats.
// Printed as wrapped lines; returned as a table for the HTML page.
ReportTable print_best(const Summary& summary, const std::vector<Axis>& axes, const std::vector<std::string>& optimizers,
                       const std::string& metric, const Bootstrap& bootstrap) {
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
  ReportTable table;
  table.title = "best grid point per optimizer (lowest median " + metric + " over its repeats)";
  table.header = {"optimizer", "median " + short_name(metric), kInterval, "converged", "settings"};
  std::cout << '\n' << table.title << '\n';
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
      table.rows.push_back({optimizer, "-", "-", "-", "no task with a " + metric + " (all failed)"});
      continue;
    }
    const std::string interval = interval_text(bootstrap.of(best->group.metric), true);
    const std::string converged = std::to_string(best->group.converged) + "/" + std::to_string(best->group.tasks);
    head << scientific(best_value) << " " << interval << "  " << converged << " converged  ";
    print_wrapped(head.str(), best->settings, " ", head.str().size());
    table.rows.push_back({optimizer, scientific(best_value), interval, converged, join(best->settings, " ")});
  }
  return table;
}

// An optimizer of method class direct solves the least-squares problem by a factorization: its
// distance to the reference w* shows how well w* itself is determined (docs/seed-question.md).
// Returns the lines it prints.
std::string reference_text(const Summary& summary, const std::string& metric, const Bootstrap& bootstrap) {
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
  std::ostringstream out;
  out << "reference w*: " << join({references.begin(), references.end()}, ", ") << " (" << kWeightErrorColumn
      << " = |w - w*| / |w*|)\n";
  if (!exact.empty() || exact_failed > 0) {
    out << join(exact_optimizers, ", ") << " optimizer" << (exact_optimizers.size() > 1 ? "s" : "") << ": ";
    if (!exact.empty())
      out << short_name(metric) << " median " << scientific(median(exact)) << " " << interval_text(bootstrap.of(exact), true)
          << ", max " << scientific(*std::max_element(exact.begin(), exact.end())) << " over " << exact.size() << " tasks";
    if (exact_failed > 0) out << (exact.empty() ? "" : "; ") << exact_failed << " failed without a step";
    out << '\n';
  }
  return out.str();
}
void print_header(const ReportOptions& o, const ResultsFile& results, std::size_t total_rows, const Columns& columns,
                  const std::vector<Axis>& axes, std::ostream& out) {
  const std::size_t rows = results.rows.size();
  out << "results: " << o.file << "\ngrid: " << results.grid_file << " (hash " << results.grid_hash << ")\n";
  out << "tasks: " << rows << " of " << results.task_count;
  if (!o.where.empty()) out << " (those with " << join(o.where, " ") << ")";
  if (static_cast<long long>(total_rows) < results.task_count)
    out << " - incomplete: the study is running or was stopped (kappa study --resume finishes it)";
  out << '\n';
  std::vector<std::string> axis_names;
  for (const Axis& axis : axes) axis_names.push_back(axis.name + " (" + std::to_string(axis.grid_values.size()) + ")");
  if (axis_names.empty()) axis_names.push_back("none");
  print_wrapped("axes: ", axis_names, ", ", 6, out);
  std::map<std::string, std::size_t> statuses;
  const std::size_t status = columns.at(kStatusColumn);
  for (const ResultsRow& row : results.rows) ++statuses[std::get<std::string>(row.cells[status])];
  std::vector<std::string> counts;
  for (const auto& [name, count] : statuses) counts.push_back(std::to_string(count) + " " + name);
  if (counts.empty()) counts.push_back("none yet");
  print_wrapped("statuses: ", counts, ", ", 10, out);
  const auto crashed = statuses.find(to_string(Status::crashed));
  if (crashed != statuses.end())
    out << "crashed: " << crashed->second << " task" << (crashed->second == 1 ? " whose" : "s whose")
              << " task process died or was killed (the message says how; counted as failed below); "
                 "kappa study --resume --retry-failed runs them again\n";
}


// --- profiles, work to target, tuning (docs/report-semantics.md) ------------------------------

// --target METRIC<=VALUE: the metric's column, and whether the traces record it (only the
// relative weight error: a trace's loss is the optimizer's objective, scaled in solver coordinates).
struct Target {
  std::string text;    // as given
  std::string column;  // the results column
  double value = 0;
  bool from_trace = false;
};

Target parse_target(const std::string& text, const Columns& columns, const std::string& file) {
  const std::size_t at = text.find("<=");
  double value = 0;
  if (at == std::string::npos || at == 0 || !is_number(text.substr(at + 2), value) || !std::isfinite(value))
    throw UsageError("--target '" + text + "': expected METRIC<=VALUE with a finite number, e.g. rel_w_err<=1e-6");
  std::string column = text.substr(0, at);
  if (column == short_name(kWeightErrorColumn)) column = kWeightErrorColumn;
  if (!columns.has(column) || columns.type(column) == ColumnType::text)
    throw InputError("--target '" + text + "': '" + column + "' is not a numeric column of '" + file +
                     "' (e.g. rel_w_err, loss_gap, test_mae, test_rmse)");
  return {text, column, value, column == kWeightErrorColumn};
}

enum class CostMeasure { data_passes, seconds, iterations };

CostMeasure parse_cost(const std::string& text) {
  if (text == "data_passes") return CostMeasure::data_passes;
  if (text == "seconds") return CostMeasure::seconds;
  if (text == "iterations") return CostMeasure::iterations;
  throw UsageError("--cost '" + text + "': expected data_passes, seconds or iterations");
}

// A comma-separated list of numbers (--tau, --alpha), each checked against `least`.
std::vector<double> parse_numbers(const std::string& option, const std::string& text, double least) {
  std::vector<double> numbers;
  std::stringstream stream(text);
  for (std::string item; std::getline(stream, item, ',');) {
    double value = 0;
    if (!is_number(item, value) || !std::isfinite(value) || value < least)
      throw UsageError(option + " '" + text + "': '" + item + "' is not a finite number >= " + format_number(least));
    numbers.push_back(value);
  }
  if (numbers.empty()) throw UsageError(option + " '" + text + "': give at least one number");
  return numbers;
}

// When the target first holds in one run: its cost then, in every measure. A failed, crashed or
// diverged run never reaches it.
struct Hit {
  bool reached = false;
  double data_passes = 0, seconds = 0, iterations = 0;
  double cost(CostMeasure measure) const {
    if (!reached) return std::numeric_limits<double>::infinity();
    return measure == CostMeasure::data_passes ? data_passes : measure == CostMeasure::seconds ? seconds : iterations;
  }
};

// What the profiles are computed from: one entry per task, with its problem and solver.
struct Run {
  std::size_t problem = 0, setting = 0;  // indices into Study::problems, Study::settings
  std::string optimizer;
  Hit hit;
  double metric = nan;  // the final value of --metric (the tuning view)
};

struct Study {
  std::vector<std::string> problems;  // labels, in order of appearance
  struct Setting {
    std::string optimizer, label;  // label: the optimizer and the parameters in which its settings differ
    std::vector<std::string> tuned;  // the values of the optimizer's tuned axes, "axis=value"
  };
  std::vector<Setting> settings;
  std::vector<Run> runs;
  std::map<std::string, std::vector<const Axis*>> tuned_axes;  // per optimizer
};

// The items ("key=value") in which the item lists differ: those not in every list.
std::vector<std::vector<std::string>> differing_items(const std::vector<std::vector<std::string>>& lists) {
  std::map<std::string, std::size_t> count;
  for (const auto& items : lists) {
    std::set<std::string> unique(items.begin(), items.end());
    for (const std::string& item : unique) ++count[item];
  }
  std::vector<std::vector<std::string>> differing;
  for (const auto& items : lists) {
    std::vector<std::string> kept;
    for (const std::string& item : items)
      if (count[item] < lists.size()) kept.push_back(item);
    differing.push_back(kept);
  }
  return differing;
}

Study collect_study(const Summary& summary, const std::vector<Axis>& axes, const Target& target) {
  const Columns& columns = summary.columns();
  const ResultsFile& results = summary.results();
  // A problem: the data and every setting of the problem (loss, preconditioner, reference, ...);
  // a setting of a solver: the optimizer, its parameters and the run controls (study/grid.hpp).
  std::vector<std::string> problem_columns{kDataColumn}, run_columns;
  for (const StudySetting& setting : study_settings())
    if (columns.has(setting.name)) (setting.of_problem ? problem_columns : run_columns).push_back(setting.name);
  const std::size_t params = columns.at(column_name(PlanColumn::params)), status = columns.at(kStatusColumn);
  const std::size_t epochs = columns.at(kEpochsColumn), iterations = columns.at(kIterationsColumn);
  const std::size_t seconds = columns.at(column_name(&TaskOutcome::seconds)), metric = columns.at(target.column);

  Study study;
  for (const Axis& axis : axes) {
    const bool of_problem_or_run = axis.column == kOptimizerColumn || axis.column == kDataColumn ||
                                   axis.name.rfind("synthetic.", 0) == 0 ||
                                   std::find(problem_columns.begin(), problem_columns.end(), axis.column) != problem_columns.end() ||
                                   std::find(run_columns.begin(), run_columns.end(), axis.column) != run_columns.end();
    if (of_problem_or_run) continue;
    // An optimizer parameter: tuned for the optimizers whose tasks it applies to with two values or more.
    std::map<std::string, std::set<std::string>> values;
    const std::size_t c = columns.at(axis.column);
    for (const ResultsRow& row : results.rows)
      if (applies(row.cells[c])) values[summary.optimizer(row)].insert(text_of(row.cells[c]));
    for (const auto& [optimizer, seen] : values)
      if (seen.size() > 1) study.tuned_axes[optimizer].push_back(&axis);
  }
  std::map<std::string, std::map<std::string, std::string>> label_of;  // axis column -> cell text -> label
  for (const auto& [optimizer, tuned] : study.tuned_axes)
    for (const Axis* axis : tuned)
      for (const AxisValue& value : axis_values(*axis, results, columns)) label_of[axis->column][value.key] = value.label;
  const auto tuned_of = [&](const std::string& optimizer) {
    const auto found = study.tuned_axes.find(optimizer);
    return found == study.tuned_axes.end() ? std::vector<const Axis*>{} : found->second;
  };

  std::map<std::string, std::size_t> problem_index, setting_index;
  std::vector<std::vector<std::string>> problem_items, setting_items;
  for (const ResultsRow& row : results.rows) {
    std::vector<std::string> items;
    for (const std::string& column : problem_columns) items.push_back(column + "=" + text_of(row.cells[columns.at(column)]));
    const auto problem = problem_index.emplace(join(items, "\n"), problem_items.size());
    if (problem.second) problem_items.push_back(items);
    const std::string optimizer = summary.optimizer(row);
    std::vector<std::string> setting{optimizer};
    std::stringstream stream(text_of(row.cells[params]));
    for (std::string item; std::getline(stream, item, ';');) setting.push_back(item);
    for (const std::string& column : run_columns) setting.push_back(column + "=" + text_of(row.cells[columns.at(column)]));
    const auto found = setting_index.emplace(join(setting, "\n"), setting_items.size());
    if (found.second) {
      setting_items.push_back(setting);
      Study::Setting entry{optimizer, optimizer, {}};
      for (const Axis* axis : tuned_of(optimizer)) {
        const Cell& cell = row.cells[columns.at(axis->column)];
        entry.tuned.push_back(axis->name + "=" + (applies(cell) ? label_of[axis->column].at(text_of(cell)) : ""));
      }
      study.settings.push_back(entry);
    }
    Run run{problem.first->second, found.first->second, optimizer, {}, summary.metric(row)};
    const Status run_status = parse_status(std::get<std::string>(row.cells[status]));
    if (run_status != Status::failed && run_status != Status::crashed && run_status != Status::diverged) {
      if (target.from_trace && !row.trace.empty()) {
        for (const TracePoint& point : row.trace)
          if (point.relative_weight_error <= target.value) {
            run.hit = {true, point.data_passes, point.seconds, static_cast<double>(point.iteration)};
            break;
          }
      } else if (real_of(row.cells[metric]) <= target.value) {
        run.hit = {true, real_of(row.cells[epochs]), real_of(row.cells[seconds]), real_of(row.cells[iterations])};
      }
    }
    study.runs.push_back(run);
  }
  // Labels: the items in which the problems differ, a synthetic spec split into its key=value items.
  std::vector<std::vector<std::string>> label_items;
  for (const auto& items : problem_items) {
    std::vector<std::string> split;
    std::stringstream spec(items.front().substr(std::string(kDataColumn).size() + 1));
    for (std::string item; std::getline(spec, item, ',');) split.push_back(item);
    split.insert(split.end(), items.begin() + 1, items.end());
    label_items.push_back(split);
  }
  for (const auto& items : differing_items(label_items)) study.problems.push_back(items.empty() ? "(one problem)" : join(items, " "));
  // Labels of settings: the items in which the settings of the same optimizer differ.
  std::map<std::string, std::vector<std::size_t>> of_optimizer;
  for (std::size_t s = 0; s < study.settings.size(); ++s) of_optimizer[study.settings[s].optimizer].push_back(s);
  for (const auto& [optimizer, indices] : of_optimizer) {
    std::vector<std::vector<std::string>> lists;
    for (std::size_t s : indices) lists.push_back({setting_items[s].begin() + 1, setting_items[s].end()});
    const auto differing = differing_items(lists);
    for (std::size_t i = 0; i < indices.size(); ++i)
      if (!differing[i].empty()) study.settings[indices[i]].label = optimizer + " " + join(differing[i], ",");
  }
  return study;
}

// The solvers of the profiles and their cost on every problem: t[p][s] (+inf: not solved).
struct Profiles {
  std::vector<std::string> solvers;
  std::vector<std::vector<double>> cost, ratio;  // [problem][solver]
};

Profiles compute_profiles(const Study& study, const std::vector<std::string>& optimizers, CostMeasure measure, bool tuned) {
  const double inf = std::numeric_limits<double>::infinity();
  // The repeats of each (problem, setting), combined: median over them with unsolved = +inf.
  std::map<std::pair<std::size_t, std::size_t>, std::vector<double>> repeats;
  for (const Run& run : study.runs) repeats[{run.problem, run.setting}].push_back(run.hit.cost(measure));
  Profiles profiles;
  std::vector<std::vector<std::size_t>> members;  // the settings of each solver
  for (const std::string& optimizer : optimizers) {
    if (tuned) {
      profiles.solvers.push_back(optimizer);
      members.emplace_back();
    }
    for (std::size_t s = 0; s < study.settings.size(); ++s) {
      if (study.settings[s].optimizer != optimizer) continue;
      if (!tuned) {
        profiles.solvers.push_back(study.settings[s].label);
        members.emplace_back();
      }
      members.back().push_back(s);
    }
  }
  for (std::size_t p = 0; p < study.problems.size(); ++p) {
    std::vector<double> row;
    for (const auto& settings : members) {
      double best = inf;  // tuned: the best of the optimizer's settings on this problem
      for (std::size_t s : settings) {
        const auto found = repeats.find({p, s});
        if (found != repeats.end()) best = std::min(best, combine_repeats(found->second));
      }
      row.push_back(best);
    }
    profiles.cost.push_back(row);
  }
  profiles.ratio = performance_ratios(profiles.cost);
  return profiles;
}

std::vector<double> column_of(const std::vector<std::vector<double>>& matrix, std::size_t s) {
  std::vector<double> values;
  for (const auto& row : matrix) values.push_back(row[s]);
  return values;
}

std::string share_text(double share) {
  char text[16];
  std::snprintf(text, sizeof text, "%.3f", share);
  return text;
}

// The default data-profile points: the powers of ten that span the finite costs.
std::vector<double> default_alphas(const Profiles& profiles) {
  double low = std::numeric_limits<double>::infinity(), high = 0;
  for (const auto& row : profiles.cost)
    for (double t : row)
      if (std::isfinite(t) && t > 0) {
        low = std::min(low, t);
        high = std::max(high, t);
      }
  if (high == 0) return {1, 10, 100};
  std::vector<double> alphas;
  for (int e = static_cast<int>(std::floor(std::log10(low))); e <= static_cast<int>(std::ceil(std::log10(high))); ++e)
    alphas.push_back(std::pow(10.0, e));
  return alphas;
}

std::string cost_name(CostMeasure measure) {
  return measure == CostMeasure::data_passes ? "data_passes" : measure == CostMeasure::seconds ? "seconds" : "iterations";
}

std::vector<ReportTable> profile_tables(const Profiles& profiles, const Target& target, CostMeasure measure,
                                        const std::vector<double>& taus, const std::vector<double>& alphas, double r_max) {
  const std::string about = "target " + target.text + ", cost " + cost_name(measure) + ", " +
                            std::to_string(profiles.cost.size()) + " problems";
  ReportTable performance{"performance profile rho(tau) (" + about + ")", {"solver", "solved"}, 1, {}};
  for (double tau : taus) performance.header.push_back("rho(" + format_number(tau) + ")");
  performance.header.push_back("area(r_max=" + format_number(r_max) + ")");
  ReportTable data{"data profile d(alpha) (" + about + ")", {"solver", "solved"}, 1, {}};
  for (double alpha : alphas) data.header.push_back("d(" + format_number(alpha) + ")");
  for (std::size_t s = 0; s < profiles.solvers.size(); ++s) {
    const std::vector<double> ratios = column_of(profiles.ratio, s), costs = column_of(profiles.cost, s);
    const auto solved = std::to_string(std::count_if(costs.begin(), costs.end(), [](double t) { return std::isfinite(t); }));
    std::vector<std::string> row{profiles.solvers[s], solved};
    for (double tau : taus) row.push_back(share_text(share_at_most(ratios, tau)));
    char area[16];
    std::snprintf(area, sizeof area, "%.4f", profile_area(ratios, r_max));
    row.push_back(area);
    performance.rows.push_back(row);
    std::vector<std::string> data_row{profiles.solvers[s], solved};
    for (double alpha : alphas) data_row.push_back(share_text(share_at_most(costs, alpha)));
    data.rows.push_back(data_row);
  }
  return {performance, data};
}

// Tidy CSV: kind,solver,problem,x,value; reals in shortest round-trip form, inf for +inf.
std::string profiles_csv(const Study& study, const Profiles& profiles, const std::vector<double>& taus,
                         const std::vector<double>& alphas, double r_max) {
  std::ostringstream out;
  const auto real = [](double value) { return cell_text(Cell{value}); };
  out << "kind,solver,problem,x,value\n";
  for (std::size_t p = 0; p < profiles.cost.size(); ++p)
    for (std::size_t s = 0; s < profiles.solvers.size(); ++s) {
      out << "cost," << csv_field(profiles.solvers[s]) << ',' << csv_field(study.problems[p]) << ",," << real(profiles.cost[p][s]) << '\n';
      out << "ratio," << csv_field(profiles.solvers[s]) << ',' << csv_field(study.problems[p]) << ",," << real(profiles.ratio[p][s]) << '\n';
    }
  for (std::size_t s = 0; s < profiles.solvers.size(); ++s) {
    const std::vector<double> ratios = column_of(profiles.ratio, s), costs = column_of(profiles.cost, s);
    // Every step of the profile (its finite values) and the points asked for.
    std::set<double> tau_points(taus.begin(), taus.end()), alpha_points(alphas.begin(), alphas.end());
    tau_points.insert(1.0);
    for (double r : ratios)
      if (std::isfinite(r)) tau_points.insert(r);
    for (double t : costs)
      if (std::isfinite(t)) alpha_points.insert(t);
    for (double tau : tau_points)
      out << "performance," << csv_field(profiles.solvers[s]) << ",," << real(tau) << ',' << real(share_at_most(ratios, tau)) << '\n';
    for (double alpha : alpha_points)
      out << "data," << csv_field(profiles.solvers[s]) << ",," << real(alpha) << ',' << real(share_at_most(costs, alpha)) << '\n';
    out << "area," << csv_field(profiles.solvers[s]) << ",," << real(r_max) << ',' << real(profile_area(ratios, r_max)) << '\n';
  }
  return out.str();
}

// Work to target per optimizer: data passes and seconds at which the target first held, over
// the optimizer's tasks that reached it.
ReportTable work_table(const Study& study, const std::vector<std::string>& optimizers, const Target& target,
                       const Bootstrap& bootstrap) {
  ReportTable table{"work to target " + target.text + " per optimizer (medians over the tasks that reached it)",
                    {"optimizer", "tasks", "reached", "median passes", kInterval, "median seconds", kInterval}, 1, {}};
  for (const std::string& optimizer : optimizers) {
    std::vector<double> passes, seconds;
    std::size_t tasks = 0;
    for (const Run& run : study.runs) {
      if (run.optimizer != optimizer) continue;
      ++tasks;
      if (!run.hit.reached) continue;
      passes.push_back(run.hit.data_passes);
      seconds.push_back(run.hit.seconds);
    }
    table.rows.push_back({optimizer, std::to_string(tasks), std::to_string(passes.size()), plain(median(passes)),
                          interval_text(bootstrap.of(passes), false), scientific(median(seconds)),
                          interval_text(bootstrap.of(seconds), true)});
  }
  return table;
}

// The tuning view of each optimizer with tuned axes: v[p][setting] = median over the repeats of
// the final metric (NaN: none); best of k = the median over problems of the expected least of k
// settings drawn at random; the sensitivity to an axis = per value, the median over problems of
// the least v among the settings with that value.
std::vector<ReportTable> tuning_tables(const Study& study, const std::vector<std::string>& optimizers, const std::string& metric,
                                       const Bootstrap& bootstrap) {
  std::vector<ReportTable> tables;
  const double inf = std::numeric_limits<double>::infinity();
  for (const std::string& optimizer : optimizers) {
    const auto tuned = study.tuned_axes.find(optimizer);
    if (tuned == study.tuned_axes.end()) continue;
    std::vector<std::size_t> settings;
    for (std::size_t s = 0; s < study.settings.size(); ++s)
      if (study.settings[s].optimizer == optimizer) settings.push_back(s);
    std::map<std::pair<std::size_t, std::size_t>, std::vector<double>> repeats;
    std::set<std::size_t> problems;
    for (const Run& run : study.runs)
      if (run.optimizer == optimizer) {
        repeats[{run.problem, run.setting}].push_back(run.metric);
        problems.insert(run.problem);
      }
    // v per problem and setting; a setting not run on a problem, or without a value, counts as +inf.
    std::map<std::size_t, std::vector<double>> value;  // problem -> v in `settings` order
    for (std::size_t p : problems)
      for (std::size_t s : settings) {
        const auto found = repeats.find({p, s});
        const double v = found == repeats.end() ? nan : median(found->second);
        value[p].push_back(std::isnan(v) ? inf : v);
      }
    std::vector<std::string> axis_names;
    for (const Axis* axis : tuned->second) axis_names.push_back(axis->name);
    ReportTable best{"tuning " + optimizer + ": best of k of its " + std::to_string(settings.size()) + " settings over " +
                         join(axis_names, ", ") + " (median over " + std::to_string(problems.size()) +
                         " problems of the expected least median " + short_name(metric) + ")",
                     {"k", "best of k", kInterval}, 1, {}};
    for (std::size_t k = 1; k <= settings.size(); ++k) {
      std::vector<double> per_problem;
      for (const auto& [p, values] : value) per_problem.push_back(expected_best_of_k(values, k));
      best.rows.push_back({std::to_string(k), scientific(median(per_problem)), interval_text(bootstrap.of(per_problem), true)});
    }
    tables.push_back(best);
    for (std::size_t a = 0; a < tuned->second.size(); ++a) {
      const Axis& axis = *tuned->second[a];
      ReportTable sensitivity{"sensitivity of " + optimizer + " to " + axis.name + " (median over problems of the least median " +
                                  short_name(metric) + " over its other settings)",
                              {axis.name, "settings", "median " + short_name(metric), kInterval}, 1, {}};
      std::vector<std::string> labels;  // in the settings' order of appearance, then in grid order
      for (std::size_t s : settings) {
        const std::string label = study.settings[s].tuned[a].substr(axis.name.size() + 1);
        if (std::find(labels.begin(), labels.end(), label) == labels.end()) labels.push_back(label);
      }
      std::vector<std::string> ordered;
      for (const std::string& grid_value : axis.grid_values)
        if (std::find(labels.begin(), labels.end(), grid_value) != labels.end()) ordered.push_back(grid_value);
      for (const std::string& label : labels)
        if (std::find(ordered.begin(), ordered.end(), label) == ordered.end()) ordered.push_back(label);
      for (const std::string& label : ordered) {
        std::vector<double> per_problem;
        std::size_t count = 0;
        for (const auto& [p, values] : value) {
          double least = inf;
          count = 0;
          for (std::size_t i = 0; i < settings.size(); ++i)
            if (study.settings[settings[i]].tuned[a] == axis.name + "=" + label) {
              least = std::min(least, values[i]);
              ++count;
            }
          per_problem.push_back(least);
        }
        sensitivity.rows.push_back({label.empty() ? "(does not apply)" : label, std::to_string(count),
                                    scientific(median(per_problem)), interval_text(bootstrap.of(per_problem), true)});
      }
      tables.push_back(sensitivity);
    }
  }
  return tables;
}

// --- the figures of the HTML page ---------------------------------------------------------------

// rho_s(tau) or d_s(alpha) as steps: the share at each finite value, from `start` on.
Series profile_series(const std::string& name, std::vector<double> values, double start) {
  Series series{name, {start}, {share_at_most(values, start)}, {}, {}, true};
  std::sort(values.begin(), values.end());
  for (double value : values)
    if (std::isfinite(value) && value > start) {
      series.x.push_back(value);
      series.y.push_back(share_at_most(values, value));
    }
  return series;
}

std::vector<std::pair<std::string, std::string>> profile_figures(const Profiles& profiles, const Target& target,
                                                                 CostMeasure measure) {
  Plot performance{"performance profile, target " + target.text, "tau (cost / least cost on the problem)", "share of problems",
                   true, false, {}};
  Plot data{"data profile, target " + target.text, "alpha (" + cost_name(measure) + ")", "share of problems", true, false, {}};
  double least = std::numeric_limits<double>::infinity();
  for (const auto& row : profiles.cost)
    for (double t : row)
      if (std::isfinite(t) && t > 0) least = std::min(least, t);
  for (std::size_t s = 0; s < profiles.solvers.size(); ++s) {
    performance.series.push_back(profile_series(profiles.solvers[s], column_of(profiles.ratio, s), 1.0));
    if (std::isfinite(least)) data.series.push_back(profile_series(profiles.solvers[s], column_of(profiles.cost, s), least));
  }
  return {{"performance profile (rho_s(tau), log tau)", svg_plot(performance)},
          {"data profile (d_s(alpha), log alpha)", svg_plot(data)}};
}

// The q-quantile of sorted values, linear between order statistics (numpy's default).
double quantile(const std::vector<double>& sorted, double q) {
  if (sorted.empty()) return nan;
  const double h = q * static_cast<double>(sorted.size() - 1);
  const std::size_t i = static_cast<std::size_t>(std::floor(h));
  return i + 1 < sorted.size() ? sorted[i] + (h - static_cast<double>(i)) * (sorted[i + 1] - sorted[i]) : sorted[i];
}

// Median and quartiles of rel_w_err over an optimizer's tasks against data passes, from the
// traces: at each of 40 log-spaced points, each task's last recorded value at or before it.
std::string curves_figure(const Summary& summary, const std::vector<std::string>& optimizers) {
  double low = std::numeric_limits<double>::infinity(), high = 0;
  for (const ResultsRow& row : summary.results().rows)
    for (const TracePoint& point : row.trace)
      if (point.data_passes > 0) {
        low = std::min(low, point.data_passes);
        high = std::max(high, point.data_passes);
      }
  Plot plot{"median rel_w_err per optimizer (band: quartiles over its tasks)", "data passes", "rel_w_err", true, true, {}};
  if (!(high > low)) return svg_plot(plot);
  std::vector<double> grid;
  for (int i = 0; i < 40; ++i) grid.push_back(low * std::pow(high / low, i / 39.0));
  for (const std::string& optimizer : optimizers) {
    Series series{optimizer, {}, {}, {}, {}, false};
    for (double x : grid) {
      std::vector<double> values;
      for (const ResultsRow& row : summary.results().rows) {
        if (summary.optimizer(row) != optimizer) continue;
        double value = nan;
        for (const TracePoint& point : row.trace)
          if (point.data_passes <= x) value = point.relative_weight_error;
        if (!std::isnan(value)) values.push_back(value);
      }
      if (values.empty()) continue;
      std::sort(values.begin(), values.end());
      series.x.push_back(x);
      series.y.push_back(quantile(values, 0.5));
      series.low.push_back(quantile(values, 0.25));
      series.high.push_back(quantile(values, 0.75));
    }
    plot.series.push_back(series);
  }
  return svg_plot(plot);
}

// The share of the tasks that reached the target, over the values of two axes.
std::string heatmap_figure(const Summary& summary, const Study& study, const Axis& across, const Axis& down,
                           const Target& target) {
  Heatmap heatmap{"share of tasks reaching " + target.text, across.name, down.name, {}, {}, {}, {}};
  const std::vector<AxisValue> columns = axis_values(across, summary.results(), summary.columns());
  const std::vector<AxisValue> rows = axis_values(down, summary.results(), summary.columns());
  std::map<std::string, std::size_t> column_of_key, row_of_key;
  for (const AxisValue& value : columns) {
    if (std::find(heatmap.x_values.begin(), heatmap.x_values.end(), value.label) == heatmap.x_values.end())
      heatmap.x_values.push_back(value.label);
    column_of_key[value.key] = std::find(heatmap.x_values.begin(), heatmap.x_values.end(), value.label) - heatmap.x_values.begin();
  }
  for (const AxisValue& value : rows) {
    if (std::find(heatmap.y_values.begin(), heatmap.y_values.end(), value.label) == heatmap.y_values.end())
      heatmap.y_values.push_back(value.label);
    row_of_key[value.key] = std::find(heatmap.y_values.begin(), heatmap.y_values.end(), value.label) - heatmap.y_values.begin();
  }
  std::vector<std::vector<std::size_t>> reached(heatmap.y_values.size(), std::vector<std::size_t>(heatmap.x_values.size(), 0));
  auto tasks = reached;
  const std::size_t a = summary.columns().at(across.column), b = summary.columns().at(down.column);
  for (std::size_t r = 0; r < summary.results().rows.size(); ++r) {
    const ResultsRow& row = summary.results().rows[r];
    if (!applies(row.cells[a]) || !applies(row.cells[b])) continue;
    const std::size_t x = column_of_key.at(text_of(row.cells[a])), y = row_of_key.at(text_of(row.cells[b]));
    ++tasks[y][x];
    reached[y][x] += study.runs[r].hit.reached;
  }
  for (std::size_t y = 0; y < tasks.size(); ++y) {
    heatmap.share.emplace_back();
    heatmap.notes.emplace_back();
    for (std::size_t x = 0; x < tasks[y].size(); ++x) {
      heatmap.share[y].push_back(tasks[y][x] ? static_cast<double>(reached[y][x]) / static_cast<double>(tasks[y][x]) : nan);
      heatmap.notes[y].push_back(tasks[y][x] ? std::to_string(reached[y][x]) + "/" + std::to_string(tasks[y][x]) : "");
    }
  }
  return svg_heatmap(heatmap);
}

}  // namespace

int run_report(int argc, char** argv) {
  ReportOptions o;
  std::string manifest_file;  // --manifest
  po::options_description options("report options");
  options.add_options()
    ("file", po::value(&o.file)->value_name("RESULTS.h5"), "the results file of kappa study (also the first positional argument)")
    ("by", po::value(&o.by)->composing()->value_name("AXIS"),
     "summarize per value of this axis or column (repeatable; default: every axis of the grid)")
    ("where", po::value(&o.where)->composing()->value_name("KEY=VALUE"),
     "keep only the tasks whose column KEY has this value (numbers compared as numbers; repeatable), "
     "e.g. --where preconditioner=none --where synthetic.width=0.8")
    ("metric", po::value(&o.metric)->default_value(o.metric)->value_name("COLUMN"),
     "numeric column whose medians are shown and that ranks the grid points, e.g. test_mae, loss_gap")
    ("profiles", po::bool_switch(&o.profiles), "print performance and data profiles and the work to the target")
    ("tuning", po::bool_switch(&o.tuning), "print each optimizer's best of k settings and its sensitivity to each tuned axis")
    ("target", po::value(&o.profile.target)->default_value(o.profile.target)->value_name("METRIC<=VALUE"),
     "when a task solves a problem: rel_w_err (from the traces), loss_gap, test_mae or any numeric column (final value)")
    ("cost", po::value(&o.profile.cost)->default_value(o.profile.cost)->value_name("MEASURE"),
     "cost of the profiles: data_passes, seconds or iterations")
    ("solvers", po::value(&o.profile.solvers)->default_value(o.profile.solvers)->value_name("settings|tuned"),
     "a solver of the profiles: an optimizer with one parameter setting, or an optimizer at its best setting per problem")
    ("tau", po::value(&o.profile.tau)->default_value(o.profile.tau)->value_name("LIST"), "the tau of the printed rho(tau)")
    ("alpha", po::value(&o.profile.alpha)->value_name("LIST"),
     "the alpha of the printed d(alpha) (default: the powers of ten spanning the costs)")
    ("r-max", po::value(&o.profile.r_max)->default_value(o.profile.r_max)->value_name("R"),
     "upper end of the profile's area, (1/(R-1)) * integral of rho from 1 to R")
    ("profiles-csv", po::value(&o.profiles_csv)->value_name("FILE.csv"),
     "write the costs, ratios and profiles as tidy CSV (kind,solver,problem,x,value)")
    ("bootstrap", po::value(&o.bootstrap.resamples)->default_value(o.bootstrap.resamples)->value_name("B"),
     "resamples of the percentile-bootstrap 95% interval of every median")
    ("bootstrap-seed", po::value(&o.bootstrap.seed)->default_value(o.bootstrap.seed)->value_name("SEED"),
     "seed of the bootstrap's SplitMix64 (each interval starts from it)")
    ("manifest", po::value(&manifest_file)->value_name("FILE"),
     "print only the reproducibility manifest of FILE, a results file (.h5) or a kappa solve JSON output (.json), "
     "one 'key: value' a line (docs/study.md); exit 1 when it has none")
    ("html", po::value(&o.html)->value_name("OUT.html"),
     "write one self-contained page: manifest, tables with intervals, profiles, curves, heatmap")
    ("html-heatmap", po::value(&o.heatmap)->multitoken()->value_name("AXIS AXIS"),
     "the two axes of the page's heatmap (default: the two axes with most values)");
  po::positional_options_description positional;
  positional.add("file", 1);
  if (!parse_command_line(argc, argv, usage, options, &positional)) return 0;
  if (!manifest_file.empty()) {
    std::cout << manifest_text(read_any_manifest(manifest_file));
    return 0;
  }
  if (o.file.empty()) throw UsageError("give the results file, e.g. kappa report results.h5 (see --help)");
  std::error_code error;
  if (!std::filesystem::exists(o.file, error)) throw InputError("results file '" + o.file + "' does not exist");
  require_regular_input(o.file, "results file");
  parse_cost(o.profile.cost);
  if (o.profile.solvers != "settings" && o.profile.solvers != "tuned")
    throw UsageError("--solvers '" + o.profile.solvers + "': expected settings or tuned");
  parse_numbers("--tau", o.profile.tau, 1);
  if (!o.profile.alpha.empty()) parse_numbers("--alpha", o.profile.alpha, 0);
  if (!(o.profile.r_max > 1) || !std::isfinite(o.profile.r_max))
    throw UsageError("--r-max " + format_number(o.profile.r_max) + ": must be a finite number > 1");
  if (o.bootstrap.resamples < 1) throw UsageError("--bootstrap 0: give at least 1 resample");
  if (!o.heatmap.empty() && o.heatmap.size() != 2)
    throw UsageError("--html-heatmap: give two axes, e.g. --html-heatmap optimizer synthetic.cond");
  for (const std::string* output : {&o.profiles_csv, &o.html})
    if (!output->empty()) require_writable(*output);

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
    double number = 0;
    const bool numeric = columns.type(key) != ColumnType::text && is_number(value, number);
    // A VALUE that is no number, of a numeric parameter with keyword values (gd.lr=auto, gd.lr=),
    // is compared with the text of KEY_spec (axis_column).
    const std::size_t c = columns.at(numeric ? key : axis_column(key, columns));
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

  const Target target = parse_target(o.profile.target, columns, o.file);
  std::vector<const Axis*> heatmap_axes;
  for (const std::string& name : o.heatmap) {
    const auto found = std::find_if(axes.begin(), axes.end(), [&](const Axis& a) { return a.name == name || a.column == name; });
    if (found == axes.end()) throw InputError("--html-heatmap '" + name + "': no such axis of '" + o.file + "'");
    heatmap_axes.push_back(&*found);
  }

  std::ostringstream header;
  print_header(o, results, total_rows, columns, axes, header);
  std::cout << header.str();
  HtmlPage page{"kappa report: " + o.file, {}};
  if (!o.html.empty()) page.sections.push_back(manifest_section(o.file, results.grid_text));
  const auto write_page = [&] {
    if (!o.html.empty()) write_file_atomically(o.html, render_html(page));
  };
  if (results.rows.empty()) {
    std::cout << "\nno finished tasks yet\n";
    page.sections.push_back({"Summary", header.str() + " No finished tasks yet.", {}, {}, ""});
    write_page();
    return 0;
  }
  const Summary summary(results, columns, o.metric);
  const std::vector<std::string> optimizers = optimizer_order(summary, axes);
  std::ostringstream legend;
  legend << "converged = share of the tasks with status " << converged_statuses() << "\n"
         << short_name(o.metric) << ", iters, epochs = medians over the tasks (NaN ignored; failed tasks count too)\n"
         << kInterval << " = percentile bootstrap interval of the median, " << o.bootstrap.resamples
         << " resamples, seed " << o.bootstrap.seed << " (docs/report-semantics.md)\n";
  std::cout << legend.str();
  HtmlSection overview{"Summary", header.str() + legend.str(), {by_optimizer_table(summary, optimizers, o.metric, o.bootstrap)}, {}, ""};
  print_text_table(std::cout, overview.tables.back());
  HtmlSection per_axis{"Per-axis tables", "", {}, {}, ""};
  for (const Axis& axis : shown) {
    per_axis.tables.push_back(by_axis_table(summary, axis, optimizers, o.metric, o.bootstrap));
    print_text_table(std::cout, per_axis.tables.back());
  }
  per_axis.tables.push_back(print_best(summary, axes, optimizers, o.metric, o.bootstrap));
  const std::string reference = reference_text(summary, o.metric, o.bootstrap);
  std::cout << '\n' << reference;
  overview.text += reference;

  if (o.profiles || o.tuning || !o.profiles_csv.empty() || !o.html.empty()) {
    const CostMeasure measure = parse_cost(o.profile.cost);
    const Study study = collect_study(summary, axes, target);
    const Profiles profiles = compute_profiles(study, optimizers, measure, o.profile.solvers == "tuned");
    const std::vector<double> taus = parse_numbers("--tau", o.profile.tau, 1);
    const std::vector<double> alphas = o.profile.alpha.empty() ? default_alphas(profiles) : parse_numbers("--alpha", o.profile.alpha, 0);
    HtmlSection profile_section{"Profiles",
                                "A problem: one data set with its problem settings; a solver: " +
                                    std::string(o.profile.solvers == "tuned" ? "an optimizer at its best setting on each problem"
                                                                             : "an optimizer with one parameter setting") +
                                    ". rho_s(tau): share of problems with cost ratio <= tau; d_s(alpha): share solved within "
                                    "alpha units of cost; failed, crashed and diverged tasks never solve (docs/report-semantics.md).",
                                profile_tables(profiles, target, measure, taus, alphas, o.profile.r_max),
                                {}, ""};
    const ReportTable work = work_table(study, optimizers, target, o.bootstrap);
    if (o.profiles) {
      for (const ReportTable& table : profile_section.tables) print_text_table(std::cout, table);
      print_text_table(std::cout, work);
    }
    const std::vector<ReportTable> tuning = tuning_tables(study, optimizers, o.metric, o.bootstrap);
    if (o.tuning) {
      if (tuning.empty()) std::cout << "\nno optimizer has a tuned axis (a parameter with two values or more)\n";
      for (const ReportTable& table : tuning) print_text_table(std::cout, table);
    }
    if (!o.profiles_csv.empty()) write_file_atomically(o.profiles_csv, profiles_csv(study, profiles, taus, alphas, o.profile.r_max));
    if (!o.html.empty()) {
      profile_section.figures = profile_figures(profiles, target, measure);
      page.sections.push_back(overview);
      page.sections.push_back(profile_section);
      page.sections.push_back({"Work to target", "", {work}, {}, ""});
      HtmlSection curves{"Curves and heatmap", "", {}, {{"median rel_w_err against data passes", curves_figure(summary, optimizers)}}, ""};
      if (heatmap_axes.empty()) {  // the two axes with most values, the first in grid order among equal ones
        std::vector<const Axis*> candidates;
        for (const Axis& axis : axes) candidates.push_back(&axis);
        std::stable_sort(candidates.begin(), candidates.end(), [](const Axis* a, const Axis* b) {
          return a->grid_values.size() > b->grid_values.size();
        });
        if (candidates.size() >= 2) heatmap_axes = {candidates[0], candidates[1]};
      }
      if (heatmap_axes.size() == 2)
        curves.figures.push_back({"share of tasks reaching " + target.text + " over " + heatmap_axes[0]->name + " and " +
                                      heatmap_axes[1]->name,
                                  heatmap_figure(summary, study, *heatmap_axes[0], *heatmap_axes[1], target)});
      else
        curves.text = "No heatmap: the grid has fewer than two axes.";
      page.sections.push_back(curves);
      page.sections.push_back(per_axis);
      if (!tuning.empty()) page.sections.push_back({"Tuning", "", tuning, {}, ""});
      write_page();
    }
  }
  return 0;
}

}  // namespace kappa::cli
