#pragma once
// The two products of one block of a double-precision multi-point pass (multi_point.hpp), as
// register-tiled AVX2 + FMA kernels that read the samples where they are stored. OpenBLAS's
// dgemm packs the whole block for each of the two thin products (k = 16 points), which costs
// about as much as their arithmetic on this kind of machine (docs/performance.md, "Lockstep
// groups"); these kernels do not pack. Each result element is summed in an order that depends on
// the number of features and samples only, never on the number of points: a run's bits do not
// depend on the companions it is grouped with.
//
// Layout (column-major, as the problems store them): S is features x count with leading
// dimension `features` (sample i is the contiguous column S + i * features), P features x points
// (leading dimension ld_points), R count x points (leading dimension count), T count x points
// (leading dimension count), G features x points (leading dimension ld_gradients).
#include "kappa/types.hpp"

namespace kappa::detail {

// Whether this build and CPU run the kernels below (x86-64 with AVX2 and FMA, GCC or Clang);
// elsewhere the multi-point pass uses BLAS dgemm and these must not be called.
bool vectorized_multi_point_products();

// R = S^T P: R(i, c) = <sample i, point c>.
void residual_products(const double* S, Index features, Index count, const double* P, Index ld_points, Index points, double* R);

// G = S T (accumulate false) or G += S T (accumulate true).
void gradient_products(const double* S, Index features, Index count, const double* T, Index points, double* G,
                       Index ld_gradients, bool accumulate);

}  // namespace kappa::detail
