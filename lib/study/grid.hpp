#pragma once
// Study grids: an INI file in Boost.Program_options config syntax whose keys with several values
// are the axes of a Cartesian product of tasks (docs/study.md lists every key).
//
//   # comment                    '#' starts a comment anywhere on a line
//   optimizer = gd adam lbfgs    values are separated by blanks; "a b" quotes one with blanks
//   synthetic = kind=spectrum,n=200,d=20
//   synthetic.cond = 1e2 1e4     a key of every synthetic spec, set or replaced
//   lr = 1e-3 1e-2               an optimizer parameter: applies to every optimizer that has it
//   [adam]                       a section prefixes the keys below it: beta1 is adam.beta1,
//   beta1 = 0.9 0.99             which applies to adam only (and wins over an unqualified key)
//
// A key given on several lines collects all their values. `zip = a,b` makes axes a and b vary
// together (same number of values, i-th with i-th); `repeats = R` runs every cell with the run
// seeds seed, seed+1, ..., seed+R-1. Nothing in this header depends on MPI.

#include <cstddef>
#include <cstdint>
#include <iterator>
#include <functional>
#include <list>
#include <memory>
#include <string>
#include <variant>
#include <vector>

#include "core/data/dataset.hpp"
#include "core/experiment/experiment.hpp"
#include "kappa/monitor.hpp"
#include "kappa/params.hpp"
#include "core/loader/plugin_registry.hpp"
#include "study/schema.hpp"

namespace kappa {

// Version of the task keys: part of the canonical text each key hashes ("format=1"). It changes
// whenever a change of kappa makes old results incomparable; a change of the file layout alone
// changes kStudyFormatVersion (study/schema.hpp), not the keys.
constexpr int kTaskKeyVersion = 1;

// One key of a grid file with all its values, in file order, and the line of each value.
struct GridEntry {
  std::string key;
  std::vector<std::string> values;
  std::vector<int> lines;
};

struct GridFile {
  std::string name;       // as given, for messages ("grid.ini")
  std::string directory;  // relative data files are resolved against it
  std::string text;       // the whole file, kept in the results
  std::vector<GridEntry> entries;  // in order of first appearance
};

// Parses grid text. Throws InputError "<name>:<line>: <reason>" for a line that is neither
// "key = values" nor "[section]", an invalid key, an unterminated quote, or a key without value.
GridFile parse_grid(const std::string& text, const std::string& name, const std::string& directory = ".");
// Reads and parses a grid file (InputError when it cannot be read).
GridFile read_grid_file(const std::string& path);

// What a task's Experiment is built from. Tasks with equal `key` share one Experiment.
struct ProblemSpec {
  std::string data;       // as written in the grid: file name or final synthetic spec
  std::string data_file;  // the file resolved against the grid's directory; empty for synthetic
  std::string synthetic;  // the synthetic spec; empty for a file
  DatasetPaths paths;
  ExperimentSetup setup;
  std::string key;  // canonical text of all of the above
};

// Loads (file) or generates (spec) the data of a problem.
Dataset load_problem_data(const ProblemSpec& problem);

// One distinct optimizer setting of a plan, as PlannedOptimizers describes it on demand.
struct PlannedOptimizer {
  std::string name;
  Params params;
  std::string canonical;  // "lr=0.001;beta1=0.9": every parameter (defaults included), normalized
  std::shared_ptr<const Optimizer> optimizer;  // null from operator[]; set by create()
  MethodTheory theory;  // what its plugin declares (OptimizerInfo::theory): class and parameter names
};

struct StudyTask {
  std::size_t index = 0;
  std::string key;  // 16 hex digits: hash of the canonical text (with kTaskKeyVersion)
  std::string canonical;
  std::size_t problem = 0;    // into StudyPlan::problems
  std::size_t optimizer = 0;  // into StudyPlan::optimizers
  RunControls controls;
  long repeat = 0;
  std::vector<Cell> cells;  // one per StudyPlan::columns
};

// The fixed-size record a plan keeps per task (24 bytes); everything else about a task is
// derived from the grid on demand (StudyTasks::operator[]).
struct StudyTaskRecord {
  std::uint64_t point = 0;  // grid point and repeat in product order (the odometer over the
                            // axes, the last fastest; repeats innermost)
  std::uint64_t key = 0;    // StudyTask::key as a number
  std::uint32_t problem = 0;
  std::uint32_t optimizer = 0;
};

// Describes the task of a record (implemented by the planner, which keeps the grid).
class StudyTaskSource {
 public:
  virtual ~StudyTaskSource() = default;
  virtual StudyTask describe(const StudyTaskRecord& record, std::size_t index) const = 0;
  // The optimizer setting of grid point `point` (without instance), and an instance of one.
  virtual PlannedOptimizer describe_optimizer(std::uint64_t point) const = 0;
  virtual std::shared_ptr<const Optimizer> create_optimizer(const PlannedOptimizer& setting) const = 0;
};

// The distinct optimizer settings of a plan, held compactly so that no process needs memory
// per setting beyond 16 bytes: the optimizer's name and theory once per optimizer kind, and per
// setting the kind and the first grid point that has it. A setting's parameters and canonical
// text are derived from the grid when asked for (operator[], like a task: about 15 us) and an
// Optimizer instance is created only by create() (the planner creates each setting once to
// validate it, then drops it; a TaskRunner keeps the last few it ran: OptimizerInstances).
class PlannedOptimizers {
 public:
  struct Kind {
    std::string name;
    MethodTheory theory;
    bool lockstep = false;  // OptimizerInfo::lockstep
  };
  struct Setting {
    std::uint64_t point = 0;  // a grid point of the setting (StudyTaskRecord::point)
    std::uint32_t kind = 0;   // into kinds()
  };
  PlannedOptimizers() = default;
  PlannedOptimizers(std::vector<Kind> kinds, std::vector<Setting> settings, std::shared_ptr<const StudyTaskSource> source)
      : kinds_(std::move(kinds)), settings_(std::move(settings)), source_(std::move(source)) {}

  std::size_t size() const { return settings_.size(); }
  bool empty() const { return settings_.empty(); }
  PlannedOptimizer operator[](std::size_t index) const;  // derived from the grid, no instance
  PlannedOptimizer at(std::size_t index) const;          // std::out_of_range past the end
  PlannedOptimizer create(std::size_t index) const;      // with a new instance (may throw)
  const std::string& name(std::size_t index) const { return kind(index).name; }  // cheap
  const MethodTheory& theory(std::size_t index) const { return kind(index).theory; }
  bool lockstep(std::size_t index) const { return kind(index).lockstep; }
  const std::vector<Kind>& kinds() const { return kinds_; }  // the grid's optimizers, in its order

 private:
  const Kind& kind(std::size_t index) const { return kinds_.at(settings_.at(index).kind); }
  std::vector<Kind> kinds_;
  std::vector<Setting> settings_;
  std::shared_ptr<const StudyTaskSource> source_;
};

// The settings with their instances a process ran last (at most `capacity`, most recently used
// first): creating an optimizer per task costs little, but tasks of one setting (repeats,
// problems) often follow one another. One per TaskRunner: not thread-safe.
class OptimizerInstances {
 public:
  explicit OptimizerInstances(const PlannedOptimizers& optimizers, std::size_t capacity = 8)
      : optimizers_(optimizers), capacity_(capacity) {}
  // The setting with its instance, valid until the next call; throws what create() throws.
  const PlannedOptimizer& get(std::size_t index);
  std::size_t creations() const { return creations_; }

 private:
  const PlannedOptimizers& optimizers_;
  std::size_t capacity_;
  std::list<std::pair<std::size_t, PlannedOptimizer>> entries_;
  std::size_t creations_ = 0;
};

// The tasks of a plan as a compact sequence: 24 bytes per task, each StudyTask built when it is
// asked for (about 15 microseconds), so that no process holds a description of every task.
// Describing is const and touches no shared mutable state: threads may do it at once. The
// plugin registry the plan was made with must outlive it.
class StudyTasks {
 public:
  StudyTasks() = default;
  StudyTasks(std::vector<StudyTaskRecord> records, std::shared_ptr<const StudyTaskSource> source)
      : records_(std::move(records)), source_(std::move(source)) {}

  std::size_t size() const { return records_.size(); }
  bool empty() const { return records_.empty(); }
  StudyTask operator[](std::size_t index) const;
  StudyTask at(std::size_t index) const;  // std::out_of_range for an index past the end
  const StudyTaskRecord& record(std::size_t index) const { return records_.at(index); }
  std::size_t problem(std::size_t index) const { return records_.at(index).problem; }

  class iterator {
   public:
    using iterator_category = std::input_iterator_tag;
    using value_type = StudyTask;
    using difference_type = std::ptrdiff_t;
    using pointer = void;
    using reference = StudyTask;
    iterator(const StudyTasks* tasks, std::size_t index) : tasks_(tasks), index_(index) {}
    StudyTask operator*() const { return (*tasks_)[index_]; }
    iterator& operator++() {
      ++index_;
      return *this;
    }
    bool operator==(const iterator& other) const { return index_ == other.index_; }
    bool operator!=(const iterator& other) const { return index_ != other.index_; }

   private:
    const StudyTasks* tasks_;
    std::size_t index_;
  };
  iterator begin() const { return {this, 0}; }
  iterator end() const { return {this, records_.size()}; }

 private:
  std::vector<StudyTaskRecord> records_;  // in task order
  std::shared_ptr<const StudyTaskSource> source_;
};

struct StudyAxis {
  std::string name;
  std::vector<std::string> values;
  std::string zip;  // "a,b" when the axis belongs to a zip group, else empty
};

struct StudyPlan {
  std::string grid_name;
  std::string grid_text;
  std::string grid_hash;  // of the sorted task keys: the identity of the grid
  std::vector<StudyAxis> axes;  // keys with several values, in file order
  long repeats = 1;
  std::vector<ProblemSpec> problems;
  PlannedOptimizers optimizers;  // the distinct optimizer settings (StudyTask::optimizer)
  StudyTasks tasks;  // problem-major: tasks sharing a problem are adjacent
  std::vector<ColumnSpec> columns;  // the task's setup columns (the results add theirs)
  // The index in `columns` of one of the plan's own columns (kPlanFields).
  std::size_t column(PlanColumn column) const;
  std::size_t duplicates = 0;  // grid points identical to an earlier one (a key that does not
                               // apply to a row's optimizer or loss), dropped
};

// Validates every key and value (optimizer parameters against each optimizer's schema, setup
// values with the library's own rules) and expands the grid into tasks. Creates each distinct
// optimizer setting once, to validate it, and keeps no instance. Throws InputError "<file>:<line>: key '<key>': <reason>" for a bad key or
// value, and "<file>: <reason>" for a grid-level mistake (no optimizer, no data, zip groups).
StudyPlan plan_study(const GridFile& grid, const PluginRegistry& registry);

// The keys a grid may set besides data, synthetic[.KEY], optimizer, seed, repeats, zip and
// optimizer parameters: one row each, mapping the key to ExperimentSetup / RunControls. To
// add a setting, add a row to the table in grid.cpp.
struct StudySetting {
  std::string name;
  ParamType type;             // how values are checked and normalized (choice: free text)
  std::string default_value;  // as in the library's defaults (ExperimentSetup, RunControls)
  std::string help;
  bool of_problem;            // part of the Experiment (cache key) rather than of the run
  std::function<void(ProblemSpec&, RunControls&, const std::string&)> apply;  // parses and sets
  std::function<bool(const ProblemSpec&)> applies;  // null: always; else the key is ignored
                                                    // (and its column empty) where false
  // A setting added after the first task keys stays out of the task key at its default value,
  // so that the tasks written before it existed keep their keys (they had that value).
  bool keyed_only_when_changed = false;
};
const std::vector<StudySetting>& study_settings();

// 64-bit FNV-1a of `text` as 16 lower-case hex digits: stable across runs, builds and machines.
std::string stable_hash(const std::string& text);
// A key as 16 lower-case hex digits (the inverse of std::stoull(key, nullptr, 16)).
std::string key_text(std::uint64_t key);

// The text of a cell for messages, CSV and dry runs (reals in shortest round-trip form).
std::string cell_text(const Cell& cell);
// A cell as one CSV field that reads back with its column's type (pandas, docs/study.md): a
// real always with a decimal point or an exponent (0.0, 1e+10, nan, inf), an empty text as "",
// other text as csv_field.
std::string csv_cell(const Cell& cell);

}  // namespace kappa
