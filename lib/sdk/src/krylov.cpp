#include "kappa/krylov.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

#include "kappa/parse.hpp"

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

LeastSquaresBackwardError least_squares_backward_error(const Problem& problem, real loss, real gradient_norm, real r0_norm,
                                                       real b_norm, real x_norm) {
  constexpr real eps = std::numeric_limits<real>::epsilon();
  const real r = std::sqrt(loss);
  const Index rows = problem.least_squares_rows(), dim = problem.dim();
  LeastSquaresBackwardError error;
  error.test1 = r / (r0_norm + b_norm * x_norm);
  error.test2 = r > 0 ? gradient_norm / 2 / (b_norm * r) : 0;
  error.allowed = static_cast<real>(std::max(rows, dim)) * std::sqrt(static_cast<real>(std::min(rows, dim))) * eps;
  return error;
}

std::string LeastSquaresBackwardError::text() const {
  return "|r| / (|r_0| + |B| |x|) = " + format_number(test1) + ", |B^T r| / (|B| |r|) = " + format_number(test2) +
         " (<= max(rows, dim) sqrt(min(rows, dim)) eps = " + format_number(allowed) + ")";
}

bool has_least_squares_form_or_fail(const Problem& problem, Monitor& monitor) {
  if (problem.has_least_squares_form()) return true;
  monitor.fail("needs a linear least-squares problem |B w - c|^2 (the l2 loss in the regression formulation); "
               "this problem has no such form");
  return false;
}

}  // namespace kappa
