#include "kappa/direct.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>

#include "kappa/error.hpp"

namespace kappa {
namespace {

using Clock = std::chrono::steady_clock;

void solve_svd(const Mat& A, const Vec& b, real rcond, DirectSolution& out) {
  Mat U, V;
  Vec sigma;
  if (!arma::svd_econ(U, sigma, V, A)) throw NumericalError("svd: the singular value decomposition did not converge");
  // Default cutoff eps * max(n, d) * sigma_max, NumPy's lstsq default: it absorbs the rounding
  // error of the SVD itself (about eps * sigma_max * max(n, d)); LAPACK's bare rcond = eps can
  // count rounding noise of an exactly rank-deficient matrix as rank.
  const real default_rcond = std::numeric_limits<real>::epsilon() * static_cast<real>(std::max(A.n_rows, A.n_cols));
  const real cutoff = (rcond < 0 ? default_rcond : rcond) * (sigma.is_empty() ? 0 : sigma(0));
  const arma::uvec kept = arma::find(sigma > cutoff);
  out.rank = kept.n_elem;
  // w = V_r diag(1/sigma_r) U_r^T b: the minimum-norm least-squares solution.
  const Vec coefficients = (U.cols(kept).t() * b) / sigma.elem(kept);
  out.w = V.cols(kept) * coefficients;
  out.singular_values = std::move(sigma);
}

void require_tall(const Mat& A, const char* method) {
  if (A.n_rows < A.n_cols)
    throw NumericalError(std::string(method) + ": needs at least as many rows as columns (A is " + std::to_string(A.n_rows) +
                         " x " + std::to_string(A.n_cols) + "); use svd for the minimum-norm solution");
}

void solve_qr(const Mat& A, const Vec& b, DirectSolution& out) {
  require_tall(A, "qr");
  Mat Q, R;
  if (!arma::qr_econ(Q, R, A)) throw NumericalError("qr: the factorization failed");
  const Vec diagonal = arma::abs(R.diag());
  const real tolerance = std::numeric_limits<real>::epsilon() * static_cast<real>(A.n_rows) * diagonal.max();
  if (diagonal.min() <= tolerance)
    throw NumericalError("qr: A is numerically rank deficient (|R_ii| down to " + std::to_string(diagonal.min()) +
                         "); use svd for the minimum-norm solution");
  out.w = arma::solve(arma::trimatu(R), Q.t() * b);
  out.rank = A.n_cols;
}

void solve_cholesky(const Mat& A, const Vec& b, DirectSolution& out) {
  require_tall(A, "cholesky");
  const Mat gram = A.t() * A;
  Mat R;
  if (!arma::chol(R, gram))
    throw NumericalError("cholesky: A^T A is not numerically positive definite (cond(A)^2 beyond 1/epsilon); use svd or qr");
  const Vec half = arma::solve(arma::trimatl(R.t()), A.t() * b);
  out.w = arma::solve(arma::trimatu(R), half);
  out.rank = A.n_cols;
  if (!out.w.is_finite()) throw NumericalError("cholesky: the triangular solves overflowed (normal equations too ill-conditioned)");
}

// The stacked system whose least-squares solution minimizes (1/(2n)) sum c_i r_i^2 + (ridge/2) |w_f|^2.
void stack_system(const Mat& A, const Vec& y, const Vec& row_weights, real ridge_rows_scale, Index features, Mat& stacked,
                  Vec& rhs) {
  const Vec root = arma::sqrt(row_weights);
  Mat weighted = A.each_col() % root;
  Vec weighted_y = y % root;
  if (ridge_rows_scale == 0) {
    stacked = std::move(weighted);
    rhs = std::move(weighted_y);
    return;
  }
  Mat ridge_rows(features, A.n_cols, arma::fill::zeros);
  ridge_rows.diag().fill(ridge_rows_scale);
  stacked = arma::join_cols(weighted, ridge_rows);
  rhs = arma::join_cols(weighted_y, Vec(features, arma::fill::zeros));
}

// c_i = rho'(r_i) / r_i, the IRLS weights.
Vec irls_weights(const Vec& residuals, const LossSpec& spec) {
  const Vec magnitude = arma::abs(residuals);
  if (spec.kind == LossKind::huber) {
    Vec weights(residuals.n_elem, arma::fill::ones);
    const arma::uvec outside = arma::find(magnitude > spec.huber_delta);
    weights.elem(outside) = spec.huber_delta / magnitude.elem(outside);
    return weights;
  }
  // l1: |r| is floored so that exactly interpolated points do not get infinite weight.
  const real floor = std::max(1e-10 * magnitude.max(), std::numeric_limits<real>::min());
  return 1.0 / arma::clamp(magnitude, floor, std::numeric_limits<real>::max());
}

}  // namespace

std::string to_string(DirectMethod method) {
  switch (method) {
    case DirectMethod::svd: return "svd";
    case DirectMethod::qr: return "qr";
    case DirectMethod::cholesky: return "cholesky";
  }
  return "?";
}

DirectMethod parse_direct_method(const std::string& name) {
  if (name == "svd") return DirectMethod::svd;
  if (name == "qr") return DirectMethod::qr;
  if (name == "cholesky") return DirectMethod::cholesky;
  throw InputError("unknown direct method '" + name + "' (known: svd, qr, cholesky)");
}

DirectSolution solve_least_squares(const Mat& A, const Vec& b, DirectMethod method, real rcond) {
  if (A.is_empty()) throw InputError(to_string(method) + ": the matrix is empty");
  if (A.n_rows != b.n_elem) throw InputError(to_string(method) + ": A has " + std::to_string(A.n_rows) +
                                             " rows but b has " + std::to_string(b.n_elem) + " values");
  const auto start = Clock::now();
  DirectSolution out;
  out.method = method;
  switch (method) {
    case DirectMethod::svd: solve_svd(A, b, rcond, out); break;
    case DirectMethod::qr: solve_qr(A, b, out); break;
    case DirectMethod::cholesky: solve_cholesky(A, b, out); break;
  }
  const Vec residual = A * out.w - b;
  out.residual_norm = arma::norm(residual);
  out.normal_residual_norm = arma::norm(A.t() * residual);
  out.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  return out;
}

DirectSolution reference_solution(const Mat& X, const Vec& y, const LossSpec& spec, DirectMethod method) {
  const Mat A = design_matrix(X, spec.intercept);
  const real n = static_cast<real>(A.n_rows);
  const auto start = Clock::now();
  if (spec.kind == LossKind::l2) {
    // (1/n) |r|^2 + (ridge/2) |w_f|^2  ==  (1/n) ( |r|^2 + |sqrt(n ridge / 2) w_f|^2 ).
    Mat stacked;
    Vec rhs;
    stack_system(A, y, Vec(A.n_rows, arma::fill::ones), std::sqrt(n * spec.ridge / 2), X.n_cols, stacked, rhs);
    DirectSolution out = solve_least_squares(stacked, rhs, method);
    if (spec.ridge != 0) {  // report the residual of the data part
      const Vec residual = A * out.w - y;
      out.residual_norm = arma::norm(residual);
    }
    return out;
  }
  // IRLS: with c_i = rho'(r_i)/r_i, (1/n) sum rho(r_i) + ridge/2 |w_f|^2 is majorized by
  // (1/(2n)) sum c_i r_i^2 + ridge/2 |w_f|^2, i.e. the stacked least squares with ridge rows
  // sqrt(n ridge); each step decreases f (Holland & Welsch 1977).
  DirectSolution out = reference_solution(X, y, LossSpec{LossKind::l2, 1.0, spec.ridge, spec.intercept}, method);
  constexpr int max_steps = 200;
  constexpr real tolerance = 1e-12;
  for (int step = 1; step <= max_steps; ++step) {
    Mat stacked;
    Vec rhs;
    stack_system(A, y, irls_weights(A * out.w - y, spec), std::sqrt(n * spec.ridge), X.n_cols, stacked, rhs);
    const Vec previous = out.w;
    out = solve_least_squares(stacked, rhs, method);
    out.irls_iterations = step;
    if (arma::norm(out.w - previous) <= tolerance * std::max<real>(arma::norm(out.w), 1e-300)) break;
  }
  const Vec residual = A * out.w - y;
  out.residual_norm = arma::norm(residual);
  out.normal_residual_norm = arma::norm(A.t() * residual);
  out.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  return out;
}

}  // namespace kappa
