// The rounding error of each problem's computed gradient (Problem::compute_gradient_rounding),
// which decides the status converged-precision. One model for all of them (Higham & Mary,
// "A new approach to probabilistic rounding error analysis", SIAM J. Sci. Comput. 41(5), 2019):
// the rounding errors of a computed sum of k terms behave like independent random variables of
// size u |term|, u the unit roundoff of the arithmetic (2^-53 for double, 2^-24 where a float32
// problem computes in float), so they grow like sqrt(k), in quadrature. The estimates are the
// expected magnitudes, component by component, not worst-case bounds: those grow like k u and
// would call runs converged that still make progress.
#include <cmath>
#include <limits>

#include "core/experiment/framework_access.hpp"
#include "core/preconditioners/preconditioner.hpp"
#include "core/problems/kernel_system.hpp"
#include "core/problems/linear_model.hpp"

namespace kappa {
namespace {

template <class eT>
constexpr real unit_roundoff() {
  return static_cast<real>(std::numeric_limits<eT>::epsilon()) / 2;
}

}  // namespace

// grad f = (1/n) sum_i rho'(r_i) a_i + ridge w_f with r_i = a_i^T w - y_i. The rounding errors
// of the terms have random signs, so they add like a random walk (in quadrature), not in
// magnitude (Higham & Mary's sqrt(k) u sum |t| is a bound, measured 100-1000 times above the
// error of these sums, tests/unit/test_problem.cpp):
//   |d r_i|    ~ sqrt(d + 2) u |(a_i o w, y_i)|_2                 (the residual's dot product)
//   |d rho'_i| <= rho''(r_i) |d r_i|                              (2 for l2; huber 1, 0 beyond delta)
//   |d g_j|    ~ (1/n) sqrt(sum_i a_ij^2 (|d rho'_i|^2 + n u^2 rho'_i^2))   (the sum over samples)
// The ridge term's own rounding (u ridge |w_j|) is added; l1 has no estimate (sign(r) does not
// vary smoothly with the rounding of r).
bool LinearModelProblem::compute_gradient_rounding(const Vec& w, Vec& estimate) const {
  if (spec_.kind == LossKind::l1) return false;
  const real slope = spec_.kind == LossKind::l2 ? 2.0 : 1.0;  // rho'' where it is not 0
  const Index n = num_samples();
  estimate.zeros(dim_);
  with_storage([&](const auto& S, const auto& y) {
    using eT = typename std::decay_t<decltype(S)>::elem_type;
    const real u = unit_roundoff<eT>();
    const real residual_scale = slope * std::sqrt(static_cast<real>(num_features_ + 2)) * u;
    const real sum_scale = std::sqrt(static_cast<real>(n)) * u;
    const real intercept = spec_.intercept ? w(num_features_) : 0;
    const real* weights = w.memptr();
    real* sums = estimate.memptr();
    const Index features = num_features_;
    for (Index i = 0; i < n; ++i) {
      const eT* a = S.colptr(i);
      const real target = static_cast<real>(y[i]);
      // Four partial sums of each: independent chains the compiler can vectorize (a single
      // chain waits an add latency per feature).
      real squares_of[4] = {0, 0, 0, 0};
      real residual_of[4] = {0, 0, 0, 0};
      Index j = 0;
      for (; j + 4 <= features; j += 4)
        for (Index lane = 0; lane < 4; ++lane) {
          const real product = static_cast<real>(a[j + lane]) * weights[j + lane];
          squares_of[lane] += product * product;
          residual_of[lane] += product;
        }
      for (; j < features; ++j) {
        const real product = static_cast<real>(a[j]) * weights[j];
        squares_of[0] += product * product;
        residual_of[0] += product;
      }
      const real squares = target * target + intercept * intercept + (squares_of[0] + squares_of[1]) + (squares_of[2] + squares_of[3]);
      const real residual = intercept - target + (residual_of[0] + residual_of[1]) + (residual_of[2] + residual_of[3]);
      const real derivative = spec_.kind == LossKind::l2 ? 2 * residual
                                                          : std::max(-spec_.huber_delta, std::min(spec_.huber_delta, residual));
      // Huber's derivative is flat beyond delta: the residual's rounding does not reach it there.
      const bool flat = spec_.kind == LossKind::huber && std::fabs(residual) > spec_.huber_delta;
      const real derivative_error = flat ? 0 : residual_scale * std::sqrt(squares);
      const real term = derivative_error * derivative_error + sum_scale * sum_scale * derivative * derivative;
      for (Index f = 0; f < features; ++f) sums[f] += static_cast<real>(a[f]) * static_cast<real>(a[f]) * term;
      if (spec_.intercept) sums[features] += term;
    }
  });
  estimate = arma::sqrt(estimate) / static_cast<real>(n);
  if (spec_.ridge > 0)
    estimate.head(num_features_) += unit_roundoff<real>() * spec_.ridge * arma::abs(w.head(num_features_));
  return true;
}

// grad f = (K + lambda I) alpha - y, each component a sum of n + 2 terms:
// |d grad_i| ~ sqrt(n + 2) u |(K_i o alpha, lambda alpha_i, y_i)|_2.
bool KernelSystemProblem::compute_gradient_rounding(const Vec& alpha, Vec& estimate) const {
  const Index n = dim();
  const Vec squares = arma::square(alpha);
  estimate = arma::square(targets_) + lambda_ * lambda_ * squares;
  for (Index j = 0; j < n; ++j) estimate += arma::square(kernel_.col(j)) * squares(j);  // K symmetric
  estimate = arma::sqrt(estimate) * (std::sqrt(static_cast<real>(n + 2)) * unit_roundoff<real>());
  return true;
}

// g(z) = c P^T grad f(P z). Materialized: the estimate of the problem on A P at z (the ridge
// term, evaluated through P, is of the same order as the base's and is not added). Wrapped (a
// diagonal P): c |P^T e| with e the base's estimate at P z, i.e. the magnitudes scaled by |P|.
bool PreconditionedProblem::compute_gradient_rounding(const Vec& z, Vec& estimate) const {
  const bool known = transformed_ ? detail::FrameworkAccess::gradient_rounding(*transformed_, z, estimate)
                                  : detail::FrameworkAccess::gradient_rounding(base_, preconditioner_.to_original(z), estimate);
  if (!known) return false;
  if (!transformed_) estimate = arma::abs(preconditioner_.gradient_to_solver(estimate));
  estimate *= std::fabs(objective_scale_);
  return true;
}

}  // namespace kappa
