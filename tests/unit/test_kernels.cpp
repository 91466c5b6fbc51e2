#define BOOST_TEST_MODULE kernels
#include <boost/test/unit_test.hpp>

// The performance-critical paths (docs/performance.md) checked for what they must not do or must
// still do: a minibatch step allocates nothing once warm, whatever the precision; float32 runs
// reach the direct (double) solution to the accuracy float allows on a well-conditioned problem.
// Their speed is measured by bench/, not here.

#include <string>

#include "core/experiment/experiment.hpp"
#include "kappa/first_order.hpp"
#include "core/loader/plugin_registry.hpp"
#include "core/data/synthetic.hpp"
#include "test_support.hpp"

// The counting allocator of bench/ (alloc_counter.c: it interposes the malloc family, which
// Armadillo allocates with, and forwards to glibc). Linked in, and KAPPA_COUNT_ALLOCATIONS
// defined, except in sanitizer builds, whose runtime owns malloc: there the allocation tests
// say so instead of asserting.
#ifdef KAPPA_COUNT_ALLOCATIONS
#include "alloc_counter.h"
constexpr bool kCounting = true;
#else
constexpr bool kCounting = false;
void alloc_counter_start(int) {}
void alloc_counter_stop() {}
unsigned long alloc_counter_malloc_calls() { return 0; }
unsigned long alloc_counter_blas_calls() { return 0; }
#endif

using namespace kappa;
using namespace kappa::test;

namespace {

// Allocations made by `steps` minibatch steps (batch gradient + SGD update) after a warm-up.
long allocations_per_steps(const Problem& problem, Index batch_size, long steps) {
  MinibatchSampler sampler(problem.num_samples(), batch_size, 1);
  Vec w(problem.dim(), arma::fill::zeros), gradient;
  const auto step = [&]() {
    problem.batch_loss_grad(w, sampler.next(), gradient);
    w -= 1e-4 * gradient;
  };
  for (int i = 0; i < 10; ++i) step();  // buffers grow to size here
  alloc_counter_start(0);
  for (long i = 0; i < steps; ++i) step();
  alloc_counter_stop();
  return static_cast<long>(alloc_counter_malloc_calls());
}

Dataset seed_shaped_data() {  // the seed's shape: n = d = 600
  SpectrumSpec spec;
  spec.n = 600;
  spec.d = 600;
  spec.condition = 10;
  spec.noise = 0.01;
  return generate(spec);
}

}  // namespace

BOOST_AUTO_TEST_CASE(the_counting_allocator_sees_allocations) {  // else the next tests prove nothing
  if (!kCounting) {
    BOOST_TEST_MESSAGE("allocation counting is off under sanitizers (they interpose malloc)");
    return;
  }
  alloc_counter_start(0);
  const Vec v(1000, arma::fill::ones);
  alloc_counter_stop();
  BOOST_TEST(alloc_counter_malloc_calls() >= 1u);
  BOOST_TEST(alloc_counter_blas_calls() == 0u);  // Armadillo's, not the BLAS's
  BOOST_TEST(v(999) == 1.0);
}

BOOST_AUTO_TEST_CASE(a_minibatch_step_allocates_nothing) {
  if (!kCounting) return;
  const Dataset data = seed_shaped_data();
  for (const Precision precision : {Precision::float64, Precision::float32}) {
    for (const bool intercept : {false, true}) {
      LossSpec spec;
      spec.intercept = intercept;
      spec.ridge = 1e-3;
      const LinearModelProblem problem(data.X_train, data.y_train, spec, precision);
      for (const Index batch_size : {1u, 2u, 7u}) {
        BOOST_TEST_CONTEXT(to_string(precision) << " intercept " << intercept << " b = " << batch_size) {
          BOOST_TEST(allocations_per_steps(problem, batch_size, 5000) == 0);
        }
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(a_full_gradient_allocates_nothing_once_warm) {
  if (!kCounting) return;
  const Dataset data = seed_shaped_data();
  for (const Precision precision : {Precision::float64, Precision::float32}) {
    const LinearModelProblem problem(data.X_train, data.y_train, LossSpec{}, precision);
    Vec w(problem.dim(), arma::fill::zeros), gradient;
    problem.loss_grad(w, gradient);
    alloc_counter_start(0);
    for (int i = 0; i < 100; ++i) {
      problem.loss_grad(w, gradient);
      w -= 0.1 * gradient;
    }
    alloc_counter_stop();
    BOOST_TEST_CONTEXT(to_string(precision)) { BOOST_TEST(alloc_counter_malloc_calls() == 0u); }
  }
}

// A lockstep group's multi-point pass (linear_model.hpp: "allocation-free once its per-thread
// buffers have grown"), full and minibatch, double and float, with an intercept and a ridge.
// The float pass calls sgemm, and OpenBLAS's small-matrix sgemm kernels for AVX-512 CPUs
// (sgemm_small_kernel_*_COOPERLAKE, taken for the 32-sample batch here) malloc a buffer per
// call: those are the BLAS's own, counted apart (alloc_counter_blas_calls) and reported.
BOOST_AUTO_TEST_CASE(a_multi_point_pass_allocates_nothing_once_warm) {
  if (!kCounting) return;
  const Dataset data = seed_shaped_data();
  LossSpec spec;
  spec.intercept = true;
  spec.ridge = 1e-3;
  const IndexVec rows = arma::regspace<IndexVec>(0, 31);
  for (const Precision precision : {Precision::float64, Precision::float32}) {
    const LinearModelProblem problem(data.X_train, data.y_train, spec, precision);
    Mat W(problem.dim(), 16, arma::fill::zeros), G;
    Vec losses;
    problem.loss_grads(W, losses, G);
    problem.batch_loss_grads(W, rows, losses, G);
    alloc_counter_start(0);
    for (int i = 0; i < 20; ++i) {
      problem.loss_grads(W, losses, G);
      problem.batch_loss_grads(W, rows, losses, G);
      W -= 0.1 * G;
    }
    alloc_counter_stop();
    const unsigned long blas = alloc_counter_blas_calls();
    if (blas > 0) BOOST_TEST_MESSAGE(to_string(precision) << ": the BLAS library allocated " << blas << " times itself");
    BOOST_TEST_CONTEXT(to_string(precision)) { BOOST_TEST(alloc_counter_malloc_calls() - blas == 0u); }
  }
}

// ---------------------------------------------------------------- float32 runs

struct Plugins {
  Plugins() { registry.load_directories({KAPPA_TEST_PLUGIN_DIR}); }
  PluginRegistry registry;
};

// cond(X) = 10, so kappa_H = 100 and the float floor kappa_H eps_f is about 6e-6: a relative
// gradient of 1e-5 is reachable, and bounds the relative weight error by about
// kappa_H * 1e-5 = 1e-3.
BOOST_FIXTURE_TEST_CASE(float_runs_reach_the_double_reference, Plugins) {
  SpectrumSpec spec;
  spec.n = 400;
  spec.d = 40;
  spec.condition = 10;
  spec.noise = 0.05;
  ExperimentSetup setup;
  setup.precision = Precision::float32;
  const Experiment single(generate(spec), setup);
  const Experiment twice(generate(spec), ExperimentSetup{});
  BOOST_TEST(arma::approx_equal(single.reference().w, twice.reference().w, "absdiff", 0.0));  // references in double
  RunControls controls;
  controls.max_iterations = 20000;
  controls.grad_tol = 1e-5;
  for (const std::string name : {"gd", "momentum", "nesterov", "adam", "cg", "cgls", "lsqr"}) {
    const RunResult result = single.run(name, *registry.create(name, {}), controls);
    BOOST_TEST_CONTEXT(name << ": " << to_string(result.status) << " " << result.message) {
      BOOST_TEST(result.status == Status::converged_gradient);
      BOOST_TEST(result.evaluation.relative_weight_error <= 1e-3);
    }
  }
  // L-BFGS's strong Wolfe search needs loss differences that float residuals no longer resolve
  // near the floor: it may stop there with a failed line search, but at the floor.
  const RunResult lbfgs = single.run("lbfgs", *registry.create("lbfgs", {}), controls);
  BOOST_TEST_CONTEXT("lbfgs: " << to_string(lbfgs.status) << " " << lbfgs.message) {
    BOOST_TEST((lbfgs.status == Status::converged_gradient ||
                (lbfgs.status == Status::failed && lbfgs.message.find("line search") != std::string::npos)));
    BOOST_TEST(lbfgs.evaluation.relative_weight_error <= 1e-3);
  }
  // Minibatch SGD with a decaying step approaches w* in float as in double.
  RunControls epochs;
  epochs.max_epochs = 200;
  epochs.max_iterations = 1000000;
  const RawParams sgd = {{"batch_size", "4"}, {"lr", "auto"}, {"schedule", "inverse-time"}, {"decay", "10"}};
  const RunResult single_sgd = single.run("sgd", *registry.create("sgd", sgd), epochs);
  const RunResult double_sgd = twice.run("sgd", *registry.create("sgd", sgd), epochs);
  BOOST_TEST(single_sgd.evaluation.relative_weight_error <= 2 * double_sgd.evaluation.relative_weight_error + 1e-4);
}
