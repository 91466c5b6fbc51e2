#include "core/theory/theory.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>

#include "kappa/dense_solve.hpp"
#include "kappa/error.hpp"
#include "kappa/parse.hpp"

namespace kappa {
namespace {

constexpr real kEpsilon = std::numeric_limits<real>::epsilon();
constexpr double kInfinity = std::numeric_limits<double>::infinity();

// ln |1 - h| without rounding 1 - h to 1 for tiny h.
real log_abs_one_minus(real h) { return h < 1 ? std::log1p(-h) : std::log(h - 1); }

// ln of the spectral radius of z^2 - T z + D, where p(1) = 1 - T + D = h is known exactly (it is
// lr lambda for both momentum forms), so that a root 1 - 1e-17 keeps its distance to 1: for
// real roots z_big z_small = D and (1 - z_big)(1 - z_small) = p(1).
real log_spectral_radius(real T, real D, real p1) {
  const real discriminant = T * T - 4 * D;
  if (discriminant < 0) return 0.5 * std::log(D);  // complex pair, |z|^2 = D
  const real root = std::sqrt(discriminant);
  const real big = 0.5 * (T + std::copysign(root, T));  // the root of larger modulus, no cancellation
  const real small = big != 0 ? D / big : 0;
  if (big > 0.5 && small < 1) return std::log1p(-p1 / (1 - small));
  return std::log(std::fabs(big));
}

template <class PerEigenvalue>
real max_over_spectrum(const HessianSpectrum& spectrum, PerEigenvalue log_rate) {
  if (spectrum.rank() == 0) return arma::datum::nan;
  real largest = -kInfinity;
  for (const real lambda : spectrum.eigenvalues) largest = std::max(largest, log_rate(lambda));
  return largest;
}

std::string text(double value) {
  if (std::isinf(value)) return value > 0 ? "infinite" : "-infinite";
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%.3g", value);
  return buffer;
}

// "1 - 6.1e-18" for a rate just below 1, else the rate itself.
std::string rate_text(real log_rate) {
  const real gap = -std::expm1(log_rate);
  if (log_rate < 0 && gap < 0.1) return "1 - " + text(gap);
  return text(std::exp(log_rate));
}

real parse_param(const std::map<std::string, std::string>& params, const std::string& name, real fallback) {
  const auto found = params.find(name);
  if (found == params.end() || found->second == "auto") return fallback;
  return parse_real(found->second, "parameter '" + name + "'");
}

// The fixed-step theory holds for a first-order method (first_order.hpp parameters) only with
// the full batch, a constant step, no warm-up and no iterate averaging.
bool fixed_full_batch_steps(const std::map<std::string, std::string>& params, Index num_samples) {
  const auto is = [&](const std::string& name, std::initializer_list<const char*> accepted) {
    const auto found = params.find(name);
    if (found == params.end()) return true;
    for (const char* value : accepted)
      if (found->second == value) return true;
    return false;
  };
  const auto batch = params.find("batch_size");
  const bool full_batch = batch == params.end() || batch->second == "full" ||
                          parse_param(params, "batch_size", 0) >= static_cast<real>(num_samples);
  return full_batch && is("schedule", {"constant"}) && is("warmup", {"0"}) && is("averaging", {"none"});
}

}  // namespace

// ------------------------------------------------------------------------------ spectrum

real HessianSpectrum::smoothness() const { return eigenvalues.is_empty() ? 0 : eigenvalues(0); }

real HessianSpectrum::strong_convexity() const {
  return rank() == dim && !eigenvalues.is_empty() ? eigenvalues(eigenvalues.n_elem - 1) : 0;
}

real HessianSpectrum::condition() const {
  const real mu = strong_convexity();
  return mu > 0 ? smoothness() / mu : kInfinity;
}

real HessianSpectrum::nonzero_condition() const {
  return eigenvalues.is_empty() ? arma::datum::nan : smoothness() / eigenvalues(eigenvalues.n_elem - 1);
}

HessianSpectrum spectrum_from_singular_values(const Vec& singular_values, real scale, Index rows, Index dim) {
  HessianSpectrum spectrum;
  spectrum.dim = dim;
  if (singular_values.is_empty()) return spectrum;
  const Vec sorted = arma::sort(singular_values, "descend");
  const Vec kept = sorted.head(numerical_rank(sorted, rows, dim).rank);  // the svd reference's cutoff
  spectrum.eigenvalues = scale * arma::square(kept);
  return spectrum;
}

HessianSpectrum spectrum_from_eigenvalues(const Vec& eigenvalues, Index dim) {
  HessianSpectrum spectrum;
  spectrum.dim = dim;
  if (eigenvalues.is_empty()) return spectrum;
  const Vec sorted = arma::sort(eigenvalues, "descend");
  const real cutoff = kEpsilon * static_cast<real>(dim) * std::max<real>(sorted(0), 0);
  spectrum.eigenvalues = sorted.elem(arma::find(sorted > cutoff));
  return spectrum;
}

namespace {

HessianSpectrum regression_spectrum(const LinearModelProblem& problem, const Preconditioner& preconditioner) {
  const LossSpec& spec = problem.spec();
  if (spec.kind == LossKind::l1)
    throw NumericalError("l1 loss: not differentiable, so no Hessian, smoothness constant or rate (subgradient methods)");
  // H (l2) or the bound M (huber) = c A^T A + ridge I_f = c B^T B with B = [A; sqrt(ridge/c) E_f]
  // (E_f = [I_f 0] selects the feature weights); the optimizers see s P^T H P (s the objective
  // scale), i.e. the factor B P. Its singular values give the eigenvalues to the accuracy
  // eps sigma_max each, where forming B^T B would lose every eigenvalue below eps L.
  const real c = (spec.kind == LossKind::l2 ? 2.0 : 1.0) / static_cast<real>(problem.num_samples());
  const Index dim = problem.dim();
  Mat factor = preconditioner.transform_design(problem.design());
  if (spec.ridge > 0) {
    const Index features = spec.intercept ? dim - 1 : dim;
    const Mat selection = arma::eye<Mat>(features, dim);
    factor = arma::join_cols(factor, std::sqrt(spec.ridge / c) * preconditioner.transform_design(selection));
  }
  Vec sigma;
  if (!arma::svd(sigma, factor)) throw NumericalError("the singular value decomposition of the design did not converge");
  HessianSpectrum spectrum = spectrum_from_singular_values(sigma, c * preconditioner.objective_scale(), factor.n_rows, dim);
  spectrum.exact = spec.kind == LossKind::l2;
  return spectrum;
}

HessianSpectrum kernel_spectrum(const KernelSystemProblem& problem, const Preconditioner& preconditioner) {
  const Index n = problem.dim();
  if (preconditioner.name() == "none") return spectrum_from_eigenvalues(problem.hessian_eigenvalues(), n);
  // s P^T (K + lambda I) P, formed directly: no square is taken, so its eigenvalues keep the
  // accuracy eps |P^T H P| of the kernel's own.
  const Mat P = preconditioner.transform_design(arma::eye<Mat>(n, n));
  const Mat hessian = problem.kernel() + problem.lambda() * arma::eye<Mat>(n, n);
  Mat transformed = preconditioner.objective_scale() * (P.t() * hessian * P);
  transformed = 0.5 * (transformed + transformed.t());
  Vec eigenvalues;
  if (!arma::eig_sym(eigenvalues, transformed)) throw NumericalError("the eigendecomposition of P^T (K + lambda I) P did not converge");
  return spectrum_from_eigenvalues(eigenvalues, n);
}

}  // namespace

HessianSpectrum hessian_spectrum(const Problem& problem, const Preconditioner& preconditioner) {
  if (const auto* linear = dynamic_cast<const LinearModelProblem*>(&problem)) return regression_spectrum(*linear, preconditioner);
  if (const auto* kernel = dynamic_cast<const KernelSystemProblem*>(&problem)) return kernel_spectrum(*kernel, preconditioner);
  throw InputError("hessian_spectrum: only linear-model and kernel-system problems are supported");
}

real max_stable_step(const HessianSpectrum& spectrum) {
  const real L = spectrum.smoothness();
  return L > 0 ? 2 / L : kInfinity;
}

real normwise_floor(const HessianSpectrum& spectrum) { return spectrum.condition() * kEpsilon; }

// ------------------------------------------------------------------------------ rates

double iterations_for_log_rate(real log_rate, real tolerance) {
  if (std::isnan(log_rate) || std::isnan(tolerance)) return arma::datum::nan;
  if (tolerance >= 1) return 0;
  if (tolerance <= 0 || log_rate >= 0) return kInfinity;
  if (std::isinf(log_rate)) return 1;  // rate 0: done in one step
  return std::max(1.0, std::ceil(std::log(tolerance) / log_rate));
}

// Gradient descent on a quadratic: e_{k+1} = (I - lr H) e_k and g_{k+1} = (I - lr H) g_k, so
// |g_k| <= rho^k |g_0| with rho = max_i |1 - lr lambda_i| exactly (Nesterov 2004, Sec. 1.2.3);
// rho < 1 iff 0 < lr < 2/L.
real gradient_descent_log_rate(const HessianSpectrum& spectrum, real lr) {
  return max_over_spectrum(spectrum, [lr](real lambda) { return log_abs_one_minus(lr * lambda); });
}

// Heavy ball in PyTorch's form v' = beta v + g, w' = w - lr v'. Per eigenvalue, the error obeys
// e_{k+1} = (1 + beta - h) e_k - beta e_{k-1} (Polyak 1964; Polyak 1987, Sec. 3.2.1).
real heavy_ball_log_rate(const HessianSpectrum& spectrum, real lr, real momentum) {
  return max_over_spectrum(spectrum, [lr, momentum](real lambda) {
    const real h = lr * lambda;
    return log_spectral_radius(1 + momentum - h, momentum, h);
  });
}

// Nesterov in PyTorch's form v' = beta v + g, w' = w - lr (g + beta v'): per eigenvalue the
// state (e, v) evolves by [[1 - h (1 + beta), -lr beta^2], [lambda, beta]], with trace
// 1 + beta - h (1 + beta) and determinant beta (1 - h) (Sutskever et al. 2013).
real nesterov_log_rate(const HessianSpectrum& spectrum, real lr, real momentum) {
  return max_over_spectrum(spectrum, [lr, momentum](real lambda) {
    const real h = lr * lambda;
    return log_spectral_radius(1 + momentum - h * (1 + momentum), momentum * (1 - h), h);
  });
}

// GD with lr = 1/L contracts by 1 - 1/kappa (Nesterov 2004, Thm. 2.1.15 gives (1 - 1/kappa)
// in the squared norm for the strongly convex case; on a quadratic it is the exact rate).
double gradient_descent_iterations(real condition, real tolerance) {
  if (!(condition >= 1)) return arma::datum::nan;
  return iterations_for_log_rate(std::log1p(-1 / condition), tolerance);
}

// Accelerated gradient with constant momentum for strongly convex f: f_k - f* <= 2 (1 -
// 1/sqrt(kappa))^k (f_0 - f*) (Nesterov 1983; Nesterov 2004, Thm. 2.2.3). Optimally tuned heavy
// ball on a quadratic contracts by (sqrt(kappa) - 1)/(sqrt(kappa) + 1), about twice as fast.
double accelerated_iterations(real condition, real tolerance) {
  if (!(condition >= 1)) return arma::datum::nan;
  return iterations_for_log_rate(std::log1p(-1 / std::sqrt(condition)), tolerance);
}

// CG: |e_k|_H <= 2 ((sqrt(kappa) - 1)/(sqrt(kappa) + 1))^k |e_0|_H (Hestenes & Stiefel 1952;
// Saad 2003, Thm. 6.29), i.e. rho^k <= eps/2 with ln rho = ln(1 - 2/(sqrt(kappa) + 1)).
double conjugate_gradient_iterations(real condition, real tolerance) {
  if (!(condition >= 1)) return arma::datum::nan;
  if (tolerance >= 1) return 0;
  return iterations_for_log_rate(std::log1p(-2 / (std::sqrt(condition) + 1)), tolerance / 2);
}

// ------------------------------------------------------------------------------ method classes

MethodClass effective_method_class(const MethodTheory& theory, const std::map<std::string, std::string>& params,
                                   Index num_samples) {
  const bool rate_class = theory.method == MethodClass::gradient_descent || theory.method == MethodClass::heavy_ball ||
                          theory.method == MethodClass::nesterov;
  if (rate_class && !fixed_full_batch_steps(params, num_samples)) return MethodClass::none;
  return theory.method;
}

Prediction predict_iterations(const MethodTheory& theory, const std::map<std::string, std::string>& params,
                              const HessianSpectrum& spectrum, real tolerance, Index num_samples) {
  Prediction prediction;
  prediction.method = effective_method_class(theory, params, num_samples);
  const real L = spectrum.smoothness();
  // A singular H (rank < dim): from w_0 = 0 the iterates stay in range(H) and converge to the
  // minimum-norm minimizer at the rate of the nonzero spectrum.
  const bool singular = spectrum.rank() < spectrum.dim;
  const real condition = singular ? spectrum.nonzero_condition() : spectrum.condition();
  const std::string target = "to reduce by " + text(tolerance);
  switch (prediction.method) {
    case MethodClass::none:
      prediction.basis = "no iteration-count theory for this method";
      return prediction;
    case MethodClass::direct:
      prediction.iterations = 0;
      prediction.basis = "direct solve";
      return prediction;
    case MethodClass::newton:
      prediction.iterations = 1;
      prediction.basis = "Newton's method on a quadratic: one step";
      return prediction;
    default: break;
  }
  if (!(tolerance > 0)) {
    prediction.basis = "no tolerance (grad_tol = 0): no target to predict";
    return prediction;
  }
  if (!spectrum.exact || !(L > 0)) {
    prediction.basis = spectrum.exact ? "the Hessian is zero" : "the loss is not quadratic (huber): only a curvature bound is known";
    return prediction;
  }
  const std::string kappa_text =
      (singular ? ", kappa_H of the nonzero spectrum = " : ", kappa_H = ") + text(condition) +
      (singular ? " (H singular, rank " + std::to_string(spectrum.rank()) + " of " + std::to_string(spectrum.dim) +
                      ": from w_0 = 0 the iterates stay in range(H))"
                : "");
  if (prediction.method == MethodClass::conjugate_gradient) {
    prediction.log_rate = std::log1p(-2 / (std::sqrt(condition) + 1));
    prediction.iterations = conjugate_gradient_iterations(condition, tolerance);
    prediction.upper_bound = true;
    prediction.basis = "CG bound 2 ((sqrt(kappa_H) - 1)/(sqrt(kappa_H) + 1))^k " + target + kappa_text;
    return prediction;
  }
  // The step and beta are read from the parameters the plugin named in its MethodTheory.
  const auto step = params.find(theory.step_size);
  const real lr = parse_param(params, theory.step_size, 1 / L);
  const std::string lr_text =
      theory.step_size + " = " + text(lr) + (step != params.end() && step->second != "auto" ? "" : " (1/L)");
  if (prediction.method == MethodClass::gradient_descent) {
    prediction.log_rate = gradient_descent_log_rate(spectrum, lr);
    prediction.iterations = iterations_for_log_rate(prediction.log_rate, tolerance);
    if (lr >= 2 / L)
      prediction.basis = lr_text + " >= 2/L = " + text(2 / L) + ": gradient descent diverges";
    else
      prediction.basis = "gradient descent, " + lr_text + ": rate max|1 - lr lambda| = " + rate_text(prediction.log_rate) +
                         " per iteration " + target + kappa_text;
    return prediction;
  }
  // heavy ball and nesterov with the run's beta; without one, and accelerated: the tuned bound
  if ((prediction.method == MethodClass::heavy_ball || prediction.method == MethodClass::nesterov) &&
      params.count(theory.momentum)) {
    const real beta = parse_param(params, theory.momentum, 0);
    prediction.log_rate = prediction.method == MethodClass::nesterov ? nesterov_log_rate(spectrum, lr, beta) : heavy_ball_log_rate(spectrum, lr, beta);
    prediction.iterations = iterations_for_log_rate(prediction.log_rate, tolerance);
    prediction.basis = to_string(prediction.method) + " with " + lr_text + ", " + theory.momentum + " " + text(beta) + ": spectral radius " +
                       rate_text(prediction.log_rate) + (prediction.log_rate >= 0 ? " >= 1: diverges" : " per iteration " + target) +
                       kappa_text;
    return prediction;
  }
  prediction.log_rate = std::log1p(-1 / std::sqrt(condition));
  prediction.iterations = accelerated_iterations(condition, tolerance);
  prediction.upper_bound = true;
  prediction.basis = "tuned accelerated bound sqrt(kappa_H) ln(1/eps) " + target + kappa_text;
  return prediction;
}

// ------------------------------------------------------------------------------ diagnose

namespace {

FormulationFigures figures_for(Formulation formulation, const std::string& hessian, const HessianSpectrum& spectrum, real tolerance) {
  FormulationFigures figures;
  figures.formulation = formulation;
  figures.hessian = hessian;
  figures.spectrum = spectrum;
  figures.max_stable_step = max_stable_step(spectrum);
  const real condition = spectrum.condition();
  figures.gradient_descent_iterations = gradient_descent_iterations(condition, tolerance);
  figures.accelerated_iterations = accelerated_iterations(condition, tolerance);
  figures.conjugate_gradient_iterations = conjugate_gradient_iterations(condition, tolerance);
  figures.normwise_floor = normwise_floor(spectrum);
  return figures;
}

// The preconditioner figures: kappa_H of P^T H P for every known preconditioner, each fitted by
// `fit` (which may refuse, e.g. a preconditioner that needs an intercept).
// `unpreconditioned` is the spectrum already computed for "none" (not computed again).
template <class Fit>
std::vector<PreconditionerFigure> preconditioner_figures(const Problem& problem, Fit fit, const HessianSpectrum& unpreconditioned) {
  std::vector<PreconditionerFigure> figures;
  for (const std::string& name : preconditioner_names()) {
    PreconditionerFigure figure;
    figure.name = name;
    if (name == "none") {
      figure.condition = unpreconditioned.condition();
      figures.push_back(figure);
      continue;
    }
    try {
      const std::unique_ptr<Preconditioner> preconditioner = fit(name);
      figure.condition = hessian_spectrum(problem, *preconditioner).condition();
    } catch (const Error& error) {
      figure.refused = error.what();
    }
    figures.push_back(figure);
  }
  return figures;
}

std::string regression_hessian_text(const LossSpec& loss) {
  const std::string design = loss.intercept ? "A^T A (A = [X 1])" : "X^T X";
  const std::string ridge = loss.ridge > 0 ? " + ridge I" : "";
  return loss.kind == LossKind::l2 ? "(2/n) " + design + ridge : "(1/n) " + design + ridge + " (huber: a bound on the Hessian)";
}

const PreconditionerFigure* best_preconditioner(const FormulationFigures& figures) {
  const PreconditionerFigure* best = nullptr;
  for (const PreconditionerFigure& figure : figures.preconditioners)
    if (figure.refused.empty() && figure.name != "none" && std::isfinite(figure.condition) &&
        (!best || figure.condition < best->condition))
      best = &figure;
  return best;
}

std::string claim_text(const Claim& claim) {
  const std::string budget = claim.kind == ClaimKind::reaches && claim.max_iterations <= 1
                                 ? ""
                                 : " within " + std::to_string(claim.max_iterations) + " iterations";
  switch (claim.kind) {
    case ClaimKind::reaches:
      return "Reaches w*: " + claim.method + ", rel_w_err <= " + text(claim.bound) + budget + " (" + claim.basis + ").";
    case ClaimKind::stalls:
      return "Does not reach w*: " + claim.method + ", rel_w_err >= " + text(claim.bound) + " after " +
             std::to_string(claim.max_iterations) + " iterations (" + claim.basis + ").";
    case ClaimKind::diverges:
      return "Diverges: " + claim.method + " within " + std::to_string(claim.max_iterations) + " iterations (" +
             claim.basis + ").";
  }
  return "";
}

// The verdict: the figures that decide, then each claim (all checked by running them: the
// verdict tests), then what the claims do not cover, said as explanation without numbers that
// could be false.
void write_verdict(Diagnosis& d) {
  std::vector<std::string>& out = d.verdict;
  const std::string eps = text(kEpsilon);
  const FormulationFigures* regression = d.regression ? &*d.regression : nullptr;
  const FormulationFigures* kernel = d.kernel_system ? &*d.kernel_system : nullptr;
  if (!regression) {
    if (!d.regression_note.empty()) out.push_back("Regression: " + d.regression_note + ".");
  } else {
    const FormulationFigures& r = *regression;
    const real kappa_H = r.spectrum.condition();
    const bool plain = d.loss.kind == LossKind::l2 && d.loss.ridge == 0 && !d.loss.intercept;
    out.push_back("cond(X) = " + condition_text(numerical_rank(d.singular_values, d.samples, d.features)) +
                  ", so the Hessian of the loss, " + r.hessian + ", has kappa_H = " + text(kappa_H) +
                  (plain && std::isfinite(kappa_H) ? " = cond(X)^2" : "") + ".");
    if (d.rank < d.features && d.loss.ridge == 0)
      out.push_back("X has rank " + std::to_string(d.rank) + " < d = " + std::to_string(d.features) +
                    ": the least-squares solutions are w* + null(X), and w* is the minimum-norm one. Methods that start "
                    "at w = 0 and only multiply by X and X^T (GD, CG, LSQR) stay in range(X^T) and head for w*; a "
                    "preconditioner or another start finds another solution, which rel_w_err_range recognizes.");
    if (r.attainable_accuracy > 0)
      out.push_back("Rounding allows w* to about F = " + text(r.attainable_accuracy) +
                    " relative accuracy: the problem's own sensitivity (Higham 2002, Thm. 20.1), reached by a backward-"
                    "stable direct solve and by Krylov methods that keep their basis orthogonal. kappa_H eps_mach = " +
                    text(r.normwise_floor) + " is the worst case for a gradient whose error is eps L |w| in every "
                    "direction; the rounding of X^T (X w - y) along the i-th singular direction is scaled by sigma_i, "
                    "so that figure is not the limit" + std::string(r.normwise_floor >= 1 ? " even though it is >= 1." : "."));
  }
  for (const Claim& claim : d.claims) out.push_back(claim_text(claim));
  if (regression && d.loss.kind == LossKind::l2) {
    out.push_back("Plain CG, CGLS and LSQR (reorthogonalize=none) have the same exact-arithmetic guarantee, but their "
                  "short recurrences lose orthogonality in floating point once the large singular values are resolved, "
                  "and convergence along the small ones is delayed by an amount no bound predicts (Greenbaum 1997); "
                  "CG's bound of " + text(regression->conjugate_gradient_iterations) + " iterations for a reduction by " +
                  text(d.tolerance) + " is for exact arithmetic.");
    out.push_back("torch.optim.LBFGS (kappa's torch_lbfgs) ends a step() when g.d > -tolerance_change (1e-9), an "
                  "absolute test on the directional derivative along its quasi-Newton direction d: it measures neither "
                  "the loss gap nor the distance to w*, and on badly scaled or ill-conditioned data it can fire far "
                  "from both; every later step() then evaluates once and stops by the same test. kappa solve names "
                  "the rule that stopped it and its values.");
  }
  for (const FormulationFigures* figures : {regression, kernel}) {
    if (!figures) continue;
    const PreconditionerFigure* best = best_preconditioner(*figures);
    const real before = figures->spectrum.condition();
    if (best && best->condition < 1e-2 * before)
      out.push_back("Preconditioning (" + to_string(figures->formulation) + "): --preconditioner " + best->name + " brings kappa_H from " +
                    text(before) + " to " + text(best->condition) +
                    (best->name == "whiten" ? "; its fit is a QR factorization of the Hessian factor, as costly as a direct solve, "
                                              "and w = P z is then accurate to about cond(P) eps_mach" : "") + ".");
  }
  if (regression && d.loss.ridge == 0) {
    const real L = regression->spectrum.smoothness();
    const real ridge = std::pow(10.0, std::floor(std::log10(L))) * 1e-8;
    const real mu = regression->spectrum.strong_convexity();
    if (L > 0 && L / std::max(mu, std::numeric_limits<real>::min()) > 1e8)
      out.push_back("If the goal is prediction rather than the interpolant, a ridge penalty bounds kappa_H by (L + ridge) / (mu + ridge): "
                    "e.g. --ridge " + text(ridge) + " gives " + text((L + ridge) / (mu + ridge)) + " (a different model, to validate).");
  }
  // The confirmation command: the cheapest iterative claim that reaches w*.
  for (const Claim& claim : d.claims)
    if (claim.kind == ClaimKind::reaches && claim.max_iterations > 1) {
      d.recommended_solve_options = claim.solve_options;
      break;
    }
}

}  // namespace

Diagnosis diagnose(const Dataset& data, const LossSpec& loss, real tolerance, std::optional<Formulation> only, long budget) {
  loss.validate();
  if (!(tolerance > 0 && tolerance < 1))
    throw InputError("tolerance = " + format_number(tolerance) + ": expected a number > 0 and < 1");
  if (budget < 1) throw InputError("budget = " + std::to_string(budget) + ": expected an iteration count >= 1");
  validate(data);
  Diagnosis d;
  d.source = data.source;
  d.samples = data.num_samples();
  d.features = data.num_features();
  d.test_samples = data.has_test() ? data.X_test.n_rows : 0;
  d.loss = loss;
  d.tolerance = tolerance;
  d.budget = budget;
  // The loss options a `kappa solve` of a claim needs to pose the same problem.
  std::string loss_options = loss.ridge > 0 ? "--ridge " + format_number(loss.ridge) : "";
  if (!arma::svd(d.singular_values, data.X_train))
    throw NumericalError("data '" + data.source + "': the singular value decomposition of X did not converge");
  const NumericalRank numerical = numerical_rank(d.singular_values, d.samples, d.features);  // kappa/dense_solve.hpp
  d.rank = numerical.rank;
  d.condition = numerical.condition;
  d.square = d.samples == d.features;

  if (!only || *only == Formulation::regression) {
    if (loss.kind == LossKind::l1) {
      d.regression_note = "the l1 loss is not differentiable, so there is no Hessian, L, mu or linear rate (subgradient methods "
                          "converge like O(1/sqrt(k)))";
    } else {
      const LinearModelProblem problem(data.X_train, data.y_train, loss);
      // l2: one SVD of the least-squares form B serves the spectrum (H = 2 B^T B, the same
      // cutoff) and the claims; huber: the bound's own spectrum.
      std::optional<LeastSquaresSensitivity> sensitivity;
      HessianSpectrum spectrum;
      if (loss.kind == LossKind::l2) {
        const Mat B = problem.least_squares_matrix();
        sensitivity = least_squares_sensitivity(B, problem.least_squares_rhs());
        spectrum = spectrum_from_singular_values(sensitivity->singular_values, 2.0, B.n_rows, problem.dim());
      } else {
        spectrum = hessian_spectrum(problem, *make_preconditioner("none", problem));
      }
      d.regression = figures_for(Formulation::regression, regression_hessian_text(loss), spectrum, tolerance);
      d.regression->preconditioners = preconditioner_figures(
          problem, [&](const std::string& name) { return make_preconditioner(name, problem); }, spectrum);
      if (sensitivity) {
        d.regression->attainable_accuracy = sensitivity->attainable_accuracy;
        d.solution_norm = sensitivity->solution_norm;
        const std::string options = loss_options + (loss.intercept ? std::string(loss_options.empty() ? "" : " ") + "--intercept" : "");
        for (Claim& claim : regression_claims(*sensitivity, options, budget)) d.claims.push_back(std::move(claim));
      }
    }
  }
  if (!only || *only == Formulation::kernel_system) {
    try {
      check_kernel_system_spec(loss);
      const KernelSystemProblem problem(data.X_train, data.y_train, loss.ridge, data.source);
      const std::unique_ptr<Preconditioner> identity = make_kernel_system_preconditioner("none", problem);
      d.kernel_system = figures_for(Formulation::kernel_system, loss.ridge > 0 ? "K + lambda I (lambda = ridge)" : "K",
                                    hessian_spectrum(problem, *identity), tolerance);
      d.kernel_system->preconditioners = preconditioner_figures(
          problem, [&](const std::string& name) { return make_kernel_system_preconditioner(name, problem); },
          d.kernel_system->spectrum);
      const Mat system = data.X_train + loss.ridge * arma::eye(data.num_samples(), data.num_samples());
      const LeastSquaresSensitivity sensitivity = least_squares_sensitivity(system, data.y_train);
      d.kernel_system->attainable_accuracy = sensitivity.attainable_accuracy;
      for (Claim& claim : kernel_system_claims(sensitivity, loss_options)) d.claims.push_back(std::move(claim));
    } catch (const InputError& error) {
      if (only) throw;
      d.kernel_refused = error.what();
    }
  }
  write_verdict(d);
  return d;
}

}  // namespace kappa
