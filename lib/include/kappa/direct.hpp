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

#include "kappa/problem.hpp"

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

// The exact minimizer of the LinearModelProblem built from (X, y, spec):
//   l2 (with ridge) without intercept: least squares of the stacked system
//   [X; sqrt(n ridge / 2) I] w = [y; 0], which has the same minimizer as f and keeps the
//   method's numerical properties;
//   l2 (with ridge) with intercept: as scikit-learn's fit_intercept, the feature weights w_f
//   solve the centred stacked system [X_c; sqrt(n ridge / 2) I] w_f = [y_c; 0] with `method`
//   (X_c = X minus its column means, y_c = y minus its mean), and the intercept is
//   b = mean(y) - mean(X) w_f. This is exact, since the intercept is unpenalized, and unlike a
//   solve with [X 1] it does not lose a rank to columns with large offsets. The singular values
//   and the numerical rank are those of the centred system (rank + 1 for the intercept); on
//   rank-deficient data (no ridge) w_f is the minimum-norm solution of the centred system.
//   l1, huber: iteratively reweighted least squares (Holland & Welsch 1977), started from the
//   l2 solution above (same ridge and intercept): with weights
//   c_i = rho'(r_i) / r_i, each step solves the weighted system [sqrt(c) A; sqrt(n ridge) I_f] w
//   = [sqrt(c) y; 0] with `method`, until the relative change of w is below 1e-12 (at most 200
//   steps; l1 floors |r| at 1e-10 max|r|). For l1 the IRLS result is then made exact through the
//   optimality (KKT) conditions of the non-smooth problem, when they certify it; `note` says
//   whether that happened, or that IRLS did not converge.
DirectSolution reference_solution(const Mat& X, const Vec& y, const LossSpec& spec,
                                  DirectMethod method = DirectMethod::svd);

}  // namespace kappa
