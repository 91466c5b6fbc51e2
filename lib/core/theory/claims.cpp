#include "core/theory/claims.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>

#include "kappa/dense_solve.hpp"
#include "kappa/enum_names.hpp"
#include "kappa/error.hpp"
#include "kappa/parse.hpp"

namespace kappa {
namespace {

constexpr real kEpsilon = std::numeric_limits<real>::epsilon();

inline constexpr EnumName<ClaimKind> kClaimKindNames[] = {
    {ClaimKind::reaches, "reaches"}, {ClaimKind::stalls, "stalls"}, {ClaimKind::diverges, "diverges"}};

std::string text(double value) { return format_number(value); }

// A step size exactly as a solve must be given it (17 significant digits).
std::string exact_text(double value) {
  char buffer[40];
  std::snprintf(buffer, sizeof buffer, "%.17g", value);
  return buffer;
}

std::string with_loss(const std::string& options, const std::string& loss_options) {
  return loss_options.empty() ? options : options + " " + loss_options;
}

// Worth claiming: a bound that still says something about w*.
constexpr real kMeaningfulBound = 1e-2;
// A stall is claimed only when exact arithmetic leaves at least this error; the claim's bound is
// half of it (rounding only adds error to a stable fixed-step method).
constexpr real kStallError = 1e-3;

}  // namespace

std::string to_string(ClaimKind kind) { return enum_name(kClaimKindNames, kind); }

LeastSquaresSensitivity least_squares_sensitivity(const Mat& M, const Vec& b) {
  LeastSquaresSensitivity s;
  s.rows = M.n_rows;
  s.cols = M.n_cols;
  Mat U, V;
  Vec sigma;
  if (!arma::svd_econ(U, sigma, V, M))
    throw NumericalError("the singular value decomposition of the least-squares operator did not converge");
  if (sigma.is_empty() || sigma(0) == 0) return s;
  s.rank = numerical_rank(sigma, s.rows, s.cols).rank;  // the svd reference's cutoff
  s.singular_values = sigma.head(s.rank);
  s.coefficients = (U.head_cols(s.rank).t() * b) / s.singular_values;
  const Vec solution = V.head_cols(s.rank) * s.coefficients;
  s.solution_norm = arma::norm(solution);
  s.residual_norm = arma::norm(M * solution - b);
  s.condition = sigma(0) / sigma(s.rank - 1);
  s.attainable_accuracy = least_squares_error_bound(s.condition, s.residual_norm, sigma(0), s.solution_norm);
  return s;
}

real gradient_descent_error(const LeastSquaresSensitivity& s, real step, long iterations) {
  if (s.rank == 0 || s.solution_norm == 0) return 0;
  const real top = s.singular_values(0) * s.singular_values(0);
  real squares = 0;
  for (Index i = 0; i < s.rank; ++i) {
    const real h = step * s.singular_values(i) * s.singular_values(i) / top;
    const real log_factor = h < 1 ? std::log1p(-h) : std::log(std::fabs(h - 1));
    const real component = std::exp(static_cast<real>(iterations) * log_factor) * s.coefficients(i);
    squares += component * component;
  }
  return std::sqrt(squares) / s.solution_norm;
}

real reach_bound(const LeastSquaresSensitivity& s) { return 10 * s.attainable_accuracy + 100 * kEpsilon; }

std::vector<Claim> regression_claims(const LeastSquaresSensitivity& s, const std::string& loss_options, long budget) {
  std::vector<Claim> claims;
  if (s.rank == 0 || s.solution_norm == 0) return claims;
  const real bound = reach_bound(s);
  const std::string F = "F = eps cond (1 + cond |r*| / (|B| |w*|)) = " + text(s.attainable_accuracy) +
                        " (cond = " + text(s.condition) + " over the kept singular values)";
  const long krylov_budget = 2 * static_cast<long>(s.cols);
  if (bound <= kMeaningfulBound) {
    claims.push_back({ClaimKind::reaches, "a direct solve by SVD", with_loss("--optimizer direct", loss_options), 1, bound,
                      "backward stable: it reaches w* to about the problem's own sensitivity " + F});
    claims.push_back({ClaimKind::reaches, "CG with full reorthogonalization",
                      with_loss("--optimizer cg --set cg.reorthogonalize=full --grad-tol 0 --max-iterations " +
                                    std::to_string(krylov_budget), loss_options),
                      krylov_budget, bound,
                      "products with X and X^T only; an orthogonal basis keeps CG's finite termination, so about rank = " +
                          std::to_string(s.rank) + " iterations reach the accuracy rounding allows, " + F +
                          ", within 2 d = " + std::to_string(krylov_budget) + " (restarts from the true residual included)"});
    claims.push_back({ClaimKind::reaches, "LSQR with full reorthogonalization",
                      with_loss("--optimizer lsqr --set lsqr.reorthogonalize=full --set lsqr.conlim=0 --grad-tol 0 "
                                "--max-iterations " + std::to_string(krylov_budget), loss_options),
                      krylov_budget, bound,
                      "the Golub-Kahan bidiagonalization of B with both bases kept orthogonal; conlim=0 so that its "
                      "condition test does not stop it first; " + F});
  }

  // Fixed-step gradient descent at lr = 1/L: its exact-arithmetic error after `budget` steps.
  const real L = 2 * s.singular_values(0) * s.singular_values(0);
  const real error = gradient_descent_error(s, 1, budget);
  const std::string gd = "--optimizer gd --set gd.lr=" + exact_text(1 / L) + " --grad-tol 0 --max-iterations " +
                         std::to_string(budget);
  const std::string rate = "the component of w* along the i-th singular vector decays like (1 - sigma_i^2 / sigma_1^2)^k";
  if (error >= kStallError) {
    claims.push_back({ClaimKind::stalls, "gradient descent with lr = 1/L", with_loss(gd, loss_options), budget, error / 2,
                      rate + "; after " + std::to_string(budget) + " iterations exact arithmetic leaves rel_w_err = " +
                          text(error) + ": L = " + text(L) + " is set by sigma_1, the progress by sigma_r (kappa_H = cond^2 = " +
                          text(s.condition * s.condition) + "); full-batch SGD is this method, and minibatches only add noise to it"});
  } else if (error + s.attainable_accuracy <= 1e-6) {
    claims.push_back({ClaimKind::reaches, "gradient descent with lr = 1/L", with_loss(gd, loss_options), budget,
                      2 * error + bound,
                      rate + "; after " + std::to_string(budget) + " iterations exact arithmetic leaves rel_w_err = " +
                          text(error)});
  }
  // Beyond 2/L the top component grows like |1 - lr L|^k: 1.2^k at lr = 2.2/L.
  const long divergence_budget = 1000;
  claims.push_back({ClaimKind::diverges, "gradient descent with lr = 1.1 x 2/L",
                    with_loss("--optimizer gd --set gd.lr=" + exact_text(2.2 / L) +
                                  " --grad-tol 0 --max-iterations " + std::to_string(divergence_budget),
                              loss_options),
                    divergence_budget, arma::datum::nan,
                    "the largest stable fixed step is 2/L = " + text(2 / L) +
                        "; beyond it the component along the top singular vector grows by |1 - lr L| = 1.2 per iteration"});
  return claims;
}

std::vector<Claim> kernel_system_claims(const LeastSquaresSensitivity& s, const std::string& loss_options) {
  std::vector<Claim> claims;
  if (s.rank == 0 || s.solution_norm == 0) return claims;
  const real bound = reach_bound(s);
  if (!(bound <= kMeaningfulBound)) return claims;
  const long budget = 2 * static_cast<long>(s.cols);
  claims.push_back({ClaimKind::reaches, "CG on the kernel system K a = y with full reorthogonalization",
                    with_loss("--formulation kernel-system --optimizer cg --set cg.reorthogonalize=full --grad-tol 0 "
                              "--max-iterations " + std::to_string(budget), loss_options),
                    budget, bound,
                    "K itself, not its square, is the operator: cond(K) = " + text(s.condition) +
                        ", F = eps cond (1 + cond |r*| / (|K| |a*|)) = " + text(s.attainable_accuracy) +
                        "; an orthogonal basis reaches it within 2 n = " + std::to_string(budget) + " iterations"});
  return claims;
}

}  // namespace kappa
