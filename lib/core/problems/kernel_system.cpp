#include "core/problems/kernel_system.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>

#include "kappa/enum_names.hpp"
#include "kappa/error.hpp"
#include "kappa/parse.hpp"

namespace kappa {
namespace {

constexpr real kEpsilon = std::numeric_limits<real>::epsilon();
// Relative asymmetry accepted as rounding (a kernel computed as k(a_i, a_j) and k(a_j, a_i) in
// a different order of operations differs by a few eps; a real asymmetry is far larger).
constexpr real kSymmetryTolerance = 1e-10;

std::string shape_text(const Mat& K) { return std::to_string(K.n_rows) + " x " + std::to_string(K.n_cols); }

// Eigenvalues at or below n eps lambda_max are rounding: zero (the cutoff of the svd reference,
// eps max(n, d) sigma_max, for a symmetric PSD matrix whose singular values are its eigenvalues).
real eigenvalue_cutoff(const Vec& descending, Index n) {
  return descending.is_empty() ? 0 : kEpsilon * static_cast<real>(n) * std::max<real>(descending(0), 0);
}

Vec descending(const Vec& ascending) { return arma::flipud(ascending); }

}  // namespace

constexpr EnumName<Formulation> kFormulationNames[] = {{Formulation::regression, "regression"},
                                                       {Formulation::kernel_system, "kernel-system"}};

std::string to_string(Formulation formulation) { return enum_name(kFormulationNames, formulation); }
Formulation parse_formulation(const std::string& name) { return parse_enum(kFormulationNames, name, "formulation"); }

void check_kernel_system_spec(const LossSpec& spec) {
  spec.validate();
  if (spec.kind != LossKind::l2)
    throw InputError("formulation kernel-system: loss '" + to_string(spec.kind) +
                     "' has no meaning there (it minimizes 1/2 a^T (K + ridge I) a - y^T a); use --loss l2 or the regression formulation");
  if (spec.intercept)
    throw InputError("formulation kernel-system: an intercept has no meaning there (the weights are the kernel coefficients); "
                     "drop --intercept or use the regression formulation");
}

KernelSystemProblem::KernelSystemProblem(const Mat& K, const Vec& y, real lambda, const std::string& source)
    : lambda_(lambda) {
  const std::string prefix = "kernel system on '" + source + "': ";
  if (K.is_empty()) throw InputError(prefix + "the kernel matrix is empty");
  if (K.n_rows != K.n_cols)
    throw InputError(prefix + "the kernel matrix must be square, it is " + shape_text(K) +
                     " (the kernel-system formulation needs K(x_i, x_j) over the training points; use the regression formulation)");
  if (y.n_elem != K.n_rows)
    throw InputError(prefix + "K is " + shape_text(K) + " but y has " + std::to_string(y.n_elem) + " values");
  if (!(lambda >= 0) || !std::isfinite(lambda))
    throw InputError(prefix + "ridge (lambda) = " + format_number(lambda) + ": expected a finite number >= 0");
  if (!K.is_finite() || !y.is_finite()) throw InputError(prefix + "K or y has NaN or infinite values");
  const real largest = arma::abs(K).max();
  symmetry_error_ = largest > 0 ? arma::abs(K - K.t()).max() / largest : 0;
  if (symmetry_error_ > kSymmetryTolerance)
    throw InputError(prefix + "the kernel matrix is not symmetric: max |K - K^T| = " + format_number(symmetry_error_) +
                     " max |K| (tolerance " + format_number(kSymmetryTolerance) + "); use the regression formulation");
  kernel_ = 0.5 * (K + K.t());
  targets_ = y;

  const auto start = std::chrono::steady_clock::now();
  Vec ascending;
  Mat vectors;
  if (!arma::eig_sym(ascending, vectors, kernel_))
    throw NumericalError(prefix + "the eigendecomposition of K did not converge");
  const Vec kernel_eigenvalues = descending(ascending);
  const Index n = kernel_.n_rows;
  const real lambda_max = std::max<real>(kernel_eigenvalues(0), 0);
  const real lambda_min = kernel_eigenvalues(n - 1);
  const real psd_tolerance = kEpsilon * static_cast<real>(n) * std::max(lambda_max, std::fabs(lambda_min));
  if (lambda_min < -psd_tolerance)
    throw InputError(prefix + "the kernel matrix is not positive semi-definite: smallest eigenvalue " + format_number(lambda_min) +
                     " < -" + format_number(psd_tolerance) + " (= -n eps lambda_max); the kernel-system formulation needs a "
                     "PSD kernel, use the regression formulation");

  eigenvalues_ = kernel_eigenvalues + lambda_;
  eigenvalues_.elem(arma::find(eigenvalues_ < 0)).zeros();  // rounding below the PSD tolerance
  const real cutoff = eigenvalue_cutoff(eigenvalues_, n);
  const Mat V = arma::fliplr(vectors);
  const arma::uvec kept = arma::find(eigenvalues_ > cutoff);
  rank_ = kept.n_elem;
  // alpha* = V_r diag(1 / mu_r) V_r^T y, the minimum-norm minimizer.
  solution_ = V.cols(kept) * ((V.cols(kept).t() * targets_) / eigenvalues_.elem(kept));
  if (solution_.is_empty()) solution_.zeros(n);
  shift_ = 0.5 * arma::dot(targets_, solution_);
  decomposition_seconds_ = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

Mat KernelSystemProblem::hessian_factor() const {
  Vec ascending;
  Mat vectors;
  const Mat hessian = kernel_ + lambda_ * Mat(dim(), dim(), arma::fill::eye);
  if (!arma::eig_sym(ascending, vectors, hessian))
    throw NumericalError("kernel system: the eigendecomposition of K + lambda I did not converge");
  const Vec roots = arma::sqrt(arma::clamp(ascending, 0.0, std::numeric_limits<real>::max()));
  return vectors * arma::diagmat(roots) * vectors.t();
}

real KernelSystemProblem::compute_loss(const Vec& alpha) const {
  return 0.5 * arma::dot(alpha, hessian_times(alpha)) - arma::dot(targets_, alpha) + shift_;
}

real KernelSystemProblem::compute_loss_grad(const Vec& alpha, Vec& gradient) const {
  const Vec h_alpha = hessian_times(alpha);
  gradient = h_alpha - targets_;
  return 0.5 * arma::dot(alpha, h_alpha) - arma::dot(targets_, alpha) + shift_;
}

real KernelSystemProblem::compute_batch_loss_grad(const Vec& alpha, const IndexVec& rows, Vec& gradient) const {
  // phi_i = alpha_i ((H alpha)_i / 2 - y_i), grad phi_i = e_i ((H alpha)_i / 2 - y_i) + alpha_i H e_i / 2
  // (H symmetric); the batch estimate is (n / |B|) times their sum.
  const real scale = static_cast<real>(dim()) / static_cast<real>(rows.n_elem);
  const Vec h_rows = kernel_.rows(rows) * alpha + lambda_ * alpha.elem(rows);  // (H alpha)_B
  const Vec alpha_rows = alpha.elem(rows);
  const Vec half_minus_y = 0.5 * h_rows - targets_.elem(rows);
  gradient.zeros(dim());
  gradient.elem(rows) += half_minus_y;
  // sum_i alpha_i H e_i / 2 = (K_{:,B} alpha_B + lambda alpha_B on B) / 2; K symmetric: K_{:,B} = K_{B,:}^T.
  gradient += 0.5 * (kernel_.rows(rows).t() * alpha_rows);
  gradient.elem(rows) += 0.5 * lambda_ * alpha_rows;
  gradient *= scale;
  return scale * arma::dot(alpha_rows, half_minus_y) + shift_;
}

void KernelSystemProblem::compute_hess_vec(const Vec&, const Vec& v, Vec& out) const { out = hessian_times(v); }

void KernelSystemProblem::compute_curvature_bound_vec(const Vec& v, Vec& out) const { out = hessian_times(v); }

real KernelSystemProblem::compute_max_sample_smoothness() const {
  // L_i = n (H_ii + |H e_i|) / 2 (see the header), H e_i the i-th column of K + lambda I.
  const Index n = dim();
  real largest = 0;
  for (Index i = 0; i < n; ++i) {
    Vec column = kernel_.col(i);
    column(i) += lambda_;
    largest = std::max(largest, column(i) + arma::norm(column));
  }
  return 0.5 * static_cast<real>(n) * largest;
}

DirectSolution kernel_system_reference(const KernelSystemProblem& problem, DirectMethod method) {
  const auto start = std::chrono::steady_clock::now();
  DirectSolution out;
  out.method = method;
  const Index n = problem.dim();
  switch (method) {
    case DirectMethod::svd:
      out.w = problem.minimum_norm_solution();
      out.rank = problem.rank();
      out.singular_values = problem.hessian_eigenvalues();
      break;
    case DirectMethod::qr: {
      const Mat hessian = problem.kernel() + problem.lambda() * Mat(n, n, arma::fill::eye);
      out = solve_least_squares(hessian, problem.targets(), DirectMethod::qr);
      break;
    }
    case DirectMethod::cholesky: {
      const Mat hessian = problem.kernel() + problem.lambda() * Mat(n, n, arma::fill::eye);
      Mat R;
      if (!arma::chol(R, hessian))
        throw NumericalError("cholesky: K + lambda I is not numerically positive definite; use svd (minimum-norm) or add --ridge");
      out.w = arma::solve(arma::trimatu(R), arma::solve(arma::trimatl(R.t()), problem.targets()));
      if (!out.w.is_finite()) throw NumericalError("cholesky: the triangular solves overflowed (K + lambda I nearly singular); use svd");
      out.rank = n;
      break;
    }
  }
  out.method = method;
  Vec gradient;
  problem.loss_grad(out.w, gradient);
  out.residual_norm = arma::norm(gradient);
  out.normal_residual_norm = out.residual_norm;
  out.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() +
                (method == DirectMethod::svd ? problem.decomposition_seconds() : 0.0);
  return out;
}

std::unique_ptr<Preconditioner> make_kernel_system_preconditioner(const std::string& chain,
                                                                  const KernelSystemProblem& problem) {
  const std::vector<PreconditionerItem> items = parse_preconditioner_chain(chain);
  const bool identity =
      std::all_of(items.begin(), items.end(), [](const PreconditionerItem& item) { return item.name == "none"; });
  LossSpec loss;  // l2, no ridge, no intercept: the preconditioners' Hessian is then (2/n) B^T B
  if (identity) return make_preconditioner(chain, Mat(problem.dim(), problem.dim(), arma::fill::eye), problem.targets(), loss);
  for (const PreconditionerItem& item : items)
    if ((item.name == "whiten" || item.name == "sketch") && problem.rank() < problem.dim())
      throw InputError("preconditioner '" + item.text + "' on the kernel system: K + lambda I is numerically singular (rank " +
                       std::to_string(problem.rank()) + "/" + std::to_string(problem.dim()) +
                       ", eigenvalues <= n eps lambda_max), and R^{-1} would blow up the directions the minimum-norm "
                       "solution drops; add --ridge (a few n eps lambda_max(K) = " +
                       format_number(eigenvalue_cutoff(problem.hessian_eigenvalues(), problem.dim())) +
                       " or more) or use jacobi or spectral");
  // With B = sqrt(n/2) (K + lambda I)^{1/2}, (2/n) B^T B = K + lambda I, the kernel system's
  // Hessian, with every constant the preconditioners use (jacobi's unit diagonal) as it should be.
  const Mat factor = std::sqrt(0.5 * static_cast<real>(problem.dim())) * problem.hessian_factor();
  return make_preconditioner(chain, factor, problem.targets(), loss);
}

std::unique_ptr<Problem> make_kernel_system_solver_problem(const KernelSystemProblem& problem,
                                                           const Preconditioner& preconditioner) {
  if (preconditioner.name() == "none") return std::make_unique<PreconditionedProblem>(problem, preconditioner);
  const Index n = problem.dim();
  const real scale = preconditioner.objective_scale();
  Mat transformed;
  if (preconditioner.needs_transformed_design()) {  // dense P: the Gram matrix of (K + lambda I)^{1/2} P
    const Mat root_times_p = preconditioner.transform_design(problem.hessian_factor());
    transformed = scale * (root_times_p.t() * root_times_p);
  } else {  // diagonal P: P^T H P = (H P)^T P, H symmetric
    const Mat hessian = problem.kernel() + problem.lambda() * Mat(n, n, arma::fill::eye);
    transformed = scale * preconditioner.transform_design(Mat(preconditioner.transform_design(hessian).t()));
  }
  const Vec targets = scale * preconditioner.gradient_to_solver(problem.targets());
  return std::make_unique<KernelSystemProblem>(transformed, targets, 0.0,
                                               "kernel system preconditioned by " + preconditioner.name());
}

}  // namespace kappa
