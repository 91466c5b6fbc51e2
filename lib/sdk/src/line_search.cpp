#include "kappa/line_search.hpp"

#include "kappa/parse.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <sstream>
#include <utility>

namespace kappa {
namespace {


// One evaluated point of phi(t) = f(w + t d).
struct Trial {
  real t = 0;
  real phi = 0;   // f(w + t d)
  real dphi = 0;  // phi'(t) = grad f(w + t d).d
  Vec w;
  Vec gradient;

  bool finite() const { return std::isfinite(phi) && std::isfinite(dphi); }
};

// phi along the line, with its starting point and the evaluation budget: what both searches share.
class Line {
 public:
  Line(const Problem& problem, const Vec& w, real loss, const Vec& gradient, const Vec& direction,
       int max_evaluations)
      : problem_(problem), w_(w), loss_(loss), gradient_(gradient), direction_(direction),
        slope_(arma::dot(gradient, direction)), allowance_(rounding_allowance * std::fabs(loss)),
        max_evaluations_(max_evaluations) {}

  // The checks common to both searches; an empty string when all hold.
  std::string check(real initial_step, real c1) const {
    if (!std::isfinite(loss_)) return "line search: the starting loss is not finite";
    if (!std::isfinite(slope_)) return "line search: the directional derivative g.d is not finite";
    if (!(slope_ < 0)) return "line search: not a descent direction (g.d = " + format_number(slope_) + " >= 0)";
    if (!(initial_step > 0) || !std::isfinite(initial_step))
      return "line search: the initial step must be finite and > 0, got " + format_number(initial_step);
    if (!(c1 > 0 && c1 < 1)) return "line search: c1 must be in (0, 1), got " + format_number(c1);
    if (max_evaluations_ < 1) return "line search: max_evaluations must be >= 1";
    return "";
  }

  real slope() const { return slope_; }  // phi'(0) = g.d
  bool exhausted() const { return evaluations_ >= max_evaluations_; }
  int max_evaluations() const { return max_evaluations_; }

  Trial start() const { return Trial{0, loss_, slope_, w_, gradient_}; }

  Trial evaluate(real t) {
    Trial trial;
    trial.t = t;
    trial.w = w_ + t * direction_;
    trial.phi = problem_.loss_grad(trial.w, trial.gradient);
    trial.dphi = arma::dot(trial.gradient, direction_);
    ++evaluations_;
    return trial;
  }

  // Armijo: phi(t) <= phi(0) + c1 t phi'(0). False for a NaN loss.
  bool armijo(const Trial& trial, real c1) const { return trial.phi <= loss_ + c1 * trial.t * slope_; }

  // Near a minimizer, phi(t) - phi(0) falls to the rounding error of computing phi, and the
  // Armijo test, like every comparison of two loss values there, returns noise: a good step is
  // refused, or a one-ulp difference sends the bracket of Alg. 3.6 to the wrong side of the
  // minimizer. Hager & Zhang (SIAM J. Optim. 16(1), 2005, Sec. 4, "approximate Wolfe
  // conditions"; CG_DESCENT, ACM TOMS 32(1), 2006) then test the decrease through the
  // derivative: phi'(t) <= (1 - 2 c1) |phi'(0)|, which on a quadratic is equivalent to Armijo
  // (phi(t) - phi(0) = t (phi'(0) + phi'(t)) / 2 exactly), and which the rounding of phi does
  // not affect. Loss values within the allowance 1e-10 |phi(0)| of each other are treated as
  // indistinguishable. The derivative form replaces Armijo only for a step whose loss change
  // AND whose first-order change t |phi'(0)| are both within the allowance: the whole segment
  // [0, t] is then at the rounding level, and a step that clearly decreases the loss, or a
  // long step that merely ends at the same loss, must pass the exact Armijo test.
  static constexpr real rounding_allowance = 1e-10;
  bool indistinguishable(real a, real b) const { return std::fabs(a - b) <= allowance_; }
  bool at_rounding_level(const Trial& trial) const {
    return indistinguishable(trial.phi, loss_) && trial.t * std::fabs(slope_) <= allowance_;
  }

  // Sufficient decrease: Armijo, or Hager & Zhang's derivative form at the rounding level.
  // False for a non-finite trial.
  bool sufficient_decrease(const Trial& trial, real c1) const {
    if (!trial.finite()) return false;
    return at_rounding_level(trial) ? trial.dphi <= (1 - 2 * c1) * std::fabs(slope_) : armijo(trial, c1);
  }

  // The step is accepted: sufficient decrease (as above) and the strong curvature condition.
  bool acceptable(const Trial& trial, real c1, real curvature_bound) const {
    return sufficient_decrease(trial, c1) && std::fabs(trial.dphi) <= curvature_bound;
  }

  // Alg. 3.5/3.6's test for a trial that ends the bracket: insufficient decrease, or a loss
  // above that of `reference` (the best step so far). Two losses at the rounding level of each
  // other are not compared: the caller then decides by the sign of phi'(trial), as Hager &
  // Zhang's bracketing and interval-update procedures (2005, Sec. 4) do.
  bool ends_bracket(const Trial& trial, const Trial& reference, real c1) const {
    if (!sufficient_decrease(trial, c1)) return true;
    return trial.phi > reference.phi && !indistinguishable(trial.phi, reference.phi);
  }

  // Minimizer of a model of phi on the line through a and b (see model_minimizer below).
  real model_minimizer(const Trial& a, const Trial& b) const;

  LineSearchResult success(Trial&& trial) const {
    return LineSearchResult{trial.t, trial.phi, std::move(trial.w), std::move(trial.gradient), evaluations_, true, ""};
  }
  LineSearchResult failure(std::string message) const {
    return LineSearchResult{0, loss_, w_, gradient_, evaluations_, false, std::move(message)};
  }

 private:
  const Problem& problem_;
  const Vec& w_;
  real loss_;
  const Vec& gradient_;
  const Vec& direction_;
  real slope_;
  real allowance_;  // rounding_allowance |phi(0)|
  int max_evaluations_;
  int evaluations_ = 0;
};

// Minimizer of the cubic that interpolates phi and phi' at a and b (Nocedal & Wright eq. 3.59);
// NaN when the cubic has no local minimizer (negative discriminant) or the formula degenerates.
real cubic_minimizer(const Trial& a, const Trial& b) {
  const real d1 = a.dphi + b.dphi - 3 * (a.phi - b.phi) / (a.t - b.t);
  const real discriminant = d1 * d1 - a.dphi * b.dphi;
  if (!(discriminant >= 0)) return std::numeric_limits<real>::quiet_NaN();
  const real d2 = std::copysign(std::sqrt(discriminant), b.t - a.t);
  return b.t - (b.t - a.t) * (b.dphi + d2 - d1) / (b.dphi - a.dphi + 2 * d2);
}

// Zero of the secant of phi' through a and b, the minimizer of the quadratic with those
// derivatives (Hager & Zhang 2005, Sec. 4, secant step); NaN unless phi' increases from a to b.
real secant_minimizer(const Trial& a, const Trial& b) {
  const real curvature = (b.dphi - a.dphi) / (b.t - a.t);
  if (!(curvature > 0)) return std::numeric_limits<real>::quiet_NaN();
  return a.t - a.dphi / curvature;
}

// The cubic uses phi(a) - phi(b); when that difference is at the rounding level it is noise
// (a one-ulp change of phi moves the cubic's minimizer anywhere), and the secant of the
// derivatives, which does not use phi, is taken instead. On a quadratic both are exact.
real Line::model_minimizer(const Trial& a, const Trial& b) const {
  return indistinguishable(a.phi, b.phi) ? secant_minimizer(a, b) : cubic_minimizer(a, b);
}

// Next trial inside the bracket [lo, hi] (either order) of Alg. 3.6: the model minimizer,
// safeguarded to stay at least 10% of the width away from both ends so that the bracket keeps
// shrinking; bisection when the model has no minimizer inside. A non-finite end (overflow) is
// approached from the finite one: a tenth of the way, which shrinks an overlong step fast.
real interpolate(const Line& line, const Trial& lo, const Trial& hi) {
  const real width = hi.t - lo.t;
  if (!hi.finite()) return lo.t + 0.1 * width;
  const real t = line.model_minimizer(lo, hi);
  const real a = std::min(lo.t, hi.t);
  const real b = std::max(lo.t, hi.t);
  if (!std::isfinite(t) || t <= a || t >= b) return lo.t + 0.5 * width;
  const real margin = 0.1 * (b - a);
  return std::clamp(t, a + margin, b - margin);
}

// Next trial beyond `current` while phi still decreases (Alg. 3.5 leaves the choice open):
// the model minimizer clamped to [t + 1.1 dt, t + 4 dt], dt = t - t_previous (the
// extrapolation limits of MINPACK-2's dcsrch, Moré & Thuente 1994); the upper limit when the
// model has no minimizer.
real extrapolate(const Line& line, const Trial& previous, const Trial& current) {
  const real dt = current.t - previous.t;
  const real lower = current.t + 1.1 * dt;
  const real upper = current.t + 4 * dt;
  const real t = line.model_minimizer(previous, current);
  return std::isfinite(t) ? std::clamp(t, lower, upper) : upper;
}

std::string budget_message(const std::string& what, int evaluations) {
  return "line search: no step satisfying " + what + " in " + std::to_string(evaluations) + " evaluations";
}

// Nocedal & Wright Alg. 3.6 (zoom). Invariants: the bracket between lo and hi contains
// acceptable steps; lo is, of the steps seen, the best one with sufficient decrease;
// phi'(lo) (hi - lo) < 0. Where phi(trial) and phi(lo) are indistinguishable, the trial
// becomes lo and the sign of phi'(trial) picks the half that keeps a sign change of phi'
// (as in Hager & Zhang's interval update), instead of a comparison of rounding noise that can
// leave a bracket with phi' of one sign at both ends, which shrinks to nothing.
LineSearchResult zoom(Line& line, Trial lo, Trial hi, real c1, real curvature_bound) {
  for (;;) {
    if (std::fabs(hi.t - lo.t) <= std::numeric_limits<real>::epsilon() * std::max(std::fabs(lo.t), std::fabs(hi.t)))
      return line.failure("line search: interval too small");
    if (line.exhausted()) return line.failure(budget_message("the strong Wolfe conditions", line.max_evaluations()));
    Trial trial = line.evaluate(interpolate(line, lo, hi));
    if (line.acceptable(trial, c1, curvature_bound)) return line.success(std::move(trial));
    if (line.ends_bracket(trial, lo, c1)) {
      hi = std::move(trial);
    } else {
      if (trial.dphi * (hi.t - lo.t) >= 0) hi = std::move(lo);
      lo = std::move(trial);
    }
  }
}

}  // namespace

LineSearchResult strong_wolfe_line_search(const Problem& problem, const Vec& w, real loss, const Vec& gradient,
                                          const Vec& direction, real initial_step, real c1, real c2,
                                          int max_evaluations) {
  Line line(problem, w, loss, gradient, direction, max_evaluations);
  if (const std::string error = line.check(initial_step, c1); !error.empty()) return line.failure(error);
  if (!(c2 > c1 && c2 < 1))
    return line.failure("line search: need 0 < c1 < c2 < 1, got c1 = " + format_number(c1) + ", c2 = " + format_number(c2));
  const real curvature_bound = c2 * std::fabs(line.slope());  // |phi'(t)| <= c2 |phi'(0)|

  // Nocedal & Wright Alg. 3.5 (bracketing): increase t until the interval [previous, current]
  // brackets acceptable steps, then zoom. A non-finite loss (the step overflowed the model)
  // ends the bracket like a failed sufficient-decrease test; zoom then shrinks towards the
  // finite end. (For the first trial, previous is t = 0 and the comparison of losses adds
  // nothing to the sufficient-decrease test.)
  Trial previous = line.start();
  Trial current = line.evaluate(initial_step);
  for (;;) {
    if (line.acceptable(current, c1, curvature_bound)) return line.success(std::move(current));
    if (line.ends_bracket(current, previous, c1))
      return zoom(line, std::move(previous), std::move(current), c1, curvature_bound);
    if (current.dphi >= 0) return zoom(line, std::move(current), std::move(previous), c1, curvature_bound);
    if (line.exhausted()) return line.failure(budget_message("the strong Wolfe conditions", max_evaluations));
    const real next = extrapolate(line, previous, current);
    previous = std::move(current);
    current = line.evaluate(next);
  }
}

LineSearchResult backtracking_line_search(const Problem& problem, const Vec& w, real loss, const Vec& gradient,
                                          const Vec& direction, real initial_step, real c1, int max_evaluations) {
  Line line(problem, w, loss, gradient, direction, max_evaluations);
  if (const std::string error = line.check(initial_step, c1); !error.empty()) return line.failure(error);
  // Nocedal & Wright Alg. 3.1 with contraction factor 1/2; sufficient decrease in Hager &
  // Zhang's derivative form where the loss change is at the rounding level (see Line).
  for (real t = initial_step; !line.exhausted(); t *= 0.5) {
    Trial trial = line.evaluate(t);
    if (line.sufficient_decrease(trial, c1)) return line.success(std::move(trial));
  }
  return line.failure(budget_message("sufficient decrease", max_evaluations));
}

}  // namespace kappa
