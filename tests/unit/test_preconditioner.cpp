#define BOOST_TEST_MODULE preconditioner
#include <boost/test/unit_test.hpp>

// Tests of preconditioners (w = P z) and PreconditionedProblem (g(z) = f(P z)).
// P is built densely here, column by column, as P e_j = to_original(e_j) (to_original is linear),
// and every map is compared with the dense matrix products; for `standardize` P is also
// compared with its closed form (preconditioner.hpp):
//   without intercept  P = diag(1/sigma)
//   with intercept     P = [diag(1/sigma) 0; -mu^T diag(1/sigma) 1]
// with mu, sigma the column means and population standard deviations of the features.

#include <algorithm>
#include <cmath>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "kappa/data.hpp"
#include "kappa/direct.hpp"
#include "kappa/error.hpp"
#include "kappa/experiment.hpp"
#include "kappa/preconditioner.hpp"
#include "kappa/problem.hpp"
#include "test_support.hpp"

using kappa::Index;
using kappa::IndexVec;
using kappa::LinearModelProblem;
using kappa::LossKind;
using kappa::LossSpec;
using kappa::Mat;
using kappa::PreconditionedProblem;
using kappa::Preconditioner;
using kappa::Vec;
using namespace kappa::test;  // test_support.hpp

namespace {

struct Config {
  std::string chain;
  bool intercept;
};

const std::vector<Config> kConfigs = {{"none", false},
                                      {"none", true},
                                      {"standardize", false},
                                      {"standardize", true},
                                      {"standardize,standardize", false},
                                      {"standardize,standardize", true},
                                      {"none, standardize", true}};

std::string describe(const Config& config) { return "'" + config.chain + "' intercept=" + (config.intercept ? "1" : "0"); }

// Features with different scales (0.1 .. 10) and nonzero means, so that standardize does
// something in every column; moderately conditioned.
Mat scaled_features(std::mt19937_64& rng, Index n, Index d) {
  Mat X = gaussian(rng, n, d);
  const Vec scales = arma::logspace<Vec>(-1, 1, d);
  for (Index j = 0; j < d; ++j) X.col(j) = scales(j) * X.col(j) + (j % 2 == 0 ? 3.0 : -2.0) * scales(j);
  return X;
}

Mat dense_P(const Preconditioner& preconditioner, Index dim) {
  Mat P(dim, dim);
  for (Index j = 0; j < dim; ++j) {
    Vec e(dim, arma::fill::zeros);
    e(j) = 1;
    P.col(j) = preconditioner.to_original(e);
  }
  return P;
}

// The closed form of a single `standardize` link fitted on A.
Mat standardize_closed_form(const Mat& A, bool intercept) {
  const Index d = A.n_cols, features = intercept ? d - 1 : d;
  Mat P(d, d, arma::fill::zeros);
  const double n = static_cast<double>(A.n_rows);
  for (Index j = 0; j < features; ++j) {
    double mean = 0;
    for (Index i = 0; i < A.n_rows; ++i) mean += A(i, j);
    mean /= n;
    double variance = 0;
    for (Index i = 0; i < A.n_rows; ++i) variance += (A(i, j) - mean) * (A(i, j) - mean);
    const double sigma = std::sqrt(variance / n);
    P(j, j) = 1 / sigma;
    if (intercept) P(d - 1, j) = -mean / sigma;
  }
  if (intercept) P(d - 1, d - 1) = 1;
  return P;
}

}  // namespace

// ------------------------------------------------------------------ the maps

BOOST_AUTO_TEST_CASE(maps_agree_with_dense_P) {
  std::mt19937_64 rng(1);
  for (const Config& config : kConfigs) {
    BOOST_TEST_CONTEXT(describe(config)) {
      const Mat A = design_of(scaled_features(rng, 120, 6), config.intercept);
      const auto preconditioner = kappa::make_preconditioner(config.chain, A, config.intercept);
      const Index dim = A.n_cols;
      const Mat P = dense_P(*preconditioner, dim);
      BOOST_TEST_REQUIRE(arma::rcond(P) > 1e-8);  // a change of variables must be invertible

      for (int trial = 0; trial < 3; ++trial) {
        const Vec z = gaussian_vec(rng, dim), w = gaussian_vec(rng, dim), g = gaussian_vec(rng, dim);
        BOOST_TEST(relative(preconditioner->to_solver(preconditioner->to_original(z)), z) <= 1e-12);
        BOOST_TEST(relative(preconditioner->to_original(preconditioner->to_solver(w)), w) <= 1e-12);
        BOOST_TEST(relative(preconditioner->to_original(z), Vec(P * z)) <= 1e-12);  // linear
        BOOST_TEST(relative(preconditioner->to_solver(w), Vec(arma::solve(P, w))) <= 1e-10);
        BOOST_TEST(relative(preconditioner->gradient_to_solver(g), Vec(P.t() * g)) <= 1e-12);
      }
      BOOST_TEST(relative(preconditioner->transform_design(A), Mat(A * P)) <= 1e-12);
      BOOST_TEST(preconditioner->name() == (config.chain == "none, standardize" ? "none,standardize" : config.chain));

      if (config.chain == "none") BOOST_TEST(arma::approx_equal(P, Mat(arma::eye(dim, dim)), "absdiff", 0.0));
      if (config.chain != "none") {
        // Every standardize link after the first sees standardized columns (mean 0 or
        // unchanged, std 1), so it is the identity up to rounding: P is the closed form.
        BOOST_TEST(relative(P, standardize_closed_form(A, config.intercept)) <= 1e-12);
        // and A P has features with population std 1 (and mean 0 with an intercept).
        const Mat B = preconditioner->transform_design(A);
        const Index features = config.intercept ? dim - 1 : dim;
        for (Index j = 0; j < features; ++j) {
          BOOST_TEST(std::fabs(arma::stddev(B.col(j), 1) - 1.0) <= 1e-12);
          if (config.intercept) BOOST_TEST(std::fabs(arma::mean(B.col(j))) <= 1e-12);
        }
        if (config.intercept) BOOST_TEST(arma::approx_equal(B.col(dim - 1), A.col(dim - 1), "absdiff", 0.0));
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(standardize_leaves_constant_columns_unscaled) {
  std::mt19937_64 rng(2);
  Mat X = scaled_features(rng, 50, 4);
  X.col(1).fill(7.0);  // std 0
  for (const bool intercept : {false, true}) {
    BOOST_TEST_CONTEXT("intercept " << intercept) {
      const Mat A = design_of(X, intercept);
      const auto preconditioner = kappa::make_preconditioner("standardize", A, intercept);
      const Mat P = dense_P(*preconditioner, A.n_cols);
      BOOST_TEST(P(1, 1) == 1.0);  // scale 1 instead of 1/0
      BOOST_TEST(P.is_finite());
      const Vec z = gaussian_vec(rng, A.n_cols);
      BOOST_TEST(relative(preconditioner->to_solver(preconditioner->to_original(z)), z) <= 1e-12);
      BOOST_TEST(relative(preconditioner->transform_design(A), Mat(A * P)) <= 1e-12);
      BOOST_TEST(relative(preconditioner->gradient_to_solver(z), Vec(P.t() * z)) <= 1e-12);
    }
  }
}

// ------------------------------------------------------------------ PreconditionedProblem

namespace {

// Residuals at w0 kept away from the kinks (0 for l1, +-1 for huber with delta 1).
Vec kink_free_targets(std::mt19937_64& rng, const Mat& A, const Vec& w0) {
  std::uniform_real_distribution<double> inside(0.1, 0.8), outside(1.25, 4.0), coin(0, 1);
  Vec y = A * w0;
  for (double& v : y) v -= (coin(rng) < 0.5 ? -1.0 : 1.0) * (coin(rng) < 0.5 ? inside(rng) : outside(rng));
  return y;
}

// Dense Hessian (l2, huber) of the base problem at w.
Mat dense_hessian(const Mat& A, const Vec& y, const LossSpec& spec, const Vec& w) {
  const double n = static_cast<double>(A.n_rows);
  Mat H;
  if (spec.kind == LossKind::l2) {
    H = (2 / n) * A.t() * A;
  } else {
    const Vec inside = arma::conv_to<Vec>::from(arma::abs(A * w - y) <= spec.huber_delta);
    H = (1 / n) * A.t() * (A.each_col() % inside);
  }
  const Index features = spec.intercept ? A.n_cols - 1 : A.n_cols;
  for (Index j = 0; j < features; ++j) H(j, j) += spec.ridge;
  return H;
}

}  // namespace

BOOST_AUTO_TEST_CASE(preconditioned_problem_is_f_of_Pz) {
  std::mt19937_64 rng(3);
  for (const Config& config : kConfigs) {
    for (const LossKind kind : {LossKind::l2, LossKind::huber, LossKind::l1}) {
      for (const double ridge : {0.0, 0.3}) {
        const LossSpec spec{kind, 1.0, ridge, config.intercept};
        BOOST_TEST_CONTEXT(describe(config) << " " << kappa::to_string(kind) << " ridge " << ridge) {
          const Index n = 150;
          const Mat X = scaled_features(rng, n, 5);
          const Mat A = design_of(X, config.intercept);
          const Vec w0 = gaussian_vec(rng, A.n_cols);
          const Vec y = kink_free_targets(rng, A, w0);
          const LinearModelProblem base(X, y, spec);
          const auto preconditioner = kappa::make_preconditioner(config.chain, base.design(), config.intercept);
          const PreconditionedProblem problem(base, *preconditioner);
          const Mat P = dense_P(*preconditioner, A.n_cols);
          BOOST_TEST(problem.dim() == base.dim());
          BOOST_TEST(problem.num_samples() == n);
          BOOST_TEST(problem.has_hessian() == base.has_hessian());
          BOOST_TEST(problem.is_quadratic() == base.is_quadratic());
          BOOST_TEST(problem.has_curvature_bound() == base.has_curvature_bound());

          const Vec z = preconditioner->to_solver(w0);
          const Vec w = P * z;
          Vec base_gradient;
          const double f = base.loss_grad(w, base_gradient);
          Vec gradient;
          BOOST_TEST(relative(problem.loss_grad(z, gradient), f) <= 1e-13);
          BOOST_TEST(relative(problem.loss(z), f) <= 1e-13);
          BOOST_TEST(relative(gradient, Vec(P.t() * base_gradient)) <= 1e-12);

          // Central differences of g along the solver coordinates. Each residual moves by at
          // most h max|A P| < 0.1 margin, so no kink is crossed, g is exactly quadratic on the
          // stencil and the difference is exact up to rounding ~ eps |g| / h ~ 1e-12 |g|.
          const double h = 1e-4;
          const Mat B = A * P;
          BOOST_TEST_REQUIRE(h * arma::abs(B).max() < 0.01);  // margin >= 0.1 by construction
          for (Index j = 0; j < problem.dim(); ++j) {
            Vec plus = z, minus = z;
            plus(j) += h;
            minus(j) -= h;
            const double difference = (problem.loss(plus) - problem.loss(minus)) / (2 * h);
            BOOST_TEST(std::fabs(difference - gradient(j)) <= 1e-8 * std::max(1.0, std::fabs(f)), "component " << j);
          }

          // Minibatches map the same way.
          const IndexVec rows = {3, 140, 77, 3, 12};
          Vec batch_gradient, base_batch_gradient;
          const double batch = problem.batch_loss_grad(z, rows, batch_gradient);
          BOOST_TEST(relative(batch, base.batch_loss_grad(w, rows, base_batch_gradient)) <= 1e-13);
          BOOST_TEST(relative(batch_gradient, Vec(P.t() * base_batch_gradient)) <= 1e-12);

          // Second order: P^T H(P z) P v and P^T M P v.
          const Vec v = gaussian_vec(rng, problem.dim());
          Vec out;
          if (kind != LossKind::l1) {
            problem.hess_vec(z, v, out);
            BOOST_TEST(relative(out, Vec(P.t() * dense_hessian(A, y, spec, w) * P * v)) <= 1e-12);
            problem.curvature_bound_vec(v, out);
            const LossSpec bound_spec{kind == LossKind::l2 ? LossKind::l2 : LossKind::huber, 1e300, ridge, config.intercept};
            BOOST_TEST(relative(out, Vec(P.t() * dense_hessian(A, y, bound_spec, w) * P * v)) <= 1e-12);
          } else {
            BOOST_CHECK_THROW(problem.hess_vec(z, v, out), kappa::NumericalError);
          }

          // Work is counted on the preconditioned problem like on any other.
          problem.reset_counters();
          problem.loss_grad(z, gradient);
          BOOST_TEST(problem.data_passes() == 1.0);
        }
      }
    }
  }
}

// ------------------------------------------------------------------ minimizers map back

BOOST_AUTO_TEST_CASE(preconditioned_minimizer_maps_back_to_w_star) {
  std::mt19937_64 rng(4);
  for (const Config& config : kConfigs) {
    BOOST_TEST_CONTEXT(describe(config)) {
      const Mat X = scaled_features(rng, 300, 8);
      const Mat A = design_of(X, config.intercept);
      BOOST_TEST_REQUIRE(arma::cond(A) < 1e4);  // well-conditioned: LS forward error ~ cond eps ~ 1e-12
      const Vec y = A * gaussian_vec(rng, A.n_cols) + 0.3 * gaussian_vec(rng, X.n_rows);
      const auto preconditioner = kappa::make_preconditioner(config.chain, A, config.intercept);
      const Vec w_star = arma::solve(A, y);  // independent least-squares solve (LAPACK gels)
      BOOST_TEST(relative(kappa::solve_least_squares(A, y, kappa::DirectMethod::svd).w, w_star) <= 1e-10);
      const Vec z_star = kappa::solve_least_squares(preconditioner->transform_design(A), y, kappa::DirectMethod::svd).w;
      BOOST_TEST(relative(preconditioner->to_original(z_star), w_star) <= 1e-9);
      BOOST_TEST(relative(z_star, preconditioner->to_solver(w_star)) <= 1e-9);

      // With ridge, the reference w* (original coordinates) is a stationary point of g = f(P .).
      for (const double ridge : {0.0, 0.3}) {
        const LossSpec spec{LossKind::l2, 1.0, ridge, config.intercept};
        const LinearModelProblem base(X, y, spec);
        const PreconditionedProblem problem(base, *preconditioner);
        const Vec reference = kappa::reference_solution(X, y, spec).w;
        Vec gradient;
        problem.loss_grad(preconditioner->to_solver(reference), gradient);
        const Mat P = dense_P(*preconditioner, A.n_cols);
        // the gradient's terms are of size |(AP)^T| |y| / n
        BOOST_TEST(arma::norm(gradient) <= 1e-10 * arma::norm(A * P, 2) * arma::norm(y) / static_cast<double>(X.n_rows));
      }
    }
  }
}

// ------------------------------------------------------------------ conditioning

// Features X = (X0 + offsets) diag(s) with X0 iid N(0,1), n = 500, d = 10, s from 1e-3 to 1e3.
//  * cond(A) >= max_j |a_j| / min_j |a_j| (sigma_max >= any column norm >= sigma_min), and the
//    column norms are s_j |x0_j + offset|, within a factor ~1.5 of s_j sqrt(n): so cond(A) >~ 1e6.
//  * standardize removes s and the offsets exactly: A P = [X0c diag(1/sigma0)] (+ the ones
//    column), X0c the centred X0 (without intercept only the scaling is removed: X0 + offset).
//    With an intercept the centred columns are orthogonal to 1, whose norm sqrt(n) equals theirs,
//    so cond(A P) = sqrt(lambda_max(C) / lambda_min(C)) for the correlation matrix C of X
//    (the eigenvalues of C straddle 1, trace C = d).
//  * For an n x d Gaussian, sqrt(n) - sqrt(d) - t <= sigma <= sqrt(n) + sqrt(d) + t with
//    probability >= 1 - 2 exp(-t^2 / 2) (Davidson & Szarek); t = 6 gives cond(X0) <= 2.4 with
//    probability >= 1 - 3e-8 (n - 1 = 499 degrees of freedom after centring: bound
//    (22.34 + 3.16 + 6) / (22.34 - 3.16 - 6) = 2.39); the sample std's sigma0_j are within
//    [0.8, 1.2] far more surely (6 standard deviations of 1/sqrt(2n)), and scaling the columns by
//    1/sigma0 multiplies cond by at most 1.2/0.8 = 1.5. Hence cond(A P) <= 3.6 < 4 (intercept).
//    Without intercept, A P = (X0 + 1 o^T) diag(1/sigma0): sigma_max <= 31.5 + sqrt(n) |o|
//    = 31.5 + 22.4 * 1.45 = 63.9, and sigma_min >= sigma_min of the centred X0 >= 13.2 (the
//    projection removing 1 also removes 1 o^T and does not increase |M v|): cond <= 4.85 * 1.5
//    = 7.3 < 8.
BOOST_AUTO_TEST_CASE(standardize_fixes_badly_scaled_columns) {
  std::mt19937_64 rng(5);
  const Index n = 500, d = 10;
  const Mat X0 = gaussian(rng, n, d);
  const Vec scales = arma::logspace<Vec>(-3, 3, d);
  const Vec offsets = arma::linspace<Vec>(-1, 1, d);
  Mat X(n, d);
  for (Index j = 0; j < d; ++j) X.col(j) = (X0.col(j) + offsets(j)) * scales(j);

  double single_cond[2] = {0, 0};
  for (const bool intercept : {false, true}) {
    for (const std::string chain : {"standardize", "standardize,standardize"}) {
      BOOST_TEST_CONTEXT(chain << " intercept " << intercept) {
        const Mat A = design_of(X, intercept);
        const double cond_before = arma::cond(A);
        Vec column_norms(A.n_cols);
        for (Index j = 0; j < A.n_cols; ++j) column_norms(j) = arma::norm(A.col(j));
        BOOST_TEST(cond_before >= column_norms.max() / column_norms.min() * (1 - 1e-12));
        BOOST_TEST(cond_before >= 1e5);

        const auto preconditioner = kappa::make_preconditioner(chain, A, intercept);
        const double cond_after = arma::cond(preconditioner->transform_design(A));
        BOOST_TEST_MESSAGE(chain << " intercept " << intercept << ": cond " << cond_before << " -> " << cond_after);
        BOOST_TEST(cond_after < (intercept ? 4.0 : 8.0));
        BOOST_TEST(cond_before / cond_after >= 1e4);  // four orders of magnitude at least
        if (intercept) {
          const Vec eigenvalues = arma::eig_sym(arma::cor(X));
          BOOST_TEST(relative(cond_after, std::sqrt(eigenvalues.max() / eigenvalues.min())) <= 1e-8);
        }
        // A second standardize finds nothing left to do.
        if (chain == "standardize") single_cond[intercept] = cond_after;
        else BOOST_TEST(relative(cond_after, single_cond[intercept]) <= 1e-10);
      }
    }
  }
}

// ------------------------------------------------------------------ names

BOOST_AUTO_TEST_CASE(unknown_names_are_refused_by_name) {
  std::mt19937_64 rng(6);
  const Mat A = gaussian(rng, 10, 3);
  require_throws_naming<kappa::InputError>([&] { kappa::make_preconditioner("bogus", A, false); }, "'bogus'");
  require_throws_naming<kappa::InputError>([&] { kappa::make_preconditioner("standardize,whiten", A, false); }, "'whiten'");
  require_throws_naming<kappa::InputError>([&] { kappa::make_preconditioner("bogus", A, false); }, "standardize");  // lists the known
  BOOST_CHECK_THROW(kappa::make_preconditioner("", A, false), kappa::InputError);
  BOOST_CHECK_THROW(kappa::make_preconditioner("standardize,", A, false), kappa::InputError);
  const std::vector<std::string> names = kappa::preconditioner_names();
  BOOST_TEST((std::find(names.begin(), names.end(), "none") != names.end()));
  BOOST_TEST((std::find(names.begin(), names.end(), "standardize") != names.end()));
  for (const std::string& name : names) BOOST_CHECK_NO_THROW(kappa::make_preconditioner(name, A, false));
}

// ------------------------------------------------------------------ Experiment

BOOST_AUTO_TEST_CASE(experiment_reference_does_not_depend_on_the_preconditioner) {
  std::mt19937_64 rng(7);
  kappa::Dataset data;
  Mat X = gaussian(rng, 200, 6);
  X.each_row() %= arma::logspace<arma::rowvec>(-2, 2, 6);
  X.col(0) += 5.0;
  data.X_train = X;
  data.y_train = X * gaussian_vec(rng, 6) + 1.5 + 0.2 * gaussian_vec(rng, 200);
  data.X_test = gaussian(rng, 40, 6);
  data.y_test = gaussian_vec(rng, 40);
  data.source = "test_preconditioner";

  for (const LossKind kind : {LossKind::l2, LossKind::huber, LossKind::l1}) {
    for (const bool intercept : {false, true}) {
      BOOST_TEST_CONTEXT(kappa::to_string(kind) << " intercept " << intercept) {
        kappa::ExperimentSetup setup;
        setup.loss = LossSpec{kind, 0.5, 0.05, intercept};
        setup.preconditioner = "none";
        const kappa::Experiment plain(data, setup);
        setup.preconditioner = "standardize";
        const kappa::Experiment standardized(data, setup);

        BOOST_TEST(relative(standardized.reference().w, plain.reference().w) <= 1e-12);
        const kappa::Evaluation& a = plain.reference_evaluation();
        const kappa::Evaluation& b = standardized.reference_evaluation();
        BOOST_TEST(relative(b.train_loss, a.train_loss) <= 1e-12);
        BOOST_TEST(std::fabs(b.loss_gap - a.loss_gap) <= 1e-12 * a.train_loss);
        BOOST_TEST(std::fabs(b.relative_weight_error - a.relative_weight_error) <= 1e-12);
        BOOST_TEST(relative(b.weight_norm, a.weight_norm) <= 1e-12);
        BOOST_TEST(relative(b.test_mae, a.test_mae) <= 1e-12);
        BOOST_TEST(relative(b.test_rmse, a.test_rmse) <= 1e-12);
        BOOST_TEST(std::isfinite(a.test_mae));

        // The reference's own evaluation, recomputed here.
        const Mat A_test = design_of(data.X_test, intercept);
        const Vec errors = A_test * plain.reference().w - data.y_test;
        BOOST_TEST(relative(a.test_mae, arma::mean(arma::abs(errors))) <= 1e-12);
        BOOST_TEST(relative(a.test_rmse, std::sqrt(arma::mean(arma::square(errors)))) <= 1e-12);
        BOOST_TEST(a.loss_gap == 0.0);
        BOOST_TEST(a.relative_weight_error == 0.0);

        // What the optimizers see: the same objective at the mapped reference.
        const Vec z_star = standardized.preconditioner().to_solver(standardized.reference().w);
        BOOST_TEST(relative(standardized.solver_problem().loss(z_star), standardized.problem().loss(standardized.reference().w)) <= 1e-12);
        BOOST_TEST(relative(standardized.preconditioner().to_original(z_star), standardized.reference().w) <= 1e-12);
        BOOST_TEST(standardized.preconditioner().name() == "standardize");
        BOOST_TEST(plain.preconditioner().name() == "none");
      }
    }
  }
}
