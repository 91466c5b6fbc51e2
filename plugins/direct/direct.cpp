// The direct solution as an optimizer, so that a grid can carry the analytic answer as one more
// row, computed on exactly the problem the optimizers see (after preconditioning) and judged by
// the same stopping rules.
//
// Two forms, chosen by what the problem offers:
//
// 1. Least squares. An l2 regression is f(w) = |B w - c|^2 (problem.hpp: B = [A / sqrt(n);
//    sqrt(ridge/2) E_f], c = [y / sqrt(n); 0]; with a preconditioner B P). The plugin forms B
//    densely and solves min |B w - c| with kappa::solve_least_squares (direct.hpp): thin SVD
//    (minimum-norm solution, singular values <= eps max(rows, d) sigma_max dropped), Householder
//    QR (Golub & Van Loan, Alg. 5.3.2), or Cholesky of the normal equations. Cost: 3 data passes
//    (f and grad f at the start, the dense B, f and grad f at the solution) and the
//    factorization, O(rows d^2) flops.
// 2. Any other quadratic f(w) = 1/2 w^T H w - b^T w + const (e.g. the kernel system, with or
//    without a preconditioner), which has no least-squares form: the plugin assembles the dense
//    symmetric Hessian from d products H e_j (problem.hess_vec, each counted as one data pass)
//    and takes the exact Newton step w = w_0 + s, H s = -grad f(w_0), which solves the
//    optimality condition H w = b: svd is the minimum-norm s (from w_0 = 0, the minimum-norm
//    minimizer; cutoff eps d sigma_max as above), qr the Householder QR of H, cholesky the
//    Cholesky factor of H itself (not of H^T H: its error grows like eps cond(H), not cond(H)^2).
//    Cost: d + 2 data passes and O(d^3) flops.
//
// The run is one iteration: iteration 0 is the start, iteration 1 the solution. Its status is
// the monitor's verdict on the solution's true gradient (monitor.finish): converged-gradient
// only when |grad f(w)| <= grad_tol |grad f(w_0)|, as for every other optimizer. A solution
// whose gradient is above that (rounding on an ill-conditioned B or H) is a failed run saying
// so, and a method that refuses (QR on a rank-deficient B or H, Cholesky once eps cond(B)^2 > 1e-6 or
// on an H that is not numerically positive definite) is a failed run with the solver's message.
// A problem that is not quadratic (l1, huber) is a failed run saying so.
#include "kappa/dense_solve.hpp"
#include <kappa/error.hpp>
#include <kappa/parse.hpp>
#include <kappa/plugin.hpp>

#include <cmath>

#include <string>

namespace {

using namespace kappa;

// The Newton step s with H s = -gradient by `method` (see form 2 above).
DirectSolution newton_step(const Mat& hessian, const Vec& gradient, DirectMethod method) {
  if (method != DirectMethod::cholesky) return solve_least_squares(hessian, -gradient, method);
  DirectSolution solution;
  solution.method = method;
  Mat R;
  if (!arma::chol(R, hessian))
    throw NumericalError("cholesky: the Hessian H is not numerically positive definite; use svd (minimum norm) or add a ridge");
  solution.w = arma::solve(arma::trimatu(R), arma::solve(arma::trimatl(R.t()), Vec(-gradient)));
  if (!solution.w.is_finite()) throw NumericalError("cholesky: the triangular solves overflowed (H nearly singular); use svd");
  solution.rank = hessian.n_cols;
  return solution;
}

void direct_solve(const Params& params, const Problem& problem, Vec& w, Monitor& monitor) {
  const bool least_squares = problem.has_least_squares_form();
  if (!least_squares && !(problem.is_quadratic() && problem.has_hessian())) {
    monitor.fail("needs a quadratic objective (the l2 loss): a least-squares form |B w - c|^2 or a Hessian; "
                 "this loss is not quadratic");
    return;
  }
  const DirectMethod method = parse_direct_method(params.get_choice("method"));  // validated by the schema
  Vec gradient;
  const real initial_loss = problem.loss_grad(w, gradient);
  const real initial_gradient_norm = arma::norm(gradient);
  if (monitor.report(0, initial_loss, initial_gradient_norm, w)) return;

  DirectSolution solution;
  try {
    if (least_squares) {
      solution = solve_least_squares(problem.least_squares_matrix(), problem.least_squares_rhs(), method);
    } else {
      solution = newton_step(dense_hessian(problem, w), gradient, method);
      solution.w += w;
    }
  } catch (const NumericalError& error) {
    monitor.fail(error.what());  // e.g. "cholesky: ... not positive definite": the method cannot deliver
    return;
  }
  w = solution.w;
  const real loss = problem.loss_grad(w, gradient);
  const real gradient_norm = arma::norm(gradient);
  // Read only when no stopping rule holds at the solution, i.e. the run fails: then the rounding
  // of the solve and of evaluating grad f on an ill-conditioned B (or H) is above grad_tol.
  const std::string matrix = least_squares ? "B" : "H";
  std::string conditioning;
  if (method == DirectMethod::svd && solution.rank > 0)
    conditioning = ", cond(" + matrix + ") = " +
                   format_number(solution.singular_values(0) / solution.singular_values(solution.rank - 1));
  // A singular H (form 2) leaves the part of grad f outside its range: f is unbounded below
  // along it, so no solution removes it.
  const std::string cause = !least_squares && solution.rank < problem.dim()
                                ? "the part of grad f outside the range of the singular H (f is unbounded below along it), "
                                  "and rounding"
                                : "rounding in the solve and in evaluating grad f";
  const std::string message = to_string(method) + " solution (rank " + std::to_string(solution.rank) + "/" +
                              std::to_string(problem.dim()) + conditioning + ") has |grad f| = " +
                              format_number(gradient_norm / initial_gradient_norm) + " |grad f(w_0)|, above grad_tol: " + cause;
  // A backward-stable least-squares solve (svd, qr: kappa/dense_solve.hpp; cholesky refuses
  // where it is not accurate) is as accurate as floating point allows, whatever its gradient
  // shows: its forward-error bound is the problem's own sensitivity, which no method avoids, and
  // grad f is H times that rounding. A large bound makes the answer uncertain, not the run failed.
  if (least_squares && std::isfinite(solution.forward_error_bound)) {
    monitor.finish_at_precision(1, loss, gradient_norm, w,
                                to_string(method) + " solution, backward stable: forward-error bound " +
                                    format_number(solution.forward_error_bound) +
                                    (solution.forward_error_bound > kForwardErrorTolerance ? " (uncertain: above " +
                                                                                                 format_number(kForwardErrorTolerance) + ")"
                                                                                           : "") +
                                    " (cond(B) ~ " + format_number(solution.condition) + "; |grad f| = " +
                                    format_number(gradient_norm / initial_gradient_norm) + " |grad f(w_0)|)");
    return;
  }
  monitor.finish(1, loss, gradient_norm, w, message);
}

}  // namespace

KAPPA_PLUGIN(registrar) {
  registrar.add({"direct",
                 "direct solve of an l2 problem by SVD, Householder QR or Cholesky (Golub & Van Loan 2013, Sec. 5.3), "
                 "as one optimizer step: of |B w - c|^2 when the problem has that form, else of H w = b on the "
                 "dense Hessian (d Hessian-vector products)",
                 {choice_param("method", "svd",
                               "svd (minimum norm, any rank), qr (full column rank) or cholesky (normal equations, "
                               "refuses eps cond(B)^2 > 1e-6; of H itself for a quadratic without that form); see "
                               "docs/conventions.md",
                               {"svd", "qr", "cholesky"})},
                 function_optimizer(direct_solve), {MethodClass::direct}});
}
