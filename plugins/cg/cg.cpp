// Conjugate gradients on the normal equations (CGNR / CGLS: Hestenes & Stiefel 1952; Bjorck,
// Numerical Methods for Least Squares Problems, 1996, Sec. 7.4) for quadratic problems,
// i.e. l2 loss with optional ridge: H w = b with H = (2/n) A^T A + ridge I_f.
// Converges in at most dim() steps in exact arithmetic, and in about
// sqrt(cond(H)) / 2 * log(2 / eps) steps to relative accuracy eps.
// Each iteration costs one Hessian-vector product and one gradient evaluation: the gradient is
// recomputed from the data rather than updated by recurrence, so that the reported gradient
// norm (and hence the convergence status) is the true one, not a recurrence that keeps falling
// below what the arithmetic can attain.
#include <kappa/plugin.hpp>

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
    residual = -gradient;
    const real next_residual_sq = arma::dot(residual, residual);
    direction = residual + (next_residual_sq / residual_sq) * direction;
    residual_sq = next_residual_sq;
  }
}

}  // namespace

KAPPA_PLUGIN(registrar) {
  registrar.add({"cg", "conjugate gradients on the normal equations, CGLS (Hestenes & Stiefel 1952)", {},
                 function_optimizer(conjugate_gradients)});
}
