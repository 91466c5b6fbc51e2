#include "kappa/problem.hpp"

#include <algorithm>
#include <cmath>
#include <random>
#include <string>

#include "kappa/error.hpp"
#include "kappa/parse.hpp"

namespace kappa {
namespace {

// y := alpha op(A_block) x + beta y for the row block [first_row, first_row + rows) of A,
// called on A's storage directly (leading dimension A.n_rows) so that no copy of the block is
// made.
void gemv_block(char transpose, const Mat& A, Index first_row, Index rows, real alpha, const real* x,
                real beta, real* y) {
  const arma::blas_int m = static_cast<arma::blas_int>(rows);
  const arma::blas_int n = static_cast<arma::blas_int>(A.n_cols);
  const arma::blas_int lda = static_cast<arma::blas_int>(A.n_rows);
  const arma::blas_int one = 1;
  arma::blas::gemv<real>(&transpose, &m, &n, &alpha, A.memptr() + first_row, &lda, x, &one, &beta, y, &one);
}

// Rows per block of the fused loss+gradient pass: about 256 KiB of A, so that the block is
// still in cache when it is read the second time (for A_block^T r_block).
Index block_rows(Index cols) { return std::max<Index>(8, (256 * 1024 / sizeof(real)) / std::max<Index>(cols, 1)); }

}  // namespace

std::string to_string(LossKind loss) {
  switch (loss) {
    case LossKind::l2: return "l2";
    case LossKind::l1: return "l1";
    case LossKind::huber: return "huber";
  }
  return "?";
}

LossKind parse_loss(const std::string& name) {
  if (name == "l2") return LossKind::l2;
  if (name == "l1") return LossKind::l1;
  if (name == "huber") return LossKind::huber;
  throw InputError("unknown loss '" + name + "' (known: l2, l1, huber)");
}

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

// ---------------------------------------------------------------- Problem (counting front end)

real Problem::loss(const Vec& w) const {
  count_rows(num_samples());
  return compute_loss(w);
}

real Problem::loss_grad(const Vec& w, Vec& gradient) const {
  count_rows(num_samples());
  return compute_loss_grad(w, gradient);
}

real Problem::batch_loss_grad(const Vec& w, const IndexVec& rows, Vec& gradient) const {
  if (rows.is_empty()) throw InputError("minibatch loss: the batch is empty");
  if (rows.max() >= num_samples()) throw InputError("minibatch loss: row index out of range");
  count_rows(rows.n_elem);
  return compute_batch_loss_grad(w, rows, gradient);
}

void Problem::hess_vec(const Vec& w, const Vec& v, Vec& out) const {
  if (!has_hessian()) throw NumericalError("Hessian-vector product requested for a problem without a Hessian");
  count_rows(num_samples());
  compute_hess_vec(w, v, out);
}

void Problem::curvature_bound_vec(const Vec& v, Vec& out) const {
  if (!has_curvature_bound()) throw NumericalError("no curvature bound: the loss is not smooth");
  count_rows(num_samples());
  compute_curvature_bound_vec(v, out);
}

void Problem::require_least_squares_form() const {
  if (!has_least_squares_form())
    throw NumericalError("this problem has no least-squares form (it needs the l2 loss in the regression formulation)");
}

Index Problem::least_squares_rows() const {
  require_least_squares_form();
  return compute_least_squares_rows();
}

void Problem::least_squares_apply(const Vec& w, Vec& out) const {
  require_least_squares_form();
  compute_least_squares_apply(w, out);
}

void Problem::least_squares_apply_transpose(const Vec& u, Vec& out) const {
  require_least_squares_form();
  count_rows(num_samples());  // with the product by B, the work of one gradient
  compute_least_squares_apply_transpose(u, out);
}

Vec Problem::least_squares_rhs() const {
  require_least_squares_form();
  return compute_least_squares_rhs();
}

Mat Problem::least_squares_matrix() const {
  require_least_squares_form();
  count_rows(num_samples());
  return compute_least_squares_matrix();
}

real Problem::max_sample_smoothness() const {
  if (!max_sample_smoothness_) max_sample_smoothness_ = compute_max_sample_smoothness();
  return *max_sample_smoothness_;
}

real Problem::compute_max_sample_smoothness() const {
  throw NumericalError("this problem has no per-sample smoothness bound; give the step size explicitly");
}

// Only reached through the checks above, for a problem that claims the form without providing it.
Index Problem::compute_least_squares_rows() const { throw NumericalError("least-squares form not implemented"); }
void Problem::compute_least_squares_apply(const Vec&, Vec&) const { throw NumericalError("least-squares form not implemented"); }
void Problem::compute_least_squares_apply_transpose(const Vec&, Vec&) const {
  throw NumericalError("least-squares form not implemented");
}
Vec Problem::compute_least_squares_rhs() const { throw NumericalError("least-squares form not implemented"); }
Mat Problem::compute_least_squares_matrix() const { throw NumericalError("least-squares form not implemented"); }

Mat dense_hessian(const Problem& problem, const Vec& w) {
  const Index d = problem.dim();
  Mat hessian(d, d);
  Vec unit(d, arma::fill::zeros);
  Vec column;
  for (Index j = 0; j < d; ++j) {
    unit(j) = 1;
    problem.hess_vec(w, unit, column);
    hessian.col(j) = column;
    unit(j) = 0;
  }
  return 0.5 * (hessian + hessian.t());
}

real Problem::smoothness() const {
  if (!has_curvature_bound()) throw NumericalError("no smoothness constant: the loss is not smooth (use an explicit step size)");
  // Lanczos with full reorthogonalization (Golub & Van Loan, Alg. 10.1.1 and Sec. 10.3): the
  // largest Ritz value converges to lambda_max(M) far faster than power iteration when the top
  // eigenvalues are close. It stops when the Ritz residual |beta_k e_k^T y| (an upper bound on
  // the distance of the Ritz value to an eigenvalue, Parlett 1998, Thm. 11.4.1) is below
  // 1e-10 of it, or after min(dim, 300) steps.
  //
  // The start vector must not be orthogonal to the top eigenvector, or the Krylov space never
  // sees it (in exact arithmetic; in floating point only rounding may bring it in). A
  // structured start such as linspace(1, 2, n) is exactly orthogonal to structured eigenvectors
  // ([1, -2, 1] for n = 3); a pseudo-random Gaussian vector is orthogonal to a given direction
  // with probability 0. A fixed seed keeps L deterministic.
  const Index n = dim();
  const Index max_steps = std::min<Index>(n, 300);
  Mat basis(n, max_steps + 1, arma::fill::zeros);
  Vec alpha(max_steps, arma::fill::zeros), beta(max_steps, arma::fill::zeros);
  Vec v(n);
  {
    std::mt19937_64 generator(0x6b61707061ULL);  // "kappa"
    std::normal_distribution<real> normal;
    for (real& x : v) x = normal(generator);
  }
  basis.col(0) = v / arma::norm(v);
  Vec Mv(n);
  real estimate = 0;
  for (Index k = 0; k < max_steps; ++k) {
    curvature_bound_vec(basis.col(k), Mv);
    if (!Mv.is_finite())
      throw NumericalError("lr=auto: the product with the curvature bound is not finite (overflow); "
                           "rescale the data or give an explicit step size");
    alpha(k) = arma::dot(basis.col(k), Mv);
    Mv -= basis.cols(0, k) * (basis.cols(0, k).t() * Mv);  // full reorthogonalization, twice
    Mv -= basis.cols(0, k) * (basis.cols(0, k).t() * Mv);
    beta(k) = arma::norm(Mv);
    Mat tridiagonal = arma::diagmat(alpha.head(k + 1));
    if (k > 0) {
      tridiagonal.diag(1) = beta.head(k);
      tridiagonal.diag(-1) = beta.head(k);
    }
    Vec ritz_values;
    Mat ritz_vectors;
    if (!tridiagonal.is_finite() || !arma::eig_sym(ritz_values, ritz_vectors, tridiagonal) || ritz_values.is_empty())
      throw NumericalError("lr=auto: the Lanczos estimate of the smoothness constant failed (eigenvalues of the " +
                           std::to_string(k + 1) + " x " + std::to_string(k + 1) +
                           " tridiagonal matrix not computed); give an explicit step size");
    estimate = ritz_values(ritz_values.n_elem - 1);
    const real residual = beta(k) * std::fabs(ritz_vectors(k, ritz_vectors.n_cols - 1));
    if (residual <= 1e-10 * std::fabs(estimate) || beta(k) <= 1e-14 * std::fabs(estimate)) break;
    basis.col(k + 1) = Mv / beta(k);
  }
  if (!std::isfinite(estimate))
    throw NumericalError("lr=auto: the smoothness constant is not finite (" + format_number(estimate) +
                         "); rescale the data or give an explicit step size");
  return estimate;
}

// ---------------------------------------------------------------- LinearModelProblem

LinearModelProblem::LinearModelProblem(const Mat& X, const Vec& y, const LossSpec& spec)
    : design_(design_matrix(X, spec.intercept)), targets_(y), spec_(spec), num_features_(X.n_cols) {
  if (X.is_empty()) throw InputError("problem: the design matrix is empty");
  if (X.n_rows != y.n_elem)
    throw InputError("problem: X has " + std::to_string(X.n_rows) + " rows but y has " + std::to_string(y.n_elem) + " values");
  spec.validate();
}

real LinearModelProblem::mean_loss(const Vec& residuals) const {
  switch (spec_.kind) {
    case LossKind::l2: return arma::dot(residuals, residuals) / residuals.n_elem;
    case LossKind::l1: return arma::accu(arma::abs(residuals)) / residuals.n_elem;
    case LossKind::huber: {
      const real delta = spec_.huber_delta;
      real sum = 0;
      for (const real r : residuals) sum += std::fabs(r) <= delta ? 0.5 * r * r : delta * (std::fabs(r) - 0.5 * delta);
      return sum / residuals.n_elem;
    }
  }
  return 0;
}

void LinearModelProblem::loss_derivative(const Vec& residuals, Vec& derivative) const {
  // rho'(r), before the 1/n of the mean.
  switch (spec_.kind) {
    case LossKind::l2: derivative = 2.0 * residuals; break;
    case LossKind::l1: derivative = arma::sign(residuals); break;
    case LossKind::huber: derivative = arma::clamp(residuals, -spec_.huber_delta, spec_.huber_delta); break;
  }
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
  const Vec residuals = design_ * w - targets_;
  return mean_loss(residuals) + ridge_term(w);
}

real LinearModelProblem::compute_loss_grad(const Vec& w, Vec& gradient) const {
  // One pass over A: each row block computes its residuals and adds A_block^T rho'(r_block)
  // to the gradient while the block is still in cache.
  const Index n = num_samples();
  const Index block = block_rows(dim());
  gradient.zeros(dim());
  Vec residuals(std::min(block, n));
  Vec derivative;
  real loss_sum = 0;
  for (Index first = 0; first < n; first += block) {
    const Index rows = std::min(block, n - first);
    Vec r(residuals.memptr(), rows, false, true);
    r = -targets_.subvec(first, first + rows - 1);
    gemv_block('N', design_, first, rows, 1.0, w.memptr(), 1.0, r.memptr());
    loss_sum += mean_loss(r) * rows;
    loss_derivative(r, derivative);
    gemv_block('T', design_, first, rows, 1.0 / n, derivative.memptr(), 1.0, gradient.memptr());
  }
  add_ridge_gradient(w, gradient);
  return loss_sum / n + ridge_term(w);
}

real LinearModelProblem::compute_batch_loss_grad(const Vec& w, const IndexVec& rows, Vec& gradient) const {
  const Mat batch = design_.rows(rows);
  const Vec residuals = batch * w - targets_.elem(rows);
  Vec derivative;
  loss_derivative(residuals, derivative);
  gradient = batch.t() * derivative / static_cast<real>(rows.n_elem);
  add_ridge_gradient(w, gradient);
  return mean_loss(residuals) + ridge_term(w);
}

void LinearModelProblem::compute_hess_vec(const Vec& w, const Vec& v, Vec& out) const {
  const Index n = num_samples();
  Vec Av = design_ * v;
  if (spec_.kind == LossKind::l2) {
    Av *= 2.0;
  } else {  // huber: rho'' = 1 inside the quadratic zone, 0 outside
    const Vec residuals = design_ * w - targets_;
    Av %= arma::conv_to<Vec>::from(arma::abs(residuals) <= spec_.huber_delta);
  }
  out = design_.t() * Av / static_cast<real>(n);
  add_ridge_gradient(v, out);
}

void LinearModelProblem::compute_curvature_bound_vec(const Vec& v, Vec& out) const {
  // rho'' <= 2 (l2) or <= 1 (huber) everywhere.
  const real rho_second = spec_.kind == LossKind::l2 ? 2.0 : 1.0;
  out = design_.t() * (design_ * v) * (rho_second / static_cast<real>(num_samples()));
  add_ridge_gradient(v, out);
}

// The least-squares form B = [A / sqrt(n); sqrt(ridge/2) E_f], c = [y / sqrt(n); 0].
Index LinearModelProblem::compute_least_squares_rows() const {
  return num_samples() + (spec_.ridge > 0 ? num_features_ : 0);
}

void LinearModelProblem::compute_least_squares_apply(const Vec& w, Vec& out) const {
  const Index n = num_samples();
  out.set_size(compute_least_squares_rows());
  out.head(n) = design_ * w / std::sqrt(static_cast<real>(n));
  if (spec_.ridge > 0) out.tail(num_features_) = std::sqrt(spec_.ridge / 2) * w.head(num_features_);
}

void LinearModelProblem::compute_least_squares_apply_transpose(const Vec& u, Vec& out) const {
  const Index n = num_samples();
  out = design_.t() * u.head(n) / std::sqrt(static_cast<real>(n));
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
  matrix.head_rows(n) = design_ / std::sqrt(static_cast<real>(n));
  if (spec_.ridge > 0) matrix.submat(n, 0, n + num_features_ - 1, num_features_ - 1).diag().fill(std::sqrt(spec_.ridge / 2));
  return matrix;
}

real LinearModelProblem::compute_max_sample_smoothness() const {
  if (spec_.kind == LossKind::l1) throw NumericalError("the l1 loss is not smooth: give the step size explicitly");
  const real rho_second = spec_.kind == LossKind::l2 ? 2.0 : 1.0;
  return rho_second * arma::max(arma::sum(arma::square(design_), 1)) + spec_.ridge;
}

}  // namespace kappa
