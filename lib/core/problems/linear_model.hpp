#pragma once
// Linear-model problems: y ~ A w with an l2, l1 or Huber loss.
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
#include <string>

#include "core/problems/multi_point.hpp"
#include "core/problems/samples.hpp"
#include "kappa/problem.hpp"

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

// The arithmetic a LinearModelProblem evaluates in (docs/performance.md):
//   float64: everything in double;
//   float32: the problem keeps its samples (and targets) in float, and every product with them
//            (residuals, gradients, Hessian-vector products) is computed in float; the weights
//            and the optimizer's own state stay double (a double "master copy", as in mixed
//            precision training). Half the memory traffic of float64, and a unit roundoff
//            of 2^-24 = 6e-8 instead of 2^-53 = 1.1e-16 in every product, so the accuracy
//            rounding allows (about cond(X) u) is 5e8 times coarser. Direct references are
//            always computed in double from the original data.
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
class LinearModelProblem final : public Problem, public MultiPointEvaluation {
 public:
  // `X` is the feature matrix (n x d) WITHOUT the intercept column; the problem appends it when
  // spec.intercept is set. Throws InputError for an empty X, mismatched y, a ridge that is
  // negative or not finite, or a huber_delta that is not finite and > 0.
  LinearModelProblem(const Mat& X, const Vec& y, const LossSpec& spec, Precision precision = Precision::float64);
  // The same, taking over X's memory: a float64 problem transposes X in place, so that the data
  // exists once (large X: a slower, low-memory transposition); a float32 one keeps a float copy
  // (half the size) and frees X. X is left empty.
  LinearModelProblem(Mat&& X, const Vec& y, const LossSpec& spec, Precision precision = Precision::float64);
  // The same over samples stored elsewhere (samples.hpp: private, or shared by a node's
  // processes): a float64 problem works on that memory itself and keeps it alive, a float32 one
  // keeps a float copy of it.
  LinearModelProblem(const SampleStorage& samples, const Vec& y, const LossSpec& spec, Precision precision = Precision::float64);

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

  // Several points in one blocked pass (multi_point.hpp): per block of samples one product
  // S_block^T W for the residuals and one S_block rho'(R) for the gradients (gemm, in the
  // problem's precision). Allocation-free once its per-thread buffers have grown.
  void loss_grads(const Mat& W, Vec& losses, Mat& G) const override;
  void batch_loss_grads(const Mat& W, const IndexVec& rows, Vec& losses, Mat& G) const override;

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
  bool compute_gradient_rounding(const Vec& w, Vec& estimate) const override;  // rounding.cpp

 private:
  // Calls f(samples, targets) with the storage of this problem's precision.
  template <class F>
  decltype(auto) with_storage(F&& f) const {
    if (precision_ == Precision::float32) return f(samples_single_, targets_single_);
    return f(samples_, targets_);
  }
  real ridge_term(const Vec& w) const;
  void add_ridge_gradient(const Vec& w, Vec& gradient) const;
  // The loss terms and ridge of loss_grads / batch_loss_grads, from the blocked sums.
  void finish_multi_point(const Mat& W, const real* loss_sums, real samples, Vec& losses, Mat& G) const;
  // samples_ (or samples_single_ and targets_single_) as a transposed copy of X.
  void store_samples(const Mat& X);

  Mat samples_;                   // X^T, float64 problems only (own memory, or samples_owner_'s)
  arma::fmat samples_single_;     // X^T, float32 problems only
  Vec targets_;                   // y, always double (reported and used by references)
  arma::fvec targets_single_;     // y, float32 problems only
  LossSpec spec_;
  Precision precision_;
  Index dim_;
  Index num_features_;  // penalized weights: all but the intercept
  std::shared_ptr<const void> samples_owner_;  // the memory samples_ views, if not its own
};

}  // namespace kappa
