#pragma once
// Results of a study: one row per finished task and its convergence trace, written as one HDF5
// file (with a CSV summary beside it), each through a temporary file renamed into place, so
// that the files on disk are complete at every moment. The collecting process keeps only the
// outcome values of each row (about 300 bytes; the task's own columns are derived from the
// plan) and the traces of the rows not yet written: every write copies the traces of the
// previous file (in blocks) and appends the new ones. docs/study.md describes the layout; kStudyFormatVersion (study_grid.hpp) is its
// version. Nothing here depends on MPI.

#include <array>
#include <cstddef>
#include <memory>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "kappa/monitor.hpp"
#include "study/grid.hpp"

namespace kappa {

// What a worker reports for one task. Reals that do not apply are NaN.
struct TaskOutcome {
  std::size_t task = 0;
  std::string key;
  std::string status;   // to_string(Status): converged-gradient, ..., diverged, failed
  std::string message;  // why a task failed or diverged (a problem that cannot be built: its reason)
  long long iterations = 0;
  double epochs = 0;         // data passes, the problem's work counter
  double seconds = 0;        // wall time of the optimizer run
  double setup_seconds = 0;  // building the Experiment for this task (0 when it was cached)
  double final_loss = arma::datum::nan;  // f(w) of the original problem, with the ridge term
  double loss_gap = arma::datum::nan;    // final_loss - f(w*)
  double grad_norm = arma::datum::nan;   // in solver coordinates
  double relative_weight_error = arma::datum::nan;
  double weight_norm = arma::datum::nan;
  double test_mae = arma::datum::nan;
  double test_rmse = arma::datum::nan;
  double predicted_iterations = arma::datum::nan;  // from theory, when known
  long long samples = 0;   // n
  long long features = 0;  // weights, with the intercept
  double condition_number = arma::datum::nan;  // sigma_max / sigma_min of the reference's SVD
  long long rank = 0;      // MPI rank that ran the task
  std::string host;
  std::vector<TracePoint> trace;
};

// A flat byte buffer of an outcome, for sending between processes of the same build and
// machine architecture. decode_outcome throws Error for a malformed buffer.
std::string encode_outcome(const TaskOutcome& outcome);
TaskOutcome decode_outcome(const std::string& bytes);

// The result columns, after the plan's columns (and before trace_start, trace_length).
const std::vector<ColumnSpec>& outcome_columns();

struct ResultsRow {
  std::vector<Cell> cells;  // plan columns, then outcome columns
  std::vector<TracePoint> trace;
};

// A results file read back: its attributes, columns and rows in file order.
struct ResultsFile {
  long long format_version = 0;
  std::string grid_file;
  std::string grid_text;
  std::string grid_hash;
  long long task_count = 0;
  std::vector<ColumnSpec> columns;  // every column of /tasks but trace_start, trace_length
  std::vector<ResultsRow> rows;
};

// Throws InputError naming the file when it is not a readable kappa study results file.
ResultsFile read_results_file(const std::string& file);

// The HDF5 library of the system is the serial build, which is not thread-safe. A study runs
// tasks on a second thread of rank 0 (reading data files) while the main thread writes the
// results, so every HDF5 call of the study holds this lock: read_results_file,
// StudyResults::write and load_problem_data.
std::mutex& hdf5_mutex();

class StudyResults {
 public:
  explicit StudyResults(const StudyPlan& plan);

  const std::vector<ColumnSpec>& columns() const { return columns_; }
  // The cells of a task's row (plan columns, then outcome columns; no trace). std::out_of_range
  // when the task has no row.
  std::vector<Cell> cells(std::size_t task) const;
  bool contains(std::size_t task) const { return rows_.count(task) > 0; }
  std::size_t size() const { return rows_.size(); }

  // Adds the row of a finished task. A task that already has a row keeps it (the new outcome
  // is ignored and false returned): every task is in the file exactly once.
  bool add(const TaskOutcome& outcome);

  // --resume: takes the rows of an existing results file, unchanged. Throws InputError naming
  // the file when it is not a results file, has another format version, or was written for
  // another grid.
  void load(const std::string& file);

  // Writes the HDF5 file and the CSV summary, each to "<name>.tmp" renamed into place. The
  // traces of the rows written before come from the file of the last write (or load), which
  // must still be there: throws InputError naming it otherwise. After a failed write nothing
  // is lost (the next write retries with the same rows and traces).
  void write(const std::string& file, const std::string& csv_file);

  // The bytes held per row (StoredRow) and in traces not yet written, for docs and tests.
  static std::size_t row_bytes();
  std::size_t pending_trace_points() const;

 private:
  // The outcome columns of a row, by type, in outcome_columns() order.
  struct StoredRow {
    std::array<double, 12> reals{};
    std::array<long long, 4> integers{};
    std::array<std::string, 3> texts;
    long long trace_start = -1;  // in the traces of trace_source_; -1 until written
    long long trace_length = 0;
    // A row read by --resume whose task columns differ from what this plan derives (another
    // spelling of the same tasks): kept as read, so that resumed rows stay unchanged.
    std::unique_ptr<std::vector<Cell>> plan_cells;
  };
  void store_outcome(StoredRow& row, const std::vector<Cell>& outcome_cells) const;
  std::vector<Cell> outcome_cells(const StoredRow& row) const;

  const StudyPlan* plan_;
  std::vector<ColumnSpec> columns_;
  std::map<std::size_t, StoredRow> rows_;  // by task index
  std::map<std::size_t, std::vector<TracePoint>> pending_traces_;  // rows not yet written
  std::string trace_source_;  // the file of the last write or load; empty: none
  std::size_t source_points_ = 0;  // trace points in it
};

}  // namespace kappa
