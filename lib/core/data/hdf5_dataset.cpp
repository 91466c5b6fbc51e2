// validate(), read_hdf5() and write_hdf5() from kappa/data.hpp, on the HDF5 C API.
//
// Every failure becomes one kappa::DataError line naming the file (or data source), the dataset
// and the reason. HDF5's own error-stack printing is switched off while kappa reads or writes,
// so that this line is the only output, and restored afterwards.

#include <hdf5.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <limits>
#include <string>
#include <system_error>
#include <type_traits>
#include <utility>
#include <vector>

#include "core/data/dataset.hpp"
#include "kappa/error.hpp"
#include "core/data/hdf5_support.hpp"
#include "core/problems/transpose.hpp"

namespace kappa {
namespace {

using hdf5::Handle;
using hdf5::SilencedErrors;
using hdf5::TemporaryFile;

std::string quoted(const std::string& text) { return "'" + text + "'"; }

// ---------------------------------------------------------------------------------------------
// Consistency checks shared by validate() and read_hdf5(). They differ only in how they name the
// data (prefix) and its four parts (member names or dataset paths).

struct PartNames {
  std::string X_train, y_train, X_test, y_test;
};

[[noreturn]] void fail(const std::string& prefix, const std::string& reason) {
  throw DataError(prefix + ": " + reason);
}

// Reports the first non-finite value in file order (row by row), as HDF5 and numpy show it.
void check_finite(const Mat& matrix, const std::string& name, const std::string& prefix) {
  if (matrix.is_finite()) return;
  for (Index row = 0; row < matrix.n_rows; ++row)
    for (Index col = 0; col < matrix.n_cols; ++col)
      if (!std::isfinite(matrix(row, col)))
        fail(prefix, quoted(name) + " contains NaN or Inf (first at row " + std::to_string(row) +
                         ", column " + std::to_string(col) + ", counting from 0)");
}

void check_finite(const Vec& vector, const std::string& name, const std::string& prefix) {
  if (vector.is_finite()) return;
  for (Index i = 0; i < vector.n_elem; ++i)
    if (!std::isfinite(vector(i)))
      fail(prefix, quoted(name) + " contains NaN or Inf (first at index " + std::to_string(i) +
                       ", counting from 0)");
}

void check_lengths(const Mat& X, const Vec& y, const std::string& X_name,
                   const std::string& y_name, const std::string& prefix) {
  if (X.n_rows != y.n_elem)
    fail(prefix, quoted(X_name) + " has " + std::to_string(X.n_rows) + " rows but " +
                     quoted(y_name) + " has " + std::to_string(y.n_elem) + " values");
}

void check_test_part(const Dataset& data, const PartNames& names, const std::string& prefix) {
  if (!data.has_test()) {
    if (!data.y_test.is_empty())
      fail(prefix, quoted(names.y_test) + " has " + std::to_string(data.y_test.n_elem) +
                       " values but " + quoted(names.X_test) + " is empty");
    return;
  }
  if (data.X_test.n_cols != data.X_train.n_cols)
    fail(prefix, quoted(names.X_test) + " has " + std::to_string(data.X_test.n_cols) +
                     " columns but " + quoted(names.X_train) + " has " +
                     std::to_string(data.X_train.n_cols));
  check_lengths(data.X_test, data.y_test, names.X_test, names.y_test, prefix);
}

void check_consistency(const Dataset& data, const PartNames& names, const std::string& prefix) {
  if (data.X_train.is_empty())
    fail(prefix, quoted(names.X_train) + " is empty (" + std::to_string(data.X_train.n_rows) +
                     " x " + std::to_string(data.X_train.n_cols) + ")");
  if (data.y_train.is_empty()) fail(prefix, quoted(names.y_train) + " is empty");
  check_lengths(data.X_train, data.y_train, names.X_train, names.y_train, prefix);
  check_test_part(data, names, prefix);
  check_finite(data.X_train, names.X_train, prefix);
  check_finite(data.y_train, names.y_train, prefix);
  check_finite(data.X_test, names.X_test, prefix);
  check_finite(data.y_test, names.y_test, prefix);
}

// ---------------------------------------------------------------------------------------------
// HDF5 plumbing.

// An open file and the "data file '<name>'" prefix of its messages.
struct H5File {
  Handle handle;
  std::string prefix;
  hid_t id() const { return handle.get(); }
};


// The HDF5 memory type of kappa::real buffers: HDF5 converts from (and to) the file's type.
template <typename T>
hid_t memory_type_of() {
  if constexpr (std::is_same_v<T, double>) {
    return H5T_NATIVE_DOUBLE;
  } else if constexpr (std::is_same_v<T, float>) {
    return H5T_NATIVE_FLOAT;
  } else {
    static_assert(sizeof(T) == 0, "kappa::real must be float or double");  // dependent: fires only here
    return H5I_INVALID_HID;
  }
}

hid_t real_memory_type() { return memory_type_of<real>(); }

std::string dataset_name(const std::string& path) { return "dataset " + quoted(path); }

std::string shape_text(const std::vector<hsize_t>& dims) {
  std::string text = "(";
  for (std::size_t i = 0; i < dims.size(); ++i)
    text += (i > 0 ? ", " : "") + std::to_string(dims[i]);
  return text + ")";
}

// The first of the prefixes a, a/b, a/b/c of `path` that is missing from the file, or "" when
// the whole path exists. H5Lexists may only be asked about a link whose parents all exist.
std::string first_missing_prefix(hid_t file, const std::string& path) {
  std::size_t start = 0;
  while (start < path.size()) {
    std::size_t end = path.find('/', start);
    if (end == std::string::npos) end = path.size();
    const std::string prefix = path.substr(0, end);
    if (end > start && H5Lexists(file, prefix.c_str(), H5P_DEFAULT) <= 0) return prefix;
    start = end + 1;
  }
  return "";
}

bool path_exists(const H5File& file, const std::string& path) {
  return !path.empty() && first_missing_prefix(file.id(), path).empty();
}

H5File open_for_reading(const std::string& name) {
  const std::string prefix = "data file " + quoted(name);
  std::error_code error;
  const bool exists = std::filesystem::exists(name, error);
  if (error) throw DataError(prefix + " cannot be accessed: " + error.message());
  if (!exists) throw DataError(prefix + " does not exist");
  // A directory would get HDF5's vague "cannot be read" (and noise at exit), and opening a FIFO
  // blocks for ever: only regular files go to HDF5.
  if (std::filesystem::is_directory(name, error)) throw DataError(prefix + " is a directory, not a file");
  if (!std::filesystem::is_regular_file(name, error))
    throw DataError(prefix + " is not a regular file (a device, FIFO or socket)");
  // H5Fis_hdf5 is 0 for a file that is not HDF5 and negative for one that cannot be read.
  const hid_t id = H5Fis_hdf5(name.c_str()) > 0
                       ? H5Fopen(name.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT)
                       : H5I_INVALID_HID;
  Handle handle(id, H5Fclose);
  if (!handle.valid()) throw DataError(prefix + " is not an HDF5 file or cannot be read");
  return H5File{std::move(handle), prefix};
}

Handle open_dataset(const H5File& file, const std::string& path) {
  if (path.empty()) fail(file.prefix, "empty dataset path");
  const std::string missing = first_missing_prefix(file.id(), path);
  if (missing == path) fail(file.prefix, dataset_name(path) + " not found");
  if (!missing.empty())
    fail(file.prefix, dataset_name(path) + " not found (no group " + quoted(missing) + ")");
  Handle dataset(H5Dopen2(file.id(), path.c_str(), H5P_DEFAULT), H5Dclose);
  if (!dataset.valid()) fail(file.prefix, quoted(path) + " exists but is not a dataset");
  return dataset;
}

const char* type_class_name(H5T_class_t type_class) {
  switch (type_class) {
    case H5T_INTEGER: return "integer";
    case H5T_STRING: return "string";
    case H5T_BITFIELD: return "bitfield";
    case H5T_OPAQUE: return "opaque";
    case H5T_COMPOUND: return "compound";
    case H5T_REFERENCE: return "reference";
    case H5T_ENUM: return "enum";
    case H5T_VLEN: return "variable-length";
    case H5T_ARRAY: return "array";
    default: return "non-numeric";
  }
}

// Any HDF5 floating type is accepted; H5Dread converts it to kappa::real.
void check_floating(const H5File& file, const std::string& path, hid_t dataset) {
  Handle type(H5Dget_type(dataset), H5Tclose);
  const H5T_class_t type_class = type.valid() ? H5Tget_class(type.get()) : H5T_NO_CLASS;
  if (type_class != H5T_FLOAT)
    fail(file.prefix, dataset_name(path) + " holds " + type_class_name(type_class) +
                          " values, expected float32 or float64");
}

std::vector<hsize_t> dataset_shape(const H5File& file, const std::string& path, hid_t dataset) {
  Handle space(H5Dget_space(dataset), H5Sclose);
  const int rank = space.valid() ? H5Sget_simple_extent_ndims(space.get()) : -1;
  if (rank < 0) fail(file.prefix, dataset_name(path) + " has an unreadable shape");
  std::vector<hsize_t> dims(static_cast<std::size_t>(rank));
  H5Sget_simple_extent_dims(space.get(), dims.data(), nullptr);
  return dims;
}

void check_not_empty(const H5File& file, const std::string& path,
                     const std::vector<hsize_t>& dims) {
  for (hsize_t extent : dims)
    if (extent == 0) fail(file.prefix, dataset_name(path) + " is empty (shape " +
                                           shape_text(dims) + ")");
}

// A corrupt file can declare a shape that its stored values do not cover (HDF5 1.10 does not
// compare a contiguous layout's size with the dataspace), and kappa would then allocate, and
// HDF5 fill, up to 2^64 values. Before anything is allocated, a dataset must therefore
// (1) have a size in bytes that is representable and fits in this machine's memory;
// (2) if chunked, have every chunk stored (HDF5 returns fill values for a missing chunk, which
// are not data); (3) without filters or external files, fit in the file, since each value is
// then stored as it is; (4) store no more bytes than the file has. Compressed data can be far
// larger than its file: (1), (2) and (4) bound it. "The file" is the one that holds the dataset,
// which an external link puts in another file than the one opened. And the values must exist:
// (5) a contiguous dataset that was created but never written has no storage, and HDF5 would
// return its fill value as data; (6) a virtual dataset reads its missing sources as the fill
// value too, so every source file must exist and hold its source dataset.
// (6) above: each mapping's source file exists (HDF5's rule: a relative name is looked up beside
// the file that holds the virtual dataset; "." is that file itself) and holds its dataset.
template <class Refuse>
void check_virtual_sources(hid_t holder, hid_t properties, const Refuse& refuse) {
  std::size_t count = 0;
  if (H5Pget_virtual_count(properties, &count) < 0) refuse("cannot be read (unreadable virtual layout)");
  const auto text = [&](auto get, std::size_t index) {
    const ssize_t size = get(properties, index, nullptr, 0);
    if (size < 0) refuse("cannot be read (unreadable virtual layout)");
    std::string value(static_cast<std::size_t>(size) + 1, '\0');
    get(properties, index, value.data(), value.size());
    value.resize(static_cast<std::size_t>(size));
    return value;
  };
  const ssize_t name_size = H5Fget_name(holder, nullptr, 0);
  std::string holder_name(name_size > 0 ? static_cast<std::size_t>(name_size) + 1 : 1, '\0');
  if (name_size > 0) H5Fget_name(holder, holder_name.data(), holder_name.size());
  holder_name.resize(name_size > 0 ? static_cast<std::size_t>(name_size) : 0);
  for (std::size_t i = 0; i < count; ++i) {
    const std::string source = text(H5Pget_virtual_filename, i);
    const std::string source_dataset = text(H5Pget_virtual_dsetname, i);
    if (source == ".") continue;  // in this file, checked when that dataset is read
    std::filesystem::path path(source);
    if (path.is_relative()) path = std::filesystem::path(holder_name).parent_path() / path;
    const std::string mapping = " (mapping " + std::to_string(i + 1) + " of " + std::to_string(count) + ")";
    std::error_code error;
    if (!std::filesystem::is_regular_file(path, error))
      refuse("is a virtual dataset whose source file '" + source + "'" + mapping +
             " does not exist: HDF5 would return fill values as data");
    const Handle opened(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), H5Fclose);
    if (!opened.valid() || H5Lexists(opened.get(), source_dataset.c_str(), H5P_DEFAULT) <= 0)
      refuse("is a virtual dataset whose source '" + source + "':'" + source_dataset + "'" + mapping + " cannot be read");
  }
}

void check_stored_values(const H5File& file, const std::string& path, hid_t dataset,
                         const std::vector<hsize_t>& dims) {
  const auto refuse = [&](const std::string& reason) {
    fail(file.prefix, dataset_name(path) + " of shape " + shape_text(dims) + " " + reason);
  };
  const Handle type(H5Dget_type(dataset), H5Tclose);
  const std::size_t value_size = type.valid() ? H5Tget_size(type.get()) : 0;
  const Handle properties(H5Dget_create_plist(dataset), H5Pclose);
  const Handle holder(H5Iget_file_id(dataset), H5Fclose);  // the file with the data (external links)
  hsize_t file_size = 0;
  if (value_size == 0 || !properties.valid() || !holder.valid() || H5Fget_filesize(holder.get(), &file_size) < 0)
    refuse("cannot be read");
  const H5D_layout_t layout = H5Pget_layout(properties.get());
  if (layout == H5D_VIRTUAL) {
    check_virtual_sources(holder.get(), properties.get(), refuse);
    return;  // its values are stored in the sources, which the checks below do not see
  }

  const long pages = ::sysconf(_SC_PHYS_PAGES), page_size = ::sysconf(_SC_PAGE_SIZE);
  const std::uint64_t memory = pages > 0 && page_size > 0 ? std::uint64_t(pages) * std::uint64_t(page_size)
                                                          : std::numeric_limits<std::uint64_t>::max();
  const std::uint64_t max_count = std::min<std::uint64_t>(std::numeric_limits<arma::uword>::max(),
                                                          memory / std::max(sizeof(real), value_size));
  std::uint64_t count = 1;
  for (hsize_t extent : dims) {
    if (extent > max_count / count)
      refuse("needs more memory than this machine has (" + std::to_string(memory) + " bytes)");
    count *= extent;
  }

  if (H5Pget_layout(properties.get()) == H5D_CHUNKED) {
    std::vector<hsize_t> chunk(dims.size(), 0);
    const Handle space(H5Dget_space(dataset), H5Sclose);
    hsize_t expected = 1, stored = 0;
    if (H5Pget_chunk(properties.get(), static_cast<int>(chunk.size()), chunk.data()) != static_cast<int>(chunk.size()) ||
        !space.valid() || H5Dget_num_chunks(dataset, space.get(), &stored) < 0)
      refuse("cannot be read (unreadable chunk layout)");
    for (std::size_t i = 0; i < dims.size(); ++i) {
      if (chunk[i] == 0) refuse("cannot be read (a chunk of extent 0)");
      expected *= (dims[i] + chunk[i] - 1) / chunk[i];  // <= count: no overflow
    }
    if (stored != expected)
      refuse("has " + std::to_string(stored) + " of its " + std::to_string(expected) +
             " chunks stored (the file is incomplete or corrupt)");
  }

  // What is stored in the file lies in the file: a larger stored size (of a chunk's compressed
  // bytes, say) is corrupt, and HDF5 would allocate it before finding out.
  const bool external = H5Pget_external_count(properties.get()) != 0;
  H5D_space_status_t status = H5D_SPACE_STATUS_ERROR;
  if (!external && layout == H5D_CONTIGUOUS && H5Dget_space_status(dataset, &status) >= 0 &&
      status == H5D_SPACE_STATUS_NOT_ALLOCATED)
    refuse("was created but never written (no storage allocated: HDF5 would return its fill value as data)");
  if (!external && H5Dget_storage_size(dataset) > file_size)
    refuse("claims " + std::to_string(H5Dget_storage_size(dataset)) + " bytes of storage, more than the file's " +
           std::to_string(file_size) + " (the file is corrupt)");
  const bool stored_as_is = H5Pget_nfilters(properties.get()) == 0 && !external;
  if (stored_as_is && count > file_size / value_size)
    refuse("of " + std::to_string(value_size) + "-byte values needs more than the file's " + std::to_string(file_size) +
           " bytes (the file is corrupt)");
}

void read_doubles(const H5File& file, const std::string& path, hid_t dataset, real* out) {
  if (H5Dread(dataset, real_memory_type(), H5S_ALL, H5S_ALL, H5P_DEFAULT, out) < 0)
    fail(file.prefix, dataset_name(path) + " cannot be read");
}

// A matrix dataset of shape (n, d), checked as read_matrix does, before its values are read.
struct MatrixDataset {
  Handle dataset;
  Index rows = 0;  // n
  Index cols = 0;  // d
};
MatrixDataset open_matrix(const H5File& file, const std::string& path) {
  Handle dataset = open_dataset(file, path);
  check_floating(file, path, dataset.get());
  const std::vector<hsize_t> dims = dataset_shape(file, path, dataset.get());
  if (dims.size() != 2)
    fail(file.prefix, dataset_name(path) + " has rank " + std::to_string(dims.size()) +
                          ", expected 2");
  check_not_empty(file, path, dims);
  check_stored_values(file, path, dataset.get(), dims);
  return MatrixDataset{std::move(dataset), static_cast<Index>(dims[0]), static_cast<Index>(dims[1])};
}

// Dataset shape (n, d) -> n x d matrix.
Mat read_matrix(const H5File& file, const std::string& path) {
  const MatrixDataset matrix_dataset = open_matrix(file, path);
  // The row-major (n, d) buffer is, read column-major, the d x n transpose.
  Mat matrix(matrix_dataset.cols, matrix_dataset.rows);
  read_doubles(file, path, matrix_dataset.dataset.get(), matrix.memptr());
  detail::transpose_in_place(matrix);  // one copy of X in memory, even while loading
  return matrix;
}

// Dataset shape (n) or (n, 1) -> vector of n values.
Vec read_vector(const H5File& file, const std::string& path) {
  const Handle dataset = open_dataset(file, path);
  check_floating(file, path, dataset.get());
  const std::vector<hsize_t> dims = dataset_shape(file, path, dataset.get());
  const bool column = dims.size() == 2 && dims[1] == 1;
  if (dims.size() == 2 && !column)
    fail(file.prefix, dataset_name(path) + " has shape " + shape_text(dims) +
                          ", expected (n) or (n, 1)");
  if (dims.size() != 1 && !column)
    fail(file.prefix, dataset_name(path) + " has rank " + std::to_string(dims.size()) +
                          ", expected 1 (or 2 with one column)");
  check_not_empty(file, path, dims);
  check_stored_values(file, path, dataset.get(), dims);
  Vec values(dims[0]);
  read_doubles(file, path, dataset.get(), values.memptr());
  return values;
}

// Both test datasets, or neither.
bool has_test_part(const H5File& file, const DatasetPaths& paths) {
  const bool has_X = path_exists(file, paths.X_test);
  const bool has_y = path_exists(file, paths.y_test);
  if (has_X != has_y) {
    const std::string& present = has_X ? paths.X_test : paths.y_test;
    const std::string& absent = has_X ? paths.y_test : paths.X_test;
    fail(file.prefix, dataset_name(present) + " exists but " + dataset_name(absent) +
                          " not found; the test part needs both");
  }
  return has_X;
}

// Writes `values` (row-major, shape `dims`) as a float64 dataset, creating missing groups.
void write_array(const H5File& file, const std::string& path, const std::vector<hsize_t>& dims,
                 const real* values) {
  const Handle space(H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr),
                     H5Sclose);
  const Handle link_options(H5Pcreate(H5P_LINK_CREATE), H5Pclose);
  if (!space.valid() || !link_options.valid() ||
      H5Pset_create_intermediate_group(link_options.get(), 1) < 0)
    fail(file.prefix, "cannot prepare " + dataset_name(path));
  const Handle dataset(H5Dcreate2(file.id(), path.c_str(), H5T_IEEE_F64LE, space.get(),
                                  link_options.get(), H5P_DEFAULT, H5P_DEFAULT),
                       H5Dclose);
  if (!dataset.valid()) fail(file.prefix, "cannot create " + dataset_name(path));
  if (H5Dwrite(dataset.get(), real_memory_type(), H5S_ALL, H5S_ALL, H5P_DEFAULT, values) < 0)
    fail(file.prefix, "cannot write " + dataset_name(path));
}

void write_matrix(const H5File& file, const std::string& path, const Mat& matrix) {
  const Mat row_major = matrix.t();
  write_array(file, path, {matrix.n_rows, matrix.n_cols}, row_major.memptr());
}

void write_vector(const H5File& file, const std::string& path, const Vec& vector) {
  write_array(file, path, {vector.n_elem}, vector.memptr());
}

void write_parts(const H5File& file, const Dataset& data, const DatasetPaths& paths) {
  write_matrix(file, paths.X_train, data.X_train);
  write_vector(file, paths.y_train, data.y_train);
  if (!data.has_test()) return;
  write_matrix(file, paths.X_test, data.X_test);
  write_vector(file, paths.y_test, data.y_test);
}

// A missing directory gets a clear message instead of HDF5's "cannot create".
void check_directory(const std::string& file, const std::string& prefix) {
  const std::filesystem::path directory = std::filesystem::path(file).parent_path();
  if (directory.empty()) return;
  std::error_code error;
  const std::filesystem::file_status status = std::filesystem::status(directory, error);
  const std::string name = quoted(directory.string());
  if (status.type() == std::filesystem::file_type::not_found)
    fail(prefix, "directory " + name + " does not exist");
  if (error) fail(prefix, "cannot access directory " + name + ": " + error.message());
  if (!std::filesystem::is_directory(status)) fail(prefix, name + " is not a directory");
}

// Creates (or truncates) `name` and writes the parts; the file is closed, and so flushed, on
// return. Messages carry `prefix`, which names the final file.
void write_new_file(const std::string& name, const Dataset& data, const DatasetPaths& paths,
                    const std::string& prefix) {
  H5File h5{Handle(H5Fcreate(name.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT), H5Fclose),
            prefix};
  if (!h5.handle.valid()) fail(prefix, "cannot create " + quoted(name));
  write_parts(h5, data, paths);
  if (!h5.handle.close()) fail(prefix, "cannot finish writing " + quoted(name));
}

}  // namespace

void validate(const Dataset& data) {
  check_consistency(data, PartNames{"X_train", "y_train", "X_test", "y_test"},
                    "data " + quoted(data.source));
}

Dataset read_hdf5(const std::string& file, const DatasetPaths& paths) {
  const SilencedErrors silenced;
  const H5File h5 = open_for_reading(file);
  Dataset data;
  data.X_train = read_matrix(h5, paths.X_train);
  data.y_train = read_vector(h5, paths.y_train);
  if (has_test_part(h5, paths)) {
    data.X_test = read_matrix(h5, paths.X_test);
    data.y_test = read_vector(h5, paths.y_test);
  }
  data.source = file;
  check_consistency(data, PartNames{paths.X_train, paths.y_train, paths.X_test, paths.y_test},
                    h5.prefix);
  return data;
}

Dataset read_hdf5_samples(const std::string& file, const DatasetPaths& paths, const SamplePlacement& place) {
  const SilencedErrors silenced;
  const H5File h5 = open_for_reading(file);
  const MatrixDataset X = open_matrix(h5, paths.X_train);
  Dataset data;
  data.y_train = read_vector(h5, paths.y_train);
  if (has_test_part(h5, paths)) {
    data.X_test = read_matrix(h5, paths.X_test);
    data.y_test = read_vector(h5, paths.y_test);
  }
  data.source = file;
  real* samples = place(data, X.cols, X.rows);
  read_doubles(h5, paths.X_train, X.dataset.get(), samples);  // the file's row-major order is S
  for (Index i = 0; i < X.rows; ++i)  // NaN and Inf named by X's row and column, as read_hdf5 does
    for (Index j = 0; j < X.cols; ++j)
      if (!std::isfinite(samples[i * X.cols + j]))
        fail(h5.prefix, quoted(paths.X_train) + " contains NaN or Inf (first at row " + std::to_string(i) + ", column " +
                            std::to_string(j) + ", counting from 0)");
  // The other checks of read_hdf5 see S's values with X's shape: they depend on shapes only.
  Dataset view{Mat(samples, X.rows, X.cols, false, true), std::move(data.y_train), std::move(data.X_test),
               std::move(data.y_test), std::move(data.source)};
  check_consistency(view, PartNames{paths.X_train, paths.y_train, paths.X_test, paths.y_test}, h5.prefix);
  data.y_train = std::move(view.y_train);
  data.X_test = std::move(view.X_test);
  data.y_test = std::move(view.y_test);
  data.source = std::move(view.source);
  return data;
}

void visit_hdf5_values(const std::string& file, const DatasetPaths& paths, const DatasetVisitor& visit) {
  const SilencedErrors silenced;
  const H5File h5 = open_for_reading(file);
  std::vector<std::string> parts{paths.X_train, paths.y_train};
  if (has_test_part(h5, paths)) parts.insert(parts.end(), {paths.X_test, paths.y_test});
  for (const std::string& path : parts) {
    const Handle dataset = open_dataset(h5, path);
    check_floating(h5, path, dataset.get());
    const std::vector<hsize_t> dims = dataset_shape(h5, path, dataset.get());
    const std::vector<unsigned long long> shape(dims.begin(), dims.end());
    if (dims.empty() || dims[0] == 0) {
      visit(path, shape, nullptr, 0);
      continue;
    }
    // Blocks of whole rows (the first dimension), about 2^17 values each.
    hsize_t row_values = 1;
    for (std::size_t i = 1; i < dims.size(); ++i) row_values *= dims[i];
    const hsize_t block_rows = std::max<hsize_t>(1, (hsize_t{1} << 17) / std::max<hsize_t>(1, row_values));
    const Handle file_space(H5Dget_space(dataset.get()), H5Sclose);
    std::vector<double> block;
    for (hsize_t row = 0; row < dims[0]; row += block_rows) {
      std::vector<hsize_t> start(dims.size(), 0), count = dims;
      start[0] = row;
      count[0] = std::min(block_rows, dims[0] - row);
      block.resize(static_cast<std::size_t>(count[0] * row_values));
      const Handle memory(H5Screate_simple(static_cast<int>(count.size()), count.data(), nullptr), H5Sclose);
      if (!file_space.valid() || !memory.valid() ||
          H5Sselect_hyperslab(file_space.get(), H5S_SELECT_SET, start.data(), nullptr, count.data(), nullptr) < 0 ||
          (!block.empty() && H5Dread(dataset.get(), H5T_NATIVE_DOUBLE, memory.get(), file_space.get(), H5P_DEFAULT, block.data()) < 0))
        fail(h5.prefix, dataset_name(path) + " cannot be read");
      visit(path, shape, block.data(), block.size());
    }
  }
}

void write_hdf5(const Dataset& data, const std::string& file, const DatasetPaths& paths) {
  const std::string prefix = "data file " + quoted(file);
  try {
    validate(data);
  } catch (const DataError& error) {
    throw DataError("cannot write " + prefix + ": " + error.what());
  }
  check_directory(file, prefix);
  const SilencedErrors silenced;
  TemporaryFile temporary(file + ".tmp");
  write_new_file(temporary.name(), data, paths, prefix);
  if (std::rename(temporary.name().c_str(), file.c_str()) != 0)
    fail(prefix, "cannot rename " + quoted(temporary.name()) + " to it: " +
                     std::strerror(errno));
  temporary.release();
}

}  // namespace kappa
