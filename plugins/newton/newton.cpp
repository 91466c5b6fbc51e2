// Newton's method: solve H d = -g with the full Hessian H = Hess f(w) (Nocedal & Wright,
// Numerical Optimization, 2nd ed. 2006, Sec. 3.3 and Alg. 3.2 without modification; damped
// Newton as in Boyd & Vandenberghe, Convex Optimization, 2004, Alg. 9.5).
//
// The Hessian is assembled densely:
//   l2 with the least-squares form f = |B w - c|^2: H = 2 B^T B from the dense B (one counted data
//     pass, then rows * d^2 flops: as much arithmetic as d gradients);
//   otherwise (huber; problems without that form): column by column, H e_j, from d Hessian-vector
//     products (d data passes per iteration).
// The step solves H d = -g by Cholesky when H is numerically positive definite and its
// reciprocal condition number (LAPACK's 1-norm estimate) is at least `rcond`; otherwise by the
// symmetric eigendecomposition H = V diag(lambda) V^T with the pseudo-inverse that treats
// eigenvalues <= rcond lambda_max as zero (default rcond = d eps: computed eigenvalues carry
// absolute errors of about eps lambda_max, so smaller ones are rounding noise). Both solves are
// backward stable, so with all eigenvalues kept they are equally accurate (relative error about
// eps cond(H)); the pseudo-inverse differs only on a numerically singular H, where it returns the
// minimum-norm step instead of noise amplified by 1/lambda_min.
//
// Quadratic problems (l2): exactly one full step w_1 = w_0 + d, after which the run ends through
// monitor.finish: converged-gradient when the true gradient at w_1 meets the run's rule, and
// otherwise a failed run whose message says how the step was solved (e.g. the pseudo-inverse
// and how many eigenvalues it dropped). Non-quadratic problems (huber): iterations
// w_{k+1} = w_k + t d_k with t from a backtracking (Armijo) line search started at t = 1; a
// direction that is not a descent direction (g.d >= 0, e.g. g in the null space of a singular
// huber Hessian) is replaced by -g. l1 has no Hessian: the run fails at once.
#include <kappa/line_search.hpp>
#include <kappa/parse.hpp>
#include <kappa/plugin.hpp>

#include <cmath>
#include <limits>
#include <string>

namespace {

using namespace kappa;

constexpr real eps = std::numeric_limits<real>::epsilon();

Mat assemble_hessian(const Problem& problem, const Vec& w) {
  if (problem.is_quadratic() && problem.has_least_squares_form()) {
    const Mat B = problem.least_squares_matrix();
    return 2 * B.t() * B;
  }
  return dense_hessian(problem, w);
}

struct NewtonStep {
  Vec direction;
  std::string how;  // how the system was solved, for messages
};

// Solves H d = -g as described at the top of the file.
NewtonStep solve_newton_system(const Mat& hessian, const Vec& gradient, real rcond) {
  NewtonStep step;
  Mat factor;
  if (arma::chol(factor, hessian)) {
    const real estimate = arma::rcond(hessian);
    if (std::isfinite(estimate) && estimate >= rcond) {
      const Vec half = arma::solve(arma::trimatl(factor.t()), Vec(-gradient));
      step.direction = arma::solve(arma::trimatu(factor), half);
      step.how = "Cholesky, rcond(H) = " + format_number(estimate);
      return step;
    }
    step.how = "rcond(H) = " + format_number(estimate) + " < rcond = " + format_number(rcond);
  } else {
    step.how = "H not numerically positive definite (Cholesky failed)";
  }
  Vec eigenvalues;
  Mat eigenvectors;
  if (!arma::eig_sym(eigenvalues, eigenvectors, hessian)) {
    step.how += "; the eigendecomposition failed (non-finite Hessian?)";
    return step;  // empty direction
  }
  const real lambda_max = arma::max(arma::abs(eigenvalues));
  const real cutoff = rcond * lambda_max;
  const Vec projected = eigenvectors.t() * gradient;
  Vec scaled(projected.n_elem, arma::fill::zeros);
  Index dropped = 0;
  for (Index i = 0; i < eigenvalues.n_elem; ++i) {
    if (eigenvalues(i) > cutoff) {
      scaled(i) = -projected(i) / eigenvalues(i);
    } else {
      ++dropped;
    }
  }
  step.direction = eigenvectors * scaled;
  step.how += "; pseudo-inverse from the eigendecomposition, " + std::to_string(dropped) + " of " +
              std::to_string(eigenvalues.n_elem) + " eigenvalues <= " + format_number(rcond) +
              " lambda_max treated as zero";
  return step;
}

void newton(const Params& params, const Problem& problem, Vec& w, Monitor& monitor) {
  if (!problem.has_hessian()) {
    monitor.fail("needs a twice-differentiable loss (l2 or huber): this problem has no Hessian");
    return;
  }
  const real rcond = params.is_auto("rcond") ? static_cast<real>(problem.dim()) * eps : params.get_real("rcond");
  const real c1 = params.get_real("c1");
  const int max_evaluations = static_cast<int>(params.get_integer("max_line_search_evaluations"));

  Vec gradient;
  real loss = problem.loss_grad(w, gradient);
  const real initial_gradient_norm = arma::norm(gradient);
  if (monitor.report(0, loss, initial_gradient_norm, w)) return;

  for (long k = 1;; ++k) {
    const NewtonStep step = solve_newton_system(assemble_hessian(problem, w), gradient, rcond);
    if (step.direction.is_empty() || !step.direction.is_finite()) {
      monitor.fail("iteration " + std::to_string(k) + ": no finite Newton step (" + step.how + ")");
      return;
    }
    if (problem.is_quadratic()) {
      // One full step reaches the minimizer of a quadratic (in exact arithmetic).
      w += step.direction;
      loss = problem.loss_grad(w, gradient);
      const real gradient_norm = arma::norm(gradient);
      monitor.finish(k, loss, gradient_norm, w,
                     "one Newton step on the quadratic left |grad f| = " +
                         format_number(gradient_norm / initial_gradient_norm) + " |grad f(w_0)|, above grad_tol (" +
                         step.how + ")");
      return;
    }
    Vec direction = step.direction;
    if (!(arma::dot(gradient, direction) < 0)) direction = -gradient;  // see the top of the file
    LineSearchResult accepted =
        backtracking_line_search(problem, w, loss, gradient, direction, 1.0, c1, max_evaluations);
    if (!accepted.success) {
      monitor.fail("iteration " + std::to_string(k) + ": " + accepted.message + " (" + step.how + ")");
      return;
    }
    w = std::move(accepted.w);
    gradient = std::move(accepted.gradient);
    loss = accepted.loss;
    if (monitor.report(k, loss, arma::norm(gradient), w)) return;
  }
}

}  // namespace

KAPPA_PLUGIN(registrar) {
  ParamSpec rcond = real_param("rcond", "auto",
                               "Cholesky is used if rcond(H) >= rcond; otherwise the eigenvalues <= rcond lambda_max "
                               "are treated as zero (pseudo-inverse); auto = d eps",
                               0.0, false, 1.0);
  rcond.keyword = "auto";
  registrar.add({"newton",
                 "Newton's method, Hessian solve by Cholesky or pseudo-inverse; one step on l2, damped (Armijo) "
                 "otherwise (Nocedal & Wright 2006, Sec. 3.3)",
                 {rcond,
                  real_param("c1", "1e-4", "sufficient-decrease (Armijo) constant of the backtracking search (non-quadratic losses)",
                             0.0, true, 1.0),
                  integer_param("max_line_search_evaluations", "30",
                                "loss and gradient evaluations per backtracking search (halvings of t = 1)", 1, 1e6)},
                 function_optimizer(newton), {MethodClass::newton}});
}
