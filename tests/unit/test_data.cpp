#define BOOST_TEST_MODULE data
#include <boost/test/unit_test.hpp>

#include <hdf5.h>

#include <boost/filesystem.hpp>
#include <cmath>
#include <fstream>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "core/data/dataset.hpp"
#include "kappa/error.hpp"
#include "core/data/synthetic.hpp"

namespace fs = boost::filesystem;
using kappa::Dataset;
using kappa::DatasetPaths;
using kappa::Index;
using kappa::Mat;
using kappa::Vec;

namespace {

// A fresh directory per test case, removed afterwards.
struct TempDir {
  fs::path dir;
  TempDir() : dir(fs::temp_directory_path() / fs::unique_path("kappa-test-data-%%%%-%%%%-%%%%")) {
    fs::create_directories(dir);
  }
  ~TempDir() {
    boost::system::error_code ignored;
    fs::remove_all(dir, ignored);
  }
  std::string file(const std::string& name) const { return (dir / name).string(); }
};

// Builds test files with the HDF5 C API directly, independently of kappa::write_hdf5.
class RawFile {
 public:
  explicit RawFile(const std::string& name)
      : id_(H5Fcreate(name.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT)) {
    BOOST_TEST_REQUIRE(id_ >= 0);
  }
  RawFile(const RawFile&) = delete;
  RawFile& operator=(const RawFile&) = delete;
  ~RawFile() { H5Fclose(id_); }

  // Dataset `path` of shape `dims` and file type `file_type`, filled from row-major `data`.
  void write(const std::string& path, hid_t file_type, hid_t memory_type,
             const std::vector<hsize_t>& dims, const void* data) {
    const hid_t link_options = H5Pcreate(H5P_LINK_CREATE);
    H5Pset_create_intermediate_group(link_options, 1);
    const hid_t space = H5Screate_simple(int(dims.size()), dims.data(), nullptr);
    const hid_t dataset = H5Dcreate2(id_, path.c_str(), file_type, space, link_options,
                                     H5P_DEFAULT, H5P_DEFAULT);
    BOOST_TEST_REQUIRE(dataset >= 0);
    if (data != nullptr)
      BOOST_TEST_REQUIRE(H5Dwrite(dataset, memory_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) >= 0);
    H5Dclose(dataset);
    H5Sclose(space);
    H5Pclose(link_options);
  }
  void doubles(const std::string& path, const std::vector<hsize_t>& dims,
               const std::vector<double>& values) {
    write(path, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, dims, values.empty() ? nullptr : values.data());
  }
  void floats(const std::string& path, const std::vector<hsize_t>& dims,
              const std::vector<float>& values) {
    write(path, H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, dims, values.data());
  }
  void ints(const std::string& path, const std::vector<hsize_t>& dims,
            const std::vector<int>& values) {
    write(path, H5T_STD_I32LE, H5T_NATIVE_INT, dims, values.data());
  }
  // Fixed-length strings of 4 characters, shape `dims`.
  void strings(const std::string& path, const std::vector<hsize_t>& dims, const char* chars) {
    const hid_t type = H5Tcopy(H5T_C_S1);
    H5Tset_size(type, 4);
    write(path, type, type, dims, chars);
    H5Tclose(type);
  }
  void group(const std::string& path) {
    const hid_t group = H5Gcreate2(id_, path.c_str(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    BOOST_TEST_REQUIRE(group >= 0);
    H5Gclose(group);
  }

 private:
  hid_t id_;
};

std::vector<double> counting(std::size_t count) {
  std::vector<double> values(count);
  for (std::size_t i = 0; i < count; ++i) values[i] = double(i + 1);
  return values;
}

// A valid training part: X of shape (4, 3) holding 1..12 row by row, y of shape (4).
void write_training_part(RawFile& file) {
  file.doubles("kernels/train_kernel", {4, 3}, counting(12));
  file.doubles("vectors/train_vector", {4}, {0.5, 1.5, 2.5, 3.5});
}

bool identical(const Mat& a, const Mat& b) {
  if (a.n_rows != b.n_rows || a.n_cols != b.n_cols) return false;
  for (Index i = 0; i < a.n_elem; ++i)
    if (a(i) != b(i)) return false;
  return true;
}

bool contains(const std::string& text, const std::string& fragment) {
  return text.find(fragment) != std::string::npos;
}

// Expects `action` to throw DataError whose message holds every fragment.
void expect_data_error(const std::function<void()>& action,
                       const std::vector<std::string>& fragments) {
  try {
    action();
    BOOST_ERROR("no exception; expected DataError with \"" << fragments.back() << "\"");
  } catch (const kappa::DataError& error) {
    const std::string message = error.what();
    BOOST_TEST_MESSAGE("DataError: " << message);
    BOOST_CHECK_MESSAGE(!contains(message, "\n"), "message \"" << message << "\" is not one line");
    for (const std::string& fragment : fragments)
      BOOST_CHECK_MESSAGE(contains(message, fragment),
                          "message \"" << message << "\" lacks \"" << fragment << "\"");
  } catch (const std::exception& error) {
    BOOST_ERROR("wrong exception type: " << error.what());
  }
}

void expect_read_error(const std::string& file, const std::vector<std::string>& fragments) {
  std::vector<std::string> all = {"'" + file + "'"};
  all.insert(all.end(), fragments.begin(), fragments.end());
  expect_data_error([&] { kappa::read_hdf5(file); }, all);
  // Every handle opened on the way to the error has been closed.
  BOOST_TEST(H5Fget_obj_count(H5F_OBJ_ALL, H5F_OBJ_ALL) == 0);
}

// Writes `name` with the HDF5 C API (`write` fills it; the file is closed before reading), then
// expects kappa::read_hdf5 to fail as expect_read_error says.
void expect_bad_file(const std::string& name, const std::function<void(RawFile&)>& write,
                     const std::vector<std::string>& fragments) {
  {
    RawFile raw(name);
    write(raw);
  }
  expect_read_error(name, fragments);
}

bool link_exists(const std::string& file, const std::string& path) {
  const hid_t id = H5Fopen(file.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  BOOST_TEST_REQUIRE(id >= 0);
  const bool exists = H5Lexists(id, path.c_str(), H5P_DEFAULT) > 0;
  H5Fclose(id);
  return exists;
}

// The raw contents of a float64 dataset as stored, and its shape.
std::vector<double> raw_doubles(const std::string& file, const std::string& path,
                                std::vector<hsize_t>& dims) {
  const hid_t id = H5Fopen(file.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  const hid_t dataset = H5Dopen2(id, path.c_str(), H5P_DEFAULT);
  BOOST_TEST_REQUIRE(dataset >= 0);
  const hid_t type = H5Dget_type(dataset), space = H5Dget_space(dataset);
  BOOST_TEST(H5Tequal(type, H5T_IEEE_F64LE) > 0);
  dims.resize(H5Sget_simple_extent_ndims(space));
  H5Sget_simple_extent_dims(space, dims.data(), nullptr);
  std::vector<double> values(H5Sget_simple_extent_npoints(space));
  H5Dread(dataset, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, values.data());
  H5Sclose(space);
  H5Tclose(type);
  H5Dclose(dataset);
  H5Fclose(id);
  return values;
}

Dataset small_dataset(Index n_test) {
  kappa::SpectrumSpec spec;
  spec.n = 30;
  spec.d = 8;
  spec.n_test = n_test;
  spec.noise = 0.1;
  spec.seed = 3;
  return kappa::generate(spec);
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Reading and writing

BOOST_FIXTURE_TEST_CASE(round_trip_is_bit_for_bit, TempDir) {
  const Dataset original = small_dataset(6);
  const std::string name = file("round.h5");
  kappa::write_hdf5(original, name);
  BOOST_TEST(!fs::exists(name + ".tmp"));

  const Dataset read = kappa::read_hdf5(name);
  BOOST_TEST(identical(read.X_train, original.X_train));
  BOOST_TEST(identical(read.y_train, original.y_train));
  BOOST_TEST(identical(read.X_test, original.X_test));
  BOOST_TEST(identical(read.y_test, original.y_test));
  BOOST_TEST(read.source == name);

  // Stored as float64, shape (n, d), row-major.
  std::vector<hsize_t> dims;
  const std::vector<double> stored = raw_doubles(name, "kernels/train_kernel", dims);
  BOOST_TEST_REQUIRE(dims == (std::vector<hsize_t>{30, 8}));
  BOOST_TEST(stored[1] == original.X_train(0, 1));
  BOOST_TEST(stored[8] == original.X_train(1, 0));
  BOOST_TEST(stored[8 * 29 + 7] == original.X_train(29, 7));
  raw_doubles(name, "vectors/test_vector", dims);
  BOOST_TEST(dims == (std::vector<hsize_t>{6}));
}

BOOST_FIXTURE_TEST_CASE(test_part_is_optional, TempDir) {
  const std::string name = file("train_only.h5");
  kappa::write_hdf5(small_dataset(0), name);
  BOOST_TEST(link_exists(name, "kernels/train_kernel"));
  BOOST_TEST(!link_exists(name, "kernels/test_kernel"));
  BOOST_TEST(!link_exists(name, "vectors/test_vector"));
  const Dataset read = kappa::read_hdf5(name);
  BOOST_TEST(!read.has_test());
  BOOST_TEST(read.y_test.is_empty());
  BOOST_TEST(read.num_samples() == 30u);
  BOOST_TEST(read.num_features() == 8u);
}

BOOST_FIXTURE_TEST_CASE(float32_file_is_read_row_major, TempDir) {
  const std::string name = file("float32.h5");
  {
    RawFile raw(name);
    raw.floats("kernels/train_kernel", {3, 2}, {1.f, 2.f, 3.f, 4.f, 5.f, 0.1f});
    raw.floats("vectors/train_vector", {3}, {0.5f, -1.5f, 0.1f});
    raw.floats("kernels/test_kernel", {1, 2}, {7.f, 8.f});
    raw.floats("vectors/test_vector", {1}, {9.f});
  }
  const Dataset data = kappa::read_hdf5(name);
  BOOST_TEST_REQUIRE(data.X_train.n_rows == 3u);
  BOOST_TEST_REQUIRE(data.X_train.n_cols == 2u);
  BOOST_TEST(data.X_train(0, 0) == 1.0);
  BOOST_TEST(data.X_train(0, 1) == 2.0);
  BOOST_TEST(data.X_train(1, 0) == 3.0);
  BOOST_TEST(data.X_train(2, 1) == double(0.1f));  // the float32 value, widened exactly
  BOOST_TEST(data.y_train(1) == -1.5);
  BOOST_TEST(data.y_train(2) == double(0.1f));
  BOOST_TEST(data.X_test(0, 1) == 8.0);
  BOOST_TEST(data.y_test(0) == 9.0);
}

BOOST_FIXTURE_TEST_CASE(vectors_stored_as_columns_are_accepted, TempDir) {
  const std::string name = file("columns.h5");
  {
    RawFile raw(name);
    raw.doubles("kernels/train_kernel", {4, 3}, counting(12));
    raw.doubles("vectors/train_vector", {4, 1}, {0.5, 1.5, 2.5, 3.5});
    raw.doubles("kernels/test_kernel", {2, 3}, counting(6));
    raw.doubles("vectors/test_vector", {2, 1}, {7.0, 8.0});
  }
  const Dataset data = kappa::read_hdf5(name);
  BOOST_TEST(data.y_train.n_elem == 4u);
  BOOST_TEST(data.y_train(3) == 3.5);
  BOOST_TEST(data.y_test(1) == 8.0);
}

BOOST_FIXTURE_TEST_CASE(custom_dataset_paths, TempDir) {
  const DatasetPaths paths{"inputs/deep/X", "targets/y", "/X_test", "y_test"};
  const Dataset original = small_dataset(4);
  const std::string name = file("custom.h5");
  kappa::write_hdf5(original, name, paths);
  BOOST_TEST(link_exists(name, "inputs/deep/X"));
  BOOST_TEST(link_exists(name, "X_test"));
  BOOST_TEST(!link_exists(name, "kernels"));

  const Dataset read = kappa::read_hdf5(name, paths);
  BOOST_TEST(identical(read.X_train, original.X_train));
  BOOST_TEST(identical(read.y_test, original.y_test));
  expect_read_error(name, {"dataset 'kernels/train_kernel' not found"});
}

BOOST_FIXTURE_TEST_CASE(write_replaces_an_existing_file, TempDir) {
  const std::string name = file("replace.h5");
  kappa::write_hdf5(small_dataset(4), name);
  const Dataset second = small_dataset(0);
  kappa::write_hdf5(second, name);
  const Dataset read = kappa::read_hdf5(name);
  BOOST_TEST(!read.has_test());
  BOOST_TEST(identical(read.X_train, second.X_train));
}

// ---------------------------------------------------------------------------------------------
// Bad files: every one is a DataError naming the file and the reason.

BOOST_FIXTURE_TEST_CASE(missing_file, TempDir) {
  expect_read_error(file("absent.h5"), {"does not exist"});
}

BOOST_FIXTURE_TEST_CASE(file_that_is_not_hdf5, TempDir) {
  const std::string name = file("text.h5");
  std::ofstream(name) << "this is not an HDF5 file\n";
  expect_read_error(name, {"is not an HDF5 file or cannot be read"});
}

BOOST_FIXTURE_TEST_CASE(missing_dataset, TempDir) {
  expect_bad_file(file("no_y.h5"), [](RawFile& raw) {
    raw.doubles("kernels/train_kernel", {4, 3}, counting(12));
    raw.group("vectors");
  }, {"dataset 'vectors/train_vector' not found"});
}

BOOST_FIXTURE_TEST_CASE(missing_group, TempDir) {
  expect_bad_file(file("no_group.h5"), [](RawFile& raw) {
    raw.doubles("kernels/train_kernel", {4, 3}, counting(12));
  }, {"dataset 'vectors/train_vector' not found", "no group 'vectors'"});
}

BOOST_FIXTURE_TEST_CASE(group_where_a_dataset_belongs, TempDir) {
  expect_bad_file(file("group_as_y.h5"), [](RawFile& raw) {
    raw.doubles("kernels/train_kernel", {4, 3}, counting(12));
    raw.group("vectors");
    raw.group("vectors/train_vector");
  }, {"'vectors/train_vector'", "not a dataset"});
}

BOOST_FIXTURE_TEST_CASE(wrong_rank, TempDir) {
  expect_bad_file(file("rank3.h5"), [](RawFile& raw) {
    raw.doubles("kernels/train_kernel", {2, 2, 3}, counting(12));
    raw.doubles("vectors/train_vector", {2}, {1.0, 2.0});
  }, {"dataset 'kernels/train_kernel' has rank 3, expected 2"});

  expect_bad_file(file("wide_y.h5"), [](RawFile& raw) {
    raw.doubles("kernels/train_kernel", {4, 3}, counting(12));
    raw.doubles("vectors/train_vector", {4, 2}, counting(8));
  }, {"dataset 'vectors/train_vector' has shape (4, 2), expected (n) or (n, 1)"});
}

BOOST_FIXTURE_TEST_CASE(integer_dataset, TempDir) {
  expect_bad_file(file("ints.h5"), [](RawFile& raw) {
    raw.ints("kernels/train_kernel", {2, 2}, {1, 2, 3, 4});
    raw.doubles("vectors/train_vector", {2}, {1.0, 2.0});
  }, {"dataset 'kernels/train_kernel' holds integer values, "
       "expected float32 or float64"});
}

BOOST_FIXTURE_TEST_CASE(string_dataset, TempDir) {
  expect_bad_file(file("strings.h5"), [](RawFile& raw) {
    raw.doubles("kernels/train_kernel", {2, 2}, counting(4));
    raw.strings("vectors/train_vector", {2}, "abcdefgh");
  }, {"dataset 'vectors/train_vector' holds string values, "
       "expected float32 or float64"});
}

BOOST_FIXTURE_TEST_CASE(length_mismatch, TempDir) {
  expect_bad_file(file("mismatch.h5"), [](RawFile& raw) {
    raw.doubles("kernels/train_kernel", {4, 3}, counting(12));
    raw.doubles("vectors/train_vector", {3}, {1.0, 2.0, 3.0});
  }, {"'kernels/train_kernel' has 4 rows but 'vectors/train_vector' has 3 values"});
}

BOOST_FIXTURE_TEST_CASE(test_width_differs_from_train_width, TempDir) {
  expect_bad_file(file("test_width.h5"), [](RawFile& raw) {
    write_training_part(raw);
    raw.doubles("kernels/test_kernel", {2, 2}, counting(4));
    raw.doubles("vectors/test_vector", {2}, {1.0, 2.0});
  }, {"'kernels/test_kernel' has 2 columns but 'kernels/train_kernel' has 3"});
}

BOOST_FIXTURE_TEST_CASE(test_length_mismatch, TempDir) {
  expect_bad_file(file("test_length.h5"), [](RawFile& raw) {
    write_training_part(raw);
    raw.doubles("kernels/test_kernel", {2, 3}, counting(6));
    raw.doubles("vectors/test_vector", {3}, {1.0, 2.0, 3.0});
  }, {"'kernels/test_kernel' has 2 rows but 'vectors/test_vector' has 3 values"});
}

BOOST_FIXTURE_TEST_CASE(nan_value, TempDir) {
  std::vector<double> values = counting(12);
  values[1 * 3 + 2] = std::numeric_limits<double>::quiet_NaN();  // row 1, column 2
  values[3 * 3 + 0] = std::numeric_limits<double>::quiet_NaN();  // a later one
  expect_bad_file(file("nan.h5"), [&](RawFile& raw) {
    raw.doubles("kernels/train_kernel", {4, 3}, values);
    raw.doubles("vectors/train_vector", {4}, {0.5, 1.5, 2.5, 3.5});
  }, {"'kernels/train_kernel' contains NaN or Inf", "row 1, column 2"});
}

BOOST_FIXTURE_TEST_CASE(inf_value, TempDir) {
  expect_bad_file(file("inf.h5"), [](RawFile& raw) {
    raw.doubles("kernels/train_kernel", {4, 3}, counting(12));
    raw.doubles("vectors/train_vector", {4},
                {0.5, 1.5, -std::numeric_limits<double>::infinity(), 3.5});
  }, {"'vectors/train_vector' contains NaN or Inf", "index 2"});
}

BOOST_FIXTURE_TEST_CASE(empty_dataset, TempDir) {
  expect_bad_file(file("empty.h5"), [](RawFile& raw) {
    raw.doubles("kernels/train_kernel", {0, 3}, {});
    raw.doubles("vectors/train_vector", {0}, {});
  }, {"dataset 'kernels/train_kernel' is empty (shape (0, 3))"});
}

BOOST_FIXTURE_TEST_CASE(only_one_test_dataset, TempDir) {
  expect_bad_file(file("test_x_only.h5"), [](RawFile& raw) {
    write_training_part(raw);
    raw.doubles("kernels/test_kernel", {2, 3}, counting(6));
  }, {"'kernels/test_kernel' exists", "'vectors/test_vector' not found"});

  expect_bad_file(file("test_y_only.h5"), [](RawFile& raw) {
    write_training_part(raw);
    raw.doubles("vectors/test_vector", {2}, {1.0, 2.0});
  }, {"'vectors/test_vector' exists", "'kernels/test_kernel' not found"});
}

// ---------------------------------------------------------------------------------------------
// validate() and failed writes

BOOST_AUTO_TEST_CASE(validate_names_the_source) {
  Dataset data;
  data.source = "memory";
  expect_data_error([&] { kappa::validate(data); }, {"data 'memory': ", "'X_train' is empty"});

  data.X_train = Mat(3, 2, arma::fill::ones);
  data.y_train = Vec(2, arma::fill::ones);
  expect_data_error([&] { kappa::validate(data); },
                    {"data 'memory': ", "'X_train' has 3 rows but 'y_train' has 2 values"});

  data.y_train = Vec(3, arma::fill::ones);
  kappa::validate(data);  // valid now

  data.y_test = Vec(2, arma::fill::ones);
  expect_data_error([&] { kappa::validate(data); }, {"data 'memory': ", "'X_test' is empty"});

  data.X_test = Mat(2, 2, arma::fill::ones);
  data.X_test(1, 0) = std::numeric_limits<double>::infinity();
  expect_data_error([&] { kappa::validate(data); },
                    {"data 'memory': ", "'X_test' contains NaN or Inf", "row 1, column 0"});
}

BOOST_FIXTURE_TEST_CASE(failed_write_leaves_no_file, TempDir) {
  const Dataset data = small_dataset(4);

  const std::string in_missing_directory = file("no/such/dir/out.h5");
  expect_data_error([&] { kappa::write_hdf5(data, in_missing_directory); },
                    {"'" + in_missing_directory + "'", "directory '", "does not exist"});
  BOOST_TEST(!fs::exists(in_missing_directory));
  BOOST_TEST(!fs::exists(in_missing_directory + ".tmp"));

  // Fails after the temporary file exists: two arrays at one path.
  const std::string clashing = file("clash.h5");
  const DatasetPaths same_path{"a/X", "a/X", "X_test", "y_test"};
  expect_data_error([&] { kappa::write_hdf5(data, clashing, same_path); },
                    {"'" + clashing + "'", "cannot create dataset 'a/X'"});
  BOOST_TEST(!fs::exists(clashing));
  BOOST_TEST(!fs::exists(clashing + ".tmp"));

  // Fails at the rename: the target is a directory.
  const std::string directory = file("a_directory");
  fs::create_directory(directory);
  expect_data_error([&] { kappa::write_hdf5(data, directory); },
                    {"'" + directory + "'", "cannot rename"});
  BOOST_TEST(!fs::exists(directory + ".tmp"));
  fs::remove(directory);

  Dataset invalid = data;
  invalid.y_train(0) = std::numeric_limits<double>::quiet_NaN();
  const std::string rejected = file("invalid.h5");
  expect_data_error([&] { kappa::write_hdf5(invalid, rejected); },
                    {"'" + rejected + "'", "'y_train' contains NaN or Inf"});
  BOOST_TEST(!fs::exists(rejected));
  BOOST_TEST(!fs::exists(rejected + ".tmp"));
  BOOST_TEST(fs::is_empty(dir));
}

// ---------------------------------------------------------------------------------------------
// HDF5's error printing: silenced inside read_hdf5/write_hdf5 only, then restored.

namespace {

int hdf5_error_reports = 0;
herr_t count_hdf5_errors(hid_t, void*) {
  ++hdf5_error_reports;
  return 0;
}

// Makes HDF5 push an error (and call the automatic handler, if any).
void provoke_hdf5_error() { H5Dclose(H5I_INVALID_HID); }

// Installs the counting handler for one test and puts the previous one back.
struct CountingHandler {
  H5E_auto2_t previous = nullptr;
  void* previous_data = nullptr;
  CountingHandler() {
    H5Eget_auto2(H5E_DEFAULT, &previous, &previous_data);
    H5Eset_auto2(H5E_DEFAULT, count_hdf5_errors, nullptr);
    hdf5_error_reports = 0;
  }
  ~CountingHandler() { H5Eset_auto2(H5E_DEFAULT, previous, previous_data); }
};

}  // namespace

BOOST_FIXTURE_TEST_CASE(hdf5_error_handler_is_restored_after_read_and_write, TempDir) {
  const CountingHandler handler;
  provoke_hdf5_error();
  BOOST_TEST_REQUIRE(hdf5_error_reports == 1);

  // Failures inside kappa do not reach the caller's handler...
  expect_bad_file(file("missing_dataset.h5"), [](RawFile& raw) { raw.doubles("kernels/train_kernel", {4, 3}, counting(12)); },
                  {"dataset 'vectors/train_vector' not found"});
  std::ofstream(file("text.h5")) << "not HDF5\n";
  expect_data_error([&] { kappa::read_hdf5(file("text.h5")); }, {"not an HDF5 file"});
  kappa::write_hdf5(small_dataset(4), file("ok.h5"));
  const DatasetPaths same_path{"a/X", "a/X", "X_test", "y_test"};
  expect_data_error([&] { kappa::write_hdf5(small_dataset(4), file("clash.h5"), same_path); }, {"cannot create"});
  BOOST_TEST(hdf5_error_reports == 1);

  // ...and afterwards the caller's handler is back, on success and on failure alike.
  H5E_auto2_t current = nullptr;
  void* current_data = nullptr;
  H5Eget_auto2(H5E_DEFAULT, &current, &current_data);
  BOOST_TEST((current == &count_hdf5_errors));
  kappa::read_hdf5(file("ok.h5"));
  provoke_hdf5_error();
  BOOST_TEST(hdf5_error_reports == 2);
}
