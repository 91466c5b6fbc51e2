#pragma once
// Problems: a smooth (or subdifferentiable) objective f(w) over R^dim that optimizers minimize.
// The abstract interface every optimizer sees; the concrete problems (linear models, kernel
// systems, preconditioned forms) live in the workbench (lib/core/problems), which plugins never see.
// The conventions of the linear-model losses are in core/problems/linear_model.hpp and docs/conventions.md.

#include <optional>
#include <string>

#include "kappa/types.hpp"

namespace kappa {

namespace detail {
class FrameworkAccess;
}

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
  // An estimate, component by component, of the rounding error of the gradient this problem
  // computes at w (|fl(grad f(w)) - grad f(w)|): what decides the status converged-precision
  // (core/experiment/run_monitor.hpp). Returns false when the problem has none (the default;
  // l1, whose subgradient's rounding has no such scale). Implementations use the probabilistic
  // model of Higham & Mary (SIAM J. Sci. Comput. 41(5), 2019): a sum of k rounded terms has
  // an error of about sqrt(k) u times the sum of the magnitudes, u the unit roundoff of the
  // arithmetic the products are computed in. Not counted as work.
  virtual bool compute_gradient_rounding(const Vec& w, Vec& estimate) const;
  void count_rows(Index rows) const { rows_touched_ += rows; }

 private:
  // The framework's alone (core/experiment/framework_access.hpp): an optimizer can neither
  // reset the work counter nor evaluate without it.
  friend class detail::FrameworkAccess;
  void reset_counters() const { rows_touched_ = 0; }
  bool gradient_rounding(const Vec& w, Vec& estimate) const { return compute_gradient_rounding(w, estimate); }
  // The same evaluation as loss_grad, for measuring rather than optimizing (the monitor's view
  // of a minibatch run): not counted in data_passes().
  real loss_grad_uncounted(const Vec& w, Vec& gradient) const { return compute_loss_grad(w, gradient); }
  void hess_vec_uncounted(const Vec& w, const Vec& v, Vec& out) const { compute_hess_vec(w, v, out); }
  void require_least_squares_form() const;

  mutable unsigned long long rows_touched_ = 0;
  mutable std::optional<real> max_sample_smoothness_;  // cache; not work of the optimizer
};

// The dense Hessian at w from d Hessian-vector products (d counted data passes), symmetrized
// (the products are symmetric only up to rounding). For exact methods on small problems.
Mat dense_hessian(const Problem& problem, const Vec& w);

}  // namespace kappa
