// LSMR (Fong & Saunders, SIAM J. Sci. Comput. 33(5), 2011) on the least-squares form of an l2
// problem, f(w) = |B w - c|^2 (problem.hpp), with the semantics of scipy.sparse.linalg.lsmr:
// its defaults (atol = btol = 1e-6, conlim = 1e8, maxiter = min(rows, dim), damp = 0: the
// ridge rows are part of B), its recurrences and its stopping tests, with x0 = w (kappa starts
// at 0, where scipy's normb = |c| is |r_0|). Golub-Kahan bidiagonalization of B as in LSQR; the
// iterate minimizes |B^T r| over the Krylov space (MINRES on the normal equations), so |B^T r_k|
// decreases monotonically. One product with B and one with B^T per iteration: one data pass.
// Iterations are counted as scipy's itn.
//
// scipy's tests on its own estimates (normr, normar = |zetabar|, normA, condA, |x|):
//   istop 1  test1 = normr / normb <= btol + atol normA |x| / normb     (Ax - b small enough)
//   istop 2  test2 = normar / (normA normr) <= atol                     (least-squares solution)
//   istop 3  1 / condA <= 1 / conlim                                    (cond estimate too large)
//   istop 4-6  the same at machine precision (1 + t <= 1)
//   istop 7  itn >= maxiter
// The first (lowest istop) that holds ends the run through monitor.stop_by_rule, status
// optimizer-rule, the message naming the test and its values; the exact loss and gradient of
// w are computed there (one more pass) and reported, so a RunControls rule that holds on them
// (converged-gradient) takes precedence. istop 0 (|B^T r_0| = 0 or c = 0: w_0 is the solution)
// is reported as iteration 0 with the exact zero gradient, which the monitor counts converged.
// Reports otherwise as LSQR's (plugins/lsqr/lsqr.cpp): exact values at Monitor::report_due
// iterations, where the estimate 2 normar meets the run's gradient rule, and at every iteration
// when the run has a loss tolerance. Data passes = iterations + reports.
//
// local_reorthogonalize = L > 0 keeps the last L normalized v vectors and orthogonalizes each
// new v against them (modified Gram-Schmidt, as Fong & Saunders' MATLAB lsmr.m localSize;
// scipy has no such option, its behaviour is L = 0). Memory L * dim reals.
#include <kappa/parse.hpp>
#include <kappa/krylov.hpp>
#include <kappa/plugin.hpp>

#include <algorithm>
#include <cmath>
#include <deque>
#include <limits>
#include <string>

namespace {

using namespace kappa;

// scipy's _sym_ortho: a stable Givens rotation (c, s, r) with [c s; -s c] [a; b] = [r; 0].
struct Rotation {
  real c, s, r;
};
Rotation sym_ortho(real a, real b) {
  if (b == 0) return {a == 0 ? 1.0 : std::copysign(1.0, a), 0.0, std::fabs(a)};
  if (a == 0) return {0.0, std::copysign(1.0, b), std::fabs(b)};
  if (std::fabs(b) > std::fabs(a)) {
    const real tau = a / b;
    const real s = std::copysign(1.0, b) / std::sqrt(1 + tau * tau);
    const real c = s * tau;
    return {c, s, b / s};
  }
  const real tau = b / a;
  const real c = std::copysign(1.0, a) / std::sqrt(1 + tau * tau);
  const real s = c * tau;
  return {c, s, a / c};
}


void lsmr(const Params& params, const Problem& problem, Vec& x, Monitor& monitor) {
  if (!has_least_squares_form_or_fail(problem, monitor)) return;
  const real atol = params.get_real("atol");
  const real btol = params.get_real("btol");
  const real conlim = params.get_real("conlim");
  const long long local_size = params.get_integer("local_reorthogonalize");
  const Vec b = problem.least_squares_rhs();
  const long min_dim = static_cast<long>(std::min<Index>(problem.least_squares_rows(), problem.dim()));
  const long maxiter = params.get_integer("maxiter") > 0 ? static_cast<long>(params.get_integer("maxiter")) : min_dim;

  Vec u, v, product;
  problem.least_squares_apply(x, u);
  u = b - u;
  real beta = arma::norm(u);
  const real normb = beta;  // scipy: |b| for x0 = 0; kappa's w_0 = 0, and |r_0| in general
  real alpha = 0;
  if (beta > 0) {
    u /= beta;
    problem.least_squares_apply_transpose(u, v);
    alpha = arma::norm(v);
  } else {
    v.zeros(x.n_elem);
  }
  if (alpha > 0) v /= alpha;
  const real initial_gradient = 2 * alpha * beta;
  if (monitor.report(0, beta * beta, initial_gradient, x)) return;
  if (initial_gradient == 0) {  // istop 0
    monitor.finish(0, beta * beta, 0, x, "istop 0: the exact solution is x = x0");
    return;
  }
  const RunControls& controls = monitor.controls();
  const real gradient_target = controls.grad_tol * std::max(initial_gradient, std::numeric_limits<real>::min());
  const bool report_every_iteration = controls.loss_tol > 0;

  std::deque<Vec> local;
  auto keep_local = [&](const Vec& unit) {
    if (local_size <= 0) return;
    local.push_back(unit);
    if (static_cast<long long>(local.size()) > local_size) local.pop_front();
  };
  keep_local(v);

  real zetabar = alpha * beta, alphabar = alpha, rho = 1, rhobar = 1, cbar = 1, sbar = 0;
  Vec h = v;
  Vec hbar(x.n_elem, arma::fill::zeros);
  real betadd = beta, betad = 0, rhodold = 1, tautildeold = 0, thetatilde = 0, zeta = 0, d = 0;
  real norm_a2 = alpha * alpha, maxrbar = 0, minrbar = 1e100;
  const real ctol = conlim > 0 ? 1 / conlim : 0;
  const real damp = 0;

  for (long itn = 1;; ++itn) {
    problem.least_squares_apply(v, product);
    u = product - alpha * u;
    beta = arma::norm(u);
    if (beta > 0) {
      u /= beta;
      problem.least_squares_apply_transpose(u, product);
      v = product - beta * v;
      for (const Vec& q : local) v -= arma::dot(q, v) * q;
      alpha = arma::norm(v);
      if (alpha > 0) v /= alpha;
      keep_local(v);
    }
    const Rotation hat = sym_ortho(alphabar, damp);
    const real rhoold = rho;
    const Rotation first = sym_ortho(hat.r, beta);
    rho = first.r;
    const real thetanew = first.s * alpha;
    alphabar = first.c * alpha;
    const real rhobarold = rhobar;
    const real zetaold = zeta;
    const real thetabar = sbar * rho;
    const real rhotemp = cbar * rho;
    const Rotation second = sym_ortho(cbar * rho, thetanew);
    cbar = second.c;
    sbar = second.s;
    rhobar = second.r;
    zeta = cbar * zetabar;
    zetabar = -sbar * zetabar;
    hbar = h - (thetabar * rho / (rhoold * rhobarold)) * hbar;
    x += (zeta / (rho * rhobar)) * hbar;
    h = v - (thetanew / rho) * h;

    const real betaacute = hat.c * betadd;
    const real betacheck = -hat.s * betadd;
    const real betahat = first.c * betaacute;
    betadd = -first.s * betaacute;
    const real thetatildeold = thetatilde;
    const Rotation tilde = sym_ortho(rhodold, thetabar);
    thetatilde = tilde.s * rhobar;
    rhodold = tilde.c * rhobar;
    betad = -tilde.s * betad + tilde.c * betahat;
    tautildeold = (zetaold - thetatildeold * tautildeold) / tilde.r;
    const real taud = (zeta - thetatilde * tautildeold) / rhodold;
    d += betacheck * betacheck;
    const real normr = std::sqrt(d + (betad - taud) * (betad - taud) + betadd * betadd);
    norm_a2 += beta * beta;
    const real norm_a = std::sqrt(norm_a2);
    norm_a2 += alpha * alpha;
    maxrbar = std::max(maxrbar, rhobarold);
    if (itn > 1) minrbar = std::min(minrbar, rhobarold);
    const real cond_a = std::max(maxrbar, rhotemp) / std::min(minrbar, rhotemp);
    const real normar = std::fabs(zetabar);
    const real normx = arma::norm(x);

    const real test1 = normr / normb;
    const real test2 = norm_a * normr != 0 ? normar / (norm_a * normr) : std::numeric_limits<real>::infinity();
    const real test3 = 1 / cond_a;
    const real t1 = test1 / (1 + norm_a * normx / normb);
    const real rtol = btol + atol * norm_a * normx / normb;
    int istop = 0;
    if (itn >= maxiter) istop = 7;
    if (1 + test3 <= 1) istop = 6;
    if (1 + test2 <= 1) istop = 5;
    if (1 + t1 <= 1) istop = 4;
    if (test3 <= ctol) istop = 3;
    if (test2 <= atol) istop = 2;
    if (test1 <= rtol) istop = 1;

    const bool finite = std::isfinite(normr) && std::isfinite(normar) && x.is_finite();
    if (istop > 0 || !finite) {
      const LeastSquaresValues exact = least_squares_values(problem, b, x);
      if (!finite) {
        monitor.finish(itn, exact.loss, exact.gradient_norm, x, "the bidiagonalization broke down (not finite)");
        return;
      }
      const std::string values = " (itn = " + std::to_string(itn) + ", normr = " + format_number(normr) +
                                 ", normar = " + format_number(normar) + ", normA = " + format_number(norm_a) +
                                 ", condA = " + format_number(cond_a) + ", normx = " + format_number(normx) + ")";
      std::string test;
      switch (istop) {
        case 1: test = "test1 = normr/normb = " + format_number(test1) + " <= btol + atol normA normx/normb = " +
                       format_number(rtol) + ": Ax - b is small enough, given atol, btol"; break;
        case 2: test = "test2 = normar/(normA normr) = " + format_number(test2) + " <= atol = " + format_number(atol) +
                       ": the least-squares solution is good enough, given atol"; break;
        case 3: test = "1/condA = " + format_number(test3) + " <= 1/conlim = " + format_number(ctol) +
                       ": the estimate of cond(Abar) has exceeded conlim"; break;
        case 4: test = "1 + test1/(1 + normA normx/normb) <= 1: Ax - b is small enough for this machine"; break;
        case 5: test = "1 + test2 <= 1: the least-squares solution is good enough for this machine"; break;
        case 6: test = "1 + 1/condA <= 1: cond(Abar) seems to be too large for this machine"; break;
        default: test = "itn >= maxiter = " + std::to_string(maxiter) + ": the iteration limit has been reached"; break;
      }
      monitor.stop_by_rule(itn, exact.loss, exact.gradient_norm, x, "LSMR istop " + std::to_string(istop) + ", " + test + values);
      return;
    }
    const bool may_converge = 2 * normar == 0 || (controls.grad_tol > 0 && 2 * normar <= gradient_target);
    if (report_every_iteration || may_converge || monitor.report_due(itn)) {
      const LeastSquaresValues exact = least_squares_values(problem, b, x);
      if (monitor.report(itn, exact.loss, exact.gradient_norm, x)) return;
    }
  }
}

}  // namespace

KAPPA_PLUGIN(registrar) {
  registrar.add({"lsmr",
                 "LSMR, MINRES on the normal equations by Golub-Kahan bidiagonalization, scipy's semantics (Fong & Saunders 2011)",
                 {real_param("atol", "1e-6", "istop 1/2: relative accuracy of B (scipy's default)", 0.0, false, 1.0),
                  real_param("btol", "1e-6", "istop 1: relative accuracy of c (scipy's default)", 0.0, false, 1.0),
                  real_param("conlim", "1e8", "istop 3: limit of the estimate of cond(B); 0 = off (scipy's default 1e8)",
                             0.0),
                  integer_param("maxiter", "0", "istop 7: iteration limit; 0 = min(rows, dim) (scipy's default)", 0),
                  integer_param("local_reorthogonalize", "0",
                                "number of previous v vectors each new v is orthogonalized against (Fong & Saunders' "
                                "localSize; 0 = none, as scipy)",
                                0)},
                 function_optimizer(lsmr), {MethodClass::conjugate_gradient}});
}
