#define BOOST_TEST_MODULE preconditioner
#include "core/experiment/run_monitor.hpp"
#include "core/experiment/framework_access.hpp"
#include <boost/test/unit_test.hpp>

// Tests of the preconditioners (w = P z, g(z) = c f(P z)) and of PreconditionedProblem in both
// evaluation forms. Independent truth throughout:
//  * P is built densely, column by column, as P e_j = to_original(e_j) (to_original is linear),
//    and every map (P^{-1}, P^T, A P, the objective, gradient, Hessian products) is compared
//    with dense products;
//  * condition numbers are arma::cond (singular values by LAPACK) of explicit matrices;
//  * w* is kappa::reference_solution, checked against arma::solve (LAPACK least squares) of the
//    stacked system; the transformed problem is solved independently, also by arma::solve.

#include <algorithm>
#include <cmath>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "core/data/dataset.hpp"
#include "core/references/reference.hpp"
#include "kappa/error.hpp"
#include "core/experiment/experiment.hpp"
#include "core/preconditioners/preconditioner.hpp"
#include "core/problems/linear_model.hpp"
#include "test_support.hpp"

using kappa::Index;
using kappa::IndexVec;
using kappa::LinearModelProblem;
using kappa::LossKind;
using kappa::LossSpec;
using kappa::Mat;
using kappa::PreconditionedEvaluation;
using kappa::PreconditionedProblem;
using kappa::Preconditioner;
using kappa::Vec;
using namespace kappa::test;  // test_support.hpp

namespace {

// Every preconditioner, some options, and chains. `center` needs an intercept.
const std::vector<std::string> kChains = {"none",
                                          "center",
                                          "standardize",
                                          "equilibrate",
                                          "equilibrate:max",
                                          "target-scale",
                                          "target-scale:by=max",
                                          "jacobi",
                                          "whiten",
                                          "sketch",
                                          "sketch:sparse:gamma=6:seed=3",
                                          "spectral:k=2",
                                          "spectral",
                                          "center, standardize",
                                          "standardize,whiten",
                                          "target-scale,jacobi,spectral:k=1",
                                          "equilibrate,sketch:sparse"};

bool applies(const std::string& chain, bool intercept) { return intercept || chain.find("center") == std::string::npos; }

std::string describe(const std::string& chain, bool intercept) {
  return "'" + chain + "' intercept=" + (intercept ? "1" : "0");
}

// Features with different scales (0.1 .. 10) and nonzero means, so that every preconditioner
// does something in every column; moderately conditioned.
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

// D_f: the rows of the identity of the feature weights (the ridge term is (ridge/2)|D_f w|^2).
Mat feature_rows(Index dim, bool intercept) { return arma::eye(intercept ? dim - 1 : dim, dim); }

// The closed form of a single `standardize` link fitted on A (preconditioner.hpp):
//   with intercept     P = [diag(1/sigma) 0; -mu^T diag(1/sigma) 1] (population std about the mean)
//   without intercept  P = diag(1/rms)                               (root mean square: std about 0)
Mat standardize_closed_form(const Mat& A, bool intercept) {
  const Index d = A.n_cols, features = intercept ? d - 1 : d;
  Mat P(d, d, arma::fill::zeros);
  const double n = static_cast<double>(A.n_rows);
  for (Index j = 0; j < features; ++j) {
    double mean = 0;
    for (Index i = 0; i < A.n_rows; ++i) mean += A(i, j);
    mean = intercept ? mean / n : 0.0;
    double variance = 0;
    for (Index i = 0; i < A.n_rows; ++i) variance += (A(i, j) - mean) * (A(i, j) - mean);
    const double sigma = std::sqrt(variance / n);
    P(j, j) = 1 / sigma;
    if (intercept) P(d - 1, j) = -mean / sigma;
  }
  if (intercept) P(d - 1, d - 1) = 1;
  return P;
}

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

double cond(const Mat& M) { return arma::cond(M); }

// The matrix whose Gram matrix is proportional to g's Hessian (l2): [A P; sqrt(n ridge/2) D_f P].
Mat stacked(const Mat& A, const Mat& P, double ridge, bool intercept) {
  if (ridge == 0) return A * P;
  return arma::join_cols(A * P, std::sqrt(A.n_rows * ridge / 2) * feature_rows(A.n_cols, intercept) * P);
}

}  // namespace

// ------------------------------------------------------------------ the maps

BOOST_AUTO_TEST_CASE(maps_agree_with_dense_P) {
  std::mt19937_64 rng(1);
  for (const std::string& chain : kChains) {
    for (const bool intercept : {false, true}) {
      if (!applies(chain, intercept)) continue;
      BOOST_TEST_CONTEXT(describe(chain, intercept)) {
        const Mat A = design_of(scaled_features(rng, 120, 6), intercept);
        const Vec y = 5.0 * gaussian_vec(rng, A.n_rows);
        const auto preconditioner = kappa::make_preconditioner(chain, A, y, LossSpec{LossKind::l2, 1.0, 0.0, intercept});
        const Index dim = A.n_cols;
        const Mat P = dense_P(*preconditioner, dim);
        BOOST_TEST_REQUIRE(arma::rcond(P) > 1e-8);  // a change of variables must be invertible
        BOOST_TEST(preconditioner->objective_scale() > 0.0);

        for (int trial = 0; trial < 3; ++trial) {
          const Vec z = gaussian_vec(rng, dim), w = gaussian_vec(rng, dim), g = gaussian_vec(rng, dim);
          BOOST_TEST(relative(preconditioner->to_solver(preconditioner->to_original(z)), z) <= 1e-12);
          BOOST_TEST(relative(preconditioner->to_original(preconditioner->to_solver(w)), w) <= 1e-12);
          BOOST_TEST(relative(preconditioner->to_original(z), Vec(P * z)) <= 1e-12);  // linear
          BOOST_TEST(relative(preconditioner->to_solver(w), Vec(arma::solve(P, w))) <= 1e-10);
          BOOST_TEST(relative(preconditioner->gradient_to_solver(g), Vec(P.t() * g)) <= 1e-12);
        }
        BOOST_TEST(relative(preconditioner->transform_design(A), Mat(A * P)) <= 1e-12);
        const Mat M = gaussian(rng, 4, dim);  // any matrix with dim columns, not only the design
        BOOST_TEST(relative(preconditioner->transform_design(M), Mat(M * P)) <= 1e-12);
        std::string normalized = chain;
        normalized.erase(std::remove(normalized.begin(), normalized.end(), ' '), normalized.end());
        BOOST_TEST(preconditioner->name() == normalized);

        if (chain == "none") BOOST_TEST(arma::approx_equal(P, Mat(arma::eye(dim, dim)), "absdiff", 0.0));
        if (chain == "standardize") BOOST_TEST(relative(P, standardize_closed_form(A, intercept)) <= 1e-12);
        // Diagonal chains are evaluated through the original problem, the others on A P.
        const bool diagonal = chain == "none" || chain == "equilibrate" || chain == "equilibrate:max" || chain == "jacobi" ||
                              (chain.rfind("target-scale", 0) == 0 && chain.find(',') == std::string::npos) ||
                              (chain == "standardize" && !intercept);
        BOOST_TEST(preconditioner->needs_transformed_design() == !diagonal);
        if (diagonal) BOOST_TEST(arma::approx_equal(P, Mat(arma::diagmat(P)), "absdiff", 0.0));
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(standardize_and_center_closed_forms) {
  std::mt19937_64 rng(2);
  Mat X = scaled_features(rng, 80, 5);
  X.col(1).fill(7.0);  // std 0
  for (const bool intercept : {false, true}) {
    BOOST_TEST_CONTEXT("intercept " << intercept) {
      const Mat A = design_of(X, intercept);
      const auto standardize = kappa::make_preconditioner("standardize", A, intercept);
      const Mat P = dense_P(*standardize, A.n_cols);
      BOOST_TEST(P.is_finite());
      if (intercept) {
        BOOST_TEST(P(1, 1) == 1.0);  // zero spread after centring: scale 1 instead of 1/0
        const Mat B = standardize->transform_design(A);
        for (Index j = 0; j < A.n_cols - 1; ++j) {
          BOOST_TEST(std::fabs(arma::mean(B.col(j))) <= 1e-12);
          if (j != 1) BOOST_TEST(std::fabs(arma::stddev(B.col(j), 1) - 1.0) <= 1e-12);
        }
        BOOST_TEST(arma::approx_equal(B.col(A.n_cols - 1), A.col(A.n_cols - 1), "absdiff", 0.0));
        // center: P = [I 0; -mu^T 1]
        const Mat C = dense_P(*kappa::make_preconditioner("center", A, true), A.n_cols);
        Mat expected(A.n_cols, A.n_cols, arma::fill::eye);
        expected.row(A.n_cols - 1).head(A.n_cols - 1) = -arma::mean(X, 0);
        BOOST_TEST(relative(C, expected) <= 1e-14);
      } else {
        BOOST_TEST(relative(P, standardize_closed_form(A, false)) <= 1e-12);
        const Mat B = standardize->transform_design(A);
        for (Index j = 0; j < A.n_cols; ++j) BOOST_TEST(std::fabs(arma::norm(B.col(j)) / std::sqrt(80.0) - 1.0) <= 1e-12);
      }
      // A second standardize finds nothing left to do.
      const Mat P2 = dense_P(*kappa::make_preconditioner("standardize,standardize", A, intercept), A.n_cols);
      BOOST_TEST(relative(P2, P) <= 1e-12);
    }
  }
  // Zero columns are left unscaled by every scaling.
  Mat Z = X;
  Z.col(2).zeros();
  for (const std::string chain : {"standardize", "equilibrate", "equilibrate:max", "jacobi"}) {
    BOOST_TEST_CONTEXT(chain) {
      const Mat P = dense_P(*kappa::make_preconditioner(chain, Z, false), Z.n_cols);
      BOOST_TEST(P(2, 2) == 1.0);
      BOOST_TEST(P.is_finite());
    }
  }
}

// jacobi: P = diag(H_jj)^{-1/2}, so the Hessian (l2) or its bound (huber) of g has a unit diagonal,
// including ridge, intercept, and after a target-scale (whose c is part of g).
BOOST_AUTO_TEST_CASE(jacobi_gives_a_unit_hessian_diagonal) {
  std::mt19937_64 rng(3);
  const Mat X = scaled_features(rng, 100, 5);
  const Vec y = 40.0 * gaussian_vec(rng, 100);
  for (const LossKind kind : {LossKind::l2, LossKind::huber}) {
    for (const bool intercept : {false, true}) {
      for (const double ridge : {0.0, 0.7}) {
        for (const std::string chain : {"jacobi", "target-scale,jacobi"}) {
          BOOST_TEST_CONTEXT(kappa::to_string(kind) << " intercept " << intercept << " ridge " << ridge << " " << chain) {
            const LossSpec spec{kind, 1.0, ridge, intercept};
            const LinearModelProblem base(X, y, spec);
            const auto preconditioner = kappa::make_preconditioner(chain, base);
            const Mat P = dense_P(*preconditioner, base.dim());
            const LossSpec bound{kind, 1e300, ridge, intercept};  // huber: the quadratic zone everywhere
            const Mat H = preconditioner->objective_scale() * P.t() * dense_hessian(base.design(), y, bound, Vec(base.dim(), arma::fill::zeros)) * P;
            BOOST_TEST(arma::abs(H.diag() - 1.0).max() <= 1e-12);
          }
        }
      }
    }
  }
}

// target-scale: g(z) = c f(s z) is the same loss on y/s (l2: same ridge; huber: delta/s; l1:
// ridge s), with s the power of 2 nearest RMS(y) (or max|y|).
BOOST_AUTO_TEST_CASE(target_scale_is_the_problem_on_scaled_targets) {
  std::mt19937_64 rng(4);
  const Mat X = scaled_features(rng, 90, 4);
  const Vec y = 300.0 * gaussian_vec(rng, 90) + 100.0;
  for (const LossKind kind : {LossKind::l2, LossKind::huber, LossKind::l1}) {
    for (const std::string by : {"rms", "max"}) {
      BOOST_TEST_CONTEXT(kappa::to_string(kind) << " by " << by) {
        const LossSpec spec{kind, 2.5, 0.3, true};
        const LinearModelProblem base(X, y, spec);
        const auto preconditioner = kappa::make_preconditioner("target-scale:" + by, base);
        const double s = preconditioner->to_original(Vec{1, 0, 0, 0, 0})(0);
        const double size = by == "rms" ? std::sqrt(arma::mean(arma::square(y))) : arma::abs(y).max();
        BOOST_TEST(std::exp2(std::round(std::log2(s))) == s);  // a power of 2
        BOOST_TEST(size / s >= std::sqrt(0.5));
        BOOST_TEST(size / s <= std::sqrt(2.0));
        LossSpec scaled = spec;
        if (kind == LossKind::huber) scaled.huber_delta = spec.huber_delta / s;
        if (kind == LossKind::l1) scaled.ridge = spec.ridge * s;
        const LinearModelProblem on_scaled_targets(X, y / s, scaled);
        const auto solver = kappa::make_solver_problem(base, *preconditioner);
        for (int trial = 0; trial < 3; ++trial) {
          const Vec z = gaussian_vec(rng, base.dim());
          Vec gradient, expected_gradient;
          BOOST_TEST(relative(solver->loss_grad(z, gradient), on_scaled_targets.loss_grad(z, expected_gradient)) <= 1e-13);
          BOOST_TEST(relative(gradient, expected_gradient) <= 1e-13);
        }
      }
    }
  }
  // y = 0: nothing to scale.
  const auto zero = kappa::make_preconditioner("target-scale", X, Vec(90, arma::fill::zeros), LossSpec{});
  BOOST_TEST(zero->to_original(Vec{1, 2, 3, 4})(2) == 3.0);
}

// ------------------------------------------------------------------ PreconditionedProblem

// g(z) = c f(P z) in both forms (wrapped and materialized) for every preconditioner and loss.
BOOST_AUTO_TEST_CASE(preconditioned_problem_is_c_f_of_Pz) {
  std::mt19937_64 rng(5);
  for (const std::string& chain : kChains) {
    for (const bool intercept : {false, true}) {
      if (!applies(chain, intercept)) continue;
      for (const LossKind kind : {LossKind::l2, LossKind::huber, LossKind::l1}) {
        for (const double ridge : {0.0, 0.3}) {
          const LossSpec spec{kind, 1.0, ridge, intercept};
          const Index n = 150;
          const Mat X = scaled_features(rng, n, 5);
          const Mat A = design_of(X, intercept);
          const Vec w0 = gaussian_vec(rng, A.n_cols);
          const Vec y = kink_free_targets(rng, A, w0);
          const LinearModelProblem base(X, y, spec);
          const auto preconditioner = kappa::make_preconditioner(chain, base);
          const Mat P = dense_P(*preconditioner, A.n_cols);
          const double c = preconditioner->objective_scale();
          for (const auto form : {PreconditionedEvaluation::wrapped, PreconditionedEvaluation::materialized}) {
            BOOST_TEST_CONTEXT(describe(chain, intercept) << " " << kappa::to_string(kind) << " ridge " << ridge << " "
                                                          << (form == PreconditionedEvaluation::wrapped ? "wrapped" : "materialized")) {
              const PreconditionedProblem problem(base, *preconditioner, form);
              BOOST_TEST((problem.evaluation() == form));
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
              BOOST_TEST(relative(problem.loss_grad(z, gradient), c * f) <= 1e-12);
              BOOST_TEST(relative(problem.loss(z), c * f) <= 1e-12);
              BOOST_TEST(relative(gradient, Vec(c * P.t() * base_gradient)) <= 1e-11);

              // Central differences of g along the solver coordinates. Each residual moves by at
              // most h max|A P| <= 0.005 < the 0.1 margin, so no kink is crossed, g is exactly
              // quadratic on the stencil and the difference is exact up to rounding ~ eps |g| / h.
              const Mat B = A * P;
              const double h = std::min(1e-4, 0.005 / arma::abs(B).max());
              BOOST_TEST_REQUIRE(h >= 1e-6);  // rounding ~ eps |g| / h stays below 1e-9 |g|
              for (Index j = 0; j < problem.dim(); ++j) {
                Vec plus = z, minus = z;
                plus(j) += h;
                minus(j) -= h;
                const double difference = (problem.loss(plus) - problem.loss(minus)) / (2 * h);
                BOOST_TEST(std::fabs(difference - gradient(j)) <= 1e-8 * std::max(1.0, std::fabs(c * f)), "component " << j);
              }

              // Minibatches map the same way (ridge once per batch).
              const IndexVec rows = {3, 140, 77, 3, 12};
              Vec batch_gradient, base_batch_gradient;
              const double batch = problem.batch_loss_grad(z, rows, batch_gradient);
              // 1e-11 as for the gradients below: the test's P, formed column by column from
              // to_original(e_j), differs from the factored P the problem applies by rounding of
              // order eps cond(P), and with 5 rows of an l1 loss no averaging hides it (measured:
              // 1.5e-12 for 'spectral' with an intercept on an AVX-512 OpenBLAS kernel).
              const double base_batch = c * base.batch_loss_grad(w, rows, base_batch_gradient);
              BOOST_TEST(relative(batch, base_batch) <= 1e-11);
              BOOST_TEST(relative(batch_gradient, Vec(c * P.t() * base_batch_gradient)) <= 1e-11);

              // Second order: c P^T H(P z) P v and c P^T M P v.
              const Vec v = gaussian_vec(rng, problem.dim());
              Vec out;
              if (kind != LossKind::l1) {
                problem.hess_vec(z, v, out);
                BOOST_TEST(relative(out, Vec(c * P.t() * dense_hessian(A, y, spec, w) * P * v)) <= 1e-11);
                problem.curvature_bound_vec(v, out);
                const LossSpec bound_spec{kind, 1e300, ridge, intercept};
                BOOST_TEST(relative(out, Vec(c * P.t() * dense_hessian(A, y, bound_spec, w) * P * v)) <= 1e-11);
              } else {
                BOOST_CHECK_THROW(problem.hess_vec(z, v, out), kappa::NumericalError);
              }

              // Work is counted on the preconditioned problem like on any other, in both forms.
              kappa::detail::FrameworkAccess::reset_counters(problem);
              problem.loss_grad(z, gradient);
              BOOST_TEST(problem.data_passes() == 1.0);
              problem.loss(z);
              problem.batch_loss_grad(z, IndexVec{1, 2, 3}, gradient);
              BOOST_TEST(std::fabs(problem.data_passes() - (2.0 + 3.0 / n)) <= 1e-15);
            }
          }
          // make_solver_problem picks the form the preconditioner asks for.
          const auto solver = kappa::make_solver_problem(base, *preconditioner);
          BOOST_TEST((solver->evaluation() == (preconditioner->needs_transformed_design() ? PreconditionedEvaluation::materialized
                                                                                          : PreconditionedEvaluation::wrapped)));
        }
      }
    }
  }
}

// ------------------------------------------------------------------ maps back to w*

// A direct solve of the transformed problem, mapped back, is w*. The transformed l2 problem
// min (1/n)|A P z - y|^2 + (ridge/2)|D_f P z|^2 is solved independently as the stacked least
// squares [A P; sqrt(n ridge/2) D_f P] z = [y; 0] (arma::solve, LAPACK); w* is
// kappa::reference_solution (itself checked against arma::solve of [A; sqrt(n ridge/2) D_f]).
// Tolerance 1e-9: cond(A) < 1e3 here and every preconditioned design has cond(A P) < 1e4,
// so both forward errors are ~ cond * eps * (1 + cond |r| / |A||w|) << 1e-9.
BOOST_AUTO_TEST_CASE(preconditioned_direct_solve_maps_back_to_w_star) {
  std::mt19937_64 rng(6);
  for (const std::string& chain : kChains) {
    for (const bool intercept : {false, true}) {
      if (!applies(chain, intercept)) continue;
      for (const double ridge : {0.0, 0.3}) {
        BOOST_TEST_CONTEXT(describe(chain, intercept) << " ridge " << ridge) {
          const Mat X = scaled_features(rng, 300, 8);
          const Mat A = design_of(X, intercept);
          BOOST_TEST_REQUIRE(cond(A) < 1e3);
          const Vec y = A * gaussian_vec(rng, A.n_cols) + 0.3 * gaussian_vec(rng, X.n_rows);
          const LossSpec spec{LossKind::l2, 1.0, ridge, intercept};
          const Vec w_star = kappa::reference_solution(X, y, spec).w;
          const Mat I = arma::eye(A.n_cols, A.n_cols);
          const Vec stacked_y = arma::join_cols(y, Vec(ridge > 0 ? feature_rows(A.n_cols, intercept).n_rows : 0, arma::fill::zeros));
          BOOST_TEST(relative(Vec(arma::solve(stacked(A, I, ridge, intercept), stacked_y)), w_star) <= 1e-10);

          const auto preconditioner = kappa::make_preconditioner(chain, A, y, spec);
          const Mat P = dense_P(*preconditioner, A.n_cols);
          const Mat transformed = stacked(A, P, ridge, intercept);
          BOOST_TEST_REQUIRE(cond(transformed) < 1e4);
          const Vec z_star = arma::solve(transformed, stacked_y);
          BOOST_TEST(relative(preconditioner->to_original(z_star), w_star) <= 1e-9);
          BOOST_TEST(relative(z_star, preconditioner->to_solver(w_star)) <= 1e-9);

          // and the mapped w* is a stationary point of the solver problem: |grad g| relative to
          // the size of its terms, c |B^T| |y| / n.
          const LinearModelProblem base(X, y, spec);
          const auto solver = kappa::make_solver_problem(base, *preconditioner);
          Vec gradient;
          solver->loss_grad(preconditioner->to_solver(w_star), gradient);
          BOOST_TEST(arma::norm(gradient) <= 1e-10 * preconditioner->objective_scale() * arma::norm(transformed, 2) *
                                                  arma::norm(y) / static_cast<double>(X.n_rows));
        }
      }
    }
  }
}

// ------------------------------------------------------------------ conditioning

namespace {

// Badly scaled data with a known underlying matrix. X0 (n x d) has centred columns
// (orthogonal to 1), cond(X0) ~ 1e2 by a mixing with singular values from 1 to 1e-2, and
// column norms sqrt(n) f_j with f_j from 1 to 1.8. The design seen by the problem is
//   X = (X0 + 1 o^T) D,   D = diag(logspace(-3, 4)): column scales spread over 1e7,
// with offsets o (in units of the column spread) only with an intercept, where centring can
// absorb them. The underlying matrix M is X0 without an intercept and [X0 1] with one.
struct ScaledData {
  Mat X;
  Mat underlying;
  double column_norm_ratio;  // rho = max / min column norm of `underlying`
};

ScaledData badly_scaled(std::mt19937_64& rng, Index n, Index d, bool intercept) {
  Mat G = gaussian(rng, n, d);
  G.each_row() -= arma::mean(G, 0);
  const Mat V = orthonormal(rng, d, d);
  Mat X0 = G * V * arma::diagmat(arma::logspace<Vec>(0, -2, d)) * V.t();
  const Vec f = arma::linspace<Vec>(1.0, 1.8, d);
  for (Index j = 0; j < d; ++j) X0.col(j) *= std::sqrt(static_cast<double>(n)) * f(j) / arma::norm(X0.col(j));
  const Vec scales = arma::logspace<Vec>(-3, 4, d);
  const Vec offsets = intercept ? Vec(arma::linspace<Vec>(-100, 100, d)) : Vec(d, arma::fill::zeros);
  Mat X(n, d);
  for (Index j = 0; j < d; ++j) X.col(j) = (X0.col(j) + offsets(j)) * scales(j);
  ScaledData data{X, design_of(X0, intercept), 0};
  Vec norms(data.underlying.n_cols);
  for (Index j = 0; j < norms.n_elem; ++j) norms(j) = arma::norm(data.underlying.col(j));
  data.column_norm_ratio = norms.max() / norms.min();
  return data;
}

}  // namespace

// The figure: standardize and equilibrate bring cond down to the underlying cond within
// a factor of 2. Theory: each of these chains maps A to M N^{-1} (times a constant), N the
// column norms of M (for equilibrate:max, M times another diagonal), and for any diagonal N
//   cond(M) / rho <= cond(M N^{-1}) <= cond(M) rho,  rho = max N / min N
// (sigma_max(M N^-1) <= sigma_max(M) / min N, sigma_min(M N^-1) >= sigma_min(M) / max N, and the
// same for M = (M N^-1) N). rho = 1.8 here (required below), so the ratio is in [1/1.8, 1.8].
BOOST_AUTO_TEST_CASE(scalings_recover_the_underlying_condition_number) {
  std::mt19937_64 rng(7);
  for (const bool intercept : {false, true}) {
    const ScaledData data = badly_scaled(rng, 500, 8, intercept);
    const Mat A = design_of(data.X, intercept);
    const double underlying = cond(data.underlying), before = cond(A);
    BOOST_TEST_REQUIRE(data.column_norm_ratio <= 1.8 + 1e-12);
    BOOST_TEST_MESSAGE("intercept " << intercept << ": underlying cond " << underlying << ", cond(A) " << before);
    BOOST_TEST(underlying >= 10.0);
    BOOST_TEST(before >= 1e6 * underlying);
    const std::vector<std::string> chains =
        intercept ? std::vector<std::string>{"standardize", "center,equilibrate", "center,jacobi", "center,standardize"}
                  : std::vector<std::string>{"standardize", "equilibrate", "jacobi"};
    for (const std::string& chain : chains) {
      BOOST_TEST_CONTEXT(chain << " intercept " << intercept) {
        const double after = cond(kappa::make_preconditioner(chain, A, intercept)->transform_design(A));
        BOOST_TEST_MESSAGE("  " << chain << ": cond " << after << " (ratio to underlying " << after / underlying << ")");
        BOOST_TEST(after <= 2 * underlying);  // the figure
        BOOST_TEST(after >= underlying / 2);
        BOOST_TEST(after <= data.column_norm_ratio * underlying * (1 + 1e-8));  // the bound above
        BOOST_TEST(after >= underlying / data.column_norm_ratio * (1 - 1e-8));
      }
    }
    if (!intercept) {
      // max-abs equilibration: M E^{-1} with E the max-abs column values of M; the same bound
      // with rho' = max E / min E (required <= 2 on this data).
      Vec max_abs(data.underlying.n_cols);
      for (Index j = 0; j < max_abs.n_elem; ++j) max_abs(j) = arma::abs(data.underlying.col(j)).max();
      const double rho = max_abs.max() / max_abs.min();
      BOOST_TEST_REQUIRE(rho <= 2.0);
      const double after = cond(kappa::make_preconditioner("equilibrate:max", A, false)->transform_design(A));
      BOOST_TEST_MESSAGE("  equilibrate:max: cond " << after << " (ratio " << after / underlying << ", rho " << rho << ")");
      BOOST_TEST(after <= 2 * underlying);
      BOOST_TEST(after >= underlying / 2);
      BOOST_TEST(after <= rho * underlying * (1 + 1e-8));
    }
  }
}

// whiten: R from the QR of A (or of [A; sqrt(n ridge/2) D_f] with ridge), so A R^{-1} has
// orthonormal columns. The computed A R^{-1} is exact for a perturbed R + dR_i in each row
// (triangular solves are backward stable), which moves its singular values by
// O(d eps cond(A)): on the badly scaled data (cond(A) up to ~1e12, but the scaling is undone
// exactly by the triangular solve) cond = 1 + O(1e-14); on the tall cond-1e10 matrix below the
// bound is ~1e-5.
BOOST_AUTO_TEST_CASE(whiten_gives_condition_number_one) {
  std::mt19937_64 rng(8);
  for (const bool intercept : {false, true}) {
    for (const double ridge : {0.0, 0.05}) {
      BOOST_TEST_CONTEXT("intercept " << intercept << " ridge " << ridge) {
        const ScaledData data = badly_scaled(rng, 500, 8, intercept);
        const Mat A = design_of(data.X, intercept);
        const Vec y = 40.0 * gaussian_vec(rng, 500);  // target-scale: s = 32 or 64, c = 1/s^2
        for (const std::string chain : {"whiten", "target-scale,whiten", "equilibrate,whiten"}) {
          const auto whiten = kappa::make_preconditioner(chain, A, y, LossSpec{LossKind::l2, 1, ridge, intercept});
          const Mat P = dense_P(*whiten, A.n_cols);
          const Mat K = stacked(A, P, ridge, intercept);
          const double after = cond(K);
          BOOST_TEST_MESSAGE(chain << " intercept " << intercept << " ridge " << ridge << ": cond "
                                   << cond(stacked(A, arma::eye(A.n_cols, A.n_cols), ridge, intercept)) << " -> 1 + " << after - 1);
          BOOST_TEST(after <= 1 + 1e-8, chain);
          // and it is the design the solver problem evaluates on (ridge 0: A P itself).
          if (ridge == 0) BOOST_TEST(cond(whiten->transform_design(A)) <= 1 + 1e-8, chain);
        }
      }
    }
  }
}

namespace {

// Tall n x d matrix U diag(sigma) V^T with U, V random orthonormal and sigma from 1 to 1/cond.
Mat tall_with_condition(std::mt19937_64& rng, Index n, Index d, double condition) {
  return orthonormal(rng, n, d) * arma::diagmat(arma::logspace<Vec>(0, -std::log10(condition), d)) * orthonormal(rng, d, d).t();
}

}  // namespace

// sketch: cond(A R^{-1}) <= 10 on tall random matrices with cond 1e10. For the Gaussian sketch
// with m = 4d rows, the singular values of S U lie in 1 +- (sqrt(d/m) + t) with probability
// >= 1 - 2 exp(-m t^2 / 2) (Davidson & Szarek), so cond(A R^{-1}) = cond(S U) <= 3 typically;
// the sparse (CountSketch) embedding has no such bound at m = 4d, but on incoherent U it
// behaves alike. Three seeds each; whiten on the same matrices for comparison.
BOOST_AUTO_TEST_CASE(sketch_preconditions_tall_ill_conditioned_matrices) {
  std::mt19937_64 rng(9);
  for (int matrix = 0; matrix < 2; ++matrix) {
    const Mat A = tall_with_condition(rng, 2000, 25, 1e10);
    const double before = cond(A);
    BOOST_TEST_REQUIRE(before >= 0.5e10);
    BOOST_TEST_REQUIRE(before <= 2e10);
    for (const std::string kind : {"gaussian", "sparse"}) {
      for (const std::string seed : {"1", "2", "77"}) {
        const std::string chain = "sketch:" + kind + ":seed=" + seed;
        BOOST_TEST_CONTEXT(chain << " matrix " << matrix) {
          const auto sketch = kappa::make_preconditioner(chain, A, false);
          const double after = cond(sketch->transform_design(A));
          BOOST_TEST_MESSAGE(chain << ": cond " << before << " -> " << after);
          BOOST_TEST(after <= 10.0);
          BOOST_TEST(after >= 1.0);
          // Deterministic: the same seed gives the same P.
          BOOST_TEST(arma::approx_equal(dense_P(*sketch, 25), dense_P(*kappa::make_preconditioner(chain, A, false), 25),
                                        "absdiff", 0.0));
        }
      }
    }
    const double whitened = cond(kappa::make_preconditioner("whiten", A, false)->transform_design(A));
    BOOST_TEST_MESSAGE("whiten: cond " << before << " -> 1 + " << whitened - 1);
    BOOST_TEST(whitened <= 1 + 1e-4);
  }
  // A larger gamma gives a better embedding (Gaussian, same matrix, on average over seeds).
  const Mat A = tall_with_condition(rng, 2000, 25, 1e10);
  double small = 0, large = 0;
  for (const std::string seed : {"1", "2", "3", "4"}) {
    small += cond(kappa::make_preconditioner("sketch:gamma=1.5:seed=" + seed, A, false)->transform_design(A));
    large += cond(kappa::make_preconditioner("sketch:gamma=16:seed=" + seed, A, false)->transform_design(A));
  }
  BOOST_TEST(large < small);
}

// spectral: P = I + V_k (diag(sigma_{k+1}/sigma_i) - I) V_k^T scales the top k singular values
// down to sigma_{k+1}, so cond(A P) = sigma_{k+1} / sigma_min exactly (in exact arithmetic).
BOOST_AUTO_TEST_CASE(spectral_deflates_the_top_singular_values) {
  std::mt19937_64 rng(10);
  const Index n = 400, d = 12;
  Vec sigma = arma::logspace<Vec>(1, 0, d);
  sigma.head(3) = Vec{1e8, 1e6, 1e4};
  const Mat A = orthonormal(rng, n, d) * arma::diagmat(sigma) * orthonormal(rng, d, d).t();
  const Vec singular = arma::svd(A);
  for (const Index k : {1, 2, 3, 5}) {
    BOOST_TEST_CONTEXT("k = " << k) {
      const auto spectral = kappa::make_preconditioner("spectral:k=" + std::to_string(k), A, false);
      const Mat B = spectral->transform_design(A);
      const Vec after = arma::svd(B);
      BOOST_TEST_MESSAGE("spectral:k=" << k << ": cond " << singular(0) / singular(d - 1) << " -> " << after(0) / after(d - 1));
      BOOST_TEST(relative(after(0) / after(d - 1), singular(k) / singular(d - 1)) <= 1e-8);
      BOOST_TEST(relative(Vec(after.tail(d - k)), Vec(singular.tail(d - k))) <= 1e-8);  // the others unchanged
      const Mat P = dense_P(*spectral, d);
      BOOST_TEST(relative(P, Mat(P.t())) <= 1e-14);  // symmetric
    }
  }
  // The default k = min(10, d - 1) = 10.
  const Vec after = arma::svd(kappa::make_preconditioner("spectral", A, false)->transform_design(A));
  BOOST_TEST(relative(after(0) / after(d - 1), singular(10) / singular(d - 1)) <= 1e-8);
}

// ------------------------------------------------------------------ a gradient method

// Gradient descent with step 1/L (L = lambda_max of g's Hessian, by Problem::smoothness), run on
// the solver problem's own gradient. Theory: the error contracts by (1 - 1/kappa_H) per step in
// the worst direction; without preconditioning kappa_H = cond(A)^2 = 1e6, so 200 steps leave most
// of the error in the small directions; after whiten the Hessian is (2/n) I and one step is exact.
BOOST_AUTO_TEST_CASE(gradient_descent_converges_much_faster_after_whiten) {
  std::mt19937_64 rng(11);
  const Index n = 300, d = 10;
  const Mat X = tall_with_condition(rng, n, d, 1e3) * std::sqrt(static_cast<double>(n));
  const Vec y = X * gaussian_vec(rng, d) + 0.1 * gaussian_vec(rng, n);
  for (const bool intercept : {false, true}) {
    BOOST_TEST_CONTEXT("intercept " << intercept) {
      const LossSpec spec{LossKind::l2, 1.0, 0.0, intercept};
      const LinearModelProblem base(X, y, spec);
      const Vec w_star = kappa::reference_solution(X, y, spec).w;
      double error[2] = {0, 0};
      const std::string chains[2] = {"none", "whiten"};
      const int steps[2] = {200, 3};
      for (int which = 0; which < 2; ++which) {
        const auto preconditioner = kappa::make_preconditioner(chains[which], base);
        const auto problem = kappa::make_solver_problem(base, *preconditioner);
        const double step = 1 / problem->smoothness();
        Vec z = preconditioner->to_solver(Vec(base.dim(), arma::fill::zeros)), gradient;
        for (int k = 0; k < steps[which]; ++k) {
          problem->loss_grad(z, gradient);
          z -= step * gradient;
        }
        error[which] = relative(preconditioner->to_original(z), w_star);
        BOOST_TEST_MESSAGE(chains[which] << " intercept " << intercept << ": |w - w*|/|w*| = " << error[which] << " after "
                                         << steps[which] << " steps");
      }
      BOOST_TEST(error[0] >= 1e-2);   // plain: still far after 200 steps
      BOOST_TEST(error[1] <= 1e-10);  // whitened: exact (to rounding) after 3
    }
  }
}

// ------------------------------------------------------------------ numerics of the two forms

// Large column offsets with an intercept: centring through the original design cancels in every
// evaluation (A (P z) sums terms of size |offset| |z| into residuals of size 1, then P^T
// subtracts mu times the intercept's gradient from the features'), so the wrapped gradient
// carries an error ~ eps |offset| |z|; the materialized centred copy is rounded once, and its
// gradient is accurate to eps times its own (small) entries. Measured at the direct solution
// z* of the centred least-squares problem (arma::solve on A P), where the exact gradient is 0.
BOOST_AUTO_TEST_CASE(materialized_form_avoids_cancellation_from_offsets) {
  std::mt19937_64 rng(12);
  const Index n = 400, d = 5;
  const Mat X0 = gaussian(rng, n, d);
  Mat X = X0;
  X.each_row() += arma::linspace<arma::rowvec>(1e7, 3e7, d);
  // y of size 1 (so the residuals themselves do not cancel): the offsets go into a large
  // intercept w_b ~ -1e7 |w_f| of w*, and into none of z*.
  const Vec y = X0 * gaussian_vec(rng, d) + 3.0 + 0.5 * gaussian_vec(rng, n);
  const LossSpec spec{LossKind::l2, 1.0, 0.0, true};
  const LinearModelProblem base(X, y, spec);
  for (const std::string chain : {"center", "standardize"}) {
    BOOST_TEST_CONTEXT(chain) {
      const auto preconditioner = kappa::make_preconditioner(chain, base);
      BOOST_TEST(preconditioner->needs_transformed_design());
      const Mat B = preconditioner->transform_design(base.design());
      BOOST_TEST_REQUIRE(cond(B) < 1e3);  // centred: well conditioned (cond(A) is ~1e9)
      const Vec z_star = arma::solve(B, y);
      double norms[2];
      int index = 0;
      for (const auto form : {PreconditionedEvaluation::wrapped, PreconditionedEvaluation::materialized}) {
        const PreconditionedProblem problem(base, *preconditioner, form);
        Vec gradient;
        problem.loss_grad(z_star, gradient);
        norms[index++] = arma::norm(gradient);
      }
      // the size of the gradient's terms: (2/n) |B| |r|
      const double terms = 2.0 / n * arma::norm(B, 2) * arma::norm(Vec(B * z_star - y));
      BOOST_TEST_MESSAGE(chain << ": cond(A) " << cond(base.design()) << ", cond(A P) " << cond(B) << "; |grad g(z*)| wrapped "
                               << norms[0] << ", materialized " << norms[1] << " (terms " << terms << ")");
      BOOST_TEST(norms[1] <= 1e-12 * terms);
      BOOST_TEST(norms[1] * 100 <= norms[0]);
    }
  }
}

// ------------------------------------------------------------------ bad input

BOOST_AUTO_TEST_CASE(bad_chains_are_refused_naming_the_item) {
  std::mt19937_64 rng(13);
  const Mat A = gaussian(rng, 60, 3);
  struct Case {
    std::string chain;
    std::vector<std::string> fragments;
  };
  const std::vector<Case> cases = {
      {"bogus", {"'bogus'", "unknown preconditioner", "known: none, center, standardize"}},
      {"standardize,whiten2", {"'whiten2'", "unknown preconditioner"}},
      {"", {"empty chain"}},
      {"   ", {"empty chain"}},
      {"standardize,", {"trailing comma"}},
      {",standardize", {"empty item 1"}},
      {"standardize,,none", {"empty item 2"}},
      {"equilibrate:", {"'equilibrate:'", "empty option"}},
      {"equilibrate:min", {"'equilibrate:min'", "unknown option 'min'", "norm=2|max"}},
      {"equilibrate:norm=3", {"'equilibrate:norm=3'", "'norm'", "'3'"}},
      {"equilibrate:norm=", {"'equilibrate:norm='", "no value"}},
      {"equilibrate:=max", {"'equilibrate:=max'", "no name"}},
      {"equilibrate:max:2", {"'equilibrate:max:2'", "'norm' given twice"}},
      {"whiten:fast", {"'whiten:fast'", "'whiten' takes no options"}},
      {"spectral:k=0", {"'spectral:k=0'", "'k'", ">= 1"}},
      {"spectral:k=two", {"'spectral:k=two'", "'k'", "'two'", "not a number"}},
      {"spectral:k=2.5", {"'spectral:k=2.5'", "'2.5'", "not an integer"}},
      {"spectral:j=2", {"'spectral:j=2'", "unknown option 'j'", "k="}},
      {"sketch:gamma=0.5", {"'sketch:gamma=0.5'", "'gamma'", ">= 1"}},
      {"sketch:gamma=nan", {"'sketch:gamma=nan'", "'gamma'"}},
      {"sketch:seed=-1", {"'sketch:seed=-1'", "'seed'", ">= 0"}},
      {"sketch:uniform", {"'sketch:uniform'", "unknown option 'uniform'", "kind=gaussian|sparse"}},
      {"sketch:kind=dense", {"'sketch:kind=dense'", "'dense'", "gaussian or sparse"}},
      {"target-scale:by=mean", {"'target-scale:by=mean'", "'mean'"}},
      {":max", {"no preconditioner name"}},
      {"none,standardize:max", {"'standardize:max'", "takes no options"}},
  };
  for (const Case& bad : cases) {
    BOOST_TEST_CONTEXT("chain '" << bad.chain << "'") {
      std::vector<std::string> fragments = bad.fragments;
      fragments.push_back("preconditioner '" + bad.chain + "'");
      require_throws_naming<kappa::InputError>([&] { kappa::parse_preconditioner_chain(bad.chain); }, fragments);
      require_throws_naming<kappa::InputError>([&] { kappa::make_preconditioner(bad.chain, A, false); }, fragments);
    }
  }
}

BOOST_AUTO_TEST_CASE(preconditioners_that_do_not_apply_are_refused) {
  std::mt19937_64 rng(14);
  const Mat X = gaussian(rng, 60, 6);
  const Vec y = gaussian_vec(rng, 60);
  const LossSpec plain{}, with_intercept{LossKind::l2, 1, 0, true};
  // center without an intercept: refused by the loss-aware parse too (before any data).
  require_throws_naming<kappa::InputError>([&] { kappa::make_preconditioner("center", X, y, plain); }, {"'center'", "intercept"});
  require_throws_naming<kappa::InputError>([&] { kappa::make_preconditioner("none,center", X, y, plain); }, {"'center'", "intercept"});
  require_throws_naming<kappa::InputError>([&] { kappa::parse_preconditioner_chain("center", plain); }, {"'center'", "intercept"});
  BOOST_CHECK_NO_THROW(kappa::parse_preconditioner_chain("center", with_intercept));
  BOOST_CHECK_NO_THROW(kappa::make_preconditioner("standardize", X, y, plain));  // scales only
  // center after a link that mixes the intercept column into the others.
  const Mat A = design_of(X, true);
  require_throws_naming<kappa::InputError>([&] { kappa::make_preconditioner("whiten,center", A, y, with_intercept); },
                                           {"'center'", "after 'whiten'", "first"});
  require_throws_naming<kappa::InputError>([&] { kappa::make_preconditioner("spectral:k=2,standardize", A, y, with_intercept); },
                                           {"'standardize'", "after 'spectral:k=2'"});
  BOOST_CHECK_NO_THROW(kappa::make_preconditioner("equilibrate,center", A, y, with_intercept));  // scaled, still constant
  // sketch on a design that is not tall enough: m = ceil(4 * 6) = 24 > 20 rows.
  const Mat short_design = X.head_rows(20);
  require_throws_naming<kappa::InputError>([&] { kappa::make_preconditioner("sketch", short_design, false); },
                                           {"'sketch'", "20 x 6", "m = ceil(gamma d) = 24"});
  require_throws_naming<kappa::InputError>([&] { kappa::make_preconditioner("sketch:gamma=100", X, false); },
                                           {"'sketch:gamma=100'", "60 x 6", "600"});
  BOOST_CHECK_NO_THROW(kappa::make_preconditioner("sketch:gamma=3", short_design, false));  // 18 rows
  // spectral k >= d.
  require_throws_naming<kappa::InputError>([&] { kappa::make_preconditioner("spectral:k=6", X, false); }, {"'spectral:k=6'", "k = 6", "d = 6"});
  // target-scale without targets.
  require_throws_naming<kappa::InputError>([&] { kappa::make_preconditioner("target-scale", X, false); }, {"'target-scale'", "targets"});
  // Rank-deficient designs: numerically singular R, sigma_{k+1} = 0. A ridge cures whiten.
  Mat deficient = X;
  deficient.col(4) = 2.0 * deficient.col(1) - deficient.col(0);
  require_throws_naming<kappa::NumericalError>([&] { kappa::make_preconditioner("whiten", deficient, false); },
                                               {"'whiten'", "singular", "ridge"});
  require_throws_naming<kappa::NumericalError>([&] { kappa::make_preconditioner("sketch", deficient, false); },
                                               {"'sketch'", "singular"});
  require_throws_naming<kappa::NumericalError>([&] { kappa::make_preconditioner("spectral:k=5", deficient, false); },
                                               {"'spectral:k=5'", "sigma_6", "smaller k"});
  BOOST_CHECK_NO_THROW(kappa::make_preconditioner("whiten", deficient, y, LossSpec{LossKind::l2, 1, 0.1, false}));
  BOOST_CHECK_NO_THROW(kappa::make_preconditioner("spectral:k=4", deficient, false));
  // A wide design has a singular R.
  require_throws_naming<kappa::NumericalError>([&] { kappa::make_preconditioner("whiten", X.head_rows(4), false); },
                                               {"'whiten'", "4 rows for 6 columns"});
}

BOOST_AUTO_TEST_CASE(names_list_every_preconditioner) {
  const std::vector<std::string> names = kappa::preconditioner_names();
  const std::vector<std::string> expected = {"none",   "center", "standardize", "equilibrate", "target-scale",
                                             "jacobi", "whiten", "sketch",      "spectral"};
  BOOST_TEST(names == expected, boost::test_tools::per_element());
  std::mt19937_64 rng(15);
  const Mat X = gaussian(rng, 60, 3);
  const LinearModelProblem problem(X, gaussian_vec(rng, 60), LossSpec{LossKind::l2, 1, 0.1, true});
  for (const std::string& name : names) BOOST_CHECK_NO_THROW(kappa::make_preconditioner(name, problem));
  // A single column (d = 1): spectral's default k = min(10, d - 1) = 0 is the identity.
  const Mat column = gaussian(rng, 60, 1);
  const LinearModelProblem one_column(column, gaussian_vec(rng, 60), LossSpec{});
  for (const std::string& name : names) {
    if (name == "center") continue;
    BOOST_TEST_CONTEXT(name << " on one column") {
      const auto preconditioner = kappa::make_preconditioner(name, one_column);
      const Mat P = dense_P(*preconditioner, 1);
      BOOST_TEST(relative(preconditioner->transform_design(column), Mat(column * P)) <= 1e-14);
      if (name == "spectral") BOOST_TEST(P(0, 0) == 1.0);
    }
  }
  const auto items = kappa::parse_preconditioner_chain(" center , sketch:sparse:gamma=2 ,equilibrate:max");
  BOOST_TEST_REQUIRE(items.size() == 3U);
  BOOST_TEST(items[1].name == "sketch");
  BOOST_TEST(items[1].text == "sketch:sparse:gamma=2");
  BOOST_TEST(items[1].options.at("kind") == "sparse");
  BOOST_TEST(items[1].options.at("gamma") == "2");
  BOOST_TEST(items[2].options.at("norm") == "max");
}

// ------------------------------------------------------------------ Experiment

BOOST_AUTO_TEST_CASE(experiment_reference_does_not_depend_on_the_preconditioner) {
  std::mt19937_64 rng(16);
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
      kappa::ExperimentSetup setup;
      setup.loss = LossSpec{kind, 0.5, 0.05, intercept};
      setup.preconditioner = "none";
      const kappa::Experiment plain(data, setup);
      for (const std::string chain : {"standardize", "center,equilibrate", "target-scale,whiten", "jacobi", "sketch:sparse", "spectral:k=2"}) {
        if (!applies(chain, intercept)) continue;
        BOOST_TEST_CONTEXT(kappa::to_string(kind) << " intercept " << intercept << " " << chain) {
          setup.preconditioner = chain;
          const kappa::Experiment preconditioned(data, setup);

          BOOST_TEST(relative(preconditioned.reference().w, plain.reference().w) <= 1e-12);
          const kappa::Evaluation& a = plain.reference_evaluation();
          const kappa::Evaluation& b = preconditioned.reference_evaluation();
          BOOST_TEST(relative(b.train_loss, a.train_loss) <= 1e-12);
          BOOST_TEST(std::fabs(b.loss_gap - a.loss_gap) <= 1e-12 * a.train_loss);
          BOOST_TEST(std::fabs(b.relative_weight_error - a.relative_weight_error) <= 1e-12);
          BOOST_TEST(relative(b.test_rmse, a.test_rmse) <= 1e-12);
          BOOST_TEST(a.loss_gap == 0.0);

          // What the optimizers see: c times the same objective at the mapped reference.
          const Preconditioner& P = preconditioned.preconditioner();
          const Vec z_star = P.to_solver(preconditioned.reference().w);
          BOOST_TEST(relative(preconditioned.solver_problem().loss(z_star),
                              P.objective_scale() * preconditioned.problem().loss(preconditioned.reference().w)) <= 1e-11);
          BOOST_TEST(relative(P.to_original(z_star), preconditioned.reference().w) <= 1e-12);
          BOOST_TEST(P.name() == chain);
          const auto& solver = dynamic_cast<const PreconditionedProblem&>(preconditioned.solver_problem());
          BOOST_TEST((solver.evaluation() == (P.needs_transformed_design() ? PreconditionedEvaluation::materialized
                                                                           : PreconditionedEvaluation::wrapped)));
        }
      }
    }
  }
}
