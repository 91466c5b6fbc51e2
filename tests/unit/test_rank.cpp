#define BOOST_TEST_MODULE rank
#include <boost/test/unit_test.hpp>

#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include <kappa/dense_solve.hpp>
#include <kappa/error.hpp>
#include "core/experiment/experiment.hpp"
#include "core/references/least_squares_reduction.hpp"
#include "core/references/reference.hpp"

#include "test_support.hpp"

// Rank-deficient problems (docs/conventions.md): the one numerical rank and condition number
// (numerical_rank, kappa/dense_solve.hpp), the row-space projection of the reference
// (RowSpaceProjection, reference.hpp) and rel_w_err_range, which must not count the null-space
// part of w - w* that no data can see. The truths are built here: singular values given
// outright, null vectors written down from the construction of the data, and projections from
// Armadillo's pinv.

using namespace kappa;
using kappa::test::gaussian;
using kappa::test::gaussian_vec;
using kappa::test::relative;

namespace {

constexpr real kEps = std::numeric_limits<real>::epsilon();

// n x 6 with column 4 = 100 * column 1 and column 5 = column 0 - 2 column 2: rank 4, with the
// null vectors of null_vectors() below.
Mat dependent_columns(std::mt19937_64& rng, Index n) {
  Mat X = gaussian(rng, n, 6);
  X.col(4) = 100 * X.col(1);
  X.col(5) = X.col(0) - 2 * X.col(2);
  return X;
}

Mat null_vectors() {
  Mat N(6, 2, arma::fill::zeros);
  N(1, 0) = 100;  // 100 x_1 - x_4 = 0
  N(4, 0) = -1;
  N(0, 1) = 1;  // x_0 - 2 x_2 - x_5 = 0
  N(2, 1) = -2;
  N(5, 1) = -1;
  return N;
}

Dataset dataset_of(const Mat& X, const Vec& y) {
  Dataset data;
  data.X_train = X;
  data.y_train = y;
  data.source = "rank test";
  return data;
}

ExperimentSetup setup_with(bool intercept, real ridge = 0, DirectMethod method = DirectMethod::svd) {
  ExperimentSetup setup;
  setup.loss.intercept = intercept;
  setup.loss.ridge = ridge;
  setup.reference_method = method;
  return setup;
}

}  // namespace

BOOST_AUTO_TEST_CASE(numerical_rank_full_and_deficient) {
  // Full rank, tall: cond = sigma_max / sigma_min, printed with %g.
  const NumericalRank full = numerical_rank(Vec{3, 2, 0.5}, 5, 3);
  BOOST_TEST(full.rank == 3u);
  BOOST_TEST(full.full_rank());
  BOOST_TEST(full.condition == 6.0);
  BOOST_TEST(full.nonzero_condition == 6.0);
  BOOST_TEST(condition_text(full) == "6");

  // A value at the rounding level (below eps max(n, d) sigma_max) is zero: cond is inf, and the
  // nonzero spectrum keeps its own ratio. The order of the values does not matter.
  const NumericalRank deficient = numerical_rank(Vec{1e-15, 10, 0.5}, 4, 3);
  BOOST_TEST(deficient.rank == 2u);
  BOOST_TEST(!deficient.full_rank());
  BOOST_TEST(std::isinf(deficient.condition));
  BOOST_TEST(deficient.sigma_max == 10.0);
  BOOST_TEST(deficient.sigma_r == 0.5);
  BOOST_TEST(deficient.nonzero_condition == 20.0);
  BOOST_TEST(condition_text(deficient) == "inf (rank 2 of 3; nonzero spectrum sigma_1/sigma_r = 20)");

  // Wide: rank n = min(n, d) is full rank (cond finite), though the null space has d - n dimensions.
  const NumericalRank wide = numerical_rank(Vec{2, 1}, 2, 5);
  BOOST_TEST(wide.full_rank());
  BOOST_TEST(wide.condition == 2.0);

  // Zero matrix: rank 0, no condition number to print.
  const NumericalRank zero = numerical_rank(Vec{0, 0}, 3, 2);
  BOOST_TEST(zero.rank == 0u);
  BOOST_TEST(std::isinf(zero.condition));
  BOOST_TEST(std::isnan(zero.nonzero_condition));
  BOOST_TEST(condition_text(zero) == "undefined (every singular value is 0)");
}

BOOST_AUTO_TEST_CASE(numerical_rank_cutoff_is_eps_max_dims_sigma_max) {
  // The cutoff is eps * max(rows, cols) * sigma_max, a value at it is dropped (NumPy's
  // matrix_rank and lstsq: S > tol), one just above it kept.
  const real cutoff = kEps * 50 * 1.0;
  BOOST_TEST(numerical_rank(Vec{1.0, cutoff}, 50, 2).rank == 1u);
  BOOST_TEST(numerical_rank(Vec{1.0, cutoff * (1 + 4 * kEps)}, 50, 2).rank == 2u);
  BOOST_TEST(numerical_rank(Vec{1.0, cutoff * (1 + 4 * kEps)}, 2, 51).rank == 1u);  // max(rows, cols) counts
  // An explicit rcond replaces the default.
  BOOST_TEST(numerical_rank(Vec{1.0, 1e-3}, 5, 2, 1e-2).rank == 1u);
  BOOST_TEST(numerical_rank(Vec{1.0, 1e-3}, 5, 2, 1e-4).rank == 2u);
}

BOOST_AUTO_TEST_CASE(svd_solve_rank_and_row_space_agree_with_the_definition) {
  std::mt19937_64 rng(11);
  const Mat X = dependent_columns(rng, 30);
  const Vec y = gaussian_vec(rng, 30);
  Mat row_space;
  const DirectSolution solution = solve_least_squares(X, y, DirectMethod::svd, -1, &row_space);
  const NumericalRank rank = numerical_rank(solution.singular_values, X.n_rows, X.n_cols);
  BOOST_TEST(solution.rank == 4u);
  BOOST_TEST(rank.rank == solution.rank);
  BOOST_TEST(solution.condition == rank.nonzero_condition);  // the kappa of the forward-error bound
  BOOST_TEST(row_space.n_rows == 6u);
  BOOST_TEST(row_space.n_cols == 4u);
  BOOST_TEST(arma::norm(row_space.t() * row_space - arma::eye<Mat>(4, 4), "fro") <= 1e-14);
  BOOST_TEST(arma::norm(row_space.t() * null_vectors(), "fro") <= 1e-12 * arma::norm(null_vectors(), "fro"));
  // qr computes no basis.
  const Mat full = gaussian(rng, 30, 6);
  solve_least_squares(full, y, DirectMethod::qr, -1, &row_space);
  BOOST_TEST(row_space.is_empty());
}

// solve_least_squares(svd) takes two routes to the same minimum-norm solution: LAPACK's gelsd
// (no singular vectors) unless the caller wants the row space of a rank-deficient A, then the
// explicit thin SVD (V_r). Both must give pinv(A) b, the same rank and the same singular values,
// whichever is taken; at full column rank the row space is R^d, returned as the identity.
BOOST_AUTO_TEST_CASE(svd_routes_with_and_without_the_row_space_agree) {
  std::mt19937_64 rng(13);
  struct Case {
    const char* name;
    Mat A;
    Index rank;
  };
  const std::vector<Case> cases = {{"tall full rank", gaussian(rng, 40, 6), 6},
                                   {"tall rank 4", dependent_columns(rng, 40), 4},
                                   {"wide", gaussian(rng, 4, 9), 4},
                                   {"zero", Mat(5, 3, arma::fill::zeros), 0}};
  for (const Case& c : cases) {
    BOOST_TEST_CONTEXT(c.name) {
      const Vec y = gaussian_vec(rng, c.A.n_rows);
      const Vec truth = arma::pinv(c.A) * y;  // Armadillo's pinv: its own SVD, rcond max(m, n) eps
      Mat row_space;
      const DirectSolution plain = solve_least_squares(c.A, y, DirectMethod::svd);
      const DirectSolution with_basis = solve_least_squares(c.A, y, DirectMethod::svd, -1, &row_space);
      BOOST_TEST(plain.rank == c.rank);
      BOOST_TEST(with_basis.rank == c.rank);
      const real scale = std::max<real>(arma::norm(truth), 1);
      BOOST_TEST(arma::norm(plain.w - truth) <= 1e-12 * scale);
      BOOST_TEST(arma::norm(with_basis.w - truth) <= 1e-12 * scale);
      BOOST_TEST(arma::norm(plain.singular_values - with_basis.singular_values) <= 1e-13 * std::max<real>(plain.singular_values.max(), 1));
      BOOST_TEST(row_space.n_rows == c.A.n_cols);
      BOOST_TEST(row_space.n_cols == c.rank);
      if (c.rank > 0) {
        BOOST_TEST(arma::norm(row_space.t() * row_space - arma::eye<Mat>(c.rank, c.rank), "fro") <= 1e-13);
        // V_r V_r^T is the projector onto range(A^T): pinv(A) A.
        const Mat projector = arma::pinv(c.A) * c.A;
        BOOST_TEST(arma::norm(row_space * row_space.t() - projector, "fro") <= 1e-12 * std::sqrt(real(c.rank)));
      }
    }
  }
  // A non-finite entry is refused, not solved.
  Mat bad = gaussian(rng, 8, 3);
  bad(2, 1) = arma::datum::nan;
  BOOST_CHECK_THROW(solve_least_squares(bad, gaussian_vec(rng, 8), DirectMethod::svd), NumericalError);
}

BOOST_AUTO_TEST_CASE(row_space_projection_matches_pinv) {
  std::mt19937_64 rng(12);
  // Tall (the null-space basis is kept: 2 columns) and wide (3 x 8: the row-space basis, 3 columns).
  for (const Mat& X : {dependent_columns(rng, 30), gaussian(rng, 3, 8)}) {
    const Vec y = gaussian_vec(rng, X.n_rows);
    ReferenceDesign design;
    reference_solution(X, y, LossSpec{}, DirectMethod::svd, &design);
    BOOST_TEST(design.row_space.known());
    BOOST_TEST(design.row_space.null_dimension() == X.n_cols - (X.n_rows < X.n_cols ? X.n_rows : 4));
    const Vec v = gaussian_vec(rng, X.n_cols);
    const Vec expected = arma::pinv(X) * (X * v);
    BOOST_TEST(relative(design.row_space.apply(v), expected) <= 1e-12);
  }
}

BOOST_AUTO_TEST_CASE(range_error_ignores_null_space_components) {
  std::mt19937_64 rng(13);
  const Mat X = dependent_columns(rng, 40);
  const Vec y = X * gaussian_vec(rng, 6) + 0.1 * gaussian_vec(rng, 40);
  const Experiment experiment(dataset_of(X, y), setup_with(false));
  const Vec& w_star = experiment.reference().w;
  BOOST_TEST(arma::norm(w_star - arma::pinv(X) * y) <= 1e-12 * arma::norm(w_star));  // the minimum-norm w*
  BOOST_TEST(experiment.reference_design().row_space.null_dimension() == 2u);
  BOOST_TEST(std::isinf(experiment.reference_design().rank->condition));

  // Another minimizer: w* plus a null vector as long as w*. Same loss, rel_w_err 1, range error 0.
  const Vec null = null_vectors().col(0);
  const Vec other = w_star + arma::norm(w_star) / arma::norm(null) * null;
  const Evaluation same = experiment.evaluate(other);
  BOOST_TEST(relative(same.train_loss, experiment.reference_evaluation().train_loss) <= 1e-12);
  BOOST_TEST(relative(same.relative_weight_error, 1.0) <= 1e-12);
  BOOST_TEST(same.relative_weight_error_range <= 1e-13);

  // A change in the row space counts fully in both.
  const Vec visible = X.row(0).t();
  const Evaluation moved = experiment.evaluate(other + 1e-3 * visible);
  BOOST_TEST(relative(moved.relative_weight_error_range, 1e-3 * arma::norm(visible) / arma::norm(w_star)) <= 1e-10);
}

BOOST_AUTO_TEST_CASE(range_error_with_an_intercept_and_a_constant_column) {
  // A constant column c and the intercept: [X 1] (e_j - c e_b) = 0, so w* + t (e_j - c e_b) is a
  // minimizer too; also two dependent columns. Both the dense reference (n < 4 (d + 1)) and the
  // streamed reduction of tall data (least_squares_reduction.hpp) must see it.
  for (const Index n : {Index(20), Index(200)}) {
    std::mt19937_64 rng(14);
    Mat X = dependent_columns(rng, n);
    X.col(3).fill(7.0);
    X.each_row() += arma::rowvec{50, -3, 1e3, 0, 2, 9};  // offsets: the intercept is not trivial
    const Vec y = X * gaussian_vec(rng, 6) + gaussian_vec(rng, n);
    const Experiment experiment(dataset_of(X, y), setup_with(true));
    const Vec& w_star = experiment.reference().w;
    BOOST_TEST(experiment.reference().rank == 4u);  // 7 weights: 3 null directions
    BOOST_TEST(experiment.reference_design().row_space.null_dimension() == 3u);
    Vec null(7, arma::fill::zeros);
    null(3) = 1;
    null(6) = -7;
    const Evaluation constant = experiment.evaluate(w_star + arma::norm(w_star) / arma::norm(null) * null);
    BOOST_TEST(relative(constant.relative_weight_error, 1.0) <= 1e-12);
    BOOST_TEST(constant.relative_weight_error_range <= 1e-12);
    // The offsets made the dependent columns affine: X u = mean(X) u on every row, so (u, -mean(X) u)
    // is a null vector of [X 1].
    Vec dependent(7, arma::fill::zeros);
    dependent.head(6) = null_vectors().col(1);
    dependent(6) = -arma::dot(arma::mean(X, 0), null_vectors().col(1));
    BOOST_TEST(arma::norm(kappa::test::design_of(X, true) * dependent) <= 1e-10 * arma::norm(dependent));
    BOOST_TEST(experiment.evaluate(w_star + dependent).relative_weight_error_range <= 1e-12);
    // The projection against the pinv of [X 1].
    const Mat A = kappa::test::design_of(X, true);
    const Vec v = gaussian_vec(rng, 7);
    BOOST_TEST(relative(experiment.reference_design().row_space.apply(v), Vec(arma::pinv(A) * (A * v))) <= 1e-9);
  }
}

BOOST_AUTO_TEST_CASE(full_rank_range_error_is_rel_w_err_or_nan) {
  std::mt19937_64 rng(15);
  const Mat X = gaussian(rng, 30, 5);
  const Vec y = gaussian_vec(rng, 30);
  const Vec w = gaussian_vec(rng, 5);
  // svd on full-rank data: exactly rel_w_err.
  const Experiment svd(dataset_of(X, y), setup_with(false));
  BOOST_TEST(svd.reference_design().row_space.null_dimension() == 0u);
  BOOST_TEST(svd.evaluate(w).relative_weight_error_range == svd.evaluate(w).relative_weight_error);
  // Ridge makes a rank-deficient design full rank: the same.
  const Mat D = dependent_columns(rng, 30);
  const Experiment ridge(dataset_of(D, y), setup_with(false, 1e-2));
  BOOST_TEST(ridge.reference_design().row_space.null_dimension() == 0u);
  BOOST_TEST(ridge.evaluate(Vec(6, arma::fill::ones)).relative_weight_error_range ==
             ridge.evaluate(Vec(6, arma::fill::ones)).relative_weight_error);
  // qr and cholesky know no row space: NaN, and no rank either.
  for (const DirectMethod method : {DirectMethod::qr, DirectMethod::cholesky}) {
    const Experiment other(dataset_of(X, y), setup_with(false, 0, method));
    BOOST_TEST(!other.reference_design().row_space.known());
    BOOST_TEST(!other.reference_design().rank.has_value());
    BOOST_TEST(std::isnan(other.evaluate(w).relative_weight_error_range));
  }
}
