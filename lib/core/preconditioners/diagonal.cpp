// Preconditioners that scale columns (diagonal P) or centre them (P = identity plus one row):
// none, center, standardize, equilibrate, target-scale, jacobi. See preconditioner.hpp.

#include <cmath>

#include "kappa/error.hpp"
#include "kappa/parse.hpp"
#include "core/preconditioners/fit.hpp"

namespace kappa::detail {
namespace {

class Identity final : public Preconditioner {
 public:
  explicit Identity(std::string name) : name_(std::move(name)) {}
  std::string name() const override { return name_; }
  Vec to_original(const Vec& z) const override { return z; }
  Vec to_solver(const Vec& w) const override { return w; }
  Vec gradient_to_solver(const Vec& g) const override { return g; }
  Mat transform_design(const Mat& M) const override { return M; }

 private:
  std::string name_;
};

// P = diag(scales), g = c f(P z). Evaluated through the original problem: a diagonal P adds
// only a relative rounding error eps to each product a_ij p_j z_j, nothing cancels.
class Diagonal final : public Preconditioner {
 public:
  Diagonal(std::string name, Vec scales, real objective_scale = 1)
      : name_(std::move(name)), scales_(std::move(scales)), objective_scale_(objective_scale) {}
  std::string name() const override { return name_; }
  Vec to_original(const Vec& z) const override { return z % scales_; }
  Vec to_solver(const Vec& w) const override { return w / scales_; }
  Vec gradient_to_solver(const Vec& g) const override { return g % scales_; }
  Mat transform_design(const Mat& M) const override {
    Mat transformed = M;
    transformed.each_row() %= scales_.t();
    return transformed;
  }
  real objective_scale() const override { return objective_scale_; }

 private:
  std::string name_;
  Vec scales_;
  real objective_scale_;
};

// Centring through the intercept, then scaling. With the features f, the intercept b last, the
// design's constant last column value a_b, column means mu and feature scales p:
//   w_f = p % z_f,   w_b = z_b - mu^T (p % z_f) / a_b,
// so that A P = [(A_f - 1 mu^T) diag(p), a_b 1]: the same model, with centred feature columns.
class Centring final : public Preconditioner {
 public:
  Centring(std::string name, Vec means_over_intercept, Vec scales)
      : name_(std::move(name)), shift_(std::move(means_over_intercept)), scales_(std::move(scales)) {}
  std::string name() const override { return name_; }
  Vec to_original(const Vec& z) const override {
    Vec w = z;
    w.head(features()) %= scales_;
    w(features()) -= arma::dot(shift_, w.head(features()));
    return w;
  }
  Vec to_solver(const Vec& w) const override {
    Vec z = w;
    z(features()) += arma::dot(shift_, w.head(features()));
    z.head(features()) /= scales_;
    return z;
  }
  Vec gradient_to_solver(const Vec& g) const override {  // P^T g
    Vec gz = g;
    gz.head(features()) -= shift_ * g(features());
    gz.head(features()) %= scales_;
    return gz;
  }
  Mat transform_design(const Mat& M) const override {  // [(M_f - M_b shift^T) diag(p), M_b]
    if (M.is_empty()) return M;
    Mat transformed = M;
    transformed.head_cols(features()) -= M.col(features()) * shift_.t();
    transformed.head_cols(features()).each_row() %= scales_.t();
    return transformed;
  }
  // Re-evaluating A (P z) would cancel the centring again (large offsets lose their digits
  // in every evaluation): evaluate on the centred copy.
  bool needs_transformed_design() const override { return true; }

 private:
  Index features() const { return scales_.n_elem; }
  std::string name_;
  Vec shift_;  // mu / a_b
  Vec scales_;
};

// 1/x, or 1 where x is zero (a zero column: nothing to scale).
Vec inverse_or_one(const Vec& x) {
  Vec inverse = 1.0 / x;
  inverse.elem(arma::find(x == 0)).ones();
  return inverse;
}

// Column means, with one correction pass (mean of the deviations) so that large offsets do not
// leave a rounding error of eps n |mu| in them.
Vec column_means(const Mat& columns) {
  Vec means(columns.n_cols);
  for (Index j = 0; j < columns.n_cols; ++j) {
    const real mean = arma::mean(columns.col(j));
    means(j) = mean + arma::mean(columns.col(j) - mean);
  }
  return means;
}

// The feature columns' means; InputError when there is no intercept column to absorb them.
Vec feature_means(const PreconditionerItem& item, const FitContext& context) {
  if (!context.loss.intercept)
    throw InputError(context.where(item) +
                     " needs an intercept (--intercept): without an intercept column, centring the columns changes the "
                     "model; use standardize (which then only scales) or equilibrate");
  if (!context.intercept_column_intact())
    throw InputError(context.where(item) + " after '" + context.previous +
                     "': the last column of the transformed design is no longer the constant intercept column, so the "
                     "means cannot be absorbed; put '" + item.name + "' first in the chain");
  const Index features = context.design.n_cols - 1;
  return column_means(context.design.head_cols(features));
}

}  // namespace

std::unique_ptr<Preconditioner> fit_identity(const PreconditionerItem& item) { return std::make_unique<Identity>(item.text); }

std::unique_ptr<Preconditioner> fit_center(const PreconditionerItem& item, const FitContext& context) {
  const Vec means = feature_means(item, context);
  const real intercept_value = context.design(0, means.n_elem);
  return std::make_unique<Centring>(item.text, means / intercept_value, Vec(means.n_elem, arma::fill::ones));
}

std::unique_ptr<Preconditioner> fit_standardize(const PreconditionerItem& item, const FitContext& context) {
  const Mat& A = context.design;
  if (!context.loss.intercept) {  // no centring: divide by the RMS, the spread about 0
    Vec rms(A.n_cols);
    for (Index j = 0; j < A.n_cols; ++j) rms(j) = arma::norm(A.col(j)) / std::sqrt(static_cast<real>(A.n_rows));
    return std::make_unique<Diagonal>(item.text, inverse_or_one(rms));
  }
  const Vec means = feature_means(item, context);
  const Index features = A.n_cols - 1;
  Vec deviation(features);  // population std about the mean
  for (Index j = 0; j < features; ++j)
    deviation(j) = arma::norm(A.col(j) - means(j)) / std::sqrt(static_cast<real>(A.n_rows));
  return std::make_unique<Centring>(item.text, means / A(0, features), inverse_or_one(deviation));
}

std::unique_ptr<Preconditioner> fit_equilibrate(const PreconditionerItem& item, const FitContext& context) {
  const bool max_abs = option(item, "norm", "2") == "max";
  const Mat& A = context.design;
  Vec norms(A.n_cols);
  for (Index j = 0; j < A.n_cols; ++j) norms(j) = max_abs ? arma::abs(A.col(j)).max() : arma::norm(A.col(j));
  return std::make_unique<Diagonal>(item.text, inverse_or_one(norms));
}

std::unique_ptr<Preconditioner> fit_target_scale(const PreconditionerItem& item, const FitContext& context) {
  if (context.targets.is_empty())
    throw InputError(context.where(item) + " needs the targets y (the preconditioner was fitted on a design alone)");
  const Vec targets = context.targets / context.target_scale();  // as seen after the links before
  const real size = option(item, "by", "rms") == "max" ? arma::abs(targets).max()
                                                       : arma::norm(targets) / std::sqrt(static_cast<real>(targets.n_elem));
  // The nearest power of 2 (in log scale): w = s z, y / s and c are exact in binary.
  const real s = size > 0 && std::isfinite(size) ? std::exp2(std::round(std::log2(size))) : 1.0;
  const real objective_scale = context.loss.kind == LossKind::l1 ? 1 / s : 1 / (s * s);
  return std::make_unique<Diagonal>(item.text, Vec(context.design.n_cols, arma::fill::value(s)), objective_scale);
}

std::unique_ptr<Preconditioner> fit_jacobi(const PreconditionerItem& item, const FitContext& context) {
  // diag of H = c [(rho''/n) B^T B + ridge L^T L], B = A P_prev, L = D_f P_prev.
  const Mat& B = context.design;
  const Mat& L = context.regularizer;
  const real n = static_cast<real>(B.n_rows);
  Vec diagonal(B.n_cols);
  for (Index j = 0; j < B.n_cols; ++j) {
    const real column = arma::norm(B.col(j)) / std::sqrt(n);  // |b_j| / sqrt(n) stays in range
    real value = context.curvature() * column * column;
    if (context.loss.ridge > 0 && L.n_rows > 0) value += context.loss.ridge * arma::dot(L.col(j), L.col(j));
    diagonal(j) = context.objective_scale * value;
  }
  return std::make_unique<Diagonal>(item.text, inverse_or_one(arma::sqrt(diagonal)));
}

}  // namespace kappa::detail
