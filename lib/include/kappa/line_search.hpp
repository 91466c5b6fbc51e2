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

// Strong Wolfe line search (Nocedal & Wright, Numerical Optimization, 2nd ed. 2006,
// Alg. 3.5 + 3.6). The accepted step satisfies both
//   f(w + t d) <= f(w) + c1 t g.d              (sufficient decrease)
//   |grad f(w + t d).d| <= c2 |g.d|            (strong curvature condition)
// with 0 < c1 < c2 < 1, where near a minimizer (loss differences at the rounding level) the
// first is replaced by Hager & Zhang's approximate form: f(w + t d) <= f(w) + 1e-10 |f(w)| and
// grad f(w + t d).d <= (1 - 2 c1) |g.d|. `loss` and `gradient` are f and grad f at w; `initial_step` > 0 is the
// first trial. Fails for a non-descent direction, bad constants, a bracket that shrinks below
// machine precision ("line search: interval too small"), or max_evaluations reached.
LineSearchResult strong_wolfe_line_search(const Problem& problem, const Vec& w, real loss, const Vec& gradient,
                                          const Vec& direction, real initial_step, real c1 = 1e-4,
                                          real c2 = 0.9, int max_evaluations = 25);

// Backtracking (Armijo) line search (Nocedal & Wright, Alg. 3.1): tries initial_step,
// initial_step / 2, ... and accepts the first t with f(w + t d) <= f(w) + c1 t g.d, 0 < c1 < 1.
// A non-finite loss counts as a rejection. Fails for a non-descent direction or when
// max_evaluations trials were all rejected.
LineSearchResult backtracking_line_search(const Problem& problem, const Vec& w, real loss, const Vec& gradient,
                                          const Vec& direction, real initial_step, real c1 = 1e-4,
                                          int max_evaluations = 25);

}  // namespace kappa
