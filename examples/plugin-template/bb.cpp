// The Barzilai-Borwein gradient method (Barzilai & Borwein 1988, "Two-point step size gradient
// methods", IMA J. Numer. Anal. 8, 141-148): gradient descent whose step is a scalar secant
// approximation of the inverse Hessian, built from the last two iterates:
//   s = w_k - w_{k-1},   y = g_k - g_{k-1}   (g = grad f)
//   bb1 (long step):   alpha_k = s^T s / s^T y   (least-squares fit of alpha^{-1} s to y)
//   bb2 (short step):  alpha_k = s^T y / y^T y   (least-squares fit of s to alpha y)
//   w_{k+1} = w_k - alpha_k g_k
// and a given first step alpha_0. On a strictly convex quadratic (l2 loss) it converges for any
// alpha_0 > 0 (Raydan 1993) R-linearly (Dai & Liao 2002), in practice far faster than gradient
// descent with a fixed step, although f(w_k) does not decrease monotonically. On l1 or huber
// there is no such guarantee without a non-monotone line search (Raydan 1997), left out here.
//
// Cost: one full gradient (one data pass) per iteration, plus the Lanczos steps of
// first_step=auto. Works in kappa::real (double) like the rest of kappa.
#include <kappa/plugin.hpp>

#include <cmath>
#include <string>

namespace {

using namespace kappa;

void barzilai_borwein(const Params& params, const Problem& problem, Vec& w, Monitor& monitor) {
  const bool long_step = params.get_choice("variant") == "bb1";
  real step = resolve_step_size(params, problem, "first_step");  // a number, or 1/L for "auto"

  Vec gradient;
  real loss = problem.loss_grad(w, gradient);
  Vec previous_gradient;
  Vec last_move;  // s = w_k - w_{k-1}
  // Iteration 0 is the starting point; the monitor applies the stopping rules at every report.
  for (long iteration = 0; !monitor.report(iteration, loss, arma::norm(gradient), w); ++iteration) {
    if (iteration > 0) {
      const Vec gradient_change = gradient - previous_gradient;  // y
      const real curvature = arma::dot(last_move, gradient_change);  // s^T y
      // s^T y > 0 on a strictly convex f; otherwise the secant step is undefined.
      if (!(curvature > 0)) {
        monitor.fail("after iteration " + std::to_string(iteration) +
                     ": s^T y <= 0, no Barzilai-Borwein step (f is not strictly convex along the last step)");
        return;
      }
      step = long_step ? arma::dot(last_move, last_move) / curvature
                       : curvature / arma::dot(gradient_change, gradient_change);
      if (!std::isfinite(step)) {
        monitor.fail("after iteration " + std::to_string(iteration) + ": the Barzilai-Borwein step overflows");
        return;
      }
    }
    last_move = -step * gradient;
    w += last_move;
    previous_gradient = gradient;
    loss = problem.loss_grad(w, gradient);
  }
}

ParamSchema barzilai_borwein_params() {
  ParamSpec first_step = real_param("first_step", "auto",
                                    "step of the first update, before two iterates exist; auto = 1/L, L = largest "
                                    "eigenvalue of the curvature bound (Lanczos)",
                                    0.0, true);
  first_step.keyword = "auto";  // the word accepted in place of a number
  return {first_step, choice_param("variant", "bb1", "bb1: step s's/s'y (long), bb2: step s'y/y'y (short)", {"bb1", "bb2"})};
}

}  // namespace

KAPPA_PLUGIN(registrar) {
  registrar.add({"bb", "Barzilai-Borwein two-point step size gradient method (Barzilai & Borwein 1988)",
                 barzilai_borwein_params(), function_optimizer(barzilai_borwein)});
}
