// LSQR (Paige & Saunders, ACM TOMS 8(1), 1982): Golub-Kahan bidiagonalization of B started from
// the residual r_0 = c - B w_0, with the bidiagonal least-squares problem solved by plane
// rotations (their Sec. 4.1), for an l2 problem f(w) = |B w - c|^2 (problem.hpp, least-squares
// form; the ridge rows are part of B, so LSQR's own damping is not needed):
//   beta_1 u_1 = r_0, alpha_1 v_1 = B^T u_1, x = w_0, d_1 = v_1, phibar_1 = beta_1, rhobar_1 = alpha_1;
//   beta_{i+1} u_{i+1} = B v_i - alpha_i u_i,  alpha_{i+1} v_{i+1} = B^T u_{i+1} - beta_{i+1} v_i,
//   rho_i = hypot(rhobar_i, beta_{i+1}), c_i = rhobar_i / rho_i, s_i = beta_{i+1} / rho_i,
//   theta_{i+1} = s_i alpha_{i+1}, rhobar_{i+1} = -c_i alpha_{i+1}, phi_i = c_i phibar_i,
//   phibar_{i+1} = s_i phibar_i, x += (phi_i / rho_i) d_i, d_{i+1} = v_{i+1} - (theta_{i+1} / rho_i) d_i.
// One product by B and one by B^T per iteration: one data pass. In exact arithmetic the iterates
// are those of CGLS (the k-th minimizes |B w - c| over w_0 + K_k(B^T B, B^T r_0)), with better
// behaviour in floating point when B is ill-conditioned (Paige & Saunders, Sec. 7-8).
//
// Stopping tests of the paper's Sec. 6, on LSQR's own estimates (no extra products):
// |r_k| ~ phibar_{k+1}, |B^T r_k| ~ phibar_{k+1} alpha_{k+1} |c_k|, |B| ~ |B_k|_F (the Frobenius
// norm of the bidiagonal so far), cond(B) ~ |B_k|_F |D_k|_F (D_k = [d_1/rho_1, ...]), |x_k| exact:
//   S1  |r_k| <= btol |r_0| + atol |B| |x_k|        (a compatible system is solved)
//   S2  |B^T r_k| / (|B| |r_k|) <= atol              (a least-squares solution is found)
//   S3  cond(B) >= conlim                            (further iterations amplify rounding)
// and, as in the paper's code, the same tests at machine precision (1 + test <= 1), which apply
// whatever the tolerances. The paper sets atol, btol to the relative accuracy of the data; kappa's
// data are exact in double, so the defaults are 0 (only the machine-precision forms act), and
// conlim = 1e8, the paper's recommended limit for least-squares problems (the error of the
// solution grows like cond(B)^2 there).
//
// Reported values are exact, not the estimates: at the iterations where a report is needed
// (Monitor::report_due: trace points and budgets), where the estimated gradient 2 |B^T r| already
// meets the run's gradient rule, at every iteration when the run has a loss tolerance, and when
// an own test fires, the plugin computes r = c - B w and B^T r (one more data pass) and reports
// |r|^2 and 2 |B^T r|. Other iterations are not reported (the monitor allows this; the rules
// are checked at the reported ones). Data passes = iterations + reports. An own test that fires
// ends the run through monitor.finish: converged-gradient if the run's gradient rule holds on the
// exact values there, otherwise failed with the test named (and then the framework judges
// converged-precision on the true gradient, docs/conventions.md).
//
// reorthogonalize=full keeps the Golub-Kahan vectors u_1..u_k (memory k * rows of B) and
// v_1..v_k (k * dim) and orthogonalizes each new u against all previous u, each new v against
// all previous v, by classical Gram-Schmidt twice (2 k (rows + dim) flops per pass, on top of
// the products): the bidiagonalization then keeps its exact-arithmetic properties, and once the
// v basis spans R^dim (or alpha or beta vanishes) there is no new direction and the run ends
// through monitor.finish with the exact values. docs/optimizers-krylov.md has measurements.
#include <kappa/parse.hpp>
#include <kappa/krylov.hpp>
#include <kappa/plugin.hpp>

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

namespace {

using namespace kappa;

constexpr real eps = std::numeric_limits<real>::epsilon();



// The first of the paper's tests that holds, as a message (empty when none does), and whether
// it is S1 or S2 at machine precision: the method's own evidence that w is as accurate as the
// arithmetic allows, which the caller verifies on the exact residual.
struct OwnTest {
  std::string text;
  bool at_machine_precision = false;
};

OwnTest stopping_test(real atol, real btol, real conlim, real r_norm, real ar_norm, real b_norm_estimate,
                      real cond_estimate, real x_norm, real r0_norm) {
  const real test1 = r_norm / r0_norm;
  const real test2 = r_norm > 0 ? ar_norm / (b_norm_estimate * r_norm) : 0;
  const real test3 = 1 / cond_estimate;
  const real relative_x = b_norm_estimate * x_norm / r0_norm;
  const real t1 = test1 / (1 + relative_x);
  const real rtol = btol + atol * relative_x;
  auto estimates = [&] {
    return " (estimates: |r| = " + format_number(r_norm) + ", |B^T r| = " + format_number(ar_norm) +
           ", cond(B) = " + format_number(cond_estimate) + ")";
  };
  if (test1 <= rtol) return {"LSQR test S1: |r| <= btol |r_0| + atol |B| |x| (atol = " + format_number(atol) +
                            ", btol = " + format_number(btol) + ")" + estimates()};
  if (test2 <= atol) return {"LSQR test S2: |B^T r| / (|B| |r|) <= atol = " + format_number(atol) + estimates()};
  if (conlim > 0 && test3 <= 1 / conlim)
    return {"LSQR test S3: estimated cond(B) >= conlim = " + format_number(conlim) +
            ": the paper's guard against amplified rounding (with reorthogonalize=full, conlim=0 lets LSQR go on "
            "to w*)" + estimates()};
  if (1 + t1 <= 1) return {"LSQR test S1 at machine precision: |r| / (|r_0| + |B| |x|) <= eps" + estimates(), true};
  if (1 + test2 <= 1) return {"LSQR test S2 at machine precision: |B^T r| / (|B| |r|) <= eps" + estimates(), true};
  if (1 + test3 <= 1) return {"LSQR test S3 at machine precision: estimated cond(B) >= 1/eps" + estimates()};
  return {};
}

void lsqr(const Params& params, const Problem& problem, Vec& w, Monitor& monitor) {
  if (!has_least_squares_form_or_fail(problem, monitor)) return;
  const real atol = params.get_real("atol");
  const real btol = params.get_real("btol");
  const real conlim = params.get_real("conlim");
  const bool full = params.get_choice("reorthogonalize") == "full";
  const Vec c = problem.least_squares_rhs();
  OrthonormalBasis u_basis, v_basis;
  const Vec w0 = w;

  Vec u, v, product;
  problem.least_squares_apply(w, u);
  u = c - u;
  real beta = arma::norm(u);
  if (beta > 0) u /= beta;
  problem.least_squares_apply_transpose(u, v);
  real alpha = arma::norm(v);
  if (alpha > 0) v /= alpha;
  if (full) {
    u_basis.append(u);
    v_basis.append(v);
  }
  // Exact at the start: r_0 = beta_1 u_1 and B^T r_0 = alpha_1 beta_1 v_1.
  const real r0_norm = beta;
  const real initial_gradient = 2 * alpha * beta;
  if (monitor.report(0, beta * beta, initial_gradient, w)) return;

  const RunControls& controls = monitor.controls();
  const real gradient_target = controls.grad_tol * std::max(initial_gradient, std::numeric_limits<real>::min());
  const bool report_every_iteration = controls.loss_tol > 0;

  Vec direction = v;
  real phibar = beta;
  real rhobar = alpha;
  real b_norm_sq = 0;  // |B_k|_F^2
  real dd_norm_sq = 0;  // |D_k|_F^2
  for (long k = 1;; ++k) {
    // Golub-Kahan bidiagonalization step.
    problem.least_squares_apply(v, product);
    u = product - alpha * u;
    if (full) u_basis.orthogonalize(u);
    beta = arma::norm(u);
    if (beta > 0) u /= beta;
    b_norm_sq += alpha * alpha + beta * beta;
    problem.least_squares_apply_transpose(u, product);
    v = product - beta * v;
    if (full) v_basis.orthogonalize(v);
    alpha = arma::norm(v);
    if (alpha > 0) v /= alpha;
    const bool exhausted = full && (v_basis.size() >= static_cast<arma::uword>(problem.dim()) || alpha == 0 || beta == 0);
    if (full && !exhausted) {
      u_basis.append(u);
      v_basis.append(v);
    }

    // Plane rotation eliminating beta_{k+1} from the lower bidiagonal matrix.
    const real rho = std::hypot(rhobar, beta);
    const real cs = rhobar / rho;
    const real sn = beta / rho;
    const real theta = sn * alpha;
    rhobar = -cs * alpha;
    const real phi = cs * phibar;
    phibar = sn * phibar;

    dd_norm_sq += arma::dot(direction, direction) / (rho * rho);
    w += (phi / rho) * direction;
    direction = v - (theta / rho) * direction;

    const real r_norm = phibar;
    const real ar_norm = phibar * alpha * std::fabs(cs);
    const real b_norm = std::sqrt(b_norm_sq);
    const real cond_estimate = b_norm * std::sqrt(dd_norm_sq);
    const real x_norm = arma::norm(w - w0);
    const OwnTest own_test = stopping_test(atol, btol, conlim, r_norm, ar_norm, b_norm, cond_estimate, x_norm, r0_norm);
    const bool finite = std::isfinite(rho) && std::isfinite(phibar) && std::isfinite(alpha) && w.is_finite();
    const bool may_converge = 2 * ar_norm == 0 || (controls.grad_tol > 0 && 2 * ar_norm <= gradient_target);
    if (!own_test.text.empty() || !finite) {
      const LeastSquaresValues exact = least_squares_values(problem, c, w);
      if (finite && own_test.at_machine_precision) {
        // The estimates say S1 or S2 holds at machine precision; the same tests on the exact
        // residual make it evidence (the estimates alone can drift from the truth), within
        // max(rows, dim) sqrt(min(rows, dim)) eps: the backward error a rounding-level solution
        // has, computing B^T r itself included (measured 1e-14 to 7.6e-14 = 340 eps on a 342 x 66
        // design; the bound is 2800 eps there).
        const LeastSquaresBackwardError backward =
            least_squares_backward_error(problem, exact.loss, exact.gradient_norm, r0_norm, b_norm, x_norm);
        if (backward.holds()) {
          monitor.finish_at_precision(k, exact.loss, exact.gradient_norm, w,
                                      own_test.text + "; on the exact residual " + backward.text());
          return;
        }
      }
      monitor.finish(k, exact.loss, exact.gradient_norm, w,
                     own_test.text.empty() ? "the bidiagonalization broke down (not finite)"
                                           : own_test.text + ", before any stopping rule of the run held: |grad f| = " +
                                                 format_number(exact.gradient_norm / initial_gradient) +
                                                 " |grad f(w_0)|");
      return;
    }
    if (exhausted) {
      const LeastSquaresValues exact = least_squares_values(problem, c, w);
      monitor.finish(k, exact.loss, exact.gradient_norm, w,
                     "the Golub-Kahan basis is complete after " + std::to_string(k) +
                         " iterations (reorthogonalize=full): no new direction; |grad f| = " +
                         format_number(exact.gradient_norm / initial_gradient) + " |grad f(w_0)|");
      return;
    }
    if (report_every_iteration || may_converge || monitor.report_due(k)) {
      const LeastSquaresValues exact = least_squares_values(problem, c, w);
      if (monitor.report(k, exact.loss, exact.gradient_norm, w)) return;
    }
  }
}

}  // namespace

KAPPA_PLUGIN(registrar) {
  registrar.add({"lsqr",
                 "LSQR, Golub-Kahan bidiagonalization for linear least squares (Paige & Saunders 1982)",
                 {real_param("atol", "0",
                             "tests S1/S2: relative accuracy of B; 0 = exact data, only the machine-precision tests act",
                             0.0, false, 1.0),
                  real_param("btol", "0", "test S1: relative accuracy of c; 0 = exact data", 0.0, false, 1.0),
                  real_param("conlim", "1e8",
                             "test S3: stop when the estimate of cond(B) reaches conlim (1e8: the paper's limit for "
                             "least squares); 0 = off",
                             0.0),
                  choice_param("reorthogonalize", "none",
                               "none: the short recurrences; full: orthogonalize each u and v against all previous "
                               "ones, twice (memory k (rows + dim) reals)",
                               {"none", "full"})},
                 function_optimizer(lsqr), {MethodClass::conjugate_gradient}});
}
