#pragma once
// Results of a study: one row per finished task and its convergence trace, written as one HDF5
// file (with a CSV summary beside it), each through a temporary file renamed into place, so
// that the files on disk are complete at every moment. The collecting process keeps only the
// outcome values of each row (about 320 bytes; the task's own columns are derived from the
// plan) and the traces of the rows not yet written: every write copies the traces of the
// previous file (in blocks) and appends the new ones. The columns are those of the schema
// (study/schema.hpp, TaskOutcome and kOutcomeFields); docs/study.md describes the layout,
// kStudyFormatVersion is its version. Nothing here depends on MPI.

#include <array>
#include <cstddef>
#include <memory>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "kappa/monitor.hpp"
#include "study/grid.hpp"
#include "study/schema.hpp"

namespace kappa {

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
  // The outcome columns of a row: one array per column type, each column at its
  // outcome_slot() (kOutcomeFields order within a type).
  struct StoredRow {
    std::array<long long, outcome_count(ColumnType::integer)> integers{};
    std::array<double, outcome_count(ColumnType::real)> reals{};
    std::array<std::string, outcome_count(ColumnType::text)> texts;
    long long trace_start = -1;  // in the traces of trace_source_; -1 until written
    long long trace_length = 0;
    // A row read by --resume whose task columns differ from what this plan derives (another
    // spelling of the same tasks): kept as read, so that resumed rows stay unchanged.
    std::unique_ptr<std::vector<Cell>> plan_cells;
  };
  static void store_outcome(StoredRow& row, const TaskOutcome& outcome);
  static void store_outcome(StoredRow& row, const std::vector<Cell>& outcome_cells);  // in outcome_columns() order
  static std::vector<Cell> outcome_cells(const StoredRow& row);

  const StudyPlan* plan_;
  std::vector<ColumnSpec> columns_;
  std::map<std::size_t, StoredRow> rows_;  // by task index
  std::map<std::size_t, std::vector<TracePoint>> pending_traces_;  // rows not yet written
  std::string trace_source_;  // the file of the last write or load; empty: none
  std::size_t source_points_ = 0;  // trace points in it
};

}  // namespace kappa
