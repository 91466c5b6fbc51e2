// Study results (study/results.hpp): the results file (HDF5 C API, one 1-D dataset per column)
// with its CSV summary, and the rows kept in memory, all in the columns of study/schema.hpp.

#include "study/results.hpp"

#include <hdf5.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <set>
#include <stdexcept>
#include <type_traits>
#include <unordered_map>
#include <utility>

#include "kappa/error.hpp"
#include "kappa/parse.hpp"
#include "core/data/hdf5_support.hpp"

namespace kappa {
namespace {

using hdf5::Handle;
using hdf5::SilencedErrors;
using hdf5::TemporaryFile;

// ---------------------------------------------------------------------------------------------
// HDF5 plumbing: owned identifiers, silenced error stack, typed columns and attributes.

Handle text_type() {
  Handle type(H5Tcopy(H5T_C_S1), H5Tclose);
  H5Tset_size(type.get(), H5T_VARIABLE);
  H5Tset_cset(type.get(), H5T_CSET_UTF8);
  return type;
}

class H5Writer {
 public:
  H5Writer(const std::string& temporary, std::string prefix)
      : file_(H5Fcreate(temporary.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT), H5Fclose),
        transfer_(H5Pcreate(H5P_DATASET_XFER), H5Pclose),
        prefix_(std::move(prefix)) {
    if (!file_.valid()) fail("cannot create '" + temporary + "'");
    // HDF5 allocates and zeroes its type-conversion buffer (1 MiB by default) on every write
    // that converts, i.e. every text column: a 16-task results file spent 25 ms in that memset.
    if (!transfer_.valid() || H5Pset_buffer(transfer_.get(), kConversionBuffer, nullptr, nullptr) < 0)
      fail("cannot set up HDF5 transfers");
  }
  [[noreturn]] void fail(const std::string& reason) const { throw InputError(prefix_ + ": " + reason); }

  hid_t group(const std::string& name) {
    groups_.push_back(std::make_unique<Handle>(H5Gcreate2(file_.get(), name.c_str(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), H5Gclose));
    if (!groups_.back()->valid()) fail("cannot create group '" + name + "'");
    return groups_.back()->get();
  }
  hid_t root() const { return file_.get(); }

  void text_attribute(hid_t location, const std::string& name, const std::string& value) {
    const Handle type = text_type();
    const Handle space(H5Screate(H5S_SCALAR), H5Sclose);
    const Handle attribute(H5Acreate2(location, name.c_str(), type.get(), space.get(), H5P_DEFAULT, H5P_DEFAULT), H5Aclose);
    const char* pointer = value.c_str();
    if (!attribute.valid() || H5Awrite(attribute.get(), type.get(), &pointer) < 0) fail("cannot write attribute '" + name + "'");
  }
  void integer_attribute(hid_t location, const std::string& name, long long value) {
    const Handle space(H5Screate(H5S_SCALAR), H5Sclose);
    const Handle attribute(H5Acreate2(location, name.c_str(), H5T_STD_I64LE, space.get(), H5P_DEFAULT, H5P_DEFAULT), H5Aclose);
    const std::int64_t stored = value;
    if (!attribute.valid() || H5Awrite(attribute.get(), H5T_NATIVE_INT64, &stored) < 0) fail("cannot write attribute '" + name + "'");
  }

  void integers(hid_t location, const std::string& name, const std::vector<std::int64_t>& values) {
    write(location, name, H5T_STD_I64LE, H5T_NATIVE_INT64, values.size(), values.data());
  }
  void reals(hid_t location, const std::string& name, const std::vector<double>& values) {
    write(location, name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, values.size(), values.data());
  }
  void texts(hid_t location, const std::string& name, const std::vector<std::string>& values) {
    std::vector<const char*> pointers;
    for (const std::string& value : values) pointers.push_back(value.c_str());
    const Handle type = text_type();
    write(location, name, type.get(), type.get(), values.size(), pointers.data());
  }

  // A 1-D dataset of `count` values, written in blocks with write_block.
  Handle create(hid_t location, const std::string& name, hid_t file_type, std::size_t count) {
    const hsize_t dims[1] = {count};
    const Handle space(H5Screate_simple(1, dims, nullptr), H5Sclose);
    Handle dataset(H5Dcreate2(location, name.c_str(), file_type, space.get(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), H5Dclose);
    if (!dataset.valid()) fail("cannot create dataset '" + name + "'");
    return dataset;
  }
  void write_block(hid_t dataset, hid_t memory_type, std::size_t offset, std::size_t count, const void* data) {
    if (count == 0) return;
    if (!transfer(dataset, memory_type, offset, count, const_cast<void*>(data), false)) fail("cannot write a dataset (disk full?)");
  }

  // A dataset of `source_count` values copied from `source` (a 1-D dataset of another file, in
  // blocks, so that the copy needs little memory), followed by `tail`.
  template <class T>
  void appended(hid_t location, const std::string& name, hid_t file_type, hid_t memory_type, hid_t source,
                std::size_t source_count, const std::vector<T>& tail) {
    const Handle dataset = create(location, name, file_type, source_count + tail.size());
    std::vector<T> block;
    for (std::size_t offset = 0; offset < source_count; offset += kBlock) {
      const std::size_t count = std::min(kBlock, source_count - offset);
      block.resize(count);
      if (!transfer(source, memory_type, offset, count, block.data(), true)) fail("cannot copy the previous traces ('" + name + "')");
      write_block(dataset.get(), memory_type, offset, count, block.data());
    }
    write_block(dataset.get(), memory_type, source_count, tail.size(), tail.data());
  }

  static constexpr std::size_t kBlock = std::size_t{1} << 14;

  void finish() {
    groups_.clear();
    if (!file_.close()) fail("cannot finish writing (disk full?)");
  }

 private:
  void write(hid_t location, const std::string& name, hid_t file_type, hid_t memory_type, std::size_t count, const void* data) {
    const hsize_t dims[1] = {count};
    const Handle space(H5Screate_simple(1, dims, nullptr), H5Sclose);
    const Handle dataset(H5Dcreate2(location, name.c_str(), file_type, space.get(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), H5Dclose);
    if (!dataset.valid()) fail("cannot create dataset '" + name + "'");
    if (count > 0 && H5Dwrite(dataset.get(), memory_type, H5S_ALL, H5S_ALL, transfer_.get(), data) < 0)
      fail("cannot write dataset '" + name + "' (disk full?)");
  }

  // Reads or writes values [offset, offset + count) of a 1-D dataset.
  bool transfer(hid_t dataset, hid_t memory_type, std::size_t offset, std::size_t count, void* data, bool read) const {
    const hsize_t start[1] = {offset};
    const hsize_t size[1] = {count};
    const Handle memory(H5Screate_simple(1, size, nullptr), H5Sclose);
    const Handle selection(H5Dget_space(dataset), H5Sclose);
    if (H5Sselect_hyperslab(selection.get(), H5S_SELECT_SET, start, nullptr, size, nullptr) < 0) return false;
    if (read) return H5Dread(dataset, memory_type, memory.get(), selection.get(), transfer_.get(), data) >= 0;
    return H5Dwrite(dataset, memory_type, memory.get(), selection.get(), transfer_.get(), data) >= 0;
  }

  static constexpr std::size_t kConversionBuffer = std::size_t{64} << 10;  // bytes; HDF5 converts in strips of it
  Handle file_;
  Handle transfer_;
  std::string prefix_;
  std::vector<std::unique_ptr<Handle>> groups_;  // stable addresses
};

class H5Reader {
 public:
  explicit H5Reader(const std::string& file) : prefix_("results file '" + file + "'"), file_(open(file), H5Fclose) {}
  [[noreturn]] void fail(const std::string& reason) const { throw InputError(prefix_ + ": " + reason); }
  hid_t root() const { return file_.get(); }

  bool has(hid_t location, const std::string& name) const { return H5Lexists(location, name.c_str(), H5P_DEFAULT) > 0; }
  bool has_attribute(hid_t location, const std::string& name) const { return H5Aexists(location, name.c_str()) > 0; }

  std::string text_attribute(hid_t location, const std::string& name) const {
    const Handle attribute(H5Aopen(location, name.c_str(), H5P_DEFAULT), H5Aclose);
    const Handle type = text_type();
    char* value = nullptr;
    if (!attribute.valid() || H5Aread(attribute.get(), type.get(), &value) < 0 || !value) fail("attribute '" + name + "' is unreadable");
    std::string text(value);
    H5free_memory(value);
    return text;
  }
  long long integer_attribute(hid_t location, const std::string& name) const {
    const Handle attribute(H5Aopen(location, name.c_str(), H5P_DEFAULT), H5Aclose);
    std::int64_t value = 0;
    if (!attribute.valid() || H5Aread(attribute.get(), H5T_NATIVE_INT64, &value) < 0) fail("attribute '" + name + "' is unreadable");
    return value;
  }

  // A 1-D dataset as cells of its type (integer, float or string).
  std::pair<ColumnType, std::vector<Cell>> column(hid_t location, const std::string& name) const {
    const Handle dataset(H5Dopen2(location, name.c_str(), H5P_DEFAULT), H5Dclose);
    if (!dataset.valid()) fail("dataset '" + name + "' is missing");
    const Handle space(H5Dget_space(dataset.get()), H5Sclose);
    hsize_t count = 0;
    if (H5Sget_simple_extent_ndims(space.get()) != 1 || H5Sget_simple_extent_dims(space.get(), &count, nullptr) < 0)
      fail("dataset '" + name + "' is not one-dimensional");
    const Handle type(H5Dget_type(dataset.get()), H5Tclose);
    const H5T_class_t type_class = H5Tget_class(type.get());
    std::vector<Cell> cells;
    cells.reserve(count);
    const auto read = [&](hid_t memory_type, void* buffer) {
      if (count > 0 && H5Dread(dataset.get(), memory_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, buffer) < 0)
        fail("dataset '" + name + "' cannot be read");
    };
    if (type_class == H5T_INTEGER) {
      std::vector<std::int64_t> values(count);
      read(H5T_NATIVE_INT64, values.data());
      for (auto value : values) cells.emplace_back(static_cast<long long>(value));
      return {ColumnType::integer, cells};
    }
    if (type_class == H5T_FLOAT) {
      std::vector<double> values(count);
      read(H5T_NATIVE_DOUBLE, values.data());
      for (double value : values) cells.emplace_back(value);
      return {ColumnType::real, cells};
    }
    if (type_class == H5T_STRING && H5Tis_variable_str(type.get()) > 0) {
      const Handle memory = text_type();
      std::vector<char*> values(count, nullptr);
      read(memory.get(), values.data());
      for (char* value : values) cells.emplace_back(std::string(value ? value : ""));
      if (count > 0) H5Dvlen_reclaim(memory.get(), space.get(), H5P_DEFAULT, values.data());
      return {ColumnType::text, cells};
    }
    fail("dataset '" + name + "' has an unexpected type");
  }

 private:
  hid_t open(const std::string& file) const {
    const hid_t id = H5Fis_hdf5(file.c_str()) > 0 ? H5Fopen(file.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT) : H5I_INVALID_HID;
    if (id < 0) fail("not an HDF5 file or cannot be read");
    return id;
  }
  std::string prefix_;
  Handle file_;
};

constexpr const char* kFormatName = "kappa study results";
constexpr const char* kTraceColumns[] = {"task", "iteration", "seconds", "epochs", "loss", "grad_norm", "relative_weight_error"};

void replace_file(const std::string& temporary, const std::string& file) {
  if (std::rename(temporary.c_str(), file.c_str()) != 0) {
    std::remove(temporary.c_str());
    throw InputError("results file '" + file + "': cannot be renamed into place");
  }
}

}  // namespace

std::mutex& hdf5_mutex() {
  static std::mutex mutex;
  return mutex;
}

namespace {

// A results file's rows; with their traces, or (`with_traces` false) with only where the trace
// of each row is: `starts`, `lengths` into `points` trace points. The rows of its journal come
// last, always with their traces (start -1).
struct ReadRows {
  ResultsFile results;
  std::vector<long long> starts, lengths;
  std::size_t points = 0;
};

// Appends the rows of the journal of `file` that belongs to it (study/journal.hpp) to `read`.
void replay_journal(const std::string& file, std::uint64_t journal_id, ReadRows& read) {
  const std::string journal = journal_name(file);
  JournalContents contents = read_journal(journal, journal_id);
  ResultsFile& results = read.results;
  if (contents.torn_bytes > 0)
    results.notes.push_back("results journal '" + journal + "': dropped an incomplete last record (" +
                            std::to_string(contents.torn_bytes) + " bytes; a write cut short), its task runs again");
  for (std::size_t r = 0; r < contents.records.size(); ++r) {
    ResultsRow row;
    TaskOutcome outcome;
    try {
      JournalRow stored = read_journal_payload(contents.records[r]);
      outcome = decode_outcome(stored.outcome_bytes);
      row.cells = std::move(stored.plan_cells);
    } catch (const Error& error) {
      throw InputError("results journal '" + journal + "': record " + std::to_string(r + 1) + ": " + error.what());
    }
    if (row.cells.size() + kOutcomeFieldCount != results.columns.size())
      throw InputError("results journal '" + journal + "': record " + std::to_string(r + 1) + " has another number of columns than '" + file + "'");
    for (const OutcomeField& field : kOutcomeFields) row.cells.push_back(field.get(outcome));
    row.trace = std::move(outcome.trace);
    read.starts.push_back(-1);
    read.lengths.push_back(static_cast<long long>(row.trace.size()));
    results.rows.push_back(std::move(row));
  }
  results.journal_rows = contents.records.size();
}

ReadRows read_rows(const std::string& file, bool with_traces) {
  ReadRows read;
  ResultsFile& results = read.results;
  const std::lock_guard<std::mutex> lock(hdf5_mutex());
  const SilencedErrors silenced;
  const H5Reader h5(file);
  const hid_t root = h5.root();
  if (!h5.has_attribute(root, "format") || h5.text_attribute(root, "format") != kFormatName)
    h5.fail("not a kappa study results file (no format attribute '" + std::string(kFormatName) + "')");
  results.format_version = h5.integer_attribute(root, "format_version");
  if (results.format_version != kStudyFormatVersion) return read;  // the caller decides
  results.grid_file = h5.text_attribute(root, "grid_file");
  results.grid_text = h5.text_attribute(root, "grid_text");
  results.grid_hash = h5.text_attribute(root, "grid_hash");
  results.has_fingerprints = h5.has_attribute(root, "fingerprints");
  if (results.has_fingerprints)
    results.fingerprints = parse_fingerprints(h5.text_attribute(root, "fingerprints"), "results file '" + file + "'");
  results.task_count = h5.integer_attribute(root, "task_count");
  if (!h5.has(root, "tasks") || !h5.has(root, "traces")) h5.fail("groups 'tasks' and 'traces' are missing");
  const Handle tasks(H5Gopen2(root, "tasks", H5P_DEFAULT), H5Gclose);
  const Handle traces(H5Gopen2(root, "traces", H5P_DEFAULT), H5Gclose);
  const std::vector<std::string> names = split_list(h5.text_attribute(tasks.get(), "columns"), "columns");

  std::vector<std::vector<Cell>> values;
  std::size_t rows = 0;
  std::vector<Cell> trace_start, trace_length;
  for (std::size_t c = 0; c < names.size(); ++c) {
    auto [type, cells] = h5.column(tasks.get(), names[c]);
    if (c > 0 && cells.size() != rows) h5.fail("column '" + names[c] + "' has another length");
    rows = cells.size();
    if (names[c] == "trace_start") trace_start = std::move(cells);
    else if (names[c] == "trace_length") trace_length = std::move(cells);
    else {
      results.columns.push_back({names[c], type});
      values.push_back(std::move(cells));
    }
  }
  if (trace_start.size() != rows || trace_length.size() != rows) h5.fail("columns trace_start, trace_length are missing");
  std::vector<std::vector<Cell>> trace_values;
  std::size_t points = 0;
  if (with_traces) {
    for (const char* name : kTraceColumns) trace_values.push_back(h5.column(traces.get(), name).second);
    points = trace_values[0].size();
    for (const auto& column : trace_values)
      if (column.size() != points) h5.fail("the trace columns have different lengths");
  } else {
    for (const char* name : kTraceColumns) {
      const Handle dataset(H5Dopen2(traces.get(), name, H5P_DEFAULT), H5Dclose);
      const Handle space(dataset.valid() ? H5Dget_space(dataset.get()) : H5I_INVALID_HID, H5Sclose);
      hsize_t count = 0;
      if (!space.valid() || H5Sget_simple_extent_ndims(space.get()) != 1 || H5Sget_simple_extent_dims(space.get(), &count, nullptr) < 0)
        h5.fail(std::string("trace dataset '") + name + "' is missing or not one-dimensional");
      if (name != std::string(kTraceColumns[0]) && count != points) h5.fail("the trace columns have different lengths");
      points = static_cast<std::size_t>(count);
    }
  }
  read.points = points;

  results.rows.resize(rows);
  for (std::size_t r = 0; r < rows; ++r) {
    ResultsRow& row = results.rows[r];
    for (const auto& column : values) row.cells.push_back(column[r]);
    const auto start = std::get<long long>(trace_start[r]);
    const auto length = std::get<long long>(trace_length[r]);
    if (start < 0 || length < 0 || static_cast<std::size_t>(start + length) > points) h5.fail("trace slice out of range");
    if (!with_traces) {
      read.starts.push_back(start);
      read.lengths.push_back(length);
      continue;
    }
    for (long long p = start; p < start + length; ++p) {
      TracePoint point;
      point.iteration = static_cast<long>(std::get<long long>(trace_values[1][p]));
      point.seconds = std::get<double>(trace_values[2][p]);
      point.data_passes = std::get<double>(trace_values[3][p]);
      point.loss = std::get<double>(trace_values[4][p]);
      point.grad_norm = std::get<double>(trace_values[5][p]);
      point.relative_weight_error = std::get<double>(trace_values[6][p]);
      row.trace.push_back(point);
    }
  }
  if (h5.has_attribute(root, "journal_id")) replay_journal(file, std::stoull(h5.text_attribute(root, "journal_id"), nullptr, 16), read);
  return read;
}

}  // namespace

ResultsFile read_results_file(const std::string& file) { return read_rows(file, true).results; }

namespace {

// Where each outcome column is kept in a StoredRow: its outcome_slot, computed once.
constexpr auto kOutcomeSlots = [] {
  std::array<std::size_t, kOutcomeFieldCount> slots{};
  for (std::size_t f = 0; f < kOutcomeFieldCount; ++f) slots[f] = outcome_slot(f);
  return slots;
}();

// Calls f(value) with the stored value of outcome column `f` of `row` (a StoredRow).
template <class Row, class F>
void visit_stored(Row& row, std::size_t f, F&& visit) {
  switch (kOutcomeFields[f].type) {
    case ColumnType::integer: visit(row.integers[kOutcomeSlots[f]]); break;
    case ColumnType::real: visit(row.reals[kOutcomeSlots[f]]); break;
    case ColumnType::text: visit(row.texts[kOutcomeSlots[f]]); break;
  }
}

}  // namespace

StudyResults::StudyResults(const StudyPlan& plan) : plan_(&plan), columns_(plan.columns) {
  columns_.insert(columns_.end(), outcome_columns().begin(), outcome_columns().end());
}

std::size_t StudyResults::row_bytes() { return sizeof(StoredRow); }

std::size_t StudyResults::pending_trace_points() const {
  std::size_t points = 0;
  for (const auto& entry : pending_traces_) points += entry.second.size();
  return points;
}

void StudyResults::store_outcome(StoredRow& row, const std::vector<Cell>& cells) {
  for (std::size_t f = 0; f < kOutcomeFieldCount; ++f)
    visit_stored(row, f, [&](auto& stored) { stored = std::get<std::decay_t<decltype(stored)>>(cells.at(f)); });
}

void StudyResults::store_outcome(StoredRow& row, const TaskOutcome& outcome) {
  std::vector<Cell> cells;
  cells.reserve(kOutcomeFieldCount);
  for (const OutcomeField& field : kOutcomeFields) cells.push_back(field.get(outcome));
  store_outcome(row, cells);
}

std::vector<Cell> StudyResults::outcome_cells(const StoredRow& row) {
  std::vector<Cell> cells;
  cells.reserve(kOutcomeFieldCount);
  for (std::size_t f = 0; f < kOutcomeFieldCount; ++f) visit_stored(row, f, [&](const auto& stored) { cells.emplace_back(stored); });
  return cells;
}

std::vector<Cell> StudyResults::cells(std::size_t task) const {
  const StoredRow& row = rows_.at(task);
  std::vector<Cell> cells = row.plan_cells ? *row.plan_cells : plan_->tasks.at(task).cells;
  const std::vector<Cell> outcome = outcome_cells(row);
  cells.insert(cells.end(), outcome.begin(), outcome.end());
  return cells;
}

bool StudyResults::add(const TaskOutcome& o) {
  if (o.task >= plan_->tasks.size() || key_text(plan_->tasks.record(o.task).key) != o.key)
    throw Error("task result for task " + std::to_string(o.task) + " (key " + o.key + ") does not belong to this grid");
  if (rows_.count(o.task)) return false;
  StoredRow row;
  store_outcome(row, o);
  row.trace_length = static_cast<long long>(o.trace.size());
  pending_traces_[o.task] = o.trace;
  rows_.emplace(o.task, std::move(row));
  unjournaled_.push_back(o.task);
  return true;
}

std::size_t StudyResults::forget(const std::vector<Status>& statuses) {
  static const std::size_t status_slot = [] {
    for (std::size_t f = 0; f < kOutcomeFieldCount; ++f)
      if (kOutcomeFields[f].text == &TaskOutcome::status) return outcome_slot(f);
    throw std::logic_error("no status column");
  }();
  std::size_t forgotten = 0;
  for (auto row = rows_.begin(); row != rows_.end();) {
    const Status status = parse_status(row->second.texts[status_slot]);
    if (std::find(statuses.begin(), statuses.end(), status) == statuses.end()) {
      ++row;
      continue;
    }
    pending_traces_.erase(row->first);
    row = rows_.erase(row);
    ++forgotten;
  }
  return forgotten;
}

void StudyResults::set_fingerprints(std::vector<Fingerprint> fingerprints) {
  fingerprints_ = std::move(fingerprints);
  has_fingerprints_ = true;
}

StudyResults::Rerun StudyResults::load(const std::string& file, bool rerun_changed) {
  ReadRows read = read_rows(file, false);
  const ResultsFile& old = read.results;
  const std::string prefix = "results file '" + file + "'";
  if (old.format_version != kStudyFormatVersion)
    throw InputError(prefix + " has format version " + std::to_string(old.format_version) + ", this kappa writes version " +
                     std::to_string(kStudyFormatVersion) + ": choose another --output (or --force to overwrite it)");
  bool same_columns = old.columns.size() == columns_.size();
  for (std::size_t c = 0; same_columns && c < columns_.size(); ++c)
    same_columns = old.columns[c].name == columns_[c].name && old.columns[c].type == columns_[c].type;
  if (old.grid_hash != plan_->grid_hash || !same_columns)
    throw InputError(prefix + " was written for another grid ('" + old.grid_file + "', hash " + old.grid_hash + "; this grid has " +
                     plan_->grid_hash + "): choose another --output (or --force to overwrite it)");
  // The data files and plugins that changed since the file was written (study/fingerprint.hpp):
  // refused, or (--rerun-changed) the rows of the tasks reading or running them dropped.
  Rerun rerun;
  std::vector<bool> problem_changed(plan_->problems.size(), false);
  std::set<std::string> optimizer_changed;
  if (has_fingerprints_ && old.has_fingerprints) rerun.changes = fingerprint_changes(old.fingerprints, fingerprints_);
  std::stable_partition(rerun.changes.begin(), rerun.changes.end(),
                        [](const FingerprintChange& change) { return change.current.kind == FingerprintKind::format; });
  const std::size_t others = rerun.changes.empty() ? 0 : rerun.changes.size() - 1;
  const std::string more = others == 0 ? "" : " (and " + std::to_string(others) + " other change" + (others == 1 ? "" : "s") + ")";
  for (const FingerprintChange& change : rerun.changes) {
    const FingerprintKind kind = change.current.kind;
    if (kind == FingerprintKind::format)
      throw InputError(prefix + " was written by another kappa: " + describe(change) + more +
                       "; choose another --output (or --force to overwrite it)");
    if (!rerun_changed)
      throw InputError(prefix + " was written with other " + (kind == FingerprintKind::data ? "data" : "plugins") + ": " +
                       describe(change) + more + "; rerun the changed tasks with --rerun-changed, or choose another --output");
    const auto& names = change.dependents;
    const auto named = [&](const std::string& name) { return std::find(names.begin(), names.end(), name) != names.end(); };
    if (kind == FingerprintKind::data)
      for (std::size_t p = 0; p < plan_->problems.size(); ++p) problem_changed[p] = problem_changed[p] || named(plan_->problems[p].data);
    else
      optimizer_changed.insert(names.begin(), names.end());
  }
  std::unordered_map<std::uint64_t, std::size_t> task_of_key;
  for (std::size_t task = 0; task < plan_->tasks.size(); ++task) task_of_key.emplace(plan_->tasks.record(task).key, task);
  const std::size_t key_column = plan_->column(PlanColumn::key);
  const std::size_t plan_columns = plan_->columns.size();
  const auto same = [](const Cell& a, const Cell& b) { return a.index() == b.index() && cell_text(a) == cell_text(b); };
  std::map<std::size_t, StoredRow> rows;
  std::map<std::size_t, std::vector<TracePoint>> journal_traces;
  for (std::size_t r = 0; r < old.rows.size(); ++r) {
    const std::vector<Cell>& cells = old.rows[r].cells;
    const std::string& key = std::get<std::string>(cells[key_column]);
    const auto found = key.size() == 16 && key.find_first_not_of("0123456789abcdef") == std::string::npos
                           ? task_of_key.find(std::stoull(key, nullptr, 16))
                           : task_of_key.end();
    if (found == task_of_key.end()) throw InputError(prefix + " has a task that is not in this grid");
    const StudyTaskRecord& record = plan_->tasks.record(found->second);
    if (problem_changed[record.problem] || optimizer_changed.count(plan_->optimizers.name(record.optimizer))) {
      ++rerun.dropped;  // runs again
      continue;
    }
    StoredRow row;
    store_outcome(row, std::vector<Cell>(cells.begin() + static_cast<std::ptrdiff_t>(plan_columns), cells.end()));
    const std::vector<Cell> derived = plan_->tasks[found->second].cells;
    if (!std::equal(derived.begin(), derived.end(), cells.begin(), same))
      row.plan_cells = std::make_unique<std::vector<Cell>>(cells.begin(), cells.begin() + static_cast<std::ptrdiff_t>(plan_columns));
    row.trace_start = read.starts[r];
    row.trace_length = read.lengths[r];
    if (read.starts[r] < 0) journal_traces[found->second] = std::move(read.results.rows[r].trace);  // not yet in `file`
    if (!rows.emplace(found->second, std::move(row)).second) throw InputError(prefix + " has a task twice");
  }
  rows_ = std::move(rows);
  pending_traces_ = std::move(journal_traces);
  notes_ = old.notes;
  unjournaled_.clear();
  journal_.reset();  // the first checkpoint writes the file, with the journal's rows, anew
  trace_source_ = file;
  source_points_ = read.points;
  return rerun;
}

void StudyResults::write(const std::string& file, const std::string& csv_file) {
  const auto started = std::chrono::steady_clock::now();
  // The traces of journaled rows are in the journal only (checkpoint): read back once here.
  if (journal_ && journal_rows_ > 0) {  // also after a failed append: its complete records count
    const JournalContents journal = read_journal(journal_->file(), journal_->id());
    for (const std::string& record : journal.records) {
      TaskOutcome outcome = decode_outcome(read_journal_payload(record).outcome_bytes);
      const auto row = rows_.find(outcome.task);
      if (row != rows_.end() && row->second.trace_start < 0 && !pending_traces_.count(outcome.task))
        pending_traces_.emplace(outcome.task, std::move(outcome.trace));
    }
  }
  const std::size_t count = rows_.size();
  const std::uint64_t journal_id = new_journal_id();
  // Where each row's trace will be: rows written before keep their slice of the previous file's
  // traces (copied first, unchanged), the new ones are appended in task order.
  std::vector<std::int64_t> trace_start, trace_length;
  std::vector<std::int64_t> trace_task, trace_iteration;
  std::vector<double> trace_seconds, trace_epochs, trace_loss, trace_grad, trace_error;
  std::size_t appended = 0;
  for (const auto& [task, row] : rows_) {
    const auto pending = pending_traces_.find(task);
    if (pending == pending_traces_.end()) {
      trace_start.push_back(row.trace_start);
    } else {
      trace_start.push_back(static_cast<std::int64_t>(source_points_ + appended));
      appended += pending->second.size();
    }
    trace_length.push_back(row.trace_length);
  }
  for (const auto& [task, trace] : pending_traces_)
    for (const TracePoint& point : trace) {
      trace_task.push_back(static_cast<std::int64_t>(task));
      trace_iteration.push_back(point.iteration);
      trace_seconds.push_back(point.seconds);
      trace_epochs.push_back(point.data_passes);
      trace_loss.push_back(point.loss);
      trace_grad.push_back(point.grad_norm);
      trace_error.push_back(point.relative_weight_error);
    }
  std::vector<std::string> names;
  for (const ColumnSpec& column : columns_) names.push_back(column.name);
  names.push_back("trace_start");
  names.push_back("trace_length");
  const auto plan_cells_of = [&](std::size_t task, const StoredRow& row) {
    return row.plan_cells ? *row.plan_cells : plan_->tasks[task].cells;
  };

  TemporaryFile csv_temporary(csv_file + ".tmp");
  std::ofstream csv(csv_temporary.name(), std::ios::binary | std::ios::trunc);
  if (!csv) throw InputError("results file '" + csv_file + "': cannot be created (" + std::strerror(errno) + ")");
  csv << join(names, ",") << '\n';
  {
    const std::lock_guard<std::mutex> lock(hdf5_mutex());
    const SilencedErrors silenced;
    TemporaryFile temporary(file + ".tmp");
    H5Writer h5(temporary.name(), "results file '" + file + "'");
    const hid_t root = h5.root();
    h5.text_attribute(root, "format", kFormatName);
    h5.integer_attribute(root, "format_version", kStudyFormatVersion);
    h5.text_attribute(root, "grid_file", plan_->grid_name);
    h5.text_attribute(root, "grid_text", plan_->grid_text);
    h5.text_attribute(root, "grid_hash", plan_->grid_hash);
    if (has_fingerprints_) h5.text_attribute(root, "fingerprints", fingerprints_text(fingerprints_));
    h5.integer_attribute(root, "task_count", static_cast<long long>(plan_->tasks.size()));
    h5.integer_attribute(root, "row_count", static_cast<long long>(count));
    h5.integer_attribute(root, "complete", count == plan_->tasks.size() ? 1 : 0);
    h5.text_attribute(root, "journal_id", key_text(journal_id));
    if (!manifest_.empty()) write_manifest(root, manifest_, "results file '" + file + "'");
    std::vector<std::string> axis_names;
    const hid_t axes = h5.group("axes");
    for (const StudyAxis& axis : plan_->axes) {
      axis_names.push_back(axis.name);
      h5.texts(axes, axis.name, axis.values);
    }
    h5.text_attribute(axes, "order", join(axis_names, ","));
    std::vector<std::string> zips;
    for (const StudyAxis& axis : plan_->axes)
      if (!axis.zip.empty() && std::find(zips.begin(), zips.end(), axis.zip) == zips.end()) zips.push_back(axis.zip);
    h5.text_attribute(axes, "zip", join(zips, " "));
    h5.integer_attribute(axes, "repeats", plan_->repeats);

    const hid_t tasks = h5.group("tasks");
    h5.text_attribute(tasks, "columns", join(names, ","));
    // The rows in blocks: each row's task columns are derived from the plan once per write
    // (about 15 microseconds), its cells go to the datasets block by block and to the CSV. A
    // block of rows as cells takes about 1.5 KB a row: kRowBlock bounds that.
    constexpr std::size_t kRowBlock = 512;
    std::vector<Handle> datasets;
    const Handle text_memory = text_type();
    for (const ColumnSpec& column : columns_)
      datasets.push_back(h5.create(tasks, column.name,
                                   column.type == ColumnType::integer ? H5T_STD_I64LE
                                   : column.type == ColumnType::real  ? H5T_IEEE_F64LE
                                                                      : text_memory.get(),
                                   count));
    std::vector<std::vector<std::int64_t>> integers(columns_.size());
    std::vector<std::vector<double>> reals(columns_.size());
    std::vector<std::vector<std::string>> texts(columns_.size());
    std::size_t written = 0;
    const auto write_rows = [&]() {
      for (std::size_t c = 0; c < columns_.size(); ++c) {
        const hid_t dataset = datasets[c].get();
        std::size_t rows = 0;
        if (columns_[c].type == ColumnType::integer) {
          rows = integers[c].size();
          h5.write_block(dataset, H5T_NATIVE_INT64, written, rows, integers[c].data());
        } else if (columns_[c].type == ColumnType::real) {
          rows = reals[c].size();
          h5.write_block(dataset, H5T_NATIVE_DOUBLE, written, rows, reals[c].data());
        } else {
          rows = texts[c].size();
          std::vector<const char*> pointers;
          for (const std::string& text : texts[c]) pointers.push_back(text.c_str());
          h5.write_block(dataset, text_memory.get(), written, rows, pointers.data());
        }
        integers[c].clear();
        reals[c].clear();
        texts[c].clear();
        if (c + 1 == columns_.size()) written += rows;
      }
    };
    std::size_t line = 0;
    for (const auto& [task, row] : rows_) {
      std::vector<Cell> cells = plan_cells_of(task, row);
      const std::vector<Cell> outcome = outcome_cells(row);
      cells.insert(cells.end(), outcome.begin(), outcome.end());
      for (const Cell& cell : cells) csv << csv_cell(cell) << ',';
      csv << trace_start[line] << ',' << trace_length[line] << '\n';
      ++line;
      for (std::size_t c = 0; c < columns_.size(); ++c) {
        if (columns_[c].type == ColumnType::integer) integers[c].push_back(std::get<long long>(cells[c]));
        else if (columns_[c].type == ColumnType::real) reals[c].push_back(std::get<double>(cells[c]));
        else texts[c].push_back(std::move(std::get<std::string>(cells[c])));
      }
      if (line % kRowBlock == 0) write_rows();
    }
    write_rows();
    csv.flush();
    if (!csv) throw InputError("results file '" + csv_file + "': write failed (disk full?)");
    csv.close();
    datasets.clear();
    h5.integers(tasks, "trace_start", trace_start);
    h5.integers(tasks, "trace_length", trace_length);
    const hid_t traces = h5.group("traces");
    // The previous traces, copied from the file of the last write (the current `file` itself
    // as a rule: it stays complete until the rename below replaces it).
    std::unique_ptr<H5Reader> source;
    std::unique_ptr<Handle> source_traces;
    if (source_points_ > 0) {
      source = std::make_unique<H5Reader>(trace_source_);
      source_traces = std::make_unique<Handle>(H5Gopen2(source->root(), "traces", H5P_DEFAULT), H5Gclose);
      if (!source_traces->valid()) h5.fail("the previous results file '" + trace_source_ + "' has no traces to copy");
    }
    const auto copy = [&](const char* name, hid_t file_type, hid_t memory_type, const auto& tail) {
      Handle dataset(source ? H5Dopen2(source_traces->get(), name, H5P_DEFAULT) : H5I_INVALID_HID, H5Dclose);
      if (source && !dataset.valid()) h5.fail("the previous results file '" + trace_source_ + "' has no trace dataset '" + name + "'");
      h5.appended(traces, name, file_type, memory_type, dataset.get(), source_points_, tail);
    };
    copy("task", H5T_STD_I64LE, H5T_NATIVE_INT64, trace_task);
    copy("iteration", H5T_STD_I64LE, H5T_NATIVE_INT64, trace_iteration);
    copy("seconds", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, trace_seconds);
    copy("epochs", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, trace_epochs);
    copy("loss", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, trace_loss);
    copy("grad_norm", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, trace_grad);
    copy("relative_weight_error", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, trace_error);
    source_traces.reset();
    source.reset();
    h5.finish();
    sync_path(temporary.name());  // on disk before it replaces the file: a power loss keeps the order
    replace_file(temporary.name(), file);
    temporary.release();
  }
  // The file now holds every trace: the rows added since the last write get their slices.
  std::size_t r = 0;
  for (auto& [task, row] : rows_) row.trace_start = trace_start[r++];
  pending_traces_.clear();
  trace_source_ = file;
  source_points_ += appended;

  replace_file(csv_temporary.name(), csv_file);
  csv_temporary.release();
  // Only now a journal of the new id: until here the journal beside `file` has the previous id,
  // and is ignored beside the new file (which holds its rows). The renames first made durable.
  const std::string directory = std::filesystem::path(file).parent_path().string();
  sync_path(directory.empty() ? "." : directory);
  unjournaled_.clear();
  journal_rows_ = 0;
  file_rows_ = count;
  journal_.reset();
  journal_ = std::make_unique<JournalWriter>(journal_name(file), journal_id);
  last_write_seconds_ = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  last_write_rows_ = count;
}

void StudyResults::checkpoint(const std::string& file, const std::string& csv_file) {
  const std::size_t rows = journal_rows_ + unjournaled_.size();
  const bool no_journal = !journal_ || !journal_->healthy() || journal_->file() != journal_name(file);
  // From the last rewrite, in proportion to the rows; never below kRewriteSecondsPerRow a row
  // (a rewrite of few or no rows says little about a large one).
  const double per_row = last_write_rows_ > 0 ? last_write_seconds_ / static_cast<double>(last_write_rows_) : 0;
  const double estimated_rewrite = std::max(per_row, kRewriteSecondsPerRow) * static_cast<double>(rows_.size());
  if (no_journal || (rows > std::max(file_rows_, journal_minimum_) && estimated_rewrite <= rewrite_budget_)) {
    write(file, csv_file);
    return;
  }
  append_pending();
}

void StudyResults::append_pending() {
  if (!journal_ || !journal_->healthy() || unjournaled_.empty()) return;
  const auto started = std::chrono::steady_clock::now();
  const std::size_t appended = unjournaled_.size();
  const std::size_t rows = journal_rows_ + unjournaled_.size();
  // The rows as their outcome messages (task, key, outcome, trace) with their plan cells.
  std::vector<std::string> payloads;
  payloads.reserve(unjournaled_.size());
  for (const std::size_t task : unjournaled_) {
    const auto row = rows_.find(task);
    if (row == rows_.end()) continue;  // forgotten
    TaskOutcome outcome;
    outcome.task = task;
    outcome.key = key_text(plan_->tasks.record(task).key);
    const std::vector<Cell> values = outcome_cells(row->second);
    for (std::size_t f = 0; f < kOutcomeFieldCount; ++f) kOutcomeFields[f].set(outcome, values[f]);
    outcome.trace = pending_traces_.at(task);
    payloads.push_back(journal_payload(encode_outcome(outcome), plan_->tasks[task].cells));
  }
  journal_->append(payloads);
  for (const std::size_t task : unjournaled_) pending_traces_.erase(task);  // in the journal now
  unjournaled_.clear();
  journal_rows_ = rows;
  append_seconds_per_row_ =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count() / static_cast<double>(appended);
}

}  // namespace kappa
