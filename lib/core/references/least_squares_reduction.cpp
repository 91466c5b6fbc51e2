#include "core/references/least_squares_reduction.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <string>

#include "kappa/error.hpp"
#include "kappa/parse.hpp"

namespace kappa {
namespace {

using Clock = std::chrono::steady_clock;

// Householder QR of the leading `rows` rows of `stack` in place (LAPACK geqrf): R in the upper
// triangle, the reflectors below it, which the caller discards.
void triangularize(Mat& stack, Index rows, Vec& tau, Vec& work) {
  arma::blas_int m = static_cast<arma::blas_int>(rows);
  arma::blas_int n = static_cast<arma::blas_int>(stack.n_cols);
  arma::blas_int lda = static_cast<arma::blas_int>(stack.n_rows);
  arma::blas_int lwork = static_cast<arma::blas_int>(work.n_elem);
  arma::blas_int info = 0;
  arma::lapack::geqrf(&m, &n, stack.memptr(), &lda, tau.memptr(), work.memptr(), &lwork, &info);
  if (info != 0) throw NumericalError("least-squares reduction: LAPACK geqrf failed (info " + std::to_string(info) + ")");
}

// The optimal geqrf workspace for `stack` (a LAPACK workspace query).
Index geqrf_workspace(Mat& stack) {
  arma::blas_int m = static_cast<arma::blas_int>(stack.n_rows);
  arma::blas_int n = static_cast<arma::blas_int>(stack.n_cols);
  arma::blas_int lda = m;
  arma::blas_int lwork = -1;
  arma::blas_int info = 0;
  real optimal = 0;
  real tau_dummy = 0;
  arma::lapack::geqrf(&m, &n, stack.memptr(), &lda, &tau_dummy, &optimal, &lwork, &info);
  if (info != 0) throw NumericalError("least-squares reduction: LAPACK geqrf workspace query failed");
  return std::max<Index>(static_cast<Index>(optimal), stack.n_cols);
}

}  // namespace

Index default_block_rows(Index cols) {
  // Measured on 200000 x 500 with one OpenBLAS thread: 2048-row blocks 7.2-8.4 s, 4096 6.9-7.3 s,
  // 8192 6.5-7.0 s for 32 MB more. At 4096 rows the triangular state (cols + 1 rows, treated as
  // dense by geqrf) adds about (cols + 1) / 4096 to the flops. The bound of 4M doubles (32 MB)
  // per block keeps wide problems lean; a block never has fewer than cols + 1 rows.
  constexpr Index preferred = 4096;
  constexpr Index max_block_elements = Index(1) << 22;
  const Index width = cols + 1;
  return std::max(width, std::min(std::max(preferred, 4 * width), max_block_elements / width));
}

ReducedLeastSquares reduce_least_squares(Index rows, Index cols, const LeastSquaresRowSource& source, Index block_rows) {
  if (cols == 0) throw InputError("least-squares reduction: the problem has no columns");
  const Index width = cols + 1;  // B's columns and c
  if (block_rows == 0) block_rows = default_block_rows(cols);
  block_rows = std::min(block_rows, std::max<Index>(rows, 1));

  // stack = [state; block]: the state is the triangular factor of the rows reduced so far
  // (state_rows <= width rows), the block the next rows of [B c].
  Mat stack(width + block_rows, width, arma::fill::zeros);
  Mat block(block_rows, width);
  Vec tau(width);
  Vec work(geqrf_workspace(stack));
  Index state_rows = 0;
  for (Index first = 0; first < rows; first += block_rows) {
    const Index count = std::min(block_rows, rows - first);
    if (block.n_rows != count) block.set_size(count, width);
    source(first, count, block);
    if (block.n_rows != count || block.n_cols != width)
      throw InputError("least-squares reduction: the row source resized its block to " + std::to_string(block.n_rows) +
                       " x " + std::to_string(block.n_cols) + " (expected " + std::to_string(count) + " x " +
                       std::to_string(width) + ")");
    if (!block.is_finite())
      throw InputError("least-squares reduction: rows " + std::to_string(first) + " to " +
                       std::to_string(first + count - 1) + " contain a value that is not finite");
    stack.submat(state_rows, 0, state_rows + count - 1, width - 1) = block;
    triangularize(stack, state_rows + count, tau, work);
    state_rows = std::min(state_rows + count, width);
    // Keep only R: clear the reflectors geqrf left below its diagonal.
    for (Index j = 0; j < width; ++j)
      for (Index i = j + 1; i < state_rows; ++i) stack(i, j) = 0;
  }

  // R with a nonnegative diagonal (rows of the factor may be negated freely: R^T R is unchanged).
  Mat augmented(width, width, arma::fill::zeros);
  if (state_rows > 0) augmented.rows(0, state_rows - 1) = stack.submat(0, 0, state_rows - 1, width - 1);
  for (Index i = 0; i < width; ++i)
    if (augmented(i, i) < 0) augmented.row(i) *= -1;

  ReducedLeastSquares out;
  out.R = augmented.submat(0, 0, cols - 1, cols - 1);
  out.rhs = augmented.col(cols).head(cols);
  out.discarded_residual_norm = augmented(cols, cols);
  out.rows = rows;
  return out;
}

namespace {

// The feature matrix X (n x d) as the reduction reads it: either X itself or the problem's
// storage S = X^T (d x n, LinearModelProblem), so that a study builds w* from the samples it
// shares without a column-major copy of X (docs/study.md, "One copy of the data per node").
struct FeaturesAsX {
  const Mat& X;
  Index samples() const { return X.n_rows; }
  Index features() const { return X.n_cols; }
  arma::rowvec means() const { return arma::mean(X, 0); }
  // sum_i (x_ij - shift_j), for the correction of the means.
  arma::rowvec shifted_sums(const arma::rowvec& shift) const {
    arma::rowvec sums(X.n_cols);
    for (Index j = 0; j < X.n_cols; ++j) {
      const real* column = X.colptr(j);
      real sum = 0;
      for (Index i = 0; i < X.n_rows; ++i) sum += column[i] - shift(j);
      sums(j) = sum;
    }
    return sums;
  }
  template <class Out>
  void copy_rows(Index first, Index last, Out&& out) const { out = X.rows(first, last); }
  Vec times(const Vec& w) const { return X * w; }
  Vec transpose_times(const Vec& r) const { return X.t() * r; }
};

struct FeaturesAsSamples {
  const Mat& S;  // X^T
  Index samples() const { return S.n_cols; }
  Index features() const { return S.n_rows; }
  arma::rowvec means() const { return (arma::sum(S, 1) / static_cast<real>(S.n_cols)).t(); }
  arma::rowvec shifted_sums(const arma::rowvec& shift) const {
    Vec sums(S.n_rows, arma::fill::zeros);
    const Vec column_shift = shift.t();
    for (Index i = 0; i < S.n_cols; ++i) sums += S.col(i) - column_shift;  // contiguous samples
    return sums.t();
  }
  template <class Out>
  void copy_rows(Index first, Index last, Out&& out) const { out = S.cols(first, last).t(); }
  Vec times(const Vec& w) const { return S.t() * w; }
  Vec transpose_times(const Vec& r) const { return S * r; }
};

template <class Features>
ReducedLinearModel reduce_features(const Features& X, const Vec& y, const LossSpec& spec, Index block_rows) {
  if (X.samples() == 0 || X.features() == 0) throw InputError("least-squares reduction: the feature matrix is empty");
  if (X.samples() != y.n_elem)
    throw InputError("least-squares reduction: X has " + std::to_string(X.samples()) + " rows but y has " +
                     std::to_string(y.n_elem) + " values");
  spec.validate();
  const Index n = X.samples();
  const Index features = X.features();
  const real scale = 1 / std::sqrt(static_cast<real>(n));
  const real ridge_scale = std::sqrt(spec.ridge / 2);
  const Index ridge_rows = spec.ridge > 0 ? features : 0;

  ReducedLinearModel out;
  out.intercept = spec.intercept;
  arma::rowvec shift(features, arma::fill::zeros);
  real target_shift = 0;
  if (spec.intercept) {
    // Column means, then the means of the shifted columns (computed without forming them) as a
    // correction, as reference_solution does, so the centring holds to rounding of the spread
    // even when an offset dwarfs it.
    shift = X.means();
    shift += X.shifted_sums(shift) / static_cast<real>(n);
    target_shift = arma::mean(y);
    target_shift += arma::mean(y - target_shift);
    out.feature_means = shift;
    out.target_mean = target_shift;
  }

  const LeastSquaresRowSource source = [&](Index first, Index count, Mat& block) {
    block.zeros();
    const Index last = first + count;  // one past
    if (first < n) {
      const Index data_end = std::min(last, n);
      const Index data_count = data_end - first;
      auto rows = block.submat(0, 0, data_count - 1, features - 1);
      X.copy_rows(first, data_end - 1, rows);
      if (spec.intercept) rows.each_row() -= shift;
      rows *= scale;
      block.submat(0, features, data_count - 1, features) = (y.subvec(first, data_end - 1) - target_shift) * scale;
    }
    // The ridge rows sqrt(ridge/2) e_j^T, j = row - n, with a zero right-hand side.
    for (Index row = std::max(first, n); row < last; ++row) block(row - first, row - n) = ridge_scale;
  };
  out.features = reduce_least_squares(n + ridge_rows, features, source, block_rows);
  return out;
}

template <class Features>
DirectSolution reduced_reference(const Features& X, const Vec& y, const LossSpec& spec, DirectMethod method,
                                 Index block_rows, ReferenceDesign* design) {
  if (spec.kind != LossKind::l2)
    throw InputError("reduced reference solution: only the l2 loss is a least-squares problem (loss " +
                     to_string(spec.kind) + "); use reference_solution");
  const auto start = Clock::now();
  const ReducedLinearModel reduced = reduce_features(X, y, spec, block_rows);
  const ReducedLeastSquares& system = reduced.features;
  const Index features = X.features();
  const real n = static_cast<real>(X.samples());
  const real eps = std::numeric_limits<real>::epsilon();
  const char* name = method == DirectMethod::qr ? "qr" : "cholesky";

  // solve_least_squares sees only the cols x cols factor; the thresholds that depend on the row
  // count of the stacked system (its shape test, qr's rank test, svd's default cutoff) are
  // applied here with the true count, with the same wording as direct.cpp.
  if (method != DirectMethod::svd && system.rows < features)
    throw NumericalError(std::string(name) + ": needs at least as many rows as columns (A is " +
                         std::to_string(system.rows) + " x " + std::to_string(features) +
                         "); use svd for the minimum-norm solution");
  if (method == DirectMethod::qr) {
    const Vec diagonal = system.R.diag();  // nonnegative by construction
    const real tolerance = eps * static_cast<real>(system.rows) * diagonal.max();
    if (diagonal.min() <= tolerance)
      throw NumericalError("qr: A is numerically rank deficient (|R_ii| down to " + format_number(diagonal.min()) +
                           "); use svd for the minimum-norm solution");
  }
  const real rcond = method == DirectMethod::svd ? eps * static_cast<real>(std::max(system.rows, features)) : -1;
  Mat row_space;  // R^T R = B^T B: R's row space is B's
  DirectSolution out = solve_least_squares(system.R, system.rhs, method, rcond, &row_space);

  // B is the stacked system of reference_solution divided by sqrt(n).
  out.singular_values *= std::sqrt(n);
  if (design)
    *design = solved_reference_design(out, system.rows, features, row_space, spec.intercept ? &reduced.feature_means : nullptr, rcond);
  Vec w(features + (spec.intercept ? 1 : 0));
  w.head(features) = out.w;
  if (spec.intercept) {
    w(features) = reduced.target_mean - arma::dot(reduced.feature_means, out.w);
    out.rank += 1;  // [X 1] = [X_c 1] T, T invertible, X_c orthogonal to 1
  }
  out.w = std::move(w);

  // Residuals of the original problem, without forming A: r = X w_f + b - y.
  Vec residual = X.times(out.w.head(features)) - y;
  if (spec.intercept) residual += out.w(features);
  out.residual_norm = arma::norm(residual);
  Vec normal(out.w.n_elem);
  normal.head(features) = X.transpose_times(residual) + (n * spec.ridge / 2) * out.w.head(features);
  if (spec.intercept) normal(features) = arma::accu(residual);
  out.normal_residual_norm = arma::norm(normal);
  out.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  return out;
}

}  // namespace

ReducedLinearModel reduce_linear_model(const Mat& X, const Vec& y, const LossSpec& spec, Index block_rows) {
  return reduce_features(FeaturesAsX{X}, y, spec, block_rows);
}

DirectSolution reduced_reference_solution(const Mat& X, const Vec& y, const LossSpec& spec, DirectMethod method,
                                          Index block_rows, ReferenceDesign* design) {
  return reduced_reference(FeaturesAsX{X}, y, spec, method, block_rows, design);
}

DirectSolution reduced_reference_solution_from_samples(const Mat& samples, const Vec& y, const LossSpec& spec,
                                                       DirectMethod method, Index block_rows, ReferenceDesign* design) {
  return reduced_reference(FeaturesAsSamples{samples}, y, spec, method, block_rows, design);
}

}  // namespace kappa
