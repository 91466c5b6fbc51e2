#define BOOST_TEST_MODULE lockstep
#include <boost/test/unit_test.hpp>

// Lockstep groups (core/experiment/lockstep.hpp): the multi-point kernels against the
// single-point ones and against the gradient written out here, and the runs of a group against
// the same runs made one at a time: every status, iteration count, data-pass count and trace
// point equal, and the weights equal to 1e-12 relative (double problems; float problems to
// their own rounding). The optimizers are the real plugins, loaded as a user loads them.

#include <chrono>
#include <cmath>
#include <memory>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/data/synthetic.hpp"
#include "core/experiment/experiment.hpp"
#include "core/experiment/fiber.hpp"
#include "core/experiment/lockstep.hpp"
#include "core/loader/plugin_registry.hpp"
#include "core/preconditioners/preconditioner.hpp"
#include "core/problems/linear_model.hpp"
#include "core/problems/multi_point_products.hpp"
#include "test_support.hpp"

using namespace kappa;
using namespace kappa::test;

namespace {

struct Plugins {
  Plugins() { registry.load_directories({KAPPA_TEST_PLUGIN_DIR}); }
  PluginRegistry registry;
};

Dataset spectrum_data(real condition, Index n = 300, Index d = 20, std::uint64_t seed = 11) {
  SpectrumSpec spec;
  spec.n = n;
  spec.d = d;
  spec.n_test = 30;
  spec.condition = condition;
  spec.noise = 0.05;
  spec.seed = seed;
  return generate(spec);
}

// f and grad f of problem.hpp written out from the design (independent of kappa's kernels).
real reference_loss_grad(const Mat& X, const Vec& y, const LossSpec& spec, const Vec& w, Vec& gradient,
                         const IndexVec* rows = nullptr) {
  Mat A = design_of(X, spec.intercept);
  Vec targets = y;
  if (rows != nullptr) {
    A = A.rows(*rows);
    targets = y.elem(*rows);
  }
  const Vec r = A * w - targets;
  const real n = static_cast<real>(A.n_rows);
  Vec derivative(r.n_elem);
  real loss = 0;
  for (Index i = 0; i < r.n_elem; ++i) {
    const real ri = r[i];
    switch (spec.kind) {
      case LossKind::l2: loss += ri * ri; derivative[i] = 2 * ri; break;
      case LossKind::l1: loss += std::fabs(ri); derivative[i] = (ri > 0) - (ri < 0); break;
      case LossKind::huber:
        loss += std::fabs(ri) <= spec.huber_delta ? 0.5 * ri * ri : spec.huber_delta * (std::fabs(ri) - 0.5 * spec.huber_delta);
        derivative[i] = std::clamp(ri, -spec.huber_delta, spec.huber_delta);
        break;
    }
  }
  gradient = A.t() * derivative / n;
  const Index features = X.n_cols;
  gradient.head(features) += spec.ridge * w.head(features);
  return loss / n + 0.5 * spec.ridge * arma::dot(w.head(features), w.head(features));
}

}  // namespace

BOOST_AUTO_TEST_SUITE(kernels)

// Every loss, with and without intercept and ridge, double and float, full and minibatch: the
// multi-point pass gives each column's loss and gradient (200 samples: several blocks).
BOOST_AUTO_TEST_CASE(multi_point_matches_single_point_and_the_formula) {
  std::mt19937_64 rng(3);
  const Mat X = gaussian(rng, 2000, 7);
  const Vec y = gaussian_vec(rng, 2000);
  const Mat W = gaussian(rng, 8, 5);
  const IndexVec rows = {5, 1999, 17, 17, 300, 42, 0};
  for (LossKind kind : {LossKind::l2, LossKind::l1, LossKind::huber})
    for (bool intercept : {false, true})
      for (real ridge : {0.0, 0.3})
        for (Precision precision : {Precision::float64, Precision::float32}) {
          LossSpec spec;
          spec.kind = kind;
          spec.intercept = intercept;
          spec.ridge = ridge;
          spec.huber_delta = 0.7;
          const LinearModelProblem problem(X, y, spec, precision);
          const Mat points = W.head_rows(problem.dim());
          const real tolerance = precision == Precision::float64 ? 1e-13 : 1e-5;
          for (bool batch : {false, true}) {
            Vec losses;
            Mat G;
            if (batch) {
              problem.batch_loss_grads(points, rows, losses, G);
            } else {
              problem.loss_grads(points, losses, G);
            }
            BOOST_TEST_CONTEXT(to_string(kind) << (intercept ? " intercept" : "") << " ridge " << ridge << " "
                                               << to_string(precision) << (batch ? " batch" : " full")) {
              BOOST_TEST_REQUIRE(G.n_rows == problem.dim());
              BOOST_TEST_REQUIRE(G.n_cols == points.n_cols);
              for (Index j = 0; j < points.n_cols; ++j) {
                Vec single, expected;
                const real single_loss =
                    batch ? problem.batch_loss_grad(points.col(j), rows, single) : problem.loss_grad(points.col(j), single);
                const real expected_loss = reference_loss_grad(X, y, spec, points.col(j), expected, batch ? &rows : nullptr);
                BOOST_TEST(relative(G.col(j), expected) <= tolerance);
                BOOST_TEST(relative(losses[j], expected_loss) <= tolerance);
                BOOST_TEST(relative(G.col(j), Vec(single)) <= tolerance);
                BOOST_TEST(relative(losses[j], single_loss) <= tolerance);
              }
            }
          }
        }
}

// The vectorized block products (multi_point_products.hpp) against Armadillo's (BLAS) products
// on every edge of their tiles: feature counts around the 4- and 12-wide tiles, sample counts
// around the 3-sample tile, point counts around the 4-point tile, a leading dimension larger
// than the features, and accumulation into a gradient already there. And the order of every
// element's sum does not depend on the number of points: a point's column is bit for bit the
// same computed alone or with 16 others.
BOOST_AUTO_TEST_CASE(vectorized_block_products_match_blas) {
  if (!detail::vectorized_multi_point_products()) {
    BOOST_TEST_MESSAGE("skipped: this CPU or build has no AVX2 + FMA (the multi-point pass uses BLAS)");
    return;
  }
  std::mt19937_64 rng(5);
  for (Index features : {1u, 3u, 4u, 5u, 11u, 12u, 13u, 16u, 25u, 600u})
    for (Index count : {1u, 2u, 3u, 4u, 7u, 65u})
      for (Index points : {1u, 2u, 3u, 4u, 5u, 7u, 16u, 17u}) {
        const Mat S = gaussian(rng, features, count);
        const Index ld_points = features + 3;
        const Mat P = gaussian(rng, ld_points, points);  // the first `features` rows are the points
        const Mat T = gaussian(rng, count, points);
        const Mat G0 = gaussian(rng, features + 2, points);
        const Mat expected_R = S.t() * P.head_rows(features);
        const Mat expected_G = S * T;
        Mat R(count, points);
        detail::residual_products(S.memptr(), features, count, P.memptr(), ld_points, points, R.memptr());
        Mat G = G0;  // leading dimension features + 2: the last two rows stay untouched
        detail::gradient_products(S.memptr(), features, count, T.memptr(), points, G.memptr(), G.n_rows, false);
        Mat H = G0;
        detail::gradient_products(S.memptr(), features, count, T.memptr(), points, H.memptr(), H.n_rows, true);
        BOOST_TEST_CONTEXT("features " << features << " samples " << count << " points " << points) {
          // Sums of count or features products of N(0,1) terms: errors ~ sqrt(terms) u |terms|.
          BOOST_TEST(arma::abs(R - expected_R).max() <= 1e-13 * std::sqrt(static_cast<real>(features)) * 10);
          BOOST_TEST(arma::abs(G.head_rows(features) - expected_G).max() <= 1e-13 * std::sqrt(static_cast<real>(count)) * 10);
          BOOST_TEST(arma::approx_equal(G.tail_rows(2), G0.tail_rows(2), "absdiff", 0.0));
          BOOST_TEST(arma::abs(H.head_rows(features) - G0.head_rows(features) - expected_G).max() <=
                     1e-13 * std::sqrt(static_cast<real>(count)) * 10);
          BOOST_TEST(arma::approx_equal(H.tail_rows(2), G0.tail_rows(2), "absdiff", 0.0));
          for (Index c : {Index{0}, points - 1}) {  // one point alone gives the same bits
            Vec alone_r(count), alone_g(features);
            detail::residual_products(S.memptr(), features, count, P.colptr(c), ld_points, 1, alone_r.memptr());
            detail::gradient_products(S.memptr(), features, count, T.colptr(c), 1, alone_g.memptr(), features, false);
            BOOST_TEST(arma::approx_equal(alone_r, Vec(R.col(c)), "absdiff", 0.0));
            BOOST_TEST(arma::approx_equal(alone_g, Vec(G.col(c).head(features)), "absdiff", 0.0));
          }
        }
      }
}

// Preconditioned forms: wrapped (standardize, target-scale) and materialized (whiten).
BOOST_AUTO_TEST_CASE(preconditioned_problems_evaluate_several_points) {
  std::mt19937_64 rng(5);
  Mat X = gaussian(rng, 500, 6);
  X.col(2) *= 100;
  X.col(4) += 3;
  const Vec y = gaussian_vec(rng, 500) + 2;
  LossSpec spec;
  spec.intercept = true;
  spec.ridge = 1e-2;
  const LinearModelProblem base(X, y, spec);
  const IndexVec rows = {3, 9, 27, 81, 243};
  for (const std::string chain : {"standardize", "center,target-scale", "whiten"}) {
    const std::unique_ptr<Preconditioner> preconditioner = make_preconditioner(chain, base);
    const std::unique_ptr<PreconditionedProblem> solver = make_solver_problem(base, *preconditioner);
    const Mat Z = gaussian(rng, solver->dim(), 4);
    for (bool batch : {false, true}) {
      Vec losses;
      Mat G;
      if (batch) {
        solver->batch_loss_grads(Z, rows, losses, G);
      } else {
        solver->loss_grads(Z, losses, G);
      }
      for (Index j = 0; j < Z.n_cols; ++j) {
        Vec single;
        const real loss = batch ? solver->batch_loss_grad(Z.col(j), rows, single) : solver->loss_grad(Z.col(j), single);
        BOOST_TEST_CONTEXT(chain << (batch ? " batch" : " full") << " column " << j) {
          BOOST_TEST(relative(G.col(j), single) <= 1e-12);
          BOOST_TEST(relative(losses[j], loss) <= 1e-12);
        }
      }
    }
  }
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(fibers)

// A body runs in turns with its caller, keeps its locals across yields, and an exception
// thrown in it is rethrown by the resume() that sees it end.
BOOST_AUTO_TEST_CASE(yield_resume_and_exceptions) {
  std::vector<int> trace;
  Fiber* self = nullptr;
  Fiber fiber([&] {
    std::vector<int> local = {1, 2, 3};  // heap-owning locals survive the switches
    for (int value : local) {
      trace.push_back(value);
      self->yield();
    }
  });
  self = &fiber;
  for (int turn = 0; turn < 3; ++turn) {
    fiber.resume();
    BOOST_TEST(trace.size() == static_cast<std::size_t>(turn + 1));
    BOOST_TEST(!fiber.finished());
  }
  fiber.resume();
  BOOST_TEST(fiber.finished());
  BOOST_TEST((trace == std::vector<int>{1, 2, 3}));
  Fiber throwing([] { throw std::runtime_error("from the fiber"); });
  BOOST_CHECK_EXCEPTION(throwing.resume(), std::runtime_error,
                        [](const std::runtime_error& error) { return std::string(error.what()) == "from the fiber"; });
  BOOST_TEST(throwing.finished());
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_FIXTURE_TEST_SUITE(groups, Plugins)

namespace {

struct Setting {
  std::string optimizer;
  RawParams params;
  long max_iterations = 300;
};

// Everything a run reports, compared between the group and the run alone.
void check_same_run(const RunResult& group, const RunResult& alone, real weight_tolerance, real reference_norm) {
  BOOST_TEST(to_string(group.status) == to_string(alone.status));
  BOOST_TEST(group.iterations == alone.iterations);
  BOOST_TEST(group.data_passes == alone.data_passes);
  BOOST_TEST(group.input_error == alone.input_error);
  BOOST_TEST(relative(group.w, alone.w) <= weight_tolerance);
  // |w - w*| / |w*| moves by at most |w_group - w_alone| / |w*|.
  BOOST_TEST(std::fabs(group.evaluation.relative_weight_error - alone.evaluation.relative_weight_error) <=
             weight_tolerance * arma::norm(alone.w) / reference_norm + 1e-300);
  BOOST_TEST_REQUIRE(group.trace.size() == alone.trace.size());
  for (std::size_t i = 0; i < alone.trace.size(); ++i) {
    BOOST_TEST(group.trace[i].iteration == alone.trace[i].iteration);
    BOOST_TEST(group.trace[i].data_passes == alone.trace[i].data_passes);
    BOOST_TEST(relative(group.trace[i].loss, alone.trace[i].loss) <= 1e3 * weight_tolerance);
  }
  if (alone.status == Status::failed) BOOST_TEST(group.message == alone.message);
}

// Runs `settings` as one group and one at a time on `experiment`.
void compare(const PluginRegistry& registry, const Experiment& experiment, const std::vector<Setting>& settings,
             real weight_tolerance) {
  std::vector<std::shared_ptr<const Optimizer>> optimizers;
  std::vector<GroupRun> runs;
  for (const Setting& setting : settings) {
    optimizers.push_back(registry.create(setting.optimizer, setting.params));
    GroupRun run;
    run.name = setting.optimizer;
    run.optimizer = optimizers.back().get();
    run.controls.max_iterations = setting.max_iterations;
    run.controls.grad_tol = 1e-9;
    runs.push_back(run);
  }
  double shared = 0;
  const std::vector<RunResult> together = experiment.run_group(runs, 0, &shared);
  BOOST_TEST_REQUIRE(together.size() == runs.size());
  double alone_passes = 0;
  for (std::size_t i = 0; i < runs.size(); ++i) {
    const RunResult alone = experiment.run(runs[i].name, *runs[i].optimizer, runs[i].controls);
    alone_passes += alone.data_passes;
    std::string label = settings[i].optimizer;
    for (const auto& [key, value] : settings[i].params) label += " " + key + "=" + value;
    BOOST_TEST_CONTEXT(label << ": " << to_string(alone.status) << " after " << alone.iterations << " " << alone.message) {
      check_same_run(together[i], alone, weight_tolerance, arma::norm(experiment.reference().w));
    }
  }
  // The group read the data fewer times than the runs alone did.
  BOOST_TEST(shared > 0);
  BOOST_TEST(shared < alone_passes);
}

// The runs of a grid over one problem. Coordinate-wise adaptive methods (adam, adagrad,
// rmsprop) divide each gradient component by its own history, so once a component is at its
// rounding floor their steps follow the rounding noise, which differs between the grouped and
// the single sums: they are compared while the gradient is far above that floor (60 updates
// here; docs/study.md, "Lockstep groups").
const std::vector<Setting> first_order_grid = {
    {"gd", {{"lr", "1e-3"}}},
    {"gd", {{"lr", "auto"}}},
    {"gd", {{"lr", "0.5"}}, 300},  // diverges
    {"gd", {{"lr", "auto"}, {"schedule", "cosine"}}, 50},
    {"momentum", {{"lr", "1e-2"}, {"momentum", "0.9"}}},
    {"nesterov", {{"lr", "auto"}, {"momentum", "0.5"}}},
    {"sgd", {{"lr", "1e-2"}, {"batch_size", "16"}}},  // these two share their batches
    {"momentum", {{"lr", "1e-3"}, {"batch_size", "16"}}},
    {"sgd", {{"lr", "1e-2"}, {"batch_size", "7"}, {"averaging", "polyak"}}},
    {"sgd", {{"lr", "1e-2"}, {"batch_size", "400"}}},  // more than n: an input error, as alone
    {"adam", {{"lr", "1e-2"}}, 60},
    {"adamw", {{"lr", "1e-2"}}, 60},
    {"amsgrad", {{"lr", "1e-2"}}, 60},
    {"adagrad", {{"lr", "0.1"}}, 60},
    {"rmsprop", {{"lr", "1e-3"}}, 60},
};

}  // namespace

BOOST_AUTO_TEST_CASE(first_order_runs_equal_their_runs_alone) {
  for (const std::string preconditioner : {"none", "standardize", "whiten"}) {
    ExperimentSetup setup;
    setup.preconditioner = preconditioner;
    setup.loss.ridge = 1e-3;
    setup.loss.intercept = true;
    const Experiment experiment(spectrum_data(30), setup);
    BOOST_TEST_CONTEXT("preconditioner " << preconditioner) { compare(registry, experiment, first_order_grid, 1e-12); }
  }
}

BOOST_AUTO_TEST_CASE(huber_and_float_problems_group_too) {
  ExperimentSetup huber;
  huber.loss.kind = LossKind::huber;
  huber.loss.huber_delta = 0.1;
  compare(registry, Experiment(spectrum_data(30), huber), first_order_grid, 1e-12);
  ExperimentSetup single;
  single.precision = Precision::float32;
  // Float gradients carry a relative rounding of about 1e-7: the grouped sums round differently.
  compare(registry, Experiment(spectrum_data(10), single), {first_order_grid.begin(), first_order_grid.begin() + 10}, 1e-4);
}

// An optimizer that throws after a few gradients: it fails as alone, the others are unaffected.
BOOST_AUTO_TEST_CASE(a_failing_run_leaves_the_group) {
  class Throwing final : public Optimizer {
   public:
    void minimize(const Problem& problem, Vec& w, Monitor& monitor) const override {
      Vec gradient;
      for (long i = 0; i < 5; ++i) {
        const real loss = problem.loss_grad(w, gradient);
        if (monitor.report(i, loss, arma::norm(gradient), w)) return;
        w -= 1e-3 * gradient;
      }
      throw std::runtime_error("gave up after 5 gradients");
    }
  };
  const Experiment experiment(spectrum_data(30), ExperimentSetup{});
  const Throwing throwing;
  const auto gd = registry.create("gd", {{"lr", "1e-3"}});
  std::vector<GroupRun> runs(3);
  for (std::size_t i = 0; i < runs.size(); ++i) {
    runs[i].name = i == 1 ? "throwing" : "gd";
    runs[i].optimizer = i == 1 ? static_cast<const Optimizer*>(&throwing) : gd.get();
    runs[i].controls.max_iterations = 50;
  }
  const std::vector<RunResult> together = experiment.run_group(runs);
  BOOST_TEST(to_string(together[1].status) == "failed");
  BOOST_TEST(together[1].message == "optimizer threw: gave up after 5 gradients");
  BOOST_TEST(together[1].data_passes == 5);
  for (std::size_t i : {0, 2}) {
    const RunResult alone = experiment.run("gd", *gd, runs[i].controls);
    check_same_run(together[i], alone, 1e-12, arma::norm(experiment.reference().w));
  }
}

// Each run's clock is its own share of the group's time: runs with a time limit stop at it by
// their clock (status time-limit, seconds at the limit), and the group as a whole takes about
// the sum of their shares, not k times the limit.
BOOST_AUTO_TEST_CASE(time_limits_apply_to_each_runs_own_clock) {
  const Experiment experiment(spectrum_data(100, 20000, 50), ExperimentSetup{});
  const auto gd = registry.create("gd", {{"lr", "1e-4"}});
  std::vector<GroupRun> runs(4);
  for (GroupRun& run : runs) {
    run.name = "gd";
    run.optimizer = gd.get();
    run.controls.max_iterations = 100000000;
    run.controls.grad_tol = 0;
    run.controls.time_limit = 0.3;
  }
  const auto start = std::chrono::steady_clock::now();
  const std::vector<RunResult> together = experiment.run_group(runs);
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  for (const RunResult& result : together) {
    BOOST_TEST(to_string(result.status) == "time-limit");
    BOOST_TEST(result.seconds >= 0.3);
    BOOST_TEST(result.seconds <= wall);
  }
  // The four clocks add up to the group's wall time (what ran outside any run is small).
  double charged = 0;
  for (const RunResult& result : together) charged += result.seconds;
  BOOST_TEST(charged <= wall * 1.05 + 0.05);
  BOOST_TEST(charged >= wall * 0.5);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_FIXTURE_TEST_SUITE(reproducibility, Plugins)

// A run's bits depend on the width of its group's passes and its slot only: the same run in a
// group with other members, fewer members (a resumed study) or members that stop at once gives
// exactly the same weights and trace.
BOOST_AUTO_TEST_CASE(a_run_keeps_its_bits_whatever_its_companions) {
  const Experiment experiment(spectrum_data(100, 2000, 40), ExperimentSetup{});
  const std::vector<std::string> rates = {"1e-3", "2e-3", "5e-1", "auto", "3e-3", "4e-3"};
  std::vector<std::shared_ptr<const Optimizer>> optimizers;
  for (const std::string& lr : rates) optimizers.push_back(registry.create("gd", {{"lr", lr}}));
  const std::vector<std::size_t> slots = {0, 1, 2, 5, 6, 7};
  const auto group_of = [&](const std::vector<std::size_t>& members, long iterations_of_others) {
    std::vector<GroupRun> runs;
    for (std::size_t i : members) {
      GroupRun run;
      run.name = "gd";
      run.optimizer = optimizers[i].get();
      run.controls.max_iterations = i == 1 || i == 4 ? 200 : iterations_of_others;
      run.controls.grad_tol = 0;
      run.slot = slots[i];
      runs.push_back(run);
    }
    return experiment.run_group(runs, 8);
  };
  const std::vector<RunResult> full = group_of({0, 1, 2, 3, 4, 5}, 200);
  const std::vector<RunResult> pair = group_of({1, 4}, 200);
  const std::vector<RunResult> early = group_of({0, 1, 3, 4}, 3);  // the others stop after 3 updates
  for (const auto& [result, reference] : {std::pair{pair[0], full[1]}, std::pair{pair[1], full[4]}, std::pair{early[1], full[1]},
                                          std::pair{early[3], full[4]}}) {
    BOOST_TEST(arma::approx_equal(result.w, reference.w, "absdiff", 0.0));
    BOOST_TEST_REQUIRE(result.trace.size() == reference.trace.size());
    for (std::size_t i = 0; i < result.trace.size(); ++i) BOOST_TEST(result.trace[i].loss == reference.trace[i].loss);
  }
}

BOOST_AUTO_TEST_SUITE_END()
