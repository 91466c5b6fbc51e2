// PreconditionedProblem's least-squares form and per-sample smoothness, used by CGLS/LSQR/direct
// and by minibatch step sizes (first_order.hpp). Kept apart from preconditioner.cpp, which holds
// the preconditioners themselves.
#include <cmath>

#include "kappa/error.hpp"
#include "core/preconditioners/preconditioner.hpp"

namespace kappa {

// ---------------------------------------------------------------- least-squares form, sample smoothness
// (added by the lead; g = c f(P z), so g's least-squares form is sqrt(c) B P, sqrt(c) rhs)

Index PreconditionedProblem::compute_least_squares_rows() const { return base_.least_squares_rows(); }

// The materialized form has its own copy of A P (with the intercept column, without the ridge,
// whose rows sqrt(ridge/2) (P z)_f are formed here): products use it, so the ill-conditioning
// or offsets that P removed do not come back through rounding in A (P z).
void PreconditionedProblem::compute_least_squares_apply(const Vec& z, Vec& out) const {
  if (transformed_) {
    const Index n = num_samples();
    Vec data_rows;  // (A P) z / sqrt(n): the least-squares form of transformed_, which has no ridge
    transformed_->least_squares_apply(z, data_rows);
    out.set_size(base_.least_squares_rows());
    out.head(n) = data_rows;
    if (out.n_elem > n) out.tail(out.n_elem - n) = std::sqrt(ridge_ / 2) * preconditioner_.to_original(z).head(num_features_);
  } else {
    base_.least_squares_apply(preconditioner_.to_original(z), out);
  }
  if (objective_scale_ != 1) out *= std::sqrt(objective_scale_);
}

void PreconditionedProblem::compute_least_squares_apply_transpose(const Vec& u, Vec& out) const {
  if (transformed_) {
    const Index n = num_samples();
    transformed_->least_squares_apply_transpose(u.head(n), out);
    if (u.n_elem > n) {
      Vec ridge_part(dim(), arma::fill::zeros);
      ridge_part.head(num_features_) = std::sqrt(ridge_ / 2) * u.tail(u.n_elem - n);
      out += preconditioner_.gradient_to_solver(ridge_part);
    }
  } else {
    Vec base_out;
    base_.least_squares_apply_transpose(u, base_out);
    out = preconditioner_.gradient_to_solver(base_out);
  }
  if (objective_scale_ != 1) out *= std::sqrt(objective_scale_);
}

Vec PreconditionedProblem::compute_least_squares_rhs() const { return std::sqrt(objective_scale_) * base_.least_squares_rhs(); }

Mat PreconditionedProblem::compute_least_squares_matrix() const {
  if (!transformed_) return std::sqrt(objective_scale_) * preconditioner_.transform_design(base_.least_squares_matrix());
  const Index n = num_samples();
  Mat matrix(base_.least_squares_rows(), dim(), arma::fill::zeros);
  matrix.head_rows(n) = transformed_->least_squares_matrix();
  if (matrix.n_rows > n) {
    const Mat P = preconditioner_.transform_design(Mat(dim(), dim(), arma::fill::eye));
    matrix.tail_rows(matrix.n_rows - n) = std::sqrt(ridge_ / 2) * P.head_rows(num_features_);
  }
  return std::sqrt(objective_scale_) * matrix;
}

real PreconditionedProblem::compute_max_sample_smoothness() const {
  // The samples of g are those of f with the rows a_i replaced by P^T a_i, times c.
  const auto* linear = dynamic_cast<const LinearModelProblem*>(&base_);
  if (linear == nullptr) return objective_scale_ * base_.max_sample_smoothness();
  const LossKind kind = linear->spec().kind;
  if (kind == LossKind::l1) throw NumericalError("the l1 loss is not smooth: give the step size explicitly");
  const real rho_second = kind == LossKind::l2 ? 2.0 : 1.0;
  real ridge_curvature = 0;  // of ridge/2 |(P z)_f|^2: ridge lambda_max(P_f^T P_f) = ridge |P_f|_2^2
  if (linear->spec().ridge > 0) {
    const Index features = linear->dim() - (linear->spec().intercept ? 1 : 0);
    const Mat P = preconditioner_.transform_design(Mat(linear->dim(), linear->dim(), arma::fill::eye));
    const real spectral_norm = arma::norm(Mat(P.head_rows(features)), 2);  // one SVD of a dim x dim matrix, once
    ridge_curvature = linear->spec().ridge * spectral_norm * spectral_norm;
  }
  // transformed_ holds the rows of A P without a ridge: its own bound is rho''_max max |P^T a_i|^2.
  const real data_curvature = transformed_ ? transformed_->max_sample_smoothness()
                                           : rho_second * arma::max(arma::sum(arma::square(preconditioner_.transform_design(linear->design())), 1));
  return objective_scale_ * (data_curvature + ridge_curvature);
}

// ---------------------------------------------------------------- multi-point evaluation
// The same formulas as compute_loss_grad and compute_batch_loss_grad, column by column around
// one multi-point pass: on A P (materialized), or on the base at the points P z (wrapped).

bool PreconditionedProblem::multi_point_available() const {
  return transformed_ != nullptr || multi_point_evaluation(base_) != nullptr;
}

template <class Evaluate>
void PreconditionedProblem::multi_point(const Mat& Z, Vec& losses, Mat& G, Evaluate&& evaluate) const {
  if (transformed_) {
    evaluate(*transformed_, Z, losses, G);
    for (Index j = 0; j < Z.n_cols; ++j) {
      const Vec z = Z.col(j);
      Vec gradient = G.col(j);
      losses[j] += ridge_term(z);
      add_ridge_gradient(z, gradient);
      G.col(j) = gradient;
    }
  } else {
    const MultiPointEvaluation* base = multi_point_evaluation(base_);
    if (base == nullptr) throw NumericalError("multi-point evaluation: the preconditioned problem's base has none");
    Mat W(Z.n_rows, Z.n_cols);
    for (Index j = 0; j < Z.n_cols; ++j) W.col(j) = preconditioner_.to_original(Z.col(j));
    Mat base_gradients;
    evaluate(*base, W, losses, base_gradients);
    G.set_size(Z.n_rows, Z.n_cols);
    for (Index j = 0; j < Z.n_cols; ++j) G.col(j) = preconditioner_.gradient_to_solver(base_gradients.col(j));
  }
  if (objective_scale_ != 1) {
    G *= objective_scale_;
    losses *= objective_scale_;
  }
}

void PreconditionedProblem::loss_grads(const Mat& Z, Vec& losses, Mat& G) const {
  multi_point(Z, losses, G, [](const MultiPointEvaluation& on, const Mat& points, Vec& values, Mat& gradients) {
    on.loss_grads(points, values, gradients);
  });
}

void PreconditionedProblem::batch_loss_grads(const Mat& Z, const IndexVec& rows, Vec& losses, Mat& G) const {
  multi_point(Z, losses, G, [&rows](const MultiPointEvaluation& on, const Mat& points, Vec& values, Mat& gradients) {
    on.batch_loss_grads(points, rows, values, gradients);
  });
}

}  // namespace kappa
