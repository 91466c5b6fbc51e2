#pragma once
// The reference solution w* that every run is compared with (docs/conventions.md).

#include "kappa/dense_solve.hpp"
#include "core/problems/linear_model.hpp"

namespace kappa {

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
