#define BOOST_TEST_MODULE reduction
#include <boost/test/unit_test.hpp>

// Tests of the streaming least-squares reduction (least_squares_reduction.hpp) against the
// explicit stacked system [B c], built here from the loss conventions (docs/conventions.md) and
// solved densely by Armadillo (arma::solve, arma::svd), and against reference_solution.

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "core/references/reference.hpp"
#include "kappa/error.hpp"
#include "core/references/least_squares_reduction.hpp"
#include "core/problems/linear_model.hpp"
#include "test_support.hpp"

using kappa::DirectMethod;
using kappa::DirectSolution;
using kappa::Index;
using kappa::LossKind;
using kappa::LossSpec;
using kappa::Mat;
using kappa::ReducedLeastSquares;
using kappa::Vec;
using namespace kappa::test;  // test_support.hpp

namespace {

// Feeds the rows of an explicit [B c] to reduce_least_squares.
ReducedLeastSquares reduce_explicit(const Mat& B, const Vec& c, Index block_rows) {
  const Mat augmented = arma::join_rows(B, c);
  return kappa::reduce_least_squares(B.n_rows, B.n_cols, [&](Index first, Index count, Mat& block) {
    block = augmented.rows(first, first + count - 1);
  }, block_rows);
}

// Checks every property the header promises for the reduction of [B c], with tolerances scaled by
// the conditioning where the quantity depends on it.
void check_reduction(const Mat& B, const Vec& c, const ReducedLeastSquares& reduced) {
  const Index d = B.n_cols;
  BOOST_REQUIRE_EQUAL(reduced.R.n_rows, d);
  BOOST_REQUIRE_EQUAL(reduced.R.n_cols, d);
  BOOST_REQUIRE_EQUAL(reduced.rhs.n_elem, d);
  BOOST_CHECK_EQUAL(reduced.rows, B.n_rows);
  BOOST_CHECK(arma::approx_equal(reduced.R, Mat(arma::trimatu(reduced.R)), "absdiff", 0.0));
  BOOST_CHECK(reduced.R.diag().min() >= 0);
  BOOST_CHECK(reduced.discarded_residual_norm >= 0);

  // R^T R = B^T B and R^T rhs = B^T c, relative to the size of the products.
  const double gram_scale = arma::norm(B, "fro") * arma::norm(B, "fro");
  BOOST_TEST(arma::norm(reduced.R.t() * reduced.R - B.t() * B, "fro") <= 1e-12 * gram_scale);
  BOOST_TEST(arma::norm(reduced.R.t() * reduced.rhs - B.t() * c) <= 1e-12 * arma::norm(B, "fro") * arma::norm(c));

  // Same singular values, to 1e-12 of sigma_max.
  const Vec sigma_B = arma::svd(B);
  const Vec sigma_R = arma::svd(reduced.R);
  BOOST_REQUIRE(sigma_B.n_elem <= sigma_R.n_elem);
  BOOST_TEST(arma::abs(sigma_R.head(sigma_B.n_elem) - sigma_B).max() <= 1e-12 * sigma_B(0));
  if (sigma_R.n_elem > sigma_B.n_elem)  // fewer rows than columns: the rest of R's spectrum is zero
    BOOST_TEST(sigma_R.tail(sigma_R.n_elem - sigma_B.n_elem).max() <= 1e-12 * sigma_B(0));

  // |B w - c|^2 = |R w - rhs|^2 + discarded^2 for any w: a random one and the least-squares one.
  std::mt19937_64 rng(99);
  const Vec w_random = gaussian_vec(rng, d) / arma::norm(B, "fro");
  const auto check_identity = [&](const Vec& w) {
    const double full = std::pow(arma::norm(B * w - c), 2);
    const double reduced_value =
        std::pow(arma::norm(reduced.R * w - reduced.rhs), 2) + std::pow(reduced.discarded_residual_norm, 2);
    const double scale = std::pow(arma::norm(B, "fro") * arma::norm(w) + arma::norm(c), 2);
    BOOST_TEST(std::fabs(full - reduced_value) <= 1e-12 * scale);
  };
  check_identity(w_random);

  if (B.n_rows < d) return;
  // The dense least-squares solution of the explicit system (LAPACK gels through arma::solve)
  // and that of R (a triangular solve) agree to eps * cond(B), with room for the constants.
  const Vec w_dense = arma::solve(B, c);
  const Vec w_reduced = arma::solve(arma::trimatu(reduced.R), reduced.rhs);
  const double condition = sigma_B(0) / sigma_B(sigma_B.n_elem - 1);
  BOOST_TEST(relative(w_reduced, w_dense) <= 1e-12 * std::max(condition, 100.0));
  check_identity(w_dense);
  // The discarded part is the optimal residual.
  BOOST_TEST(std::fabs(reduced.discarded_residual_norm - arma::norm(B * w_dense - c)) <=
             1e-12 * (arma::norm(B, "fro") * arma::norm(w_dense) + arma::norm(c)));
}

struct Shape {
  Index rows, cols, block_rows;
};

}  // namespace

BOOST_AUTO_TEST_CASE(random_tall_problems_in_every_block_layout) {
  // n not a multiple of the block; one block; n = d; blocks thinner than the state (d + 1 rows);
  // fewer rows than columns.
  const std::vector<Shape> shapes = {{1000, 7, 64}, {300, 20, 0}, {300, 20, 300}, {37, 37, 5},
                                     {50, 10, 7},   {200, 30, 1}, {12, 20, 5}};
  std::mt19937_64 rng(1);
  for (const Shape& shape : shapes) {
    BOOST_TEST_CONTEXT("shape " << shape.rows << " x " << shape.cols << ", block " << shape.block_rows) {
      const Mat B = gaussian(rng, shape.rows, shape.cols);
      const Vec c = gaussian_vec(rng, shape.rows);
      check_reduction(B, c, reduce_explicit(B, c, shape.block_rows));
    }
  }
}

BOOST_AUTO_TEST_CASE(column_scaling_to_cond_1e8) {
  std::mt19937_64 rng(2);
  for (const Index block_rows : {Index(33), Index(0)}) {
    BOOST_TEST_CONTEXT("block " << block_rows) {
      const Index n = 700, d = 12;
      const Vec scales = arma::logspace<Vec>(0, -8, d);
      const Mat B = gaussian(rng, n, d) * arma::diagmat(scales);
      const Vec c = B * gaussian_vec(rng, d) + 1e-3 * gaussian_vec(rng, n);
      const Vec sigma = arma::svd(B);
      BOOST_TEST_REQUIRE(sigma(0) / sigma(d - 1) > 1e7);  // the case this test is about
      check_reduction(B, c, reduce_explicit(B, c, block_rows));
    }
  }
}

BOOST_AUTO_TEST_CASE(consistent_system_has_no_discarded_residual) {
  std::mt19937_64 rng(3);
  const Mat B = gaussian(rng, 400, 9);
  const Vec c = B * gaussian_vec(rng, 9);
  const ReducedLeastSquares reduced = reduce_explicit(B, c, 50);
  BOOST_TEST(reduced.discarded_residual_norm <= 1e-12 * arma::norm(c));
  check_reduction(B, c, reduced);
}

// reduce_linear_model against the stacked system written out from the loss convention
// f(w) = (1/n) |A w - y|^2 + (ridge/2) |w_f|^2, for every combination of ridge and intercept.
BOOST_AUTO_TEST_CASE(linear_model_reduction_represents_the_objective) {
  std::mt19937_64 rng(4);
  const Index n = 531, d = 8;
  Mat X = gaussian(rng, n, d);
  X.col(2) += 50.0;  // an offset, so that centring matters
  const Vec y = X * gaussian_vec(rng, d) + 0.1 * gaussian_vec(rng, n) + 3.0;
  for (const bool intercept : {false, true}) {
    for (const double ridge : {0.0, 0.3}) {
      BOOST_TEST_CONTEXT("intercept " << intercept << ", ridge " << ridge) {
        const LossSpec spec{LossKind::l2, 1.0, ridge, intercept};
        const kappa::ReducedLinearModel reduced = kappa::reduce_linear_model(X, y, spec, 100);
        BOOST_CHECK_EQUAL(reduced.intercept, intercept);
        BOOST_CHECK_EQUAL(reduced.features.rows, n + (ridge > 0 ? d : 0));

        // The explicit system of the feature weights: centred with an intercept.
        Mat data = X;
        Vec target = y;
        if (intercept) {
          const arma::rowvec means = arma::mean(X, 0);
          data.each_row() -= means;
          target -= arma::mean(y);
          BOOST_TEST(arma::abs(reduced.feature_means - means).max() <= 1e-12 * arma::abs(means).max());
          BOOST_TEST(std::fabs(reduced.target_mean - arma::mean(y)) <= 1e-12 * std::fabs(arma::mean(y)));
        }
        Mat B = data / std::sqrt(static_cast<double>(n));
        Vec c = target / std::sqrt(static_cast<double>(n));
        if (ridge > 0) {
          B = arma::join_cols(B, std::sqrt(ridge / 2) * Mat(d, d, arma::fill::eye));
          c = arma::join_cols(c, Vec(d, arma::fill::zeros));
        }
        check_reduction(B, c, reduced.features);

        // f(w) from the reduction equals f(w) from its definition, at random weights.
        const Mat A = design_of(X, intercept);
        for (int trial = 0; trial < 3; ++trial) {
          const Vec w = gaussian_vec(rng, A.n_cols);
          const Vec w_f = w.head(d);
          const double f = std::pow(arma::norm(A * w - y), 2) / n + ridge / 2 * arma::dot(w_f, w_f);
          double from_reduction = std::pow(arma::norm(reduced.features.R * w_f - reduced.features.rhs), 2) +
                                  std::pow(reduced.features.discarded_residual_norm, 2);
          if (intercept)
            from_reduction += std::pow(arma::dot(reduced.feature_means, w_f) + w(d) - reduced.target_mean, 2);
          BOOST_TEST(relative(from_reduction, f) <= 1e-11);
        }
      }
    }
  }
}

// reduced_reference_solution is a drop-in for reference_solution on l2 problems.
BOOST_AUTO_TEST_CASE(reduced_reference_matches_reference_solution) {
  std::mt19937_64 rng(5);
  const Index n = 613, d = 11;
  const Mat X_plain = gaussian(rng, n, d) * arma::diagmat(arma::logspace<Vec>(0, -3, d));  // cond ~ 1e3
  Mat X_offset = X_plain;
  X_offset.col(4) += 1e8;  // with an intercept, only centring keeps this column's rank
  for (const DirectMethod method : {DirectMethod::svd, DirectMethod::qr, DirectMethod::cholesky}) {
    for (const bool intercept : {false, true}) {
      for (const double ridge : {0.0, 1e-4}) {
        const Mat& X = intercept ? X_offset : X_plain;
        const Vec y = X * gaussian_vec(rng, d) + 0.01 * gaussian_vec(rng, n);
        BOOST_TEST_CONTEXT(kappa::to_string(method) << ", intercept " << intercept << ", ridge " << ridge) {
          const LossSpec spec{LossKind::l2, 1.0, ridge, intercept};
          const DirectSolution expected = kappa::reference_solution(X, y, spec, method);
          const DirectSolution got = kappa::reduced_reference_solution(X, y, spec, method, 64);
          const Vec sigma = arma::svd(expected.w.n_elem == d ? X : Mat(X.each_row() - arma::mean(X, 0)));
          const double condition = sigma(0) / sigma(d - 1);
          // From the samples S = X^T as a study's problem stores them: the same to rounding.
          const DirectSolution from_samples = kappa::reduced_reference_solution_from_samples(Mat(X.t()), y, spec, method, 64);
          BOOST_CHECK_EQUAL(from_samples.rank, got.rank);
          BOOST_TEST(relative(from_samples.w, got.w) <= 1e-13 * condition);
          BOOST_TEST(std::fabs(from_samples.residual_norm - got.residual_norm) <= 1e-12 * std::max(got.residual_norm, arma::norm(y)));
          BOOST_REQUIRE_EQUAL(from_samples.singular_values.n_elem, got.singular_values.n_elem);
          if (!got.singular_values.is_empty())
            BOOST_TEST(arma::abs(from_samples.singular_values - got.singular_values).max() <= 1e-12 * got.singular_values.max());
          BOOST_CHECK(got.method == method);
          BOOST_CHECK_EQUAL(got.rank, expected.rank);
          BOOST_REQUIRE_EQUAL(got.w.n_elem, expected.w.n_elem);
          BOOST_TEST(relative(got.w, expected.w) <= 1e-13 * condition);
          // |A w - y| is evaluated with rounding eps (|A| |w| + |y|), large beside it with the offset column.
          const Mat A = design_of(X, intercept);
          const double evaluation_scale = arma::norm(A, "fro") * arma::norm(got.w) + arma::norm(y);
          BOOST_TEST(std::fabs(got.residual_norm - expected.residual_norm) <=
                     std::max(1e-12 * condition * expected.residual_norm, 1e-14 * evaluation_scale));
          BOOST_REQUIRE_EQUAL(got.singular_values.n_elem, expected.singular_values.n_elem);
          if (!expected.singular_values.is_empty())
            BOOST_TEST(arma::abs(got.singular_values - expected.singular_values).max() <=
                       1e-12 * expected.singular_values(0));
          // The normal residual is rounding for both: small against |A|^2 |w| + |A| |y|.
          const double scale = arma::norm(A, "fro") * (arma::norm(A, "fro") * arma::norm(got.w) + arma::norm(y));
          BOOST_TEST(got.normal_residual_norm <= 1e-12 * scale);
        }
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(rank_deficient_data_min_norm_and_refusals) {
  std::mt19937_64 rng(6);
  const Index n = 300, d = 6;
  Mat X = gaussian(rng, n, d);
  X.col(5) = X.col(1);  // exactly rank deficient
  const Vec y = gaussian_vec(rng, n);
  const LossSpec spec{LossKind::l2, 1.0, 0.0, false};
  const DirectSolution expected = kappa::reference_solution(X, y, spec, DirectMethod::svd);
  const DirectSolution got = kappa::reduced_reference_solution(X, y, spec, DirectMethod::svd, 40);
  BOOST_CHECK_EQUAL(got.rank, d - 1);
  BOOST_CHECK_EQUAL(expected.rank, d - 1);
  BOOST_TEST(relative(got.w, expected.w) <= 1e-10);
  BOOST_TEST(std::fabs(got.w(1) - got.w(5)) <= 1e-10 * arma::norm(got.w));  // minimum norm splits the weight
  require_throws_naming<kappa::NumericalError>([&] { kappa::reduced_reference_solution(X, y, spec, DirectMethod::qr); },
                                               std::vector<std::string>{"qr", "rank deficient"});
  require_throws_naming<kappa::NumericalError>(
      [&] { kappa::reduced_reference_solution(X, y, spec, DirectMethod::cholesky); }, std::vector<std::string>{"cholesky"});
  // Fewer rows than columns: qr and cholesky refuse as reference_solution does, svd answers.
  const Mat wide = gaussian(rng, 4, d);
  const Vec y_wide = gaussian_vec(rng, 4);
  require_throws_naming<kappa::NumericalError>(
      [&] { kappa::reduced_reference_solution(wide, y_wide, spec, DirectMethod::qr); },
      std::vector<std::string>{"qr", "at least as many rows"});
  const DirectSolution wide_expected = kappa::reference_solution(wide, y_wide, spec, DirectMethod::svd);
  const DirectSolution wide_got = kappa::reduced_reference_solution(wide, y_wide, spec, DirectMethod::svd);
  BOOST_CHECK_EQUAL(wide_got.rank, 4u);
  BOOST_TEST(relative(wide_got.w, wide_expected.w) <= 1e-10);
}

BOOST_AUTO_TEST_CASE(bad_input_is_named) {
  std::mt19937_64 rng(7);
  Mat X = gaussian(rng, 100, 3);
  const Vec y = gaussian_vec(rng, 100);
  require_throws_naming<kappa::InputError>(
      [&] { kappa::reduced_reference_solution(X, y, LossSpec{LossKind::huber, 1.0, 0.0, false}); },
      std::vector<std::string>{"l2", "huber"});
  require_throws_naming<kappa::InputError>(
      [&] { kappa::reduce_linear_model(X, Vec(99, arma::fill::ones), LossSpec{}); }, std::vector<std::string>{"100", "99"});
  X(57, 1) = arma::datum::nan;
  require_throws_naming<kappa::InputError>([&] { kappa::reduce_linear_model(X, y, LossSpec{}, 10); },
                                           std::vector<std::string>{"rows 50 to 59", "not finite"});
  require_throws_naming<kappa::InputError>(
      [&] {
        kappa::reduce_least_squares(10, 2, [](Index, Index count, Mat& block) { block.set_size(count + 1, 3); });
      },
      std::vector<std::string>{"resized", "11 x 3"});
}
