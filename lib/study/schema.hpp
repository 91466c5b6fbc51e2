#pragma once
// The one schema of a study's results: the columns every results row has, as tables that the
// rest of the study code is derived from. docs/study.md describes the same layout for readers.
//
// A row is the plan's columns (kPlanFields, with the study settings and the grid's own keys
// between and after them; study/grid.hpp), then the outcome columns (kOutcomeFields), then
// trace_start, trace_length. kOutcomeFields drives, in its order: the bytes of an outcome
// message between processes (encode_outcome, decode_outcome), the values a results row keeps in
// memory (StudyResults), the HDF5 datasets and CSV columns of the results file and their reading
// back (--resume, kappa report), and the report's column lookup.
//
// Adding a metric: a member of TaskOutcome below, its line in kOutcomeFields, and its value set
// by the runner (study/runner.cpp). A new column changes the file layout: kStudyFormatVersion.
//
// Nothing here depends on MPI or HDF5.

#include <cstddef>
#include <iterator>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <variant>
#include <vector>

#include "kappa/monitor.hpp"

namespace kappa {

// Version of the results file layout (the columns below, their order and types, docs/study.md).
// --resume and kappa report refuse a file of another version. 2: the column method_class.
// 3: the column relative_weight_error_range. 4: the columns lockstep_size, shared_epochs.
// 5: numeric parameter columns (NaN for a keyword, its text in NAME_spec), the columns
// setup_epochs and lr_used, epochs without the set-up passes, rank renamed mpi_rank.
constexpr int kStudyFormatVersion = 5;

// Column types of the results table: int64, float64 (NaN = not applicable), UTF-8 text.
enum class ColumnType { integer, real, text };
using Cell = std::variant<long long, double, std::string>;

struct ColumnSpec {
  std::string name;
  ColumnType type;
};

// `text` as one CSV field (RFC 4180): quoted, with quotes doubled, when it holds a comma, a
// quote or a line break; as it is otherwise. The study's CSV and kappa solve's CSV use it.
std::string csv_field(const std::string& text);

// ---------------------------------------------------------------------------------------------
// The plan's own columns: what a task is, derived from the grid (StudyTask::cells).

enum class PlanColumn { task, key, repeat, seed, data, optimizer, params };

struct PlanField {
  PlanColumn column;
  const char* name;
  ColumnType type;
  const char* meaning;
};

// In this order, with one column per study setting (study_settings(), in its order) right after
// kSettingsAfter, and one per grid key of this grid (synthetic.KEY, optimizer parameters) after
// the last.
inline constexpr PlanField kPlanFields[] = {
    {PlanColumn::task, "task", ColumnType::integer, "task index (problem-major order)"},
    {PlanColumn::key, "key", ColumnType::text, "task key (16 hex digits)"},
    {PlanColumn::repeat, "repeat", ColumnType::integer, "repeat index 0..repeats-1"},
    {PlanColumn::seed, "seed", ColumnType::integer, "run seed = seed + repeat"},
    {PlanColumn::data, "data", ColumnType::text, "file name as written in the grid, or the final synthetic spec"},
    {PlanColumn::optimizer, "optimizer", ColumnType::text, "the optimizer's name"},
    {PlanColumn::params, "params", ColumnType::text, "every parameter of the optimizer: lr=0.001;beta1=0.9 (defaults included)"},
};
inline constexpr PlanColumn kSettingsAfter = PlanColumn::data;
// The suffix of the text column beside a numeric parameter column that has a keyword value
// (sgd.lr = auto 1e-3: sgd.lr is float64, NaN for auto, and sgd.lr_spec holds "auto", "0.001").
inline constexpr const char* kSpecSuffix = "_spec";

constexpr bool plan_fields_in_enum_order() {
  for (std::size_t c = 0; c < std::size(kPlanFields); ++c)
    if (static_cast<std::size_t>(kPlanFields[c].column) != c) return false;
  return std::size(kPlanFields) == static_cast<std::size_t>(PlanColumn::params) + 1;
}
static_assert(plan_fields_in_enum_order(), "kPlanFields: one line per PlanColumn, in enum order");
constexpr const char* column_name(PlanColumn column) { return kPlanFields[static_cast<std::size_t>(column)].name; }

// ---------------------------------------------------------------------------------------------
// The outcome columns: what a worker reports for one task. Reals that do not apply are NaN.

struct TaskOutcome {
  std::size_t task = 0;  // the row's task and key (also plan columns), and its trace: sent with
  std::string key;       // the outcome, not outcome columns
  std::string status;   // to_string(Status); compared through parse_status
  std::string message;
  long long iterations = 0;
  double epochs = 0;        // the run's own passes: after its report of iteration 0
  double setup_epochs = 0;  // the passes before it (lr=auto's Lanczos steps, the start's evaluation)
  double seconds = 0;
  double setup_seconds = 0;
  double final_loss = arma::datum::nan;
  double loss_gap = arma::datum::nan;
  double grad_norm = arma::datum::nan;
  double relative_weight_error = arma::datum::nan;
  double relative_weight_error_range = arma::datum::nan;
  double weight_norm = arma::datum::nan;
  double test_mae = arma::datum::nan;
  double test_rmse = arma::datum::nan;
  double predicted_iterations = arma::datum::nan;
  double lr_used = arma::datum::nan;  // the step size the run used (lr, or what lr=auto resolved to)
  std::string method_class;  // to_string(MethodClass) the optimizer declares
  long long samples = 0;
  long long features = 0;
  double condition_number = arma::datum::nan;
  long long mpi_rank = 0;
  std::string host;
  long long lockstep_size = 1;                  // runs that shared this run's passes (1: alone)
  double shared_epochs = arma::datum::nan;      // the passes they made together; NaN alone
  std::vector<TracePoint> trace;
};

// One outcome column and the TaskOutcome member it holds (exactly one of the three pointers).
struct OutcomeField {
  const char* name;
  ColumnType type;
  const char* meaning;
  long long TaskOutcome::*integer = nullptr;
  double TaskOutcome::*real = nullptr;
  std::string TaskOutcome::*text = nullptr;

  // Calls f(value) with the member of `outcome` this column holds (long long, double or
  // std::string; const for a const outcome).
  template <class Outcome, class F>
  void visit(Outcome& outcome, F&& f) const {
    switch (type) {
      case ColumnType::integer: f(outcome.*integer); break;
      case ColumnType::real: f(outcome.*real); break;
      case ColumnType::text: f(outcome.*text); break;
    }
  }
  Cell get(const TaskOutcome& outcome) const;
  void set(TaskOutcome& outcome, const Cell& cell) const;  // std::bad_variant_access for a cell of another type
};

constexpr OutcomeField field(const char* name, long long TaskOutcome::*member, const char* meaning) {
  return {name, ColumnType::integer, meaning, member, nullptr, nullptr};
}
constexpr OutcomeField field(const char* name, double TaskOutcome::*member, const char* meaning) {
  return {name, ColumnType::real, meaning, nullptr, member, nullptr};
}
constexpr OutcomeField field(const char* name, std::string TaskOutcome::*member, const char* meaning) {
  return {name, ColumnType::text, meaning, nullptr, nullptr, member};
}

// The outcome columns, in file order.
inline constexpr OutcomeField kOutcomeFields[] = {
    field("status", &TaskOutcome::status, "to_string(Status): converged-gradient, converged-loss, ..., diverged, failed"),
    field("message", &TaskOutcome::message, "why a task failed or diverged; problem cannot be built: <reason> for a missing file"),
    field("iterations", &TaskOutcome::iterations, "last reported iteration"),
    field("epochs", &TaskOutcome::epochs, "data passes of the run after its report of iteration 0 (what max_epochs limits)"),
    field("setup_epochs", &TaskOutcome::setup_epochs,
          "data passes before the report of iteration 0: lr=auto's Lanczos steps and the evaluation of w_0; NaN for a crashed run"),
    field("seconds", &TaskOutcome::seconds, "wall time of the optimizer run, s"),
    field("setup_seconds", &TaskOutcome::setup_seconds, "time this task spent building its problem, s (0 when cached)"),
    field("final_loss", &TaskOutcome::final_loss, "f(w) of the original problem, with the ridge term"),
    field("loss_gap", &TaskOutcome::loss_gap, "f(w) - f(w*)"),
    field("grad_norm", &TaskOutcome::grad_norm, "final gradient norm in solver coordinates"),
    field("relative_weight_error", &TaskOutcome::relative_weight_error, "|w - w*| / |w*|"),
    field("relative_weight_error_range", &TaskOutcome::relative_weight_error_range,
          "|P (w - w*)| / |w*|, P onto range(A^T): without null-space components; = relative_weight_error at full rank; NaN unless svd"),
    field("weight_norm", &TaskOutcome::weight_norm, "|w| of the result"),
    field("test_mae", &TaskOutcome::test_mae, "mean absolute error on the test part (NaN without one)"),
    field("test_rmse", &TaskOutcome::test_rmse, "root mean squared error on the test part (NaN without one)"),
    field("predicted_iterations", &TaskOutcome::predicted_iterations, "theory's iterations to reach grad_tol; NaN: none, inf: no convergence"),
    field("method_class", &TaskOutcome::method_class, "to_string(MethodClass) the optimizer declares (OptimizerInfo::theory)"),
    field("lr_used", &TaskOutcome::lr_used,
          "the base step size the run used, in solver coordinates: lr as given, or what lr=auto resolved to (1/L, 1/L_b for minibatches); NaN without one"),
    field("samples", &TaskOutcome::samples, "n"),
    field("features", &TaskOutcome::features, "number of weights, with the intercept"),
    field("condition_number", &TaskOutcome::condition_number,
          "sigma_max / sigma_min of the system the svd reference solved (l2 regression); inf when rank-deficient (numerical_rank)"),
    field("mpi_rank", &TaskOutcome::mpi_rank, "MPI rank (process) that ran the task; not a matrix rank"),
    field("host", &TaskOutcome::host, "host that ran the task"),
    field("lockstep_size", &TaskOutcome::lockstep_size, "runs of its lockstep group that shared its passes over the data, itself included (1: alone)"),
    field("shared_epochs", &TaskOutcome::shared_epochs,
          "data passes its lockstep group made for all those runs together (the shared cost; epochs stays the run's own count); NaN alone"),
};
inline constexpr std::size_t kOutcomeFieldCount = std::size(kOutcomeFields);

// How many outcome columns have `type`; `slot` numbers a column among those of its type (the
// stored row keeps one array per type).
constexpr std::size_t outcome_count(ColumnType type) {
  std::size_t count = 0;
  for (const OutcomeField& field : kOutcomeFields) count += field.type == type;
  return count;
}
constexpr std::size_t outcome_slot(std::size_t index) {
  std::size_t slot = 0;
  for (std::size_t f = 0; f < index; ++f) slot += kOutcomeFields[f].type == kOutcomeFields[index].type;
  return slot;
}

// The column name of a TaskOutcome member. Evaluated as a constant (constexpr), a member without a
// column does not compile; at run time it throws std::logic_error.
template <class T>
constexpr const char* column_name(T TaskOutcome::*member) {
  for (const OutcomeField& field : kOutcomeFields) {
    if constexpr (std::is_same_v<T, long long>) {
      if (field.integer == member) return field.name;
    } else if constexpr (std::is_same_v<T, double>) {
      if (field.real == member) return field.name;
    } else {
      if (field.text == member) return field.name;
    }
  }
  throw std::logic_error("a TaskOutcome member without an outcome column");
}

// The outcome columns as specs, in kOutcomeFields order (after the plan's columns, before
// trace_start, trace_length).
const std::vector<ColumnSpec>& outcome_columns();

// A flat byte buffer of an outcome, for sending between processes of the same build and
// machine architecture: task, key, the kOutcomeFields in order, the trace. decode_outcome throws
// Error for a malformed buffer.
std::string encode_outcome(const TaskOutcome& outcome);
TaskOutcome decode_outcome(const std::string& bytes);

}  // namespace kappa
