#pragma once
// The kernel-system formulation: for a square, symmetric, positive semi-definite kernel matrix
// K (n x n), solve (K + lambda I) alpha = y as the minimization of
//
//   f(alpha) = 1/2 alpha^T (K + lambda I) alpha - y^T alpha + c,     c = 1/2 y^T alpha*,
//   grad f   = (K + lambda I) alpha - y,     Hessian H = K + lambda I,
//
// whose condition number is cond(K + lambda I), instead of the regression (1/n) |K w - y|^2,
// whose Hessian (2/n) K^T K has condition cond(K)^2 (Hestenes & Stiefel 1952 solve SPD systems
// this way; for kernel matrices see Rasmussen & Williams 2006, Sec. 2.2 and A.4).
//
// Conventions:
// - alpha* = (K + lambda I)^+ y, the minimum-norm minimizer (eigenvalues of K + lambda I at or
//   below n eps lambda_max count as zero, as the svd reference does for singular values).
// - The constant c makes f(alpha*) = 0, so that f(alpha) = 1/2 |alpha - alpha*|_H^2 (the
//   energy norm of the error, which CG minimizes over its Krylov spaces) is >= 0 and the
//   Monitor's divergence rule, relative to f(0) = c, means what it means for the regression. It
//   changes no gradient and no minimizer. Rounding limits the accuracy of f to about
//   eps |K| |alpha|^2 (measured: |f(alpha*)| ~ 5e-8 on the seed-shaped 600 x 600 kernel), so
//   the loss column cannot resolve errors below that; the weight error can.
// - lambda is LossSpec::ridge. With lambda = 0 and K invertible alpha* is the regression's w*
//   (K^{-1} y, both), up to rounding of order cond(K) eps. With lambda > 0 they differ: alpha*
//   is kernel ridge regression's (K + lambda I)^{-1} y, whereas the regression's ridge solves
//   ((2/n) K^2 + ridge I) w = (2/n) K y. With lambda = 0 and K singular, f is bounded below only
//   when y lies in the range of K; alpha* is then K^+ y, else f is unbounded below along the
//   null space of K (the rank in the reference line shows it) and only the range part converges.
// - A minibatch of rows B is the unbiased estimate (n/|B|) sum_{i in B} phi_i(alpha) + c of
//   f - c = sum_i phi_i, phi_i(alpha) = alpha_i ((H alpha)_i / 2 - y_i), with its exact gradient;
//   it touches |B| rows of K. In the convention of first_order.hpp (f = (1/n) sum_i f_i, a batch
//   gradient the mean of grad f_i over B) the samples are f_i = n phi_i + c, with the constant
//   Hessian n (e_i h_i^T + h_i e_i^T) / 2, h_i = H e_i. That symmetric rank-2 matrix has the
//   eigenvalues n (H_ii +- |h_i|) / 2, so f_i is L_i-smooth with
//     L_i = n (H_ii + |h_i|) / 2      (max_sample_smoothness() returns max_i L_i).
//   f_i is not convex (its second eigenvalue n (H_ii - |h_i|) / 2 is <= 0), so the minibatch
//   step of first_order.hpp built on max_i L_i (Gower et al. 2019 assume convex f_i) is a
//   heuristic there, not a guarantee.
//
// Requirements on K (checked by the constructor, each an InputError naming the data source):
// square; symmetric up to max |K - K^T| <= 1e-10 max |K| (the symmetric part (K + K^T)/2 is
// used); positive semi-definite up to lambda_min(K) >= -n eps lambda_max(K), the size of the
// rounding error of computed eigenvalues (Golub & Van Loan, Sec. 8.1). Losses other than l2 and
// an intercept have no meaning here and are refused (check_kernel_system_spec).
//
// Cost: the checks need all eigenvalues of K (LAPACK dsyevd, O(n^3) time, one n x n copy).

#include <memory>
#include <string>

#include "core/references/reference.hpp"
#include "core/preconditioners/preconditioner.hpp"
#include "core/problems/linear_model.hpp"

namespace kappa {

enum class Formulation { regression, kernel_system };

std::string to_string(Formulation formulation);                // "regression" | "kernel-system"
Formulation parse_formulation(const std::string& name);        // InputError when unknown

// InputError for a loss specification without meaning for the kernel system: l1 or huber loss
// (the objective is fixed), an intercept; and for an invalid ridge (LossSpec::validate).
void check_kernel_system_spec(const LossSpec& spec);

class KernelSystemProblem final : public Problem {
 public:
  // `source` names the data in messages. Throws InputError for a K that is not square, not
  // symmetric or not PSD (see above), a y of another length, or an invalid lambda.
  KernelSystemProblem(const Mat& K, const Vec& y, real lambda, const std::string& source = "kernel matrix");

  Index dim() const override { return kernel_.n_rows; }
  Index num_samples() const override { return kernel_.n_rows; }
  bool has_hessian() const override { return true; }
  bool is_quadratic() const override { return true; }
  bool has_curvature_bound() const override { return true; }

  const Mat& kernel() const { return kernel_; }  // the symmetric part of the K given
  const Vec& targets() const { return targets_; }
  real lambda() const { return lambda_; }
  real shift() const { return shift_; }                       // c above
  const Vec& hessian_eigenvalues() const { return eigenvalues_; }  // of K + lambda I, descending
  Index rank() const { return rank_; }                        // eigenvalues above the cutoff
  const Vec& minimum_norm_solution() const { return solution_; }  // alpha*
  real symmetry_error() const { return symmetry_error_; }      // max |K - K^T| / max |K|
  double decomposition_seconds() const { return decomposition_seconds_; }  // of the eigendecomposition

  // A matrix B with B^T B = K + lambda I: the symmetric square root (recomputes the eigenvectors,
  // O(n^3)). Preconditioners are fitted on it, see make_kernel_system_preconditioner.
  Mat hessian_factor() const;

 protected:
  real compute_loss(const Vec& alpha) const override;
  bool compute_gradient_rounding(const Vec& alpha, Vec& estimate) const override;  // rounding.cpp
  real compute_loss_grad(const Vec& alpha, Vec& gradient) const override;
  real compute_batch_loss_grad(const Vec& alpha, const IndexVec& rows, Vec& gradient) const override;
  void compute_hess_vec(const Vec& alpha, const Vec& v, Vec& out) const override;
  void compute_curvature_bound_vec(const Vec& v, Vec& out) const override;
  real compute_max_sample_smoothness() const override;  // max_i n (H_ii + |H e_i|) / 2, see above

 private:
  Vec hessian_times(const Vec& v) const { return kernel_ * v + lambda_ * v; }

  Mat kernel_;
  Vec targets_;
  real lambda_ = 0;
  real symmetry_error_ = 0;
  Vec eigenvalues_;
  Index rank_ = 0;
  Vec solution_;
  real shift_ = 0;
  double decomposition_seconds_ = 0;
};

// The direct solution of (K + lambda I) alpha = y by `method`, all without squaring cond(K):
//   svd       the minimum-norm solution from the eigendecomposition (for a PSD matrix its
//             singular values are its eigenvalues); `singular_values` holds them, `rank` the
//             numerical rank; the problem computed it, and `seconds` includes that time;
//   qr        Householder QR of K + lambda I (NumericalError when numerically singular);
//   cholesky  Cholesky of K + lambda I itself, not of a Gram matrix (NumericalError when not
//             numerically positive definite).
// residual_norm and normal_residual_norm are both |(K + lambda I) alpha - y|, the gradient.
DirectSolution kernel_system_reference(const KernelSystemProblem& problem, DirectMethod method);

// The preconditioner chain for the kernel system (preconditioner.hpp), fitted on the design
// B = sqrt(n/2) (K + lambda I)^{1/2} with the l2 loss and no ridge: a preconditioner fitted on a
// design B targets the Hessian (2/n) B^T B, which is then K + lambda I, so each one means for
// the kernel system what it means for the regression (jacobi: diag(K + lambda I)^{-1/2};
// whiten: (K + lambda I)^{-1/2} up to a rotation and the factor sqrt(n/2), so that the
// preconditioned Hessian is (2/n) I, cond 1). Preconditioners that need an intercept (center)
// or a tall design (sketch) are refused by make_preconditioner with its message. "none" costs
// nothing; any other needs the O(n^3) square root.
//
// whiten (and any chain fitted by a QR of B, i.e. sketch) is refused (InputError) when K + lambda I
// is numerically singular (rank() < n): P = R^{-1} then scales the eigen-directions the
// minimum-norm alpha* drops (eigenvalues <= n eps lambda_max, pure rounding) up to the size of
// the others, and the preconditioned minimizer P z* = (K + lambda I)^{-1} y is dominated by
// them (measured: relative error 25 against alpha* on a Gaussian kernel, n = 200, width 0.3).
// A ridge lambda of a few n eps lambda_max(K) or more makes it nonsingular.
std::unique_ptr<Preconditioner> make_kernel_system_preconditioner(const std::string& chain,
                                                                  const KernelSystemProblem& problem);

// The problem the optimizers see, g(z) = s f(P z) (s = preconditioner.objective_scale()):
// - P = I ("none"): the wrapped PreconditionedProblem(problem, P), no copy;
// - otherwise a materialized kernel system in z, g(z) = 1/2 z^T K' z - y'^T z + c' with
//   K' = s P^T (K + lambda I) P, y' = s P^T y and lambda' = 0 (its own eigendecomposition,
//   O(n^3), and its own minimum-norm z* and shift c' = s c up to rounding). Evaluating f(P z)
//   through K instead rounds at eps cond(K + lambda I) |P|-scaled (a dense P has |P| ~
//   lambda_min^{-1/2}), which left CG at a relative error of order 1 with whiten. For a dense P
//   (whiten, spectral) K' is formed as the Gram matrix s X^T X of X = (K + lambda I)^{1/2} P,
//   whose rows are computed as backward-stable triangular solves (error eps cond^{1/2}, not eps
//   cond); for a diagonal P (jacobi, equilibrate, ...) directly as P^T H P, exact up to eps.
//   Its minibatches are rows of K' (for a diagonal P the same samples phi_i as the original's).
// `problem` and `preconditioner` must outlive the result.
std::unique_ptr<Problem> make_kernel_system_solver_problem(const KernelSystemProblem& problem,
                                                           const Preconditioner& preconditioner);

}  // namespace kappa
