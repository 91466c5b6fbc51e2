// Linear conjugate gradients (Hestenes & Stiefel 1952) on the quadratic's optimality condition
// H w = b through Hessian-vector products: for l2 regression the normal equations (CGNR, H =
// (2/n) A^T A + ridge I_f; cgls and lsqr do the same with A and A^T products), for the
// kernel-system formulation K a = y directly. Converges in at most dim() steps in exact
// arithmetic, and in about sqrt(cond(H)) / 2 * log(2 / eps) steps to relative accuracy eps.
// docs/optimizers-krylov.md describes the method, its rules and measured figures.
//
// Cost: one Hessian-vector product (one data pass) per iteration. The residual r = b - H w =
// -grad f(w) is updated by the recurrence r_{k+1} = r_k - alpha_k H p_k, and beta is
// Fletcher-Reeves' |r_{k+1}|^2 / |r_k|^2 on it (standard CG). The recursive residual drifts from
// the true one by the rounding of the recurrences, so it is replaced by the true residual
// -grad f(w) (one loss_grad, one more pass) by the rule of van der Vorst & Ye (SIAM J. Sci.
// Comput. 22(3), 2000, Sec. 3, without their group update): with the bound of the deviation
//   d_k = d_{k-1} + eps (|H| |w_k| + |r_k|),  d = d_init = eps (|H| |w| + |r|) after a replacement
// (|H| estimated by the largest |H p| / |p| seen), the residual is replaced at iteration k when
//   d_{k-1} <= sqrt(eps) |r_{k-1}|,  d_k > sqrt(eps) |r_k|  and  d_k > 1.1 d_init,
// i.e. when the possible deviation crosses sqrt(eps) times the residual. It is also replaced
// when the recursive |r| meets the run's gradient rule (or is exactly 0), so that a stop
// converged-gradient is decided on the true gradient.
//
// Reports carry the true loss and gradient norm: at a replacement the evaluation is the
// replacement's; at the other iterations that must be reported (Monitor::report_due: trace
// points, budgets; every iteration when the run has a loss tolerance) one extra loss_grad.
// Other iterations are not reported. Data passes = iterations + replacements + other reports.
//
// reorthogonalize=full keeps the normalized residuals q_j = r_j / |r_j| (the Lanczos vectors of
// H: memory min(k, dim) * dim reals) and orthogonalizes every new residual, recursive or
// replaced, against all of them by classical Gram-Schmidt twice (2 k dim flops per pass); with
// orthogonal residuals the directions stay H-conjugate, so CG keeps its finite termination:
// once the basis spans R^dim there is no new direction; CG then restarts from the true
// residual with an empty basis (a step of iterative refinement), at most 3 times, after which
// the run finishes.
//
// Ends of the run besides the monitor's rules, all through monitor.finish with the true loss and
// gradient at the current w (so the framework judges converged-precision, or the run failed
// with the reason): p^T H p not finite (overflow) or not above the smallest normal double
// (breakdown: H singular along p, or the residual is rounding noise; in the least-squares form
// converged-precision when LSQR's backward-error test holds on the exact residual); the basis complete
// 3 times over (full); and the floor: three consecutive replacements that improve neither the best true
// loss nor the best true gradient norm so far. CG therefore never runs on past its floor into
// growth.
#include <kappa/parse.hpp>
#include <kappa/krylov.hpp>
#include <kappa/plugin.hpp>

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

namespace {

using namespace kappa;

constexpr real eps = std::numeric_limits<real>::epsilon();
constexpr real tiny = std::numeric_limits<real>::min();

void conjugate_gradients(const Params& params, const Problem& problem, Vec& w, Monitor& monitor) {
  if (!problem.is_quadratic()) {
    monitor.fail("needs a quadratic problem (loss l2); use lbfgs for l1 or huber");
    return;
  }
  const bool full = params.get_choice("reorthogonalize") == "full";
  const arma::uword dim = static_cast<arma::uword>(problem.dim());
  // Curvature below the numerical-rank cutoff (docs/conventions.md: singular values at or below
  // eps max(rows, cols) sigma_max count as zero) is rounding, not information: H = B^T B for the
  // least-squares form, so its cutoff is the square; H itself (the kernel system) eps dim. Past it,
  // a reorthogonalized CG would divide rounding noise by rounding noise along the numerical null
  // space (seen: |w| 1e12 |w*| on a rank-deficient polynomial design).
  const real singular_curvature =
      problem.has_least_squares_form()
          ? std::pow(eps * static_cast<real>(std::max<Index>(problem.least_squares_rows(), problem.dim())), 2)
          : eps * static_cast<real>(problem.dim());
  const RunControls& controls = monitor.controls();

  Vec gradient;
  real loss = problem.loss_grad(w, gradient);
  const real initial_loss = loss;
  const Vec w0 = w;
  real true_gradient = arma::norm(gradient);
  if (monitor.report(0, loss, true_gradient, w)) return;
  if (true_gradient == 0) {
    monitor.finish(0, loss, 0, w, "the gradient is exactly zero");
    return;
  }
  const real gradient_target = controls.grad_tol * std::max(true_gradient, tiny);
  const bool report_every_iteration = controls.loss_tol > 0;

  Vec residual = -gradient;
  real residual_sq = arma::dot(residual, residual);
  OrthonormalBasis basis;
  if (full) basis.append(residual / std::sqrt(residual_sq));
  Vec direction = residual;
  Vec curvature;

  real h_norm = 0;  // largest |H p| / |p| so far: a lower bound of |H|
  real deviation = eps * std::sqrt(residual_sq);
  real deviation_at_replacement = deviation;
  real best_loss = loss;
  real best_gradient = true_gradient;
  int stalled_replacements = 0;
  long replacements = 0;
  int restarts = 0;

  auto finish_here = [&](long iteration, const std::string& why) {
    loss = problem.loss_grad(w, gradient);
    true_gradient = arma::norm(gradient);
    monitor.finish(iteration, loss, true_gradient, w,
                   why + " (after " + std::to_string(replacements) + " residual replacements)");
  };

  for (long k = 1;; ++k) {
    problem.hess_vec(w, direction, curvature);
    const real direction_curvature = arma::dot(direction, curvature);
    if (!std::isfinite(direction_curvature)) {
      finish_here(k - 1, "iteration " + std::to_string(k) +
                             ": curvature is not finite (overflow) along the search direction");
      return;
    }
    h_norm = std::max(h_norm, arma::norm(curvature) / arma::norm(direction));
    const real direction_sq = arma::dot(direction, direction);
    if (!(direction_curvature > std::max(tiny, singular_curvature * h_norm * direction_sq))) {
      // A breakdown in the least-squares form (H = 2 B^T B, the gradient in range(B^T)) ends
      // where the residual left has no curvature the numerical rank counts. Whether w is then
      // as accurate as the arithmetic allows is LSQR's backward-error test on the exact
      // residual (|B| >= sqrt(|H| / 2) from h_norm, a lower bound: the test is conservative).
      if (problem.has_least_squares_form()) {
        loss = problem.loss_grad(w, gradient);
        true_gradient = arma::norm(gradient);
        const LeastSquaresBackwardError backward = least_squares_backward_error(
            problem, loss, true_gradient, std::sqrt(initial_loss), std::sqrt(h_norm / 2), arma::norm(w - w0));
        if (backward.holds()) {
          monitor.finish_at_precision(k - 1, loss, true_gradient, w,
                                      "iteration " + std::to_string(k) + ": breakdown, p^T H p / |p|^2 = " +
                                          format_number(direction_curvature / direction_sq) +
                                          " at the numerical-rank cutoff, with a backward error at rounding level: " +
                                          backward.text() + " (after " + std::to_string(replacements) +
                                          " residual replacements)");
          return;
        }
      }
      finish_here(k - 1, "iteration " + std::to_string(k) + ": breakdown, p^T H p / |p|^2 = " +
                             format_number(direction_curvature / direction_sq) + " <= " +
                             format_number(singular_curvature) + " |H| (H is numerically singular along p: "
                             "the numerical-rank cutoff; or the residual is at the rounding floor)");
      return;
    }
    const real alpha = residual_sq / direction_curvature;
    w += alpha * direction;
    residual -= alpha * curvature;
    if (full) basis.orthogonalize(residual);
    real next_sq = arma::dot(residual, residual);

    const real previous_deviation = deviation;
    deviation += eps * (h_norm * arma::norm(w) + std::sqrt(next_sq));
    const bool drifted = previous_deviation <= std::sqrt(eps) * std::sqrt(residual_sq) &&
                         deviation > std::sqrt(eps) * std::sqrt(next_sq) &&
                         deviation > 1.1 * deviation_at_replacement;
    const bool may_converge = next_sq == 0 || (controls.grad_tol > 0 && std::sqrt(next_sq) <= gradient_target);
    const bool replace = drifted || may_converge;
    if (replace || report_every_iteration || monitor.report_due(k)) {
      loss = problem.loss_grad(w, gradient);
      true_gradient = arma::norm(gradient);
      if (monitor.report(k, loss, true_gradient, w)) return;
      if (replace) {
        ++replacements;
        residual = -gradient;
        if (full) basis.orthogonalize(residual);
        next_sq = arma::dot(residual, residual);
        deviation = deviation_at_replacement = eps * (h_norm * arma::norm(w) + true_gradient);
        if (loss < best_loss || true_gradient < best_gradient) {
          stalled_replacements = 0;
        } else if (++stalled_replacements >= 3) {
          monitor.finish(k, loss, true_gradient, w,
                         "at the rounding floor: 3 consecutive residual replacements improved neither the "
                         "true loss nor the true gradient norm (best |grad f| = " +
                             format_number(best_gradient) + ", after " + std::to_string(replacements) +
                             " replacements)");
          return;
        }
        best_loss = std::min(best_loss, loss);
        best_gradient = std::min(best_gradient, true_gradient);
      }
    }
    if (next_sq == 0) {
      finish_here(k, "iteration " + std::to_string(k) + ": the residual vanished" +
                         std::string(full ? " after orthogonalization" : ""));
      return;
    }
    if (full) {
      if (basis.size() == dim) {
        // The basis spans R^dim: no new direction. Restart from the true residual with an empty
        // basis (a step of iterative refinement); the floor rule ends the restarts.
        if (++restarts > 3) {
          finish_here(k, "the Krylov basis spanned R^" + std::to_string(dim) + " " + std::to_string(restarts - 1) +
                             " times (reorthogonalize=full, restarted from the true residual)");
          return;
        }
        loss = problem.loss_grad(w, gradient);
        residual = -gradient;
        next_sq = arma::dot(residual, residual);
        basis.clear();
        direction.zeros();
        if (next_sq == 0) {
          finish_here(k, "the residual vanished");
          return;
        }
      }
      basis.append(residual / std::sqrt(next_sq));
    }
    direction = residual + (next_sq / residual_sq) * direction;
    residual_sq = next_sq;
  }
}

}  // namespace

KAPPA_PLUGIN(registrar) {
  registrar.add({"cg", "linear conjugate gradients on H w = b via Hessian-vector products (Hestenes & Stiefel 1952)",
                 {choice_param("reorthogonalize", "none",
                               "none: standard CG (memory 3 dim); full: orthogonalize each residual against all "
                               "previous ones, twice (memory min(k, dim) * dim reals)",
                               {"none", "full"})},
                 function_optimizer(conjugate_gradients), {MethodClass::conjugate_gradient}});
}
