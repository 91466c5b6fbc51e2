// LinearModelProblem and its blocked kernels (core/problems/linear_model.hpp).
#include "core/problems/linear_model.hpp"

#include <algorithm>
#include <cmath>
#include <string>
#include <type_traits>
#include <vector>

#include "kappa/enum_names.hpp"
#include "kappa/error.hpp"
#include "kappa/parse.hpp"
#include "core/problems/multi_point_products.hpp"
#include "core/problems/transpose.hpp"

namespace kappa {
namespace {

// ---------------------------------------------------------------- kernels on X^T (features x n)
// The samples are stored as the columns of S = X^T (problem.hpp), in the problem's precision
// eT; with an intercept, a_i = [x_i; 1] and the intercept's 1 is implicit (never stored).

// y := alpha op(S_block) x + beta y for the block of samples [first, first + count), i.e. the
// columns of S, which are contiguous: no copy of the block is made.
template <class eT>
void gemv_samples(char transpose, const arma::Mat<eT>& S, Index first, Index count, eT alpha, const eT* x, eT beta,
                  eT* y) {
  const arma::blas_int m = static_cast<arma::blas_int>(S.n_rows);
  const arma::blas_int n = static_cast<arma::blas_int>(count);
  const arma::blas_int lda = m;
  const arma::blas_int one = 1;
  arma::blas::gemv<eT>(&transpose, &m, &n, &alpha, S.colptr(first), &lda, x, &one, &beta, y, &one);
}

// Samples per block of the fused passes: about 256 KiB of S, so that a block read for its
// residuals is still in (L2) cache when it is read again for its gradient contribution.
template <class eT>
Index block_samples(Index dim) {
  return std::max<Index>(8, (256 * 1024 / sizeof(eT)) / std::max<Index>(dim, 1));
}

// Per-thread scratch space, so that repeated evaluations (a minibatch step every microsecond)
// allocate nothing once the buffers have grown to size; thread-local because a problem is
// shared, read-only, by every run on it.
template <class eT>
struct Scratch {
  std::vector<eT> input;   // x in the problem's precision
  std::vector<eT> output;  // the product before conversion to double
  std::vector<eT> block;   // one block's residuals
  std::vector<eT> block_second;
};
template <class eT>
Scratch<eT>& scratch() {
  thread_local Scratch<eT> buffers;
  return buffers;
}

// x in the storage precision: the vector itself in double, a converted copy in float.
template <class eT>
const eT* in_precision(const Vec& x, std::vector<eT>& buffer) {
  if constexpr (std::is_same_v<eT, real>) {
    return x.memptr();
  } else {
    buffer.assign(x.begin(), x.end());
    return buffer.data();
  }
}

// Where a product of length `size` is accumulated: `out` itself in double, a buffer in float
// (copied into `out` by finish_output).
template <class eT>
eT* output_buffer(Vec& out, Index size, std::vector<eT>& buffer) {
  out.set_size(size);
  if constexpr (std::is_same_v<eT, real>) {
    return out.memptr();
  } else {
    buffer.resize(size);
    return buffer.data();
  }
}
template <class eT>
void finish_output(const eT* product, Vec& out) {
  if constexpr (!std::is_same_v<eT, real>) std::copy(product, product + out.n_elem, out.begin());
}

// t = alpha A_block x for the block's samples: alpha (S_block^T x_f + x_b) with an intercept
// (x_b = x[features], the last weight).
template <class eT>
void sample_products(const arma::Mat<eT>& S, bool intercept, Index first, Index count, eT alpha, const eT* x, eT* t) {
  gemv_samples<eT>('T', S, first, count, alpha, x, 0, t);
  if (intercept) {
    const eT shift = alpha * x[S.n_rows];
    for (Index k = 0; k < count; ++k) t[k] += shift;
  }
}

// out += alpha A_block^T t: alpha S_block t for the features, alpha sum(t) for the intercept.
template <class eT>
void accumulate_samples(const arma::Mat<eT>& S, bool intercept, Index first, Index count, eT alpha, const eT* t, eT* out) {
  gemv_samples<eT>('N', S, first, count, alpha, t, 1, out);
  if (intercept) {
    eT sum = 0;
    for (Index k = 0; k < count; ++k) sum += t[k];
    out[S.n_rows] += alpha * sum;
  }
}

// One blocked pass over the samples: for each block, t = A_block x, then
// transform(t, first, count) rewrites t in place, then out += A_block^T t (skipped when out is
// null). `out` must be zeroed by the caller.
template <class eT, class Transform>
void blocked_pass(const arma::Mat<eT>& S, bool intercept, const eT* x, eT* out, Transform&& transform) {
  const Index n = S.n_cols;
  const Index block = std::min(block_samples<eT>(S.n_rows), n);
  std::vector<eT>& t = scratch<eT>().block;
  t.resize(block);
  for (Index first = 0; first < n; first += block) {
    const Index count = std::min(block, n - first);
    sample_products<eT>(S, intercept, first, count, 1, x, t.data());
    transform(t.data(), first, count);
    if (out != nullptr) accumulate_samples<eT>(S, intercept, first, count, 1, t.data(), out);
  }
}

// out = the sum over blocks of A_block^T transform(A_block x): a blocked pass in the storage
// precision eT, x and out in double.
template <class eT, class Transform>
void transformed_pass(const arma::Mat<eT>& S, bool intercept, const Vec& x, Vec& out, Index dim, Transform&& transform) {
  Scratch<eT>& buffers = scratch<eT>();
  eT* product = output_buffer(out, dim, buffers.output);
  std::fill(product, product + dim, eT(0));
  blocked_pass(S, intercept, in_precision(x, buffers.input), product, transform);
  finish_output(product, out);
}

// rho(r) and rho'(r) of the conventions in problem.hpp.
real loss_value(const LossSpec& spec, real r) {
  switch (spec.kind) {
    case LossKind::l2: return r * r;
    case LossKind::l1: return std::fabs(r);
    case LossKind::huber:
      return std::fabs(r) <= spec.huber_delta ? 0.5 * r * r : spec.huber_delta * (std::fabs(r) - 0.5 * spec.huber_delta);
  }
  return 0;
}
real loss_derivative(const LossSpec& spec, real r) {
  switch (spec.kind) {
    case LossKind::l2: return 2 * r;
    case LossKind::l1: return static_cast<real>((r > 0) - (r < 0));
    case LossKind::huber: return std::clamp(r, -spec.huber_delta, spec.huber_delta);
  }
  return 0;
}

// ---------------------------------------------------------------- multi-point kernels
// (multi_point.hpp) The k points are the columns of a features x k matrix P (leading dimension
// ld_points); with an intercept, biases[j] is point j's last weight.

// Samples per block of a multi-point pass: about 256 KiB of S, read by the residual product and
// again, still in (L2) cache, by the gradient product (with the vectorized products at 200000 x 500
// and k = 16, 128 and 256 KiB measured alike and 512 KiB 9% slower: bench/lockstep_kernel.cpp).
template <class eT>
Index multi_point_block_samples(Index features) {
  return std::max<Index>(16, (256 * 1024 / sizeof(eT)) / std::max<Index>(features, 1));
}

template <class eT>
struct MultiPointScratch {
  std::vector<eT> points;     // P in eT (float problems)
  std::vector<eT> biases;     // the intercepts in eT
  std::vector<eT> products;   // one block's residuals, then rho'(r) scale: count x k
  std::vector<eT> gradients;  // the feature gradients in eT (float problems): features x k
  std::vector<eT> gathered;   // a minibatch's samples, contiguous: features x count
  std::vector<eT> gathered_targets;
  std::vector<real> loss_sums;        // per point
  std::vector<eT> bias_gradients;     // per point
};
template <class eT>
MultiPointScratch<eT>& multi_point_scratch() {
  thread_local MultiPointScratch<eT> buffers;
  return buffers;
}

// One block of `count` contiguous samples (block: features x count) and their targets: adds the
// block's loss terms to loss_sums, writes (beta 0) or adds (beta 1) block * rho'(R) * scale to
// the gradients (features x k, leading dimension ld_gradients) and sums rho'(R) * scale into
// bias_gradients. The arithmetic of each point is that of the single-point kernels.
template <class eT>
void multi_point_block(const LossSpec& spec, const eT* block, const eT* targets, Index features, Index count, Index points,
                       const eT* P, Index ld_points, const eT* biases, real scale, eT beta, eT* gradients, Index ld_gradients,
                       MultiPointScratch<eT>& buffers) {
  const arma::blas_int m = static_cast<arma::blas_int>(count);
  const arma::blas_int n = static_cast<arma::blas_int>(points);
  const arma::blas_int f = static_cast<arma::blas_int>(features);
  const arma::blas_int ldp = static_cast<arma::blas_int>(ld_points);
  const arma::blas_int ldg = static_cast<arma::blas_int>(ld_gradients);
  const eT one = 1;
  const eT zero = 0;
  eT* T = buffers.products.data();
  // Double precision on AVX2 runs the unpacked kernels (multi_point_products.hpp), else dgemm/sgemm.
  bool vectorized = false;
  if constexpr (std::is_same_v<eT, double>) {
    vectorized = detail::vectorized_multi_point_products();
    if (vectorized) detail::residual_products(block, features, count, P, ld_points, points, T);
  }
  if (!vectorized) arma::blas::gemm<eT>("T", "N", &m, &n, &f, &one, block, &f, P, &ldp, &zero, T, &m);  // R = S_block^T P
  for (Index j = 0; j < points; ++j) {
    eT* column = T + j * count;
    const eT bias = biases != nullptr ? biases[j] : eT(0);
    real sum = 0;
    eT bias_gradient = 0;
    for (Index i = 0; i < count; ++i) {
      const real residual = static_cast<real>(column[i] + bias - targets[i]);
      sum += loss_value(spec, residual);
      column[i] = static_cast<eT>(loss_derivative(spec, residual) * scale);
      bias_gradient += column[i];
    }
    buffers.loss_sums[j] += sum;
    buffers.bias_gradients[j] += bias_gradient;
  }
  if constexpr (std::is_same_v<eT, double>) {
    if (vectorized) detail::gradient_products(block, features, count, T, points, gradients, ld_gradients, beta != eT(0));
  }
  if (!vectorized) arma::blas::gemm<eT>("N", "N", &f, &n, &m, &one, block, &f, T, &m, &beta, gradients, &ldg);  // G += S_block T
}

// Runs `pass(P, ld_points, biases, gradients, ld_gradients, buffers)` with W's points in the
// storage precision eT, then writes the feature gradients and the intercept's into G (dim x k)
// and leaves the loss sums in buffers.loss_sums.
template <class eT, class Pass>
void with_multi_points(const Mat& W, Index features, bool intercept, Mat& G, Pass&& pass) {
  MultiPointScratch<eT>& buffers = multi_point_scratch<eT>();
  const Index k = W.n_cols;
  buffers.loss_sums.assign(k, 0);
  buffers.bias_gradients.assign(k, eT(0));
  buffers.biases.resize(k);
  if (intercept)
    for (Index j = 0; j < k; ++j) buffers.biases[j] = static_cast<eT>(W(features, j));
  const eT* biases = intercept ? buffers.biases.data() : nullptr;
  G.set_size(W.n_rows, k);
  if constexpr (std::is_same_v<eT, real>) {
    pass(W.memptr(), W.n_rows, biases, G.memptr(), G.n_rows, buffers);
  } else {
    buffers.points.resize(features * k);
    for (Index j = 0; j < k; ++j)
      for (Index i = 0; i < features; ++i) buffers.points[i + j * features] = static_cast<eT>(W(i, j));
    buffers.gradients.resize(features * k);
    pass(buffers.points.data(), features, biases, buffers.gradients.data(), features, buffers);
    for (Index j = 0; j < k; ++j)
      for (Index i = 0; i < features; ++i) G(i, j) = static_cast<real>(buffers.gradients[i + j * features]);
  }
  if (intercept)
    for (Index j = 0; j < k; ++j) G(features, j) = static_cast<real>(buffers.bias_gradients[j]);
}

// S = X^T in precision eT, transposed tile by tile (cache-friendly on both sides).
template <class eT>
arma::Mat<eT> transposed_features(const Mat& X) {
  arma::Mat<eT> S(X.n_cols, X.n_rows);
  constexpr Index tile = 32;
  for (Index i0 = 0; i0 < X.n_rows; i0 += tile)
    for (Index j0 = 0; j0 < X.n_cols; j0 += tile)
      for (Index i = i0; i < std::min(i0 + tile, X.n_rows); ++i)
        for (Index j = j0; j < std::min(j0 + tile, X.n_cols); ++j) S(j, i) = static_cast<eT>(X(i, j));
  return S;
}

void check_features(const Mat& X, const Vec& y) {
  if (X.is_empty()) throw InputError("problem: the design matrix is empty");
  if (X.n_rows != y.n_elem)
    throw InputError("problem: X has " + std::to_string(X.n_rows) + " rows but y has " + std::to_string(y.n_elem) + " values");
}

}  // namespace

constexpr EnumName<LossKind> kLossNames[] = {{LossKind::l2, "l2"}, {LossKind::l1, "l1"}, {LossKind::huber, "huber"}};
constexpr EnumName<Precision> kPrecisionNames[] = {{Precision::float64, "double"}, {Precision::float32, "float"}};

std::string to_string(LossKind loss) { return enum_name(kLossNames, loss); }
LossKind parse_loss(const std::string& name) { return parse_enum(kLossNames, name, "loss"); }

std::string to_string(Precision precision) { return enum_name(kPrecisionNames, precision); }
Precision parse_precision(const std::string& name) { return parse_enum(kPrecisionNames, name, "precision"); }

void LossSpec::validate() const {
  if (!(ridge >= 0) || !std::isfinite(ridge))
    throw InputError("ridge = " + format_number(ridge) + ": expected a finite number >= 0");
  if (kind == LossKind::huber && (!(huber_delta > 0) || !std::isfinite(huber_delta)))
    throw InputError("huber delta = " + format_number(huber_delta) + ": expected a finite number > 0");
}

Mat design_matrix(const Mat& X, bool intercept) {
  if (!intercept) return X;
  if (X.is_empty()) return Mat(X.n_rows, X.n_cols + 1);  // no copy from Armadillo's null memory
  Mat design(X.n_rows, X.n_cols + 1);
  design.head_cols(X.n_cols) = X;
  design.col(X.n_cols).ones();
  return design;
}


// ---------------------------------------------------------------- LinearModelProblem

LinearModelProblem::LinearModelProblem(const Mat& X, const Vec& y, const LossSpec& spec, Precision precision)
    : targets_(y), spec_(spec), precision_(precision), dim_(X.n_cols + (spec.intercept ? 1 : 0)), num_features_(X.n_cols) {
  check_features(X, y);
  spec.validate();
  store_samples(X);
}

LinearModelProblem::LinearModelProblem(Mat&& X, const Vec& y, const LossSpec& spec, Precision precision)
    : targets_(y), spec_(spec), precision_(precision), dim_(X.n_cols + (spec.intercept ? 1 : 0)), num_features_(X.n_cols) {
  check_features(X, y);
  spec.validate();
  if (precision == Precision::float64) {
    detail::transpose_in_place(X);
    samples_ = std::move(X);
  } else {
    store_samples(X);
  }
  X.reset();
}

namespace {
// samples_ of a problem over `storage`: its view for float64 (initialized in place, so that it
// stays a view), nothing for float32.
Mat external_samples(const SampleStorage& storage, Precision precision) {
  if (precision != Precision::float64) return Mat();
  return storage.view();
}
}  // namespace

LinearModelProblem::LinearModelProblem(const SampleStorage& samples, const Vec& y, const LossSpec& spec, Precision precision)
    : samples_(external_samples(samples, precision)),
      targets_(y),
      spec_(spec),
      precision_(precision),
      dim_(samples.features + (spec.intercept ? 1 : 0)),
      num_features_(samples.features),
      samples_owner_(precision == Precision::float64 ? samples.owner : nullptr) {
  if (samples.features == 0 || samples.samples == 0) throw InputError("problem: the design matrix is empty");
  if (samples.samples != y.n_elem)
    throw InputError("problem: X has " + std::to_string(samples.samples) + " rows but y has " + std::to_string(y.n_elem) +
                     " values");
  spec.validate();
  if (precision != Precision::float64) {
    samples_single_ = arma::conv_to<arma::fmat>::from(samples.view());
    targets_single_ = arma::conv_to<arma::fvec>::from(targets_);
  }
}

void LinearModelProblem::store_samples(const Mat& X) {
  if (precision_ == Precision::float64) {
    samples_ = transposed_features<real>(X);
  } else {
    samples_single_ = transposed_features<float>(X);
    targets_single_ = arma::conv_to<arma::fvec>::from(targets_);
  }
}

Mat LinearModelProblem::design() const {
  const Mat features = with_storage([](const auto& S, const auto&) -> Mat { return arma::conv_to<Mat>::from(S).t(); });
  return design_matrix(features, spec_.intercept);
}

real LinearModelProblem::ridge_term(const Vec& w) const {
  if (spec_.ridge == 0) return 0;
  const real norm = arma::norm(w.head(num_features_));
  return 0.5 * spec_.ridge * norm * norm;
}

void LinearModelProblem::add_ridge_gradient(const Vec& w, Vec& gradient) const {
  if (spec_.ridge != 0) gradient.head(num_features_) += spec_.ridge * w.head(num_features_);
}

real LinearModelProblem::compute_loss(const Vec& w) const {
  const real loss_sum = with_storage([&](const auto& S, const auto& y) -> real {
    using eT = typename std::decay_t<decltype(S)>::elem_type;
    real sum = 0;
    blocked_pass(S, spec_.intercept, in_precision(w, scratch<eT>().input), static_cast<eT*>(nullptr), [&](eT* t, Index first, Index count) {
      for (Index k = 0; k < count; ++k) sum += loss_value(spec_, static_cast<real>(t[k] - y[first + k]));
    });
    return sum;
  });
  return loss_sum / static_cast<real>(num_samples()) + ridge_term(w);
}

real LinearModelProblem::compute_loss_grad(const Vec& w, Vec& gradient) const {
  // One pass over the samples: each block computes its residuals r and, while it is in cache,
  // adds S_block rho'(r) / n to the gradient.
  const real n = static_cast<real>(num_samples());
  const real loss_sum = with_storage([&](const auto& S, const auto& y) -> real {
    using eT = typename std::decay_t<decltype(S)>::elem_type;
    real sum = 0;
    transformed_pass(S, spec_.intercept, w, gradient, dim_, [&](eT* t, Index first, Index count) {
      for (Index k = 0; k < count; ++k) {
        const real residual = t[k] - y[first + k];
        sum += loss_value(spec_, residual);
        t[k] = static_cast<eT>(loss_derivative(spec_, residual) / n);
      }
    });
    return sum;
  });
  add_ridge_gradient(w, gradient);
  return loss_sum / n + ridge_term(w);
}

real LinearModelProblem::compute_batch_loss_grad(const Vec& w, const IndexVec& rows, Vec& gradient) const {
  // b contiguous sample rows: r_i = a_i^T w - y_i, then the gradient (1/b) sum rho'(r_i) a_i,
  // written (not accumulated) by the first row. Allocation-free (Scratch), since a minibatch
  // step is a few microseconds.
  const real batch = static_cast<real>(rows.n_elem);
  const real loss_sum = with_storage([&](const auto& S, const auto& y) -> real {
    using eT = typename std::decay_t<decltype(S)>::elem_type;
    Scratch<eT>& buffers = scratch<eT>();
    const eT* x = in_precision(w, buffers.input);
    eT* out = output_buffer(gradient, dim_, buffers.output);
    real sum = 0;
    const Index features = S.n_rows;
    const eT bias = spec_.intercept ? x[features] : eT(0);
    eT intercept_gradient = 0;
    for (Index k = 0; k < rows.n_elem; ++k) {
      const eT* sample = S.colptr(rows[k]);
      const real residual = static_cast<real>(arma::blas::dot(features, sample, x) + bias - y[rows[k]]);
      sum += loss_value(spec_, residual);
      const eT coefficient = static_cast<eT>(loss_derivative(spec_, residual) / batch);
      intercept_gradient += coefficient;
      if (k == 0) {
        for (Index j = 0; j < features; ++j) out[j] = coefficient * sample[j];
      } else {
        for (Index j = 0; j < features; ++j) out[j] += coefficient * sample[j];
      }
    }
    if (spec_.intercept) out[features] = intercept_gradient;
    finish_output(out, gradient);
    return sum;
  });
  add_ridge_gradient(w, gradient);
  return loss_sum / batch + ridge_term(w);
}

void LinearModelProblem::compute_hess_vec(const Vec& w, const Vec& v, Vec& out) const {
  // (1/n) sum rho''(r_i) a_i a_i^T v: rho'' = 2 (l2); 1 inside huber's quadratic zone, else 0.
  const real n = static_cast<real>(num_samples());
  with_storage([&](const auto& S, const auto& y) -> real {
    using eT = typename std::decay_t<decltype(S)>::elem_type;
    std::vector<eT> weights;  // w in eT, huber only (the scratch input holds v)
    if (spec_.kind == LossKind::huber) weights.assign(w.begin(), w.end());
    std::vector<eT>& residuals = scratch<eT>().block_second;
    transformed_pass(S, spec_.intercept, v, out, dim_, [&](eT* t, Index first, Index count) {
      if (spec_.kind == LossKind::l2) {
        for (Index k = 0; k < count; ++k) t[k] = static_cast<eT>(2 * t[k] / n);
        return;
      }
      residuals.resize(count);
      sample_products<eT>(S, spec_.intercept, first, count, 1, weights.data(), residuals.data());
      for (Index k = 0; k < count; ++k)
        t[k] = std::fabs(static_cast<real>(residuals[k] - y[first + k])) <= spec_.huber_delta ? static_cast<eT>(t[k] / n) : eT(0);
    });
    return 0;
  });
  add_ridge_gradient(v, out);
}

void LinearModelProblem::compute_curvature_bound_vec(const Vec& v, Vec& out) const {
  // rho'' <= 2 (l2) or <= 1 (huber) everywhere.
  const real scale = (spec_.kind == LossKind::l2 ? 2.0 : 1.0) / static_cast<real>(num_samples());
  with_storage([&](const auto& S, const auto&) -> real {
    using eT = typename std::decay_t<decltype(S)>::elem_type;
    transformed_pass(S, spec_.intercept, v, out, dim_, [&](eT* t, Index, Index count) {
      for (Index k = 0; k < count; ++k) t[k] = static_cast<eT>(scale * t[k]);
    });
    return 0;
  });
  add_ridge_gradient(v, out);
}

// The least-squares form B = [A / sqrt(n); sqrt(ridge/2) E_f], c = [y / sqrt(n); 0].
Index LinearModelProblem::compute_least_squares_rows() const {
  return num_samples() + (spec_.ridge > 0 ? num_features_ : 0);
}

void LinearModelProblem::compute_least_squares_apply(const Vec& w, Vec& out) const {
  const Index n = num_samples();
  out.set_size(compute_least_squares_rows());
  const real scale = 1 / std::sqrt(static_cast<real>(n));
  with_storage([&](const auto& S, const auto&) -> real {  // out_head = A w / sqrt(n)
    using eT = typename std::decay_t<decltype(S)>::elem_type;
    Scratch<eT>& buffers = scratch<eT>();
    const eT* x = in_precision(w, buffers.input);
    if constexpr (std::is_same_v<eT, real>) {
      sample_products<eT>(S, spec_.intercept, 0, n, scale, x, out.memptr());
    } else {
      buffers.output.resize(n);
      sample_products<eT>(S, spec_.intercept, 0, n, static_cast<eT>(scale), x, buffers.output.data());
      std::copy(buffers.output.begin(), buffers.output.end(), out.begin());
    }
    return 0;
  });
  if (spec_.ridge > 0) out.tail(num_features_) = std::sqrt(spec_.ridge / 2) * w.head(num_features_);
}

void LinearModelProblem::compute_least_squares_apply_transpose(const Vec& u, Vec& out) const {
  const Index n = num_samples();
  const real scale = 1 / std::sqrt(static_cast<real>(n));
  with_storage([&](const auto& S, const auto&) -> real {  // out = A^T u_head / sqrt(n)
    using eT = typename std::decay_t<decltype(S)>::elem_type;
    Scratch<eT>& buffers = scratch<eT>();
    const eT* x = in_precision(u, buffers.input);  // only its first n entries are read
    eT* product = output_buffer(out, dim_, buffers.output);
    std::fill(product, product + dim_, eT(0));
    accumulate_samples<eT>(S, spec_.intercept, 0, n, static_cast<eT>(scale), x, product);
    finish_output(product, out);
    return 0;
  });
  if (spec_.ridge > 0) out.head(num_features_) += std::sqrt(spec_.ridge / 2) * u.tail(num_features_);
}

Vec LinearModelProblem::compute_least_squares_rhs() const {
  Vec rhs(compute_least_squares_rows(), arma::fill::zeros);
  rhs.head(num_samples()) = targets_ / std::sqrt(static_cast<real>(num_samples()));
  return rhs;
}

Mat LinearModelProblem::compute_least_squares_matrix() const {
  const Index n = num_samples();
  Mat matrix(compute_least_squares_rows(), dim(), arma::fill::zeros);
  matrix.head_rows(n) = design() / std::sqrt(static_cast<real>(n));
  if (spec_.ridge > 0) matrix.submat(n, 0, n + num_features_ - 1, num_features_ - 1).diag().fill(std::sqrt(spec_.ridge / 2));
  return matrix;
}

real LinearModelProblem::compute_max_sample_smoothness() const {
  if (spec_.kind == LossKind::l1) throw NumericalError("the l1 loss is not smooth: give the step size explicitly");
  const real rho_second = spec_.kind == LossKind::l2 ? 2.0 : 1.0;
  const real intercept_square = spec_.intercept ? 1 : 0;  // |a_i|^2 = |x_i|^2 + 1
  const real largest_row = with_storage([intercept_square](const auto& S, const auto&) -> real {
    real largest = 0;
    for (Index i = 0; i < S.n_cols; ++i) {
      real squares = intercept_square;
      for (Index j = 0; j < S.n_rows; ++j) squares += static_cast<real>(S(j, i)) * static_cast<real>(S(j, i));
      largest = std::max(largest, squares);
    }
    return largest;
  });
  return rho_second * largest_row + spec_.ridge;
}

// ---------------------------------------------------------------- multi-point evaluation

void LinearModelProblem::finish_multi_point(const Mat& W, const real* loss_sums, real samples, Vec& losses, Mat& G) const {
  losses.set_size(W.n_cols);
  for (Index j = 0; j < W.n_cols; ++j) {
    const Vec point(const_cast<real*>(W.colptr(j)), W.n_rows, false, true);  // a read-only alias
    Vec gradient(G.colptr(j), G.n_rows, false, true);
    add_ridge_gradient(point, gradient);
    losses[j] = loss_sums[j] / samples + ridge_term(point);
  }
}

void LinearModelProblem::loss_grads(const Mat& W, Vec& losses, Mat& G) const {
  if (W.n_rows != dim_) throw InputError("multi-point evaluation: points of " + std::to_string(W.n_rows) + " weights, expected " + std::to_string(dim_));
  const real n = static_cast<real>(num_samples());
  const real* sums = with_storage([&](const auto& S, const auto& y) -> const real* {
    using eT = typename std::decay_t<decltype(S)>::elem_type;
    with_multi_points<eT>(W, S.n_rows, spec_.intercept, G,
                          [&](const eT* P, Index ld_points, const eT* biases, eT* gradients, Index ld_gradients,
                              MultiPointScratch<eT>& buffers) {
      const Index block = std::min(multi_point_block_samples<eT>(S.n_rows), S.n_cols);
      buffers.products.resize(block * W.n_cols);
      for (Index first = 0; first < S.n_cols; first += block) {
        const Index count = std::min(block, S.n_cols - first);
        multi_point_block<eT>(spec_, S.colptr(first), y.memptr() + first, S.n_rows, count, W.n_cols, P, ld_points, biases, 1 / n,
                              first == 0 ? eT(0) : eT(1), gradients, ld_gradients, buffers);
      }
    });
    return multi_point_scratch<eT>().loss_sums.data();
  });
  finish_multi_point(W, sums, n, losses, G);
}

void LinearModelProblem::batch_loss_grads(const Mat& W, const IndexVec& rows, Vec& losses, Mat& G) const {
  if (W.n_rows != dim_) throw InputError("multi-point evaluation: points of " + std::to_string(W.n_rows) + " weights, expected " + std::to_string(dim_));
  if (rows.is_empty()) throw InputError("minibatch loss: the batch is empty");
  const real batch = static_cast<real>(rows.n_elem);
  const real* sums = with_storage([&](const auto& S, const auto& y) -> const real* {
    using eT = typename std::decay_t<decltype(S)>::elem_type;
    with_multi_points<eT>(W, S.n_rows, spec_.intercept, G,
                          [&](const eT* P, Index ld_points, const eT* biases, eT* gradients, Index ld_gradients,
                              MultiPointScratch<eT>& buffers) {
      // The batch's samples are gathered, a block at a time, into contiguous memory.
      const Index features = S.n_rows;
      const Index block = std::min<Index>(multi_point_block_samples<eT>(features), rows.n_elem);
      buffers.products.resize(block * W.n_cols);
      buffers.gathered.resize(block * features);
      buffers.gathered_targets.resize(block);
      for (Index first = 0; first < rows.n_elem; first += block) {
        const Index count = std::min(block, rows.n_elem - first);
        for (Index i = 0; i < count; ++i) {
          const eT* sample = S.colptr(rows[first + i]);
          std::copy(sample, sample + features, buffers.gathered.data() + i * features);
          buffers.gathered_targets[i] = y[rows[first + i]];
        }
        multi_point_block<eT>(spec_, buffers.gathered.data(), buffers.gathered_targets.data(), features, count, W.n_cols, P,
                              ld_points, biases, 1 / batch, first == 0 ? eT(0) : eT(1), gradients, ld_gradients, buffers);
      }
    });
    return multi_point_scratch<eT>().loss_sums.data();
  });
  finish_multi_point(W, sums, batch, losses, G);
}

}  // namespace kappa
