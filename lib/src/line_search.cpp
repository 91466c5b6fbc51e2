#include "kappa/line_search.hpp"

#include <algorithm>
#include <cstdio>
#include <cmath>
#include <limits>
#include <sstream>
#include <utility>

namespace kappa {
namespace {

std::string format_number(real value) {
  std::ostringstream out;
  out.precision(4);
  out << value;
  return out.str();
}

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
        slope_(arma::dot(gradient, direction)), max_evaluations_(max_evaluations) {}

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
    std::fprintf(stderr, "  LS eval t=%.6e phi-phi0=%.3e dphi=%.3e slope0=%.3e dphi/slope0=%.4f\n", t, trial.phi - loss_, trial.dphi, slope_, trial.dphi / slope_);
    return trial;
  }

  // Armijo: phi(t) <= phi(0) + c1 t phi'(0). False for a NaN loss.
  bool sufficient_decrease(const Trial& trial, real c1) const { return trial.phi <= loss_ + c1 * trial.t * slope_; }

  // Near a minimizer, phi(t) - phi(0) falls below the rounding error of computing phi, and the
  // Armijo test can no longer be certified although the step is good. Hager & Zhang (2005,
  // SIAM J. Optim. 16(1), "approximate Wolfe conditions") then test the decrease through the
  // derivative instead: phi'(t) <= (1 - 2 c1) |phi'(0)|, which on a quadratic is equivalent to
  // Armijo, while phi(t) may exceed phi(0) by at most the rounding allowance. The strong
  // curvature condition is still required.
  bool approximately_wolfe(const Trial& trial, real c1, real curvature_bound) const {
    return trial.finite() && trial.phi <= loss_ + rounding_allowance * std::fabs(loss_) &&
           std::fabs(trial.dphi) <= curvature_bound && trial.dphi <= (1 - 2 * c1) * std::fabs(slope_);
  }
  static constexpr real rounding_allowance = 1e-10;

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

// Next trial inside the bracket [lo, hi] (either order) of Alg. 3.6: the cubic minimizer,
// safeguarded to stay at least 10% of the width away from both ends so that the bracket keeps
// shrinking; bisection when the cubic has no minimizer inside. A non-finite end (overflow) is
// approached from the finite one: a tenth of the way, which shrinks an overlong step fast.
real interpolate(const Trial& lo, const Trial& hi) {
  const real width = hi.t - lo.t;
  if (!hi.finite()) return lo.t + 0.1 * width;
  const real t = cubic_minimizer(lo, hi);
  const real a = std::min(lo.t, hi.t);
  const real b = std::max(lo.t, hi.t);
  if (!std::isfinite(t) || t <= a || t >= b) return lo.t + 0.5 * width;
  const real margin = 0.1 * (b - a);
  return std::clamp(t, a + margin, b - margin);
}

// Next trial beyond `current` while phi still decreases (Alg. 3.5 leaves the choice open):
// the cubic minimizer clamped to [t + 1.1 dt, t + 4 dt], dt = t - t_previous (the
// extrapolation limits of MINPACK-2's dcsrch, Moré & Thuente 1994); the upper limit when the
// cubic has no minimizer.
real extrapolate(const Trial& previous, const Trial& current) {
  const real dt = current.t - previous.t;
  const real lower = current.t + 1.1 * dt;
  const real upper = current.t + 4 * dt;
  const real t = cubic_minimizer(previous, current);
  return std::isfinite(t) ? std::clamp(t, lower, upper) : upper;
}

std::string budget_message(const std::string& what, int evaluations) {
  return "line search: no step satisfying " + what + " in " + std::to_string(evaluations) + " evaluations";
}

// Nocedal & Wright Alg. 3.6 (zoom). Invariants: the bracket between lo and hi contains steps
// satisfying the strong Wolfe conditions; lo is, of the steps seen, the one with the lowest
// phi that satisfies sufficient decrease; phi'(lo) (hi - lo) < 0.
LineSearchResult zoom(Line& line, Trial lo, Trial hi, real c1, real curvature_bound) {
  for (;;) {
    if (std::fabs(hi.t - lo.t) <= std::numeric_limits<real>::epsilon() * std::max(std::fabs(lo.t), std::fabs(hi.t)))
      return line.failure("line search: interval too small");
    if (line.exhausted()) return line.failure(budget_message("the strong Wolfe conditions", line.max_evaluations()));
    std::fprintf(stderr, "   zoom lo=%.6e (dphi %.3e) hi=%.6e (dphi %.3e)\n", lo.t, lo.dphi, hi.t, hi.dphi);
    Trial trial = line.evaluate(interpolate(lo, hi));
    if (line.approximately_wolfe(trial, c1, curvature_bound)) return line.success(std::move(trial));
    if (!trial.finite() || !line.sufficient_decrease(trial, c1) || trial.phi >= lo.phi) {
      hi = std::move(trial);
    } else {
      if (std::fabs(trial.dphi) <= curvature_bound) return line.success(std::move(trial));
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
  // finite end.
  Trial previous = line.start();
  Trial current = line.evaluate(initial_step);
  for (bool first = true;; first = false) {
    if (line.approximately_wolfe(current, c1, curvature_bound)) return line.success(std::move(current));
    if (!current.finite() || !line.sufficient_decrease(current, c1) || (!first && current.phi >= previous.phi))
      return zoom(line, std::move(previous), std::move(current), c1, curvature_bound);
    if (std::fabs(current.dphi) <= curvature_bound) return line.success(std::move(current));
    if (current.dphi >= 0) return zoom(line, std::move(current), std::move(previous), c1, curvature_bound);
    if (line.exhausted()) return line.failure(budget_message("the strong Wolfe conditions", max_evaluations));
    const real next = extrapolate(previous, current);
    previous = std::move(current);
    current = line.evaluate(next);
  }
}

LineSearchResult backtracking_line_search(const Problem& problem, const Vec& w, real loss, const Vec& gradient,
                                          const Vec& direction, real initial_step, real c1, int max_evaluations) {
  Line line(problem, w, loss, gradient, direction, max_evaluations);
  if (const std::string error = line.check(initial_step, c1); !error.empty()) return line.failure(error);
  // Nocedal & Wright Alg. 3.1 with contraction factor 1/2.
  for (real t = initial_step; !line.exhausted(); t *= 0.5) {
    Trial trial = line.evaluate(t);
    if (trial.finite() && line.sufficient_decrease(trial, c1)) return line.success(std::move(trial));
  }
  return line.failure(budget_message("sufficient decrease", max_evaluations));
}

}  // namespace kappa
