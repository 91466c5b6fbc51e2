#pragma once
// The reference solution w* that every run is compared with (docs/conventions.md).

#include <optional>

#include "kappa/dense_solve.hpp"
#include "core/problems/linear_model.hpp"

namespace kappa {

// P, the orthogonal projection onto range(A^T), the row space of the problem's design A (the
// system the reference solved: with ridge the stacked [A; sqrt(n ridge / 2) I_f], which has full
// column rank; with an intercept A = [X 1]). Two weight vectors with the same predictions A w
// differ by a vector of the null space of A, which P removes: rel_w_err_range = |P (w - w*)| /
// |w*| is the error that the data can see (docs/conventions.md). It is kept as the smaller of two
// orthonormal bases: N of null(A), P v = v - N (N^T v) (nothing at all for a full column rank A),
// or V_r of range(A^T), P v = V_r (V_r^T v) (when the null space is the larger one, n << d).
class RowSpaceProjection {
 public:
  RowSpaceProjection() = default;  // not known (qr, cholesky, the kernel system): apply() is NaN
  // From an orthonormal basis (dim x rank) of range(A^T).
  RowSpaceProjection(Index dim, const Mat& row_space_basis);
  static RowSpaceProjection full();  // A of full column rank: P = I

  bool known() const { return known_; }
  Index null_dimension() const { return null_dimension_; }  // d - rank(A); 0 when not known
  Vec apply(const Vec& v) const;                            // P v; every entry NaN when not known

 private:
  bool known_ = false;
  bool basis_is_null_space_ = true;
  Index null_dimension_ = 0;
  Mat basis_;
};

// What the svd reference knows of the system it solved besides w*. (DirectSolution cannot carry
// it: its layout is part of the plugin ABI, kappa/plugin.hpp.)
struct ReferenceDesign {
  // numerical_rank (kappa/dense_solve.hpp) of the least-squares system the reference solved,
  // rows x cols as solved: l2 [X; sqrt(n ridge / 2) I] (with an intercept the centred system of
  // the feature weights, X_c), l1 and huber the last IRLS system, the kernel system K + lambda I.
  // Absent when the method computes no singular values (qr, cholesky).
  std::optional<NumericalRank> rank;
  RowSpaceProjection row_space;  // known for the svd reference of the regression
};

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
// With `design`, also fills it in (above).
DirectSolution reference_solution(const Mat& X, const Vec& y, const LossSpec& spec,
                                  DirectMethod method = DirectMethod::svd, ReferenceDesign* design = nullptr);

// The ReferenceDesign of a solve of `system_rows` x `system_cols` that gave `solution`, with
// `row_space` the kept right singular vectors the svd returned (solve_least_squares) and `rcond`
// the one it was given. With `feature_means` (an intercept) the solved system is the centred one
// of the feature weights, and range([X 1]^T) is spanned by (v, 0), v in its row space, and
// (feature_means^T, 1) (reference_solution above). For a method without singular values, the
// empty ReferenceDesign.
ReferenceDesign solved_reference_design(const DirectSolution& solution, Index system_rows, Index system_cols,
                                        const Mat& row_space, const arma::rowvec* feature_means, real rcond = -1);

}  // namespace kappa
