// CGLS: conjugate gradients on the normal equations B^T B w = B^T c in the residual form that
// works with products by B and B^T only and never forms B^T B (Hestenes & Stiefel 1952; Bjorck,
// Numerical Methods for Least Squares Problems, SIAM 1996, Alg. 7.4.1), for an l2 problem
// f(w) = |B w - c|^2 (problem.hpp, least-squares form):
//   r_0 = c - B w_0, s_0 = p_0 = B^T r_0, gamma_0 = |s_0|^2; for k = 0, 1, ...
//   q = B p_k, alpha = gamma_k / |q|^2, w += alpha p_k, r -= alpha q, s = B^T r,
//   gamma_{k+1} = |s|^2, p_{k+1} = s + (gamma_{k+1} / gamma_k) p_k.
// One product by B and one by B^T per iteration: one data pass. grad f = -2 B^T r. In exact
// arithmetic the iterates are those of CG on the normal equations (the `cg` plugin): the k-th
// minimizes |B w - c| over w_0 + K_k(B^T B, B^T r_0); to relative accuracy eps in the B^T B-norm
// of the error it needs at most (cond(B) / 2) ln(2 / eps) iterations.
//
// Reported values are exact, not recurrences. The recurred r drifts from c - B w by rounding,
// and |B^T r| then keeps falling below what the arithmetic can attain, which would read as
// convergence. So the plugin reports only at iterations the monitor needs (Monitor::report_due:
// trace points and budgets), at iterations where the recurred gradient 2 |s| already meets the
// run's gradient rule, at every iteration when the run has a loss tolerance (that rule compares
// consecutive iterations), and when its own test fires; there it recomputes r = c - B w and
// s = B^T r (one more data pass) and continues from them (residual replacement, van der Vorst &
// Ye, SIAM J. Sci. Comput. 22(3), 2000), so every reported loss |r|^2 and gradient norm 2 |s| is
// that of the reported w. Data passes = iterations + reports.
//
// Own test (Bjorck's): |B^T r_k| <= tol |B^T r_0|, checked on the exact values; from w_0 = 0 it is
// the run's gradient rule with grad_tol = tol. tol = 0 (default) leaves the stopping to the run's
// rules. When it fires first the run ends through monitor.finish: converged-gradient if the
// run's rule holds too, otherwise failed with the test named.
#include <kappa/parse.hpp>
#include <kappa/krylov.hpp>
#include <kappa/plugin.hpp>

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

namespace {

using namespace kappa;

void cgls(const Params& params, const Problem& problem, Vec& w, Monitor& monitor) {
  if (!has_least_squares_form_or_fail(problem, monitor)) return;
  const real tol = params.get_real("tol");
  const Vec c = problem.least_squares_rhs();
  Vec r, s, q;
  least_squares_residuals(problem, c, w, r, s);
  real gamma = arma::dot(s, s);
  const real initial_s_norm = std::sqrt(gamma);
  if (monitor.report(0, arma::dot(r, r), 2 * initial_s_norm, w)) return;

  // The run's gradient rule (monitor.hpp), to decide when the recurred gradient must be verified.
  const RunControls& controls = monitor.controls();
  const real gradient_target = controls.grad_tol * std::max(2 * initial_s_norm, std::numeric_limits<real>::min());
  const bool report_every_iteration = controls.loss_tol > 0;

  Vec p = s;
  for (long k = 1;; ++k) {
    problem.least_squares_apply(p, q);
    const real q_sq = arma::dot(q, q);
    if (!std::isfinite(q_sq)) {
      monitor.fail("iteration " + std::to_string(k) + ": |B p|^2 is not finite (overflow) along the search direction");
      return;
    }
    if (!(q_sq > 0)) {
      // p != 0 lies in range(B^T), so B p = 0 is impossible in exact arithmetic.
      monitor.fail("iteration " + std::to_string(k) + ": B p = 0 for a nonzero search direction (rounding)");
      return;
    }
    const real alpha = gamma / q_sq;
    w += alpha * p;
    r -= alpha * q;
    problem.least_squares_apply_transpose(r, s);
    real next_gamma = arma::dot(s, s);

    const real recurred_gradient = 2 * std::sqrt(next_gamma);
    const bool may_converge = recurred_gradient == 0 || (controls.grad_tol > 0 && recurred_gradient <= gradient_target);
    const bool own_test_may_fire = tol > 0 && std::sqrt(next_gamma) <= tol * initial_s_norm;
    if (report_every_iteration || may_converge || own_test_may_fire || monitor.report_due(k) ||
        !std::isfinite(next_gamma)) {
      least_squares_residuals(problem, c, w, r, s);  // residual replacement
      next_gamma = arma::dot(s, s);
      const real loss = arma::dot(r, r);
      const real s_norm = std::sqrt(next_gamma);
      if (tol > 0 && s_norm <= tol * initial_s_norm) {
        monitor.finish(k, loss, 2 * s_norm, w,
                       "CGLS test |B^T r| <= tol |B^T r_0| (tol = " + format_number(tol) +
                           ") met before any stopping rule of the run: |grad f| = " +
                           format_number(s_norm / initial_s_norm) + " |grad f(w_0)|");
        return;
      }
      if (monitor.report(k, loss, 2 * s_norm, w)) return;
    }
    p = s + (next_gamma / gamma) * p;
    gamma = next_gamma;
  }
}

}  // namespace

KAPPA_PLUGIN(registrar) {
  registrar.add({"cgls",
                 "CGLS, conjugate gradients on the normal equations with products by B and B^T only (Bjorck 1996, "
                 "Alg. 7.4.1)",
                 {real_param("tol", "0",
                             "own stopping test |B^T r| <= tol |B^T r_0| (on exact residuals); 0 = off, the run's "
                             "--grad-tol decides",
                             0.0, false, 1.0)},
                 function_optimizer(cgls), {MethodClass::conjugate_gradient}});
}
