#define BOOST_TEST_MODULE robustness
#include <boost/test/unit_test.hpp>

// Numerical robustness: divergence is caught within a bounded number of iterations of the loss
// leaving the allowed range (the first iteration is found independently of the Monitor's rule),
// and the direct solvers either solve an exactly rank-deficient least-squares problem
// correctly (svd: minimum norm, numerical rank) or refuse it naming the rank deficiency (qr,
// cholesky), never returning an ill-determined w* as if it were the solution.

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>
#include <string>

#include "core/references/reference.hpp"
#include <kappa/error.hpp>
#include "core/experiment/experiment.hpp"
#include "core/loader/plugin_registry.hpp"
#include "core/data/synthetic.hpp"

#include "test_support.hpp"

using namespace kappa;
using kappa::test::gaussian;
using kappa::test::gaussian_vec;
using kappa::test::relative;
using kappa::test::require_throws_naming;

namespace {

struct Plugins {
  Plugins() { registry.load_directories({KAPPA_TEST_PLUGIN_DIR}); }
  PluginRegistry registry;
};

constexpr double kFactor = 1e10;  // RunControls::divergence_factor's default, the factor

Dataset dataset(Mat X, Vec y) {
  Dataset data;
  data.X_train = std::move(X);
  data.y_train = std::move(y);
  data.source = "test";
  return data;
}

// Controls that make the Monitor record every iteration and never call a finite loss diverged:
// the trajectory is the same (the Monitor only observes), so the trace shows where the loss
// first leaves the range, independently of the divergence rule under test.
RunControls observing(long max_iterations) {
  RunControls controls;
  controls.max_iterations = max_iterations;
  controls.grad_tol = 0;
  controls.divergence_factor = std::numeric_limits<double>::infinity();
  controls.trace_points_per_decade = 1000000;  // next trace point max(k + 1, ceil(k 10^1e-6)) = k + 1
  return controls;
}

// The first traced iteration whose loss is not finite or exceeds kFactor times the initial
// loss; -1 if none.
long first_out_of_range(const std::vector<TracePoint>& trace) {
  for (const TracePoint& point : trace)
    if (!std::isfinite(point.loss) || !std::isfinite(point.grad_norm) || point.loss > kFactor * trace.front().loss) return point.iteration;
  return -1;
}

}  // namespace

// ------------------------------------------------------------------ divergence

// Gradient descent on f(w) = (1/n) |diag(s) w - y|^2 from w = 0: the error e_k = w_k - w* obeys
// e_k,i = (1 - lr 2 s_i^2 / n)^k e_0,i exactly, and f(w_k) = (1/n) sum s_i^2 e_k,i^2 (f* = 0).
// With lr = 3 / lambda_max the top mode doubles every step. The first k with
// f(w_k) > 1e10 f(0) follows in closed form; GD reports every iteration, so the Monitor must
// stop exactly there.
BOOST_FIXTURE_TEST_CASE(gd_on_a_quadratic_stops_at_the_closed_form_iteration, Plugins) {
  const Vec s = {1.0, 2.0, 3.0, 4.0};
  const Vec y = {1.0, -2.0, 0.5, 3.0};
  const real n = static_cast<real>(s.n_elem);
  const real lambda_max = 2 * s.max() * s.max() / n;
  const real lr = 3 / lambda_max;
  const Vec w_star = y / s;
  const auto loss_at = [&](long k) {
    long double sum = 0;
    for (arma::uword i = 0; i < s.n_elem; ++i) {
      const long double e = std::pow(1.0L - static_cast<long double>(lr) * 2 * s(i) * s(i) / n, k) * -w_star(i);
      sum += static_cast<long double>(s(i) * s(i)) * e * e;
    }
    return sum / n;
  };
  long expected = 0;
  while (loss_at(expected) <= kFactor * loss_at(0)) ++expected;
  // Well away from the threshold on both sides, so that rounding cannot move the iteration.
  BOOST_TEST(loss_at(expected) > 1.01L * kFactor * loss_at(0));
  BOOST_TEST(loss_at(expected - 1) < 0.99L * kFactor * loss_at(0));

  const Experiment experiment(dataset(arma::diagmat(s), y), ExperimentSetup{});
  RunControls controls;
  controls.max_iterations = 1000;
  const RunResult result = experiment.run("gd", *registry.create("gd", {{"lr", std::to_string(lr)}}), controls);
  BOOST_TEST(to_string(result.status) == "diverged", result.message);
  BOOST_TEST(result.iterations == expected, "stopped at " << result.iterations << ", loss first above 1e10 f(0) at " << expected);
  BOOST_TEST(result.message.find("factor") != std::string::npos, result.message);
}

// For several optimizers with a step size that makes them diverge: the iteration k* where the
// full loss first exceeds 1e10 f(0) or stops being finite comes from an observing run (every
// iteration traced, no divergence rule); the ordinary run must be stopped as diverged no later
// than the bound. Full-batch methods report every iteration: stopped exactly at k*. Minibatch
// SGD evaluates the full objective at trace points and at once when a batch loss is not finite
// or beyond the divergence threshold (first_order.hpp): once the full loss is out of range, the
// next batches are too, so it is stopped within a fixed slack of 2 updates.
BOOST_FIXTURE_TEST_CASE(divergence_is_caught_within_a_bounded_number_of_iterations, Plugins) {
  SpectrumSpec spec;
  spec.n = 100;
  spec.d = 10;
  spec.condition = 10;
  spec.noise = 0.01;
  spec.seed = 3;
  const Experiment experiment(generate(spec), ExperimentSetup{});
  const real L = experiment.solver_problem().smoothness();
  const auto step = [&](real times_one_over_L) { return std::to_string(times_one_over_L / L); };
  struct Case {
    std::string label;
    std::string optimizer;
    RawParams params;
    bool every_iteration;  // reports the full objective at every iteration
  };
  const std::vector<Case> cases = {
      {"gd lr 2.5/L", "gd", {{"lr", step(2.5)}}, true},                         // |1 - lr L| = 1.5 > 1
      {"momentum lr 5/L", "momentum", {{"lr", step(5)}}, true},                 // stable up to 2 (1 + 0.9) / L
      {"nesterov lr 2.5/L", "nesterov", {{"lr", step(2.5)}}, true},             // stable up to 2 (1 + 0.9) / (2.8 L)
      {"adam lr 1e7", "adam", {{"lr", "1e7"}}, true},                           // steps of ~lr per coordinate
      {"lbfgs fixed step 1e4", "lbfgs", {{"line_search", "none"}, {"lr", "1e4"}}, true},
      {"sgd lr 10/L", "sgd", {{"lr", step(10)}, {"batch_size", "10"}}, false},
      {"sgd lr 2.5/L", "sgd", {{"lr", step(2.5)}, {"batch_size", "10"}}, false},  // slow: out of range after ~60 updates
      {"sgd lr 1e100", "sgd", {{"lr", "1e100"}, {"batch_size", "10"}}, false},  // overflows at once
  };
  for (const Case& c : cases) {
    BOOST_TEST_CONTEXT(c.label) {
      const RunResult observed = experiment.run(c.optimizer, *registry.create(c.optimizer, c.params), observing(2000));
      const long k_star = first_out_of_range(observed.trace);
      BOOST_TEST_REQUIRE(k_star > 0, "the observing run never left the range: " << to_string(observed.status));
      RunControls controls;
      controls.max_iterations = 2000;
      const RunResult result = experiment.run(c.optimizer, *registry.create(c.optimizer, c.params), controls);
      const long bound = c.every_iteration ? k_star : k_star + 2;
      BOOST_TEST(to_string(result.status) == "diverged", result.message);
      BOOST_TEST(result.iterations >= k_star);
      BOOST_TEST(result.iterations <= bound, "stopped at " << result.iterations << ", out of range from " << k_star << ", bound " << bound);
      BOOST_TEST_MESSAGE(c.label << ": out of range at " << k_star << ", stopped at " << result.iterations << " (bound " << bound << ")");
    }
  }
}

// ------------------------------------------------------------------ rank deficiency

namespace {

// A tall matrix with columns 0..d-1 independent and then made exactly dependent by `make`.
struct Deficient {
  std::string what;
  Mat A;
  Index rank;
};

std::vector<Deficient> deficient_matrices() {
  std::mt19937_64 rng(41);
  std::vector<Deficient> out;
  Mat duplicate = gaussian(rng, 50, 6);
  duplicate.col(4) = duplicate.col(1);
  out.push_back({"duplicate column", duplicate, 5});
  Mat zero = gaussian(rng, 50, 6);
  zero.col(3).zeros();
  out.push_back({"zero column", zero, 5});
  Mat two = gaussian(rng, 50, 6);
  two.col(2).zeros();
  two.col(5) = two.col(0);
  out.push_back({"zero and duplicate columns", two, 4});
  return out;
}

}  // namespace

// svd: the minimum-norm solution and the numerical rank. The truth is built independently:
// the least-squares solution z on a basis B of the independent columns (A = B C exactly),
// then the minimum-norm w with C w = z, i.e. w = C^T (C C^T)^{-1} z.
BOOST_AUTO_TEST_CASE(svd_solves_rank_deficient_problems_with_minimum_norm) {
  std::mt19937_64 rng(42);
  for (const Deficient& m : deficient_matrices()) {
    BOOST_TEST_CONTEXT(m.what) {
      const Vec b = gaussian_vec(rng, m.A.n_rows);
      const DirectSolution solution = solve_least_squares(m.A, b, DirectMethod::svd);
      BOOST_TEST(solution.rank == m.rank);
      // Independent columns: greedily those that raise the rank of the basis (rank by QR with
      // a relative tolerance is not what is under test here: the structure is known).
      std::vector<arma::uword> basis;
      for (arma::uword j = 0; j < m.A.n_cols; ++j) {
        std::vector<arma::uword> trial = basis;
        trial.push_back(j);
        Mat candidate = m.A.cols(arma::uvec(trial));
        if (arma::norm(m.A.col(j)) == 0) continue;
        candidate.each_row() /= arma::sqrt(arma::sum(arma::square(candidate), 0));  // unit columns
        if (arma::rank(candidate, 1e-8) == trial.size()) basis = trial;
      }
      BOOST_TEST_REQUIRE(basis.size() == m.rank);
      const Mat B = m.A.cols(arma::uvec(basis));
      const Mat C = arma::solve(B, m.A);  // exact coefficients of every column in the basis
      const Vec z = arma::solve(B.t() * B, B.t() * b);
      const Vec expected = C.t() * arma::solve(C * C.t(), z);
      BOOST_TEST(relative(solution.w, expected) <= 1e-8, "|w - w_min| / |w_min| = " << relative(solution.w, expected));
    }
  }
}

// qr and cholesky cannot give a minimum-norm solution: they must refuse, naming the method
// and the rank deficiency, rather than return a w that depends on rounding noise.
BOOST_AUTO_TEST_CASE(qr_and_cholesky_refuse_rank_deficient_problems) {
  std::mt19937_64 rng(43);
  for (const Deficient& m : deficient_matrices()) {
    BOOST_TEST_CONTEXT(m.what) {
      const Vec b = gaussian_vec(rng, m.A.n_rows);
      require_throws_naming<NumericalError>(
          [&] { solve_least_squares(m.A, b, DirectMethod::qr); }, {"qr", "rank deficient"});
      require_throws_naming<NumericalError>([&] { solve_least_squares(m.A, b, DirectMethod::cholesky); },
                                            {"cholesky", "rank deficient"});
    }
  }
}

// The same through reference_solution, as kappa solve --reference uses it: a constant feature
// with an intercept is a zero column after centring.
BOOST_AUTO_TEST_CASE(constant_feature_with_intercept) {
  std::mt19937_64 rng(44);
  Mat X = gaussian(rng, 40, 5);
  X.col(2).fill(3.0);
  const Vec y = gaussian_vec(rng, 40);
  LossSpec spec;
  spec.intercept = true;
  const DirectSolution svd = reference_solution(X, y, spec, DirectMethod::svd);
  BOOST_TEST(svd.rank == 5u);  // 4 centred features + the intercept
  // Minimum norm: no weight (up to rounding) on a column that is zero after centring.
  BOOST_TEST(std::fabs(svd.w(2)) <= 1e-12 * arma::norm(svd.w));
  const Mat others = X.cols(arma::uvec{0, 1, 3, 4});
  const Vec fit = arma::solve(arma::join_rows(others, Vec(40, arma::fill::ones)), y);
  BOOST_TEST(relative(Vec(svd.w.elem(arma::uvec{0, 1, 3, 4, 5})), fit) <= 1e-10);
  for (const DirectMethod method : {DirectMethod::qr, DirectMethod::cholesky})
    require_throws_naming<NumericalError>([&] { reference_solution(X, y, spec, method); }, {to_string(method), "rank deficient"});
}
