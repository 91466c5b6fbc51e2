#pragma once
// Preconditioning as a change of variables w = P z (docs/preconditioners.md).
//
// A preconditioner is fitted on the TRAINING problem only: its design matrix A (see
// problem.hpp: the intercept, when present, is A's last column), and, for the loss-aware ones,
// the targets y and the loss (kind, ridge). The optimizer then minimizes
//   g(z) = c f(P z),  grad g(z) = c P^T grad f(P z),  Hess g = c P^T Hess f P,
// with c > 0 a constant (1 except for target-scale), so z* = P^{-1} w* exactly. Every reported
// weight is mapped back with w = P z: errors are always measured in the original coordinates
// against the same direct solution w*, whatever the preconditioner. P is invertible and
// linear, so the start w = 0 is z = 0.
//
// Syntax. A chain is items separated by commas, applied left to right: "a,b" means P = P_a P_b,
// where b is fitted on the problem as transformed by a (design A P_a, ridge term through P_a).
// An item is a name followed by options, each after a colon: "name:key=value:key=value". A bare
// option (no '=') is a value of the preconditioner's choice option ("equilibrate:max" =
// "equilibrate:norm=max", "sketch:sparse" = "sketch:kind=sparse"). Empty chains or items, a
// trailing comma, unknown names or options, options given twice and bad values are InputErrors
// naming the chain and the item.
//
// Available (H below is the Hessian of g for l2 and its constant upper bound for huber; for l1,
// which has none, the huber bound (1/n) A^T A + ridge I_f is used as a model of the curvature):
//   none                 P = I.
//   center               with an intercept only (InputError otherwise: without an intercept
//                        column, centring would change the model): subtracts the column means
//                        from the feature columns and adds them back through the intercept,
//                        w_f = z_f, w_b = z_b - mu^T z_f / a_b (a_b the value of the constant last
//                        column). Needs the last column to be still constant (so it must come
//                        before whiten, sketch, spectral in a chain).
//   standardize          z-score columns. With an intercept: center, then divide each feature
//                        column by its population std about the mean. Without one: nothing is
//                        centred (as for `center`), and each column is divided by its root mean
//                        square, i.e. its std about 0, the origin the model keeps (a column with
//                        a large mean is scaled by its size, not by its small spread).
//                        Zero-spread columns are left unscaled.
//   equilibrate[:norm=2|max]   P = diag(1 / |a_j|), column 2-norm (default) or max-abs, all
//                        columns including the intercept (van der Sluis 1969). Zero columns
//                        are left unscaled.
//   target-scale[:by=rms|max]  w = s z with s = RMS(y) (default) or max|y| rounded to the
//                        nearest power of 2 (so every scaling is exact in binary floating
//                        point), and the objective scaled by c = 1/s^2 (l2, huber) or 1/s (l1):
//                        g is exactly the same loss on the targets y/s, with huber delta/s
//                        (huber) and ridge s*ridge (l1; unchanged for l2 and huber). y = 0
//                        gives s = 1. Needs the targets: refused by the design-only overload.
//   jacobi               P = diag(H_jj)^{-1/2} (with c included, so g's Hessian has a unit
//                        diagonal); columns with H_jj = 0 are left unscaled.
//   whiten               P = R^{-1}, R from the Householder QR of the Hessian factor
//                        K = sqrt(c) [A; sqrt(n ridge / rho'') I_f] (rho'' = 2 for l2, 1 otherwise;
//                        for l2 and c = 1: [A; sqrt(n ridge / 2) I_f]), so H = (rho''/n) K^T K and
//                        K P has orthonormal columns: the ideal preconditioner, cond = 1. A
//                        numerically singular R (rcond(R) < eps max(n, d)) is a NumericalError.
//   sketch[:kind=gaussian|sparse][:gamma=G][:seed=S]   sketch-and-precondition (Blendenpik,
//                        Avron, Maymounkov & Toledo 2010; LSRN, Meng, Saunders & Mahoney 2014):
//                        P = R^{-1}, R from the QR of [S A; ridge rows] with S an m x n sketch,
//                        m = ceil(gamma d) (gamma >= 1, default 4): Gaussian N(0, 1/m) entries,
//                        or sparse (CountSketch: one +-1 per column of S). Deterministic: the
//                        seed (default 1) fixes S. Needs a tall design, n >= m (InputError
//                        naming the shape otherwise).
//   spectral[:k=K]       deflates the top K singular directions of K (the Hessian factor above)
//                        down to sigma_{K+1}: P = I + V_K (diag(sigma_{K+1}/sigma_i) - I) V_K^T,
//                        so cond(K P) = sigma_{K+1} / sigma_min. K >= 1 and below d (default
//                        min(10, d - 1)); sigma_{K+1} numerically zero is a NumericalError.
//
// Numerics. For a diagonal P, the transformed problem wraps the original one and copies no
// data. Evaluating f(P z) through the original A loses digits when P is not diagonal: with large
// column offsets, centring is cancelled again in A (P z); a dense P (whiten, sketch, spectral)
// applied as A (P z) rounds at the scale of the original conditioning. Such chains
// (needs_transformed_design()) are evaluated on one materialized copy of A P instead
// (make_solver_problem); data passes are counted identically in both forms.

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/problems/linear_model.hpp"

namespace kappa {

class Preconditioner {
 public:
  virtual ~Preconditioner() = default;
  virtual std::string name() const = 0;                    // the chain as written, normalized
  virtual Vec to_original(const Vec& z) const = 0;         // P z
  virtual Vec to_solver(const Vec& w) const = 0;           // P^{-1} w
  virtual Vec gradient_to_solver(const Vec& g) const = 0;  // P^T g
  // M P for any matrix M with dim columns; M = A gives the design seen by the transformed
  // problem (used to fit the next link of a chain, for diagnostics, and by make_solver_problem).
  virtual Mat transform_design(const Mat& M) const = 0;
  // c in g(z) = c f(P z): 1 except for target-scale.
  virtual real objective_scale() const { return 1; }
  // True when f(P z) should be evaluated on a materialized A P (see "Numerics" above).
  virtual bool needs_transformed_design() const { return false; }
};

// One item of a chain: its name, its options (bare values resolved to their key) and its text.
struct PreconditionerItem {
  std::string name;
  std::map<std::string, std::string> options;
  std::string text;
};

// Names accepted by make_preconditioner, for help texts and diagnostics.
std::vector<std::string> preconditioner_names();

// Parses and checks a chain (syntax, names, options and their values; nothing that depends on
// the data). InputError naming the chain and the offending item otherwise.
std::vector<PreconditionerItem> parse_preconditioner_chain(const std::string& chain);
// The same, plus the rules that depend on the loss only (center needs an intercept), for
// callers that check options before reading data.
std::vector<PreconditionerItem> parse_preconditioner_chain(const std::string& chain, const LossSpec& loss);

// Fits the chain on the training design A, targets y and loss. Throws InputError for a bad
// chain or one that does not apply (center without an intercept, sketch on a short design,
// spectral k >= d, ...) and NumericalError for a design the method cannot precondition
// (numerically singular R or sigma_{k+1}).
std::unique_ptr<Preconditioner> make_preconditioner(const std::string& chain, const Mat& design, const Vec& targets,
                                                    const LossSpec& loss);
std::unique_ptr<Preconditioner> make_preconditioner(const std::string& chain, const LinearModelProblem& problem);
// Design only (l2, no ridge; e.g. to report the conditioning): target-scale is refused, as it
// needs the targets.
std::unique_ptr<Preconditioner> make_preconditioner(const std::string& chain, const Mat& design, bool intercept);

// How a PreconditionedProblem evaluates f(P z).
enum class PreconditionedEvaluation {
  wrapped,       // through the base problem at w = P z: no copy of the data
  materialized,  // on its own copy of A P (the loss terms on A P; the ridge term through P)
};

// g(z) = c f(P z). Holds references: `base` and `preconditioner` must outlive it.
class PreconditionedProblem final : public Problem, public MultiPointEvaluation {
 public:
  PreconditionedProblem(const Problem& base, const Preconditioner& preconditioner);  // wrapped
  PreconditionedProblem(const LinearModelProblem& base, const Preconditioner& preconditioner,
                        PreconditionedEvaluation evaluation);
  ~PreconditionedProblem() override;

  Index dim() const override { return base_.dim(); }
  Index num_samples() const override { return base_.num_samples(); }
  bool has_hessian() const override { return base_.has_hessian(); }
  bool is_quadratic() const override { return base_.is_quadratic(); }
  bool has_curvature_bound() const override { return base_.has_curvature_bound(); }
  bool has_least_squares_form() const override { return base_.has_least_squares_form(); }
  PreconditionedEvaluation evaluation() const {
    return transformed_ ? PreconditionedEvaluation::materialized : PreconditionedEvaluation::wrapped;
  }

  // Several points at once (multi_point.hpp) when the problem it evaluates on has that:
  // preconditioned_forms.cpp.
  bool multi_point_available() const override;
  void loss_grads(const Mat& Z, Vec& losses, Mat& G) const override;
  void batch_loss_grads(const Mat& Z, const IndexVec& rows, Vec& losses, Mat& G) const override;

 protected:
  real compute_loss(const Vec& z) const override;
  real compute_loss_grad(const Vec& z, Vec& gradient) const override;
  real compute_batch_loss_grad(const Vec& z, const IndexVec& rows, Vec& gradient) const override;
  void compute_hess_vec(const Vec& z, const Vec& v, Vec& out) const override;
  void compute_curvature_bound_vec(const Vec& v, Vec& out) const override;
  // (Added by the lead for minibatch steps and CGLS/LSQR/direct: keep.) Per-sample smoothness
  // from the rows of A P, and the least-squares form of g: sqrt(c) B P and sqrt(c) times the
  // base's right-hand side.
  real compute_max_sample_smoothness() const override;
  Index compute_least_squares_rows() const override;
  void compute_least_squares_apply(const Vec& z, Vec& out) const override;
  void compute_least_squares_apply_transpose(const Vec& u, Vec& out) const override;
  Vec compute_least_squares_rhs() const override;
  Mat compute_least_squares_matrix() const override;
  bool compute_gradient_rounding(const Vec& z, Vec& estimate) const override;  // problems/rounding.cpp

 private:
  // Materialized form: the ridge term c (ridge/2) |(P z)_f|^2 and its gradient / Hessian
  // product, added to `gradient` (or `out`) when given.
  real ridge_term(const Vec& z) const;
  void add_ridge_gradient(const Vec& z, Vec& gradient) const;
  // loss_grads and batch_loss_grads: `evaluate(points, losses, gradients)` on the problem the
  // points are evaluated on, then the ridge, P^T and the objective scale.
  template <class Evaluate>
  void multi_point(const Mat& Z, Vec& losses, Mat& G, Evaluate&& evaluate) const;

  const Problem& base_;
  const Preconditioner& preconditioner_;
  real objective_scale_;
  // Materialized form only: the loss on A P (no ridge, no added intercept column).
  std::unique_ptr<const LinearModelProblem> transformed_;
  real ridge_ = 0;
  Index num_features_ = 0;
};

// The problem the optimizers see: materialized when preconditioner.needs_transformed_design(),
// wrapped otherwise.
std::unique_ptr<PreconditionedProblem> make_solver_problem(const LinearModelProblem& base,
                                                           const Preconditioner& preconditioner);

}  // namespace kappa
