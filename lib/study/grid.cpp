// Study grids (study/grid.hpp): parsing the INI file, validating every value before
// anything runs, and expanding the axes into tasks.

#include "study/grid.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <set>
#include <sstream>
#include <stdexcept>
#include <unordered_map>

#include "kappa/error.hpp"
#include "kappa/parse.hpp"
#include "study/results.hpp"
#include "core/data/synthetic.hpp"

namespace kappa {
namespace {

// 64-bit FNV-1a; with another offset basis, a second hash independent enough of the first to
// tell settings apart by both (Planner::expand).
constexpr std::uint64_t kFnvBasis = 14695981039346656037ULL;
constexpr std::uint64_t kSecondBasis = 0x9e3779b97f4a7c15ULL;
std::uint64_t fnv1a(const std::string& text, std::uint64_t hash = kFnvBasis) {
  for (const unsigned char c : text) {
    hash ^= c;
    hash *= 1099511628211ULL;
  }
  return hash;
}

// ---------------------------------------------------------------------------------------------
// Normalized value text. Numbers are written in the shortest form that reads back to the same
// double, so "1e-3" and "0.001" are one value (one task key).

std::string round_trip(double value) {
  char text[40];
  for (int digits = 15; digits <= 17; ++digits) {
    std::snprintf(text, sizeof text, "%.*g", digits, value);
    if (std::strtod(text, nullptr) == value) break;
  }
  return text;
}

// The reason of an InputError from parse.hpp without its "<what>: " prefix.
std::string reason_of(const InputError& error, const std::string& what) {
  const std::string message = error.what();
  const std::string prefix = what + ": ";
  return message.compare(0, prefix.size(), prefix) == 0 ? message.substr(prefix.size()) : message;
}

// Normalizes `text` for a value of `type`; throws InputError("'x' is not a number", ...).
std::string normalized(ParamType type, const std::string& text, const std::string& keyword = "") {
  const std::string what = "value";
  try {
    if (!keyword.empty() && text == keyword) return text;
    switch (type) {
      case ParamType::real: return round_trip(parse_real(text, what));
      case ParamType::integer: return std::to_string(parse_integer(text, what));
      case ParamType::boolean: return parse_bool(text, what) ? "true" : "false";
      case ParamType::choice: return text;
    }
  } catch (const InputError& error) {
    throw InputError(reason_of(error, what));
  }
  return text;
}

ColumnType column_type_of(ParamType type) {
  switch (type) {
    case ParamType::real: return ColumnType::real;
    case ParamType::integer:
    case ParamType::boolean: return ColumnType::integer;
    case ParamType::choice: return ColumnType::text;
  }
  return ColumnType::text;
}

// A normalized value as a cell of a column of `type`; a keyword (not a number) in a real
// column is NaN.
Cell cell_of(ColumnType type, const std::string& normalized_text) {
  switch (type) {
    case ColumnType::integer:
      if (normalized_text == "true") return 1LL;
      if (normalized_text == "false") return 0LL;
      return parse_integer(normalized_text, "value");
    case ColumnType::real:
      try {
        return parse_real(normalized_text, "value");
      } catch (const InputError&) {
        return arma::datum::nan;  // a keyword (validated before)
      }
    case ColumnType::text: return normalized_text;
  }
  return normalized_text;
}

Cell empty_cell(ColumnType type) {
  if (type == ColumnType::real) return arma::datum::nan;
  if (type == ColumnType::text) return std::string();
  return -1LL;  // not used: integer columns always apply
}

// ---------------------------------------------------------------------------------------------
// The settings table. One row per grid key that maps to ExperimentSetup or RunControls.

using P = ProblemSpec;
using R = RunControls;

bool is_file(const P& problem) { return !problem.data_file.empty(); }
bool is_huber(const P& problem) { return problem.setup.loss.kind == LossKind::huber; }

std::vector<StudySetting> make_settings() {
  const ExperimentSetup setup;
  const DatasetPaths paths;
  const RunControls controls;
  const auto real_text = [](double value) { return round_trip(value); };
  const auto integer = [](const std::string& value, const std::string& name) { return parse_integer(value, name); };
  const auto real = [](const std::string& value, const std::string& name) { return parse_real(value, name); };
  return {
      {"x_train", ParamType::choice, paths.X_train, "dataset of the training design in data files", true,
       [](P& p, R&, const std::string& v) { p.paths.X_train = v; }, is_file},
      {"y_train", ParamType::choice, paths.y_train, "dataset of the training targets in data files", true,
       [](P& p, R&, const std::string& v) { p.paths.y_train = v; }, is_file},
      {"x_test", ParamType::choice, paths.X_test, "dataset of the test design in data files (may be absent)", true,
       [](P& p, R&, const std::string& v) { p.paths.X_test = v; }, is_file},
      {"y_test", ParamType::choice, paths.y_test, "dataset of the test targets in data files (may be absent)", true,
       [](P& p, R&, const std::string& v) { p.paths.y_test = v; }, is_file},
      {"loss", ParamType::choice, to_string(setup.loss.kind), "l2 | l1 | huber", true,
       [](P& p, R&, const std::string& v) { p.setup.loss.kind = parse_loss(v); }, nullptr},
      {"huber_delta", ParamType::real, real_text(setup.loss.huber_delta), "threshold of the huber loss (> 0; huber rows only)", true,
       [real](P& p, R&, const std::string& v) { p.setup.loss.huber_delta = real(v, "huber_delta"); }, is_huber},
      {"ridge", ParamType::real, real_text(setup.loss.ridge), "ridge penalty >= 0: adds ridge/2 |w_f|^2", true,
       [real](P& p, R&, const std::string& v) { p.setup.loss.ridge = real(v, "ridge"); }, nullptr},
      {"intercept", ParamType::boolean, setup.loss.intercept ? "true" : "false", "fit an intercept (the last weight)", true,
       [](P& p, R&, const std::string& v) { p.setup.loss.intercept = parse_bool(v, "intercept"); }, nullptr},
      {"preconditioner", ParamType::choice, setup.preconditioner, "preconditioner chain, e.g. none, standardize", true,
       [](P& p, R&, const std::string& v) {
         parse_preconditioner_chain(v);
         p.setup.preconditioner = v;
       },
       nullptr},
      {"reference", ParamType::choice, to_string(setup.reference_method), "direct solution w*: svd | qr | cholesky", true,
       [](P& p, R&, const std::string& v) { p.setup.reference_method = parse_direct_method(v); }, nullptr},
      {"formulation", ParamType::choice, to_string(setup.formulation), "regression | kernel-system (X_train a square kernel)", true,
       [](P& p, R&, const std::string& v) { p.setup.formulation = parse_formulation(v); }, nullptr},
      {"precision", ParamType::choice, to_string(setup.precision), "double | float: arithmetic of the iterative runs (references: double)", true,
       [](P& p, R&, const std::string& v) { p.setup.precision = parse_precision(v); }, nullptr, true},
      {"max_iterations", ParamType::integer, std::to_string(controls.max_iterations), "stop after N updates", false,
       [integer](P&, R& c, const std::string& v) { c.max_iterations = static_cast<long>(integer(v, "max_iterations")); }, nullptr},
      {"max_epochs", ParamType::real, real_text(controls.max_epochs), "stop after X data passes (0: none)", false,
       [real](P&, R& c, const std::string& v) { c.max_epochs = real(v, "max_epochs"); }, nullptr},
      {"grad_tol", ParamType::real, real_text(controls.grad_tol), "stop when |grad| <= X |grad_0| (0: off)", false,
       [real](P&, R& c, const std::string& v) { c.grad_tol = real(v, "grad_tol"); }, nullptr},
      {"loss_tol", ParamType::real, real_text(controls.loss_tol), "stop when the relative loss change <= X (0: off)", false,
       [real](P&, R& c, const std::string& v) { c.loss_tol = real(v, "loss_tol"); }, nullptr},
      {"time_limit", ParamType::real, real_text(controls.time_limit), "wall-time limit per task in seconds (0: none)", false,
       [real](P&, R& c, const std::string& v) { c.time_limit = real(v, "time_limit"); }, nullptr},
      {"divergence_factor", ParamType::real, real_text(controls.divergence_factor), "loss growth over f(w_0) that counts as divergence", false,
       [real](P&, R& c, const std::string& v) { c.divergence_factor = real(v, "divergence_factor"); }, nullptr},
      {"trace_points_per_decade", ParamType::integer, std::to_string(controls.trace_points_per_decade), "trace points per decade of iterations", false,
       [integer](P&, R& c, const std::string& v) {
         // Checked before narrowing to int: 4294967297 must not become 1.
         const long long points = integer(v, "trace_points_per_decade");
         if (points < 1 || points > 1000000)
           throw InputError("trace_points_per_decade = " + v + ": expected an integer in [1, 1000000]");
         c.trace_points_per_decade = static_cast<int>(points);
       },
       nullptr},
  };
}

const StudySetting* find_setting(const std::string& name) {
  for (const StudySetting& setting : study_settings())
    if (setting.name == name) return &setting;
  return nullptr;
}

// The index of one of the plan's own columns: its place in kPlanFields, after the settings'
// columns for those that follow kSettingsAfter.
std::size_t plan_column_index(PlanColumn column) {
  return static_cast<std::size_t>(column) + (column > kSettingsAfter ? study_settings().size() : 0);
}

// ---------------------------------------------------------------------------------------------
// Grid file syntax (Boost.Program_options config files: '#' comments, [section] prefixes).

bool valid_key(const std::string& key) {
  if (key.empty() || key.front() == '.' || key.back() == '.' || key.find("..") != std::string::npos) return false;
  return std::all_of(key.begin(), key.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '-';
  });
}

// Where a line's comment starts: the first '#' outside a quoted value (a value that starts with
// a double quote after '=' or a blank runs to the next double quote; split_values reads it so).
std::size_t comment_start(const std::string& line) {
  bool quoted = false;
  for (std::size_t at = 0; at < line.size(); ++at) {
    const char c = line[at];
    if (quoted) {
      quoted = c != '"';
    } else if (c == '#') {
      return at;
    } else if (c == '"' && at > 0 && (line[at - 1] == '=' || line[at - 1] == ' ' || line[at - 1] == '\t')) {
      quoted = true;
    }
  }
  return std::string::npos;
}

[[noreturn]] void fail_line(const std::string& name, int line, const std::string& reason) {
  throw InputError(name + ":" + std::to_string(line) + ": " + reason);
}

// Blank-separated values; a value that starts with a double quote runs to the next one.
std::vector<std::string> split_values(const std::string& text, const std::string& name, int line, const std::string& key) {
  std::vector<std::string> values;
  std::size_t at = 0;
  while (true) {
    at = text.find_first_not_of(" \t", at);
    if (at == std::string::npos) break;
    std::string value;
    if (text[at] == '"') {
      const std::size_t close = text.find('"', at + 1);
      if (close == std::string::npos) fail_line(name, line, "key '" + key + "': unterminated quote");
      value = text.substr(at + 1, close - at - 1);
      at = close + 1;
      if (at < text.size() && text[at] != ' ' && text[at] != '\t')
        fail_line(name, line, "key '" + key + "': a quoted value must be followed by a blank");
    } else {
      const std::size_t end = text.find_first_of(" \t", at);
      value = text.substr(at, end == std::string::npos ? std::string::npos : end - at);
      at = end == std::string::npos ? text.size() : end;
    }
    if (trim(value).empty()) fail_line(name, line, "key '" + key + "': empty value");
    values.push_back(value);
  }
  return values;
}

// ---------------------------------------------------------------------------------------------
// Planning.

enum class KeyKind { setting, data, synthetic, synthetic_key, optimizer, parameter, qualified_parameter, seed, repeats, zip };

struct Key {
  const GridEntry* entry = nullptr;
  KeyKind kind = KeyKind::setting;
  const StudySetting* setting = nullptr;
  std::string target;     // optimizer of a qualified parameter; spec key of synthetic.KEY
  std::string parameter;  // parameter name (qualified or not)
  std::vector<std::string> normalized;  // one per value
  ColumnType column = ColumnType::text;
  std::size_t column_index = 0;  // in plan.columns (settings and extra columns)
  // A numeric parameter with a keyword value (lr = auto 1e-3): its column is NaN there and a
  // text column NAME_spec (kSpecSuffix) holds every value as normalized ("auto", "0.001").
  bool spec = false;
  std::size_t spec_index = 0;
};

// What a grid point with a run seed expands to. Built during planning (to validate, deduplicate
// and number the tasks) and again on demand for one task (StudyTasks::operator[]).
struct Described {
  StudyTask task;  // without index, problem and optimizer (the plan's numbering)
  ProblemSpec problem;
  std::string optimizer;
  Params params;
  std::string params_text;
};

// Owns a copy of the grid (its Keys point into it): the plan keeps it to describe tasks on
// demand, so it is never copied or moved once built.
class Planner : public StudyTaskSource {
 public:
  Planner(const GridFile& grid, const PluginRegistry& registry) : grid_(grid), registry_(registry) {}
  Planner(const Planner&) = delete;
  Planner& operator=(const Planner&) = delete;
  StudyPlan plan(std::shared_ptr<const Planner> self);
  StudyTask describe(const StudyTaskRecord& record, std::size_t index) const override;
  PlannedOptimizer describe_optimizer(std::uint64_t point) const override;
  std::shared_ptr<const Optimizer> create_optimizer(const PlannedOptimizer& setting) const override {
    return registry_.create_validated(setting.name, setting.params);
  }

 private:
  [[noreturn]] void fail_key(const GridEntry& entry, std::size_t value, const std::string& reason) const {
    fail_line(grid_.name, entry.lines.at(value), "key '" + entry.key + "': " + reason);
  }
  [[noreturn]] void fail_grid(const std::string& reason) const { throw InputError(grid_.name + ": " + reason); }
  const GridEntry* find_entry(const std::string& key) const {
    for (const GridEntry& entry : grid_.entries)
      if (entry.key == key) return &entry;
    return nullptr;
  }
  bool grid_has(const std::string& optimizer) const {
    return std::find(optimizer_names_.begin(), optimizer_names_.end(), optimizer) != optimizer_names_.end();
  }
  const ParamSpec* param_spec(const std::string& optimizer, const std::string& name) const {
    for (const ParamSpec& spec : registry_.find(optimizer).info.params)
      if (spec.name == name) return &spec;
    return nullptr;
  }

  void read_optimizers();
  void classify(const GridEntry& entry);
  void check_setting(Key& key);
  void check_parameter(Key& key, const std::vector<std::string>& optimizers);
  void check_unique(const Key& key) const;
  void make_columns();
  void make_dimensions();
  void expand(StudyPlan& plan, std::vector<StudyTaskRecord>& records, std::vector<PlannedOptimizers::Setting>& settings);
  Described describe_point(std::uint64_t point) const;

  const GridFile grid_;
  const PluginRegistry& registry_;
  std::vector<std::string> optimizer_names_;
  std::vector<Key> keys_;
  long repeats_ = 1;
  long long seed_ = 0;
  // max_epochs without max_iterations: the epochs are the budget, no iteration cap (as kappa
  // solve --max-epochs without --max-iterations).
  bool lift_iterations_ = false;
  std::vector<ColumnSpec> columns_;
  std::vector<std::vector<std::size_t>> dimensions_;  // each: the keys_ varying together
  std::vector<std::string> zip_of_key_;               // per keys_ index
};

void Planner::read_optimizers() {
  const GridEntry* entry = find_entry("optimizer");
  if (!entry) fail_grid("no 'optimizer' key (e.g. optimizer = gd adam lbfgs cg)");
  for (std::size_t i = 0; i < entry->values.size(); ++i) {
    const std::string& name = entry->values[i];
    try {
      registry_.find(name);
    } catch (const InputError& error) {
      const std::string hint = name.find(',') != std::string::npos ? " (values are separated by blanks, not commas)" : "";
      fail_key(*entry, i, error.what() + hint);
    }
    optimizer_names_.push_back(name);
  }
}

void Planner::check_unique(const Key& key) const {
  std::set<std::string> seen;
  for (std::size_t i = 0; i < key.normalized.size(); ++i)
    if (!seen.insert(key.normalized[i]).second)
      fail_key(*key.entry, i, "the value '" + key.entry->values[i] + "' is given twice");
}

// A setting's value is checked by applying it to the defaults and running the library's own
// validation. The scratch loss is huber so that huber_delta is checked too (a `loss` value
// replaces it).
void Planner::check_setting(Key& key) {
  const StudySetting& setting = *key.setting;
  key.column = column_type_of(setting.type);
  for (std::size_t i = 0; i < key.entry->values.size(); ++i) {
    try {
      key.normalized.push_back(normalized(setting.type, key.entry->values[i]));
      ProblemSpec problem;
      problem.setup.loss.kind = LossKind::huber;
      RunControls controls;
      setting.apply(problem, controls, key.normalized.back());
      problem.setup.loss.validate();
      controls.validate();
    } catch (const InputError& error) {
      fail_key(*key.entry, i, error.what());
    }
  }
}

// Each value is validated alone against the schema of every optimizer it applies to. The column
// is numeric when the parameter is a number for each of them: int64 when it is an integer of
// every optimizer of the grid (it applies to every row) and no value is a keyword, else float64
// (NaN for a keyword, whose text goes to NAME_spec); text for a choice or boolean.
void Planner::check_parameter(Key& key, const std::vector<std::string>& optimizers) {
  bool all_real = true;
  bool all_integer = optimizers.size() == optimizer_names_.size();
  bool keyword = false;
  for (std::size_t i = 0; i < key.entry->values.size(); ++i) {
    const std::string& value = key.entry->values[i];
    std::string normal;
    for (const std::string& optimizer : optimizers) {
      const ParamSpec* spec = param_spec(optimizer, key.parameter);
      try {
        registry_.validate(optimizer, RawParams{{key.parameter, value}});
        if (normal.empty()) normal = normalized(spec->type, value, spec->keyword);
      } catch (const InputError& error) {
        fail_key(*key.entry, i, error.what());
      }
      if (spec->type != ParamType::real && spec->type != ParamType::integer) all_real = false;
      if (spec->type != ParamType::integer) all_integer = false;
      if (!spec->keyword.empty() && value == spec->keyword) keyword = true;
    }
    key.normalized.push_back(normal);
  }
  key.column = !all_real ? ColumnType::text : all_integer && !keyword ? ColumnType::integer : ColumnType::real;
  key.spec = all_real && keyword;
}

void Planner::classify(const GridEntry& entry) {
  Key key;
  key.entry = &entry;
  const std::string& name = entry.key;
  const auto single = [&](const std::string& what) {
    if (entry.values.size() != 1) fail_key(entry, 1, what + " takes one value, got " + std::to_string(entry.values.size()));
  };
  if (name == "optimizer") {
    key.kind = KeyKind::optimizer;
    key.normalized = entry.values;
  } else if (name == "data") {
    key.kind = KeyKind::data;
    key.normalized = entry.values;
  } else if (name == "synthetic") {
    key.kind = KeyKind::synthetic;
    for (std::size_t i = 0; i < entry.values.size(); ++i) {
      try {
        key.normalized.push_back(join(split_list(entry.values[i], "synthetic spec"), ","));
      } catch (const InputError& error) {
        fail_key(entry, i, error.what());
      }
    }
  } else if (name.rfind("synthetic.", 0) == 0) {
    key.kind = KeyKind::synthetic_key;
    key.target = name.substr(std::string("synthetic.").size());
    if (key.target == "kind") fail_key(entry, 0, "the kind of a synthetic spec cannot vary (give whole specs in 'synthetic')");
    bool all_real = true;
    for (std::size_t i = 0; i < entry.values.size(); ++i) {
      const std::string& value = entry.values[i];
      if (value.find_first_of(",=") != std::string::npos)
        fail_key(entry, i, "value '" + value + "' may not contain ',' or '='");
      try {
        key.normalized.push_back(normalized(ParamType::real, value));
      } catch (const InputError&) {
        all_real = false;
        key.normalized.push_back(value);
      }
    }
    if (!all_real) key.normalized = entry.values;
    key.column = all_real ? ColumnType::real : ColumnType::text;
  } else if (name == "seed" || name == "repeats") {
    single(name);
    key.kind = name == "seed" ? KeyKind::seed : KeyKind::repeats;
    long long value = 0;
    try {
      value = parse_integer(entry.values[0], name);
    } catch (const InputError& error) {
      fail_key(entry, 0, error.what());
    }
    if (name == "seed") {
      if (value < 0) fail_key(entry, 0, "the seed must be an integer >= 0");
      seed_ = value;
    } else {
      if (value < 1 || value > 1000000) fail_key(entry, 0, "repeats must be an integer in [1, 1000000]");
      repeats_ = static_cast<long>(value);
    }
  } else if (name == "zip") {
    key.kind = KeyKind::zip;
    key.normalized = entry.values;
  } else if ((key.setting = find_setting(name))) {
    key.kind = KeyKind::setting;
    check_setting(key);
  } else if (name.find('.') != std::string::npos) {
    key.kind = KeyKind::qualified_parameter;
    key.target = name.substr(0, name.find('.'));
    key.parameter = name.substr(name.find('.') + 1);
    if (!grid_has(key.target))
      fail_key(entry, 0, "'" + key.target + "' is not an optimizer of this grid (optimizer = " + join(optimizer_names_, " ") +
                             ") nor 'synthetic'");
    if (!param_spec(key.target, key.parameter)) {
      try {
        registry_.validate(key.target, RawParams{{key.parameter, entry.values[0]}});
      } catch (const InputError& error) {
        fail_key(entry, 0, error.what());
      }
    }
    check_parameter(key, {key.target});
  } else {
    key.kind = KeyKind::parameter;
    key.parameter = name;
    std::vector<std::string> having;
    for (const std::string& optimizer : optimizer_names_)
      if (param_spec(optimizer, name)) having.push_back(optimizer);
    if (having.empty())
      fail_key(entry, 0, "unknown key: not a study setting, and no optimizer of this grid (" + join(optimizer_names_, ", ") +
                             ") has such a parameter (see docs/study.md and kappa plugins)");
    check_parameter(key, having);
  }
  if (key.kind != KeyKind::zip && key.kind != KeyKind::seed && key.kind != KeyKind::repeats) check_unique(key);
  keys_.push_back(std::move(key));
}

// Columns: identification, data, every setting, optimizer and its parameters, then the keys
// that only this grid has (synthetic.KEY, optimizer parameters), in file order.
void Planner::make_columns() {
  for (const PlanField& field : kPlanFields) {
    columns_.push_back({field.name, field.type});
    if (field.column == kSettingsAfter)
      for (const StudySetting& setting : study_settings()) columns_.push_back({setting.name, column_type_of(setting.type)});
  }
  for (Key& key : keys_) {
    if (key.kind == KeyKind::setting) {
      for (std::size_t i = 0; i < columns_.size(); ++i)
        if (columns_[i].name == key.entry->key) key.column_index = i;
    } else if (key.kind == KeyKind::synthetic_key || key.kind == KeyKind::parameter || key.kind == KeyKind::qualified_parameter) {
      key.column_index = columns_.size();
      columns_.push_back({key.entry->key, key.column});
      if (key.spec) {
        key.spec_index = columns_.size();
        columns_.push_back({key.entry->key + kSpecSuffix, ColumnType::text});
      }
    }
  }
}

// Every key that varies (except zip, seed, repeats) is a dimension; a zip group is one.
void Planner::make_dimensions() {
  std::map<std::string, std::size_t> key_index;
  for (std::size_t i = 0; i < keys_.size(); ++i) key_index[keys_[i].entry->key] = i;
  zip_of_key_.assign(keys_.size(), "");
  std::vector<int> group_of(keys_.size(), -1);
  std::vector<std::vector<std::size_t>> groups;
  for (const Key& key : keys_) {
    if (key.kind != KeyKind::zip) continue;
    for (std::size_t v = 0; v < key.entry->values.size(); ++v) {
      std::vector<std::string> names;
      try {
        names = split_list(key.entry->values[v], "zip group");
      } catch (const InputError& error) {
        fail_key(*key.entry, v, error.what());
      }
      if (names.size() < 2) fail_key(*key.entry, v, "group '" + key.entry->values[v] + "' needs two or more keys (a,b)");
      std::vector<std::size_t> members;
      for (const std::string& name : names) {
        const auto found = key_index.find(name);
        if (found == key_index.end()) fail_key(*key.entry, v, "'" + name + "' is not a key of this grid");
        const KeyKind kind = keys_[found->second].kind;
        if (kind == KeyKind::zip || kind == KeyKind::seed || kind == KeyKind::repeats)
          fail_key(*key.entry, v, "'" + name + "' cannot be zipped");
        if (group_of[found->second] >= 0) fail_key(*key.entry, v, "'" + name + "' is in two zip groups");
        const std::size_t size = keys_[found->second].entry->values.size();
        const std::size_t first_size = members.empty() ? size : keys_[members.front()].entry->values.size();
        if (size != first_size)
          fail_key(*key.entry, v, "'" + names.front() + "' has " + std::to_string(first_size) + " values but '" + name + "' has " +
                                      std::to_string(size) + "; zipped keys need as many values each");
        group_of[found->second] = static_cast<int>(groups.size());
        members.push_back(found->second);
      }
      for (std::size_t member : members) zip_of_key_[member] = join(names, ",");
      groups.push_back(members);
    }
  }
  std::vector<bool> placed(groups.size(), false);
  for (std::size_t i = 0; i < keys_.size(); ++i) {
    const KeyKind kind = keys_[i].kind;
    if (kind == KeyKind::zip || kind == KeyKind::seed || kind == KeyKind::repeats) continue;
    if (group_of[i] < 0) {
      dimensions_.push_back({i});
    } else if (!placed[group_of[i]]) {
      placed[group_of[i]] = true;
      dimensions_.push_back(groups[group_of[i]]);
    }
  }
}

// The spec with `key=value` set: replaced where the spec has the key, appended otherwise.
std::string with_spec_key(const std::string& spec, const std::string& key, const std::string& value) {
  std::vector<std::string> items = split_list(spec, "synthetic spec");
  bool replaced = false;
  for (std::size_t i = 1; i < items.size(); ++i)
    if (trim(items[i].substr(0, items[i].find('='))) == key) {
      items[i] = key + "=" + value;
      replaced = true;
    }
  if (!replaced) items.push_back(key + "=" + value);
  return join(items, ",");
}

// The cells of an optimizer parameter's value: its column, and NAME_spec if it has one.
void set_parameter_cells(const Key& key, std::size_t value, std::vector<Cell>& cells) {
  cells[key.column_index] = cell_of(key.column, key.normalized[value]);
  if (key.spec) cells[key.spec_index] = key.normalized[value];
}

// `point` numbers the grid points with their repeats in product order: the odometer over the
// dimensions, the last one fastest, repeats innermost.
Described Planner::describe_point(std::uint64_t point) const {
  const long repeat = static_cast<long>(point % static_cast<std::uint64_t>(repeats_));
  std::uint64_t cell = point / static_cast<std::uint64_t>(repeats_);
  std::vector<std::size_t> choice(dimensions_.size(), 0);
  for (std::size_t d = dimensions_.size(); d > 0; --d) {
    const std::uint64_t size = keys_[dimensions_[d - 1].front()].entry->values.size();
    choice[d - 1] = static_cast<std::size_t>(cell % size);
    cell /= size;
  }
  ProblemSpec problem;
  RunControls controls;
  std::string optimizer;
  std::vector<const Key*> chosen_keys;
  std::vector<std::size_t> chosen_values;
  for (std::size_t d = 0; d < dimensions_.size(); ++d)
    for (std::size_t k : dimensions_[d]) {
      chosen_keys.push_back(&keys_[k]);
      chosen_values.push_back(choice[d]);
    }
  // Data first (settings' `applies` look at it), then settings, then the synthetic keys.
  for (std::size_t i = 0; i < chosen_keys.size(); ++i) {
    const Key& key = *chosen_keys[i];
    const std::string& value = key.normalized[chosen_values[i]];
    if (key.kind == KeyKind::data) {
      problem.data = value;
      const std::filesystem::path path(value);
      problem.data_file = path.is_absolute() ? value : (std::filesystem::path(grid_.directory) / path).lexically_normal().string();
    } else if (key.kind == KeyKind::synthetic) {
      problem.data = problem.synthetic = value;
    } else if (key.kind == KeyKind::optimizer) {
      optimizer = value;
    }
  }
  std::vector<Cell> cells(columns_.size());
  for (std::size_t c = 0; c < columns_.size(); ++c) cells[c] = empty_cell(columns_[c].type);
  for (std::size_t i = 0; i < chosen_keys.size(); ++i) {
    const Key& key = *chosen_keys[i];
    const std::string& value = key.normalized[chosen_values[i]];
    if (key.kind == KeyKind::setting) key.setting->apply(problem, controls, value);
    if (key.kind == KeyKind::synthetic_key) {
      problem.data = problem.synthetic = with_spec_key(problem.synthetic, key.target, value);
      cells[key.column_index] = cell_of(key.column, value);
    }
  }
  // Optimizer parameters: a qualified key wins over an unqualified one.
  RawParams raw;
  std::set<std::string> qualified;
  for (std::size_t i = 0; i < chosen_keys.size(); ++i) {
    const Key& key = *chosen_keys[i];
    if (key.kind == KeyKind::qualified_parameter && key.target == optimizer) {
      raw[key.parameter] = key.entry->values[chosen_values[i]];
      qualified.insert(key.parameter);
      set_parameter_cells(key, chosen_values[i], cells);
    }
  }
  for (std::size_t i = 0; i < chosen_keys.size(); ++i) {
    const Key& key = *chosen_keys[i];
    if (key.kind == KeyKind::parameter && !qualified.count(key.parameter) && param_spec(optimizer, key.parameter)) {
      raw[key.parameter] = key.entry->values[chosen_values[i]];
      set_parameter_cells(key, chosen_values[i], cells);
    }
  }
  controls.seed = static_cast<std::uint64_t>(seed_ + repeat);
  const bool lifted = lift_iterations_ && controls.max_epochs > 0;
  if (lifted) controls.max_iterations = std::numeric_limits<long>::max();

  // Canonical texts: the problem, then the run. Settings that do not apply are left out.
  std::string problem_text = (problem.data_file.empty() ? "synthetic=" : "file=") + problem.data + "\n";
  std::string run_text;
  for (const StudySetting& setting : study_settings()) {
    std::string value = normalized(setting.type, setting.default_value);
    for (std::size_t i = 0; i < chosen_keys.size(); ++i)
      if (chosen_keys[i]->setting == &setting) value = chosen_keys[i]->normalized[chosen_values[i]];
    if (lifted && setting.name == "max_iterations") value = std::to_string(controls.max_iterations);
    if (setting.applies && !setting.applies(problem)) continue;
    if (!setting.keyed_only_when_changed || value != normalized(setting.type, setting.default_value))
      (setting.of_problem ? problem_text : run_text) += setting.name + "=" + value + "\n";
    std::size_t column = 0;
    while (columns_[column].name != setting.name) ++column;
    cells[column] = cell_of(columns_[column].type, value);
  }

  // A synthetic spec is checked here, before anything runs, rather than failing every task of
  // its problem at run time (a data file can only be checked by reading it).
  if (!problem.synthetic.empty()) {
    SyntheticShape shape;
    try {
      shape = check_spec(problem.synthetic);
    } catch (const InputError& error) {
      fail_grid(error.what());
    }
    if (problem.setup.formulation == Formulation::kernel_system && shape.samples != shape.features)
      fail_grid("synthetic spec '" + problem.synthetic + "' gives a " + std::to_string(shape.samples) + " x " +
                std::to_string(shape.features) + " design, but formulation = kernel-system needs a square kernel");
  }
  if (problem.setup.formulation == Formulation::kernel_system) {
    try {
      check_setup(problem.setup);
    } catch (const InputError& error) {
      fail_grid("a task with formulation = kernel-system: " + std::string(error.what()) +
                " (give such values only with the regression formulation, e.g. by zip)");
    }
  }

  Params params;
  try {
    params = registry_.validate(optimizer, raw);
  } catch (const InputError& error) {
    fail_grid(error.what());
  }
  std::vector<std::string> param_texts;
  for (const auto& [name, text] : params.as_text()) {
    const ParamSpec* spec = param_spec(optimizer, name);
    param_texts.push_back(name + "=" + (spec ? normalized(spec->type, text, spec->keyword) : text));
  }
  const std::string params_text = join(param_texts, ";");
  const std::string task_text = "format=" + std::to_string(kTaskKeyVersion) + "\n" + problem_text + run_text +
                                "optimizer=" + optimizer + "\nparams=" + params_text + "\nseed=" + std::to_string(controls.seed) + "\n";
  Described described;
  described.task.canonical = task_text;
  described.task.key = stable_hash(task_text);
  described.task.controls = controls;
  described.task.repeat = repeat;
  cells[plan_column_index(PlanColumn::key)] = described.task.key;
  cells[plan_column_index(PlanColumn::repeat)] = static_cast<long long>(repeat);
  cells[plan_column_index(PlanColumn::seed)] = static_cast<long long>(controls.seed);
  cells[plan_column_index(PlanColumn::data)] = problem.data;
  cells[plan_column_index(PlanColumn::optimizer)] = optimizer;
  cells[plan_column_index(PlanColumn::params)] = params_text;
  described.task.cells = std::move(cells);
  problem.key = problem_text;
  described.problem = std::move(problem);
  described.optimizer = optimizer;
  described.params = std::move(params);
  described.params_text = params_text;
  return described;
}

PlannedOptimizer Planner::describe_optimizer(std::uint64_t point) const {
  Described described = describe_point(point);
  const std::string& name = described.optimizer;
  return {name, std::move(described.params), std::move(described.params_text), nullptr, registry_.find(name).info.theory};
}

StudyTask Planner::describe(const StudyTaskRecord& record, std::size_t index) const {
  StudyTask task = describe_point(record.point).task;
  task.index = index;
  task.problem = record.problem;
  task.optimizer = record.optimizer;
  task.cells[plan_column_index(PlanColumn::task)] = static_cast<long long>(index);
  return task;
}

void Planner::expand(StudyPlan& plan, std::vector<StudyTaskRecord>& records, std::vector<PlannedOptimizers::Setting>& settings) {
  std::unordered_map<std::uint64_t, std::size_t> seen;  // key -> record: duplicates, collisions
  std::map<std::string, std::size_t> problem_index;
  // A setting by two independent 64-bit hashes of its name and canonical parameters (not the
  // text: 1e6 settings would hold 1e6 texts); a false match needs both to collide (~2^-128).
  using Hashes = std::pair<std::uint64_t, std::uint64_t>;
  const auto first = [](const Hashes& hashes) { return static_cast<std::size_t>(hashes.first); };
  std::unordered_map<Hashes, std::uint32_t, decltype(first)> optimizer_index(16, first);
  // The run seeds seed .. seed + repeats - 1 are stored as signed 64-bit integers.
  if (seed_ > std::numeric_limits<long long>::max() - (repeats_ - 1))
    fail_grid("seed = " + std::to_string(seed_) + " with repeats = " + std::to_string(repeats_) +
              ": the run seeds seed .. seed + repeats - 1 would exceed 2^63 - 1");
  std::uint64_t points = static_cast<std::uint64_t>(repeats_);
  for (const auto& dimension : dimensions_) {
    const std::uint64_t values = keys_[dimension.front()].entry->values.size();
    if (__builtin_mul_overflow(points, values, &points))
      fail_grid("the grid has more than 2^64 tasks (the product of its axes' lengths and repeats)");
  }
  for (std::uint64_t point = 0; point < points; ++point) {
    Described described = describe_point(point);
    const std::uint64_t key = std::stoull(described.task.key, nullptr, 16);
    const auto found = seen.find(key);
    if (found != seen.end()) {
      // The same key: the same canonical text (a dropped duplicate) or a hash collision.
      if (describe_point(records[found->second].point).task.canonical == described.task.canonical) {
        ++plan.duplicates;
        continue;
      }
      fail_grid("two different tasks have the same key " + described.task.key + " (hash collision); please report");
    }
    seen.emplace(key, records.size());
    const ProblemSpec& problem = described.problem;
    auto found_problem = problem_index.find(problem.key);
    if (found_problem == problem_index.end()) {
      found_problem = problem_index.emplace(problem.key, plan.problems.size()).first;
      plan.problems.push_back(problem);
    }
    const std::string optimizer_key = described.optimizer + "\n" + described.params_text;
    const Hashes optimizer_hash{fnv1a(optimizer_key), fnv1a(optimizer_key, kSecondBasis)};
    auto found_optimizer = optimizer_index.find(optimizer_hash);
    if (found_optimizer == optimizer_index.end()) {
      // Validated by creating it once; the instance is dropped (a task creates its own).
      try {
        registry_.create_validated(described.optimizer, described.params);
      } catch (const InputError& error) {
        fail_grid("optimizer '" + described.optimizer + "' with " + described.params_text + ": " + error.what());
      }
      const auto kind = std::find(optimizer_names_.begin(), optimizer_names_.end(), described.optimizer) - optimizer_names_.begin();
      found_optimizer = optimizer_index.emplace(optimizer_hash, static_cast<std::uint32_t>(settings.size())).first;
      settings.push_back({point, static_cast<std::uint32_t>(kind)});
    }
    records.push_back({point, key, static_cast<std::uint32_t>(found_problem->second),
                       static_cast<std::uint32_t>(found_optimizer->second)});
  }
  // Problem-major order (stable), so that the tasks of one problem are handed out together.
  std::stable_sort(records.begin(), records.end(),
                   [](const StudyTaskRecord& a, const StudyTaskRecord& b) { return a.problem < b.problem; });
  // The grid hash: stable_hash of the sorted keys joined by newlines (fixed-width lower-case hex
  // sorts like the numbers).
  std::vector<std::uint64_t> keys;
  keys.reserve(records.size());
  for (const StudyTaskRecord& record : records) keys.push_back(record.key);
  std::sort(keys.begin(), keys.end());
  std::string text;
  for (std::size_t i = 0; i < keys.size(); ++i) text += (i > 0 ? "\n" : "") + key_text(keys[i]);
  plan.grid_hash = stable_hash(text);
}

StudyPlan Planner::plan(std::shared_ptr<const Planner> self) {
  read_optimizers();
  for (const GridEntry& entry : grid_.entries) classify(entry);
  const bool has_data = find_entry("data") != nullptr;
  const bool has_synthetic = find_entry("synthetic") != nullptr;
  if (has_data == has_synthetic)
    fail_grid(has_data ? "give either 'data' (files) or 'synthetic' (specs), not both: run two studies to compare them"
                       : "no data: give 'data = FILE ...' or 'synthetic = SPEC ...'");
  for (const Key& key : keys_)
    if (key.kind == KeyKind::synthetic_key && !has_synthetic)
      fail_key(*key.entry, 0, "needs synthetic specs ('synthetic = kind=...')");
  make_columns();
  make_dimensions();
  lift_iterations_ = find_entry("max_epochs") != nullptr && find_entry("max_iterations") == nullptr;

  StudyPlan plan;
  plan.grid_name = grid_.name;
  plan.grid_text = grid_.text;
  plan.repeats = repeats_;
  plan.columns = columns_;
  for (std::size_t i = 0; i < keys_.size(); ++i) {
    const Key& key = keys_[i];
    if (key.entry->values.size() > 1 && key.kind != KeyKind::zip)
      plan.axes.push_back({key.entry->key, key.entry->values, zip_of_key_[i]});
  }
  std::vector<StudyTaskRecord> records;
  std::vector<PlannedOptimizers::Setting> settings;
  expand(plan, records, settings);
  std::vector<PlannedOptimizers::Kind> kinds;
  for (const std::string& name : optimizer_names_) kinds.push_back({name, registry_.find(name).info.theory, registry_.find(name).info.lockstep});
  plan.optimizers = PlannedOptimizers(std::move(kinds), std::move(settings), self);
  plan.tasks = StudyTasks(std::move(records), std::move(self));
  return plan;
}

}  // namespace

const std::vector<StudySetting>& study_settings() {
  static const std::vector<StudySetting> settings = make_settings();
  return settings;
}

std::string stable_hash(const std::string& text) { return key_text(fnv1a(text)); }

std::string cell_text(const Cell& cell) {
  if (const auto* integer = std::get_if<long long>(&cell)) return std::to_string(*integer);
  if (const auto* number = std::get_if<double>(&cell)) return std::isnan(*number) ? "nan" : round_trip(*number);
  return std::get<std::string>(cell);
}

std::string csv_cell(const Cell& cell) {
  if (const auto* number = std::get_if<double>(&cell)) {
    std::string text = cell_text(cell);
    if (std::isinf(*number)) return *number > 0 ? "inf" : "-inf";
    if (text.find_first_of(".en") == std::string::npos) text += ".0";
    return text;
  }
  if (const auto* text = std::get_if<std::string>(&cell)) return text->empty() ? "\"\"" : csv_field(*text);
  return cell_text(cell);
}

GridFile parse_grid(const std::string& text, const std::string& name, const std::string& directory) {
  GridFile grid;
  grid.name = name;
  grid.directory = directory.empty() ? "." : directory;
  grid.text = text;
  // Text as editors write it: a UTF-8 byte-order mark is skipped, and CRLF and CR-only (old Mac)
  // line ends count as line ends. A NUL byte means the file is not text.
  const std::size_t nul = text.find('\0');
  if (nul != std::string::npos)
    throw InputError(name + ": byte " + std::to_string(nul + 1) + " is a NUL byte: a grid file is text (key = values lines)");
  std::string normalized = text.compare(0, 3, "\xEF\xBB\xBF") == 0 ? text.substr(3) : text;
  for (std::size_t at = normalized.find('\r'); at != std::string::npos; at = normalized.find('\r', at)) {
    if (at + 1 < normalized.size() && normalized[at + 1] == '\n')
      normalized.erase(at, 1);
    else
      normalized[at] = '\n';
  }
  std::istringstream lines(normalized);
  std::string line;
  std::string prefix;
  int number = 0;
  while (std::getline(lines, line)) {
    ++number;
    const std::size_t comment = comment_start(line);
    const std::string content = trim(comment == std::string::npos ? line : line.substr(0, comment));
    if (content.empty()) continue;
    if (content.front() == '[') {
      if (content.back() != ']') fail_line(name, number, "expected '[section]', got '" + content + "'");
      const std::string section = trim(content.substr(1, content.size() - 2));
      if (!valid_key(section)) fail_line(name, number, "invalid section name '" + section + "'");
      prefix = section + ".";
      continue;
    }
    const std::size_t equals = content.find('=');
    if (equals == std::string::npos) fail_line(name, number, "expected 'key = value ...' or '[section]', got '" + content + "'");
    const std::string key = prefix + trim(content.substr(0, equals));
    if (!valid_key(key)) fail_line(name, number, "invalid key '" + key + "' (letters, digits, '_', '-' and '.' only)");
    const std::vector<std::string> values = split_values(content.substr(equals + 1), name, number, key);
    if (values.empty()) fail_line(name, number, "key '" + key + "' has no value (an axis needs at least one)");
    auto entry = std::find_if(grid.entries.begin(), grid.entries.end(), [&](const GridEntry& e) { return e.key == key; });
    if (entry == grid.entries.end()) {
      grid.entries.push_back({key, {}, {}});
      entry = grid.entries.end() - 1;
    }
    for (const std::string& value : values) {
      entry->values.push_back(value);
      entry->lines.push_back(number);
    }
  }
  return grid;
}

GridFile read_grid_file(const std::string& path) {
  std::error_code error;
  const std::filesystem::file_status status = std::filesystem::status(path, error);
  if (std::filesystem::exists(status) && !std::filesystem::is_regular_file(status))
    throw InputError("grid file '" + path + "' is not a regular file (" +
                     (std::filesystem::is_directory(status) ? std::string("a directory")
                                                            : std::string("a FIFO or a device would block or never end")) +
                     ")");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError("grid file '" + path + "' cannot be read (does it exist?)");
  std::ostringstream text;
  text << in.rdbuf();
  const std::string directory = std::filesystem::path(path).parent_path().string();
  return parse_grid(text.str(), path, directory);
}

Dataset load_problem_data(const ProblemSpec& problem) {
  if (!problem.data_file.empty()) {
    const std::lock_guard<std::mutex> lock(hdf5_mutex());  // see study/results.hpp
    return read_hdf5(problem.data_file, problem.paths);
  }
  return generate_from_spec(problem.synthetic);
}

std::size_t StudyPlan::column(PlanColumn column) const { return plan_column_index(column); }

StudyPlan plan_study(const GridFile& grid, const PluginRegistry& registry) {
  auto planner = std::make_shared<Planner>(grid, registry);
  return planner->plan(planner);
}

std::string key_text(std::uint64_t key) {
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(key));
  return hex;
}

PlannedOptimizer PlannedOptimizers::operator[](std::size_t index) const {
  return source_->describe_optimizer(settings_[index].point);
}

PlannedOptimizer PlannedOptimizers::at(std::size_t index) const {
  if (index >= settings_.size())
    throw std::out_of_range("optimizer setting " + std::to_string(index) + " of " + std::to_string(settings_.size()));
  return (*this)[index];
}

PlannedOptimizer PlannedOptimizers::create(std::size_t index) const {
  PlannedOptimizer setting = at(index);
  setting.optimizer = source_->create_optimizer(setting);
  return setting;
}

const PlannedOptimizer& OptimizerInstances::get(std::size_t index) {
  for (auto entry = entries_.begin(); entry != entries_.end(); ++entry)
    if (entry->first == index) {
      entries_.splice(entries_.begin(), entries_, entry);  // now the most recently used
      return entries_.front().second;
    }
  PlannedOptimizer created = optimizers_.create(index);
  ++creations_;
  entries_.emplace_front(index, std::move(created));
  if (entries_.size() > std::max<std::size_t>(capacity_, 1)) entries_.pop_back();
  return entries_.front().second;
}

StudyTask StudyTasks::operator[](std::size_t index) const { return source_->describe(records_[index], index); }

StudyTask StudyTasks::at(std::size_t index) const {
  if (index >= records_.size())
    throw std::out_of_range("task " + std::to_string(index) + " of a grid of " + std::to_string(records_.size()));
  return (*this)[index];
}

}  // namespace kappa
