#define BOOST_TEST_MODULE lbfgs
#include "core/experiment/run_monitor.hpp"
#include "core/experiment/framework_access.hpp"
#include <boost/test/unit_test.hpp>

#include <cmath>
#include <functional>
#include <limits>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "kappa/error.hpp"
#include "core/experiment/experiment.hpp"
#include "kappa/line_search.hpp"
#include "kappa/monitor.hpp"
#include "core/loader/plugin_registry.hpp"
#include "core/problems/linear_model.hpp"
#include "core/data/synthetic.hpp"
#include "test_support.hpp"

using kappa::Index;
using kappa::LinearModelProblem;
using kappa::LineSearchResult;
using kappa::LossKind;
using kappa::LossSpec;
using kappa::Mat;
using kappa::real;
using kappa::Vec;
using namespace kappa::test;  // test_support.hpp

namespace {

constexpr real eps = std::numeric_limits<real>::epsilon();

// n x d Gaussian features with columns scaled from 1 down to 1/sqrt(condition), so that the
// Hessian of the l2 loss has a condition number of roughly `condition`.
LinearModelProblem random_problem(std::mt19937_64& rng, Index n, Index d, const LossSpec& spec, real condition) {
  Mat X = gaussian(rng, n, d);
  const Vec scales = arma::logspace<Vec>(0, -0.5 * std::log10(condition), d);
  X.each_row() %= scales.t();
  return LinearModelProblem(X, gaussian_vec(rng, n), spec);
}

LossSpec l2() { return LossSpec{}; }
LossSpec huber() {
  LossSpec spec;
  spec.kind = LossKind::huber;
  spec.huber_delta = 0.5;
  spec.ridge = 1e-3;
  spec.intercept = true;
  return spec;
}

// A random descent direction: a Gaussian vector, its sign flipped to make g.d < 0.
Vec random_descent(std::mt19937_64& rng, const Vec& gradient) {
  Vec d = gaussian_vec(rng, gradient.n_elem);
  return arma::dot(gradient, d) < 0 ? d : Vec(-d);
}

// The rounding allowance of the searches' approximate sufficient-decrease test (line_search.hpp).
constexpr real rounding_allowance = 1e-10;

// Sufficient decrease as documented in line_search.hpp: Armijo, f(w + t d) <= f(w) + c1 t g.d
// (with a slack for the rounding of the comparison), or Hager & Zhang's approximate form,
// f(w + t d) <= f(w) + 1e-10 |f(w)| and grad f(w + t d).d <= (1 - 2 c1) |g.d|. Whenever the loss
// decrease is well above the rounding level (more than the allowance), only the exact Armijo
// condition is accepted.
void check_sufficient_decrease(real f0, real slope0, real t, real f, real slope, real c1) {
  const bool armijo = f <= f0 + c1 * t * slope0 + 4 * eps * std::fabs(f0);
  const bool approximate = f <= f0 + rounding_allowance * std::fabs(f0) && slope <= (1 - 2 * c1) * std::fabs(slope0);
  BOOST_TEST((armijo || approximate), "f - f0 = " << f - f0 << ", c1 t g.d = " << c1 * t * slope0
                                                  << ", phi'(t) / |phi'(0)| = " << slope / std::fabs(slope0));
  if (f0 - f > rounding_allowance * std::fabs(f0)) BOOST_TEST(armijo, "f - f0 = " << f - f0);
}

// Recomputes f and grad f at the returned point independently of the line search and checks
// the strong Wolfe conditions, sufficient decrease in the form above. The slack covers only
// rounding (the search compared the same floating-point quantities).
void check_strong_wolfe(const kappa::Problem& problem, const Vec& w, const Vec& d, const LineSearchResult& r,
                        real c1, real c2) {
  BOOST_REQUIRE_MESSAGE(r.success, "line search failed: " << r.message);
  BOOST_TEST(r.message.empty());
  BOOST_TEST(r.step > 0);
  Vec g0;
  const real f0 = problem.loss_grad(w, g0);
  const real slope0 = arma::dot(g0, d);
  const Vec point = w + r.step * d;
  BOOST_TEST(arma::approx_equal(r.w, point, "absdiff", 0.0));
  Vec g;
  const real f = problem.loss_grad(point, g);
  BOOST_TEST(f == r.loss);
  BOOST_TEST(arma::approx_equal(r.gradient, g, "absdiff", 0.0));
  check_sufficient_decrease(f0, slope0, r.step, f, arma::dot(g, d), c1);
  BOOST_TEST(std::fabs(arma::dot(g, d)) <= c2 * std::fabs(slope0) * (1 + 1e-12));
}

// Checks sufficient decrease (as above), and that the accepted step is the first acceptable
// one of the sequence t0, t0/2, ...: the step twice as long (tried before) violates it.
void check_backtracking(const kappa::Problem& problem, const Vec& w, const Vec& d, real t0, const LineSearchResult& r,
                        real c1) {
  BOOST_REQUIRE_MESSAGE(r.success, "line search failed: " << r.message);
  Vec g0;
  const real f0 = problem.loss_grad(w, g0);
  const real slope0 = arma::dot(g0, d);
  const real halvings = std::log2(t0 / r.step);
  BOOST_TEST(halvings == std::round(halvings));
  BOOST_TEST(r.evaluations == static_cast<int>(std::round(halvings)) + 1);
  Vec g;
  const real f = problem.loss_grad(w + r.step * d, g);
  BOOST_TEST(f == r.loss);
  check_sufficient_decrease(f0, slope0, r.step, f, arma::dot(g, d), c1);
  if (r.step < t0) {
    const real longer = problem.loss_grad(w + 2 * r.step * d, g);
    const bool armijo = longer <= f0 + c1 * 2 * r.step * slope0;
    const bool approximate = longer <= f0 + rounding_allowance * std::fabs(f0) &&
                             arma::dot(g, d) <= (1 - 2 * c1) * std::fabs(slope0);
    if (std::fabs(longer - f0) > rounding_allowance * std::fabs(f0)) {
      BOOST_TEST(!armijo);
    } else {
      BOOST_TEST(!(armijo && approximate));
    }
  }
}

// A point of an l2 problem so close to the least-squares solution w* that f(w) - f(w*) is far
// below the rounding error of f (f(w*) > 0: the targets are not fitted exactly), while the
// gradient, (2/n) A^T r with |r| = O(1), is still computed to about 7 digits.
Vec rounding_floor_point(std::mt19937_64& rng, const LinearModelProblem& problem, real distance = 1e-9) {
  const Vec solution = arma::solve(problem.design(), problem.targets());
  const Vec offset = gaussian_vec(rng, problem.dim());
  return solution + distance * arma::norm(solution) / arma::norm(offset) * offset;
}

// The Newton direction of an l2 problem at a point with gradient g: -H^{-1} g, H = (2/n) A^T A.
Vec newton_direction(const LinearModelProblem& problem, const Vec& g) {
  return -arma::solve(problem.design().t() * problem.design(), g * (problem.num_samples() / 2.0));
}

enum class Start { random, rounding_floor };

// The set-up of most line-search tests: a random problem (as random_problem), then a point w on
// it drawn after the problem from the same rng (a Gaussian vector, or a rounding_floor_point),
// and f = f(w), g = grad f(w) from one loss_grad.
struct StartingPoint {
  StartingPoint(std::mt19937_64& rng, Index n, Index d, const LossSpec& spec, real condition,
                Start start = Start::random)
      : problem(random_problem(rng, n, d, spec, condition)),
        w(start == Start::random ? gaussian_vec(rng, problem.dim()) : rounding_floor_point(rng, problem)) {
    f = problem.loss_grad(w, g);
  }
  LinearModelProblem problem;
  Vec w;
  Vec g;
  real f = 0;
};

// A problem given by a function computing f and grad f, for shapes a linear model cannot take.
class FunctionProblem final : public kappa::Problem {
 public:
  using Function = std::function<real(const Vec&, Vec&)>;
  FunctionProblem(Index dim, Function function) : dim_(dim), function_(std::move(function)) {}

  Index dim() const override { return dim_; }
  Index num_samples() const override { return 1; }
  bool has_hessian() const override { return false; }
  bool is_quadratic() const override { return false; }
  bool has_curvature_bound() const override { return false; }
  void compute_curvature_bound_vec(const Vec&, Vec&) const override { throw kappa::NumericalError("no curvature bound"); }

 protected:
  real compute_loss(const Vec& w) const override {
    Vec unused;
    return function_(w, unused);
  }
  real compute_loss_grad(const Vec& w, Vec& gradient) const override { return function_(w, gradient); }
  real compute_batch_loss_grad(const Vec& w, const kappa::IndexVec&, Vec& gradient) const override {
    return function_(w, gradient);
  }
  void compute_hess_vec(const Vec&, const Vec&, Vec&) const override { throw kappa::NumericalError("no Hessian"); }

 private:
  Index dim_;
  Function function_;
};

}  // namespace

BOOST_AUTO_TEST_SUITE(strong_wolfe)

// Both strong Wolfe conditions hold at every accepted step: quadratic (l2) problems of
// increasing condition number and a non-quadratic one (huber with intercept and ridge), along
// steepest descent and random descent directions, from initial steps far too short to far too
// long, for a loose and a tight curvature constant.
BOOST_AUTO_TEST_CASE(accepted_steps_satisfy_both_conditions) {
  std::mt19937_64 rng(20240611);
  const std::vector<real> conditions = {1.0, 1e3, 1e6};
  int searches = 0;
  for (const LossSpec& spec : {l2(), huber()}) {
    for (const real condition : conditions) {
      const auto& [problem, w, g, f] = StartingPoint(rng, 60, 8, spec, condition);
      for (const Vec& d : {Vec(-g), random_descent(rng, g), random_descent(rng, g)}) {
        for (const real t0 : {1e-6, 1e-2, 1.0, 1e2, 1e6}) {
          for (const real c2 : {0.9, 0.1}) {
            BOOST_TEST_CONTEXT("loss " << kappa::to_string(spec.kind) << ", condition " << condition << ", t0 " << t0
                                       << ", c2 " << c2) {
              const LineSearchResult r = kappa::strong_wolfe_line_search(problem, w, f, g, d, t0, 1e-4, c2, 60);
              check_strong_wolfe(problem, w, d, r, 1e-4, c2);
              ++searches;
            }
          }
        }
      }
    }
  }
  BOOST_TEST(searches == 2 * 3 * 3 * 5 * 2);
}

// On a quadratic, phi(t) = f(w + t d) has phi'(t) = phi'(0) (1 - t / t*) with
// t* = -g.d / (d^T H d), so the strong curvature condition |phi'(t)| <= c2 |phi'(0)| reads
// exactly |t - t*| <= c2 t*: ANY accepted step lies within relative distance c2 of the exact
// line minimizer, whatever the initial step. With c2 = 0.01 that is 1%. Moreover the cubic
// interpolant of a quadratic is the quadratic itself, so when a bracket or extrapolation
// yields the cubic minimizer unclamped (t0 = 3 t* bracket [0, 3t*]; t0 = t*/10 extrapolates
// to t*/2, then to t*), the step is t* up to rounding.
BOOST_AUTO_TEST_CASE(quadratic_step_matches_exact_minimizer) {
  std::mt19937_64 rng(7);
  const real c2 = 0.01;
  for (const real condition : {1.0, 1e4}) {
    const auto& [problem, w, g, f] = StartingPoint(rng, 80, 10, l2(), condition);
    for (const Vec& d : {Vec(-g), random_descent(rng, g)}) {
      Vec Hd;
      problem.hess_vec(w, d, Hd);
      const real t_star = -arma::dot(g, d) / arma::dot(d, Hd);
      for (const real ratio : {1e-4, 0.1, 0.5, 3.0, 100.0, 1e4}) {
        BOOST_TEST_CONTEXT("condition " << condition << ", t0 = " << ratio << " t*") {
          const LineSearchResult r = kappa::strong_wolfe_line_search(problem, w, f, g, d, ratio * t_star, 1e-4, c2);
          check_strong_wolfe(problem, w, d, r, 1e-4, c2);
          BOOST_TEST(std::fabs(r.step - t_star) <= c2 * t_star * (1 + 1e-9));
          if (ratio == 0.1 || ratio == 3.0) BOOST_TEST(std::fabs(r.step - t_star) <= 1e-8 * t_star);
        }
      }
    }
  }
}

// At the rounding floor every trial loss equals f(w) up to a few ulps, so Armijo and the loss
// comparisons of Alg. 3.5/3.6 return noise; before the approximate-Wolfe treatment of the
// bracket, a one-ulp difference could leave a bracket with phi' > 0 at both ends, which then
// shrank to "interval too small". The derivatives are still accurate, so the search must
// succeed and, on a quadratic, still return a step within c2 t* of the exact minimizer t*
// (see quadratic_step_matches_exact_minimizer), whatever the initial step. Along the Newton
// direction t* = 1: the L-BFGS situation near convergence.
BOOST_AUTO_TEST_CASE(rounding_floor_uses_the_derivatives) {
  std::mt19937_64 rng(17);
  int searches = 0;
  for (const real condition : {1.0, 1e4}) {
    const auto& [problem, w, g, f] = StartingPoint(rng, 80, 10, l2(), condition, Start::rounding_floor);
    const Vec newton = newton_direction(problem, g);
    for (const Vec& d : {newton, Vec(-g), random_descent(rng, g)}) {
      Vec Hd;
      problem.hess_vec(w, d, Hd);
      const real t_star = -arma::dot(g, d) / arma::dot(d, Hd);
      // The loss cannot tell the minimizer along d from the start point: the whole decrease is
      // at the rounding level.
      BOOST_TEST(std::fabs(problem.loss(w + t_star * d) - f) <= 16 * eps * f);
      for (const real ratio : {1e-3, 0.3, 1.0, 1.7, 3.0, 1e3}) {
        for (const real c2 : {0.9, 0.1}) {
          BOOST_TEST_CONTEXT("condition " << condition << ", t0 = " << ratio << " t*, c2 " << c2) {
            const LineSearchResult r = kappa::strong_wolfe_line_search(problem, w, f, g, d, ratio * t_star, 1e-4, c2);
            check_strong_wolfe(problem, w, d, r, 1e-4, c2);
            BOOST_TEST(std::fabs(r.step - t_star) <= c2 * t_star * (1 + 1e-6));
            ++searches;
          }
        }
      }
    }
  }
  BOOST_TEST(searches == 2 * 3 * 6 * 2);
}

// The function evaluation count is the problem's own work counter (one pass per loss_grad).
BOOST_AUTO_TEST_CASE(evaluations_match_the_problem_work_counter) {
  std::mt19937_64 rng(11);
  const auto& [problem, w, g, f] = StartingPoint(rng, 40, 5, l2(), 100.0);
  kappa::detail::FrameworkAccess::reset_counters(problem);
  const LineSearchResult r = kappa::strong_wolfe_line_search(problem, w, f, g, -g, 1e4);
  BOOST_REQUIRE(r.success);
  BOOST_TEST(r.evaluations > 1);
  BOOST_TEST(problem.data_passes() == static_cast<double>(r.evaluations));
}

// A trial step where the loss overflows (here: f = inf outside |w_i| <= 10) is shrunk towards
// the finite end of the bracket until a strong Wolfe step is found.
BOOST_AUTO_TEST_CASE(non_finite_loss_shrinks_the_step) {
  const FunctionProblem problem(3, [](const Vec& w, Vec& gradient) {
    gradient = 2 * (w - 5.0);
    if (arma::abs(w).max() > 10) return std::numeric_limits<real>::infinity();
    return arma::dot(w - 5.0, w - 5.0);
  });
  const Vec w(3, arma::fill::zeros);
  Vec g;
  const real f = problem.loss_grad(w, g);
  const Vec d = -g;  // 10 per coordinate: t* = 0.5, loss infinite beyond t = 1
  const LineSearchResult r = kappa::strong_wolfe_line_search(problem, w, f, g, d, 1e6);
  check_strong_wolfe(problem, w, d, r, 1e-4, 0.9);
  BOOST_TEST(r.evaluations <= 12);
}

// phi(t) = |t - 1/3| with derivative -1 left of the kink and +1 from it on: no step satisfies
// the curvature condition, the bracket closes in on the kink and the search gives up once it
// is narrower than machine precision, returning the starting point.
BOOST_AUTO_TEST_CASE(interval_too_small) {
  const real kink = 1.0 / 3.0;
  const FunctionProblem problem(1, [kink](const Vec& w, Vec& gradient) {
    gradient = Vec{w(0) >= kink ? 1.0 : -1.0};
    return std::fabs(w(0) - kink);
  });
  const Vec w{0.0};
  Vec g;
  const real f = problem.loss_grad(w, g);
  const LineSearchResult r = kappa::strong_wolfe_line_search(problem, w, f, g, Vec{1.0}, 1.0, 1e-4, 0.9, 10000);
  BOOST_TEST(!r.success);
  BOOST_TEST(r.message == "line search: interval too small");
  BOOST_TEST(r.evaluations < 10000);
  BOOST_TEST(r.step == 0);
  BOOST_TEST(r.loss == f);
  BOOST_TEST(arma::approx_equal(r.w, w, "absdiff", 0.0));
}

BOOST_AUTO_TEST_CASE(max_evaluations) {
  std::mt19937_64 rng(3);
  const auto& [problem, w, g, f] = StartingPoint(rng, 30, 4, l2(), 10.0);
  const LineSearchResult r = kappa::strong_wolfe_line_search(problem, w, f, g, -g, 1e12, 1e-4, 0.9, 2);
  BOOST_TEST(!r.success);
  BOOST_TEST(r.evaluations == 2);
  BOOST_TEST(r.message.find("in 2 evaluations") != std::string::npos, r.message);
  BOOST_TEST(r.loss == f);
  BOOST_TEST(arma::approx_equal(r.w, w, "absdiff", 0.0));
}

BOOST_AUTO_TEST_CASE(bad_constants_are_refused) {
  std::mt19937_64 rng(5);
  const auto& [problem, w, g, f] = StartingPoint(rng, 30, 4, l2(), 10.0);
  for (const auto& [c1, c2] : std::vector<std::pair<real, real>>{{0.5, 0.5}, {0.9, 0.1}, {1e-4, 1.0}, {0.0, 0.9}}) {
    const LineSearchResult r = kappa::strong_wolfe_line_search(problem, w, f, g, -g, 1.0, c1, c2);
    BOOST_TEST(!r.success);
    BOOST_TEST(r.evaluations == 0);
    BOOST_TEST(r.message.rfind("line search: ", 0) == 0, r.message);
  }
  for (const real t0 : {0.0, -1.0, std::numeric_limits<real>::infinity()}) {
    BOOST_TEST(!kappa::strong_wolfe_line_search(problem, w, f, g, -g, t0).success);
    BOOST_TEST(!kappa::backtracking_line_search(problem, w, f, g, -g, t0).success);
  }
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(backtracking)

BOOST_AUTO_TEST_CASE(accepted_steps_satisfy_armijo) {
  std::mt19937_64 rng(99);
  int searches = 0;
  for (const LossSpec& spec : {l2(), huber()}) {
    for (const real condition : {1.0, 1e5}) {
      const auto& [problem, w, g, f] = StartingPoint(rng, 50, 6, spec, condition);
      for (const Vec& d : {Vec(-g), random_descent(rng, g)}) {
        for (const real t0 : {1e-3, 1.0, 1e3}) {
          for (const real c1 : {1e-4, 0.5}) {
            BOOST_TEST_CONTEXT("loss " << kappa::to_string(spec.kind) << ", condition " << condition << ", t0 " << t0
                                       << ", c1 " << c1) {
              const LineSearchResult r = kappa::backtracking_line_search(problem, w, f, g, d, t0, c1, 60);
              check_backtracking(problem, w, d, t0, r, c1);
              ++searches;
            }
          }
        }
      }
    }
  }
  BOOST_TEST(searches == 2 * 2 * 2 * 3 * 2);
}

// At the rounding floor the Armijo test is noise (it accepts or refuses the same step at
// random), and a run of L-BFGS with backtracking used to creep on with steps halved many
// times. The derivative form of sufficient decrease is exact on a quadratic: along the Newton
// direction (t* = 1), from t0 = 8 the steps 8, 4, 2 overshoot (phi'(t) >= |phi'(0)|) and t = 1
// is accepted, as in exact arithmetic.
BOOST_AUTO_TEST_CASE(rounding_floor_uses_the_derivatives) {
  std::mt19937_64 rng(23);
  for (const real condition : {1.0, 1e4}) {
    const auto& [problem, w, g, f] = StartingPoint(rng, 80, 10, l2(), condition, Start::rounding_floor);
    const Vec newton = newton_direction(problem, g);
    for (const real t0 : {1.0, 8.0}) {
      BOOST_TEST_CONTEXT("condition " << condition << ", t0 " << t0) {
        const LineSearchResult r = kappa::backtracking_line_search(problem, w, f, g, newton, t0);
        check_backtracking(problem, w, newton, t0, r, 1e-4);
        BOOST_TEST(r.step == 1.0);
      }
    }
    for (const Vec& d : {Vec(-g), random_descent(rng, g)}) {
      Vec Hd;
      problem.hess_vec(w, d, Hd);
      const real t_star = -arma::dot(g, d) / arma::dot(d, Hd);
      BOOST_TEST_CONTEXT("condition " << condition << ", t0 = 1000 t*") {
        const LineSearchResult r = kappa::backtracking_line_search(problem, w, f, g, d, 1e3 * t_star);
        check_backtracking(problem, w, d, 1e3 * t_star, r, 1e-4);
        // Halving stops at the first step below 2 (1 - c1) t*, where phi'(t) <= (1 - 2 c1) |phi'(0)|.
        BOOST_TEST(r.step > (1 - 1e-4) * t_star);
        BOOST_TEST(r.step <= 2 * (1 - 1e-4) * t_star * (1 + 1e-6));
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(gives_up_after_max_evaluations) {
  std::mt19937_64 rng(4);
  const auto& [problem, w, g, f] = StartingPoint(rng, 30, 4, l2(), 10.0);
  const LineSearchResult r = kappa::backtracking_line_search(problem, w, f, g, -g, 1e12, 1e-4, 3);
  BOOST_TEST(!r.success);
  BOOST_TEST(r.evaluations == 3);
  BOOST_TEST(r.message == "line search: no step satisfying sufficient decrease in 3 evaluations");
}

BOOST_AUTO_TEST_SUITE_END()

// An ascent direction, a zero direction and a NaN direction are refused before any evaluation,
// with a message, by both searches; the result describes the starting point.
BOOST_AUTO_TEST_CASE(non_descent_direction_is_refused) {
  std::mt19937_64 rng(13);
  const auto& [problem, w, g, f] = StartingPoint(rng, 30, 4, huber(), 10.0);
  Vec nan_direction = -g;
  nan_direction(0) = arma::datum::nan;
  const std::vector<std::pair<Vec, std::string>> cases = {
      {g, "not a descent direction"},
      {Vec(g.n_elem, arma::fill::zeros), "not a descent direction"},
      {nan_direction, "not finite"}};
  for (const auto& [d, expected] : cases) {
    for (const bool wolfe : {true, false}) {
      kappa::detail::FrameworkAccess::reset_counters(problem);
      const LineSearchResult r = wolfe ? kappa::strong_wolfe_line_search(problem, w, f, g, d, 1.0)
                                       : kappa::backtracking_line_search(problem, w, f, g, d, 1.0);
      BOOST_TEST(!r.success);
      BOOST_TEST(r.message.find(expected) != std::string::npos, r.message);
      BOOST_TEST(r.evaluations == 0);
      BOOST_TEST(problem.data_passes() == 0.0);
      BOOST_TEST(r.step == 0);
      BOOST_TEST(r.loss == f);
      BOOST_TEST(arma::approx_equal(r.w, w, "absdiff", 0.0));
      BOOST_TEST(arma::approx_equal(r.gradient, g, "absdiff", 0.0));
    }
  }
}

// ---------------------------------------------------------------- the plugin, through the registry

namespace {

struct PluginRun {
  kappa::Status status;
  std::string message;
  long iterations;
  real relative_error;      // |w - w*| / |w*| at the end, w* the least-squares solution
  std::vector<Vec> iterates;  // w_0, w_1, ... when asked for (record_iterates)
};

void load_lbfgs(kappa::PluginRegistry& registry) {
  registry.load_file(std::string(KAPPA_TEST_PLUGIN_DIR) + "/libkappa_plugin_lbfgs.so");
}

// Runs the lbfgs plugin from w = 0 on the l2 problem. With record_iterates, the monitor traces
// every iteration and the run keeps each w_k (the monitor hands them to the error function).
PluginRun run_lbfgs(const kappa::RawParams& params, const LinearModelProblem& problem, long max_iterations,
                    real grad_tol, bool record_iterates = false) {
  kappa::PluginRegistry registry;
  load_lbfgs(registry);
  const auto optimizer = registry.create("lbfgs", params);
  const Vec reference = arma::solve(problem.design(), problem.targets());
  kappa::RunControls controls;
  controls.max_iterations = max_iterations;
  controls.grad_tol = grad_tol;
  if (record_iterates) controls.trace_points_per_decade = 1000000;  // every iteration up to ~4e5
  std::vector<Vec> iterates;
  kappa::RunMonitor monitor(
      controls,
      [&](const Vec& w) {
        if (record_iterates) iterates.push_back(w);
        return arma::norm(w - reference) / arma::norm(reference);
      },
      [&] { return problem.data_passes(); });
  Vec w(problem.dim(), arma::fill::zeros);
  optimizer->minimize(problem, w, monitor);
  return {monitor.status(), monitor.message(), monitor.iterations(), arma::norm(w - reference) / arma::norm(reference),
          std::move(iterates)};
}

// Iterates of a textbook L-BFGS (Nocedal & Wright Alg. 7.4/7.5, H_0 = gamma I with
// gamma = s^T y / y^T y of the newest pair), written independently of the plugin, with the
// exact line search of a quadratic, t = -g.d / d^T H d, from w = 0 along -g first.
std::vector<Vec> textbook_lbfgs_iterates(const LinearModelProblem& problem, std::size_t history, long iterations) {
  std::vector<Vec> iterates{Vec(problem.dim(), arma::fill::zeros)};
  std::vector<Vec> s_list, y_list;
  Vec g;
  problem.loss_grad(iterates.back(), g);
  for (long k = 0; k < iterations; ++k) {
    Vec q = g;
    const std::size_t m = s_list.size();
    std::vector<real> a(m);
    for (std::size_t i = m; i-- > 0;) {
      a[i] = arma::dot(s_list[i], q) / arma::dot(y_list[i], s_list[i]);
      q -= a[i] * y_list[i];
    }
    if (m > 0) q *= arma::dot(s_list.back(), y_list.back()) / arma::dot(y_list.back(), y_list.back());
    for (std::size_t i = 0; i < m; ++i) q += (a[i] - arma::dot(y_list[i], q) / arma::dot(y_list[i], s_list[i])) * s_list[i];
    const Vec d = -q;
    Vec Hd;
    problem.hess_vec(iterates.back(), d, Hd);
    const Vec s = (-arma::dot(g, d) / arma::dot(d, Hd)) * d;
    iterates.push_back(iterates.back() + s);
    Vec g_next;
    problem.loss_grad(iterates.back(), g_next);
    s_list.push_back(s);
    y_list.push_back(g_next - g);
    if (s_list.size() > history) {
      s_list.erase(s_list.begin());
      y_list.erase(y_list.begin());
    }
    g = std::move(g_next);
  }
  return iterates;
}

// Condition number of the l2 Hessian (2/n) A^T A.
real hessian_condition(const LinearModelProblem& problem) {
  const real c = arma::cond(problem.design());
  return c * c;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(plugin)

// From w = 0, g_0 = -H w*, so |g_0| >= lambda_min |w*| and |w - w*| <= |g| / lambda_min: a run
// stopped at |g| <= tol |g_0| has a relative weight error of at most cond(H) tol.
BOOST_AUTO_TEST_CASE(converges_on_an_ill_conditioned_least_squares_problem) {
  std::mt19937_64 rng(2024);
  const LinearModelProblem problem = random_problem(rng, 200, 20, l2(), 1e4);
  const real tol = 1e-6;
  for (const std::string line_search : {"strong_wolfe", "backtracking"}) {
    BOOST_TEST_CONTEXT("line_search=" << line_search) {
      const PluginRun run = run_lbfgs({{"line_search", line_search}}, problem, 5000, tol);
      BOOST_TEST(kappa::to_string(run.status) == "converged-gradient", run.message);
      BOOST_TEST(run.relative_error <= hessian_condition(problem) * tol);
    }
  }
}

// With no gradient tolerance the run goes on past the point where the loss differences between
// trial points sink into the rounding of the loss (|g| ~ 1e-10 |g_0| here): the searches then
// judge the steps by the directional derivatives (Hager & Zhang's approximate Wolfe
// conditions), which stay accurate until the gradient itself is at its rounding level. The
// weights end within about a hundred ulps of w* (measured: relative errors 4e-16 with
// strong_wolfe, 1e-14 with backtracking, which used to stop at 1e-7), and the run ends at
// max_iterations, or with the line search's reason should a search give up there, but
// neither diverges nor throws.
BOOST_AUTO_TEST_CASE(keeps_converging_below_the_rounding_floor_of_the_loss) {
  std::mt19937_64 rng(2024);
  const LinearModelProblem problem = random_problem(rng, 200, 20, l2(), 1e4);
  for (const std::string line_search : {"strong_wolfe", "backtracking"}) {
    BOOST_TEST_CONTEXT("line_search=" << line_search) {
      const PluginRun run = run_lbfgs({{"line_search", line_search}}, problem, 2000, 0.0);
      const std::string status = kappa::to_string(run.status);
      BOOST_TEST((status == "max-iterations" || status == "failed"), status << ": " << run.message);
      if (status == "failed") BOOST_TEST(run.message.find(": line search: ") != std::string::npos, run.message);
      BOOST_TEST(run.relative_error < 1e-12);
    }
  }
}

// PyTorch's default (no line search): the first step min(1, 1/|g|_1) lr along -g, then unit
// quasi-Newton steps, which converge on a well-conditioned quadratic.
BOOST_AUTO_TEST_CASE(fixed_step_on_a_well_conditioned_problem) {
  std::mt19937_64 rng(2025);
  const LinearModelProblem problem = random_problem(rng, 200, 10, l2(), 4.0);
  const PluginRun run = run_lbfgs({{"line_search", "none"}, {"lr", "1"}, {"history", "5"}}, problem, 500, 1e-10);
  BOOST_TEST(kappa::to_string(run.status) == "converged-gradient", run.message);
  BOOST_TEST(run.relative_error <= hessian_condition(problem) * 1e-10);
}

// The runs of the report this was found with (kappa solve --synthetic
// kind=spectrum,n=200,d=50,cond=10,noise=0.05,n_test=50,seed=7 --optimizer lbfgs): cond(H) = 100,
// and conjugate gradients reach |g| ~ 1e-13 |g_0| there, so the default relative gradient
// tolerance 1e-10 is attainable. L-BFGS failed near |g| ~ 1e-10 |g_0| with "line search:
// interval too small" (strong Wolfe) or crept on to max_iterations with halved steps
// (backtracking), because both judged steps by loss differences at the rounding level. Each
// line search must now reach the tolerance: on the least-squares problem, with ridge,
// intercept and standardization, and with the huber loss (quadratic and linear zones).
BOOST_AUTO_TEST_CASE(reaches_the_default_gradient_tolerance_with_each_line_search) {
  kappa::PluginRegistry registry;
  load_lbfgs(registry);
  const kappa::Dataset data =
      kappa::generate_from_spec("kind=spectrum,n=200,d=50,cond=10,noise=0.05,n_test=50,seed=7");
  std::vector<std::pair<std::string, kappa::ExperimentSetup>> setups(4);
  setups[0].first = "l2";
  setups[1].first = "l2, ridge 1e-2, intercept, standardize";
  setups[1].second.loss.ridge = 1e-2;
  setups[1].second.loss.intercept = true;
  setups[1].second.preconditioner = "standardize";
  setups[2].first = "huber (delta 1), ridge 1e-3, intercept";
  setups[2].second.loss = huber();
  setups[2].second.loss.huber_delta = 1.0;
  setups[3].first = "huber (delta 0.05, below the noise)";
  setups[3].second.loss.kind = LossKind::huber;
  setups[3].second.loss.huber_delta = 0.05;
  kappa::RunControls controls;  // the defaults: grad_tol 1e-10
  controls.max_iterations = 2000;
  for (const auto& [name, setup] : setups) {
    const kappa::Experiment experiment(data, setup);
    for (const std::string line_search : {"strong_wolfe", "backtracking"}) {
      BOOST_TEST_CONTEXT(name << ", line_search=" << line_search) {
        const kappa::RunResult run =
            experiment.run("lbfgs", *registry.create("lbfgs", {{"line_search", line_search}}), controls);
        BOOST_TEST(kappa::to_string(run.status) == "converged-gradient", run.message);
        // A handful of times the iterations of CG (about 70 here), far from max_iterations.
        BOOST_TEST(run.iterations <= 400);
        BOOST_TEST(run.evaluation.relative_weight_error <= 1e-6);
      }
    }
  }
}

// With exact line searches on a strictly convex quadratic f = w^T A w / 2 - b^T w, BFGS
// updates of any scaled identity H_0 = gamma I keep the hereditary property H_k y_i = s_i for
// all stored pairs (y_i = A s_i), so the steps are A-conjugate: g_k.s_i = 0 for i < k by
// induction, hence s_i^T A d_k = -y_i^T H_k g_k = -s_i^T g_k = 0. Conjugate steps reach the
// minimizer in at most d iterations (Nocedal & Wright 2006, Thm. 5.1; for L-BFGS with a scaled
// H_0 see also Kolda, O'Leary & Nazareth, SIAM J. Optim. 8(4), 1998). With
// history >= d no pair is dropped before iteration d. The strong Wolfe search with c2 = 1e-3
// returns a step within 0.1% of the line minimizer, in practice much closer (its cubic or
// secant model is exact on a quadratic), so conjugacy holds up to that error and rounding:
// the gradient after d iterations is then a small multiple of the line-search error, and one
// or two more iterations reach |g| <= 1e-10 |g_0|. The bound d + 3 allows for that (measured:
// at most d here); the default c2 = 0.9, whose accepted steps can be off by up to 90%, needs
// far more (about 100 iterations for d = 10, cond(H) ~ 1e3).
BOOST_AUTO_TEST_CASE(accurate_line_search_and_full_history_take_about_d_iterations) {
  std::mt19937_64 rng(31);
  for (const Index d : {5, 10, 20, 40}) {
    for (const real condition : {10.0, 1e3}) {
      const LinearModelProblem problem = random_problem(rng, 4 * d + 20, d, l2(), condition);
      for (const Index history : {d, 2 * d}) {
        BOOST_TEST_CONTEXT("d " << d << ", condition " << condition << ", history " << history) {
          const PluginRun run = run_lbfgs(
              {{"history", std::to_string(history)}, {"c2", "1e-3"}}, problem, 1000, 1e-10);
          BOOST_TEST(kappa::to_string(run.status) == "converged-gradient", run.message);
          BOOST_TEST(run.iterations <= static_cast<long>(d) + 3);
        }
      }
    }
  }
}

// The plugin's two-loop recursion, scaling and pair bookkeeping against the textbook version
// above: with an accurate line search (c2 = 1e-4) and a history shorter than d, the iterates
// of the first 15 iterations coincide up to the line-search error, measured relative to the
// remaining error |v_k - w*|. (A wrong scaling, loop order or pair order gives O(1)
// differences from the second or third iteration on.)
BOOST_AUTO_TEST_CASE(iterates_match_a_textbook_implementation) {
  std::mt19937_64 rng(37);
  const LinearModelProblem problem = random_problem(rng, 200, 30, l2(), 100.0);
  const Vec solution = arma::solve(problem.design(), problem.targets());
  const long iterations = 15;
  for (const std::size_t history : {1, 5}) {
    BOOST_TEST_CONTEXT("history " << history) {
      const PluginRun run = run_lbfgs({{"history", std::to_string(history)}, {"c1", "1e-5"}, {"c2", "1e-4"}},
                                      problem, iterations, 0.0, true);
      const std::vector<Vec> expected = textbook_lbfgs_iterates(problem, history, iterations);
      BOOST_REQUIRE(run.iterates.size() == expected.size());
      real worst = 0;
      for (std::size_t k = 1; k < expected.size(); ++k)
        worst = std::max(worst, arma::norm(run.iterates[k] - expected[k]) / arma::norm(expected[k] - solution));
      BOOST_TEST(worst <= 1e-3);
    }
  }
}

// c1 < c2 < 1 (strong Wolfe) and c1 < 1 (backtracking) are checked when the optimizer is
// created: bad values are input errors before anything runs, not failed runs. (The registry is
// kept alive while the exception is examined: the exception object comes from the plugin.)
BOOST_AUTO_TEST_CASE(c1_not_below_c2_is_an_input_error) {
  kappa::PluginRegistry registry;
  load_lbfgs(registry);
  require_throws_naming<kappa::InputError>([&] { registry.create("lbfgs", {{"c1", "0.5"}, {"c2", "0.4"}}); },
                                           {"optimizer 'lbfgs'", "c1 = 0.5", "c2 = 0.4", "c1 < c2 < 1"});
  require_throws_naming<kappa::InputError>([&] { registry.create("lbfgs", {{"c1", "0.5"}, {"c2", "0.5"}}); },
                                           {"c1 = 0.5", "c2 = 0.5", "c1 < c2 < 1"});
  require_throws_naming<kappa::InputError>([&] { registry.create("lbfgs", {{"c2", "1"}}); }, {"c2 = 1", "c1 < c2 < 1"});
  require_throws_naming<kappa::InputError>(
      [&] { registry.create("lbfgs", {{"line_search", "backtracking"}, {"c1", "1"}}); }, {"c1 = 1", "c1 < 1"});
  // c2 is used by the strong Wolfe search only.
  BOOST_CHECK_NO_THROW(registry.create("lbfgs", {{"line_search", "backtracking"}, {"c1", "0.5"}, {"c2", "0.4"}}));
  BOOST_CHECK_NO_THROW(registry.create("lbfgs", {{"c1", "0.4"}, {"c2", "0.5"}}));
}

// An n = 1, d = 1 problem whose minimizer L-BFGS reaches exactly (steepest step, then the
// secant step): with grad_tol = 0 the run converged, where it used to end failed with "the
// gradient is exactly zero".
BOOST_AUTO_TEST_CASE(reaching_the_exact_minimizer_converges_with_grad_tol_zero) {
  const LinearModelProblem problem(Mat(1, 1, arma::fill::value(2.0)), Vec{3.0}, l2());
  for (const std::string line_search : {"strong_wolfe", "backtracking"}) {
    BOOST_TEST_CONTEXT("line_search=" << line_search) {
      const PluginRun run = run_lbfgs({{"line_search", line_search}}, problem, 100, 0.0);
      BOOST_TEST(kappa::to_string(run.status) == "converged-gradient", run.message);
      BOOST_TEST(run.relative_error == 0.0);
    }
  }
}

BOOST_AUTO_TEST_CASE(schema_refuses_bad_values) {
  kappa::PluginRegistry registry;
  load_lbfgs(registry);
  BOOST_CHECK_THROW(registry.create("lbfgs", {{"history", "0"}}), kappa::InputError);
  BOOST_CHECK_THROW(registry.create("lbfgs", {{"line_search", "exact"}}), kappa::InputError);
  BOOST_CHECK_THROW(registry.create("lbfgs", {{"lr", "0"}}), kappa::InputError);
  BOOST_CHECK_THROW(registry.create("lbfgs", {{"c2", "1.5"}}), kappa::InputError);
  BOOST_CHECK_THROW(registry.create("lbfgs", {{"max_line_search_evaluations", "0"}}), kappa::InputError);
  BOOST_CHECK_NO_THROW(registry.create("lbfgs", {}));
}

BOOST_AUTO_TEST_SUITE_END()
