#pragma once
// The claims of `kappa diagnose`'s verdict: each says what one method does on this problem
// within a stated budget, in a form `kappa solve` can check by running it (the verdict tests,
// tests/truth/verdict_test.py, run every claim diagnose prints on problems they generate and
// compare with numpy's w*). Nothing here runs an optimizer: the claims follow from the SVD of
// the operator the methods see.
//
// Conventions. The operator M and right-hand side b are those of the linear least-squares
// problem min |M x - b| the formulation poses: for the regression M = B, b = c, its
// least-squares form (problem.hpp: f(w) = |B w - c|^2, B = [A / sqrt(n); sqrt(ridge/2) E_f]);
// for the kernel system M = K + lambda I, b = y. x* = M^+ b is the minimum-norm solution, the
// reference every rel_w_err is measured against (docs/conventions.md).
//
// The accuracy rounding allows, the references' forward-error bound (least_squares_error_bound in
// kappa/dense_solve.hpp; Higham 2002, Thm. 20.1, first order): with kappa = sigma_1 / sigma_r
// over the kept singular values and r* = M x* - b,
//   F = eps kappa (1 + kappa |r*| / (|M| |x*|)).
// A backward-stable direct solve reaches about F; so does a Krylov method that keeps its basis
// orthogonal, because it only multiplies by M and M^T: the rounding of M^T (M x - b) along the
// i-th right singular vector is scaled by sigma_i, so the error it leaves in x along that vector
// is about eps |M| |x| / sigma_i, not eps |M|^2 |x| / sigma_i^2. The worst-case figure
// kappa_H eps_mach (normwise gradient error eps L |w|) overstates that limit by a factor kappa.

#include <string>
#include <vector>

#include "kappa/types.hpp"

namespace kappa {

enum class ClaimKind {
  reaches,   // the run's final rel_w_err is <= bound
  stalls,    // the run's final rel_w_err is >= bound (after all max_iterations iterations)
  diverges,  // the run ends with status diverged
};
std::string to_string(ClaimKind kind);  // "reaches" | "stalls" | "diverges"

struct Claim {
  ClaimKind kind = ClaimKind::reaches;
  std::string method;         // in words: "CG with full reorthogonalization"
  std::string solve_options;  // what `kappa solve DATA` needs besides the data, budget included
  long max_iterations = 0;
  double bound = 0;           // on rel_w_err = |w - x*| / |x*| (reaches: <=, stalls: >=); NaN for diverges
  std::string basis;          // why, with its numbers
};

// What the SVD of M says about min |M x - b|.
struct LeastSquaresSensitivity {
  Index rows = 0, cols = 0;
  Index rank = 0;                       // singular values above eps max(rows, cols) sigma_1
  Vec singular_values;                  // the kept ones, descending
  Vec coefficients;                     // V_r^T x*, x* along the kept right singular vectors
  real solution_norm = 0;               // |x*|
  real residual_norm = 0;               // |M x* - b|
  real condition = arma::datum::nan;    // sigma_1 / sigma_r
  real attainable_accuracy = arma::datum::nan;  // F above
};
LeastSquaresSensitivity least_squares_sensitivity(const Mat& M, const Vec& b);

// Relative error |x_N - x*| / |x*| of gradient descent on f = |M x - b|^2 from x_0 = 0 after N
// iterations with lr = step / L (L = 2 sigma_1^2), in exact arithmetic: x_N - x* =
// -sum_i (1 - step sigma_i^2 / sigma_1^2)^N c_i v_i, c = coefficients. Powers are taken as
// exp(N log1p(.)) so that factors 1 - 1e-17 are not rounded to 1.
real gradient_descent_error(const LeastSquaresSensitivity& s, real step, long iterations);

// The claims for the regression's least-squares form, with `loss_options` (e.g. "--ridge 0.1")
// the loss options a solve needs to pose the same problem and `budget` the iterations the
// fixed-step claims are about.
std::vector<Claim> regression_claims(const LeastSquaresSensitivity& s, const std::string& loss_options, long budget);
// The claims for the kernel system K a = y (CG with full reorthogonalization).
std::vector<Claim> kernel_system_claims(const LeastSquaresSensitivity& s, const std::string& loss_options);

// A claim's bound for a method that reaches x* to rounding: 10 F plus 100 eps (the margin
// covers the bound's omitted dimension constants; measured within F on every problem of the
// verdict tests).
real reach_bound(const LeastSquaresSensitivity& s);

}  // namespace kappa
