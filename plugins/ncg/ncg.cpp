// Nonlinear conjugate gradients (Nocedal & Wright, Numerical Optimization, 2nd ed. 2006,
// Sec. 5.2, Alg. 5.4): d_0 = -g_0, w_{k+1} = w_k + t_k d_k with t_k from the strong Wolfe line
// search (kappa/line_search.hpp, N&W Alg. 3.5/3.6), d_{k+1} = -g_{k+1} + beta_{k+1} d_k with
//   fletcher-reeves      beta = |g_{k+1}|^2 / |g_k|^2                       (N&W eq. 5.41a)
//   polak-ribiere-plus   beta = max(0, g_{k+1}^T (g_{k+1} - g_k) / |g_k|^2)  (N&W eq. 5.45)
// Restarts (d = -g): every `restart` iterations (default: every d iterations, N&W p. 124), and
// whenever d is not a descent direction (g.d >= 0), which PR+ does not exclude and FR excludes
// only for c2 < 1/2 (N&W Lemma 5.6). If the search along a conjugate direction fails, the step
// is retried once along -g; if that fails too, the run fails with the search's reason.
//
// First trial step: along the first steepest-descent direction min(1, 1/|g|_1) (as lbfgs and
// PyTorch), afterwards t_{k-1} g_{k-1}.d_{k-1} / g_k.d_k (N&W eq. 3.60), which assumes the same
// first-order change as in the previous step. c2 = 0.1 (N&W p. 125: CG needs a more accurate
// search than quasi-Newton methods). One data pass per line-search trial.
//
// On a strictly convex quadratic with exact line searches, FR and PR coincide with linear CG
// (N&W p. 122) and end in at most d steps; the inexact searches here (|t - t*| <= c2 t* on a
// quadratic) lose that, and more iterations are needed.
#include <kappa/error.hpp>
#include <kappa/line_search.hpp>
#include <kappa/parse.hpp>
#include <kappa/plugin.hpp>

#include <algorithm>
#include <cmath>
#include <memory>
#include <string>

namespace {

using kappa::real;
using kappa::Vec;

enum class BetaFormula { fletcher_reeves, polak_ribiere_plus };

struct Settings {
  BetaFormula beta;
  long restart;  // 0: every dim() iterations
  real c1;
  real c2;
  int max_evaluations;
};

class NonlinearCg final : public kappa::Optimizer {
 public:
  explicit NonlinearCg(const Settings& settings) : settings_(settings) {}

  void minimize(const kappa::Problem& problem, Vec& w, kappa::Monitor& monitor) const override {
    const Settings& s = settings_;
    const long restart_interval = s.restart > 0 ? s.restart : static_cast<long>(problem.dim());
    Vec gradient;
    real loss = problem.loss_grad(w, gradient);
    if (monitor.report(0, loss, arma::norm(gradient), w)) return;

    Vec direction = -gradient;
    real initial_step = std::min<real>(1, 1 / arma::norm(gradient, 1));
    long since_restart = 0;
    for (long k = 1;; ++k) {
      if (arma::norm(gradient) == 0) {
        // The exact minimizer: no descent direction exists. finish() ends the run as
        // converged-gradient, which the monitor gives a zero gradient whatever grad_tol.
        monitor.finish(k - 1, loss, 0, w, "the gradient is exactly zero");
        return;
      }
      const bool steepest = since_restart == 0;
      kappa::LineSearchResult step = search(problem, w, loss, gradient, direction, initial_step);
      if (!step.success && !steepest) {
        direction = -gradient;  // the conjugate direction misled the search: restart along -g
        since_restart = 0;
        initial_step = std::min<real>(1, 1 / arma::norm(gradient, 1));
        step = search(problem, w, loss, gradient, direction, initial_step);
      }
      if (!step.success) {
        monitor.fail("iteration " + std::to_string(k) + ": " + step.message);
        return;
      }
      const real previous_slope = arma::dot(gradient, direction);  // g_k.d_k < 0
      const real previous_gradient_sq = arma::dot(gradient, gradient);
      real beta = 0;
      if (s.beta == BetaFormula::fletcher_reeves) {
        beta = arma::dot(step.gradient, step.gradient) / previous_gradient_sq;
      } else {
        beta = std::max<real>(0, arma::dot(step.gradient, step.gradient - gradient) / previous_gradient_sq);
      }
      w = std::move(step.w);
      gradient = std::move(step.gradient);
      loss = step.loss;
      if (monitor.report(k, loss, arma::norm(gradient), w)) return;

      ++since_restart;
      direction = -gradient + beta * direction;
      if (since_restart >= restart_interval || !(arma::dot(gradient, direction) < 0) || !std::isfinite(beta)) {
        direction = -gradient;
        since_restart = 0;
      }
      // N&W eq. 3.60; falls back to the steepest-descent rule if the ratio is not usable.
      initial_step = step.step * previous_slope / arma::dot(gradient, direction);
      if (!(initial_step > 0) || !std::isfinite(initial_step)) initial_step = std::min<real>(1, 1 / arma::norm(gradient, 1));
    }
  }

 private:
  kappa::LineSearchResult search(const kappa::Problem& problem, const Vec& w, real loss, const Vec& gradient,
                                 const Vec& direction, real initial_step) const {
    return kappa::strong_wolfe_line_search(problem, w, loss, gradient, direction, initial_step, settings_.c1,
                                           settings_.c2, settings_.max_evaluations);
  }

  Settings settings_;
};

}  // namespace

KAPPA_PLUGIN(registrar) {
  using kappa::choice_param;
  using kappa::integer_param;
  using kappa::real_param;
  registrar.add({
      "ncg",
      "nonlinear conjugate gradients, Fletcher-Reeves or Polak-Ribiere+, strong Wolfe line search (Nocedal & "
      "Wright 2006, Alg. 5.4)",
      {
          choice_param("beta", "polak-ribiere-plus",
                       "fletcher-reeves (N&W eq. 5.41a) or polak-ribiere-plus (eq. 5.45, beta = max(0, beta_PR))",
                       {"fletcher-reeves", "polak-ribiere-plus"}),
          integer_param("restart", "0", "restart with d = -g every this many iterations; 0 = every d (dimension)", 0,
                        1e9),
          real_param("c1", "1e-4", "sufficient-decrease (Armijo) constant, 0 < c1 < c2", 0.0, true, 1.0),
          real_param("c2", "0.1", "curvature constant of the strong Wolfe conditions, c1 < c2 < 1 (FR: < 1/2)", 0.0,
                     true, 1.0),
          integer_param("max_line_search_evaluations", "25", "loss and gradient evaluations allowed per line search",
                        1, 1e6),
      },
      [](const kappa::Params& params) -> std::unique_ptr<kappa::Optimizer> {
        Settings settings;
        settings.beta = params.get_choice("beta") == "fletcher-reeves" ? BetaFormula::fletcher_reeves
                                                                      : BetaFormula::polak_ribiere_plus;
        settings.restart = static_cast<long>(params.get_integer("restart"));
        settings.c1 = params.get_real("c1");
        settings.c2 = params.get_real("c2");
        settings.max_evaluations = static_cast<int>(params.get_integer("max_line_search_evaluations"));
        // The schema admits (0, 1]; the strong Wolfe search needs c1 < c2 < 1. Checked here so
        // that bad values are input errors before anything runs.
        if (!(settings.c1 < settings.c2 && settings.c2 < 1))
          throw kappa::InputError("optimizer 'ncg': parameters c1 = " + kappa::format_number(settings.c1) +
                                  " and c2 = " + kappa::format_number(settings.c2) +
                                  " need c1 < c2 < 1 (strong Wolfe line search)");
        return std::make_unique<NonlinearCg>(settings);
      },
      // On a quadratic with exact line searches NCG is linear CG (N&W p. 122): the CG bound,
      // which the inexact Wolfe searches here may exceed (see above).
      kappa::MethodTheory{kappa::MethodClass::conjugate_gradient},
  });
}
