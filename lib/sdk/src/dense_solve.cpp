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

// The minimum-norm solution through the explicit thin SVD A = U diag(sigma) V^T:
// w = V_r diag(1/sigma_r) U_r^T b, V_r the right singular vectors kept (a basis of range(A^T)).
void solve_svd_explicit(const Mat& A, const Vec& b, real rcond, DirectSolution& out, Mat* row_space) {
  Mat U, V;
  Vec sigma;
  if (!arma::svd_econ(U, sigma, V, A)) throw NumericalError("svd: the singular value decomposition did not converge");
  const NumericalRank numerical = numerical_rank(sigma, A.n_rows, A.n_cols, rcond);
  // svd_econ returns sigma descending: the kept values are the first `rank`.
  out.rank = numerical.rank;
  out.condition = numerical.nonzero_condition;  // the kappa of the minimum-norm solution's bound
  out.w = V.head_cols(out.rank) * ((U.head_cols(out.rank).t() * b) / sigma.head(out.rank));  // 0 when rank = 0
  if (row_space) *row_space = V.head_cols(out.rank);
  out.singular_values = std::move(sigma);
}

// LAPACK's dgelsd (NumPy's lstsq): the same minimum-norm solution under the same cutoff, from the
// bidiagonal form without forming U or V, in about half the time of the explicit SVD (600 x 600:
// 40 ms against 73 ms, docs/performance.md). Returns false, leaving `out` alone, when it cannot
// serve: the caller wants the row space of a rank-deficient A (V_r is needed, and only the
// explicit SVD has it; a wide A is that case before any work), or gelsd's rank (decided on its
// internally scaled bidiagonal) differs from numerical_rank's on the returned values, a singular
// value within rounding of the cutoff. A rank-deficient tall A with the row space wanted is thus
// factored twice; only the rank tells, and it comes from the factorization.
bool solve_svd_without_vectors(const Mat& A, const Vec& b, real rcond, DirectSolution& out, bool want_row_space) {
  if (want_row_space && A.n_rows < A.n_cols) return false;
  if (!A.is_finite() || !b.is_finite()) throw NumericalError("svd: the singular value decomposition did not converge");
  arma::blas_int rows = static_cast<arma::blas_int>(A.n_rows), cols = static_cast<arma::blas_int>(A.n_cols);
  arma::blas_int rhs_count = 1, leading_b = std::max(rows, cols), rank = 0, info = 0, work_size = -1;
  real cutoff = rcond < 0 ? default_rcond(A.n_rows, A.n_cols) : rcond;
  Mat factor = A;  // gelsd overwrites A, and b with the solution (leading_b rows, so a wide A fits)
  Vec solution(static_cast<Index>(leading_b), arma::fill::zeros);
  solution.head(A.n_rows) = b;
  Vec sigma(std::min(A.n_rows, A.n_cols));
  real work_query = 0;
  arma::blas_int iwork_query = 0;
  // arma::lapack is Armadillo's own binding of LAPACK (the one its solve() uses), so the symbol
  // resolves through the same wrapper library as every other factorization here.
  arma::lapack::gelsd(&rows, &cols, &rhs_count, factor.memptr(), &rows, solution.memptr(), &leading_b, sigma.memptr(),
                      &cutoff, &rank, &work_query, &work_size, &iwork_query, &info);
  if (info != 0) throw NumericalError("svd: the LAPACK workspace query of gelsd failed (info " + std::to_string(info) + ")");
  work_size = static_cast<arma::blas_int>(work_query);
  std::vector<real> work(static_cast<std::size_t>(std::max<arma::blas_int>(work_size, 1)));
  std::vector<arma::blas_int> iwork(static_cast<std::size_t>(std::max<arma::blas_int>(iwork_query, 1)));
  arma::lapack::gelsd(&rows, &cols, &rhs_count, factor.memptr(), &rows, solution.memptr(), &leading_b, sigma.memptr(),
                      &cutoff, &rank, work.data(), &work_size, iwork.data(), &info);
  if (info != 0) throw NumericalError("svd: the singular value decomposition did not converge");
  const NumericalRank numerical = numerical_rank(sigma, A.n_rows, A.n_cols, cutoff);
  if (static_cast<Index>(rank) != numerical.rank) return false;
  if (want_row_space && numerical.rank < A.n_cols) return false;
  out.rank = numerical.rank;
  out.condition = numerical.nonzero_condition;
  out.w = solution.head(A.n_cols);
  out.singular_values = std::move(sigma);
  return true;
}

// At full column rank the row space is all of R^d: the identity is its orthonormal basis (and costs
// no factorization).
void solve_svd(const Mat& A, const Vec& b, real rcond, DirectSolution& out, Mat* row_space) {
  if (solve_svd_without_vectors(A, b, rcond, out, row_space != nullptr)) {
    if (row_space) *row_space = arma::eye<Mat>(A.n_cols, A.n_cols);
    return;
  }
  solve_svd_explicit(A, b, rcond, out, row_space);
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
