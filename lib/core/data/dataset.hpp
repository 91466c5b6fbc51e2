#pragma once
// Regression data: a training design X (n x d) with targets y (n), and an optional test part
// (m x d, m). Read from and written to HDF5 in the layout of the seed question
// (kernels/train_kernel, vectors/train_vector, kernels/test_kernel, vectors/test_vector).
//
// HDF5 stores matrices row-major: dataset shape (n, d) is n samples of d features. Either
// float32 or float64 is accepted on input and converted to kappa::real; output is float64.

#include <cstddef>
#include <functional>
#include <string>
#include <vector>

#include "kappa/types.hpp"

namespace kappa {

struct Dataset {
  Mat X_train;
  Vec y_train;
  Mat X_test;  // empty (0 x 0) when the data has no test part
  Vec y_test;
  std::string source;  // file name or synthetic specification, for messages and results

  bool has_test() const { return X_test.n_rows > 0; }
  Index num_samples() const { return X_train.n_rows; }
  Index num_features() const { return X_train.n_cols; }
};

// Where the four arrays live inside an HDF5 file. The test paths may be absent from the file.
struct DatasetPaths {
  std::string X_train = "kernels/train_kernel";
  std::string y_train = "vectors/train_vector";
  std::string X_test = "kernels/test_kernel";
  std::string y_test = "vectors/test_vector";
};

// Throws DataError naming the data source and the reason when: a part is empty, X and y
// disagree in length, the test part has another number of features than the training part,
// or any value is NaN or infinite.
void validate(const Dataset& data);

// Reads and validates a dataset. The test part is read when both of its datasets exist, and is
// an error when only one does. Throws DataError (one line naming file and dataset) for a
// missing or unreadable file, a missing dataset, a dataset of the wrong rank, a non-floating
// type, or invalid contents. A vector may be stored as shape (n) or (n, 1).
Dataset read_hdf5(const std::string& file, const DatasetPaths& paths = {});

// read_hdf5 with the training design read as the samples S = X^T (d x n; the file's own
// row-major order, so neither transposed nor copied) into the memory that
// place(rest, d, n) returns; rest holds y_train, the test part and the source, read and
// checked before. Returns rest (X_train empty); the same checks and messages as read_hdf5.
using SamplePlacement = std::function<real*(const Dataset& rest, Index features, Index samples)>;
Dataset read_hdf5_samples(const std::string& file, const DatasetPaths& paths, const SamplePlacement& place);

// Streams the values of the datasets read_hdf5(file, paths) reads (X, y, and the test part when
// both of its datasets exist), one dataset after another, as float64 in file (row-major) order,
// in blocks of rows: visit(path, shape, values, count) for each block, so that memory stays at
// one block (about 1 MB) whatever the dataset's size. Throws DataError as read_hdf5 does for a
// missing file or dataset or a non-floating type (contents are not validated). Not thread-safe
// (HDF5): callers in a study hold hdf5_mutex() (study/results.hpp).
using DatasetVisitor = std::function<void(const std::string& path, const std::vector<unsigned long long>& shape,
                                          const double* values, std::size_t count)>;
void visit_hdf5_values(const std::string& file, const DatasetPaths& paths, const DatasetVisitor& visit);

// Writes a dataset (test part only when present) as float64, creating intermediate groups.
// The file is written to "<file>.tmp" and renamed, so a failure never leaves a partial file.
void write_hdf5(const Dataset& data, const std::string& file, const DatasetPaths& paths = {});

}  // namespace kappa
