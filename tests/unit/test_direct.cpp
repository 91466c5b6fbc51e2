#define BOOST_TEST_MODULE direct
#include <boost/test/unit_test.hpp>

// Tests of the direct solvers (direct.hpp) against closed forms built in the test:
//   A = U diag(s) V^T from orthonormal U, V made here, so that
//   the least-squares solution is w* = V diag(1/s) U^T b, the optimal residual is (I - U U^T) b,
//   and for a rank-deficient A (s with zeros) the minimum-norm solution is the same formula over
//   the nonzero s, which is orthogonal to the null space (the remaining columns of V).

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "core/references/reference.hpp"
#include "kappa/error.hpp"
#include "core/problems/linear_model.hpp"
#include "test_support.hpp"

using kappa::DirectMethod;
using kappa::DirectSolution;
using kappa::Index;
using kappa::LinearModelProblem;
using kappa::LossKind;
using kappa::LossSpec;
using kappa::Mat;
using kappa::Vec;
using namespace kappa::test;  // test_support.hpp

namespace {

const std::vector<DirectMethod> kMethods = {DirectMethod::svd, DirectMethod::qr, DirectMethod::cholesky};

// A tall A = U diag(s) V^T with known factors.
struct Factored {
  Mat U, V, A;
  Vec s;
};

Factored factored(std::mt19937_64& rng, Index n, Index d, const Vec& s) {
  Factored f;
  f.U = orthonormal(rng, n, d);
  f.V = orthonormal(rng, d, d);
  f.s = s;
  f.A = f.U * arma::diagmat(s) * f.V.t();
  return f;
}

}  // namespace

// ------------------------------------------------------------------ agreement and closed form

BOOST_AUTO_TEST_CASE(methods_agree_and_match_closed_form_on_well_conditioned_data) {
  std::mt19937_64 rng(11);
  const std::vector<std::pair<Index, Index>> shapes = {{200, 15}, {1000, 30}, {40, 40}, {7, 1}};
  for (const auto& shape : shapes) {
    for (const double cond : {10.0, 100.0}) {
      BOOST_TEST_CONTEXT(shape.first << "x" << shape.second << " cond " << cond) {
        const Index n = shape.first, d = shape.second;
        // Singular values geometric from 1 down to 1/cond (exactly 1 when d = 1).
        const Vec s = d == 1 ? Vec{1.0} : Vec(arma::exp(arma::linspace<Vec>(0, -std::log(cond), d)));
        const Factored f = factored(rng, n, d, s);
        const Vec b = gaussian_vec(rng, n);
        const Vec closed_form = f.V * ((f.U.t() * b) / s);
        // The forward error of a backward-stable solve is ~ cond eps + cond^2 eps |r| / (|A| |w|)
        // (cholesky: cond^2 eps); with cond <= 100 that is <= 1e-11, below the 1e-10 asked.
        std::vector<Vec> solutions;
        for (const DirectMethod method : kMethods) {
          const DirectSolution solution = kappa::solve_least_squares(f.A, b, method);
          BOOST_TEST((solution.method == method));
          BOOST_TEST(solution.rank == d);
          BOOST_TEST(relative(solution.w, closed_form) <= 1e-10, kappa::to_string(method));
          solutions.push_back(solution.w);
          if (method == DirectMethod::svd) {
            BOOST_TEST(solution.singular_values.n_elem == d);
            BOOST_TEST(relative(solution.singular_values, s) <= 1e-12);  // s is descending
          }
        }
        BOOST_TEST(relative(solutions[1], solutions[0]) <= 1e-10);  // qr vs svd
        BOOST_TEST(relative(solutions[2], solutions[0]) <= 1e-10);  // cholesky vs svd
        BOOST_TEST(relative(solutions[2], solutions[1]) <= 1e-10);  // cholesky vs qr
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(residual_norms_are_what_they_say) {
  std::mt19937_64 rng(12);
  const Index n = 150, d = 12;
  const Factored f = factored(rng, n, d, arma::linspace<Vec>(3.0, 0.1, d));
  const Vec b = gaussian_vec(rng, n);
  const Vec optimal_residual = b - f.U * (f.U.t() * b);  // (I - U U^T) b, closed form
  for (const DirectMethod method : kMethods) {
    BOOST_TEST_CONTEXT(kappa::to_string(method)) {
      const DirectSolution solution = kappa::solve_least_squares(f.A, b, method);
      const Vec residual = f.A * solution.w - b;
      BOOST_TEST(relative(solution.residual_norm, arma::norm(residual)) <= 1e-12);
      BOOST_TEST(relative(solution.residual_norm, arma::norm(optimal_residual)) <= 1e-10);
      // A^T r is zero at the solution up to rounding; recomputed here it must agree to the
      // rounding level ~ eps |A| |r| (both are that small), and be that small.
      const double rounding = 1e-12 * arma::norm(f.A, 2) * arma::norm(residual);
      BOOST_TEST(std::fabs(solution.normal_residual_norm - arma::norm(f.A.t() * residual)) <= rounding);
      BOOST_TEST(solution.normal_residual_norm <= 1e3 * rounding);
      BOOST_TEST(solution.seconds >= 0.0);
    }
  }
  // A consistent system (b in the range of A): zero residual.
  const Vec w_true = gaussian_vec(rng, d);
  const Vec consistent = f.A * w_true;
  for (const DirectMethod method : kMethods) {
    const DirectSolution solution = kappa::solve_least_squares(f.A, consistent, method);
    BOOST_TEST(solution.residual_norm <= 1e-12 * arma::norm(consistent));
    BOOST_TEST(relative(solution.w, w_true) <= 1e-10);
  }
}

// ------------------------------------------------------------------ rank deficiency (svd)

namespace {

void check_minimum_norm(const Mat& A, const Vec& b, const Mat& U_r, const Vec& s_r, const Mat& V_r, const Mat& V_null,
                        const DirectSolution& solution) {
  const Vec closed_form = V_r * ((U_r.t() * b) / s_r);
  BOOST_TEST(solution.rank == s_r.n_elem);
  BOOST_TEST(relative(solution.w, closed_form) <= 1e-10);
  BOOST_TEST(arma::norm(V_null.t() * solution.w) <= 1e-10 * arma::norm(closed_form));  // orthogonal to null(A)
  BOOST_TEST(relative(solution.w, Vec(arma::pinv(A) * b)) <= 1e-10);
}

}  // namespace

// The minimum-norm solution of an exactly rank-deficient A = U_r diag(s_r) V_r^T. Rounding in
// forming A leaves the "zero" singular values at ~1e-16 .. 3e-15 times sigma_max, so a cutoff of
// eps * sigma_max (LAPACK's bare rcond = -1, the first version of direct.cpp) counts one as
// nonzero in ~6% of these seeds and divides by it (|w| ~ 1e14); the default must be at least
// max(m, n) eps sigma_max (arma::pinv, MATLAB's rank, NumPy >= 1.14 lstsq).
BOOST_AUTO_TEST_CASE(svd_minimum_norm_solution_on_rank_deficient_data) {
  const Index n = 200, d = 30, r = 20;
  int wrong_rank = 0;
  for (unsigned seed = 0; seed < 100; ++seed) {
    std::mt19937_64 rng(1000 + seed);
    const Mat U_r = orthonormal(rng, n, r);
    const Mat V = orthonormal(rng, d, d);
    const Mat V_r = V.head_cols(r), V_null = V.tail_cols(d - r);
    const Vec s_r = arma::linspace<Vec>(10.0, 1.0, r);
    const Mat A = U_r * arma::diagmat(s_r) * V_r.t();
    const Vec b = gaussian_vec(rng, n);
    const DirectSolution solution = kappa::solve_least_squares(A, b, DirectMethod::svd);
    // A wrong rank makes every other check fail too (by ~1e14): report it once, with |w|.
    BOOST_TEST(solution.rank == r, "seed " << seed << ": rank " << solution.rank << " reported for rank " << r
                                           << " (sigma_" << r + 1 << "/sigma_1 = " << solution.singular_values(r) / solution.singular_values(0)
                                           << "), |w| = " << arma::norm(solution.w));
    if (solution.rank != r) {
      ++wrong_rank;
    } else {
      BOOST_TEST_CONTEXT("seed " << seed) { check_minimum_norm(A, b, U_r, s_r, V_r, V_null, solution); }
    }
    // An explicit cutoff far above the rounding level always finds the rank.
    BOOST_TEST_CONTEXT("seed " << seed << ", rcond 1e-10") {
      check_minimum_norm(A, b, U_r, s_r, V_r, V_null, kappa::solve_least_squares(A, b, DirectMethod::svd, 1e-10));
    }
  }
  BOOST_TEST(wrong_rank == 0, wrong_rank << " of 100 exactly rank-" << r << " matrices were given a larger rank");
}

BOOST_AUTO_TEST_CASE(svd_duplicate_column_splits_the_weight) {
  std::mt19937_64 rng(13);
  Mat A = gaussian(rng, 40, 6);
  A.col(5) = A.col(2);  // exact duplicate: null space spanned by e_2 - e_5
  const Vec b = gaussian_vec(rng, 40);
  const DirectSolution solution = kappa::solve_least_squares(A, b, DirectMethod::svd);
  BOOST_TEST(solution.rank == 5u);
  // The minimum-norm solution is orthogonal to e_2 - e_5: the duplicate columns share the
  // weight equally, and the rest is the least-squares solution on the 5 distinct columns.
  BOOST_TEST(std::fabs(solution.w(2) - solution.w(5)) <= 1e-10 * arma::norm(solution.w));
  const Mat distinct = A.head_cols(5);
  const Vec w5 = arma::solve(distinct, b);  // tall full-rank: the least-squares solution
  Vec expected = arma::join_cols(w5, Vec{0.0});
  expected(2) = w5(2) / 2;
  expected(5) = w5(2) / 2;
  BOOST_TEST(relative(solution.w, expected) <= 1e-10);
  BOOST_TEST(relative(solution.w, Vec(arma::pinv(A) * b)) <= 1e-10);
}

BOOST_AUTO_TEST_CASE(svd_explicit_rcond_truncates) {
  std::mt19937_64 rng(14);
  const Vec s = {10.0, 8.0, 6.0, 4.0, 2.0};
  const Factored f = factored(rng, 30, 5, s);
  const Vec b = gaussian_vec(rng, 30);
  // rcond 0.5 keeps sigma > 5: the first three.
  const DirectSolution solution = kappa::solve_least_squares(f.A, b, DirectMethod::svd, 0.5);
  BOOST_TEST(solution.rank == 3u);
  const Vec expected = f.V.head_cols(3) * ((f.U.head_cols(3).t() * b) / s.head(3));
  BOOST_TEST(relative(solution.w, expected) <= 1e-10);
  BOOST_TEST(relative(solution.singular_values, s) <= 1e-12);  // all reported, not only the kept ones
}

BOOST_AUTO_TEST_CASE(svd_wide_matrix_gives_minimum_norm_interpolant) {
  std::mt19937_64 rng(15);
  const Mat A = gaussian(rng, 5, 10);
  const Vec b = gaussian_vec(rng, 5);
  const DirectSolution solution = kappa::solve_least_squares(A, b, DirectMethod::svd);
  BOOST_TEST(solution.rank == 5u);
  BOOST_TEST(solution.residual_norm <= 1e-12 * arma::norm(b));
  const Vec expected = A.t() * arma::solve(A * A.t(), b);  // row-space interpolant
  BOOST_TEST(relative(solution.w, expected) <= 1e-10);
}

// ------------------------------------------------------------------ refusals

BOOST_AUTO_TEST_CASE(qr_refuses_rank_deficient_matrices) {
  std::mt19937_64 rng(16);
  Mat A = gaussian(rng, 40, 6);
  A.col(5) = A.col(2);
  const Vec b = gaussian_vec(rng, 40);
  require_throws_naming<kappa::NumericalError>([&] { kappa::solve_least_squares(A, b, DirectMethod::qr); }, {"qr", "rank"});
  for (unsigned seed = 0; seed < 20; ++seed) {
    BOOST_TEST_CONTEXT("seed " << seed) {
      std::mt19937_64 local(2000 + seed);
      const Mat U_r = orthonormal(local, 60, 7), V_r = orthonormal(local, 12, 7);
      const Mat B = U_r * arma::diagmat(arma::linspace<Vec>(10.0, 1.0, 7)) * V_r.t();
      require_throws_naming<kappa::NumericalError>(
          [&] { kappa::solve_least_squares(B, gaussian_vec(local, 60), DirectMethod::qr); }, {"qr"});
    }
  }
}

// cond(A) = 1e10: the normal equations have cond 1e20 >> 1/eps. Rounding in A^T A leaves its
// smallest eigenvalue at ~ +-1e-16 |A|^2 with a random sign, and arma::chol succeeds whenever it
// happens to come out positive; the solve then returns a w that is ~100% wrong without any
// error. Nothing in the result shows it: the residual norm is only 0.4 .. 4% above the optimal
// one and normal_residual_norm is smaller than the svd solution's. direct.hpp now says cholesky
// "may still succeed with a large error that its residual shows" past cond ~1e8; the brief asks
// for a refusal, and a reference w* that is silently 100% off corrupts every reported weight
// error, so this test asks for the refusal.
// EXPECTED TO FAIL for 6 of the 50 seeds with direct.cpp as of this writing (see the report).
BOOST_AUTO_TEST_CASE(cholesky_refuses_ill_conditioned_matrices) {
  const Index n = 80, d = 10;
  int accepted = 0;
  for (unsigned seed = 0; seed < 50; ++seed) {
    std::mt19937_64 rng(3000 + seed);
    const Factored f = factored(rng, n, d, arma::logspace<Vec>(0, -10, d));
    const Vec b = gaussian_vec(rng, n);
    try {
      const DirectSolution solution = kappa::solve_least_squares(f.A, b, DirectMethod::cholesky);
      ++accepted;
      const Vec optimal_residual = b - f.U * (f.U.t() * b);
      BOOST_TEST_MESSAGE("seed " << seed << ": cholesky accepted cond 1e10: |w - w*| / |w*| = "
                                 << relative(solution.w, Vec(f.V * ((f.U.t() * b) / f.s))) << ", residual "
                                 << solution.residual_norm << " vs optimal " << arma::norm(optimal_residual)
                                 << ", normal residual " << solution.normal_residual_norm);
    } catch (const kappa::NumericalError& error) {
      BOOST_TEST(std::string(error.what()).find("cholesky") != std::string::npos, error.what());
    }
    // QR does not square the condition number: cond 1e10 < 1 / (n eps) is still solvable, and
    // its backward stability gives a residual norm within ~cond eps of the optimal one.
    const DirectSolution qr = kappa::solve_least_squares(f.A, b, DirectMethod::qr);
    BOOST_TEST(qr.w.is_finite());
    BOOST_TEST(relative(qr.residual_norm, arma::norm(b - f.U * (f.U.t() * b))) <= 1e-5);
  }
  BOOST_TEST(accepted == 0, "cholesky accepted " << accepted << " of 50 matrices with cond(A) = 1e10");
}

// A Cholesky reference is never silently wrong: across condition numbers 1e2 to 1e9 (where the
// old rcond(R) >= sqrt(eps) rule accepted solutions 7.5% off at cond 3.6e8), every accepted
// solution is within kForwardErrorTolerance of the exact one (built from its SVD), and its
// bound says so; above cond ~1e5 it is refused naming the bound. svd and qr always return,
// with a bound that covers their measured error.
BOOST_AUTO_TEST_CASE(references_are_within_their_forward_error_bound) {
  const Index n = 120, d = 12;
  int cholesky_accepted = 0, cholesky_refused = 0;
  for (const double cond : {1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 3.6e8, 1e9}) {
    for (unsigned seed = 0; seed < 5; ++seed) {
      std::mt19937_64 rng(4000 + seed);
      const Factored f = factored(rng, n, d, arma::logspace<Vec>(0, -std::log10(cond), d));
      const Vec b = f.U * gaussian_vec(rng, d) + 1e-3 * gaussian_vec(rng, n);  // a small residual
      const Vec exact = f.V * ((f.U.t() * b) / f.s);
      BOOST_TEST_CONTEXT("cond " << cond << " seed " << seed) {
        for (const DirectMethod method : {DirectMethod::svd, DirectMethod::qr}) {
          const DirectSolution solution = kappa::solve_least_squares(f.A, b, method);
          BOOST_TEST(relative(solution.w, exact) <= 10 * solution.forward_error_bound, kappa::to_string(method));
        }
        try {
          const DirectSolution solution = kappa::solve_least_squares(f.A, b, DirectMethod::cholesky);
          ++cholesky_accepted;
          BOOST_TEST(solution.forward_error_bound <= kappa::kForwardErrorTolerance);
          BOOST_TEST(relative(solution.w, exact) <= kappa::kForwardErrorTolerance);
        } catch (const kappa::NumericalError& error) {
          ++cholesky_refused;
          BOOST_TEST(cond >= 1e4, "cholesky refused at cond " << cond << ": " << error.what());
        }
      }
    }
  }
  BOOST_TEST(cholesky_accepted >= 10);  // both outcomes occur: the test is not vacuous
  BOOST_TEST(cholesky_refused >= 20);
}

BOOST_AUTO_TEST_CASE(wide_matrices_refused_by_qr_and_cholesky) {
  std::mt19937_64 rng(17);
  const Mat A = gaussian(rng, 5, 10);
  const Vec b = gaussian_vec(rng, 5);
  require_throws_naming<kappa::NumericalError>([&] { kappa::solve_least_squares(A, b, DirectMethod::qr); }, {"qr", "rows"});
  require_throws_naming<kappa::NumericalError>([&] { kappa::solve_least_squares(A, b, DirectMethod::cholesky); }, {"cholesky", "rows"});
}

BOOST_AUTO_TEST_CASE(input_errors_name_the_method) {
  std::mt19937_64 rng(18);
  const Mat A = gaussian(rng, 10, 3);
  for (const DirectMethod method : kMethods) {
    const std::string name = kappa::to_string(method);
    require_throws_naming<kappa::InputError>([&] { kappa::solve_least_squares(Mat(), Vec(), method); }, {name, "empty"});
    require_throws_naming<kappa::InputError>([&] { kappa::solve_least_squares(A, gaussian_vec(rng, 9), method); }, {name, "9"});
    BOOST_TEST(kappa::to_string(kappa::parse_direct_method(name)) == name);
  }
  require_throws_naming<kappa::InputError>([] { kappa::parse_direct_method("lu"); }, {"'lu'"});
}

// ------------------------------------------------------------------ reference solutions

BOOST_AUTO_TEST_CASE(reference_l2_with_ridge_is_the_closed_form) {
  std::mt19937_64 rng(21);
  // Tall (n > d) and wide (n < d, solvable only thanks to the ridge rows) feature matrices.
  for (const auto& shape : std::vector<std::pair<Index, Index>>{{120, 8}, {6, 10}}) {
    const Mat X = gaussian(rng, shape.first, shape.second) + 0.5;
    const Vec y = gaussian_vec(rng, shape.first);
    for (const double ridge : {0.0, 0.2}) {
      for (const bool intercept : {false, true}) {
        if (shape.first < shape.second && ridge == 0) continue;  // not unique
        const Mat A = design_of(X, intercept);
        const double n = static_cast<double>(A.n_rows);
        // (A^T A + (n ridge / 2) D) w = A^T y, D = diag(1 for features, 0 for the intercept).
        Vec D(A.n_cols, arma::fill::ones);
        if (intercept) D(A.n_cols - 1) = 0;
        const Vec closed_form = arma::solve(Mat(A.t() * A + (n * ridge / 2) * arma::diagmat(D)), Vec(A.t() * y));
        for (const DirectMethod method : kMethods) {
          BOOST_TEST_CONTEXT(shape.first << "x" << shape.second << " ridge " << ridge << " intercept " << intercept << " "
                                         << kappa::to_string(method)) {
            const DirectSolution solution = kappa::reference_solution(X, y, LossSpec{LossKind::l2, 1.0, ridge, intercept}, method);
            BOOST_TEST(relative(solution.w, closed_form) <= 1e-10);
            BOOST_TEST(relative(solution.residual_norm, arma::norm(A * solution.w - y)) <= 1e-12);  // data part only
            // and the problem's gradient vanishes there
            const LinearModelProblem problem(X, y, LossSpec{LossKind::l2, 1.0, ridge, intercept});
            Vec gradient;
            problem.loss_grad(solution.w, gradient);
            BOOST_TEST(arma::norm(gradient) <= 1e-10 * (arma::norm(A, 2) * arma::norm(A, 2) / n * arma::norm(solution.w) + arma::norm(A.t() * y) / n));
          }
        }
      }
    }
  }
}

namespace {

// Linear data with a few large one-sided outliers.
struct OutlierData {
  Mat X;
  Vec y;
  Vec y_clean;  // y before the outliers were added
  Vec w_true;  // generating weights, with the intercept last when the model has one
};

OutlierData outlier_data(std::mt19937_64& rng, bool intercept) {
  OutlierData data;
  const Index n = 300, d = 5;
  data.X = gaussian(rng, n, d);
  data.w_true = gaussian_vec(rng, intercept ? d + 1 : d);
  std::normal_distribution<double> normal;
  data.y = design_of(data.X, intercept) * data.w_true;
  for (double& v : data.y) v += 0.5 * normal(rng);
  data.y_clean = data.y;
  for (Index i = 0; i < n; i += 20) data.y(i) += 50.0 + 10 * std::fabs(normal(rng));  // 15 outliers (5%)
  return data;
}

double mean_rho(const Mat& A, const Vec& y, const Vec& w, const LossSpec& spec) {
  const Vec r = A * w - y;
  double sum = 0;
  for (const double ri : r) {
    const double a = std::fabs(ri);
    sum += spec.kind == LossKind::l1 ? a : (a <= spec.huber_delta ? 0.5 * ri * ri : spec.huber_delta * (a - 0.5 * spec.huber_delta));
  }
  const Index features = spec.intercept ? A.n_cols - 1 : A.n_cols;
  const Vec wf = w.head(features);
  return sum / static_cast<double>(A.n_rows) + 0.5 * spec.ridge * arma::dot(wf, wf);
}

// Random-direction perturbations do not lower the objective (by more than rounding).
void check_no_descent(std::mt19937_64& rng, const Mat& A, const Vec& y, const Vec& w, const LossSpec& spec) {
  const double f0 = mean_rho(A, y, w, spec);
  double worst = 0;
  for (const double step : {1e-2, 1e-4, 1e-6}) {
    const double h = step * std::max(1.0, arma::norm(w));
    for (int k = 0; k < 200; ++k) {
      Vec direction = gaussian_vec(rng, A.n_cols);
      direction /= arma::norm(direction);
      worst = std::min(worst, mean_rho(A, y, w + h * direction, spec) - f0);
    }
  }
  // f is a mean of 300 terms: rounding in f is ~1e-14 f; 1e-12 f is far above that.
  BOOST_TEST(worst >= -1e-12 * f0, "a perturbation lowered f by " << -worst);
}

// An exact l1 (+ ridge) minimizer certified by its KKT conditions. With Z the rows whose
// residual is zero at the minimizer and s = sign(r) on the others, the minimizer solves
//   ridge D w + A_Z^T mu = -(1/n) A_N^T s,   A_Z w = y_Z,
// and is optimal iff the other residuals keep the signs s and |n mu_i| <= 1 (then
// (1/n) A_N^T s + ridge D w + (1/n) A_Z^T (n mu) = 0 is a subgradient with n mu_i in [-1, 1]).
// Z is guessed as the k smallest residuals of `guess`, for k = 0 .. dim.
bool l1_certified_minimizer(const Mat& A, const Vec& y, const LossSpec& spec, const Vec& guess, Vec& minimizer) {
  const Index n = A.n_rows, d = A.n_cols, features = spec.intercept ? d - 1 : d;
  const Vec residual = A * guess - y;
  const arma::uvec order = arma::sort_index(arma::abs(residual));
  for (Index k = 0; k <= d; ++k) {
    const arma::uvec Z = order.head(k), N = order.tail(n - k);
    const Vec s = arma::sign(residual.elem(N));
    Mat K(d + k, d + k, arma::fill::zeros);
    for (Index j = 0; j < features; ++j) K(j, j) = spec.ridge;
    if (k > 0) {
      K.submat(0, d, d - 1, d + k - 1) = A.rows(Z).t();
      K.submat(d, 0, d + k - 1, d - 1) = A.rows(Z);
    }
    if (arma::rcond(K) < 1e-12) continue;
    Vec rhs(d + k);
    rhs.head(d) = -(A.rows(N).t() * s) / static_cast<double>(n);
    if (k > 0) rhs.tail(k) = y.elem(Z);
    const Vec solution = arma::solve(K, rhs);
    const Vec w = solution.head(d);
    const Vec r = A * w - y;
    const bool signs_kept = arma::all(arma::sign(r.elem(N)) == s);
    const bool multipliers_ok = k == 0 || arma::abs(solution.tail(k)).max() * static_cast<double>(n) <= 1 + 1e-9;
    if (signs_kept && multipliers_ok) {
      minimizer = w;
      return true;
    }
  }
  return false;
}

// Better than least squares on data with a few large outliers:
//  * the outliers move the robust solution much less than the l2 one (displacement from the
//    same method's solution on the clean data; bounded influence: each outlier adds at most
//    delta |a_i| / n (huber) or |a_i| / n (l1) to the gradient, against |r_i| |a_i| 2/n for l2);
//  * without ridge, it is closer to the generating weights (with ridge, both are shrunk);
//  * it has a lower robust objective than the l2 solution (it is the minimizer).
void check_more_robust_than_l2(const OutlierData& data, const LossSpec& spec, const Vec& w, DirectMethod method) {
  const LossSpec l2_spec{LossKind::l2, 1.0, spec.ridge, spec.intercept};
  const Vec l2 = kappa::reference_solution(data.X, data.y, l2_spec, method).w;
  const Vec l2_clean = kappa::reference_solution(data.X, data.y_clean, l2_spec, method).w;
  const Vec robust_clean = kappa::reference_solution(data.X, data.y_clean, spec, method).w;
  BOOST_TEST(arma::norm(w - robust_clean) < 0.5 * arma::norm(l2 - l2_clean));
  if (spec.ridge == 0) BOOST_TEST(arma::norm(w - data.w_true) < 0.5 * arma::norm(l2 - data.w_true));
  const Mat A = design_of(data.X, spec.intercept);
  BOOST_TEST(mean_rho(A, data.y, w, spec) < mean_rho(A, data.y, l2, spec));
}

}  // namespace

BOOST_AUTO_TEST_CASE(reference_huber_is_stationary_and_robust) {
  for (const double ridge : {0.0, 0.2}) {
    for (const bool intercept : {false, true}) {
      for (const DirectMethod method : {DirectMethod::svd, DirectMethod::qr}) {
        BOOST_TEST_CONTEXT("ridge " << ridge << " intercept " << intercept << " " << kappa::to_string(method)) {
          std::mt19937_64 rng(31);
          const OutlierData data = outlier_data(rng, intercept);
          const LossSpec spec{LossKind::huber, 1.0, ridge, intercept};
          const Mat A = design_of(data.X, intercept);
          const double n = static_cast<double>(A.n_rows);
          const DirectSolution solution = kappa::reference_solution(data.X, data.y, spec, method);
          BOOST_TEST(solution.irls_iterations > 0);
          const Vec r = A * solution.w - data.y;
          const arma::uword outside = arma::accu(arma::abs(r) > spec.huber_delta);
          BOOST_TEST_REQUIRE(outside > 15u);               // more than the 15 outliers,
          BOOST_TEST_REQUIRE(outside < A.n_rows - 30u);    // and some in the quadratic zone
          // grad f = (1/n) A^T clamp(r, +-delta) + ridge D w, written out here.
          const Vec psi = arma::clamp(r, -spec.huber_delta, spec.huber_delta);
          Vec gradient = A.t() * psi / n;
          const Index features = data.X.n_cols;
          gradient.head(features) += ridge * solution.w.head(features);
          // Scale of the summed terms; a converged solve leaves ~1e-15 of it.
          const double scale = arma::norm(arma::abs(A).t() * arma::abs(psi)) / n + ridge * arma::norm(solution.w);
          BOOST_TEST(arma::norm(gradient) <= 1e-10 * scale);
          check_no_descent(rng, A, data.y, solution.w, spec);

          check_more_robust_than_l2(data, spec, solution.w, method);
        }
      }
    }
  }
}

// The l1 reference against a minimizer certified independently (KKT conditions above).
// IRLS for l1 converges slowly (linearly with a rate near 1 when fewer than dim residuals are
// zero at the solution, as is typical with ridge) and direct.cpp stops it at a cap of 200 steps
// (direct.hpp says 500 steps and a 1e-13 tolerance; the code has 200 and 1e-12) without
// reporting that it did not converge. With ridge 0.2 it hits the cap in 6 of these 8 cases and
// its w is then 1.6e-5 .. 3.1e-4 relative away from the certified minimizer (without ridge it
// converges to ~1e-9). Random perturbations (check_no_descent) do not see such errors; the
// certificate does.
// EXPECTED TO FAIL for 6 cases (ridge 0.2) with direct.cpp as of this writing (see the report).
BOOST_AUTO_TEST_CASE(reference_l1_is_a_minimizer_and_robust) {
  for (unsigned seed = 0; seed < 4; ++seed) {
    for (const double ridge : {0.0, 0.2}) {
      for (const bool intercept : {false, true}) {
        BOOST_TEST_CONTEXT("seed " << seed << " ridge " << ridge << " intercept " << intercept) {
          std::mt19937_64 rng(40 + seed);
          const OutlierData data = outlier_data(rng, intercept);
          const LossSpec spec{LossKind::l1, 1.0, ridge, intercept};
          const Mat A = design_of(data.X, intercept);
          const DirectSolution solution = kappa::reference_solution(data.X, data.y, spec, DirectMethod::svd);
          BOOST_TEST(solution.irls_iterations > 0);
          check_no_descent(rng, A, data.y, solution.w, spec);

          Vec certified;
          BOOST_TEST_REQUIRE(l1_certified_minimizer(A, data.y, spec, solution.w, certified));
          // IRLS floors |r| at 1e-10 max|r|, which limits it to ~1e-9 relative; 1e-6 is generous.
          BOOST_TEST(relative(solution.w, certified) <= 1e-6, "|w - w_certified| / |w_certified| = "
                                                                   << relative(solution.w, certified) << " after "
                                                                   << solution.irls_iterations << " IRLS steps");
          BOOST_TEST(mean_rho(A, data.y, solution.w, spec) >= mean_rho(A, data.y, certified, spec) - 1e-12);

          check_more_robust_than_l2(data, spec, solution.w, DirectMethod::svd);
        }
      }
    }
  }
}

// ------------------------------------------------------------------ intercept with offset columns

namespace {

double mean_squares(const Mat& A, const Vec& y, const Vec& w, double ridge, Index features) {
  const Vec r = A * w - y;
  const Vec wf = w.head(features);
  return arma::dot(r, r) / static_cast<double>(A.n_rows) + 0.5 * ridge * arma::dot(wf, wf);
}

}  // namespace

// A column with a large offset (1e8 + N(0,1)) is nearly parallel to the intercept column: the
// SVD of [X 1] dropped a rank ("rank 5 of 6") and gave a w* with a loss 170 times that of the
// minimizer (qr and cholesky refused). With an intercept the offset changes nothing but the
// intercept: the model X w_f + b = (X + 1 c^T) w_f + (b - c^T w_f), so the offset data must give
// the same feature weights as the plain data, whose closed form (normal equations, well
// conditioned) is computed here, and the intercept b - 1e8 w_f(0).
BOOST_AUTO_TEST_CASE(reference_with_intercept_is_exact_on_columns_with_large_offsets) {
  std::mt19937_64 rng(51);
  const Index n = 50, d = 5;
  const Mat X = gaussian(rng, n, d);
  const Vec y = X * Vec{1.0, -2.0, 0.5, 3.0, -1.0} + 2.0 + 0.1 * gaussian_vec(rng, n);
  const double offset = 1e8;
  Mat X_offset = X;
  X_offset.col(0) += offset;
  const Mat A = design_of(X, true), A_offset = design_of(X_offset, true);
  for (const double ridge : {0.0, 0.1}) {
    Vec D(d + 1, arma::fill::ones);
    D(d) = 0;
    const Vec closed_form = arma::solve(Mat(A.t() * A + (n * ridge / 2) * arma::diagmat(D)), Vec(A.t() * y));
    Vec mapped = closed_form;  // the same model on the offset data
    mapped(d) -= offset * closed_form(0);
    const LossSpec spec{LossKind::l2, 1.0, ridge, true};
    for (const DirectMethod method : kMethods) {
      BOOST_TEST_CONTEXT("ridge " << ridge << " " << kappa::to_string(method)) {
        const DirectSolution plain = kappa::reference_solution(X, y, spec, method);
        BOOST_TEST(relative(plain.w, closed_form) <= 1e-10);
        const DirectSolution solution = kappa::reference_solution(X_offset, y, spec, method);
        BOOST_TEST(solution.rank == d + 1);
        // Storing 1e8 + x rounds x to ~7e-9: the data differ by that much, hence 1e-6.
        BOOST_TEST(relative(Vec(solution.w.head(d)), Vec(closed_form.head(d))) <= 1e-6);
        BOOST_TEST(std::fabs(solution.w(d) - mapped(d)) <= 1e-6 * offset * std::fabs(closed_form(0)));
        // The loss at w* is not above that of the mapped closed form, nor of any nearby point:
        // steps along each feature with the intercept keeping the mean residual (the directions
        // the offset makes ill-conditioned), along the intercept, and in random directions.
        // Rounding in f on the offset data is ~1e-8 relative (residuals of ~0.1 from terms of
        // ~1e8), so 1e-7 f is allowed.
        const double f = mean_squares(A_offset, y, solution.w, ridge, d);
        const double slack = 1e-7 * f;
        BOOST_TEST(f <= mean_squares(A_offset, y, mapped, ridge, d) + slack);
        double worst = 0;
        for (const double h : {1e-1, 1e-3, 1e-5}) {
          for (Index j = 0; j <= d; ++j) {
            for (const double sign : {-1.0, 1.0}) {
              Vec step(d + 1, arma::fill::zeros);
              step(j) = sign * h;
              if (j < d) step(d) = -sign * h * arma::mean(X_offset.col(j));
              worst = std::min(worst, mean_squares(A_offset, y, solution.w + step, ridge, d) - f);
            }
          }
          for (int k = 0; k < 50; ++k) {
            const Vec direction = gaussian_vec(rng, d + 1);
            worst = std::min(worst, mean_squares(A_offset, y, solution.w + h * direction / arma::norm(direction), ridge, d) - f);
          }
        }
        BOOST_TEST(worst >= -slack, "a nearby point has a loss lower by " << -worst << " (f = " << f << ")");
        // The reported residuals are those of the original problem.
        BOOST_TEST(relative(solution.residual_norm, arma::norm(A_offset * solution.w - y)) <= 1e-12);
      }
    }
  }
}
