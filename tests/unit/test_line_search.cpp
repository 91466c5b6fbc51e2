#define BOOST_TEST_MODULE line_search
#include <boost/test/unit_test.hpp>

// The core line searches (line_search.hpp), checked from outside: every step the strong Wolfe
// search accepts satisfies both strong Wolfe conditions, and every step backtracking accepts
// satisfies Armijo, recomputed here from the objective itself, on a badly scaled quadratic,
// Rosenbrock's function, a log-sum-exp and a huber regression, for a range of (c1, c2); and every
// step the ncg plugin takes in a whole run satisfies them too.

#include <cmath>
#include <functional>
#include <limits>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "kappa/error.hpp"
#include "kappa/line_search.hpp"
#include "kappa/monitor.hpp"
#include "core/loader/plugin_registry.hpp"
#include "core/problems/linear_model.hpp"
#include "core/experiment/run_monitor.hpp"
#include "test_support.hpp"

using kappa::Index;
using kappa::LineSearchResult;
using kappa::Mat;
using kappa::real;
using kappa::Vec;
using namespace kappa::test;

namespace {

constexpr real eps = std::numeric_limits<real>::epsilon();

// f and grad f given by a function: the objectives below are not linear models.
class FunctionProblem final : public kappa::Problem {
 public:
  using Function = std::function<real(const Vec&, Vec*)>;  // f(w), and grad f(w) when asked
  FunctionProblem(Index dim, Function function) : dim_(dim), function_(std::move(function)) {}

  Index dim() const override { return dim_; }
  Index num_samples() const override { return 1; }
  bool has_hessian() const override { return false; }
  bool is_quadratic() const override { return false; }
  bool has_curvature_bound() const override { return false; }
  // f and grad f straight from the function, not through the (counting) Problem interface.
  real value(const Vec& w, Vec* gradient = nullptr) const { return function_(w, gradient); }

 protected:
  real compute_loss(const Vec& w) const override { return function_(w, nullptr); }
  real compute_loss_grad(const Vec& w, Vec& gradient) const override { return function_(w, &gradient); }
  real compute_batch_loss_grad(const Vec& w, const kappa::IndexVec&, Vec& gradient) const override {
    return function_(w, &gradient);
  }
  void compute_hess_vec(const Vec&, const Vec&, Vec&) const override { throw kappa::NumericalError("no Hessian"); }
  void compute_curvature_bound_vec(const Vec&, Vec&) const override { throw kappa::NumericalError("no bound"); }

 private:
  Index dim_;
  Function function_;
};

// f(w) = 1/2 sum_i lambda_i w_i^2 - b.w with lambda_i from 1 to 1e6 (geometric): a quadratic
// whose curvature differs by 1e6 between coordinates.
FunctionProblem badly_scaled_quadratic(Index d) {
  const Vec lambda = arma::logspace<Vec>(0, 6, d);
  const Vec b = arma::linspace<Vec>(1, 2, d);
  return FunctionProblem(d, [lambda, b](const Vec& w, Vec* g) {
    if (g) *g = lambda % w - b;
    return 0.5 * arma::dot(lambda % w, w) - arma::dot(b, w);
  });
}

// The extended Rosenbrock function (Nocedal & Wright eq. 9.2 for d = 2): sum over pairs of
// 100 (w_{2i+1} - w_{2i}^2)^2 + (1 - w_{2i})^2; non-convex, with a curved valley.
FunctionProblem rosenbrock(Index d) {
  return FunctionProblem(d, [](const Vec& w, Vec* g) {
    real f = 0;
    if (g) g->zeros(w.n_elem);
    for (Index i = 0; i + 1 < w.n_elem; i += 2) {
      const real valley = w(i + 1) - w(i) * w(i);
      const real offset = 1 - w(i);
      f += 100 * valley * valley + offset * offset;
      if (g) {
        (*g)(i) = -400 * w(i) * valley - 2 * offset;
        (*g)(i + 1) = 200 * valley;
      }
    }
    return f;
  });
}

// log(sum_j exp(a_j.w)) + |w|^2 / 2 over 30 Gaussian a_j: smooth, strongly convex, not
// quadratic, with curvature varying strongly along a line.
FunctionProblem log_sum_exp(std::mt19937_64& rng, Index d) {
  const Mat A = 2 * gaussian(rng, 30, d);
  return FunctionProblem(d, [A](const Vec& w, Vec* g) {
    const Vec z = A * w;
    const real top = z.max();
    const Vec e = arma::exp(z - top);
    const real total = arma::accu(e);
    if (g) *g = A.t() * (e / total) + w;
    return top + std::log(total) + 0.5 * arma::dot(w, w);
  });
}

// A huber regression as kappa defines it (problem.hpp), written out here: mean of rho(a_i.w - y_i)
// with rho(r) = r^2/2 for |r| <= delta, delta (|r| - delta/2) beyond. Its second derivative jumps.
FunctionProblem huber_regression(std::mt19937_64& rng, Index n, Index d, real delta) {
  const Mat A = gaussian(rng, n, d);
  const Vec y = 3 * gaussian_vec(rng, n);
  return FunctionProblem(d, [A, y, delta](const Vec& w, Vec* g) {
    const Vec r = A * w - y;
    real f = 0;
    Vec derivative(r.n_elem);
    for (Index i = 0; i < r.n_elem; ++i) {
      const real a = std::fabs(r(i));
      f += a <= delta ? 0.5 * r(i) * r(i) : delta * (a - 0.5 * delta);
      derivative(i) = a <= delta ? r(i) : (r(i) > 0 ? delta : -delta);
    }
    const real n_real = static_cast<real>(r.n_elem);
    if (g) *g = A.t() * derivative / n_real;
    return f / n_real;
  });
}

struct Constants {
  real c1;
  real c2;
};

// From N&W's textbook values (c1 = 1e-4 with c2 = 0.9 for quasi-Newton, 0.1 for CG) to tight and
// nearly equal pairs.
const std::vector<Constants> constant_pairs = {{1e-4, 0.9}, {1e-4, 0.1}, {1e-3, 0.01}, {0.1, 0.5}, {0.3, 0.35}};

// Checks the strong Wolfe conditions of a step s = t d from w, with f and grad f recomputed by
// the function itself. The slack is rounding only: a few ulps of f(w), and a relative 1e-12 on
// the curvature test. The searches replace Armijo by Hager & Zhang's derivative form only when
// both |f(w + s) - f(w)| and |g.s| are within 1e-10 |f(w)| (line_search.hpp); the starting
// points here are far from the minimizers, so such steps would show as failures of `armijo`.
void check_strong_wolfe_step(const FunctionProblem& problem, const Vec& w, const Vec& s, real c1, real c2,
                             bool allow_rounding_level = false) {
  Vec g0, g;
  const real f0 = problem.value(w, &g0);
  const real f = problem.value(w + s, &g);
  const real slope0 = arma::dot(g0, s);
  const real slope = arma::dot(g, s);
  BOOST_TEST(slope0 < 0, "not a descent step: g.s = " << slope0);
  const bool armijo = f <= f0 + c1 * slope0 + 4 * eps * std::fabs(f0);
  const bool rounding_level = std::fabs(f - f0) <= 1e-10 * std::fabs(f0) && std::fabs(slope0) <= 1e-10 * std::fabs(f0);
  const bool approximate = rounding_level && f <= f0 + 1e-10 * std::fabs(f0) && slope <= (1 - 2 * c1) * std::fabs(slope0);
  BOOST_TEST((armijo || (allow_rounding_level && approximate)),
             "sufficient decrease: f - f0 = " << f - f0 << " > c1 g.s = " << c1 * slope0);
  BOOST_TEST(std::fabs(slope) <= c2 * std::fabs(slope0) * (1 + 1e-12),
             "strong curvature: |g(w+s).s| = " << std::fabs(slope) << " > c2 |g.s| = " << c2 * std::fabs(slope0));
}

// Starting points and directions for one objective: steepest descent and two random descent
// directions, from initial steps 1e-6 to 1e4 (too short, about right, far too long).
template <class Check>
int for_each_search(std::mt19937_64& rng, const FunctionProblem& problem, const std::vector<Vec>& starts, Check check) {
  int searches = 0;
  for (const Vec& w : starts) {
    Vec g;
    const real f = problem.loss_grad(w, g);
    std::vector<Vec> directions = {-g};
    for (int i = 0; i < 2; ++i) {
      Vec d = gaussian_vec(rng, w.n_elem);
      directions.push_back(arma::dot(d, g) < 0 ? d : Vec(-d));
    }
    for (const Vec& d : directions) {
      for (const real t0 : {1e-6, 1e-2, 1.0, 1e2, 1e4}) {
        check(w, f, g, d, t0);
        ++searches;
      }
    }
  }
  return searches;
}

struct Objective {
  std::string name;
  FunctionProblem problem;
  std::vector<Vec> starts;
};

std::vector<Objective> objectives(std::mt19937_64& rng) {
  std::vector<Objective> out;
  out.push_back({"badly scaled quadratic", badly_scaled_quadratic(10),
                 {Vec(10, arma::fill::zeros), arma::linspace<Vec>(-1, 1, 10)}});
  out.push_back({"rosenbrock", rosenbrock(2), {Vec{-1.2, 1.0}, Vec{0.5, -0.5}, Vec{2.0, 2.0}}});
  out.push_back({"extended rosenbrock", rosenbrock(8), {Vec(8, arma::fill::value(-1.0)), gaussian_vec(rng, 8)}});
  out.push_back({"log-sum-exp", log_sum_exp(rng, 6), {Vec(6, arma::fill::zeros), 3 * gaussian_vec(rng, 6)}});
  out.push_back({"huber", huber_regression(rng, 80, 5, 0.5), {Vec(5, arma::fill::zeros), 2 * gaussian_vec(rng, 5)}});
  return out;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(strong_wolfe)

BOOST_AUTO_TEST_CASE(every_accepted_step_satisfies_both_conditions) {
  std::mt19937_64 rng(31415);
  int searches = 0;
  for (const Objective& objective : objectives(rng)) {
    for (const Constants& k : constant_pairs) {
      BOOST_TEST_CONTEXT(objective.name << ", c1 = " << k.c1 << ", c2 = " << k.c2) {
        searches += for_each_search(rng, objective.problem, objective.starts,
                                    [&](const Vec& w, real f, const Vec& g, const Vec& d, real t0) {
                                      const LineSearchResult r = kappa::strong_wolfe_line_search(
                                          objective.problem, w, f, g, d, t0, k.c1, k.c2, 60);
                                      BOOST_TEST_CONTEXT("t0 = " << t0) {
                                        BOOST_TEST_REQUIRE(r.success, r.message);
                                        BOOST_TEST(r.step > 0);
                                        // What the search returns is what it claims to be.
                                        BOOST_TEST(arma::approx_equal(r.w, w + r.step * d, "absdiff", 0.0));
                                        BOOST_TEST(r.loss == objective.problem.value(r.w));
                                        check_strong_wolfe_step(objective.problem, w, r.step * d, k.c1, k.c2);
                                      }
                                    });
      }
    }
  }
  BOOST_TEST(searches == 11 * 15 * 5);  // 2 + 3 + 2 + 2 + 2 starts, 15 searches each, 5 (c1, c2) pairs
}

// On the quadratic the strong curvature condition is |t - t*| <= c2 t* with t* the exact line
// minimizer -g.d / d^T diag(lambda) d, whatever the initial step: checked against t* directly.
BOOST_AUTO_TEST_CASE(quadratic_steps_lie_within_c2_of_the_exact_minimizer) {
  const Index d = 10;
  const FunctionProblem problem = badly_scaled_quadratic(d);
  const Vec lambda = arma::logspace<Vec>(0, 6, d);
  const Vec w = arma::linspace<Vec>(-1, 1, d);
  Vec g;
  const real f = problem.loss_grad(w, g);
  const Vec direction = -g;
  const real exact = arma::dot(g, g) / arma::dot(lambda % g, g);
  for (const Constants& k : constant_pairs) {
    for (const real t0 : {1e-9, 1e-6, 1e-3, 1.0}) {
      const LineSearchResult r = kappa::strong_wolfe_line_search(problem, w, f, g, direction, t0, k.c1, k.c2, 60);
      BOOST_TEST_CONTEXT("c2 = " << k.c2 << ", t0 = " << t0) {
        BOOST_TEST_REQUIRE(r.success, r.message);
        BOOST_TEST(std::fabs(r.step - exact) <= k.c2 * exact * (1 + 1e-9));
      }
    }
  }
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(backtracking)

// Armijo holds at every accepted step, and the step is the first acceptable one of t0, t0/2, ...
// (the step twice as long, tried before it, violates Armijo).
BOOST_AUTO_TEST_CASE(every_accepted_step_satisfies_armijo) {
  std::mt19937_64 rng(2718);
  for (const Objective& objective : objectives(rng)) {
    for (const real c1 : {1e-4, 0.1, 0.5, 0.9}) {
      BOOST_TEST_CONTEXT(objective.name << ", c1 = " << c1) {
        for_each_search(rng, objective.problem, objective.starts, [&](const Vec& w, real f, const Vec& g, const Vec& d, real t0) {
          const LineSearchResult r = kappa::backtracking_line_search(objective.problem, w, f, g, d, t0, c1, 80);
          BOOST_TEST_CONTEXT("t0 = " << t0) {
            BOOST_TEST_REQUIRE(r.success, r.message);
            const real halvings = std::log2(t0 / r.step);
            BOOST_TEST(halvings == std::round(halvings));
            const real f_new = objective.problem.value(w + r.step * d);
            BOOST_TEST(f_new == r.loss);
            BOOST_TEST(f_new <= f + c1 * r.step * arma::dot(g, d) + 4 * eps * std::fabs(f));
            if (r.step < t0) {
              const real longer = objective.problem.value(w + 2 * r.step * d);
              BOOST_TEST(!(longer <= f + c1 * 2 * r.step * arma::dot(g, d)), "the longer step " << 2 * r.step << " was acceptable");
            }
          }
        });
      }
    }
  }
}

BOOST_AUTO_TEST_SUITE_END()

// ------------------------------------------------------------------ inside a whole optimizer run

namespace {

// Runs the ncg plugin and returns every iterate w_0, w_1, ...: the monitor records every
// iteration as a trace point (trace_points_per_decade so large that the geometric spacing is
// one) and hands each w to the error function, which keeps it.
std::vector<Vec> ncg_iterates(const kappa::Problem& problem, const Vec& start, const kappa::RawParams& params,
                              real grad_tol, kappa::Status& status) {
  kappa::PluginRegistry registry;
  registry.load_directories({KAPPA_TEST_PLUGIN_DIR});
  kappa::RunControls controls;
  controls.max_iterations = 5000;
  controls.grad_tol = grad_tol;
  controls.trace_points_per_decade = 1000000000;
  std::vector<Vec> iterates;
  kappa::RunMonitor monitor(
      controls,
      [&](const Vec& w) {
        iterates.push_back(w);
        return 0.0;
      },
      [&] { return problem.data_passes(); });
  Vec w = start;
  registry.create("ncg", params)->minimize(problem, w, monitor);
  monitor.close(w);
  status = monitor.status();
  return iterates;
}

}  // namespace

// The strong Wolfe conditions are invariant under rescaling d and t with t d fixed, so each step
// s = w_{k+1} - w_k of a run can be checked with t = 1 without knowing the plugin's directions.
// Runs stop at grad_tol = 1e-8, before the steps reach the rounding level of f (where the search
// may use Hager & Zhang's derivative form instead of Armijo, as line_search.hpp documents).
BOOST_AUTO_TEST_CASE(every_ncg_step_satisfies_both_conditions) {
  std::mt19937_64 rng(1618);
  for (Objective& objective : objectives(rng)) {
    for (const std::string beta : {"fletcher-reeves", "polak-ribiere-plus"}) {
      for (const Constants& k : {Constants{1e-4, 0.1}, Constants{1e-4, 0.45}, Constants{0.01, 0.02}}) {
        BOOST_TEST_CONTEXT(objective.name << ", " << beta << ", c1 = " << k.c1 << ", c2 = " << k.c2) {
          kappa::Status status = kappa::Status::failed;
          const std::vector<Vec> iterates =
              ncg_iterates(objective.problem, objective.starts.back(),
                           {{"beta", beta}, {"c1", std::to_string(k.c1)}, {"c2", std::to_string(k.c2)}}, 1e-8, status);
          BOOST_TEST(status == kappa::Status::converged_gradient);
          BOOST_TEST(iterates.size() >= 2u);
          // The last trace point repeats the stopping iterate when close() re-records it.
          for (std::size_t i = 0; i + 1 < iterates.size(); ++i) {
            if (arma::approx_equal(iterates[i], iterates[i + 1], "absdiff", 0.0)) continue;
            BOOST_TEST_CONTEXT("step " << i + 1) {
              check_strong_wolfe_step(objective.problem, iterates[i], iterates[i + 1] - iterates[i], k.c1, k.c2, true);
            }
          }
        }
      }
    }
  }
}
