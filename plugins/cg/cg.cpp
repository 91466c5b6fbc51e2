// Linear conjugate gradients (Hestenes & Stiefel 1952) on the quadratic's optimality condition
// H w = b through Hessian-vector products: for l2 regression the normal equations (CGNR, H =
// (2/n) A^T A + ridge I_f; cgls and lsqr do the same with A and A^T products), for the
// kernel-system formulation K a = y directly.
// Converges in at most dim() steps in exact arithmetic, and in about
// sqrt(cond(H)) / 2 * log(2 / eps) steps to relative accuracy eps.
// Each iteration costs one Hessian-vector product and one gradient evaluation: the gradient is
// recomputed from the data rather than updated by recurrence, so that the reported gradient
// norm (and hence the convergence status) is the true one, not a recurrence that keeps falling
// below what the arithmetic can attain. With true residuals, beta is taken in the
// Polak-Ribiere form max(0, r_{k+1}^T (r_{k+1} - r_k)) / |r_k|^2 ("flexible CG", Golub & Ye
// 1999; Notay 2000): equal to Fletcher-Reeves' |r_{k+1}|^2 / |r_k|^2 in exact arithmetic, but
// it restarts by itself once the residual stagnates at the rounding floor, where the
// Fletcher-Reeves recurrence lost conjugacy and drifted (seen after ~30000 iterations on the
// seed's kernel system).
#include <kappa/plugin.hpp>

#include <algorithm>
#include <cmath>
#include <string>

namespace {

using namespace kappa;

void conjugate_gradients(const Params&, const Problem& problem, Vec& w, Monitor& monitor) {
  if (!problem.is_quadratic()) {
    monitor.fail("needs a quadratic problem (loss l2); use lbfgs for l1 or huber");
    return;
  }
  Vec gradient;
  real loss = problem.loss_grad(w, gradient);
  Vec residual = -gradient;
  Vec direction = residual;
  Vec curvature;
  real residual_sq = arma::dot(residual, residual);
  for (long iteration = 0; !monitor.report(iteration, loss, std::sqrt(residual_sq), w); ++iteration) {
    if (residual_sq == 0) {
      // w is the exact minimizer: there is no direction to search (d = 0, d^T H d = 0). The
      // monitor counts a zero gradient as converged whatever grad_tol.
      monitor.finish(iteration, loss, 0, w, "the gradient is exactly zero");
      return;
    }
    problem.hess_vec(w, direction, curvature);
    const real direction_curvature = arma::dot(direction, curvature);
    if (!std::isfinite(direction_curvature)) {
      monitor.fail("iteration " + std::to_string(iteration + 1) +
                   ": curvature is not finite (overflow) along the search direction");
      return;
    }
    if (!(direction_curvature > 0)) {
      monitor.fail("non-positive curvature along the search direction (Hessian not positive definite)");
      return;
    }
    w += (residual_sq / direction_curvature) * direction;
    loss = problem.loss_grad(w, gradient);
    const Vec next_residual = -gradient;
    const real next_residual_sq = arma::dot(next_residual, next_residual);
    const real beta = std::max<real>(0, arma::dot(next_residual, next_residual - residual)) / residual_sq;
    residual = next_residual;
    direction = residual + beta * direction;
    residual_sq = next_residual_sq;
  }
}

}  // namespace

KAPPA_PLUGIN(registrar) {
  registrar.add({"cg", "linear conjugate gradients on H w = b via Hessian-vector products (Hestenes & Stiefel 1952)", {},
                 function_optimizer(conjugate_gradients), {MethodClass::conjugate_gradient}});
}
