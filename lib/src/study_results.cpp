// Study results (kappa/study_results.hpp): the outcome message format, and the results file
// (HDF5 C API, one 1-D dataset per column) with its CSV summary.

#include "kappa/study_results.hpp"

#include <hdf5.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <memory>
#include <stdexcept>
#include <type_traits>
#include <unordered_map>
#include <utility>

#include "kappa/error.hpp"
#include "kappa/parse.hpp"
#include "hdf5_support.hpp"

namespace kappa {
namespace {

using hdf5::Handle;
using hdf5::SilencedErrors;
using hdf5::TemporaryFile;

// ---------------------------------------------------------------------------------------------
// Outcome messages: native-endian fields, strings as length + bytes.

constexpr std::uint32_t kOutcomeMagic = 0x4b534f31;  // "KSO1"

class Writer {
 public:
  template <class T>
  void put(const T& value) {
    static_assert(std::is_trivially_copyable_v<T>);
    bytes_.append(reinterpret_cast<const char*>(&value), sizeof value);
  }
  void put(const std::string& text) {
    put(static_cast<std::uint64_t>(text.size()));
    bytes_ += text;
  }
  std::string take() { return std::move(bytes_); }

 private:
  std::string bytes_;
};

class Reader {
 public:
  explicit Reader(const std::string& bytes) : bytes_(bytes) {}
  template <class T>
  T get() {
    static_assert(std::is_trivially_copyable_v<T>);
    need(sizeof(T));
    T value;
    std::memcpy(&value, bytes_.data() + at_, sizeof value);
    at_ += sizeof value;
    return value;
  }
  std::string text() {
    const auto size = get<std::uint64_t>();
    need(size);
    std::string value = bytes_.substr(at_, size);
    at_ += size;
    return value;
  }
  bool done() const { return at_ == bytes_.size(); }

 private:
  void need(std::uint64_t size) const {
    if (size > bytes_.size() - at_) throw Error("malformed task result message (truncated)");
  }
  const std::string& bytes_;
  std::size_t at_ = 0;
};

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
      : file_(H5Fcreate(temporary.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT), H5Fclose), prefix_(std::move(prefix)) {
    if (!file_.valid()) fail("cannot create '" + temporary + "'");
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
    if (count > 0 && H5Dwrite(dataset.get(), memory_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) < 0)
      fail("cannot write dataset '" + name + "' (disk full?)");
  }

  Handle file_;
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

std::string csv_field(const std::string& text) {
  if (text.find_first_of(",\"\n\r") == std::string::npos) return text;
  std::string quoted = "\"";
  for (const char c : text) quoted += c == '"' ? std::string("\"\"") : std::string(1, c);
  return quoted + "\"";
}

void replace_file(const std::string& temporary, const std::string& file) {
  if (std::rename(temporary.c_str(), file.c_str()) != 0) {
    std::remove(temporary.c_str());
    throw InputError("results file '" + file + "': cannot be renamed into place");
  }
}

}  // namespace

std::string encode_outcome(const TaskOutcome& o) {
  Writer out;
  out.put(kOutcomeMagic);
  out.put(static_cast<std::uint64_t>(o.task));
  out.put(o.key);
  out.put(o.status);
  out.put(o.message);
  out.put(o.iterations);
  for (double value : {o.epochs, o.seconds, o.setup_seconds, o.final_loss, o.loss_gap, o.grad_norm, o.relative_weight_error,
                       o.weight_norm, o.test_mae, o.test_rmse, o.predicted_iterations, o.condition_number})
    out.put(value);
  out.put(o.samples);
  out.put(o.features);
  out.put(o.rank);
  out.put(o.host);
  out.put(static_cast<std::uint64_t>(o.trace.size()));
  for (const TracePoint& point : o.trace) {
    out.put(static_cast<long long>(point.iteration));
    for (double value : {point.seconds, point.data_passes, point.loss, point.grad_norm, point.relative_weight_error}) out.put(value);
  }
  return out.take();
}

TaskOutcome decode_outcome(const std::string& bytes) {
  Reader in(bytes);
  if (in.get<std::uint32_t>() != kOutcomeMagic) throw Error("malformed task result message (bad magic)");
  TaskOutcome o;
  o.task = static_cast<std::size_t>(in.get<std::uint64_t>());
  o.key = in.text();
  o.status = in.text();
  o.message = in.text();
  o.iterations = in.get<long long>();
  for (double* value : {&o.epochs, &o.seconds, &o.setup_seconds, &o.final_loss, &o.loss_gap, &o.grad_norm, &o.relative_weight_error,
                        &o.weight_norm, &o.test_mae, &o.test_rmse, &o.predicted_iterations, &o.condition_number})
    *value = in.get<double>();
  o.samples = in.get<long long>();
  o.features = in.get<long long>();
  o.rank = in.get<long long>();
  o.host = in.text();
  const auto points = in.get<std::uint64_t>();
  if (points > bytes.size()) throw Error("malformed task result message (trace length)");
  o.trace.resize(points);
  for (TracePoint& point : o.trace) {
    point.iteration = static_cast<long>(in.get<long long>());
    for (double* value : {&point.seconds, &point.data_passes}) *value = in.get<double>();
    for (real* value : {&point.loss, &point.grad_norm, &point.relative_weight_error}) *value = in.get<double>();
  }
  if (!in.done()) throw Error("malformed task result message (trailing bytes)");
  return o;
}

const std::vector<ColumnSpec>& outcome_columns() {
  static const std::vector<ColumnSpec> columns = {
      {"status", ColumnType::text},       {"message", ColumnType::text},
      {"iterations", ColumnType::integer}, {"epochs", ColumnType::real},
      {"seconds", ColumnType::real},      {"setup_seconds", ColumnType::real},
      {"final_loss", ColumnType::real},   {"loss_gap", ColumnType::real},
      {"grad_norm", ColumnType::real},    {"relative_weight_error", ColumnType::real},
      {"weight_norm", ColumnType::real},  {"test_mae", ColumnType::real},
      {"test_rmse", ColumnType::real},    {"predicted_iterations", ColumnType::real},
      {"samples", ColumnType::integer},   {"features", ColumnType::integer},
      {"condition_number", ColumnType::real}, {"rank", ColumnType::integer},
      {"host", ColumnType::text},
  };
  return columns;
}

std::mutex& hdf5_mutex() {
  static std::mutex mutex;
  return mutex;
}

ResultsFile read_results_file(const std::string& file) {
  const std::lock_guard<std::mutex> lock(hdf5_mutex());
  const SilencedErrors silenced;
  const H5Reader h5(file);
  const hid_t root = h5.root();
  if (!h5.has_attribute(root, "format") || h5.text_attribute(root, "format") != kFormatName)
    h5.fail("not a kappa study results file (no format attribute '" + std::string(kFormatName) + "')");
  ResultsFile results;
  results.format_version = h5.integer_attribute(root, "format_version");
  if (results.format_version != kStudyFormatVersion) return results;  // the caller decides
  results.grid_file = h5.text_attribute(root, "grid_file");
  results.grid_text = h5.text_attribute(root, "grid_text");
  results.grid_hash = h5.text_attribute(root, "grid_hash");
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
  for (const char* name : kTraceColumns) trace_values.push_back(h5.column(traces.get(), name).second);
  const std::size_t points = trace_values[0].size();
  for (const auto& column : trace_values)
    if (column.size() != points) h5.fail("the trace columns have different lengths");

  results.rows.resize(rows);
  for (std::size_t r = 0; r < rows; ++r) {
    ResultsRow& row = results.rows[r];
    for (const auto& column : values) row.cells.push_back(column[r]);
    const auto start = std::get<long long>(trace_start[r]);
    const auto length = std::get<long long>(trace_length[r]);
    if (start < 0 || length < 0 || static_cast<std::size_t>(start + length) > points) h5.fail("trace slice out of range");
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
  return results;
}

StudyResults::StudyResults(const StudyPlan& plan) : plan_(&plan), columns_(plan.columns) {
  columns_.insert(columns_.end(), outcome_columns().begin(), outcome_columns().end());
}

bool StudyResults::add(const TaskOutcome& o) {
  if (o.task >= plan_->tasks.size() || plan_->tasks[o.task].key != o.key)
    throw Error("task result for task " + std::to_string(o.task) + " (key " + o.key + ") does not belong to this grid");
  if (rows_.count(o.task)) return false;
  ResultsRow row;
  row.cells = plan_->tasks[o.task].cells;
  const std::vector<Cell> outcome = {o.status, o.message, o.iterations, o.epochs, o.seconds, o.setup_seconds,
                                     o.final_loss, o.loss_gap, o.grad_norm, o.relative_weight_error, o.weight_norm,
                                     o.test_mae, o.test_rmse, o.predicted_iterations, o.samples, o.features,
                                     o.condition_number, o.rank, o.host};
  row.cells.insert(row.cells.end(), outcome.begin(), outcome.end());
  row.trace = o.trace;
  rows_.emplace(o.task, std::move(row));
  return true;
}

void StudyResults::load(const std::string& file) {
  const ResultsFile old = read_results_file(file);
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
  std::unordered_map<std::string, std::size_t> task_of_key;
  for (const StudyTask& task : plan_->tasks) task_of_key.emplace(task.key, task.index);
  std::size_t key_column = 0;
  while (columns_[key_column].name != "key") ++key_column;
  std::map<std::size_t, ResultsRow> rows;
  for (const ResultsRow& row : old.rows) {
    const auto found = task_of_key.find(std::get<std::string>(row.cells[key_column]));
    if (found == task_of_key.end()) throw InputError(prefix + " has a task that is not in this grid");
    if (!rows.emplace(found->second, row).second) throw InputError(prefix + " has a task twice");
  }
  rows_ = std::move(rows);
}

void StudyResults::write(const std::string& file, const std::string& csv_file) const {
  const std::size_t count = rows_.size();
  std::vector<std::int64_t> trace_start, trace_length, trace_task, trace_iteration;
  std::vector<double> trace_seconds, trace_epochs, trace_loss, trace_grad, trace_error;
  for (const auto& [task, row] : rows_) {
    trace_start.push_back(static_cast<std::int64_t>(trace_task.size()));
    trace_length.push_back(static_cast<std::int64_t>(row.trace.size()));
    for (const TracePoint& point : row.trace) {
      trace_task.push_back(static_cast<std::int64_t>(task));
      trace_iteration.push_back(point.iteration);
      trace_seconds.push_back(point.seconds);
      trace_epochs.push_back(point.data_passes);
      trace_loss.push_back(point.loss);
      trace_grad.push_back(point.grad_norm);
      trace_error.push_back(point.relative_weight_error);
    }
  }
  std::vector<std::string> names;
  for (const ColumnSpec& column : columns_) names.push_back(column.name);
  names.push_back("trace_start");
  names.push_back("trace_length");

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
    h5.integer_attribute(root, "task_count", static_cast<long long>(plan_->tasks.size()));
    h5.integer_attribute(root, "row_count", static_cast<long long>(count));
    h5.integer_attribute(root, "complete", count == plan_->tasks.size() ? 1 : 0);
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
    for (std::size_t c = 0; c < columns_.size(); ++c) {
      const ColumnSpec& column = columns_[c];
      if (column.type == ColumnType::integer) {
        std::vector<std::int64_t> values;
        for (const auto& entry : rows_) values.push_back(std::get<long long>(entry.second.cells[c]));
        h5.integers(tasks, column.name, values);
      } else if (column.type == ColumnType::real) {
        std::vector<double> values;
        for (const auto& entry : rows_) values.push_back(std::get<double>(entry.second.cells[c]));
        h5.reals(tasks, column.name, values);
      } else {
        std::vector<std::string> values;
        for (const auto& entry : rows_) values.push_back(std::get<std::string>(entry.second.cells[c]));
        h5.texts(tasks, column.name, values);
      }
    }
    h5.integers(tasks, "trace_start", trace_start);
    h5.integers(tasks, "trace_length", trace_length);
    const hid_t traces = h5.group("traces");
    h5.integers(traces, "task", trace_task);
    h5.integers(traces, "iteration", trace_iteration);
    h5.reals(traces, "seconds", trace_seconds);
    h5.reals(traces, "epochs", trace_epochs);
    h5.reals(traces, "loss", trace_loss);
    h5.reals(traces, "grad_norm", trace_grad);
    h5.reals(traces, "relative_weight_error", trace_error);
    h5.finish();
    replace_file(temporary.name(), file);
    temporary.release();
  }

  TemporaryFile temporary(csv_file + ".tmp");
  {
    std::ofstream out(temporary.name(), std::ios::binary | std::ios::trunc);
    if (!out) throw InputError("results file '" + csv_file + "': cannot be created");
    out << join(names, ",") << '\n';
    std::size_t r = 0;
    for (const auto& entry : rows_) {
      for (const Cell& cell : entry.second.cells) out << csv_field(cell_text(cell)) << ',';
      out << trace_start[r] << ',' << trace_length[r] << '\n';
      ++r;
    }
    out.flush();
    if (!out) throw InputError("results file '" + csv_file + "': write failed (disk full?)");
  }
  replace_file(temporary.name(), csv_file);
  temporary.release();
}

}  // namespace kappa
