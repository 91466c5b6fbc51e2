#pragma once
// Private to libkappa: in-place transposition that never doubles the memory of a large matrix.

#include <cstddef>

#include "kappa/types.hpp"

namespace kappa::detail {

// Armadillo's default in-place transposition of a non-square matrix goes through a full
// temporary copy; "lowmem" follows the permutation's cycles instead: no extra memory, but
// slower (measured 5 s for 200000 x 500 against 0.5 s), so it is used only where a copy would
// weigh: above 256 MiB. This keeps the peak memory of loading data and building a problem at
// one copy of X (docs/performance.md).
inline void transpose_in_place(Mat& matrix) {
  constexpr std::size_t kLowMemoryBytes = std::size_t(256) << 20;
  arma::inplace_trans(matrix, matrix.n_elem * sizeof(real) > kLowMemoryBytes ? "lowmem" : "std");
}

}  // namespace kappa::detail
