#pragma once
// The training samples as LinearModelProblem stores them: S = X^T (d x n, column i = sample i,
// float64), in memory that `owner` keeps alive: a private matrix or a read-only segment that the
// processes of a node share (core/data/shared_segment.hpp: shared_dataset, private_dataset). A cheap view.

#include <memory>

#include "kappa/types.hpp"

namespace kappa {

struct SampleStorage {
  std::shared_ptr<const void> owner;
  const real* values = nullptr;
  Index features = 0;  // d: rows of S
  Index samples = 0;   // n: columns of S

  // S over the same memory, no copy (Armadillo's strict external memory). Only ever read: a
  // shared segment is mapped read-only, so a write would fault rather than change other
  // processes' data. Initialize from it (Mat S = storage.view();), never assign it.
  Mat view() const { return Mat(const_cast<real*>(values), features, samples, false, true); }
};

}  // namespace kappa
