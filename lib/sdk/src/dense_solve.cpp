// Dense least-squares solves (kappa/dense_solve.hpp).
#include "kappa/dense_solve.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cmath>
#include <limits>
#include <vector>

#include "kappa/enum_names.hpp"
#include "kappa/error.hpp"
#include "kappa/parse.hpp"

namespace kappa {
namespace {

using Clock = std::chrono::steady_clock;

// The default rcond, eps * max(n, d) (NumPy's lstsq default): LAPACK's bare rcond = eps can count
// the rounding noise of an exactly rank-deficient matrix as rank.
real default_rcond(Index rows, Index cols) {
  return std::numeric_limits<real>::epsilon() * static_cast<real>(std::max(rows, cols));
}

void solve_svd(const Mat& A, const Vec& b, real rcond, DirectSolution& out, Mat* row_space) {
  Mat U, V;
  Vec sigma;
  if (!arma::svd_econ(U, sigma, V, A)) throw NumericalError("svd: the singular value decomposition did not converge");
  const NumericalRank numerical = numerical_rank(sigma, A.n_rows, A.n_cols, rcond);
  // svd_econ returns sigma descending: the kept values are the first `rank`.
  out.rank = numerical.rank;
  out.condition = numerical.nonzero_condition;  // the kappa of the minimum-norm solution's bound
  // w = V_r diag(1/sigma_r) U_r^T b: the minimum-norm least-squares solution (0 when rank = 0).
  out.w = V.head_cols(out.rank) * ((U.head_cols(out.rank).t() * b) / sigma.head(out.rank));
  if (row_space) *row_space = V.head_cols(out.rank);
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
    throw NumericalError("qr: A is numerically rank deficient (|R_ii| down to " + format_number(diagonal.min()) +
                         "); use svd for the minimum-norm solution");
  out.w = arma::solve(arma::trimatu(R), Q.t() * b);
  out.rank = A.n_cols;
  out.condition = 1 / arma::rcond(Mat(arma::trimatu(R)));
}

void solve_cholesky(const Mat& A, const Vec& b, DirectSolution& out) {
  require_tall(A, "cholesky");
  const Mat gram = A.t() * A;
  Mat R;
  // An exactly rank-deficient A (a zero or repeated column) lands in one of the two refusals
  // below, depending on the sign of the rounding in its zero pivot: both name it, since that,
  // not only conditioning, is the common cause in user data (tests/unit/test_robustness.cpp).
  if (!arma::chol(R, gram))
    throw NumericalError("cholesky: A^T A is not numerically positive definite: A is rank deficient or cond(A)^2 is beyond "
                         "1/epsilon; use svd (minimum-norm solution) or qr");
  // chol() succeeds on many numerically singular Gram matrices, and the residual of the
  // result looks fine while w is wrong (measured: 100% weight error at cond(A) = 1e10, 7.5% at
  // 3.6e8): the forward-error bound eps cond(A)^2 decides (solve_least_squares).
  out.condition = 1 / arma::rcond(Mat(arma::trimatu(R)));
  const Vec half = arma::solve(arma::trimatl(R.t()), A.t() * b);
  out.w = arma::solve(arma::trimatu(R), half);
  out.rank = A.n_cols;
  if (!out.w.is_finite()) throw NumericalError("cholesky: the triangular solves overflowed (normal equations too ill-conditioned)");
}

}  // namespace

constexpr EnumName<DirectMethod> kDirectMethodNames[] = {
    {DirectMethod::svd, "svd"}, {DirectMethod::qr, "qr"}, {DirectMethod::cholesky, "cholesky"}};

std::string to_string(DirectMethod method) { return enum_name(kDirectMethodNames, method); }
DirectMethod parse_direct_method(const std::string& name) { return parse_enum(kDirectMethodNames, name, "direct method"); }

real least_squares_error_bound(real condition, real residual_norm, real norm_A, real solution_norm) {
  const real scale = norm_A * solution_norm;
  return std::numeric_limits<real>::epsilon() * condition * (1 + (scale > 0 ? condition * residual_norm / scale : 0));
}

NumericalRank numerical_rank(const Vec& singular_values, Index rows, Index cols, real rcond) {
  NumericalRank out;
  out.rows = rows;
  out.cols = cols;
  if (singular_values.is_empty()) return out;
  out.sigma_max = singular_values.max();
  const real cutoff = (rcond < 0 ? default_rcond(rows, cols) : rcond) * out.sigma_max;
  const Vec kept = singular_values.elem(arma::find(singular_values > cutoff));
  out.rank = kept.n_elem;
  if (out.rank == 0) return out;
  out.sigma_r = kept.min();
  out.nonzero_condition = out.sigma_max / out.sigma_r;
  if (out.full_rank()) out.condition = out.nonzero_condition;
  return out;
}

std::string condition_text(const NumericalRank& rank) {
  if (rank.rank == 0) return "undefined (every singular value is 0)";
  if (rank.full_rank()) return format_number(rank.condition);
  return format_number(rank.condition) + " (rank " + std::to_string(rank.rank) + " of " + std::to_string(rank.cols) +
         "; nonzero spectrum sigma_1/sigma_r = " + format_number(rank.nonzero_condition) + ")";
}

DirectSolution solve_least_squares(const Mat& A, const Vec& b, DirectMethod method, real rcond) {
  return solve_least_squares(A, b, method, rcond, nullptr);
}

DirectSolution solve_least_squares(const Mat& A, const Vec& b, DirectMethod method, real rcond, Mat* row_space) {
  if (A.is_empty()) throw InputError(to_string(method) + ": the matrix is empty");
  if (A.n_rows != b.n_elem) throw InputError(to_string(method) + ": A has " + std::to_string(A.n_rows) +
                                             " rows but b has " + std::to_string(b.n_elem) + " values");
  const auto start = Clock::now();
  DirectSolution out;
  out.method = method;
  if (row_space) row_space->reset();
  switch (method) {
    case DirectMethod::svd: solve_svd(A, b, rcond, out, row_space); break;
    case DirectMethod::qr: solve_qr(A, b, out); break;
    case DirectMethod::cholesky: solve_cholesky(A, b, out); break;
  }
  const Vec residual = A * out.w - b;
  out.residual_norm = arma::norm(residual);
  out.normal_residual_norm = arma::norm(A.t() * residual);
  const real eps = std::numeric_limits<real>::epsilon();
  // |A|_2: sigma_max for svd; else the lower bound |A|_F / sqrt(d), which keeps the bound
  // conservative without a second factorization.
  const real norm_A = method == DirectMethod::svd && !out.singular_values.is_empty()
                          ? out.singular_values(0)
                          : arma::norm(A, "fro") / std::sqrt(static_cast<real>(A.n_cols));
  const real scale = norm_A * arma::norm(out.w);
  const real residual_ratio = scale > 0 ? out.residual_norm / scale : 0;
  const real kappa = out.condition;
  out.forward_error_bound = method == DirectMethod::cholesky
                                ? eps * kappa * kappa * (1 + residual_ratio)
                                : least_squares_error_bound(kappa, out.residual_norm, norm_A, arma::norm(out.w));
  if (method == DirectMethod::cholesky && !(out.forward_error_bound <= kForwardErrorTolerance))
    throw NumericalError("cholesky: forward-error bound eps cond(A)^2 = " + format_number(out.forward_error_bound) + " exceeds " +
                         format_number(kForwardErrorTolerance) + " (cond(A) ~ " + format_number(kappa) +
                         "): the normal equations square the condition number; use svd (minimum-norm solution) or qr");
  out.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  return out;
}

}  // namespace kappa
