#pragma once
// Pieces shared by the Krylov plugins (cg, cgls, lsqr, lsmr): the orthonormal basis of full
// reorthogonalization, the exact loss and gradient of the least-squares form, and the refusal of
// a problem without that form.
//
// Reorthogonalization is classical Gram-Schmidt applied twice (CGS2): x -= Q (Q^T x), two passes,
// which makes x orthogonal to the columns of Q to working precision ("twice is enough": Giraud,
// Langou, Rozloznik & van den Eshof, Numer. Math. 101, 2005). Cost 4 k n flops per vector with k
// columns kept; memory k n reals.
#include <algorithm>
#include <string>

#include "kappa/monitor.hpp"
#include "kappa/problem.hpp"
#include "kappa/types.hpp"

namespace kappa {

class OrthonormalBasis {
 public:
  // x -= Q (Q^T x), twice, over the columns kept so far (nothing when there are none).
  void orthogonalize(Vec& x) const;
  // Appends a unit vector (the caller normalizes it); storage grows by doubling.
  void append(const Vec& unit);
  arma::uword size() const { return size_; }
  void clear() { size_ = 0; }

 private:
  Mat columns_;
  arma::uword size_ = 0;
};

// f(w) = |c - B w|^2 and |grad f(w)| = 2 |B^T (c - B w)| of the least-squares form, exactly (not
// a recurrence's estimate): one data pass.
struct LeastSquaresValues {
  real loss = 0;
  real gradient_norm = 0;
};
LeastSquaresValues least_squares_values(const Problem& problem, const Vec& c, const Vec& w);
// The same pass keeping r = c - B w and s = B^T r.
void least_squares_residuals(const Problem& problem, const Vec& c, const Vec& w, Vec& r, Vec& s);

// The backward-error tests of a least-squares solution (Paige & Saunders 1982, LSQR's S1 and
// S2) on exact values: test1 = |r| / (|r_0| + |B| |w - w_0|), test2 = |B^T r| / (|B| |r|), with
// r = c - B w from least_squares_values (loss = |r|^2, gradient_norm = 2 |B^T r|). Either at
// most `allowed` = max(rows, dim) sqrt(min(rows, dim)) eps means w is the exact solution of a
// problem within rounding of the given one: as accurate as the arithmetic allows. `b_norm` may
// be a lower bound of |B| (the tests are then conservative).
struct LeastSquaresBackwardError {
  real test1 = 0;
  real test2 = 0;
  real allowed = 0;
  bool holds() const { return std::min(test1, test2) <= allowed; }
  std::string text() const;  // "|r| / (|r_0| + |B| |x|) = ..., |B^T r| / (|B| |r|) = ... (<= ... = ...)"
};
LeastSquaresBackwardError least_squares_backward_error(const Problem& problem, real loss, real gradient_norm, real r0_norm,
                                                       real b_norm, real x_norm);

// For a method that needs the least-squares form: false after monitor.fail with the reason when
// the problem has none (l1, huber, the kernel-system formulation).
bool has_least_squares_form_or_fail(const Problem& problem, Monitor& monitor);

}  // namespace kappa
