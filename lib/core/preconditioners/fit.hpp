#pragma once
// Internal to libkappa: what one link of a preconditioner chain is fitted on, and the fitting
// functions of preconditioner_diagonal.cpp and preconditioner_dense.cpp.

#include <memory>
#include <string>

#include "core/preconditioners/preconditioner.hpp"

namespace kappa::detail {

// The problem as transformed by the links before this one (P_prev, c_prev):
//   g(z) = c_prev [ (1/n) sum rho(design_i z - y_i) + (ridge/2) |regularizer z|^2 ].
struct FitContext {
  const Mat& design;       // A P_prev (n x d)
  const Mat& regularizer;  // D_f P_prev (f x d): the rows of P_prev of the feature weights
  const Vec& targets;      // y; empty when unknown (design-only fitting)
  real objective_scale;    // c_prev
  const LossSpec& loss;    // of the original problem
  std::string chain;       // for messages
  std::string previous;    // the items before this one, "" for the first

  // "preconditioner '<chain>': '<item>'", the prefix of every message about this link.
  std::string where(const PreconditionerItem& item) const;
  // rho'' of the curvature model: 2 for l2, 1 for huber (its bound) and l1.
  real curvature() const { return loss.kind == LossKind::l2 ? 2.0 : 1.0; }
  // sqrt(n ridge / rho'') regularizer: the rows appended to the (sketched) design in
  // K = sqrt(c_prev) [design; ridge_rows()], so that H = (rho''/n) K^T K; 0 rows when ridge = 0.
  Mat ridge_rows() const;
  // The product of the target scales before this link (c_prev = s^-2, or s^-1 for l1).
  real target_scale() const;
  // True when the design's last column is a nonzero constant (the intercept, possibly scaled).
  bool intercept_column_intact() const;
};

std::unique_ptr<Preconditioner> fit_identity(const PreconditionerItem& item);
std::unique_ptr<Preconditioner> fit_center(const PreconditionerItem& item, const FitContext& context);
std::unique_ptr<Preconditioner> fit_standardize(const PreconditionerItem& item, const FitContext& context);
std::unique_ptr<Preconditioner> fit_equilibrate(const PreconditionerItem& item, const FitContext& context);
std::unique_ptr<Preconditioner> fit_target_scale(const PreconditionerItem& item, const FitContext& context);
std::unique_ptr<Preconditioner> fit_jacobi(const PreconditionerItem& item, const FitContext& context);
std::unique_ptr<Preconditioner> fit_whiten(const PreconditionerItem& item, const FitContext& context);
std::unique_ptr<Preconditioner> fit_sketch(const PreconditionerItem& item, const FitContext& context);
std::unique_ptr<Preconditioner> fit_spectral(const PreconditionerItem& item, const FitContext& context);

// The option `key` of `item` (validated by parse_preconditioner_chain), or `fallback`.
std::string option(const PreconditionerItem& item, const std::string& key, const std::string& fallback);

}  // namespace kappa::detail
