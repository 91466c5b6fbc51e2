#pragma once
// Results of a study: one row per finished task and its convergence trace, in one HDF5 file
// (with a CSV summary beside it) and an append-only journal beside it (study/journal.hpp). A
// checkpoint appends the rows finished since the last one to the journal and syncs it, a cost in
// proportion to the new rows; a consolidation rewrites the HDF5 file and the CSV, each through a
// temporary file renamed into place, so that they are complete at every moment, and then starts
// a fresh journal: when the journal has grown to as many rows as the HDF5 file holds (at least
// kJournalMinimumRows), so that the rewrites cost in proportion to the final size, and at the
// end. The HDF5 file alone is always a complete results file, possibly lagging behind its
// journal; read_results_file and load (--resume) replay the journal that belongs to it (same
// journal_id). The collecting process keeps only the outcome values of each row (about 320
// bytes; the task's own columns are derived from the plan) and the traces of the rows not yet
// in the HDF5 file: every consolidation copies the traces of the previous file (in blocks) and
// appends the new ones. The columns are those of the schema (study/schema.hpp, TaskOutcome and
// kOutcomeFields); docs/study.md describes the layout, kStudyFormatVersion is its version.
// Nothing here depends on MPI.

#include <algorithm>
#include <array>
#include <cstddef>
#include <memory>
#include <limits>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "kappa/monitor.hpp"
#include "study/fingerprint.hpp"
#include "study/grid.hpp"
#include "study/journal.hpp"
#include "study/manifest.hpp"
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
  bool has_fingerprints = false;  // false for a file written before kappa stored them
  std::vector<Fingerprint> fingerprints;  // the root attribute "fingerprints" (study/fingerprint.hpp)
  long long task_count = 0;
  std::vector<ColumnSpec> columns;  // every column of /tasks but trace_start, trace_length
  std::vector<ResultsRow> rows;  // those of the HDF5 file, then those of its journal
  std::size_t journal_rows = 0;   // rows that came from the journal
  std::vector<std::string> notes;  // e.g. a torn journal tail that was dropped
};

// Throws InputError naming the file when it is not a readable kappa study results file, or
// naming its journal when that is damaged. Reads only: modifies no file.
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

  // Drops the rows whose status is one of `statuses` (--retry-failed: those tasks run again).
  // Returns how many.
  std::size_t forget(const std::vector<Status>& statuses);

  // --resume: takes the rows of an existing results file, unchanged. Throws InputError naming
  // the file when it is not a results file, has another format version, or was written for
  // another grid.
  // With fingerprints set (set_fingerprints) and a file that has them, a changed data file or
  // plugin library throws InputError naming it and both fingerprints ("... was written with other
  // data: data file 'x.h5' has fingerprint A now, B when the results were written; ..."), unless
  // `rerun_changed`: then the rows of the tasks it affects are dropped (they run again) and
  // returned with the changes. A changed format fingerprint is refused either way.
  struct Rerun {
    std::vector<FingerprintChange> changes;
    std::size_t dropped = 0;  // rows dropped because of them
  };
  Rerun load(const std::string& file, bool rerun_changed = false);
  // The rows of the file's journal (when it belongs to the file: same journal_id) are taken
  // too; a damaged journal record throws InputError naming the journal, the record and its byte
  // offset; a torn tail is dropped and said in notes().
  const std::vector<std::string>& notes() const { return notes_; }

  // Saves the rows added since the last checkpoint: appended to the journal of `file` (then
  // fdatasync), or by write() when there is no journal of `file` yet, or when the journal would
  // grow beyond max(rows in the HDF5 file, journal_minimum()) and the rewrite is estimated
  // (from the last one, in proportion to the rows) to take at most rewrite_budget() seconds: a
  // rewrite blocks the caller, and what finishes meanwhile is not saved, so a study keeps its
  // rewrites short and otherwise only appends until its final write(). The traces of journaled
  // rows are not kept in memory: write() reads them back from the journal. Throws InputError like
  // write, or naming the journal when an append fails; nothing is lost then (the rows stay to
  // be saved by the next checkpoint or write).
  void checkpoint(const std::string& file, const std::string& csv_file);
  // The rows added since the last checkpoint appended to the journal, if there is one (before
  // a final write(): they are durable while it runs). Throws InputError like checkpoint.
  void append_pending();
  void set_rewrite_budget(double seconds) { rewrite_budget_ = seconds; }
  // What appending the rows added since the last checkpoint would take: their count times the
  // last append's time a row (at least kAppendSecondsPerRow). A caller that wants each row on
  // disk within an interval of its arrival starts the checkpoint that much earlier.
  double estimated_append_seconds() const {
    return static_cast<double>(unjournaled_.size()) * std::max(append_seconds_per_row_, kAppendSecondsPerRow);
  }
  static constexpr double kAppendSecondsPerRow = 20e-6;  // measured: 18-22 us (docs/performance.md)
  double rewrite_budget() const { return rewrite_budget_; }
  static constexpr std::size_t kJournalMinimumRows = 1000;
  static constexpr double kRewriteSecondsPerRow = 20e-6;  // the least a rewrite costs (measured: 30 us)
  std::size_t journal_minimum() const { return journal_minimum_; }
  void set_journal_minimum(std::size_t rows) { journal_minimum_ = rows; }  // tests
  std::size_t journal_rows() const { return journal_rows_; }  // in the journal since the last write

  // What the study's results depend on now (study_fingerprints): written to the file by every
  // write and compared by load. Without a call, nothing is written and nothing compared.
  void set_fingerprints(std::vector<Fingerprint> fingerprints);
  // The session's manifest (study/manifest.hpp), written by every write() as the group
  // "manifest" with its end_time; without a call, none is written.
  void set_manifest(ManifestEntries manifest) { manifest_ = std::move(manifest); }

  // Consolidates: writes the HDF5 file (with a new journal_id) and the CSV summary, each to
  // "<name>.tmp" renamed into place, then a fresh journal of that id. The
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
  std::unique_ptr<JournalWriter> journal_;  // of the file of the last write; null: none yet
  std::vector<std::size_t> unjournaled_;    // the tasks added since the last checkpoint
  std::size_t journal_rows_ = 0;            // rows in journal_
  std::size_t file_rows_ = 0;               // rows in the HDF5 file of the last write
  std::size_t journal_minimum_ = kJournalMinimumRows;
  double rewrite_budget_ = std::numeric_limits<double>::infinity();
  double append_seconds_per_row_ = 0;  // of the last append
  double last_write_seconds_ = 0;  // of the last write(), and the rows it wrote
  std::size_t last_write_rows_ = 0;
  std::vector<std::string> notes_;
  bool has_fingerprints_ = false;
  std::vector<Fingerprint> fingerprints_;
  ManifestEntries manifest_;
};

}  // namespace kappa
