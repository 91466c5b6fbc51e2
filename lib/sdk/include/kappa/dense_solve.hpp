#pragma once
// Direct (non-iterative) least-squares solutions: the reference w* every iterative run is
// compared with. Always computed in double precision.
//
//   svd       minimum-norm solution through the thin SVD, singular values below
//             rcond * sigma_max treated as zero (the rule of LAPACK's gelsd; rcond defaults to
//             eps * max(n, d), NumPy's lstsq default). Works for any shape and rank; reports
//             the numerical rank. On full-rank data with cond(A) < 1 / (eps max(n, d)) it is the
//             solution scikit-learn's LinearRegression computes.
//   qr        Householder QR of A (Golub & Van Loan, Alg. 5.3.2): R w = Q^T b. Needs n >= d and
//             full column rank; refuses a numerically rank-deficient R.
//   cholesky  Cholesky of the normal equations A^T A w = A^T b. Its error grows like
//             eps cond(A)^2, and its residual does not show it, so it refuses once
//             rcond(R) < sqrt(eps) (cond(A) beyond ~7e7) or A^T A is not positive definite.

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
};

// Least squares min |A w - b|. Throws NumericalError naming the method and the reason when the
// method cannot deliver (rank deficient for qr, not positive definite for cholesky).
DirectSolution solve_least_squares(const Mat& A, const Vec& b, DirectMethod method, real rcond = -1);

}  // namespace kappa
