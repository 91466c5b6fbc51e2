#pragma once
// Problems: a smooth (or subdifferentiable) objective f(w) over R^dim that optimizers minimize.
//
// Conventions for linear models (LinearModelProblem):
//   design A = X, or [X 1] with an intercept (the intercept is the LAST weight);
//   residual r_i = a_i^T w - y_i;
//   f(w) = (1/n) sum_i rho(r_i) + (ridge/2) |w_f|^2,
//   where w_f are the feature weights (the intercept is never penalized) and
//     l2:    rho(r) = r^2                                   (PyTorch MSELoss, reduction='mean')
//     l1:    rho(r) = |r|                                   (PyTorch L1Loss; subgradient sign(0) = 0)
//     huber: rho(r) = r^2/2 if |r| <= delta, else delta (|r| - delta/2)   (PyTorch HuberLoss)
//   so the L2 gradient is (2/n) A^T r + ridge w_f and its Hessian (2/n) A^T A + ridge I_f.
// A minibatch loss uses the same formula with the mean over the batch rows (the ridge term is
// added once per batch), so a batch gradient is an unbiased estimate of the full gradient and
// a step size means the same thing at every batch size.

#include <memory>
#include <optional>
#include <string>

#include "kappa/types.hpp"

namespace kappa {

enum class LossKind { l2, l1, huber };

std::string to_string(LossKind loss);
LossKind parse_loss(const std::string& name);  // "l2" | "l1" | "huber"; InputError otherwise

struct LossSpec {
  LossKind kind = LossKind::l2;
  real huber_delta = 1.0;
  real ridge = 0.0;
  bool intercept = false;

  // Throws InputError naming the value: ridge must be finite and >= 0, huber_delta (huber only)
  // finite and > 0. Callers that check options before any work (the CLI) use the same rules.
  void validate() const;
};

// Builds the design matrix A of the conventions above.
Mat design_matrix(const Mat& X, bool intercept);

// The interface every optimizer sees. Public evaluation functions are non-virtual so that the
// base class counts the work done (rows of data touched), whatever the concrete problem.
class Problem {
 public:
  virtual ~Problem() = default;

  virtual Index dim() const = 0;
  virtual Index num_samples() const = 0;

  real loss(const Vec& w) const;
  // Loss and gradient over all samples, computed together (one call, shared residuals).
  real loss_grad(const Vec& w, Vec& gradient) const;
  // Loss and gradient over the given rows (mean over them, see the conventions above).
  real batch_loss_grad(const Vec& w, const IndexVec& rows, Vec& gradient) const;

  // The same evaluation as loss_grad for measuring rather than optimizing (the Monitor's view
  // of a minibatch run): not counted in data_passes().
  real loss_grad_uncounted(const Vec& w, Vec& gradient) const { return compute_loss_grad(w, gradient); }

  // Hessian-vector product where the loss is twice differentiable (l2, huber).
  virtual bool has_hessian() const = 0;
  void hess_vec(const Vec& w, const Vec& v, Vec& out) const;

  // True when f is quadratic (l2 loss): Hessian constant, gradient affine.
  virtual bool is_quadratic() const = 0;

  // Product with a constant matrix M such that the Hessian satisfies H(w) <= M everywhere
  // (for l2, the Hessian itself). Absent for l1, which is not smooth.
  virtual bool has_curvature_bound() const = 0;
  void curvature_bound_vec(const Vec& v, Vec& out) const;

  // Smoothness constant L = lambda_max(M), by the Lanczos method (relative accuracy ~1e-10).
  // Throws NumericalError when the problem has no curvature bound or the products overflow.
  real smoothness() const;

  // The least-squares form of an l2 problem: f(w) = |B w - c|^2 with
  //   B = [A / sqrt(n); sqrt(ridge/2) E_f],  c = [y / sqrt(n); 0],
  // E_f selecting the feature weights (the ridge rows exist only when ridge > 0). Methods for
  // linear least squares (CGLS, LSQR, direct solves) work with B and c instead of f. A product
  // with B and one with B^T together count as one data pass (the work of one gradient); the
  // pass is counted on the product with B^T. Throws NumericalError when the problem has no
  // such form (has_least_squares_form() false).
  virtual bool has_least_squares_form() const { return false; }
  Index least_squares_rows() const;
  void least_squares_apply(const Vec& w, Vec& out) const;            // out = B w
  void least_squares_apply_transpose(const Vec& u, Vec& out) const;  // out = B^T u
  Vec least_squares_rhs() const;                                     // c
  Mat least_squares_matrix() const;                                  // B, dense (counts one pass)

  // The largest smoothness constant of one sample's loss, max_i L_i with
  // f_i(w) = rho(a_i^T w - y_i) + ridge/2 |w_f|^2, so L_i = rho''_max |a_i|^2 + ridge: what
  // bounds a stable minibatch step (first_order.hpp). Throws NumericalError when the problem
  // has no such bound. Computed once per problem (a pass over the rows, for a wrapped
  // preconditioner a transformed copy of them) and kept: an Experiment serves many runs.
  real max_sample_smoothness() const;

  // Full passes over the data so far (rows touched / n): the work measure reported as
  // "evaluations" and, for minibatch methods, the epoch count.
  double data_passes() const { return static_cast<double>(rows_touched_) / static_cast<double>(num_samples()); }
  void reset_counters() const { rows_touched_ = 0; }

 protected:
  virtual real compute_loss(const Vec& w) const = 0;
  virtual real compute_loss_grad(const Vec& w, Vec& gradient) const = 0;
  virtual real compute_batch_loss_grad(const Vec& w, const IndexVec& rows, Vec& gradient) const = 0;
  virtual void compute_hess_vec(const Vec& w, const Vec& v, Vec& out) const = 0;
  virtual void compute_curvature_bound_vec(const Vec& v, Vec& out) const = 0;
  virtual real compute_max_sample_smoothness() const;
  // The least-squares form; only problems with has_least_squares_form() override these.
  virtual Index compute_least_squares_rows() const;
  virtual void compute_least_squares_apply(const Vec& w, Vec& out) const;
  virtual void compute_least_squares_apply_transpose(const Vec& u, Vec& out) const;
  virtual Vec compute_least_squares_rhs() const;
  virtual Mat compute_least_squares_matrix() const;
  void count_rows(Index rows) const { rows_touched_ += rows; }

 private:
  void require_least_squares_form() const;

  mutable unsigned long long rows_touched_ = 0;
  mutable std::optional<real> max_sample_smoothness_;  // cache; not work of the optimizer
};

// The dense Hessian at w from d Hessian-vector products (d counted data passes), symmetrized
// (the products are symmetric only up to rounding). For exact methods on small problems.
Mat dense_hessian(const Problem& problem, const Vec& w);

// The arithmetic a LinearModelProblem evaluates in (docs/performance.md):
//   float64: everything in double;
//   float32: the problem keeps its samples (and targets) in float, and every product with them
//            (residuals, gradients, Hessian-vector products) is computed in float; the weights
//            and the optimizer's own state stay double (a double "master copy", as in mixed
//            precision training). Half the memory traffic of float64, and a precision floor
//            near kappa_H * 6e-8 instead of kappa_H * 1.1e-16. Direct references are always
//            computed in double from the original data.
enum class Precision { float64, float32 };
std::string to_string(Precision precision);           // "double" | "float"
Precision parse_precision(const std::string& name);  // "double" | "float"; InputError otherwise

// Linear model y ~ A w with one of the losses above.
//
// Storage: the problem keeps its own copy of the samples in row-major order, i.e. X^T (d x n,
// column i = x_i; with an intercept a_i = [x_i; 1], the 1 implicit, never stored): a minibatch
// touches b contiguous rows, and one blocked pass over the columns of X^T serves the full
// gradient (each block of rows computes its residuals and adds its contribution to the
// gradient while it is still in cache).
class LinearModelProblem final : public Problem {
 public:
  // `X` is the feature matrix (n x d) WITHOUT the intercept column; the problem appends it when
  // spec.intercept is set. Throws InputError for an empty X, mismatched y, a ridge that is
  // negative or not finite, or a huber_delta that is not finite and > 0.
  LinearModelProblem(const Mat& X, const Vec& y, const LossSpec& spec, Precision precision = Precision::float64);
  // The same, taking over X's memory: a float64 problem transposes X in place, so that the data
  // exists once (large X: a slower, low-memory transposition); a float32 one keeps a float copy
  // (half the size) and frees X. X is left empty.
  LinearModelProblem(Mat&& X, const Vec& y, const LossSpec& spec, Precision precision = Precision::float64);

  Index dim() const override { return dim_; }
  Index num_samples() const override { return targets_.n_elem; }
  bool has_hessian() const override { return spec_.kind != LossKind::l1; }
  bool is_quadratic() const override { return spec_.kind == LossKind::l2; }
  bool has_curvature_bound() const override { return spec_.kind != LossKind::l1; }
  bool has_least_squares_form() const override { return spec_.kind == LossKind::l2; }

  // The design A (n x dim) as a new double matrix: a copy, for fitting and diagnostics.
  Mat design() const;
  const Vec& targets() const { return targets_; }
  const LossSpec& spec() const { return spec_; }
  Precision precision() const { return precision_; }

 protected:
  real compute_loss(const Vec& w) const override;
  real compute_loss_grad(const Vec& w, Vec& gradient) const override;
  real compute_batch_loss_grad(const Vec& w, const IndexVec& rows, Vec& gradient) const override;
  void compute_hess_vec(const Vec& w, const Vec& v, Vec& out) const override;
  void compute_curvature_bound_vec(const Vec& v, Vec& out) const override;
  real compute_max_sample_smoothness() const override;
  Index compute_least_squares_rows() const override;
  void compute_least_squares_apply(const Vec& w, Vec& out) const override;
  void compute_least_squares_apply_transpose(const Vec& u, Vec& out) const override;
  Vec compute_least_squares_rhs() const override;
  Mat compute_least_squares_matrix() const override;

 private:
  // Calls f(samples, targets) with the storage of this problem's precision.
  template <class F>
  decltype(auto) with_storage(F&& f) const {
    if (precision_ == Precision::float32) return f(samples_single_, targets_single_);
    return f(samples_, targets_);
  }
  real ridge_term(const Vec& w) const;
  void add_ridge_gradient(const Vec& w, Vec& gradient) const;
  // samples_ (or samples_single_ and targets_single_) as a transposed copy of X.
  void store_samples(const Mat& X);

  Mat samples_;                   // X^T, float64 problems only
  arma::fmat samples_single_;     // X^T, float32 problems only
  Vec targets_;                   // y, always double (reported and used by references)
  arma::fvec targets_single_;     // y, float32 problems only
  LossSpec spec_;
  Precision precision_;
  Index dim_;
  Index num_features_;  // penalized weights: all but the intercept
};

}  // namespace kappa
