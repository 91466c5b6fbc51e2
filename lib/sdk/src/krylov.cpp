#include "kappa/krylov.hpp"

#include <algorithm>

namespace kappa {

void OrthonormalBasis::orthogonalize(Vec& x) const {
  if (size_ == 0) return;
  const auto kept = columns_.cols(0, size_ - 1);
  for (int pass = 0; pass < 2; ++pass) x -= kept * (kept.t() * x);
}

void OrthonormalBasis::append(const Vec& unit) {
  if (columns_.n_cols == size_) columns_.resize(unit.n_elem, std::max<arma::uword>(16, 2 * columns_.n_cols));
  columns_.col(size_++) = unit;
}

void least_squares_residuals(const Problem& problem, const Vec& c, const Vec& w, Vec& r, Vec& s) {
  problem.least_squares_apply(w, r);
  r = c - r;
  problem.least_squares_apply_transpose(r, s);
}

LeastSquaresValues least_squares_values(const Problem& problem, const Vec& c, const Vec& w) {
  Vec r, s;
  least_squares_residuals(problem, c, w, r, s);
  return {arma::dot(r, r), 2 * arma::norm(s)};
}

bool has_least_squares_form_or_fail(const Problem& problem, Monitor& monitor) {
  if (problem.has_least_squares_form()) return true;
  monitor.fail("needs a linear least-squares problem |B w - c|^2 (the l2 loss in the regression formulation); "
               "this problem has no such form");
  return false;
}

}  // namespace kappa
