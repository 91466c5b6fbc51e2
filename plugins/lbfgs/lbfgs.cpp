// L-BFGS: limited-memory BFGS, Nocedal & Wright, Numerical Optimization, 2nd ed. 2006,
// Alg. 7.4 (two-loop recursion) and Alg. 7.5, with H_k^0 = gamma_k I, gamma_k = s^T y / y^T y
// of the newest pair (eq. 7.20). The line searches (kappa/line_search.hpp) switch to Hager &
// Zhang's approximate Wolfe conditions where loss differences are at the rounding level, so
// that the iteration goes on converging, by the gradients, down to tight gradient tolerances.
//
// Iteration counts: with exact line searches on a strictly convex quadratic, L-BFGS with a
// scaled-identity H_k^0 terminates in at most d iterations like conjugate gradients (Kolda,
// O'Leary & Nazareth, SIAM J. Optim. 8(4), 1998; for history 1, memoryless BFGS is CG, Nocedal
// & Wright Sec. 7.2). That equivalence is sensitive to step errors in floating point: with the
// default c2 = 0.9 the first trial t = 1 is nearly always accepted although the line minimizer
// along the L-BFGS direction is typically 1.5 to 2.5 (gamma_k = s^T y / y^T y underestimates
// the inverse curvature outside the stored pairs), and on a quadratic of dimension 50 with
// cond(H) = 100 L-BFGS (history 10) needs about 107 iterations to |g| <= 1e-10 |g_0| against
// 67 for CG; with c2 = 1e-3, about 80 (relative step errors of ~1e-8 remain); with exact steps,
// 66. A history >= d with an accurate search ends in about d iterations.

#include <algorithm>
#include <cmath>
#include <deque>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "kappa/error.hpp"
#include "kappa/line_search.hpp"
#include "kappa/parse.hpp"
#include "kappa/plugin.hpp"

namespace {

using kappa::real;
using kappa::Vec;

enum class LineSearch { strong_wolfe, backtracking, none };

struct Settings {
  std::size_t history;
  LineSearch line_search;
  real lr;
  real c1;
  real c2;
  int max_evaluations;
  real gtol;  // scipy's pgtol: stop when max|g| <= gtol (0: off)
  real ftol;  // scipy's factr * eps: stop when (f_k - f_{k+1}) / max(|f_k|, |f_{k+1}|, 1) <= ftol (0: off)
};


// The schema admits c1, c2 in (0, 1]; the line searches need c1 < c2 < 1 (strong Wolfe; c2 is
// used by it only) or c1 < 1 (backtracking). Checked when the optimizer is created, so that bad
// values are input errors before anything runs.
void validate_settings(const Settings& s) {
  if (s.line_search == LineSearch::strong_wolfe && !(s.c1 < s.c2 && s.c2 < 1))
    throw kappa::InputError("optimizer 'lbfgs': parameters c1 = " + kappa::format_number(s.c1) + " and c2 = " +
                            kappa::format_number(s.c2) + " need c1 < c2 < 1 (strong Wolfe line search)");
  if (s.line_search == LineSearch::backtracking && !(s.c1 < 1))
    throw kappa::InputError("optimizer 'lbfgs': parameter c1 = " + kappa::format_number(s.c1) +
                            " needs c1 < 1 (backtracking line search)");
}

// Curvature pair s = w_{k+1} - w_k, y = g_{k+1} - g_k, rho = 1 / y^T s, gamma = s^T y / y^T y.
struct CurvaturePair {
  Vec s;
  Vec y;
  real rho;
  real gamma;
};

// Alg. 7.4: H_k g for the inverse-Hessian approximation defined by the pairs (oldest first).
Vec two_loop(const std::deque<CurvaturePair>& pairs, const Vec& gradient) {
  Vec q = gradient;
  std::vector<real> alpha(pairs.size());
  for (std::size_t i = pairs.size(); i-- > 0;) {
    alpha[i] = pairs[i].rho * arma::dot(pairs[i].s, q);
    q -= alpha[i] * pairs[i].y;
  }
  Vec r = pairs.back().gamma * q;
  for (std::size_t i = 0; i < pairs.size(); ++i) {
    const real beta = pairs[i].rho * arma::dot(pairs[i].y, r);
    r += (alpha[i] - beta) * pairs[i].s;
  }
  return r;
}

class Lbfgs final : public kappa::Optimizer {
 public:
  explicit Lbfgs(const Settings& settings) : settings_(settings) {}

  void minimize(const kappa::Problem& problem, Vec& w, kappa::Monitor& monitor) const override {
    const Settings& s = settings_;  // checked by validate_settings() when the optimizer was created
    Vec gradient;
    real loss = problem.loss_grad(w, gradient);
    if (monitor.report(0, loss, arma::norm(gradient), w)) return;

    std::deque<CurvaturePair> memory;
    for (long k = 1;; ++k) {
      if (arma::norm(gradient) == 0) {
        // The exact minimizer (no descent direction exists): finish() ends the run as
        // converged-gradient, which the monitor gives a zero gradient whatever grad_tol.
        monitor.finish(k - 1, loss, 0, w, "the gradient is exactly zero");
        return;
      }
      // A steepest-descent direction has no natural scale: its first trial step is
      // min(1, 1/|g|_1) lr, as in PyTorch's torch.optim.LBFGS. Quasi-Newton steps start at lr.
      const real steepest_step = std::min<real>(1, 1 / arma::norm(gradient, 1)) * s.lr;
      const bool steepest = memory.empty();
      kappa::LineSearchResult step =
          steepest ? take_step(problem, w, loss, gradient, -gradient, steepest_step)
                   : take_step(problem, w, loss, gradient, -two_loop(memory, gradient), s.lr);
      if (!step.success && !steepest) {
        // The quasi-Newton model misled the search: forget it and retry once along -g.
        memory.clear();
        step = take_step(problem, w, loss, gradient, -gradient, steepest_step);
      }
      if (!step.success) {
        monitor.fail("iteration " + std::to_string(k) + ": " + step.message);
        return;
      }

      Vec pair_s = step.w - w;
      Vec pair_y = step.gradient - gradient;
      const real ys = arma::dot(pair_y, pair_s);
      // BFGS keeps H_k positive definite, hence -H_k g a descent direction, only if y^T s > 0.
      // The strong Wolfe conditions guarantee it in exact arithmetic, but not backtracking or a
      // fixed step, nor rounding near convergence or on the flat (linear) parts of the huber
      // and l1 losses, where a tiny y^T s would blow up rho = 1 / y^T s. The test is relative
      // (cosine of the angle between y and s), so it does not depend on the scale of the
      // problem, unlike PyTorch's absolute y^T s > 1e-10. NaN (a diverged fixed step) fails it.
      if (ys > 1e-10 * arma::norm(pair_y) * arma::norm(pair_s)) {
        const real yy = arma::dot(pair_y, pair_y);
        memory.push_back({std::move(pair_s), std::move(pair_y), 1 / ys, ys / yy});
        if (memory.size() > s.history) memory.pop_front();
      }
      w = std::move(step.w);
      gradient = std::move(step.gradient);
      const real previous_loss = loss;
      loss = step.loss;
      if (monitor.report(k, loss, arma::norm(gradient), w)) return;
      // scipy's L-BFGS-B tests, in its order (mainlb: the projected gradient, then the relative
      // reduction of f), after the run's own rules, which the report above applied.
      const real max_gradient = arma::abs(gradient).max();
      if (s.gtol > 0 && max_gradient <= s.gtol) {
        monitor.stop_by_rule(k, loss, arma::norm(gradient), w,
                             "gtol: max|g| = " + kappa::format_number(max_gradient) + " <= " + kappa::format_number(s.gtol) +
                                 " at iteration " + std::to_string(k) + " (scipy's pgtol test)");
        return;
      }
      const real reduction = (previous_loss - loss) / std::max({std::fabs(previous_loss), std::fabs(loss), real{1}});
      if (s.ftol > 0 && reduction <= s.ftol) {
        monitor.stop_by_rule(k, loss, arma::norm(gradient), w,
                             "ftol: (f_k - f_k+1) / max(|f_k|, |f_k+1|, 1) = " + kappa::format_number(reduction) +
                                 " <= " + kappa::format_number(s.ftol) + " at iteration " + std::to_string(k) +
                                 " (scipy's factr test)");
        return;
      }
    }
  }

 private:
  kappa::LineSearchResult take_step(const kappa::Problem& problem, const Vec& w, real loss, const Vec& gradient,
                                    const Vec& direction, real initial_step) const {
    const Settings& s = settings_;
    switch (s.line_search) {
      case LineSearch::strong_wolfe:
        return kappa::strong_wolfe_line_search(problem, w, loss, gradient, direction, initial_step, s.c1, s.c2,
                                               s.max_evaluations);
      case LineSearch::backtracking:
        return kappa::backtracking_line_search(problem, w, loss, gradient, direction, initial_step, s.c1,
                                               s.max_evaluations);
      case LineSearch::none:
        break;
    }
    kappa::LineSearchResult fixed;  // PyTorch's LBFGS without line_search_fn: w + t d, whatever f does
    fixed.step = initial_step;
    fixed.w = w + initial_step * direction;
    fixed.loss = problem.loss_grad(fixed.w, fixed.gradient);
    fixed.evaluations = 1;
    fixed.success = true;
    return fixed;
  }

  Settings settings_;
};

}  // namespace

KAPPA_PLUGIN(registrar) {
  using kappa::choice_param;
  using kappa::integer_param;
  using kappa::real_param;
  registrar.add({
      "lbfgs",
      "limited-memory BFGS, two-loop recursion with a strong Wolfe line search (Nocedal & Wright 2006, Alg. 7.4/7.5)",
      {
          integer_param("history", "10", "curvature pairs (s, y) kept, m in Nocedal & Wright", 1, 1e6),
          choice_param("line_search", "strong_wolfe",
                       "strong_wolfe (N&W Alg. 3.5/3.6), backtracking (Armijo, halving) or none (fixed step lr, "
                       "as torch.optim.LBFGS without line_search_fn); at the rounding level of the loss both "
                       "searches use Hager & Zhang's approximate Wolfe (derivative) test",
                       {"strong_wolfe", "backtracking", "none"}),
          real_param("lr", "1",
                     "first trial step of the line search, the step itself with line_search=none; along steepest "
                     "descent (first iteration, after a reset) min(1, 1/|g|_1) lr, as PyTorch",
                     0.0, true),
          real_param("c1", "1e-4", "sufficient-decrease (Armijo) constant, 0 < c1 < c2", 0.0, true, 1.0),
          real_param("c2", "0.9", "curvature constant of the strong Wolfe conditions, c1 < c2 < 1", 0.0,
                     true, 1.0),
          integer_param("max_line_search_evaluations", "25",
                        "loss and gradient evaluations allowed per line search", 1, 1e6),
          real_param("gtol", "0",
                     "stop (optimizer-rule) when max|g| <= gtol, scipy L-BFGS-B's pgtol (its default 1e-5); 0 = off",
                     0.0),
          real_param("ftol", "0",
                     "stop (optimizer-rule) when (f_k - f_k+1) / max(|f_k|, |f_k+1|, 1) <= ftol, scipy L-BFGS-B's "
                     "factr eps (its default 2.2e-9); 0 = off",
                     0.0),
      },
      [](const kappa::Params& params) -> std::unique_ptr<kappa::Optimizer> {
        Settings settings;
        settings.history = static_cast<std::size_t>(params.get_integer("history"));
        const std::string& line_search = params.get_choice("line_search");  // validated by the schema
        settings.line_search = line_search == "none"           ? LineSearch::none
                               : line_search == "backtracking" ? LineSearch::backtracking
                                                               : LineSearch::strong_wolfe;
        settings.lr = params.get_real("lr");
        settings.c1 = params.get_real("c1");
        settings.c2 = params.get_real("c2");
        settings.max_evaluations = static_cast<int>(params.get_integer("max_line_search_evaluations"));
        settings.gtol = params.get_real("gtol");
        settings.ftol = params.get_real("ftol");
        validate_settings(settings);
        return std::make_unique<Lbfgs>(settings);
      },
  });
}
