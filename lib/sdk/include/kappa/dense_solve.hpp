#pragma once
// Direct (non-iterative) least-squares solutions: the reference w* every iterative run is
// compared with. Always computed in double precision.
//
//   svd       minimum-norm solution through the SVD, singular values at or below
//             rcond * sigma_max treated as zero (rcond defaults to eps * max(n, d), NumPy's lstsq
//             default; numerical_rank below). Computed by LAPACK's gelsd (NumPy's lstsq), which
//             forms no singular vectors; the explicit thin SVD when the caller asks for the
//             row space of a rank-deficient (or wide) A, or when a singular value within
//             rounding of the cutoff makes gelsd's rank differ from numerical_rank's. Works for
//             any shape and rank; reports the
//             numerical rank. On full-rank data with cond(A) < 1 / (eps max(n, d)) it is the
//             solution scikit-learn's LinearRegression computes.
//   qr        Householder QR of A (Golub & Van Loan, Alg. 5.3.2): R w = Q^T b. Needs n >= d and
//             full column rank; refuses a numerically rank-deficient R.
//   cholesky  Cholesky of the normal equations A^T A w = A^T b. Its error grows like
//             eps cond(A)^2, and its residual does not show it, so it refuses when that bound
//             exceeds kForwardErrorTolerance (cond(A) beyond ~1e5), or A^T A is not positive
//             definite.
//
// Every solution carries a forward-error bound on |w - w_exact| / |w_exact| (Higham 2002,
// Thm. 20.1 and Sec. 20.4, first order, without the dimension constants):
//   svd, qr   eps kappa (1 + kappa |r| / (|A| |w|))   with kappa = cond(A) (svd: of the kept
//             singular values; qr: 1 / rcond(R)), r = A w - b
//   cholesky  eps kappa^2 (1 + |r| / (|A| |w|))       with kappa = 1 / rcond(R), R the Cholesky
//             factor. The computed R of an ill-conditioned A^T A has rcond about sqrt(eps) at
//             most, whatever cond(A) is (the Gram matrix lost the small singular values), so
//             beyond cond(A) ~ 1/sqrt(eps) the estimate saturates near 7e7 and the bound is ~1:
//             the refusal cannot be escaped by an underestimated condition number.
// svd and qr are backward stable: their bound is the least-squares problem's own sensitivity,
// which no method avoids; they return it with the solution for the caller to report (kappa solve
// prints it on the reference line and marks a reference "uncertain" above
// kForwardErrorTolerance). Cholesky adds a factor cond(A) of its own: a bound above
// kForwardErrorTolerance makes it refuse (NumericalError naming the bound).

#include <algorithm>
#include <string>

#include "kappa/types.hpp"

namespace kappa {

enum class DirectMethod { svd, qr, cholesky };

std::string to_string(DirectMethod method);
DirectMethod parse_direct_method(const std::string& name);  // InputError when unknown

struct DirectSolution {
  Vec w;
  DirectMethod method = DirectMethod::svd;
  Index rank = 0;                   // numerical rank (svd), else the number of columns
  real residual_norm = 0;           // |A w - b|
  real normal_residual_norm = 0;    // |A^T (A w - b)|: zero at the exact least-squares solution
  Vec singular_values;              // svd only, descending
  long irls_iterations = 0;         // reference_solution for l1/huber only
  std::string note;                 // how an l1/huber reference ended, when worth saying
  double seconds = 0;
  real condition = arma::datum::nan;            // the kappa of the bound below
  real forward_error_bound = arma::datum::nan;  // relative, see above
};

// The numerical rank and condition numbers of an m x n matrix A from its singular values (any
// order): the one definition behind every rank and condition number kappa reports (the svd
// reference, kappa solve's reference line, kappa diagnose, a study's condition_number).
//   rank               the singular values above the cutoff rcond * sigma_max, with rcond =
//                      eps * max(m, n) by default (NumPy's lstsq and matrix_rank): it absorbs the
//                      rounding error of the SVD itself, about eps * max(m, n) * sigma_max, so an
//                      exactly dependent column counts as rank lost, not as a tiny singular value;
//   condition          cond(A) = sigma_max / sigma_min over the min(m, n) singular values,
//                      infinite when rank < min(m, n): a singular value below the cutoff is
//                      rounding noise (its ratio, 1e15 or 1e17, depends on the SVD algorithm), so
//                      the only honest ratio is inf;
//   nonzero_condition  sigma_max / sigma_r, sigma_r the smallest kept value: the condition of the
//                      nonzero spectrum, which governs the minimum-norm solution (the svd
//                      forward-error bound below) and progress within range(A^T).
struct NumericalRank {
  Index rank = 0;
  Index rows = 0;
  Index cols = 0;
  real sigma_max = 0;                         // 0 for a zero (or empty) matrix
  real sigma_r = arma::datum::nan;            // the smallest kept singular value; NaN when rank = 0
  real condition = arma::datum::inf;
  real nonzero_condition = arma::datum::nan;  // NaN when rank = 0

  bool full_rank() const { return rank == std::min(rows, cols); }
};

NumericalRank numerical_rank(const Vec& singular_values, Index rows, Index cols, real rcond = -1);

// The condition number as kappa prints it, the same text wherever it appears: "4.0391e+08" (%g);
// rank-deficient "inf (rank 65 of 66; nonzero spectrum sigma_1/sigma_r = 1.3e+07)"; a zero
// matrix "undefined (every singular value is 0)".
std::string condition_text(const NumericalRank& rank);

// The first-order forward-error bound of a backward-stable least-squares solve (Higham 2002,
// Thm. 20.1), relative: eps kappa (1 + kappa |r| / (|A| |w|)), kappa the condition number over
// the kept singular values, r = A w - b. What svd and qr report, and what kappa diagnose calls the
// accuracy rounding allows (core/theory/claims.hpp).
real least_squares_error_bound(real condition, real residual_norm, real norm_A, real solution_norm);

// The largest forward-error bound of a trusted reference: one that may be wrong in its 6th digit
// would make every rel_w_err below 1e-6 meaningless.
constexpr real kForwardErrorTolerance = 1e-6;

// Least squares min |A w - b|. Throws NumericalError naming the method and the reason when the
// method cannot deliver (rank deficient for qr; not positive definite, or a forward-error bound
// above kForwardErrorTolerance, for cholesky).
DirectSolution solve_least_squares(const Mat& A, const Vec& b, DirectMethod method, real rcond = -1);

// The same; with svd, also sets *row_space to the right singular vectors of the kept singular
// values (cols x rank, orthonormal): a basis of range(A^T), in which the minimum-norm solution
// lies; at full column rank that is all of R^cols and the basis is the identity. Its orthogonal
// complement is the numerical null space of A, along which all least-squares solutions differ.
// qr and cholesky compute no such basis: *row_space is left empty (0 x 0).
DirectSolution solve_least_squares(const Mat& A, const Vec& b, DirectMethod method, real rcond, Mat* row_space);

}  // namespace kappa
