// Reference solutions w* (core/references/reference.hpp).
#include "core/references/reference.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <vector>

#include "kappa/error.hpp"
#include "kappa/parse.hpp"
#include "core/problems/linear_model.hpp"

namespace kappa {
namespace {

using Clock = std::chrono::steady_clock;

// The stacked system whose least-squares solution minimizes (1/(2n)) sum c_i r_i^2 + (ridge/2) |w_f|^2.
void stack_system(const Mat& A, const Vec& y, const Vec& row_weights, real ridge_rows_scale, Index features, Mat& stacked,
                  Vec& rhs) {
  const Vec root = arma::sqrt(row_weights);
  Mat weighted = A.each_col() % root;
  Vec weighted_y = y % root;
  if (ridge_rows_scale == 0) {
    stacked = std::move(weighted);
    rhs = std::move(weighted_y);
    return;
  }
  Mat ridge_rows(features, A.n_cols, arma::fill::zeros);
  ridge_rows.diag().fill(ridge_rows_scale);
  stacked = arma::join_cols(weighted, ridge_rows);
  rhs = arma::join_cols(weighted_y, Vec(features, arma::fill::zeros));
}

// c_i = rho'(r_i) / r_i, the IRLS weights.
Vec irls_weights(const Vec& residuals, const LossSpec& spec) {
  const Vec magnitude = arma::abs(residuals);
  if (spec.kind == LossKind::huber) {
    Vec weights(residuals.n_elem, arma::fill::ones);
    const arma::uvec outside = arma::find(magnitude > spec.huber_delta);
    weights.elem(outside) = spec.huber_delta / magnitude.elem(outside);
    return weights;
  }
  // l1: |r| is floored so that exactly interpolated points do not get infinite weight.
  const real floor = std::max(1e-10 * magnitude.max(), std::numeric_limits<real>::min());
  return 1.0 / arma::clamp(magnitude, floor, std::numeric_limits<real>::max());
}

// The minimizer of (1/n) |A w - y|_1 + ridge/2 |w_f|^2 is characterized by the set Z of its
// zero residuals and the signs s of the others: with D = diag(1 on features, 0 on the
// intercept) it solves the KKT system
//   [ridge D   A_Z^T] [w ]   [-(1/n) A_N^T s]
//   [A_Z       0    ] [mu] = [ y_Z          ]
// and it is the minimizer exactly when the other residuals keep their signs and
// |n mu_i| <= 1 (the subgradient of |r_i| at 0). Returns false when Z is not the right set.
bool l1_kkt_solution(const Mat& A, const Vec& y, real ridge, Index features, const arma::uvec& zero,
                     const arma::uvec& others, const Vec& signs, Vec& w) {
  const Index d = A.n_cols;
  const Index k = zero.n_elem;
  Mat kkt(d + k, d + k, arma::fill::zeros);
  kkt.submat(0, 0, features - 1, features - 1).diag().fill(ridge);
  if (k > 0) {
    kkt.submat(0, d, d - 1, d + k - 1) = A.rows(zero).t();
    kkt.submat(d, 0, d + k - 1, d - 1) = A.rows(zero);
  }
  Vec rhs(d + k);
  rhs.head(d) = -(A.rows(others).t() * signs) / static_cast<real>(A.n_rows);
  if (k > 0) rhs.tail(k) = y.elem(zero);
  Vec solution;
  if (arma::rcond(kkt) < 1e-12 || !arma::solve(solution, kkt, rhs, arma::solve_opts::no_approx)) return false;
  const Vec candidate = solution.head(d);
  const Vec candidate_residual = A * candidate - y;
  const bool signs_kept = arma::all(arma::sign(candidate_residual.elem(others)) == signs);
  const bool subgradient_ok = k == 0 || arma::abs(solution.tail(k)).max() * static_cast<real>(A.n_rows) <= 1 + 1e-9;
  if (!signs_kept || !subgradient_ok) return false;
  w = candidate;
  return true;
}

// Candidate sets Z, tried in turn: the residuals below t max|r| for a few thresholds t (IRLS
// drives the zero residuals towards its floor, 1e-10 max|r|, apart from the others), and the
// d - 1 and d smallest residuals (without ridge the minimizer is generically a vertex with
// d zero residuals, which IRLS approaches slowly). On success w becomes the certified minimizer.
bool certify_l1(const Mat& A, const Vec& y, real ridge, Index features, Vec& w) {
  const Vec residual = A * w - y;
  const Vec magnitude = arma::abs(residual);
  const arma::uvec order = arma::sort_index(magnitude);
  std::vector<arma::uvec> candidates;
  for (const real threshold : {1e-8, 1e-7, 1e-6, 1e-5, 1e-4, 1e-3}) candidates.push_back(arma::find(magnitude <= threshold * magnitude.max()));
  for (const Index k : {A.n_cols - 1, A.n_cols})
    if (k < A.n_rows) candidates.push_back(order.head(k));
  for (const arma::uvec& zero : candidates) {
    arma::uvec is_zero(A.n_rows, arma::fill::zeros);
    is_zero.elem(zero).ones();
    const arma::uvec others = arma::find(is_zero == 0);
    if (l1_kkt_solution(A, y, ridge, features, zero, others, arma::sign(residual.elem(others)), w)) return true;
  }
  return false;
}

}  // namespace

RowSpaceProjection::RowSpaceProjection(Index dim, const Mat& row_space_basis)
    : known_(true), null_dimension_(dim - row_space_basis.n_cols) {
  if (row_space_basis.n_rows != dim || row_space_basis.n_cols > dim)
    throw std::logic_error("RowSpaceProjection: the basis is not dim x rank");
  const Index rank = row_space_basis.n_cols;
  if (null_dimension_ == 0) return;  // P = I
  if (null_dimension_ > rank) {
    basis_is_null_space_ = false;
    basis_ = row_space_basis;
    return;
  }
  // The complement of the orthonormal V_r: the last d - r columns of the full QR factor of V_r.
  Mat Q, R;
  if (!arma::qr(Q, R, row_space_basis)) throw NumericalError("the QR factorization of the row-space basis failed");
  basis_ = Q.tail_cols(null_dimension_);
}

RowSpaceProjection RowSpaceProjection::full() {
  RowSpaceProjection projection;
  projection.known_ = true;  // null_dimension_ 0: P = I, nothing to keep
  return projection;
}

Vec RowSpaceProjection::apply(const Vec& v) const {
  if (!known_) return Vec(v.n_elem, arma::fill::value(arma::datum::nan));
  if (null_dimension_ == 0) return v;
  const Vec coordinates = basis_.t() * v;
  return basis_is_null_space_ ? Vec(v - basis_ * coordinates) : Vec(basis_ * coordinates);
}

ReferenceDesign solved_reference_design(const DirectSolution& solution, Index system_rows, Index system_cols,
                                        const Mat& row_space, const arma::rowvec* feature_means, real rcond) {
  ReferenceDesign design;
  if (solution.singular_values.is_empty()) return design;  // qr, cholesky: neither rank nor basis
  design.rank = numerical_rank(solution.singular_values, system_rows, system_cols, rcond);
  const Index rank = row_space.n_cols;
  if (!feature_means) {
    design.row_space = RowSpaceProjection(system_cols, row_space);
  } else if (rank == system_cols) {
    design.row_space = RowSpaceProjection::full();
  } else {
    // [X 1] (v, b) = X_c v + (mean(X) v + b) 1 with X_c orthogonal to 1: its null space is
    // {(u, -mean(X) u) : X_c u = 0}, orthogonal to (v, 0) for v in range(X_c^T) and to
    // (mean(X)^T, 1); those rank + 1 vectors span range([X 1]^T). Orthonormalized by QR.
    Mat spanning(system_cols + 1, rank + 1, arma::fill::zeros);
    if (rank > 0) spanning.submat(0, 0, system_cols - 1, rank - 1) = row_space;
    spanning.col(rank).head(system_cols) = feature_means->t();
    spanning(system_cols, rank) = 1;
    Mat Q, R;
    if (!arma::qr_econ(Q, R, spanning)) throw NumericalError("the QR factorization of the row-space basis failed");
    design.row_space = RowSpaceProjection(system_cols + 1, Q);
  }
  return design;
}

DirectSolution reference_solution(const Mat& X, const Vec& y, const LossSpec& spec, DirectMethod method,
                                  ReferenceDesign* design) {
  const Mat A = design_matrix(X, spec.intercept);
  const real n = static_cast<real>(A.n_rows);
  const auto start = Clock::now();
  if (spec.kind == LossKind::l2 && !spec.intercept) {
    // (1/n) |r|^2 + (ridge/2) |w_f|^2  ==  (1/n) ( |r|^2 + |sqrt(n ridge / 2) w_f|^2 ).
    Mat stacked;
    Vec rhs;
    stack_system(A, y, Vec(A.n_rows, arma::fill::ones), std::sqrt(n * spec.ridge / 2), X.n_cols, stacked, rhs);
    Mat row_space;
    DirectSolution out = solve_least_squares(stacked, rhs, method, -1, &row_space);
    if (design) *design = solved_reference_design(out, stacked.n_rows, stacked.n_cols, row_space, nullptr);
    if (spec.ridge != 0) {  // report the residual of the data part
      const Vec residual = A * out.w - y;
      out.residual_norm = arma::norm(residual);
    }
    return out;
  }
  if (spec.kind == LossKind::l2) {
    // With an intercept (unpenalized), scikit-learn's fit_intercept: for any w_f the best
    // intercept is b = mean(y) - mean(X) w_f, and putting it in leaves
    //   (1/n) |X_c w_f - y_c|^2 + (ridge/2) |w_f|^2,   X_c = X - 1 mean(X), y_c = y - mean(y),
    // so solving the centred (stacked) system for w_f and then setting b is exact. Solving
    // [X 1] directly is not: a column with a large offset (1e8 + O(1)) is nearly parallel to the
    // intercept column, and the svd drops a rank, qr and cholesky refuse. The means are
    // corrected by a second pass (the centred columns' own means), so that the columns are
    // centred to rounding even when the offset dwarfs the spread.
    const Index features = X.n_cols;
    arma::rowvec x_mean = arma::mean(X, 0);
    Mat centred = X.each_row() - x_mean;
    const arma::rowvec x_correction = arma::mean(centred, 0);
    centred.each_row() -= x_correction;
    x_mean += x_correction;
    real y_mean = arma::mean(y);
    Vec y_centred = y - y_mean;
    const real y_correction = arma::mean(y_centred);
    y_centred -= y_correction;
    y_mean += y_correction;
    Mat stacked;
    Vec rhs;
    stack_system(centred, y_centred, Vec(X.n_rows, arma::fill::ones), std::sqrt(n * spec.ridge / 2), features, stacked,
                 rhs);
    Mat row_space;
    DirectSolution out = solve_least_squares(stacked, rhs, method, -1, &row_space);
    if (design) *design = solved_reference_design(out, stacked.n_rows, stacked.n_cols, row_space, &x_mean);
    Vec w(features + 1);
    w.head(features) = out.w;
    w(features) = y_mean - arma::dot(x_mean, out.w);
    out.w = std::move(w);
    // [X 1] = [X_c 1] T with T invertible and X_c orthogonal to 1: the intercept adds one to
    // the rank of the centred system.
    out.rank += 1;
    // Residuals of the original problem: the data part, and the gradient-like normal residual
    // A^T r + (n ridge / 2) w_f of the stacked system [A; sqrt(n ridge / 2) I_f].
    const Vec residual = A * out.w - y;
    out.residual_norm = arma::norm(residual);
    Vec normal = A.t() * residual;
    normal.head(features) += (n * spec.ridge / 2) * out.w.head(features);
    out.normal_residual_norm = arma::norm(normal);
    out.seconds = std::chrono::duration<double>(Clock::now() - start).count();
    return out;
  }
  // IRLS: with c_i = rho'(r_i)/r_i, (1/n) sum rho(r_i) + ridge/2 |w_f|^2 is majorized by
  // (1/(2n)) sum c_i r_i^2 + ridge/2 |w_f|^2, i.e. the stacked least squares with ridge rows
  // sqrt(n ridge); each step decreases f (Holland & Welsch 1977).
  DirectSolution out = reference_solution(X, y, LossSpec{LossKind::l2, 1.0, spec.ridge, spec.intercept}, method);
  constexpr int max_steps = 200;
  constexpr real tolerance = 1e-12;
  real relative_change = arma::datum::inf;
  for (int step = 1; step <= max_steps && relative_change > tolerance; ++step) {
    Mat stacked;
    Vec rhs;
    stack_system(A, y, irls_weights(A * out.w - y, spec), std::sqrt(n * spec.ridge), X.n_cols, stacked, rhs);
    const Vec previous = out.w;
    Mat row_space;
    out = solve_least_squares(stacked, rhs, method, -1, &row_space);
    // The weights are positive, so the weighted rows span range(A^T) as A's do.
    if (design) *design = solved_reference_design(out, stacked.n_rows, stacked.n_cols, row_space, nullptr);
    out.irls_iterations = step;
    relative_change = arma::norm(out.w - previous) / std::max<real>(arma::norm(out.w), 1e-300);
  }
  if (spec.kind == LossKind::l1 && certify_l1(A, y, spec.ridge, X.n_cols, out.w)) {
    out.note = "l1 minimizer certified by its optimality conditions";
  } else if (relative_change > tolerance) {
    out.note = "IRLS stopped after " + std::to_string(max_steps) + " steps with relative change " +
               format_number(relative_change) + " (not converged to 1e-12)";
  }
  const Vec residual = A * out.w - y;
  out.residual_norm = arma::norm(residual);
  out.normal_residual_norm = arma::norm(A.t() * residual);
  out.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  return out;
}

}  // namespace kappa
