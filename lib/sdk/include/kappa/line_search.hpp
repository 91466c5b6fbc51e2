#pragma once
// Line searches along a direction d from a point w: they look at phi(t) = f(w + t d), t > 0,
// and need a descent direction, phi'(0) = g.d < 0 (g = grad f(w)). Shared by the quasi-Newton
// and nonlinear conjugate-gradient plugins.
//
// Every trial point is evaluated with Problem::loss_grad (loss and gradient in one pass over
// the data, counted by the problem), so the accepted point comes with its gradient. Neither
// search throws for numerical trouble: a failure returns success = false with a one-line
// message starting with "line search: ", and the result then describes the starting point
// (step 0, the given loss, w and gradient).

#include <string>

#include "kappa/problem.hpp"

namespace kappa {

struct LineSearchResult {
  real step = 0;         // accepted t (0 on failure)
  real loss = 0;         // f(w + t d)
  Vec w;                 // w + t d
  Vec gradient;          // grad f(w + t d)
  int evaluations = 0;   // loss_grad calls made (the starting point is not re-evaluated)
  bool success = false;
  std::string message;   // why the search failed; empty on success
};

// Sufficient decrease, in both searches, is the Armijo condition
//   f(w + t d) <= f(w) + c1 t g.d,
// except for a step at the rounding level of the loss, i.e. with |f(w + t d) - f(w)| and t |g.d|
// both <= 1e-10 |f(w)| (the rounding allowance): there loss differences are rounding noise, and
// Hager & Zhang's approximate form (SIAM J. Optim. 16(1), 2005, Sec. 4; CG_DESCENT, ACM TOMS
// 32(1), 2006) is used instead,
//   grad f(w + t d).d <= (1 - 2 c1) |g.d|      (then also f(w + t d) <= f(w) + 1e-10 |f(w)|),
// which on a quadratic is equivalent to Armijo. Hence a step whose loss decrease exceeds the
// allowance always satisfies the exact Armijo condition.
//
// Strong Wolfe line search (Nocedal & Wright, Numerical Optimization, 2nd ed. 2006,
// Alg. 3.5 + 3.6). The accepted step satisfies sufficient decrease (above) and
//   |grad f(w + t d).d| <= c2 |g.d|            (strong curvature condition)
// with 0 < c1 < c2 < 1. Where two trial losses are within the rounding allowance of each
// other, the bracketing and zoom phases decide by the sign of the derivative instead of
// comparing the losses, and interpolate with the secant of the derivatives instead of the
// cubic (Hager & Zhang's update rules), so that the search still works at the rounding floor
// of the loss, as long as the gradient is accurate. `loss` and `gradient` are f and grad f at
// w; `initial_step` > 0 is the first trial. Fails for a non-descent direction, bad constants,
// a bracket that shrinks below machine precision ("line search: interval too small"), or
// max_evaluations reached.
LineSearchResult strong_wolfe_line_search(const Problem& problem, const Vec& w, real loss, const Vec& gradient,
                                          const Vec& direction, real initial_step, real c1 = 1e-4,
                                          real c2 = 0.9, int max_evaluations = 25);

// Backtracking (Armijo) line search (Nocedal & Wright, Alg. 3.1): tries initial_step,
// initial_step / 2, ... and accepts the first t with sufficient decrease (above), 0 < c1 < 1.
// A non-finite loss counts as a rejection. Fails for a non-descent direction or when
// max_evaluations trials were all rejected.
LineSearchResult backtracking_line_search(const Problem& problem, const Vec& w, real loss, const Vec& gradient,
                                          const Vec& direction, real initial_step, real c1 = 1e-4,
                                          int max_evaluations = 25);

}  // namespace kappa
