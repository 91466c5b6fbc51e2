#pragma once
// What the spectrum of a quadratic problem predicts: the condition number, the step sizes at
// which gradient descent converges or explodes, how many iterations each class of method needs,
// and when double precision itself is the limit. `kappa diagnose` prints these figures and
// `kappa solve` puts the predicted iterations beside the measured ones. docs/theory.md derives
// every formula; the sources are cited where each is computed (theory.cpp).
//
// Conventions:
// - H is the Hessian of the objective the optimizers see, after the change of variables
//   w = P z of the preconditioner: P^T H P. Regression (problem.hpp): H = (2/n) A^T A + ridge I_f
//   for l2; for huber the curvature bound M = (1/n) A^T A + ridge I_f >= H(w) (the Hessian where
//   every residual is within delta); l1 has none. Kernel system (kernel_system.hpp):
//   H = K + lambda I.
// - L = lambda_max(H) (smoothness), mu = lambda_min(H) (strong convexity), kappa_H = L / mu.
//   Eigenvalues at the rounding level (those of a factor's singular values at or below
//   eps max(rows, cols) sigma_max, or eigenvalues at or below eps dim lambda_max) count as zero:
//   then mu = 0 and kappa_H is infinite (H singular; its null space is never corrected).
// - "Iterations to reach eps" means to reduce the error (GD: and the gradient norm, exactly) by
//   the factor eps; kappa solve uses its grad_tol as eps.
// - Everything is computed from exact singular values or eigenvalues (LAPACK): an analysis tool,
//   O(n d^2) time for the regression (an SVD of the n x d design), O(n^3) for the kernel system.

#include <map>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "kappa/optimizer.hpp"
#include "core/data/dataset.hpp"
#include "core/problems/kernel_system.hpp"
#include "core/preconditioners/preconditioner.hpp"
#include "core/problems/linear_model.hpp"
#include "core/theory/claims.hpp"

namespace kappa {

// The numerically nonzero eigenvalues of H (descending) and the dimension they live in.
struct HessianSpectrum {
  Vec eigenvalues;
  Index dim = 0;
  bool exact = true;  // false: a curvature bound M >= H(w) (huber), not the Hessian itself

  Index rank() const { return eigenvalues.n_elem; }
  real smoothness() const;         // L = lambda_max; 0 when H = 0
  real strong_convexity() const;   // mu = lambda_min, 0 when rank < dim
  real condition() const;          // L / mu; infinite when mu = 0
  // L over the smallest kept eigenvalue: what governs methods that start at 0 and stay in
  // range(H) (GD, CG), which converge to the minimum-norm minimizer when H is singular.
  real nonzero_condition() const;
};

// H = scale B^T B from the singular values of B (rows x cols = dim): eigenvalues scale sigma^2,
// with sigma <= eps max(rows, cols) sigma_max dropped (the svd reference's cutoff).
HessianSpectrum spectrum_from_singular_values(const Vec& singular_values, real scale, Index rows, Index dim);
// From eigenvalues of a symmetric PSD H (any order): those <= eps dim lambda_max dropped.
HessianSpectrum spectrum_from_eigenvalues(const Vec& eigenvalues, Index dim);

// The spectrum of P^T H P for a LinearModelProblem (from the SVD of [A P; sqrt(ridge/c) I_f P],
// never of a formed A^T A, which would lose every eigenvalue below eps L) or a
// KernelSystemProblem. Throws NumericalError for the l1 loss (no Hessian) and InputError for
// any other kind of problem.
HessianSpectrum hessian_spectrum(const Problem& problem, const Preconditioner& preconditioner);

// Largest step for which fixed-step gradient descent does not diverge on the quadratic: 2 / L.
real max_stable_step(const HessianSpectrum& spectrum);

// kappa_H eps_mach: the relative accuracy in w that a normwise gradient error of eps L |w| would
// allow (Higham 2002, Sec. 7.1: relative error <= cond * relative perturbation). It is a worst
// case, not the limit: the rounding of X^T (X w - y) along the i-th singular direction is
// scaled by sigma_i, so direct solves and reorthogonalized Krylov methods reach about
// cond(X) eps_mach (core/theory/claims.hpp), far below it on ill-conditioned data.
real normwise_floor(const HessianSpectrum& spectrum);

// Rates are handled as their logarithms, so that a contraction factor of 1 - 1e-17 is not
// rounded to 1: iterations k with rho^k <= tolerance = ceil(ln(tolerance) / ln(rho)), at least 1;
// 0 for tolerance >= 1, infinity for ln(rho) >= 0 (no convergence), NaN for a NaN rate.
double iterations_for_log_rate(real log_rate, real tolerance);

// ln of the asymptotic per-iteration contraction factor on the quadratic (the largest over the
// eigenvalues lambda of H, h = lr lambda):
//   gradient descent w' = w - lr g:                      |1 - h|
//   heavy ball, PyTorch SGD(momentum=beta) (Polyak 1964): largest root of z^2 - (1 + beta - h) z + beta
//   Nesterov, PyTorch SGD(nesterov=True):                largest root of z^2 - (1 + beta - h (1 + beta)) z + beta (1 - h)
real gradient_descent_log_rate(const HessianSpectrum& spectrum, real lr);
real heavy_ball_log_rate(const HessianSpectrum& spectrum, real lr, real momentum);
real nesterov_log_rate(const HessianSpectrum& spectrum, real lr, real momentum);

// Bounds in terms of the condition number alone (each the iterations to reach `tolerance`):
double gradient_descent_iterations(real condition, real tolerance);  // lr = 1/L: ln(1/eps) / -ln(1 - 1/kappa) ~ kappa ln(1/eps)
double accelerated_iterations(real condition, real tolerance);      // ln(1/eps) / -ln(1 - 1/sqrt(kappa)) ~ sqrt(kappa) ln(1/eps)
double conjugate_gradient_iterations(real condition, real tolerance);  // 2 ((sqrt k - 1)/(sqrt k + 1))^k <= eps: ~ sqrt(kappa)/2 ln(2/eps)

inline std::ostream& operator<<(std::ostream& out, MethodClass method) { return out << to_string(method); }

// Which theory applies to one run of a method, from the class its plugin declared
// (OptimizerInfo::theory; the workbench knows no optimizer by name) and the run's parameter
// values as text (Params::as_text). The rate classes (gradient_descent, heavy_ball, nesterov)
// describe the SDK's first-order loop (first_order_params) and count only with the full batch
// (batch_size absent, full or >= n), a constant schedule and no warm-up or averaging; otherwise
// none. Every other class is returned as declared.
MethodClass effective_method_class(const MethodTheory& theory, const std::map<std::string, std::string>& params,
                                   Index num_samples);

struct Prediction {
  MethodClass method = MethodClass::none;
  double iterations = arma::datum::nan;  // NaN: no prediction; infinity: does not converge
  real log_rate = arma::datum::nan;      // ln of the per-iteration contraction factor used
  bool upper_bound = false;              // a worst-case bound (CG, accelerated), not a rate's count
  std::string basis;                     // one line: the formula and its numbers
};

// The predicted iteration count of one run on a quadratic with this spectrum, to reduce its
// error by `tolerance`, for the effective class of `theory` (above), reading the step from the
// parameter theory.step_size ("auto" or absent = 1/L) and beta from theory.momentum:
//   gradient_descent    exact rate max |1 - lr lambda_i| (diverges when lr > 2/L);
//   heavy_ball,         the spectral radius of their two-term recurrence with the run's lr and
//   nesterov            momentum (without a momentum parameter: as accelerated);
//   accelerated         the tuned bound sqrt(kappa) ln(1/eps);
//   conjugate_gradient  the classical bound 2 ((sqrt(kappa)-1)/(sqrt(kappa)+1))^k;
//   newton 1, direct 0, none: no prediction (NaN).
// A spectrum that is not exact (huber) gives no prediction for the rate and bound classes.
Prediction predict_iterations(const MethodTheory& theory, const std::map<std::string, std::string>& params,
                              const HessianSpectrum& spectrum, real tolerance, Index num_samples);

// ---------------------------------------------------------------------------------------------
// kappa diagnose: every figure for one dataset and loss.

struct PreconditionerFigure {
  std::string name;
  real condition = arma::datum::nan;  // kappa_H of P^T H P
  std::string refused;                // why the preconditioner does not apply here, if it does not
};

struct FormulationFigures {
  Formulation formulation = Formulation::regression;
  std::string hessian;       // e.g. "(2/n) X^T X", "K + lambda I"
  HessianSpectrum spectrum;
  real max_stable_step = 0;  // 2/L
  double gradient_descent_iterations = 0;   // at lr = 1/L
  double accelerated_iterations = 0;
  double conjugate_gradient_iterations = 0;
  real normwise_floor = 0;        // kappa_H eps_mach (normwise_floor above)
  real attainable_accuracy = 0;   // F of claims.hpp for the formulation's linear least-squares problem; 0: none (huber)
  std::vector<PreconditionerFigure> preconditioners;  // one per preconditioner_names()
};

struct Diagnosis {
  std::string source;
  Index samples = 0;
  Index features = 0;
  Index test_samples = 0;
  LossSpec loss;
  real tolerance = 1e-10;

  Vec singular_values;  // of X_train, descending
  Index rank = 0;       // numerical rank of X (cutoff eps max(n, d) sigma_max)
  real condition = 0;   // sigma_max / sigma_min (infinite when rank < min(n, d))

  bool square = false;
  std::string kernel_refused;  // why X is not usable as a kernel system (empty when it is)

  std::optional<FormulationFigures> regression;      // absent when not asked for, or l1 (see below)
  std::string regression_note;                       // why absent (l1: no Hessian)
  std::optional<FormulationFigures> kernel_system;   // when X is a square symmetric PSD kernel

  real solution_norm = arma::datum::nan;  // |w*| of the regression (l2), NaN otherwise
  long budget = 10000;                    // the iterations the fixed-step claims are about
  std::vector<Claim> claims;              // each checked by running it (claims.hpp)
  std::vector<std::string> verdict;       // plain-language paragraphs with the numbers
  // Options of `kappa solve` (besides the data) that should reach w* here, for the user to
  // confirm the verdict; empty when only a direct solve does.
  std::string recommended_solve_options;
};

// `only`: restrict to one formulation (the kernel system then must apply: InputError naming the
// reason otherwise); without it, the regression and, when X is a kernel, the kernel system.
// Throws InputError for an invalid loss or tolerance (in (0, 1)).
// `budget`: the iterations of the fixed-step claims (>= 1).
Diagnosis diagnose(const Dataset& data, const LossSpec& loss, real tolerance,
                   std::optional<Formulation> only = std::nullopt, long budget = 10000);

}  // namespace kappa
