// The abstract Problem (kappa/problem.hpp): work counting, the least-squares form front end,
// dense_hessian and the Lanczos smoothness estimate.
#include "kappa/problem.hpp"

#include <algorithm>
#include <cmath>
#include <random>
#include <string>

#include "kappa/error.hpp"
#include "kappa/parse.hpp"

namespace kappa {

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
bool Problem::compute_gradient_rounding(const Vec&, Vec&) const { return false; }

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

}  // namespace kappa
