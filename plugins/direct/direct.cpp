// The direct least-squares solution as an optimizer, so that a grid can carry the analytic answer
// as one more row, computed on exactly the problem the optimizers see (after preconditioning)
// and judged by the same stopping rules.
//
// An l2 problem is f(w) = |B w - c|^2 (problem.hpp: B = [A / sqrt(n); sqrt(ridge/2) E_f],
// c = [y / sqrt(n); 0]; with a preconditioner B P). The plugin forms B densely and solves
// min |B w - c| with kappa::solve_least_squares (direct.hpp): thin SVD (minimum-norm solution,
// singular values <= eps max(rows, d) sigma_max dropped), Householder QR (Golub & Van Loan,
// Alg. 5.3.2), or Cholesky of the normal equations. Cost: 3 data passes (f and grad f at the
// start, the dense B, f and grad f at the solution) and the factorization, O(rows d^2) flops.
//
// The run is one iteration: iteration 0 is the start, iteration 1 the solution. Its status is
// the monitor's verdict on the solution's true gradient (monitor.finish): converged-gradient
// only when |grad f(w)| <= grad_tol |grad f(w_0)|, as for every other optimizer. A solution
// whose gradient is above that (rounding on an ill-conditioned B) is a failed run saying so,
// and a method that refuses (QR on a rank-deficient B, Cholesky once cond(B) >~ 7e7) is a
// failed run with the solver's message.
#include <kappa/direct.hpp>
#include <kappa/error.hpp>
#include <kappa/parse.hpp>
#include <kappa/plugin.hpp>

#include <string>

namespace {

using namespace kappa;

void direct_solve(const Params& params, const Problem& problem, Vec& w, Monitor& monitor) {
  if (!problem.has_least_squares_form()) {
    monitor.fail("needs a linear least-squares problem |B w - c|^2 (the l2 loss in the regression formulation); "
                 "this problem has no such form");
    return;
  }
  const DirectMethod method = parse_direct_method(params.get_choice("method"));  // validated by the schema
  Vec gradient;
  const real initial_loss = problem.loss_grad(w, gradient);
  const real initial_gradient_norm = arma::norm(gradient);
  if (monitor.report(0, initial_loss, initial_gradient_norm, w)) return;

  DirectSolution solution;
  try {
    solution = solve_least_squares(problem.least_squares_matrix(), problem.least_squares_rhs(), method);
  } catch (const NumericalError& error) {
    monitor.fail(error.what());  // e.g. "cholesky: ... not positive definite": the method cannot deliver
    return;
  }
  w = solution.w;
  const real loss = problem.loss_grad(w, gradient);
  const real gradient_norm = arma::norm(gradient);
  // Read only when no stopping rule holds at the solution, i.e. the run fails: then the rounding
  // of the solve and of evaluating grad f on an ill-conditioned B is above grad_tol.
  std::string conditioning;
  if (method == DirectMethod::svd && solution.rank > 0)
    conditioning = ", cond(B) = " + format_number(solution.singular_values(0) / solution.singular_values(solution.rank - 1));
  const std::string message = to_string(method) + " solution (rank " + std::to_string(solution.rank) + "/" +
                              std::to_string(problem.dim()) + conditioning + ") has |grad f| = " +
                              format_number(gradient_norm / initial_gradient_norm) +
                              " |grad f(w_0)|, above grad_tol: rounding in the solve and in evaluating grad f";
  monitor.finish(1, loss, gradient_norm, w, message);
}

}  // namespace

KAPPA_PLUGIN(registrar) {
  registrar.add({"direct",
                 "direct least-squares solve of |B w - c|^2 by SVD, Householder QR or Cholesky (Golub & Van Loan "
                 "2013, Sec. 5.3), as one optimizer step",
                 {choice_param("method", "svd",
                               "svd (minimum norm, any rank), qr (full column rank) or cholesky (normal equations, "
                               "refuses cond(B) >~ 7e7); see docs/conventions.md",
                               {"svd", "qr", "cholesky"})},
                 function_optimizer(direct_solve)});
}
