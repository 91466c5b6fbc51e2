#pragma once
// The framework's side door into a Problem: resetting its work counter, evaluating it without
// counting (to measure a minibatch run's full objective; a Hessian-vector product for the
// rounding floor), and the rounding estimate of its gradient (for the status converged-precision). Both are private members of
// kappa::Problem, reachable only through this class, which the SDK declares as a friend and only
// the workbench defines: plugins, which see the SDK headers alone, cannot bypass the counting.

#include "kappa/problem.hpp"

namespace kappa::detail {

class FrameworkAccess {
 public:
  static void reset_counters(const Problem& problem) { problem.reset_counters(); }
  static bool gradient_rounding(const Problem& problem, const Vec& w, Vec& estimate) {
    return problem.gradient_rounding(w, estimate);
  }
  static real loss_grad_uncounted(const Problem& problem, const Vec& w, Vec& gradient) {
    return problem.loss_grad_uncounted(w, gradient);
  }
  static void hess_vec_uncounted(const Problem& problem, const Vec& w, const Vec& v, Vec& out) {
    problem.hess_vec_uncounted(w, v, out);
  }
};

}  // namespace kappa::detail
