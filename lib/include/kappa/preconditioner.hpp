#pragma once
// Preconditioning as a change of variables w = P z.
//
// A preconditioner is fitted on the design matrix A of a problem (see problem.hpp: the
// intercept, when present, is A's last column). The optimizer then minimizes
//   g(z) = f(P z),  grad g(z) = P^T grad f(P z),  Hess g = P^T Hess f P,
// and every reported weight is mapped back with w = P z, so errors are always measured in the
// original coordinates against the same direct solution w*. Nothing in the data is copied: the
// transformed problem wraps the original one.
//
// Available (chain several with commas, applied left to right: "a,b" means P = P_a P_b):
//   none         P = I
//   standardize  scales each feature column by 1/std (population std about the column mean;
//                constant columns are left unscaled). With an intercept it also centres the
//                columns, which is then an exact change of variables; without one, centring
//                would change the model, so only the scaling is applied.

#include <memory>
#include <string>
#include <vector>

#include "kappa/problem.hpp"

namespace kappa {

class Preconditioner {
 public:
  virtual ~Preconditioner() = default;
  virtual std::string name() const = 0;
  virtual Vec to_original(const Vec& z) const = 0;       // P z
  virtual Vec to_solver(const Vec& w) const = 0;         // P^{-1} w
  virtual Vec gradient_to_solver(const Vec& g) const = 0;  // P^T g
  // A P, the design seen by the transformed problem (for fitting the next link of a chain and
  // for diagnostics; the optimizers never need it).
  virtual Mat transform_design(const Mat& design) const = 0;
};

// Fits the named chain ("none", "standardize", "standardize,none", ...) on `design`.
// `intercept` says whether the design's last column is the intercept. Throws InputError naming
// an unknown preconditioner.
std::unique_ptr<Preconditioner> make_preconditioner(const std::string& chain, const Mat& design,
                                                    bool intercept);

// Names accepted by make_preconditioner, for help texts.
std::vector<std::string> preconditioner_names();

// The names of a chain, each checked: InputError naming the chain and the unknown name.
std::vector<std::string> parse_preconditioner_chain(const std::string& chain);

// g(z) = f(P z). Holds references: `base` and `preconditioner` must outlive it.
class PreconditionedProblem final : public Problem {
 public:
  PreconditionedProblem(const Problem& base, const Preconditioner& preconditioner);

  Index dim() const override { return base_.dim(); }
  Index num_samples() const override { return base_.num_samples(); }
  bool has_hessian() const override { return base_.has_hessian(); }
  bool is_quadratic() const override { return base_.is_quadratic(); }
  bool has_curvature_bound() const override { return base_.has_curvature_bound(); }

 protected:
  real compute_loss(const Vec& z) const override;
  real compute_loss_grad(const Vec& z, Vec& gradient) const override;
  real compute_batch_loss_grad(const Vec& z, const IndexVec& rows, Vec& gradient) const override;
  void compute_hess_vec(const Vec& z, const Vec& v, Vec& out) const override;
  void compute_curvature_bound_vec(const Vec& v, Vec& out) const override;

 private:
  const Problem& base_;
  const Preconditioner& preconditioner_;
};

}  // namespace kappa
