#include "kappa/preconditioner.hpp"

#include <algorithm>

#include "kappa/error.hpp"
#include "kappa/parse.hpp"

namespace kappa {
namespace {

class Identity final : public Preconditioner {
 public:
  std::string name() const override { return "none"; }
  Vec to_original(const Vec& z) const override { return z; }
  Vec to_solver(const Vec& w) const override { return w; }
  Vec gradient_to_solver(const Vec& g) const override { return g; }
  Mat transform_design(const Mat& design) const override { return design; }
};

// Feature scaling, and centring when the design has an intercept column (last). With
// s = column std and mu = column mean over the feature columns f and intercept b:
//   w_f = z_f / s,  w_b = z_b - mu^T (z_f / s)      (so A w = (X - 1 mu^T) diag(1/s) z_f + 1 z_b)
class Standardize final : public Preconditioner {
 public:
  Standardize(const Mat& design, bool intercept) : intercept_(intercept) {
    const Index features = intercept ? design.n_cols - 1 : design.n_cols;
    const Mat X = design.head_cols(features);
    mean_ = arma::mean(X, 0).t();
    scale_ = arma::stddev(X, 1, 0).t();  // population std (normalized by n)
    scale_.elem(arma::find(scale_ == 0)).ones();  // constant column: nothing to scale
    if (!intercept_) mean_.zeros();
  }
  std::string name() const override { return "standardize"; }

  Vec to_original(const Vec& z) const override {
    Vec w = z;
    w.head(features()) /= scale_;
    if (intercept_) w(features()) -= arma::dot(mean_, w.head(features()));
    return w;
  }
  Vec to_solver(const Vec& w) const override {
    Vec z = w;
    if (intercept_) z(features()) += arma::dot(mean_, w.head(features()));
    z.head(features()) %= scale_;
    return z;
  }
  Vec gradient_to_solver(const Vec& g) const override {  // P^T g
    Vec gz = g;
    if (intercept_) gz.head(features()) -= mean_ * g(features());
    gz.head(features()) /= scale_;
    return gz;
  }
  Mat transform_design(const Mat& design) const override {
    Mat transformed = design;
    transformed.head_cols(features()).each_row() -= mean_.t();
    transformed.head_cols(features()).each_row() /= scale_.t();
    return transformed;
  }

 private:
  Index features() const { return scale_.n_elem; }
  bool intercept_;
  Vec mean_;
  Vec scale_;
};

// P = P_1 P_2 ... P_k: w = P_1 (P_2 (... z)).
class Chain final : public Preconditioner {
 public:
  explicit Chain(std::vector<std::unique_ptr<Preconditioner>> links) : links_(std::move(links)) {}
  std::string name() const override {
    std::string joined;
    for (const auto& link : links_) joined += (joined.empty() ? "" : ",") + link->name();
    return joined;
  }
  Vec to_original(const Vec& z) const override {
    Vec w = z;
    for (auto link = links_.rbegin(); link != links_.rend(); ++link) w = (*link)->to_original(w);
    return w;
  }
  Vec to_solver(const Vec& w) const override {
    Vec z = w;
    for (const auto& link : links_) z = link->to_solver(z);
    return z;
  }
  Vec gradient_to_solver(const Vec& g) const override {  // P^T = P_k^T ... P_1^T
    Vec gz = g;
    for (const auto& link : links_) gz = link->gradient_to_solver(gz);
    return gz;
  }
  Mat transform_design(const Mat& design) const override {
    Mat transformed = design;
    for (const auto& link : links_) transformed = link->transform_design(transformed);
    return transformed;
  }

 private:
  std::vector<std::unique_ptr<Preconditioner>> links_;
};

// `name` is one of preconditioner_names() (checked by parse_preconditioner_chain).
std::unique_ptr<Preconditioner> make_single(const std::string& name, const Mat& design, bool intercept) {
  if (name == "standardize") return std::make_unique<Standardize>(design, intercept);
  return std::make_unique<Identity>();
}

}  // namespace

std::vector<std::string> preconditioner_names() { return {"none", "standardize"}; }

std::vector<std::string> parse_preconditioner_chain(const std::string& chain) {
  const std::vector<std::string> names = split_list(chain, "preconditioner '" + chain + "'");
  const std::vector<std::string> known = preconditioner_names();
  for (const std::string& name : names)
    if (std::find(known.begin(), known.end(), name) == known.end())
      throw InputError("preconditioner '" + chain + "': unknown preconditioner '" + name + "' (known: " + join(known, ", ") + ")");
  return names;
}

std::unique_ptr<Preconditioner> make_preconditioner(const std::string& chain, const Mat& design, bool intercept) {
  const std::vector<std::string> names = parse_preconditioner_chain(chain);
  if (names.size() == 1) return make_single(names.front(), design, intercept);
  // Each link is fitted on the design as transformed by the links before it.
  std::vector<std::unique_ptr<Preconditioner>> links;
  Mat transformed = design;
  for (const std::string& name : names) {
    links.push_back(make_single(name, transformed, intercept));
    if (&name != &names.back()) transformed = links.back()->transform_design(transformed);
  }
  return std::make_unique<Chain>(std::move(links));
}

// ---------------------------------------------------------------- PreconditionedProblem

PreconditionedProblem::PreconditionedProblem(const Problem& base, const Preconditioner& preconditioner)
    : base_(base), preconditioner_(preconditioner) {}

real PreconditionedProblem::compute_loss(const Vec& z) const { return base_.loss(preconditioner_.to_original(z)); }

real PreconditionedProblem::compute_loss_grad(const Vec& z, Vec& gradient) const {
  Vec base_gradient;
  const real value = base_.loss_grad(preconditioner_.to_original(z), base_gradient);
  gradient = preconditioner_.gradient_to_solver(base_gradient);
  return value;
}

real PreconditionedProblem::compute_batch_loss_grad(const Vec& z, const IndexVec& rows, Vec& gradient) const {
  Vec base_gradient;
  const real value = base_.batch_loss_grad(preconditioner_.to_original(z), rows, base_gradient);
  gradient = preconditioner_.gradient_to_solver(base_gradient);
  return value;
}

void PreconditionedProblem::compute_hess_vec(const Vec& z, const Vec& v, Vec& out) const {
  Vec base_out;
  base_.hess_vec(preconditioner_.to_original(z), preconditioner_.to_original(v), base_out);
  out = preconditioner_.gradient_to_solver(base_out);
}

void PreconditionedProblem::compute_curvature_bound_vec(const Vec& v, Vec& out) const {
  Vec base_out;
  base_.curvature_bound_vec(preconditioner_.to_original(v), base_out);
  out = preconditioner_.gradient_to_solver(base_out);
}

}  // namespace kappa

